//! Rollout-control tests (issue 6) on the simulator with a manual clock: waves and canary,
//! switchover windows, the client-side API budget, quota waits, cleanup retention and abort.

use crate::common::*;
use rdsfleet::backend::RdsBackend;
use rdsfleet::clock::{minute_of_day, parse_rfc3339, weekday, Clock};
use rdsfleet::engine::EngineOptions;
use rdsfleet::lifecycle::{self, CleanupOptions};
use rdsfleet::plan::Plan;
use rdsfleet::policy::Policy;
use rdsfleet::store::{DbState, Store};
use std::collections::BTreeMap;

async fn plan_with_policy(w: &World, policy: &str) -> Plan {
    let mut plan = w.plan(&[("mysql", "8.0"), ("postgres", "16")]).await;
    let policy = Policy::parse("test", policy).unwrap();
    let inv = rdsfleet::inventory::discover(w.sim().as_ref(), &w.regions(), &[])
        .await
        .unwrap();
    rdsfleet::planner::apply_policy(&mut plan, &policy, &inv);
    plan
}

/// The simulated time of the first and last event of each kind per database, from the state.
fn event_times(w: &World, kind: &str) -> BTreeMap<i64, Vec<i64>> {
    let store = Store::open(&w.state_path()).unwrap();
    let mut m: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for e in store.events(None).unwrap() {
        if e.kind == kind {
            if let Some(db) = e.db_id {
                m.entry(db).or_default().push(e.at);
            }
        }
    }
    m
}

const WAVES: &str = r#"
[concurrency]
per_account = 4
per_region = 4
[switchover]
readiness_stable_secs = 120
[[wave]]
name = "dev"
select = ["tag:env=dev"]
[[wave]]
name = "staging"
select = ["tag:env=staging"]
[[wave]]
name = "prod"
select = ["tag:env=prod"]
canary = 1
"#;

#[tokio::test]
async fn waves_run_in_order_with_a_canary_first_in_prod() {
    let w = world(WorldSpec {
        databases: 14,
        seed: 5,
        ..Default::default()
    });
    let plan = plan_with_policy(&w, WAVES).await;
    let waves: BTreeMap<String, u32> = plan
        .waves
        .iter()
        .map(|i| (i.name.clone(), i.number))
        .collect();
    assert_eq!(waves.len(), 4, "{:?}", plan.waves);
    let canary = waves["prod-canary"];
    let canaries: Vec<_> = plan
        .databases
        .iter()
        .filter(|d| d.wave == canary && d.is_actionable())
        .collect();
    assert_eq!(canaries.len(), 1, "exactly one canary");
    let s = w
        .run(
            &plan,
            EngineOptions {
                concurrency: 8,
                ..opts(true)
            },
        )
        .await;
    assert_eq!(s.exit_code(), 0, "{s:?}");
    let admitted = event_times(&w, "db-running");
    let done = event_times(&w, "db-done");
    // Every database of wave k is done before any database of wave k+1 is admitted.
    let mut by_wave: BTreeMap<u32, (i64, i64)> = BTreeMap::new();
    for (i, d) in plan.databases.iter().enumerate() {
        if !d.is_actionable() {
            continue;
        }
        let first_admit = admitted[&(i as i64)].iter().copied().min().unwrap();
        let last_done = done[&(i as i64)].iter().copied().max().unwrap();
        let e = by_wave.entry(d.wave).or_insert((i64::MAX, i64::MIN));
        e.0 = e.0.min(first_admit);
        e.1 = e.1.max(last_done);
    }
    let v: Vec<_> = by_wave.into_iter().collect();
    assert!(v.len() >= 3, "{v:?}");
    for pair in v.windows(2) {
        let ((wa, (_, done_a)), (wb, (admit_b, _))) = (pair[0], pair[1]);
        assert!(
            done_a <= admit_b,
            "wave {wb} started before wave {wa} finished"
        );
    }
}

#[tokio::test]
async fn an_unapproved_wave_holds_the_next_one_at_the_gate() {
    let w = world(WorldSpec {
        databases: 10,
        seed: 5,
        ..Default::default()
    });
    let plan = plan_with_policy(&w, WAVES).await;
    let s = w.run(&plan, opts(false)).await;
    assert_eq!(s.exit_code(), 0);
    let rows = w.rows();
    let first = plan
        .databases
        .iter()
        .filter(|d| d.is_actionable())
        .map(|d| d.wave)
        .min()
        .unwrap();
    for r in &rows {
        let d = &plan.databases[r.id as usize];
        if !d.is_actionable() {
            continue;
        }
        if d.wave == first {
            assert_eq!(r.state, DbState::AwaitingApproval, "{}", r.identifier);
        } else {
            assert_eq!(
                r.state,
                DbState::Pending,
                "{} (wave {}) started early",
                r.identifier,
                d.wave
            );
        }
    }
    assert!(w.ok_calls("SwitchoverBlueGreenDeployment").is_empty());
}

