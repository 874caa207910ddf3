//! Engine tests on the simulator with a manual clock: whole rollouts, the approval gate,
//! crash-and-resume after every k side effects, batched polling.

use crate::common::*;
use rdsfleet::backend::crash::{CrashAfter, CrashPoint};
use rdsfleet::backend::{InstanceQuery, RdsBackend};
use rdsfleet::engine::EngineOptions;
use rdsfleet::plan::Plan;
use rdsfleet::store::DbState;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The invariants of a finished rollout, checked against the simulated RDS (not our state):
/// every actionable database runs the target version under its production name, its old
/// instance is kept as `-old1`, and each side effect happened exactly once per database.
async fn check_rollout(w: &World, plan: &Plan) {
    let sim = w.sim();
    let mut live = BTreeMap::new();
    for r in w.regions() {
        for i in sim
            .describe_instances(&r, &InstanceQuery::default())
            .await
            .unwrap()
        {
            live.insert((i.region.clone(), i.identifier.clone()), i);
        }
    }
    let snaps = w.ok_calls("CreateDBSnapshot");
    let bgs = w.ok_calls("CreateBlueGreenDeployment");
    let switches = w.ok_calls("SwitchoverBlueGreenDeployment");
    let pgs = w.effective_calls_by_region("CreateDBParameterGroup");
    let actionable: Vec<_> = plan
        .databases
        .iter()
        .filter(|d| d.is_actionable())
        .collect();
    assert!(!actionable.is_empty(), "the plan has nothing to do");
    for d in &actionable {
        let to = d.to_version.clone().unwrap();
        let now = &live[&(d.region.clone(), d.identifier.clone())];
        assert_eq!(now.engine_version, to, "{} not upgraded", d.identifier);
        let old = &live[&(d.region.clone(), format!("{}-old1", d.identifier))];
        assert_eq!(
            old.engine_version, d.from_version,
            "{} old instance",
            d.identifier
        );
        let snap = d.resource_name(rdsfleet::plan::StepKind::Snapshot).unwrap();
        assert_eq!(snaps.get(snap), Some(&1), "snapshot {snap}: {snaps:?}");
        let bg = d
            .resource_name(rdsfleet::plan::StepKind::CreateBlueGreen)
            .unwrap();
        assert_eq!(bgs.get(bg), Some(&1), "blue/green {bg}: {bgs:?}");
    }
    assert_eq!(snaps.len(), actionable.len(), "extra snapshots: {snaps:?}");
    assert_eq!(bgs.len(), actionable.len(), "extra deployments: {bgs:?}");
    assert_eq!(
        switches.values().sum::<usize>(),
        actionable.len(),
        "switchovers: {switches:?}"
    );
    assert!(
        pgs.values().all(|n| *n == 1),
        "parameter groups created twice: {pgs:?}"
    );
    assert_eq!(
        pgs.len(),
        plan.parameter_groups.len(),
        "parameter groups: {pgs:?}"
    );
    let rows = w.rows();
    for d in &actionable {
        let r = rows
            .iter()
            .find(|r| r.identifier == d.identifier && r.region == d.region)
            .unwrap();
        assert_eq!(r.state, DbState::Done, "{}: {:?}", d.identifier, r.error);
    }
}

#[tokio::test]
async fn full_rollout_upgrades_every_database_once() {
    let w = world(WorldSpec {
        databases: 8,
        ..Default::default()
    });
    let plan = w.plan(&[("mysql", "8.0"), ("postgres", "16")]).await;
    let s = w.run(&plan, opts(true)).await;
    assert_eq!(s.exit_code(), 0, "{s:?}");
    check_rollout(&w, &plan).await;
}

#[tokio::test]
async fn switchover_waits_for_approval() {
    let w = world(WorldSpec {
        databases: 5,
        ..Default::default()
    });
    let plan = w.plan(&[("mysql", "8.0"), ("postgres", "16")]).await;
    let s = w.run(&plan, opts(false)).await;
    // Reaching the gate is the point asked for without approval.
    assert_eq!(s.exit_code(), 0, "{s:?}");
    let rows = w.rows();
    for d in plan.databases.iter().filter(|d| d.is_actionable()) {
        let r = rows
            .iter()
            .find(|r| r.identifier == d.identifier && r.region == d.region)
            .unwrap();
        assert_eq!(r.state, DbState::AwaitingApproval, "{}", d.identifier);
    }
    assert!(
        w.ok_calls("SwitchoverBlueGreenDeployment").is_empty(),
        "switched without approval"
    );
    // Approve and resume: now it finishes.
    let mut store = rdsfleet::store::Store::open(&w.state_path()).unwrap();
    store.approve(&[], w.clock.now_ms(), "test").unwrap();
    drop(store);
    let s = w.run(&plan, opts(false)).await;
    assert_eq!(s.exit_code(), 0, "{s:?}");
    check_rollout(&w, &plan).await;
}

