//! After the rollout: `cleanup` (delete what is no longer needed, once it is safe) and `abort`
//! (undo an upgrade that has not switched over yet).
//!
//! Safety rules, enforced here and tested:
//! - Only resources recorded in the state file **and** tagged `rdsfleet:managed=true` with this
//!   plan's id are ever deleted. Snapshots are never deleted.
//! - An old (`-oldN`) instance is deleted only after the plan's retention has elapsed since its
//!   switchover, only if the pre-upgrade snapshot exists and is available, only once no read
//!   replica is attached to it (deleting a source promotes its replicas), and always with a
//!   final snapshot. Its old read replicas (`<replica>-oldN`) go first, under the same rules
//!   but without a final snapshot (RDS takes none for a replica; the source's pre-upgrade
//!   snapshot holds their data); one that was promoted meanwhile is left alone. Deletion
//!   protection on them is never turned off unless the operator passes an explicit flag;
//!   otherwise the instance is reported and left alone.
//! - Abort before switchover deletes green with `DeleteTarget`: first it tags each green
//!   instance of this plan's deployment and turns its deletion protection (copied from blue)
//!   off, each recorded with why; never on blue, never on a deployment this plan did not tag.
//!   If the delete fails, protection goes back on.
//! - Abort after switchover changes nothing: it prints the rollback path instead.
//!
//! Both commands work like the engine: one batched describe per region and kind of resource,
//! then pure verdicts ([`cleanup::judge_deployment`], [`cleanup::judge_old_instance`],
//! [`cleanup::judge_old_replica`], [`abort::judge`], [`abort::judge_greens`]) say what to do, and every deletion goes through the one effect path
//! ([`crate::effects::Executor`]): intent recorded before the call, an API-budget token, the
//! outcome recorded after. A `NotFound` answer counts as already done, so both commands can be
//! re-run safely.

pub mod abort;
pub mod cleanup;

pub use abort::abort;
pub use cleanup::{cleanup, CleanupOptions};

use crate::backend::RdsBackend;
use crate::clock::SharedClock;
use crate::effects::{ApiBudget, Executor};
use crate::store::StoreError;
use serde::Serialize;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{op} in {region} failed: {source}")]
    Backend {
        op: &'static str,
        region: String,
        source: crate::backend::BackendError,
    },
    #[error("no database {0} in this state file")]
    UnknownDatabase(String),
}

/// What happened to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Deleted,
    Kept,
    Skipped,
    Failed,
    Unchanged,
}

impl Outcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Deleted => "deleted",
            Outcome::Kept => "kept",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "failed",
            Outcome::Unchanged => "unchanged",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for Outcome {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// One line of a cleanup or abort report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Action {
    pub database: String,
    pub resource: String,
    pub outcome: Outcome,
    pub detail: String,
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:<28} {:<44} {:<9} {}",
            self.database,
            self.resource,
            self.outcome.as_str(),
            self.detail
        )
    }
}

fn act(db: &str, res: &str, outcome: Outcome, detail: impl Into<String>) -> Action {
    Action {
        database: db.to_string(),
        resource: res.to_string(),
        outcome,
        detail: detail.into(),
    }
}

/// The client-side API budget of a cleanup or abort, like `apply`'s.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Requests per second per region (fractions allowed).
    pub api_rate: f64,
    pub api_burst: f64,
}

impl Default for Budget {
    fn default() -> Self {
        let e = crate::engine::EngineOptions::default();
        Budget {
            api_rate: e.api_rate,
            api_burst: e.api_burst,
        }
    }
}

/// Attempts of a cleanup or abort describe before a throttled or transient error stops the
/// command (backoff 1 s, 2 s, 4 s, 8 s, 16 s between them).
pub const READ_ATTEMPTS: u32 = 6;

/// The executor of a command that reads (and acts) within a budget, its describes retried.
pub fn executor(backend: Arc<dyn RdsBackend>, clock: &SharedClock, b: Budget) -> Executor {
    Executor::new(
        backend,
        clock.clone(),
        ApiBudget::new(b.api_rate, b.api_burst),
    )
    .with_read_retries(READ_ATTEMPTS)
}

/// A describe failed: the command stops (nothing half-judged), saying where.
fn backend_err<'a>(
    op: &'static str,
    region: &'a str,
) -> impl FnOnce(crate::backend::BackendError) -> LifecycleError + 'a {
    move |source| LifecycleError::Backend {
        op,
        region: region.to_string(),
        source,
    }
}

/// Fixtures shared by the verdict tests of `cleanup` and `abort`.
#[cfg(test)]
mod test_support {
    use crate::domain::{BgStatus, BlueGreen, Tags};

    /// A deployment `bgd-1` in `status`, tagged `tags`.
    pub fn bg(status: BgStatus, tags: Tags) -> BlueGreen {
        BlueGreen {
            identifier: "bgd-1".into(),
            name: "n".into(),
            source: "arn".into(),
            target: None,
            status,
            status_details: None,
            switchover_details: vec![],
            tags,
        }
    }
}
