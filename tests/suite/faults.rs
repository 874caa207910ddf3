//! Bad-day tests (issue 3 "Engine tests", issue 6 "budget halting", SWITCHOVER_FAILED, the
//! fault matrix of issue 11): whole rollouts on the simulator, with a manual clock, one test
//! per fault: throttling storm, quota exhaustion, INVALID_CONFIGURATION, SWITCHOVER_FAILED,
//! failed snapshot, transient 5xx, lost response, instance deleted mid-run (another actor),
//! eventual consistency; plus latency, another actor modifying, the failure budget and the
//! default fault set.
//!
//! Every test checks the same four things, because those are what an operator relies on:
//! the per-database outcome (and the reason written in its state row), that no side effect was
//! repeated (a call whose response was lost counts as a side effect), that nothing was lost
//! (no database left `running`), and that the rest of the fleet went on to `done`.

use crate::common::*;
use rdsfleet::backend::{BlueGreenQuery, ErrorKind, Hook, InstanceQuery, Op, RdsBackend, Wrapped};
use rdsfleet::engine::{EngineOptions, RunSummary};
use rdsfleet::lifecycle;
use rdsfleet::plan::{Plan, PlannedDatabase};
use rdsfleet::policy::Policy;
use rdsfleet::store::{DbRow, DbState, Store};
use std::collections::BTreeMap;

const TARGETS: [(&str, &str); 2] = [("mysql", "8.0"), ("postgres", "16")];

/// The test's own describes go through the same faulty simulator as the engine's: retry a
/// throttled or transient answer after 10 s of simulated time, as any client would.
macro_rules! retry {
    ($w:expr, $call:expr) => {{
        let mut tries = 0;
        loop {
            match $call.await {
                Ok(v) => break v,
                Err(e) if e.is_retryable() && tries < 100 => {
                    tries += 1;
                    $w.clock.advance(std::time::Duration::from_secs(10));
                }
                Err(e) => panic!("describe failed: {e}"),
            }
        }
    }};
}

/// Plan the world (before any fault is set, so planning is not what is under test).
async fn plan(w: &World) -> Plan {
    w.plan(&TARGETS).await
}

fn actionable(plan: &Plan) -> Vec<&PlannedDatabase> {
    plan.databases
        .iter()
        .filter(|d| d.is_actionable())
        .collect()
}

/// Inject `spec` into the world from now on (targets need identifiers the plan chose).
fn set_faults(w: &World, spec: &str) {
    w.sim().set_faults(spec).unwrap();
}

fn row(w: &World, d: &PlannedDatabase) -> DbRow {
    w.rows()
        .into_iter()
        .find(|r| r.identifier == d.identifier && r.region == d.region)
        .unwrap()
}

/// No snapshot, blue/green deployment, switchover or parameter group was made twice, counting
/// the calls whose response was lost (`5xx-after`) as made.
fn assert_nothing_repeated(w: &World) {
    for action in [
        "CreateDBSnapshot",
        "CreateBlueGreenDeployment",
        "SwitchoverBlueGreenDeployment",
        "CreateDBParameterGroup",
    ] {
        let m = w.effective_calls_by_region(action);
        let twice: Vec<_> = m.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "{action} repeated: {twice:?}");
    }
}

/// Every actionable database ended terminal or awaiting approval: none left `running` or
/// `pending` by a run that returned as finished.
fn assert_nothing_lost(w: &World, plan: &Plan) {
    for d in actionable(plan) {
        let r = row(w, d);
        assert!(
            r.state.is_terminal() || r.state == DbState::AwaitingApproval,
            "{} left {:?} at step {:?}: {:?}",
            d.identifier,
            r.state,
            r.step,
            r.error
        );
    }
}

/// Every actionable database not in `except` is `done` and runs its target version live.
async fn assert_others_done(w: &World, plan: &Plan, except: &[&str]) {
    let sim = w.sim();
    let mut live = BTreeMap::new();
    for r in w.regions() {
        let all = retry!(w, sim.describe_instances(&r, &InstanceQuery::default()));
        for i in all {
            live.insert((i.region.clone(), i.identifier.clone()), i);
        }
    }
    let mut n = 0;
    for d in actionable(plan) {
        if except.contains(&d.identifier.as_str()) {
            continue;
        }
        let r = row(w, d);
        assert_eq!(r.state, DbState::Done, "{}: {:?}", d.identifier, r.error);
        let now = &live[&(d.region.clone(), d.identifier.clone())];
        assert_eq!(
            Some(&now.engine_version),
            d.to_version.as_ref(),
            "{} done but not upgraded",
            d.identifier
        );
        n += 1;
    }
    assert!(n > 0, "no other database to check");
}

