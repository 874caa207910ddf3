//! The planner: from an inventory, an engine catalog and the operator's targets to an
//! immutable [`Plan`]. **Pure**: no IO, no clock reads, no backend calls — everything it needs
//! arrives in a [`PlanContext`] (gathered by [`gather_context`], or [`PlanContext::offline`])
//! and a [`PlanRequest`] (whose `created_at` the caller reads from its clock).
//!
//! Owns: target parsing, upgrade-path resolution ([`paths`]) against each region's catalog,
//! pre-checks ([`prechecks`]), parameter-group planning ([`params`]: names, values, what green
//! requires and what to restore after switchover), green's storage ([`storage`]), class
//! mapping (`--class-map`), replica topology, quota headroom, and drift between a plan and
//! live instances ([`drift`]).
//!
//! ## Decisions
//! - **Multi-hop paths are refused**, with blocker `multi-hop-upgrade` naming the intermediate
//!   version to plan first (e.g. MySQL 5.6 -> 8.0 says "plan mysql=5.7 first"). Each hop is its
//!   own blue/green deployment, switchover and soak period, with its own rollback point; chaining
//!   them in one plan would hide a second production cut-over inside one approval.
//! - Same-region read replicas travel with their source (`Strategy::WithSource`, no steps,
//!   listed in the source's `replicas`); they count against the instance quota as green copies.
//! - A blocked database keeps `to_version` (when known) for the report, but has no target and
//!   `steps: []`: `apply` leaves it untouched.
//! - Databases of engines with no `--target` are listed as `skip`.
//! - Quota headroom is all-or-nothing per region: old instances stay (retention) after
//!   switchover, so every green copy is an extra instance until cleanup.
//! - Each database is planned with its own region's catalog (versions and valid targets differ
//!   by region), asked with `IncludeAll` so deprecated source minors keep their targets.
//! - Green gets a parameter group this plan creates whenever the family changes under a
//!   custom group, or green needs values its group would lack (`event_scheduler=OFF`, which
//!   MySQL 8.0 does not default to), default source groups included.
//!
//! ## Finding codes
//! | code | kind | fix |
//! |---|---|---|
//! | `backups-disabled` | blocker | enable automated backups (retention >= 1 day) |
//! | `status-not-available` | blocker | wait until `available`, plan again |
//! | `pending-modifications` | blocker | apply or revert pending modifications |
//! | `parameter-group-not-in-sync` | blocker | reboot so the group is `in-sync` |
//! | `logical-replication-off` | blocker | PostgreSQL major: `rds.logical_replication=1` + reboot |
//! | `source-version-too-old` | blocker | PostgreSQL: upgrade to the minimum minor first |
//! | `cascading-replica` | blocker | remove the replica's own replicas |
//! | `cross-region-replica` | blocker | delete the cross-region replica, upgrade, recreate |
//! | `managed-master-password` | blocker | stop Secrets Manager management of the password |
//! | `custom-option-group` | blocker | MySQL major: switch to the default option group |
//! | `engine-not-supported` | blocker | blue/green supports mysql, mariadb, postgres only |
//! | `previous-generation-class` | blocker | `--class-map` to a current class |
//! | `quota-headroom` | blocker | this database's green copies alone exceed the DBInstances quota headroom: raise the quota |
//! | `quota-headroom-low` | warning | the region's green copies exceed the headroom: apply waits for headroom; raise the quota or clean up between waves |
//! | `target-below-current` | blocker | choose a target >= running version |
//! | `no-upgrade-path` | blocker | choose a valid upgrade target |
//! | `multi-hop-upgrade` | blocker | plan the named intermediate major first |
//! | `storage-size-invalid` | blocker | `--allocated-storage` within the storage type's range |
//! | `storage-iops-required` | blocker | `--iops` for io1/io2 (range given) |
//! | `storage-iops-invalid` | blocker | IOPS/throughput within what RDS accepts for the type and size |
//! | `storage-iops-lower` | warning | green gets fewer IOPS than the source provisions: `--iops` |
//! | `storage-shrink` | warning | smaller than the source: green fails if the data does not fit |
//! | `deletion-protection` | warning | kept on; never turned off silently |
//! | `multi-az-cluster-member` | blocker | upgrade the Multi-AZ DB cluster itself |
//! | `rds-proxy-target` | blocker | deregister from the RDS Proxy for the upgrade |
//! | `rds-proxy-unknown` | warning | proxy targets not read: check by hand |
//! | `zero-etl-integration` | warning | delete the integration before approving the switchover |
//! | `zero-etl-unknown` | warning | integrations not read: check by hand |
//! | `cloudformation-managed` | warning | change the named template properties after switchover |
//! | `logical-replication-capacity` | blocker | PostgreSQL major: raise slots/senders/workers |
//! | `logical-replication-capacity-check` | warning | PostgreSQL major: count databases (SQL given) |
//! | `postgres-ddl-not-replicated` | warning | freeze DDL; compare schemas (SQL given) |
//! | `postgres-sequences-not-replicated` | warning | compare sequences, `setval()` on green |
//! | `postgres-large-objects-not-replicated` | warning | check `pg_largeobject_metadata` |
//! | `binlog-format-not-row` | warning | a MySQL source group sets `binlog_format` to other than ROW: set ROW |
//! | `logical-replication-unknown` | warning | re-run discovery live |
//! | `parameters-unknown` | warning | re-run discovery live |
//! | `replica-source-not-planned` | warning | include the source in the inventory |
//! | `catalog-fallback` | plan warning | live catalog unavailable, bundled one used |
//! | `catalog-offline` | plan warning | planned offline from the bundled catalog |
//! | `quota-unknown` | plan warning | quota headroom not checked |

