//! The engine: drives a plan through an [`RdsBackend`], persisting every transition in the
//! [`Store`], so that it can be stopped at any moment (Ctrl-C, crash, `kill -9`) and resumed.
//!
//! ## How it works
//! The engine is a level-triggered reconciler on a single task. Each *tick* it
//! 1. admits pending databases into free slots ([`schedule`]: waves, concurrency limits);
//! 2. observes every region that has work with batched, paginated describes ([`observe`]) -
//!    never one call per database;
//! 3. asks the step table ([`crate::machine`]) what each admitted database's current step
//!    should do, given what was observed, and carries the decision out: a step transition, a
//!    wait (with its typed reason), or a call through the one effect path
//!    ([`crate::effects`]), whose result goes back to the table;
//! 4. mirrors read replicas onto their source.
//!
//! Every side effect has a deterministic name from the plan (see [`crate::naming`]). Before a
//! call the step moves to `started` (intent, committed); after it, to what the table decides
//! (outcome). A step found `started` on resume has an unknown outcome: the table first looks
//! for the resource under its deterministic name and adopts it; only if it is absent does it
//! call again, and an `AlreadyExists` answer is adoption too. So a side effect is never
//! repeated, whatever moment the process died at.
//!
//! Time comes from the injected [`Clock`](crate::clock::Clock); API calls pass a client-side
//! token bucket per region ([`ApiBudget`]) so rdsfleet stays well under the RDS account limit
//! it shares.

mod observe;
pub mod schedule;

pub use crate::effects::ApiBudget;