/// The AWS identifier of database `d`'s deployment: switchover and delete calls name it by
/// identifier in the trail, so look it up by its deterministic name.
async fn bg_identifier(w: &World, d: &PlannedDatabase) -> String {
    let name = d
        .resource_name(rdsfleet::plan::StepKind::CreateBlueGreen)
        .unwrap()
        .to_string();
    let q = BlueGreenQuery {
        names: vec![name.clone()],
        identifiers: vec![],
    };
    let sim = w.sim();
    retry!(w, sim.describe_blue_green(&d.region, &q))
        .into_iter()
        .find(|b| b.name == name)
        .unwrap_or_else(|| panic!("no deployment {name}"))
        .identifier
}

fn outcome_counts(w: &World) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for t in w.trail() {
        *m.entry(t.outcome).or_insert(0) += 1;
    }
    m
}

fn eng(concurrency: usize) -> EngineOptions {
    EngineOptions {
        concurrency,
        ..opts(true)
    }
}

/// A world of `n` clean databases, planned, with `faults` set on the chosen targets.
async fn faulted(n: usize, seed: u64, faults: impl Fn(&Plan) -> String) -> (World, Plan) {
    let w = world(WorldSpec {
        databases: n,
        seed,
        ..Default::default()
    });
    let p = plan(&w).await;
    assert!(actionable(&p).len() >= 3, "fleet too small");
    set_faults(&w, &faults(&p));
    (w, p)
}

fn nth(plan: &Plan, i: usize) -> PlannedDatabase {
    actionable(plan)[i].clone()
}

#[tokio::test]
async fn throttled_by_the_simulator_the_rollout_still_completes_once() {
    // The simulator's bucket is far below the engine's own budget, so RDS throttles.
    let w = world(WorldSpec {
        databases: 8,
        // Enough burst for the test's own planning (the clock does not move meanwhile).
        throttle_burst: 40.0,
        // Well under the engine's polling rate (a few describes per 30 s tick per region).
        // Regression: at this rate the engine once starved - its describes took every token
        // and the side effects were throttled forever; now it backs off as a whole.
        throttle_rate: 0.05,
        ..Default::default()
    });
    let p = plan(&w).await;
    let before = w.trail().len();
    let s = w
        .run(
            &p,
            EngineOptions {
                concurrency: 8,
                api_rate: 50.0,
                api_burst: 200.0,
                ..opts(true)
            },
        )
        .await;
    assert_eq!(s.exit_code(), 0, "{s:?}");
    let throttled = w.trail()[before..]
        .iter()
        .filter(|t| t.outcome == "Throttling")
        .count();
    assert!(throttled > 0, "the simulator never throttled the engine");
    println!("throttling: {throttled} throttled calls, {s:?}");
    assert_nothing_repeated(&w);
    assert_nothing_lost(&w, &p);
    assert_others_done(&w, &p, &[]).await;
}

#[tokio::test]
async fn invalid_configuration_fails_one_database_then_abort_deletes_it() {
    let (w, p) = faulted(6, 7, |p| format!("invalid-config@{}", nth(p, 1).identifier)).await;
    let bad = nth(&p, 1);
    let s = w.run(&p, eng(3)).await;
    assert_eq!(s.exit_code(), 1, "{s:?}");
    let r = row(&w, &bad);
    assert_eq!(r.state, DbState::Failed);
    let err = r.error.clone().unwrap_or_default();
    assert!(err.contains("INVALID_CONFIGURATION"), "{err}");
    assert_eq!(
        w.ok_calls("SwitchoverBlueGreenDeployment")
            .get(&bg_identifier(&w, &bad).await),
        None,
        "switched over a broken deployment"
    );
    assert_nothing_repeated(&w);
    assert_nothing_lost(&w, &p);
    assert_others_done(&w, &p, &[&bad.identifier]).await;

    let mut store = Store::open(&w.state_path()).unwrap();
    let acts = lifecycle::abort(
        w.sim().clone(),
        &mut store,
        &w.shared_clock(),
        std::slice::from_ref(&bad.identifier),
        Default::default(),
    )
    .await
    .unwrap();
    assert!(acts.iter().any(|a| a.outcome == "deleted"), "{acts:#?}");
    let bgid = bg_identifier(&w, &bad).await;
    let dels = w.effective_calls("DeleteBlueGreenDeployment");
    assert_eq!(dels.get(&bgid), Some(&1), "{dels:?}");
    drop(store);
    assert_eq!(row(&w, &bad).state, DbState::Aborted);
}

