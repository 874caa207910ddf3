//! Wrappers around a backend that police its side effects: [`ReadOnly`] refuses every
//! mutating call (the dry-run commands `inventory` and `plan` only ever get this), and
//! [`CrashAfter`] counts side effects and "crashes" after k of them (tests).
//!
//! A crash is modelled the way `kill -9` behaves: the engine's future simply stops at the
//! crash point and is dropped - no error handling, no unwinding through engine code, nothing
//! persisted after it. [`CrashAfter`] either performs the k-th side effect and then never
//! returns (the call happened, its outcome was never recorded) or never performs the (k+1)-th
//! (the intent was recorded, the call was not made). Tests race the engine against
//! [`CrashAfter::crashed`] and drop the engine when it fires.

use super::*;
use crate::clock::SharedClock;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// When the crash happens relative to the call that triggers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// Perform the k-th side effect, then die before its outcome is seen.
    AfterCall,
    /// Die just before performing the (k+1)-th side effect.
    BeforeCall,
}

pub struct CrashAfter {
    inner: Arc<dyn RdsBackend>,
    remaining: AtomicI64,
    point: CrashPoint,
    crashed: Arc<Notify>,
    side_effects: AtomicI64,
    read_only: bool,
    /// Retry reads that fail with a retryable error (throttled, transient), sleeping on this
    /// clock: dry-run discovery gets what the engine's own retries give apply.
    read_retry: Option<SharedClock>,
}

/// A backend that answers reads and refuses every mutating call with `InvalidRequest`
/// (`ReadOnlyBackend`): what dry-run code gets. Reads that fail with a retryable error are
/// retried (up to [`READ_ATTEMPTS`] times, with backoff on `clock`).
pub struct ReadOnly;

/// Attempts of a read through [`ReadOnly`] before its error is returned.
pub const READ_ATTEMPTS: u32 = 6;

impl ReadOnly {
    #[allow(clippy::new_ret_no_self)]
    pub fn new(inner: Arc<dyn RdsBackend>, clock: SharedClock) -> CrashAfter {
        CrashAfter {
            read_only: true,
            read_retry: Some(clock),
            ..CrashAfter::new(inner, i64::MAX, CrashPoint::AfterCall)
        }
    }
}

impl CrashAfter {
    /// Crash at side effect `k` (counting from 1 for `AfterCall`; `BeforeCall` with k = 0
    /// dies before the first side effect). `k = i64::MAX` never crashes: a counter.
    pub fn new(inner: Arc<dyn RdsBackend>, k: i64, point: CrashPoint) -> Self {
        CrashAfter {
            inner,
            remaining: AtomicI64::new(k),
            point,
            crashed: Arc::new(Notify::new()),
            side_effects: AtomicI64::new(0),
            read_only: false,
            read_retry: None,
        }
    }

    async fn read<T, F, Fut>(&self, call: F) -> BResult<T>
    where
        F: Fn() -> Fut + Send,
        Fut: std::future::Future<Output = BResult<T>> + Send,
    {
        let Some(clock) = &self.read_retry else {
            return call().await;
        };
        let mut attempt = 0;
        loop {
            match call().await {
                Err(e) if e.is_retryable() && attempt + 1 < READ_ATTEMPTS => {
                    attempt += 1;
                    let wait = std::time::Duration::from_millis(500 << attempt.min(5));
                    tracing::debug!(error = %e, attempt, "read failed; retrying");
                    clock.sleep(wait).await;
                }
                r => return r,
            }
        }
    }
    /// Completes when the crash happened.
    pub fn crashed(&self) -> Arc<Notify> {
        self.crashed.clone()
    }
    /// Side effects performed through this wrapper.
    pub fn side_effects(&self) -> i64 {
        self.side_effects.load(Ordering::SeqCst)
    }

    async fn mutate<T, F>(&self, f: F) -> BResult<T>
    where
        F: std::future::Future<Output = BResult<T>> + Send,
    {
        if self.read_only {
            return Err(BackendError::new(
                ErrorKind::InvalidRequest,
                "ReadOnlyBackend",
                "dry-run code may not change anything",
            ));
        }
        match self.point {
            CrashPoint::BeforeCall => {
                if self.remaining.fetch_sub(1, Ordering::SeqCst) <= 0 {
                    self.crashed.notify_one();
                    std::future::pending::<()>().await;
                }
                self.side_effects.fetch_add(1, Ordering::SeqCst);
                f.await
            }
            CrashPoint::AfterCall => {
                let r = f.await;
                self.side_effects.fetch_add(1, Ordering::SeqCst);
                if self.remaining.fetch_sub(1, Ordering::SeqCst) <= 1 {
                    self.crashed.notify_one();
                    std::future::pending::<()>().await;
                }
                r
            }
        }
    }
}