use crate::backend::InstanceQuery;
use crate::backend::{BlueGreenQuery, RdsBackend};
use crate::clock::{Millis, SharedClock};
use crate::domain::{is_managed, Quota, Tags};
use crate::effects::{Effect, EffectOk, Executor, Intent};
use crate::machine::{
    self, Change, Decision, Diagnosis, Fresh, GreenSeen, GroupTags, Input, Need, Rules, Seen,
    Window,
};
use crate::plan::Plan;
use crate::plan::StepKind;
use crate::policy::Policy;
use crate::state::{Brief, DbState, ResourceKind, ResourceStatus, StepStatus, WaitReason};
use crate::store::{DbRow, DbWhy, StepRow, StepUpdate, Store, StoreError};
use schedule::is_replica;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Plan(#[from] crate::plan::PlanError),
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
    /// Client-side API budget per region: sustained requests per second and burst. The CLI's
    /// `--api-rate N` keeps the burst at 1, so that no second ever sees more than N calls.
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
    /// When every database in flight has waited this long on something only an operator can
    /// change (quota headroom, which only `cleanup` or a quota increase frees; a zero-ETL
    /// integration to delete; green to reboot), stop the run with the reason instead of polling.
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
            api_burst: 1.0,
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

/// Progress callback payload: the counts after a tick.
#[derive(Debug, Clone)]
pub struct Progress {
    pub counts: BTreeMap<DbState, usize>,
    pub total: usize,
    pub now: Millis,
    /// The rows of the databases in flight or awaiting approval after the tick, and of those
    /// whose state changed in it (state, current step with its times, wait reason).
    pub databases: Vec<DbRow>,
}

pub type ProgressFn = Box<dyn Fn(&Progress) + Send + Sync>;

/// What a run is configured with: fixed for its whole life.
struct Config {
    plan: Plan,
    policy: Policy,
    opts: EngineOptions,
    rules: Rules,
    /// (region, name) -> index of a parameter group the plan creates.
    groups: HashMap<(String, String), usize>,
    /// (replica, source) plan indexes of the replicas that travel with their source.
    replicas: Vec<(i64, i64)>,
    /// Databases of the plan per region.
    per_region: HashMap<String, usize>,
    /// Plan indexes of the databases using each planned parameter group (by group index):
    /// read every tick by [`Engine::restores_due`], so computed once.
    group_users: Vec<Vec<usize>>,
}

/// What a run remembers between ticks.
#[derive(Default)]
struct RunState {
    /// Every database's state and approval, kept in step with the store: the engine is the
    /// only writer of states while it holds the lock (`approve` writes only approvals, read
    /// each tick). So a tick reads rows only for what is in flight.
    fleet: Vec<Brief>,
    /// Databases whose switchover step is done.
    switched: HashSet<i64>,
    /// Databases already failed when this run started (the failure budget counts new ones).
    baseline_failed: HashSet<i64>,
    /// Consecutive ticks with a throttled call.
    throttled_streak: u32,
    /// Since when every database in flight has been waiting for an operator (or quota).
    quota_stalled_since: Option<Millis>,
    /// Regions whose quota could not be read (said once).
    quota_warned: HashSet<String>,
    /// Parameter groups whose restore failed for good in this run (not retried; said).
    restore_failed: HashSet<usize>,
    /// (region, name) -> the tags of a parameter group found under a name the plan creates,
    /// read once ([`Need::GroupTags`]): a group someone else made stays someone else's while
    /// its databases wait, without a call per database per tick. Forgotten when a tick no
    /// longer sees the group.
    group_tags: HashMap<(String, String), Tags>,
}

/// What one tick did: returned by [`Engine::tick`], read by the loop.
#[derive(Debug, Default)]
struct TickReport {
    progressed: bool,
    throttled: bool,
    /// Databases that waited for quota headroom.
    quota_waiting: usize,
    /// Databases that waited on something only an operator can change (quota included),
    /// with what to do.
    operator_waiting: Vec<String>,
    /// Approved databases that waited only for a switchover window.
    window_waiting: usize,
    /// Databases whose state changed in this tick.
    changed: Vec<i64>,
}

/// What one tick knows of a region's `DBInstances` quota (read at most once, lazily).
type QuotaCache = HashMap<String, Option<Quota>>;

pub struct Engine {
    cfg: Config,
    exec: Executor,
    clock: SharedClock,
    store: Store,
    run: RunState,
    cancel: Arc<AtomicBool>,
    wake: Arc<tokio::sync::Notify>,
    progress: Option<ProgressFn>,
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
        plan.verify_names(store.path(), machine::resource_name)?;
        let mut replica_source = HashMap::new();
        for (i, db) in plan.databases.iter().enumerate() {
            for r in &db.replicas {
                replica_source.insert((db.region.clone(), r.clone()), i);
            }
        }
        let replicas = plan
            .databases
            .iter()
            .enumerate()
            .filter(|(_, d)| d.strategy == crate::plan::Strategy::WithSource)
            .filter_map(|(i, d)| {
                replica_source
                    .get(&(d.region.clone(), d.identifier.clone()))
                    .map(|&src| (i as i64, src as i64))
            })
            .collect();
        let mut per_region: HashMap<String, usize> = HashMap::new();
        for d in &plan.databases {
            *per_region.entry(d.region.clone()).or_default() += 1;
        }
        let groups: HashMap<(String, String), usize> = plan
            .parameter_groups
            .iter()
            .enumerate()
            .map(|(i, g)| ((g.region.clone(), g.name.clone()), i))
            .collect();
        let mut group_users = vec![Vec::new(); plan.parameter_groups.len()];
        for (i, d) in plan.databases.iter().enumerate() {
            let Some(t) = &d.target else { continue };
            if let Some(&k) = groups.get(&(d.region.clone(), t.parameter_group.clone())) {
                group_users[k].push(i);
            }
        }
        let policy = plan.policy();
        let rules = Rules {
            switchover_timeout_secs: plan.settings.switchover_timeout_secs,
            readiness_stable: ms(Duration::from_secs(policy.switchover.readiness_stable_secs)),
            visibility_grace: ms(opts.visibility_grace),
            wait_timeout: ms(opts.wait_timeout),
            verify_timeout: ms(opts.verify_timeout),
            ..Rules::default()
        };
        let exec = Executor::new(
            backend,
            clock.clone(),
            ApiBudget::new(opts.api_rate, opts.api_burst),
        );
        Ok(Engine {
            cfg: Config {
                plan,
                policy,
                opts,
                rules,
                groups,
                replicas,
                per_region,
                group_users,
            },
            exec,
            clock,
            store,
            run: RunState::default(),
            cancel: Arc::new(AtomicBool::new(false)),
            wake: Arc::new(tokio::sync::Notify::new()),
            progress: None,
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

    /// Run until every database is finished or awaiting approval, or until cancelled.
    pub async fn run(&mut self) -> Result<RunSummary, EngineError> {
        self.start()?;
        let mut ticks = 0u64;
        let mut interrupted = false;
        let mut halted = None;
        loop {
            if self.cancelled() {
                interrupted = true;
                break;
            }
            self.store.heartbeat()?;
            self.sync_approvals()?;
            let fleet = &self.run.fleet;
            if schedule::finished(&self.cfg.plan, fleet) && self.restores_due()?.is_empty() {
                break;
            }
            if let Some(reason) = self.halt_reason()? {
                halted = Some(reason);
                break;
            }
            // The first tick only reconciles what was in flight (a resume after a crash):
            // nothing new starts before every in-flight step has been observed again.
            let running = self.running().len();
            let admit = ticks > 0 || running == 0;
            if !admit {
                self.note_reconcile(running)?;
            }
            let report = self.tick(admit).await?;
            ticks += 1;
            if let Some(reason) = self.operator_stall(&report)? {
                halted = Some(reason);
                break;
            }
            self.report_progress(&report)?;
            if self.opts().max_ticks.is_some_and(|m| ticks >= m) || self.cancelled() {
                interrupted = true;
                break;
            }
            self.nap(&report).await;
        }
        self.finish(ticks, interrupted, halted)
    }

    fn opts(&self) -> &EngineOptions {
        &self.cfg.opts
    }

    /// Take the lock, record up-front approval, remember what had already failed.
    fn start(&mut self) -> Result<(), EngineError> {
        let now = self.clock.now();
        self.store.acquire_lock(now)?;
        if self.cfg.opts.approve_switchover {
            let n = self.store.approve(&[], now, "approved at apply time")?;
            if n > 0 {
                tracing::info!(databases = n, "switchover approved");
            }
        }
        self.run.fleet = self.store.briefs()?;
        self.run.switched = self.store.switched_over()?.into_iter().collect();
        // A crash between a source's transition and the end of that tick left its replicas
        // behind: bring them level now, or a finished fleet would never look finished.
        self.mirror_replicas(&mut TickReport::default())?;
        self.run.baseline_failed = self
            .run
            .fleet
            .iter()
            .filter(|d| d.state == DbState::Failed)
            .map(|d| d.id)
            .collect();
        Ok(())
    }

    /// Approvals recorded since (by `rdsfleet approve`, from another process).
    fn sync_approvals(&mut self) -> Result<(), EngineError> {
        for id in self.store.approved_waiting()? {
            if let Some(b) = self.run.fleet.get_mut(id as usize) {
                b.approved = true;
            }
        }
        Ok(())
    }

    /// The databases in flight (not replicas: they follow their source).
    fn running(&self) -> Vec<i64> {
        self.run
            .fleet
            .iter()
            .filter(|d| d.state == DbState::Running && !is_replica(&self.cfg.plan, d.id))
            .map(|d| d.id)
            .collect()
    }

    fn halt_reason(&mut self) -> Result<Option<String>, EngineError> {
        let reason = schedule::budget_spent(
            &self.cfg.plan,
            &self.cfg.policy,
            &self.run.fleet,
            &self.run.baseline_failed,
        );
        if let Some(reason) = &reason {
            self.store
                .event(None, None, "halted", reason, self.clock.now())?;
            tracing::warn!(%reason, "rollout halted");
        }
        Ok(reason)
    }

    fn note_reconcile(&self, n: usize) -> Result<(), EngineError> {
        self.store.event(
            None,
            None,
            "reconcile",
            &format!("reconciling {n} in-flight database(s) before starting anything new"),
            self.clock.now(),
        )?;
        Ok(())
    }

    /// The progress callback gets the counts and the rows of what is in flight or changed
    /// in this tick (not the whole fleet: a tick costs what is in flight).
    fn report_progress(&self, report: &TickReport) -> Result<(), EngineError> {
        if let Some(f) = &self.progress {
            let mut ids: Vec<i64> = self
                .run
                .fleet
                .iter()
                .filter(|d| matches!(d.state, DbState::Running | DbState::AwaitingApproval))
                .map(|d| d.id)
                .collect();
            ids.extend(&report.changed);
            f(&Progress {
                counts: schedule::counts(&self.run.fleet),
                total: self.run.fleet.len(),
                now: self.clock.now(),
                databases: self.store.rows(&ids)?,
            });
        }
        Ok(())
    }

    /// Sleep until the next tick. Throttled: back off exponentially so the account's token
    /// bucket (shared with every other tool) refills enough for a whole observation.
    async fn nap(&mut self, report: &TickReport) {
        self.run.throttled_streak = if report.throttled {
            self.run.throttled_streak + 1
        } else {
            0
        };
        let opts = &self.cfg.opts;
        let nap = if self.run.throttled_streak > 0 {
            opts.poll_interval * (1u32 << self.run.throttled_streak.min(4))
        } else if report.progressed {
            opts.fast_interval
        } else if report.window_waiting > 0 {
            // Nothing to do but wait for a switchover window: sleep until it opens.
            let now = self.clock.now();
            let until = schedule::next_window(&self.cfg.policy, now)
                .map(|t| Duration::from_millis((t - now).max(0) as u64))
                .unwrap_or(opts.poll_interval);
            until.max(opts.poll_interval)
        } else {
            opts.poll_interval
        };
        let wake = self.wake.clone();
        tokio::select! {
            _ = self.clock.sleep(nap) => {}
            _ = wake.notified() => {}
        }
    }

    fn finish(
        &mut self,
        ticks: u64,
        interrupted: bool,
        halted: Option<String>,
    ) -> Result<RunSummary, EngineError> {
        let summary = RunSummary {
            counts: schedule::counts(&self.run.fleet),
            interrupted,
            halted,
            api_calls: self.exec.calls(),
            ticks,
        };
        let kind = if summary.halted.is_some() {
            "run-halted"
        } else if interrupted {
            "run-interrupted"
        } else {
            "run-finished"
        };
        self.store.event(
            None,
            None,
            kind,
            &format!("{:?}", summary.counts),
            self.clock.now(),
        )?;
        self.store.release_lock()?;
        Ok(summary)
    }

    /// Stop polling when every database in flight has waited longer than the stall limit on
    /// something only an operator can change (quota headroom: old instances are kept until
    /// cleanup; a zero-ETL integration to delete; green to reboot): say so and let them act.
    fn operator_stall(&mut self, report: &TickReport) -> Result<Option<String>, EngineError> {
        let running = self.running().len();
        let waiting = report.operator_waiting.len();
        if report.progressed || waiting == 0 || waiting < running {
            self.run.quota_stalled_since = None;
            return Ok(None);
        }
        let now = self.clock.now();
        let since = *self.run.quota_stalled_since.get_or_insert(now);
        if now - since < ms(self.cfg.opts.quota_stall_limit) {
            return Ok(None);
        }
        let minutes = (now - since) / 60_000;
        let reason = if report.quota_waiting == waiting {
            format!(
                "{waiting} database(s) have waited {minutes} min for DBInstances quota headroom and nothing else is in flight; every upgrade keeps its old instance until `rdsfleet cleanup` (after retention), so raise the quota or clean up, then `rdsfleet resume`"
            )
        } else {
            format!(
                "{waiting} database(s) have waited {minutes} min for an operator and nothing else is in flight: {}. Do that, then `rdsfleet resume`",
                report.operator_waiting.join("; ")
            )
        };
        self.store.event(None, None, "halted", &reason, now)?;
        Ok(Some(reason))
    }

    /// One admit-observe-advance pass.
    async fn tick(&mut self, admit: bool) -> Result<TickReport, EngineError> {
        let mut report = TickReport::default();
        self.admit(admit, &mut report)?;
        let active = self.store.rows(&self.running())?;
        let configured = self
            .store
            .resources_of(ResourceKind::ParameterGroup)?
            .into_iter()
            .filter(|r| r.status.is_configured())
            .map(|r| (r.region, r.name))
            .collect();
        let mut regions: BTreeMap<String, Vec<&DbRow>> = BTreeMap::new();
        for d in &active {
            regions.entry(d.region.clone()).or_default().push(d);
        }
        let mut seen: HashMap<String, Seen> = HashMap::new();
        for (region, ds) in &regions {
            let want = observe::wanted(&self.cfg.plan, ds, &configured);
            let now = self.clock.now();
            let planned = self.cfg.per_region.get(region).copied().unwrap_or(0);
            let s =
                observe::region(&mut self.exec, &self.store, region, want, planned, now).await?;
            seen.insert(region.clone(), s);
        }
        let mut quota = QuotaCache::new();
        for d in &active {
            if self.cancelled() {
                break;
            }
            let Some(s) = seen.get(&d.region) else {
                continue;
            };
            // Every log line of this database's step (the effect path's, the adapter's request
            // ids) carries the database, step and attempt.
            let step = d.current_step();
            let span = tracing::info_span!(
                "step",
                db = %d.identifier,
                region = %d.region,
                step = step.map(|s| s.kind.as_str()).unwrap_or("-"),
                attempt = step.map(|s| s.attempt).unwrap_or(0)
            );
            self.advance(d, s, &mut quota, &mut report)
                .instrument(span)
                .await?;
        }
        self.mirror_replicas(&mut report)?;
        if !self.cancelled() {
            self.restore_parameters(&mut report).await?;
        }
        report.throttled |= self.exec.take_throttled();
        Ok(report)
    }

    /// Admission: approved databases held at the gate resume; pending ones fill free slots.
    fn admit(&mut self, allow_new: bool, report: &mut TickReport) -> Result<(), EngineError> {
        let allow_new = allow_new && !self.cancelled();
        let a = schedule::admission(
            &self.cfg.plan,
            &self.cfg.policy,
            self.cfg.opts.concurrency,
            &self.run.fleet,
            allow_new,
        );
        let now = self.clock.now();
        let moves = a
            .resume
            .iter()
            .map(|&id| (id, "approval received"))
            .chain(a.admit.iter().map(|&id| (id, "admitted")));
        for (id, why) in moves {
            set_state(
                &mut self.store,
                &mut self.run.fleet,
                report,
                id,
                DbState::Running,
                &DbWhy::default(),
                now,
                why,
            )?;
        }
        Ok(())
    }

    /// Decide and act on one database's current step.
    async fn advance(
        &mut self,
        d: &DbRow,
        seen: &Seen,
        quota: &mut QuotaCache,
        report: &mut TickReport,
    ) -> Result<(), EngineError> {
        let Some(step) = d.current_step().cloned() else {
            return self.all_steps_done(d, report);
        };
        if !seen.has(machine::step(step.kind).needs) {
            return Ok(());
        }
        let p = &self.cfg.plan.databases[d.id as usize];
        let group = match step.kind {
            StepKind::ParameterGroup => planned_group(&self.cfg, &self.store, p)?,
            _ => None,
        };
        let mut reads = Reads {
            group_tags: known_group_tags(&mut self.run.group_tags, p, step.kind, seen).map(Ok),
            ..Reads::default()
        };
        // Each read a decision asks for is made at most once: quota, fresh deployment, green,
        // precheck log, a parameter group's tags, then the decision itself.
        for _ in 0..6 {
            let now = self.clock.now();
            let input = Input {
                now,
                plan_id: &self.cfg.plan.plan_id,
                db: p,
                row: d,
                step: &step,
                seen,
                rules: &self.cfg.rules,
                window: window(&self.cfg.policy, now),
                group,
                quota_headroom: quota.get(&p.region).map(|q| q.map(|q| q.headroom())),
                fresh: reads.fresh.as_ref(),
                green: reads.green.as_ref(),
                diagnosis: reads.diagnosis.as_ref(),
                group_tags: reads.group_tags.as_ref(),
            };
            match machine::next(&input) {
                Decision::Need(Need::Quota) => {
                    let q = read_quota(
                        &mut self.exec,
                        &self.store,
                        &mut self.run.quota_warned,
                        &p.region,
                        now,
                    )
                    .await?;
                    quota.insert(p.region.clone(), q);
                }
                Decision::Need(Need::GroupTags { name, arn }) => {
                    let known = &mut self.run.group_tags;
                    let plan_id = &self.cfg.plan.plan_id;
                    let r = read_group_tags(&mut self.exec, known, plan_id, &p.region, name, &arn);
                    reads.group_tags = Some(r.await);
                }
                Decision::Need(need) => {
                    let mut cx = Ctx {
                        exec: &mut self.exec,
                        store: &mut self.store,
                        clock: &self.clock,
                        fleet: &mut self.run.fleet,
                        switched: &mut self.run.switched,
                    };
                    reads.read(&mut cx, need, d, step.kind, &p.region).await?;
                }
                decision => {
                    let input = Input { now, ..input };
                    return carry_out(
                        &mut Ctx {
                            exec: &mut self.exec,
                            store: &mut self.store,
                            clock: &self.clock,
                            fleet: &mut self.run.fleet,
                            switched: &mut self.run.switched,
                        },
                        &input,
                        decision,
                        quota,
                        report,
                    )
                    .await;
                }
            }
        }
        Ok(())
    }

    /// Every step of the database is done: so is the database.
    fn all_steps_done(&mut self, d: &DbRow, report: &mut TickReport) -> Result<(), EngineError> {
        let now = self.clock.now();
        set_state(
            &mut self.store,
            &mut self.run.fleet,
            report,
            d.id,
            DbState::Done,
            &DbWhy::default(),
            now,
            "all steps done",
        )?;
        Ok(())
    }

    /// The parameter groups whose creation-only values (`event_scheduler=OFF` on green) are
    /// due to be set back, and not yet: judged by the step table from their users' states.
    fn restores_due(&self) -> Result<Vec<usize>, EngineError> {
        let plan = &self.cfg.plan;
        let mut due = Vec::new();
        for (k, g) in plan.parameter_groups.iter().enumerate() {
            if g.restore_after_switchover.is_empty() {
                continue;
            }
            let users: Vec<(String, DbState, bool)> = self.cfg.group_users[k]
                .iter()
                .map(|&i| {
                    let state = self.run.fleet[i].state;
                    let switched = self.run.switched.contains(&(i as i64));
                    (plan.databases[i].identifier.clone(), state, switched)
                })
                .collect();
            if machine::restore(g, &users) != machine::Restore::Due {
                continue;
            }
            let status = self
                .store
                .resource(&g.region, ResourceKind::ParameterGroup, &g.name)?
                .map(|r| r.status);
            if status != Some(ResourceStatus::Restored) && !self.run.restore_failed.contains(&k) {
                due.push(k);
            }
        }
        Ok(due)
    }

    /// Set back what green needed only at creation, once every database using the group has
    /// switched over: the group step of the strategy, recorded like any call.
    async fn restore_parameters(&mut self, report: &mut TickReport) -> Result<(), EngineError> {
        for k in self.restores_due()? {
            let g = &self.cfg.plan.parameter_groups[k];
            let (effect, tracked) = machine::restore_effect(g);
            let intent = Intent::Event { db_id: None };
            let done = self
                .exec
                .perform(&mut self.store, intent, &effect, Some(&tracked))
                .await?;
            report.progressed = true;
            match done.result {
                Ok(_) => {
                    tracing::info!(group = %g.name, region = %g.region, "creation-only parameter values restored")
                }
                Err(e) if e.is_retryable() => {
                    tracing::debug!(group = %g.name, error = %e, "restoring parameter values failed; retrying next tick")
                }
                Err(e) => {
                    let values: Vec<String> = g
                        .restore_after_switchover
                        .iter()
                        .map(|c| format!("{}={}", c.name, c.value))
                        .collect();
                    let why = format!(
                        "could not set {} back on parameter group {} ({e}): set them yourself (ModifyDBParameterGroup), they are dynamic",
                        values.join(", "),
                        g.name
                    );
                    tracing::error!(group = %g.name, "{why}");
                    self.store
                        .event(None, None, "restore-failed", &why, self.clock.now())?;
                    self.run.restore_failed.insert(k);
                }
            }
        }
        Ok(())
    }

    /// Replicas mirror their source (they have no steps of their own). Rows are read only
    /// for a replica whose source moved.
    fn mirror_replicas(&mut self, report: &mut TickReport) -> Result<(), EngineError> {
        let now = self.clock.now();
        for &(replica, src) in &self.cfg.replicas {
            let fleet = &self.run.fleet;
            if fleet[replica as usize].state == fleet[src as usize].state {
                continue;
            }
            let rows = self.store.rows(&[src, replica])?;
            let (Some(s), Some(r)) = (
                rows.iter().find(|x| x.id == src),
                rows.iter().find(|x| x.id == replica),
            ) else {
                continue;
            };
            if let Some((state, why, note)) = machine::mirror_source(s, r) {
                set_state(
                    &mut self.store,
                    &mut self.run.fleet,
                    report,
                    replica,
                    state,
                    &why,
                    now,
                    &note,
                )?;
            }
        }
        Ok(())
    }
}

/// What one database's decision asked to read this tick (each at most once).
#[derive(Default)]
struct Reads {
    fresh: Option<Fresh>,
    green: Option<GreenSeen>,
    diagnosis: Option<Diagnosis>,
    group_tags: Option<GroupTags>,
}

impl Reads {
    /// Make the read `need` asks for.
    async fn read(
        &mut self,
        cx: &mut Ctx<'_>,
        need: Need,
        d: &DbRow,
        step: StepKind,
        region: &str,
    ) -> Result<(), EngineError> {
        match need {
            Need::FreshDeployment(name) => {
                self.fresh = Some(describe_one(cx.exec, region, &name).await);
            }
            Need::Green(ids) => {
                let q = InstanceQuery {
                    identifiers: ids,
                    engines: vec![],
                };
                self.green = Some(GreenSeen {
                    instances: cx.exec.describe_instances(region, &q).await,
                    integrations: cx.exec.describe_integrations(region).await,
                });
            }
            Need::Diagnosis(green_id) => {
                let found = diagnose(cx.exec, region, &green_id).await;
                // The failing checks are kept in the state file (status, run report).
                let json = serde_json::to_string(&found).unwrap_or_default();
                cx.store
                    .event(Some(d.id), Some(step), "diagnosis", &json, cx.clock.now())?;
                self.diagnosis = Some(found);
            }
            // Read by the caller: shared by the region's databases (the quota) or by the
            // databases of a parameter group, for the run (its tags).
            Need::Quota | Need::GroupTags { .. } => {}
        }
        Ok(())
    }
}

/// The region's `DBInstances` quota. `None` when the endpoint can't say (moto): creation goes
/// ahead without a headroom check, said once per region.
async fn read_quota(
    exec: &mut Executor,
    store: &Store,
    warned: &mut HashSet<String>,
    region: &str,
    now: Millis,
) -> Result<Option<Quota>, EngineError> {
    match exec.describe_instance_quota(region).await {
        Ok(q) => Ok(Some(q)),
        Err(e) => {
            if warned.insert(region.to_string()) {
                store.event(None, None, "quota-unknown", &format!("{region}: cannot read the DBInstances quota ({e}); creating without a headroom check"), now)?;
            }
            Ok(None)
        }
    }
}

/// Read the upgrade precheck log of a failed green instance: list its log files, download the
/// newest precheck log, parse its failing checks (two or three calls, once per failure).
async fn diagnose(exec: &mut Executor, region: &str, green: &str) -> Diagnosis {
    let files = exec
        .describe_log_files(region, green)
        .await
        .map_err(|e| e.to_string())?;
    let Some(log) = crate::diagnosis::pick_precheck_log(&files) else {
        return Ok(vec![]);
    };
    let text = exec
        .download_log_file(region, green, &log.name)
        .await
        .map_err(|e| e.to_string())?;
    Ok(crate::diagnosis::parse(&log.name, &text))
}

/// One deployment, described again right before an irreversible call.
async fn describe_one(exec: &mut Executor, region: &str, name: &str) -> Fresh {
    let q = BlueGreenQuery {
        names: vec![name.to_string()],
        identifiers: vec![],
    };
    exec.describe_blue_green(region, &q)
        .await
        .map(|v| v.into_iter().find(|b| b.name == name))
}

/// The tags of a parameter group found under the plan's name ([`Need::GroupTags`]), kept
/// in `known` for the run when read.
async fn read_group_tags(
    exec: &mut Executor,
    known: &mut HashMap<(String, String), Tags>,
    plan_id: &str,
    region: &str,
    name: String,
    arn: &str,
) -> GroupTags {
    let r = exec.list_tags(region, arn).await;
    match &r {
        Ok(tags) => {
            let ours = is_managed(tags, Some(plan_id));
            tracing::info!(group = %name, ours, "read the tags of a parameter group found under the plan's name");
            known.insert((region.to_string(), name), tags.clone());
        }
        Err(e) => {
            tracing::debug!(group = %name, error = %e, "could not read the tags of a parameter group")
        }
    }
    r
}

/// The tags read earlier in this run of the parameter group the database's step would create,
/// while a tick still sees the group (one deleted since is forgotten: one recreated under the
/// name is read again).
fn known_group_tags(
    known: &mut HashMap<(String, String), Tags>,
    p: &crate::plan::PlannedDatabase,
    step: StepKind,
    seen: &Seen,
) -> Option<Tags> {
    if step != StepKind::ParameterGroup {
        return None;
    }
    let key = (p.region.clone(), p.target.as_ref()?.parameter_group.clone());
    let visible = seen
        .parameter_groups
        .as_ref()
        .is_some_and(|m| m.contains_key(&key.1));
    if !visible {
        known.remove(&key);
        return None;
    }
    known.get(&key).cloned()
}

/// The parameter group this plan creates for the database, and where the state file says
/// it is (read at the parameter-group step only: another database may have configured a
/// shared group earlier in this very tick).
#[allow(clippy::type_complexity)]
fn planned_group<'a>(
    cfg: &'a Config,
    store: &Store,
    p: &crate::plan::PlannedDatabase,
) -> Result<
    Option<(
        &'a crate::plan::PlannedParameterGroup,
        Option<ResourceStatus>,
    )>,
    EngineError,
> {
    let Some(t) = &p.target else {
        return Ok(None);
    };
    let key = (p.region.clone(), t.parameter_group.clone());
    let Some(&k) = cfg.groups.get(&key) else {
        return Ok(None);
    };
    let g = &cfg.plan.parameter_groups[k];
    let status = store
        .resource(&g.region, ResourceKind::ParameterGroup, &g.name)?
        .map(|r| r.status);
    Ok(Some((g, status)))
}

/// Switchover windows as of `now`.
fn window(policy: &Policy, now: Millis) -> Window {
    let open = policy.in_window(now);
    Window {
        open,
        opens_at: if open {
            None
        } else {
            schedule::next_window(policy, now)
        },
    }
}

/// What carrying out a decision may touch.
struct Ctx<'a> {
    exec: &'a mut Executor,
    store: &'a mut Store,
    clock: &'a SharedClock,
    fleet: &'a mut Vec<Brief>,
    switched: &'a mut HashSet<i64>,
}

/// Move a database to `to` (compare-and-set on the state the engine knows), keeping the
/// engine's view of the fleet in step.
#[allow(clippy::too_many_arguments)]
fn set_state(
    store: &mut Store,
    fleet: &mut [Brief],
    report: &mut TickReport,
    id: i64,
    to: DbState,
    why: &DbWhy,
    now: Millis,
    detail: &str,
) -> Result<(), StoreError> {
    let b = &mut fleet[id as usize];
    store.transition_db(id, b.state, to, why, now, detail)?;
    if b.state != to {
        report.changed.push(id);
        report.progressed = true;
    }
    b.state = to;
    Ok(())
}

/// Carry out a decision for the database and step of `input`.
async fn carry_out(
    cx: &mut Ctx<'_>,
    input: &Input<'_>,
    decision: Decision,
    quota: &mut QuotaCache,
    report: &mut TickReport,
) -> Result<(), EngineError> {
    let d = input.row;
    match decision {
        Decision::Call(effect, tracked) => {
            let intent = Intent::Step {
                db: d,
                step: input.step,
            };
            let done = cx
                .exec
                .perform(cx.store, intent, &effect, tracked.as_ref())
                .await?;
            report.progressed = true;
            let step = done.step.unwrap_or_else(|| input.step.clone());
            on_created(&effect, &done.result, input, quota);
            let after = Input {
                step: &step,
                now: cx.clock.now(),
                ..*input
            };
            let next = (machine::step(step.kind).on_outcome)(&after, &effect, &done.result);
            Box::pin(follow(cx, &after, next, quota, report)).await
        }
        other => apply(cx, input, other, report),
    }
}

/// A decision made from a call's outcome. A further call (creating a parameter group, then
/// configuring it) is intent-recorded as an event: the step is already `started`.
async fn follow(
    cx: &mut Ctx<'_>,
    input: &Input<'_>,
    decision: Decision,
    quota: &mut QuotaCache,
    report: &mut TickReport,
) -> Result<(), EngineError> {
    let Decision::Call(effect, tracked) = decision else {
        return apply(cx, input, decision, report);
    };
    let intent = Intent::Event {
        db_id: Some(input.row.id),
    };
    let done = cx
        .exec
        .perform(cx.store, intent, &effect, tracked.as_ref())
        .await?;
    on_created(&effect, &done.result, input, quota);
    let after = Input {
        now: cx.clock.now(),
        ..*input
    };
    let next = (machine::step(input.step.kind).on_outcome)(&after, &effect, &done.result);
    match next {
        Decision::Call(..) => Ok(()), // at most one chained call per tick; the next tick goes on
        other => apply(cx, &after, other, report),
    }
}

/// A deployment was created: its green instances count against this tick's quota at once.
fn on_created(
    effect: &Effect,
    result: &crate::backend::BResult<EffectOk>,
    input: &Input,
    quota: &mut QuotaCache,
) {
    if let (Effect::CreateBlueGreen { region, .. }, Ok(_)) = (effect, result) {
        if let Some(Some(q)) = quota.get_mut(region) {
            q.used += machine::green_instances(input.db);
        }
    }
}

/// Carry out a decision that makes no call.
fn apply(
    cx: &mut Ctx<'_>,
    input: &Input<'_>,
    decision: Decision,
    report: &mut TickReport,
) -> Result<(), EngineError> {
    let d = input.row;
    let now = cx.clock.now();
    match decision {
        Decision::Wait(w) => {
            report.count_wait(&d.identifier, &w);
            set_wait(cx.store, d, Some(&w), now)?;
        }
        Decision::Step(c) => {
            report.progressed |= step_to(cx.store, d, input.step, &c, now)?;
            if c.to == StepStatus::Done && input.step.kind == StepKind::Switchover {
                cx.switched.insert(d.id);
            }
            set_wait(cx.store, d, c.wait.as_ref(), now)?;
        }
        Decision::Finish(f) => {
            finish(cx.store, input, &f, now)?;
            cx.switched.insert(d.id);
            let why = DbWhy::note(&f.note);
            set_state(
                cx.store,
                cx.fleet,
                report,
                d.id,
                DbState::Done,
                &why,
                now,
                &f.note,
            )?;
        }
        Decision::Fail(why) => {
            if input.step.status != StepStatus::Failed {
                let upd = StepUpdate::error(why.clone());
                cx.store.transition(
                    d,
                    input.step.seq,
                    input.step.status,
                    StepStatus::Failed,
                    upd,
                    now,
                    &why,
                )?;
            }
            let e = DbWhy::error(&why);
            set_state(
                cx.store,
                cx.fleet,
                report,
                d.id,
                DbState::Failed,
                &e,
                now,
                &why,
            )?;
            // The operator must act on it: an error, with where and how far it got.
            tracing::error!(db = %d.identifier, region = %d.region, step = %input.step.kind, attempt = input.step.attempt, reason = %why, "database failed");
            report.progressed = true;
        }
        Decision::Block(why) => {
            let e = DbWhy::error(&why);
            set_state(
                cx.store,
                cx.fleet,
                report,
                d.id,
                DbState::Blocked,
                &e,
                now,
                &why,
            )?;
            tracing::warn!(db = %d.identifier, region = %d.region, reason = %why, "database blocked");
            report.progressed = true;
        }
        Decision::AwaitApproval => {
            let msg = "green is ready; switchover needs approval: `rdsfleet resume --state FILE --approve-switchover` (or `rdsfleet approve`)";
            let w = DbWhy::wait(WaitReason::Approval);
            set_state(
                cx.store,
                cx.fleet,
                report,
                d.id,
                DbState::AwaitingApproval,
                &w,
                now,
                msg,
            )?;
            report.progressed = true;
        }
        // Reads are done before a decision is carried out; calls go through `carry_out`.
        Decision::Need(_) | Decision::Call(..) => {}
    }
    Ok(())
}

impl TickReport {
    /// Count a wait the loop acts on: quota and window waits, and those only an operator ends.
    fn count_wait(&mut self, identifier: &str, w: &WaitReason) {
        match w {
            WaitReason::QuotaHeadroom { .. } => self.quota_waiting += 1,
            WaitReason::Window { .. } => self.window_waiting += 1,
            _ => {}
        }
        if w.needs_operator() {
            let what = match w {
                WaitReason::Operator { detail } => detail.clone(),
                other => other.describe(),
            };
            self.operator_waiting.push(format!("{identifier}: {what}"));
        }
    }
}

/// Record why a database waits, when that changed.
fn set_wait(
    store: &mut Store,
    d: &DbRow,
    w: Option<&WaitReason>,
    now: Millis,
) -> Result<(), StoreError> {
    if d.wait.as_ref() == w {
        return Ok(());
    }
    store.set_wait(d.id, d.state, w, now)
}

/// Move the step as `c` says. Returns whether anything was written: the same status with
/// nothing new is not a transition (ticks poll often).
fn step_to(
    store: &mut Store,
    d: &DbRow,
    step: &StepRow,
    c: &Change,
    now: Millis,
) -> Result<bool, StoreError> {
    let same_remote = c.remote_id.is_none() || c.remote_id == step.remote_id;
    if step.status == c.to && same_remote && c.error == step.last_error && c.not_before.is_none() {
        return Ok(false);
    }
    let upd = StepUpdate {
        bump_attempt: false,
        remote_id: c.remote_id.clone(),
        set_error: true,
        error: c.error.clone(),
        not_before: c.not_before,
    };
    store.transition(d, step.seq, step.status, c.to, upd, now, &c.why)?;
    Ok(true)
}

/// Every step not done yet is done; the resources the table asked for are recorded (once: a
/// row already there keeps its detail). The caller then moves the database to done.
fn finish(
    store: &mut Store,
    input: &Input,
    f: &machine::Finish,
    now: Millis,
) -> Result<(), StoreError> {
    let d = input.row;
    for r in &f.records {
        if store.resource(&input.db.region, r.kind, &r.name)?.is_none() {
            store.set_resource(
                &input.db.region,
                r.kind,
                &r.name,
                r.status,
                r.detail.as_deref(),
                now,
            )?;
        }
    }
    for s in d.steps.iter().filter(|s| s.status != StepStatus::Done) {
        let mut upd = StepUpdate::clear_error();
        // The current step may have moved since the tick began (a call's intent).
        let from = if s.seq == input.step.seq {
            upd.remote_id = f.remote_id.clone();
            input.step.status
        } else {
            s.status
        };
        store.transition(d, s.seq, from, StepStatus::Done, upd, now, &f.why)?;
    }
    Ok(())
}
