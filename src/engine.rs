//! The engine: drives a plan through an [`RdsBackend`], persisting every transition in the
//! [`Store`], so that it can be stopped at any moment (Ctrl-C, crash, `kill -9`) and resumed.
//!
//! ## How it works
//! The engine is a level-triggered reconciler on a single task. Each *tick* it
//! 1. observes every region that has work with **one** batched, paginated describe of the
//!    instances (plus one batched describe of the snapshots and one of the blue/green
//!    deployments it is waiting on) - never one call per database;
//! 2. advances each admitted database by looking at its current step and what it observed.
//!
//! Every side effect has a deterministic name from the plan (see [`crate::naming`]). Before a
//! call the step moves `pending -> started` (intent, committed); after it, `started -> waiting`
//! or `done` (outcome). A step found `started` on resume has an unknown outcome: the engine
//! first looks for the resource under its deterministic name and adopts it; only if it is
//! absent does it repeat the call, and an `AlreadyExists` answer is adoption too. So a side
//! effect is never repeated, whatever moment the process died at.
//!
//! Switchover happens only for approved databases; the others stop at `awaiting-approval`.
//! A failed switchover (RDS rolled back) is never retried blindly.
//!
//! Time comes from the injected [`Clock`]; API calls pass a client-side token bucket per
//! region ([`ApiBudget`]) so rdsfleet stays well under the RDS account limit it shares.

use crate::backend::BackendError;
use crate::backend::{
    BlueGreenQuery, ErrorKind, InstanceQuery, NewParameterGroup, RdsBackend, SnapshotQuery,
};
use crate::clock::{Millis, SharedClock};
use crate::domain::*;
use crate::plan::{Plan, PlannedDatabase, StepKind, Strategy};
use crate::policy::Policy;
use crate::store::{DbRow, DbState, StepRow, StepStatus, StepUpdate, Store, StoreError};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Knobs of a run. Durations are in the engine clock's time (simulated time on the simulator).
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Databases in flight at once (admitted and not yet done, failed or awaiting approval).
    pub concurrency: usize,
    /// Record switchover approval for every database at start.
    pub approve_switchover: bool,
    /// Time between ticks while waiting on AWS.
    pub poll_interval: Duration,
    /// Time between ticks right after progress (the next step may be actionable at once).
    pub fast_interval: Duration,
    /// Client-side API budget per region: sustained requests per second and burst.
    pub api_rate: f64,
    pub api_burst: f64,
    /// How long a resource may stay invisible after it was created (eventual consistency).
    pub visibility_grace: Duration,
    /// How long a snapshot or a blue/green deployment may take before the database fails.
    pub wait_timeout: Duration,
    /// How long verification may wait for the switched-over instance to settle.
    pub verify_timeout: Duration,
    /// Stop after this many ticks (tests; `None` = until finished).
    pub max_ticks: Option<u64>,
    /// When every database in flight has waited this long for quota headroom (which only
    /// `cleanup` or a quota increase can free), stop the run with a reason instead of polling.
    pub quota_stall_limit: Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            concurrency: 4,
            approve_switchover: false,
            poll_interval: Duration::from_secs(30),
            fast_interval: Duration::from_secs(2),
            api_rate: 8.0,
            api_burst: 40.0,
            visibility_grace: Duration::from_secs(300),
            wait_timeout: Duration::from_secs(24 * 3600),
            verify_timeout: Duration::from_secs(3600),
            max_ticks: None,
            quota_stall_limit: Duration::from_secs(3600),
        }
    }
}

/// What a run ended with.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunSummary {
    pub counts: BTreeMap<DbState, usize>,
    pub interrupted: bool,
    /// Set when the failure budget halted the rollout (with the reason).
    pub halted: Option<String>,
    pub api_calls: u64,
    pub ticks: u64,
}

impl RunSummary {
    pub fn count(&self, s: DbState) -> usize {
        self.counts.get(&s).copied().unwrap_or(0)
    }
    /// 0 when every database reached the point asked for (done, skipped, or held at an approval
    /// that was not given), 1 when some failed or are blocked, or the run was interrupted or
    /// halted.
    pub fn exit_code(&self) -> i32 {
        // Pending databases left after a finished run wait behind an unapproved wave gate:
        // that is the point asked for, like awaiting-approval.
        let bad = self.count(DbState::Failed)
            + self.count(DbState::Blocked)
            + self.count(DbState::Running);
        if bad > 0 || self.interrupted || self.halted.is_some() {
            1
        } else {
            0
        }
    }
}

/// A client-side token bucket per region, on the engine clock.
#[derive(Debug)]
pub struct ApiBudget {
    rate: f64,
    burst: f64,
    buckets: HashMap<String, (f64, Millis)>,
}

impl ApiBudget {
    pub fn new(rate: f64, burst: f64) -> Self {
        ApiBudget {
            rate: rate.max(0.01),
            burst: burst.max(1.0),
            buckets: HashMap::new(),
        }
    }
    /// Wait (on `clock`) until a request to `region` fits the budget, then take it.
    pub async fn acquire(&mut self, clock: &SharedClock, region: &str) {
        loop {
            let now = clock.now();
            let (tokens, at) = self
                .buckets
                .entry(region.to_string())
                .or_insert((self.burst, now));
            let refill = (now - *at).max(0) as f64 / 1000.0 * self.rate;
            *tokens = (*tokens + refill).min(self.burst);
            *at = now;
            if *tokens >= 1.0 {
                *tokens -= 1.0;
                return;
            }
            let wait = ((1.0 - *tokens) / self.rate * 1000.0).ceil() as u64;
            clock.sleep(Duration::from_millis(wait.max(1))).await;
        }
    }
}

/// Stops a run from another task (the Ctrl-C handler).
#[derive(Debug, Clone)]
pub struct Canceller {
    flag: Arc<AtomicBool>,
    wake: Arc<tokio::sync::Notify>,
}

impl Canceller {
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }
}

/// What one tick saw of a region.
#[derive(Debug, Default)]
struct RegionObs {
    /// Which parts were described successfully this tick. A database only acts on a part
    /// that was seen (a step needing snapshots waits while the snapshot describe failed).
    instances_ok: bool,
    snapshots_ok: bool,
    blue_greens_ok: bool,
    instances: HashMap<String, DbInstance>,
    snapshots: HashMap<String, Snapshot>,
    blue_greens: HashMap<String, BlueGreen>,
}

/// The result of one describe of an observation.
enum Part<T> {
    Seen(T),
    Failed,
    Throttled,
}

impl RegionObs {
    fn ready_for(&self, step: StepKind) -> bool {
        match step {
            StepKind::Precheck | StepKind::ParameterGroup | StepKind::Verify => self.instances_ok,
            StepKind::Snapshot => self.snapshots_ok,
            StepKind::CreateBlueGreen | StepKind::WaitReady => self.blue_greens_ok,
            // Describes its deployment again right before acting.
            StepKind::Switchover => true,
        }
    }
}

/// Progress callback payload: the counts after a tick.
#[derive(Debug, Clone)]
pub struct Progress {
    pub counts: BTreeMap<DbState, usize>,
    pub total: usize,
    pub now: Millis,
}

pub type ProgressFn = Box<dyn Fn(&Progress) + Send + Sync>;

