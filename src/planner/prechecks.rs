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
        "multi-az-cluster-member",
        Severity::Blocker,
        "upgrade the Multi-AZ DB cluster itself; blue/green of DB instances does not support cluster members",
    ),
    (
        "rds-proxy-target",
        Severity::Blocker,
        "deregister the instance from the RDS Proxy for the upgrade, then register it again",
    ),
    (
        "rds-proxy-unknown",
        Severity::Warning,
        "check the RDS Proxy targets by hand, or re-run discovery with DescribeDBProxies allowed",
    ),
    (
        "zero-etl-integration",
        Severity::Warning,
        "delete the zero-ETL integration right before approving the switchover; recreate it after",
    ),
    (
        "zero-etl-unknown",
        Severity::Warning,
        "check DescribeIntegrations for the instance by hand, or re-run discovery live",
    ),
    (
        "cloudformation-managed",
        Severity::Warning,
        "after switchover change the named template properties so the stack does not undo the upgrade",
    ),
    (
        "logical-replication-capacity",
        Severity::Blocker,
        "raise max_replication_slots / max_wal_senders / max_logical_replication_workers / max_worker_processes and reboot",
    ),
    (
        "logical-replication-capacity-check",
        Severity::Warning,
        "count the databases (SQL given) and make sure the replication parameters exceed it",
    ),
    (
        "postgres-ddl-not-replicated",
        Severity::Warning,
        "freeze schema changes until switchover; compare schemas with the SQL given",
    ),
    (
        "postgres-sequences-not-replicated",
        Severity::Warning,
        "compare sequences with the SQL given and setval() the lagging ones on green before switchover",
    ),
    (
        "postgres-large-objects-not-replicated",
        Severity::Warning,
        "check pg_largeobject_metadata with the SQL given; move large objects before switchover",
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
    pub postgres_logical_replication: LogicalReplicationRule,
    /// `AWS::RDS::DBInstance` properties an upgrade may change, in the order the
    /// `cloudformation-managed` warning names them.
    pub cloudformation_properties: Vec<String>,
}

/// What PostgreSQL logical replication (a blue/green major upgrade) needs of the source's
/// parameters: see `logical_capacity`.
#[derive(Debug, Clone, Deserialize)]
pub struct LogicalReplicationRule {
    /// Parameters that need one unit per database on the instance.
    pub per_database: Vec<String>,
    /// The fewest databases any instance has (`postgres`): a per-database parameter at or
    /// below it is short whatever the instance holds.
    pub min_databases: i64,
    pub workers: String,
    pub worker_processes: String,
    /// Engine defaults that are plain numbers (formula defaults are left out).
    #[serde(default)]
    pub defaults: BTreeMap<String, i64>,
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
    /// The version green will run, when resolved.
    pub target_version: Option<&'a str>,
    /// Green's storage type, when `--storage-type` changes it.
    pub target_storage_type: Option<&'a str>,
}

/// Blockers and warnings found so far.
#[derive(Default)]
struct Found {
    b: Vec<Finding>,
    w: Vec<Finding>,
}

/// Run every per-database check; returns (blockers, warnings). The order of the groups (and
/// of the checks within them) is the order findings appear in the plan.
pub fn run(rules: &Rules, input: &CheckInput) -> (Vec<Finding>, Vec<Finding>) {
    let mut f = Found::default();
    state_checks(input.db, &mut f);
    if input.db.engine == "postgres" && input.is_major {
        postgres_major_checks(rules, input.db, &mut f);
    }
    replica_checks(input, &mut f);
    mysql_checks(input, &mut f);
    if is_previous_generation(rules, input.target_class) {
        f.b.push(Finding::new(
            "previous-generation-class",
            format!("instance class `{}` is previous generation and not offered for newer engine versions: add e.g. `--class-map {}={}` to move green to a current class", input.target_class, class_family(input.target_class), current_equivalent(input.target_class)),
        ));
    }
    if input.db.deletion_protection {
        f.w.push(Finding::new(
            "deletion-protection",
            "deletion protection is on: it stays on for the upgraded instance and is never turned off by rdsfleet; cleanup of the old instance will need an explicit operator flag",
        ));
    }
    topology_checks(rules, input, &mut f);
    if input.db.engine == "postgres" && input.is_major {
        postgres_caveats(&mut f);
    }
    (f.b, f.w)
}

