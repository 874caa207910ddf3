//! The rollout state machine, in one file: for each strategy, the table of its steps - what
//! each step is, what it creates (and how that is named), what it must have observed, and the
//! pure functions that decide what happens next.
//!
//! A decision is a function of (the planned database, its state row, the current step, what
//! was observed this tick, the time) and nothing else: no IO, no clock, no store. The engine
//! (`crate::engine`) observes, asks [`next`], and carries the [`Decision`] out; a [`Call`]
//! goes through the one effect path (`crate::effects`), and its result comes back here to the
//! step's `on_outcome`, so every consequence of a call is decided in this file too. Errors are
//! judged in one place, [`error_policy`].
//!
//! Modelled on underway's `To::next / To::delay_for / To::done` and kube-rs's
//! `reconcile -> Action::requeue(d)` with one `error_policy`.
//!
//! Adding a step: a [`StepKind`] variant (`plan.rs`, the plan's vocabulary) and one row in the
//! strategy's table below with its `decide` and `on_outcome`. A new strategy is a new table.
//!
//! [`Call`]: Decision::Call

use crate::backend::{BResult, BackendError, ErrorKind, NewParameterGroup, Op};
use crate::clock::Millis;
use crate::domain::*;
use crate::effects::{Effect, EffectOk, Tracked};
use crate::naming;
use crate::plan::{PlannedDatabase, PlannedParameterGroup, StepKind, Strategy};
use crate::state::{DbState, ResourceKind, ResourceStatus, StepStatus, WaitReason};
use crate::store::{DbRow, StepRow};
use std::collections::HashMap;
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// The tables.

/// What a step must have seen this tick (each part is one batched describe per region).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Needs {
    pub instances: bool,
    pub snapshots: bool,
    pub blue_greens: bool,
    pub parameter_groups: bool,
}

const INSTANCES: Needs = Needs {
    instances: true,
    snapshots: false,
    blue_greens: false,
    parameter_groups: false,
};
const SNAPSHOTS: Needs = Needs {
    snapshots: true,
    ..NOTHING
};
const BLUE_GREENS: Needs = Needs {
    blue_greens: true,
    ..NOTHING
};
const PARAMETER_GROUPS: Needs = Needs {
    parameter_groups: true,
    ..NOTHING
};
const NOTHING: Needs = Needs {
    instances: false,
    snapshots: false,
    blue_greens: false,
    parameter_groups: false,
};

/// What a step creates, and so how its deterministic name is derived (`naming.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Creates {
    Nothing,
    /// `naming::snapshot_name(plan, db)`.
    Snapshot,
    /// The target parameter group (`naming::parameter_group_name`, shared by the databases
    /// whose source group is the same), or an AWS default group: created by nobody.
    TargetParameterGroup,
    /// `naming::blue_green_name(plan, db)`; later steps act on the same deployment.
    BlueGreenDeployment,
}

/// The consequence of a call, decided by the step that asked for it.
pub type OnOutcome = fn(&Input, &Effect, &BResult<EffectOk>) -> Decision;

/// One row of a strategy's table.
pub struct Step {
    pub kind: StepKind,
    pub creates: Creates,
    pub needs: Needs,
    pub decide: fn(&Input) -> Decision,
    pub on_outcome: OnOutcome,
}

/// An upgrade through a blue/green deployment, in order.
pub const BLUE_GREEN: &[Step] = &[
    Step {
        kind: StepKind::Precheck,
        creates: Creates::Nothing,
        needs: INSTANCES,
        decide: precheck,
        on_outcome: no_call,
    },
    Step {
        kind: StepKind::Snapshot,
        creates: Creates::Snapshot,
        needs: SNAPSHOTS,
        decide: snapshot,
        on_outcome: snapshot_outcome,
    },
    Step {
        kind: StepKind::ParameterGroup,
        creates: Creates::TargetParameterGroup,
        needs: PARAMETER_GROUPS,
        decide: parameter_group,
        on_outcome: parameter_group_outcome,
    },
    Step {
        kind: StepKind::CreateBlueGreen,
        creates: Creates::BlueGreenDeployment,
        needs: BLUE_GREENS,
        decide: create_blue_green,
        on_outcome: create_blue_green_outcome,
    },
    Step {
        kind: StepKind::WaitReady,
        creates: Creates::BlueGreenDeployment,
        needs: BLUE_GREENS,
        decide: wait_ready,
        on_outcome: no_call,
    },
    Step {
        kind: StepKind::Switchover,
        creates: Creates::BlueGreenDeployment,
        // Describes its own deployment again right before acting (`Need::FreshDeployment`).
        needs: NOTHING,
        decide: switchover,
        on_outcome: switchover_outcome,
    },
    Step {
        kind: StepKind::Verify,
        creates: Creates::Nothing,
        needs: INSTANCES,
        decide: verify,
        on_outcome: verify_outcome,
    },
];

/// The steps of a strategy. A replica that travels with its source has none: it mirrors its
/// source ([`mirror_source`]); a skipped database has none.
pub fn steps(strategy: Strategy) -> &'static [Step] {
    match strategy {
        Strategy::BlueGreen => BLUE_GREEN,
        Strategy::Skip | Strategy::WithSource => &[],
    }
}

/// The table row of a step kind.
pub fn step(kind: StepKind) -> &'static Step {
    BLUE_GREEN
        .iter()
        .find(|s| s.kind == kind)
        .expect("every StepKind has a row in a strategy table")
}

/// The deterministic name of what `kind` creates or acts on for `db` in plan `plan_id`.
/// `target_group` is the database's target parameter group (named by the plan).
pub fn resource_name(
    kind: StepKind,
    plan_id: &str,
    db: &PlannedDatabase,
    target_group: Option<&str>,
) -> Option<String> {
    match step(kind).creates {
        Creates::Nothing => None,
        Creates::Snapshot => Some(naming::snapshot_name(plan_id, &db.identifier)),
        Creates::TargetParameterGroup => target_group.map(String::from),
        Creates::BlueGreenDeployment => Some(naming::blue_green_name(plan_id, &db.identifier)),
    }
}

// ---------------------------------------------------------------------------------------------
// Inputs and decisions.

/// What one tick observed of one region (a part is `None` when it was not described, or its
/// describe failed: steps that need it wait).
#[derive(Debug, Default, Clone)]
pub struct Seen {
    pub instances: Option<HashMap<String, DbInstance>>,
    pub snapshots: Option<HashMap<String, Snapshot>>,
    pub blue_greens: Option<HashMap<String, BlueGreen>>,
    pub parameter_groups: Option<HashMap<String, ParameterGroup>>,
}

