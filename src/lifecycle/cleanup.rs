//! `cleanup`: delete finished deployments' leftovers - the blue/green deployment object at
//! once; after the retention, the old read replicas (`<replica>-oldN`, which a switchover
//! renames and leaves running) and then the old instance they replicate.
//!
//! Order matters: an old instance is deleted only once no read replica is attached to it any
//! more, because deleting a source promotes its replicas to standalone, writable instances
//! (RDS User Guide, "Working with DB instance read replicas"). So a run deletes the replicas
//! and keeps their source; the next run, once they are gone, deletes the source.

use super::{act, backend_err, executor, Action, Budget, LifecycleError, Outcome};
use crate::backend::{BlueGreenQuery, ErrorKind, InstanceQuery, RdsBackend, SnapshotQuery};
use crate::clock::{rfc3339, Millis, SharedClock};
use crate::domain::{arn_resource_id, is_managed, BgStatus, BlueGreen, DbInstance, ReadReplica};
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
    /// Already `deleting` (an earlier run's call, or someone else's): nothing to call.
    Deleting,
    /// Read replicas are still attached: deleting it would promote them. Kept until they are
    /// gone (cleanup deletes the ones this plan recorded and tagged first).
    ReplicasAttached(Vec<String>),
    /// The pre-upgrade snapshot is not available: it is the other half of the rollback path.
    NoSnapshot,
    /// Deletion protection is on and the operator did not ask to turn it off.
    Protected,
    /// Delete it with a final snapshot (turning deletion protection off first when asked).
    Delete {
        unprotect: bool,
    },
}

/// Judge an old instance once its retention has elapsed. `replicas` are the read replicas
/// still attached to it (as described now).
pub fn judge_old_instance(
    found: Option<&DbInstance>,
    plan_id: &str,
    replicas: &[String],
    snapshot_available: bool,
    disable_deletion_protection: bool,
) -> OldVerdict {
    match found {
        None => OldVerdict::AlreadyGone,
        Some(i) if !is_managed(&i.tags, Some(plan_id)) => OldVerdict::NotOurs,
        Some(i) if i.status == "deleting" => OldVerdict::Deleting,
        Some(_) if !replicas.is_empty() => OldVerdict::ReplicasAttached(replicas.to_vec()),
        Some(_) if !snapshot_available => OldVerdict::NoSnapshot,
        Some(i) if i.deletion_protection && !disable_deletion_protection => OldVerdict::Protected,
        Some(i) => OldVerdict::Delete {
            unprotect: i.deletion_protection,
        },
    }
}

/// What to do with an old read replica whose retention has elapsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplicaVerdict {
    AlreadyGone,
    NotOurs,
    Deleting,
    /// It is not a read replica any more: someone promoted it, or deleted its source (which
    /// promotes it). Left alone, deliberately: a promoted replica is a standalone, writable
    /// database that may hold writes made since, and promoting one is an operator's act (this
    /// cleanup never deletes a source while a replica is attached). rdsfleet's snapshot-less
    /// replica delete is not for it, and deleting someone's new primary is not cleanup.
    Promoted,
    /// The source's pre-upgrade snapshot, which holds the replica's data, is not available.
    NoSnapshot,
    Protected,
    /// Delete it without a final snapshot (RDS takes none for a replica).
    Delete {
        replica: ReadReplica,
        unprotect: bool,
    },
}

/// Judge an old read replica once its retention has elapsed.
pub fn judge_old_replica(
    found: Option<&DbInstance>,
    plan_id: &str,
    snapshot_available: bool,
    disable_deletion_protection: bool,
) -> ReplicaVerdict {
    let Some(i) = found else {
        return ReplicaVerdict::AlreadyGone;
    };
    if !is_managed(&i.tags, Some(plan_id)) {
        return ReplicaVerdict::NotOurs;
    }
    if i.status == "deleting" {
        return ReplicaVerdict::Deleting;
    }
    match ReadReplica::of(i) {
        None => ReplicaVerdict::Promoted,
        Some(_) if !snapshot_available => ReplicaVerdict::NoSnapshot,
        Some(_) if i.deletion_protection && !disable_deletion_protection => {
            ReplicaVerdict::Protected
        }
        Some(replica) => ReplicaVerdict::Delete {
            replica,
            unprotect: i.deletion_protection,
        },
    }
}

