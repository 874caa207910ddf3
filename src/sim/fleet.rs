//! `sim init`: the seeded fleet and the default parameter groups. (Which parameters exist in
//! which family, with their defaults and accepted values, is [`super::params`].)
//!
//! The fleet mimics an organisation that has drifted: mostly MySQL 5.7 across two regions
//! (some on Extended Support minors `5.7.44-rds.*`, a few on the deprecated `5.7.33`), some
//! PostgreSQL 12/13, read replicas, custom parameter groups with user-modified parameters
//! (5.7 groups with the 5.7 `sql_mode`, `event_scheduler=ON`, variables 8.0 removed), and
//! (unless `clean`) one or more databases for each problem case listed in [`PROBLEM_SHARES`]. Each problem database has exactly one problem, so counts add up.

use super::rng::{self, SplitMix};
use super::store::{self, InstRow, PgRow, SimLog};
use super::{InitOptions, SimError, WorldSummary, SIM_ACCOUNT_ID, SIM_REGIONS};
use crate::catalog::Catalog;
use crate::clock::Millis;
use crate::domain::{DbInstance, ParameterGroup, ParameterGroupStatus, Tags};
use rusqlite::Transaction;
use std::collections::{BTreeMap, BTreeSet};

/// Problem cases of a non-clean fleet and their share of the databases (at least one each
/// once the fleet has 20 databases or more; fewer for tiny fleets).
pub const PROBLEM_SHARES: &[(&str, f64)] = &[
    ("backups-off", 0.05),
    ("postgres-no-logical-replication", 0.04),
    ("cascading-replica", 0.01),
    ("cross-region-replica", 0.01),
    ("deletion-protection", 0.06),
    ("mysql-5.6", 0.03),
    ("stopped", 0.03),
    ("pending-modifications", 0.03),
    ("managed-master-password", 0.03),
    ("shared-parameter-group", 0.06),
    ("multi-az-cluster", 0.01),
    ("rds-proxy-target", 0.01),
    ("cloudformation-managed", 0.03),
    ("zero-etl-integration", 0.01),
    ("postgres-replication-capacity", 0.01),
];

/// The initial fleet was created long before the world's start (so no eventual-consistency
/// lag hides it).
const LONG_AGO: Millis = 30 * 86_400_000;

/// Name of the custom parameter group shared by the `shared-parameter-group` databases.
pub const SHARED_GROUP: &str = "shared-mysql57-params";

pub fn arn(region: &str, kind: &str, id: &str) -> String {
    format!("arn:aws:rds:{region}:{SIM_ACCOUNT_ID}:{kind}:{id}")
}

struct Gen<'a> {
    tx: &'a Transaction<'a>,
    rng: SplitMix,
    seed: u64,
    start: Millis,
    used: BTreeSet<String>,
    instances: Vec<InstRow>,
    groups: BTreeMap<(String, String), PgRow>,
}

const TEAMS: &[&str] = &[
    "payments",
    "orders",
    "search",
    "identity",
    "billing",
    "catalog",
    "analytics",
    "growth",
    "platform",
    "support",
    "shipping",
    "inventory",
];
const APPS: &[&str] = &[
    "db", "api", "ledger", "events", "reports", "core", "sessions", "jobs", "audit", "users",
];
/// MySQL 5.7 Extended Support minors, as `DescribeDBEngineVersions` names them.
const MYSQL57_EXTENDED: &[&str] = &[
    "5.7.44-rds.20240808",
    "5.7.44-rds.20250508",
    "5.7.44-rds.20251212",
];
const MYSQL57: &[&str] = &[
    "5.7.37", "5.7.38", "5.7.39", "5.7.40", "5.7.41", "5.7.42", "5.7.43", "5.7.44", "5.7.44",
    "5.7.44",
];
const PG: &[&str] = &[
    "12.16", "12.19", "12.20", "12.22", "13.12", "13.15", "13.16", "13.18", "13.20",
];
const CLASSES: &[(&str, u32)] = &[
    ("db.t3.medium", 3),
    ("db.m5.large", 4),
    ("db.r5.large", 4),
    ("db.r5.xlarge", 2),
    ("db.r6g.xlarge", 2),
    ("db.r5.2xlarge", 1),
];
const STORAGE: &[(i32, u32)] = &[
    (20, 3),
    (50, 4),
    (100, 5),
    (200, 4),
    (300, 3),
    (500, 2),
    (1000, 1),
    (2000, 1),
];

