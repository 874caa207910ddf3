//! Scheduling rules of a run, as pure functions: which pending databases to admit (waves and
//! concurrency limits), when a run is finished, when the failure budget is spent, when the
//! next switchover window opens. No IO, no clock: `now` comes in.

use crate::clock::Millis;
use crate::plan::{Plan, Strategy};
use crate::policy::Policy;
use crate::state::{Brief, DbState};
use std::collections::{BTreeMap, HashMap, HashSet};

/// A replica that travels with its source: scheduled through its source, never on its own.
pub fn is_replica(plan: &Plan, id: i64) -> bool {
    plan.databases[id as usize].strategy == Strategy::WithSource
}

/// The open wave: the lowest wave with a database not finished. Wave k+1 opens only when
/// every database of wave k has finished (an unapproved one holds its wave at the gate).
pub fn open_wave(plan: &Plan, dbs: &[Brief]) -> Option<u32> {
    dbs.iter()
        .filter(|d| !d.state.is_terminal() && !is_replica(plan, d.id))
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
    dbs: &[Brief],
    allow_new: bool,
) -> Admission {
    let region = |d: &Brief| plan.databases[d.id as usize].region.as_str();
    let mut out = Admission::default();
    let mut in_region: HashMap<&str, usize> = HashMap::new();
    let mut in_flight = 0usize;
    for d in dbs
        .iter()
        .filter(|d| d.state == DbState::Running && !is_replica(plan, d.id))
    {
        in_flight += 1;
        *in_region.entry(region(d)).or_default() += 1;
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
    for d in dbs.iter().filter(|d| !is_replica(plan, d.id)) {
        match d.state {
            DbState::AwaitingApproval if d.approved => out.resume.push(d.id),
            DbState::Pending
                if allow_new
                    && free > 0
                    && in_region.get(region(d)).copied().unwrap_or(0) < per_region
                    && Some(plan.databases[d.id as usize].wave) == open =>
            {
                *in_region.entry(region(d)).or_default() += 1;
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
pub fn finished(plan: &Plan, dbs: &[Brief]) -> bool {
    let live: Vec<&Brief> = dbs
        .iter()
        .filter(|d| !d.state.is_terminal() && !is_replica(plan, d.id))
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
    dbs: &[Brief],
    baseline: &HashSet<i64>,
) -> Option<String> {
    let fb = &policy.failure_budget;
    let failed: Vec<&Brief> = dbs
        .iter()
        .filter(|d| {
            d.state == DbState::Failed && !baseline.contains(&d.id) && !is_replica(plan, d.id)
        })
        .collect();
    if let Some(max) = fb.max_failed {
        if failed.len() >= max {
            return Some(format!(
                "failure budget spent: {} database(s) failed in this run (max_failed = {max}): {}. Investigate, then `rdsfleet resume` to continue",
                failed.len(),
                failed.iter().map(|d| plan.databases[d.id as usize].identifier.as_str()).collect::<Vec<_>>().join(", ")
            ));
        }
    }
    let pct = fb.max_failed_percent?;
    let mut per_wave: BTreeMap<u32, (usize, usize)> = BTreeMap::new();
    for d in dbs
        .iter()
        .filter(|d| !is_replica(plan, d.id) && plan.databases[d.id as usize].is_actionable())
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
pub fn counts(dbs: &[Brief]) -> BTreeMap<DbState, usize> {
    let mut m = BTreeMap::new();
    for d in dbs {
        *m.entry(d.state).or_insert(0) += 1;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{PlannedDatabase, Strategy};
    use crate::policy::{FailureBudget, WaveInfo};
    use crate::store::test_plan;

    /// A plan of `waves` (one entry per database: its wave) and rows in `states`.
    fn fleet(waves: &[u32], states: &[DbState]) -> (Plan, Vec<Brief>) {
        let mut plan = test_plan();
        let template: PlannedDatabase = plan.databases[0].clone();
        plan.databases = waves
            .iter()
            .enumerate()
            .map(|(i, w)| PlannedDatabase {
                identifier: format!("db{i}"),
                region: if i % 2 == 0 { "r1" } else { "r2" }.into(),
                wave: *w,
                ..template.clone()
            })
            .collect();
        let rows = plan
            .databases
            .iter()
            .zip(states)
            .enumerate()
            .map(|(i, (_, s))| Brief {
                id: i as i64,
                state: *s,
                approved: false,
            })
            .collect();
        (plan, rows)
    }

    #[test]
    fn admission_fills_free_slots_of_the_open_wave_only_in_plan_order() {
        use DbState::*;
        let (plan, rows) = fleet(&[1, 1, 1, 2], &[Running, Pending, Pending, Pending]);
        let policy = Policy::default();
        let a = admission(&plan, &policy, 2, &rows, true);
        assert_eq!(a.admit, vec![1], "one slot left; db3 is in wave 2");
        assert!(admission(&plan, &policy, 2, &rows, false).admit.is_empty());
        // Wave 2 opens only when wave 1 is finished.
        let (plan, rows) = fleet(&[1, 2, 2], &[Done, Pending, Pending]);
        assert_eq!(admission(&plan, &policy, 4, &rows, true).admit, vec![1, 2]);
        let (plan, rows) = fleet(&[1, 2], &[AwaitingApproval, Pending]);
        assert!(admission(&plan, &policy, 4, &rows, true).admit.is_empty());
    }

    #[test]
    fn admission_obeys_the_wave_and_region_limits_and_resumes_approved_gates() {
        use DbState::*;
        let (mut plan, mut rows) = fleet(&[1, 1, 1, 1], &[Pending, Pending, Pending, Pending]);
        plan.waves = vec![WaveInfo {
            number: 1,
            name: "w".into(),
            concurrency: Some(1),
        }];
        let policy = Policy::default();
        assert_eq!(admission(&plan, &policy, 8, &rows, true).admit.len(), 1);
        plan.waves.clear();
        let mut policy = Policy::default();
        policy.concurrency.per_region = 1;
        plan.policy = Some(policy.clone());
        assert_eq!(admission(&plan, &policy, 8, &rows, true).admit, vec![0, 1]);
        rows[0].state = AwaitingApproval;
        rows[0].approved = true;
        assert_eq!(admission(&plan, &policy, 8, &rows, true).resume, vec![0]);
    }

    #[test]
    fn finished_when_nothing_can_move_in_this_run() {
        use DbState::*;
        let (plan, rows) = fleet(&[1, 1], &[Done, AwaitingApproval]);
        assert!(finished(&plan, &rows), "held at an approval not given");
        let (plan, mut rows) = fleet(&[1, 1], &[Done, AwaitingApproval]);
        rows[1].approved = true;
        assert!(!finished(&plan, &rows), "approved: it will switch over");
        let (plan, rows) = fleet(&[1, 2], &[AwaitingApproval, Pending]);
        assert!(
            finished(&plan, &rows),
            "wave 2 waits behind an unapproved gate"
        );
        let (plan, rows) = fleet(&[1, 1], &[Done, Pending]);
        assert!(!finished(&plan, &rows));
        let (mut plan, rows) = fleet(&[1, 1], &[Done, Pending]);
        plan.databases[1].strategy = Strategy::WithSource;
        assert!(
            finished(&plan, &rows),
            "a replica is scheduled through its source"
        );
    }

    #[test]
    fn the_failure_budget_counts_only_this_runs_failures() {
        use DbState::*;
        let (plan, rows) = fleet(&[1, 1, 1, 1], &[Failed, Failed, Done, Running]);
        let mut policy = Policy {
            failure_budget: FailureBudget {
                max_failed: Some(2),
                max_failed_percent: None,
            },
            ..Policy::default()
        };
        let none = HashSet::new();
        assert!(budget_spent(&plan, &policy, &rows, &none).is_some());
        let acknowledged: HashSet<i64> = [0].into();
        assert!(budget_spent(&plan, &policy, &rows, &acknowledged).is_none());
        policy.failure_budget = FailureBudget {
            max_failed: None,
            max_failed_percent: Some(50),
        };
        let why = budget_spent(&plan, &policy, &rows, &none).unwrap();
        assert!(why.contains("2 of 4 database(s) in wave 1"), "{why}");
    }

    #[test]
    fn the_next_window_is_found_to_the_minute() {
        let mut policy = Policy::default();
        assert_eq!(next_window(&policy, 0), Some(60_000), "always open");
        policy.switchover.windows = vec![crate::policy::Window {
            days: vec!["tue".into()],
            start: "02:00".into(),
            end: "05:00".into(),
        }];
        // 1970-01-01 was a Thursday: the next Tuesday 02:00 is 5 days and 2 h later.
        let t = next_window(&policy, 0).unwrap();
        assert_eq!(t, (5 * 24 + 2) * 3_600_000);
    }
}
