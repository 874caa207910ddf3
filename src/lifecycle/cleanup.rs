//! `cleanup`: delete finished deployments' leftovers - the blue/green deployment object, and
//! the old instance once its retention has elapsed (with a final snapshot).

use super::{act, backend_err, executor, Action, Budget, LifecycleError, Outcome};
use crate::backend::{BlueGreenQuery, ErrorKind, InstanceQuery, RdsBackend, SnapshotQuery};
use crate::clock::{rfc3339, Millis, SharedClock};
use crate::domain::{is_managed, BgStatus, BlueGreen, DbInstance};
use crate::effects::{Effect, Executor, Intent, Tracked};
use crate::machine::OldInstance;
use crate::naming;
use crate::plan::{Plan, PlannedDatabase, StepKind};
use crate::state::{DbState, ResourceKind, ResourceStatus};
use crate::store::{ResourceRow, Store};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

#[derive(Debug, Clone, Default)]
pub struct CleanupOptions {
    /// Turn deletion protection off on old instances that have it (explicit operator choice).
    pub disable_deletion_protection: bool,
    pub budget: Budget,
}

/// What to do with a finished database's deployment object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeploymentVerdict {
    AlreadyGone,
    NotOurs,
    /// Only switched-over deployments are cleaned up (its green side is production now).
    Keep(BgStatus),
    Delete(String),
}

/// Judge a deployment found (or not) under its deterministic name.
pub fn judge_deployment(found: Option<&BlueGreen>, plan_id: &str) -> DeploymentVerdict {
    match found {
        None => DeploymentVerdict::AlreadyGone,
        Some(bg) if !is_managed(&bg.tags, Some(plan_id)) => DeploymentVerdict::NotOurs,
        Some(bg) if bg.status != BgStatus::SwitchoverCompleted => {
            DeploymentVerdict::Keep(bg.status.clone())
        }
        Some(bg) => DeploymentVerdict::Delete(bg.identifier.clone()),
    }
}

/// What to do with an old instance whose retention has elapsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OldVerdict {
    AlreadyGone,
    NotOurs,
    /// The pre-upgrade snapshot is not available: it is the other half of the rollback path.
    NoSnapshot,
    /// Deletion protection is on and the operator did not ask to turn it off.
    Protected,
    /// Delete it with a final snapshot (turning deletion protection off first when asked).
    Delete {
        unprotect: bool,
    },
}

/// Judge an old instance once its retention has elapsed.
pub fn judge_old_instance(
    found: Option<&DbInstance>,
    plan_id: &str,
    snapshot_available: bool,
    disable_deletion_protection: bool,
) -> OldVerdict {
    match found {
        None => OldVerdict::AlreadyGone,
        Some(i) if !is_managed(&i.tags, Some(plan_id)) => OldVerdict::NotOurs,
        Some(_) if !snapshot_available => OldVerdict::NoSnapshot,
        Some(i) if i.deletion_protection && !disable_deletion_protection => OldVerdict::Protected,
        Some(i) => OldVerdict::Delete {
            unprotect: i.deletion_protection,
        },
    }
}

/// When an old instance's retention ends (`None`: its record says nothing; kept forever).
pub fn retention_ends(res: &ResourceRow, retention_hours: u32) -> Option<Millis> {
    let d: OldInstance = serde_json::from_str(res.detail.as_deref()?).ok()?;
    Some(d.switched_at + retention_hours as Millis * 3_600_000)
}

fn old_instance_source(res: &ResourceRow) -> Option<String> {
    let d: OldInstance = serde_json::from_str(res.detail.as_deref()?).ok()?;
    Some(d.source)
}

/// Delete finished deployments' leftovers: the blue/green deployment object, and the old
/// instance once its retention has elapsed (with a final snapshot).
pub async fn cleanup(
    backend: Arc<dyn RdsBackend>,
    store: &mut Store,
    clock: &SharedClock,
    opts: &CleanupOptions,
) -> Result<Vec<Action>, LifecycleError> {
    let plan = store.plan()?;
    store.acquire_lock(clock.now())?;
    let mut exec = executor(backend, clock, opts.budget);
    let r = run(&mut exec, store, clock, opts, &plan).await;
    store.release_lock()?;
    r
}

/// A finished database with what is left of it.
struct Leftovers<'a> {
    db: &'a PlannedDatabase,
    deployment: Option<&'a str>,
    old: Vec<&'a ResourceRow>,
}

/// What one region looks like, in three batched describes.
#[derive(Default)]
struct RegionSeen {
    deployments: HashMap<String, BlueGreen>,
    instances: HashMap<String, DbInstance>,
    snapshots_available: Vec<String>,
}