pub mod drift;
pub mod params;
pub mod paths;
pub mod prechecks;
pub mod storage;

pub use drift::{check_drift, refuse_drift, Drift, DriftKind, DriftRefusal};

use crate::backend::RdsBackend;
use crate::catalog::Catalog;
use crate::clock::{rfc3339, Millis};
use crate::domain::{major_version, DbInstance, ParameterGroup, Quota};
use crate::plan::{
    Finding, ObservedSource, Plan, PlanSettings, PlannedDatabase, PlannedParameterGroup,
    PlannedStep, Strategy, TargetSpec, PLAN_SCHEMA_VERSION,
};
use paths::Resolution;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Storage types a green instance may be moved to.
pub const STORAGE_TYPES: &[&str] = &["gp2", "gp3", "io1", "io2"];

/// Everything the planner reads besides the inventory and the request.
#[derive(Debug, Clone)]
pub struct PlanContext {
    /// The engine catalog of each region (`DescribeDBEngineVersions` with `IncludeAll` asked
    /// there): versions and valid upgrade targets differ by region, so every database is
    /// planned against its own region's catalog.
    pub catalogs: BTreeMap<String, Catalog>,
    /// The catalog of a region with none of its own (offline planning, or a region where the
    /// live call was unusable).
    pub fallback: Catalog,
    pub catalog_warning: Option<Finding>,
    pub quotas: BTreeMap<String, Quota>,
    pub quota_warning: Option<Finding>,
}

impl PlanContext {
    /// For `plan --inventory FILE`: the bundled catalog, no quotas, and warnings saying so.
    pub fn offline() -> PlanContext {
        let catalog = Catalog::bundled();
        let catalog_warning = Some(Finding::new(
            "catalog-offline",
            format!("planned offline from an inventory file: upgrade paths come from the {} rather than a live DescribeDBEngineVersions; re-plan live before applying to confirm them", catalog.origin),
        ));
        PlanContext {
            catalog_warning,
            quota_warning: Some(Finding::new(
                "quota-unknown",
                "planned offline: DB instance quota headroom for the green copies was not checked; check DescribeAccountAttributes (DBInstances) by hand",
            )),
            ..PlanContext::with_catalog(catalog)
        }
    }

    /// One catalog for every region, no quotas and no warnings (tests, benchmarks).
    pub fn with_catalog(catalog: Catalog) -> PlanContext {
        PlanContext {
            catalogs: BTreeMap::new(),
            fallback: catalog,
            catalog_warning: None,
            quotas: BTreeMap::new(),
            quota_warning: None,
        }
    }

    /// The catalog to plan a database of `region` with.
    pub fn catalog(&self, region: &str) -> &Catalog {
        self.catalogs.get(region).unwrap_or(&self.fallback)
    }
}

/// Describe every instance in the regions of `plan` (one paginated describe per region): what
/// the pre-apply drift check ([`refuse_drift`]) compares the plan with.
pub async fn describe_fleet(
    backend: &dyn RdsBackend,
    plan: &crate::plan::Plan,
) -> Result<Vec<crate::domain::DbInstance>, (String, crate::backend::BackendError)> {
    let regions: BTreeSet<&str> = plan.databases.iter().map(|d| d.region.as_str()).collect();
    let mut live = Vec::new();
    for r in regions {
        let q = crate::backend::InstanceQuery::default();
        live.extend(
            backend
                .describe_instances(r, &q)
                .await
                .map_err(|e| (r.to_string(), e))?,
        );
    }
    Ok(live)
}

