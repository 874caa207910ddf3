//! Translation tests with `aws-smithy-mocks`: SDK responses and errors in, domain values and
//! [`ErrorKind`]s out, and the requests the adapter builds (filters, markers, tags, final
//! snapshot) checked on the way. No network, no sleeping: retry backoff is set to zero.

use super::*;
use aws_sdk_rds::error::ErrorMetadata;
use aws_sdk_rds::operation::create_blue_green_deployment::{
    CreateBlueGreenDeploymentError, CreateBlueGreenDeploymentOutput,
};
use aws_sdk_rds::operation::create_db_parameter_group::CreateDBParameterGroupError;
use aws_sdk_rds::operation::create_db_snapshot::{CreateDBSnapshotError, CreateDbSnapshotOutput};
use aws_sdk_rds::operation::delete_blue_green_deployment::DeleteBlueGreenDeploymentError;
use aws_sdk_rds::operation::delete_db_instance::DeleteDbInstanceOutput;
use aws_sdk_rds::operation::describe_account_attributes::DescribeAccountAttributesOutput;
use aws_sdk_rds::operation::describe_db_engine_versions::DescribeDbEngineVersionsOutput;
use aws_sdk_rds::operation::describe_db_instances::{
    DescribeDBInstancesError, DescribeDbInstancesOutput,
};
use aws_sdk_rds::operation::switchover_blue_green_deployment::SwitchoverBlueGreenDeploymentError;
use aws_sdk_rds::types as sdk;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};

const REGION: &str = "us-east-1";

/// A backend over a mocked client with standard retries (3 attempts) and zero backoff.
fn backend(rules: &[&Rule]) -> AwsBackend {
    backend_in(RuleMode::Sequential, rules)
}

fn backend_in(mode: RuleMode, rules: &[&Rule]) -> AwsBackend {
    let client = mock_client!(aws_sdk_rds, mode, rules, |c| c.retry_config(
        RetryConfig::standard()
            .with_max_attempts(3)
            .with_initial_backoff(Duration::ZERO)
            .with_max_backoff(Duration::ZERO)
    ));
    AwsBackend::from_clients(vec![(REGION.to_string(), client)])
}

fn coded(code: &str) -> ErrorMetadata {
    ErrorMetadata::builder()
        .code(code)
        .message("mocked")
        .build()
}

fn db(id: &str) -> sdk::DbInstance {
    sdk::DbInstance::builder()
        .db_instance_identifier(id)
        .db_instance_arn(format!("arn:aws:rds:us-east-1:123456789012:db:{id}"))
        .engine("mysql")
        .engine_version("5.7.44")
        .db_instance_status("available")
        .build()
}

#[tokio::test]
async fn throttling_is_retried_by_the_sdk_then_succeeds() {
    let throttled = mock!(Client::describe_db_instances)
        .sequence()
        .error(|| DescribeDBInstancesError::generic(coded("Throttling")))
        .times(2)
        .output(|| {
            DescribeDbInstancesOutput::builder()
                .db_instances(db("a"))
                .build()
        })
        .build();
    let b = backend(&[&throttled]);
    let got = b
        .describe_instances(REGION, &InstanceQuery::default())
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        throttled.num_calls(),
        3,
        "two throttled attempts, one success"
    );
}

#[tokio::test]
async fn throttling_beyond_the_attempts_is_classified_throttled() {
    let throttled = mock!(Client::describe_db_instances)
        .sequence()
        .error(|| DescribeDBInstancesError::generic(coded("ThrottlingException")))
        .repeatedly()
        .build();
    let b = backend(&[&throttled]);
    let e = b
        .describe_instances(REGION, &InstanceQuery::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Throttled);
    assert_eq!(e.code, "ThrottlingException");
    assert!(e.is_retryable());
    assert_eq!(throttled.num_calls(), 3);
}