pub struct Engine {
    backend: Arc<dyn RdsBackend>,
    clock: SharedClock,
    store: Store,
    plan: Plan,
    opts: EngineOptions,
    cancel: Arc<AtomicBool>,
    wake: Arc<tokio::sync::Notify>,
    budget: ApiBudget,
    api_calls: u64,
    progress: Option<ProgressFn>,
    /// replica identifier -> index of its source in the plan (same region).
    replica_source: HashMap<(String, String), usize>,
    policy: Policy,
    /// Databases already failed when this run started (the failure budget counts new ones).
    baseline_failed: HashSet<i64>,
    /// `DBInstances` quota per region, read at most once per tick (`None`: unavailable).
    quota: HashMap<String, Option<Quota>>,
    quota_warned: HashSet<String>,
    /// True when approved databases are only waiting for a switchover window.
    window_blocked: bool,
    /// An observation was throttled this tick; `throttled_streak` ticks in a row.
    throttled_this_tick: bool,
    throttled_streak: u32,
    /// Databases that waited for quota headroom this tick.
    quota_waiting: usize,
    /// Since when every database in flight has been waiting for quota.
    quota_stalled_since: Option<Millis>,
}

/// Why a step could not proceed this tick, or what it did.
enum Outcome {
    /// Nothing changed; look again next tick.
    Wait,
    /// Something changed (a transition was recorded).
    Progress,
}

/// Attempts of a create call refused with `InvalidState` before the database fails.
const MAX_INVALID_STATE_RETRIES: i64 = 8;

fn backoff(attempt: i64) -> Duration {
    let secs = 5u64.saturating_mul(1u64 << attempt.clamp(0, 6) as u32);
    Duration::from_secs(secs.min(300))
}

fn ms(d: Duration) -> Millis {
    d.as_millis() as Millis
}

impl Engine {
    pub fn new(
        backend: Arc<dyn RdsBackend>,
        clock: SharedClock,
        store: Store,
        opts: EngineOptions,
    ) -> Result<Engine, EngineError> {
        let plan = store.plan()?;
        let mut replica_source = HashMap::new();
        for (i, db) in plan.databases.iter().enumerate() {
            for r in &db.replicas {
                replica_source.insert((db.region.clone(), r.clone()), i);
            }
        }
        let budget = ApiBudget::new(opts.api_rate, opts.api_burst);
        let policy = plan.policy();
        Ok(Engine {
            policy,
            baseline_failed: HashSet::new(),
            quota: HashMap::new(),
            quota_warned: HashSet::new(),
            window_blocked: false,
            quota_waiting: 0,
            throttled_this_tick: false,
            throttled_streak: 0,
            quota_stalled_since: None,
            backend,
            clock,
            store,
            plan,
            opts,
            cancel: Arc::new(AtomicBool::new(false)),
            wake: Arc::new(tokio::sync::Notify::new()),
            budget,
            api_calls: 0,
            progress: None,
            replica_source,
        })
    }

    /// A handle that, once cancelled (Ctrl-C), makes the run stop starting new work and
    /// return, waking it from a poll sleep at once.
    pub fn canceller(&self) -> Canceller {
        Canceller {
            flag: self.cancel.clone(),
            wake: self.wake.clone(),
        }
    }

    pub fn on_progress(&mut self, f: ProgressFn) {
        self.progress = Some(f);
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn into_store(self) -> Store {
        self.store
    }

    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }

    async fn budget(&mut self, region: &str) {
        self.budget.acquire(&self.clock, region).await;
        self.api_calls += 1;
    }

    /// Run until every database is finished or awaiting approval, or until cancelled.
    pub async fn run(&mut self) -> Result<RunSummary, EngineError> {
        let now = self.clock.now();
        self.store.acquire_lock(now)?;
        if self.opts.approve_switchover {
            let n = self.store.approve(&[], now, "approved at apply time")?;
            if n > 0 {
                tracing::info!(databases = n, "switchover approved");
            }
        }
        self.baseline_failed = self
            .store
            .databases()?
            .iter()
            .filter(|d| d.state == DbState::Failed)
            .map(|d| d.id)
            .collect();
        let mut ticks = 0u64;
        let mut interrupted = false;
        let mut halted = None;
        loop {
            if self.cancelled() {
                interrupted = true;
                break;
            }
            self.store.heartbeat()?;
            let dbs = self.store.databases()?;
            if self.finished(&dbs) {
                break;
            }
            if let Some(reason) = self.budget_spent(&dbs) {
                let now = self.clock.now();
                self.store.event(None, None, "halted", &reason, now)?;
                tracing::warn!(%reason, "rollout halted");
                halted = Some(reason);
                break;
            }
            // The first tick only reconciles what was in flight (a resume after a crash):
            // nothing new starts before every in-flight step has been observed again.
            let admit = ticks > 0 || !dbs.iter().any(|d| d.state == DbState::Running);
            if !admit {
                let n = dbs.iter().filter(|d| d.state == DbState::Running).count();
                let now = self.clock.now();
                self.store.event(
                    None,
                    None,
                    "reconcile",
                    &format!("reconciling {n} in-flight database(s) before starting anything new"),
                    now,
                )?;
            }
            let progressed = self.tick(dbs, admit).await?;
            ticks += 1;
            if let Some(reason) = self.quota_stall(progressed)? {
                halted = Some(reason);
                break;
            }
            if let Some(f) = &self.progress {
                let dbs = self.store.databases()?;
                f(&Progress {
                    counts: counts(&dbs),
                    total: dbs.len(),
                    now: self.clock.now(),
                });
            }
            if self.opts.max_ticks.is_some_and(|m| ticks >= m) {
                interrupted = true;
                break;
            }
            if self.cancelled() {
                interrupted = true;
                break;
            }
            // Throttled: back off exponentially so the account's token bucket (shared with
            // every other tool) refills enough for a whole observation.
            self.throttled_streak = if self.throttled_this_tick {
                self.throttled_streak + 1
            } else {
                0
            };
            let nap = if self.throttled_streak > 0 {
                self.opts.poll_interval * (1u32 << self.throttled_streak.min(4))
            } else if progressed {
                self.opts.fast_interval
            } else if self.window_blocked {
                // Nothing to do but wait for a switchover window: sleep until it opens.
                self.until_next_window().max(self.opts.poll_interval)
            } else {
                self.opts.poll_interval
            };
            let wake = self.wake.clone();
            tokio::select! {
                _ = self.clock.sleep(nap) => {}
                _ = wake.notified() => {}
            }
        }
        let dbs = self.store.databases()?;
        let summary = RunSummary {
            counts: counts(&dbs),
            interrupted,
            halted,
            api_calls: self.api_calls,
            ticks,
        };
        let now = self.clock.now();
        self.store.event(
            None,
            None,
            if summary.halted.is_some() {
                "run-halted"
            } else if interrupted {
                "run-interrupted"
            } else {
                "run-finished"
            },
            &format!("{:?}", summary.counts),
            now,
        )?;
        self.store.release_lock()?;
        Ok(summary)
    }

