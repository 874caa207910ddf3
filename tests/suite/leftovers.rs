//! Leftovers (issue 10, item 4) on the simulator with a manual clock: old read replicas
//! (`<replica>-old1`, which a switchover renames and leaves running) removed by `cleanup` after
//! the retention and before their source; `abort` of a deployment whose green copied blue's
//! deletion protection (AWS refuses `DeleteTarget` then).
//!
//! Until `verify` records old replicas itself, [`record_old_replicas`] writes the rows it will
//! write (`ResourceKind::OldReplica`, an `OldInstance` detail with `replica_of`) and tags the
//! replicas the way it will tag them.

use crate::common::*;
use rdsfleet::backend::{InstanceQuery, RdsBackend};
use rdsfleet::domain::{managed_tags, DbInstance, TAG_PLAN_ID};
use rdsfleet::lifecycle::{self, Action, CleanupOptions};
use rdsfleet::machine::OldInstance;
use rdsfleet::plan::Plan;
use rdsfleet::sim::TrailEntry;
use rdsfleet::state::{ResourceKind, ResourceStatus};
use rdsfleet::store::{DbState, Store};
use std::time::Duration;

/// A finished rollout of a world where one database has a same-region read replica
/// (`shipping-jobs-prod` with `shipping-jobs-prod-ro1`, seed 7).
async fn rolled_out() -> (World, Plan) {
    let w = world(WorldSpec {
        databases: 4,
        ..Default::default()
    });
    let plan = w.plan(&[("mysql", "8.0"), ("postgres", "16")]).await;
    let s = w.run(&plan, opts(true)).await;
    assert_eq!(s.exit_code(), 0, "{s:?}");
    (w, plan)
}

/// An old replica and the old instance it replicates.
#[derive(Debug, Clone)]
struct OldPair {
    region: String,
    replica: String,
    source: String,
}

/// Record every `<replica>-old1` as `verify` will (a resource row), and tag it as this plan's
/// when `ours`, else as another plan's.
async fn record_old_replicas(w: &World, plan: &Plan, ours: bool) -> Vec<OldPair> {
    let sim = w.sim();
    let store = Store::open(&w.state_path()).unwrap();
    let mut out = vec![];
    for p in plan.databases.iter().filter(|d| d.is_actionable()) {
        let source = format!("{}-old1", p.identifier);
        let Some(row) = store
            .resource(&p.region, ResourceKind::OldInstance, &source)
            .unwrap()
        else {
            continue;
        };
        let old: OldInstance = serde_json::from_str(row.detail.as_deref().unwrap()).unwrap();
        for r in &p.replicas {
            let replica = format!("{r}-old1");
            let live = describe(w, &p.region, &replica)
                .await
                .expect("renamed replica");
            assert_eq!(live.read_replica_source.as_deref(), Some(source.as_str()));
            let detail = OldInstance {
                replica_of: Some(source.clone()),
                ..old.clone()
            };
            let detail = serde_json::to_string(&detail).unwrap();
            store
                .set_resource(
                    &p.region,
                    ResourceKind::OldReplica,
                    &replica,
                    ResourceStatus::Kept,
                    Some(&detail),
                    w.clock.now_ms(),
                )
                .unwrap();
            let plan_id = if ours { &plan.plan_id } else { "another-plan" };
            let mut tags = managed_tags(plan_id);
            tags.insert("rdsfleet:role".into(), "old-replica".into());
            sim.add_tags(&p.region, &live.arn, &tags).await.unwrap();
            out.push(OldPair {
                region: p.region.clone(),
                replica,
                source: source.clone(),
            });
        }
    }
    assert!(!out.is_empty(), "the fixture needs an old read replica");
    out
}

async fn describe(w: &World, region: &str, id: &str) -> Option<DbInstance> {
    let q = InstanceQuery {
        identifiers: vec![id.to_string()],
        engines: vec![],
    };
    w.sim()
        .describe_instances(region, &q)
        .await
        .unwrap()
        .into_iter()
        .next()
}

async fn cleanup(w: &World) -> Vec<Action> {
    let mut store = Store::open(&w.state_path()).unwrap();
    lifecycle::cleanup(
        w.sim(),
        &mut store,
        &w.shared_clock(),
        &CleanupOptions::default(),
    )
    .await
    .unwrap()
}