#[tokio::test]
async fn switchover_failed_is_never_retried_and_blue_keeps_serving() {
    let (w, p) = faulted(6, 7, |p| {
        format!("switchover-fail@{}", nth(p, 0).identifier)
    })
    .await;
    let bad = nth(&p, 0);
    let s = w.run(&p, eng(3)).await;
    assert_eq!(s.exit_code(), 1, "{s:?}");
    let r = row(&w, &bad);
    assert_eq!(r.state, DbState::Failed);
    let err = r.error.clone().unwrap_or_default();
    assert!(
        err.contains("still serving and writable") && err.contains("rolled it back"),
        "{err}"
    );
    // Exactly one switchover call for it, of any outcome: never retried blindly.
    let bgid = bg_identifier(&w, &bad).await;
    let calls = w
        .trail()
        .into_iter()
        .filter(|t| t.action == "SwitchoverBlueGreenDeployment" && t.resource == bgid)
        .count();
    assert_eq!(
        calls, 1,
        "switchover of the failed database called {calls} times"
    );
    // Blue is still the production instance, on the old version, available.
    let q = InstanceQuery {
        identifiers: vec![bad.identifier.clone()],
        ..Default::default()
    };
    let sim = w.sim();
    let inst = retry!(w, sim.describe_instances(&bad.region, &q))
        .into_iter()
        .find(|i| i.identifier == bad.identifier)
        .unwrap();
    assert_eq!(inst.engine_version, bad.from_version);
    assert_eq!(inst.status, "available");
    assert_nothing_repeated(&w);
    assert_nothing_lost(&w, &p);
    assert_others_done(&w, &p, &[&bad.identifier]).await;
}

#[tokio::test]
async fn snapshot_failure_stops_that_database_before_blue_green() {
    let (w, p) = faulted(6, 7, |p| format!("snapshot-fail@{}", nth(p, 2).identifier)).await;
    let bad = nth(&p, 2);
    let s = w.run(&p, eng(3)).await;
    assert_eq!(s.exit_code(), 1, "{s:?}");
    let r = row(&w, &bad);
    assert_eq!(r.state, DbState::Failed);
    assert_eq!(r.step.as_deref(), Some("snapshot"), "{r:?}");
    let err = r.error.clone().unwrap_or_default();
    assert!(err.contains("snapshot"), "{err}");
    let bg = bad
        .resource_name(rdsfleet::plan::StepKind::CreateBlueGreen)
        .unwrap();
    let creates = w
        .trail()
        .into_iter()
        .filter(|t| t.action == "CreateBlueGreenDeployment" && t.resource == bg)
        .count();
    assert_eq!(creates, 0, "blue/green created after a failed snapshot");
    assert_nothing_repeated(&w);
    assert_nothing_lost(&w, &p);
    assert_others_done(&w, &p, &[&bad.identifier]).await;
}

/// Calls refused with a 5xx that took no effect (not the lost responses of `5xx-after`).
fn refused_5xx(w: &World, mutating: bool) -> usize {
    w.trail()
        .iter()
        .filter(|t| t.mutating == mutating)
        .filter(|t| t.outcome == "InternalFailure" || t.outcome == "ServiceUnavailable")
        .filter(|t| t.params.get("sim_effect_applied").is_none())
        .count()
}

#[tokio::test]
async fn transient_5xx_errors_are_retried_and_the_fleet_finishes() {
    let (w, p) = faulted(8, 3, |_| "5xx=0.25".into()).await;
    let s = w.run(&p, eng(4)).await;
    assert_eq!(s.exit_code(), 0, "{s:?}");
    let (reads, writes) = (refused_5xx(&w, false), refused_5xx(&w, true));
    println!("5xx: {reads} reads and {writes} side effects refused");
    assert!(
        reads > 0 && writes > 0,
        "the fault hit nothing: the test tests nothing"
    );
    assert_nothing_repeated(&w);
    assert_nothing_lost(&w, &p);
    assert_others_done(&w, &p, &[]).await;
    // Done means each database's snapshot and deployment exist exactly once.
    assert_eq!(
        w.effective_calls("CreateDBSnapshot").len(),
        actionable(&p).len()
    );
    assert_eq!(
        w.effective_calls("CreateBlueGreenDeployment").len(),
        actionable(&p).len()
    );
}