/// The live catalog of one region: every version of each engine, deprecated ones included
/// (`IncludeAll`: fleets run minors no longer offered, and need their upgrade targets).
/// `Err` says why the live answer is unusable.
async fn region_catalog(
    backend: &dyn RdsBackend,
    region: &str,
    engines: &BTreeSet<&String>,
) -> Result<Catalog, String> {
    let supported = &prechecks::rules().blue_green_engines;
    let mut versions = Vec::new();
    for engine in engines {
        match backend
            .describe_engine_versions(region, engine, None, true)
            .await
        {
            // An endpoint that answers but knows nothing of an engine blue/green can upgrade
            // (a partial emulator) is as good as unavailable for planning.
            Ok(v) if v.is_empty() && supported.contains(*engine) => {
                return Err(format!("it returned no {engine} versions"))
            }
            Ok(v) => versions.extend(v),
            Err(e) => return Err(format!("{}: {}", e.kind, e.code)),
        }
    }
    Ok(Catalog::from_versions(
        versions,
        format!("live DescribeDBEngineVersions in {region}"),
    ))
}

/// Fetch the engine catalog of every region (live, else the bundled one with a warning) and
/// the per-region instance quotas (where available).
pub async fn gather_context(
    backend: &dyn RdsBackend,
    regions: &[String],
    engines: &[String],
) -> PlanContext {
    let bundled = Catalog::bundled();
    let distinct: BTreeSet<&String> = engines.iter().collect();
    let mut catalogs = BTreeMap::new();
    let mut unusable = Vec::new();
    for region in regions {
        if catalogs.contains_key(region) {
            continue;
        }
        match region_catalog(backend, region, &distinct).await {
            Ok(c) => {
                catalogs.insert(region.clone(), c);
            }
            Err(why) => unusable.push(format!("{region} ({why})")),
        }
    }
    let catalog_warning = if regions.is_empty() {
        Some(Finding::new(
            "catalog-fallback",
            "no region to ask DescribeDBEngineVersions: the bundled engine catalog was used",
        ))
    } else {
        (!unusable.is_empty()).then(|| Finding::new(
            "catalog-fallback",
            format!("DescribeDBEngineVersions was unusable in {}: upgrade paths there come from the {}; re-plan when the live catalog is reachable", unusable.join(", "), bundled.origin),
        ))
    };
    let mut quotas = BTreeMap::new();
    let mut unknown = Vec::new();
    for region in regions {
        if quotas.contains_key(region) {
            continue;
        }
        match backend.describe_instance_quota(region).await {
            Ok(q) => {
                quotas.insert(region.clone(), q);
            }
            Err(e) => unknown.push(format!("{region} ({})", e.kind)),
        }
    }
    let quota_warning = (!unknown.is_empty()).then(|| {
        Finding::new(
            "quota-unknown",
            format!("the DBInstances quota could not be read in {}: headroom for the green copies was not checked there; check it by hand", unknown.join(", ")),
        )
    });
    PlanContext {
        catalogs,
        fallback: bundled,
        catalog_warning,
        quotas,
        quota_warning,
    }
}

/// What the operator asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanRequest {
    /// Engine -> wanted version or prefix (`mysql` -> `8.0`).
    pub targets: BTreeMap<String, String>,
    pub settings: PlanSettings,
    pub created_at: Millis,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanningError {
    #[error("bad target `{0}`: expected ENGINE=VERSION, e.g. mysql=8.0 or postgres=16.4")]
    BadTarget(String),
    #[error("no target given: pass at least one --target ENGINE=VERSION")]
    NoTargets,
    #[error("unknown engine `{engine}` in --target: the engine catalog knows {known}")]
    UnknownEngine { engine: String, known: String },
    #[error("target {engine}={version} is not in the engine catalog ({origin}); known {engine} versions: {known}")]
    TargetNotInCatalog {
        engine: String,
        version: String,
        origin: String,
        known: String,
    },
    #[error("target {engine}={version} is below the running version of every {engine} database (the oldest runs {oldest}); RDS cannot downgrade: choose a target at or above it")]
    TargetBelowFleet {
        engine: String,
        version: String,
        oldest: String,
    },
    #[error("bad class map `{0}`: expected FROM=TO instance-class prefixes, e.g. db.r5=db.r7g")]
    BadClassMap(String),
    #[error("bad storage type `{0}`: expected one of gp2, gp3, io1, io2")]
    BadStorageType(String),
    #[error("bad switchover timeout {0} s: RDS accepts 30 to 3600 seconds")]
    BadSwitchoverTimeout(u32),
}

/// Parse `mysql=8.0`.
pub fn parse_target(s: &str) -> Result<(String, String), PlanningError> {
    let bad = || PlanningError::BadTarget(s.to_string());
    let (e, v) = s.split_once('=').ok_or_else(bad)?;
    let (e, v) = (e.trim(), v.trim());
    let engine_ok = !e.is_empty()
        && e.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    // Extended Support minors carry a `-RDS.YYYYMMDD` suffix (`5.7.44-RDS.20240808`).
    let version_ok = !v.is_empty()
        && !v.starts_with(['.', '-'])
        && !v.ends_with(['.', '-'])
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    if !engine_ok || !version_ok {
        return Err(bad());
    }
    Ok((e.to_string(), v.to_string()))
}

