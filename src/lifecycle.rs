//! After the rollout: `cleanup` (delete what is no longer needed, once it is safe) and `abort`
//! (undo an upgrade that has not switched over yet).
//!
//! Safety rules, enforced here and tested:
//! - Only resources recorded in the state file **and** tagged `rdsfleet:managed=true` with this
//!   plan's id are ever deleted. Snapshots are never deleted.
//! - An old (`-oldN`) instance is deleted only after the plan's retention has elapsed since its
//!   switchover, only if the pre-upgrade snapshot exists and is available, and always with a
//!   final snapshot. Deletion protection is never turned off unless the operator passes an
//!   explicit flag; otherwise the instance is reported and left alone.
//! - Abort after switchover changes nothing: it prints the rollback path instead.
//!
//! Every deletion records its intent in the state file before the call and its outcome after,
//! and a `NotFound` answer counts as already done, so both commands can be re-run safely.

use crate::backend::{BlueGreenQuery, ErrorKind, InstanceQuery, RdsBackend, SnapshotQuery};
use crate::clock::{rfc3339, Millis, SharedClock};
use crate::domain::{is_managed, BgStatus};
use crate::naming;
use crate::plan::{Plan, StepKind};
use crate::store::{DbState, StepStatus, Store, StoreError};
use serde::Serialize;

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

/// One line of a cleanup or abort report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Action {
    pub database: String,
    pub resource: String,
    /// `deleted`, `kept`, `skipped`, `failed`, `aborted`, `unchanged`.
    pub outcome: String,
    pub detail: String,
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:<28} {:<44} {:<9} {}",
            self.database, self.resource, self.outcome, self.detail
        )
    }
}

fn act(db: &str, res: &str, outcome: &str, detail: impl Into<String>) -> Action {
    Action {
        database: db.to_string(),
        resource: res.to_string(),
        outcome: outcome.to_string(),
        detail: detail.into(),
    }
}

#[derive(Debug, Clone, Default)]
pub struct CleanupOptions {
    /// Turn deletion protection off on old instances that have it (explicit operator choice).
    pub disable_deletion_protection: bool,
}

/// Delete finished deployments' leftovers: the blue/green deployment object, and the old
/// instance once its retention has elapsed (with a final snapshot).
pub async fn cleanup(
    backend: &dyn RdsBackend,
    store: &mut Store,
    clock: &SharedClock,
    opts: &CleanupOptions,
) -> Result<Vec<Action>, LifecycleError> {
    let plan = store.plan()?;
    store.acquire_lock(clock.now())?;
    let r = cleanup_inner(backend, store, clock, opts, &plan).await;
    store.release_lock()?;
    r
}

