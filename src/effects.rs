//! The one effect path. Every call rdsfleet makes to RDS while it changes things - the engine's
//! steps, `cleanup` and `abort` alike - goes through an [`Executor`]:
//!
//! 1. **record intent** in the state file before the call ([`Intent`]: the step moves to
//!    `started`, and/or a tracked resource moves to `started`/`deleting`, and an event says what
//!    is about to be called);
//! 2. **take an API-budget token** for the region ([`ApiBudget`], on the injected clock);
//! 3. **call** the backend;
//! 4. **record the outcome** (an event, and the tracked resource's new status);
//! 5. the error comes back **classified once**, as the backend's [`ErrorKind`], and a
//!    throttled answer is noted so the caller's loop backs off.
//!
//! What the outcome means for the step is decided elsewhere, by the pure step table
//! ([`crate::machine`]); this module only performs and records. Reads (the batched describes
//! of an observation) pass the same budget through [`Executor::read`]'s siblings.
//!
//! Only this module (and the backends) name the mutating backend methods: an architecture test
//! checks it.

use crate::backend::{
    gate, BResult, BlueGreenQuery, ErrorKind, InstanceQuery, NewParameterGroup, Op, RdsBackend,
    SnapshotQuery,
};
use crate::clock::{Millis, SharedClock};
use crate::domain::*;
use crate::state::{ResourceKind, ResourceStatus};
use crate::store::{DbRow, StepRow, StepStatus, StepUpdate, Store, StoreError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A client-side token bucket per region, on the engine clock. Shared (behind an `Arc`) by
/// the executor and the [`gate::RequestGate`] that admits a describe's further pages.
#[derive(Debug)]
pub struct ApiBudget {
    rate: f64,
    burst: f64,
    buckets: std::sync::Mutex<HashMap<String, (f64, Millis)>>,
}

impl ApiBudget {
    pub fn new(rate: f64, burst: f64) -> Self {
        ApiBudget {
            rate: rate.max(0.01),
            burst: burst.max(1.0),
            buckets: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Take a token for `region` at `now`, or say how long to wait for one (ms).
    fn try_take(&self, region: &str, now: Millis) -> Option<u64> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let (tokens, at) = buckets
            .entry(region.to_string())
            .or_insert((self.burst, now));
        let refill = (now - *at).max(0) as f64 / 1000.0 * self.rate;
        *tokens = (*tokens + refill).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            return None;
        }
        Some(((1.0 - *tokens) / self.rate * 1000.0).ceil().max(1.0) as u64)
    }

    /// Wait (on `clock`) until a request to `region` fits the budget, then take it.
    pub async fn acquire(&self, clock: &SharedClock, region: &str) {
        while let Some(wait) = self.try_take(region, clock.now()) {
            clock.sleep(Duration::from_millis(wait)).await;
        }
    }
}

/// Admits the requests of a describe after its first (its further pages and filter chunks)
/// through the same budget as every other call ([`gate`]).
struct BudgetGate {
    budget: Arc<ApiBudget>,
    clock: SharedClock,
    calls: Arc<AtomicU64>,
}

impl gate::RequestGate for BudgetGate {
    fn admit<'a>(
        &'a self,
        region: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            self.budget.acquire(&self.clock, region).await;
            self.calls.fetch_add(1, Ordering::Relaxed);
        })
    }
}

/// Parameters per `ModifyDBParameterGroup` call: RDS accepts at most 20.
pub const PARAMETERS_PER_CALL: usize = 20;

