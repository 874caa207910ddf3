//! The naive poller the benchmark compares rdsfleet's batched polling with: the same engine,
//! but every describe it makes is replaced by one describe *per database* it concerns, as a
//! script that polls each database it is upgrading would do:
//! - `DescribeDBInstances` of a whole region (the engine's batched observation) becomes one
//!   call per database in flight (read from the state file), filtered to that database, its
//!   read replicas and their `-old1`/`-old2` names;
//! - a describe naming several instances, snapshots or deployments becomes one call per name.
//!
//! The answers are the union of those calls, so the engine sees what it would have seen, and
//! every call is a real call to the simulator (a line in its trail). Side effects pass through
//! unchanged. The engine's own client-side budget still applies to the describe it asked for;
//! the poller's extra calls do not wait for it, so both pollers follow the same schedule (the
//! benchmark runs this comparison with the simulator's throttling off: a poller firing
//! hundreds of describes at once would otherwise measure RDS's throttling and its retries).

use async_trait::async_trait;
use rdsfleet::backend::*;
use rdsfleet::domain::*;
use rdsfleet::plan::Plan;
use rdsfleet::store::{DbState, Store};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

pub struct NaivePoller {
    inner: Arc<dyn RdsBackend>,
    /// A second connection to the engine's state file: which databases are in flight.
    store: Mutex<Store>,
    /// (region, identifier) -> the instance names that database's describe asks for.
    names: HashMap<(String, String), Vec<String>>,
}

impl NaivePoller {
    pub fn new(
        inner: Arc<dyn RdsBackend>,
        state: &Path,
        plan: &Plan,
    ) -> Result<Self, rdsfleet::store::StoreError> {
        let mut names = HashMap::new();
        for d in &plan.databases {
            let mut v = vec![];
            for id in std::iter::once(&d.identifier).chain(&d.replicas) {
                v.extend([id.clone(), format!("{id}-old1"), format!("{id}-old2")]);
            }
            names.insert((d.region.clone(), d.identifier.clone()), v);
        }
        Ok(NaivePoller {
            inner,
            store: Mutex::new(Store::open(state)?),
            names,
        })
    }

    /// The per-database instance queries replacing one describe of `region`.
    fn per_database(&self, region: &str, q: &InstanceQuery) -> BResult<Vec<InstanceQuery>> {
        if !q.identifiers.is_empty() {
            return Ok(q
                .identifiers
                .iter()
                .map(|id| InstanceQuery {
                    identifiers: vec![id.clone()],
                    engines: q.engines.clone(),
                })
                .collect());
        }
        let rows = self
            .store
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .databases()
            .map_err(|e| BackendError::new(ErrorKind::Other, "BenchStateFile", e.to_string()))?;
        Ok(rows
            .iter()
            .filter(|r| r.region == region && r.state == DbState::Running)
            .filter_map(|r| self.names.get(&(r.region.clone(), r.identifier.clone())))
            .map(|names| InstanceQuery {
                identifiers: names.clone(),
                engines: q.engines.clone(),
            })
            .collect())
    }
}

