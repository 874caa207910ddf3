//! [`ReadOnly`]: the production guard that dry-run code (`inventory`, `plan`) gets instead of a
//! backend. It answers reads, retrying those that fail with a retryable error (throttled,
//! transient) with backoff on the injected clock, and refuses every mutating call with
//! `InvalidRequest` (`ReadOnlyBackend`) before it reaches RDS.

use super::wrap::{BoxCall, Hook, Wrapped};
use super::*;
use crate::clock::SharedClock;
use std::sync::Arc;

/// Attempts of a read through [`ReadOnly`] before its error is returned.
pub const READ_ATTEMPTS: u32 = 6;

/// The hook behind [`ReadOnly`].
pub struct ReadOnlyGuard {
    clock: SharedClock,
}

/// A backend that can only read.
pub type ReadOnly = Wrapped<ReadOnlyGuard>;

impl Wrapped<ReadOnlyGuard> {
    pub fn new(inner: Arc<dyn RdsBackend>, clock: SharedClock) -> ReadOnly {
        Wrapped::with_hook(inner, ReadOnlyGuard { clock })
    }
}

impl Hook for ReadOnlyGuard {
    fn around<'a, T: Send + 'a>(
        &'a self,
        op: Op,
        call: &'a (dyn Fn() -> BoxCall<'a, T> + Send + Sync),
    ) -> BoxCall<'a, T> {
        Box::pin(async move {
            if op.mutating() {
                return Err(BackendError::new(
                    ErrorKind::InvalidRequest,
                    "ReadOnlyBackend",
                    format!("dry-run code may not change anything ({op} refused)"),
                ));
            }
            retry_read(&self.clock, op, call).await
        })
    }
}

/// A read, retried with backoff (on `clock`) while it fails with a retryable error.
async fn retry_read<'a, T: Send + 'a>(
    clock: &SharedClock,
    op: Op,
    call: &'a (dyn Fn() -> BoxCall<'a, T> + Send + Sync),
) -> BResult<T> {
    let mut attempt = 0;
    loop {
        match call().await {
            Err(e) if e.is_retryable() && attempt + 1 < READ_ATTEMPTS => {
                attempt += 1;
                let wait = std::time::Duration::from_millis(500 << attempt.min(5));
                tracing::debug!(%op, error = %e, attempt, "read failed; retrying");
                clock.sleep(wait).await;
            }
            r => return r,
        }
    }
}

/// The hook behind [`RetryReads`].
pub struct RetryReadsGuard {
    clock: SharedClock,
}

/// A backend whose reads are retried like [`ReadOnly`]'s, and whose side effects pass through
/// untouched (each is called once: whether to repeat one is its caller's decision). For
/// `cleanup` and `abort`, which observe with one describe per region and must not fail on a
/// throttled or transient describe.
pub type RetryReads = Wrapped<RetryReadsGuard>;

impl Wrapped<RetryReadsGuard> {
    pub fn new(inner: Arc<dyn RdsBackend>, clock: SharedClock) -> RetryReads {
        Wrapped::with_hook(inner, RetryReadsGuard { clock })
    }
}

impl Hook for RetryReadsGuard {
    fn around<'a, T: Send + 'a>(
        &'a self,
        op: Op,
        call: &'a (dyn Fn() -> BoxCall<'a, T> + Send + Sync),
    ) -> BoxCall<'a, T> {
        Box::pin(async move {
            if op.mutating() {
                return call().await;
            }
            retry_read(&self.clock, op, call).await
        })
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

    #[tokio::test]
    async fn retry_reads_retries_describes_and_calls_side_effects_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.sqlite");
        let opts = InitOptions {
            databases: 3,
            clean: true,
            ..Default::default()
        };
        init_world(&path, &opts, 0).unwrap();
        let clock = Arc::new(ManualClock::new(0));
        let sim = Arc::new(SimBackend::open_with_clock(&path, clock.clone()).unwrap());
        let dbs = sim
            .describe_instances("us-east-1", &InstanceQuery::default())
            .await
            .unwrap();
        // Every call fails once in two on average: reads get through, a side effect is tried once.
        sim.set_faults("5xx=0.5").unwrap();
        let r = RetryReads::new(sim.clone(), clock);
        for _ in 0..5 {
            r.describe_instances("us-east-1", &InstanceQuery::default())
                .await
                .unwrap();
        }
        let before = sim.trail(true).unwrap().len();
        let mut failed = 0;
        for i in 0..8 {
            let snap = format!("s{i}");
            failed += r
                .create_snapshot("us-east-1", &dbs[0].identifier, &snap, &Tags::new())
                .await
                .is_err() as usize;
        }
        assert_eq!(sim.trail(true).unwrap().len(), before + 8, "one call each");
        assert!(failed > 0, "no side effect failed: the test tests nothing");
    }
}
