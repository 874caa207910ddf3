//! The embedded simulated RDS (`--backend sim`): a whole AWS account in one SQLite world file,
//! driven by a simulated clock, that implements [`RdsBackend`](crate::backend::RdsBackend)
//! with AWS's statuses, durations, error codes, throttling, quotas and failures.
//!
//! # Model
//!
//! Discrete events: every resource carries its status, and future transitions sit in an
//! `events` table (due time, kind, target). Each API call first applies every event due at
//! `clock.now()`, in order, then acts, all inside one SQLite transaction with the call's trail
//! entry. Statuses are therefore a pure function of (seed, calls, time): the same seed and the
//! same calls give the same run, and a killed orchestrator never leaves half a call.
//!
//! Time is a [`ScaledClock`](crate::clock::ScaledClock) whose epochs and speed are stored in
//! the world, so time is continuous across processes and keeps passing while none runs (as on
//! AWS). At `--speed 600`, a 30-minute provisioning takes 3 s of wall time.
//!
//! At `--speed max` ([`InitOptions::speed`] infinite) the world runs on *virtual time*
//! ([`VirtualClock`](crate::clock::VirtualClock)): time stands still while rdsfleet works and
//! jumps to the end of each of its waits, so a rollout takes only the CPU time it needs and
//! its simulated makespan is what it would be at real speed (the same as on a `ManualClock`
//! with the same seed). The current virtual time is stored in the world (`virtual_now`) by
//! every call and every wait, so the next process (a `resume` after `kill -9`) continues the
//! same timeline; time does not pass while no process runs.
//!
//! # Durations (simulated time, drawn per resource from the seed)
//!
//! | what | duration |
//! |---|---|
//! | snapshot `creating` -> `available` (source `backing-up` meanwhile) | 2 min + 1.5 s/GiB, x0.8-1.3 |
//! | blue/green PROVISIONING -> AVAILABLE | 18 min + 4 s/GiB + 6 min per replica, x0.8-1.3 |
//! | green instances | `creating` -> `upgrading` (45%) -> `storage-optimization` (only when the storage type changes) -> `available`; the deployment is AVAILABLE only once every green instance is |
//! | switchover | 35-150 s; writes unavailable 20-90 s of it, recorded per database ([`SimBackend::downtime`]); longer than `SwitchoverTimeout` => rolled back, SWITCHOVER_FAILED |
//! | delete instance | `deleting` for 4-10 min (plus its final snapshot), then gone |
//! | other actor (fault) | `modifying` 10-30 min or `rebooting` 2-5 min, 5-20 min after rdsfleet first touches the database |
//!
//! Instance statuses used: `available`, `backing-up`, `creating`, `modifying`, `upgrading`,
//! `storage-optimization`, `rebooting`, `stopped`, `deleting`.
//!
//! # Switchover
//!
//! The blue instance is renamed `<id>-old1` (`-old2` if that exists, ...) and becomes
//! read-only; the green instance takes the production name, with the new version and
//! parameter group and a different DbiResourceId. Same-region read replicas of the source get
//! green copies at creation and are switched together. The deployment's `Source` then names the
//! old instance and its `Target` the new one, as on AWS.
//!
//! # Throttling and quota (defaults)
//!
//! Each region has a token bucket in *simulated* time: 300 requests burst, 12/s sustained
//! (`InitOptions::throttle_burst` / `throttle_rate`). Every call (every page of a describe)
//! takes a token; without one it fails with `Throttling` "Rate exceeded", is recorded in the
//! trail with outcome `Throttling`, and changes nothing. Describes paginate at MaxRecords 100:
//! 250 instances are 3 `DescribeDBInstances` calls.
//!
//! `DBInstances` quota: 40 per region by default; when the generated fleet of a region needs
//! more, that region's quota is raised to the fleet size plus 50% (an organisation with 70
//! instances in a region has had its quota raised), unless `instance_quota` is given, which
//! then applies as is. Green instances count against it; a creation that would exceed it fails
//! with `InstanceQuotaExceeded`. `describe_instance_quota` reads it the way
//! `DescribeAccountAttributes` reports it (used and max). [`SimBackend::set_instance_quota`]
//! changes it later (AWS granting an increase, or another team taking the headroom).
//!
//! # Prerequisites of CreateBlueGreenDeployment (AWS codes)
//!
//! | refused when | code |
//! |---|---|
//! | name exists | `BlueGreenDeploymentAlreadyExistsFault` |
//! | source missing | `DBInstanceNotFound` |
//! | source not `available`, or already in a deployment | `InvalidDBInstanceState` |
//! | source parameter group not `in-sync` | `InvalidDBInstanceState` |
//! | source is a replica, has a cascading replica or a cross-region replica | `SourceDatabaseNotSupportedFault` |
//! | Secrets-Manager-managed master password | `SourceDatabaseNotSupportedFault` |
//! | MySQL/MariaDB with automated backups off | `InvalidParameterCombination` |
//! | PostgreSQL major upgrade without `rds.logical_replication=1` | `InvalidParameterCombination` |
//! | target version not a valid upgrade target (engine catalog), or no longer offered (`deprecated`) | `InvalidParameterCombination` |
//! | target parameter group missing / wrong family | `DBParameterGroupNotFound` / `InvalidParameterCombination` |
//! | green's group leaves `event_scheduler` other than OFF (MySQL 8.0's default is ON) | `InvalidParameterCombination` |
//! | green's storage: io1/io2 without IOPS, below 100 GiB or outside 0.5-50 (io2: 1000) IOPS per GiB; IOPS or throughput on gp3 below 400 GiB; gp3 IOPS outside 12000-64000, throughput outside 500-4000 or above 0.25 MiB/s per IOPS; throughput off gp3; IOPS on gp2 | `InvalidParameterCombination` (an unknown storage type: `InvalidParameterValue`) |
//! | the green instances would exceed the quota | `InstanceQuotaExceeded` |
//! | source is a member of a Multi-AZ DB cluster (`DBClusterIdentifier`), or an RDS Proxy target | `SourceDatabaseNotSupportedFault` |
//!
//! A PostgreSQL major upgrade (logical replication) whose source group leaves
//! `max_replication_slots`, `max_wal_senders` or `max_logical_replication_workers` at or below
//! the number of databases (2 unless the fleet says otherwise), or `max_worker_processes` at or
//! below `max_logical_replication_workers`, is accepted and then goes INVALID_CONFIGURATION
//! with AWS's status details "Creation of blue/green deployment failed due to incompatible
//! parameter(s): [...]".
//!
//! `DescribeDBEngineVersions` is answered from the shared engine catalog
//! ([`crate::catalog`], `data/engine-catalog.json`); versions no longer offered (`5.7.33`)
//! are listed only with `IncludeAll`, as on RDS. Green gets the requested storage type, size,
//! IOPS and throughput (the source's when not requested and the type is kept).
//!
//! # API notes
//!
//! - Describes filter like AWS's `Filters`: an empty query means everything in the region, and
//!   identifiers that match nothing are simply absent (no error). Exceptions, as on AWS:
//!   `describe_parameter_groups` with names and `describe_parameters` answer
//!   `DBParameterGroupNotFound` for a missing group.
//! - `create_snapshot` puts an `available` source in `backing-up` until the snapshot is done;
//!   meanwhile another snapshot, `CreateBlueGreenDeployment` and a switchover involving it are
//!   refused with `InvalidDBInstanceState`: wait for the snapshot, then retry.
//! - `modify_parameter_group`: 1-20 parameters per call, each must exist in the group's family
//!   (MySQL 8.0 has no `query_cache_*`, and `tx_isolation` became `transaction_isolation`)
//!   and its value must be one the family accepts (`sql_mode` without `NO_AUTO_CREATE_USER`
//!   in 8.0, `event_scheduler` ON/OFF, integers or `{formulas}`; see [`params`]), else
//!   `InvalidParameterValue`; a static parameter needs `pending-reboot`
//!   (`immediate` => `InvalidParameterCombination`) and puts every instance using the group in
//!   `pending-reboot`. Default groups can't be modified or deleted; a group in use can't be
//!   deleted (`InvalidDBParameterGroupState`).
//! - `delete_instance` refuses deletion protection (`InvalidParameterCombination`, AWS's
//!   message), members of a live deployment and `deleting` instances
//!   (`InvalidDBInstanceState`); it takes the final snapshot (`DBSnapshotAlreadyExists` if the
//!   name is taken). `delete_blue_green(delete_target=true)` is refused after switchover and
//!   while a switchover runs; before switchover it deletes the green instances.
//! - `switchover_blue_green` is refused (`InvalidBlueGreenDeploymentStateFault`) while a member
//!   is the source of a zero-ETL integration (AWS: blue and green can't have zero-ETL
//!   integrations during switchover).
//! - `delete_blue_green(delete_target=true)` is refused (`InvalidBlueGreenDeploymentStateFault`)
//!   while a green instance has deletion protection (green copies blue's setting; AWS requires
//!   it off for `DeleteTarget`).
//! - `delete_instance` on a read replica is refused (`InvalidParameterCombination`, "FinalDBSnapshotIdentifier
//!   can not be specified when deleting a replica instance"); `delete_read_replica` deletes one
//!   without a snapshot and refuses anything that is not a replica (`NotAReadReplica`).
//! - Switchover renames blue's same-region read replicas to `<replica>-oldN` too; they stay
//!   replicas of the renamed source and keep running.
//! - Proxies, proxy targets and zero-ETL integrations come from the fleet (`DescribeDBProxies`,
//!   `DescribeDBProxyTargets`, `DescribeIntegrations`); every instance has an error log
//!   (`DescribeDBLogFiles`, `DownloadDBLogFilePortion`, one portion per 1000 lines).
//! - A call hit by `5xx-after` is in the trail with outcome `InternalFailure` and
//!   `"sim_effect_applied": true` in its params, so a test can tell a lost response from a
//!   refused call. [`SimBackend::trail_summary`] counts calls, throttled calls and outcomes.
//! - [`SimBackend::milestones`] says when RDS finished what it was asked (snapshot available,
//!   deployment available, switchover ended): with the trail, how long RDS itself took.
//! - A describe filtered by identifiers or names reads only those rows (a fleet of 10,000
//!   costs a filtered describe nothing more than a fleet of 10).
//!
//! # Faults (`--faults`)
//!
//! ```text
//! spec   := "" | "none" | item { ("," | newline) item }      ('#' starts a comment)
//! item   := "default" | name [ "=" number ] [ "@" target { "|" target } ]
//! ```
//! `--faults @path` reads the spec from a file (example: `data/sim-faults-example.txt`);
//! later items override earlier ones, and `default` never overrides an explicit item. A fault hits a resource when
//! `hash(seed, fault, resource) < probability`: reproducible from `--seed`, independent of
//! call order. `@targets` restricts a fault to those database identifiers (for `5xx`,
//! `5xx-after` and `latency`: also action names like `SwitchoverBlueGreenDeployment`), with
//! probability 1 unless a number is given.
//!
//! | name | number | effect |
//! |---|---|---|
//! | `invalid-config` | probability | the deployment goes INVALID_CONFIGURATION while provisioning; for a major upgrade the engine upgrade failed its prechecks: green stays on blue's version and carries the precheck log (`PrePatchCompatibility.log` / `pg_upgrade_precheck.log.<time>`) |
//! | `switchover-fail` | probability | the switchover is rolled back: SWITCHOVER_FAILED, blue still serving and writable |
//! | `snapshot-fail` | probability | the snapshot ends `failed` |
//! | `5xx` | probability per call | `InternalFailure` (500) or `ServiceUnavailable` (503), no effect |
//! | `5xx-after` | probability per mutating call | the effect happens but the response is lost (`InternalFailure`) |
//! | `latency` | ms | each call takes 0..N extra simulated ms |
//! | `actor-modify` | probability per database | someone else modifies (`modifying`) or reboots it |
//! | `actor-delete` | probability per database | someone else deletes it (a deployment it is in goes INVALID_CONFIGURATION) |
//! | `lag` | probability | eventual consistency: a resource younger than `lag-secs` is missing from describes |
//! | `lag-secs` | seconds | the eventual-consistency window (default 30) |
//! | `green-wrong-version` | probability | the green primary stays on blue's version although the deployment goes AVAILABLE (what a guard must catch before switchover) |
//! | `green-pending-reboot` | probability | the green primary's parameter group is `pending-reboot` (likewise) |
//!
//! `default` is [`faults::DEFAULT_SET`]: `invalid-config=0.03, switchover-fail=0.04,
//! snapshot-fail=0.03, 5xx=0.01, 5xx-after=0.005, latency=400, actor-modify=0.02,
//! actor-delete=0.01, lag=0.2, lag-secs=30`.
//!
//! # The `sim init` fleet
//!
//! Mostly MySQL 5.7.x (85% of healthy databases) and PostgreSQL 12/13 (15%), 60% in
//! `us-east-1` and 40% in `eu-west-1`; tags `env=dev|staging|prod` (30/25/45%) and `team=...`;
//! about 8% of healthy databases have a same-region read replica (`<id>-ro1`); half the MySQL
//! databases have their own custom parameter group with user-modified parameters
//! (`query_cache_*`, `tx_isolation`, `max_connections`, `innodb_*`, `binlog_format`, ...),
//! every healthy PostgreSQL database has one with `rds.logical_replication=1` and `work_mem`.
//! Databases count instances, replicas included.
//!
//! Unless `--clean`, problem cases are added in these shares of the fleet (at least one each
//! from 20 databases; each problem database has exactly one problem):
//!
//! | problem | share |
//! |---|---|
//! | `backups-off` (MySQL, BackupRetentionPeriod 0) | 5% |
//! | `postgres-no-logical-replication` (default group) | 4% |
//! | `cascading-replica` (source -> replica -> replica) | 1% |
//! | `cross-region-replica` (us-east-1 source, eu-west-1 replica) | 1% |
//! | `deletion-protection` on | 6% |
//! | `mysql-5.6` (5.6.51) | 3% |
//! | `stopped` | 3% |
//! | `pending-modifications` (DBInstanceClass) | 3% |
//! | `managed-master-password` (Secrets Manager) | 3% |
//! | `shared-parameter-group` (`shared-mysql57-params`, us-east-1) | 6% |
//! | `multi-az-cluster` (PostgreSQL 13, three members `<cluster>-instance-N` with `DBClusterIdentifier`) | 1% |
//! | `rds-proxy-target` (`<id>-proxy` targets it) | 1% |
//! | `cloudformation-managed` (`aws:cloudformation:stack-name` = `<id>-stack`) | 3% |
//! | `zero-etl-integration` (MySQL 8.0.36, `<id>-to-redshift`) | 1% |
//! | `postgres-replication-capacity` (6 databases, `max_logical_replication_workers=1`) | 1% |
//!
//! `--clean` makes a fleet with none of these.