/// Parse `db.r5=db.r7g` (instance-class family prefixes).
pub fn parse_class_map(s: &str) -> Result<(String, String), PlanningError> {
    let bad = || PlanningError::BadClassMap(s.to_string());
    let (a, b) = s.split_once('=').ok_or_else(bad)?;
    let (a, b) = (a.trim(), b.trim());
    let ok = |x: &str| {
        x.starts_with("db.")
            && x.len() > 3
            && !x.ends_with('.')
            && x.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
    };
    if !ok(a) || !ok(b) {
        return Err(bad());
    }
    Ok((a.to_string(), b.to_string()))
}

/// Apply the longest matching class-map prefix (`db.r5` maps `db.r5.large`, not `db.r5d.large`).
pub fn map_class(class_map: &[(String, String)], class: &str) -> String {
    class_map
        .iter()
        .filter(|(from, _)| {
            class == from
                || (class.starts_with(from.as_str())
                    && class.as_bytes().get(from.len()) == Some(&b'.'))
        })
        .max_by_key(|(from, _)| from.len())
        .map(|(from, to)| format!("{to}{}", &class[from.len()..]))
        .unwrap_or_else(|| class.to_string())
}

fn validate(
    inventory: &[DbInstance],
    ctx: &PlanContext,
    req: &PlanRequest,
) -> Result<(), PlanningError> {
    if req.targets.is_empty() {
        return Err(PlanningError::NoTargets);
    }
    if !(30..=3600).contains(&req.settings.switchover_timeout_secs) {
        return Err(PlanningError::BadSwitchoverTimeout(
            req.settings.switchover_timeout_secs,
        ));
    }
    if let Some(st) = &req.settings.storage_type {
        if !STORAGE_TYPES.contains(&st.as_str()) {
            return Err(PlanningError::BadStorageType(st.clone()));
        }
    }
    for (a, b) in &req.settings.class_map {
        parse_class_map(&format!("{a}={b}"))?;
    }
    let rules = prechecks::rules();
    // The catalogs the plan will use: each inventory region's (the fallback when empty).
    let regions: BTreeSet<&str> = inventory.iter().map(|d| d.region.as_str()).collect();
    let mut catalogs: Vec<&Catalog> = regions.iter().map(|r| ctx.catalog(r)).collect();
    if catalogs.is_empty() {
        catalogs.push(&ctx.fallback);
    }
    catalogs.dedup_by(|a, b| std::ptr::eq(*a, *b));
    for (engine, wanted) in &req.targets {
        parse_target(&format!("{engine}={wanted}"))?;
        let versions: BTreeSet<&str> = catalogs
            .iter()
            .flat_map(|c| c.versions.iter())
            .filter(|v| &v.engine == engine)
            .map(|v| v.engine_version.as_str())
            .collect();
        if versions.is_empty() {
            // An engine blue/green cannot upgrade but that the fleet runs is planned as
            // blocked (`engine-not-supported`), so the report shows it; anything else is a typo.
            let in_fleet = inventory.iter().any(|d| &d.engine == engine);
            if in_fleet && !rules.blue_green_engines.contains(engine) {
                continue;
            }
            let mut known: BTreeSet<&str> = catalogs
                .iter()
                .flat_map(|c| c.versions.iter())
                .map(|v| v.engine.as_str())
                .collect();
            if known.is_empty() {
                // A live catalog holds only the engines asked for: name the ones rdsfleet upgrades.
                known = rules
                    .blue_green_engines
                    .iter()
                    .map(String::as_str)
                    .collect();
            }
            return Err(PlanningError::UnknownEngine {
                engine: engine.clone(),
                known: known.into_iter().collect::<Vec<_>>().join(", "),
            });
        }
        if !versions
            .iter()
            .any(|v| crate::domain::version_has_prefix(v, wanted))
        {
            let majors: BTreeSet<String> =
                versions.iter().map(|v| major_version(engine, v)).collect();
            let origins: BTreeSet<&str> = catalogs.iter().map(|c| c.origin.as_str()).collect();
            return Err(PlanningError::TargetNotInCatalog {
                engine: engine.clone(),
                version: wanted.clone(),
                origin: origins.into_iter().collect::<Vec<_>>().join("; "),
                known: majors.into_iter().collect::<Vec<_>>().join(", "),
            });
        }
        below_fleet(inventory, ctx, engine, wanted)?;
    }
    Ok(())
}