#[tokio::test]
async fn switchovers_happen_only_inside_windows() {
    // t0 is Monday 09:00 UTC; the only window is Tuesday and Wednesday 02:00-04:00.
    let w = world(WorldSpec {
        databases: 5,
        ..Default::default()
    });
    let plan = plan_with_policy(
        &w,
        r#"
[switchover]
readiness_stable_secs = 60
windows = [{ days = ["tue", "wed"], start = "02:00", end = "04:00" }]
"#,
    )
    .await;
    let s = w.run(&plan, opts(true)).await;
    assert_eq!(s.exit_code(), 0, "{s:?}");
    let switches: Vec<_> = w
        .trail()
        .into_iter()
        .filter(|t| t.action == "SwitchoverBlueGreenDeployment" && t.outcome == "ok")
        .collect();
    assert!(!switches.is_empty());
    for t in &switches {
        let (day, min) = (weekday(t.at), minute_of_day(t.at));
        assert!(
            (day == 1 || day == 2) && (120..240).contains(&min),
            "switchover at {}",
            t.time
        );
    }
    assert!(w.clock.now() > parse_rfc3339("2026-11-03T02:00:00Z").unwrap());
}

#[tokio::test]
async fn api_calls_stay_under_the_client_side_budget() {
    let w = world(WorldSpec {
        databases: 10,
        ..Default::default()
    });
    let plan = w.plan(&[("mysql", "8.0"), ("postgres", "16")]).await;
    let (rate, burst) = (2.0, 5.0);
    let o = EngineOptions {
        concurrency: 10,
        api_rate: rate,
        api_burst: burst,
        ..opts(true)
    };
    let s = w.run(&plan, o).await;
    assert_eq!(s.exit_code(), 0);
    // Engine calls only (the test's own planning describes happened before t0 moved).
    let start = plan_created_at(&plan);
    let mut per_region: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for t in w.trail() {
        if t.at > start {
            per_region.entry(t.region.clone()).or_default().push(t.at);
        }
    }
    for (region, times) in per_region {
        // In any 10 s window: at most burst + rate * 10 calls.
        for (i, &t) in times.iter().enumerate() {
            let n = times[i..].iter().take_while(|&&x| x < t + 10_000).count() as f64;
            assert!(
                n <= burst + rate * 10.0,
                "{region}: {n} calls in 10 s from {t}"
            );
        }
    }
}

fn plan_created_at(plan: &Plan) -> i64 {
    parse_rfc3339(&plan.created_at).unwrap()
}

#[tokio::test]
async fn green_copies_wait_for_quota_headroom_then_cleanup_frees_it() {
    let probe = world(WorldSpec {
        databases: 8,
        ..Default::default()
    });
    let mut used = 0;
    for r in probe.regions() {
        used = used.max(probe.sim().describe_instance_quota(&r).await.unwrap().used);
    }
    // Two instances of headroom in the fuller region: not enough for every green copy.
    let w = world(WorldSpec {
        databases: 8,
        instance_quota: Some(used + 2),
        ..Default::default()
    });
    let plan = w.plan(&[("mysql", "8.0"), ("postgres", "16")]).await;
    assert!(plan
        .databases
        .iter()
        .flat_map(|d| &d.warnings)
        .any(|f| f.code == "quota-headroom-low"));
    let o = || EngineOptions {
        concurrency: 8,
        ..opts(true)
    };
    let mut halts = 0;
    let mut last = None;
    for _round in 0..6 {
        let s = w.run(&plan, o()).await;
        if s.exit_code() == 0 {
            last = Some(s);
            break;
        }
        // Halted because every database in flight waits for headroom; say so, change nothing.
        assert!(
            s.halted.as_deref().unwrap_or("").contains("quota headroom"),
            "{s:?}"
        );
        // Why they wait is a typed reason, not an error.
        assert!(w.rows().iter().any(|r| matches!(
            r.wait,
            Some(rdsfleet::state::WaitReason::QuotaHeadroom { .. })
        ) && r.error.is_none()));
        halts += 1;
        // After the retention, cleanup deletes old instances, which frees headroom.
        w.clock.advance(std::time::Duration::from_secs(73 * 3600));
        let mut store = Store::open(&w.state_path()).unwrap();
        lifecycle::cleanup(
            w.sim().clone(),
            &mut store,
            &w.shared_clock(),
            &CleanupOptions::default(),
        )
        .await
        .unwrap();
        drop(store);
        w.clock.advance(std::time::Duration::from_secs(3600));
    }
    assert!(halts >= 1, "the quota never made the rollout wait");
    assert_eq!(
        last.map(|s| s.exit_code()),
        Some(0),
        "rollout did not finish"
    );
    let refused = w
        .trail()
        .iter()
        .filter(|t| t.outcome == "InstanceQuotaExceeded")
        .count();
    assert_eq!(
        refused, 0,
        "creations must wait for headroom, not hit the quota"
    );
}