async fn run(
    exec: &mut Executor,
    store: &mut Store,
    clock: &SharedClock,
    opts: &CleanupOptions,
    plan: &Plan,
) -> Result<Vec<Action>, LifecycleError> {
    let rows = store.databases()?;
    let resources = store.resources()?;
    let mut regions: BTreeMap<&str, Vec<Leftovers>> = BTreeMap::new();
    for row in rows.iter().filter(|r| r.state == DbState::Done) {
        let p = &plan.databases[row.id as usize];
        let Some(bg_name) = p.resource_name(StepKind::CreateBlueGreen) else {
            continue; // replicas, out-of-band upgrades: nothing of ours to clean
        };
        let deleted = |k: ResourceKind, n: &str| {
            resources.iter().any(|r| {
                r.kind == k
                    && r.region == p.region
                    && r.name == n
                    && r.status == ResourceStatus::Deleted
            })
        };
        let old = resources
            .iter()
            .filter(|r| {
                r.kind == ResourceKind::OldInstance
                    && r.region == p.region
                    && r.status != ResourceStatus::Deleted
                    && old_instance_source(r).as_deref() == Some(p.identifier.as_str())
            })
            .collect();
        regions.entry(&p.region).or_default().push(Leftovers {
            db: p,
            deployment: (!deleted(ResourceKind::BlueGreen, bg_name)).then_some(bg_name),
            old,
        });
    }
    let retention = plan.settings.retention_hours;
    let mut out = Vec::new();
    for (region, dbs) in regions {
        let seen = observe(exec, region, &dbs, retention, clock.now()).await?;
        for l in &dbs {
            if let Some(name) = l.deployment {
                out.push(deployment(exec, store, clock, plan, l.db, name, &seen).await?);
            }
            for res in &l.old {
                out.push(old_instance(exec, store, clock, plan, opts, l.db, res, &seen).await?);
            }
        }
    }
    Ok(out)
}

