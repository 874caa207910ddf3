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
    // The second page waits at the caller's gate (its API budget); the first was the caller's.
    struct Count(std::sync::Mutex<usize>);
    impl crate::backend::gate::RequestGate for Count {
        fn admit<'a>(
            &'a self,
            _: &'a str,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> {
            Box::pin(async move { *self.0.lock().unwrap() += 1 })
        }
    }
    let gate = std::sync::Arc::new(Count(std::sync::Mutex::new(0)));
    let got = crate::backend::gate::scope(
        gate.clone(),
        b.describe_instances(REGION, &InstanceQuery::default()),
    )
    .await
    .unwrap();
    let ids: Vec<_> = got.iter().map(|d| d.identifier.as_str()).collect();
    assert_eq!(ids, vec!["a", "b", "c"]);
    assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
    assert_eq!(*gate.0.lock().unwrap(), 1, "one admission: the second page");
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

/// Issue 10 item 5: the planned storage reaches the request (io1: TargetIops and
/// TargetAllocatedStorage; gp3 over 400 GiB: also TargetStorageThroughput), and nothing is
/// sent when not planned.
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
    let gp3 = mock!(Client::create_blue_green_deployment)
        .match_requests(|r| {
            r.target_storage_type() == Some("gp3")
                && r.target_iops() == Some(12000)
                && r.target_storage_throughput() == Some(500)
                && r.target_allocated_storage() == Some(400)
        })
        .then_output(|| {
            CreateBlueGreenDeploymentOutput::builder()
                .blue_green_deployment(
                    sdk::BlueGreenDeployment::builder()
                        .blue_green_deployment_identifier("bgd-3")
                        .status("PROVISIONING")
                        .build(),
                )
                .build()
        });
    let b = backend(&[&io1, &plain, &gp3]);
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
    let req = CreateBlueGreen {
        name: "g".into(),
        source_arn: "arn:src".into(),
        target_engine_version: "8.0.42".into(),
        target_storage_type: Some("gp3".into()),
        target_iops: Some(12000),
        target_storage_throughput: Some(500),
        target_allocated_storage: Some(400),
        ..Default::default()
    };
    b.create_blue_green(REGION, &req).await.unwrap();
    assert_eq!(
        (io1.num_calls(), plain.num_calls(), gp3.num_calls()),
        (1, 1, 1)
    );
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

#[tokio::test]
async fn proxies_and_their_targets_map_to_domain_values() {
    use aws_sdk_rds::operation::describe_db_proxies::DescribeDbProxiesOutput;
    use aws_sdk_rds::operation::describe_db_proxy_targets::{
        DescribeDBProxyTargetsError, DescribeDbProxyTargetsOutput,
    };
    let proxies = mock!(Client::describe_db_proxies)
        .match_requests(|r| r.max_records() == Some(100))
        .then_output(|| {
            DescribeDbProxiesOutput::builder()
                .db_proxies(
                    sdk::DbProxy::builder()
                        .db_proxy_name("orders-proxy")
                        .status(sdk::DbProxyStatus::Available)
                        .build(),
                )
                .build()
        });
    let targets = mock!(Client::describe_db_proxy_targets)
        .match_requests(|r| r.db_proxy_name() == Some("orders-proxy"))
        .then_output(|| {
            DescribeDbProxyTargetsOutput::builder()
                .targets(
                    sdk::DbProxyTarget::builder()
                        .rds_resource_id("orders-db")
                        .r#type(sdk::TargetType::RdsInstance)
                        .build(),
                )
                .build()
        });
    let gone = mock!(Client::describe_db_proxy_targets).then_error(|| {
        DescribeDBProxyTargetsError::DbProxyNotFoundFault(
            sdk::error::DbProxyNotFoundFault::builder().build(),
        )
    });
    let b = backend(&[&proxies, &targets, &gone]);
    let p = b.describe_proxies(REGION).await.unwrap();
    assert_eq!(
        (p[0].name.as_str(), p[0].status.as_str()),
        ("orders-proxy", "available")
    );
    let t = b
        .describe_proxy_targets(REGION, "orders-proxy")
        .await
        .unwrap();
    assert_eq!(
        t,
        vec![ProxyTarget {
            proxy_name: "orders-proxy".into(),
            resource_id: "orders-db".into(),
            target_type: "RDS_INSTANCE".into(),
        }]
    );
    let e = b.describe_proxy_targets(REGION, "gone").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
}

