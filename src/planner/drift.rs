//! Drift: does the world still look like what the plan was made from?
//!
//! `apply` of a fresh state file calls [`refuse_drift`] with freshly described instances
//! before writing or touching anything, and refuses the plan when databases whose version, status or parameter group changed, or that were deleted
//! (issue 4, item 8). One exception is not an error: a database already running the planned
//! target version (upgraded out of band) is reported as [`DriftKind::AlreadyUpgraded`] and
//! apply records it as done.
//!
//! Only actionable databases are checked: blocked and skipped ones are never touched, so their
//! drift cannot hurt.

use crate::domain::{cmp_versions, DbInstance};
use crate::plan::Plan;
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DriftKind {
    Deleted,
    VersionChanged,
    StatusChanged,
    ParameterGroupChanged,
    /// Not an error: apply records the database as done.
    AlreadyUpgraded,
}

impl DriftKind {
    /// Does this drift make `apply` refuse the database?
    pub fn is_error(&self) -> bool {
        !matches!(self, DriftKind::AlreadyUpgraded)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    pub region: String,
    pub identifier: String,
    pub kind: DriftKind,
    pub message: String,
}

/// Compare every actionable database of `plan` with `live` (any order; extra live instances
/// are ignored). A database can drift in several ways at once; all are reported, except that
/// an already-upgraded database reports only that.
pub fn check_drift(plan: &Plan, live: &[DbInstance]) -> Vec<Drift> {
    let by_key: HashMap<(&str, &str), &DbInstance> = live
        .iter()
        .map(|d| ((d.region.as_str(), d.identifier.as_str()), d))
        .collect();
    let mut out = Vec::new();
    for p in plan.databases.iter().filter(|p| p.is_actionable()) {
        let drift = |kind, message: String| Drift {
            region: p.region.clone(),
            identifier: p.identifier.clone(),
            kind,
            message,
        };
        let Some(db) = by_key.get(&(p.region.as_str(), p.identifier.as_str())) else {
            out.push(drift(
                DriftKind::Deleted,
                format!(
                    "{} in {} no longer exists; remove it from the fleet or re-plan",
                    p.identifier, p.region
                ),
            ));
            continue;
        };
        let to = p.to_version.as_deref().unwrap_or_default();
        if db.engine_version != p.source.engine_version {
            if !to.is_empty() && cmp_versions(&db.engine_version, to).is_ge() {
                out.push(drift(
                    DriftKind::AlreadyUpgraded,
                    format!("{} already runs {} (planned {} -> {to}): upgraded out of band, recorded as done", p.identifier, db.engine_version, p.source.engine_version),
                ));
                continue;
            }
            out.push(drift(
                DriftKind::VersionChanged,
                format!(
                    "{} runs {} but the plan was made for {}; re-plan",
                    p.identifier, db.engine_version, p.source.engine_version
                ),
            ));
        }
        if db.status != p.source.status {
            out.push(drift(
                DriftKind::StatusChanged,
                format!(
                    "{} is `{}`, the plan expected `{}`; wait until it is back, or re-plan",
                    p.identifier, db.status, p.source.status
                ),
            ));
        }
        let live_group = db.parameter_group();
        let live_name = live_group.map(|g| g.name.as_str());
        if live_name != p.source.parameter_group.as_deref() {
            out.push(drift(
                DriftKind::ParameterGroupChanged,
                format!("{} uses parameter group `{}`, the plan was made for `{}`; re-plan so its parameters are carried over", p.identifier, live_name.unwrap_or("(none)"), p.source.parameter_group.as_deref().unwrap_or("(none)")),
            ));
        } else if let Some(g) = live_group.filter(|g| g.apply_status != "in-sync") {
            out.push(drift(
                DriftKind::ParameterGroupChanged,
                format!("{}'s parameter group `{}` is now `{}`, not `in-sync`; reboot it, then apply again", p.identifier, g.name, g.apply_status),
            ));
        }
    }
    out
}

/// `apply` refuses a plan the fleet no longer matches: nothing was written or changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct DriftRefusal {
    pub plan_id: String,
    pub drifts: Vec<Drift>,
}

impl DriftRefusal {
    fn render(&self) -> String {
        let mut msg = format!(
            "the fleet no longer matches plan {} ({} database(s) drifted); nothing was changed. Plan again:",
            self.plan_id,
            self.drifts.len()
        );
        for d in &self.drifts {
            msg.push_str(&format!(
                "\n  - {} ({}): {}",
                d.identifier, d.region, d.message
            ));
        }
        msg
    }
}

/// The pre-apply drift check: every drift that is an error refuses the whole plan (a database
/// already upgraded out of band is not one; the engine records it as done).
pub fn refuse_drift(plan: &Plan, live: &[DbInstance]) -> Result<(), DriftRefusal> {
    let drifts: Vec<Drift> = check_drift(plan, live)
        .into_iter()
        .filter(|d| d.kind.is_error())
        .collect();
    if drifts.is_empty() {
        Ok(())
    } else {
        Err(DriftRefusal {
            plan_id: plan.plan_id.clone(),
            drifts,
        })
    }
}
