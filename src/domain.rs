//! Domain types shared by every layer: what an RDS instance, snapshot, parameter group and
//! blue/green deployment *are* to rdsfleet, independent of the SDK or the simulator.
//!
//! These types are also the on-disk inventory format (`inventory --format json`), so field
//! names are part of the public contract: add fields with `#[serde(default)]`, never rename.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// Resource tags as an ordered map (ordered so that plans and fingerprints are deterministic).
pub type Tags = BTreeMap<String, String>;

/// Tag carried by every resource rdsfleet creates: the plan that created it.
pub const TAG_PLAN_ID: &str = "rdsfleet:plan-id";
/// Tag carried by every resource rdsfleet creates. Cleanup and abort refuse anything without it.
pub const TAG_MANAGED: &str = "rdsfleet:managed";

/// The tags rdsfleet puts on everything it creates for `plan_id`.
pub fn managed_tags(plan_id: &str) -> Tags {
    let mut t = Tags::new();
    t.insert(TAG_PLAN_ID.to_string(), plan_id.to_string());
    t.insert(TAG_MANAGED.to_string(), "true".to_string());
    t
}

/// True when `tags` mark a resource as created by rdsfleet (optionally by a given plan).
pub fn is_managed(tags: &Tags, plan_id: Option<&str>) -> bool {
    tags.get(TAG_MANAGED).map(|v| v == "true").unwrap_or(false)
        && plan_id.is_none_or(|p| tags.get(TAG_PLAN_ID).map(|v| v == p).unwrap_or(false))
}

/// A DB parameter group attached to an instance, with its apply status (`in-sync`,
/// `pending-reboot`, `applying`).
// Inventory files are read into these types: a misspelt field is refused, never ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParameterGroupStatus {
    pub name: String,
    pub apply_status: String,
    /// Parameter group family (`mysql5.7`); filled by discovery for custom groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// The group's user-modified parameters (`Source=user`); filled by discovery for custom
    /// groups so that `plan --inventory FILE` can map them offline. `None` means unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_parameters: Option<Vec<Parameter>>,
}

/// One RDS DB instance as rdsfleet needs to know it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbInstance {
    pub region: String,
    pub identifier: String,
    pub arn: String,
    #[serde(default)]
    pub dbi_resource_id: String,
    pub engine: String,
    pub engine_version: String,
    pub status: String,
    pub instance_class: String,
    #[serde(default)]
    pub allocated_storage_gib: i32,
    #[serde(default)]
    pub storage_type: String,
    /// Provisioned IOPS (`Iops`): io1/io2, and gp3 at or above its baseline threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iops: Option<i32>,
    /// Provisioned storage throughput in MiB/s (`StorageThroughput`, gp3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_throughput: Option<i32>,
    #[serde(default)]
    pub multi_az: bool,
    #[serde(default)]
    pub parameter_groups: Vec<ParameterGroupStatus>,
    /// Option group names (`default:mysql-5-7` style names are the defaults).
    #[serde(default)]
    pub option_groups: Vec<String>,
    /// Identifier or ARN (cross-region) of the source when this instance is a read replica.
    #[serde(default)]
    pub read_replica_source: Option<String>,
    /// Identifiers or ARNs (cross-region) of this instance's read replicas.
    #[serde(default)]
    pub read_replicas: Vec<String>,
    #[serde(default)]
    pub backup_retention_period: i32,
    #[serde(default)]
    pub deletion_protection: bool,
    /// The master password is managed in Secrets Manager (`MasterUserSecret` present).
    #[serde(default)]
    pub managed_master_password: bool,
    /// Names of the fields in `PendingModifiedValues` (empty when nothing is pending).
    #[serde(default)]
    pub pending_modifications: Vec<String>,
    #[serde(default)]
    pub tags: Tags,
    /// `DBClusterIdentifier`: the DB cluster (a Multi-AZ DB cluster, or Aurora) this instance is
    /// a member of. Blue/green deployments of DB *instances* do not support cluster members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db_cluster_identifier: Option<String>,
    /// Names of the RDS Proxies with this instance as a target; filled by discovery
    /// (`DescribeDBProxies` + `DescribeDBProxyTargets`, batched per region). `None` means
    /// "not checked" (the endpoint could not answer), never "none".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rds_proxies: Option<Vec<String>>,
    /// Zero-ETL integrations with this instance as source (`DescribeIntegrations`, matched on
    /// `SourceArn`), as `name (status)`; filled by discovery. `None` means "not checked".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zero_etl_integrations: Option<Vec<String>>,
}

