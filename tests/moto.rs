//! Integration tests of the AWS adapter against moto's RDS emulator over real HTTP.
//!
//! The harness (`tests/moto/harness.rs`) installs and starts `moto_server`; every test resets
//! and seeds it. Seeding and verification go through boto3 (an independent client), never
//! through rdsfleet's own view, so a mapping bug cannot hide behind itself.
//!
//! The tests here drive the adapter as a library; `tests/moto/cli.rs` drives the real
//! `rdsfleet` binary (`--backend aws --endpoint-url ...`) through whole rollouts, and
//! `tests/moto/estate.rs` takes a fleet shaped like a real MySQL 5.7 estate (Extended Support
//! and deprecated minors, a 5.7 parameter group, io1 storage, a read replica) through it.

#[path = "moto/cli.rs"]
mod cli;
#[path = "moto/estate.rs"]
mod estate;
#[path = "moto/harness.rs"]
mod harness;
#[path = "moto/secrets.rs"]
mod secrets;

use harness::{Moto, REGION};
use rdsfleet::backend::aws::{AwsBackend, AwsOptions};
use rdsfleet::backend::{
    BlueGreenQuery, ErrorKind, InstanceQuery, NewParameterGroup, RdsBackend, SnapshotQuery,
};
use rdsfleet::domain::*;

async fn backend(moto: &Moto) -> AwsBackend {
    let opts = AwsOptions {
        endpoint_url: Some(moto.endpoint()),
        ..AwsOptions::default()
    };
    AwsBackend::connect(&[REGION.to_string()], &opts)
        .await
        .expect("connect to moto")
}

/// Create instances through boto3: `(identifier, engine, version, parameter group or "")`.
fn seed_instances(moto: &Moto, dbs: &[(&str, &str, &str, &str)]) {
    let list: Vec<String> = dbs
        .iter()
        .map(|(id, e, v, pg)| format!("({id:?}, {e:?}, {v:?}, {pg:?})"))
        .collect();
    moto.boto3(&format!(
        r#"
for ident, engine, version, pg in [{}]:
    kw = dict(DBInstanceIdentifier=ident, Engine=engine, EngineVersion=version,
              DBInstanceClass='db.m5.large', AllocatedStorage=20, MasterUsername='admin',
              MasterUserPassword='password123', BackupRetentionPeriod=7)
    if pg:
        kw['DBParameterGroupName'] = pg
    rds.create_db_instance(**kw)
"#,
        list.join(", ")
    ));
}

fn seed_parameter_group(moto: &Moto, name: &str, family: &str) {
    moto.boto3(&format!(
        "rds.create_db_parameter_group(DBParameterGroupName={name:?}, DBParameterGroupFamily={family:?}, Description='custom')"
    ));
}

/// The boto3 view of one instance: `engine_version`.
fn boto3_engine_version(moto: &Moto, id: &str) -> String {
    moto.boto3(&format!(
        "print(rds.describe_db_instances(DBInstanceIdentifier={id:?})['DBInstances'][0]['EngineVersion'], end='')"
    ))
}

fn boto3_tags(moto: &Moto, arn: &str) -> String {
    moto.boto3(&format!(
        "print(json.dumps(sorted((t['Key'], t['Value']) for t in rds.list_tags_for_resource(ResourceName={arn:?})['TagList'])), end='')"
    ))
}

const MANAGED_TAGS_JSON_P1: &str = r#"[["rdsfleet:managed", "true"], ["rdsfleet:plan-id", "p1"]]"#;