#[tokio::test]
async fn integrations_map_and_are_unavailable_without_retries_where_unimplemented() {
    use aws_sdk_rds::operation::describe_integrations::DescribeIntegrationsOutput;
    let ok = mock!(Client::describe_integrations).then_output(|| {
        DescribeIntegrationsOutput::builder()
            .integrations(
                sdk::Integration::builder()
                    .integration_name("to-redshift")
                    .source_arn("arn:aws:rds:us-east-1:123456789012:db:orders")
                    .target_arn("arn:aws:redshift-serverless:us-east-1:123456789012:namespace/x")
                    .status(sdk::IntegrationStatus::Active)
                    .build(),
            )
            .build()
    });
    let b = backend(&[&ok]);
    let i = b.describe_integrations(REGION).await.unwrap();
    assert_eq!(i[0].name, "to-redshift");
    assert_eq!(
        i[0].source_arn,
        "arn:aws:rds:us-east-1:123456789012:db:orders"
    );
    assert_eq!(i[0].status, "active");

    let broken = mock!(Client::describe_integrations)
        .sequence()
        .http_status(500, None)
        .repeatedly()
        .build();
    let b = backend_in(RuleMode::MatchAny, &[&broken]);
    let e = b.describe_integrations(REGION).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unavailable);
    assert_eq!(broken.num_calls(), 1, "no retries spent");
}

#[tokio::test]
async fn log_files_are_listed_and_downloaded_from_the_beginning_following_markers() {
    use aws_sdk_rds::operation::describe_db_log_files::DescribeDbLogFilesOutput;
    use aws_sdk_rds::operation::download_db_log_file_portion::{
        DownloadDBLogFilePortionError, DownloadDbLogFilePortionOutput,
    };
    let list = mock!(Client::describe_db_log_files)
        .match_requests(|r| r.db_instance_identifier() == Some("orders-green-abc123"))
        .then_output(|| {
            DescribeDbLogFilesOutput::builder()
                .describe_db_log_files(
                    sdk::DescribeDbLogFilesDetails::builder()
                        .log_file_name("PrePatchCompatibility.log")
                        .last_written(1_700_000_000_000)
                        .size(2048)
                        .build(),
                )
                .build()
        });
    // Marker "0" reads from the start (without it RDS returns the newest lines first).
    let first = mock!(Client::download_db_log_file_portion)
        .match_requests(|r| {
            r.marker() == Some("0") && r.log_file_name() == Some("PrePatchCompatibility.log")
        })
        .then_output(|| {
            DownloadDbLogFilePortionOutput::builder()
                .log_file_data("1) Usage of old temporal type\n")
                .marker("1:1")
                .additional_data_pending(true)
                .build()
        });
    let second = mock!(Client::download_db_log_file_portion)
        .match_requests(|r| r.marker() == Some("1:1"))
        .then_output(|| {
            DownloadDbLogFilePortionOutput::builder()
                .log_file_data("Errors:   1\n")
                .marker("1:2")
                .additional_data_pending(false)
                .build()
        });
    let missing = mock!(Client::download_db_log_file_portion).then_error(|| {
        DownloadDBLogFilePortionError::DbLogFileNotFoundFault(
            sdk::error::DbLogFileNotFoundFault::builder().build(),
        )
    });
    let b = backend(&[&list, &first, &second, &missing]);
    let files = b
        .describe_log_files(REGION, "orders-green-abc123")
        .await
        .unwrap();
    assert_eq!(
        files,
        vec![LogFile {
            name: "PrePatchCompatibility.log".into(),
            last_written: 1_700_000_000_000,
            size: 2048,
        }]
    );
    let text = b
        .download_log_file(REGION, "orders-green-abc123", "PrePatchCompatibility.log")
        .await
        .unwrap();
    assert_eq!(text, "1) Usage of old temporal type\nErrors:   1\n");
    assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
    let e = b
        .download_log_file(REGION, "orders-green-abc123", "nope.log")
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
}

