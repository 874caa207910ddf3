//! Figures of one finished (or stopped) rollout, read from where they really are: the
//! simulator's trail and milestones (what RDS was asked and when it finished), and the state
//! file (which databases are done). See `figures.rs` for the arithmetic.

use crate::figures::{lower_bound, peak_in_window, Limits, Work};
use rdsfleet::plan::{Plan, StepKind, Strategy};
use rdsfleet::sim::{Milestone, SimBackend, TrailEntry};
use rdsfleet::store::{DbState, StepStatus, Store};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

pub type Res<T> = Result<T, Box<dyn std::error::Error>>;

#[derive(Debug, Default)]
pub struct RunFigures {
    /// Calls the simulator received during the run (each page of a describe is a call).
    pub calls: usize,
    pub mutating: usize,
    pub throttled: usize,
    /// The most calls to each region in any 1 s of simulated time.
    pub peak_1s: BTreeMap<String, usize>,
    pub planned: usize,
    pub done: usize,
    pub not_done: usize,
    pub steps_done: usize,
    /// Side effects that took effect twice (there must be none).
    pub repeated: Vec<String>,
    /// First call of the run to the last database recorded done (simulated ms).
    pub makespan_ms: i64,
    /// The lower bound on the makespan (see `figures.rs`), when asked for.
    pub bound_ms: Option<i64>,
}

/// A call that took effect: answered `ok`, or lost its response after the effect (`5xx-after`).
fn took_effect(t: &TrailEntry) -> bool {
    t.outcome == "ok" || t.params.get("sim_effect_applied") == Some(&serde_json::Value::Bool(true))
}

/// Figures of the run that made the trail entries after `since_seq`. `limits`: compute the
/// makespan bound with these concurrency limits.
pub fn analyse(
    world: &Path,
    state: &Path,
    since_seq: i64,
    limits: Option<&Limits>,
) -> Res<RunFigures> {
    let sim = SimBackend::open(world)?;
    let store = Store::open(state)?;
    let plan = store.plan()?;
    let rows = store.databases()?;
    let mut f = RunFigures {
        planned: plan.databases.len(),
        done: rows.iter().filter(|r| r.state == DbState::Done).count(),
        not_done: rows
            .iter()
            .filter(|r| !matches!(r.state, DbState::Done | DbState::Skipped))
            .count(),
        steps_done: rows
            .iter()
            .flat_map(|r| &r.steps)
            .filter(|s| s.status == StepStatus::Done)
            .count(),
        ..RunFigures::default()
    };
    // One pass over the trail, which may hold millions of calls (the naive poller's).
    let mut per_region: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    // (region, action, resource) -> how many calls took effect. Names repeat across regions.
    let mut made: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    let mut first_effect: HashMap<(String, String), i64> = HashMap::new();
    let mut start = None;
    sim.each_call_after(since_seq, |t| {
        start.get_or_insert(t.at);
        f.calls += 1;
        f.mutating += t.mutating as usize;
        f.throttled += (t.outcome == "Throttling") as usize;
        per_region.entry(t.region.clone()).or_default().push(t.at);
        if t.mutating && took_effect(&t) {
            let key = (t.action, t.resource);
            first_effect.entry(key.clone()).or_insert(t.at);
            if creates_or_switches(&key.0) {
                *made.entry((t.region.clone(), key.0, key.1)).or_default() += 1;
            }
        }
    })?;
    f.peak_1s = per_region
        .iter()
        .map(|(r, times)| (r.clone(), peak_in_window(times, 1000)))
        .collect();
    f.repeated = made
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|((g, a, r), n)| format!("{a} {g}/{r} x{n}"))
        .collect();
    let start = start.unwrap_or(0);
    let end = rows
        .iter()
        .filter(|r| r.state == DbState::Done)
        .map(|r| r.updated_at)
        .max()
        .unwrap_or(start);
    f.makespan_ms = end - start;
    if let Some(limits) = limits {
        let work = intrinsic_work(&plan, &rows, &first_effect, &sim.milestones()?);
        f.bound_ms = Some(lower_bound(&work, limits));
    }
    Ok(f)
}

/// Calls that must take effect at most once per resource. Modifying a parameter group or
/// tagging is idempotent and legitimately repeated (the restore step modifies the group again).
fn creates_or_switches(action: &str) -> bool {
    action.starts_with("Create") || action == "SwitchoverBlueGreenDeployment"
}

/// `d_i` of every database the rollout finished (see `figures.rs`).
fn intrinsic_work(
    plan: &Plan,
    rows: &[rdsfleet::store::DbRow],
    first_effect: &HashMap<(String, String), i64>,
    milestones: &[Milestone],
) -> Vec<Work> {
    // First call that took effect, per (action, resource); first milestone per (kind, resource).
    let called: HashMap<(&str, &str), i64> = first_effect
        .iter()
        .map(|((a, r), at)| ((a.as_str(), r.as_str()), *at))
        .collect();
    let mut reached: HashMap<(&str, &str), i64> = HashMap::new();
    let mut bgd_id: HashMap<&str, &str> = HashMap::new();
    for m in milestones {
        reached.entry((&m.kind, &m.resource)).or_insert(m.at);
        if m.kind == "bgd-available" {
            bgd_id.insert(&m.detail, &m.resource);
        }
    }
    let guard = plan.policy().switchover.readiness_stable_secs as i64 * 1000;
    let span = |action: &str, kind: &str, resource: &str| -> Option<i64> {
        let a = called.get(&(action, resource))?;
        let b = reached.get(&(kind, resource))?;
        Some(b - a)
    };
    let mut out = vec![];
    for r in rows.iter().filter(|r| r.state == DbState::Done) {
        let d = &plan.databases[r.id as usize];
        if d.strategy != Strategy::BlueGreen {
            continue;
        }
        let (Some(snap), Some(bg)) = (
            d.resource_name(StepKind::Snapshot),
            d.resource_name(StepKind::CreateBlueGreen),
        ) else {
            continue;
        };
        let Some(id) = bgd_id.get(bg) else { continue };
        let parts = (
            span("CreateDBSnapshot", "snapshot-available", snap),
            called
                .get(&("CreateBlueGreenDeployment", bg))
                .zip(reached.get(&("bgd-available", *id)))
                .map(|(a, b)| b - a),
            span("SwitchoverBlueGreenDeployment", "switchover-completed", id),
        );
        if let (Some(s), Some(p), Some(w)) = parts {
            out.push(Work {
                wave: d.wave,
                region: d.region.clone(),
                ms: s + p + guard + w,
            });
        }
    }
    out
}
