//! A fleet shaped like a real MySQL 5.7 estate (issue 10), built in moto with boto3, planned
//! and upgraded end to end by the real binary (`--backend aws`), and checked through boto3 at
//! the approval gate and after the switchover:
//!
//! - `orders`: an Extended Support minor (`5.7.44-rds.20240808`, as AWS spells it) on io1
//!   storage (200 GiB, 3,000 IOPS);
//! - `billing`: a minor no longer offered for new instances (`5.7.33`) on the default group;
//! - `ledger`: 5.7.44 sharing `orders`' custom group;
//! - the custom group `legacy-57` as 5.7 estates have it: `sql_mode` with
//!   `NO_AUTO_CREATE_USER`, `event_scheduler=ON`, and variables MySQL 8.0 removed or renamed.
//!
//! The plan moves green to io1 with `--iops 3000 --allocated-storage 200`.
//!
//! Run it alone with `MOTO_VENV=target/moto-venv cargo test --test moto estate` (the venv is
//! installed on first use).
//!
//! No read replica here: moto gives green no replicas and does not rename blue's replicas at
//! switchover, so the guard before switchover rightly refuses a deployment whose green lacks
//! the planned replica. Replicas (green replicas, `-old1` replicas recorded and cleaned up)
//! are covered on the simulator (`tests/suite/guards.rs`, the cleanup tests).

use crate::cli::Rf;
use crate::harness::Moto;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The estate, through boto3.
fn seed_estate(moto: &Moto) {
    moto.boto3(
        r#"
rds.create_db_parameter_group(DBParameterGroupName='legacy-57', DBParameterGroupFamily='mysql5.7',
    Description='the 5.7 estate group')
p = lambda n, v, m='immediate': {'ParameterName': n, 'ParameterValue': v, 'ApplyMethod': m}
rds.modify_db_parameter_group(DBParameterGroupName='legacy-57', Parameters=[
    p('sql_mode', 'STRICT_TRANS_TABLES,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION'),
    p('event_scheduler', 'ON'),
    p('show_compatibility_56', 'ON'),
    p('innodb_undo_logs', '128', 'pending-reboot'),
    p('internal_tmp_disk_storage_engine', 'MYISAM'),
    p('innodb_checksums', '1', 'pending-reboot'),
    p('innodb_stats_sample_pages', '16'),
    p('query_cache_type', '1', 'pending-reboot'),
    p('query_cache_size', '67108864'),
    p('tx_isolation', 'READ-COMMITTED'),
    p('max_connections', '1000'),
    p('binlog_format', 'ROW')])
common = dict(Engine='mysql', DBInstanceClass='db.m5.large', MasterUsername='admin',
    MasterUserPassword='password123', BackupRetentionPeriod=7,
    Tags=[{'Key': 'env', 'Value': 'prod'}])
rds.create_db_instance(DBInstanceIdentifier='orders', EngineVersion='5.7.44-rds.20240808',
    AllocatedStorage=200, StorageType='io1', Iops=3000, DBParameterGroupName='legacy-57', **common)
rds.create_db_instance(DBInstanceIdentifier='billing', EngineVersion='5.7.33', AllocatedStorage=50, **common)
rds.create_db_instance(DBInstanceIdentifier='ledger', EngineVersion='5.7.44', AllocatedStorage=100,
    DBParameterGroupName='legacy-57', **common)
"#,
    );
}