impl Seen {
    /// Was everything `needs` asks for observed?
    pub fn has(&self, needs: Needs) -> bool {
        (!needs.instances || self.instances.is_some())
            && (!needs.snapshots || self.snapshots.is_some())
            && (!needs.blue_greens || self.blue_greens.is_some())
            && (!needs.parameter_groups || self.parameter_groups.is_some())
    }
    fn instance(&self, id: &str) -> Option<&DbInstance> {
        self.instances.as_ref().and_then(|m| m.get(id))
    }
    fn snapshot(&self, id: &str) -> Option<&Snapshot> {
        self.snapshots.as_ref().and_then(|m| m.get(id))
    }
    fn blue_green(&self, name: &str) -> Option<&BlueGreen> {
        self.blue_greens.as_ref().and_then(|m| m.get(name))
    }
    fn parameter_group(&self, name: &str) -> Option<&ParameterGroup> {
        self.parameter_groups.as_ref().and_then(|m| m.get(name))
    }
}

/// The knobs decisions read, fixed for a run (plan settings, policy, engine options).
#[derive(Debug, Clone)]
pub struct Rules {
    pub switchover_timeout_secs: u32,
    /// Readiness guard: green must stay AVAILABLE this long before it counts as ready.
    pub readiness_stable: Millis,
    /// How long a created resource may stay invisible (eventual consistency).
    pub visibility_grace: Millis,
    /// How long a snapshot or a deployment may take.
    pub wait_timeout: Millis,
    /// How long verification may wait for the switched-over instance to settle.
    pub verify_timeout: Millis,
    /// How long the source may stay busy (backup window, modification) before it blocks.
    pub source_wait: Millis,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            switchover_timeout_secs: 300,
            readiness_stable: 0,
            visibility_grace: 300_000,
            wait_timeout: 24 * 3_600_000,
            verify_timeout: 3_600_000,
            source_wait: 3_600_000,
        }
    }
}

/// Switchover windows as of this tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub open: bool,
    /// When the next window opens (when closed and one is found within a week).
    pub opens_at: Option<Millis>,
}

impl Default for Window {
    fn default() -> Self {
        Window {
            open: true,
            opens_at: None,
        }
    }
}

/// The fresh describe of one deployment a switchover makes right before acting.
pub type Fresh = Result<Option<BlueGreen>, BackendError>;

/// What is described right before the switchover: green's instances, and the region's zero-ETL
/// integrations (none may exist on blue or green during a switchover).
#[derive(Debug, Clone)]
pub struct GreenSeen {
    pub instances: Result<Vec<DbInstance>, BackendError>,
    /// `Err` with `Unavailable`: the endpoint cannot say (moto); not checked.
    pub integrations: Result<Vec<Integration>, BackendError>,
}

/// The failing checks of the upgrade precheck log on a failed green, or why there are none to
/// show (no log, unreadable: moto cannot serve log files).
pub type Diagnosis = Result<Vec<crate::diagnosis::FailedCheck>, String>;

/// The tags of a parameter group (`ListTagsForResource`), or why they could not be read.
pub type GroupTags = Result<Tags, BackendError>;

/// Everything a decision may look at.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub now: Millis,
    pub plan_id: &'a str,
    pub db: &'a PlannedDatabase,
    pub row: &'a DbRow,
    pub step: &'a StepRow,
    pub seen: &'a Seen,
    pub rules: &'a Rules,
    pub window: Window,
    /// The parameter group this plan creates for the database's green side, and where the
    /// state file says it is (`None` for an AWS default group).
    pub group: Option<(&'a PlannedParameterGroup, Option<ResourceStatus>)>,
    /// `DBInstances` headroom in the region: `None` not read yet ([`Need::Quota`]),
    /// `Some(None)` the endpoint cannot say.
    pub quota_headroom: Option<Option<i64>>,
    /// The switchover's fresh describe ([`Need::FreshDeployment`]), once made.
    pub fresh: Option<&'a Fresh>,
    /// Green's instances, described right before the switchover ([`Need::Green`]).
    pub green: Option<&'a GreenSeen>,
    /// What the upgrade precheck log on a failed green says ([`Need::Diagnosis`]).
    pub diagnosis: Option<&'a Diagnosis>,
    /// The tags of the parameter group found under the plan's group name
    /// ([`Need::GroupTags`]), once read.
    pub group_tags: Option<&'a GroupTags>,
}

impl Input<'_> {
    fn name(&self, kind: StepKind) -> String {
        self.db.resource_name(kind).unwrap_or_default().to_string()
    }
    fn since(&self) -> Millis {
        self.step.started_at.unwrap_or(self.now)
    }
}

/// What to do with a step, or the database.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Nothing to record but why the database waits; look again next tick.
    Wait(WaitReason),
    /// Move the step (no call).
    Step(Change),
    /// Make a call through the effect path (`Tracked`: a resource it moves); the result goes
    /// to the step's `on_outcome`.
    Call(Effect, Option<Tracked>),
    /// Read something more first, then decide again.
    Need(Need),
    /// The database is finished: the current and every later step are done.
    Finish(Finish),
    /// Fail the step and the database, saying why.
    Fail(String),
    /// Leave the database untouched from now on (drift), saying why. Nothing was changed.
    Block(String),
    /// Stop at the switchover gate until an approval is recorded.
    AwaitApproval,
}

/// A step transition without a call.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub to: StepStatus,
    pub why: String,
    pub remote_id: Option<String>,
    /// The step's last error: `None` clears it.
    pub error: Option<String>,
    /// Do not act on the step before this time (backoff; the readiness guard). `Some(0)`
    /// resets it.
    pub not_before: Option<Millis>,
    /// Why the database waits after this change (`None`: it does not).
    pub wait: Option<WaitReason>,
}

impl Change {
    pub fn to(to: StepStatus, why: impl Into<String>) -> Change {
        Change {
            to,
            why: why.into(),
            remote_id: None,
            error: None,
            not_before: None,
            wait: None,
        }
    }
    fn remote(mut self, id: impl Into<String>) -> Change {
        self.remote_id = Some(id.into());
        self
    }
    fn waiting(mut self, w: WaitReason) -> Change {
        self.wait = Some(w);
        self
    }
    fn not_before(mut self, t: Millis) -> Change {
        self.not_before = Some(t);
        self
    }
}