/// The read replicas attached to `old`: its own list, and any described instance that names
/// it as its source (either is enough to keep it).
pub fn attached_replicas<'a>(
    old: &DbInstance,
    described: impl IntoIterator<Item = &'a DbInstance>,
) -> Vec<String> {
    let mut v: Vec<String> = old
        .read_replicas
        .iter()
        .map(|r| arn_resource_id(r).to_string())
        .collect();
    for i in described {
        let src = i.read_replica_source.as_deref().map(arn_resource_id);
        if src == Some(old.identifier.as_str()) {
            v.push(i.identifier.clone());
        }
    }
    v.sort();
    v.dedup();
    v
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

/// Delete finished deployments' leftovers: the blue/green deployment object, and once the
/// retention has elapsed the old read replicas (no final snapshot), then the old instance
/// (with a final snapshot).
pub async fn cleanup(
    backend: Arc<dyn RdsBackend>,
    store: &mut Store,
    clock: &SharedClock,
    opts: &CleanupOptions,
) -> Result<Vec<Action>, LifecycleError> {
    let plan = store.plan()?;
    store.acquire_lock(clock.now())?;
    let mut exec = executor(backend, clock, opts.budget);
    let mut cx = Cx {
        exec: &mut exec,
        store,
        clock,
        opts,
        plan: &plan,
    };
    let r = cx.run().await;
    store.release_lock()?;
    r
}

/// A finished database with what is left of it.
struct Leftovers<'a> {
    db: &'a PlannedDatabase,
    deployment: Option<&'a str>,
    /// Old read replicas (`ResourceKind::OldReplica`), deleted before `old`.
    replicas: Vec<&'a ResourceRow>,
    old: Vec<&'a ResourceRow>,
}

impl Leftovers<'_> {
    fn instances(&self) -> impl Iterator<Item = &ResourceRow> {
        self.replicas.iter().chain(&self.old).copied()
    }
}

/// What one region looks like, in three batched describes.
#[derive(Default)]
struct RegionSeen {
    deployments: HashMap<String, BlueGreen>,
    instances: HashMap<String, DbInstance>,
    snapshots_available: Vec<String>,
}

/// One cleanup run.
struct Cx<'a> {
    exec: &'a mut Executor,
    store: &'a mut Store,
    clock: &'a SharedClock,
    opts: &'a CleanupOptions,
    plan: &'a Plan,
}

/// The rows of `kind` recorded for database `p` that are not deleted yet.
fn recorded<'r>(
    resources: &'r [ResourceRow],
    kind: ResourceKind,
    p: &PlannedDatabase,
) -> Vec<&'r ResourceRow> {
    resources
        .iter()
        .filter(|r| {
            r.kind == kind
                && r.region == p.region
                && r.status != ResourceStatus::Deleted
                && old_instance_source(r).as_deref() == Some(p.identifier.as_str())
        })
        .collect()
}