#[tokio::test]
async fn a_read_replica_is_deleted_without_a_snapshot_only_after_a_fresh_describe() {
    let replica = || {
        sdk::DbInstance::builder()
            .db_instance_identifier("orders-ro1-old1")
            .read_replica_source_db_instance_identifier("orders-old1")
            .build()
    };
    let describe = mock!(Client::describe_db_instances)
        .match_requests(|r| r.filters()[0].values() == ["orders-ro1-old1"])
        .then_output(move || {
            DescribeDbInstancesOutput::builder()
                .db_instances(replica())
                .build()
        });
    let del = mock!(Client::delete_db_instance)
        .match_requests(|r| {
            r.db_instance_identifier() == Some("orders-ro1-old1")
                && r.skip_final_snapshot() == Some(true)
                && r.final_db_snapshot_identifier().is_none()
        })
        .then_output(|| DeleteDbInstanceOutput::builder().build());
    let b = backend(&[&describe, &del]);
    let mut observed = crate::backend::aws::convert::instance(REGION, &replica());
    let token = ReadReplica::of(&observed).unwrap();
    b.delete_read_replica(REGION, &token).await.unwrap();
    assert_eq!((describe.num_calls(), del.num_calls()), (1, 1));

    // Promoted since it was observed: the fresh describe shows a primary; nothing is deleted.
    let promoted = mock!(Client::describe_db_instances).then_output(|| {
        DescribeDbInstancesOutput::builder()
            .db_instances(db("orders-ro1-old1"))
            .build()
    });
    let never =
        mock!(Client::delete_db_instance).then_output(|| DeleteDbInstanceOutput::builder().build());
    let b = backend(&[&promoted, &never]);
    let e = b.delete_read_replica(REGION, &token).await.unwrap_err();
    assert_eq!(
        (e.kind, e.code.as_str()),
        (ErrorKind::InvalidRequest, "NotAReadReplica")
    );
    assert_eq!(never.num_calls(), 0);
    observed.read_replica_source = None;
    assert!(ReadReplica::of(&observed).is_none());
}

#[tokio::test]
async fn instances_report_their_db_cluster() {
    let member = mock!(Client::describe_db_instances).then_output(|| {
        DescribeDbInstancesOutput::builder()
            .db_instances(
                sdk::DbInstance::builder()
                    .db_instance_identifier("maz-instance-1")
                    .db_cluster_identifier("maz")
                    .build(),
            )
            .db_instances(db("plain"))
            .build()
    });
    let b = backend(&[&member]);
    let got = b
        .describe_instances(REGION, &InstanceQuery::default())
        .await
        .unwrap();
    assert_eq!(got[0].db_cluster_identifier.as_deref(), Some("maz"));
    assert_eq!(got[1].db_cluster_identifier, None);
    assert_eq!(
        got[0].rds_proxies, None,
        "filled by discovery, not by the describe"
    );
}

/// An RDS (query protocol) error response as AWS sends it: the request id in the body and in
/// the `x-amzn-RequestId` header.
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

