//! The one narrow interface between rdsfleet and RDS.
//!
//! [`RdsBackend`] speaks domain types (see [`crate::domain`]), never SDK structs. Two things
//! implement it: the AWS adapter (`aws`, the only module that names `aws_sdk_rds`) and the
//! embedded simulator ([`crate::sim`]). [`Wrapped`] puts a [`Hook`] around either: the
//! production guards [`readonly::ReadOnly`] and [`readonly::RetryReads`], and the test wrapper
//! [`crash::CrashAfter`].
//!
//! Errors are classified once, by the implementation, into [`ErrorKind`]; callers decide
//! what to do from the kind alone and never look at message text.

use crate::domain::*;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub mod aws;
pub mod crash;
pub mod readonly;
mod wrap;

pub use wrap::{Hook, Wrapped};

/// Every RDS API operation behind [`RdsBackend`], with whether it changes anything. This is the
/// one list of which calls mutate: the wrappers ([`readonly`], [`crash`]), the simulator's
/// trail and the IAM policy all read it from here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Op {
    DescribeDBInstances,
    DescribeBlueGreenDeployments,
    DescribeDBSnapshots,
    DescribeDBParameterGroups,
    DescribeDBParameters,
    DescribeDBEngineVersions,
    DescribeAccountAttributes,
    CreateDBSnapshot,
    CreateDBParameterGroup,
    ModifyDBParameterGroup,
    DeleteDBParameterGroup,
    CreateBlueGreenDeployment,
    SwitchoverBlueGreenDeployment,
    DeleteBlueGreenDeployment,
    DeleteDBInstance,
    /// Only ever to turn deletion protection off or on.
    ModifyDBInstance,
    AddTagsToResource,
}

impl Op {
    pub const ALL: [Op; 17] = [
        Op::DescribeDBInstances,
        Op::DescribeBlueGreenDeployments,
        Op::DescribeDBSnapshots,
        Op::DescribeDBParameterGroups,
        Op::DescribeDBParameters,
        Op::DescribeDBEngineVersions,
        Op::DescribeAccountAttributes,
        Op::CreateDBSnapshot,
        Op::CreateDBParameterGroup,
        Op::ModifyDBParameterGroup,
        Op::DeleteDBParameterGroup,
        Op::CreateBlueGreenDeployment,
        Op::SwitchoverBlueGreenDeployment,
        Op::DeleteBlueGreenDeployment,
        Op::DeleteDBInstance,
        Op::ModifyDBInstance,
        Op::AddTagsToResource,
    ];

    /// The RDS API action name (also the IAM action after `rds:`).
    pub fn name(self) -> &'static str {
        match self {
            Op::DescribeDBInstances => "DescribeDBInstances",
            Op::DescribeBlueGreenDeployments => "DescribeBlueGreenDeployments",
            Op::DescribeDBSnapshots => "DescribeDBSnapshots",
            Op::DescribeDBParameterGroups => "DescribeDBParameterGroups",
            Op::DescribeDBParameters => "DescribeDBParameters",
            Op::DescribeDBEngineVersions => "DescribeDBEngineVersions",
            Op::DescribeAccountAttributes => "DescribeAccountAttributes",
            Op::CreateDBSnapshot => "CreateDBSnapshot",
            Op::CreateDBParameterGroup => "CreateDBParameterGroup",
            Op::ModifyDBParameterGroup => "ModifyDBParameterGroup",
            Op::DeleteDBParameterGroup => "DeleteDBParameterGroup",
            Op::CreateBlueGreenDeployment => "CreateBlueGreenDeployment",
            Op::SwitchoverBlueGreenDeployment => "SwitchoverBlueGreenDeployment",
            Op::DeleteBlueGreenDeployment => "DeleteBlueGreenDeployment",
            Op::DeleteDBInstance => "DeleteDBInstance",
            Op::ModifyDBInstance => "ModifyDBInstance",
            Op::AddTagsToResource => "AddTagsToResource",
        }
    }

    /// Does the operation change anything in the account?
    pub fn mutating(self) -> bool {
        !matches!(
            self,
            Op::DescribeDBInstances
                | Op::DescribeBlueGreenDeployments
                | Op::DescribeDBSnapshots
                | Op::DescribeDBParameterGroups
                | Op::DescribeDBParameters
                | Op::DescribeDBEngineVersions
                | Op::DescribeAccountAttributes
        )
    }
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What went wrong, as far as the orchestrator needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The resource already exists (deterministic names make this an "adopt" signal).
    AlreadyExists,
    NotFound,
    /// The resource is not in a state that allows the call (e.g. not `available`).
    InvalidState,
    /// API rate exceeded (`Throttling`): back off and retry.
    Throttled,
    /// An account quota (e.g. `InstanceQuotaExceeded`) would be exceeded.
    QuotaExceeded,
    AccessDenied,
    /// The request itself is wrong (bad parameter, unsupported combination): do not retry.
    InvalidRequest,
    /// The operation is not implemented by this endpoint (moto): fall back, don't retry.
    Unavailable,
    /// A transient server-side or network failure (5xx, timeout): retry.
    Transient,
    Other,
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            ErrorKind::AlreadyExists => "already-exists",
            ErrorKind::NotFound => "not-found",
            ErrorKind::InvalidState => "invalid-state",
            ErrorKind::Throttled => "throttled",
            ErrorKind::QuotaExceeded => "quota-exceeded",
            ErrorKind::AccessDenied => "access-denied",
            ErrorKind::InvalidRequest => "invalid-request",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Transient => "transient",
            ErrorKind::Other => "other",
        };
        f.write_str(s)
    }
}