#[tokio::test]
async fn inventory_paginates_over_120_instances_in_two_pages_also_through_the_binary() {
    let moto = Moto::lock();
    let mut dbs: Vec<(String, &str, &str)> = (0..120)
        .map(|i| (format!("app-{i:03}"), "mysql", "8.0.36"))
        .collect();
    dbs.extend((0..5).map(|i| (format!("pg-{i}"), "postgres", "13.15")));
    let dbs_ref: Vec<(&str, &str, &str, &str)> = dbs
        .iter()
        .map(|(a, b, c)| (a.as_str(), *b, *c, ""))
        .collect();
    seed_instances(&moto, &dbs_ref);
    let b = backend(&moto).await;

    let before = moto.api_requests_with_status(200);
    let all = b
        .describe_instances(REGION, &InstanceQuery::default())
        .await
        .unwrap();
    let requests = moto.api_requests_with_status(200) - before;
    assert_eq!(all.len(), 125);
    assert_eq!(requests, 2, "125 instances at MaxRecords 100 are two pages");
    let ids: std::collections::BTreeSet<_> = all.iter().map(|d| d.identifier.clone()).collect();
    assert_eq!(ids.len(), 125, "no duplicates across pages");
    let one = all.iter().find(|d| d.identifier == "app-007").unwrap();
    assert_eq!(
        (one.engine.as_str(), one.engine_version.as_str()),
        ("mysql", "8.0.36")
    );
    assert!(one.arn.ends_with(":db:app-007"));
    assert_eq!(one.backup_retention_period, 7);

    // Filters: by engine, and a batch of identifiers in one call.
    let pg = b
        .describe_instances(
            REGION,
            &InstanceQuery {
                identifiers: vec![],
                engines: vec!["postgres".into()],
            },
        )
        .await
        .unwrap();
    assert_eq!(pg.len(), 5);
    let before = moto.api_requests_with_status(200);
    let some = b
        .describe_instances(
            REGION,
            &InstanceQuery {
                identifiers: vec!["app-001".into(), "app-050".into(), "pg-3".into()],
                engines: vec![],
            },
        )
        .await
        .unwrap();
    assert_eq!(some.len(), 3);
    assert_eq!(
        moto.api_requests_with_status(200) - before,
        1,
        "one batched call"
    );

    // The same fleet through the real binary: `inventory --format json` returns all 125.
    let rf = cli::Rf::new(&moto);
    let v: serde_json::Value =
        serde_json::from_str(&rf.ok(&["inventory", "--format", "json"])).unwrap();
    let ids: std::collections::BTreeSet<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["identifier"].as_str().unwrap())
        .collect();
    assert_eq!(v.as_array().unwrap().len(), 125);
    assert_eq!(ids.len(), 125, "no duplicates across pages");
    assert!(ids.contains("app-000") && ids.contains("app-119") && ids.contains("pg-4"));
}

#[tokio::test]
async fn snapshot_is_created_tagged_and_found_by_filters() {
    let moto = Moto::lock();
    seed_instances(&moto, &[("orders", "mysql", "5.7.44", "")]);
    let b = backend(&moto).await;
    let s = b
        .create_snapshot(
            REGION,
            "orders",
            "rdsfleet-p1-orders-pre",
            &managed_tags("p1"),
        )
        .await
        .unwrap();
    assert_eq!(s.instance_identifier, "orders");
    assert_eq!(boto3_tags(&moto, &s.arn), MANAGED_TAGS_JSON_P1);

    let by_id = b
        .describe_snapshots(
            REGION,
            &SnapshotQuery {
                snapshot_ids: vec!["rdsfleet-p1-orders-pre".into()],
                instance_ids: vec![],
            },
        )
        .await
        .unwrap();
    assert_eq!(by_id.len(), 1);
    assert!(
        is_managed(&by_id[0].tags, Some("p1")),
        "{:?}",
        by_id[0].tags
    );
    let by_instance = b
        .describe_snapshots(
            REGION,
            &SnapshotQuery {
                snapshot_ids: vec![],
                instance_ids: vec!["orders".into()],
            },
        )
        .await
        .unwrap();
    assert!(by_instance
        .iter()
        .any(|x| x.identifier == "rdsfleet-p1-orders-pre"));

    let again = b
        .create_snapshot(
            REGION,
            "orders",
            "rdsfleet-p1-orders-pre",
            &managed_tags("p1"),
        )
        .await
        .unwrap_err();
    assert_eq!(again.kind, ErrorKind::AlreadyExists);
    let missing = b
        .create_snapshot(REGION, "nope", "x", &Tags::new())
        .await
        .unwrap_err();
    assert_eq!(missing.kind, ErrorKind::NotFound);
}