async fn cleanup_inner(
    backend: &dyn RdsBackend,
    store: &mut Store,
    clock: &SharedClock,
    opts: &CleanupOptions,
    plan: &Plan,
) -> Result<Vec<Action>, LifecycleError> {
    let mut out = Vec::new();
    let retention_ms = plan.settings.retention_hours as Millis * 3_600_000;
    let rows = store.databases()?;
    for row in rows.iter().filter(|r| r.state == DbState::Done) {
        let p = &plan.databases[row.id as usize];
        let Some(bg_name) = p.resource_name(StepKind::CreateBlueGreen) else {
            continue; // replicas, out-of-band upgrades: nothing of ours to clean
        };
        let region = p.region.as_str();
        // 1. The blue/green deployment object (its green side is production now).
        if store
            .resource(region, "blue-green", bg_name)?
            .map(|r| r.status)
            != Some("deleted".into())
        {
            let found = find_blue_green(backend, region, bg_name).await?;
            match found {
                None => {
                    store.set_resource(
                        region,
                        "blue-green",
                        bg_name,
                        "deleted",
                        None,
                        clock.now(),
                    )?;
                    out.push(act(&p.identifier, bg_name, "deleted", "already gone"));
                }
                Some(bg) if !is_managed(&bg.tags, Some(&plan.plan_id)) => {
                    out.push(act(
                        &p.identifier,
                        bg_name,
                        "skipped",
                        "not tagged by this rdsfleet plan; left alone",
                    ));
                }
                Some(bg) if bg.status != BgStatus::SwitchoverCompleted => {
                    out.push(act(
                        &p.identifier,
                        bg_name,
                        "kept",
                        format!(
                            "status {}; only switched-over deployments are cleaned up",
                            bg.status
                        ),
                    ));
                }
                Some(bg) => {
                    store.set_resource(
                        region,
                        "blue-green",
                        bg_name,
                        "deleting",
                        Some(&bg.identifier),
                        clock.now(),
                    )?;
                    match backend
                        .delete_blue_green(region, &bg.identifier, false)
                        .await
                    {
                        Ok(()) => {}
                        Err(e) if e.kind == ErrorKind::NotFound => {}
                        Err(e) => {
                            out.push(act(&p.identifier, bg_name, "failed", e.to_string()));
                            continue;
                        }
                    }
                    store.set_resource(
                        region,
                        "blue-green",
                        bg_name,
                        "deleted",
                        None,
                        clock.now(),
                    )?;
                    out.push(act(
                        &p.identifier,
                        bg_name,
                        "deleted",
                        "blue/green deployment object (production instances untouched)",
                    ));
                }
            }
        }
        // 2. The old instance, after retention, with a final snapshot.
        let old_rows: Vec<_> = store
            .resources()?
            .into_iter()
            .filter(|r| {
                r.kind == "old-instance" && r.region == region && old_of(&r.detail, &p.identifier)
            })
            .collect();
        for res in old_rows {
            if res.status == "deleted" {
                continue;
            }
            let old = res.name.clone();
            let switched_at = res
                .detail
                .as_deref()
                .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
                .and_then(|v| v.get("switched_at").and_then(|x| x.as_i64()))
                .unwrap_or(Millis::MAX / 2);
            let due = switched_at + retention_ms;
            if clock.now() < due {
                out.push(act(
                    &p.identifier,
                    &old,
                    "kept",
                    format!(
                        "retention {} h runs until {}",
                        plan.settings.retention_hours,
                        rfc3339(due)
                    ),
                ));
                continue;
            }
            let q = InstanceQuery {
                identifiers: vec![old.clone()],
                engines: vec![],
            };
            let inst = match backend.describe_instances(region, &q).await {
                Ok(v) => v.into_iter().find(|i| i.identifier == old),
                Err(e) if e.kind == ErrorKind::NotFound => None,
                Err(e) => {
                    return Err(LifecycleError::Backend {
                        op: "DescribeDBInstances",
                        region: region.into(),
                        source: e,
                    })
                }
            };
            let Some(inst) = inst else {
                store.set_resource(region, "old-instance", &old, "deleted", None, clock.now())?;
                out.push(act(&p.identifier, &old, "deleted", "already gone"));
                continue;
            };
            if !is_managed(&inst.tags, Some(&plan.plan_id)) {
                out.push(act(
                    &p.identifier,
                    &old,
                    "skipped",
                    "not tagged by this rdsfleet plan; left alone",
                ));
                continue;
            }
            // The pre-upgrade snapshot must exist: it is the other half of the rollback path.
            let snap_name = p
                .resource_name(StepKind::Snapshot)
                .unwrap_or_default()
                .to_string();
            let sq = SnapshotQuery {
                snapshot_ids: vec![snap_name.clone()],
                instance_ids: vec![],
            };
            let snap_ok = match backend.describe_snapshots(region, &sq).await {
                Ok(v) => v
                    .iter()
                    .any(|s| s.identifier == snap_name && s.status == "available"),
                Err(e) if e.kind == ErrorKind::NotFound => false,
                Err(e) => {
                    return Err(LifecycleError::Backend {
                        op: "DescribeDBSnapshots",
                        region: region.into(),
                        source: e,
                    })
                }
            };
            if !snap_ok {
                out.push(act(&p.identifier, &old, "kept", format!("pre-upgrade snapshot {snap_name} is not available; refusing to delete the old instance")));
                continue;
            }
            if inst.deletion_protection {
                if !opts.disable_deletion_protection {
                    out.push(act(&p.identifier, &old, "kept", "deletion protection is on; left alone (pass --disable-deletion-protection to turn it off and delete)"));
                    continue;
                }
                store.event(
                    Some(row.id),
                    None,
                    "deletion-protection-off",
                    &format!("turning off deletion protection on {old} (operator flag)"),
                    clock.now(),
                )?;
                if let Err(e) = backend.set_deletion_protection(region, &old, false).await {
                    out.push(act(
                        &p.identifier,
                        &old,
                        "failed",
                        format!("turning off deletion protection: {e}"),
                    ));
                    continue;
                }
            }
            let final_snap = naming::final_snapshot_name(&plan.plan_id, &old);
            store.set_resource(region, "old-instance", &old, "deleting", None, clock.now())?;
            match backend.delete_instance(region, &old, &final_snap).await {
                Ok(()) => {}
                Err(e) if e.kind == ErrorKind::NotFound => {}
                Err(e) => {
                    store.set_resource(region, "old-instance", &old, "kept", None, clock.now())?;
                    out.push(act(&p.identifier, &old, "failed", e.to_string()));
                    continue;
                }
            }
            store.set_resource(region, "old-instance", &old, "deleted", None, clock.now())?;
            out.push(act(
                &p.identifier,
                &old,
                "deleted",
                format!("final snapshot {final_snap}"),
            ));
        }
    }
    Ok(out)
}