#[tokio::test]
async fn lost_responses_are_adopted_never_redone() {
    let (w, p) = faulted(8, 3, |_| "5xx-after=0.4".into()).await;
    let s = w.run(&p, eng(4)).await;
    assert_eq!(s.exit_code(), 0, "{s:?}");
    let lost: Vec<(String, String)> = w
        .trail()
        .into_iter()
        .filter(|t| t.params.get("sim_effect_applied").is_some())
        .map(|t| (t.action, t.resource))
        .collect();
    println!("5xx-after: {} lost responses: {lost:?}", lost.len());
    assert!(
        lost.iter()
            .any(|(a, _)| a == "CreateDBSnapshot" || a == "CreateBlueGreenDeployment"),
        "no creation lost its response: the test tests nothing"
    );
    // Every creation whose response was lost took effect once, and only once.
    for (action, resource) in &lost {
        if action.starts_with("Create") || action.starts_with("Switchover") {
            assert_eq!(
                w.effective_calls(action).get(resource),
                Some(&1),
                "{action} {resource}"
            );
        }
    }
    assert_nothing_repeated(&w);
    assert_nothing_lost(&w, &p);
    assert_others_done(&w, &p, &[]).await;
}

/// Takes the `DBInstances` headroom of every region right after the engine has read it (as
/// another team creating instances would), so RDS refuses the next creation with
/// `InstanceQuotaExceeded`; gives it back after the first refusal.
struct QuotaThief {
    sim: std::sync::Arc<rdsfleet::sim::SimBackend>,
    regions: Vec<String>,
    quota: i64,
    refused: std::sync::atomic::AtomicBool,
}

impl Hook for QuotaThief {
    fn around<'a, T: Send + 'a>(
        &'a self,
        op: Op,
        call: &'a (dyn Fn() -> BoxCall<'a, T> + Send + Sync),
    ) -> BoxCall<'a, T> {
        use std::sync::atomic::Ordering::SeqCst;
        Box::pin(async move {
            let r = call().await;
            if self.refused.load(SeqCst) {
                return r;
            }
            if op == Op::DescribeAccountAttributes {
                for region in &self.regions {
                    let used = self.sim.describe_instance_quota(region).await.unwrap().used;
                    self.sim.set_instance_quota(region, used).unwrap();
                }
            }
            if op == Op::CreateBlueGreenDeployment
                && matches!(&r, Err(e) if e.kind == ErrorKind::QuotaExceeded)
            {
                self.refused.store(true, SeqCst);
                for region in &self.regions {
                    self.sim.set_instance_quota(region, self.quota).unwrap();
                }
            }
            r
        })
    }
}

type BoxCall<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = rdsfleet::backend::BResult<T>> + Send + 'a>>;

#[tokio::test]
async fn quota_exhaustion_is_waited_out_or_retried_never_failed() {
    // 1. Someone else takes the headroom between the engine's quota read and its creation:
    //    RDS refuses it (InstanceQuotaExceeded), the engine retries later, nothing fails.
    let w = world(WorldSpec {
        databases: 6,
        instance_quota: Some(100),
        ..Default::default()
    });
    let p = plan(&w).await;
    let sim = w.sim();
    let thief = QuotaThief {
        sim: sim.clone(),
        regions: w.regions(),
        quota: 100,
        refused: Default::default(),
    };
    let b = std::sync::Arc::new(Wrapped::with_hook(sim.clone(), thief));
    let s = w.engine(b.clone(), &p, eng(6)).run().await.unwrap();
    assert_eq!(s.exit_code(), 0, "{s:?}");
    let refused: Vec<String> = w
        .trail()
        .into_iter()
        .filter(|t| t.outcome == "InstanceQuotaExceeded")
        .map(|t| t.resource)
        .collect();
    assert!(
        !refused.is_empty(),
        "RDS never refused: the test tests nothing"
    );
    assert_nothing_repeated(&w);
    assert_nothing_lost(&w, &p);
    assert_others_done(&w, &p, &[]).await;

    // 2. The quota stays exhausted: the databases without headroom wait (none fails), the run
    //    halts saying why, and once AWS raises the quota a resume finishes them.
    let probe = world(WorldSpec {
        databases: 6,
        ..Default::default()
    });
    let mut used = BTreeMap::new();
    for r in probe.regions() {
        used.insert(
            r.clone(),
            probe.sim().describe_instance_quota(&r).await.unwrap().used,
        );
    }
    let max_used = *used.values().max().unwrap();
    // Two of headroom in the fuller region: enough for any one database (a source and its
    // replica), so the planner blocks none, but not for every green copy.
    let w = world(WorldSpec {
        databases: 6,
        instance_quota: Some(max_used + 2),
        ..Default::default()
    });
    let p = plan(&w).await;
    assert!(
        p.databases.iter().all(|d| d.blockers.is_empty()),
        "the planner blocked some"
    );
    let first = w.run(&p, eng(6)).await;
    assert_eq!(first.exit_code(), 1, "{first:?}");
    let why = first.halted.clone().unwrap_or_default();
    assert!(
        why.contains("quota"),
        "halted without saying why: {first:?}"
    );
    let rows = w.rows();
    assert!(rows.iter().all(|r| r.state != DbState::Failed), "{rows:?}");
    let waiting = rows
        .iter()
        .filter(|r| matches!(r.state, DbState::Pending | DbState::Running))
        .count();
    assert!(waiting > 0, "nothing waited for quota: {rows:?}");
    for r in w.regions() {
        w.sim().set_instance_quota(&r, 200).unwrap();
    }
    let s = w.run(&p, eng(6)).await;
    assert_eq!(s.exit_code(), 0, "{s:?}");
    assert_nothing_repeated(&w);
    assert_nothing_lost(&w, &p);
    assert_others_done(&w, &p, &[]).await;
}

