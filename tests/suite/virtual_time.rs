//! Virtual time (`--speed max`, issue 11): a rollout on a world that runs on virtual time is
//! the same rollout, to the millisecond, as on a `ManualClock` with the same seed, and a second
//! process opening the world continues the same timeline.

use crate::common::*;
use rdsfleet::backend::RdsBackend;
use rdsfleet::clock::SharedClock;
use rdsfleet::engine::{Engine, EngineOptions};
use rdsfleet::plan::PlanSettings;
use rdsfleet::planner::{self, PlanRequest};
use rdsfleet::sim::{self, SimBackend, TrailEntry};
use rdsfleet::store::Store;
use std::sync::Arc;

/// Set after planning (planning is not what is under test).
const FAULTS: &str = "switchover-fail=0.2,5xx=0.05,5xx-after=0.05,lag=0.3,latency=500";

const TARGETS: [(&str, &str); 2] = [("mysql", "8.0"), ("postgres", "16")];

fn spec() -> WorldSpec {
    WorldSpec {
        databases: 10,
        seed: 11,
        clean: false,
        instance_quota: Some(200),
        ..Default::default()
    }
}

fn engine_opts() -> EngineOptions {
    EngineOptions {
        concurrency: 4,
        ..opts(true)
    }
}

/// The same world as `common::world(spec())`, but on virtual time, opened as a process would
/// open it (`SimBackend::open`, the world's own clock).
fn virtual_world(dir: &std::path::Path) -> std::path::PathBuf {
    let s = spec();
    let path = dir.join("world.sqlite");
    let o = sim::InitOptions {
        databases: s.databases,
        seed: s.seed,
        speed: f64::INFINITY,
        clean: s.clean,
        faults: s.faults,
        instance_quota: s.instance_quota,
        throttle_burst: s.throttle_burst,
        throttle_rate: s.throttle_rate,
    };
    sim::init_world(&path, &o, t0()).unwrap();
    path
}

/// What a trail entry says, minus the sequence number.
fn key(t: &TrailEntry) -> String {
    format!(
        "{} {} {} {} {} {}",
        t.at, t.region, t.action, t.resource, t.outcome, t.params
    )
}

#[tokio::test]
async fn a_rollout_on_virtual_time_is_the_rollout_on_a_manual_clock() {
    // On a manual clock (the reference).
    let w = world(spec());
    let plan = w.plan(&TARGETS).await;
    w.sim().set_faults(FAULTS).unwrap();
    let manual = w.run(&plan, engine_opts()).await;
    let manual_trail: Vec<String> = w.trail().iter().map(key).collect();

    // On virtual time: the world's own clock, the same seed and calls.
    let dir = tempdir();
    let path = virtual_world(dir.path());
    let sim = Arc::new(SimBackend::open(&path).unwrap());
    let clock: SharedClock = sim.clock();
    assert_eq!(clock.now(), t0());
    let regions: Vec<String> = sim::SIM_REGIONS.iter().map(|s| s.to_string()).collect();
    let inv = rdsfleet::inventory::discover(sim.as_ref(), &regions, &[])
        .await
        .unwrap();
    let engines: Vec<String> = TARGETS.iter().map(|(e, _)| e.to_string()).collect();
    let ctx = planner::gather_context(sim.as_ref(), &regions, &engines).await;
    let req = PlanRequest {
        targets: TARGETS
            .iter()
            .map(|(e, v)| (e.to_string(), v.to_string()))
            .collect(),
        settings: PlanSettings::default(),
        created_at: clock.now(),
    };
    let vplan = planner::plan(&inv, &ctx, &req).unwrap();
    assert_eq!(vplan.plan_id, plan.plan_id, "the same fleet, the same plan");
    sim.set_faults(FAULTS).unwrap();
    let store =
        Store::create_or_open(&dir.path().join("s.sqlite"), &vplan, "sim", clock.now()).unwrap();
    let mut e = Engine::new(sim.clone(), clock.clone(), store, engine_opts()).unwrap();
    let virt = e.run().await.unwrap();
    let virtual_trail: Vec<String> = sim.trail(false).unwrap().iter().map(key).collect();

    assert_eq!(virt, manual, "the same outcome");
    assert!(
        manual_trail.iter().any(|t| t.contains("Switchover")),
        "the rollout did nothing"
    );
    let first_diff = manual_trail
        .iter()
        .zip(&virtual_trail)
        .position(|(a, b)| a != b);
    assert_eq!(
        (first_diff, manual_trail.len()),
        (None, virtual_trail.len()),
        "trails differ at {first_diff:?}: manual {:?} / virtual {:?}",
        first_diff.map(|i| &manual_trail[i]),
        first_diff.and_then(|i| virtual_trail.get(i))
    );
    // The makespan is simulated time, not wall time: hours passed in the world.
    assert!(clock.now() - t0() > 3_600_000, "{}", clock.now() - t0());
}

#[tokio::test]
async fn a_second_process_continues_the_virtual_timeline() {
    let dir = tempdir();
    let path = virtual_world(dir.path());
    let first = Arc::new(SimBackend::open(&path).unwrap());
    let clock = first.clock();
    let regions: Vec<String> = sim::SIM_REGIONS.iter().map(|s| s.to_string()).collect();
    let inv = rdsfleet::inventory::discover(first.as_ref(), &regions, &[])
        .await
        .unwrap();
    let ctx = planner::gather_context(first.as_ref(), &regions, &["mysql".into()]).await;
    let req = PlanRequest {
        targets: [("mysql".to_string(), "8.0".to_string())].into(),
        settings: PlanSettings::default(),
        created_at: clock.now(),
    };
    let plan = planner::plan(&inv, &ctx, &req).unwrap();
    let state = dir.path().join("s.sqlite");
    let store = Store::create_or_open(&state, &plan, "sim", clock.now()).unwrap();
    let o = EngineOptions {
        max_ticks: Some(12),
        ..engine_opts()
    };
    let mut e = Engine::new(first.clone(), clock.clone(), store, o).unwrap();
    let s = e.run().await.unwrap();
    assert!(s.interrupted, "{s:?}");
    let reached = clock.now();
    assert!(
        reached > t0() + 60_000,
        "time did not move: {}",
        reached - t0()
    );
    // What the engine recorded never lies ahead of the time a new process starts from.
    let latest = Store::open(&state)
        .unwrap()
        .events(None)
        .unwrap()
        .iter()
        .map(|e| e.at)
        .max()
        .unwrap();
    drop(e);
    drop(first);
    let second = SimBackend::open(&path).unwrap();
    assert_eq!(second.clock().now(), reached, "continues where it was");
    assert!(latest <= reached);
    // And it goes on from there: the first call of the second process is not in the past.
    let before = second.trail(false).unwrap().last().unwrap().at;
    second
        .describe_instances("us-east-1", &Default::default())
        .await
        .unwrap();
    let after = second.trail(false).unwrap().last().unwrap().at;
    assert!(after >= before && after == reached);
    // Two processes at once share one timeline: the one behind catches up on its next call.
    let third = SimBackend::open(&path).unwrap();
    second
        .clock()
        .sleep(std::time::Duration::from_secs(600))
        .await;
    third
        .describe_instances("us-east-1", &Default::default())
        .await
        .unwrap();
    assert_eq!(third.clock().now(), reached + 600_000);
}