/// A target below the running version of every database of its engine is a mistake, not a
/// plan (each database alone would only be blocked with `target-below-current`).
fn below_fleet(
    inventory: &[DbInstance],
    ctx: &PlanContext,
    engine: &str,
    wanted: &str,
) -> Result<(), PlanningError> {
    // Each database against its own region's catalog.
    let running: BTreeSet<(&str, &str)> = inventory
        .iter()
        .filter(|d| d.engine == engine)
        .map(|d| (d.region.as_str(), d.engine_version.as_str()))
        .collect();
    let below = |(r, v): &(&str, &str)| {
        paths::resolve(ctx.catalog(r), engine, v, wanted) == paths::Resolution::BelowCurrent
    };
    if !running.is_empty() && running.iter().all(below) {
        let oldest = running
            .iter()
            .map(|(_, v)| *v)
            .min_by(|a, b| crate::domain::cmp_versions(a, b))
            .unwrap_or_default();
        return Err(PlanningError::TargetBelowFleet {
            engine: engine.to_string(),
            version: wanted.to_string(),
            oldest: oldest.to_string(),
        });
    }
    Ok(())
}

fn observed(db: &DbInstance) -> ObservedSource {
    ObservedSource {
        status: db.status.clone(),
        engine_version: db.engine_version.clone(),
        parameter_group: db.parameter_group().map(|g| g.name.clone()),
        dbi_resource_id: db.dbi_resource_id.clone(),
        instance_class: db.instance_class.clone(),
        storage_type: db.storage_type.clone(),
        allocated_storage_gib: db.allocated_storage_gib,
        deletion_protection: db.deletion_protection,
    }
}

fn base(db: &DbInstance, strategy: Strategy) -> PlannedDatabase {
    let mut tags = BTreeMap::new();
    tags.insert("multi-az".to_string(), db.multi_az.to_string());
    PlannedDatabase {
        identifier: db.identifier.clone(),
        region: db.region.clone(),
        arn: db.arn.clone(),
        engine: db.engine.clone(),
        from_version: db.engine_version.clone(),
        to_version: None,
        strategy,
        skip_reason: None,
        wave: 1,
        blockers: Vec::new(),
        warnings: Vec::new(),
        replicas: Vec::new(),
        source: observed(db),
        target: None,
        steps: Vec::new(),
        tags,
    }
}

/// Per-database planning state kept between passes.
struct Work {
    db_index: usize,
    planned: PlannedDatabase,
    is_major: bool,
    target_family: String,
    target_class: String,
    storage: storage::GreenStorage,
}

impl Work {
    fn new(db_index: usize, planned: PlannedDatabase) -> Work {
        Work {
            db_index,
            planned,
            is_major: false,
            target_family: String::new(),
            target_class: String::new(),
            storage: storage::GreenStorage::default(),
        }
    }
}

/// The inventory sorted by (region, identifier) and indexed by the same key.
struct Index<'a> {
    order: Vec<usize>,
    by_key: HashMap<(&'a str, &'a str), usize>,
}

