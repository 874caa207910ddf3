//! `abort`: undo the upgrade of databases that have not switched over - delete the deployment
//! with its green side, and parameter groups this plan created that nothing uses any more.
//! After switchover it changes nothing and says how to roll back.
//!
//! Deleting the green side (`DeleteBlueGreenDeployment` with `DeleteTarget=true`) needs two
//! things of each green instance first, both done here, recorded, and only on greens of a
//! deployment this plan created and tagged (never on blue):
//! - **deletion protection off**: green copies blue's setting, and AWS refuses `DeleteTarget`
//!   while a green instance has it ("If you choose to delete the DB instances in the green
//!   environment, they must have deletion protection turned off", RDS User Guide, "Deleting a
//!   blue/green deployment");
//! - **this plan's tags**: green copies *blue's* tags, not the deployment's, and the IAM policy
//!   rdsfleet prints allows deletes only of resources tagged `rdsfleet:managed=true`.
//!
//! If the delete then fails, protection is turned back on, so a database whose abort failed and
//! is later resumed does not reach production unprotected.

use super::{act, backend_err, executor, Action, Budget, LifecycleError, Outcome};
use crate::backend::{BlueGreenQuery, ErrorKind, InstanceQuery, RdsBackend};
use crate::clock::SharedClock;
use crate::domain::{
    arn_resource_id, is_managed, managed_tags, BgStatus, BlueGreen, DbInstance, Tags,
};
use crate::effects::{Effect, Executor, Intent, Tracked};
use crate::plan::{Plan, PlannedDatabase, StepKind};
use crate::state::{DbState, ResourceKind, ResourceStatus, StepStatus};
use crate::store::{DbRow, DbWhy, Store};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// What abort does to one database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AbortVerdict {
    /// Already switched over: change nothing, explain the rollback path.
    Switched,
    /// A switchover call may be in flight (intent recorded, outcome unknown).
    SwitchoverUnknown,
    /// The deployment under our name is not tagged by this plan: leave it alone.
    NotOurs,
    /// Delete this deployment with its green instances, then mark the database aborted.
    Delete(String),
    /// No deployment (not created yet, or already gone): mark the database aborted.
    NothingToDelete,
}

/// Judge one database from its state row and its deployment as described now.
pub fn judge(row: &DbRow, found: Option<&BlueGreen>, plan_id: &str) -> AbortVerdict {
    let switchover = row.steps.iter().find(|s| s.kind == StepKind::Switchover);
    let switched = switchover
        .is_some_and(|s| matches!(s.status, StepStatus::Done | StepStatus::Waiting))
        || row.state == DbState::Done
        || found.is_some_and(|b| {
            matches!(
                b.status,
                BgStatus::SwitchoverInProgress | BgStatus::SwitchoverCompleted
            )
        });
    if switched {
        return AbortVerdict::Switched;
    }
    if switchover.is_some_and(|s| s.status == StepStatus::Started) {
        return AbortVerdict::SwitchoverUnknown;
    }
    match found {
        None => AbortVerdict::NothingToDelete,
        Some(bg) if !is_managed(&bg.tags, Some(plan_id)) => AbortVerdict::NotOurs,
        Some(bg) => AbortVerdict::Delete(bg.identifier.clone()),
    }
}

/// What one green instance needs before `DeleteTarget`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GreenPrep {
    pub identifier: String,
    pub arn: String,
    /// It lacks this plan's tags.
    pub tag: bool,
    /// It has deletion protection on.
    pub unprotect: bool,
}

/// The green instances of `bg` (as described now) that need tagging or their deletion
/// protection off before `DeleteTarget`. Nothing for a deployment this plan did not tag, and
/// never an instance of the blue side.
pub fn judge_greens(
    bg: &BlueGreen,
    described: &HashMap<String, DbInstance>,
    plan_id: &str,
) -> Vec<GreenPrep> {
    if !is_managed(&bg.tags, Some(plan_id)) {
        return vec![];
    }
    let blue: Vec<&str> = std::iter::once(bg.source.as_str())
        .chain(
            bg.switchover_details
                .iter()
                .map(|m| m.source_member.as_str()),
        )
        .map(arn_resource_id)
        .collect();
    bg.target_identifiers()
        .iter()
        .filter(|g| !blue.contains(&g.as_str()))
        .filter_map(|g| described.get(g))
        .map(|i| GreenPrep {
            identifier: i.identifier.clone(),
            arn: i.arn.clone(),
            tag: !is_managed(&i.tags, Some(plan_id)),
            unprotect: i.deletion_protection,
        })
        .filter(|g| g.tag || g.unprotect)
        .collect()
}