fn rds_error_response(
    status: u16,
    code: &str,
    body_id: Option<&str>,
    header_id: Option<&str>,
) -> HttpResponse {
    let id = body_id
        .map(|i| format!("<RequestId>{i}</RequestId>"))
        .unwrap_or_default();
    let body = format!(
        "<ErrorResponse xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>mocked</Message></Error>{id}</ErrorResponse>"
    );
    let mut r = HttpResponse::new(
        aws_smithy_runtime_api::http::StatusCode::try_from(status).unwrap(),
        aws_smithy_types::body::SdkBody::from(body),
    );
    if let Some(h) = header_id {
        r.headers_mut().insert("x-amzn-RequestId", h.to_string());
    }
    r
}

#[tokio::test]
async fn request_ids_are_carried_from_the_response() {
    let typed = mock!(Client::create_db_snapshot).then_http_response(|| {
        rds_error_response(400, "DBSnapshotAlreadyExists", Some("id-1"), Some("id-1"))
    });
    let b = backend(&[&typed]);
    let e = b
        .create_snapshot(REGION, "a", "s", &Tags::new())
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::AlreadyExists, "{e:?}");
    assert_eq!(e.request_id.as_deref(), Some("id-1"));
    assert!(!e.to_string().contains("id-1"), "not part of the message");

    let generic = mock!(Client::describe_db_instances)
        .then_http_response(|| rds_error_response(403, "AccessDenied", None, Some("id-2")));
    let b = backend(&[&generic]);
    let e = b
        .describe_instances(REGION, &InstanceQuery::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::AccessDenied, "{e:?}");
    assert_eq!(e.request_id.as_deref(), Some("id-2"));
    // No response, no id (the other mocked errors carry no header).
    let bare = mock!(Client::describe_db_instances)
        .then_error(|| DescribeDBInstancesError::generic(coded("AccessDenied")));
    let e = backend(&[&bare])
        .describe_instances(REGION, &InstanceQuery::default())
        .await
        .unwrap_err();
    assert_eq!(e.request_id, None);
}

#[tokio::test]
async fn tags_of_a_parameter_group_are_read_by_arn_and_a_missing_group_is_not_found() {
    use aws_sdk_rds::operation::list_tags_for_resource::{
        ListTagsForResourceError, ListTagsForResourceOutput,
    };
    let arn = "arn:aws:rds:us-east-1:123456789012:pg:rdsfleet-p1-mysql80-orders";
    let ours = mock!(Client::list_tags_for_resource)
        .match_requests(move |r| r.resource_name() == Some(arn))
        .then_output(|| {
            ListTagsForResourceOutput::builder()
                .tag_list(
                    sdk::Tag::builder()
                        .key("rdsfleet:managed")
                        .value("true")
                        .build(),
                )
                .tag_list(
                    sdk::Tag::builder()
                        .key("rdsfleet:plan-id")
                        .value("p1")
                        .build(),
                )
                .build()
        });
    // The model lists no fault for a parameter group ARN naming nothing: RDS's code is still
    // a parsed, typed field of the response.
    let gone = mock!(Client::list_tags_for_resource)
        .match_requests(|r| r.resource_name().is_some_and(|n| n.ends_with(":pg:gone")))
        .then_error(|| ListTagsForResourceError::generic(coded("DBParameterGroupNotFound")));
    let instance = mock!(Client::list_tags_for_resource).then_error(|| {
        ListTagsForResourceError::DbInstanceNotFoundFault(
            sdk::error::DbInstanceNotFoundFault::builder().build(),
        )
    });
    let b = backend_in(RuleMode::MatchAny, &[&ours, &gone, &instance]);
    let tags = b.list_tags(REGION, arn).await.unwrap();
    assert!(is_managed(&tags, Some("p1")), "{tags:?}");
    assert!(!is_managed(&tags, Some("p2")));
    let e = b
        .list_tags(REGION, "arn:aws:rds:us-east-1:123456789012:pg:gone")
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind, e.code.as_str()),
        (ErrorKind::NotFound, "DBParameterGroupNotFound")
    );
    let e = b
        .list_tags(REGION, "arn:aws:rds:us-east-1:123456789012:db:nope")
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
}
