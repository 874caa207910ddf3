//! The AWS adapter: [`AwsBackend`] implements [`RdsBackend`] over `aws-sdk-rds`.
//!
//! **Architecture Invariant:** this module (with its children under `aws/`) is the only place
//! in the crate that names `aws_sdk_rds`, `aws_config` or `aws_smithy_*`.
//!
//! - Credentials come from the standard chain (env, profile, SSO, `credential_process`) via
//!   `aws-config`; `--profile` selects a profile, `--endpoint-url` (or `AWS_ENDPOINT_URL`,
//!   which `aws-config` honours itself) points at another endpoint such as moto.
//! - One SDK client per region. Standard retry mode: throttling and 5xx back off inside the
//!   SDK; what is still throttled afterwards surfaces as [`ErrorKind::Throttled`] so the engine
//!   backs off too.
//! - Every `describe_*` is one paginated call per region (MaxRecords 100) with filters, never
//!   one call per resource; long filter lists are chunked.
//! - Optional operations (`DescribeDBEngineVersions`, `DescribeAccountAttributes`,
//!   `DescribeIntegrations`, `DownloadDBLogFilePortion`) run on a twin client with retries
//!   disabled, and anything but a typed answer becomes [`ErrorKind::Unavailable`]: moto answers
//!   HTTP 500 for them and a retry budget spent on that is ~2 s per call for nothing. Callers
//!   fall back (bundled catalog, skip the quota check) or say what was not checked.
//! - Errors are classified once, in [`errors`], from typed SDK variants and codes.

use crate::backend::{
    limit_log, not_a_read_replica, BResult, BackendError, BlueGreenQuery, ErrorKind, InstanceQuery,
    NewParameterGroup, RdsBackend, SnapshotQuery, LOG_DOWNLOAD_LIMIT,
};
use crate::domain::*;
use async_trait::async_trait;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_sdk_rds::config::{ProvideCredentials, Region};
use aws_sdk_rds::error::DisplayErrorContext;
use aws_sdk_rds::types::Filter;
use aws_sdk_rds::Client;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

mod convert;
mod errors;
#[cfg(test)]
mod mock_tests;

use errors::{as_optional, classify};

/// RDS pages are at most 100 records.
const MAX_RECORDS: i32 = 100;
/// Values per filter in one Describe call ([`super::FILTER_VALUES_PER_REQUEST`]).
const FILTER_CHUNK: usize = super::FILTER_VALUES_PER_REQUEST;

/// Every item of a paginated request, each page after the describe's first request admitted
/// by the caller's budget ([`super::gate`]): `gated_items!(requests, builder.into_paginator(),
/// items_field)`.
macro_rules! gated_items {
    ($req:expr, $paginator:expr, $items:ident) => {{
        let mut stream = $paginator.send();
        let mut items = Vec::new();
        $req.next().await;
        loop {
            match stream.next().await {
                None => break Ok(items),
                Some(Err(e)) => break Err(e),
                Some(Ok(page)) => {
                    let more = page.marker.as_deref().is_some_and(|m| !m.is_empty());
                    items.extend(page.$items.unwrap_or_default());
                    if !more {
                        break Ok(items);
                    }
                    $req.next().await;
                }
            }
        }
    }};
}

/// How to reach AWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsOptions {
    /// Named profile (`--profile`); else `AWS_PROFILE` / `default`.
    pub profile: Option<String>,
    /// Endpoint override (`--endpoint-url`); else `AWS_ENDPOINT_URL` is honoured by aws-config.
    pub endpoint_url: Option<String>,
    /// Attempts per call in standard retry mode (first try included).
    pub max_attempts: u32,
}

impl Default for AwsOptions {
    fn default() -> Self {
        AwsOptions {
            profile: None,
            endpoint_url: None,
            max_attempts: 5,
        }
    }
}

/// Why the adapter could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum AwsSetupError {
    #[error("no AWS region: pass --region or set AWS_REGION / a profile region")]
    NoRegion,
    #[error(
        "no AWS credentials found in the standard chain (env, profile, SSO, credential_process)"
    )]
    NoCredentials,
    #[error("AWS credentials could not be resolved: {0}")]
    Credentials(String),
    #[error("invalid endpoint URL {0:?}: must start with http:// or https://")]
    InvalidEndpoint(String),
    #[error("--max-attempts must be at least 1")]
    InvalidMaxAttempts,
}