    /// Nothing left to do in this run: nothing in flight, no approved database waiting, and
    /// no pending database in the open wave (the next wave waits behind an unapproved gate).
    fn finished(&self, dbs: &[DbRow]) -> bool {
        let live: Vec<&DbRow> = dbs
            .iter()
            .filter(|d| !d.state.is_terminal() && !self.is_replica(d))
            .collect();
        if live.iter().any(|d| {
            d.state == DbState::Running || (d.state == DbState::AwaitingApproval && d.approved)
        }) {
            return false;
        }
        let open_wave = live
            .iter()
            .map(|d| self.plan.databases[d.id as usize].wave)
            .min();
        !live.iter().any(|d| {
            d.state == DbState::Pending
                && Some(self.plan.databases[d.id as usize].wave) == open_wave
        })
    }

    /// One observe-and-advance pass. Returns whether anything changed.
    async fn tick(&mut self, dbs: Vec<DbRow>, admit: bool) -> Result<bool, EngineError> {
        let mut progressed = false;
        self.quota.clear();
        self.window_blocked = false;
        self.throttled_this_tick = false;
        self.quota_waiting = 0;
        // Admission: fill free slots with pending databases, lowest wave first, plan order,
        // within the account, region and wave limits. Wave k+1 opens only when every database
        // of wave k has finished (an unapproved one holds its wave at the gate).
        let mut in_flight_region: HashMap<String, usize> = HashMap::new();
        let mut in_flight = 0usize;
        for d in dbs
            .iter()
            .filter(|d| d.state == DbState::Running && !self.is_replica(d))
        {
            in_flight += 1;
            *in_flight_region.entry(d.region.clone()).or_default() += 1;
        }
        let open_wave = dbs
            .iter()
            .filter(|d| !d.state.is_terminal() && !self.is_replica(d))
            .map(|d| self.plan.databases[d.id as usize].wave)
            .min();
        let wave_limit = open_wave
            .and_then(|w| self.plan.waves.iter().find(|i| i.number == w))
            .and_then(|i| i.concurrency)
            .unwrap_or(usize::MAX);
        let per_region = if self.plan.policy.is_some() {
            self.policy.concurrency.per_region
        } else {
            usize::MAX
        };
        let mut free = self
            .opts
            .concurrency
            .min(wave_limit)
            .saturating_sub(in_flight);
        let now = self.clock.now();
        let mut active: Vec<DbRow> = Vec::new();
        for d in dbs.iter() {
            if self.is_replica(d) {
                continue;
            }
            match d.state {
                DbState::Running => active.push(d.clone()),
                DbState::AwaitingApproval if d.approved => {
                    self.store.set_db_state(
                        d.id,
                        DbState::Running,
                        None,
                        now,
                        "approval received",
                    )?;
                    let mut d = d.clone();
                    d.state = DbState::Running;
                    active.push(d);
                    progressed = true;
                }
                DbState::Pending
                    if admit
                        && free > 0
                        && !self.cancelled()
                        && in_flight_region.get(&d.region).copied().unwrap_or(0) < per_region
                        && Some(self.plan.databases[d.id as usize].wave) == open_wave =>
                {
                    *in_flight_region.entry(d.region.clone()).or_default() += 1;
                    self.store
                        .set_db_state(d.id, DbState::Running, None, now, "admitted")?;
                    let mut d = d.clone();
                    d.state = DbState::Running;
                    active.push(d);
                    free -= 1;
                    progressed = true;
                }
                _ => {}
            }
        }

        // Observe each region that has active databases: batched describes only.
        let mut regions: BTreeMap<String, Vec<&DbRow>> = BTreeMap::new();
        for d in &active {
            regions.entry(d.region.clone()).or_default().push(d);
        }
        let mut obs: HashMap<String, RegionObs> = HashMap::new();
        for (region, ds) in &regions {
            let o = self.observe(region, ds).await?;
            obs.insert(region.clone(), o);
        }

        for d in &active {
            if self.cancelled() {
                break;
            }
            let Some(o) = obs.get(&d.region) else {
                continue;
            };
            let ready = d
                .current_step()
                .map(|s| o.ready_for(s.kind))
                .unwrap_or(o.instances_ok);
            if !ready {
                continue;
            }
            if let Outcome::Progress = self.advance(d, o).await? {
                progressed = true;
            }
        }

        // Replicas mirror their source.
        let dbs = self.store.databases()?;
        let now = self.clock.now();
        for d in &dbs {
            if let Some(&src) = self
                .replica_source
                .get(&(d.region.clone(), d.identifier.clone()))
            {
                let s = &dbs[src];
                if s.state != d.state
                    && self.plan.databases[d.id as usize].strategy == Strategy::WithSource
                {
                    let note = format!("travels with {}", s.identifier);
                    let err = match s.state {
                        DbState::Failed | DbState::Blocked | DbState::Aborted => {
                            Some(format!("{note}: {}", s.error.clone().unwrap_or_default()))
                        }
                        _ => Some(note.clone()),
                    };
                    self.store
                        .set_db_state(d.id, s.state, err.as_deref(), now, &note)?;
                    progressed = true;
                }
            }
        }
        Ok(progressed)
    }

    /// The failure budget: counts databases that failed during this run.
    fn budget_spent(&self, dbs: &[DbRow]) -> Option<String> {
        let fb = &self.policy.failure_budget;
        let failed: Vec<&DbRow> = dbs
            .iter()
            .filter(|d| {
                d.state == DbState::Failed
                    && !self.baseline_failed.contains(&d.id)
                    && !self.is_replica(d)
            })
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
        if let Some(pct) = fb.max_failed_percent {
            let mut per_wave: BTreeMap<u32, (usize, usize)> = BTreeMap::new();
            for d in dbs.iter().filter(|d| {
                !self.is_replica(d) && self.plan.databases[d.id as usize].is_actionable()
            }) {
                let e = per_wave
                    .entry(self.plan.databases[d.id as usize].wave)
                    .or_default();
                e.1 += 1;
                if failed.iter().any(|f| f.id == d.id) {
                    e.0 += 1;
                }
            }
            for (w, (f, n)) in per_wave {
                if n > 0 && f > 0 && f * 100 >= pct as usize * n {
                    return Some(format!(
                        "failure budget spent: {f} of {n} database(s) in wave {w} failed (max_failed_percent = {pct}). Investigate, then `rdsfleet resume` to continue"
                    ));
                }
            }
        }
        None
    }

    /// Stop polling when every database in flight has waited for quota headroom longer than
    /// the stall limit: nothing rdsfleet does will free it (old instances are kept until
    /// cleanup), so say so and let the operator act.
    fn quota_stall(&mut self, progressed: bool) -> Result<Option<String>, EngineError> {
        let running = self
            .store
            .databases()?
            .iter()
            .filter(|d| d.state == DbState::Running && !self.is_replica(d))
            .count();
        if progressed || self.quota_waiting == 0 || self.quota_waiting < running {
            self.quota_stalled_since = None;
            return Ok(None);
        }
        let now = self.clock.now();
        let since = *self.quota_stalled_since.get_or_insert(now);
        if now - since < ms(self.opts.quota_stall_limit) {
            return Ok(None);
        }
        let reason = format!(
            "{} database(s) have waited {} min for DBInstances quota headroom and nothing else is in flight; every upgrade keeps its old instance until `rdsfleet cleanup` (after retention), so raise the quota or clean up, then `rdsfleet resume`",
            self.quota_waiting,
            (now - since) / 60_000
        );
        self.store.event(None, None, "halted", &reason, now)?;
        Ok(Some(reason))
    }

