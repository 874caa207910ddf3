//! The one narrow interface between rdsfleet and RDS.
//!
//! [`RdsBackend`] speaks domain types (see [`crate::domain`]), never SDK structs. Two things
//! implement it: the AWS adapter (`aws`, the only module that names `aws_sdk_rds`) and the
//! embedded simulator ([`crate::sim`]). [`Wrapped`] puts a [`Hook`] around either: the
//! production guard [`readonly::ReadOnly`] (dry-run code's reads, retried) and the test
//! wrapper [`crash::CrashAfter`]. Cleanup and abort retry their describes in
//! [`crate::effects::Executor`], where every attempt takes a budget token.
//!
//! Errors are classified once, by the implementation, into [`ErrorKind`]; callers decide
//! what to do from the kind alone and never look at message text.

use crate::domain::*;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub mod aws;
pub mod crash;
pub mod gate;
pub mod readonly;
mod wrap;

pub use wrap::{BoxCall, Hook, Wrapped};

/// Values per filter in one Describe request: a describe by more names is several requests.
/// RDS does not document a hard limit on filter values; 50 keeps request URLs well below any
/// proxy's limit.
pub const FILTER_VALUES_PER_REQUEST: usize = 50;

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
    /// Only for a parameter group found under a name this plan would create, to tell ours
    /// (this plan's tags) from someone else's: `DescribeDBParameterGroups` returns no tags.
    ListTagsForResource,
    DescribeDBProxies,
    DescribeDBProxyTargets,
    DescribeIntegrations,
    DescribeDBLogFiles,
    DownloadDBLogFilePortion,
}