impl Cx<'_> {
    async fn run(&mut self) -> Result<Vec<Action>, LifecycleError> {
        let plan = self.plan;
        let rows = self.store.databases()?;
        let resources = self.store.resources()?;
        let mut regions: BTreeMap<&str, Vec<Leftovers>> = BTreeMap::new();
        for row in rows.iter().filter(|r| r.state == DbState::Done) {
            let p = &plan.databases[row.id as usize];
            let Some(bg_name) = p.resource_name(StepKind::CreateBlueGreen) else {
                continue; // replicas, out-of-band upgrades: nothing of ours to clean
            };
            let deployment_deleted = resources.iter().any(|r| {
                r.kind == ResourceKind::BlueGreen
                    && r.region == p.region
                    && r.name == bg_name
                    && r.status == ResourceStatus::Deleted
            });
            regions.entry(&p.region).or_default().push(Leftovers {
                db: p,
                deployment: (!deployment_deleted).then_some(bg_name),
                replicas: recorded(&resources, ResourceKind::OldReplica, p),
                old: recorded(&resources, ResourceKind::OldInstance, p),
            });
        }
        let mut out = Vec::new();
        for (region, dbs) in regions {
            let seen = self.observe(region, &dbs).await?;
            for l in &dbs {
                if let Some(name) = l.deployment {
                    out.push(self.deployment(l.db, name, &seen).await?);
                }
                // Replicas first: their source must outlive them.
                for res in &l.replicas {
                    out.push(self.old_replica(l.db, res, &seen).await?);
                }
                for res in &l.old {
                    out.push(self.old_instance(l.db, res, &seen).await?);
                }
            }
        }
        Ok(out)
    }

    /// One describe per kind for the region: the deployments to judge, the old instances and
    /// old replicas whose retention has elapsed, and their databases' pre-upgrade snapshots.
    async fn observe(
        &mut self,
        region: &str,
        dbs: &[Leftovers<'_>],
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
            let v = self
                .exec
                .describe_blue_green(region, &q)
                .await
                .map_err(backend_err("DescribeBlueGreenDeployments", region))?;
            seen.deployments = v.into_iter().map(|b| (b.name.clone(), b)).collect();
        }
        let (retention, now) = (self.plan.settings.retention_hours, self.clock.now());
        let due: Vec<(&PlannedDatabase, &ResourceRow)> = dbs
            .iter()
            .flat_map(|l| l.instances().map(move |r| (l.db, r)))
            .filter(|(_, r)| retention_ends(r, retention).is_some_and(|t| now >= t))
            .collect();
        if due.is_empty() {
            return Ok(seen);
        }
        let q = InstanceQuery {
            identifiers: due.iter().map(|(_, r)| r.name.clone()).collect(),
            engines: vec![],
        };
        match self.exec.describe_instances(region, &q).await {
            Ok(v) => seen.instances = v.into_iter().map(|i| (i.identifier.clone(), i)).collect(),
            Err(e) if e.kind == ErrorKind::NotFound => {}
            Err(e) => return Err(backend_err("DescribeDBInstances", region)(e)),
        }
        let mut snapshot_ids: Vec<String> = due
            .iter()
            .filter_map(|(p, _)| p.resource_name(StepKind::Snapshot).map(String::from))
            .collect();
        snapshot_ids.dedup();
        let q = SnapshotQuery {
            snapshot_ids,
            instance_ids: vec![],
        };
        match self.exec.describe_snapshots(region, &q).await {
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
        &mut self,
        p: &PlannedDatabase,
        name: &str,
        seen: &RegionSeen,
    ) -> Result<Action, LifecycleError> {
        let id = p.identifier.as_str();
        let identifier = match judge_deployment(seen.deployments.get(name), &self.plan.plan_id) {
            DeploymentVerdict::AlreadyGone => {
                self.gone(&p.region, ResourceKind::BlueGreen, name)?;
                return Ok(act(id, name, Outcome::Deleted, "already gone"));
            }
            DeploymentVerdict::NotOurs => {
                let why = "not tagged by this rdsfleet plan; left alone";
                return Ok(act(id, name, Outcome::Skipped, why));
            }
            DeploymentVerdict::Keep(status) => {
                let why = format!("status {status}; only switched-over deployments are cleaned up");
                return Ok(act(id, name, Outcome::Kept, why));
            }
            DeploymentVerdict::Delete(identifier) => identifier,
        };
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
        let intent = Intent::Event { db_id: None };
        let done = self
            .exec
            .perform(self.store, intent, &effect, Some(&tracked))
            .await?;
        Ok(match done.result {
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
        })
    }

    /// Why `res` stays while its retention runs (`None`: it has elapsed).
    fn retention_hold(&self, res: &ResourceRow) -> Option<String> {
        let retention = self.plan.settings.retention_hours;
        let due = retention_ends(res, retention).unwrap_or(Millis::MAX / 2);
        (self.clock.now() < due)
            .then(|| format!("retention {retention} h runs until {}", rfc3339(due)))
    }

    /// An old read replica: after retention, tagged by this plan, still a replica, without a
    /// final snapshot (RDS refuses one for a replica; the source's pre-upgrade snapshot holds
    /// its data), and before its source.
    async fn old_replica(
        &mut self,
        p: &PlannedDatabase,
        res: &ResourceRow,
        seen: &RegionSeen,
    ) -> Result<Action, LifecycleError> {
        let (id, name) = (p.identifier.as_str(), res.name.as_str());
        if let Some(why) = self.retention_hold(res) {
            return Ok(act(id, name, Outcome::Kept, why));
        }
        let (flag, snap_ok) = (self.opts.disable_deletion_protection, snapshot_ok(p, seen));
        let found = seen.instances.get(name);
        let verdict = judge_old_replica(found, &self.plan.plan_id, snap_ok, flag);
        let (replica, unprotect) = match verdict {
            ReplicaVerdict::AlreadyGone => {
                self.gone(&p.region, ResourceKind::OldReplica, name)?;
                return Ok(act(id, name, Outcome::Deleted, "already gone"));
            }
            ReplicaVerdict::NotOurs => {
                let why = "not tagged by this rdsfleet plan; left alone (its source stays while it is attached)";
                return Ok(act(id, name, Outcome::Skipped, why));
            }
            ReplicaVerdict::Deleting => {
                return Ok(act(
                    id,
                    name,
                    Outcome::Kept,
                    "being deleted (status deleting)",
                ))
            }
            ReplicaVerdict::Promoted => return Ok(act(id, name, Outcome::Kept, promoted(name))),
            ReplicaVerdict::NoSnapshot => {
                return Ok(act(id, name, Outcome::Kept, no_snapshot(p, name)))
            }
            ReplicaVerdict::Protected => {
                return Ok(act(id, name, Outcome::Kept, PROTECTED));
            }
            ReplicaVerdict::Delete { replica, unprotect } => (replica, unprotect),
        };
        let source = replica.source().to_string();
        let effect = Effect::DeleteReadReplica {
            region: p.region.clone(),
            replica,
        };
        let r = self
            .delete(&p.region, ResourceKind::OldReplica, name, effect, unprotect)
            .await?;
        let snap = p.resource_name(StepKind::Snapshot).unwrap_or_default();
        Ok(match r {
            Ok(()) => act(
                id,
                name,
                Outcome::Deleted,
                format!("read replica of {source}, no final snapshot (RDS takes none for a replica; its data is in {snap})"),
            ),
            Err(e) if is_not_a_read_replica(&e) => act(id, name, Outcome::Kept, promoted(name)),
            Err(e) => act(id, name, Outcome::Failed, e.to_string()),
        })
    }

    /// The old instance: after retention, with the pre-upgrade snapshot there, once no read
    /// replica is attached, with a final snapshot, and never through deletion protection
    /// unless the operator said so.
    async fn old_instance(
        &mut self,
        p: &PlannedDatabase,
        res: &ResourceRow,
        seen: &RegionSeen,
    ) -> Result<Action, LifecycleError> {
        let (id, old) = (p.identifier.as_str(), res.name.as_str());
        if let Some(why) = self.retention_hold(res) {
            return Ok(act(id, old, Outcome::Kept, why));
        }
        let found = seen.instances.get(old);
        let replicas = found
            .map(|i| attached_replicas(i, seen.instances.values()))
            .unwrap_or_default();
        let (flag, snap_ok) = (self.opts.disable_deletion_protection, snapshot_ok(p, seen));
        let verdict = judge_old_instance(found, &self.plan.plan_id, &replicas, snap_ok, flag);
        let unprotect = match verdict {
            OldVerdict::AlreadyGone => {
                self.gone(&p.region, ResourceKind::OldInstance, old)?;
                return Ok(act(id, old, Outcome::Deleted, "already gone"));
            }
            OldVerdict::NotOurs => {
                let why = "not tagged by this rdsfleet plan; left alone";
                return Ok(act(id, old, Outcome::Skipped, why));
            }
            OldVerdict::Deleting => {
                return Ok(act(
                    id,
                    old,
                    Outcome::Kept,
                    "being deleted (status deleting)",
                ))
            }
            OldVerdict::ReplicasAttached(r) => {
                let why = format!(
                    "read replica(s) {} still attached: deleting a source promotes its replicas, so it is deleted once they are gone (re-run cleanup)",
                    r.join(", ")
                );
                return Ok(act(id, old, Outcome::Kept, why));
            }
            OldVerdict::NoSnapshot => return Ok(act(id, old, Outcome::Kept, no_snapshot(p, old))),
            OldVerdict::Protected => return Ok(act(id, old, Outcome::Kept, PROTECTED)),
            OldVerdict::Delete { unprotect } => unprotect,
        };
        let final_snap = naming::final_snapshot_name(&self.plan.plan_id, old);
        let effect = Effect::DeleteInstance {
            region: p.region.clone(),
            identifier: old.to_string(),
            final_snapshot: final_snap.clone(),
        };
        let r = self
            .delete(&p.region, ResourceKind::OldInstance, old, effect, unprotect)
            .await?;
        Ok(match r {
            Ok(()) => act(
                id,
                old,
                Outcome::Deleted,
                format!("final snapshot {final_snap}"),
            ),
            Err(e) => act(id, old, Outcome::Failed, e.to_string()),
        })
    }

    /// Record a tracked resource as gone (found missing).
    fn gone(&mut self, region: &str, kind: ResourceKind, name: &str) -> Result<(), LifecycleError> {
        let now = self.clock.now();
        let s = ResourceStatus::Deleted;
        Ok(self.store.set_resource(region, kind, name, s, None, now)?)
    }

    /// Delete a tracked instance (`deleting` -> `deleted`, back to `kept` on an error), turning
    /// its deletion protection off first when the operator asked. `NotFound` is success.
    async fn delete(
        &mut self,
        region: &str,
        kind: ResourceKind,
        name: &str,
        effect: Effect,
        unprotect: bool,
    ) -> Result<Result<(), crate::backend::BackendError>, LifecycleError> {
        if unprotect {
            if let Err(mut e) = self.unprotect(region, name).await? {
                e.message = format!("turning off deletion protection: {}", e.message);
                return Ok(Err(e));
            }
        }
        let tracked = Tracked {
            kind,
            name: name.to_string(),
            at_intent: ResourceStatus::Deleting,
            on_ok: ResourceStatus::Deleted,
            on_error: Some(ResourceStatus::Kept),
            detail: None,
        };
        let intent = Intent::Event { db_id: None };
        let done = self
            .exec
            .perform(self.store, intent, &effect, Some(&tracked))
            .await?;
        Ok(match done.result {
            Err(e) if e.kind != ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        })
    }

    /// Turn deletion protection off on an old instance or replica: only ever on the
    /// operator's explicit flag, and said in the event log first.
    async fn unprotect(
        &mut self,
        region: &str,
        name: &str,
    ) -> Result<crate::backend::BResult<()>, LifecycleError> {
        let effect = Effect::SetDeletionProtection {
            region: region.to_string(),
            identifier: name.to_string(),
            enabled: false,
        };
        self.store.event(
            None,
            None,
            "deletion-protection-off",
            &format!("turning off deletion protection on {name} (operator flag)"),
            self.clock.now(),
        )?;
        let intent = Intent::Event { db_id: None };
        let done = self.exec.perform(self.store, intent, &effect, None).await?;
        Ok(done.result.map(|_| ()))
    }
}