#[tokio::test]
async fn cleanup_keeps_old_instances_until_retention_then_deletes_with_a_final_snapshot() {
    let w = world(WorldSpec {
        databases: 4,
        ..Default::default()
    });
    let plan = w.plan(&[("mysql", "8.0"), ("postgres", "16")]).await;
    assert_eq!(plan.settings.retention_hours, 72);
    let s = w.run(&plan, opts(true)).await;
    assert_eq!(s.exit_code(), 0);
    let sim = w.sim();
    let clock = w.shared_clock();
    let mut store = Store::open(&w.state_path()).unwrap();
    let first = lifecycle::cleanup(sim.clone(), &mut store, &clock, &CleanupOptions::default())
        .await
        .unwrap();
    let n = plan.databases.iter().filter(|d| d.is_actionable()).count();
    assert_eq!(
        first
            .iter()
            .filter(|a| a.outcome == "deleted" && a.resource.contains(&plan.plan_id))
            .count(),
        n,
        "{first:#?}"
    );
    assert!(
        first
            .iter()
            .filter(|a| a.resource.ends_with("-old1"))
            .all(|a| a.outcome == "kept"),
        "{first:#?}"
    );
    assert!(w.ok_calls("DeleteDBInstance").is_empty());
    w.clock.advance(std::time::Duration::from_secs(73 * 3600));
    let second = lifecycle::cleanup(sim.clone(), &mut store, &clock, &CleanupOptions::default())
        .await
        .unwrap();
    // An old instance with a read replica still attached waits for it (deleting a source
    // promotes its replicas; `leftovers.rs` covers the replicas themselves).
    let (solo, with_replicas): (Vec<_>, Vec<_>) = plan
        .databases
        .iter()
        .filter(|d| d.is_actionable())
        .partition(|d| d.replicas.is_empty());
    assert!(!with_replicas.is_empty(), "the fixture has a replica");
    for d in &with_replicas {
        let old = format!("{}-old1", d.identifier);
        let a = second.iter().find(|a| a.resource == old).unwrap();
        assert_eq!(a.outcome, "kept", "{a:?}");
        assert!(a.detail.contains("still attached"), "{a:?}");
    }
    let n = solo.len();
    for d in &solo {
        let old = format!("{}-old1", d.identifier);
        let a = second.iter().find(|a| a.resource == old).unwrap();
        assert_eq!(a.outcome, "deleted", "{a:?}");
    }
    let deletes: Vec<_> = w
        .trail()
        .into_iter()
        .filter(|t| t.action == "DeleteDBInstance" && t.outcome == "ok")
        .filter(|t| t.params["SkipFinalSnapshot"] == false)
        .collect();
    assert_eq!(deletes.len(), n);
    for t in &deletes {
        assert!(t.resource.ends_with("-old1"), "deleted {}", t.resource);
        let p = t.params.to_string();
        assert!(p.contains("final"), "no final snapshot in {p}");
    }
    // Production instances untouched; a third run changes nothing.
    let third = lifecycle::cleanup(sim.clone(), &mut store, &clock, &CleanupOptions::default())
        .await
        .unwrap();
    assert!(
        third
            .iter()
            .all(|a| a.outcome != "deleted" || a.detail == "already gone"),
        "{third:#?}"
    );
    let primaries = w
        .trail()
        .into_iter()
        .filter(|t| t.action == "DeleteDBInstance" && t.outcome == "ok")
        .filter(|t| t.params["SkipFinalSnapshot"] == false)
        .count();
    assert_eq!(primaries, n);
}