/// Parameter groups (user-set values and tags) and instances, as boto3 sees them.
fn estate_world(moto: &Moto) -> Value {
    let out = moto.boto3(
        r#"
w = {'groups': {}, 'instances': {}, 'deployments': []}
for g in rds.describe_db_parameter_groups()['DBParameterGroups']:
    name = g['DBParameterGroupName']
    params = rds.describe_db_parameters(DBParameterGroupName=name)['Parameters']
    tags = rds.list_tags_for_resource(ResourceName=g['DBParameterGroupArn'])['TagList']
    w['groups'][name] = {'family': g['DBParameterGroupFamily'],
        'params': {p['ParameterName']: p.get('ParameterValue') for p in params if 'ParameterValue' in p},
        'tags': {t['Key']: t['Value'] for t in tags}}
for d in rds.describe_db_instances()['DBInstances']:
    w['instances'][d['DBInstanceIdentifier']] = {'version': d['EngineVersion'],
        'group': d['DBParameterGroups'][0]['DBParameterGroupName'], 'storage': d.get('StorageType'),
        'iops': d.get('Iops'), 'gib': d['AllocatedStorage'], 'arn': d['DBInstanceArn']}
for b in rds.describe_blue_green_deployments()['BlueGreenDeployments']:
    w['deployments'].append({'name': b['BlueGreenDeploymentName'], 'source': b['Source'],
        'target': b.get('Target'), 'status': b['Status']})
print(json.dumps(w))
"#,
    );
    serde_json::from_str(&out).unwrap()
}

fn planned<'a>(plan: &'a Value, id: &str) -> &'a Value {
    plan["databases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["identifier"] == id)
        .unwrap_or_else(|| panic!("{id} not in plan"))
}

fn planned_group<'a>(plan: &'a Value, source_group: &str) -> &'a Value {
    plan["parameter_groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["source_group"] == source_group)
        .unwrap_or_else(|| panic!("no group planned from {source_group}: {plan}"))
}

/// What green's group from `legacy-57` must hold: the 5.7 values that 8.0 accepts, renamed
/// where 8.0 renamed them, `NO_AUTO_CREATE_USER` out of `sql_mode`, the removed variables
/// gone, and `event_scheduler=OFF`, which green needs at creation.
fn legacy_group_on_green() -> BTreeMap<&'static str, &'static str> {
    [
        ("binlog_format", "ROW"),
        ("event_scheduler", "OFF"),
        ("innodb_rollback_segments", "128"),
        ("innodb_stats_transient_sample_pages", "16"),
        ("max_connections", "1000"),
        ("sql_mode", "STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION"),
        ("transaction_isolation", "READ-COMMITTED"),
    ]
    .into_iter()
    .collect()
}