/// Abort the upgrade of the given databases (all unfinished ones when `identifiers` is empty).
/// Before switchover: delete the deployment with its green side, and parameter groups this
/// plan created that nothing else uses; mark the database aborted. After switchover: change
/// nothing and explain the rollback path.
pub async fn abort(
    backend: Arc<dyn RdsBackend>,
    store: &mut Store,
    clock: &SharedClock,
    identifiers: &[String],
    budget: Budget,
) -> Result<Vec<Action>, LifecycleError> {
    let plan = store.plan()?;
    store.acquire_lock(clock.now())?;
    let mut exec = executor(backend, clock, budget);
    let mut cx = Cx {
        exec: &mut exec,
        store,
        clock,
        plan: &plan,
    };
    let r = cx.run(identifiers).await;
    store.release_lock()?;
    r
}

/// One abort run.
struct Cx<'a> {
    exec: &'a mut Executor,
    store: &'a mut Store,
    clock: &'a SharedClock,
    plan: &'a Plan,
}

impl Cx<'_> {
    async fn run(&mut self, identifiers: &[String]) -> Result<Vec<Action>, LifecycleError> {
        let plan = self.plan;
        let rows = self.store.databases()?;
        for id in identifiers {
            if !rows.iter().any(|r| &r.identifier == id) {
                return Err(LifecycleError::UnknownDatabase(id.clone()));
            }
        }
        let mut regions: BTreeMap<&str, Vec<&DbRow>> = BTreeMap::new();
        for r in rows.iter().filter(|r| {
            let chosen = if identifiers.is_empty() {
                !r.state.is_terminal() || r.state == DbState::Failed
            } else {
                identifiers.contains(&r.identifier)
            };
            chosen && plan.databases[r.id as usize].is_actionable()
        }) {
            regions.entry(&r.region).or_default().push(r);
        }
        let mut out = Vec::new();
        for (region, selected) in regions {
            let found = self.deployments(region, &selected).await?;
            let greens = self.greens(region, &selected, &found).await?;
            for row in selected {
                let p = &plan.databases[row.id as usize];
                let bg = p
                    .resource_name(StepKind::CreateBlueGreen)
                    .and_then(|n| found.get(n));
                out.extend(self.one(row, p, bg, &greens).await?);
            }
        }
        out.extend(unused_groups(self.exec, self.store, plan).await?);
        Ok(out)
    }

    /// The deployments of the selected databases of a region, in one describe.
    async fn deployments(
        &mut self,
        region: &str,
        selected: &[&DbRow],
    ) -> Result<HashMap<String, BlueGreen>, LifecycleError> {
        let names: Vec<String> = selected
            .iter()
            .filter_map(|r| {
                self.plan.databases[r.id as usize]
                    .resource_name(StepKind::CreateBlueGreen)
                    .map(String::from)
            })
            .collect();
        if names.is_empty() {
            return Ok(HashMap::new());
        }
        let q = BlueGreenQuery {
            names,
            identifiers: vec![],
        };
        let v = self
            .exec
            .describe_blue_green(region, &q)
            .await
            .map_err(backend_err("DescribeBlueGreenDeployments", region))?;
        Ok(v.into_iter().map(|b| (b.name.clone(), b)).collect())
    }

    /// The green instances of the deployments abort will delete, in one describe.
    async fn greens(
        &mut self,
        region: &str,
        selected: &[&DbRow],
        found: &HashMap<String, BlueGreen>,
    ) -> Result<HashMap<String, DbInstance>, LifecycleError> {
        let plan_id = &self.plan.plan_id;
        let identifiers: Vec<String> = selected
            .iter()
            .filter_map(|r| {
                let name =
                    self.plan.databases[r.id as usize].resource_name(StepKind::CreateBlueGreen)?;
                let bg = found.get(name)?;
                matches!(judge(r, Some(bg), plan_id), AbortVerdict::Delete(_))
                    .then(|| bg.target_identifiers())
            })
            .flatten()
            .collect();
        if identifiers.is_empty() {
            return Ok(HashMap::new());
        }
        let q = InstanceQuery {
            identifiers,
            engines: vec![],
        };
        match self.exec.describe_instances(region, &q).await {
            Ok(v) => Ok(v.into_iter().map(|i| (i.identifier.clone(), i)).collect()),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(HashMap::new()),
            Err(e) => Err(backend_err("DescribeDBInstances", region)(e)),
        }
    }

    /// Abort one database.
    async fn one(
        &mut self,
        row: &DbRow,
        p: &PlannedDatabase,
        bg: Option<&BlueGreen>,
        greens: &HashMap<String, DbInstance>,
    ) -> Result<Vec<Action>, LifecycleError> {
        let id = p.identifier.as_str();
        let bg_name = p
            .resource_name(StepKind::CreateBlueGreen)
            .unwrap_or_default();
        let snap = p.resource_name(StepKind::Snapshot).unwrap_or_default();
        let mut out = Vec::new();
        match judge(row, bg, &self.plan.plan_id) {
            AbortVerdict::Switched => {
                return Ok(vec![act(
                    id,
                    bg_name,
                    Outcome::Unchanged,
                    format!(
                        "already switched over: nothing was changed. Rollback path: the old instance {id}-old1 still runs {from} (read-only: to write to it, set read_only=0 in its parameter group, then repoint clients / rename it), and the pre-upgrade snapshot {snap} can be restored with RestoreDBInstanceFromDBSnapshot",
                        from = p.from_version
                    ),
                )]);
            }
            AbortVerdict::SwitchoverUnknown => {
                return Ok(vec![act(
                    id,
                    bg_name,
                    Outcome::Unchanged,
                    "a switchover request may be in flight (its intent is recorded, its outcome unknown): nothing was changed. Run `rdsfleet resume` to reconcile it first, then abort if it did not switch over",
                )]);
            }
            AbortVerdict::NotOurs => {
                let why = "deployment not tagged by this rdsfleet plan; left alone";
                return Ok(vec![act(id, bg_name, Outcome::Skipped, why)]);
            }
            AbortVerdict::Delete(identifier) => {
                let prep = bg
                    .map(|b| judge_greens(b, greens, &self.plan.plan_id))
                    .unwrap_or_default();
                match self.delete(row, p, &identifier, &prep).await? {
                    Ok(detail) => out.push(act(id, bg_name, Outcome::Deleted, detail)),
                    Err(why) => return Ok(vec![act(id, bg_name, Outcome::Failed, why)]),
                }
            }
            AbortVerdict::NothingToDelete => {}
        }
        self.store.transition_db(
            row.id,
            row.state,
            DbState::Aborted,
            &DbWhy::error("aborted by operator before switchover"),
            self.clock.now(),
            "aborted",
        )?;
        out.push(act(id, snap, Outcome::Kept, "pre-upgrade snapshot is kept"));
        Ok(out)
    }

    /// Prepare the greens (tag, then protection off), then delete the deployment with
    /// `DeleteTarget`. `Ok(detail)` when it is deleted (or already gone), `Err(why)` when not;
    /// then any protection turned off here is turned back on.
    async fn delete(
        &mut self,
        row: &DbRow,
        p: &PlannedDatabase,
        identifier: &str,
        prep: &[GreenPrep],
    ) -> Result<Result<String, String>, LifecycleError> {
        let bg_name = p
            .resource_name(StepKind::CreateBlueGreen)
            .unwrap_or_default();
        let why = format!("green of this plan's deployment {bg_name}; needed for DeleteTarget");
        let mut tagged = vec![];
        for g in prep.iter().filter(|g| g.tag) {
            let mut tags = managed_tags(&self.plan.plan_id);
            tags.insert("rdsfleet:role".into(), "green".into());
            let effect = Effect::AddTags {
                region: p.region.clone(),
                arn: g.arn.clone(),
                tags,
            };
            let msg = format!("tagging {} with rdsfleet's tags: {why}", g.identifier);
            if let Err(e) = self.green_call(row, "tag-green", &msg, effect).await? {
                let why = format!("tagging green {}: {e}; nothing deleted", g.identifier);
                return Ok(Err(why));
            }
            tagged.push(g.identifier.as_str());
        }
        let mut unprotected = vec![];
        for g in prep.iter().filter(|g| g.unprotect) {
            let r = self.protect(row, p, g, false, &why).await?;
            if let Err(e) = r {
                let mut why = format!(
                    "turning off deletion protection on green {}: {e}; nothing deleted",
                    g.identifier
                );
                why.push_str(&self.reprotect(row, p, &unprotected).await?);
                return Ok(Err(why));
            }
            unprotected.push(g);
        }
        let effect = Effect::DeleteBlueGreen {
            region: p.region.clone(),
            identifier: identifier.to_string(),
            delete_target: true,
        };
        let tracked = Tracked {
            kind: ResourceKind::BlueGreen,
            name: bg_name.to_string(),
            at_intent: ResourceStatus::Deleting,
            on_ok: ResourceStatus::Deleted,
            on_error: None,
            detail: Some(identifier.to_string()),
        };
        let intent = Intent::Event {
            db_id: Some(row.id),
        };
        let done = self
            .exec
            .perform(self.store, intent, &effect, Some(&tracked))
            .await?;
        Ok(match done.result {
            Ok(_) => Ok(deleted_detail(&tagged, &unprotected)),
            Err(e) if e.kind == ErrorKind::NotFound => Ok("already gone".into()),
            Err(e) => Err(format!(
                "{e}{}",
                self.reprotect(row, p, &unprotected).await?
            )),
        })
    }

    /// Set a green instance's deletion protection, saying why in the event log first.
    async fn protect(
        &mut self,
        row: &DbRow,
        p: &PlannedDatabase,
        g: &GreenPrep,
        enabled: bool,
        why: &str,
    ) -> Result<crate::backend::BResult<()>, LifecycleError> {
        let (kind, msg) = if enabled {
            let msg = format!(
                "turning deletion protection back on on green {}: the deployment was not deleted",
                g.identifier
            );
            ("deletion-protection-on", msg)
        } else {
            let msg = format!(
                "turning off deletion protection on {} (copied from blue): {why}",
                g.identifier
            );
            ("deletion-protection-off", msg)
        };
        let effect = Effect::SetDeletionProtection {
            region: p.region.clone(),
            identifier: g.identifier.clone(),
            enabled,
        };
        self.green_call(row, kind, &msg, effect).await
    }

    /// Turn deletion protection back on on greens this run turned it off on (the deployment
    /// stays, and may yet switch over). What it did, for the action's detail.
    async fn reprotect(
        &mut self,
        row: &DbRow,
        p: &PlannedDatabase,
        greens: &[&GreenPrep],
    ) -> Result<String, LifecycleError> {
        let mut out = String::new();
        for g in greens {
            let said = match self.protect(row, p, g, true, "").await? {
                Ok(()) => format!("; deletion protection turned back on for {}", g.identifier),
                Err(e) => format!(
                    "; deletion protection of {} is OFF (turning it back on failed: {e})",
                    g.identifier
                ),
            };
            out.push_str(&said);
        }
        Ok(out)
    }

    /// One call on a green instance: an event saying why, then the effect path.
    async fn green_call(
        &mut self,
        row: &DbRow,
        kind: &str,
        why: &str,
        effect: Effect,
    ) -> Result<crate::backend::BResult<()>, LifecycleError> {
        self.store
            .event(Some(row.id), None, kind, why, self.clock.now())?;
        let intent = Intent::Event {
            db_id: Some(row.id),
        };
        let done = self.exec.perform(self.store, intent, &effect, None).await?;
        Ok(done.result.map(|_| ()))
    }
}

