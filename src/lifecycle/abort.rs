//! `abort`: undo the upgrade of databases that have not switched over - delete the deployment
//! with its green side, and parameter groups this plan created that nothing uses any more.
//! After switchover it changes nothing and says how to roll back.

use super::{act, backend_err, executor, Action, Budget, LifecycleError, Outcome};
use crate::backend::{BlueGreenQuery, ErrorKind, InstanceQuery, RdsBackend};
use crate::clock::SharedClock;
use crate::domain::{is_managed, BgStatus, BlueGreen};
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
    let r = run(&mut exec, store, clock, identifiers, &plan).await;
    store.release_lock()?;
    r
}

async fn run(
    exec: &mut Executor,
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
        let found = deployments(exec, region, plan, &selected).await?;
        for row in selected {
            let p = &plan.databases[row.id as usize];
            let bg = p
                .resource_name(StepKind::CreateBlueGreen)
                .and_then(|n| found.get(n));
            out.extend(one(exec, store, clock, plan, row, p, bg).await?);
        }
    }
    out.extend(unused_groups(exec, store, plan).await?);
    Ok(out)
}

/// The deployments of the selected databases of a region, in one describe.
async fn deployments(
    exec: &mut Executor,
    region: &str,
    plan: &Plan,
    selected: &[&DbRow],
) -> Result<HashMap<String, BlueGreen>, LifecycleError> {
    let names: Vec<String> = selected
        .iter()
        .filter_map(|r| {
            plan.databases[r.id as usize]
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
    let v = exec
        .describe_blue_green(region, &q)
        .await
        .map_err(backend_err("DescribeBlueGreenDeployments", region))?;
    Ok(v.into_iter().map(|b| (b.name.clone(), b)).collect())
}

/// Abort one database.
async fn one(
    exec: &mut Executor,
    store: &mut Store,
    clock: &SharedClock,
    plan: &Plan,
    row: &DbRow,
    p: &PlannedDatabase,
    bg: Option<&BlueGreen>,
) -> Result<Vec<Action>, LifecycleError> {
    let id = p.identifier.as_str();
    let bg_name = p
        .resource_name(StepKind::CreateBlueGreen)
        .unwrap_or_default();
    let snap = p.resource_name(StepKind::Snapshot).unwrap_or_default();
    let mut out = Vec::new();
    match judge(row, bg, &plan.plan_id) {
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
            let effect = Effect::DeleteBlueGreen {
                region: p.region.clone(),
                identifier: identifier.clone(),
                delete_target: true,
            };
            let tracked = Tracked {
                kind: ResourceKind::BlueGreen,
                name: bg_name.to_string(),
                at_intent: ResourceStatus::Deleting,
                on_ok: ResourceStatus::Deleted,
                on_error: None,
                detail: Some(identifier),
            };
            let intent = Intent::Event {
                db_id: Some(row.id),
            };
            let done = exec.perform(store, intent, &effect, Some(&tracked)).await?;
            out.push(match done.result {
                Ok(_) => act(
                    id,
                    bg_name,
                    Outcome::Deleted,
                    "deployment and its green instances; blue untouched",
                ),
                Err(e) if e.kind == ErrorKind::NotFound => {
                    act(id, bg_name, Outcome::Deleted, "already gone")
                }
                Err(e) => return Ok(vec![act(id, bg_name, Outcome::Failed, e.to_string())]),
            });
        }
        AbortVerdict::NothingToDelete => {}
    }
    store.transition_db(
        row.id,
        row.state,
        DbState::Aborted,
        &DbWhy::error("aborted by operator before switchover"),
        clock.now(),
        "aborted",
    )?;
    out.push(act(id, snap, Outcome::Kept, "pre-upgrade snapshot is kept"));
    Ok(out)
}

/// Parameter groups this plan created that no remaining database uses, and that no instance
/// has attached (one describe of the instances per region, only if there is a candidate).
async fn unused_groups(
    exec: &mut Executor,
    store: &mut Store,
    plan: &Plan,
) -> Result<Vec<Action>, LifecycleError> {
    let rows = store.databases()?;
    let mut out = Vec::new();
    let mut attached: HashMap<String, Vec<String>> = HashMap::new();
    for g in &plan.parameter_groups {
        let Some(res) = store.resource(&g.region, ResourceKind::ParameterGroup, &g.name)? else {
            continue; // never created by us
        };
        if res.status == ResourceStatus::Deleted {
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
        out.push(match done.result {
            Err(e) if e.kind != ErrorKind::NotFound => {
                act("-", &g.name, Outcome::Failed, e.to_string())
            }
            _ => act(
                "-",
                &g.name,
                Outcome::Deleted,
                "parameter group created by this plan, no longer used",
            ),
        });
    }
    Ok(out)
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
}