fn action<'a>(report: &'a [Action], resource: &str) -> &'a Action {
    report
        .iter()
        .find(|a| a.resource == resource)
        .unwrap_or_else(|| panic!("no action on {resource}: {report:#?}"))
}

/// Successful `DeleteDBInstance` calls on `id`.
fn deletes_of(w: &World, id: &str) -> Vec<TrailEntry> {
    w.trail()
        .into_iter()
        .filter(|t| t.action == "DeleteDBInstance" && t.outcome == "ok" && t.resource == id)
        .collect()
}

fn resource_status(w: &World, region: &str, kind: ResourceKind, name: &str) -> ResourceStatus {
    let store = Store::open(&w.state_path()).unwrap();
    store.resource(region, kind, name).unwrap().unwrap().status
}

#[tokio::test]
async fn old_replicas_go_after_retention_without_a_snapshot_and_before_their_source() {
    let (w, plan) = rolled_out().await;
    let pairs = record_old_replicas(&w, &plan, true).await;

    // Within the retention: nothing deleted, and the report says until when.
    let first = cleanup(&w).await;
    for p in &pairs {
        let a = action(&first, &p.replica);
        assert_eq!(a.outcome, "kept", "{a:?}");
        assert!(a.detail.contains("retention"), "{a:?}");
    }
    assert!(w.ok_calls("DeleteDBInstance").is_empty());

    // After it: the replicas go, without a final snapshot; their source stays while they are
    // attached (deleting it would promote them).
    w.clock.advance(Duration::from_secs(73 * 3600));
    let second = cleanup(&w).await;
    for p in &pairs {
        let a = action(&second, &p.replica);
        assert_eq!(a.outcome, "deleted", "{a:?}");
        assert!(a.detail.contains("no final snapshot"), "{a:?}");
        let calls = deletes_of(&w, &p.replica);
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].params["SkipFinalSnapshot"], true, "{:?}", calls[0]);
        let kind = ResourceKind::OldReplica;
        assert_eq!(
            resource_status(&w, &p.region, kind, &p.replica),
            ResourceStatus::Deleted
        );
        let s = action(&second, &p.source);
        assert_eq!(s.outcome, "kept", "{s:?}");
        assert!(
            s.detail.contains(&p.replica) && s.detail.contains("still attached"),
            "{s:?}"
        );
        assert!(deletes_of(&w, &p.source).is_empty(), "source deleted first");
    }
    // Old instances without replicas are not held back.
    let solo = plan
        .databases
        .iter()
        .filter(|d| d.is_actionable() && d.replicas.is_empty())
        .map(|d| format!("{}-old1", d.identifier));
    for old in solo {
        assert_eq!(action(&second, &old).outcome, "deleted", "{old}");
    }

    // Once the replicas are gone, the source goes, with its final snapshot.
    w.clock.advance(Duration::from_secs(3600));
    let third = cleanup(&w).await;
    let trail = w.trail();
    for p in &pairs {
        assert!(describe(&w, &p.region, &p.replica).await.is_none());
        let s = action(&third, &p.source);
        assert_eq!(s.outcome, "deleted", "{s:?}");
        assert!(s.detail.contains("final snapshot"), "{s:?}");
        let seq = |id: &str| {
            trail
                .iter()
                .find(|t| t.action == "DeleteDBInstance" && t.outcome == "ok" && t.resource == id)
                .map(|t| t.seq)
                .unwrap()
        };
        assert!(seq(&p.replica) < seq(&p.source), "replica first");
        let params = deletes_of(&w, &p.source)[0].params.clone();
        assert_eq!(params["SkipFinalSnapshot"], false, "{params}");
    }
    // Nothing left to do; a further run deletes nothing.
    let n = w.ok_calls("DeleteDBInstance").values().sum::<usize>();
    let fourth = cleanup(&w).await;
    assert!(
        fourth
            .iter()
            .all(|a| a.outcome != "deleted" || a.detail == "already gone"),
        "{fourth:#?}"
    );
    assert_eq!(w.ok_calls("DeleteDBInstance").values().sum::<usize>(), n);
    assert!(w.ok_calls("ModifyDBInstance").is_empty());
}