/// A classified backend error: the kind, the AWS error code (e.g. `DBSnapshotAlreadyExists`)
/// and its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{code} ({kind}): {message}")]
pub struct BackendError {
    pub kind: ErrorKind,
    pub code: String,
    pub message: String,
}

impl BackendError {
    pub fn new(kind: ErrorKind, code: impl Into<String>, message: impl Into<String>) -> Self {
        BackendError {
            kind,
            code: code.into(),
            message: message.into(),
        }
    }
    /// Worth retrying later with backoff.
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind, ErrorKind::Throttled | ErrorKind::Transient)
    }
}

pub type BResult<T> = Result<T, BackendError>;

/// Which instances to describe. Empty vectors mean "no filter".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceQuery {
    pub identifiers: Vec<String>,
    pub engines: Vec<String>,
}

/// Which blue/green deployments to describe. Empty vectors mean "no filter".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlueGreenQuery {
    pub names: Vec<String>,
    pub identifiers: Vec<String>,
}

/// Which snapshots to describe. Empty vectors mean "no filter" (manual snapshots only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotQuery {
    pub snapshot_ids: Vec<String>,
    pub instance_ids: Vec<String>,
}

/// Parameters of `CreateDBParameterGroup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewParameterGroup {
    pub name: String,
    pub family: String,
    pub description: String,
    pub tags: Tags,
}

/// The RDS operations rdsfleet uses, in domain terms. Every `describe_*` returns *all*
/// matching resources: implementations paginate internally (MaxRecords 100), so one call
/// serves a whole region.
#[async_trait]
pub trait RdsBackend: Send + Sync {
    /// Short name for logs: `sim`, `aws`.
    fn kind(&self) -> &'static str;

    async fn describe_instances(&self, region: &str, q: &InstanceQuery)
        -> BResult<Vec<DbInstance>>;
    async fn describe_blue_green(
        &self,
        region: &str,
        q: &BlueGreenQuery,
    ) -> BResult<Vec<BlueGreen>>;
    async fn describe_snapshots(&self, region: &str, q: &SnapshotQuery) -> BResult<Vec<Snapshot>>;
    async fn create_snapshot(
        &self,
        region: &str,
        instance_id: &str,
        snapshot_id: &str,
        tags: &Tags,
    ) -> BResult<Snapshot>;

    /// Describe parameter groups by name; an empty slice means all groups in the region.
    async fn describe_parameter_groups(
        &self,
        region: &str,
        names: &[String],
    ) -> BResult<Vec<ParameterGroup>>;
    /// Parameters of a group; `user_only` restricts to `Source=user` (the modified ones).
    async fn describe_parameters(
        &self,
        region: &str,
        group: &str,
        user_only: bool,
    ) -> BResult<Vec<Parameter>>;
    async fn create_parameter_group(
        &self,
        region: &str,
        group: &NewParameterGroup,
    ) -> BResult<ParameterGroup>;
    /// Set parameters (callers send at most 20 per call, as RDS requires).
    async fn modify_parameter_group(
        &self,
        region: &str,
        group: &str,
        changes: &[ParameterChange],
    ) -> BResult<()>;
    async fn delete_parameter_group(&self, region: &str, group: &str) -> BResult<()>;

    async fn create_blue_green(&self, region: &str, req: &CreateBlueGreen) -> BResult<BlueGreen>;
    async fn switchover_blue_green(
        &self,
        region: &str,
        identifier: &str,
        timeout_secs: u32,
    ) -> BResult<BlueGreen>;
    async fn delete_blue_green(
        &self,
        region: &str,
        identifier: &str,
        delete_target: bool,
    ) -> BResult<()>;

    /// Delete an instance, always with a final snapshot named `final_snapshot_id`.
    async fn delete_instance(
        &self,
        region: &str,
        identifier: &str,
        final_snapshot_id: &str,
    ) -> BResult<()>;
    /// Turn deletion protection on or off (only ever on an explicit operator flag).
    async fn set_deletion_protection(
        &self,
        region: &str,
        identifier: &str,
        enabled: bool,
    ) -> BResult<()>;

    async fn add_tags(&self, region: &str, arn: &str, tags: &Tags) -> BResult<()>;

    /// `DescribeDBEngineVersions`; `ErrorKind::Unavailable` where the endpoint lacks it.
    async fn describe_engine_versions(
        &self,
        region: &str,
        engine: &str,
        version: Option<&str>,
    ) -> BResult<Vec<EngineVersion>>;
    /// The `DBInstances` quota from `DescribeAccountAttributes`; `Unavailable` where lacking.
    async fn describe_instance_quota(&self, region: &str) -> BResult<Quota>;
}
