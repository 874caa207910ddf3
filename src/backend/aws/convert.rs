//! Pure translation from SDK shapes (structs full of `Option`s) to domain types, and from
//! domain tags to SDK tags. No IO here, so every mapping is unit-testable with built values.

use crate::domain::*;
use aws_sdk_rds::types as sdk;

fn s(v: Option<&str>) -> String {
    v.unwrap_or_default().to_string()
}

pub(crate) fn tags_from(list: &[sdk::Tag]) -> Tags {
    list.iter()
        .filter_map(|t| Some((t.key()?.to_string(), s(t.value()))))
        .collect()
}

pub(crate) fn tags_to(tags: &Tags) -> Vec<sdk::Tag> {
    tags.iter()
        .map(|(k, v)| sdk::Tag::builder().key(k).value(v).build())
        .collect()
}

/// Names of the fields set in `PendingModifiedValues` (the API names, so operators recognise
/// them). Anything pending blocks a blue/green creation, so the exact list matters less than
/// "empty or not".
pub(crate) fn pending_names(p: Option<&sdk::PendingModifiedValues>) -> Vec<String> {
    let Some(p) = p else { return Vec::new() };
    let fields: [(&str, bool); 19] = [
        ("DBInstanceClass", p.db_instance_class().is_some()),
        ("AllocatedStorage", p.allocated_storage().is_some()),
        ("MasterUserPassword", p.master_user_password().is_some()),
        ("Port", p.port().is_some()),
        (
            "BackupRetentionPeriod",
            p.backup_retention_period().is_some(),
        ),
        ("MultiAZ", p.multi_az().is_some()),
        ("EngineVersion", p.engine_version().is_some()),
        ("LicenseModel", p.license_model().is_some()),
        ("Iops", p.iops().is_some()),
        ("StorageThroughput", p.storage_throughput().is_some()),
        ("DBInstanceIdentifier", p.db_instance_identifier().is_some()),
        ("StorageType", p.storage_type().is_some()),
        (
            "CACertificateIdentifier",
            p.ca_certificate_identifier().is_some(),
        ),
        ("DBSubnetGroupName", p.db_subnet_group_name().is_some()),
        (
            "PendingCloudwatchLogsExports",
            p.pending_cloudwatch_logs_exports().is_some(),
        ),
        ("ProcessorFeatures", !p.processor_features().is_empty()),
        (
            "IAMDatabaseAuthenticationEnabled",
            p.iam_database_authentication_enabled().is_some(),
        ),
        ("DedicatedLogVolume", p.dedicated_log_volume().is_some()),
        ("Engine", p.engine().is_some()),
    ];
    fields
        .iter()
        .filter(|(_, set)| *set)
        .map(|(n, _)| n.to_string())
        .collect()
}

pub(crate) fn instance(region: &str, i: &sdk::DbInstance) -> DbInstance {
    DbInstance {
        iops: i.iops(),
        storage_throughput: i.storage_throughput(),
        region: region.to_string(),
        identifier: s(i.db_instance_identifier()),
        arn: s(i.db_instance_arn()),
        dbi_resource_id: s(i.dbi_resource_id()),
        engine: s(i.engine()),
        engine_version: s(i.engine_version()),
        status: s(i.db_instance_status()),
        instance_class: s(i.db_instance_class()),
        allocated_storage_gib: i.allocated_storage().unwrap_or(0),
        storage_type: s(i.storage_type()),
        multi_az: i.multi_az().unwrap_or(false),
        parameter_groups: i
            .db_parameter_groups()
            .iter()
            .map(|g| ParameterGroupStatus {
                name: s(g.db_parameter_group_name()),
                apply_status: s(g.parameter_apply_status()),
                family: None,
                user_parameters: None,
            })
            .collect(),
        option_groups: i
            .option_group_memberships()
            .iter()
            .filter_map(|o| o.option_group_name().map(str::to_string))
            .collect(),
        read_replica_source: i
            .read_replica_source_db_instance_identifier()
            .map(str::to_string),
        read_replicas: i.read_replica_db_instance_identifiers().to_vec(),
        backup_retention_period: i.backup_retention_period().unwrap_or(0),
        deletion_protection: i.deletion_protection().unwrap_or(false),
        managed_master_password: i.master_user_secret().is_some(),
        pending_modifications: pending_names(i.pending_modified_values()),
        tags: tags_from(i.tag_list()),
        db_cluster_identifier: i.db_cluster_identifier().map(str::to_string),
        // Filled by discovery from their own (batched) describes.
        rds_proxies: None,
        zero_etl_integrations: None,
    }
}