#[tokio::test]
async fn parameter_groups_create_modify_describe_delete() {
    let moto = Moto::lock();
    seed_parameter_group(&moto, "orders-57", "mysql5.7");
    moto.boto3(
        "rds.modify_db_parameter_group(DBParameterGroupName='orders-57', Parameters=[{'ParameterName':'max_connections','ParameterValue':'500','ApplyMethod':'immediate'}])",
    );
    let b = backend(&moto).await;

    let src_params = b
        .describe_parameters(REGION, "orders-57", true)
        .await
        .unwrap();
    assert!(src_params
        .iter()
        .any(|p| p.name == "max_connections" && p.value.as_deref() == Some("500")));
    assert!(src_params.iter().all(|p| p.source == "user"));

    let g = b
        .create_parameter_group(
            REGION,
            &NewParameterGroup {
                name: "rdsfleet-p1-mysql80-orders".into(),
                family: "mysql8.0".into(),
                description: "orders on 8.0".into(),
                tags: managed_tags("p1"),
            },
        )
        .await
        .unwrap();
    assert_eq!(g.family, "mysql8.0");
    assert_eq!(boto3_tags(&moto, &g.arn), MANAGED_TAGS_JSON_P1);
    // ListTagsForResource tells ours from a stranger's group (the describe carries no tags).
    let ours = b.list_tags(REGION, &g.arn).await.unwrap();
    assert!(is_managed(&ours, Some("p1")), "{ours:?}");
    let stranger = b
        .describe_parameter_groups(REGION, &["orders-57".to_string()])
        .await
        .unwrap();
    let theirs = b.list_tags(REGION, &stranger[0].arn).await.unwrap();
    assert!(!is_managed(&theirs, None), "{theirs:?}");
    let dup = b
        .create_parameter_group(
            REGION,
            &NewParameterGroup {
                name: "rdsfleet-p1-mysql80-orders".into(),
                family: "mysql8.0".into(),
                description: "d".into(),
                tags: Tags::new(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(dup.kind, ErrorKind::AlreadyExists);

    b.modify_parameter_group(
        REGION,
        "rdsfleet-p1-mysql80-orders",
        &[
            ParameterChange {
                name: "max_connections".into(),
                value: "500".into(),
                apply_method: "immediate".into(),
            },
            ParameterChange {
                name: "transaction_isolation".into(),
                value: "READ-COMMITTED".into(),
                apply_method: "pending-reboot".into(),
            },
        ],
    )
    .await
    .unwrap();
    let user = b
        .describe_parameters(REGION, "rdsfleet-p1-mysql80-orders", true)
        .await
        .unwrap();
    let names: std::collections::BTreeSet<_> = user.iter().map(|p| p.name.as_str()).collect();
    assert!(names.contains("max_connections") && names.contains("transaction_isolation"));

    let one = b
        .describe_parameter_groups(REGION, &["orders-57".to_string()])
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].family, "mysql5.7");
    let two = b
        .describe_parameter_groups(
            REGION,
            &[
                "orders-57".to_string(),
                "rdsfleet-p1-mysql80-orders".to_string(),
            ],
        )
        .await
        .unwrap();
    assert_eq!(two.len(), 2);
    let none = b
        .describe_parameter_groups(REGION, &["does-not-exist".to_string()])
        .await
        .unwrap();
    assert!(none.is_empty());

    b.delete_parameter_group(REGION, "rdsfleet-p1-mysql80-orders")
        .await
        .unwrap();
    let gone = b
        .delete_parameter_group(REGION, "rdsfleet-p1-mysql80-orders")
        .await
        .unwrap_err();
    assert_eq!(gone.kind, ErrorKind::NotFound);
}

/// Create -> adopt-on-duplicate -> switchover -> verify through boto3 -> delete, for one engine.
async fn blue_green_round_trip(
    engine: &str,
    from: &str,
    to: &str,
    old_family: &str,
    new_family: &str,
) {
    let moto = Moto::lock();
    seed_parameter_group(&moto, "custom-old", old_family);
    seed_parameter_group(&moto, "custom-new", new_family);
    seed_instances(&moto, &[("orders", engine, from, "custom-old")]);
    let b = backend(&moto).await;
    let src = b
        .describe_instances(
            REGION,
            &InstanceQuery {
                identifiers: vec!["orders".into()],
                engines: vec![],
            },
        )
        .await
        .unwrap()
        .remove(0);
    assert_eq!(src.parameter_group().unwrap().name, "custom-old");

    let req = CreateBlueGreen {
        name: "rdsfleet-p1-orders".into(),
        source_arn: src.arn.clone(),
        target_engine_version: to.into(),
        target_parameter_group: Some("custom-new".into()),
        target_instance_class: None,
        target_storage_type: None,
        tags: managed_tags("p1"),
        ..Default::default()
    };
    let created = b.create_blue_green(REGION, &req).await.unwrap();
    assert_eq!(created.name, "rdsfleet-p1-orders");
    assert!(created.identifier.starts_with("bgd-"));

    // A retry after a crash finds the name taken: classified, so the engine adopts it.
    let dup = b.create_blue_green(REGION, &req).await.unwrap_err();
    assert_eq!(dup.kind, ErrorKind::AlreadyExists);
    let found = b
        .describe_blue_green(
            REGION,
            &BlueGreenQuery {
                names: vec!["rdsfleet-p1-orders".into()],
                identifiers: vec![],
            },
        )
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].identifier, created.identifier);
    assert_eq!(found[0].status, BgStatus::Available);
    assert!(found[0].target.is_some(), "green target known");
    assert!(
        is_managed(&found[0].tags, Some("p1")),
        "{:?}",
        found[0].tags
    );
    let bg_tags = moto.boto3(
        "print(json.dumps(sorted((t['Key'], t['Value']) for t in rds.describe_blue_green_deployments(Filters=[{'Name':'blue-green-deployment-name','Values':['rdsfleet-p1-orders']}])['BlueGreenDeployments'][0].get('TagList', []))), end='')",
    );
    assert_eq!(bg_tags, MANAGED_TAGS_JSON_P1);

    b.switchover_blue_green(REGION, &created.identifier, 300)
        .await
        .unwrap();
    let after = b
        .describe_blue_green(
            REGION,
            &BlueGreenQuery {
                names: vec![],
                identifiers: vec![created.identifier.clone()],
            },
        )
        .await
        .unwrap();
    assert_eq!(after[0].status, BgStatus::SwitchoverCompleted);

    // Checked through boto3: production name on the new version, -old1 on the old one.
    assert_eq!(boto3_engine_version(&moto, "orders"), to);
    assert_eq!(boto3_engine_version(&moto, "orders-old1"), from);
    let new_pg = moto.boto3(
        "print(rds.describe_db_instances(DBInstanceIdentifier='orders')['DBInstances'][0]['DBParameterGroups'][0]['DBParameterGroupName'], end='')",
    );
    assert_eq!(new_pg, "custom-new");

    // A second switchover is refused as invalid-state, not as something unknown.
    let again = b
        .switchover_blue_green(REGION, &created.identifier, 300)
        .await
        .unwrap_err();
    assert_eq!(again.kind, ErrorKind::InvalidState);

    b.delete_blue_green(REGION, &created.identifier, false)
        .await
        .unwrap();
    let left = b
        .describe_blue_green(
            REGION,
            &BlueGreenQuery {
                names: vec!["rdsfleet-p1-orders".into()],
                identifiers: vec![],
            },
        )
        .await
        .unwrap();
    assert!(left.is_empty());
    let gone = b
        .delete_blue_green(REGION, &created.identifier, false)
        .await
        .unwrap_err();
    assert_eq!(gone.kind, ErrorKind::NotFound);

    // Retire the old instance: deletion protection off, then delete with a final snapshot.
    b.set_deletion_protection(REGION, "orders-old1", false)
        .await
        .unwrap();
    b.delete_instance(REGION, "orders-old1", "rdsfleet-p1-orders-old1-final")
        .await
        .unwrap();
    let finals = moto.boto3(
        "print(len(rds.describe_db_snapshots(DBSnapshotIdentifier='rdsfleet-p1-orders-old1-final')['DBSnapshots']), end='')",
    );
    assert_eq!(finals, "1");
}