/// One describe per kind for the region: the deployments to judge, the old instances whose
/// retention has elapsed, and their databases' pre-upgrade snapshots.
async fn observe(
    exec: &mut Executor,
    region: &str,
    dbs: &[Leftovers<'_>],
    retention: u32,
    now: Millis,
) -> Result<RegionSeen, LifecycleError> {
    let mut seen = RegionSeen::default();
    let names: Vec<String> = dbs
        .iter()
        .filter_map(|l| l.deployment.map(String::from))
        .collect();
    if !names.is_empty() {
        let q = BlueGreenQuery {
            names,
            identifiers: vec![],
        };
        let v = exec
            .describe_blue_green(region, &q)
            .await
            .map_err(backend_err("DescribeBlueGreenDeployments", region))?;
        seen.deployments = v.into_iter().map(|b| (b.name.clone(), b)).collect();
    }
    let due: Vec<(&PlannedDatabase, &ResourceRow)> = dbs
        .iter()
        .flat_map(|l| l.old.iter().map(move |r| (l.db, *r)))
        .filter(|(_, r)| retention_ends(r, retention).is_some_and(|t| now >= t))
        .collect();
    if due.is_empty() {
        return Ok(seen);
    }
    let q = InstanceQuery {
        identifiers: due.iter().map(|(_, r)| r.name.clone()).collect(),
        engines: vec![],
    };
    match exec.describe_instances(region, &q).await {
        Ok(v) => seen.instances = v.into_iter().map(|i| (i.identifier.clone(), i)).collect(),
        Err(e) if e.kind == ErrorKind::NotFound => {}
        Err(e) => return Err(backend_err("DescribeDBInstances", region)(e)),
    }
    let q = SnapshotQuery {
        snapshot_ids: due
            .iter()
            .filter_map(|(p, _)| p.resource_name(StepKind::Snapshot).map(String::from))
            .collect(),
        instance_ids: vec![],
    };
    match exec.describe_snapshots(region, &q).await {
        Ok(v) => {
            seen.snapshots_available = v
                .into_iter()
                .filter(|s| s.status == "available")
                .map(|s| s.identifier)
                .collect()
        }
        Err(e) if e.kind == ErrorKind::NotFound => {}
        Err(e) => return Err(backend_err("DescribeDBSnapshots", region)(e)),
    }
    Ok(seen)
}

/// The blue/green deployment object (its green side is production now).
async fn deployment(
    exec: &mut Executor,
    store: &mut Store,
    clock: &SharedClock,
    plan: &Plan,
    p: &PlannedDatabase,
    name: &str,
    seen: &RegionSeen,
) -> Result<Action, LifecycleError> {
    let id = p.identifier.as_str();
    Ok(
        match judge_deployment(seen.deployments.get(name), &plan.plan_id) {
            DeploymentVerdict::AlreadyGone => {
                store.set_resource(
                    &p.region,
                    ResourceKind::BlueGreen,
                    name,
                    ResourceStatus::Deleted,
                    None,
                    clock.now(),
                )?;
                act(id, name, Outcome::Deleted, "already gone")
            }
            DeploymentVerdict::NotOurs => act(
                id,
                name,
                Outcome::Skipped,
                "not tagged by this rdsfleet plan; left alone",
            ),
            DeploymentVerdict::Keep(status) => act(
                id,
                name,
                Outcome::Kept,
                format!("status {status}; only switched-over deployments are cleaned up"),
            ),
            DeploymentVerdict::Delete(identifier) => {
                let effect = Effect::DeleteBlueGreen {
                    region: p.region.clone(),
                    identifier: identifier.clone(),
                    delete_target: false,
                };
                let tracked = Tracked {
                    kind: ResourceKind::BlueGreen,
                    name: name.to_string(),
                    at_intent: ResourceStatus::Deleting,
                    on_ok: ResourceStatus::Deleted,
                    on_error: None,
                    detail: Some(identifier),
                };
                let done = exec
                    .perform(
                        store,
                        Intent::Event { db_id: None },
                        &effect,
                        Some(&tracked),
                    )
                    .await?;
                match done.result {
                    Ok(_) => act(
                        id,
                        name,
                        Outcome::Deleted,
                        "blue/green deployment object (production instances untouched)",
                    ),
                    Err(e) if e.kind == ErrorKind::NotFound => {
                        act(id, name, Outcome::Deleted, "already gone")
                    }
                    Err(e) => act(id, name, Outcome::Failed, e.to_string()),
                }
            }
        },
    )
}

/// The old instance: after retention, with the pre-upgrade snapshot there, with a final
/// snapshot, and never through deletion protection unless the operator said so.
#[allow(clippy::too_many_arguments)]
async fn old_instance(
    exec: &mut Executor,
    store: &mut Store,
    clock: &SharedClock,
    plan: &Plan,
    opts: &CleanupOptions,
    p: &PlannedDatabase,
    res: &ResourceRow,
    seen: &RegionSeen,
) -> Result<Action, LifecycleError> {
    let (id, old) = (p.identifier.as_str(), res.name.as_str());
    let retention = plan.settings.retention_hours;
    let due = retention_ends(res, retention).unwrap_or(Millis::MAX / 2);
    if clock.now() < due {
        let why = format!("retention {retention} h runs until {}", rfc3339(due));
        return Ok(act(id, old, Outcome::Kept, why));
    }
    let snap = p.resource_name(StepKind::Snapshot).unwrap_or_default();
    let snapshot_ok = seen.snapshots_available.iter().any(|s| s == snap);
    let verdict = judge_old_instance(
        seen.instances.get(old),
        &plan.plan_id,
        snapshot_ok,
        opts.disable_deletion_protection,
    );
    let unprotect = match verdict {
        OldVerdict::AlreadyGone => {
            let now = clock.now();
            let (k, s) = (ResourceKind::OldInstance, ResourceStatus::Deleted);
            store.set_resource(&p.region, k, old, s, None, now)?;
            return Ok(act(id, old, Outcome::Deleted, "already gone"));
        }
        OldVerdict::NotOurs => {
            let why = "not tagged by this rdsfleet plan; left alone";
            return Ok(act(id, old, Outcome::Skipped, why));
        }
        OldVerdict::NoSnapshot => {
            let why = format!(
                "pre-upgrade snapshot {snap} is not available; refusing to delete the old instance"
            );
            return Ok(act(id, old, Outcome::Kept, why));
        }
        OldVerdict::Protected => {
            let why = "deletion protection is on; left alone (pass --disable-deletion-protection to turn it off and delete)";
            return Ok(act(id, old, Outcome::Kept, why));
        }
        OldVerdict::Delete { unprotect } => unprotect,
    };
    if unprotect {
        if let Err(e) = unprotect_old(exec, store, clock, &p.region, old).await? {
            let why = format!("turning off deletion protection: {e}");
            return Ok(act(id, old, Outcome::Failed, why));
        }
    }
    let final_snap = naming::final_snapshot_name(&plan.plan_id, old);
    let effect = Effect::DeleteInstance {
        region: p.region.clone(),
        identifier: old.to_string(),
        final_snapshot: final_snap.clone(),
    };
    let tracked = Tracked {
        kind: ResourceKind::OldInstance,
        name: old.to_string(),
        at_intent: ResourceStatus::Deleting,
        on_ok: ResourceStatus::Deleted,
        on_error: Some(ResourceStatus::Kept),
        detail: None,
    };
    let done = exec
        .perform(
            store,
            Intent::Event { db_id: None },
            &effect,
            Some(&tracked),
        )
        .await?;
    Ok(match done.result {
        Err(e) if e.kind != ErrorKind::NotFound => act(id, old, Outcome::Failed, e.to_string()),
        _ => act(
            id,
            old,
            Outcome::Deleted,
            format!("final snapshot {final_snap}"),
        ),
    })
}

/// Turn deletion protection off on an old instance: only ever on the operator's explicit
/// flag, and said in the event log first.
async fn unprotect_old(
    exec: &mut Executor,
    store: &mut Store,
    clock: &SharedClock,
    region: &str,
    old: &str,
) -> Result<crate::backend::BResult<()>, LifecycleError> {
    let effect = Effect::SetDeletionProtection {
        region: region.to_string(),
        identifier: old.to_string(),
        enabled: false,
    };
    store.event(
        None,
        None,
        "deletion-protection-off",
        &format!("turning off deletion protection on {old} (operator flag)"),
        clock.now(),
    )?;
    let done = exec
        .perform(store, Intent::Event { db_id: None }, &effect, None)
        .await?;
    Ok(done.result.map(|_| ()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{managed_tags, Tags};

    fn bg(status: BgStatus, tags: Tags) -> BlueGreen {
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

    #[test]
    fn deployments_are_deleted_only_when_ours_and_switched_over() {
        let ours = managed_tags("p1");
        let check = |found: Option<&BlueGreen>, want: DeploymentVerdict| {
            assert_eq!(judge_deployment(found, "p1"), want);
        };
        check(None, DeploymentVerdict::AlreadyGone);
        check(
            Some(&bg(BgStatus::SwitchoverCompleted, managed_tags("other"))),
            DeploymentVerdict::NotOurs,
        );
        check(
            Some(&bg(BgStatus::SwitchoverCompleted, Tags::new())),
            DeploymentVerdict::NotOurs,
        );
        check(
            Some(&bg(BgStatus::Available, ours.clone())),
            DeploymentVerdict::Keep(BgStatus::Available),
        );
        check(
            Some(&bg(BgStatus::SwitchoverCompleted, ours)),
            DeploymentVerdict::Delete("bgd-1".into()),
        );
    }

    #[test]
    fn old_instances_need_our_tag_the_snapshot_and_an_explicit_flag_for_protection() {
        let inst = |tags: Tags, dp: bool| {
            let mut i: DbInstance =
                serde_json::from_value(serde_json::json!({"region": "r", "identifier": "a-old1",
                "arn": "x", "engine": "mysql", "engine_version": "5.7.44", "status": "available",
                "instance_class": "db.r5.large"}))
                .unwrap();
            i.tags = tags;
            i.deletion_protection = dp;
            i
        };
        let ours = managed_tags("p1");
        let check = |found: Option<&DbInstance>, snap: bool, flag: bool, want: OldVerdict| {
            assert_eq!(judge_old_instance(found, "p1", snap, flag), want);
        };
        check(None, true, false, OldVerdict::AlreadyGone);
        check(
            Some(&inst(Tags::new(), false)),
            true,
            true,
            OldVerdict::NotOurs,
        );
        check(
            Some(&inst(ours.clone(), false)),
            false,
            true,
            OldVerdict::NoSnapshot,
        );
        check(
            Some(&inst(ours.clone(), true)),
            true,
            false,
            OldVerdict::Protected,
        );
        check(
            Some(&inst(ours.clone(), true)),
            true,
            true,
            OldVerdict::Delete { unprotect: true },
        );
        check(
            Some(&inst(ours, false)),
            true,
            false,
            OldVerdict::Delete { unprotect: false },
        );
    }

    #[test]
    fn retention_runs_from_the_switchover() {
        let detail = OldInstance {
            source: "a".into(),
            replica_of: None,
            from_version: "5.7.44".into(),
            switched_at: 1_000,
            verified_at: 2_000,
        };
        let row = ResourceRow {
            region: "r".into(),
            kind: ResourceKind::OldInstance,
            name: "a-old1".into(),
            status: ResourceStatus::Kept,
            detail: Some(serde_json::to_string(&detail).unwrap()),
        };
        assert_eq!(retention_ends(&row, 72), Some(1_000 + 72 * 3_600_000));
        assert_eq!(old_instance_source(&row).as_deref(), Some("a"));
        let blank = ResourceRow {
            detail: None,
            ..row
        };
        assert_eq!(retention_ends(&blank, 72), None, "no record: kept forever");
    }
}