/// The abort action's detail for a deleted deployment: what was done to green first.
fn deleted_detail(tagged: &[&str], unprotected: &[&GreenPrep]) -> String {
    let mut s = String::from("deployment and its green instances (DeleteTarget)");
    if !tagged.is_empty() {
        s.push_str(&format!(
            "; first tagged green {} with this plan's tags",
            tagged.join(", ")
        ));
    }
    if !unprotected.is_empty() {
        let names: Vec<&str> = unprotected.iter().map(|g| g.identifier.as_str()).collect();
        s.push_str(&format!(
            "; turned off deletion protection on green {} (copied from blue; AWS refuses DeleteTarget otherwise)",
            names.join(", ")
        ));
    }
    s.push_str("; blue untouched");
    s
}

/// Whether a parameter group the plan names is this plan's to delete, from its resource row
/// and, when the row cannot tell, its tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupVerdict {
    /// No row (never created by this plan: a group found under the name but someone else's
    /// is never recorded), or already deleted: nothing to do.
    NotCreated,
    /// Our `CreateDBParameterGroup` succeeded, or the group was adopted as ours (tagged by this
    /// plan): `created`, `done`, `restored` - or a delete of ours was begun (`deleting`).
    Ours,
    /// `started`: the create's outcome was never recorded (a crash), or it was refused with
    /// `AlreadyExists` - the group may be someone else's. Its tags decide.
    AskTags,
    /// Tagged by someone else (or not at all): never deleted.
    NotOurs,
}