    /// Time until the next switchover window opens (minute resolution, up to 8 days).
    fn until_next_window(&self) -> Duration {
        let now = self.clock.now();
        let minute = 60_000;
        let start = now - now.rem_euclid(minute) + minute;
        for i in 0..(8 * 24 * 60) {
            let t = start + i * minute;
            if self.policy.in_window(t) {
                return Duration::from_millis((t - now).max(0) as u64);
            }
        }
        self.opts.poll_interval
    }

    /// Headroom of the `DBInstances` quota in `region`, read once per tick. `None` when the
    /// endpoint can't say (moto): the check is skipped with a logged warning.
    async fn quota_headroom(&mut self, region: &str) -> Result<Option<i64>, EngineError> {
        if !self.quota.contains_key(region) {
            self.budget(region).await;
            let q = match self.backend.describe_instance_quota(region).await {
                Ok(q) => Some(q),
                Err(e) => {
                    if self.quota_warned.insert(region.to_string()) {
                        let now = self.clock.now();
                        self.store.event(None, None, "quota-unknown", &format!("{region}: cannot read the DBInstances quota ({e}); creating without a headroom check"), now)?;
                    }
                    None
                }
            };
            self.quota.insert(region.to_string(), q);
        }
        Ok(self
            .quota
            .get(region)
            .copied()
            .flatten()
            .map(|q| q.headroom()))
    }

    fn is_replica(&self, d: &DbRow) -> bool {
        self.plan.databases[d.id as usize].strategy == Strategy::WithSource
    }

    fn pdb(&self, d: &DbRow) -> &PlannedDatabase {
        &self.plan.databases[d.id as usize]
    }

    async fn observe(&mut self, region: &str, dbs: &[&DbRow]) -> Result<RegionObs, EngineError> {
        let mut o = RegionObs::default();
        let engines: BTreeSet<String> = dbs.iter().map(|d| self.pdb(d).engine.clone()).collect();
        let mut snaps: Vec<String> = Vec::new();
        let mut bgs: Vec<String> = Vec::new();
        for d in dbs {
            let p = self.pdb(d);
            let Some(step) = d.current_step() else {
                continue;
            };
            match step.kind {
                StepKind::Snapshot => {
                    snaps.extend(p.resource_name(StepKind::Snapshot).map(String::from))
                }
                StepKind::CreateBlueGreen
                | StepKind::WaitReady
                | StepKind::Switchover
                | StepKind::Verify => {
                    bgs.extend(p.resource_name(StepKind::CreateBlueGreen).map(String::from))
                }
                _ => {}
            }
        }
        // Each part is observed on its own: a failed part only holds back the steps that
        // need it. After a throttled call the rest of this region waits for the next tick.
        o.snapshots_ok = snaps.is_empty();
        o.blue_greens_ok = bgs.is_empty();
        let backend = self.backend.clone();
        let q = InstanceQuery {
            identifiers: vec![],
            engines: engines.into_iter().collect(),
        };
        let call = backend.describe_instances(region, &q);
        match self
            .observe_part(region, "DescribeDBInstances", call)
            .await?
        {
            Part::Seen(v) => {
                o.instances = v.into_iter().map(|i| (i.identifier.clone(), i)).collect();
                o.instances_ok = true;
            }
            Part::Failed => {}
            Part::Throttled => return Ok(o),
        }
        if !snaps.is_empty() {
            let q = SnapshotQuery {
                snapshot_ids: snaps,
                instance_ids: vec![],
            };
            let call = backend.describe_snapshots(region, &q);
            match self
                .observe_part(region, "DescribeDBSnapshots", call)
                .await?
            {
                Part::Seen(v) => {
                    o.snapshots = v.into_iter().map(|s| (s.identifier.clone(), s)).collect();
                    o.snapshots_ok = true;
                }
                Part::Failed => {}
                Part::Throttled => return Ok(o),
            }
        }
        if !bgs.is_empty() {
            let q = BlueGreenQuery {
                names: bgs,
                identifiers: vec![],
            };
            let call = backend.describe_blue_green(region, &q);
            if let Part::Seen(v) = self
                .observe_part(region, "DescribeBlueGreenDeployments", call)
                .await?
            {
                o.blue_greens = v.into_iter().map(|b| (b.name.clone(), b)).collect();
                o.blue_greens_ok = true;
            }
        }
        Ok(o)
    }

    /// One describe of an observation, within the API budget; errors are noted, not fatal.
    async fn observe_part<T>(
        &mut self,
        region: &str,
        op: &str,
        call: impl std::future::Future<Output = Result<T, BackendError>>,
    ) -> Result<Part<T>, EngineError> {
        self.budget(region).await;
        match call.await {
            Ok(v) => Ok(Part::Seen(v)),
            Err(e) => {
                self.note_observe_error(region, op, &e)?;
                Ok(if e.kind == ErrorKind::Throttled {
                    Part::Throttled
                } else {
                    Part::Failed
                })
            }
        }
    }

    fn note_observe_error(
        &mut self,
        region: &str,
        op: &str,
        e: &BackendError,
    ) -> Result<(), EngineError> {
        if e.kind == ErrorKind::Throttled {
            self.throttled_this_tick = true;
        }
        tracing::warn!(region, op, error = %e, "describe failed; will retry next tick");
        self.store.event(
            None,
            None,
            "observe-error",
            &format!("{region} {op}: {e}"),
            self.clock.now(),
        )?;
        Ok(())
    }

    /// Fail a database: its current step and the database itself, with a reason.
    fn fail(&mut self, d: &DbRow, step: &StepRow, reason: &str) -> Result<Outcome, EngineError> {
        let now = self.clock.now();
        self.store.transition(
            d,
            step.seq,
            step.status,
            StepStatus::Failed,
            StepUpdate::error(reason),
            now,
            reason,
        )?;
        self.store
            .set_db_state(d.id, DbState::Failed, Some(reason), now, reason)?;
        tracing::warn!(db = %d.identifier, step = %step.kind, reason, "database failed");
        Ok(Outcome::Progress)
    }

    fn block(&mut self, d: &DbRow, reason: &str) -> Result<Outcome, EngineError> {
        let now = self.clock.now();
        self.store
            .set_db_state(d.id, DbState::Blocked, Some(reason), now, reason)?;
        tracing::warn!(db = %d.identifier, reason, "database blocked");
        Ok(Outcome::Progress)
    }

    fn step_to(
        &mut self,
        d: &DbRow,
        step: &StepRow,
        to: StepStatus,
        upd: StepUpdate,
        event: &str,
    ) -> Result<Outcome, EngineError> {
        // Same status and nothing new to record: no write, no event (ticks poll often).
        let same_remote = upd.remote_id.is_none() || upd.remote_id == step.remote_id;
        let same_error = !upd.set_error || upd.error == step.last_error;
        if step.status == to
            && same_remote
            && same_error
            && upd.not_before.is_none()
            && !upd.bump_attempt
        {
            return Ok(Outcome::Wait);
        }
        let now = self.clock.now();
        self.store
            .transition(d, step.seq, step.status, to, upd, now, event)?;
        Ok(Outcome::Progress)
    }

