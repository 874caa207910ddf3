//! Shared test helpers: a simulated world on a manual clock, planning, and running the engine.

#![allow(dead_code)]

use rdsfleet::backend::RdsBackend;
use rdsfleet::clock::{parse_rfc3339, ManualClock, Millis, SharedClock};
use rdsfleet::engine::{Engine, EngineOptions, RunSummary};
use rdsfleet::plan::{Plan, PlanSettings};
use rdsfleet::planner::{self, PlanRequest};
use rdsfleet::sim::{self, SimBackend, TrailEntry};
use rdsfleet::store::{DbRow, Store};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

pub fn t0() -> Millis {
    parse_rfc3339("2026-11-02T09:00:00Z").unwrap()
}

/// A simulated world in a temp dir, on a manual clock shared by the simulator and the engine.
pub struct World {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
    pub clock: ManualClock,
}

pub struct WorldSpec {
    pub databases: usize,
    pub seed: u64,
    pub clean: bool,
    pub faults: String,
    pub instance_quota: Option<i64>,
    /// The simulator's token bucket per region (`InitOptions::throttle_burst` / `_rate`).
    pub throttle_burst: f64,
    pub throttle_rate: f64,
}

impl Default for WorldSpec {
    fn default() -> Self {
        WorldSpec {
            databases: 6,
            seed: 7,
            clean: true,
            faults: String::new(),
            instance_quota: None,
            throttle_burst: sim::InitOptions::default().throttle_burst,
            throttle_rate: sim::InitOptions::default().throttle_rate,
        }
    }
}

/// A fresh temp dir, on tmpfs when the machine has one: the state and world files fsync,
/// and tests need not pay for a disk.
pub fn tempdir() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(d) = tempfile::Builder::new().prefix("rdsfleet-").tempdir_in(shm) {
            return d;
        }
    }
    tempfile::tempdir().unwrap()
}

#[allow(clippy::needless_update)]
pub fn world(spec: WorldSpec) -> World {
    let dir = tempdir();
    let path = dir.path().join("world.sqlite");
    let opts = sim::InitOptions {
        databases: spec.databases,
        seed: spec.seed,
        speed: 1.0,
        clean: spec.clean,
        faults: spec.faults,
        instance_quota: spec.instance_quota,
        throttle_burst: spec.throttle_burst,
        throttle_rate: spec.throttle_rate,
        // Every field is set today; kept so a field added to InitOptions later still builds.
        ..sim::InitOptions::default()
    };
    sim::init_world(&path, &opts, t0()).unwrap();
    World {
        dir,
        path,
        clock: ManualClock::new(t0()),
    }
}

impl World {
    pub fn shared_clock(&self) -> SharedClock {
        Arc::new(self.clock.clone())
    }
    pub fn sim(&self) -> Arc<SimBackend> {
        Arc::new(SimBackend::open_with_clock(&self.path, self.shared_clock()).unwrap())
    }
    pub fn regions(&self) -> Vec<String> {
        sim::SIM_REGIONS.iter().map(|s| s.to_string()).collect()
    }
    /// Discover and plan live against the simulator.
    pub async fn plan(&self, targets: &[(&str, &str)]) -> Plan {
        let b = self.sim();
        let inv = rdsfleet::inventory::discover(b.as_ref(), &self.regions(), &[])
            .await
            .unwrap();
        let engines: Vec<String> = targets.iter().map(|(e, _)| e.to_string()).collect();
        let ctx = planner::gather_context(b.as_ref(), &self.regions(), &engines).await;
        let req = PlanRequest {
            targets: targets
                .iter()
                .map(|(e, v)| (e.to_string(), v.to_string()))
                .collect(),
            settings: PlanSettings::default(),
            created_at: self.clock.now_ms(),
        };
        planner::plan(&inv, &ctx, &req).unwrap()
    }
    pub fn state_path(&self) -> PathBuf {
        self.dir.path().join("state.sqlite")
    }
    pub fn store(&self, plan: &Plan) -> Store {
        Store::create_or_open(&self.state_path(), plan, "sim", self.clock.now_ms()).unwrap()
    }
    pub fn engine(&self, backend: Arc<dyn RdsBackend>, plan: &Plan, opts: EngineOptions) -> Engine {
        Engine::new(backend, self.shared_clock(), self.store(plan), opts).unwrap()
    }
    /// Run to the end with a fresh engine over the plain simulator.
    pub async fn run(&self, plan: &Plan, opts: EngineOptions) -> RunSummary {
        let mut e = self.engine(self.sim(), plan, opts);
        e.run().await.unwrap()
    }
    pub fn rows(&self) -> Vec<DbRow> {
        Store::open(&self.state_path())
            .unwrap()
            .databases()
            .unwrap()
    }
    pub fn trail(&self) -> Vec<TrailEntry> {
        self.sim().trail(false).unwrap()
    }
    /// Calls of `action` that took effect, counted per resource: `ok`, and calls whose response
    /// a `5xx-after` fault lost (the effect happened, so they count as side effects too).
    pub fn effective_calls(&self, action: &str) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for t in self.trail() {
            let lost = t.outcome == "InternalFailure"
                && t.params.get("sim_effect_applied") == Some(&serde_json::Value::Bool(true));
            if t.action == action && (t.outcome == "ok" || lost) {
                *m.entry(t.resource.clone()).or_insert(0) += 1;
            }
        }
        m
    }
    /// [`World::effective_calls`] per (region, resource): the same name in two regions (a
    /// parameter group planned from `default.mysql5.7` in each) is two resources.
    pub fn effective_calls_by_region(&self, action: &str) -> BTreeMap<(String, String), usize> {
        let mut m = BTreeMap::new();
        for t in self.trail() {
            let lost = t.outcome == "InternalFailure"
                && t.params.get("sim_effect_applied") == Some(&serde_json::Value::Bool(true));
            if t.action == action && (t.outcome == "ok" || lost) {
                *m.entry((t.region.clone(), t.resource.clone())).or_insert(0) += 1;
            }
        }
        m
    }
    /// Successful calls of `action`, counted per resource.
    pub fn ok_calls(&self, action: &str) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for t in self.trail() {
            if t.action == action && t.outcome == "ok" {
                *m.entry(t.resource.clone()).or_insert(0) += 1;
            }
        }
        m
    }
}

/// Small extension so tests read the manual clock without importing the trait.
pub trait NowMs {
    fn now_ms(&self) -> Millis;
}
impl NowMs for ManualClock {
    fn now_ms(&self) -> Millis {
        use rdsfleet::clock::Clock;
        self.now()
    }
}

/// Engine options for tests: fast polling in simulated time, generous budget.
pub fn opts(approve: bool) -> EngineOptions {
    EngineOptions {
        concurrency: 3,
        approve_switchover: approve,
        ..EngineOptions::default()
    }
}