#[async_trait]
impl RdsBackend for NaivePoller {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    async fn describe_instances(
        &self,
        region: &str,
        q: &InstanceQuery,
    ) -> BResult<Vec<DbInstance>> {
        let mut out: Vec<DbInstance> = vec![];
        for one in self.per_database(region, q)? {
            for i in self.inner.describe_instances(region, &one).await? {
                if !out.iter().any(|o| o.identifier == i.identifier) {
                    out.push(i);
                }
            }
        }
        Ok(out)
    }
    async fn describe_blue_green(
        &self,
        region: &str,
        q: &BlueGreenQuery,
    ) -> BResult<Vec<BlueGreen>> {
        if q.names.len() + q.identifiers.len() <= 1 {
            return self.inner.describe_blue_green(region, q).await;
        }
        let mut out = vec![];
        for n in &q.names {
            let one = BlueGreenQuery {
                names: vec![n.clone()],
                identifiers: vec![],
            };
            out.extend(self.inner.describe_blue_green(region, &one).await?);
        }
        for id in &q.identifiers {
            let one = BlueGreenQuery {
                names: vec![],
                identifiers: vec![id.clone()],
            };
            out.extend(self.inner.describe_blue_green(region, &one).await?);
        }
        Ok(out)
    }
    async fn describe_snapshots(&self, region: &str, q: &SnapshotQuery) -> BResult<Vec<Snapshot>> {
        if q.snapshot_ids.len() <= 1 {
            return self.inner.describe_snapshots(region, q).await;
        }
        let mut out = vec![];
        for s in &q.snapshot_ids {
            let one = SnapshotQuery {
                snapshot_ids: vec![s.clone()],
                instance_ids: q.instance_ids.clone(),
            };
            out.extend(self.inner.describe_snapshots(region, &one).await?);
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
        self.inner
            .create_snapshot(region, instance_id, snapshot_id, tags)
            .await
    }
    async fn describe_parameter_groups(
        &self,
        region: &str,
        names: &[String],
    ) -> BResult<Vec<ParameterGroup>> {
        self.inner.describe_parameter_groups(region, names).await
    }
    async fn describe_parameters(
        &self,
        region: &str,
        group: &str,
        user_only: bool,
    ) -> BResult<Vec<Parameter>> {
        self.inner
            .describe_parameters(region, group, user_only)
            .await
    }
    async fn create_parameter_group(
        &self,
        region: &str,
        group: &NewParameterGroup,
    ) -> BResult<ParameterGroup> {
        self.inner.create_parameter_group(region, group).await
    }
    async fn modify_parameter_group(
        &self,
        region: &str,
        group: &str,
        changes: &[ParameterChange],
    ) -> BResult<()> {
        self.inner
            .modify_parameter_group(region, group, changes)
            .await
    }
    async fn delete_parameter_group(&self, region: &str, group: &str) -> BResult<()> {
        self.inner.delete_parameter_group(region, group).await
    }
    async fn create_blue_green(&self, region: &str, req: &CreateBlueGreen) -> BResult<BlueGreen> {
        self.inner.create_blue_green(region, req).await
    }
    async fn switchover_blue_green(
        &self,
        region: &str,
        identifier: &str,
        timeout_secs: u32,
    ) -> BResult<BlueGreen> {
        self.inner
            .switchover_blue_green(region, identifier, timeout_secs)
            .await
    }
    async fn delete_blue_green(
        &self,
        region: &str,
        identifier: &str,
        delete_target: bool,
    ) -> BResult<()> {
        self.inner
            .delete_blue_green(region, identifier, delete_target)
            .await
    }
    async fn delete_instance(
        &self,
        region: &str,
        identifier: &str,
        final_snapshot_id: &str,
    ) -> BResult<()> {
        self.inner
            .delete_instance(region, identifier, final_snapshot_id)
            .await
    }
    async fn set_deletion_protection(
        &self,
        region: &str,
        identifier: &str,
        enabled: bool,
    ) -> BResult<()> {
        self.inner
            .set_deletion_protection(region, identifier, enabled)
            .await
    }
    async fn add_tags(&self, region: &str, arn: &str, tags: &Tags) -> BResult<()> {
        self.inner.add_tags(region, arn, tags).await
    }
    async fn list_tags(&self, region: &str, arn: &str) -> BResult<Tags> {
        self.inner.list_tags(region, arn).await
    }
    async fn describe_engine_versions(
        &self,
        region: &str,
        engine: &str,
        version: Option<&str>,
        include_all: bool,
    ) -> BResult<Vec<EngineVersion>> {
        self.inner
            .describe_engine_versions(region, engine, version, include_all)
            .await
    }
    async fn delete_read_replica(&self, region: &str, replica: &ReadReplica) -> BResult<()> {
        self.inner.delete_read_replica(region, replica).await
    }
    async fn describe_proxies(&self, region: &str) -> BResult<Vec<DbProxy>> {
        self.inner.describe_proxies(region).await
    }
    async fn describe_proxy_targets(&self, region: &str, proxy: &str) -> BResult<Vec<ProxyTarget>> {
        self.inner.describe_proxy_targets(region, proxy).await
    }
    async fn describe_integrations(&self, region: &str) -> BResult<Vec<Integration>> {
        self.inner.describe_integrations(region).await
    }
    async fn describe_log_files(&self, region: &str, instance_id: &str) -> BResult<Vec<LogFile>> {
        self.inner.describe_log_files(region, instance_id).await
    }
    async fn download_log_file(
        &self,
        region: &str,
        instance_id: &str,
        file: &str,
    ) -> BResult<String> {
        self.inner
            .download_log_file(region, instance_id, file)
            .await
    }
    async fn describe_instance_quota(&self, region: &str) -> BResult<Quota> {
        self.inner.describe_instance_quota(region).await
    }
}