/// The deployment named `name` in `region`, if any (one filtered describe).
async fn find_blue_green(
    backend: &dyn RdsBackend,
    region: &str,
    name: &str,
) -> Result<Option<crate::domain::BlueGreen>, LifecycleError> {
    let q = BlueGreenQuery {
        names: vec![name.to_string()],
        identifiers: vec![],
    };
    Ok(backend
        .describe_blue_green(region, &q)
        .await
        .map_err(|e| LifecycleError::Backend {
            op: "DescribeBlueGreenDeployments",
            region: region.into(),
            source: e,
        })?
        .into_iter()
        .find(|b| b.name == name))
}

fn old_of(detail: &Option<String>, identifier: &str) -> bool {
    detail
        .as_deref()
        .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .and_then(|v| {
            v.get("source")
                .and_then(|s| s.as_str())
                .map(|s| s == identifier)
        })
        .unwrap_or(false)
}

/// Abort the upgrade of the given databases (all unfinished ones when `identifiers` is empty).
/// Before switchover: delete the deployment with its green side, and parameter groups this
/// plan created that nothing else uses; mark the database aborted. After switchover: change
/// nothing and explain the rollback path.
pub async fn abort(
    backend: &dyn RdsBackend,
    store: &mut Store,
    clock: &SharedClock,
    identifiers: &[String],
) -> Result<Vec<Action>, LifecycleError> {
    let plan = store.plan()?;
    store.acquire_lock(clock.now())?;
    let r = abort_inner(backend, store, clock, identifiers, &plan).await;
    store.release_lock()?;
    r
}