    /// Record the outcome of a retryable error: back to pending with a backoff.
    fn retry_later(
        &mut self,
        d: &DbRow,
        step: &StepRow,
        e: &BackendError,
        extra: Duration,
    ) -> Result<Outcome, EngineError> {
        if e.kind == ErrorKind::Throttled {
            // A throttled side effect slows the whole loop down too: otherwise the next
            // tick's describes take the few tokens the account has left, and the call
            // starves behind them.
            self.throttled_this_tick = true;
        }
        let at = self.clock.now() + ms(backoff(step.attempt)) + ms(extra);
        let msg = format!("{e} (will retry)");
        self.step_to(
            d,
            step,
            StepStatus::Pending,
            StepUpdate::retry_at(msg.clone(), at),
            &msg,
        )
    }

    async fn advance(&mut self, d: &DbRow, o: &RegionObs) -> Result<Outcome, EngineError> {
        let Some(step) = d.current_step().cloned() else {
            let now = self.clock.now();
            self.store
                .set_db_state(d.id, DbState::Done, None, now, "all steps done")?;
            return Ok(Outcome::Progress);
        };
        if step.status == StepStatus::Failed {
            let reason = step
                .last_error
                .clone()
                .unwrap_or_else(|| "step failed".into());
            let now = self.clock.now();
            self.store
                .set_db_state(d.id, DbState::Failed, Some(&reason), now, &reason)?;
            return Ok(Outcome::Progress);
        }
        if step.status == StepStatus::Pending && self.clock.now() < step.not_before {
            return Ok(Outcome::Wait);
        }
        match step.kind {
            StepKind::Precheck => self.precheck(d, &step, o),
            StepKind::Snapshot => self.snapshot(d, &step, o).await,
            StepKind::ParameterGroup => self.parameter_group(d, &step).await,
            StepKind::CreateBlueGreen => self.create_blue_green(d, &step, o).await,
            StepKind::WaitReady => self.wait_ready(d, &step, o),
            StepKind::Switchover => self.switchover(d, &step).await,
            StepKind::Verify => self.verify(d, &step, o).await,
        }
    }

    /// Re-verify the source right before touching it: it must still be what was planned.
    fn precheck(
        &mut self,
        d: &DbRow,
        step: &StepRow,
        o: &RegionObs,
    ) -> Result<Outcome, EngineError> {
        let p = self.pdb(d).clone();
        let Some(live) = o.instances.get(&p.identifier) else {
            return self.block(
                d,
                &format!("drift: instance {} no longer exists", p.identifier),
            );
        };
        let target = p.to_version.clone().unwrap_or_default();
        if live.engine_version == target {
            // Already upgraded out of band: nothing to do, recorded as done.
            let now = self.clock.now();
            for s in &d.steps {
                if s.status != StepStatus::Done {
                    self.store.transition(
                        d,
                        s.seq,
                        s.status,
                        StepStatus::Done,
                        StepUpdate::clear_error(),
                        now,
                        "already on the target version (upgraded out of band)",
                    )?;
                }
            }
            self.store.set_db_state(
                d.id,
                DbState::Done,
                Some("already on the target version (upgraded out of band)"),
                now,
                "out-of-band upgrade adopted",
            )?;
            return Ok(Outcome::Progress);
        }
        if live.engine_version != p.from_version {
            return self.block(
                d,
                &format!(
                    "drift: engine version is {} but the plan was made for {}; plan again",
                    live.engine_version, p.from_version
                ),
            );
        }
        let live_pg = live.parameter_group().map(|g| g.name.clone());
        if live_pg != p.source.parameter_group {
            return self.block(
                d,
                &format!(
                    "drift: parameter group is {} but the plan was made for {}; plan again",
                    live_pg.unwrap_or_default(),
                    p.source.parameter_group.clone().unwrap_or_default()
                ),
            );
        }
        let pg_sync = live
            .parameter_group()
            .map(|g| g.apply_status == "in-sync")
            .unwrap_or(true);
        if live.status != "available" || !pg_sync || !live.pending_modifications.is_empty() {
            // Transient (a backup window, a modification in progress): wait, within limits.
            let since = step.started_at.unwrap_or(self.clock.now());
            if self.clock.now() - since > ms(Duration::from_secs(3600)) {
                return self.block(
                    d,
                    &format!(
                        "precheck: instance status {} / parameter group {} / pending {:?} for over an hour",
                        live.status,
                        if pg_sync { "in-sync" } else { "not in-sync" },
                        live.pending_modifications
                    ),
                );
            }
            if step.status == StepStatus::Pending {
                let why = format!(
                    "waiting for {} to be available (status {})",
                    live.identifier, live.status
                );
                return self.step_to(
                    d,
                    step,
                    StepStatus::Waiting,
                    StepUpdate::error(why.clone()),
                    &why,
                );
            }
            return Ok(Outcome::Wait);
        }
        self.step_to(
            d,
            step,
            StepStatus::Done,
            StepUpdate::clear_error(),
            "source verified",
        )
    }

    async fn snapshot(
        &mut self,
        d: &DbRow,
        step: &StepRow,
        o: &RegionObs,
    ) -> Result<Outcome, EngineError> {
        let p = self.pdb(d).clone();
        let name = p
            .resource_name(StepKind::Snapshot)
            .unwrap_or_default()
            .to_string();
        if let Some(s) = o.snapshots.get(&name) {
            if s.instance_identifier != p.identifier {
                return self.fail(
                    d,
                    step,
                    &format!(
                        "snapshot {name} exists but belongs to {}; refusing to adopt it",
                        s.instance_identifier
                    ),
                );
            }
            return match s.status.as_str() {
                "available" => self.step_to(
                    d,
                    step,
                    StepStatus::Done,
                    StepUpdate::remote(&s.arn),
                    "snapshot available",
                ),
                "failed" | "error" | "incompatible-restore" => self.fail(
                    d,
                    step,
                    &format!("pre-upgrade snapshot {name} failed (status {})", s.status),
                ),
                _ => {
                    let adopt = if step.status == StepStatus::Waiting {
                        "snapshot in progress"
                    } else {
                        "adopted existing snapshot"
                    };
                    self.step_to(
                        d,
                        step,
                        StepStatus::Waiting,
                        StepUpdate::remote(&s.arn),
                        adopt,
                    )
                }
            };
        }
        if step.status == StepStatus::Waiting {
            return self.waiting_but_invisible(d, step, &format!("snapshot {name}"));
        }
        // Not there: create it (intent first).
        let step = self.intent(d, step, &format!("CreateDBSnapshot {name}"))?;
        self.budget(&p.region).await;
        let tags = managed_tags(&self.plan.plan_id);
        match self
            .backend
            .create_snapshot(&p.region, &p.identifier, &name, &tags)
            .await
        {
            Ok(s) => self.step_to(
                d,
                &step,
                StepStatus::Waiting,
                StepUpdate::remote(&s.arn),
                "snapshot creation started",
            ),
            Err(e) if e.kind == ErrorKind::AlreadyExists => self.step_to(
                d,
                &step,
                StepStatus::Waiting,
                StepUpdate::clear_error(),
                "snapshot already exists: adopted",
            ),
            Err(e) => self.call_failed(d, &step, e, "CreateDBSnapshot"),
        }
    }