#[tokio::test]
async fn latency_slows_nothing_down_to_failure() {
    let (w, p) = faulted(6, 7, |_| "latency=2000".into()).await;
    let s = w.run(&p, eng(3)).await;
    assert_eq!(s.exit_code(), 0, "{s:?}");
    assert_nothing_repeated(&w);
    assert_nothing_lost(&w, &p);
    assert_others_done(&w, &p, &[]).await;
}

#[tokio::test]
async fn another_actor_modifying_a_database_makes_the_engine_wait() {
    let (w, p) = faulted(6, 7, |p| format!("actor-modify@{}", nth(p, 0).identifier)).await;
    let s = w.run(&p, eng(3)).await;
    assert_eq!(s.exit_code(), 0, "{s:?}");
    assert_nothing_repeated(&w);
    assert_nothing_lost(&w, &p);
    assert_others_done(&w, &p, &[]).await;
}

#[tokio::test]
async fn another_actor_deleting_a_database_fails_it_clearly_others_finish() {
    let (w, p) = faulted(6, 7, |p| format!("actor-delete@{}", nth(p, 1).identifier)).await;
    let bad = nth(&p, 1);
    let s = w.run(&p, eng(3)).await;
    assert_eq!(s.exit_code(), 1, "{s:?}");
    let r = row(&w, &bad);
    assert!(
        matches!(r.state, DbState::Failed | DbState::Blocked),
        "{r:?}"
    );
    let err = r.error.clone().unwrap_or_default();
    println!("actor-delete: {} {:?}: {err}", bad.identifier, r.state);
    assert!(
        err.contains("INVALID_CONFIGURATION")
            || err.contains("no longer exists")
            || err.contains("deleting")
            || err.contains("deleted"),
        "unclear reason: {err}"
    );
    assert_eq!(
        w.ok_calls("SwitchoverBlueGreenDeployment").len(),
        actionable(&p).len() - 1
    );
    assert_nothing_repeated(&w);
    assert_nothing_lost(&w, &p);
    assert_others_done(&w, &p, &[&bad.identifier]).await;
}

#[tokio::test]
async fn eventual_consistency_is_waited_out_not_redone() {
    let (w, p) = faulted(6, 7, |_| "lag=1.0,lag-secs=120".into()).await;
    let s = w.run(&p, eng(3)).await;
    assert_eq!(s.exit_code(), 0, "{s:?}");
    assert_nothing_repeated(&w);
    assert_nothing_lost(&w, &p);
    assert_others_done(&w, &p, &[]).await;
    let snaps = w.effective_calls("CreateDBSnapshot");
    assert_eq!(snaps.len(), actionable(&p).len(), "{snaps:?}");
}

/// Run until a run ends without halting (at most `max` runs); the summaries, in order.
async fn run_until_not_halted(
    w: &World,
    p: &Plan,
    o: EngineOptions,
    max: usize,
) -> Vec<RunSummary> {
    let mut out = vec![];
    for _ in 0..max {
        let s = w.run(p, o.clone()).await;
        let halted = s.halted.is_some();
        out.push(s);
        if !halted {
            break;
        }
    }
    out
}