mod api;
pub mod faults;
mod fleet;
mod logs;
pub mod params;
pub mod rng;
mod store;

pub use api::{DowntimeEntry, Milestone, SimBackend, TrailEntry, TrailSummary};
pub use faults::FaultSpec;
pub use fleet::{PROBLEM_SHARES, SHARED_GROUP};

use crate::clock::Millis;
use std::collections::BTreeMap;
use std::path::Path;

pub const SIM_ACCOUNT_ID: &str = "123456789012";
pub const SIM_REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("no simulated world at {path}: run `rdsfleet sim init` first")]
    Missing { path: String },
    #[error("simulated world {path} is unusable: {reason}")]
    Corrupt { path: String, reason: String },
    #[error("bad fault spec item `{item}`: {reason}")]
    BadFaultSpec { item: String, reason: String },
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("simulated world database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("invalid sim option: {0}")]
    BadOption(String),
}

/// Options of `sim init`.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// Number of instances (replicas included). Default 70.
    pub databases: usize,
    /// Seed of everything random. Default 1.
    pub seed: u64,
    /// Simulated seconds per wall second. Default 60. Infinite (`--speed max`): virtual time.
    pub speed: f64,
    /// No problem cases.
    pub clean: bool,
    /// `DBInstances` quota per region; None => 40, raised to fit the fleet plus 50%.
    pub instance_quota: Option<i64>,
    /// Fault spec (see the module doc), "" = none, "@path" reads a file.
    pub faults: String,
    /// Token bucket burst per region. Default 300.
    pub throttle_burst: f64,
    /// Token bucket refill per simulated second. Default 12.
    pub throttle_rate: f64,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            databases: 70,
            seed: 1,
            speed: 60.0,
            clean: false,
            instance_quota: None,
            faults: String::new(),
            throttle_burst: 300.0,
            throttle_rate: 12.0,
        }
    }
}