#[tokio::test]
async fn blue_green_round_trip_mysql_57_to_80() {
    blue_green_round_trip("mysql", "5.7.44", "8.0.42", "mysql5.7", "mysql8.0").await;
}

#[tokio::test]
async fn blue_green_round_trip_postgres_13_to_16() {
    blue_green_round_trip("postgres", "13.15", "16.4", "postgres13", "postgres16").await;
}

#[tokio::test]
async fn unimplemented_operations_are_unavailable_after_one_request() {
    let moto = Moto::lock();
    let b = backend(&moto).await;
    let before = moto.api_requests_with_status(500);
    let e = b
        .describe_engine_versions(REGION, "mysql", Some("5.7.44"), true)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unavailable, "{e}");
    let q = b.describe_instance_quota(REGION).await.unwrap_err();
    assert_eq!(q.kind, ErrorKind::Unavailable, "{q}");
    assert_eq!(
        moto.api_requests_with_status(500) - before,
        2,
        "one request each, no retries"
    );
}

#[tokio::test]
async fn tags_can_be_added_and_read_back_and_deletion_protection_set() {
    let moto = Moto::lock();
    seed_instances(&moto, &[("billing", "postgres", "13.15", "")]);
    let b = backend(&moto).await;
    let arn = b
        .describe_instances(REGION, &InstanceQuery::default())
        .await
        .unwrap()[0]
        .arn
        .clone();
    b.add_tags(REGION, &arn, &managed_tags("p1")).await.unwrap();
    let tags = b
        .describe_instances(REGION, &InstanceQuery::default())
        .await
        .unwrap()[0]
        .tags
        .clone();
    assert!(is_managed(&tags, Some("p1")));
    b.set_deletion_protection(REGION, "billing", true)
        .await
        .unwrap();
    let dp = moto.boto3(
        "print(rds.describe_db_instances(DBInstanceIdentifier='billing')['DBInstances'][0]['DeletionProtection'], end='')",
    );
    assert_eq!(dp, "True");
    let refused = b
        .switchover_blue_green(REGION, "bgd-doesnotexist", 300)
        .await
        .unwrap_err();
    assert_eq!(refused.kind, ErrorKind::NotFound);
}

