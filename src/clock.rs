//! Time, injected. Nothing in the library reads the wall clock or sleeps except through a
//! [`Clock`], so tests drive time with [`ManualClock`] and never sleep for real, and the
//! simulator runs on [`ScaledClock`] (simulated time = wall time x speed) or, at
//! `--speed max`, on [`VirtualClock`] (time jumps to the end of every sleep).
//!
//! Timestamps are milliseconds since the Unix epoch ([`Millis`]).

use async_trait::async_trait;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub type Millis = i64;

#[async_trait]
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Current time in this clock's timeline.
    fn now(&self) -> Millis;
    /// Wait `d` of this clock's time.
    async fn sleep(&self, d: Duration);
}

pub type SharedClock = Arc<dyn Clock>;

/// Wall-clock milliseconds since the epoch. Used for real AWS and for process-level leases.
pub fn wall_now() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> Millis {
        wall_now()
    }
    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await
    }
}

/// Simulated time that runs `speed` times faster than the wall clock, anchored so that every
/// process opening the same simulated world sees the same continuous timeline (time keeps
/// passing while rdsfleet is not running, as it does on AWS).
#[derive(Debug, Clone, Copy)]
pub struct ScaledClock {
    pub sim_epoch: Millis,
    pub wall_epoch: Millis,
    pub speed: f64,
}

impl ScaledClock {
    pub fn new(sim_epoch: Millis, wall_epoch: Millis, speed: f64) -> Self {
        ScaledClock {
            sim_epoch,
            wall_epoch,
            speed: if speed > 0.0 { speed } else { 1.0 },
        }
    }
}

#[async_trait]
impl Clock for ScaledClock {
    fn now(&self) -> Millis {
        let wall = (wall_now() - self.wall_epoch).max(0) as f64;
        self.sim_epoch + (wall * self.speed) as Millis
    }
    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d.div_f64(self.speed)).await
    }
}

/// A clock that only moves when told to, or when someone sleeps on it (sleeping advances it
/// by the slept duration at once). Cloning shares the same time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<AtomicI64>,
}

impl ManualClock {
    pub fn new(start: Millis) -> Self {
        ManualClock {
            now: Arc::new(AtomicI64::new(start)),
        }
    }
    pub fn advance(&self, d: Duration) {
        self.now.fetch_add(d.as_millis() as i64, Ordering::SeqCst);
    }
    pub fn set(&self, t: Millis) {
        self.now.store(t, Ordering::SeqCst);
    }
}

#[async_trait]
impl Clock for ManualClock {
    fn now(&self) -> Millis {
        self.now.load(Ordering::SeqCst)
    }
    async fn sleep(&self, d: Duration) {
        self.advance(d);
        tokio::task::yield_now().await;
    }
}

/// Virtual time (`--speed max`): time stands still while the engine works and jumps to the end
/// of every sleep at once, the moment the engine waits. The engine is idle exactly while it
/// sleeps (it runs on one task, and the simulator changes only when it is called), so each
/// sleep ending is the next event due, and a rollout runs as fast as the CPU allows with the
/// simulated makespan it would have at real speed.
///
/// It is a [`ManualClock`] (same seed and same calls give the same run, to the millisecond)
/// plus an optional `persist` hook that the new time is handed to before any caller can see
/// it. The simulator stores it in its world file, so a process started later (a `resume`
/// after `kill -9`) continues the same timeline from where the killed one had got to.
///
/// Concurrent sleepers each advance the shared time by their own duration, as on a
/// `ManualClock`: the model is one engine task waiting at a time.
#[derive(Clone)]
pub struct VirtualClock {
    inner: ManualClock,
    persist: Option<Arc<PersistFn>>,
}

/// Where a [`VirtualClock`] saves its time (the simulator's world file).
pub type PersistFn = dyn Fn(Millis) + Send + Sync;

impl VirtualClock {
    pub fn new(start: Millis) -> Self {
        VirtualClock {
            inner: ManualClock::new(start),
            persist: None,
        }
    }
    /// Save every new time through `f` before it becomes visible.
    pub fn persisted(start: Millis, f: Arc<PersistFn>) -> Self {
        VirtualClock {
            inner: ManualClock::new(start),
            persist: Some(f),
        }
    }
    /// Move forward to `t` if it is later (another process on the same world got further).
    pub fn catch_up(&self, t: Millis) {
        self.inner.now.fetch_max(t, Ordering::SeqCst);
    }
}

impl std::fmt::Debug for VirtualClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualClock")
            .field("now", &self.inner.now())
            .finish()
    }
}

#[async_trait]
impl Clock for VirtualClock {
    fn now(&self) -> Millis {
        self.inner.now()
    }
    async fn sleep(&self, d: Duration) {
        if let Some(p) = &self.persist {
            p(self.inner.now() + d.as_millis() as Millis);
        }
        self.inner.sleep(d).await
    }
}

/// Format epoch milliseconds as RFC 3339 UTC (`2026-11-21T23:21:59Z`).
pub fn rfc3339(ms: Millis) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        y,
        m,
        d,
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Parse the RFC 3339 UTC form [`rfc3339`] writes (`YYYY-MM-DDTHH:MM:SSZ`).
pub fn parse_rfc3339(s: &str) -> Option<Millis> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || !s.ends_with('Z') {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let (h, mi, se) = (n(11..13)?, n(14..16)?, n(17..19)?);
    let days = days_from_civil(y, mo, d);
    Some(((days * 86_400) + h * 3600 + mi * 60 + se) * 1000)
}

/// Day of the week for epoch milliseconds, 0 = Monday .. 6 = Sunday (UTC).
pub fn weekday(ms: Millis) -> u32 {
    let days = ms.div_euclid(1000).div_euclid(86_400);
    // 1970-01-01 was a Thursday (3 when Monday is 0).
    ((days + 3).rem_euclid(7)) as u32
}

/// Minutes since UTC midnight for epoch milliseconds.
pub fn minute_of_day(ms: Millis) -> u32 {
    (ms.div_euclid(1000).rem_euclid(86_400) / 60) as u32
}

// Howard Hinnant's civil date algorithms.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips() {
        let t = parse_rfc3339("2026-11-21T23:21:59Z").unwrap();
        assert_eq!(rfc3339(t), "2026-11-21T23:21:59Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(weekday(t), 5); // Saturday
        assert_eq!(minute_of_day(t), 23 * 60 + 21);
    }

    #[tokio::test]
    async fn virtual_clock_is_a_manual_clock_that_saves_its_time_first() {
        let saved = Arc::new(AtomicI64::new(0));
        let s2 = saved.clone();
        let v = VirtualClock::persisted(
            1000,
            Arc::new(move |t| {
                s2.store(t, Ordering::SeqCst);
            }),
        );
        let m = ManualClock::new(1000);
        for d in [5, 30_000, 1, 7_250] {
            v.sleep(Duration::from_millis(d)).await;
            m.sleep(Duration::from_millis(d)).await;
            assert_eq!(v.now(), m.now());
            assert_eq!(saved.load(Ordering::SeqCst), v.now(), "saved before seen");
        }
        v.catch_up(10);
        assert_eq!(v.now(), m.now(), "never goes back");
        v.catch_up(m.now() + 60_000);
        assert_eq!(v.now(), m.now() + 60_000);
    }

    #[tokio::test]
    async fn manual_clock_advances_on_sleep() {
        let c = ManualClock::new(1000);
        c.sleep(Duration::from_secs(5)).await;
        assert_eq!(c.now(), 6000);
    }
}