/// A mutating call, as data: what the step table asks for and what cleanup/abort perform.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    CreateSnapshot {
        region: String,
        instance: String,
        name: String,
        tags: Tags,
    },
    CreateParameterGroup {
        region: String,
        group: NewParameterGroup,
    },
    /// Set parameters (idempotent); sent in calls of [`PARAMETERS_PER_CALL`], each with a token.
    ModifyParameterGroup {
        region: String,
        name: String,
        parameters: Vec<ParameterChange>,
    },
    CreateBlueGreen {
        region: String,
        request: CreateBlueGreen,
    },
    Switchover {
        region: String,
        identifier: String,
        timeout_secs: u32,
    },
    AddTags {
        region: String,
        arn: String,
        tags: Tags,
    },
    DeleteBlueGreen {
        region: String,
        identifier: String,
        delete_target: bool,
    },
    /// Always with a final snapshot.
    DeleteInstance {
        region: String,
        identifier: String,
        final_snapshot: String,
    },
    /// A read replica, without a final snapshot (the only form RDS accepts for one; its data
    /// is in its source's snapshots).
    DeleteReadReplica {
        region: String,
        replica: ReadReplica,
    },
    SetDeletionProtection {
        region: String,
        identifier: String,
        enabled: bool,
    },
    DeleteParameterGroup {
        region: String,
        name: String,
    },
}

impl Effect {
    pub fn op(&self) -> Op {
        match self {
            Effect::CreateSnapshot { .. } => Op::CreateDBSnapshot,
            Effect::CreateParameterGroup { .. } => Op::CreateDBParameterGroup,
            Effect::ModifyParameterGroup { .. } => Op::ModifyDBParameterGroup,
            Effect::CreateBlueGreen { .. } => Op::CreateBlueGreenDeployment,
            Effect::Switchover { .. } => Op::SwitchoverBlueGreenDeployment,
            Effect::AddTags { .. } => Op::AddTagsToResource,
            Effect::DeleteBlueGreen { .. } => Op::DeleteBlueGreenDeployment,
            Effect::DeleteInstance { .. } => Op::DeleteDBInstance,
            Effect::DeleteReadReplica { .. } => Op::DeleteDBInstance,
            Effect::SetDeletionProtection { .. } => Op::ModifyDBInstance,
            Effect::DeleteParameterGroup { .. } => Op::DeleteDBParameterGroup,
        }
    }

    pub fn region(&self) -> &str {
        match self {
            Effect::CreateSnapshot { region, .. }
            | Effect::CreateParameterGroup { region, .. }
            | Effect::ModifyParameterGroup { region, .. }
            | Effect::CreateBlueGreen { region, .. }
            | Effect::Switchover { region, .. }
            | Effect::AddTags { region, .. }
            | Effect::DeleteBlueGreen { region, .. }
            | Effect::DeleteInstance { region, .. }
            | Effect::DeleteReadReplica { region, .. }
            | Effect::SetDeletionProtection { region, .. }
            | Effect::DeleteParameterGroup { region, .. } => region,
        }
    }

    /// The resource the call is about, for logs: `CreateDBSnapshot rdsfleet-...`.
    pub fn describe(&self) -> String {
        let what = match self {
            Effect::CreateSnapshot { name, .. } => name.clone(),
            Effect::CreateParameterGroup { group, .. } => group.name.clone(),
            Effect::ModifyParameterGroup {
                name, parameters, ..
            } => format!("{name} ({} parameters)", parameters.len()),
            Effect::CreateBlueGreen { request, .. } => request.name.clone(),
            Effect::Switchover { identifier, .. } => identifier.clone(),
            Effect::AddTags { arn, .. } => arn.clone(),
            Effect::DeleteBlueGreen {
                identifier,
                delete_target,
                ..
            } => format!("{identifier} (DeleteTarget={delete_target})"),
            Effect::DeleteInstance {
                identifier,
                final_snapshot,
                ..
            } => format!("{identifier} (final snapshot {final_snapshot})"),
            Effect::DeleteReadReplica { replica, .. } => {
                format!("{} (read replica, no final snapshot)", replica.identifier())
            }
            Effect::SetDeletionProtection {
                identifier,
                enabled,
                ..
            } => format!("{identifier} (DeletionProtection={enabled})"),
            Effect::DeleteParameterGroup { name, .. } => name.clone(),
        };
        format!("{} {what}", self.op())
    }
}