/// The plan the real binary makes of the estate: every database gets its target (the
/// Extended Support and the deprecated minor included), the replica travels with its
/// source, the groups are mapped value by value, and the storage is planned.
fn check_plan(plan: &Value) {
    for id in ["orders", "billing", "ledger"] {
        let d = planned(plan, id);
        assert_eq!(d["blockers"], json!([]), "{id}: {d}");
        assert_eq!(d["strategy"], "blue-green", "{id}");
        assert_eq!(d["to_version"], "8.0.42", "{id}");
        let t = &d["target"];
        assert_eq!(
            (t["iops"].as_i64(), t["parameter_group_family"].as_str()),
            (Some(3000), Some("mysql8.0")),
            "{id}: {t}"
        );
    }
    // orders is already io1 at 200 GiB: only its IOPS are sent; the others move to io1.
    let orders = &planned(plan, "orders")["target"];
    assert!(
        orders.get("storage_type").is_none() && orders.get("allocated_storage_gib").is_none(),
        "{orders}"
    );
    for id in ["billing", "ledger"] {
        let t = &planned(plan, id)["target"];
        assert_eq!(
            (
                t["storage_type"].as_str(),
                t["allocated_storage_gib"].as_i64()
            ),
            (Some("io1"), Some(200)),
            "{id}: {t}"
        );
    }

    let legacy = planned_group(plan, "legacy-57");
    let set: BTreeMap<&str, &str> = legacy["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["value"].as_str().unwrap()))
        .collect();
    assert_eq!(set, legacy_group_on_green());
    let mut dropped: Vec<&str> = legacy["dropped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    dropped.sort();
    assert_eq!(
        dropped,
        [
            "innodb_checksums",
            "internal_tmp_disk_storage_engine",
            "query_cache_size",
            "query_cache_type",
            "show_compatibility_56"
        ]
    );
    // Every change is explained, and event_scheduler comes back ON after switchover.
    assert!(legacy["edits"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| !e["reason"].as_str().unwrap().is_empty()));
    assert_eq!(
        legacy["restore_after_switchover"],
        json!([{"name": "event_scheduler", "value": "ON", "apply_method": "immediate"}])
    );
    // billing runs on default.mysql5.7 (event_scheduler OFF by default) but 8.0 defaults to
    // ON: green gets a group of its own with it OFF, and there is nothing to restore.
    let default = planned_group(plan, "default.mysql5.7");
    assert_eq!(
        default["parameters"],
        json!([{"name": "event_scheduler", "value": "OFF", "apply_method": "immediate"}])
    );
    assert!(
        default.get("restore_after_switchover").is_none(),
        "{default}"
    );
    assert_eq!(
        planned(plan, "billing")["target"]["parameter_group"],
        default["name"]
    );
}

/// The estate at the approval gate, through boto3: the created groups hold exactly the
/// planned values (tagged as rdsfleet's), each green runs 8.0.42 with its planned group and
/// io1 storage, nothing switched over, and the sources are untouched.
fn check_at_the_gate(moto: &Moto, plan: &Value) {
    let id = plan["plan_id"].as_str().unwrap();
    let w = estate_world(moto);
    let legacy_name = planned_group(plan, "legacy-57")["name"].as_str().unwrap();
    let g = &w["groups"][legacy_name];
    assert_eq!(g["family"], "mysql8.0", "{w}");
    let got: BTreeMap<String, String> = serde_json::from_value(g["params"].clone()).unwrap();
    let want: BTreeMap<String, String> = legacy_group_on_green()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(got, want, "green's group as RDS holds it");
    assert_eq!(
        (
            g["tags"]["rdsfleet:plan-id"].as_str(),
            g["tags"]["rdsfleet:managed"].as_str()
        ),
        (Some(id), Some("true"))
    );
    let default_name = planned_group(plan, "default.mysql5.7")["name"]
        .as_str()
        .unwrap();
    assert_eq!(
        w["groups"][default_name]["params"],
        json!({"event_scheduler": "OFF"})
    );
    // The source group keeps its 5.7 values: the plan never modifies it.
    let src = &w["groups"]["legacy-57"]["params"];
    assert_eq!(
        (
            src["event_scheduler"].as_str(),
            src["show_compatibility_56"].as_str()
        ),
        (Some("ON"), Some("ON"))
    );

    let deployments = w["deployments"].as_array().unwrap();
    assert_eq!(deployments.len(), 3, "{w}");
    for name in ["orders", "billing", "ledger"] {
        let blue = &w["instances"][name];
        let d = deployments
            .iter()
            .find(|d| d["source"] == blue["arn"])
            .unwrap_or_else(|| panic!("no deployment from {name}: {w}"));
        assert_eq!(d["status"], "AVAILABLE", "{d}");
        let green = w["instances"]
            .as_object()
            .unwrap()
            .values()
            .find(|i| i["arn"] == d["target"])
            .unwrap_or_else(|| panic!("no green for {name}: {w}"));
        let p = planned(plan, name);
        assert_eq!(green["version"], "8.0.42", "{name}");
        assert_eq!(green["group"], p["target"]["parameter_group"], "{name}");
        assert_eq!(
            (
                green["storage"].as_str(),
                green["iops"].as_i64(),
                green["gib"].as_i64()
            ),
            (Some("io1"), Some(3000), Some(200)),
            "{name}: {green}"
        );
        assert_eq!(blue["version"], p["from_version"], "{name} untouched");
    }
    assert!(
        !w["instances"]
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.ends_with("-old1")),
        "switched over without approval: {w}"
    );
}

#[test]
fn estate_is_planned_and_upgraded_end_to_end_checked_through_boto3() {
    let moto = Moto::lock();
    seed_estate(&moto);
    let rf = Rf::new(&moto);
    rf.ok(&[
        "plan",
        "--target",
        "mysql=8.0",
        "--policy",
        "fast.toml",
        "--storage-type",
        "io1",
        "--iops",
        "3000",
        "--allocated-storage",
        "200",
        "-o",
        "plan.json",
    ]);
    let plan: Value =
        serde_json::from_str(&std::fs::read_to_string(rf.path("plan.json")).unwrap()).unwrap();
    check_plan(&plan);
    // The dry-run report shows every changed value with its reason.
    let md = std::fs::read_to_string(rf.path("plan.md")).unwrap();
    for s in [
        "NO_AUTO_CREATE_USER",
        "show_compatibility_56",
        "event_scheduler=OFF",
        "Restored on this group after switchover",
    ] {
        assert!(md.contains(s), "report lacks {s}");
    }
    rf.ok(&[
        "apply",
        "plan.json",
        "--state",
        "s.sqlite",
        "--poll-secs",
        "0.2",
        "--api-rate",
        "100",
    ]);
    let st = rf.status();
    assert_eq!(st["counts"]["awaiting-approval"], 3, "{st}");
    check_at_the_gate(&moto, &plan);

    // Approve and finish: switchover, verify, event_scheduler set back on the shared group.
    rf.ok(&["approve", "--state", "s.sqlite"]);
    rf.ok(&[
        "resume",
        "--state",
        "s.sqlite",
        "--poll-secs",
        "0.2",
        "--api-rate",
        "100",
    ]);
    let st = rf.status();
    assert_eq!(st["counts"]["done"], 3, "{st}");
    check_upgraded(&moto, &plan);
    // Cleanup before retention: deployment objects go, old instances stay.
    rf.ok(&["cleanup", "--state", "s.sqlite"]);
    let w = estate_world(&moto);
    assert_eq!(w["deployments"], json!([]), "{w}");
    for name in ["orders", "billing", "ledger"] {
        assert!(
            w["instances"][format!("{name}-old1")].is_object(),
            "{name}-old1 kept"
        );
    }
}

/// After the switchover, through boto3: production names on 8.0.42 with their planned
/// groups, the `-old1` instances on their old versions tagged as this plan's rollback copies,
/// and `event_scheduler` back ON on the group made from `legacy-57` (both its users switched
/// over), still OFF on the one made from the default group.
fn check_upgraded(moto: &Moto, plan: &Value) {
    let id = plan["plan_id"].as_str().unwrap();
    let w = estate_world(moto);
    for name in ["orders", "billing", "ledger"] {
        let p = planned(plan, name);
        let now = &w["instances"][name];
        assert_eq!(now["version"], "8.0.42", "{name}: {w}");
        assert_eq!(now["group"], p["target"]["parameter_group"], "{name}");
        let old = &w["instances"][format!("{name}-old1")];
        assert_eq!(old["version"], p["from_version"], "{name}-old1: {w}");
    }
    let tags = moto.boto3(&format!(
        "print(json.dumps({{t['Key']: t['Value'] for t in rds.list_tags_for_resource(ResourceName={:?})['TagList']}}))",
        w["instances"]["orders-old1"]["arn"].as_str().unwrap()
    ));
    let tags: Value = serde_json::from_str(&tags).unwrap();
    assert_eq!(tags["rdsfleet:plan-id"], id, "{tags}");
    assert_eq!(tags["rdsfleet:role"], "old-instance", "{tags}");
    let legacy = planned_group(plan, "legacy-57")["name"].as_str().unwrap();
    assert_eq!(
        w["groups"][legacy]["params"]["event_scheduler"], "ON",
        "restored after switchover: {w}"
    );
    let default = planned_group(plan, "default.mysql5.7")["name"]
        .as_str()
        .unwrap();
    assert_eq!(w["groups"][default]["params"]["event_scheduler"], "OFF");
}