/// A finished database: why, the step's last word, and a resource to record.
#[derive(Debug, Clone, PartialEq)]
pub struct Finish {
    pub note: String,
    pub why: String,
    pub remote_id: Option<String>,
    /// Resources to record (the old instance and its old replicas, kept for rollback).
    pub records: Vec<Record>,
}

/// A tracked resource to record in the state file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub kind: ResourceKind,
    pub name: String,
    pub status: ResourceStatus,
    pub detail: Option<String>,
}

/// An extra read a decision asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// The region's `DBInstances` quota (read at most once per region per tick).
    Quota,
    /// One deployment, described again right before an irreversible call.
    FreshDeployment(String),
    /// Green's instances (one batched describe), to confirm green is what was planned.
    Green(Vec<String>),
    /// The upgrade precheck log of a failed green instance.
    Diagnosis(String),
    /// The tags of a parameter group found under the plan's group name, when the state file
    /// does not say it is ours: once per group (the engine keeps the answer for the run).
    GroupTags { name: String, arn: String },
}

/// Attempts of a call refused with `InvalidState` before the database fails.
pub const MAX_INVALID_STATE_RETRIES: i64 = 8;

/// Backoff after the `attempt`-th failed attempt: 5 s doubling, at most 300 s.
pub fn backoff(attempt: i64) -> Duration {
    let secs = 5u64.saturating_mul(1u64 << attempt.clamp(0, 6) as u32);
    Duration::from_secs(secs.min(300))
}

/// The next decision for the database's current step: the generic rules (a failed step fails
/// the database; a step backing off waits), then the step's own `decide`.
pub fn next(i: &Input) -> Decision {
    if i.step.status == StepStatus::Failed {
        return Decision::Fail(
            i.step
                .last_error
                .clone()
                .unwrap_or_else(|| "step failed".into()),
        );
    }
    if i.step.status == StepStatus::Pending && i.now < i.step.not_before {
        return Decision::Wait(WaitReason::Retry {
            until: i.step.not_before,
            error: i.step.last_error.clone().unwrap_or_default(),
        });
    }
    (step(i.step.kind).decide)(i)
}

/// The one error policy for calls: throttled and transient errors back off; quota waits
/// longer; `InvalidState` (the source briefly busy: `backing-up` after our snapshot,
/// `modifying` by someone else) is retried a bounded number of times; everything else fails
/// the database loudly.
pub fn error_policy(i: &Input, e: &BackendError, op: Op) -> Decision {
    let extra = match e.kind {
        ErrorKind::Throttled | ErrorKind::Transient => Duration::ZERO,
        ErrorKind::QuotaExceeded => Duration::from_secs(120),
        ErrorKind::InvalidState if i.step.attempt < MAX_INVALID_STATE_RETRIES => {
            Duration::from_secs(60)
        }
        _ => return Decision::Fail(format!("{op} failed: {e}")),
    };
    let at = i.now + (backoff(i.step.attempt) + extra).as_millis() as Millis;
    let msg = format!("{e} (will retry)");
    let mut c = Change::to(StepStatus::Pending, msg.clone()).not_before(at);
    c.error = Some(msg);
    c.wait = Some(WaitReason::Retry {
        until: at,
        error: e.to_string(),
    });
    Decision::Step(c)
}

/// `on_outcome` of a step that never calls anything.
fn no_call(i: &Input, effect: &Effect, _: &BResult<EffectOk>) -> Decision {
    Decision::Fail(format!(
        "internal: step {} does not call {}",
        i.step.kind,
        effect.op()
    ))
}

/// A resource created earlier that cannot be seen: eventual consistency for a while, then
/// somebody deleted it. Don't guess; fail loudly.
fn invisible(i: &Input, what: &str) -> Decision {
    if i.now - i.since() > i.rules.visibility_grace {
        return Decision::Fail(format!("{what} was created but can no longer be found"));
    }
    Decision::Wait(WaitReason::Aws {
        what: what.to_string(),
        status: "not visible yet".into(),
    })
}