/// The tag CloudFormation puts on every resource a stack manages.
pub const TAG_CLOUDFORMATION_STACK: &str = "aws:cloudformation:stack-name";

impl DbInstance {
    /// The first (normally the only) parameter group.
    pub fn parameter_group(&self) -> Option<&ParameterGroupStatus> {
        self.parameter_groups.first()
    }

    /// The CloudFormation stack that manages this instance, from its
    /// `aws:cloudformation:stack-name` tag.
    pub fn cloudformation_stack(&self) -> Option<&str> {
        self.tags.get(TAG_CLOUDFORMATION_STACK).map(String::as_str)
    }
}

/// A read replica that may be deleted without a final snapshot.
///
/// RDS refuses a final snapshot for a read replica: `DeleteDBInstance` needs
/// `SkipFinalSnapshot=true` and rejects `FinalDBSnapshotIdentifier` for replicas ("Can't be
/// specified when deleting a read replica", API reference of DeleteDBInstance;
/// `InvalidParameterCombination` "FinalDBSnapshotIdentifier can not be specified when deleting
/// a replica instance"). The promise "never delete without a snapshot" still holds: a replica's
/// data is its source's data, kept in the source's snapshots (the pre-upgrade snapshot and the
/// final snapshot its source gets when it is deleted), which is why replicas are deleted before
/// their source.
///
/// The only constructor is [`ReadReplica::of`], from a described instance that *is* a replica,
/// so a primary can never reach the snapshot-less delete by mistake; the backends check again,
/// against a fresh describe, right before the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadReplica {
    identifier: String,
    source: String,
}

impl ReadReplica {
    /// `Some` only for an instance that reports a `ReadReplicaSourceDBInstanceIdentifier`.
    pub fn of(db: &DbInstance) -> Option<ReadReplica> {
        db.read_replica_source.as_ref().map(|s| ReadReplica {
            identifier: db.identifier.clone(),
            source: s.clone(),
        })
    }
    pub fn identifier(&self) -> &str {
        &self.identifier
    }
    /// The source (identifier, or ARN for a cross-region replica) the replica was described with.
    pub fn source(&self) -> &str {
        &self.source
    }
}

/// An RDS Proxy (`DescribeDBProxies`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbProxy {
    pub name: String,
    #[serde(default)]
    pub arn: String,
    #[serde(default)]
    pub status: String,
}

/// One target of an RDS Proxy's target group (`DescribeDBProxyTargets`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyTarget {
    pub proxy_name: String,
    /// `RdsResourceId`: the DB instance (or cluster) identifier.
    pub resource_id: String,
    /// `RDS_INSTANCE`, `RDS_SERVERLESS_ENDPOINT` or `TRACKED_CLUSTER`.
    pub target_type: String,
}

/// A zero-ETL integration (`DescribeIntegrations`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Integration {
    pub name: String,
    #[serde(default)]
    pub arn: String,
    /// ARN of the source database.
    pub source_arn: String,
    #[serde(default)]
    pub target_arn: String,
    #[serde(default)]
    pub status: String,
}

/// One log file of an instance (`DescribeDBLogFiles`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogFile {
    pub name: String,
    /// Last written, milliseconds since the epoch (as RDS reports `LastWritten`).
    #[serde(default)]
    pub last_written: i64,
    #[serde(default)]
    pub size: i64,
}

/// A manual or automated DB snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub identifier: String,
    pub arn: String,
    pub instance_identifier: String,
    /// `creating`, `available`, `failed`, ...
    pub status: String,
    #[serde(default)]
    pub engine_version: String,
    #[serde(default)]
    pub allocated_storage_gib: i32,
    #[serde(default)]
    pub percent_progress: i32,
    #[serde(default)]
    pub tags: Tags,
}

/// A DB parameter group (not its parameters).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParameterGroup {
    pub name: String,
    pub family: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub arn: String,
}