#[tokio::test]
async fn already_exists_from_typed_variants() {
    let snap = mock!(Client::create_db_snapshot).then_error(|| {
        CreateDBSnapshotError::DbSnapshotAlreadyExistsFault(
            sdk::error::DbSnapshotAlreadyExistsFault::builder().build(),
        )
    });
    let bg = mock!(Client::create_blue_green_deployment).then_error(|| {
        CreateBlueGreenDeploymentError::BlueGreenDeploymentAlreadyExistsFault(
            sdk::error::BlueGreenDeploymentAlreadyExistsFault::builder().build(),
        )
    });
    let pg = mock!(Client::create_db_parameter_group).then_error(|| {
        CreateDBParameterGroupError::DbParameterGroupAlreadyExistsFault(
            sdk::error::DbParameterGroupAlreadyExistsFault::builder().build(),
        )
    });
    let b = backend(&[&snap, &bg, &pg]);
    let tags = managed_tags("p1");
    let e = b
        .create_snapshot(REGION, "a", "s", &tags)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::AlreadyExists);
    let req = CreateBlueGreen {
        name: "n".into(),
        source_arn: "arn".into(),
        target_engine_version: "8.0.42".into(),
        target_parameter_group: None,
        target_instance_class: None,
        target_storage_type: None,
        tags: tags.clone(),
        ..Default::default()
    };
    let e = b.create_blue_green(REGION, &req).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::AlreadyExists);
    let g = NewParameterGroup {
        name: "g".into(),
        family: "mysql8.0".into(),
        description: "d".into(),
        tags,
    };
    let e = b.create_parameter_group(REGION, &g).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::AlreadyExists);
    // A modelled fault is not retried.
    assert_eq!(snap.num_calls() + bg.num_calls() + pg.num_calls(), 3);
}

#[tokio::test]
async fn not_found_invalid_state_and_quota_from_typed_variants() {
    let describe = mock!(Client::describe_db_instances).then_error(|| {
        DescribeDBInstancesError::DbInstanceNotFoundFault(
            sdk::error::DbInstanceNotFoundFault::builder().build(),
        )
    });
    let switchover = mock!(Client::switchover_blue_green_deployment).then_error(|| {
        SwitchoverBlueGreenDeploymentError::BlueGreenDeploymentNotFoundFault(
            sdk::error::BlueGreenDeploymentNotFoundFault::builder().build(),
        )
    });
    let delete = mock!(Client::delete_blue_green_deployment).then_error(|| {
        DeleteBlueGreenDeploymentError::InvalidBlueGreenDeploymentStateFault(
            sdk::error::InvalidBlueGreenDeploymentStateFault::builder().build(),
        )
    });
    let snap = mock!(Client::create_db_snapshot).then_error(|| {
        CreateDBSnapshotError::InvalidDbInstanceStateFault(
            sdk::error::InvalidDbInstanceStateFault::builder().build(),
        )
    });
    let quota = mock!(Client::create_blue_green_deployment).then_error(|| {
        CreateBlueGreenDeploymentError::InstanceQuotaExceededFault(
            sdk::error::InstanceQuotaExceededFault::builder().build(),
        )
    });
    let b = backend(&[&describe, &switchover, &delete, &snap, &quota]);
    let q = InstanceQuery {
        identifiers: vec!["nope".into()],
        engines: vec![],
    };
    assert_eq!(
        b.describe_instances(REGION, &q).await.unwrap_err().kind,
        ErrorKind::NotFound
    );
    assert_eq!(
        b.switchover_blue_green(REGION, "bgd-x", 300)
            .await
            .unwrap_err()
            .kind,
        ErrorKind::NotFound
    );
    assert_eq!(
        b.delete_blue_green(REGION, "bgd-x", true)
            .await
            .unwrap_err()
            .kind,
        ErrorKind::InvalidState
    );
    assert_eq!(
        b.create_snapshot(REGION, "a", "s", &Tags::new())
            .await
            .unwrap_err()
            .kind,
        ErrorKind::InvalidState
    );
    let req = CreateBlueGreen {
        name: "n".into(),
        source_arn: "arn".into(),
        target_engine_version: "16.4".into(),
        target_parameter_group: None,
        target_instance_class: None,
        target_storage_type: None,
        tags: Tags::new(),
        ..Default::default()
    };
    assert_eq!(
        b.create_blue_green(REGION, &req).await.unwrap_err().kind,
        ErrorKind::QuotaExceeded
    );
}

#[tokio::test]
async fn access_denied_from_the_generic_code() {
    let denied = mock!(Client::describe_db_instances)
        .then_error(|| DescribeDBInstancesError::generic(coded("AccessDenied")));
    let b = backend(&[&denied]);
    let e = b
        .describe_instances(REGION, &InstanceQuery::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::AccessDenied);
    assert_eq!(e.code, "AccessDenied");
    assert!(!e.is_retryable());
    assert_eq!(denied.num_calls(), 1, "access denied is not retried");
}

#[tokio::test]
async fn pagination_follows_markers_with_max_records_100() {
    let first = mock!(Client::describe_db_instances)
        .match_requests(|r| r.marker().is_none() && r.max_records() == Some(100))
        .then_output(|| {
            DescribeDbInstancesOutput::builder()
                .db_instances(db("a"))
                .db_instances(db("b"))
                .marker("page-2")
                .build()
        });
    let second = mock!(Client::describe_db_instances)
        .match_requests(|r| r.marker() == Some("page-2") && r.max_records() == Some(100))
        .then_output(|| {
            DescribeDbInstancesOutput::builder()
                .db_instances(db("c"))
                .build()
        });
    let b = backend(&[&first, &second]);
    let got = b
        .describe_instances(REGION, &InstanceQuery::default())
        .await
        .unwrap();
    let ids: Vec<_> = got.iter().map(|d| d.identifier.as_str()).collect();
    assert_eq!(ids, vec!["a", "b", "c"]);
    assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
}