#[tokio::test]
async fn polling_is_batched_per_region() {
    let w = world(WorldSpec {
        databases: 12,
        ..Default::default()
    });
    let plan = w.plan(&[("mysql", "8.0"), ("postgres", "16")]).await;
    let s = w
        .run(
            &plan,
            EngineOptions {
                concurrency: 12,
                ..opts(true)
            },
        )
        .await;
    assert_eq!(s.exit_code(), 0);
    let describes = w
        .trail()
        .iter()
        .filter(|t| t.action == "DescribeDBInstances")
        .count() as u64;
    // At most one (single-page) describe per region per tick, whatever the number of databases.
    assert!(
        describes <= s.ticks * 2 + 4,
        "{describes} describes in {} ticks",
        s.ticks
    );
}

/// Run once uninterrupted to count side effects, then for every k crash after k side effects
/// (both just after a call and just before one), resume with a fresh engine, and check that
/// the result is the same rollout with nothing repeated.
#[tokio::test]
async fn crash_after_every_k_side_effects_then_resume() {
    let spec = || WorldSpec {
        databases: 3,
        seed: 11,
        ..Default::default()
    };
    let targets = [("mysql", "8.0"), ("postgres", "16")];
    let total = {
        let w = world(spec());
        let plan = w.plan(&targets).await;
        let counter = Arc::new(CrashAfter::new(w.sim(), i64::MAX, CrashPoint::AfterCall));
        let mut e = w.engine(counter.clone(), &plan, opts(true));
        e.run().await.unwrap();
        check_rollout(&w, &plan).await;
        counter.side_effects()
    };
    assert!(
        total >= 9,
        "expected at least 3 side effects per database, got {total}"
    );
    for point in [CrashPoint::AfterCall, CrashPoint::BeforeCall] {
        for k in 0..=total {
            if point == CrashPoint::AfterCall && k == 0 {
                continue;
            }
            let w = world(spec());
            let plan = w.plan(&targets).await;
            let crasher = Arc::new(CrashAfter::new(w.sim(), k, point));
            let crashed = crasher.crashed();
            {
                let mut e = w.engine(crasher.clone(), &plan, opts(true));
                tokio::select! {
                    r = e.run() => { r.unwrap(); }
                    _ = crashed.notified() => {}
                }
                // The engine is dropped mid-flight here, like a killed process.
            }
            let s = w.run(&plan, opts(true)).await;
            assert_eq!(s.exit_code(), 0, "{point:?} k={k}: {s:?}");
            check_rollout(&w, &plan).await;
        }
    }
}

/// Issue 4 item 8's exception: a database upgraded out of band after the plan was made is
/// recorded as done, and rdsfleet does nothing to it (no snapshot, no deployment).
#[tokio::test]
async fn a_database_upgraded_out_of_band_is_recorded_done_untouched() {
    use rdsfleet::backend::BlueGreenQuery;
    use rdsfleet::domain::{BgStatus, CreateBlueGreen};
    let w = world(WorldSpec {
        databases: 5,
        seed: 21,
        ..Default::default()
    });
    let plan = w.plan(&[("mysql", "8.0"), ("postgres", "16")]).await;
    let victim = plan
        .databases
        .iter()
        .find(|d| d.is_actionable() && d.engine == "mysql" && d.replicas.is_empty())
        .expect("a plain mysql database")
        .clone();
    let to = victim.to_version.clone().unwrap();
    // Someone else upgrades it through their own blue/green deployment (with their own 8.0
    // group: green may not have the event scheduler on at creation).
    let sim = w.sim();
    let theirs = rdsfleet::backend::NewParameterGroup {
        name: "their-mysql80".into(),
        family: "mysql8.0".into(),
        description: "theirs".into(),
        tags: Default::default(),
    };
    sim.create_parameter_group(&victim.region, &theirs)
        .await
        .unwrap();
    let off = rdsfleet::domain::ParameterChange {
        name: "event_scheduler".into(),
        value: "OFF".into(),
        apply_method: "immediate".into(),
    };
    sim.modify_parameter_group(&victim.region, "their-mysql80", &[off])
        .await
        .unwrap();
    let req = CreateBlueGreen {
        name: "someone-elses-upgrade".into(),
        source_arn: victim.arn.clone(),
        target_engine_version: to.clone(),
        target_parameter_group: Some("their-mysql80".into()),
        target_instance_class: None,
        target_storage_type: None,
        tags: Default::default(),
        ..Default::default()
    };
    let bg = sim.create_blue_green(&victim.region, &req).await.unwrap();
    let q = BlueGreenQuery {
        names: vec![req.name.clone()],
        identifiers: vec![],
    };
    let mut switched = false;
    for _ in 0..2000 {
        w.clock.advance(std::time::Duration::from_secs(60));
        let now = sim.describe_blue_green(&victim.region, &q).await.unwrap();
        match now.first().map(|b| b.status.clone()) {
            Some(BgStatus::Available) if !switched => {
                sim.switchover_blue_green(&victim.region, &bg.identifier, 300)
                    .await
                    .unwrap();
                switched = true;
            }
            Some(BgStatus::SwitchoverCompleted) => break,
            _ => {}
        }
    }
    let s = w.run(&plan, opts(true)).await;
    assert_eq!(s.exit_code(), 0, "{s:?}");
    let row = w
        .rows()
        .into_iter()
        .find(|r| r.identifier == victim.identifier)
        .unwrap();
    assert_eq!(row.state, DbState::Done);
    assert!(row.note.unwrap_or_default().contains("out of band"));
    let snap = victim
        .resource_name(rdsfleet::plan::StepKind::Snapshot)
        .unwrap();
    assert!(
        !w.ok_calls("CreateDBSnapshot").contains_key(snap),
        "touched an upgraded database"
    );
    let ours = victim
        .resource_name(rdsfleet::plan::StepKind::CreateBlueGreen)
        .unwrap();
    assert!(!w.ok_calls("CreateBlueGreenDeployment").contains_key(ours));
}