impl<'a> Index<'a> {
    fn new(inventory: &'a [DbInstance]) -> Index<'a> {
        let mut order: Vec<usize> = (0..inventory.len()).collect();
        order.sort_by(|&a, &b| {
            (&inventory[a].region, &inventory[a].identifier)
                .cmp(&(&inventory[b].region, &inventory[b].identifier))
        });
        let by_key = inventory
            .iter()
            .enumerate()
            .map(|(i, d)| ((d.region.as_str(), d.identifier.as_str()), i))
            .collect();
        Index { order, by_key }
    }
}

/// Path resolutions per (region, engine, from, wanted): fleets repeat versions, and each
/// region has its own catalog.
type Resolutions<'a> = HashMap<(&'a str, &'a str, &'a str, &'a str), Resolution>;

/// Build the plan. Deterministic: the same inventory, context and request give the same plan
/// (and plan id); databases come out sorted by (region, identifier).
pub fn plan(
    inventory: &[DbInstance],
    ctx: &PlanContext,
    req: &PlanRequest,
) -> Result<Plan, PlanningError> {
    validate(inventory, ctx, req)?;
    let index = Index::new(inventory);
    let mut resolutions: Resolutions = HashMap::new();
    let mut work: Vec<Work> = index
        .order
        .iter()
        .map(|&i| plan_database(inventory, i, &index, ctx, req, &mut resolutions))
        .collect();
    link_replicas(&mut work, inventory);
    check_quota_headroom(&mut work, ctx);
    let groups = targets_and_steps(&mut work, inventory, ctx);

    let mut warnings = Vec::new();
    warnings.extend(ctx.catalog_warning.clone());
    warnings.extend(ctx.quota_warning.clone());
    let mut plan = Plan {
        schema_version: PLAN_SCHEMA_VERSION,
        plan_id: String::new(),
        created_at: rfc3339(req.created_at),
        inventory_fingerprint: crate::inventory::fingerprint(inventory),
        targets: req.targets.clone(),
        settings: req.settings.clone(),
        warnings,
        parameter_groups: groups,
        databases: work.into_iter().map(|w| w.planned).collect(),
        policy: None,
        waves: Vec::new(),
    };
    finalize(&mut plan);
    Ok(plan)
}

/// First pass over one database: its strategy, target version and pre-check findings.
fn plan_database<'a>(
    inventory: &'a [DbInstance],
    i: usize,
    index: &Index,
    ctx: &PlanContext,
    req: &'a PlanRequest,
    resolutions: &mut Resolutions<'a>,
) -> Work {
    let db = &inventory[i];
    // Same-region replicas travel with their source.
    if let Some(src) = &db.read_replica_source {
        let (region, id) = prechecks::reference_region(src, &db.region);
        if region == db.region {
            let mut p = base(db, Strategy::WithSource);
            p.skip_reason = Some(format!(
                "read replica of `{id}`: upgraded with its source's blue/green deployment"
            ));
            if !index.by_key.contains_key(&(region, id)) {
                p.warnings.push(Finding::new(
                    "replica-source-not-planned",
                    format!("source `{id}` is not in this inventory, so this replica is not upgraded by this plan; include the source"),
                ));
            }
            return Work::new(i, p);
        }
    }
    let Some(wanted) = req.targets.get(&db.engine) else {
        let mut p = base(db, Strategy::Skip);
        p.skip_reason = Some(format!("no --target for engine {}", db.engine));
        return Work::new(i, p);
    };
    let rules = prechecks::rules();
    let mut w = Work::new(i, base(db, Strategy::BlueGreen));
    w.target_class = map_class(&req.settings.class_map, &db.instance_class);
    if !rules.blue_green_engines.contains(&db.engine) {
        w.planned.blockers.push(Finding::new(
            "engine-not-supported",
            format!("engine `{}` is not supported by RDS blue/green deployments (supported: {}); upgrade it another way", db.engine, rules.blue_green_engines.join(", ")),
        ));
        return w;
    }
    let catalog = ctx.catalog(&db.region);
    let res = resolutions
        .entry((
            db.region.as_str(),
            db.engine.as_str(),
            db.engine_version.as_str(),
            wanted.as_str(),
        ))
        .or_insert_with(|| paths::resolve(catalog, &db.engine, &db.engine_version, wanted))
        .clone();
    if !apply_resolution(&mut w, db, catalog, wanted, res) {
        return w;
    }
    let replicas: Vec<&DbInstance> = db
        .read_replicas
        .iter()
        .filter_map(|r| {
            let (region, id) = prechecks::reference_region(r, &db.region);
            (region == db.region)
                .then(|| index.by_key.get(&(region, id)).map(|&j| &inventory[j]))
                .flatten()
        })
        .collect();
    let (b, warn) = prechecks::run(
        rules,
        &prechecks::CheckInput {
            db,
            is_major: w.is_major,
            target_class: &w.target_class,
            replicas,
            target_version: w.planned.to_version.as_deref(),
            target_storage_type: req.settings.storage_type.as_deref(),
        },
    );
    w.planned.blockers.extend(b);
    w.planned.warnings.extend(warn);
    let st = storage::plan_storage(storage::rules(), db, &req.settings);
    w.planned.blockers.extend(st.blockers);
    w.planned.warnings.extend(st.warnings);
    w.storage = st.green;
    w
}

/// Record what the catalog says about the path; `false` when there is nothing more to check
/// (already at the target).
fn apply_resolution(
    w: &mut Work,
    db: &DbInstance,
    catalog: &Catalog,
    wanted: &str,
    res: Resolution,
) -> bool {
    let p = &mut w.planned;
    match res {
        Resolution::AlreadyAtTarget => {
            p.strategy = Strategy::Skip;
            p.to_version = Some(db.engine_version.clone());
            p.skip_reason = Some(format!("already at {} (target {}={wanted})", db.engine_version, db.engine));
            return false;
        }
        Resolution::BelowCurrent => p.blockers.push(Finding::new(
            "target-below-current",
            format!("target {}={wanted} is below the running version {}; RDS cannot downgrade: choose a target at or above it, or drop this database from the plan", db.engine, db.engine_version),
        )),
        Resolution::NoPath { reason } => p.blockers.push(Finding::new(
            "no-upgrade-path",
            format!("{reason}; choose a target listed in its ValidUpgradeTarget, or upgrade its minor version first"),
        )),
        Resolution::MultiHop { first_hop, majors } => p.blockers.push(Finding::new(
            "multi-hop-upgrade",
            format!("{} {} -> {wanted} needs several major upgrades ({} -> {}); rdsfleet does one major per plan: plan `--target {}={}` first (newest {first_hop}), apply and soak it, then plan {wanted}", db.engine, db.engine_version, major_version(&db.engine, &db.engine_version), majors.join(" -> "), db.engine, major_version(&db.engine, &first_hop)),
        )),
        Resolution::Upgrade { to, is_major } => {
            w.is_major = is_major;
            w.target_family = catalog
                .family(&db.engine, &to)
                .map(str::to_string)
                .unwrap_or_else(|| format!("{}{}", db.engine, major_version(&db.engine, &to)));
            p.to_version = Some(to);
        }
    }
    true
}