/// What `sim init` made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorldSummary {
    pub databases: usize,
    pub by_region: BTreeMap<String, usize>,
    /// Problem case -> number of databases with it.
    pub problems: BTreeMap<String, usize>,
}

impl std::fmt::Display for WorldSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let regions: Vec<String> = self
            .by_region
            .iter()
            .map(|(r, n)| format!("{r}: {n}"))
            .collect();
        writeln!(
            f,
            "simulated fleet: {} databases ({})",
            self.databases,
            regions.join(", ")
        )?;
        if self.problems.is_empty() {
            write!(f, "problem cases: none (clean fleet)")
        } else {
            writeln!(f, "problem cases:")?;
            let mut first = true;
            for (p, n) in &self.problems {
                if !first {
                    writeln!(f)?;
                }
                first = false;
                write!(f, "  {p:<34} {n}")?;
            }
            Ok(())
        }
    }
}

/// Create (or replace) a world file at `path`. `start` is the simulated time at creation.
pub fn init_world(
    path: &Path,
    opts: &InitOptions,
    start: Millis,
) -> Result<WorldSummary, SimError> {
    if opts.speed.is_nan() || opts.speed <= 0.0 {
        return Err(SimError::BadOption(format!(
            "speed must be positive, got {}",
            opts.speed
        )));
    }
    if opts.throttle_burst.is_nan()
        || opts.throttle_burst < 1.0
        || opts.throttle_rate.is_nan()
        || opts.throttle_rate <= 0.0
    {
        return Err(SimError::BadOption(
            "throttle burst must be >= 1 and rate > 0".into(),
        ));
    }
    let faults = FaultSpec::from_arg(&opts.faults)?;
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let p = std::path::PathBuf::from(p);
        if p.exists() {
            std::fs::remove_file(&p).map_err(|e| SimError::Io {
                path: p.display().to_string(),
                source: e,
            })?;
        }
    }
    let mut conn = store::open(path, true)?;
    let tx = conn.transaction()?;
    store::set_meta(&tx, "seed", &opts.seed.to_string())?;
    store::set_meta(&tx, "sim_epoch", &start.to_string())?;
    store::set_meta(&tx, "wall_epoch", &crate::clock::wall_now().to_string())?;
    store::set_meta(&tx, "speed", &opts.speed.to_string())?;
    if opts.speed.is_infinite() {
        store::set_meta(&tx, api::VIRTUAL_NOW, &start.to_string())?;
    }
    store::set_meta(&tx, "throttle_burst", &opts.throttle_burst.to_string())?;
    store::set_meta(&tx, "throttle_rate", &opts.throttle_rate.to_string())?;
    store::set_meta(&tx, "faults", &faults.to_spec())?;
    let summary = fleet::generate(&tx, opts, start)?;
    tx.commit()?;
    Ok(summary)
}