    /// Record intent (`pending -> started`) before a call; a `started` step (resume after an
    /// unknown outcome) stays started, with the attempt counted.
    fn intent(&mut self, d: &DbRow, step: &StepRow, what: &str) -> Result<StepRow, EngineError> {
        let now = self.clock.now();
        let from = step.status;
        let msg = if from == StepStatus::Started {
            format!("reissue after unknown outcome: {what}")
        } else {
            format!("intent: {what}")
        };
        tracing::info!(db = %d.identifier, "{msg}");
        self.store.transition(
            d,
            step.seq,
            from,
            StepStatus::Started,
            StepUpdate::attempt(),
            now,
            &msg,
        )?;
        let mut s = step.clone();
        s.status = StepStatus::Started;
        s.attempt += 1;
        Ok(s)
    }

    fn call_failed(
        &mut self,
        d: &DbRow,
        step: &StepRow,
        e: BackendError,
        op: &str,
    ) -> Result<Outcome, EngineError> {
        match e.kind {
            ErrorKind::Throttled | ErrorKind::Transient => {
                self.retry_later(d, step, &e, Duration::ZERO)
            }
            ErrorKind::QuotaExceeded => {
                // Waiting for headroom is normal in a large rollout: back off longer.
                self.retry_later(d, step, &e, Duration::from_secs(120))
            }
            // The source is briefly busy (`backing-up` after our snapshot, `modifying` by
            // someone else): wait and retry a bounded number of times, then fail loudly.
            ErrorKind::InvalidState if step.attempt < MAX_INVALID_STATE_RETRIES => {
                self.retry_later(d, step, &e, Duration::from_secs(60))
            }
            _ => self.fail(d, step, &format!("{op} failed: {e}")),
        }
    }

    fn waiting_but_invisible(
        &mut self,
        d: &DbRow,
        step: &StepRow,
        what: &str,
    ) -> Result<Outcome, EngineError> {
        let since = step.started_at.unwrap_or(self.clock.now());
        if self.clock.now() - since > ms(self.opts.visibility_grace) {
            // Created and then gone: somebody deleted it. Don't guess; fail loudly.
            return self.fail(
                d,
                step,
                &format!("{what} was created but can no longer be found"),
            );
        }
        Ok(Outcome::Wait)
    }

    async fn parameter_group(&mut self, d: &DbRow, step: &StepRow) -> Result<Outcome, EngineError> {
        let p = self.pdb(d).clone();
        let Some(target) = p.target.clone() else {
            return self.fail(d, step, "plan has no target for this database");
        };
        let name = target.parameter_group.clone();
        let Some(planned) = self
            .plan
            .parameter_groups
            .iter()
            .find(|g| g.region == p.region && g.name == name)
            .cloned()
        else {
            // An AWS default group for the new family: nothing to create.
            return self.step_to(
                d,
                step,
                StepStatus::Done,
                StepUpdate::remote(&name),
                "default parameter group",
            );
        };
        const KIND: &str = "parameter-group";
        let res = self.store.resource(&p.region, KIND, &name)?;
        if res.as_ref().is_some_and(|r| r.status == "done") {
            return self.step_to(
                d,
                step,
                StepStatus::Done,
                StepUpdate::remote(&name),
                "parameter group ready",
            );
        }
        let step = self.intent(d, step, &format!("parameter group {name}"))?;
        let now = self.clock.now();
        if res.as_ref().map(|r| r.status.as_str()) != Some("created") {
            self.store.set_resource(
                &p.region,
                KIND,
                &name,
                "started",
                Some(&planned.family),
                now,
            )?;
            self.budget(&p.region).await;
            let req = NewParameterGroup {
                name: name.clone(),
                family: planned.family.clone(),
                description: planned.description.clone(),
                tags: managed_tags(&self.plan.plan_id),
            };
            match self.backend.create_parameter_group(&p.region, &req).await {
                Ok(_) => {}
                Err(e) if e.kind == ErrorKind::AlreadyExists => {
                    // Adopt only a group of the right family (ours, from an earlier attempt).
                    self.budget(&p.region).await;
                    match self
                        .backend
                        .describe_parameter_groups(&p.region, std::slice::from_ref(&name))
                        .await
                    {
                        Ok(g) if g.iter().any(|g| g.family == planned.family) => {}
                        Ok(_) => {
                            return self.fail(
                                d,
                                &step,
                                &format!("parameter group {name} exists with another family"),
                            )
                        }
                        Err(e) => {
                            return self.call_failed(d, &step, e, "DescribeDBParameterGroups")
                        }
                    }
                }
                Err(e) => return self.call_failed(d, &step, e, "CreateDBParameterGroup"),
            }
            let now = self.clock.now();
            self.store
                .set_resource(&p.region, KIND, &name, "created", None, now)?;
        }
        // ModifyDBParameterGroup is idempotent: (re)apply every chunk.
        for chunk in planned.parameters.chunks(20) {
            self.budget(&p.region).await;
            if let Err(e) = self
                .backend
                .modify_parameter_group(&p.region, &name, chunk)
                .await
            {
                return self.call_failed(d, &step, e, "ModifyDBParameterGroup");
            }
        }
        let now = self.clock.now();
        self.store
            .set_resource(&p.region, KIND, &name, "done", None, now)?;
        self.step_to(
            d,
            &step,
            StepStatus::Done,
            StepUpdate::remote(&name),
            "parameter group created",
        )
    }

    async fn create_blue_green(
        &mut self,
        d: &DbRow,
        step: &StepRow,
        o: &RegionObs,
    ) -> Result<Outcome, EngineError> {
        let p = self.pdb(d).clone();
        let name = p
            .resource_name(StepKind::CreateBlueGreen)
            .unwrap_or_default()
            .to_string();
        if let Some(bg) = o.blue_greens.get(&name) {
            if bg.source != p.arn {
                return self.fail(
                    d,
                    step,
                    &format!("blue/green deployment {name} exists for another source ({}); refusing to adopt it", bg.source),
                );
            }
            let msg = if step.status == StepStatus::Pending {
                "adopted existing blue/green deployment"
            } else {
                "blue/green deployment created"
            };
            return self.step_to(
                d,
                step,
                StepStatus::Done,
                StepUpdate::remote(&bg.identifier),
                msg,
            );
        }
        if step.status == StepStatus::Waiting {
            return self.waiting_but_invisible(d, step, &format!("blue/green deployment {name}"));
        }
        let Some(target) = p.target.clone() else {
            return self.fail(d, step, "plan has no target for this database");
        };
        let needed = 1 + p.replicas.len() as i64;
        if let Some(headroom) = self.quota_headroom(&p.region).await? {
            if headroom < needed {
                self.quota_waiting += 1;
                let msg = format!(
                    "waiting for DBInstances quota headroom in {} (need {needed}, have {headroom})",
                    p.region
                );
                if d.error.as_deref() != Some(msg.as_str()) {
                    let now = self.clock.now();
                    self.store
                        .set_db_state(d.id, DbState::Running, Some(&msg), now, &msg)?;
                }
                return Ok(Outcome::Wait);
            }
        }
        let step = self.intent(d, step, &format!("CreateBlueGreenDeployment {name}"))?;
        let req = CreateBlueGreen {
            name: name.clone(),
            source_arn: p.arn.clone(),
            target_engine_version: target.engine_version.clone(),
            target_parameter_group: Some(target.parameter_group.clone()),
            target_instance_class: target.instance_class.clone(),
            target_storage_type: target.storage_type.clone(),
            target_iops: target.iops,
            target_storage_throughput: target.storage_throughput,
            target_allocated_storage: target.allocated_storage_gib,
            tags: managed_tags(&self.plan.plan_id),
        };
        self.budget(&p.region).await;
        let created = self.backend.create_blue_green(&p.region, &req).await;
        if created.is_ok() {
            if let Some(Some(q)) = self.quota.get_mut(&p.region) {
                q.used += needed;
            }
            if d.error.is_some() {
                let now = self.clock.now();
                self.store.set_db_state(
                    d.id,
                    DbState::Running,
                    None,
                    now,
                    "quota headroom available",
                )?;
            }
        }
        match created {
            Ok(bg) => self.step_to(
                d,
                &step,
                StepStatus::Waiting,
                StepUpdate::remote(&bg.identifier),
                "blue/green deployment created",
            ),
            Err(e) if e.kind == ErrorKind::AlreadyExists => self.step_to(
                d,
                &step,
                StepStatus::Waiting,
                StepUpdate::clear_error(),
                "blue/green deployment already exists: adopting",
            ),
            Err(e) => self.call_failed(d, &step, e, "CreateBlueGreenDeployment"),
        }
    }

