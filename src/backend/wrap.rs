//! [`Wrapped`]: a backend with a [`Hook`] around every call. The hook sees which [`Op`] is
//! being called (and so whether it mutates) and decides what happens: the read-only guard
//! refuses side effects, the crash wrapper counts them. The method -> operation mapping is
//! written here once, for every hook.

use super::*;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A boxed backend call, as `async_trait` methods return them.
pub type BoxCall<'a, T> = Pin<Box<dyn Future<Output = BResult<T>> + Send + 'a>>;

/// What to do around each backend call. `call` may be invoked any number of times (a retry)
/// or not at all (a refusal).
pub trait Hook: Send + Sync {
    fn around<'a, T: Send + 'a>(
        &'a self,
        op: Op,
        call: &'a (dyn Fn() -> BoxCall<'a, T> + Send + Sync),
    ) -> BoxCall<'a, T>;
}

/// A backend whose every call goes through `hook`.
pub struct Wrapped<H> {
    pub(crate) inner: Arc<dyn RdsBackend>,
    pub(crate) hook: H,
}

impl<H: Hook> Wrapped<H> {
    pub fn with_hook(inner: Arc<dyn RdsBackend>, hook: H) -> Self {
        Wrapped { inner, hook }
    }
    pub fn hook(&self) -> &H {
        &self.hook
    }
}

