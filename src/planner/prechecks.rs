//! Pre-checks: everything that must hold before a database may enter a blue/green upgrade.
//!
//! Each check yields a [`Finding`] with a stable kebab-case `code` (part of the plan format:
//! tooling greps for them) and a message that names the database's actual values and says how
//! to fix the problem. [`CODES`] is the one table of codes; the planner module doc and
//! `plans/README.md` mirror it. Facts AWS may change (supported engines, previous-generation
//! classes, minimum PostgreSQL minors) live in `data/planner-rules.json`.

use crate::domain::{cmp_versions, major_version, DbInstance, ParameterGroup};
use crate::plan::Finding;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;

const RULES: &str = include_str!("../../data/planner-rules.json");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Blocker,
    Warning,
}

/// Every finding code the planner emits, its severity and the fix it suggests.
pub const CODES: &[(&str, Severity, &str)] = &[
    (
        "backups-disabled",
        Severity::Blocker,
        "enable automated backups (backup retention period >= 1 day)",
    ),
    (
        "status-not-available",
        Severity::Blocker,
        "wait until the instance is `available`, then plan again",
    ),
    (
        "pending-modifications",
        Severity::Blocker,
        "apply or revert the pending modifications, then plan again",
    ),
    (
        "parameter-group-not-in-sync",
        Severity::Blocker,
        "reboot the instance so its parameter group is `in-sync`",
    ),
    (
        "logical-replication-off",
        Severity::Blocker,
        "set `rds.logical_replication=1` in a custom parameter group and reboot",
    ),
    (
        "source-version-too-old",
        Severity::Blocker,
        "upgrade to the named minimum minor version first",
    ),
    (
        "cascading-replica",
        Severity::Blocker,
        "remove the replica's own replicas (cascading replication) first",
    ),
    (
        "cross-region-replica",
        Severity::Blocker,
        "delete the cross-region replica, upgrade, and recreate it",
    ),
    (
        "managed-master-password",
        Severity::Blocker,
        "turn off Secrets Manager management of the master password for the upgrade",
    ),
    (
        "custom-option-group",
        Severity::Blocker,
        "switch to the default option group, or upgrade the option group first",
    ),
    (
        "engine-not-supported",
        Severity::Blocker,
        "upgrade this engine another way; blue/green supports only the listed engines",
    ),
    (
        "previous-generation-class",
        Severity::Blocker,
        "map the class to a current one with `--class-map`",
    ),
    (
        "quota-headroom",
        Severity::Blocker,
        "raise the DBInstances quota: this database's green copies alone exceed the headroom",
    ),
    (
        "quota-headroom-low",
        Severity::Warning,
        "apply will wait for headroom; raise the DBInstances quota or run cleanup between waves",
    ),
    (
        "target-below-current",
        Severity::Blocker,
        "choose a target at or above the running version",
    ),
    (
        "no-upgrade-path",
        Severity::Blocker,
        "choose a target the catalog lists as a valid upgrade target",
    ),
    (
        "multi-hop-upgrade",
        Severity::Blocker,
        "plan and apply the named intermediate major first",
    ),
    (
        "binlog-format-not-row",
        Severity::Warning,
        "set binlog_format=ROW in the source's custom parameter group",
    ),
    (
        "deletion-protection",
        Severity::Warning,
        "none needed: deletion protection is kept on and never turned off",
    ),
    (
        "logical-replication-unknown",
        Severity::Warning,
        "re-run discovery live so the parameter group's values are known",
    ),
    (
        "parameters-unknown",
        Severity::Warning,
        "re-run discovery live so the custom parameters can be carried over",
    ),
    (
        "replica-source-not-planned",
        Severity::Warning,
        "include the replica's source in the inventory",
    ),
    (
        "catalog-fallback",
        Severity::Warning,
        "re-plan when DescribeDBEngineVersions is reachable",
    ),
    (
        "catalog-offline",
        Severity::Warning,
        "re-plan live before applying to confirm the upgrade paths",
    ),
    (
        "quota-unknown",
        Severity::Warning,
        "check the DBInstances quota headroom by hand",
    ),
];