#[derive(Clone, Copy)]
enum Engine {
    Mysql57,
    Mysql56,
    Mysql80,
    Postgres,
}

/// The error log every instance has from the start (as `DescribeDBLogFiles` lists it).
pub fn base_log(i: &DbInstance, at: Millis) -> SimLog {
    let name = if i.engine == "postgres" {
        format!("error/postgresql.log.{}", log_hour(at))
    } else {
        "error/mysql-error.log".to_string()
    };
    SimLog {
        name,
        written_at: at,
        text: format!(
            "{} 0 [Note] {} {} ready for connections.\n",
            crate::clock::rfc3339(at),
            i.engine,
            i.engine_version
        ),
    }
}

/// `2024-05-01-13`: the hour suffix RDS puts on rotated log names.
pub fn log_hour(at: Millis) -> String {
    let t = crate::clock::rfc3339(at);
    format!("{}-{}", &t[..10], &t[11..13])
}

/// What a problem case changes on its primary (the topology cases are built elsewhere).
fn apply_problem(row: &mut InstRow, problem: Option<&str>, seed: u64) {
    let inst = &mut row.inst;
    let id = inst.identifier.clone();
    match problem {
        Some("backups-off") => inst.backup_retention_period = 0,
        Some("deletion-protection") => inst.deletion_protection = true,
        Some("stopped") => inst.status = "stopped".into(),
        Some("pending-modifications") => {
            inst.pending_modifications = vec!["DBInstanceClass".into()]
        }
        Some("managed-master-password") => inst.managed_master_password = true,
        Some("rds-proxy-target") => row.proxies = vec![format!("{id}-proxy")],
        Some("zero-etl-integration") => row.integrations = vec![format!("{id}-to-redshift")],
        Some("postgres-replication-capacity") => row.databases = 6,
        Some("cloudformation-managed") => {
            let stack = format!("{id}-stack");
            let stack_id = format!(
                "arn:aws:cloudformation:{}:{SIM_ACCOUNT_ID}:stack/{stack}/{}",
                inst.region,
                rng::token(seed, &["stack", &id], 32)
            );
            inst.tags
                .insert(crate::domain::TAG_CLOUDFORMATION_STACK.into(), stack);
            inst.tags
                .insert("aws:cloudformation:logical-id".into(), "Database".into());
            inst.tags
                .insert("aws:cloudformation:stack-id".into(), stack_id);
        }
        _ => {}
    }
    row.problem = problem.map(str::to_string);
}

impl<'a> Gen<'a> {
    fn name(&mut self, env: &str) -> String {
        for _ in 0..1000 {
            let team = *self.rng.pick(TEAMS);
            let app = *self.rng.pick(APPS);
            let base = format!("{team}-{app}-{env}");
            for i in 1..100 {
                let n = if i == 1 {
                    base.clone()
                } else {
                    format!("{base}-{i}")
                };
                if self.used.insert(n.clone()) {
                    return n;
                }
            }
        }
        let n = format!("db-{}", self.used.len());
        self.used.insert(n.clone());
        n
    }

    fn dbi(&self, region: &str, id: &str) -> String {
        format!(
            "db-{}",
            rng::token(self.seed, &["dbi", region, id], 26).to_ascii_uppercase()
        )
    }

    fn group(&mut self, region: &str, name: &str, family: &str, params: &[(&str, &str)]) {
        let key = (region.to_string(), name.to_string());
        self.groups.entry(key).or_insert_with(|| PgRow {
            group: ParameterGroup {
                name: name.to_string(),
                family: family.to_string(),
                description: format!("custom parameters for {name}"),
                arn: arn(region, "pg", name),
            },
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            tags: Tags::new(),
            created_at: self.start,
        });
    }