#[async_trait]
impl RdsBackend for CrashAfter {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    async fn describe_instances(
        &self,
        region: &str,
        q: &InstanceQuery,
    ) -> BResult<Vec<DbInstance>> {
        self.read(|| self.inner.describe_instances(region, q)).await
    }
    async fn describe_blue_green(
        &self,
        region: &str,
        q: &BlueGreenQuery,
    ) -> BResult<Vec<BlueGreen>> {
        self.read(|| self.inner.describe_blue_green(region, q))
            .await
    }
    async fn describe_snapshots(&self, region: &str, q: &SnapshotQuery) -> BResult<Vec<Snapshot>> {
        self.read(|| self.inner.describe_snapshots(region, q)).await
    }
    async fn create_snapshot(
        &self,
        region: &str,
        instance_id: &str,
        snapshot_id: &str,
        tags: &Tags,
    ) -> BResult<Snapshot> {
        self.mutate(
            self.inner
                .create_snapshot(region, instance_id, snapshot_id, tags),
        )
        .await
    }
    async fn describe_parameter_groups(
        &self,
        region: &str,
        names: &[String],
    ) -> BResult<Vec<ParameterGroup>> {
        self.read(|| self.inner.describe_parameter_groups(region, names))
            .await
    }
    async fn describe_parameters(
        &self,
        region: &str,
        group: &str,
        user_only: bool,
    ) -> BResult<Vec<Parameter>> {
        self.read(|| self.inner.describe_parameters(region, group, user_only))
            .await
    }
    async fn create_parameter_group(
        &self,
        region: &str,
        group: &NewParameterGroup,
    ) -> BResult<ParameterGroup> {
        self.mutate(self.inner.create_parameter_group(region, group))
            .await
    }
    async fn copy_parameter_group(
        &self,
        region: &str,
        source: &str,
        target: &str,
        description: &str,
        tags: &Tags,
    ) -> BResult<ParameterGroup> {
        self.mutate(
            self.inner
                .copy_parameter_group(region, source, target, description, tags),
        )
        .await
    }
    async fn modify_parameter_group(
        &self,
        region: &str,
        group: &str,
        changes: &[ParameterChange],
    ) -> BResult<()> {
        self.mutate(self.inner.modify_parameter_group(region, group, changes))
            .await
    }
    async fn delete_parameter_group(&self, region: &str, group: &str) -> BResult<()> {
        self.mutate(self.inner.delete_parameter_group(region, group))
            .await
    }
    async fn create_blue_green(&self, region: &str, req: &CreateBlueGreen) -> BResult<BlueGreen> {
        self.mutate(self.inner.create_blue_green(region, req)).await
    }
    async fn switchover_blue_green(
        &self,
        region: &str,
        identifier: &str,
        timeout_secs: u32,
    ) -> BResult<BlueGreen> {
        self.mutate(
            self.inner
                .switchover_blue_green(region, identifier, timeout_secs),
        )
        .await
    }
    async fn delete_blue_green(
        &self,
        region: &str,
        identifier: &str,
        delete_target: bool,
    ) -> BResult<()> {
        self.mutate(
            self.inner
                .delete_blue_green(region, identifier, delete_target),
        )
        .await
    }
    async fn delete_instance(
        &self,
        region: &str,
        identifier: &str,
        final_snapshot_id: &str,
    ) -> BResult<()> {
        self.mutate(
            self.inner
                .delete_instance(region, identifier, final_snapshot_id),
        )
        .await
    }
    async fn set_deletion_protection(
        &self,
        region: &str,
        identifier: &str,
        enabled: bool,
    ) -> BResult<()> {
        self.mutate(
            self.inner
                .set_deletion_protection(region, identifier, enabled),
        )
        .await
    }
    async fn list_tags(&self, region: &str, arn: &str) -> BResult<Tags> {
        self.read(|| self.inner.list_tags(region, arn)).await
    }
    async fn add_tags(&self, region: &str, arn: &str, tags: &Tags) -> BResult<()> {
        self.mutate(self.inner.add_tags(region, arn, tags)).await
    }
    async fn describe_engine_versions(
        &self,
        region: &str,
        engine: &str,
        version: Option<&str>,
    ) -> BResult<Vec<EngineVersion>> {
        self.read(|| self.inner.describe_engine_versions(region, engine, version))
            .await
    }
    async fn describe_instance_quota(&self, region: &str) -> BResult<Quota> {
        self.read(|| self.inner.describe_instance_quota(region))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::sim::{init_world, InitOptions, SimBackend};

    #[tokio::test]
    async fn read_only_refuses_side_effects_and_answers_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.sqlite");
        init_world(
            &path,
            &InitOptions {
                databases: 3,
                ..Default::default()
            },
            0,
        )
        .unwrap();
        let sim =
            Arc::new(SimBackend::open_with_clock(&path, Arc::new(ManualClock::new(0))).unwrap());
        let ro = ReadOnly::new(sim.clone(), Arc::new(ManualClock::new(0)));
        let dbs = ro
            .describe_instances("us-east-1", &InstanceQuery::default())
            .await
            .unwrap();
        let id = &dbs[0].identifier;
        let e = ro
            .create_snapshot("us-east-1", id, "s1", &Tags::new())
            .await
            .unwrap_err();
        assert_eq!(e.code, "ReadOnlyBackend");
        assert!(
            sim.trail(true).unwrap().is_empty(),
            "nothing may reach the backend"
        );
    }
}