impl ParameterGroup {
    /// AWS default groups are named `default.<family>` and cannot be modified.
    pub fn is_default(name: &str) -> bool {
        name.starts_with("default.")
    }
}

/// One parameter of a parameter group as `DescribeDBParameters` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Parameter {
    pub name: String,
    pub value: Option<String>,
    /// `user`, `engine-default` or `system`.
    pub source: String,
    /// `static` or `dynamic`.
    #[serde(default)]
    pub apply_type: String,
    #[serde(default = "yes")]
    pub is_modifiable: bool,
}

fn yes() -> bool {
    true
}

/// A parameter value to set with `ModifyDBParameterGroup`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParameterChange {
    pub name: String,
    pub value: String,
    /// `immediate` or `pending-reboot`.
    pub apply_method: String,
}

/// Blue/green deployment status. AWS types it as a free string, so unknown values are kept,
/// never a crash.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BgStatus {
    Provisioning,
    Available,
    SwitchoverInProgress,
    SwitchoverCompleted,
    InvalidConfiguration,
    SwitchoverFailed,
    Deleting,
    Other(String),
}

impl BgStatus {
    pub fn parse(s: &str) -> BgStatus {
        match s {
            "PROVISIONING" => BgStatus::Provisioning,
            "AVAILABLE" => BgStatus::Available,
            "SWITCHOVER_IN_PROGRESS" => BgStatus::SwitchoverInProgress,
            "SWITCHOVER_COMPLETED" => BgStatus::SwitchoverCompleted,
            "INVALID_CONFIGURATION" => BgStatus::InvalidConfiguration,
            "SWITCHOVER_FAILED" => BgStatus::SwitchoverFailed,
            "DELETING" => BgStatus::Deleting,
            other => BgStatus::Other(other.to_string()),
        }
    }
    pub fn as_str(&self) -> &str {
        match self {
            BgStatus::Provisioning => "PROVISIONING",
            BgStatus::Available => "AVAILABLE",
            BgStatus::SwitchoverInProgress => "SWITCHOVER_IN_PROGRESS",
            BgStatus::SwitchoverCompleted => "SWITCHOVER_COMPLETED",
            BgStatus::InvalidConfiguration => "INVALID_CONFIGURATION",
            BgStatus::SwitchoverFailed => "SWITCHOVER_FAILED",
            BgStatus::Deleting => "DELETING",
            BgStatus::Other(s) => s,
        }
    }
}

impl Serialize for BgStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for BgStatus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(BgStatus::parse(&s))
    }
}

impl std::fmt::Display for BgStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Per-member switchover detail (`SwitchoverDetails`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwitchoverMember {
    pub source_member: String,
    pub target_member: Option<String>,
    /// e.g. `PROVISIONING`, `AVAILABLE`, `SWITCHOVER_COMPLETED`, `MISSING_SOURCE`, `MISSING_TARGET`.
    pub status: String,
}

/// A blue/green deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlueGreen {
    /// `bgd-...` identifier assigned by RDS.
    pub identifier: String,
    pub name: String,
    /// ARN of the blue (source) instance.
    pub source: String,
    /// ARN of the green (target) instance, once known.
    pub target: Option<String>,
    pub status: BgStatus,
    #[serde(default)]
    pub status_details: Option<String>,
    #[serde(default)]
    pub switchover_details: Vec<SwitchoverMember>,
    #[serde(default)]
    pub tags: Tags,
}

impl BlueGreen {
    /// The green (target) instance identifiers, from `SwitchoverDetails` (`TargetMember` ARNs):
    /// what a guard describes before the switchover. Falls back to `Target` when the details
    /// are absent (an endpoint that reports only the primary pair).
    pub fn target_identifiers(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .switchover_details
            .iter()
            .filter_map(|m| m.target_member.as_deref())
            .map(|a| arn_resource_id(a).to_string())
            .collect();
        if out.is_empty() {
            out.extend(
                self.target
                    .as_deref()
                    .map(|a| arn_resource_id(a).to_string()),
            );
        }
        out.dedup();
        out
    }
}

/// The resource name at the end of an ARN (`arn:aws:rds:us-east-1:1:db:orders` -> `orders`);
/// anything that is not an ARN is returned as is.
pub fn arn_resource_id(arn: &str) -> &str {
    if arn.starts_with("arn:") {
        arn.rsplit(':').next().unwrap_or(arn)
    } else {
        arn
    }
}