    /// A 5.7 minor as real estates run them: mostly community minors, some on an Extended
    /// Support minor (`5.7.44-rds.*`), a few on a minor no longer offered (`5.7.33`). The
    /// extra draws hash the seed and the pick (no draw from the fleet stream, so the rest of
    /// the fleet is unchanged).
    fn mysql57_version(&mut self) -> &'static str {
        let v = *self.rng.pick(MYSQL57);
        let n = self.instances.len().to_string();
        let u = rng::unit(self.seed, &["mysql57-minor", &n]);
        if u < 0.12 {
            self.pick_hashed(&n, MYSQL57_EXTENDED)
        } else if u < 0.18 {
            "5.7.33"
        } else {
            v
        }
    }

    fn pick_hashed(&self, salt: &str, xs: &[&'static str]) -> &'static str {
        let i = (rng::unit(self.seed, &["pick", salt]) * xs.len() as f64) as usize;
        xs[i.min(xs.len() - 1)]
    }

    /// The 5.7 settings that real custom groups carry and MySQL 8.0 refuses or changed:
    /// the 5.7 `sql_mode` with `NO_AUTO_CREATE_USER`, `event_scheduler=ON`, removed variables.
    /// Hashed per group name, so the fleet stream is unchanged.
    fn legacy_57_params(&self, name: &str) -> Vec<(&'static str, &'static str)> {
        let u = |k: &str| rng::unit(self.seed, &["legacy57", name, k]);
        let mut p = vec![];
        if u("sql_mode") < 0.5 {
            p.push((
                "sql_mode",
                "STRICT_TRANS_TABLES,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION",
            ));
        }
        if u("event_scheduler") < 0.3 {
            p.push(("event_scheduler", "ON"));
        }
        if u("show_compatibility_56") < 0.2 {
            p.push(("show_compatibility_56", "ON"));
        }
        if u("innodb_stats_sample_pages") < 0.15 {
            p.push(("innodb_stats_sample_pages", "16"));
        }
        p
    }

    /// Engine, version and parameter group family of a new primary.
    fn version(&mut self, engine: Engine) -> (&'static str, &'static str, &'static str) {
        match engine {
            Engine::Mysql57 => ("mysql", self.mysql57_version(), "mysql5.7"),
            Engine::Mysql56 => ("mysql", "5.6.51", "mysql5.6"),
            // Zero-ETL integrations need MySQL 8.0.32 or later.
            Engine::Mysql80 => ("mysql", "8.0.36", "mysql8.0"),
            Engine::Postgres => {
                let v = *self.rng.pick(PG);
                let fam = if v.starts_with("12") {
                    "postgres12"
                } else {
                    "postgres13"
                };
                ("postgres", v, fam)
            }
        }
    }

    /// The parameter group of a new primary: the default, its own custom group, or the shared
    /// one (creating the custom group on the way).
    fn group_for(
        &mut self,
        region: &str,
        id: &str,
        engine: Engine,
        family: &str,
        problem: Option<&str>,
    ) -> String {
        match (engine, problem) {
            (_, Some("shared-parameter-group")) => {
                self.group(
                    region,
                    SHARED_GROUP,
                    "mysql5.7",
                    &[
                        ("query_cache_size", "67108864"),
                        ("query_cache_type", "1"),
                        ("tx_isolation", "READ-COMMITTED"),
                        ("max_connections", "1000"),
                        ("innodb_lock_wait_timeout", "120"),
                    ],
                );
                SHARED_GROUP.to_string()
            }
            (Engine::Postgres, Some("postgres-no-logical-replication" | "multi-az-cluster")) => {
                format!("default.{family}")
            }
            (Engine::Postgres, _) => {
                let name = format!("{id}-{family}");
                let work_mem = if self.rng.unit() < 0.5 {
                    "16384"
                } else {
                    "65536"
                };
                let mut p = vec![
                    ("rds.logical_replication", "1"),
                    ("work_mem", work_mem),
                    ("log_min_duration_statement", "1000"),
                ];
                if problem == Some("postgres-replication-capacity") {
                    // One apply worker cannot serve `postgres` plus an application database.
                    p.push(("max_logical_replication_workers", "1"));
                }
                self.group(region, &name, family, &p);
                name
            }
            (Engine::Mysql57, _) if self.rng.unit() < 0.5 => {
                let name = format!("{id}-mysql57");
                let mut p = self.mysql57_params();
                p.extend(self.legacy_57_params(&name));
                self.group(region, &name, "mysql5.7", &p);
                name
            }
            _ => format!("default.{family}"),
        }
    }

    /// User-modified parameters of a custom MySQL 5.7 group, as drifted fleets have them.
    fn mysql57_params(&mut self) -> Vec<(&'static str, &'static str)> {
        let mut p: Vec<(&str, &str)> = vec![
            ("max_connections", *self.rng.pick(&["300", "500", "2000"])),
            ("binlog_format", "ROW"),
        ];
        if self.rng.unit() < 0.6 {
            p.push(("query_cache_size", "33554432"));
            p.push(("query_cache_type", "1"));
        }
        if self.rng.unit() < 0.5 {
            p.push(("tx_isolation", "READ-COMMITTED"));
        }
        if self.rng.unit() < 0.5 {
            p.push(("innodb_lock_wait_timeout", "100"));
            p.push(("innodb_flush_log_at_trx_commit", "2"));
        }
        if self.rng.unit() < 0.3 {
            p.push(("slow_query_log", "1"));
            p.push(("long_query_time", "2"));
        }
        p
    }

    /// Make one primary instance (no replicas yet).
    fn primary(&mut self, region: &str, engine: Engine, problem: Option<&str>) -> InstRow {
        let env = *self
            .rng
            .weighted(&[("dev", 30), ("staging", 25), ("prod", 45)]);
        let id = self.name(env);
        let team = id.split('-').next().unwrap_or("platform").to_string();
        let (eng, version, family) = self.version(engine);
        let group = self.group_for(region, &id, engine, family, problem);
        let class = self.rng.weighted(CLASSES).to_string();
        let storage = *self.rng.weighted(STORAGE);
        let mut tags = Tags::new();
        tags.insert("env".into(), env.into());
        tags.insert("team".into(), team);
        let major = crate::domain::major_version(eng, version);
        let inst = DbInstance {
            region: region.to_string(),
            identifier: id.clone(),
            arn: arn(region, "db", &id),
            dbi_resource_id: self.dbi(region, &id),
            engine: eng.to_string(),
            engine_version: version.to_string(),
            status: "available".into(),
            instance_class: class,
            allocated_storage_gib: storage,
            storage_type: if self.rng.unit() < 0.6 { "gp2" } else { "gp3" }.into(),
            iops: None,
            storage_throughput: None,
            multi_az: env == "prod",
            parameter_groups: vec![ParameterGroupStatus {
                name: group,
                apply_status: "in-sync".into(),
                family: None,
                user_parameters: None,
            }],
            option_groups: vec![format!("default:{}-{}", eng, major.replace('.', "-"))],
            read_replica_source: None,
            read_replicas: vec![],
            backup_retention_period: match env {
                "prod" => 14,
                "staging" => 7,
                _ => 1,
            },
            deletion_protection: false,
            managed_master_password: false,
            pending_modifications: vec![],
            tags,
            db_cluster_identifier: None,
            rds_proxies: None,
            zero_etl_integrations: None,
        };
        let mut row = InstRow::new(inst, self.start - LONG_AGO);
        row.logs = vec![base_log(&row.inst, self.start - LONG_AGO)];
        apply_problem(&mut row, problem, self.seed);
        row
    }

    /// The member instances of a Multi-AZ DB cluster (a writer and two readers), which
    /// `DescribeDBInstances` lists with their `DBClusterIdentifier`.
    fn cluster(&mut self, region: &str) {
        let mut writer = self.primary(region, Engine::Postgres, Some("multi-az-cluster"));
        let cluster_id = writer.inst.identifier.clone();
        writer.inst.db_cluster_identifier = Some(cluster_id.clone());
        for n in 1..=3 {
            let mut m = writer.clone();
            if n > 1 {
                m.problem = None;
            }
            let id = format!("{cluster_id}-instance-{n}");
            self.used.insert(id.clone());
            m.inst.identifier = id.clone();
            m.inst.arn = arn(region, "db", &id);
            m.inst.dbi_resource_id = self.dbi(region, &id);
            m.inst.multi_az = false;
            m.logs = vec![base_log(&m.inst, self.start - LONG_AGO)];
            self.instances.push(m);
        }
    }

    /// A read replica of `src` in `region` (cross-region when it differs).
    fn replica(&mut self, src_idx: usize, region: &str, n: usize) -> usize {
        let src = self.instances[src_idx].inst.clone();
        let id = format!("{}-ro{n}", src.identifier);
        self.used.insert(id.clone());
        let cross = region != src.region;
        let mut r = src.clone();
        r.region = region.to_string();
        r.identifier = id.clone();
        r.arn = arn(region, "db", &id);
        r.dbi_resource_id = self.dbi(region, &id);
        r.read_replica_source = Some(if cross {
            src.arn.clone()
        } else {
            src.identifier.clone()
        });
        r.read_replicas = vec![];
        r.backup_retention_period = 0;
        r.deletion_protection = false;
        r.multi_az = false;
        if cross {
            // A cross-region replica cannot use the source region's custom group.
            let fam = self
                .groups
                .get(&(src.region.clone(), r.parameter_groups[0].name.clone()))
                .map(|g| g.group.family.clone());
            if let Some(f) = fam {
                r.parameter_groups[0].name = format!("default.{f}");
            }
        }
        self.instances[src_idx].inst.read_replicas.push(if cross {
            r.arn.clone()
        } else {
            id.clone()
        });
        let mut row = InstRow::new(r, self.start - LONG_AGO);
        row.logs = vec![base_log(&row.inst, self.start - LONG_AGO)];
        self.instances.push(row);
        self.instances.len() - 1
    }
}

/// The problem cases of a fleet of `n` databases, in [`PROBLEM_SHARES`] order (at least one
/// each once `n >= 20`).
fn problem_list(n: usize, clean: bool) -> Vec<&'static str> {
    let mut problems = vec![];
    if !clean {
        for (p, share) in PROBLEM_SHARES {
            let mut k = (share * n as f64).round() as usize;
            if n >= 20 {
                k = k.max(1);
            }
            problems.extend(std::iter::repeat_n(*p, k));
        }
    }
    problems
}