#[derive(Debug, Clone, Deserialize)]
pub struct Rules {
    pub blue_green_engines: Vec<String>,
    pub previous_generation_class_prefixes: Vec<String>,
    pub postgres_min_source_for_major: BTreeMap<String, String>,
}

/// The bundled rules, parsed once.
pub fn rules() -> &'static Rules {
    static R: OnceLock<Rules> = OnceLock::new();
    R.get_or_init(|| serde_json::from_str(RULES).expect("bundled planner rules are valid"))
}

/// True when `class` (e.g. `db.m4.large`) is in a previous-generation family.
pub fn is_previous_generation(rules: &Rules, class: &str) -> bool {
    rules
        .previous_generation_class_prefixes
        .iter()
        .any(|p| class.starts_with(p.as_str()) && class.as_bytes().get(p.len()) == Some(&b'.'))
}

/// Where a replica or source reference points: same region (plain identifier or an ARN in the
/// same region) or another region.
pub fn reference_region<'a>(reference: &'a str, own_region: &'a str) -> (&'a str, &'a str) {
    // arn:aws:rds:REGION:ACCOUNT:db:IDENTIFIER
    let parts: Vec<&str> = reference.splitn(7, ':').collect();
    if parts.len() == 7 && parts[0] == "arn" && parts[2] == "rds" {
        (parts[3], parts[6])
    } else {
        (own_region, reference)
    }
}

/// The facts a database's checks need beyond the instance itself.
pub struct CheckInput<'a> {
    pub db: &'a DbInstance,
    pub is_major: bool,
    /// The class green will run (after `--class-map`).
    pub target_class: &'a str,
    /// Same-region replicas of `db` as found in the inventory (for cascading detection).
    pub replicas: Vec<&'a DbInstance>,
}