const PROTECTED: &str = "deletion protection is on; left alone (pass --disable-deletion-protection to turn it off and delete)";

fn promoted(name: &str) -> String {
    format!(
        "{name} is no longer a read replica (promoted, or its source was deleted by hand): it is a standalone database now and may hold writes, so cleanup leaves it alone; if it is not needed, delete it yourself with a final snapshot"
    )
}

/// Is the database's pre-upgrade snapshot available? It is the rollback copy of the old
/// instance and of its replicas' data alike.
fn snapshot_ok(p: &PlannedDatabase, seen: &RegionSeen) -> bool {
    let snap = p.resource_name(StepKind::Snapshot).unwrap_or_default();
    seen.snapshots_available.iter().any(|s| s == snap)
}

fn no_snapshot(p: &PlannedDatabase, name: &str) -> String {
    let snap = p.resource_name(StepKind::Snapshot).unwrap_or_default();
    format!("pre-upgrade snapshot {snap} is not available; refusing to delete {name}")
}

/// The refusal of `delete_read_replica` for an instance that stopped being a replica between
/// the describe and the call (the backends' one constructor says what it looks like).
fn is_not_a_read_replica(e: &crate::backend::BackendError) -> bool {
    let r = crate::backend::not_a_read_replica("");
    e.kind == r.kind && e.code == r.code
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{managed_tags, Tags};

    use super::super::test_support::bg;

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

    /// An instance as a describe returns it: `a-old1` (a primary) or, with `source`, a replica.
    fn inst(name: &str, tags: Tags, dp: bool, source: Option<&str>) -> DbInstance {
        let mut i: DbInstance = serde_json::from_value(serde_json::json!({"region": "r",
            "identifier": name, "arn": format!("arn:aws:rds:r:1:db:{name}"), "engine": "mysql",
            "engine_version": "5.7.44", "status": "available", "instance_class": "db.r5.large"}))
        .unwrap();
        i.tags = tags;
        i.deletion_protection = dp;
        i.read_replica_source = source.map(String::from);
        i
    }

    /// What a verdict looks like, for both kinds: the variant's name, and for a delete whether
    /// protection is turned off first.
    fn verdict_of(v: &Either) -> String {
        match v {
            Either::Old(OldVerdict::Delete { unprotect }) => {
                format!("delete unprotect={unprotect}")
            }
            Either::Old(OldVerdict::ReplicasAttached(r)) => format!("replicas {}", r.join(",")),
            Either::Old(o) => format!("{o:?}"),
            Either::Replica(ReplicaVerdict::Delete { replica, unprotect }) => {
                format!(
                    "delete-replica {} unprotect={unprotect}",
                    replica.identifier()
                )
            }
            Either::Replica(r) => format!("{r:?}"),
        }
    }

    enum Either {
        Old(OldVerdict),
        Replica(ReplicaVerdict),
    }

    /// One case: the instance as described (`None`: gone), the attached replicas for a primary,
    /// whether the pre-upgrade snapshot is available and whether the operator passed
    /// `--disable-deletion-protection`.
    struct Case<'a> {
        found: Option<DbInstance>,
        replicas: &'a [&'a str],
        snap: bool,
        flag: bool,
    }

    fn check(kind: ResourceKind, c: Case, want: &str) {
        let found = c.found.as_ref();
        let v = if kind == ResourceKind::OldReplica {
            Either::Replica(judge_old_replica(found, "p1", c.snap, c.flag))
        } else {
            let replicas: Vec<String> = c.replicas.iter().map(|s| s.to_string()).collect();
            Either::Old(judge_old_instance(found, "p1", &replicas, c.snap, c.flag))
        };
        assert_eq!(verdict_of(&v), want, "{:?}", c.found.map(|i| i.identifier));
    }

    #[test]
    fn old_instances_and_replicas_need_our_tag_the_snapshot_and_the_flag_replicas_first() {
        const OLD: ResourceKind = ResourceKind::OldInstance;
        const REPLICA: ResourceKind = ResourceKind::OldReplica;
        let ours = || managed_tags("p1");
        let case = |found: Option<DbInstance>, snap: bool, flag: bool| Case {
            found,
            replicas: &[],
            snap,
            flag,
        };
        let primary = |tags: Tags, dp: bool| Some(inst("a-old1", tags, dp, None));
        let replica = |tags: Tags, dp: bool| Some(inst("r-old1", tags, dp, Some("a-old1")));
        // The old primary.
        check(OLD, case(None, true, false), "AlreadyGone");
        check(
            OLD,
            case(primary(Tags::new(), false), true, true),
            "NotOurs",
        );
        check(
            OLD,
            case(primary(managed_tags("p2"), false), true, true),
            "NotOurs",
        );
        check(OLD, case(primary(ours(), false), false, true), "NoSnapshot");
        check(OLD, case(primary(ours(), true), true, false), "Protected");
        check(
            OLD,
            case(primary(ours(), true), true, true),
            "delete unprotect=true",
        );
        check(
            OLD,
            case(primary(ours(), false), true, false),
            "delete unprotect=false",
        );
        let mut deleting = primary(ours(), false);
        deleting.as_mut().unwrap().status = "deleting".into();
        check(OLD, case(deleting, true, false), "Deleting");
        // Never while a replica is attached, even one that is not ours (deleting the source
        // would promote it), and whatever else holds.
        let attached = Case {
            replicas: &["r-old1", "x"],
            ..case(primary(ours(), false), true, true)
        };
        check(OLD, attached, "replicas r-old1,x");
        // An old read replica: no snapshot of its own, but the source's pre-upgrade snapshot
        // must be there; our tag; protection only with the flag.
        check(
            REPLICA,
            case(replica(Tags::new(), false), true, true),
            "NotOurs",
        );
        check(
            REPLICA,
            case(replica(ours(), false), false, true),
            "NoSnapshot",
        );
        check(
            REPLICA,
            case(replica(ours(), true), true, false),
            "Protected",
        );
        check(
            REPLICA,
            case(replica(ours(), true), true, true),
            "delete-replica r-old1 unprotect=true",
        );
        check(
            REPLICA,
            case(replica(ours(), false), true, false),
            "delete-replica r-old1 unprotect=false",
        );
        check(REPLICA, case(None, true, true), "AlreadyGone");
        let mut deleting = replica(ours(), false);
        deleting.as_mut().unwrap().status = "deleting".into();
        check(REPLICA, case(deleting, true, true), "Deleting");
        // Promoted meanwhile (no source any more): a standalone database now, left alone.
        check(
            REPLICA,
            case(Some(inst("r-old1", ours(), false, None)), true, true),
            "Promoted",
        );
    }

    #[test]
    fn a_source_is_held_by_its_own_replica_list_and_by_replicas_naming_it() {
        let mut old = inst("a-old1", managed_tags("p1"), false, None);
        let by_source = inst(
            "r2-old1",
            Tags::new(),
            false,
            Some("arn:aws:rds:r:1:db:a-old1"),
        );
        let elsewhere = inst("z", Tags::new(), false, Some("b-old1"));
        assert!(attached_replicas(&old, [&by_source, &elsewhere]) == vec!["r2-old1".to_string()]);
        old.read_replicas = vec!["arn:aws:rds:r:1:db:r1-old1".into(), "r2-old1".into()];
        assert_eq!(
            attached_replicas(&old, [&by_source]),
            vec!["r1-old1".to_string(), "r2-old1".to_string()]
        );
        assert!(attached_replicas(&inst("b", Tags::new(), false, None), [&by_source]).is_empty());
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