#[tokio::test]
async fn several_regions_and_the_aws_endpoint_url_variable() {
    let moto = Moto::lock();
    seed_instances(&moto, &[("east-db", "mysql", "8.0.36", "")]);
    moto.boto3(
        "boto3.client('rds', region_name='eu-west-1', endpoint_url=rds.meta.endpoint_url, aws_access_key_id='testing', aws_secret_access_key='testing').create_db_instance(DBInstanceIdentifier='west-db', Engine='postgres', EngineVersion='13.15', DBInstanceClass='db.m5.large', AllocatedStorage=20, MasterUsername='a', MasterUserPassword='password123')",
    );
    // No --endpoint-url: aws-config must pick AWS_ENDPOINT_URL up by itself. The variable is
    // only set while this test holds the server lock.
    std::env::set_var("AWS_ENDPOINT_URL", moto.endpoint());
    let connected = AwsBackend::connect(
        &["us-east-1".to_string(), "eu-west-1".to_string()],
        &AwsOptions::default(),
    )
    .await;
    std::env::remove_var("AWS_ENDPOINT_URL");
    let b = connected.expect("connect through AWS_ENDPOINT_URL");
    assert_eq!(b.regions(), vec!["eu-west-1", "us-east-1"]);
    let east = b
        .describe_instances("us-east-1", &InstanceQuery::default())
        .await
        .unwrap();
    let west = b
        .describe_instances("eu-west-1", &InstanceQuery::default())
        .await
        .unwrap();
    assert_eq!(east.len(), 1);
    assert_eq!(east[0].identifier, "east-db");
    assert_eq!(west.len(), 1);
    assert_eq!(west[0].region, "eu-west-1");
    assert!(west[0].arn.contains(":eu-west-1:"), "{}", west[0].arn);
}

/// Discovery over the wire: a Multi-AZ DB cluster member reports its `DBClusterIdentifier`,
/// an RDS Proxy target is found through `DescribeDBProxies` + `DescribeDBProxyTargets` (one
/// call per proxy, none per database), and `DescribeIntegrations`, which moto lacks, is one
/// unanswered request that leaves "not checked": the planner then blocks the first two and
/// says the third was not made.
#[tokio::test]
async fn discovery_finds_cluster_members_and_proxy_targets_and_says_what_moto_cannot_answer() {
    let moto = Moto::lock();
    seed_instances(
        &moto,
        &[
            ("app", "mysql", "5.7.44", ""),
            ("other", "mysql", "5.7.44", ""),
        ],
    );
    moto.boto3(
        r#"
rds.create_db_cluster(DBClusterIdentifier='maz', Engine='mysql', EngineVersion='8.0.36',
    DBClusterInstanceClass='db.m5d.large', AllocatedStorage=100, StorageType='io1', Iops=1000,
    MasterUsername='admin', MasterUserPassword='password123')
rds.create_db_instance(DBInstanceIdentifier='maz-instance-1', DBClusterIdentifier='maz',
    Engine='mysql', DBInstanceClass='db.m5d.large')
ec2 = boto3.client('ec2', region_name='us-east-1', endpoint_url=rds.meta.endpoint_url,
    aws_access_key_id='testing', aws_secret_access_key='testing')
vpc = ec2.create_vpc(CidrBlock='10.0.0.0/16')['Vpc']['VpcId']
subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=c, AvailabilityZone=z)['Subnet']['SubnetId']
           for c, z in [('10.0.1.0/24', 'us-east-1a'), ('10.0.2.0/24', 'us-east-1b')]]