#[async_trait]
impl<H: Hook> RdsBackend for Wrapped<H> {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    async fn describe_instances(
        &self,
        region: &str,
        q: &InstanceQuery,
    ) -> BResult<Vec<DbInstance>> {
        let i = &self.inner;
        let call = || i.describe_instances(region, q);
        self.hook.around(Op::DescribeDBInstances, &call).await
    }
    async fn describe_blue_green(
        &self,
        region: &str,
        q: &BlueGreenQuery,
    ) -> BResult<Vec<BlueGreen>> {
        let i = &self.inner;
        let call = || i.describe_blue_green(region, q);
        self.hook
            .around(Op::DescribeBlueGreenDeployments, &call)
            .await
    }
    async fn describe_snapshots(&self, region: &str, q: &SnapshotQuery) -> BResult<Vec<Snapshot>> {
        let i = &self.inner;
        let call = || i.describe_snapshots(region, q);
        self.hook.around(Op::DescribeDBSnapshots, &call).await
    }
    async fn create_snapshot(
        &self,
        region: &str,
        instance_id: &str,
        snapshot_id: &str,
        tags: &Tags,
    ) -> BResult<Snapshot> {
        let i = &self.inner;
        let call = || i.create_snapshot(region, instance_id, snapshot_id, tags);
        self.hook.around(Op::CreateDBSnapshot, &call).await
    }
    async fn describe_parameter_groups(
        &self,
        region: &str,
        names: &[String],
    ) -> BResult<Vec<ParameterGroup>> {
        let i = &self.inner;
        let call = || i.describe_parameter_groups(region, names);
        self.hook.around(Op::DescribeDBParameterGroups, &call).await
    }
    async fn describe_parameters(
        &self,
        region: &str,
        group: &str,
        user_only: bool,
    ) -> BResult<Vec<Parameter>> {
        let i = &self.inner;
        let call = || i.describe_parameters(region, group, user_only);
        self.hook.around(Op::DescribeDBParameters, &call).await
    }
    async fn create_parameter_group(
        &self,
        region: &str,
        group: &NewParameterGroup,
    ) -> BResult<ParameterGroup> {
        let i = &self.inner;
        let call = || i.create_parameter_group(region, group);
        self.hook.around(Op::CreateDBParameterGroup, &call).await
    }
    async fn modify_parameter_group(
        &self,
        region: &str,
        group: &str,
        changes: &[ParameterChange],
    ) -> BResult<()> {
        let i = &self.inner;
        let call = || i.modify_parameter_group(region, group, changes);
        self.hook.around(Op::ModifyDBParameterGroup, &call).await
    }
    async fn delete_parameter_group(&self, region: &str, group: &str) -> BResult<()> {
        let i = &self.inner;
        let call = || i.delete_parameter_group(region, group);
        self.hook.around(Op::DeleteDBParameterGroup, &call).await
    }
    async fn create_blue_green(&self, region: &str, req: &CreateBlueGreen) -> BResult<BlueGreen> {
        let i = &self.inner;
        let call = || i.create_blue_green(region, req);
        self.hook.around(Op::CreateBlueGreenDeployment, &call).await
    }
    async fn switchover_blue_green(
        &self,
        region: &str,
        identifier: &str,
        timeout_secs: u32,
    ) -> BResult<BlueGreen> {
        let i = &self.inner;
        let call = || i.switchover_blue_green(region, identifier, timeout_secs);
        self.hook
            .around(Op::SwitchoverBlueGreenDeployment, &call)
            .await
    }
    async fn delete_blue_green(
        &self,
        region: &str,
        identifier: &str,
        delete_target: bool,
    ) -> BResult<()> {
        let i = &self.inner;
        let call = || i.delete_blue_green(region, identifier, delete_target);
        self.hook.around(Op::DeleteBlueGreenDeployment, &call).await
    }
    async fn delete_instance(
        &self,
        region: &str,
        identifier: &str,
        final_snapshot_id: &str,
    ) -> BResult<()> {
        let i = &self.inner;
        let call = || i.delete_instance(region, identifier, final_snapshot_id);
        self.hook.around(Op::DeleteDBInstance, &call).await
    }
    async fn set_deletion_protection(
        &self,
        region: &str,
        identifier: &str,
        enabled: bool,
    ) -> BResult<()> {
        let i = &self.inner;
        let call = || i.set_deletion_protection(region, identifier, enabled);
        self.hook.around(Op::ModifyDBInstance, &call).await
    }
    async fn add_tags(&self, region: &str, arn: &str, tags: &Tags) -> BResult<()> {
        let i = &self.inner;
        let call = || i.add_tags(region, arn, tags);
        self.hook.around(Op::AddTagsToResource, &call).await
    }
    async fn list_tags(&self, region: &str, arn: &str) -> BResult<Tags> {
        let i = &self.inner;
        let call = || i.list_tags(region, arn);
        self.hook.around(Op::ListTagsForResource, &call).await
    }
    async fn describe_engine_versions(
        &self,
        region: &str,
        engine: &str,
        version: Option<&str>,
        include_all: bool,
    ) -> BResult<Vec<EngineVersion>> {
        let i = &self.inner;
        let call = || i.describe_engine_versions(region, engine, version, include_all);
        self.hook.around(Op::DescribeDBEngineVersions, &call).await
    }
    async fn describe_instance_quota(&self, region: &str) -> BResult<Quota> {
        let i = &self.inner;
        let call = || i.describe_instance_quota(region);
        self.hook.around(Op::DescribeAccountAttributes, &call).await
    }
    async fn delete_read_replica(&self, region: &str, replica: &ReadReplica) -> BResult<()> {
        let i = &self.inner;
        let call = || i.delete_read_replica(region, replica);
        self.hook.around(Op::DeleteDBInstance, &call).await
    }
    async fn describe_proxies(&self, region: &str) -> BResult<Vec<DbProxy>> {
        let i = &self.inner;
        let call = || i.describe_proxies(region);
        self.hook.around(Op::DescribeDBProxies, &call).await
    }
    async fn describe_proxy_targets(&self, region: &str, proxy: &str) -> BResult<Vec<ProxyTarget>> {
        let i = &self.inner;
        let call = || i.describe_proxy_targets(region, proxy);
        self.hook.around(Op::DescribeDBProxyTargets, &call).await
    }
    async fn describe_integrations(&self, region: &str) -> BResult<Vec<Integration>> {
        let i = &self.inner;
        let call = || i.describe_integrations(region);
        self.hook.around(Op::DescribeIntegrations, &call).await
    }
    async fn describe_log_files(&self, region: &str, instance_id: &str) -> BResult<Vec<LogFile>> {
        let i = &self.inner;
        let call = || i.describe_log_files(region, instance_id);
        self.hook.around(Op::DescribeDBLogFiles, &call).await
    }
    async fn download_log_file(
        &self,
        region: &str,
        instance_id: &str,
        file: &str,
    ) -> BResult<String> {
        let i = &self.inner;
        let call = || i.download_log_file(region, instance_id, file);
        self.hook.around(Op::DownloadDBLogFilePortion, &call).await
    }
}