pub(crate) fn proxy(p: &sdk::DbProxy) -> DbProxy {
    DbProxy {
        name: s(p.db_proxy_name()),
        arn: s(p.db_proxy_arn()),
        status: p
            .status()
            .map(|x| x.as_str().to_string())
            .unwrap_or_default(),
    }
}

pub(crate) fn proxy_target(proxy_name: &str, t: &sdk::DbProxyTarget) -> ProxyTarget {
    ProxyTarget {
        proxy_name: proxy_name.to_string(),
        resource_id: s(t.rds_resource_id()),
        target_type: t
            .r#type()
            .map(|x| x.as_str().to_string())
            .unwrap_or_default(),
    }
}

pub(crate) fn integration(i: &sdk::Integration) -> Integration {
    Integration {
        name: s(i.integration_name()),
        arn: s(i.integration_arn()),
        source_arn: s(i.source_arn()),
        target_arn: s(i.target_arn()),
        status: i
            .status()
            .map(|x| x.as_str().to_string())
            .unwrap_or_default(),
    }
}

pub(crate) fn log_file(f: &sdk::DescribeDbLogFilesDetails) -> LogFile {
    LogFile {
        name: s(f.log_file_name()),
        last_written: f.last_written().unwrap_or(0),
        size: f.size().unwrap_or(0),
    }
}

pub(crate) fn snapshot(sn: &sdk::DbSnapshot) -> Snapshot {
    Snapshot {
        identifier: s(sn.db_snapshot_identifier()),
        arn: s(sn.db_snapshot_arn()),
        instance_identifier: s(sn.db_instance_identifier()),
        status: s(sn.status()),
        engine_version: s(sn.engine_version()),
        allocated_storage_gib: sn.allocated_storage().unwrap_or(0),
        percent_progress: sn.percent_progress().unwrap_or(0),
        tags: tags_from(sn.tag_list()),
    }
}

pub(crate) fn parameter_group(g: &sdk::DbParameterGroup) -> ParameterGroup {
    ParameterGroup {
        name: s(g.db_parameter_group_name()),
        family: s(g.db_parameter_group_family()),
        description: s(g.description()),
        arn: s(g.db_parameter_group_arn()),
    }
}

pub(crate) fn parameter(p: &sdk::Parameter) -> Parameter {
    Parameter {
        name: s(p.parameter_name()),
        value: p.parameter_value().map(str::to_string),
        source: s(p.source()),
        apply_type: s(p.apply_type()),
        // Absent means the API did not say; RDS lists non-modifiable ones explicitly.
        is_modifiable: p.is_modifiable().unwrap_or(true),
    }
}

pub(crate) fn parameter_change(c: &ParameterChange) -> sdk::Parameter {
    sdk::Parameter::builder()
        .parameter_name(&c.name)
        .parameter_value(&c.value)
        .apply_method(sdk::ApplyMethod::from(c.apply_method.as_str()))
        .build()
}

pub(crate) fn blue_green(b: &sdk::BlueGreenDeployment) -> BlueGreen {
    BlueGreen {
        identifier: s(b.blue_green_deployment_identifier()),
        name: s(b.blue_green_deployment_name()),
        source: s(b.source()),
        target: b.target().map(str::to_string),
        status: BgStatus::parse(b.status().unwrap_or_default()),
        status_details: b.status_details().map(str::to_string),
        switchover_details: b
            .switchover_details()
            .iter()
            .map(|d| SwitchoverMember {
                source_member: s(d.source_member()),
                target_member: d.target_member().map(str::to_string),
                status: s(d.status()),
            })
            .collect(),
        tags: tags_from(b.tag_list()),
    }
}

