//! Typed rollout state: where a database is ([`DbState`]), where each of its steps is
//! ([`StepStatus`]), which transitions are legal (as data: [`DB_TRANSITIONS`],
//! [`STEP_TRANSITIONS`]), and why a database that is neither finished nor failed is not moving
//! ([`WaitReason`]).
//!
//! The store refuses any transition not listed here, and changes a row only by compare-and-set
//! (`UPDATE .. WHERE state = expected`), so two writers or a stale engine cannot overwrite each
//! other. This module does no IO.
//!
//! ```text
//!  database:                         approve
//!   pending --admit--> running --gate--> awaiting-approval ---------+
//!      |                 |   ^                                      |
//!      |                 |   +--------------------------------------+
//!      |                 +--> done | failed | blocked
//!      +--> (replica mirrors its source: done | failed | blocked)
//!   pending | running | awaiting-approval | failed | blocked --abort--> aborted
//!
//!  step:
//!   pending --intent--> started --call ok / adopted--> waiting --seen done--> done
//!      |                  |  ^ \--retryable error: backoff--> pending      |
//!      |                  +--+ (reissue after an unknown outcome)          |
//!      +--observe / adopt--> waiting | done         waiting --intent--> started
//!   any live status --> failed
//! ```

use crate::clock::{rfc3339, Millis};
use serde::{Deserialize, Serialize};

/// Where a database is in its rollout (the `state` column and `status --json`'s `state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DbState {
    /// Not admitted yet (waiting for a slot, or for its wave to open).
    Pending,
    /// Admitted: its steps are being driven.
    Running,
    /// Green is ready; the switchover waits for a recorded approval.
    AwaitingApproval,
    Done,
    Failed,
    /// Left untouched: a planner blocker, or drift found before anything was changed.
    Blocked,
    /// Nothing to do (already at the target, not selected by the policy).
    Skipped,
    /// Undone by the operator before switchover.
    Aborted,
}

impl DbState {
    pub fn as_str(&self) -> &'static str {
        match self {
            DbState::Pending => "pending",
            DbState::Running => "running",
            DbState::AwaitingApproval => "awaiting-approval",
            DbState::Done => "done",
            DbState::Failed => "failed",
            DbState::Blocked => "blocked",
            DbState::Skipped => "skipped",
            DbState::Aborted => "aborted",
        }
    }
    pub fn parse(s: &str) -> Option<DbState> {
        DbState::ALL.into_iter().find(|d| d.as_str() == s)
    }
    /// Nothing more will happen to this database in this run.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            DbState::Done
                | DbState::Failed
                | DbState::Blocked
                | DbState::Skipped
                | DbState::Aborted
        )
    }
    pub const ALL: [DbState; 8] = [
        DbState::Pending,
        DbState::Running,
        DbState::AwaitingApproval,
        DbState::Done,
        DbState::Failed,
        DbState::Blocked,
        DbState::Skipped,
        DbState::Aborted,
    ];
}

impl std::fmt::Display for DbState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Status of one step. Each status means the same thing in every step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepStatus {
    /// Nothing issued yet (or backed off after a retryable error until `not_before`).
    Pending,
    /// Intent recorded before a mutating call: the call was made or is about to be, and its
    /// outcome is unknown until reconciled. Only steps that call something are ever started.
    Started,
    /// The call succeeded, or there is nothing to call: the step watches RDS until what it
    /// waits for is seen (snapshot available, green ready, switchover completed, verified).
    Waiting,
    Done,
    Failed,
}

