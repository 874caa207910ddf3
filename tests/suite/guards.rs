//! Issue 10 through the engine, on the simulator: the guard before the switchover, the
//! diagnosis of a failed green, the restore of values green needed only at creation, and the
//! old read replicas recorded for cleanup.

use crate::common::*;
use rdsfleet::backend::RdsBackend;
use rdsfleet::domain::is_managed;
use rdsfleet::engine::EngineOptions;
use rdsfleet::plan::{Plan, PlannedDatabase};
use rdsfleet::state::{ResourceKind, ResourceStatus, WaitReason};
use rdsfleet::store::{DbRow, DbState, Store};

const TARGETS: [(&str, &str); 2] = [("mysql", "8.0"), ("postgres", "16")];

fn actionable(plan: &Plan) -> Vec<PlannedDatabase> {
    plan.databases
        .iter()
        .filter(|d| d.is_actionable())
        .cloned()
        .collect()
}

fn row(w: &World, d: &PlannedDatabase) -> DbRow {
    w.rows()
        .into_iter()
        .find(|r| r.identifier == d.identifier && r.region == d.region)
        .unwrap()
}

/// Switchover calls (of any outcome) for `d`'s deployment, by its identifier.
fn switchovers_of(w: &World, d: &PlannedDatabase) -> usize {
    let bgd = row(w, d)
        .steps
        .iter()
        .find(|s| s.kind == rdsfleet::plan::StepKind::CreateBlueGreen)
        .and_then(|s| s.remote_id.clone())
        .expect("its deployment was created");
    w.trail()
        .iter()
        .filter(|t| {
            t.action == "SwitchoverBlueGreenDeployment"
                && t.region == d.region
                && t.params.to_string().contains(&bgd)
        })
        .count()
}

fn eng(concurrency: usize) -> EngineOptions {
    EngineOptions {
        concurrency,
        ..opts(true)
    }
}

/// A clean world, planned, with `faults` set on the first MySQL database (a major upgrade).
async fn with_fault(fault: &str) -> (World, Plan, PlannedDatabase) {
    let w = world(WorldSpec {
        databases: 6,
        seed: 7,
        ..Default::default()
    });
    let plan = w.plan(&TARGETS).await;
    let victim = actionable(&plan)
        .into_iter()
        .find(|d| d.engine == "mysql")
        .expect("a MySQL database");
    w.sim()
        .set_faults(&format!("{fault}@{}", victim.identifier))
        .unwrap();
    (w, plan, victim)
}

#[tokio::test]
async fn green_on_the_wrong_version_is_never_switched_over() {
    let (w, plan, victim) = with_fault("green-wrong-version").await;
    let s = w.run(&plan, eng(3)).await;
    assert_eq!(s.exit_code(), 1, "{s:?}");
    let r = row(&w, &victim);
    assert_eq!(r.state, DbState::Failed);
    let err = r.error.unwrap_or_default();
    assert!(
        err.contains("not the planned") && err.contains("not switched over"),
        "{err}"
    );
    assert_eq!(switchovers_of(&w, &victim), 0, "switched to a wrong green");
    // The others finished.
    for d in actionable(&plan)
        .iter()
        .filter(|d| d.identifier != victim.identifier)
    {
        assert_eq!(row(&w, d).state, DbState::Done, "{}", d.identifier);
    }
}

#[tokio::test]
async fn green_with_a_group_pending_reboot_waits_and_says_why() {
    let (w, plan, victim) = with_fault("green-pending-reboot").await;
    let s = w.run(&plan, eng(3)).await;
    // Nothing else in flight: after an hour the run stops, saying what to do.
    let halted = s.halted.clone().unwrap_or_default();
    assert!(
        halted.contains("waited 60 min for an operator") && halted.contains("reboot green"),
        "{s:?}"
    );
    assert_eq!(s.exit_code(), 1);
    let r = row(&w, &victim);
    assert_eq!(r.state, DbState::Running);
    match &r.wait {
        Some(WaitReason::Operator { detail }) => {
            assert!(detail.contains("pending-reboot"), "{detail}")
        }
        other => panic!("expected a wait for an operator, got {other:?}"),
    }
    assert!(r.error.is_none());
    assert_eq!(switchovers_of(&w, &victim), 0);
}

#[tokio::test]
async fn a_failed_green_says_what_its_upgrade_prechecks_found() {
    let (w, plan, victim) = with_fault("invalid-config").await;
    let s = w.run(&plan, eng(3)).await;
    assert_eq!(s.exit_code(), 1, "{s:?}");
    let r = row(&w, &victim);
    assert_eq!(r.state, DbState::Failed);
    let err = r.error.unwrap_or_default();
    assert!(
        err.contains("INVALID_CONFIGURATION") && err.contains("upgrade prechecks on green failed"),
        "{err}"
    );
    let store = Store::open(&w.state_path()).unwrap();
    let diag = store
        .events(Some(r.id))
        .unwrap()
        .into_iter()
        .find(|e| e.kind == "diagnosis")
        .expect("the failing checks are kept in the state file");
    let v: serde_json::Value = serde_json::from_str(&diag.detail).unwrap();
    assert!(
        v["Ok"].as_array().is_some_and(|a| !a.is_empty()),
        "{}",
        diag.detail
    );
}

