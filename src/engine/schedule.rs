//! Scheduling rules of a run, as pure functions: which pending databases to admit (waves and
//! concurrency limits), when a run is finished, when the failure budget is spent, when the
//! next switchover window opens. No IO, no clock: `now` comes in.

use crate::clock::Millis;
use crate::plan::{Plan, Strategy};
use crate::policy::Policy;
use crate::state::DbState;
use crate::store::DbRow;
use std::collections::{BTreeMap, HashMap, HashSet};

/// A replica that travels with its source: scheduled through its source, never on its own.
pub fn is_replica(plan: &Plan, d: &DbRow) -> bool {
    plan.databases[d.id as usize].strategy == Strategy::WithSource
}

/// The open wave: the lowest wave with a database not finished. Wave k+1 opens only when
/// every database of wave k has finished (an unapproved one holds its wave at the gate).
pub fn open_wave(plan: &Plan, dbs: &[DbRow]) -> Option<u32> {
    dbs.iter()
        .filter(|d| !d.state.is_terminal() && !is_replica(plan, d))
        .map(|d| plan.databases[d.id as usize].wave)
        .min()
}

/// What admission does this tick.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Admission {
    /// Approved databases held at the gate: back to running.
    pub resume: Vec<i64>,
    /// Pending databases of the open wave admitted into free slots.
    pub admit: Vec<i64>,
}

/// Fill free slots with pending databases, lowest wave first, in plan order, within the
/// account (`concurrency`), region (the policy's `per_region`) and wave limits. `allow_new`
/// is false on the first tick of a run that has work in flight: it only reconciles.
pub fn admission(
    plan: &Plan,
    policy: &Policy,
    concurrency: usize,
    dbs: &[DbRow],
    allow_new: bool,
) -> Admission {
    let mut out = Admission::default();
    let mut in_region: HashMap<&str, usize> = HashMap::new();
    let mut in_flight = 0usize;
    for d in dbs
        .iter()
        .filter(|d| d.state == DbState::Running && !is_replica(plan, d))
    {
        in_flight += 1;
        *in_region.entry(d.region.as_str()).or_default() += 1;
    }
    let open = open_wave(plan, dbs);
    let wave_limit = open
        .and_then(|w| plan.waves.iter().find(|i| i.number == w))
        .and_then(|i| i.concurrency)
        .unwrap_or(usize::MAX);
    let per_region = if plan.policy.is_some() {
        policy.concurrency.per_region
    } else {
        usize::MAX
    };
    let mut free = concurrency.min(wave_limit).saturating_sub(in_flight);
    for d in dbs.iter().filter(|d| !is_replica(plan, d)) {
        match d.state {
            DbState::AwaitingApproval if d.approved => out.resume.push(d.id),
            DbState::Pending
                if allow_new
                    && free > 0
                    && in_region.get(d.region.as_str()).copied().unwrap_or(0) < per_region
                    && Some(plan.databases[d.id as usize].wave) == open =>
            {
                *in_region.entry(d.region.as_str()).or_default() += 1;
                out.admit.push(d.id);
                free -= 1;
            }
            _ => {}
        }
    }
    out
}

/// Nothing left to do in this run: nothing in flight, no approved database waiting, and no
/// pending database in the open wave (the next wave waits behind an unapproved gate).
pub fn finished(plan: &Plan, dbs: &[DbRow]) -> bool {
    let live: Vec<&DbRow> = dbs
        .iter()
        .filter(|d| !d.state.is_terminal() && !is_replica(plan, d))
        .collect();
    if live.iter().any(|d| {
        d.state == DbState::Running || (d.state == DbState::AwaitingApproval && d.approved)
    }) {
        return false;
    }
    let open = open_wave(plan, dbs);
    !live
        .iter()
        .any(|d| d.state == DbState::Pending && Some(plan.databases[d.id as usize].wave) == open)
}

/// The failure budget, counting databases that failed during this run (`baseline`: those
/// already failed when it started; a resume acknowledges them). `Some(reason)` halts the run.
pub fn budget_spent(
    plan: &Plan,
    policy: &Policy,
    dbs: &[DbRow],
    baseline: &HashSet<i64>,
) -> Option<String> {
    let fb = &policy.failure_budget;
    let failed: Vec<&DbRow> = dbs
        .iter()
        .filter(|d| d.state == DbState::Failed && !baseline.contains(&d.id) && !is_replica(plan, d))
        .collect();
    if let Some(max) = fb.max_failed {
        if failed.len() >= max {
            return Some(format!(
                "failure budget spent: {} database(s) failed in this run (max_failed = {max}): {}. Investigate, then `rdsfleet resume` to continue",
                failed.len(),
                failed.iter().map(|d| d.identifier.as_str()).collect::<Vec<_>>().join(", ")
            ));
        }
    }
    let pct = fb.max_failed_percent?;
    let mut per_wave: BTreeMap<u32, (usize, usize)> = BTreeMap::new();
    for d in dbs
        .iter()
        .filter(|d| !is_replica(plan, d) && plan.databases[d.id as usize].is_actionable())
    {
        let e = per_wave
            .entry(plan.databases[d.id as usize].wave)
            .or_default();
        e.1 += 1;
        if failed.iter().any(|f| f.id == d.id) {
            e.0 += 1;
        }
    }
    per_wave.into_iter().find_map(|(w, (f, n))| {
        (n > 0 && f > 0 && f * 100 >= pct as usize * n).then(|| format!(
            "failure budget spent: {f} of {n} database(s) in wave {w} failed (max_failed_percent = {pct}). Investigate, then `rdsfleet resume` to continue"
        ))
    })
}

/// When the next switchover window opens after `now` (minute resolution, up to 8 days).
pub fn next_window(policy: &Policy, now: Millis) -> Option<Millis> {
    let minute = 60_000;
    let start = now - now.rem_euclid(minute) + minute;
    (0..(8 * 24 * 60))
        .map(|i| start + i * minute)
        .find(|t| policy.in_window(*t))
}

/// Counts by state.
pub fn counts(dbs: &[DbRow]) -> BTreeMap<DbState, usize> {
    let mut m = BTreeMap::new();
    for d in dbs {
        *m.entry(d.state).or_insert(0) += 1;
    }
    m
}