#[tokio::test]
async fn abort_before_switchover_deletes_green_and_after_switchover_changes_nothing() {
    let w = world(WorldSpec {
        databases: 4,
        ..Default::default()
    });
    let plan = w.plan(&[("mysql", "8.0"), ("postgres", "16")]).await;
    // Up to the gate: greens exist, nothing switched.
    let s = w.run(&plan, opts(false)).await;
    assert_eq!(s.exit_code(), 0);
    let actionable: Vec<_> = plan
        .databases
        .iter()
        .filter(|d| d.is_actionable())
        .collect();
    assert!(actionable.len() >= 2);
    let (a, b) = (
        actionable[0].identifier.clone(),
        actionable[1].identifier.clone(),
    );
    // Approve and finish only b.
    let mut store = Store::open(&w.state_path()).unwrap();
    let bid = store
        .databases()
        .unwrap()
        .iter()
        .find(|r| r.identifier == b)
        .unwrap()
        .id;
    store.approve(&[bid], w.clock.now(), "test").unwrap();
    drop(store);
    w.run(&plan, opts(false)).await;
    let sim = w.sim();
    let clock = w.shared_clock();
    let before = w.trail().len();
    let mut store = Store::open(&w.state_path()).unwrap();
    let after_switch = lifecycle::abort(
        sim.clone(),
        &mut store,
        &clock,
        std::slice::from_ref(&b),
        Default::default(),
    )
    .await
    .unwrap();
    assert!(
        after_switch
            .iter()
            .all(|x| x.outcome == "unchanged" || x.outcome == "kept"),
        "{after_switch:#?}"
    );
    assert!(
        after_switch[0].detail.contains("-old1") && after_switch[0].detail.contains("snapshot")
    );
    let mutating_since = w.trail()[before..].iter().filter(|t| t.mutating).count();
    assert_eq!(
        mutating_since, 0,
        "abort after switchover must change nothing"
    );
    let before_switch = lifecycle::abort(
        sim.clone(),
        &mut store,
        &clock,
        std::slice::from_ref(&a),
        Default::default(),
    )
    .await
    .unwrap();
    assert!(
        before_switch.iter().any(|x| x.outcome == "deleted"),
        "{before_switch:#?}"
    );
    let dels: Vec<_> = w
        .trail()
        .into_iter()
        .filter(|t| t.action == "DeleteBlueGreenDeployment" && t.outcome == "ok")
        .collect();
    assert_eq!(dels.len(), 1);
    assert!(
        dels[0].params.to_string().contains("true"),
        "DeleteTarget must be true: {}",
        dels[0].params
    );
    let row = store
        .databases()
        .unwrap()
        .into_iter()
        .find(|r| r.identifier == a)
        .unwrap();
    assert_eq!(row.state, DbState::Aborted);
    assert!(
        w.ok_calls("DeleteDBSnapshot").is_empty(),
        "snapshots are never deleted"
    );
}

#[tokio::test]
async fn cleanup_leaves_deletion_protected_old_instances_alone_without_the_flag() {
    // The problem fleet has databases with deletion protection on (a plan warning only).
    let w = world(WorldSpec {
        databases: 40,
        seed: 3,
        clean: false,
        ..Default::default()
    });
    let plan = w.plan(&[("mysql", "8.0"), ("postgres", "16")]).await;
    let protected: Vec<String> = plan
        .databases
        .iter()
        .filter(|d| d.is_actionable() && d.source.deletion_protection)
        .map(|d| d.identifier.clone())
        .collect();
    assert!(
        !protected.is_empty(),
        "fixture needs a deletion-protected database"
    );
    for d in plan
        .databases
        .iter()
        .filter(|d| d.source.deletion_protection && d.is_actionable())
    {
        assert!(
            d.warnings.iter().any(|f| f.code == "deletion-protection"),
            "{}",
            d.identifier
        );
    }
    let s = w
        .run(
            &plan,
            EngineOptions {
                concurrency: 40,
                ..opts(true)
            },
        )
        .await;
    assert!(s.count(DbState::Done) > 0, "{s:?}");
    let done: Vec<String> = w
        .rows()
        .into_iter()
        .filter(|r| r.state == DbState::Done)
        .map(|r| r.identifier)
        .collect();
    let protected_done: Vec<&String> = protected.iter().filter(|p| done.contains(p)).collect();
    assert!(!protected_done.is_empty());
    w.clock.advance(std::time::Duration::from_secs(73 * 3600));
    let sim = w.sim();
    let clock = w.shared_clock();
    let mut store = Store::open(&w.state_path()).unwrap();
    let report = lifecycle::cleanup(sim.clone(), &mut store, &clock, &CleanupOptions::default())
        .await
        .unwrap();
    let live_old = |id: &str| format!("{id}-old1");
    for p in &protected_done {
        let a = report.iter().find(|a| a.resource == live_old(p)).unwrap();
        assert_eq!(a.outcome, "kept", "{a:?}");
        assert!(a.detail.contains("deletion protection"), "{a:?}");
    }
    assert!(
        w.ok_calls("ModifyDBInstance").is_empty(),
        "deletion protection must not be turned off silently"
    );
    // With the explicit flag: turned off (logged), then deleted with a final snapshot.
    let flag = CleanupOptions {
        disable_deletion_protection: true,
        ..Default::default()
    };
    let report = lifecycle::cleanup(sim.clone(), &mut store, &clock, &flag)
        .await
        .unwrap();
    for p in &protected_done {
        let a = report.iter().find(|a| a.resource == live_old(p)).unwrap();
        assert_eq!(a.outcome, "deleted", "{a:?}");
    }
    assert!(store
        .events(None)
        .unwrap()
        .iter()
        .any(|e| e.kind == "deletion-protection-off"));
}
