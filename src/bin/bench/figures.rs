//! The benchmark's arithmetic, kept pure so it is tested: API-rate peaks, calls per database,
//! and the lower bound on a rollout's makespan.
//!
//! # The makespan lower bound
//!
//! For each database `i` that the rollout finished, RDS itself needed
//!
//! ```text
//! d_i = S_i + P_i + G + W_i
//! ```
//!
//! - `S_i`: its pre-upgrade snapshot, from the `CreateDBSnapshot` call that took effect to the
//!   simulator's `snapshot-available` milestone (the source is `backing-up` meanwhile, and RDS
//!   refuses a blue/green creation until it is done);
//! - `P_i`: its blue/green deployment, from the `CreateBlueGreenDeployment` call that took
//!   effect to `bgd-available`;
//! - `G`: the readiness guard (the policy's `readiness_stable_secs`: green must have stayed
//!   AVAILABLE that long before switchover);
//! - `W_i`: its switchover, from the `SwitchoverBlueGreenDeployment` call to
//!   `switchover-completed`.
//!
//! No orchestrator can finish database `i` sooner than `d_i` after it starts it, nor run more
//! than `C` databases at once (`C` = `--concurrency`, capped by the wave's concurrency) or
//! more than `R` in one region (the policy's `per_region`; none without a policy), and wave
//! `k + 1` starts only when wave `k` has finished. So, summing over waves `w`:
//!
//! ```text
//! bound = sum over w of max( max_{i in w} d_i,
//!                            (sum_{i in w} d_i) / C_w,
//!                            max over regions r of (sum_{i in w, r} d_i) / min(R, C_w) )
//! ```
//!
//! The makespan it is compared with runs from the rollout's first API call to the moment the
//! last database was recorded `done` (after its verification), both in simulated time.

use std::collections::BTreeMap;

/// The most calls in any window `[t, t + window_ms)` (times in ms, any order).
pub fn peak_in_window(times: &[i64], window_ms: i64) -> usize {
    let mut t = times.to_vec();
    t.sort_unstable();
    let mut best = 0;
    let mut lo = 0;
    for hi in 0..t.len() {
        while t[hi] - t[lo] >= window_ms {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

/// One finished database for the bound: its wave, region and `d_i` (ms).
#[derive(Debug, Clone, PartialEq)]
pub struct Work {
    pub wave: u32,
    pub region: String,
    pub ms: i64,
}

/// Concurrency limits of a rollout.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    /// `--concurrency` (the account-wide limit).
    pub account: usize,
    /// The policy's `per_region`, if a policy is in force.
    pub region: Option<usize>,
    /// Per-wave concurrency, where the policy sets one.
    pub wave: BTreeMap<u32, usize>,
}

/// The lower bound on the makespan (ms), see the module doc.
pub fn lower_bound(work: &[Work], limits: &Limits) -> i64 {
    let mut waves: BTreeMap<u32, Vec<&Work>> = BTreeMap::new();
    for w in work {
        waves.entry(w.wave).or_default().push(w);
    }
    let mut total = 0.0f64;
    for (wave, items) in waves {
        let c = limits
            .wave
            .get(&wave)
            .copied()
            .unwrap_or(usize::MAX)
            .min(limits.account)
            .max(1) as f64;
        let r = limits.region.map(|r| (r as f64).min(c)).unwrap_or(c);
        let longest = items.iter().map(|w| w.ms).max().unwrap_or(0) as f64;
        let sum: f64 = items.iter().map(|w| w.ms as f64).sum();
        let mut by_region: BTreeMap<&str, f64> = BTreeMap::new();
        for w in &items {
            *by_region.entry(&w.region).or_default() += w.ms as f64;
        }
        let regional = by_region.values().map(|s| s / r).fold(0.0, f64::max);
        total += longest.max(sum / c).max(regional);
    }
    total.round() as i64
}

/// `12.3 h` / `45 min`.
pub fn duration(ms: i64) -> String {
    let h = ms as f64 / 3_600_000.0;
    if h >= 1.0 {
        format!("{h:.2} h")
    } else {
        format!("{:.1} min", ms as f64 / 60_000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_counts_the_busiest_window() {
        assert_eq!(peak_in_window(&[], 1000), 0);
        assert_eq!(peak_in_window(&[5], 1000), 1);
        // Half-open: 0 and 1000 are not in one 1 s window.
        assert_eq!(peak_in_window(&[0, 1000, 2000], 1000), 1);
        assert_eq!(peak_in_window(&[2000, 0, 999, 1500, 1600, 1700], 1000), 4);
        assert_eq!(peak_in_window(&[7; 40], 1000), 40);
    }

    fn w(wave: u32, region: &str, min: i64) -> Work {
        Work {
            wave,
            region: region.into(),
            ms: min * 60_000,
        }
    }

    fn check(work: &[Work], limits: Limits, expected_min: f64) {
        let got = lower_bound(work, &limits) as f64 / 60_000.0;
        assert!(
            (got - expected_min).abs() < 1e-6,
            "{work:?} {limits:?}: {got} min, expected {expected_min}"
        );
    }

    #[test]
    fn bound_is_the_longest_path_or_the_work_per_slot() {
        let l = |account| Limits {
            account,
            ..Limits::default()
        };
        // One slot: everything in a row.
        check(&[w(1, "a", 30), w(1, "a", 40)], l(1), 70.0);
        // Enough slots: the longest database.
        check(&[w(1, "a", 30), w(1, "b", 40)], l(8), 40.0);
        // 10 x 30 min over 4 slots: 75 min of work per slot.
        check(&vec![w(1, "a", 30); 10], l(4), 75.0);
        // Per region: 8 slots, but 4 per region and everything in one region.
        let limits = Limits {
            account: 8,
            region: Some(4),
            ..Limits::default()
        };
        check(&vec![w(1, "a", 30); 16], limits.clone(), 120.0);
        // Split over two regions, the account limit binds again.
        let mut two = vec![w(1, "a", 30); 8];
        two.extend(vec![w(1, "b", 30); 8]);
        check(&two, limits, 60.0);
        // Waves add up; a wave's own concurrency caps it.
        let waves = Limits {
            account: 8,
            region: None,
            wave: [(2, 1)].into(),
        };
        check(&[w(1, "a", 30), w(2, "a", 10), w(2, "a", 10)], waves, 50.0);
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(90 * 60_000), "1.50 h");
        assert_eq!(duration(45 * 60_000), "45.0 min");
    }
}
