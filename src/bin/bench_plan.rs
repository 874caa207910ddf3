//! Planning benchmark: generates an N-instance inventory (default 10,000) across three regions,
//! writes it as an inventory file, then times `inventory::load`, `planner::plan` (offline
//! context), the plan JSON and the Markdown report. Prints the timings and the plan summary.
//!
//! `cargo run --release --bin bench_plan -- [N]`. No timing assertions live in tests: this is
//! the measurement tool (the issue asks for well under a second at 10,000 in release).

use rdsfleet::domain::{DbInstance, Parameter, ParameterGroupStatus, Tags};
use rdsfleet::plan::PlanSettings;
use rdsfleet::planner::{parse_class_map, parse_target, plan, PlanContext, PlanRequest};
use std::time::Instant;

fn user(name: &str, value: &str) -> Parameter {
    Parameter {
        name: name.into(),
        value: Some(value.into()),
        source: "user".into(),
        apply_type: "dynamic".into(),
        is_modifiable: true,
    }
}

/// A deterministic, varied fleet: MySQL 5.7/8.0 and PostgreSQL 11-15, shared custom groups,
/// same-region replicas, and a sprinkling of every common blocker.
fn fleet(n: usize) -> Vec<DbInstance> {
    let regions = ["us-east-1", "eu-west-1", "ap-southeast-2"];
    let classes = [
        "db.r5.large",
        "db.r6g.xlarge",
        "db.m5.2xlarge",
        "db.t3.medium",
        "db.m4.large",
    ];
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let region = regions[i % regions.len()];
        let id = format!("db-{i:05}");
        let (engine, version, group, family, params) = match i % 10 {
            0..=4 => (
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
            5 => (
                "mysql",
                "8.0.36",
                "default.mysql8.0".to_string(),
                "mysql8.0",
                vec![],
            ),
            6 => (
                "postgres",
                "11.22",
                format!("pg11-app{}", i % 20),
                "postgres11",
                vec![user("rds.logical_replication", "1")],
            ),
            7 => (
                "postgres",
                "12.19",
                "default.postgres12".to_string(),
                "postgres12",
                vec![],
            ),
            8 => (
                "postgres",
                "13.15",
                format!("pg13-app{}", i % 20),
                "postgres13",
                vec![
                    user("rds.logical_replication", "1"),
                    user("force_parallel_mode", "off"),
                ],
            ),
            _ => (
                "postgres",
                "15.7",
                format!("pg15-app{}", i % 20),
                "postgres15",
                vec![user("rds.logical_replication", "1")],
            ),
        };
        let custom = !group.starts_with("default.");
        let mut db = DbInstance {
            region: region.into(),
            identifier: id.clone(),
            arn: format!("arn:aws:rds:{region}:123456789012:db:{id}"),
            dbi_resource_id: format!("db-{i:020}"),
            engine: engine.into(),
            engine_version: version.into(),
            status: if i % 97 == 0 {
                "modifying".into()
            } else {
                "available".into()
            },
            instance_class: classes[i % classes.len()].into(),
            allocated_storage_gib: 100 + (i % 7) as i32 * 100,
            storage_type: "gp2".into(),
            iops: None,
            storage_throughput: None,
            multi_az: i % 3 == 0,
            parameter_groups: vec![ParameterGroupStatus {
                name: group,
                apply_status: if i % 89 == 0 {
                    "pending-reboot".into()
                } else {
                    "in-sync".into()
                },
                family: custom.then(|| family.to_string()),
                user_parameters: custom.then_some(params),
            }],
            option_groups: vec![format!("default:{engine}")],
            read_replica_source: None,
            read_replicas: vec![],
            backup_retention_period: if i % 53 == 0 { 0 } else { 7 },
            deletion_protection: i % 4 == 0,
            managed_master_password: i % 61 == 0,
            pending_modifications: vec![],
            tags: Tags::new(),
            db_cluster_identifier: None,
            rds_proxies: Some(vec![]),
            zero_etl_integrations: Some(vec![]),
        };
        // Every 25th database gets a same-region replica (the next index in the same region).
        if i % 25 == 1 && i + regions.len() < n {
            db.read_replicas
                .push(format!("db-{:05}", i + regions.len()));
        }
        if i % 25 == 1 + regions.len() % 25 && i >= regions.len() {
            db.read_replica_source = Some(format!("db-{:05}", i - regions.len()));
        }
        out.push(db);
    }
    out
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let inv = fleet(n);
    let path = std::env::temp_dir().join(format!("rdsfleet-bench-{}-{n}.json", std::process::id()));
    std::fs::write(&path, rdsfleet::inventory::to_json(&inv)).expect("write inventory");

    let t = Instant::now();
    let loaded = rdsfleet::inventory::load(&path).expect("load inventory");
    let t_load = t.elapsed();
    let _ = std::fs::remove_file(&path);

    let ctx = PlanContext::offline();
    let req = PlanRequest {
        targets: ["mysql=8.0", "postgres=16"]
            .iter()
            .map(|t| parse_target(t).unwrap())
            .collect(),
        settings: PlanSettings {
            storage_type: Some("gp3".into()),
            class_map: vec![parse_class_map("db.r5=db.r7g").unwrap()],
            ..Default::default()
        },
        created_at: 1_795_262_400_000,
    };
    let t = Instant::now();
    let p = plan(&loaded, &ctx, &req).expect("plan");
    let t_plan = t.elapsed();
    let t = Instant::now();
    let json = p.to_json();
    let t_json = t.elapsed();
    let t = Instant::now();
    let md = rdsfleet::report::render_markdown(&p);
    let t_md = t.elapsed();

    println!("instances: {n}");
    println!("load inventory file: {:.1} ms", t_load.as_secs_f64() * 1e3);
    println!("plan:                {:.1} ms", t_plan.as_secs_f64() * 1e3);
    println!(
        "plan JSON:           {:.1} ms ({} bytes)",
        t_json.as_secs_f64() * 1e3,
        json.len()
    );
    println!(
        "Markdown report:     {:.1} ms ({} bytes)",
        t_md.as_secs_f64() * 1e3,
        md.len()
    );
    println!(
        "total:               {:.1} ms",
        (t_load + t_plan + t_json + t_md).as_secs_f64() * 1e3
    );
    print!(
        "{}",
        rdsfleet::report::render_text(&p)
            .lines()
            .next()
            .unwrap_or_default()
    );
    println!();
    if std::env::args().any(|a| a == "--summary") {
        // The report's summary table, as a reviewer would paste it.
        let start = md.find("## Summary").unwrap_or(0);
        let end = md[start + 1..]
            .find("\n## ")
            .map(|e| start + 1 + e)
            .unwrap_or(md.len());
        println!("{}", &md[start..end]);
    }
}