pub(crate) fn engine_version(v: &sdk::DbEngineVersion) -> EngineVersion {
    EngineVersion {
        engine: s(v.engine()),
        engine_version: s(v.engine_version()),
        parameter_group_family: s(v.db_parameter_group_family()),
        status: v.status().unwrap_or("available").to_string(),
        valid_upgrade_targets: v
            .valid_upgrade_target()
            .iter()
            .map(|t| UpgradeTarget {
                engine_version: s(t.engine_version()),
                is_major_version_upgrade: t.is_major_version_upgrade().unwrap_or(false),
                auto_upgrade: t.auto_upgrade().unwrap_or(false),
            })
            .collect(),
    }
}

/// The `DBInstances` entry of `AccountQuotas`, if present.
pub(crate) fn instance_quota(quotas: &[sdk::AccountQuota]) -> Option<Quota> {
    quotas
        .iter()
        .find(|q| q.account_quota_name() == Some("DBInstances"))
        .map(|q| Quota {
            used: q.used().unwrap_or(0),
            max: q.max().unwrap_or(0),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_maps_every_field_rdsfleet_reads() {
        let i = sdk::DbInstance::builder()
            .db_instance_identifier("orders")
            .db_instance_arn("arn:aws:rds:us-east-1:123456789012:db:orders")
            .engine("mysql")
            .engine_version("5.7.44")
            .db_instance_status("available")
            .db_instance_class("db.m5.large")
            .allocated_storage(100)
            .multi_az(true)
            .db_parameter_groups(
                sdk::DbParameterGroupStatus::builder()
                    .db_parameter_group_name("orders-57")
                    .parameter_apply_status("pending-reboot")
                    .build(),
            )
            .option_group_memberships(
                sdk::OptionGroupMembership::builder()
                    .option_group_name("default:mysql-5-7")
                    .build(),
            )
            .read_replica_db_instance_identifiers("orders-replica")
            .backup_retention_period(7)
            .deletion_protection(true)
            .master_user_secret(sdk::MasterUserSecret::builder().secret_arn("x").build())
            .pending_modified_values(
                sdk::PendingModifiedValues::builder()
                    .engine_version("5.7.45")
                    .build(),
            )
            .tag_list(sdk::Tag::builder().key("team").value("billing").build())
            .build();
        let d = instance("us-east-1", &i);
        assert_eq!(d.identifier, "orders");
        assert_eq!(d.region, "us-east-1");
        assert_eq!(d.allocated_storage_gib, 100);
        assert!(d.multi_az && d.deletion_protection && d.managed_master_password);
        assert_eq!(d.parameter_group().unwrap().apply_status, "pending-reboot");
        assert_eq!(d.option_groups, vec!["default:mysql-5-7"]);
        assert_eq!(d.read_replicas, vec!["orders-replica"]);
        assert_eq!(d.read_replica_source, None);
        assert_eq!(d.backup_retention_period, 7);
        assert_eq!(d.pending_modifications, vec!["EngineVersion"]);
        assert_eq!(d.tags.get("team").map(String::as_str), Some("billing"));
    }

    #[test]
    fn unknown_blue_green_status_is_kept() {
        let b = sdk::BlueGreenDeployment::builder()
            .blue_green_deployment_identifier("bgd-1")
            .blue_green_deployment_name("n")
            .source("arn:src")
            .status("SOMETHING_NEW")
            .switchover_details(
                sdk::SwitchoverDetail::builder()
                    .source_member("arn:src")
                    .status("MISSING_TARGET")
                    .build(),
            )
            .build();
        let d = blue_green(&b);
        assert_eq!(d.status, BgStatus::Other("SOMETHING_NEW".into()));
        assert_eq!(d.target, None);
        assert_eq!(d.switchover_details[0].status, "MISSING_TARGET");
    }

    #[test]
    fn tags_round_trip_and_quota_is_found_by_name() {
        let t = managed_tags("p-1");
        assert_eq!(tags_from(&tags_to(&t)), t);
        let q = vec![
            sdk::AccountQuota::builder()
                .account_quota_name("AllocatedStorage")
                .used(1)
                .max(2)
                .build(),
            sdk::AccountQuota::builder()
                .account_quota_name("DBInstances")
                .used(38)
                .max(40)
                .build(),
        ];
        assert_eq!(instance_quota(&q), Some(Quota { used: 38, max: 40 }));
        assert_eq!(instance_quota(&q[..1]), None);
    }
}