/// Status, pending changes, backups, parameter group sync: what AWS checks of any source.
fn state_checks(db: &DbInstance, f: &mut Found) {
    if db.backup_retention_period <= 0 {
        f.b.push(Finding::new(
            "backups-disabled",
            "automated backups are off (retention 0 days); blue/green needs them: set the backup retention period to at least 1 day, then plan again",
        ));
    }
    if db.status != "available" {
        f.b.push(Finding::new(
            "status-not-available",
            format!("status is `{}`, not `available`; wait until it is available (or fix what keeps it busy), then plan again", db.status),
        ));
    }
    if !db.pending_modifications.is_empty() {
        f.b.push(Finding::new(
            "pending-modifications",
            format!("pending modifications ({}) would be applied mid-upgrade; apply them now (modify with apply-immediately) or revert them, then plan again", db.pending_modifications.join(", ")),
        ));
    }
    for g in &db.parameter_groups {
        if g.apply_status != "in-sync" {
            f.b.push(Finding::new(
                "parameter-group-not-in-sync",
                format!("parameter group `{}` is `{}`, not `in-sync`; reboot the instance in a quiet moment so the pending parameters apply, then plan again", g.name, g.apply_status),
            ));
        }
    }
}

/// A PostgreSQL major upgrade replicates logically: minimum source minor,
/// `rds.logical_replication`, and enough slots, senders and workers.
fn postgres_major_checks(rules: &Rules, db: &DbInstance, f: &mut Found) {
    let major = major_version(&db.engine, &db.engine_version);
    if let Some(min) = rules.postgres_min_source_for_major.get(&major) {
        if cmp_versions(&db.engine_version, min).is_lt() {
            f.b.push(Finding::new(
                "source-version-too-old",
                format!("a blue/green major upgrade from PostgreSQL {major} needs at least {min} (running {}); upgrade the minor version first", db.engine_version),
            ));
        }
    }
    match db.parameter_group() {
        None => f.b.push(logical_off("(none)")),
        Some(g) if ParameterGroup::is_default(&g.name) => f.b.push(logical_off(&g.name)),
        Some(g) => match &g.user_parameters {
            None => f.w.push(Finding::new(
                "logical-replication-unknown",
                format!("the values of parameter group `{}` are not in the inventory, so `rds.logical_replication` could not be checked; re-run discovery live", g.name),
            )),
            Some(p) => {
                let on = p.iter().any(|p| p.name == "rds.logical_replication" && p.value.as_deref() == Some("1"));
                if !on {
                    f.b.push(logical_off(&g.name));
                }
            }
        },
    }
    logical_capacity(&rules.postgres_logical_replication, db, f);
}

/// Cascading and cross-region replicas, on either side.
fn replica_checks(input: &CheckInput, f: &mut Found) {
    let db = input.db;
    for r in &input.replicas {
        if !r.read_replicas.is_empty() {
            f.b.push(Finding::new(
                "cascading-replica",
                format!("read replica `{}` has replicas of its own ({}); blue/green does not support cascading replicas: remove them (or promote them) first", r.identifier, r.read_replicas.join(", ")),
            ));
        }
    }
    for r in &db.read_replicas {
        let (region, id) = reference_region(r, &db.region);
        if region != db.region {
            f.b.push(Finding::new(
                "cross-region-replica",
                format!("read replica `{id}` is in {region}; blue/green does not support cross-region replicas: delete it, upgrade, then recreate it"),
            ));
        }
    }
    if let Some(src) = &db.read_replica_source {
        let (region, id) = reference_region(src, &db.region);
        if region != db.region {
            f.b.push(Finding::new(
                "cross-region-replica",
                format!("this is a cross-region read replica of `{id}` in {region}; blue/green does not support it: recreate it from the upgraded source instead"),
            ));
        }
    }
    if db.managed_master_password {
        f.b.push(Finding::new(
            "managed-master-password",
            "the master password is managed in Secrets Manager, which blue/green does not support: switch to a self-managed password (modify-db-instance --no-manage-master-user-password) for the upgrade",
        ));
    }
}