#[tokio::test]
async fn identifiers_are_batched_into_one_filtered_call() {
    let batched = mock!(Client::describe_db_instances)
        .match_requests(|r| {
            let f = r.filters();
            f.len() == 2
                && f[0].name() == Some("db-instance-id")
                && f[0].values() == ["a", "b", "c"]
                && f[1].name() == Some("engine")
                && f[1].values() == ["mysql"]
        })
        .then_output(|| {
            DescribeDbInstancesOutput::builder()
                .db_instances(db("a"))
                .db_instances(db("b"))
                .build()
        });
    let b = backend(&[&batched]);
    let q = InstanceQuery {
        identifiers: vec!["c".into(), "a".into(), "b".into()],
        engines: vec!["mysql".into()],
    };
    let got = b.describe_instances(REGION, &q).await.unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(batched.num_calls(), 1, "one call for three databases");
}

#[tokio::test]
async fn created_resources_carry_the_managed_tags() {
    let snap = mock!(Client::create_db_snapshot)
        .match_requests(|r| {
            let tags = convert::tags_from(r.tags());
            is_managed(&tags, Some("plan-7")) && r.db_snapshot_identifier() == Some("s1")
        })
        .then_output(|| {
            CreateDbSnapshotOutput::builder()
                .db_snapshot(
                    sdk::DbSnapshot::builder()
                        .db_snapshot_identifier("s1")
                        .db_instance_identifier("a")
                        .status("creating")
                        .build(),
                )
                .build()
        });
    let bg = mock!(Client::create_blue_green_deployment)
        .match_requests(|r| {
            is_managed(&convert::tags_from(r.tags()), Some("plan-7"))
                && r.target_db_parameter_group_name() == Some("pg-80")
        })
        .then_output(|| {
            CreateBlueGreenDeploymentOutput::builder()
                .blue_green_deployment(
                    sdk::BlueGreenDeployment::builder()
                        .blue_green_deployment_identifier("bgd-1")
                        .blue_green_deployment_name("n")
                        .source("arn:src")
                        .status("PROVISIONING")
                        .build(),
                )
                .build()
        });
    let b = backend(&[&snap, &bg]);
    let tags = managed_tags("plan-7");
    let s = b.create_snapshot(REGION, "a", "s1", &tags).await.unwrap();
    assert_eq!(
        (s.identifier.as_str(), s.status.as_str()),
        ("s1", "creating")
    );
    let req = CreateBlueGreen {
        name: "n".into(),
        source_arn: "arn:src".into(),
        target_engine_version: "8.0.42".into(),
        target_parameter_group: Some("pg-80".into()),
        target_instance_class: None,
        target_storage_type: None,
        tags,
        ..Default::default()
    };
    let g = b.create_blue_green(REGION, &req).await.unwrap();
    assert_eq!(g.status, BgStatus::Provisioning);
}

/// Issue 10 item 5: provisioned-IOPS storage reaches the request (TargetIops,
/// TargetStorageThroughput, TargetAllocatedStorage), and nothing is sent when not planned.
#[tokio::test]
async fn create_blue_green_sends_the_planned_storage() {
    let io1 = mock!(Client::create_blue_green_deployment)
        .match_requests(|r| {
            r.target_storage_type() == Some("io1")
                && r.target_iops() == Some(3000)
                && r.target_allocated_storage() == Some(100)
                && r.target_storage_throughput().is_none()
        })
        .then_output(|| {
            CreateBlueGreenDeploymentOutput::builder()
                .blue_green_deployment(
                    sdk::BlueGreenDeployment::builder()
                        .blue_green_deployment_identifier("bgd-1")
                        .status("PROVISIONING")
                        .build(),
                )
                .build()
        });
    let plain = mock!(Client::create_blue_green_deployment)
        .match_requests(|r| {
            r.target_storage_type().is_none()
                && r.target_iops().is_none()
                && r.target_allocated_storage().is_none()
                && r.target_storage_throughput().is_none()
        })
        .then_output(|| {
            CreateBlueGreenDeploymentOutput::builder()
                .blue_green_deployment(
                    sdk::BlueGreenDeployment::builder()
                        .blue_green_deployment_identifier("bgd-2")
                        .status("PROVISIONING")
                        .build(),
                )
                .build()
        });
    let b = backend(&[&io1, &plain]);
    let req = CreateBlueGreen {
        name: "n".into(),
        source_arn: "arn:src".into(),
        target_engine_version: "8.0.42".into(),
        target_storage_type: Some("io1".into()),
        target_iops: Some(3000),
        target_allocated_storage: Some(100),
        ..Default::default()
    };
    b.create_blue_green(REGION, &req).await.unwrap();
    let req = CreateBlueGreen {
        name: "m".into(),
        source_arn: "arn:src".into(),
        target_engine_version: "8.0.42".into(),
        ..Default::default()
    };
    b.create_blue_green(REGION, &req).await.unwrap();
    assert_eq!((io1.num_calls(), plain.num_calls()), (1, 1));
}