impl Op {
    pub const ALL: [Op; 23] = [
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
        Op::ListTagsForResource,
        Op::DescribeDBProxies,
        Op::DescribeDBProxyTargets,
        Op::DescribeIntegrations,
        Op::DescribeDBLogFiles,
        Op::DownloadDBLogFilePortion,
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
            Op::ListTagsForResource => "ListTagsForResource",
            Op::DescribeDBProxies => "DescribeDBProxies",
            Op::DescribeDBProxyTargets => "DescribeDBProxyTargets",
            Op::DescribeIntegrations => "DescribeIntegrations",
            Op::DescribeDBLogFiles => "DescribeDBLogFiles",
            Op::DownloadDBLogFilePortion => "DownloadDBLogFilePortion",
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
                | Op::ListTagsForResource
                | Op::DescribeDBProxies
                | Op::DescribeDBProxyTargets
                | Op::DescribeIntegrations
                | Op::DescribeDBLogFiles
                | Op::DownloadDBLogFilePortion
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
    /// The request id the service gave the failed call (AWS: `x-amzn-RequestId`; the
    /// simulator: `sim-<trail seq>`), for logs and support cases. Not part of the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl BackendError {
    pub fn new(kind: ErrorKind, code: impl Into<String>, message: impl Into<String>) -> Self {
        BackendError {
            kind,
            code: code.into(),
            message: message.into(),
            request_id: None,
        }
    }
    /// The same error, carrying the service's request id.
    pub fn with_request_id(mut self, id: Option<impl Into<String>>) -> Self {
        self.request_id = id.map(Into::into);
        self
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

    /// Delete an instance, always with a final snapshot named `final_snapshot_id`. RDS refuses
    /// this for a read replica (`InvalidParameterCombination`): use [`Self::delete_read_replica`].
    async fn delete_instance(
        &self,
        region: &str,
        identifier: &str,
        final_snapshot_id: &str,
    ) -> BResult<()>;
    /// Delete a read replica (`SkipFinalSnapshot=true`, the only form RDS accepts for one; see
    /// [`ReadReplica`] for why no snapshot is lost). Implementations check, against a fresh
    /// describe right before the call, that the instance is still a read replica, and refuse
    /// with `InvalidRequest` / `NotAReadReplica` otherwise (a promoted replica is a primary and
    /// needs [`Self::delete_instance`] with its final snapshot).
    async fn delete_read_replica(&self, region: &str, replica: &ReadReplica) -> BResult<()>;
    /// Turn deletion protection on or off: on an old instance only on an explicit operator flag
    /// (`cleanup --disable-deletion-protection`); on green instances by `abort`, right before it
    /// deletes them (`DeleteTarget` needs it off), and back on if that delete fails.
    async fn set_deletion_protection(
        &self,
        region: &str,
        identifier: &str,
        enabled: bool,
    ) -> BResult<()>;

    async fn add_tags(&self, region: &str, arn: &str, tags: &Tags) -> BResult<()>;
    /// The tags of one resource by ARN (`ListTagsForResource`). rdsfleet reads them only for a
    /// parameter group found under a name its plan would create (`DescribeDBParameterGroups`
    /// returns no tags): this plan's tags make it ours, anything else someone else's. An ARN
    /// naming no resource is `NotFound` (or, on some endpoints, an empty list).
    async fn list_tags(&self, region: &str, arn: &str) -> BResult<Tags>;

    /// `DescribeDBEngineVersions`; `ErrorKind::Unavailable` where the endpoint lacks it.
    /// `include_all` also lists versions no longer offered for new instances (`IncludeAll`):
    /// without it RDS omits the deprecated minors fleets still run, and their upgrade targets.
    async fn describe_engine_versions(
        &self,
        region: &str,
        engine: &str,
        version: Option<&str>,
        include_all: bool,
    ) -> BResult<Vec<EngineVersion>>;
    /// The `DBInstances` quota from `DescribeAccountAttributes`; `Unavailable` where lacking.
    async fn describe_instance_quota(&self, region: &str) -> BResult<Quota>;

    /// Every RDS Proxy of the region (`DescribeDBProxies`, paginated).
    async fn describe_proxies(&self, region: &str) -> BResult<Vec<DbProxy>>;
    /// The targets of one proxy (`DescribeDBProxyTargets`, paginated; the API takes one proxy).
    async fn describe_proxy_targets(&self, region: &str, proxy: &str) -> BResult<Vec<ProxyTarget>>;
    /// Every zero-ETL integration of the region (`DescribeIntegrations`, paginated);
    /// `Unavailable` where the endpoint lacks it.
    async fn describe_integrations(&self, region: &str) -> BResult<Vec<Integration>>;
    /// The log files of an instance (`DescribeDBLogFiles`, paginated).
    async fn describe_log_files(&self, region: &str, instance_id: &str) -> BResult<Vec<LogFile>>;
    /// The text of one log file: every portion of `DownloadDBLogFilePortion`, following its
    /// markers, up to [`LOG_DOWNLOAD_LIMIT`] bytes. `Unavailable` where the endpoint lacks it.
    async fn download_log_file(
        &self,
        region: &str,
        instance_id: &str,
        file: &str,
    ) -> BResult<String>;
}

/// Most bytes of one log file [`RdsBackend::download_log_file`] returns: upgrade precheck logs
/// are a few KiB; a runaway log must not fill memory or the state file.
pub const LOG_DOWNLOAD_LIMIT: usize = 1 << 20;

/// Cut `text` to at most [`LOG_DOWNLOAD_LIMIT`] bytes, on a character boundary.
pub fn limit_log(text: &mut String) {
    if text.len() > LOG_DOWNLOAD_LIMIT {
        let mut cut = LOG_DOWNLOAD_LIMIT;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
}

/// The refusal of [`RdsBackend::delete_read_replica`] for an instance that is not (or no
/// longer) a read replica.
pub fn not_a_read_replica(identifier: &str) -> BackendError {
    BackendError::new(
        ErrorKind::InvalidRequest,
        "NotAReadReplica",
        format!("{identifier} is not a read replica (any more): it can only be deleted with a final snapshot"),
    )
}