/// Run every per-database check; returns (blockers, warnings).
pub fn run(rules: &Rules, input: &CheckInput) -> (Vec<Finding>, Vec<Finding>) {
    let db = input.db;
    let mut b = Vec::new();
    let mut w = Vec::new();
    if db.backup_retention_period <= 0 {
        b.push(Finding::new(
            "backups-disabled",
            "automated backups are off (retention 0 days); blue/green needs them: set the backup retention period to at least 1 day, then plan again",
        ));
    }
    if db.status != "available" {
        b.push(Finding::new(
            "status-not-available",
            format!("status is `{}`, not `available`; wait until it is available (or fix what keeps it busy), then plan again", db.status),
        ));
    }
    if !db.pending_modifications.is_empty() {
        b.push(Finding::new(
            "pending-modifications",
            format!("pending modifications ({}) would be applied mid-upgrade; apply them now (modify with apply-immediately) or revert them, then plan again", db.pending_modifications.join(", ")),
        ));
    }
    for g in &db.parameter_groups {
        if g.apply_status != "in-sync" {
            b.push(Finding::new(
                "parameter-group-not-in-sync",
                format!("parameter group `{}` is `{}`, not `in-sync`; reboot the instance in a quiet moment so the pending parameters apply, then plan again", g.name, g.apply_status),
            ));
        }
    }
    if db.engine == "postgres" && input.is_major {
        let major = major_version(&db.engine, &db.engine_version);
        if let Some(min) = rules.postgres_min_source_for_major.get(&major) {
            if cmp_versions(&db.engine_version, min).is_lt() {
                b.push(Finding::new(
                    "source-version-too-old",
                    format!("a blue/green major upgrade from PostgreSQL {major} needs at least {min} (running {}); upgrade the minor version first", db.engine_version),
                ));
            }
        }
        match db.parameter_group() {
            None => b.push(logical_off("(none)")),
            Some(g) if ParameterGroup::is_default(&g.name) => b.push(logical_off(&g.name)),
            Some(g) => match &g.user_parameters {
                None => w.push(Finding::new(
                    "logical-replication-unknown",
                    format!("the values of parameter group `{}` are not in the inventory, so `rds.logical_replication` could not be checked; re-run discovery live", g.name),
                )),
                Some(p) => {
                    let on = p.iter().any(|p| p.name == "rds.logical_replication" && p.value.as_deref() == Some("1"));
                    if !on {
                        b.push(logical_off(&g.name));
                    }
                }
            },
        }
    }
    for r in &input.replicas {
        if !r.read_replicas.is_empty() {
            b.push(Finding::new(
                "cascading-replica",
                format!("read replica `{}` has replicas of its own ({}); blue/green does not support cascading replicas: remove them (or promote them) first", r.identifier, r.read_replicas.join(", ")),
            ));
        }
    }
    for r in &db.read_replicas {
        let (region, id) = reference_region(r, &db.region);
        if region != db.region {
            b.push(Finding::new(
                "cross-region-replica",
                format!("read replica `{id}` is in {region}; blue/green does not support cross-region replicas: delete it, upgrade, then recreate it"),
            ));
        }
    }
    if let Some(src) = &db.read_replica_source {
        let (region, id) = reference_region(src, &db.region);
        if region != db.region {
            b.push(Finding::new(
                "cross-region-replica",
                format!("this is a cross-region read replica of `{id}` in {region}; blue/green does not support it: recreate it from the upgraded source instead"),
            ));
        }
    }
    if db.managed_master_password {
        b.push(Finding::new(
            "managed-master-password",
            "the master password is managed in Secrets Manager, which blue/green does not support: switch to a self-managed password (modify-db-instance --no-manage-master-user-password) for the upgrade",
        ));
    }
    if db.engine == "mysql" && input.is_major {
        for og in &db.option_groups {
            if !og.starts_with("default:") {
                b.push(Finding::new(
                    "custom-option-group",
                    format!("custom option group `{og}` cannot be carried across a MySQL major upgrade by blue/green: switch to the default option group (or upgrade the option group separately) first"),
                ));
            }
        }
    }
    if db.engine == "mysql" {
        // AWS recommends binlog_format=ROW for blue/green: green replicates from blue's binary
        // log, and MIXED/STATEMENT can make the two diverge.
        if let Some(pg) = db.parameter_group() {
            let set = pg
                .user_parameters
                .as_ref()
                .and_then(|ps| ps.iter().find(|p| p.name == "binlog_format"))
                .and_then(|p| p.value.clone());
            // Only an explicit non-ROW setting is flagged: the engine default would flag
            // nearly every MySQL 5.7 database and drown the report.
            if let Some(v) = set.filter(|v| !v.eq_ignore_ascii_case("ROW")) {
                w.push(binlog_not_row(&pg.name, &v));
            }
        }
    }
    if is_previous_generation(rules, input.target_class) {
        b.push(Finding::new(
            "previous-generation-class",
            format!("instance class `{}` is previous generation and not offered for newer engine versions: add e.g. `--class-map {}={}` to move green to a current class", input.target_class, class_family(input.target_class), current_equivalent(input.target_class)),
        ));
    }
    if db.deletion_protection {
        w.push(Finding::new(
            "deletion-protection",
            "deletion protection is on: it stays on for the upgraded instance and is never turned off by rdsfleet; cleanup of the old instance will need an explicit operator flag",
        ));
    }
    (b, w)
}

fn binlog_not_row(group: &str, value: &str) -> Finding {
    Finding::new(
        "binlog-format-not-row",
        format!("binlog_format is {value} in parameter group `{group}`; blue/green replication is most reliable with ROW: set binlog_format=ROW in a custom group before the upgrade"),
    )
}

fn logical_off(group: &str) -> Finding {
    Finding::new(
        "logical-replication-off",
        format!("a PostgreSQL major upgrade through blue/green uses logical replication, but `rds.logical_replication` is not 1 in parameter group `{group}`: set it to 1 in a custom group and reboot, then plan again"),
    )
}

/// A current Graviton family to suggest for a previous-generation class (`db.m4.large` ->
/// `db.m7g`, `db.t2.small` -> `db.t4g`).
fn current_equivalent(class: &str) -> String {
    match class.as_bytes().get(3) {
        Some(b't') => "db.t4g".into(),
        Some(&c) => format!("db.{}7g", c as char),
        None => "db.r7g".into(),
    }
}

/// `db.r5.large` -> `db.r5`.
pub fn class_family(class: &str) -> &str {
    match class.rfind('.') {
        Some(i) if i > 3 => &class[..i],
        _ => class,
    }
}