/// MySQL: option groups across a major, binlog format.
fn mysql_checks(input: &CheckInput, f: &mut Found) {
    let db = input.db;
    if db.engine != "mysql" {
        return;
    }
    if input.is_major {
        for og in &db.option_groups {
            if !og.starts_with("default:") {
                f.b.push(Finding::new(
                    "custom-option-group",
                    format!("custom option group `{og}` cannot be carried across a MySQL major upgrade by blue/green: switch to the default option group (or upgrade the option group separately) first"),
                ));
            }
        }
    }
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
            f.w.push(binlog_not_row(&pg.name, &v));
        }
    }
}

/// Topology and ownership: Multi-AZ DB cluster members, RDS Proxy targets, zero-ETL
/// integrations (each "not checked" when discovery could not read it), CloudFormation stacks.
fn topology_checks(rules: &Rules, input: &CheckInput, f: &mut Found) {
    let db = input.db;
    if let Some(c) = &db.db_cluster_identifier {
        f.b.push(Finding::new(
            "multi-az-cluster-member",
            format!("this instance is a member of DB cluster `{c}`; blue/green deployments of DB instances do not support Multi-AZ DB clusters: upgrade the cluster itself (modify-db-cluster --engine-version, in place, in a maintenance window) or leave it out of this plan"),
        ));
    }
    match &db.rds_proxies {
        Some(p) if !p.is_empty() => f.b.push(Finding::new(
            "rds-proxy-target",
            format!("this instance is a target of RDS Proxy {}; blue/green deployments do not support RDS Proxy targets: deregister it (aws rds deregister-db-proxy-targets --db-proxy-name NAME --db-instance-identifiers {}) and point clients at the instance endpoint for the upgrade, then register it again", p.join(", "), db.identifier),
        )),
        Some(_) => {}
        None => f.w.push(Finding::new(
            "rds-proxy-unknown",
            "whether an RDS Proxy targets this instance was not checked (DescribeDBProxies/DescribeDBProxyTargets could not be read, or the inventory predates the check): blue/green does not support proxy targets; check `aws rds describe-db-proxy-targets` for each proxy, or re-run discovery live with rds:DescribeDBProxies and rds:DescribeDBProxyTargets allowed",
        )),
    }
    match &db.zero_etl_integrations {
        Some(i) if !i.is_empty() => f.w.push(Finding::new(
            "zero-etl-integration",
            format!("this instance is the source of zero-ETL integration {}; during switchover blue and green can't have zero-ETL integrations, so RDS refuses the switchover while it exists: delete the integration (aws rds delete-integration) right before you approve the switchover, and recreate it from the upgraded instance after", i.join(", ")),
        )),
        Some(_) => {}
        None => f.w.push(Finding::new(
            "zero-etl-unknown",
            "whether this instance is the source of a zero-ETL integration was not checked (DescribeIntegrations could not be read, or the inventory predates the check): RDS refuses a switchover while one exists; check `aws rds describe-integrations` for this instance's ARN",
        )),
    }
    if let Some(stack) = db.cloudformation_stack() {
        f.w.push(cloudformation(rules, input, stack));
    }
}

/// The CloudFormation warning: which template properties to change so that the stack's next
/// update does not take the instance back to what the template still says.
fn cloudformation(rules: &Rules, input: &CheckInput, stack: &str) -> Finding {
    let db = input.db;
    let mut props: Vec<String> = Vec::new();
    let to = input.target_version.unwrap_or("the target version");
    for p in &rules.cloudformation_properties {
        let change = match p.as_str() {
            "EngineVersion" => Some(format!("EngineVersion: {to}")),
            "AllowMajorVersionUpgrade" if input.is_major => {
                Some("AllowMajorVersionUpgrade: true".to_string())
            }
            "DBParameterGroupName" if input.is_major => {
                Some("DBParameterGroupName: the target group this plan names".to_string())
            }
            "DBInstanceClass" if input.target_class != db.instance_class => {
                Some(format!("DBInstanceClass: {}", input.target_class))
            }
            "StorageType" => input
                .target_storage_type
                .filter(|t| *t != db.storage_type)
                .map(|t| format!("StorageType: {t}")),
            _ => None,
        };
        props.extend(change);
    }
    Finding::new(
        "cloudformation-managed",
        format!("managed by CloudFormation stack `{stack}` (tag aws:cloudformation:stack-name): an upgrade made outside the stack is undone by its next update; once switched over, change the template ({}) and update the stack with no other change, or keep the stack from updating this instance until then", props.join(", ")),
    )
}