#[tokio::test]
async fn delete_instance_always_takes_a_final_snapshot() {
    let del = mock!(Client::delete_db_instance)
        .match_requests(|r| {
            r.skip_final_snapshot() == Some(false)
                && r.final_db_snapshot_identifier() == Some("final-1")
        })
        .then_output(|| DeleteDbInstanceOutput::builder().build());
    let b = backend(&[&del]);
    b.delete_instance(REGION, "orders-old1", "final-1")
        .await
        .unwrap();
    assert_eq!(del.num_calls(), 1);
}

#[tokio::test]
async fn optional_operations_are_unavailable_without_spending_retries() {
    // moto answers HTTP 500 for operations it does not implement.
    let ev = mock!(Client::describe_db_engine_versions)
        .sequence()
        .http_status(500, Some("<ErrorResponse/>".into()))
        .repeatedly()
        .build();
    let aa = mock!(Client::describe_account_attributes)
        .sequence()
        .http_status(500, None)
        .repeatedly()
        .build();
    let b = backend_in(RuleMode::MatchAny, &[&ev, &aa]);
    let e = b
        .describe_engine_versions(REGION, "mysql", Some("5.7.44"), true)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unavailable);
    let e = b.describe_instance_quota(REGION).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unavailable);
    assert_eq!((ev.num_calls(), aa.num_calls()), (1, 1), "no retries spent");
}

#[tokio::test]
async fn engine_versions_and_quota_map_when_available() {
    // Issue 10: without IncludeAll, RDS omits the deprecated minors fleets still run.
    let ev = mock!(Client::describe_db_engine_versions)
        .match_requests(|r| {
            r.engine() == Some("postgres")
                && r.engine_version() == Some("13.15")
                && r.include_all() == Some(true)
        })
        .then_output(|| {
            DescribeDbEngineVersionsOutput::builder()
                .db_engine_versions(
                    sdk::DbEngineVersion::builder()
                        .engine("postgres")
                        .engine_version("13.15")
                        .status("deprecated")
                        .db_parameter_group_family("postgres13")
                        .valid_upgrade_target(
                            sdk::UpgradeTarget::builder()
                                .engine_version("16.4")
                                .is_major_version_upgrade(true)
                                .build(),
                        )
                        .build(),
                )
                .build()
        });
    let aa = mock!(Client::describe_account_attributes).then_output(|| {
        DescribeAccountAttributesOutput::builder()
            .account_quotas(
                sdk::AccountQuota::builder()
                    .account_quota_name("DBInstances")
                    .used(12)
                    .max(40)
                    .build(),
            )
            .build()
    });
    let b = backend(&[&ev, &aa]);
    let v = b
        .describe_engine_versions(REGION, "postgres", Some("13.15"), true)
        .await
        .unwrap();
    assert_eq!(v[0].parameter_group_family, "postgres13");
    assert!(v[0].is_deprecated());
    assert!(v[0].valid_upgrade_targets[0].is_major_version_upgrade);
    let q = b.describe_instance_quota(REGION).await.unwrap();
    assert_eq!(q.headroom(), 28);
}

#[tokio::test]
async fn an_unconfigured_region_is_an_invalid_request() {
    let b = backend(&[]);
    let e = b
        .describe_instances("eu-west-1", &InstanceQuery::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
}

#[tokio::test]
async fn a_server_error_on_a_required_operation_is_retried_then_transient() {
    // The contrast to the optional operations: the same HTTP 500 on DescribeDBInstances is
    // worth the retry budget, and what remains is retryable for the engine too.
    let broken = mock!(Client::describe_db_instances)
        .sequence()
        .http_status(500, None)
        .repeatedly()
        .build();
    let b = backend_in(RuleMode::MatchAny, &[&broken]);
    let e = b
        .describe_instances(REGION, &InstanceQuery::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Transient);
    assert_eq!(broken.num_calls(), 3);
}
