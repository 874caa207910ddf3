//! [`CrashAfter`] (tests): counts side effects and "crashes" after k of them.
//!
//! A crash is modelled the way `kill -9` behaves: the engine's future simply stops at the
//! crash point and is dropped - no error handling, no unwinding through engine code, nothing
//! persisted after it. [`CrashAfter`] either performs the k-th side effect and then never
//! returns (the call happened, its outcome was never recorded) or never performs the (k+1)-th
//! (the intent was recorded, the call was not made). Tests race the engine against
//! [`CrashAfter::crashed`] and drop the engine when it fires. Reads pass through untouched.

use super::wrap::{BoxCall, Hook, Wrapped};
use super::*;
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

/// The hook behind [`CrashAfter`].
pub struct Crash {
    remaining: AtomicI64,
    point: CrashPoint,
    crashed: Arc<Notify>,
    side_effects: AtomicI64,
}

/// A backend that dies after k side effects.
pub type CrashAfter = Wrapped<Crash>;

impl Wrapped<Crash> {
    /// Crash at side effect `k` (counting from 1 for `AfterCall`; `BeforeCall` with k = 0
    /// dies before the first side effect). `k = i64::MAX` never crashes: a counter.
    pub fn new(inner: Arc<dyn RdsBackend>, k: i64, point: CrashPoint) -> CrashAfter {
        Wrapped::with_hook(
            inner,
            Crash {
                remaining: AtomicI64::new(k),
                point,
                crashed: Arc::new(Notify::new()),
                side_effects: AtomicI64::new(0),
            },
        )
    }
    /// Completes when the crash happened.
    pub fn crashed(&self) -> Arc<Notify> {
        self.hook.crashed.clone()
    }
    /// Side effects performed through this wrapper.
    pub fn side_effects(&self) -> i64 {
        self.hook.side_effects.load(Ordering::SeqCst)
    }
}

impl Hook for Crash {
    fn around<'a, T: Send + 'a>(
        &'a self,
        op: Op,
        call: &'a (dyn Fn() -> BoxCall<'a, T> + Send + Sync),
    ) -> BoxCall<'a, T> {
        if !op.mutating() {
            return call();
        }
        Box::pin(async move {
            match self.point {
                CrashPoint::BeforeCall => {
                    if self.remaining.fetch_sub(1, Ordering::SeqCst) <= 0 {
                        self.crashed.notify_one();
                        std::future::pending::<()>().await;
                    }
                    self.side_effects.fetch_add(1, Ordering::SeqCst);
                    call().await
                }
                CrashPoint::AfterCall => {
                    let r = call().await;
                    self.side_effects.fetch_add(1, Ordering::SeqCst);
                    if self.remaining.fetch_sub(1, Ordering::SeqCst) <= 1 {
                        self.crashed.notify_one();
                        std::future::pending::<()>().await;
                    }
                    r
                }
            }
        })
    }
}