    fn wait_ready(
        &mut self,
        d: &DbRow,
        step: &StepRow,
        o: &RegionObs,
    ) -> Result<Outcome, EngineError> {
        let p = self.pdb(d).clone();
        let name = p
            .resource_name(StepKind::WaitReady)
            .unwrap_or_default()
            .to_string();
        let since = step
            .started_at
            .or(step.finished_at)
            .unwrap_or(self.clock.now());
        let Some(bg) = o.blue_greens.get(&name) else {
            if step.status == StepStatus::Pending {
                let now = self.clock.now();
                self.store.transition(
                    d,
                    step.seq,
                    StepStatus::Pending,
                    StepStatus::Started,
                    StepUpdate::default(),
                    now,
                    "waiting for deployment",
                )?;
                return Ok(Outcome::Progress);
            }
            return self.waiting_but_invisible(d, step, &format!("blue/green deployment {name}"));
        };
        match &bg.status {
            BgStatus::Available | BgStatus::SwitchoverInProgress | BgStatus::SwitchoverCompleted => {
                let mut s = step.clone();
                let now = self.clock.now();
                if s.status == StepStatus::Pending {
                    self.store.transition(d, s.seq, StepStatus::Pending, StepStatus::Started, StepUpdate::default(), now, "deployment seen")?;
                    s.status = StepStatus::Started;
                }
                let stable = ms(Duration::from_secs(self.policy.switchover.readiness_stable_secs));
                if bg.status == BgStatus::Available && stable > 0 {
                    // Readiness guard: AVAILABLE, and still AVAILABLE `stable` later.
                    if s.status == StepStatus::Started {
                        let upd = StepUpdate { not_before: Some(now + stable), ..StepUpdate::remote(&bg.identifier) };
                        return self.step_to(d, &s, StepStatus::Waiting, upd, "green AVAILABLE; readiness guard running");
                    }
                    if now < s.not_before {
                        return Ok(Outcome::Wait);
                    }
                }
                self.step_to(d, &s, StepStatus::Done, StepUpdate::remote(&bg.identifier), "green environment available")
            }
            BgStatus::InvalidConfiguration | BgStatus::SwitchoverFailed => self.fail(
                d,
                step,
                &format!(
                    "blue/green deployment {name} is {}{}; blue is untouched. Inspect it, then `rdsfleet abort` to delete it",
                    bg.status,
                    bg.status_details.as_deref().map(|s| format!(" ({s})")).unwrap_or_default()
                ),
            ),
            BgStatus::Deleting => self.fail(d, step, &format!("blue/green deployment {name} is being deleted by someone else")),
            other => {
                if self.clock.now() - since > ms(self.opts.wait_timeout) {
                    return self.fail(d, step, &format!("blue/green deployment {name} still {other} after the wait timeout"));
                }
                if step.status == StepStatus::Waiting {
                    // Was AVAILABLE during the readiness guard and left it: start the guard over.
                    let now = self.clock.now();
                    self.store.transition(d, step.seq, StepStatus::Waiting, StepStatus::Started, StepUpdate::default(), now, &format!("green left AVAILABLE ({other}); readiness guard reset"))?;
                    return Ok(Outcome::Progress);
                }
                if step.status == StepStatus::Pending {
                    let now = self.clock.now();
                    self.store.transition(d, step.seq, StepStatus::Pending, StepStatus::Started, StepUpdate::remote(&bg.identifier), now, "provisioning")?;
                    return Ok(Outcome::Progress);
                }
                Ok(Outcome::Wait)
            }
        }
    }

    async fn switchover(&mut self, d: &DbRow, step: &StepRow) -> Result<Outcome, EngineError> {
        let p = self.pdb(d).clone();
        let name = p
            .resource_name(StepKind::Switchover)
            .unwrap_or_default()
            .to_string();
        if !d.approved {
            let now = self.clock.now();
            let msg = "green is ready; switchover needs approval: `rdsfleet resume --state FILE --approve-switchover` (or `rdsfleet approve`)";
            self.store
                .set_db_state(d.id, DbState::AwaitingApproval, None, now, msg)?;
            return Ok(Outcome::Progress);
        }
        if step.status == StepStatus::Pending && !self.policy.in_window(self.clock.now()) {
            self.window_blocked = true;
            let msg = "approved; waiting for a switchover window";
            if d.error.as_deref() != Some(msg) {
                let now = self.clock.now();
                self.store
                    .set_db_state(d.id, DbState::Running, Some(msg), now, msg)?;
                return Ok(Outcome::Progress);
            }
            return Ok(Outcome::Wait);
        }
        // Describe the deployment again right before acting on it.
        self.budget(&p.region).await;
        let q = BlueGreenQuery {
            names: vec![name.clone()],
            identifiers: vec![],
        };
        let bg = match self.backend.describe_blue_green(&p.region, &q).await {
            Ok(v) => v.into_iter().find(|b| b.name == name),
            Err(e) if e.is_retryable() => return Ok(Outcome::Wait),
            Err(e) => {
                return self.fail(
                    d,
                    step,
                    &format!("DescribeBlueGreenDeployments failed: {e}"),
                )
            }
        };
        let Some(bg) = bg else {
            return self.fail(
                d,
                step,
                &format!("blue/green deployment {name} no longer exists"),
            );
        };
        match &bg.status {
            BgStatus::SwitchoverCompleted => {
                let msg = if step.status == StepStatus::Pending { "switchover already completed: adopted" } else { "switchover completed" };
                let s = if step.status == StepStatus::Pending {
                    self.intent(d, step, "adopt completed switchover")?
                } else {
                    step.clone()
                };
                self.step_to(d, &s, StepStatus::Done, StepUpdate::remote(&bg.identifier), msg)
            }
            BgStatus::SwitchoverInProgress => {
                let s = if step.status == StepStatus::Pending {
                    self.intent(d, step, "adopt switchover in progress")?
                } else {
                    step.clone()
                };
                self.step_to(d, &s, StepStatus::Waiting, StepUpdate::clear_error(), "switchover in progress")
            }
            BgStatus::SwitchoverFailed => self.fail(
                d,
                step,
                &format!(
                    "switchover of {name} failed and RDS rolled it back: blue {} is still serving and writable. Not retried automatically; investigate, then abort or plan again",
                    p.identifier
                ),
            ),
            BgStatus::Available => {
                if step.status == StepStatus::Waiting {
                    // We switched, and it is AVAILABLE again: rolled back without a failure status,
                    // or not yet visible. Give it the grace period, then fail without retrying.
                    let since = step.started_at.unwrap_or(self.clock.now());
                    if self.clock.now() - since > ms(self.opts.visibility_grace) {
                        return self.fail(d, step, &format!("switchover of {name} was requested but the deployment is AVAILABLE again (rolled back); blue is still serving; not retried"));
                    }
                    return Ok(Outcome::Wait);
                }
                let step = self.intent(d, step, &format!("SwitchoverBlueGreenDeployment {name}"))?;
                self.budget(&p.region).await;
                let timeout = self.plan.settings.switchover_timeout_secs;
                match self.backend.switchover_blue_green(&p.region, &bg.identifier, timeout).await {
                    Ok(_) => self.step_to(d, &step, StepStatus::Waiting, StepUpdate::remote(&bg.identifier), "switchover started"),
                    // InvalidState (a member briefly busy) is retried a bounded number of times.
                    Err(e) => self.call_failed(d, &step, e, "SwitchoverBlueGreenDeployment"),
                }
            }
            other => self.fail(d, step, &format!("blue/green deployment {name} is {other}; cannot switch over")),
        }
    }