/// Same-region replicas: list them on their source and give them the source's target.
fn link_replicas(work: &mut [Work], inventory: &[DbInstance]) {
    let pos: HashMap<(String, String), usize> = work
        .iter()
        .enumerate()
        .map(|(k, w)| ((w.planned.region.clone(), w.planned.identifier.clone()), k))
        .collect();
    let mut links: Vec<(usize, usize)> = Vec::new();
    for (k, w) in work.iter().enumerate() {
        if w.planned.strategy != Strategy::WithSource {
            continue;
        }
        let db = &inventory[w.db_index];
        if let Some(src) = &db.read_replica_source {
            let (region, id) = prechecks::reference_region(src, &db.region);
            if let Some(&s) = pos.get(&(region.to_string(), id.to_string())) {
                links.push((s, k));
            }
        }
    }
    for (s, k) in links {
        let id = work[k].planned.identifier.clone();
        work[s].planned.replicas.push(id);
        let to = work[s].planned.to_version.clone();
        work[k].planned.to_version = to;
    }
}

/// Quota headroom: every green copy (source + its replicas) is one more instance.
fn check_quota_headroom(work: &mut [Work], ctx: &PlanContext) {
    let mut needed: BTreeMap<String, i64> = BTreeMap::new();
    for w in work.iter() {
        if w.planned.strategy == Strategy::BlueGreen && w.planned.blockers.is_empty() {
            *needed.entry(w.planned.region.clone()).or_default() +=
                1 + w.planned.replicas.len() as i64;
        }
    }
    for w in work.iter_mut() {
        let p = &mut w.planned;
        if p.strategy != Strategy::BlueGreen || !p.blockers.is_empty() {
            continue;
        }
        if let (Some(q), Some(&n)) = (ctx.quotas.get(&p.region), needed.get(&p.region)) {
            let own = 1 + p.replicas.len() as i64;
            if own > q.headroom() {
                // This deployment alone can never fit: block it.
                p.blockers.push(Finding::new(
                    "quota-headroom",
                    format!("{} needs {own} green instance(s) but the DBInstances quota in {} leaves {} ({} of {} used); request a quota increase", p.identifier, p.region, q.headroom(), q.used, q.max),
                ));
            } else if n > q.headroom() {
                // The region as a whole won't fit at once: apply waits for headroom.
                p.warnings.push(Finding::new(
                    "quota-headroom-low",
                    format!("{} needs {n} green instance(s) for this plan but the DBInstances quota leaves {} ({} of {} used); apply creates green copies only while there is headroom and waits otherwise, and every upgrade keeps its old instance until `cleanup`: raise the quota or clean up between waves", p.region, q.headroom(), q.used, q.max),
                ));
            }
        }
    }
}

/// Targets, parameter groups and steps for the actionable databases; returns the parameter
/// groups the plan creates.
fn targets_and_steps(
    work: &mut [Work],
    inventory: &[DbInstance],
    ctx: &PlanContext,
) -> Vec<PlannedParameterGroup> {
    let mut groups: BTreeMap<(String, String), PlannedParameterGroup> = BTreeMap::new();
    for w in work.iter_mut() {
        let db = &inventory[w.db_index];
        if w.planned.strategy != Strategy::BlueGreen || !w.planned.blockers.is_empty() {
            continue;
        }
        let Some(to) = w.planned.to_version.clone() else {
            continue;
        };
        let parameter_group = green_parameter_group(w, db, ctx, &to, &mut groups);
        let p = &mut w.planned;
        p.target = Some(TargetSpec {
            engine_version: to,
            parameter_group,
            parameter_group_family: w.target_family.clone(),
            instance_class: (w.target_class != db.instance_class).then(|| w.target_class.clone()),
            storage_type: w.storage.storage_type.clone(),
            iops: w.storage.iops,
            storage_throughput: w.storage.storage_throughput,
            allocated_storage_gib: w.storage.allocated_storage_gib,
        });
        p.steps = crate::machine::steps(Strategy::BlueGreen)
            .iter()
            .map(|s| PlannedStep {
                kind: s.kind,
                resource_name: None,
            })
            .collect();
    }
    groups.into_values().collect()
}