#[tokio::test]
async fn an_old_replica_not_tagged_by_this_plan_is_left_alone_and_so_is_its_source() {
    let (w, plan) = rolled_out().await;
    let pairs = record_old_replicas(&w, &plan, false).await;
    w.clock.advance(Duration::from_secs(73 * 3600));
    for _run in 0..2 {
        let report = cleanup(&w).await;
        for p in &pairs {
            let a = action(&report, &p.replica);
            assert_eq!(a.outcome, "skipped", "{a:?}");
            assert!(a.detail.contains("not tagged"), "{a:?}");
            let s = action(&report, &p.source);
            assert_eq!(s.outcome, "kept", "{s:?}");
            assert!(s.detail.contains("still attached"), "{s:?}");
        }
        w.clock.advance(Duration::from_secs(3600));
    }
    for p in &pairs {
        assert!(deletes_of(&w, &p.replica).is_empty());
        assert!(deletes_of(&w, &p.source).is_empty());
        let live = describe(&w, &p.region, &p.replica).await.unwrap();
        assert_eq!(live.read_replica_source.as_deref(), Some(p.source.as_str()));
    }
}

#[tokio::test]
async fn a_promoted_old_replica_is_left_alone() {
    let (w, plan) = rolled_out().await;
    let pairs = record_old_replicas(&w, &plan, true).await;
    // Someone deletes the old source by hand (RDS promotes its replicas).
    let sim = w.sim();
    for p in &pairs {
        sim.delete_instance(&p.region, &p.source, &format!("{}-by-hand", p.source))
            .await
            .unwrap();
    }
    w.clock.advance(Duration::from_secs(73 * 3600));
    let report = cleanup(&w).await;
    for p in &pairs {
        let live = describe(&w, &p.region, &p.replica).await.unwrap();
        assert!(live.read_replica_source.is_none(), "promoted: {live:?}");
        let a = action(&report, &p.replica);
        assert_eq!(a.outcome, "kept", "{a:?}");
        assert!(a.detail.contains("no longer a read replica"), "{a:?}");
        assert!(deletes_of(&w, &p.replica).is_empty());
        assert_eq!(action(&report, &p.source).detail, "already gone");
    }
}

/// A plan up to the approval gate, where `protected`'s source (and its replica) have deletion
/// protection on, which their greens copy.
async fn at_the_gate_protected() -> (World, Plan, String) {
    let w = world(WorldSpec {
        databases: 4,
        ..Default::default()
    });
    let probe = w.plan(&[("mysql", "8.0"), ("postgres", "16")]).await;
    let db = probe
        .databases
        .iter()
        .find(|d| d.is_actionable() && !d.replicas.is_empty())
        .expect("a database with a replica")
        .clone();
    let sim = w.sim();
    for id in std::iter::once(&db.identifier).chain(&db.replicas) {
        sim.set_deletion_protection(&db.region, id, true)
            .await
            .unwrap();
    }
    let plan = w.plan(&[("mysql", "8.0"), ("postgres", "16")]).await;
    let s = w.run(&plan, opts(false)).await;
    assert_eq!(s.exit_code(), 0, "{s:?}");
    (w, plan, db.identifier)
}

/// The green instances of `id`'s deployment, as described now.
async fn greens_of(w: &World, plan: &Plan, id: &str) -> Vec<DbInstance> {
    let p = plan.databases.iter().find(|d| d.identifier == id).unwrap();
    let mut out = vec![];
    let all = w
        .sim()
        .describe_instances(&p.region, &InstanceQuery::default())
        .await
        .unwrap();
    for r in std::iter::once(id).chain(p.replicas.iter().map(String::as_str)) {
        let prefix = format!("{r}-green-");
        out.extend(
            all.iter()
                .filter(|i| i.identifier.starts_with(&prefix))
                .cloned(),
        );
    }
    out
}

async fn abort(w: &World, id: &str) -> Vec<Action> {
    let mut store = Store::open(&w.state_path()).unwrap();
    lifecycle::abort(
        w.sim(),
        &mut store,
        &w.shared_clock(),
        &[id.to_string()],
        Default::default(),
    )
    .await
    .unwrap()
}