/// Change the speed of an existing world from now on (infinite: virtual time). The timeline
/// is re-anchored at the current simulated time, so time stays continuous (nothing jumps);
/// processes that already opened the world keep their old clock until they reopen it.
pub fn set_world_speed(path: &Path, speed: f64) -> Result<(), SimError> {
    if speed.is_nan() || speed <= 0.0 {
        return Err(SimError::BadOption(format!(
            "speed must be positive, got {speed}"
        )));
    }
    let old = SimBackend::open(path)?;
    let now_sim = old.clock().now();
    drop(old);
    let mut conn = store::open(path, false)?;
    let tx = conn.transaction()?;
    store::set_meta(&tx, "sim_epoch", &now_sim.to_string())?;
    store::set_meta(&tx, "wall_epoch", &crate::clock::wall_now().to_string())?;
    store::set_meta(&tx, "speed", &speed.to_string())?;
    if speed.is_infinite() {
        store::set_meta(&tx, api::VIRTUAL_NOW, &now_sim.to_string())?;
    } else {
        store::delete_meta(&tx, api::VIRTUAL_NOW)?;
    }
    tx.commit()?;
    Ok(())
}

/// Parse a `--speed` argument: simulated seconds per wall second, or `max` for virtual time
/// (returned as infinity).
pub fn parse_speed(s: &str) -> Result<f64, String> {
    if s.eq_ignore_ascii_case("max") {
        return Ok(f64::INFINITY);
    }
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!(
            "`{s}` is not a speed: give simulated seconds per wall second (e.g. 600) or `max`"
        )),
    }
}

#[cfg(test)]
mod tests;