/// What a successful effect returned.
#[derive(Debug, Clone, PartialEq)]
pub enum EffectOk {
    Snapshot(Snapshot),
    ParameterGroup(ParameterGroup),
    BlueGreen(BlueGreen),
    Done,
}

impl EffectOk {
    /// The identifier RDS gave what was created or acted on (ARN, deployment id), if any.
    pub fn remote_id(&self) -> Option<&str> {
        match self {
            EffectOk::Snapshot(s) => Some(&s.arn),
            EffectOk::ParameterGroup(g) => Some(&g.name),
            EffectOk::BlueGreen(b) => Some(&b.identifier),
            EffectOk::Done => None,
        }
    }
}

/// A tracked resource an effect moves: `at_intent` before the call, `on_ok` after a success
/// (or after `NotFound` for a deletion: already gone), `on_error` after any other failure
/// (`None`: leave it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracked {
    pub kind: ResourceKind,
    pub name: String,
    pub at_intent: ResourceStatus,
    pub on_ok: ResourceStatus,
    pub on_error: Option<ResourceStatus>,
    pub detail: Option<String>,
}

/// What to record before the call.
#[derive(Debug, Clone, Copy)]
pub enum Intent<'a> {
    /// A step of a database: `pending|started -> started`, attempt counted.
    Step { db: &'a DbRow, step: &'a StepRow },
    /// No step (cleanup, abort): an event on this database (or none).
    Event { db_id: Option<i64> },
}

/// The outcome of an effect: the step row as it is after the intent was recorded, and the
/// call's result.
#[derive(Debug)]
pub struct Performed {
    pub step: Option<StepRow>,
    pub result: BResult<EffectOk>,
}

/// Performs effects and reads through one API budget, recording intent and outcome.
pub struct Executor {
    backend: Arc<dyn RdsBackend>,
    clock: SharedClock,
    budget: Arc<ApiBudget>,
    /// Requests made: shared with the gate that admits a describe's further pages.
    calls: Arc<AtomicU64>,
    throttled: bool,
    /// Attempts of a describe before its retryable error is returned (1: no retry).
    read_attempts: u32,
}

impl Executor {
    pub fn new(backend: Arc<dyn RdsBackend>, clock: SharedClock, budget: ApiBudget) -> Self {
        Executor {
            backend,
            clock,
            budget: Arc::new(budget),
            calls: Arc::new(AtomicU64::new(0)),
            throttled: false,
            read_attempts: 1,
        }
    }

    /// Retry describes that fail with a retryable error (throttled, transient) up to
    /// `attempts` times in all, with exponential backoff on the clock; every attempt takes its
    /// own token. For `cleanup` and `abort`, which must not stop on one throttled describe;
    /// the engine does not need it (the next tick describes again).
    pub fn with_read_retries(mut self, attempts: u32) -> Self {
        self.read_attempts = attempts.max(1);
        self
    }

    /// The gate through which a backend call's further requests take their tokens.
    fn gate(&self) -> Arc<dyn gate::RequestGate> {
        Arc::new(BudgetGate {
            budget: self.budget.clone(),
            clock: self.clock.clone(),
            calls: self.calls.clone(),
        })
    }

    /// One read (a describe) through the budget, retried per
    /// [`Executor::with_read_retries`]: its first request takes a token here, each further page
    /// or filter chunk one at the gate.
    async fn read<T, F, Fut>(&mut self, region: &str, call: F) -> BResult<T>
    where
        F: Fn(Arc<dyn RdsBackend>) -> Fut,
        Fut: std::future::Future<Output = BResult<T>>,
    {
        let mut attempt = 0;
        loop {
            self.token(region).await;
            let r = gate::scope(self.gate(), call(self.backend.clone())).await;
            self.note(&r);
            match r {
                Err(e) if e.is_retryable() && attempt + 1 < self.read_attempts => {
                    attempt += 1;
                    let wait = std::time::Duration::from_millis(500 << attempt.min(5));
                    tracing::debug!(region, error = %e, attempt, "describe failed; retrying");
                    self.clock.sleep(wait).await;
                }
                r => return r,
            }
        }
    }