/// `max_replication_slots`, `max_wal_senders` and `max_logical_replication_workers` must each
/// exceed the number of databases on the instance (one slot, sender and apply worker per
/// database), and `max_worker_processes` must exceed `max_logical_replication_workers`; short,
/// AWS fails the deployment: "Creation of blue/green deployment failed due to incompatible
/// parameter(s): [...]". Only values the inventory proves too small block; the rest is a
/// warning with the SQL that counts the databases, since rdsfleet cannot see inside them.
fn logical_capacity(rule: &LogicalReplicationRule, db: &DbInstance, f: &mut Found) {
    let Some(g) = db.parameter_group() else {
        return;
    };
    let user = |name: &str| -> Option<i64> {
        g.user_parameters
            .as_ref()?
            .iter()
            .find(|p| p.name == name)?
            .value
            .as_deref()?
            .parse()
            .ok()
    };
    let effective = |name: &str| user(name).or_else(|| rule.defaults.get(name).copied());
    let mut short: Vec<String> = Vec::new();
    for p in &rule.per_database {
        if let Some(v) = user(p).filter(|v| *v <= rule.min_databases) {
            short.push(format!("{p}={v}"));
        }
    }
    let workers = effective(&rule.workers);
    if let (Some(proc), Some(w)) = (user(&rule.worker_processes), workers) {
        if proc <= w {
            short.push(format!(
                "{}={proc} (not above {}={w})",
                rule.worker_processes, rule.workers
            ));
        }
    }
    if !short.is_empty() {
        f.b.push(Finding::new(
            "logical-replication-capacity",
            format!("parameter group `{}` sets {}: blue/green logical replication needs one replication slot, WAL sender and apply worker per database, and more worker processes than apply workers, so AWS would fail the deployment (\"incompatible parameter(s)\"); raise them in the group (static: reboot), then plan again", g.name, short.join(", ")),
        ));
        return;
    }
    let listed = g.user_parameters.is_some() || ParameterGroup::is_default(&g.name);
    let known = |p: &str| match (user(p), rule.defaults.get(p)) {
        (Some(v), _) => format!("{p}={v}"),
        _ if !listed => format!("{p}=unknown (re-run discovery live)"),
        (None, Some(d)) => format!("{p}={d} (default)"),
        (None, None) => format!("{p}=engine default"),
    };
    let mut all: Vec<String> = rule.per_database.iter().map(|p| known(p)).collect();
    all.push(known(&rule.worker_processes));
    f.w.push(Finding::new(
        "logical-replication-capacity-check",
        format!("blue/green logical replication needs {} each above the number of databases, and max_worker_processes above max_logical_replication_workers, or AWS fails the deployment (\"incompatible parameter(s)\"); now {}: count the databases with `SELECT count(*) FROM pg_database WHERE datallowconn;` and raise the parameters in `{}` (static: reboot) before applying", rule.per_database.join(", "), all.join(", "), g.name),
    ));
}

/// What logical replication does not carry from blue to green (RDS User Guide, PostgreSQL
/// limitations for blue/green deployments with logical replication), each with the SQL that
/// shows whether it matters for this database.
fn postgres_caveats(f: &mut Found) {
    f.w.push(Finding::new(
        "postgres-ddl-not-replicated",
        "logical replication does not copy DDL (CREATE/ALTER/DROP): freeze schema changes from deployment creation to switchover, and compare blue and green before approving with `SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2, 3;` run on both",
    ));
    f.w.push(Finding::new(
        "postgres-sequences-not-replicated",
        "logical replication does not copy sequence values: before approving the switchover compare `SELECT schemaname, sequencename, last_value FROM pg_sequences ORDER BY 1, 2;` on blue and green, and on green `SELECT setval('<schema>.<sequence>', <blue's last_value>);` any that lag, or new rows will reuse ids",
    ));
    f.w.push(Finding::new(
        "postgres-large-objects-not-replicated",
        "logical replication does not copy large objects (pg_largeobject): `SELECT count(*) FROM pg_largeobject_metadata;` on blue must be 0, or those objects will be missing on green; move them into bytea columns (or re-import them on green) before the switchover",
    ));
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
