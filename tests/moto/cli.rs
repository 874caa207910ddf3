//! The real `rdsfleet` binary, `--backend aws`, against the shared moto server: a whole
//! rollout (then `cleanup`), SIGKILL + `resume`, adoption of a leftover blue/green name, the
//! approval gate, `abort` at the gate, and `iam-policy`. (`inventory` over 125 instances through
//! the binary rides on the paginated-inventory test in `tests/moto.rs`, so that fleet is seeded
//! once.)
//!
//! Seeding and every check go through boto3 (a second, independent client), never through
//! rdsfleet's state file, except where the state file *is* the contract (`status --json`).
//! The binary gets fake credentials and config files that do not exist, so nothing can read a
//! developer's real AWS profile. Runs use `--poll-secs 0.2 --api-rate 100`: moto answers at
//! once and never throttles, so the defaults (30 s polls, 8 requests/s) would only add wall time.

use crate::harness::{Moto, REGION};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// A temp dir for plan/state files plus the command line that reaches the moto server.
pub(crate) struct Rf {
    dir: tempfile::TempDir,
    endpoint: String,
}

impl Rf {
    pub(crate) fn new(moto: &Moto) -> Rf {
        let rf = Rf {
            dir: tempfile::tempdir().unwrap(),
            endpoint: moto.endpoint(),
        };
        // moto is instant: the readiness guard (green AVAILABLE and stable for 5 minutes by
        // default) would only make the test wait on the wall clock. The policy is the
        // documented knob for it, embedded in the plan like any other policy.
        std::fs::write(
            rf.path("fast.toml"),
            "[switchover]\nreadiness_stable_secs = 0\n",
        )
        .unwrap();
        rf
    }
    pub(crate) fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
    /// `rdsfleet ARGS`, plus the connection to moto for the commands that talk to RDS.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_rdsfleet"));
        c.current_dir(self.dir.path()).args(args);
        let connects = ["inventory", "plan", "apply", "resume", "cleanup", "abort"];
        if args.first().is_some_and(|a| connects.contains(a)) {
            c.args(["--backend", "aws", "--endpoint-url", &self.endpoint])
                .args(["--region", REGION]);
        }
        c.env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_CONFIG_FILE", self.path("no-such-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.path("no-such-credentials"),
            )
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("RDSFLEET_BACKEND")
            .env_remove("RUST_LOG");
        c
    }
    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }
    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{args:?}:\n{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }
    fn plan(&self) -> Value {
        self.plan_with("fast.toml")
    }
    /// `plan` with the policy file `policy` (in the temp dir).
    fn plan_with(&self, policy: &str) -> Value {
        self.ok(&[
            "plan",
            "--target",
            "mysql=8.0",
            "--target",
            "postgres=16",
            "--policy",
            policy,
            "-o",
            "plan.json",
        ]);
        serde_json::from_str(&std::fs::read_to_string(self.path("plan.json")).unwrap()).unwrap()
    }
    pub(crate) fn status(&self) -> Value {
        serde_json::from_str(&self.ok(&["status", "--state", "s.sqlite", "--json"])).unwrap()
    }
    /// `resume` until it exits 0 (a SIGKILLed run may leave a step to retry once).
    fn resume_until_done(&self, extra: &[&str]) {
        let mut args = vec![
            "resume",
            "--state",
            "s.sqlite",
            "--poll-secs",
            "0.2",
            "--api-rate",
            "100",
        ];
        args.extend_from_slice(extra);
        let mut last = None;
        for _ in 0..3 {
            let o = self.run(&args);
            if o.status.code() == Some(0) {
                return;
            }
            last = Some(o);
        }
        let o = last.unwrap();
        panic!(
            "resume never finished:\n{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

/// MySQL 5.7 and PostgreSQL 13, each with a custom parameter group holding user-modified
/// parameters (two that 8.0 renamed or removed), backups on, and tags.
fn seed_fleet(moto: &Moto) {
    moto.boto3(
        r#"
rds.create_db_parameter_group(DBParameterGroupName='orders-57', DBParameterGroupFamily='mysql5.7', Description='orders')
rds.modify_db_parameter_group(DBParameterGroupName='orders-57', Parameters=[
    {'ParameterName': 'tx_isolation', 'ParameterValue': 'READ-COMMITTED', 'ApplyMethod': 'pending-reboot'},
    {'ParameterName': 'query_cache_size', 'ParameterValue': '1048576', 'ApplyMethod': 'pending-reboot'},
    {'ParameterName': 'max_connections', 'ParameterValue': '500', 'ApplyMethod': 'immediate'},
    {'ParameterName': 'binlog_format', 'ParameterValue': 'ROW', 'ApplyMethod': 'immediate'}])
rds.create_db_parameter_group(DBParameterGroupName='billing-13', DBParameterGroupFamily='postgres13', Description='billing')
rds.modify_db_parameter_group(DBParameterGroupName='billing-13', Parameters=[
    {'ParameterName': 'rds.logical_replication', 'ParameterValue': '1', 'ApplyMethod': 'pending-reboot'},
    {'ParameterName': 'work_mem', 'ParameterValue': '65536', 'ApplyMethod': 'immediate'}])
for ident, engine, version, pg in [('orders', 'mysql', '5.7.44', 'orders-57'), ('billing', 'postgres', '13.15', 'billing-13')]:
    rds.create_db_instance(DBInstanceIdentifier=ident, Engine=engine, EngineVersion=version,
        DBInstanceClass='db.m5.large', AllocatedStorage=20, MasterUsername='admin',
        MasterUserPassword='password123', BackupRetentionPeriod=7, DBParameterGroupName=pg,
        Tags=[{'Key': 'env', 'Value': 'prod'}, {'Key': 'team', 'Value': ident}])
"#,
    );
}

/// Everything boto3 sees, as JSON: instances, snapshots (with tags), deployments, and
/// parameter groups (with user-set parameters).
fn world(moto: &Moto) -> Value {
    let out = moto.boto3(
        r#"
w = {'instances': {}, 'snapshots': {}, 'deployments': [], 'groups': {}}
for d in rds.describe_db_instances()['DBInstances']:
    w['instances'][d['DBInstanceIdentifier']] = {
        'version': d['EngineVersion'], 'status': d['DBInstanceStatus'],
        'group': d['DBParameterGroups'][0]['DBParameterGroupName']}
for s in rds.describe_db_snapshots()['DBSnapshots']:
    tags = rds.list_tags_for_resource(ResourceName=s['DBSnapshotArn'])['TagList']
    w['snapshots'][s['DBSnapshotIdentifier']] = {
        'instance': s['DBInstanceIdentifier'], 'type': s.get('SnapshotType'),
        'tags': {t['Key']: t['Value'] for t in tags}}
for b in rds.describe_blue_green_deployments()['BlueGreenDeployments']:
    w['deployments'].append({'name': b['BlueGreenDeploymentName'], 'source': b['Source'], 'status': b['Status']})
for g in rds.describe_db_parameter_groups()['DBParameterGroups']:
    name = g['DBParameterGroupName']
    params = rds.describe_db_parameters(DBParameterGroupName=name)['Parameters']
    w['groups'][name] = {'family': g['DBParameterGroupFamily'],
        'params': {p['ParameterName']: p.get('ParameterValue') for p in params if 'ParameterValue' in p}}
print(json.dumps(w))
"#,
    );
    serde_json::from_str(&out).unwrap()
}

/// Manual snapshots, deployments and parameter groups rdsfleet made for plan `id`.
fn counts_for_plan(w: &Value, id: &str) -> (usize, usize, usize) {
    let snaps = w["snapshots"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| k.starts_with(id))
        .count();
    let bgs = w["deployments"].as_array().unwrap().len();
    let groups = w["groups"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| k.starts_with(id))
        .count();
    (snaps, bgs, groups)
}

fn db<'a>(plan: &'a Value, id: &str) -> &'a Value {
    plan["databases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["identifier"] == id)
        .unwrap_or_else(|| panic!("{id} not in plan"))
}

fn step_name(plan: &Value, id: &str, kind: &str) -> String {
    db(plan, id)["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == kind)
        .and_then(|s| s["resource_name"].as_str())
        .unwrap_or_else(|| panic!("{id} has no {kind} step"))
        .to_string()
}

/// The end state of a finished rollout, checked through boto3.
fn assert_rolled_out(moto: &Moto, plan: &Value) {
    let id = plan["plan_id"].as_str().unwrap();
    let w = world(moto);
    for (name, from, to_major) in [("orders", "5.7.44", "8.0."), ("billing", "13.15", "16.")] {
        let p = db(plan, name);
        let to = p["to_version"].as_str().unwrap();
        assert!(to.starts_with(to_major), "{name} planned to {to}");
        let live = &w["instances"][name];
        assert_eq!(live["version"], to, "{name}: {w}");
        assert_eq!(live["group"], p["target"]["parameter_group"], "{name}");
        let old = &w["instances"][format!("{name}-old1")];
        assert_eq!(
            old["version"], from,
            "{name}-old1 kept on the old version: {w}"
        );
        // The pre-upgrade snapshot, tagged as rdsfleet's.
        let snap = &w["snapshots"][step_name(plan, name, "snapshot")];
        assert_eq!(snap["instance"], name, "{w}");
        assert_eq!(snap["tags"]["rdsfleet:plan-id"], id);
        assert_eq!(snap["tags"]["rdsfleet:managed"], "true");
    }
    assert_eq!(
        w["instances"].as_object().unwrap().len(),
        4,
        "no stray green: {w}"
    );

    // Parameter groups of the new families, with the custom values carried over and the
    // renamed/removed MySQL parameters mapped.
    let my = &w["groups"][step_name(plan, "orders", "parameter-group")];
    assert_eq!(my["family"], "mysql8.0");
    assert_eq!(
        my["params"]["transaction_isolation"], "READ-COMMITTED",
        "{my}"
    );
    assert_eq!(my["params"]["max_connections"], "500");
    assert_eq!(my["params"]["binlog_format"], "ROW");
    assert!(my["params"].get("tx_isolation").is_none(), "{my}");
    assert!(my["params"].get("query_cache_size").is_none(), "{my}");
    let pg = &w["groups"][step_name(plan, "billing", "parameter-group")];
    assert_eq!(pg["family"], "postgres16");
    assert_eq!(pg["params"]["rds.logical_replication"], "1", "{pg}");
    assert_eq!(pg["params"]["work_mem"], "65536");

    assert_eq!(
        counts_for_plan(&w, id),
        (2, 2, 2),
        "one of each per database"
    );
    for b in w["deployments"].as_array().unwrap() {
        assert_eq!(b["status"], "SWITCHOVER_COMPLETED", "{b}");
    }
}

#[test]
fn binary_rolls_out_mysql_57_and_postgres_13_checked_through_boto3() {
    let moto = Moto::lock();
    seed_fleet(&moto);
    let rf = Rf::new(&moto);
    let plan = rf.plan();
    rf.ok(&[
        "apply",
        "plan.json",
        "--state",
        "s.sqlite",
        "--approve-switchover",
        "--poll-secs",
        "0.2",
        "--api-rate",
        "100",
    ]);
    assert_rolled_out(&moto, &plan);
    let st = rf.status();
    assert_eq!(st["counts"]["done"], 2, "{st}");

    // cleanup: the deployment objects go; the -old1 instances stay for their 72 h retention.
    rf.ok(&["cleanup", "--state", "s.sqlite"]);
    let w = world(&moto);
    assert_eq!(w["deployments"].as_array().unwrap().len(), 0, "{w}");
    for name in ["orders", "billing"] {
        assert!(w["instances"].get(format!("{name}-old1")).is_some(), "{w}");
    }
}

#[test]
fn sigkill_mid_apply_then_resume_creates_nothing_twice() {
    let moto = Moto::lock();
    seed_fleet(&moto);
    let rf = Rf::new(&moto);
    let plan = rf.plan();
    // Intents, in order: 2 snapshots, 2 parameter groups, 2 deployments, 2 switchovers.
    // Killing right after the 5th lands between "about to create a deployment" and its
    // outcome being recorded: the resumed run must find and adopt what the dead one made.
    let mut child = rf
        .cmd(&["apply", "plan.json", "--state", "s.sqlite"])
        .args([
            "--approve-switchover",
            "--poll-secs",
            "0.2",
            "--api-rate",
            "100",
            "-v",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = 0;
    let mut killed = false;
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let Ok(line) = line else { break };
        if line.contains("intent:") {
            seen += 1;
            if seen == 5 {
                child.kill().unwrap(); // SIGKILL
                killed = true;
                break;
            }
        }
    }
    child.wait().unwrap();
    assert!(
        killed,
        "apply finished after {seen} intents, before the kill"
    );
    let id = plan["plan_id"].as_str().unwrap();
    let mid = counts_for_plan(&world(&moto), id);
    assert_eq!(
        (mid.0, mid.2),
        (2, 2),
        "snapshots and groups made before the kill"
    );

    rf.resume_until_done(&[]);
    assert_rolled_out(&moto, &plan);
}

#[test]
fn leftover_blue_green_name_is_adopted_not_collided_with() {
    let moto = Moto::lock();
    seed_fleet(&moto);
    let rf = Rf::new(&moto);
    let plan = rf.plan();
    let name = step_name(&plan, "orders", "create-blue-green");
    let arn = db(&plan, "orders")["arn"].as_str().unwrap().to_string();
    let to = db(&plan, "orders")["to_version"]
        .as_str()
        .unwrap()
        .to_string();
    let group = db(&plan, "orders")["target"]["parameter_group"]
        .as_str()
        .unwrap()
        .to_string();
    let family = db(&plan, "orders")["target"]["parameter_group_family"]
        .as_str()
        .unwrap()
        .to_string();
    let plan_id = plan["plan_id"].as_str().unwrap().to_string();
    // An earlier attempt created the green parameter group and the deployment (with that
    // group, as rdsfleet does) and died before recording them.
    moto.boto3(&format!(
        "rds.create_db_parameter_group(DBParameterGroupName={group:?}, DBParameterGroupFamily={family:?}, Description='earlier attempt', Tags=[{{'Key': 'rdsfleet:managed', 'Value': 'true'}}, {{'Key': 'rdsfleet:plan-id', 'Value': {plan_id:?}}}])\n\
         rds.create_blue_green_deployment(BlueGreenDeploymentName={name:?}, Source={arn:?}, TargetEngineVersion={to:?}, TargetDBParameterGroupName={group:?})"
    ));
    rf.ok(&[
        "apply",
        "plan.json",
        "--state",
        "s.sqlite",
        "--approve-switchover",
        "--poll-secs",
        "0.2",
        "--api-rate",
        "100",
    ]);
    let w = world(&moto);
    let for_orders: Vec<&Value> = w["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["name"] == name.as_str())
        .collect();
    assert_eq!(for_orders.len(), 1, "{w}");
    assert_eq!(for_orders[0]["status"], "SWITCHOVER_COMPLETED");
    assert_eq!(w["deployments"].as_array().unwrap().len(), 2, "{w}");
    assert_eq!(w["instances"]["orders"]["version"], to.as_str());
    assert_eq!(rf.status()["counts"]["done"], 2);
}

#[test]
fn apply_without_approval_stops_at_the_gate_then_approve_and_resume_finish() {
    let moto = Moto::lock();
    seed_fleet(&moto);
    let rf = Rf::new(&moto);
    let plan = rf.plan();
    let o = rf.run(&[
        "apply",
        "plan.json",
        "--state",
        "s.sqlite",
        "--poll-secs",
        "0.2",
        "--api-rate",
        "100",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let st = rf.status();
    assert_eq!(st["counts"]["awaiting-approval"], 2, "{st}");
    for d in st["databases"].as_array().unwrap() {
        assert_eq!(d["state"], "awaiting-approval", "{d}");
    }
    let w = world(&moto);
    assert!(
        !w["instances"]
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.ends_with("-old1")),
        "switched over without approval: {w}"
    );
    for b in w["deployments"].as_array().unwrap() {
        assert_eq!(b["status"], "AVAILABLE", "{b}");
    }
    let approved = rf.ok(&["approve", "--state", "s.sqlite"]);
    assert!(approved.contains("approved switchover for 2"), "{approved}");
    rf.resume_until_done(&[]);
    assert_rolled_out(&moto, &plan);
}

#[test]
fn abort_at_the_gate_deletes_green_and_keeps_blue_and_the_snapshots() {
    let moto = Moto::lock();
    seed_fleet(&moto);
    let rf = Rf::new(&moto);
    let plan = rf.plan();
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
    assert_eq!(rf.status()["counts"]["awaiting-approval"], 2);
    rf.ok(&["abort", "--state", "s.sqlite"]);
    let st = rf.status();
    assert_eq!(st["counts"]["aborted"], 2, "{st}");
    let w = world(&moto);
    assert_eq!(w["deployments"].as_array().unwrap().len(), 0, "{w}");
    let instances = w["instances"].as_object().unwrap();
    assert_eq!(instances.len(), 2, "green instances deleted: {w}");
    assert_eq!(w["instances"]["orders"]["version"], "5.7.44");
    assert_eq!(w["instances"]["billing"]["version"], "13.15");
    for name in ["orders", "billing"] {
        assert!(
            w["snapshots"]
                .get(step_name(&plan, name, "snapshot"))
                .is_some(),
            "the pre-upgrade snapshot is kept: {w}"
        );
    }
}

/// moto copies blue's deletion protection to green, and (unlike AWS, which refuses the call)
/// deletes the deployment and then fails on the protected green, leaving it behind. `abort`
/// tags green and turns its protection off first, so green goes and blue stays protected.
#[test]
fn abort_of_a_protected_database_unprotects_green_only_and_deletes_it() {
    let moto = Moto::lock();
    seed_fleet(&moto);
    moto.boto3(
        "rds.modify_db_instance(DBInstanceIdentifier='orders', DeletionProtection=True, ApplyImmediately=True)",
    );
    let rf = Rf::new(&moto);
    rf.plan();
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
    let protection = || -> Value {
        let out = moto.boto3(
            "print(json.dumps({d['DBInstanceIdentifier']: d['DeletionProtection'] for d in rds.describe_db_instances()['DBInstances']}))",
        );
        serde_json::from_str(&out).unwrap()
    };
    let before = protection();
    let protected_greens = before
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, v)| k.starts_with("orders-green") && **v == true)
        .count();
    assert_eq!(
        protected_greens, 1,
        "green copied blue's protection: {before}"
    );
    let out = rf.ok(&["abort", "--state", "s.sqlite"]);
    assert!(out.contains("turned off deletion protection"), "{out}");
    assert_eq!(rf.status()["counts"]["aborted"], 2);
    let w = world(&moto);
    assert_eq!(w["deployments"].as_array().unwrap().len(), 0, "{w}");
    assert_eq!(
        protection(),
        serde_json::json!({"orders": true, "billing": false}),
        "greens gone, blue still protected"
    );
}

/// An old read replica (`-old1`) is deleted without a final snapshot, and its source only on
/// the next run, once the replica is gone, with one. moto does not rename blue's replicas at
/// switchover, so the test makes the replica of `orders-old1` with boto3 and records it as
/// `verify` will; a zero retention lets cleanup act at once.
#[test]
fn cleanup_deletes_an_old_replica_without_a_snapshot_then_its_source() {
    use rdsfleet::machine::OldInstance;
    use rdsfleet::state::{ResourceKind, ResourceStatus};
    let moto = Moto::lock();
    seed_fleet(&moto);
    let rf = Rf::new(&moto);
    std::fs::write(
        rf.path("now.toml"),
        "[switchover]\nreadiness_stable_secs = 0\n[retention]\nold_instance_hours = 0\n",
    )
    .unwrap();
    let plan = rf.plan_with("now.toml");
    let id = plan["plan_id"].as_str().unwrap();
    rf.ok(&[
        "apply",
        "plan.json",
        "--state",
        "s.sqlite",
        "--approve-switchover",
        "--poll-secs",
        "0.2",
        "--api-rate",
        "100",
    ]);
    moto.boto3(&format!(
        r#"
r = rds.create_db_instance_read_replica(DBInstanceIdentifier='orders-ro1-old1',
    SourceDBInstanceIdentifier='orders-old1', DBInstanceClass='db.m5.large')
rds.add_tags_to_resource(ResourceName=r['DBInstance']['DBInstanceArn'], Tags=[
    {{'Key': 'rdsfleet:managed', 'Value': 'true'}}, {{'Key': 'rdsfleet:plan-id', 'Value': '{id}'}},
    {{'Key': 'rdsfleet:role', 'Value': 'old-replica'}}])
"#
    ));
    let store = rdsfleet::store::Store::open(&rf.path("s.sqlite")).unwrap();
    let row = store
        .resource(REGION, ResourceKind::OldInstance, "orders-old1")
        .unwrap()
        .expect("verify recorded the old instance");
    let mut detail: OldInstance = serde_json::from_str(row.detail.as_deref().unwrap()).unwrap();
    detail.replica_of = Some("orders-old1".into());
    let detail = serde_json::to_string(&detail).unwrap();
    let (kind, kept) = (ResourceKind::OldReplica, ResourceStatus::Kept);
    store
        .set_resource(REGION, kind, "orders-ro1-old1", kept, Some(&detail), 0)
        .unwrap();
    drop(store);

    let out = rf.ok(&["cleanup", "--state", "s.sqlite"]);
    let w = world(&moto);
    let instances = w["instances"].as_object().unwrap();
    assert!(!instances.contains_key("orders-ro1-old1"), "{out}\n{w}");
    assert!(instances.contains_key("orders-old1"), "source kept: {out}");
    assert!(out.contains("still attached"), "{out}");
    assert!(!instances.contains_key("billing-old1"), "{out}");
    let snapshots_of = |w: &Value, inst: &str| -> Vec<String> {
        w["snapshots"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, s)| s["instance"] == inst && s["type"] == "manual")
            .map(|(k, _)| k.clone())
            .collect()
    };
    assert!(snapshots_of(&w, "orders-ro1-old1").is_empty(), "{w}");
    assert_eq!(
        snapshots_of(&w, "billing-old1"),
        [format!("{id}-billing-old1-final")]
    );

    let out = rf.ok(&["cleanup", "--state", "s.sqlite"]);
    let w = world(&moto);
    assert!(w["instances"].get("orders-old1").is_none(), "{out}\n{w}");
    assert_eq!(
        snapshots_of(&w, "orders-old1"),
        [format!("{id}-orders-old1-final")]
    );
}

#[test]
fn iam_policy_is_json_with_every_adapter_action() {
    // No moto needed: the command is offline. Still run with the same fake environment.
    let c = Command::new(env!("CARGO_BIN_EXE_rdsfleet"))
        .arg("iam-policy")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    assert_eq!(c.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&c.stdout).expect("iam-policy prints JSON");
    assert_eq!(v["Version"], "2012-10-17");
    let mut actions = std::collections::BTreeSet::new();
    for s in v["Statement"].as_array().unwrap() {
        match &s["Action"] {
            Value::String(a) => {
                actions.insert(a.clone());
            }
            Value::Array(a) => actions.extend(a.iter().map(|x| x.as_str().unwrap().to_string())),
            other => panic!("unexpected Action {other}"),
        }
    }
    for a in rdsfleet::iam::adapter_actions() {
        assert!(actions.contains(&a), "{a} missing from the policy");
    }
}