/// Clients of one region: the normal one, and a twin without retries for optional operations.
#[derive(Clone)]
struct RegionClients {
    main: Client,
    no_retry: Client,
}

impl RegionClients {
    fn new(main: Client) -> RegionClients {
        let no_retry = Client::from_conf(
            main.config()
                .to_builder()
                .retry_config(RetryConfig::disabled())
                .build(),
        );
        RegionClients { main, no_retry }
    }
}

/// [`RdsBackend`] over the real RDS API (or any endpoint speaking it, such as moto).
pub struct AwsBackend {
    regions: BTreeMap<String, RegionClients>,
}

impl std::fmt::Debug for AwsBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsBackend")
            .field("regions", &self.regions.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl AwsBackend {
    /// Standard credential chain (env, profile, SSO, credential_process) via aws-config,
    /// standard retry mode. With no `regions`, the chain's default region is used.
    pub async fn connect(
        regions: &[String],
        opts: &AwsOptions,
    ) -> Result<AwsBackend, AwsSetupError> {
        if opts.max_attempts == 0 {
            return Err(AwsSetupError::InvalidMaxAttempts);
        }
        if let Some(u) = &opts.endpoint_url {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err(AwsSetupError::InvalidEndpoint(u.clone()));
            }
        }
        // rustls with ring: the SDK's default TLS stack (aws-lc) is not compiled in, to keep
        // builds fast and free of a C/cmake toolchain.
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .retry_config(RetryConfig::standard().with_max_attempts(opts.max_attempts))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(10))
                    .operation_attempt_timeout(Duration::from_secs(60))
                    .build(),
            );
        if let Some(p) = &opts.profile {
            loader = loader.profile_name(p);
        }
        if let Some(u) = &opts.endpoint_url {
            loader = loader.endpoint_url(u);
        }
        let sdk = loader.load().await;

        // Resolve credentials now, so an expired SSO session or a missing profile is one
        // clear error up front instead of a failure in the middle of an apply.
        let provider = sdk
            .credentials_provider()
            .ok_or(AwsSetupError::NoCredentials)?;
        provider
            .provide_credentials()
            .await
            .map_err(|e| AwsSetupError::Credentials(DisplayErrorContext(&e).to_string()))?;

        let mut names: Vec<String> = regions.to_vec();
        if names.is_empty() {
            let r = sdk.region().ok_or(AwsSetupError::NoRegion)?;
            names.push(r.to_string());
        }
        let clients = names
            .into_iter()
            .map(|r| {
                let conf = aws_sdk_rds::config::Builder::from(&sdk)
                    .region(Region::new(r.clone()))
                    .build();
                (r, Client::from_conf(conf))
            })
            .collect();
        Ok(AwsBackend::from_clients(clients))
    }

    /// Test constructor from prebuilt clients (aws-smithy-mocks, or a client pointed at moto).
    #[doc(hidden)]
    pub fn from_clients(clients: Vec<(String, Client)>) -> AwsBackend {
        AwsBackend {
            regions: clients
                .into_iter()
                .map(|(r, c)| (r, RegionClients::new(c)))
                .collect(),
        }
    }

    /// The regions this backend serves.
    pub fn regions(&self) -> Vec<String> {
        self.regions.keys().cloned().collect()
    }

    fn clients(&self, region: &str) -> BResult<&RegionClients> {
        self.regions.get(region).ok_or_else(|| {
            BackendError::new(
                ErrorKind::InvalidRequest,
                "UnknownRegion",
                format!("region {region} was not configured (pass it with --region)"),
            )
        })
    }

    fn client(&self, region: &str) -> BResult<&Client> {
        Ok(&self.clients(region)?.main)
    }
}

fn filter(name: &str, values: &[String]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.to_vec()))
        .build()
}

