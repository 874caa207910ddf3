//! The benchmark's child processes. Each figure runs in a fresh process so that its peak
//! memory is its own: the parent starts this same binary with `RDSFLEET_BENCH_CHILD` set to
//! - `cli`: the rdsfleet command line itself (`rdsfleet::cli::main`, exactly what the
//!   `rdsfleet` binary runs) with the remaining arguments;
//! - `plan N`: the planning benchmark of `bench_plan` for N databases;
//! - `naive WORLD PLAN STATE CONCURRENCY API_RATE`: `apply` with the naive poller
//!   (`naive.rs`) between the engine and the simulator.
//!
//! Every child writes its wall time and peak resident memory (`VmHWM` of `/proc/self/status`,
//! the figure `/usr/bin/time -v` reports as "Maximum resident set size") as JSON to the file
//! named by `RDSFLEET_BENCH_REPORT`.

use crate::naive::NaivePoller;
use crate::planfleet;
use rdsfleet::backend::RdsBackend;
use rdsfleet::engine::{Engine, EngineOptions};
use rdsfleet::plan::Plan;
use rdsfleet::sim::SimBackend;
use rdsfleet::store::Store;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

pub const CHILD_ENV: &str = "RDSFLEET_BENCH_CHILD";
pub const REPORT_ENV: &str = "RDSFLEET_BENCH_REPORT";

/// Peak resident memory of this process in KiB (Linux), as `/usr/bin/time -v` reports it.
pub fn peak_rss_kib() -> Option<u64> {
    peak_rss_kib_of("/proc/self/status")
}

/// `VmHWM` from a `/proc/PID/status` file.
pub fn peak_rss_kib_of(status: &str) -> Option<u64> {
    let s = std::fs::read_to_string(status).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Run the child `mode`; returns the process exit code.
pub fn main(mode: &str) -> i32 {
    let started = Instant::now();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (code, mut extra) = match mode {
        "cli" => (rdsfleet::cli::main(), json!({})),
        "plan" => plan(&args),
        "naive" => naive(&args),
        other => {
            eprintln!("bench: unknown child mode {other}");
            (2, json!({}))
        }
    };
    extra["wall_ms"] = json!(started.elapsed().as_secs_f64() * 1e3);
    extra["peak_rss_kib"] = json!(peak_rss_kib());
    extra["code"] = json!(code);
    if let Ok(path) = std::env::var(REPORT_ENV) {
        if let Err(e) = std::fs::write(&path, extra.to_string()) {
            eprintln!("bench: cannot write {path}: {e}");
            return 2;
        }
    }
    code
}

fn plan(args: &[String]) -> (i32, Value) {
    let n: usize = args.first().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let t = planfleet::measure(n);
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    let v = json!({
        "databases": n,
        "plan_ms": ms(t.plan),
        "total_ms": ms(t.total()),
        "summary": t.summary,
        "plan_json_bytes": t.json_bytes,
        "report_bytes": t.markdown.len(),
    });
    (0, v)
}

fn naive(args: &[String]) -> (i32, Value) {
    let [world, plan, state, concurrency, api_rate] = args else {
        eprintln!("bench naive: WORLD PLAN STATE CONCURRENCY API_RATE");
        return (2, json!({}));
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let concurrency: usize = concurrency.parse().unwrap_or(16);
    let api_rate: f64 = api_rate.parse().unwrap_or(8.0);
    match rt.block_on(naive_apply(
        Path::new(world),
        Path::new(plan),
        Path::new(state),
        concurrency,
        api_rate,
    )) {
        Ok(v) => (0, v),
        Err(e) => {
            eprintln!("bench naive: {e}");
            (1, json!({}))
        }
    }
}

/// What `rdsfleet apply PLAN --approve-switchover` does on the simulator (drift check, state
/// file, engine), with the naive poller in front of the simulator.
async fn naive_apply(
    world: &Path,
    plan: &Path,
    state: &Path,
    concurrency: usize,
    api_rate: f64,
) -> Result<Value, Box<dyn std::error::Error>> {
    let plan = Plan::load(plan)?;
    let sim = SimBackend::open(world)?;
    let clock = sim.clock();
    let sim: Arc<dyn RdsBackend> = Arc::new(sim);
    let live = rdsfleet::planner::describe_fleet(sim.as_ref(), &plan)
        .await
        .map_err(|(r, e)| format!("describing {r}: {e}"))?;
    rdsfleet::planner::refuse_drift(&plan, &live)?;
    let store = Store::create_or_open(state, &plan, "sim", clock.now())?;
    let naive: Arc<dyn RdsBackend> = Arc::new(NaivePoller::new(sim, state, &plan)?);
    let opts = EngineOptions {
        concurrency,
        approve_switchover: true,
        api_rate,
        ..EngineOptions::default()
    };
    let mut engine = Engine::new(naive, clock, store, opts)?;
    let s = engine.run().await?;
    Ok(json!({"exit_code": s.exit_code(), "engine_api_calls": s.api_calls}))
}