    async fn verify(
        &mut self,
        d: &DbRow,
        step: &StepRow,
        o: &RegionObs,
    ) -> Result<Outcome, EngineError> {
        let p = self.pdb(d).clone();
        let target = p.to_version.clone().unwrap_or_default();
        let mut problems: Vec<String> = Vec::new();
        match o.instances.get(&p.identifier) {
            None => problems.push(format!("{} not found", p.identifier)),
            Some(live) => {
                if live.engine_version != target {
                    problems.push(format!(
                        "{} runs {} not {}",
                        p.identifier, live.engine_version, target
                    ));
                }
                if live.status != "available" {
                    problems.push(format!("{} is {}", p.identifier, live.status));
                }
                // The production name must now be the green instance, whose DbiResourceId
                // differs from the source's. An old `-oldN` instance that carries the source's id
                // proves the rename happened: an endpoint that repeats resource ids across
                // instances (moto gives every instance the same one) must not stall verify.
                let renamed_old_has_source_id = (1..=9).any(|n| {
                    o.instances
                        .get(&format!("{}-old{n}", p.identifier))
                        .is_some_and(|i| i.dbi_resource_id == p.source.dbi_resource_id)
                });
                if !p.source.dbi_resource_id.is_empty()
                    && live.dbi_resource_id == p.source.dbi_resource_id
                    && !renamed_old_has_source_id
                {
                    problems.push(format!("{} is still the old instance", p.identifier));
                }
            }
        }
        for r in &p.replicas {
            match o.instances.get(r) {
                Some(live) if live.engine_version == target => {}
                Some(live) => problems.push(format!("replica {r} runs {}", live.engine_version)),
                None => problems.push(format!("replica {r} not found")),
            }
        }
        let old = (1..=9)
            .map(|n| format!("{}-old{n}", p.identifier))
            .filter_map(|n| o.instances.get(&n))
            .find(|i| i.engine_version == p.from_version)
            .map(|i| i.identifier.clone());
        if old.is_none() {
            problems.push(format!("old instance {}-oldN not found", p.identifier));
        }
        let now = self.clock.now();
        if problems.is_empty() {
            let old = old.unwrap_or_default();
            // Mark the old instance as the rollback copy rdsfleet made (so that `cleanup` may
            // later delete it, and nothing else), and start its retention clock.
            if let Some(inst) = o.instances.get(&old) {
                if !is_managed(&inst.tags, Some(&self.plan.plan_id)) {
                    let mut tags = managed_tags(&self.plan.plan_id);
                    tags.insert("rdsfleet:role".into(), "old-instance".into());
                    tags.insert("rdsfleet:upgraded-to".into(), target.clone());
                    let arn = inst.arn.clone();
                    self.budget(&p.region).await;
                    match self.backend.add_tags(&p.region, &arn, &tags).await {
                        Ok(()) => {}
                        Err(e) if e.is_retryable() => return Ok(Outcome::Wait),
                        Err(e) => {
                            // Untagged means cleanup will refuse to delete it: the safe side.
                            self.store.event(
                                Some(d.id),
                                Some(StepKind::Verify),
                                "tag-failed",
                                &format!("could not tag {old}: {e}"),
                                now,
                            )?;
                        }
                    }
                }
                if self
                    .store
                    .resource(&p.region, "old-instance", &old)?
                    .is_none()
                {
                    let detail = serde_json::json!({
                        "source": p.identifier,
                        "from_version": p.from_version,
                        "switched_at": d.steps.iter().find(|s| s.kind == StepKind::Switchover).and_then(|s| s.finished_at).unwrap_or(now),
                        "verified_at": now,
                    })
                    .to_string();
                    self.store.set_resource(
                        &p.region,
                        "old-instance",
                        &old,
                        "kept",
                        Some(&detail),
                        now,
                    )?;
                }
            }
            let s = if step.status == StepStatus::Pending {
                self.store.transition(
                    d,
                    step.seq,
                    StepStatus::Pending,
                    StepStatus::Started,
                    StepUpdate::default(),
                    now,
                    "verifying",
                )?;
                let mut s = step.clone();
                s.status = StepStatus::Started;
                s
            } else {
                step.clone()
            };
            self.step_to(
                d,
                &s,
                StepStatus::Done,
                StepUpdate::remote(&old),
                &format!(
                    "verified: {} on {target}; old instance {old} kept",
                    p.identifier
                ),
            )?;
            self.store.set_db_state(
                d.id,
                DbState::Done,
                None,
                now,
                &format!("upgraded to {target}; old instance {old} kept for rollback"),
            )?;
            return Ok(Outcome::Progress);
        }
        if step.status == StepStatus::Pending {
            self.store.transition(
                d,
                step.seq,
                StepStatus::Pending,
                StepStatus::Started,
                StepUpdate::default(),
                now,
                "verifying",
            )?;
            return Ok(Outcome::Progress);
        }
        let since = step.started_at.unwrap_or(now);
        if now - since > ms(self.opts.verify_timeout) {
            return self.fail(
                d,
                step,
                &format!("verification failed: {}", problems.join("; ")),
            );
        }
        Ok(Outcome::Wait)
    }
}

fn counts(dbs: &[DbRow]) -> BTreeMap<DbState, usize> {
    let mut m = BTreeMap::new();
    for d in dbs {
        *m.entry(d.state).or_insert(0) += 1;
    }
    m
}
