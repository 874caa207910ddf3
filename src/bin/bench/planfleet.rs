//! A deterministic, varied inventory for the planning benchmark: MySQL 5.7/8.0 and PostgreSQL
//! 11-15, shared custom parameter groups, same-region replicas, and a sprinkling of every
//! common blocker. Shared by `bench` and `bench_plan`.

use rdsfleet::domain::{DbInstance, Parameter, ParameterGroupStatus, Tags};
use rdsfleet::plan::PlanSettings;
use rdsfleet::planner::{parse_class_map, parse_target, plan, PlanContext, PlanRequest};
use std::time::{Duration, Instant};

const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-2"];
const CLASSES: [&str; 5] = [
    "db.r5.large",
    "db.r6g.xlarge",
    "db.m5.2xlarge",
    "db.t3.medium",
    "db.m4.large",
];

fn user(name: &str, value: &str) -> Parameter {
    Parameter {
        name: name.into(),
        value: Some(value.into()),
        source: "user".into(),
        apply_type: "dynamic".into(),
        is_modifiable: true,
    }
}

/// Engine, version, parameter group, family and user parameters of database `i`.
struct Profile {
    engine: &'static str,
    version: &'static str,
    group: String,
    family: &'static str,
    params: Vec<Parameter>,
}

fn profile(i: usize) -> Profile {
    let p = |engine, version, group: String, family, params| Profile {
        engine,
        version,
        group,
        family,
        params,
    };
    match i % 10 {
        0..=4 => p(
            "mysql",
            "5.7.44",
            format!("mysql57-app{}", i % 40),
            "mysql5.7",
            vec![
                user("tx_isolation", "READ-COMMITTED"),
                user("query_cache_type", "0"),
                user("max_connections", "1000"),
            ],
        ),
        5 => p(
            "mysql",
            "8.0.36",
            "default.mysql8.0".into(),
            "mysql8.0",
            vec![],
        ),
        6 => p(
            "postgres",
            "11.22",
            format!("pg11-app{}", i % 20),
            "postgres11",
            vec![user("rds.logical_replication", "1")],
        ),
        7 => p(
            "postgres",
            "12.19",
            "default.postgres12".into(),
            "postgres12",
            vec![],
        ),
        8 => p(
            "postgres",
            "13.15",
            format!("pg13-app{}", i % 20),
            "postgres13",
            vec![
                user("rds.logical_replication", "1"),
                user("force_parallel_mode", "off"),
            ],
        ),
        _ => p(
            "postgres",
            "15.7",
            format!("pg15-app{}", i % 20),
            "postgres15",
            vec![user("rds.logical_replication", "1")],
        ),
    }
}

/// Database `i` without replica links; the blockers are sprinkled by index.
fn instance(i: usize) -> DbInstance {
    let region = REGIONS[i % REGIONS.len()];
    let id = format!("db-{i:05}");
    let Profile {
        engine,
        version,
        group,
        family,
        params,
    } = profile(i);
    let custom = !group.starts_with("default.");
    DbInstance {
        region: region.into(),
        arn: format!("arn:aws:rds:{region}:123456789012:db:{id}"),
        identifier: id,
        dbi_resource_id: format!("db-{i:020}"),
        engine: engine.into(),
        engine_version: version.into(),
        status: if i.is_multiple_of(97) {
            "modifying"
        } else {
            "available"
        }
        .into(),
        instance_class: CLASSES[i % CLASSES.len()].into(),
        allocated_storage_gib: 100 + (i % 7) as i32 * 100,
        storage_type: "gp2".into(),
        multi_az: i.is_multiple_of(3),
        parameter_groups: vec![ParameterGroupStatus {
            name: group,
            apply_status: if i.is_multiple_of(89) {
                "pending-reboot"
            } else {
                "in-sync"
            }
            .into(),
            family: custom.then(|| family.to_string()),
            user_parameters: custom.then_some(params),
        }],
        option_groups: vec![format!("default:{engine}")],
        read_replica_source: None,
        read_replicas: vec![],
        backup_retention_period: if i.is_multiple_of(53) { 0 } else { 7 },
        deletion_protection: i.is_multiple_of(4),
        managed_master_password: i.is_multiple_of(61),
        pending_modifications: vec![],
        tags: Tags::new(),
        iops: None,
        storage_throughput: None,
        db_cluster_identifier: None,
        // Discovery answered: no proxy targets, no zero-ETL integrations.
        rds_proxies: Some(vec![]),
        zero_etl_integrations: Some(vec![]),
    }
}

/// Every 25th database gets a same-region replica: the next index in the same region.
fn link_replicas(out: &mut [DbInstance]) {
    let n = out.len();
    let step = REGIONS.len();
    for i in 0..n {
        if i % 25 == 1 && i + step < n {
            let replica = out[i + step].identifier.clone();
            out[i].read_replicas.push(replica);
        }
        if i % 25 == 1 + step % 25 && i >= step {
            out[i].read_replica_source = Some(out[i - step].identifier.clone());
        }
    }
}

/// `n` instances across three regions.
pub fn fleet(n: usize) -> Vec<DbInstance> {
    let mut out: Vec<DbInstance> = (0..n).map(instance).collect();
    link_replicas(&mut out);
    out
}

/// What planning `n` databases took (see [`measure`]).
pub struct PlanTimes {
    pub load: Duration,
    pub plan: Duration,
    pub json: Duration,
    pub report: Duration,
    pub json_bytes: usize,
    /// The dry-run report (Markdown).
    pub markdown: String,
    /// The first line of the terminal summary.
    pub summary: String,
}

impl PlanTimes {
    /// Load + plan + JSON + report.
    pub fn total(&self) -> Duration {
        self.load + self.plan + self.json + self.report
    }
}

/// Write an `n`-instance inventory file, then time loading it, planning it offline
/// (mysql=8.0, postgres=16, gp3, db.r5 -> db.r7g), the plan JSON and the Markdown report.
pub fn measure(n: usize) -> PlanTimes {
    let inv = fleet(n);
    let path = std::env::temp_dir().join(format!("rdsfleet-bench-{}-{n}.json", std::process::id()));
    std::fs::write(&path, rdsfleet::inventory::to_json(&inv)).expect("write inventory");
    drop(inv);

    let t = Instant::now();
    let loaded = rdsfleet::inventory::load(&path).expect("load inventory");
    let load = t.elapsed();
    let _ = std::fs::remove_file(&path);

    let ctx = PlanContext::offline();
    let req = PlanRequest {
        targets: ["mysql=8.0", "postgres=16"]
            .iter()
            .map(|t| parse_target(t).expect("target"))
            .collect(),
        settings: PlanSettings {
            storage_type: Some("gp3".into()),
            class_map: vec![parse_class_map("db.r5=db.r7g").expect("class map")],
            ..Default::default()
        },
        created_at: 1_795_262_400_000,
    };
    let t = Instant::now();
    let p = plan(&loaded, &ctx, &req).expect("plan");
    let plan_time = t.elapsed();
    let t = Instant::now();
    let json = p.to_json();
    let json_time = t.elapsed();
    let t = Instant::now();
    let markdown = rdsfleet::report::render_markdown(&p);
    let report = t.elapsed();
    PlanTimes {
        load,
        plan: plan_time,
        json: json_time,
        report,
        json_bytes: json.len(),
        markdown,
        summary: rdsfleet::report::render_text(&p)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string(),
    }
}