/// The parameter group green uses: the source's own group when it can serve green as is, an
/// AWS default group, or (`""`, named by `Plan::finalize`) a group this plan creates, recorded
/// in `groups` (one per source group and region, shared by the databases that use it).
///
/// A group is created when the family changes and the source has a custom group, or when
/// green needs values the group it would otherwise use does not have (`event_scheduler=OFF`
/// at creation, see [`params`]); then the source's user parameters are carried, mapped.
fn green_parameter_group(
    w: &mut Work,
    db: &DbInstance,
    ctx: &PlanContext,
    to: &str,
    groups: &mut BTreeMap<(String, String), PlannedParameterGroup>,
) -> String {
    let catalog = ctx.catalog(&db.region);
    let src_group = db.parameter_group();
    let src_family = src_group
        .and_then(|g| g.family.clone())
        .or_else(|| {
            catalog
                .family(&db.engine, &db.engine_version)
                .map(str::to_string)
        })
        .unwrap_or_default();
    let family_changes = w.is_major || src_family != w.target_family;
    let default_target = format!("default.{}", w.target_family);
    let Some(g) = src_group else {
        return default_target;
    };
    let is_default = ParameterGroup::is_default(&g.name);
    // An AWS default group has no user parameters; a custom one's may be unknown (offline).
    let known: Option<&[crate::domain::Parameter]> = if is_default {
        Some(&[])
    } else {
        g.user_parameters.as_deref()
    };
    if known.is_none() && !family_changes {
        // Offline, a custom group of the same family: green keeps it, unchecked.
        w.planned.warnings.push(Finding::new(
            "parameters-unknown",
            format!("the inventory does not hold the parameters of `{}`, so the values green needs at creation (event_scheduler=OFF) could not be checked; re-run discovery live", g.name),
        ));
        return g.name.clone();
    }
    let from_major = major_version(&db.engine, &db.engine_version);
    let to_major = major_version(&db.engine, to);
    let mapped = params::plan_group(
        params::table(),
        &db.engine,
        &from_major,
        &to_major,
        known.unwrap_or(&[]),
    );
    let create = if is_default {
        mapped.requires_group
    } else {
        family_changes || mapped.requires_group
    };
    if !create {
        return if is_default || family_changes {
            default_target
        } else {
            g.name.clone()
        };
    }
    let key = (db.region.clone(), g.name.clone());
    let entry = groups.entry(key).or_insert_with(|| PlannedParameterGroup {
        region: db.region.clone(),
        name: String::new(),
        family: w.target_family.clone(),
        source_group: g.name.clone(),
        source_family: src_family.clone(),
        description: format!("rdsfleet: {} carried into {}", g.name, w.target_family),
        parameters: mapped.parameters,
        dropped: mapped.dropped,
        renamed: mapped.renamed,
        used_by: Vec::new(),
        edits: mapped.edits,
        restore_after_switchover: mapped.restore_after_switchover,
    });
    entry.used_by.push(db.identifier.clone());
    if known.is_none() {
        w.planned.warnings.push(Finding::new(
            "parameters-unknown",
            format!("the inventory does not hold the parameters of `{}`, so its target group is created without them; re-run discovery live so they are carried over", g.name),
        ));
    }
    String::new() // `Plan::finalize` fills the deterministic name
}

/// Load a plan file and verify it: schema, content hash, and every resource name derived
/// from the plan id with the step table's naming rules.
pub fn load(path: &std::path::Path) -> Result<Plan, crate::plan::PlanError> {
    let plan = Plan::load(path)?;
    plan.verify_names(&path.display().to_string(), crate::machine::resource_name)?;
    Ok(plan)
}

/// [`load`] from text: parse, check the id, and check every resource name against the step
/// table's naming rules (the id does not cover derived names; an edited name is refused).
pub fn parse(path: &str, text: &str) -> Result<Plan, crate::plan::PlanError> {
    let plan = Plan::from_json(path, text)?;
    plan.verify_names(path, crate::machine::resource_name)?;
    Ok(plan)
}

/// Compute the plan id and derive every resource name from it, with the step table's naming
/// rules. Call after anything in the plan changed.
pub fn finalize(plan: &mut Plan) {
    plan.finalize_with(crate::machine::resource_name);
}

/// Apply a rollout policy to a plan (waves, switchover timeout, retention; the policy is
/// embedded) and compute its id again.
pub fn apply_policy(
    plan: &mut Plan,
    policy: &crate::policy::Policy,
    inventory: &[crate::domain::DbInstance],
) {
    plan.embed_policy(policy, inventory);
    finalize(plan);
}

#[cfg(test)]
mod tests;