rds.create_db_proxy(DBProxyName='app-proxy', EngineFamily='MYSQL',
    Auth=[{'AuthScheme': 'SECRETS', 'SecretArn': 'arn:aws:secretsmanager:us-east-1:123456789012:secret:x', 'IAMAuth': 'DISABLED'}],
    RoleArn='arn:aws:iam::123456789012:role/proxy', VpcSubnetIds=subnets)
rds.register_db_proxy_targets(DBProxyName='app-proxy', DBInstanceIdentifiers=['app'])
"#,
    );
    let b = backend(&moto).await;
    let before = moto.api_requests_with_status(500);
    let inv = rdsfleet::inventory::discover(&b, &[REGION.to_string()], &[])
        .await
        .unwrap();
    assert_eq!(
        moto.api_requests_with_status(500) - before,
        1,
        "DescribeIntegrations: one request, no retries"
    );
    let by = |id: &str| inv.iter().find(|d| d.identifier == id).unwrap();
    assert_eq!(
        by("maz-instance-1").db_cluster_identifier.as_deref(),
        Some("maz")
    );
    assert_eq!(by("app").db_cluster_identifier, None);
    assert_eq!(by("app").rds_proxies, Some(vec!["app-proxy".to_string()]));
    assert_eq!(by("other").rds_proxies, Some(vec![]));
    assert!(inv.iter().all(|d| d.zero_etl_integrations.is_none()));

    let req = rdsfleet::planner::PlanRequest {
        targets: [("mysql".to_string(), "8.0".to_string())].into(),
        settings: rdsfleet::plan::PlanSettings::default(),
        created_at: 0,
    };
    let plan =
        rdsfleet::planner::plan(&inv, &rdsfleet::planner::PlanContext::offline(), &req).unwrap();
    let p = |id: &str| plan.databases.iter().find(|d| d.identifier == id).unwrap();
    let codes =
        |f: &[rdsfleet::plan::Finding]| f.iter().map(|f| f.code.clone()).collect::<Vec<_>>();
    assert_eq!(codes(&p("app").blockers), ["rds-proxy-target"]);
    assert!(codes(&p("maz-instance-1").blockers).contains(&"multi-az-cluster-member".to_string()));
    assert_eq!(codes(&p("other").blockers), Vec::<String>::new());
    assert_eq!(codes(&p("other").warnings), ["zero-etl-unknown"]);
}

/// Log files over the wire: moto lists them; it lacks `DownloadDBLogFilePortion`, which is
/// one unanswered request classified `unavailable`, so diagnosis says the log could not be read.
#[tokio::test]
async fn log_files_are_listed_and_an_unimplemented_download_is_unavailable() {
    let moto = Moto::lock();
    seed_instances(&moto, &[("app", "mysql", "8.0.36", "")]);
    let b = backend(&moto).await;
    let files = b.describe_log_files(REGION, "app").await.unwrap();
    assert_eq!(files[0].name, "error/mysql.log");
    assert!(files[0].size > 0);
    let e = b.describe_log_files(REGION, "nope").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound, "{e}");
    let before = moto.api_requests_with_status(500);
    let e = b
        .download_log_file(REGION, "app", "error/mysql.log")
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unavailable, "{e}");
    assert_eq!(moto.api_requests_with_status(500) - before, 1);
}