impl StepStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            StepStatus::Pending => "pending",
            StepStatus::Started => "started",
            StepStatus::Waiting => "waiting",
            StepStatus::Done => "done",
            StepStatus::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<StepStatus> {
        [
            StepStatus::Pending,
            StepStatus::Started,
            StepStatus::Waiting,
            StepStatus::Done,
            StepStatus::Failed,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

impl std::fmt::Display for StepStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A database as the engine tracks the whole fleet between ticks: its state and whether its
/// switchover is approved (the rows with their steps are read only for what is in flight).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Brief {
    /// Index of the database in the plan.
    pub id: i64,
    pub state: DbState,
    pub approved: bool,
}

/// Every legal change of a database's state. A replica mirrors its source at the end of a
/// tick, so it can take in one move what its source took in several (pending -> done).
pub const DB_TRANSITIONS: &[(DbState, DbState)] = {
    use DbState::*;
    &[
        (Pending, Running),
        (Pending, Done),
        (Pending, Failed),
        (Pending, Blocked),
        (Pending, AwaitingApproval),
        (Pending, Aborted),
        (Running, AwaitingApproval),
        (Running, Done),
        (Running, Failed),
        (Running, Blocked),
        (Running, Aborted),
        (AwaitingApproval, Running),
        (AwaitingApproval, Done),
        (AwaitingApproval, Failed),
        (AwaitingApproval, Aborted),
        (Failed, Aborted),
        (Blocked, Aborted),
    ]
};

/// Every legal change of a step's status. `Started -> Started` is a reissue after an unknown
/// outcome (the attempt is counted); `Waiting -> Waiting` updates what is waited for;
/// `Waiting -> Started` is a step that watched and now calls (verify tags the old instance).
pub const STEP_TRANSITIONS: &[(StepStatus, StepStatus)] = {
    use StepStatus::*;
    &[
        (Pending, Started),
        (Pending, Waiting),
        (Pending, Done),
        (Pending, Failed),
        (Pending, Pending),
        (Started, Started),
        (Started, Waiting),
        (Started, Pending),
        (Started, Done),
        (Started, Failed),
        (Waiting, Waiting),
        (Waiting, Started),
        (Waiting, Done),
        (Waiting, Failed),
    ]
};

pub fn db_transition_is_legal(from: DbState, to: DbState) -> bool {
    from == to || DB_TRANSITIONS.contains(&(from, to))
}

pub fn step_transition_is_legal(from: StepStatus, to: StepStatus) -> bool {
    STEP_TRANSITIONS.contains(&(from, to))
}

/// Why a database that is neither finished nor failed is not moving right now. Shown by
/// `status`, `status --json` and the progress display; never stuffed into `error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum WaitReason {
    /// RDS is working: a snapshot being created, green provisioning, a switchover running.
    Aws { what: String, status: String },
    /// The source is not ready to be touched (status, pending reboot or modifications).
    Source { detail: String },
    /// Green is AVAILABLE; the readiness guard wants it to stay so until `until`.
    ReadinessGuard { until: Millis },
    /// Approved; the switchover waits for a window, which opens at `opens_at`.
    Window { opens_at: Option<Millis> },
    /// Creating green needs `need` free `DBInstances` in `region`; `have` are free.
    QuotaHeadroom {
        region: String,
        need: i64,
        have: i64,
    },
    /// Green is ready; the switchover needs a recorded approval.
    Approval,
    /// Something besides the database itself is not there yet (a replica still on the old
    /// version, the renamed old instance not visible yet).
    Verify { detail: String },
    /// Green is not ready for the switchover yet, and will be by itself (not available yet).
    Green { detail: String },
    /// Only an operator can clear this (a zero-ETL integration to delete, a parameter group
    /// waiting for a reboot, deletion protection lost): it says what to do. A run whose every
    /// database in flight waits like this (or for quota) halts after a while, saying so.
    Operator { detail: String },
    /// RDS throttled us; the whole loop backs off until `until`.
    Throttled { until: Millis },
    /// A retryable error; the call is retried at `until`.
    Retry { until: Millis, error: String },
    /// Not admitted: behind the concurrency limits or an earlier wave.
    Queued { detail: String },
    /// A read replica: it travels with its source's deployment.
    WithSource { source: String },
}

impl WaitReason {
    /// Only an operator (or a quota increase, or cleanup) can end this wait.
    pub fn needs_operator(&self) -> bool {
        matches!(
            self,
            WaitReason::Operator { .. } | WaitReason::QuotaHeadroom { .. }
        )
    }

    /// One line for people (times in RFC 3339 UTC).
    pub fn describe(&self) -> String {
        match self {
            WaitReason::Aws { what, status } => format!("waiting for AWS: {what} is {status}"),
            WaitReason::Source { detail } => format!("waiting for the source: {detail}"),
            WaitReason::ReadinessGuard { until } => {
                format!("green available; readiness guard until {}", rfc3339(*until))
            }
            WaitReason::Window { opens_at: Some(t) } => {
                format!("approved; switchover window opens {}", rfc3339(*t))
            }
            WaitReason::Window { opens_at: None } => {
                "approved; waiting for a switchover window".to_string()
            }
            WaitReason::QuotaHeadroom { region, need, have } => format!(
                "waiting for DBInstances quota headroom in {region} (need {need}, have {have})"
            ),
            WaitReason::Approval => "green ready; switchover needs approval".to_string(),
            WaitReason::Verify { detail } => format!("verifying: {detail}"),
            WaitReason::Green { detail } => format!("green not as planned yet: {detail}"),
            WaitReason::Operator { detail } => format!("waiting for an operator: {detail}"),
            WaitReason::Throttled { until } => {
                format!("throttled by RDS; backing off until {}", rfc3339(*until))
            }
            WaitReason::Retry { until, error } => {
                format!("retrying at {} after: {error}", rfc3339(*until))
            }
            WaitReason::Queued { detail } => format!("queued: {detail}"),
            WaitReason::WithSource { source } => format!("travels with {source}"),
        }
    }
}