fn region_for(rng: &mut SplitMix) -> &'static str {
    if rng.unit() < 0.6 {
        SIM_REGIONS[0]
    } else {
        SIM_REGIONS[1]
    }
}

impl Gen<'_> {
    /// One problem database (with the instances its topology needs), if it fits in `n`.
    fn add_problem(&mut self, p: &str, n: usize) {
        let size = match p {
            "cascading-replica" | "multi-az-cluster" => 3,
            "cross-region-replica" => 2,
            _ => 1,
        };
        if self.instances.len() + size > n {
            return;
        }
        let engine = match p {
            "postgres-no-logical-replication" | "postgres-replication-capacity" => Engine::Postgres,
            "mysql-5.6" => Engine::Mysql56,
            "zero-etl-integration" => Engine::Mysql80,
            _ => Engine::Mysql57,
        };
        let region = match p {
            // The replica goes to the other region, and shared groups live in one region.
            "cross-region-replica" | "shared-parameter-group" => SIM_REGIONS[0],
            _ => region_for(&mut self.rng),
        };
        if p == "multi-az-cluster" {
            self.cluster(region);
            return;
        }
        let row = self.primary(region, engine, Some(p));
        self.instances.push(row);
        let idx = self.instances.len() - 1;
        match p {
            "cascading-replica" => {
                let r1 = self.replica(idx, region, 1);
                self.replica(r1, region, 1);
            }
            "cross-region-replica" => {
                self.replica(idx, SIM_REGIONS[1], 1);
            }
            _ => {}
        }
    }

    /// Healthy databases until the fleet has `n`, some with a same-region read replica.
    fn add_healthy(&mut self, n: usize) {
        while self.instances.len() < n {
            let engine = if self.rng.unit() < 0.85 {
                Engine::Mysql57
            } else {
                Engine::Postgres
            };
            let region = region_for(&mut self.rng);
            let row = self.primary(region, engine, None);
            self.instances.push(row);
            let idx = self.instances.len() - 1;
            if self.instances.len() < n && self.rng.unit() < 0.08 {
                self.replica(idx, region, 1);
            }
        }
    }

    /// Default groups of every family in every region, then the custom groups.
    fn write_groups(&self) -> Result<(), SimError> {
        let families: BTreeSet<String> = Catalog::bundled()
            .versions
            .iter()
            .map(|v| v.parameter_group_family.clone())
            .collect();
        for region in SIM_REGIONS {
            for f in &families {
                let name = format!("default.{f}");
                let row = PgRow {
                    group: ParameterGroup {
                        name: name.clone(),
                        family: f.clone(),
                        description: format!("Default parameter group for {f}"),
                        arn: arn(region, "pg", &name),
                    },
                    params: BTreeMap::new(),
                    tags: Tags::new(),
                    created_at: self.start,
                };
                store::put_pg(self.tx, region, &row)?;
            }
        }
        for ((region, _), pg) in &self.groups {
            store::put_pg(self.tx, region, pg)?;
        }
        Ok(())
    }

    /// The instances, with the summary of what was made.
    fn write_instances(&self) -> Result<WorldSummary, SimError> {
        let mut summary = WorldSummary {
            databases: self.instances.len(),
            by_region: BTreeMap::new(),
            problems: BTreeMap::new(),
        };
        for r in &self.instances {
            store::put_inst(self.tx, r)?;
            *summary.by_region.entry(r.inst.region.clone()).or_default() += 1;
            if let Some(p) = &r.problem {
                *summary.problems.entry(p.clone()).or_default() += 1;
            }
        }
        Ok(summary)
    }
}