#[tokio::test]
async fn failure_budget_halts_the_run_and_resume_finishes_the_others() {
    let w = world(WorldSpec {
        databases: 10,
        seed: 5,
        ..Default::default()
    });
    let mut p = plan(&w).await;
    let policy = Policy::parse("test", "[failure_budget]\nmax_failed = 1\n").unwrap();
    let inv = rdsfleet::inventory::discover(w.sim().as_ref(), &w.regions(), &[])
        .await
        .unwrap();
    rdsfleet::planner::apply_policy(&mut p, &policy, &inv);
    let all = actionable(&p).len();
    assert!(all >= 6, "{all}");
    let (a, b) = (nth(&p, 0), nth(&p, 1));
    set_faults(
        &w,
        &format!("invalid-config@{}|{}", a.identifier, b.identifier),
    );
    let o = eng(2);
    let first = w.run(&p, o.clone()).await;
    assert_eq!(first.exit_code(), 1, "{first:?}");
    let reason = first
        .halted
        .clone()
        .expect("the budget did not halt the run");
    assert!(reason.contains("failure budget"), "{reason}");
    // Halted, not failed: the rest is resumable.
    let rows = w.rows();
    let failed: Vec<_> = rows.iter().filter(|r| r.state == DbState::Failed).collect();
    assert!(!failed.is_empty() && failed.len() <= 2, "{failed:?}");
    let resumable = rows
        .iter()
        .filter(|r| matches!(r.state, DbState::Pending | DbState::Running))
        .count();
    assert!(resumable > 0, "nothing left to resume: {rows:?}");
    for d in actionable(&p) {
        let r = row(&w, d);
        if r.identifier != a.identifier && r.identifier != b.identifier {
            assert_ne!(r.state, DbState::Failed, "{}: {:?}", r.identifier, r.error);
        }
    }
    // Resume: the budget counts this run's failures, so it goes on (and may halt once more
    // when the second target fails in it).
    let done_before = w.rows().iter().filter(|r| r.state == DbState::Done).count();
    let rest = run_until_not_halted(&w, &p, o, 3).await;
    println!("failure budget: first {first:?}, then {rest:?}");
    assert!(
        w.rows().iter().filter(|r| r.state == DbState::Done).count() > done_before,
        "the resumed run did not continue"
    );
    let last = rest.last().unwrap();
    assert!(last.halted.is_none(), "{rest:?}");
    assert_eq!(last.exit_code(), 1, "two databases failed: {last:?}");
    for d in [&a, &b] {
        let r = row(&w, d);
        assert_eq!(r.state, DbState::Failed, "{}", d.identifier);
        assert!(r
            .error
            .unwrap_or_default()
            .contains("INVALID_CONFIGURATION"));
    }
    assert_nothing_repeated(&w);
    assert_nothing_lost(&w, &p);
    assert_others_done(&w, &p, &[&a.identifier, &b.identifier]).await;
}

#[tokio::test]
async fn the_default_fault_set_on_forty_databases() {
    let w = world(WorldSpec {
        databases: 40,
        seed: 1,
        clean: false,
        // Every upgrade keeps its old instance until cleanup: with the default quota of 40 a
        // 40-database region halts on quota headroom (by design, tested in rollout.rs).
        instance_quota: Some(200),
        ..Default::default()
    });
    let p = plan(&w).await;
    set_faults(&w, "default");
    let s = w.run(&p, eng(8)).await;
    assert!(!s.interrupted && s.halted.is_none(), "{s:?}");
    assert_nothing_repeated(&w);
    assert_nothing_lost(&w, &p);
    let mut by_state: BTreeMap<&str, usize> = BTreeMap::new();
    for r in w.rows() {
        *by_state.entry(r.state.as_str()).or_default() += 1;
        if matches!(r.state, DbState::Failed | DbState::Blocked) {
            println!(
                "  {} {}: {}",
                r.identifier,
                r.state.as_str(),
                r.error.unwrap_or_default()
            );
        }
    }
    println!(
        "default faults, 40 databases: {} actionable; states {by_state:?}; {} API calls by the engine; trail outcomes {:?}",
        actionable(&p).len(),
        s.api_calls,
        outcome_counts(&w)
    );
    assert_eq!(by_state.get("running"), None);
    assert!(
        by_state.get("done").copied().unwrap_or(0) * 2 > actionable(&p).len(),
        "most databases should finish: {by_state:?}"
    );
}