/// Parameters of `CreateBlueGreenDeployment`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CreateBlueGreen {
    pub name: String,
    pub source_arn: String,
    pub target_engine_version: String,
    pub target_parameter_group: Option<String>,
    pub target_instance_class: Option<String>,
    pub target_storage_type: Option<String>,
    /// `TargetIops`: provisioned IOPS for green (io1/io2 always, gp3 above its baseline).
    #[serde(default)]
    pub target_iops: Option<i32>,
    /// `TargetStorageThroughput` in MiB/s (gp3 only).
    #[serde(default)]
    pub target_storage_throughput: Option<i32>,
    /// `TargetAllocatedStorage` in GiB (e.g. to meet io1's 100 GiB minimum).
    #[serde(default)]
    pub target_allocated_storage: Option<i32>,
    pub tags: Tags,
}

/// One entry of `ValidUpgradeTarget`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpgradeTarget {
    pub engine_version: String,
    pub is_major_version_upgrade: bool,
    #[serde(default)]
    pub auto_upgrade: bool,
}

/// One engine version as `DescribeDBEngineVersions` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineVersion {
    pub engine: String,
    pub engine_version: String,
    pub parameter_group_family: String,
    /// `available`, or `deprecated` (no longer offered for new instances; listed by
    /// `DescribeDBEngineVersions` only with `IncludeAll=true`).
    #[serde(default = "available")]
    pub status: String,
    #[serde(default)]
    pub valid_upgrade_targets: Vec<UpgradeTarget>,
}

fn available() -> String {
    "available".into()
}

impl EngineVersion {
    pub fn is_deprecated(&self) -> bool {
        self.status == "deprecated"
    }
}

/// An account quota as `DescribeAccountAttributes` reports it (`AccountQuotaName` `DBInstances`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    pub used: i64,
    pub max: i64,
}

impl Quota {
    pub fn headroom(&self) -> i64 {
        (self.max - self.used).max(0)
    }
}

/// Compare two engine versions component by component, numerically where both components are
/// numbers (`8.0.9` < `8.0.40`, `13.4` < `13.10`).
///
/// Components are separated by `.` or `-`, so RDS Extended Support minors, which AWS names
/// `major.minor-RDS.YYYYMMDD` (MySQL `5.7.44-RDS.20240808`, PostgreSQL `11.22-rds.20240418`;
/// optionally followed by `.Rn.YYYYMMDD`), sort after the community minor they patch and by
/// date among themselves, and before the next community minor: `5.7.44` < `5.7.44-RDS.20240529`
/// < `5.7.44-RDS.20240808` < `5.7.45`. (Amazon RDS User Guide, "Amazon RDS Extended Support
/// version naming".) Non-numeric components compare case-insensitively and naturally (`R2` <
/// `R10`), after numeric ones; a version that is a prefix of another sorts first.
pub fn cmp_versions(a: &str, b: &str) -> Ordering {
    let xs: Vec<&str> = a.split(['.', '-']).collect();
    let ys: Vec<&str> = b.split(['.', '-']).collect();
    for (x, y) in xs.iter().zip(ys.iter()) {
        let o = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(p), Ok(q)) => p.cmp(&q),
            (Ok(_), Err(_)) => Ordering::Less,
            (Err(_), Ok(_)) => Ordering::Greater,
            (Err(_), Err(_)) => cmp_natural(x, y),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    xs.len().cmp(&ys.len())
}