/// A replica deletion over the wire, checked through boto3: a fresh describe, then
/// `DeleteDBInstance` with `SkipFinalSnapshot`; the replica is gone, its source and the other
/// replica stay, and no snapshot was taken.
#[tokio::test]
async fn a_read_replica_is_deleted_without_a_snapshot() {
    let moto = Moto::lock();
    seed_instances(&moto, &[("app", "mysql", "5.7.44", "")]);
    moto.boto3("rds.create_db_instance_read_replica(DBInstanceIdentifier='app-ro1', SourceDBInstanceIdentifier='app')");
    let b = backend(&moto).await;
    let all = b
        .describe_instances(REGION, &InstanceQuery::default())
        .await
        .unwrap();
    let primary = all.iter().find(|d| d.identifier == "app").unwrap();
    let replica = all.iter().find(|d| d.identifier == "app-ro1").unwrap();
    assert!(ReadReplica::of(primary).is_none());
    let token = ReadReplica::of(replica).expect("moto reports the replica's source");
    // (A replica promoted behind rdsfleet's back is refused: moto keeps the source after
    // PromoteReadReplica, so that case is covered by the mocks and the simulator.)
    b.delete_read_replica(REGION, &token).await.unwrap();
    let left = moto.boto3(
        "print(sorted(d['DBInstanceIdentifier'] for d in rds.describe_db_instances()['DBInstances']), len(rds.describe_db_snapshots(SnapshotType='manual')['DBSnapshots']), end='')",
    );
    assert_eq!(left, "['app'] 0", "deleted, and no snapshot taken");
}
/// Issue 10: an instance on an Extended Support minor (as AWS spells it) on io1 storage is
/// discovered with its version, storage type and provisioned IOPS, which the planner needs.
#[tokio::test]
async fn inventory_carries_extended_support_minors_and_provisioned_iops() {
    let moto = Moto::lock();
    moto.boto3(
        r#"
rds.create_db_instance(DBInstanceIdentifier='legacy', Engine='mysql', EngineVersion='5.7.44-rds.20240808',
    DBInstanceClass='db.m5.large', AllocatedStorage=200, StorageType='io1', Iops=3000,
    MasterUsername='admin', MasterUserPassword='password123', BackupRetentionPeriod=7)
rds.create_db_instance(DBInstanceIdentifier='dep', Engine='mysql', EngineVersion='5.7.33',
    DBInstanceClass='db.m5.large', AllocatedStorage=50, MasterUsername='admin',
    MasterUserPassword='password123', BackupRetentionPeriod=7)
"#,
    );
    let b = backend(&moto).await;
    let all = b
        .describe_instances(REGION, &InstanceQuery::default())
        .await
        .unwrap();
    let get = |id: &str| all.iter().find(|d| d.identifier == id).unwrap();
    let legacy = get("legacy");
    assert_eq!(legacy.engine_version, "5.7.44-rds.20240808");
    assert_eq!(
        (
            legacy.storage_type.as_str(),
            legacy.iops,
            legacy.allocated_storage_gib
        ),
        ("io1", Some(3000), 200)
    );
    assert_eq!(get("dep").engine_version, "5.7.33");
    assert_eq!(get("dep").iops, None);
}

/// Issue 10 item 5: TargetStorageType, TargetIops and TargetAllocatedStorage reach RDS, as
/// boto3 sees green (moto builds green from the request).
#[tokio::test]
async fn blue_green_request_carries_the_target_storage() {
    let moto = Moto::lock();
    seed_instances(&moto, &[("orders", "mysql", "5.7.44", "")]);
    seed_parameter_group(&moto, "green-80", "mysql8.0");
    let b = backend(&moto).await;
    let src = b
        .describe_instances(REGION, &InstanceQuery::default())
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        (src.storage_type.as_str(), src.allocated_storage_gib),
        ("gp2", 20)
    );
    let req = CreateBlueGreen {
        name: "rdsfleet-p1-orders".into(),
        source_arn: src.arn.clone(),
        target_engine_version: "8.0.42".into(),
        target_parameter_group: Some("green-80".into()),
        target_storage_type: Some("io1".into()),
        target_iops: Some(3000),
        target_allocated_storage: Some(100),
        tags: managed_tags("p1"),
        ..Default::default()
    };
    let bg = b.create_blue_green(REGION, &req).await.unwrap();
    let green = bg.target.unwrap();
    let out = moto.boto3(&format!(
        r#"
g = [d for d in rds.describe_db_instances()['DBInstances'] if d['DBInstanceArn'] == {green:?}][0]
print(json.dumps([g['EngineVersion'], g['StorageType'], g.get('Iops'), g['AllocatedStorage'], g['DBParameterGroups'][0]['DBParameterGroupName']]), end='')
"#
    ));
    assert_eq!(out, r#"["8.0.42", "io1", 3000, 100, "green-80"]"#);
}