fn state_of(w: &World, id: &str) -> DbState {
    w.rows()
        .into_iter()
        .find(|r| r.identifier == id)
        .unwrap()
        .state
}

#[tokio::test]
async fn abort_tags_and_unprotects_this_plans_greens_then_deletes_them_blue_stays_protected() {
    let (w, plan, id) = at_the_gate_protected().await;
    let greens = greens_of(&w, &plan, &id).await;
    assert_eq!(greens.len(), 2, "green primary and green replica");
    assert!(
        greens.iter().all(|g| g.deletion_protection),
        "copied from blue"
    );
    let before = w.trail().len();
    let report = abort(&w, &id).await;
    let a = &report[0];
    assert_eq!(a.outcome, "deleted", "{report:#?}");
    assert!(
        a.detail.contains("turned off deletion protection") && a.detail.contains("tagged"),
        "{a:?}"
    );
    assert_eq!(state_of(&w, &id), DbState::Aborted);

    // In order: tag each green, turn its protection off, then DeleteTarget.
    let calls: Vec<TrailEntry> = w.trail()[before..]
        .iter()
        .filter(|t| t.mutating)
        .cloned()
        .collect();
    let actions: Vec<&str> = calls.iter().map(|t| t.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "AddTagsToResource",
            "AddTagsToResource",
            "ModifyDBInstance",
            "ModifyDBInstance",
            "DeleteBlueGreenDeployment"
        ],
        "{calls:#?}"
    );
    assert!(calls.iter().all(|t| t.outcome == "ok"), "{calls:#?}");
    for g in &greens {
        assert!(
            calls[..2]
                .iter()
                .any(|t| t.resource == g.arn
                    && t.params["Tags"][TAG_PLAN_ID] == plan.plan_id.as_str())
        );
        assert!(calls[2..4]
            .iter()
            .any(|t| t.resource == g.identifier && t.params["DeletionProtection"] == false));
    }
    assert_eq!(calls[4].params["DeleteTarget"], true, "{:?}", calls[4]);
    // Blue untouched, still protected.
    let p = plan.databases.iter().find(|d| d.identifier == id).unwrap();
    for b in std::iter::once(&id).chain(&p.replicas) {
        assert!(
            describe(&w, &p.region, b)
                .await
                .unwrap()
                .deletion_protection
        );
    }
    // Said in the event log, with why.
    let store = Store::open(&w.state_path()).unwrap();
    let said = store
        .events(None)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "deletion-protection-off" && e.detail.contains("DeleteTarget"))
        .count();
    assert_eq!(said, 2);
    w.clock.advance(Duration::from_secs(3600));
    assert!(greens_of(&w, &plan, &id).await.is_empty(), "greens deleted");
}

#[tokio::test]
async fn abort_of_a_deployment_not_tagged_by_this_plan_touches_nothing() {
    let (w, plan, id) = at_the_gate_protected().await;
    let p = plan.databases.iter().find(|d| d.identifier == id).unwrap();
    // The deployment under the plan's name now carries another plan's id.
    let bg = w
        .sim()
        .describe_blue_green(&p.region, &Default::default())
        .await
        .unwrap()
        .into_iter()
        .find(|b| b.source == p.arn)
        .unwrap();
    let arn = p.arn.replace(
        &format!(":db:{id}"),
        &format!(":deployment:{}", bg.identifier),
    );
    let mut other = managed_tags("someone-elses-plan");
    other.retain(|k, _| k == TAG_PLAN_ID);
    w.sim().add_tags(&p.region, &arn, &other).await.unwrap();
    let before = w.trail().len();
    let report = abort(&w, &id).await;
    assert_eq!(report[0].outcome, "skipped", "{report:#?}");
    let mutating: Vec<_> = w.trail()[before..]
        .iter()
        .filter(|t| t.mutating)
        .cloned()
        .collect();
    assert!(mutating.is_empty(), "{mutating:#?}");
    for g in greens_of(&w, &plan, &id).await {
        assert!(g.deletion_protection, "{g:?}");
        assert!(!g.tags.contains_key(TAG_PLAN_ID), "{g:?}");
    }
    assert_eq!(state_of(&w, &id), DbState::AwaitingApproval);
}

