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
}

impl DbInstance {
    /// The first (normally the only) parameter group.
    pub fn parameter_group(&self) -> Option<&ParameterGroupStatus> {
        self.parameter_groups.first()
    }
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

/// Parameters of `CreateBlueGreenDeployment`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateBlueGreen {
    pub name: String,
    pub source_arn: String,
    pub target_engine_version: String,
    pub target_parameter_group: Option<String>,
    pub target_instance_class: Option<String>,
    pub target_storage_type: Option<String>,
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
    #[serde(default)]
    pub valid_upgrade_targets: Vec<UpgradeTarget>,
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

/// Compare two engine versions numerically component by component (`8.0.9` < `8.0.40`,
/// `13.4` < `13.10`). Non-numeric components compare as strings after numeric ones.
pub fn cmp_versions(a: &str, b: &str) -> Ordering {
    let mut ai = a.split('.');
    let mut bi = b.split('.');
    loop {
        match (ai.next(), bi.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let o = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(p), Ok(q)) => p.cmp(&q),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => x.cmp(y),
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
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

    #[test]
    fn unknown_bg_status_survives() {
        let s: BgStatus = serde_json::from_str("\"SOMETHING_NEW\"").unwrap();
        assert_eq!(s, BgStatus::Other("SOMETHING_NEW".into()));
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"SOMETHING_NEW\"");
    }
}