    /// API calls made through this executor.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Was any call throttled since the last time this was asked? (Clears the flag.)
    pub fn take_throttled(&mut self) -> bool {
        std::mem::take(&mut self.throttled)
    }

    async fn token(&mut self, region: &str) {
        self.budget.acquire(&self.clock, region).await;
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    fn note<T>(&mut self, r: &BResult<T>) {
        if let Err(e) = r {
            if e.kind == ErrorKind::Throttled {
                self.throttled = true;
            }
        }
    }

    pub async fn describe_instances(
        &mut self,
        region: &str,
        q: &InstanceQuery,
    ) -> BResult<Vec<DbInstance>> {
        self.read(
            region,
            |b| async move { b.describe_instances(region, q).await },
        )
        .await
    }

    pub async fn describe_snapshots(
        &mut self,
        region: &str,
        q: &SnapshotQuery,
    ) -> BResult<Vec<Snapshot>> {
        self.read(
            region,
            |b| async move { b.describe_snapshots(region, q).await },
        )
        .await
    }

    pub async fn describe_blue_green(
        &mut self,
        region: &str,
        q: &BlueGreenQuery,
    ) -> BResult<Vec<BlueGreen>> {
        self.read(
            region,
            |b| async move { b.describe_blue_green(region, q).await },
        )
        .await
    }

    pub async fn describe_parameter_groups(
        &mut self,
        region: &str,
        names: &[String],
    ) -> BResult<Vec<ParameterGroup>> {
        self.read(region, |b| async move {
            b.describe_parameter_groups(region, names).await
        })
        .await
    }

    pub async fn describe_integrations(&mut self, region: &str) -> BResult<Vec<Integration>> {
        self.read(
            region,
            |b| async move { b.describe_integrations(region).await },
        )
        .await
    }

    pub async fn describe_log_files(
        &mut self,
        region: &str,
        instance: &str,
    ) -> BResult<Vec<LogFile>> {
        self.read(region, |b| async move {
            b.describe_log_files(region, instance).await
        })
        .await
    }

    /// One log file's text: its first portion takes a token here, each further one at the gate.
    pub async fn download_log_file(
        &mut self,
        region: &str,
        instance: &str,
        file: &str,
    ) -> BResult<String> {
        self.token(region).await;
        let call = self.backend.download_log_file(region, instance, file);
        let r = gate::scope(self.gate(), call).await;
        self.note(&r);
        r
    }

    /// The tags of one resource (`ListTagsForResource`), retried like a describe.
    pub async fn list_tags(&mut self, region: &str, arn: &str) -> BResult<Tags> {
        self.read(region, |b| async move { b.list_tags(region, arn).await })
            .await
    }

    pub async fn describe_instance_quota(&mut self, region: &str) -> BResult<Quota> {
        self.token(region).await;
        let r = self.backend.describe_instance_quota(region).await;
        self.note(&r);
        r
    }

    /// Perform `effect`: record `intent` (and `tracked`'s intent status), take a token per
    /// call, call, record the outcome. Store errors stop everything (the caller returns them);
    /// backend errors come back in [`Performed::result`].
    pub async fn perform(
        &mut self,
        store: &mut Store,
        intent: Intent<'_>,
        effect: &Effect,
        tracked: Option<&Tracked>,
    ) -> Result<Performed, StoreError> {
        let region = effect.region().to_string();
        let what = effect.describe();
        let now = self.clock.now();
        let (step, db_id, step_kind) = match intent {
            Intent::Step { db, step } => {
                let msg = if step.status == StepStatus::Started {
                    format!("reissue after unknown outcome: {what}")
                } else {
                    format!("intent: {what}")
                };
                tracing::info!(db = %db.identifier, region = %region, step = %step.kind, attempt = step.attempt + 1, "{msg}");
                store.transition(
                    db,
                    step.seq,
                    step.status,
                    StepStatus::Started,
                    StepUpdate::attempt(),
                    now,
                    &msg,
                )?;
                let mut s = step.clone();
                s.status = StepStatus::Started;
                s.attempt += 1;
                (Some(s), Some(db.id), Some(step.kind))
            }
            Intent::Event { db_id } => {
                store.event(db_id, None, "intent", &what, now)?;
                (None, db_id, None)
            }
        };
        if let Some(t) = tracked {
            store.set_resource(
                &region,
                t.kind,
                &t.name,
                t.at_intent,
                t.detail.as_deref(),
                now,
            )?;
        }
        let result = self.call(effect).await;
        if let Err(e) = &result {
            // A retried call is routine; what an operator must act on is said by the decision.
            tracing::debug!(op = %effect.op(), error = %e, request_id = e.request_id.as_deref().unwrap_or("-"), "call failed");
        }
        let now = self.clock.now();
        let outcome = match &result {
            Ok(_) => "ok".to_string(),
            Err(e) => e.to_string(),
        };
        store.event(
            db_id,
            step_kind,
            "outcome",
            &format!("{what}: {outcome}"),
            now,
        )?;
        if let Some(t) = tracked {
            let gone = matches!(&result, Err(e) if e.kind == ErrorKind::NotFound)
                && t.on_ok == ResourceStatus::Deleted;
            let status = if result.is_ok() || gone {
                Some(t.on_ok)
            } else {
                t.on_error
            };
            if let Some(s) = status {
                store.set_resource(&region, t.kind, &t.name, s, None, now)?;
            }
        }
        Ok(Performed { step, result })
    }

    /// The backend call(s) of an effect, each within the budget.
    async fn call(&mut self, effect: &Effect) -> BResult<EffectOk> {
        let b = self.backend.clone();
        let region = effect.region().to_string();
        if let Effect::ModifyParameterGroup {
            name, parameters, ..
        } = effect
        {
            for chunk in parameters.chunks(PARAMETERS_PER_CALL) {
                self.token(&region).await;
                let r = b.modify_parameter_group(&region, name, chunk).await;
                self.note(&r);
                r?;
            }
            return Ok(EffectOk::Done);
        }
        self.token(&region).await;
        // A call of several requests (a fresh describe before a delete) takes a token for each.
        let r = gate::scope(self.gate(), call_once(b.as_ref(), &region, effect)).await;
        self.note(&r);
        r
    }
}

/// One backend call for one effect (a parameter modification here is one chunk).
async fn call_once(b: &dyn RdsBackend, region: &str, effect: &Effect) -> BResult<EffectOk> {
    Ok(match effect {
        Effect::CreateSnapshot {
            instance,
            name,
            tags,
            ..
        } => EffectOk::Snapshot(b.create_snapshot(region, instance, name, tags).await?),
        Effect::CreateParameterGroup { group, .. } => {
            EffectOk::ParameterGroup(b.create_parameter_group(region, group).await?)
        }
        Effect::CreateBlueGreen { request, .. } => {
            EffectOk::BlueGreen(b.create_blue_green(region, request).await?)
        }
        Effect::Switchover {
            identifier,
            timeout_secs,
            ..
        } => EffectOk::BlueGreen(
            b.switchover_blue_green(region, identifier, *timeout_secs)
                .await?,
        ),
        Effect::AddTags { arn, tags, .. } => {
            b.add_tags(region, arn, tags).await?;
            EffectOk::Done
        }
        Effect::DeleteBlueGreen {
            identifier,
            delete_target,
            ..
        } => {
            b.delete_blue_green(region, identifier, *delete_target)
                .await?;
            EffectOk::Done
        }
        Effect::DeleteInstance {
            identifier,
            final_snapshot,
            ..
        } => {
            b.delete_instance(region, identifier, final_snapshot)
                .await?;
            EffectOk::Done
        }
        Effect::DeleteReadReplica { replica, .. } => {
            b.delete_read_replica(region, replica).await?;
            EffectOk::Done
        }
        Effect::SetDeletionProtection {
            identifier,
            enabled,
            ..
        } => {
            b.set_deletion_protection(region, identifier, *enabled)
                .await?;
            EffectOk::Done
        }
        Effect::DeleteParameterGroup { name, .. } => {
            b.delete_parameter_group(region, name).await?;
            EffectOk::Done
        }
        Effect::ModifyParameterGroup {
            name, parameters, ..
        } => {
            b.modify_parameter_group(region, name, parameters).await?;
            EffectOk::Done
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::sim::{init_world, InitOptions, SimBackend};

    /// Describes retried on a retryable error, every attempt through the budget (each one a
    /// token, so `calls()` counts it); an executor without retries returns the first error.
    #[tokio::test]
    async fn read_retries_are_charged_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.sqlite");
        let opts = InitOptions {
            databases: 3,
            clean: true,
            ..Default::default()
        };
        init_world(&path, &opts, 0).unwrap();
        let clock = Arc::new(ManualClock::new(0));
        let sim = Arc::new(SimBackend::open_with_clock(&path, clock.clone()).unwrap());
        // Every call fails once in two on average.
        sim.set_faults("5xx=0.5").unwrap();
        let budget = || ApiBudget::new(1000.0, 1.0);
        let mut retrying =
            Executor::new(sim.clone(), clock.clone(), budget()).with_read_retries(30);
        let before = sim.trail(false).unwrap().len();
        for _ in 0..5 {
            retrying
                .describe_instances("us-east-1", &InstanceQuery::default())
                .await
                .unwrap();
        }
        let made = sim.trail(false).unwrap().len() - before;
        assert_eq!(
            retrying.calls() as usize,
            made,
            "every attempt took a token"
        );
        assert!(made > 5, "no describe failed: the test tests nothing");
        let mut once = Executor::new(sim.clone(), clock, budget());
        let mut failed = 0;
        for _ in 0..32 {
            failed += once
                .describe_instances("us-east-1", &InstanceQuery::default())
                .await
                .is_err() as usize;
        }
        assert_eq!(once.calls(), 32, "no retry without with_read_retries");
        assert!(failed > 0);
    }

    /// Each page of a describe is a request of its own, admitted by the budget: at `rate` per
    /// second, no 1 s of the clock holds more than `rate` requests, and `calls()` counts pages.
    #[tokio::test]
    async fn every_page_of_a_describe_waits_for_its_own_token() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.sqlite");
        let opts = InitOptions {
            databases: 600,
            clean: true,
            ..Default::default()
        };
        init_world(&path, &opts, 0).unwrap();
        let clock = Arc::new(ManualClock::new(0));
        let sim = Arc::new(SimBackend::open_with_clock(&path, clock.clone()).unwrap());
        let mut exec = Executor::new(sim.clone(), clock.clone(), ApiBudget::new(2.0, 1.0));
        let before = sim.trail(false).unwrap().len();
        let all = exec
            .describe_instances("us-east-1", &InstanceQuery::default())
            .await
            .unwrap();
        let pages = all.len().div_ceil(100);
        assert!(pages >= 3, "the fixture needs several pages: {}", all.len());
        let trail = sim.trail(false).unwrap()[before..].to_vec();
        assert_eq!(trail.len(), pages, "one trail entry per page");
        assert_eq!(exec.calls() as usize, pages, "each page took a token");
        for w in trail.windows(3) {
            assert!(
                w[2].at - w[0].at >= 1000,
                "3 requests inside 1 s at rate 2: {w:?}"
            );
        }
    }
}