/// What a failed green's precheck log says, for the failure reason.
fn diagnosis_text(d: Option<&Diagnosis>) -> String {
    match d {
        Some(Ok(checks)) if !checks.is_empty() => {
            let errors = crate::diagnosis::errors(checks);
            let shown = if errors.is_empty() {
                checks.iter().collect()
            } else {
                errors
            };
            let list: Vec<String> = shown
                .iter()
                .map(|c| format!("{}: {}", c.check, c.fix))
                .collect();
            format!(
                ". The upgrade prechecks on green failed - fix on blue, then plan again: {}",
                list.join("; ")
            )
        }
        Some(Ok(_)) => ". No upgrade precheck log on green; inspect the deployment".into(),
        Some(Err(e)) => {
            format!(". The upgrade precheck log could not be read ({e}); inspect the deployment")
        }
        None => ". Inspect the deployment".into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Blue/green: the decisions, in table order.

/// Re-verify the source right before touching it: it must still be what was planned.
fn precheck(i: &Input) -> Decision {
    let p = i.db;
    let Some(live) = i.seen.instance(&p.identifier) else {
        return Decision::Block(format!("drift: instance {} no longer exists", p.identifier));
    };
    let target = p.to_version.clone().unwrap_or_default();
    if live.engine_version == target {
        let why = "already on the target version (upgraded out of band)".to_string();
        return Decision::Finish(Finish {
            note: why.clone(),
            why,
            remote_id: None,
            records: vec![],
        });
    }
    if live.engine_version != p.from_version {
        return Decision::Block(format!(
            "drift: engine version is {} but the plan was made for {}; plan again",
            live.engine_version, p.from_version
        ));
    }
    let live_pg = live.parameter_group().map(|g| g.name.clone());
    if live_pg != p.source.parameter_group {
        return Decision::Block(format!(
            "drift: parameter group is {} but the plan was made for {}; plan again",
            live_pg.unwrap_or_default(),
            p.source.parameter_group.clone().unwrap_or_default()
        ));
    }
    let pg_sync = live
        .parameter_group()
        .map(|g| g.apply_status == "in-sync")
        .unwrap_or(true);
    if live.status == "available" && pg_sync && live.pending_modifications.is_empty() {
        return Decision::Step(Change::to(StepStatus::Done, "source verified"));
    }
    // Transient (a backup window, a modification in progress): wait, within limits.
    let detail = format!(
        "instance status {} / parameter group {} / pending {:?}",
        live.status,
        if pg_sync { "in-sync" } else { "not in-sync" },
        live.pending_modifications
    );
    if i.now - i.since() > i.rules.source_wait {
        return Decision::Block(format!("precheck: {detail} for over an hour"));
    }
    let wait = WaitReason::Source { detail };
    if i.step.status == StepStatus::Pending {
        let why = format!(
            "waiting for {} to be available (status {})",
            live.identifier, live.status
        );
        return Decision::Step(Change::to(StepStatus::Waiting, why).waiting(wait));
    }
    Decision::Wait(wait)
}

fn snapshot(i: &Input) -> Decision {
    let p = i.db;
    let name = i.name(StepKind::Snapshot);
    if let Some(s) = i.seen.snapshot(&name) {
        if s.instance_identifier != p.identifier {
            return Decision::Fail(format!(
                "snapshot {name} exists but belongs to {}; refusing to adopt it",
                s.instance_identifier
            ));
        }
        return match s.status.as_str() {
            "available" => {
                Decision::Step(Change::to(StepStatus::Done, "snapshot available").remote(&s.arn))
            }
            "failed" | "error" | "incompatible-restore" => Decision::Fail(format!(
                "pre-upgrade snapshot {name} failed (status {})",
                s.status
            )),
            _ => {
                let why = if i.step.status == StepStatus::Waiting {
                    "snapshot in progress"
                } else {
                    "adopted existing snapshot"
                };
                Decision::Step(Change::to(StepStatus::Waiting, why).remote(&s.arn).waiting(
                    WaitReason::Aws {
                        what: format!("snapshot {name}"),
                        status: s.status.clone(),
                    },
                ))
            }
        };
    }
    if i.step.status == StepStatus::Waiting {
        return invisible(i, &format!("snapshot {name}"));
    }
    Decision::Call(
        Effect::CreateSnapshot {
            region: p.region.clone(),
            instance: p.identifier.clone(),
            name,
            tags: managed_tags(i.plan_id),
        },
        None,
    )
}

fn snapshot_outcome(i: &Input, effect: &Effect, r: &BResult<EffectOk>) -> Decision {
    let name = i.name(StepKind::Snapshot);
    let wait = WaitReason::Aws {
        what: format!("snapshot {name}"),
        status: "creating".into(),
    };
    match r {
        Ok(ok) => {
            let mut c = Change::to(StepStatus::Waiting, "snapshot creation started").waiting(wait);
            c.remote_id = ok.remote_id().map(String::from);
            Decision::Step(c)
        }
        Err(e) if e.kind == ErrorKind::AlreadyExists => Decision::Step(
            Change::to(StepStatus::Waiting, "snapshot already exists: adopted").waiting(wait),
        ),
        Err(e) => error_policy(i, e, effect.op()),
    }
}

/// The target parameter group: created once (it may be shared), then configured. Both calls
/// are idempotent by name. A group found under the name is adopted only with the right family,
/// and only when it is this plan's ([`adopt_group`]).
fn parameter_group(i: &Input) -> Decision {
    let p = i.db;
    let Some(target) = &p.target else {
        return Decision::Fail("plan has no target for this database".into());
    };
    let name = target.parameter_group.clone();
    let Some((planned, status)) = i.group else {
        // An AWS default group for the new family: nothing to create.
        return Decision::Step(
            Change::to(StepStatus::Done, "default parameter group").remote(name),
        );
    };
    if status.is_some_and(|s| s.is_configured()) {
        return Decision::Step(Change::to(StepStatus::Done, "parameter group ready").remote(name));
    }
    match i.seen.parameter_group(&name) {
        Some(g) if g.family != planned.family => {
            Decision::Fail(format!("parameter group {name} exists with another family"))
        }
        Some(g) => adopt_group(i, planned, g, status),
        None => Decision::Call(
            Effect::CreateParameterGroup {
                region: p.region.clone(),
                group: NewParameterGroup {
                    name: name.clone(),
                    family: planned.family.clone(),
                    description: planned.description.clone(),
                    tags: managed_tags(i.plan_id),
                },
            },
            Some(Tracked {
                kind: ResourceKind::ParameterGroup,
                name,
                at_intent: ResourceStatus::Started,
                on_ok: ResourceStatus::Created,
                on_error: None,
                detail: Some(planned.family.clone()),
            }),
        ),
    }
}

/// A group already exists under the plan's name. Configuring it records it as this plan's
/// (`created`, then `done`), and `abort` deletes such a group once nothing uses it: so it is
/// adopted only when it is ours - the state file says our `CreateDBParameterGroup` succeeded
/// (`created`), or the group carries this plan's tags (an earlier attempt whose state file was
/// lost, or whose outcome was never recorded: a `started` row is also what an `AlreadyExists`
/// answer leaves, so it proves nothing). Tags are read only here, once per group
/// ([`Need::GroupTags`]): `DescribeDBParameterGroups` returns none.
///
/// Someone else's group is never modified; the database waits for an operator rather than
/// failing, because planning again would derive the same name (it comes from the plan's
/// content): the fix is to move that group out of the way, then resume.
fn adopt_group(
    i: &Input,
    planned: &PlannedParameterGroup,
    found: &ParameterGroup,
    status: Option<ResourceStatus>,
) -> Decision {
    if status == Some(ResourceStatus::Created) {
        return configure_group(planned);
    }
    let Some(tags) = i.group_tags else {
        return Decision::Need(Need::GroupTags {
            name: found.name.clone(),
            arn: found.arn.clone(),
        });
    };
    let name = &found.name;
    match tags {
        Ok(t) if is_managed(t, Some(i.plan_id)) => configure_group(planned),
        Ok(t) => {
            let whose = match t.get(TAG_PLAN_ID) {
                Some(other) if is_managed(t, None) => {
                    format!("it is tagged by another rdsfleet plan, {other}")
                }
                _ => "it does not carry this plan's rdsfleet tags".to_string(),
            };
            Decision::Wait(WaitReason::Operator {
                detail: format!(
                    "parameter group {name} already exists and was not created by this plan ({whose}); \
                     it was not modified and rdsfleet will never delete it. Delete it (copy it under \
                     another name first if something uses it), then `rdsfleet resume`; or leave this \
                     database out: `rdsfleet abort --db {}`",
                    i.db.identifier
                ),
            })
        }
        // Deleted since the describe: the next tick sees it gone and creates ours.
        Err(e) if e.kind == ErrorKind::NotFound => Decision::Wait(WaitReason::Aws {
            what: format!("parameter group {name}"),
            status: "gone while its tags were read".into(),
        }),
        Err(e) if e.is_retryable() => error_policy(i, e, Op::ListTagsForResource),
        Err(e) => Decision::Wait(WaitReason::Operator {
            detail: format!(
                "cannot tell whether parameter group {name} is this plan's: its tags could not be \
                 read ({e}); it was not modified. Allow rds:ListTagsForResource (`rdsfleet \
                 iam-policy`), then `rdsfleet resume`"
            ),
        }),
    }
}

/// `ModifyDBParameterGroup` is idempotent: (re)apply every parameter.
fn configure_group(planned: &PlannedParameterGroup) -> Decision {
    Decision::Call(
        Effect::ModifyParameterGroup {
            region: planned.region.clone(),
            name: planned.name.clone(),
            parameters: planned.parameters.clone(),
        },
        Some(Tracked {
            kind: ResourceKind::ParameterGroup,
            name: planned.name.clone(),
            at_intent: ResourceStatus::Created,
            on_ok: ResourceStatus::Done,
            on_error: None,
            detail: None,
        }),
    )
}

fn parameter_group_outcome(i: &Input, effect: &Effect, r: &BResult<EffectOk>) -> Decision {
    let name = i.db.target.as_ref().map(|t| t.parameter_group.clone());
    let name = name.unwrap_or_default();
    match (effect, r) {
        (Effect::CreateParameterGroup { .. }, Ok(_)) => match i.group {
            Some((planned, _)) => configure_group(planned),
            None => Decision::Fail(format!(
                "internal: created {name} but the plan has no such group"
            )),
        },
        // Ours from an earlier attempt, or a stranger's: the next observation shows its
        // family, and its tags whose it is (`adopt_group`).
        (Effect::CreateParameterGroup { .. }, Err(e)) if e.kind == ErrorKind::AlreadyExists => {
            Decision::Wait(WaitReason::Aws {
                what: format!("parameter group {name}"),
                status: "exists; checking whose it is".into(),
            })
        }
        (Effect::ModifyParameterGroup { .. }, Ok(_)) => {
            Decision::Step(Change::to(StepStatus::Done, "parameter group created").remote(name))
        }
        (_, Err(e)) => error_policy(i, e, effect.op()),
        (_, Ok(_)) => no_call(i, effect, r),
    }
}

fn create_blue_green(i: &Input) -> Decision {
    let p = i.db;
    let name = i.name(StepKind::CreateBlueGreen);
    if let Some(bg) = i.seen.blue_green(&name) {
        if bg.source != p.arn {
            return Decision::Fail(format!(
                "blue/green deployment {name} exists for another source ({}); refusing to adopt it",
                bg.source
            ));
        }
        let why = if i.step.status == StepStatus::Pending {
            "adopted existing blue/green deployment"
        } else {
            "blue/green deployment created"
        };
        return Decision::Step(Change::to(StepStatus::Done, why).remote(&bg.identifier));
    }
    if i.step.status == StepStatus::Waiting {
        return invisible(i, &format!("blue/green deployment {name}"));
    }
    let Some(target) = &p.target else {
        return Decision::Fail("plan has no target for this database".into());
    };
    let need = green_instances(p);
    match i.quota_headroom {
        None => return Decision::Need(Need::Quota),
        Some(Some(have)) if have < need => {
            return Decision::Wait(WaitReason::QuotaHeadroom {
                region: p.region.clone(),
                need,
                have,
            })
        }
        Some(_) => {}
    }
    Decision::Call(
        Effect::CreateBlueGreen {
            region: p.region.clone(),
            request: CreateBlueGreen {
                name,
                source_arn: p.arn.clone(),
                target_engine_version: target.engine_version.clone(),
                target_parameter_group: Some(target.parameter_group.clone()),
                target_instance_class: target.instance_class.clone(),
                target_storage_type: target.storage_type.clone(),
                target_iops: target.iops,
                target_storage_throughput: target.storage_throughput,
                target_allocated_storage: target.allocated_storage_gib,
                tags: managed_tags(i.plan_id),
            },
        },
        None,
    )
}

/// Instances a deployment adds to the `DBInstances` quota: green for the source and for each
/// replica that travels with it.
pub fn green_instances(p: &PlannedDatabase) -> i64 {
    1 + p.replicas.len() as i64
}

fn create_blue_green_outcome(i: &Input, effect: &Effect, r: &BResult<EffectOk>) -> Decision {
    let wait = WaitReason::Aws {
        what: "green environment".into(),
        status: "PROVISIONING".into(),
    };
    match r {
        Ok(ok) => {
            let mut c =
                Change::to(StepStatus::Waiting, "blue/green deployment created").waiting(wait);
            c.remote_id = ok.remote_id().map(String::from);
            Decision::Step(c)
        }
        Err(e) if e.kind == ErrorKind::AlreadyExists => Decision::Step(
            Change::to(
                StepStatus::Waiting,
                "blue/green deployment already exists: adopting",
            )
            .waiting(wait),
        ),
        Err(e) => error_policy(i, e, effect.op()),
    }
}

/// Green is ready when the deployment is AVAILABLE, and - with a readiness guard - still
/// AVAILABLE `readiness_stable` later (green can go back to `storage-optimization`).
fn wait_ready(i: &Input) -> Decision {
    let name = i.name(StepKind::WaitReady);
    let since = i.step.started_at.or(i.step.finished_at).unwrap_or(i.now);
    let Some(bg) = i.seen.blue_green(&name) else {
        if i.step.status == StepStatus::Pending {
            return Decision::Step(Change::to(StepStatus::Waiting, "waiting for deployment"));
        }
        return invisible(i, &format!("blue/green deployment {name}"));
    };
    match &bg.status {
        BgStatus::Available | BgStatus::SwitchoverInProgress | BgStatus::SwitchoverCompleted => {
            let stable = i.rules.readiness_stable;
            if bg.status == BgStatus::Available && stable > 0 {
                if i.step.status == StepStatus::Pending || i.step.not_before == 0 {
                    let until = i.now + stable;
                    return Decision::Step(
                        Change::to(
                            StepStatus::Waiting,
                            "green AVAILABLE; readiness guard running",
                        )
                        .remote(&bg.identifier)
                        .not_before(until)
                        .waiting(WaitReason::ReadinessGuard { until }),
                    );
                }
                if i.now < i.step.not_before {
                    return Decision::Wait(WaitReason::ReadinessGuard {
                        until: i.step.not_before,
                    });
                }
            }
            Decision::Step(
                Change::to(StepStatus::Done, "green environment available").remote(&bg.identifier),
            )
        }
        BgStatus::InvalidConfiguration | BgStatus::SwitchoverFailed => {
            let why = format!(
                "blue/green deployment {name} is {}{}; blue is untouched",
                bg.status,
                bg.status_details
                    .as_deref()
                    .map(|s| format!(" ({s})"))
                    .unwrap_or_default()
            );
            // Why green failed is in the upgrade precheck log on green: read it once, say it.
            let green = bg.target_identifiers().into_iter().next();
            match (
                bg.status == BgStatus::InvalidConfiguration,
                green,
                i.diagnosis,
            ) {
                (true, Some(g), None) => Decision::Need(Need::Diagnosis(g)),
                (_, _, d) => Decision::Fail(format!(
                    "{why}{}. Then `rdsfleet abort` to delete the deployment",
                    diagnosis_text(d)
                )),
            }
        }
        BgStatus::Deleting => Decision::Fail(format!(
            "blue/green deployment {name} is being deleted by someone else"
        )),
        other => {
            if i.now - since > i.rules.wait_timeout {
                return Decision::Fail(format!(
                    "blue/green deployment {name} still {other} after the wait timeout"
                ));
            }
            if i.step.status == StepStatus::Waiting && i.step.not_before != 0 {
                // Was AVAILABLE during the readiness guard and left it: start the guard over.
                let mut c = Change::to(
                    StepStatus::Waiting,
                    format!("green left AVAILABLE ({other}); readiness guard reset"),
                );
                c.not_before = Some(0);
                return Decision::Step(c);
            }
            let wait = WaitReason::Aws {
                what: "green environment".into(),
                status: other.to_string(),
            };
            if i.step.status == StepStatus::Pending {
                return Decision::Step(
                    Change::to(StepStatus::Waiting, "provisioning")
                        .remote(&bg.identifier)
                        .waiting(wait),
                );
            }
            Decision::Wait(wait)
        }
    }
}

/// The irreversible call: only with a recorded approval, inside a window, after describing the
/// deployment again. A failed switchover (RDS rolled back; blue still serving) is never retried.
fn switchover(i: &Input) -> Decision {
    let p = i.db;
    let name = i.name(StepKind::Switchover);
    if !i.row.approved {
        return Decision::AwaitApproval;
    }
    if i.step.status == StepStatus::Pending && !i.window.open {
        return Decision::Wait(WaitReason::Window {
            opens_at: i.window.opens_at,
        });
    }
    let Some(fresh) = i.fresh else {
        return Decision::Need(Need::FreshDeployment(name));
    };
    let bg = match fresh {
        Ok(bg) => bg,
        Err(e) if e.is_retryable() => {
            return Decision::Wait(WaitReason::Aws {
                what: format!("blue/green deployment {name}"),
                status: format!("describe failed ({}); retrying", e.kind),
            })
        }
        Err(e) => return Decision::Fail(format!("DescribeBlueGreenDeployments failed: {e}")),
    };
    let Some(bg) = bg else {
        return Decision::Fail(format!("blue/green deployment {name} no longer exists"));
    };
    let pending = i.step.status == StepStatus::Pending;
    match &bg.status {
        BgStatus::SwitchoverCompleted => {
            let why = if pending {
                "switchover already completed: adopted"
            } else {
                "switchover completed"
            };
            Decision::Step(Change::to(StepStatus::Done, why).remote(&bg.identifier))
        }
        BgStatus::SwitchoverInProgress => {
            let why = if pending {
                "adopted switchover in progress"
            } else {
                "switchover in progress"
            };
            Decision::Step(Change::to(StepStatus::Waiting, why).waiting(WaitReason::Aws {
                what: "switchover".into(),
                status: bg.status.to_string(),
            }))
        }
        BgStatus::SwitchoverFailed => Decision::Fail(format!(
            "switchover of {name} failed and RDS rolled it back: blue {} is still serving and writable. Not retried automatically; investigate, then abort or plan again",
            p.identifier
        )),
        BgStatus::Available if i.step.status == StepStatus::Waiting => {
            // We switched, and it is AVAILABLE again: rolled back without a failure status, or
            // not yet visible. Give it the grace period, then fail without retrying.
            if i.now - i.since() > i.rules.visibility_grace {
                return Decision::Fail(format!(
                    "switchover of {name} was requested but the deployment is AVAILABLE again (rolled back); blue is still serving; not retried"
                ));
            }
            Decision::Wait(WaitReason::Aws {
                what: "switchover".into(),
                status: "requested; deployment still AVAILABLE".into(),
            })
        }
        BgStatus::Available => {
            // The irreversible call: first confirm green is what was planned.
            let Some(green) = i.green else {
                return Decision::Need(Need::Green(bg.target_identifiers()));
            };
            if let Some(d) = green_guard(i, bg, green) {
                return d;
            }
            Decision::Call(
                Effect::Switchover {
                    region: p.region.clone(),
                    identifier: bg.identifier.clone(),
                    timeout_secs: i.rules.switchover_timeout_secs,
                },
                None,
            )
        }
        other => Decision::Fail(format!(
            "blue/green deployment {name} is {other}; cannot switch over"
        )),
    }
}

/// The guard before the switchover: every green instance is there, available, on the target
/// version, with the planned parameter group in sync. A wrong version or group fails (never
/// switch to something that was not planned); a group still applying, or green not yet
/// available, waits with the reason.
fn green_guard(i: &Input, bg: &BlueGreen, green: &GreenSeen) -> Option<Decision> {
    let p = i.db;
    let target = p.target.as_ref()?;
    let greens = match &green.instances {
        Ok(g) => g,
        Err(e) => {
            return Some(Decision::Wait(WaitReason::Green {
                detail: format!("could not describe green ({}); retrying", e.kind),
            }))
        }
    };
    let ids = bg.target_identifiers();
    let want = 1 + p.replicas.len();
    let missing: Vec<&String> = ids
        .iter()
        .filter(|id| !greens.iter().any(|g| &g.identifier == *id))
        .collect();
    if ids.len() < want || !missing.is_empty() {
        return Some(Decision::Fail(format!(
            "green has {} of the {want} planned instances (missing: {}); not switched over. `rdsfleet abort`, then plan again",
            ids.len() - missing.len(),
            if missing.is_empty() { "replicas".to_string() } else { missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ") }
        )));
    }
    let mut waits = Vec::new();
    let mut operator = Vec::new();
    // "During switchover, the blue and green environments can't have zero-ETL integrations
    // with Amazon Redshift. You must delete the integration first and switch over, then
    // recreate the integration." (RDS User Guide, blue/green limitations.)
    match &green.integrations {
        Ok(all) => {
            let arns: Vec<&str> = std::iter::once(p.arn.as_str())
                .chain(greens.iter().map(|g| g.arn.as_str()))
                .collect();
            for it in all
                .iter()
                .filter(|it| arns.contains(&it.source_arn.as_str()))
            {
                operator.push(format!(
                    "zero-ETL integration {} must be deleted before the switchover (recreate it after)",
                    it.name
                ));
            }
        }
        Err(e) if e.kind == ErrorKind::Unavailable => {}
        Err(e) => waits.push(format!("could not list zero-ETL integrations ({})", e.kind)),
    }
    for g in greens.iter().filter(|g| ids.contains(&g.identifier)) {
        if !g
            .engine_version
            .eq_ignore_ascii_case(&target.engine_version)
        {
            return Some(Decision::Fail(format!(
                "green {} runs {}, not the planned {}; not switched over. `rdsfleet abort`, then plan again",
                g.identifier, g.engine_version, target.engine_version
            )));
        }
        let pg = g.parameter_group();
        match pg {
            Some(pg) if pg.name != target.parameter_group => {
                return Some(Decision::Fail(format!(
                    "green {} uses parameter group {}, not the planned {}; not switched over. `rdsfleet abort`, then plan again",
                    g.identifier, pg.name, target.parameter_group
                )))
            }
            Some(pg) if pg.apply_status == "pending-reboot" => operator.push(format!(
                "{}: parameter group {} is pending-reboot: reboot green ({}), then resume",
                g.identifier, pg.name, g.identifier
            )),
            Some(pg) if pg.apply_status != "in-sync" => waits.push(format!(
                "{}: parameter group {} is {}",
                g.identifier, pg.name, pg.apply_status
            )),
            _ => {}
        }
        if g.status != "available" {
            waits.push(format!("{} is {}", g.identifier, g.status));
        }
        // Green copies blue's deletion protection; only an interrupted `abort` turns it off.
        // Never put an unprotected green into production in place of a protected blue.
        if p.source.deletion_protection && !g.deletion_protection {
            operator.push(format!(
                "{} lost blue's deletion protection (an interrupted abort?): finish `rdsfleet abort`, or turn it back on",
                g.identifier
            ));
        }
    }
    if !operator.is_empty() {
        return Some(Decision::Wait(WaitReason::Operator {
            detail: operator.join("; "),
        }));
    }
    (!waits.is_empty()).then(|| {
        Decision::Wait(WaitReason::Green {
            detail: waits.join("; "),
        })
    })
}

fn switchover_outcome(i: &Input, effect: &Effect, r: &BResult<EffectOk>) -> Decision {
    match r {
        Ok(ok) => {
            let mut c =
                Change::to(StepStatus::Waiting, "switchover started").waiting(WaitReason::Aws {
                    what: "switchover".into(),
                    status: BgStatus::SwitchoverInProgress.to_string(),
                });
            c.remote_id = ok.remote_id().map(String::from);
            Decision::Step(c)
        }
        // InvalidState (a member briefly busy) is retried a bounded number of times.
        Err(e) => error_policy(i, e, effect.op()),
    }
}

/// After switchover: the production name runs the target version on the new instance, every
/// replica too, and the old instance is there to roll back to. The old instance and its old
/// replicas (switchover renames blue's replicas too) are tagged as this plan's leftovers, one
/// per tick, so that `cleanup` may later delete them, and nothing else.
fn verify(i: &Input) -> Decision {
    let (problems, old) = verify_problems(i);
    if problems.is_empty() {
        let old = old.unwrap_or_default();
        return match leftovers(i, &old)
            .into_iter()
            .find(|(l, _)| !is_managed(&l.tags, Some(i.plan_id)))
        {
            Some((inst, role)) => tag_leftover(i, inst, role),
            None => verified(i, &old, None),
        };
    }
    let wait = WaitReason::Verify {
        detail: problems.join("; "),
    };
    if i.step.status == StepStatus::Pending {
        return Decision::Step(Change::to(StepStatus::Waiting, "verifying").waiting(wait));
    }
    if i.now - i.since() > i.rules.verify_timeout {
        return Decision::Fail(format!("verification failed: {}", problems.join("; ")));
    }
    Decision::Wait(wait)
}

/// What a switchover left of this database, as observed: the old instance, and the old copy
/// of each planned replica that replicates it (`<replica>-oldN`).
fn leftovers<'a>(i: &Input<'a>, old: &str) -> Vec<(&'a DbInstance, &'static str)> {
    let Some(o) = i.seen.instance(old) else {
        return vec![];
    };
    let mut v = vec![(o, "old-instance")];
    let of_old = |x: &DbInstance| {
        x.read_replica_source
            .as_deref()
            .is_some_and(|s| s == old || s.ends_with(&format!(":{old}")))
    };
    for r in &i.db.replicas {
        if let Some(x) = (1..=9)
            .filter_map(|n| i.seen.instance(&format!("{r}-old{n}")))
            .find(|x| of_old(x))
        {
            v.push((x, "old-replica"));
        }
    }
    v
}

fn tag_leftover(i: &Input, inst: &DbInstance, role: &str) -> Decision {
    let mut tags = managed_tags(i.plan_id);
    tags.insert("rdsfleet:role".into(), role.into());
    tags.insert(
        "rdsfleet:upgraded-to".into(),
        i.db.to_version.clone().unwrap_or_default(),
    );
    Decision::Call(
        Effect::AddTags {
            region: i.db.region.clone(),
            arn: inst.arn.clone(),
            tags,
        },
        None,
    )
}

/// What still differs from a finished upgrade, and the old instance's name if found.
fn verify_problems(i: &Input) -> (Vec<String>, Option<String>) {
    let p = i.db;
    let target = p.to_version.clone().unwrap_or_default();
    let mut problems: Vec<String> = Vec::new();
    let old_named = |n: u32| format!("{}-old{n}", p.identifier);
    match i.seen.instance(&p.identifier) {
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
            // The production name must now be the green instance, whose DbiResourceId differs
            // from the source's. An old `-oldN` instance that carries the source's id proves
            // the rename happened: an endpoint that repeats resource ids across instances
            // (moto gives every instance the same one) must not stall verify.
            let renamed_old_has_source_id = (1..=9).any(|n| {
                i.seen
                    .instance(&old_named(n))
                    .is_some_and(|o| o.dbi_resource_id == p.source.dbi_resource_id)
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
        match i.seen.instance(r) {
            Some(live) if live.engine_version == target => {}
            Some(live) => problems.push(format!("replica {r} runs {}", live.engine_version)),
            None => problems.push(format!("replica {r} not found")),
        }
    }
    let old = (1..=9)
        .filter_map(|n| i.seen.instance(&old_named(n)))
        .find(|o| o.engine_version == p.from_version)
        .map(|o| o.identifier.clone());
    if old.is_none() {
        problems.push(format!("old instance {}-oldN not found", p.identifier));
    }
    (problems, old)
}

/// The database is upgraded: record the old instance and its old replicas as kept (their
/// retention clock starts at the switchover) and finish.
fn verified(i: &Input, old: &str, tag_error: Option<&BackendError>) -> Decision {
    let target = i.db.to_version.clone().unwrap_or_default();
    let switched_at = i
        .row
        .steps
        .iter()
        .find(|s| s.kind == StepKind::Switchover)
        .and_then(|s| s.finished_at)
        .unwrap_or(i.now);
    let records = leftovers(i, old)
        .into_iter()
        .map(|(inst, role)| {
            let replica = role == "old-replica";
            let detail = OldInstance {
                source: i.db.identifier.clone(),
                replica_of: replica.then(|| old.to_string()),
                from_version: i.db.from_version.clone(),
                switched_at,
                verified_at: i.now,
            };
            Record {
                kind: if replica {
                    ResourceKind::OldReplica
                } else {
                    ResourceKind::OldInstance
                },
                name: inst.identifier.clone(),
                status: ResourceStatus::Kept,
                detail: serde_json::to_string(&detail).ok(),
            }
        })
        .collect();
    let mut note = format!("upgraded to {target}; old instance {old} kept for rollback");
    if let Some(e) = tag_error {
        // Untagged means cleanup will refuse to delete it: the safe side.
        note.push_str(&format!(
            " (could not tag its leftovers: {e}; cleanup will leave untagged ones alone)"
        ));
    }
    Decision::Finish(Finish {
        note,
        why: format!(
            "verified: {} on {target}; old instance {old} kept",
            i.db.identifier
        ),
        remote_id: Some(old.to_string()),
        records,
    })
}

fn verify_outcome(i: &Input, effect: &Effect, r: &BResult<EffectOk>) -> Decision {
    let (_, old) = verify_problems(i);
    let old = old.unwrap_or_default();
    let tagged = match effect {
        Effect::AddTags { arn, .. } => arn.as_str(),
        _ => "",
    };
    match r {
        Ok(_) => {
            let more = leftovers(i, &old)
                .into_iter()
                .any(|(l, _)| l.arn != tagged && !is_managed(&l.tags, Some(i.plan_id)));
            if more {
                // The next leftover is tagged next tick, from a fresh observation.
                Decision::Step(Change::to(StepStatus::Waiting, format!("tagged {tagged}")))
            } else {
                verified(i, &old, None)
            }
        }
        Err(e) if e.is_retryable() => error_policy(i, e, effect.op()),
        Err(e) => verified(i, &old, Some(e)),
    }
}

/// What the state file keeps about an old instance (the `detail` of its resource row).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OldInstance {
    /// The production identifier it was renamed from.
    pub source: String,
    /// For an old read replica (`ResourceKind::OldReplica`): the old instance it replicates
    /// (`<source>-oldN`), which must outlive it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_of: Option<String>,
    pub from_version: String,
    /// When the switchover finished: the retention clock starts here.
    pub switched_at: Millis,
    pub verified_at: Millis,
}

// ---------------------------------------------------------------------------------------------
// Parameter groups: values green needed only at creation are set back once green serves.

/// Whether the restore of a parameter group's creation-only values (`event_scheduler=OFF` on
/// green at creation, set back to the source's value) is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restore {
    /// Nothing to restore in this group.
    Nothing,
    /// Nobody has switched over yet, or some databases using it still will: a green that is
    /// still replicating must not start running events, so a shared group waits for them.
    Waiting(Vec<String>),
    /// Every database using it has switched over or never will (failed, blocked, aborted,
    /// skipped), and at least one did: set the values back now.
    Due,
}

/// Judge a group's restore from its users: (identifier, state, switched over).
pub fn restore(group: &PlannedParameterGroup, users: &[(String, DbState, bool)]) -> Restore {
    if group.restore_after_switchover.is_empty() {
        return Restore::Nothing;
    }
    let live: Vec<String> = users
        .iter()
        .filter(|(_, state, switched)| !switched && !state.is_terminal())
        .map(|(id, _, _)| id.clone())
        .collect();
    if !live.is_empty() || !users.iter().any(|(_, _, switched)| *switched) {
        return Restore::Waiting(live);
    }
    Restore::Due
}

/// The restore itself: one idempotent `ModifyDBParameterGroup` (the values are dynamic),
/// recorded on the group's resource row (`done` -> `restored`).
pub fn restore_effect(group: &PlannedParameterGroup) -> (Effect, Tracked) {
    (
        Effect::ModifyParameterGroup {
            region: group.region.clone(),
            name: group.name.clone(),
            parameters: group.restore_after_switchover.clone(),
        },
        Tracked {
            kind: ResourceKind::ParameterGroup,
            name: group.name.clone(),
            at_intent: ResourceStatus::Done,
            on_ok: ResourceStatus::Restored,
            on_error: None,
            detail: None,
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Replicas that travel with their source.

/// A replica's row follows its source's state (it has no steps of its own): the new state and
/// its why, when they differ.
pub fn mirror_source(
    source: &DbRow,
    replica: &DbRow,
) -> Option<(DbState, crate::store::DbWhy, String)> {
    if source.state == replica.state {
        return None;
    }
    let note = format!("travels with {}", source.identifier);
    let why = match source.state {
        DbState::Failed | DbState::Blocked | DbState::Aborted => crate::store::DbWhy::error(
            format!("{note}: {}", source.error.clone().unwrap_or_default()),
        ),
        s => crate::store::DbWhy {
            wait: (!s.is_terminal()).then(|| WaitReason::WithSource {
                source: source.identifier.clone(),
            }),
            note: Some(note.clone()),
            ..Default::default()
        },
    };
    Some((source.state, why, note))
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