/// Fill an empty world: default parameter groups, the fleet, quotas. Returns the summary.
pub fn generate(
    tx: &Transaction,
    opts: &InitOptions,
    start: Millis,
) -> Result<WorldSummary, SimError> {
    let mut g = Gen {
        tx,
        rng: SplitMix::new(rng::hash_parts(opts.seed, &["fleet"])),
        seed: opts.seed,
        start,
        used: BTreeSet::new(),
        instances: vec![],
        groups: BTreeMap::new(),
    };
    let n = opts.databases;
    for p in problem_list(n, opts.clean) {
        g.add_problem(p, n);
    }
    g.add_healthy(n);
    g.write_groups()?;
    let summary = g.write_instances()?;
    // Quotas: explicit, or 40 raised to fit the region's fleet plus 50% headroom.
    for region in SIM_REGIONS {
        let count = *summary.by_region.get(region).unwrap_or(&0) as i64;
        let max = match opts.instance_quota {
            Some(q) => q,
            None if count * 3 / 2 > 40 => (count * 3 + 1) / 2,
            None => 40,
        };
        g.tx.execute(
            "INSERT OR REPLACE INTO quota (region, max) VALUES (?1, ?2)",
            rusqlite::params![region, max],
        )?;
        g.tx.execute(
            "INSERT OR REPLACE INTO bucket (region, tokens, updated_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![region, opts.throttle_burst, start],
        )?;
    }
    Ok(summary)
}