/// On resume, in-flight databases are reconciled before any new one is admitted: the first
/// tick after a crash admits nothing, so the first side effect belongs to an in-flight one.
#[tokio::test]
async fn resume_reconciles_in_flight_work_before_starting_new_work() {
    let w = world(WorldSpec {
        databases: 8,
        seed: 11,
        ..Default::default()
    });
    let plan = w.plan(&[("mysql", "8.0"), ("postgres", "16")]).await;
    let crasher = Arc::new(CrashAfter::new(w.sim(), 3, CrashPoint::AfterCall));
    let crashed = crasher.crashed();
    {
        let mut e = w.engine(
            crasher.clone(),
            &plan,
            EngineOptions {
                concurrency: 2,
                ..opts(true)
            },
        );
        tokio::select! {
            r = e.run() => { r.unwrap(); panic!("should have crashed"); }
            _ = crashed.notified() => {}
        }
    }
    // Resumed with more slots than were in flight: new databases could be admitted at once.
    let in_flight: Vec<i64> = w
        .rows()
        .iter()
        .filter(|r| r.state == DbState::Running)
        .map(|r| r.id)
        .collect();
    assert!(!in_flight.is_empty());
    let before = rdsfleet::store::Store::open(&w.state_path())
        .unwrap()
        .events(None)
        .unwrap()
        .len();
    let s = w
        .run(
            &plan,
            EngineOptions {
                concurrency: 4,
                ..opts(true)
            },
        )
        .await;
    assert_eq!(s.exit_code(), 0, "{s:?}");
    let events = rdsfleet::store::Store::open(&w.state_path())
        .unwrap()
        .events(None)
        .unwrap();
    let after = &events[before..];
    assert!(
        after.iter().any(|e| e.kind == "reconcile"),
        "no reconcile pass logged"
    );
    // The reconcile tick admits nothing: in-flight work may act in it (or may just wait on a
    // snapshot), and admissions come only in a later tick.
    let reconcile_at = after.iter().find(|e| e.kind == "reconcile").unwrap().at;
    let first_tick: Vec<_> = after.iter().filter(|e| e.at == reconcile_at).collect();
    assert!(
        first_tick.iter().all(|e| e.kind != "db-running"
            && (e.kind != "step-started" || in_flight.contains(&e.db_id.unwrap()))),
        "the reconcile tick started new work: {first_tick:?}, in flight were {in_flight:?}"
    );
    let first_admission = after.iter().position(|e| e.kind == "db-running");
    let first_in_flight_step = after
        .iter()
        .position(|e| e.kind == "step-started" && in_flight.contains(&e.db_id.unwrap()));
    assert!(
        first_in_flight_step.is_some(),
        "in-flight databases were never resumed: {after:?}"
    );
    if let Some(a) = first_admission {
        assert!(after[a].at > reconcile_at, "admitted in the reconcile tick");
    }
    check_rollout(&w, &plan).await;
}