/// Judge a parameter group from its row's status and, for [`GroupVerdict::AskTags`], its tags.
pub fn judge_group(
    status: Option<ResourceStatus>,
    tags: Option<&Tags>,
    plan_id: &str,
) -> GroupVerdict {
    match status {
        None | Some(ResourceStatus::Deleted | ResourceStatus::Kept) => GroupVerdict::NotCreated,
        Some(
            ResourceStatus::Created
            | ResourceStatus::Done
            | ResourceStatus::Restored
            | ResourceStatus::Deleting,
        ) => GroupVerdict::Ours,
        Some(ResourceStatus::Started) => match tags {
            None => GroupVerdict::AskTags,
            Some(t) if is_managed(t, Some(plan_id)) => GroupVerdict::Ours,
            Some(_) => GroupVerdict::NotOurs,
        },
    }
}

/// Parameter groups this plan created that no remaining database uses, and that no instance
/// has attached (one describe of the instances per region, only if there is a candidate).
/// A group whose row does not prove it ours has its tags read first (two calls, only then).
async fn unused_groups(
    exec: &mut Executor,
    store: &mut Store,
    plan: &Plan,
) -> Result<Vec<Action>, LifecycleError> {
    let rows = store.databases()?;
    let mut out = Vec::new();
    let mut attached: HashMap<String, Vec<String>> = HashMap::new();
    for g in &plan.parameter_groups {
        let status = store
            .resource(&g.region, ResourceKind::ParameterGroup, &g.name)?
            .map(|r| r.status);
        let verdict = judge_group(status, None, &plan.plan_id);
        if verdict == GroupVerdict::NotCreated {
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
        if !attached.contains_key(&g.region) {
            let live = exec
                .describe_instances(&g.region, &InstanceQuery::default())
                .await
                .map_err(backend_err("DescribeDBInstances", &g.region))?;
            let names = live
                .into_iter()
                .flat_map(|i| i.parameter_groups.into_iter().map(|pg| pg.name))
                .collect();
            attached.insert(g.region.clone(), names);
        }
        if attached[&g.region].contains(&g.name) {
            let why = "parameter group still attached to an instance; re-run abort later";
            out.push(act("-", &g.name, Outcome::Kept, why));
            continue;
        }
        let verdict = match verdict {
            GroupVerdict::AskTags => match group_tags(exec, &g.region, &g.name).await {
                Ok(Some(tags)) => judge_group(status, Some(&tags), &plan.plan_id),
                Ok(None) => continue, // never created: nothing to delete
                Err(e) => {
                    let why = format!("could not read its tags to tell whether this plan created it ({e}); left alone, re-run abort");
                    out.push(act("-", &g.name, Outcome::Kept, why));
                    continue;
                }
            },
            v => v,
        };
        if verdict == GroupVerdict::NotOurs {
            let why = "parameter group under this plan's name, not tagged by this plan: someone else's, left alone";
            out.push(act("-", &g.name, Outcome::Kept, why));
            continue;
        }
        out.push(delete_group(exec, store, g).await?);
    }
    Ok(out)
}

/// The tags of a named group (`None`: no such group): its ARN from a describe, then its tags.
async fn group_tags(
    exec: &mut Executor,
    region: &str,
    name: &str,
) -> Result<Option<Tags>, crate::backend::BackendError> {
    let found = exec
        .describe_parameter_groups(region, &[name.to_string()])
        .await?;
    let Some(g) = found.into_iter().find(|g| g.name == name) else {
        return Ok(None);
    };
    match exec.list_tags(region, &g.arn).await {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Delete a group of this plan that nothing uses, through the effect path.
async fn delete_group(
    exec: &mut Executor,
    store: &mut Store,
    g: &crate::plan::PlannedParameterGroup,
) -> Result<Action, LifecycleError> {
    let effect = Effect::DeleteParameterGroup {
        region: g.region.clone(),
        name: g.name.clone(),
    };
    let tracked = Tracked {
        kind: ResourceKind::ParameterGroup,
        name: g.name.clone(),
        at_intent: ResourceStatus::Deleting,
        on_ok: ResourceStatus::Deleted,
        on_error: None,
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
        Err(e) if e.kind != ErrorKind::NotFound => {
            act("-", &g.name, Outcome::Failed, e.to_string())
        }
        _ => act(
            "-",
            &g.name,
            Outcome::Deleted,
            "parameter group created by this plan, no longer used",
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{managed_tags, Tags};
    use crate::store::StepRow;

    fn row(state: DbState, switchover: StepStatus) -> DbRow {
        DbRow {
            id: 0,
            region: "r".into(),
            identifier: "a".into(),
            state,
            step: None,
            approved: true,
            error: None,
            wait: None,
            note: None,
            updated_at: 0,
            steps: vec![StepRow {
                seq: 5,
                kind: StepKind::Switchover,
                status: switchover,
                attempt: 0,
                remote_id: None,
                last_error: None,
                not_before: 0,
                started_at: None,
                finished_at: None,
            }],
        }
    }

    use super::super::test_support::bg;

    #[test]
    fn abort_never_touches_a_switched_or_possibly_switching_database() {
        let ours = managed_tags("p1");
        let check = |r: DbRow, found: Option<BlueGreen>, want: AbortVerdict| {
            assert_eq!(judge(&r, found.as_ref(), "p1"), want, "{r:?} {found:?}");
        };
        let available = || Some(bg(BgStatus::Available, managed_tags("p1")));
        check(
            row(DbState::Done, StepStatus::Done),
            None,
            AbortVerdict::Switched,
        );
        check(
            row(DbState::Running, StepStatus::Waiting),
            available(),
            AbortVerdict::Switched,
        );
        check(
            row(DbState::Running, StepStatus::Pending),
            Some(bg(BgStatus::SwitchoverInProgress, ours.clone())),
            AbortVerdict::Switched,
        );
        check(
            row(DbState::Running, StepStatus::Started),
            available(),
            AbortVerdict::SwitchoverUnknown,
        );
        check(
            row(DbState::AwaitingApproval, StepStatus::Pending),
            Some(bg(BgStatus::Available, Tags::new())),
            AbortVerdict::NotOurs,
        );
        check(
            row(DbState::AwaitingApproval, StepStatus::Pending),
            available(),
            AbortVerdict::Delete("bgd-1".into()),
        );
        check(
            row(DbState::Failed, StepStatus::Pending),
            None,
            AbortVerdict::NothingToDelete,
        );
    }

    fn instance(name: &str, tags: Tags, dp: bool) -> DbInstance {
        let mut i: DbInstance = serde_json::from_value(serde_json::json!({"region": "r",
            "identifier": name, "arn": format!("arn:aws:rds:r:1:db:{name}"), "engine": "mysql",
            "engine_version": "8.0.42", "status": "available", "instance_class": "db.r5.large"}))
        .unwrap();
        i.tags = tags;
        i.deletion_protection = dp;
        i
    }

    /// The deployment of `a` (with its replica `a-r`) as described before switchover, with
    /// `tags`; `targets` name green members (a wrong one may name blue).
    fn deployment(tags: Tags, targets: [&str; 2]) -> BlueGreen {
        let arn = |n: &str| format!("arn:aws:rds:r:1:db:{n}");
        let mut b = bg(BgStatus::Available, tags);
        b.source = arn("a");
        b.target = Some(arn(targets[0]));
        b.switchover_details = ["a", "a-r"]
            .iter()
            .zip(targets)
            .map(|(s, t)| crate::domain::SwitchoverMember {
                source_member: arn(s),
                target_member: Some(arn(t)),
                status: "AVAILABLE".into(),
            })
            .collect();
        b
    }

    /// `(green, tag it, turn its protection off)` for each green that needs work.
    fn check(bg: BlueGreen, described: Vec<DbInstance>, want: &[(&str, bool, bool)]) {
        let m: HashMap<String, DbInstance> = described
            .into_iter()
            .map(|i| (i.identifier.clone(), i))
            .collect();
        let got: Vec<(String, bool, bool)> = judge_greens(&bg, &m, "p1")
            .into_iter()
            .map(|g| (g.identifier, g.tag, g.unprotect))
            .collect();
        let want: Vec<(String, bool, bool)> = want
            .iter()
            .map(|(n, t, u)| (n.to_string(), *t, *u))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn only_greens_of_this_plans_deployment_are_tagged_and_unprotected_never_blue() {
        let ours = || managed_tags("p1");
        let blue_tags = || Tags::from([("env".to_string(), "prod".to_string())]);
        let greens = ["a-green-1", "a-r-green-2"];
        let blue = || instance("a", blue_tags(), true);
        // Green copied blue's tags and protection: both need both; blue is never listed.
        check(
            deployment(ours(), greens),
            vec![
                instance("a-green-1", blue_tags(), true),
                instance("a-r-green-2", blue_tags(), true),
                blue(),
            ],
            &[("a-green-1", true, true), ("a-r-green-2", true, true)],
        );
        // Already tagged (an earlier, interrupted abort) and unprotected: nothing left to do.
        check(
            deployment(ours(), greens),
            vec![
                instance("a-green-1", ours(), false),
                instance("a-r-green-2", ours(), true),
            ],
            &[("a-r-green-2", false, true)],
        );
        // Another plan's tags are not ours; a green not described (gone) needs nothing.
        check(
            deployment(ours(), greens),
            vec![instance("a-green-1", managed_tags("p2"), false)],
            &[("a-green-1", true, false)],
        );
        // A deployment this plan did not tag: its greens are not touched at all.
        check(
            deployment(managed_tags("p2"), greens),
            vec![instance("a-green-1", blue_tags(), true)],
            &[],
        );
        check(
            deployment(Tags::new(), greens),
            vec![instance("a-green-1", blue_tags(), true)],
            &[],
        );
        // A target that names a blue instance is never prepared.
        check(
            deployment(ours(), ["a", "a-r"]),
            vec![blue(), instance("a-r", blue_tags(), true)],
            &[],
        );
    }

    /// Abort deletes a parameter group only when its row shows our create succeeded (or it
    /// was adopted as this plan's), or, when the row cannot tell, this plan's tags say so.
    #[test]
    fn abort_deletes_only_groups_this_plan_created_or_tagged() {
        use ResourceStatus as S;
        let check = |status: Option<S>, tags: Option<Tags>, want: GroupVerdict| {
            assert_eq!(
                judge_group(status, tags.as_ref(), "p1"),
                want,
                "{status:?} {tags:?}"
            );
        };
        check(None, None, GroupVerdict::NotCreated);
        check(None, Some(managed_tags("p1")), GroupVerdict::NotCreated);
        check(Some(S::Deleted), None, GroupVerdict::NotCreated);
        for s in [S::Created, S::Done, S::Restored, S::Deleting] {
            check(Some(s), None, GroupVerdict::Ours);
        }
        check(Some(S::Started), None, GroupVerdict::AskTags);
        check(
            Some(S::Started),
            Some(managed_tags("p1")),
            GroupVerdict::Ours,
        );
        check(
            Some(S::Started),
            Some(managed_tags("p2")),
            GroupVerdict::NotOurs,
        );
        check(Some(S::Started), Some(Tags::new()), GroupVerdict::NotOurs);
    }
}