#[tokio::test]
async fn a_failed_delete_turns_green_protection_back_on_and_a_rerun_finishes() {
    let (w, plan, id) = at_the_gate_protected().await;
    w.sim().set_faults("5xx@DeleteBlueGreenDeployment").unwrap();
    let report = abort(&w, &id).await;
    assert_eq!(report[0].outcome, "failed", "{report:#?}");
    assert!(
        report[0].detail.contains("turned back on"),
        "{:?}",
        report[0]
    );
    let greens = greens_of(&w, &plan, &id).await;
    assert_eq!(greens.len(), 2);
    assert!(greens.iter().all(|g| g.deletion_protection), "{greens:#?}");
    assert_eq!(state_of(&w, &id), DbState::AwaitingApproval);

    w.sim().set_faults("").unwrap();
    let report = abort(&w, &id).await;
    assert_eq!(report[0].outcome, "deleted", "{report:#?}");
    // Already tagged by the first run: only the protection is turned off again.
    assert!(!report[0].detail.contains("tagged"), "{:?}", report[0]);
    assert_eq!(state_of(&w, &id), DbState::Aborted);
}

/// A parameter group someone else made under the name this plan would create (same family, not
/// tagged by this plan): never configured, never recorded as ours, and so never deleted by
/// `abort`. The databases that need it wait for an operator with the fix in their reason;
/// the rest of the fleet finishes.
#[tokio::test]
async fn a_strangers_parameter_group_under_the_plans_name_is_never_modified_nor_deleted() {
    use rdsfleet::backend::NewParameterGroup;
    let w = world(WorldSpec {
        databases: 6,
        ..Default::default()
    });
    let plan = w.plan(&[("mysql", "8.0"), ("postgres", "16")]).await;
    let g = plan
        .parameter_groups
        .first()
        .expect("the fixture plans a custom parameter group")
        .clone();
    let mut theirs = rdsfleet::domain::Tags::new();
    theirs.insert("team".into(), "payments".into());
    w.sim()
        .create_parameter_group(
            &g.region,
            &NewParameterGroup {
                name: g.name.clone(),
                family: g.family.clone(),
                description: "made by hand".into(),
                tags: theirs.clone(),
            },
        )
        .await
        .unwrap();
    let users: Vec<String> = plan
        .databases
        .iter()
        .filter(|d| {
            d.region == g.region
                && d.target
                    .as_ref()
                    .is_some_and(|t| t.parameter_group == g.name)
        })
        .map(|d| d.identifier.clone())
        .collect();
    assert!(!users.is_empty());

    let before = w.trail().len();
    let s = w.run(&plan, opts(true)).await;
    assert_eq!(s.exit_code(), 1, "{s:?}");
    let touched: Vec<TrailEntry> = w.trail()[before..]
        .iter()
        .filter(|t| t.mutating && t.resource == g.name)
        .cloned()
        .collect();
    assert!(
        touched.iter().all(|t| t.action == "CreateDBParameterGroup"),
        "only our create, refused: {touched:#?}"
    );
    assert!(touched.iter().all(|t| t.outcome != "ok"), "{touched:#?}");
    for r in w.rows() {
        if users.contains(&r.identifier) {
            let why = r.wait.as_ref().map(|w| w.describe()).unwrap_or_default();
            assert!(
                why.contains("not created by this plan") && why.contains("rdsfleet resume"),
                "{r:?}"
            );
        } else if r.state != DbState::Skipped && r.state != DbState::Blocked {
            assert_eq!(r.state, DbState::Done, "the rest finishes: {r:?}");
        }
    }

    // Abort the waiting databases: the group stays, with its owner's tags.
    for id in &users {
        abort(&w, id).await;
    }
    let groups = w
        .sim()
        .describe_parameter_groups(&g.region, std::slice::from_ref(&g.name))
        .await
        .unwrap();
    assert_eq!(groups.len(), 1, "still there");
    let tags = w.sim().list_tags(&g.region, &groups[0].arn).await.unwrap();
    assert_eq!(tags, theirs);
    assert!(
        !w.trail()[before..]
            .iter()
            .any(|t| t.action == "DeleteDBParameterGroup" && t.resource == g.name),
        "never deleted"
    );
}
