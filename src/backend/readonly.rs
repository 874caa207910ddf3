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