/// The filter sets to send: the cross product of each filter's chunks (an empty value list
/// means "no such filter"). Always at least one set, possibly empty.
fn filter_sets(filters: &[(&str, &[String])]) -> Vec<Vec<Filter>> {
    let mut sets: Vec<Vec<Filter>> = vec![Vec::new()];
    for (name, values) in filters {
        if values.is_empty() {
            continue;
        }
        let unique: Vec<String> = values
            .iter()
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut next = Vec::new();
        for set in &sets {
            for chunk in unique.chunks(FILTER_CHUNK) {
                let mut s = set.clone();
                s.push(filter(name, chunk));
                next.push(s);
            }
        }
        sets = next;
    }
    sets
}

fn missing(op: &str, what: &str) -> BackendError {
    BackendError::new(
        ErrorKind::Other,
        "MalformedResponse",
        format!("{op}: response lacks {what}"),
    )
}

#[async_trait]
impl RdsBackend for AwsBackend {
    fn kind(&self) -> &'static str {
        "aws"
    }

    async fn describe_instances(
        &self,
        region: &str,
        q: &InstanceQuery,
    ) -> BResult<Vec<DbInstance>> {
        let mut requests = super::gate::Requests::new(region);
        let client = self.client(region)?;
        let mut out = Vec::new();
        for filters in filter_sets(&[("db-instance-id", &q.identifiers), ("engine", &q.engines)]) {
            let items: Vec<_> = gated_items!(
                requests,
                client
                    .describe_db_instances()
                    .set_filters(Some(filters).filter(|f| !f.is_empty()))
                    .max_records(MAX_RECORDS)
                    .into_paginator(),
                db_instances
            )
            .map_err(|e| classify("DescribeDBInstances", e))?;
            out.extend(items.iter().map(|i| convert::instance(region, i)));
        }
        Ok(out)
    }

    async fn describe_blue_green(
        &self,
        region: &str,
        q: &BlueGreenQuery,
    ) -> BResult<Vec<BlueGreen>> {
        let mut requests = super::gate::Requests::new(region);
        let client = self.client(region)?;
        let mut out = Vec::new();
        for filters in filter_sets(&[
            ("blue-green-deployment-name", &q.names),
            ("blue-green-deployment-identifier", &q.identifiers),
        ]) {
            // MaxRecords is left at its default, which is 100 for this operation: moto
            // (5.2) fails with HTTP 500 when it is sent explicitly.
            let items: Vec<_> = gated_items!(
                requests,
                client
                    .describe_blue_green_deployments()
                    .set_filters(Some(filters).filter(|f| !f.is_empty()))
                    .into_paginator(),
                blue_green_deployments
            )
            .map_err(|e| classify("DescribeBlueGreenDeployments", e))?;
            out.extend(items.iter().map(convert::blue_green));
        }
        Ok(out)
    }

    async fn describe_snapshots(&self, region: &str, q: &SnapshotQuery) -> BResult<Vec<Snapshot>> {
        let mut requests = super::gate::Requests::new(region);
        let client = self.client(region)?;
        let mut out = Vec::new();
        for filters in filter_sets(&[
            ("db-snapshot-id", &q.snapshot_ids),
            ("db-instance-id", &q.instance_ids),
        ]) {
            let items: Vec<_> = gated_items!(
                requests,
                client
                    .describe_db_snapshots()
                    .snapshot_type("manual")
                    .set_filters(Some(filters).filter(|f| !f.is_empty()))
                    .max_records(MAX_RECORDS)
                    .into_paginator(),
                db_snapshots
            )
            .map_err(|e| classify("DescribeDBSnapshots", e))?;
            out.extend(items.iter().map(convert::snapshot));
        }
        Ok(out)
    }

    async fn create_snapshot(
        &self,
        region: &str,
        instance_id: &str,
        snapshot_id: &str,
        tags: &Tags,
    ) -> BResult<Snapshot> {
        let out = self
            .client(region)?
            .create_db_snapshot()
            .db_instance_identifier(instance_id)
            .db_snapshot_identifier(snapshot_id)
            .set_tags(Some(convert::tags_to(tags)))
            .send()
            .await
            .map_err(|e| classify("CreateDBSnapshot", e))?;
        out.db_snapshot()
            .map(convert::snapshot)
            .ok_or_else(|| missing("CreateDBSnapshot", "DBSnapshot"))
    }

    async fn describe_parameter_groups(
        &self,
        region: &str,
        names: &[String],
    ) -> BResult<Vec<ParameterGroup>> {
        let mut requests = super::gate::Requests::new(region);
        let client = self.client(region)?;
        // RDS takes one name per call and does not support filters here: one name is one
        // direct call, anything else one paginated listing filtered locally.
        if let [name] = names {
            return match client
                .describe_db_parameter_groups()
                .db_parameter_group_name(name)
                .send()
                .await
            {
                Ok(out) => Ok(out
                    .db_parameter_groups()
                    .iter()
                    .map(convert::parameter_group)
                    .collect()),
                Err(e) => {
                    let e = classify("DescribeDBParameterGroups", e);
                    if e.kind == ErrorKind::NotFound {
                        Ok(Vec::new())
                    } else {
                        Err(e)
                    }
                }
            };
        }
        let wanted: BTreeSet<&str> = names.iter().map(String::as_str).collect();
        let items: Vec<_> = gated_items!(
            requests,
            client
                .describe_db_parameter_groups()
                .max_records(MAX_RECORDS)
                .into_paginator(),
            db_parameter_groups
        )
        .map_err(|e| classify("DescribeDBParameterGroups", e))?;
        Ok(items
            .iter()
            .map(convert::parameter_group)
            .filter(|g| wanted.is_empty() || wanted.contains(g.name.as_str()))
            .collect())
    }

    async fn describe_parameters(
        &self,
        region: &str,
        group: &str,
        user_only: bool,
    ) -> BResult<Vec<Parameter>> {
        let mut requests = super::gate::Requests::new(region);
        let items: Vec<_> = gated_items!(
            requests,
            self.client(region)?
                .describe_db_parameters()
                .db_parameter_group_name(group)
                .set_source(user_only.then(|| "user".to_string()))
                .max_records(MAX_RECORDS)
                .into_paginator(),
            parameters
        )
        .map_err(|e| classify("DescribeDBParameters", e))?;
        Ok(items
            .iter()
            .map(convert::parameter)
            .filter_map(|mut p| {
                if !user_only {
                    return Some(p);
                }
                // moto lists only the modified parameters and omits Source: with the Source
                // filter sent, an absent Source can only mean "user". A defaulted one that an
                // endpoint failed to filter out must not leak in.
                if p.source.is_empty() {
                    p.source = "user".to_string();
                }
                (p.source == "user").then_some(p)
            })
            .collect())
    }

    async fn create_parameter_group(
        &self,
        region: &str,
        group: &NewParameterGroup,
    ) -> BResult<ParameterGroup> {
        let out = self
            .client(region)?
            .create_db_parameter_group()
            .db_parameter_group_name(&group.name)
            .db_parameter_group_family(&group.family)
            .description(&group.description)
            .set_tags(Some(convert::tags_to(&group.tags)))
            .send()
            .await
            .map_err(|e| classify("CreateDBParameterGroup", e))?;
        out.db_parameter_group()
            .map(convert::parameter_group)
            .ok_or_else(|| missing("CreateDBParameterGroup", "DBParameterGroup"))
    }

    async fn modify_parameter_group(
        &self,
        region: &str,
        group: &str,
        changes: &[ParameterChange],
    ) -> BResult<()> {
        if changes.is_empty() {
            return Ok(());
        }
        self.client(region)?
            .modify_db_parameter_group()
            .db_parameter_group_name(group)
            .set_parameters(Some(
                changes.iter().map(convert::parameter_change).collect(),
            ))
            .send()
            .await
            .map_err(|e| classify("ModifyDBParameterGroup", e))?;
        Ok(())
    }

    async fn delete_parameter_group(&self, region: &str, group: &str) -> BResult<()> {
        self.client(region)?
            .delete_db_parameter_group()
            .db_parameter_group_name(group)
            .send()
            .await
            .map_err(|e| classify("DeleteDBParameterGroup", e))?;
        Ok(())
    }

    async fn create_blue_green(&self, region: &str, req: &CreateBlueGreen) -> BResult<BlueGreen> {
        let out = self
            .client(region)?
            .create_blue_green_deployment()
            .blue_green_deployment_name(&req.name)
            .source(&req.source_arn)
            .target_engine_version(&req.target_engine_version)
            .set_target_db_parameter_group_name(req.target_parameter_group.clone())
            .set_target_db_instance_class(req.target_instance_class.clone())
            .set_target_storage_type(req.target_storage_type.clone())
            // Provisioned-IOPS storage needs its IOPS, and gp3 above its baseline may take
            // IOPS and throughput: the planner decides which are needed (planner::storage).
            .set_target_iops(req.target_iops)
            .set_target_storage_throughput(req.target_storage_throughput)
            .set_target_allocated_storage(req.target_allocated_storage)
            .set_tags(Some(convert::tags_to(&req.tags)))
            .send()
            .await
            .map_err(|e| classify("CreateBlueGreenDeployment", e))?;
        out.blue_green_deployment()
            .map(convert::blue_green)
            .ok_or_else(|| missing("CreateBlueGreenDeployment", "BlueGreenDeployment"))
    }

    async fn switchover_blue_green(
        &self,
        region: &str,
        identifier: &str,
        timeout_secs: u32,
    ) -> BResult<BlueGreen> {
        // RDS accepts 30..=3600 s; clamp rather than fail a reviewed plan on a typo.
        let timeout = timeout_secs.clamp(30, 3600) as i32;
        let out = self
            .client(region)?
            .switchover_blue_green_deployment()
            .blue_green_deployment_identifier(identifier)
            .switchover_timeout(timeout)
            .send()
            .await
            .map_err(|e| classify("SwitchoverBlueGreenDeployment", e))?;
        out.blue_green_deployment()
            .map(convert::blue_green)
            .ok_or_else(|| missing("SwitchoverBlueGreenDeployment", "BlueGreenDeployment"))
    }

    async fn delete_blue_green(
        &self,
        region: &str,
        identifier: &str,
        delete_target: bool,
    ) -> BResult<()> {
        self.client(region)?
            .delete_blue_green_deployment()
            .blue_green_deployment_identifier(identifier)
            // Only sent when asked: RDS refuses DeleteTarget once SWITCHOVER_COMPLETED.
            .set_delete_target(delete_target.then_some(true))
            .send()
            .await
            .map_err(|e| classify("DeleteBlueGreenDeployment", e))?;
        Ok(())
    }

    async fn delete_instance(
        &self,
        region: &str,
        identifier: &str,
        final_snapshot_id: &str,
    ) -> BResult<()> {
        self.client(region)?
            .delete_db_instance()
            .db_instance_identifier(identifier)
            // Never SkipFinalSnapshot: the final snapshot is the last safety net.
            .skip_final_snapshot(false)
            .final_db_snapshot_identifier(final_snapshot_id)
            .send()
            .await
            .map_err(|e| classify("DeleteDBInstance", e))?;
        Ok(())
    }

    async fn delete_read_replica(&self, region: &str, replica: &ReadReplica) -> BResult<()> {
        // A fresh describe right before the irreversible, snapshot-less call: a replica that was
        // promoted since it was observed is a primary now, and must keep its final snapshot.
        let id = replica.identifier().to_string();
        let q = InstanceQuery {
            identifiers: vec![id.clone()],
            engines: vec![],
        };
        let live = self.describe_instances(region, &q).await?;
        match live.iter().find(|d| d.identifier == id) {
            Some(d) if d.read_replica_source.is_some() => {}
            Some(_) => return Err(not_a_read_replica(&id)),
            None => {
                return Err(BackendError::new(
                    ErrorKind::NotFound,
                    "DBInstanceNotFound",
                    format!("DeleteDBInstance: {id} not found"),
                ))
            }
        }
        super::gate::another(region).await;
        self.client(region)?
            .delete_db_instance()
            .db_instance_identifier(&id)
            // RDS requires SkipFinalSnapshot for a read replica and refuses a
            // FinalDBSnapshotIdentifier for one (DeleteDBInstance API reference): its data is
            // in its source's snapshots (see `domain::ReadReplica`).
            .skip_final_snapshot(true)
            .send()
            .await
            .map_err(|e| classify("DeleteDBInstance", e))?;
        Ok(())
    }

    async fn set_deletion_protection(
        &self,
        region: &str,
        identifier: &str,
        enabled: bool,
    ) -> BResult<()> {
        self.client(region)?
            .modify_db_instance()
            .db_instance_identifier(identifier)
            .deletion_protection(enabled)
            .apply_immediately(true)
            .send()
            .await
            .map_err(|e| classify("ModifyDBInstance", e))?;
        Ok(())
    }

    async fn add_tags(&self, region: &str, arn: &str, tags: &Tags) -> BResult<()> {
        if tags.is_empty() {
            return Ok(());
        }
        self.client(region)?
            .add_tags_to_resource()
            .resource_name(arn)
            .set_tags(Some(convert::tags_to(tags)))
            .send()
            .await
            .map_err(|e| classify("AddTagsToResource", e))?;
        Ok(())
    }

    async fn list_tags(&self, region: &str, arn: &str) -> BResult<Tags> {
        let out = self
            .client(region)?
            .list_tags_for_resource()
            .resource_name(arn)
            .send()
            .await
            .map_err(|e| classify("ListTagsForResource", e))?;
        Ok(convert::tags_from(out.tag_list()))
    }

    async fn describe_engine_versions(
        &self,
        region: &str,
        engine: &str,
        version: Option<&str>,
        include_all: bool,
    ) -> BResult<Vec<EngineVersion>> {
        let mut requests = super::gate::Requests::new(region);
        let result = gated_items!(
            requests,
            self.clients(region)?
                .no_retry
                .describe_db_engine_versions()
                .engine(engine)
                .set_engine_version(version.map(str::to_string))
                // Without IncludeAll RDS lists only versions still offered for new instances, so a
                // source on a deprecated minor (e.g. 5.7.33) would have no ValidUpgradeTarget.
                .set_include_all(include_all.then_some(true))
                .max_records(MAX_RECORDS)
                .into_paginator(),
            db_engine_versions
        );
        match result {
            Ok(items) => Ok(items.iter().map(convert::engine_version).collect()),
            Err(e) => {
                let e = as_optional(classify("DescribeDBEngineVersions", e));
                if e.kind == ErrorKind::Unavailable {
                    tracing::warn!(region, error = %e, "DescribeDBEngineVersions unavailable on this endpoint");
                }
                Err(e)
            }
        }
    }

    async fn describe_instance_quota(&self, region: &str) -> BResult<Quota> {
        let result = self
            .clients(region)?
            .no_retry
            .describe_account_attributes()
            .send()
            .await;
        match result {
            Ok(out) => convert::instance_quota(out.account_quotas()).ok_or_else(|| {
                BackendError::new(
                    ErrorKind::Unavailable,
                    "NoDBInstancesQuota",
                    "DescribeAccountAttributes: no DBInstances quota in the answer",
                )
            }),
            Err(e) => {
                let e = as_optional(classify("DescribeAccountAttributes", e));
                if e.kind == ErrorKind::Unavailable {
                    tracing::warn!(region, error = %e, "DescribeAccountAttributes unavailable on this endpoint");
                }
                Err(e)
            }
        }
    }

    async fn describe_proxies(&self, region: &str) -> BResult<Vec<DbProxy>> {
        let mut requests = super::gate::Requests::new(region);
        let items: Vec<_> = gated_items!(
            requests,
            self.client(region)?
                .describe_db_proxies()
                .max_records(MAX_RECORDS)
                .into_paginator(),
            db_proxies
        )
        .map_err(|e| classify("DescribeDBProxies", e))?;
        Ok(items.iter().map(convert::proxy).collect())
    }

    async fn describe_proxy_targets(&self, region: &str, proxy: &str) -> BResult<Vec<ProxyTarget>> {
        let mut requests = super::gate::Requests::new(region);
        let items: Vec<_> = gated_items!(
            requests,
            self.client(region)?
                .describe_db_proxy_targets()
                .db_proxy_name(proxy)
                .max_records(MAX_RECORDS)
                .into_paginator(),
            targets
        )
        .map_err(|e| classify("DescribeDBProxyTargets", e))?;
        Ok(items
            .iter()
            .map(|t| convert::proxy_target(proxy, t))
            .collect())
    }

    async fn describe_integrations(&self, region: &str) -> BResult<Vec<Integration>> {
        let mut requests = super::gate::Requests::new(region);
        let result = gated_items!(
            requests,
            self.clients(region)?
                .no_retry
                .describe_integrations()
                .max_records(MAX_RECORDS)
                .into_paginator(),
            integrations
        );
        match result {
            Ok(items) => Ok(items.iter().map(convert::integration).collect()),
            Err(e) => Err(as_optional(classify("DescribeIntegrations", e))),
        }
    }

    async fn describe_log_files(&self, region: &str, instance_id: &str) -> BResult<Vec<LogFile>> {
        let mut requests = super::gate::Requests::new(region);
        let items: Vec<_> = gated_items!(
            requests,
            self.client(region)?
                .describe_db_log_files()
                .db_instance_identifier(instance_id)
                // MaxRecords is left at its default (100): moto (5.2) fails with HTTP 500 when it
                // is sent explicitly, as for DescribeBlueGreenDeployments.
                .into_paginator(),
            describe_db_log_files
        )
        .map_err(|e| classify("DescribeDBLogFiles", e))?;
        Ok(items.iter().map(convert::log_file).collect())
    }

    async fn download_log_file(
        &self,
        region: &str,
        instance_id: &str,
        file: &str,
    ) -> BResult<String> {
        // DownloadDBLogFilePortion without a Marker returns the *most recent* lines first;
        // Marker "0" starts at the beginning, and each answer's Marker continues until
        // AdditionalDataPending is false (API reference, NumberOfLines / Marker).
        let client = &self.clients(region)?.no_retry;
        let mut text = String::new();
        let mut marker = "0".to_string();
        let mut requests = super::gate::Requests::new(region);
        loop {
            requests.next().await;
            let out = client
                .download_db_log_file_portion()
                .db_instance_identifier(instance_id)
                .log_file_name(file)
                .marker(&marker)
                .number_of_lines(1000)
                .send()
                .await
                .map_err(|e| as_optional(classify("DownloadDBLogFilePortion", e)))?;
            text.push_str(out.log_file_data().unwrap_or_default());
            if text.len() >= LOG_DOWNLOAD_LIMIT {
                limit_log(&mut text);
                break;
            }
            match out.marker() {
                Some(next) if out.additional_data_pending() == Some(true) && next != marker => {
                    marker = next.to_string();
                }
                _ => break,
            }
        }
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connect_rejects_bad_options_before_any_io() {
        let bad_url = AwsOptions {
            endpoint_url: Some("127.0.0.1:5000".into()),
            ..AwsOptions::default()
        };
        let e = AwsBackend::connect(&["us-east-1".into()], &bad_url)
            .await
            .unwrap_err();
        assert!(matches!(e, AwsSetupError::InvalidEndpoint(_)), "{e}");
        let zero = AwsOptions {
            max_attempts: 0,
            ..AwsOptions::default()
        };
        let e = AwsBackend::connect(&["us-east-1".into()], &zero)
            .await
            .unwrap_err();
        assert!(matches!(e, AwsSetupError::InvalidMaxAttempts), "{e}");
        assert_eq!(AwsOptions::default().max_attempts, 5);
    }

    #[test]
    fn filter_sets_chunk_and_cross() {
        assert_eq!(filter_sets(&[("a", &[])]), vec![Vec::<Filter>::new()]);
        let ids: Vec<String> = (0..120).map(|i| format!("db{i}")).collect();
        let engines = vec!["mysql".to_string()];
        let sets = filter_sets(&[("db-instance-id", &ids), ("engine", &engines)]);
        assert_eq!(sets.len(), 3);
        assert!(sets.iter().all(|s| s.len() == 2));
        let total: usize = sets.iter().map(|s| s[0].values().len()).sum();
        assert_eq!(total, 120);
    }
}