impl std::fmt::Display for WaitReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// What kind of resource a `resources` row tracks (rows rdsfleet created or must clean up).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResourceKind {
    /// A target parameter group this plan creates (shared by the databases that use it).
    ParameterGroup,
    /// A blue/green deployment object (tracked once cleanup or abort deletes it).
    BlueGreen,
    /// The `-oldN` instance a switchover left behind, kept for rollback until retention.
    OldInstance,
    /// A read replica of an old instance (`<replica>-old1`): switchover renames blue's replicas
    /// too, and they keep running and billing until deleted.
    OldReplica,
}

impl ResourceKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            ResourceKind::ParameterGroup => "parameter-group",
            ResourceKind::BlueGreen => "blue-green",
            ResourceKind::OldInstance => "old-instance",
            ResourceKind::OldReplica => "old-replica",
        }
    }
    pub fn parse(s: &str) -> Option<ResourceKind> {
        [
            ResourceKind::ParameterGroup,
            ResourceKind::BlueGreen,
            ResourceKind::OldInstance,
            ResourceKind::OldReplica,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a tracked resource is. Creation: `started` (intent) -> `created` -> `done`
/// (configured) -> `restored` (a parameter group's creation-only values set back after
/// switchover). Retention: `kept`. Deletion: `deleting` (intent) -> `deleted`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResourceStatus {
    Started,
    Created,
    Done,
    /// A parameter group whose creation-only values were set back after switchover.
    Restored,
    Kept,
    Deleting,
    Deleted,
}

impl ResourceStatus {
    /// A parameter group that is configured (and perhaps restored since).
    pub fn is_configured(&self) -> bool {
        matches!(self, ResourceStatus::Done | ResourceStatus::Restored)
    }
    pub fn as_str(&self) -> &'static str {
        match self {
            ResourceStatus::Started => "started",
            ResourceStatus::Created => "created",
            ResourceStatus::Done => "done",
            ResourceStatus::Restored => "restored",
            ResourceStatus::Kept => "kept",
            ResourceStatus::Deleting => "deleting",
            ResourceStatus::Deleted => "deleted",
        }
    }
    pub fn parse(s: &str) -> Option<ResourceStatus> {
        [
            ResourceStatus::Started,
            ResourceStatus::Created,
            ResourceStatus::Done,
            ResourceStatus::Restored,
            ResourceStatus::Kept,
            ResourceStatus::Deleting,
            ResourceStatus::Deleted,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for ResourceStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_states_never_leave_except_to_abort() {
        for (from, to) in DB_TRANSITIONS {
            if from.is_terminal() {
                assert_eq!(*to, DbState::Aborted, "{from} -> {to}");
                assert!(matches!(from, DbState::Failed | DbState::Blocked));
            }
        }
        assert!(!db_transition_is_legal(DbState::Done, DbState::Running));
        assert!(!db_transition_is_legal(DbState::Aborted, DbState::Pending));
    }

    #[test]
    fn finished_steps_never_move_and_only_started_steps_back_off() {
        for (from, to) in STEP_TRANSITIONS {
            assert!(!matches!(from, StepStatus::Done | StepStatus::Failed));
            if *to == StepStatus::Pending {
                assert!(matches!(from, StepStatus::Started | StepStatus::Pending));
            }
        }
        assert!(!step_transition_is_legal(
            StepStatus::Waiting,
            StepStatus::Pending
        ));
        assert!(!step_transition_is_legal(
            StepStatus::Done,
            StepStatus::Pending
        ));
    }

    #[test]
    fn statuses_round_trip_and_wait_reasons_serialize_tagged() {
        for s in DbState::ALL {
            assert_eq!(DbState::parse(s.as_str()), Some(s));
        }
        let w = WaitReason::QuotaHeadroom {
            region: "us-east-1".into(),
            need: 2,
            have: 0,
        };
        let j = serde_json::to_string(&w).unwrap();
        assert!(j.contains(r#""kind":"quota-headroom""#), "{j}");
        assert_eq!(serde_json::from_str::<WaitReason>(&j).unwrap(), w);
        assert!(w.describe().contains("need 2, have 0"));
    }
}
