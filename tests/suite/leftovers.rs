//! Leftovers (issue 10, item 4) on the simulator with a manual clock: old read replicas
//! (`<replica>-old1`, which a switchover renames and leaves running) removed by `cleanup` after
//! the retention and before their source.
//!
//! Until `verify` records old replicas itself, [`record_old_replicas`] writes the rows it will
//! write (`ResourceKind::OldReplica`, an `OldInstance` detail with `replica_of`) and tags the
//! replicas the way it will tag them.

use crate::common::*;
use rdsfleet::backend::{InstanceQuery, RdsBackend};
use rdsfleet::domain::{managed_tags, DbInstance};
use rdsfleet::lifecycle::{self, Action, CleanupOptions};
use rdsfleet::machine::OldInstance;
use rdsfleet::plan::Plan;
use rdsfleet::sim::TrailEntry;
use rdsfleet::state::{ResourceKind, ResourceStatus};
use rdsfleet::store::Store;
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
/// when `tag`.
async fn record_old_replicas(w: &World, plan: &Plan, tag: bool) -> Vec<OldPair> {
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
            if tag {
                let mut tags = managed_tags(&plan.plan_id);
                tags.insert("rdsfleet:role".into(), "old-replica".into());
                sim.add_tags(&p.region, &live.arn, &tags).await.unwrap();
            }
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