/// A world where some planned group must set a value back after switchover (a 5.7 group
/// with `event_scheduler=ON`).
async fn world_with_a_restore() -> (World, Plan) {
    for seed in 1..40 {
        let w = world(WorldSpec {
            databases: 12,
            seed,
            ..Default::default()
        });
        let plan = w.plan(&TARGETS).await;
        if plan
            .parameter_groups
            .iter()
            .any(|g| !g.restore_after_switchover.is_empty())
        {
            return (w, plan);
        }
    }
    panic!("no seed gives a group with event_scheduler=ON");
}

#[tokio::test]
async fn event_scheduler_is_set_back_once_every_user_of_its_group_switched_over() {
    let (w, plan) = world_with_a_restore().await;
    let s = w.run(&plan, eng(6)).await;
    assert_eq!(s.exit_code(), 0, "{s:?}");
    let store = Store::open(&w.state_path()).unwrap();
    let sim = w.sim();
    for g in plan
        .parameter_groups
        .iter()
        .filter(|g| !g.restore_after_switchover.is_empty())
    {
        let res = store
            .resource(&g.region, ResourceKind::ParameterGroup, &g.name)
            .unwrap()
            .unwrap();
        assert_eq!(res.status, ResourceStatus::Restored, "{}", g.name);
        let params = sim
            .describe_parameters(&g.region, &g.name, true)
            .await
            .unwrap();
        for want in &g.restore_after_switchover {
            let got = params.iter().find(|p| p.name == want.name).unwrap();
            assert_eq!(
                got.value.as_deref(),
                Some(want.value.as_str()),
                "{}",
                g.name
            );
        }
        // Set back only after the last user switched over.
        let restore_at = w
            .trail()
            .iter()
            .filter(|t| {
                t.action == "ModifyDBParameterGroup" && t.resource == g.name && t.outcome == "ok"
            })
            .map(|t| t.at)
            .max()
            .unwrap();
        let last_switch = w
            .rows()
            .iter()
            .filter(|r| r.region == g.region && g.used_by.contains(&r.identifier))
            .filter_map(|r| {
                r.steps
                    .iter()
                    .find(|s| s.kind == rdsfleet::plan::StepKind::Switchover)
                    .and_then(|s| s.finished_at)
            })
            .max()
            .expect("its users switched over");
        assert!(restore_at >= last_switch, "{}", g.name);
    }
}

#[tokio::test]
async fn old_read_replicas_are_tagged_and_recorded_for_cleanup() {
    let w = world(WorldSpec {
        databases: 30,
        seed: 3,
        ..Default::default()
    });
    let plan = w.plan(&TARGETS).await;
    let with_replica = actionable(&plan)
        .into_iter()
        .find(|d| !d.replicas.is_empty())
        .expect("a database with a replica");
    let s = w.run(&plan, eng(8)).await;
    assert_eq!(s.exit_code(), 0, "{s:?}");
    let store = Store::open(&w.state_path()).unwrap();
    let old_replicas: Vec<_> = store
        .resources_of(ResourceKind::OldReplica)
        .unwrap()
        .into_iter()
        .filter(|r| r.region == with_replica.region)
        .collect();
    let replica = &with_replica.replicas[0];
    let rec = old_replicas
        .iter()
        .find(|r| r.name == format!("{replica}-old1"))
        .expect("the renamed replica is recorded");
    let d: rdsfleet::machine::OldInstance =
        serde_json::from_str(rec.detail.as_deref().unwrap()).unwrap();
    assert_eq!(
        d.replica_of.as_deref(),
        Some(format!("{}-old1", with_replica.identifier).as_str())
    );
    let live = w
        .sim()
        .describe_instances(&with_replica.region, &Default::default())
        .await
        .unwrap();
    let old = live.iter().find(|i| i.identifier == rec.name).unwrap();
    assert!(is_managed(&old.tags, Some(&plan.plan_id)), "tagged");
    assert_eq!(
        old.tags.get("rdsfleet:role").map(String::as_str),
        Some("old-replica")
    );
}

/// A crash after a source finished but before its replica mirrored it (the end of that
/// tick) must not leave the replica `running` for ever: the next run brings it level before
/// deciding whether anything is left to do.
#[tokio::test]
async fn a_replica_left_behind_by_a_crash_catches_up_with_its_source_on_resume() {
    let w = world(WorldSpec {
        databases: 30,
        seed: 3,
        ..Default::default()
    });
    let plan = w.plan(&TARGETS).await;
    let with_replica = actionable(&plan)
        .into_iter()
        .find(|d| !d.replicas.is_empty())
        .expect("a database with a replica");
    let replica = with_replica.replicas[0].clone();
    let s = w.run(&plan, eng(8)).await;
    assert_eq!(s.exit_code(), 0, "{s:?}");
    // What the crash leaves: the source done, its replica still running.
    {
        let c = rusqlite::Connection::open(w.state_path()).unwrap();
        let n = c
            .execute(
                "UPDATE databases SET state = 'running' WHERE identifier = ?1 AND region = ?2",
                rusqlite::params![replica, with_replica.region],
            )
            .unwrap();
        assert_eq!(n, 1, "the replica's row");
    }
    let s = w.run(&plan, eng(8)).await;
    assert_eq!(s.exit_code(), 0, "{s:?}");
    let store = Store::open(&w.state_path()).unwrap();
    let row = store
        .databases()
        .unwrap()
        .into_iter()
        .find(|r| plan.databases[r.id as usize].identifier == replica)
        .unwrap();
    assert_eq!(row.state, DbState::Done);
}