/// Case-insensitive comparison where runs of digits compare as numbers (`R2` < `R10`).
fn cmp_natural(a: &str, b: &str) -> Ordering {
    fn runs(s: &str) -> Vec<(bool, String)> {
        let mut out: Vec<(bool, String)> = Vec::new();
        for c in s.chars() {
            let digit = c.is_ascii_digit();
            match out.last_mut() {
                Some((d, run)) if *d == digit => run.push(c.to_ascii_lowercase()),
                _ => out.push((digit, c.to_ascii_lowercase().to_string())),
            }
        }
        out
    }
    let (xs, ys) = (runs(a), runs(b));
    for ((dx, x), (dy, y)) in xs.iter().zip(ys.iter()) {
        let o = match (dx, dy) {
            (true, true) => x
                .trim_start_matches('0')
                .len()
                .cmp(&y.trim_start_matches('0').len())
                .then_with(|| x.trim_start_matches('0').cmp(y.trim_start_matches('0'))),
            _ => x.cmp(y),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    xs.len().cmp(&ys.len())
}

/// True for an RDS Extended Support minor (`5.7.44-RDS.20240808`, `11.22-rds.20240418`).
pub fn is_extended_support_minor(version: &str) -> bool {
    version.to_ascii_uppercase().contains("-RDS.")
}

/// True when `version` equals `prefix` or starts with `prefix` followed by a dot
/// (`8.0.40` matches `8.0` and `8`, but not `8.04`).
pub fn version_has_prefix(version: &str, prefix: &str) -> bool {
    version == prefix
        || (version.starts_with(prefix) && version.as_bytes().get(prefix.len()) == Some(&b'.'))
}

/// The major version of an engine version: `5.7` for MySQL/MariaDB `5.7.44`, `13` for
/// PostgreSQL `13.15`.
pub fn major_version(engine: &str, version: &str) -> String {
    let parts: Vec<&str> = version.split('.').collect();
    if engine.starts_with("postgres") {
        parts.first().copied().unwrap_or(version).to_string()
    } else if parts.len() >= 2 {
        format!("{}.{}", parts[0], parts[1])
    } else {
        version.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert_eq!(cmp_versions("8.0.9", "8.0.40"), Ordering::Less);
        assert_eq!(cmp_versions("13.10", "13.4"), Ordering::Greater);
        assert_eq!(cmp_versions("5.7.44", "5.7.44"), Ordering::Equal);
        assert_eq!(cmp_versions("8.0", "8.0.1"), Ordering::Less);
        assert!(version_has_prefix("8.0.40", "8.0"));
        assert!(!version_has_prefix("8.04", "8.0"));
        assert_eq!(major_version("postgres", "13.15"), "13");
        assert_eq!(major_version("mysql", "5.7.44"), "5.7");
    }

    /// Regression (issue 10): Extended Support minors (`X.Y.Z-RDS.YYYYMMDD`) compared as
    /// "non-numeric, so greater than anything", which put 5.7.44-RDS.20240808 above 5.7.45 and
    /// 11.22-rds.20240418 above 11.23.
    #[test]
    fn extended_support_minors_sort_between_their_minor_and_the_next() {
        let ordered = [
            "5.7.33",
            "5.7.44",
            "5.7.44-RDS.20240408",
            "5.7.44-rds.20240529",
            "5.7.44-RDS.20240808",
            "5.7.44-RDS.20240808.R2.20240810",
            "5.7.44-RDS.20240808.R10.20240601",
            "5.7.45",
            "8.0.28",
        ];
        for (i, a) in ordered.iter().enumerate() {
            for (j, b) in ordered.iter().enumerate() {
                assert_eq!(cmp_versions(a, b), i.cmp(&j), "{a} vs {b}");
            }
        }
        assert_eq!(cmp_versions("11.22-rds.20240418", "11.23"), Ordering::Less);
        assert_eq!(
            cmp_versions("11.22-RDS.20240418", "11.22-rds.20240418"),
            Ordering::Equal
        );
        assert!(version_has_prefix("5.7.44-RDS.20240808", "5.7"));
        assert!(!version_has_prefix("5.7.44-RDS.20240808", "5.7.4"));
        assert_eq!(major_version("mysql", "5.7.44-RDS.20240808"), "5.7");
        assert_eq!(major_version("postgres", "11.22-rds.20240418"), "11");
        assert!(is_extended_support_minor("5.7.44-RDS.20240808"));
        assert!(is_extended_support_minor("11.22-rds.20240418"));
        assert!(!is_extended_support_minor("5.7.44"));
    }

    #[test]
    fn unknown_bg_status_survives() {
        let s: BgStatus = serde_json::from_str("\"SOMETHING_NEW\"").unwrap();
        assert_eq!(s, BgStatus::Other("SOMETHING_NEW".into()));
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"SOMETHING_NEW\"");
    }
}