async fn abort_inner(
    backend: &dyn RdsBackend,
    store: &mut Store,
    clock: &SharedClock,
    identifiers: &[String],
    plan: &Plan,
) -> Result<Vec<Action>, LifecycleError> {
    let rows = store.databases()?;
    for id in identifiers {
        if !rows.iter().any(|r| &r.identifier == id) {
            return Err(LifecycleError::UnknownDatabase(id.clone()));
        }
    }
    let selected: Vec<_> = rows
        .iter()
        .filter(|r| {
            if identifiers.is_empty() {
                !r.state.is_terminal() || r.state == DbState::Failed
            } else {
                identifiers.contains(&r.identifier)
            }
        })
        .filter(|r| plan.databases[r.id as usize].is_actionable())
        .cloned()
        .collect();
    let mut out = Vec::new();
    let mut aborted_ids = Vec::new();
    for row in &selected {
        let p = &plan.databases[row.id as usize];
        let region = p.region.as_str();
        let bg_name = p
            .resource_name(StepKind::CreateBlueGreen)
            .unwrap_or_default()
            .to_string();
        let snap = p
            .resource_name(StepKind::Snapshot)
            .unwrap_or_default()
            .to_string();
        let bg = find_blue_green(backend, region, &bg_name).await?;
        let switched = row.steps.iter().any(|s| {
            s.kind == StepKind::Switchover
                && matches!(s.status, StepStatus::Done | StepStatus::Waiting)
        }) || row.state == DbState::Done
            || bg.as_ref().is_some_and(|b| {
                matches!(
                    b.status,
                    BgStatus::SwitchoverInProgress | BgStatus::SwitchoverCompleted
                )
            });
        if switched {
            out.push(act(
                &p.identifier,
                &bg_name,
                "unchanged",
                format!(
                    "already switched over: nothing was changed. Rollback path: the old instance {id}-old1 still runs {from} (read-only: to write to it, set read_only=0 in its parameter group, then repoint clients / rename it), and the pre-upgrade snapshot {snap} can be restored with RestoreDBInstanceFromDBSnapshot",
                    id = p.identifier,
                    from = p.from_version
                ),
            ));
            continue;
        }
        if let Some(bg) = bg {
            if !is_managed(&bg.tags, Some(&plan.plan_id)) {
                out.push(act(
                    &p.identifier,
                    &bg_name,
                    "skipped",
                    "deployment not tagged by this rdsfleet plan; left alone",
                ));
                continue;
            }
            store.event(
                Some(row.id),
                None,
                "abort-intent",
                &format!(
                    "DeleteBlueGreenDeployment {} (DeleteTarget=true)",
                    bg.identifier
                ),
                clock.now(),
            )?;
            match backend
                .delete_blue_green(region, &bg.identifier, true)
                .await
            {
                Ok(()) => out.push(act(
                    &p.identifier,
                    &bg_name,
                    "deleted",
                    "deployment and its green instances; blue untouched",
                )),
                Err(e) if e.kind == ErrorKind::NotFound => {
                    out.push(act(&p.identifier, &bg_name, "deleted", "already gone"))
                }
                Err(e) => {
                    out.push(act(&p.identifier, &bg_name, "failed", e.to_string()));
                    continue;
                }
            }
        }
        store.set_db_state(
            row.id,
            DbState::Aborted,
            Some("aborted by operator before switchover"),
            clock.now(),
            "aborted",
        )?;
        out.push(act(
            &p.identifier,
            &snap,
            "kept",
            "pre-upgrade snapshot is kept",
        ));
        aborted_ids.push(row.id);
    }
    // Parameter groups this plan created that no remaining database uses.
    let rows = store.databases()?;
    for g in &plan.parameter_groups {
        let Some(res) = store.resource(&g.region, "parameter-group", &g.name)? else {
            continue; // never created by us
        };
        if res.status == "deleted" {
            continue;
        }
        let still_used = plan.databases.iter().enumerate().any(|(i, d)| {
            d.region == g.region
                && d.target
                    .as_ref()
                    .is_some_and(|t| t.parameter_group == g.name)
                && rows.get(i).is_some_and(|r| {
                    !matches!(
                        r.state,
                        DbState::Aborted | DbState::Blocked | DbState::Skipped
                    )
                })
        });
        if still_used {
            continue;
        }
        // And nothing live uses it either (a green instance still being deleted, say).
        let live = backend
            .describe_instances(&g.region, &InstanceQuery::default())
            .await
            .map_err(|e| LifecycleError::Backend {
                op: "DescribeDBInstances",
                region: g.region.clone(),
                source: e,
            })?;
        if live
            .iter()
            .any(|i| i.parameter_groups.iter().any(|pg| pg.name == g.name))
        {
            out.push(act(
                "-",
                &g.name,
                "kept",
                "parameter group still attached to an instance; re-run abort later",
            ));
            continue;
        }
        store.set_resource(
            &g.region,
            "parameter-group",
            &g.name,
            "deleting",
            None,
            clock.now(),
        )?;
        match backend.delete_parameter_group(&g.region, &g.name).await {
            Ok(()) => {}
            Err(e) if e.kind == ErrorKind::NotFound => {}
            Err(e) => {
                out.push(act("-", &g.name, "failed", e.to_string()));
                continue;
            }
        }
        store.set_resource(
            &g.region,
            "parameter-group",
            &g.name,
            "deleted",
            None,
            clock.now(),
        )?;
        out.push(act(
            "-",
            &g.name,
            "deleted",
            "parameter group created by this plan, no longer used",
        ));
    }
    Ok(out)
}
