//! Behaviour tests of the simulator, one per item of issues 2 and 3, on temp worlds driven
//! by a ManualClock (no wall-clock sleeps).

use super::*;
use crate::backend::*;
use crate::catalog::Catalog;
use crate::clock::{Clock, ManualClock, SharedClock};
use crate::domain::*;
use std::sync::Arc;
use std::time::Duration;

const START: Millis = 1_790_000_000_000;

struct W {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    b: SimBackend,
    clock: ManualClock,
    summary: WorldSummary,
}

fn world(opts: InitOptions) -> W {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("world.sqlite");
    let summary = init_world(&path, &opts, START).unwrap();
    let clock = ManualClock::new(START);
    let shared: SharedClock = Arc::new(clock.clone());
    let b = SimBackend::open_with_clock(&path, shared).unwrap();
    W {
        _dir: dir,
        path,
        b,
        clock,
        summary,
    }
}

fn clean(n: usize) -> InitOptions {
    InitOptions {
        databases: n,
        clean: true,
        ..InitOptions::default()
    }
}

const R: &str = "us-east-1";

impl W {
    async fn all(&self, region: &str) -> Vec<DbInstance> {
        self.b
            .describe_instances(region, &InstanceQuery::default())
            .await
            .unwrap()
    }
    async fn get(&self, region: &str, id: &str) -> Option<DbInstance> {
        self.all(region)
            .await
            .into_iter()
            .find(|i| i.identifier == id)
    }
    async fn bg(&self, region: &str, id: &str) -> Option<BlueGreen> {
        let q = BlueGreenQuery {
            identifiers: vec![id.to_string()],
            ..Default::default()
        };
        self.b
            .describe_blue_green(region, &q)
            .await
            .unwrap()
            .into_iter()
            .next()
    }
    fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }
    /// A healthy MySQL primary (no replicas) with a valid 8.0 target, in `region`.
    async fn mysql_primary(&self, region: &str) -> (DbInstance, String) {
        let cat = Catalog::bundled();
        for i in self.all(region).await {
            if i.engine == "mysql"
                && i.read_replica_source.is_none()
                && i.read_replicas.is_empty()
                && i.status == "available"
                && i.backup_retention_period > 0
                && !i.managed_master_password
                && !i.deletion_protection
            {
                if let Some(t) = cat.resolve_direct("mysql", &i.engine_version, "8.0") {
                    return (i.clone(), t.engine_version.clone());
                }
            }
        }
        panic!("no upgradable mysql primary in {region}");
    }
    /// A custom group of `family` green can be created with (`event_scheduler=OFF`, which
    /// RDS requires at creation and MySQL 8.0 does not default to), made once per region.
    async fn green_group(&self, region: &str, family: &str) -> String {
        let name = format!("green-{}", family.replace('.', "-"));
        let new = NewParameterGroup {
            name: name.clone(),
            family: family.into(),
            description: "green".into(),
            tags: Tags::new(),
        };
        if self.b.create_parameter_group(region, &new).await.is_ok() {
            let off = ParameterChange {
                name: "event_scheduler".into(),
                value: "OFF".into(),
                apply_method: "immediate".into(),
            };
            self.b
                .modify_parameter_group(region, &name, &[off])
                .await
                .unwrap();
        }
        name
    }
    /// Create a deployment to `target`; `pg: None` uses [`W::green_group`] for MySQL.
    async fn create_bg(
        &self,
        src: &DbInstance,
        target: &str,
        pg: Option<&str>,
    ) -> BResult<BlueGreen> {
        let family = Catalog::bundled()
            .family(&src.engine, target)
            .unwrap_or_default()
            .to_string();
        let pg = match pg {
            Some(p) => Some(p.to_string()),
            None if src.engine == "mysql" => Some(self.green_group(&src.region, &family).await),
            None => None,
        };
        self.b
            .create_blue_green(
                &src.region,
                &CreateBlueGreen {
                    name: format!("up-{}", src.identifier),
                    source_arn: src.arn.clone(),
                    target_engine_version: target.to_string(),
                    target_parameter_group: pg,
                    target_instance_class: None,
                    target_storage_type: None,
                    tags: Tags::new(),
                    ..Default::default()
                },
            )
            .await
    }
    /// Advance minute by minute until the deployment has `status` (at most `max_min`).
    async fn wait_bg(&self, region: &str, id: &str, status: BgStatus, max_min: u64) -> u64 {
        for m in 0..max_min {
            if self.bg(region, id).await.map(|b| b.status) == Some(status.clone()) {
                return m;
            }
            self.advance(60);
        }
        panic!(
            "{id} never reached {status}: {:?}",
            self.bg(region, id).await
        );
    }
}

#[tokio::test]
async fn init_fleet_has_documented_problem_proportions_and_clean_has_none() {
    let w = world(InitOptions::default());
    assert_eq!(w.summary.databases, 70);
    assert_eq!(w.summary.by_region.values().sum::<usize>(), 70);
    for (p, share) in PROBLEM_SHARES {
        let want = ((share * 70.0).round() as usize).max(1);
        assert_eq!(w.summary.problems.get(*p), Some(&want), "{p}");
    }
    let mut all = w.all(SIM_REGIONS[0]).await;
    all.extend(w.all(SIM_REGIONS[1]).await);
    assert_eq!(all.len(), 70);
    let count = |f: &dyn Fn(&DbInstance) -> bool| all.iter().filter(|i| f(i)).count();
    assert!(count(&|i| i.engine_version.starts_with("5.7")) > 40);
    assert!(count(&|i| i.engine == "postgres") >= 3);
    assert!(count(&|i| i.engine_version.starts_with("5.6")) >= 1);
    assert!(count(&|i| i.status == "stopped") >= 1);
    assert!(count(&|i| i.managed_master_password) >= 1);
    assert!(count(&|i| !i.pending_modifications.is_empty()) >= 1);
    assert!(count(&|i| i.parameter_group().unwrap().name == SHARED_GROUP) >= 2);
    assert!(count(&|i| i.read_replicas.iter().any(|r| r.starts_with("arn:"))) >= 1);
    assert!(count(&|i| i.tags.contains_key("team") && i.tags.contains_key("env")) == 70);
    assert!(all.iter().all(|i| i.arn
        == format!(
            "arn:aws:rds:{}:{SIM_ACCOUNT_ID}:db:{}",
            i.region, i.identifier
        )));
    // Custom groups carry user-modified parameters such as the query cache.
    let groups =
        w.b.describe_parameter_groups(R, &[SHARED_GROUP.to_string()])
            .await
            .unwrap();
    assert_eq!(groups[0].family, "mysql5.7");
    let user =
        w.b.describe_parameters(R, SHARED_GROUP, true)
            .await
            .unwrap();
    assert!(user
        .iter()
        .any(|p| p.name == "query_cache_size" && p.source == "user"));
    assert!(user.iter().any(|p| p.name == "tx_isolation"));
    for region in SIM_REGIONS {
        for fam in ["mysql5.7", "mysql8.0", "postgres13"] {
            let g =
                w.b.describe_parameter_groups(region, &[format!("default.{fam}")])
                    .await;
            assert!(g.is_ok(), "{region} default.{fam}");
        }
    }

    let c = world(clean(70));
    assert!(c.summary.problems.is_empty());
    let mut all = c.all(SIM_REGIONS[0]).await;
    all.extend(c.all(SIM_REGIONS[1]).await);
    assert_eq!(all.len(), 70);
    for i in &all {
        assert_eq!(i.status, "available", "{}", i.identifier);
        assert!(!i.managed_master_password && !i.deletion_protection);
        assert!(i.pending_modifications.is_empty());
        assert!(!i.engine_version.starts_with("5.6"));
        assert!(i.read_replica_source.is_some() || i.backup_retention_period > 0);
        assert!(i.read_replicas.iter().all(|r| !r.starts_with("arn:")));
        assert_ne!(i.parameter_group().unwrap().name, SHARED_GROUP);
        if i.engine == "postgres" {
            let pg = &i.parameter_group().unwrap().name;
            let v = c.b.describe_parameters(&i.region, pg, false).await.unwrap();
            assert!(v
                .iter()
                .any(|p| p.name == "rds.logical_replication" && p.value.as_deref() == Some("1")));
        }
    }
    for i in &all {
        for r in &i.read_replicas {
            let rep = all.iter().find(|x| &x.identifier == r).unwrap();
            assert!(
                rep.read_replicas.is_empty(),
                "cascading replica in a clean fleet"
            );
        }
    }
}

#[tokio::test]
async fn same_seed_gives_identical_world_and_other_seed_differs() {
    let a = world(InitOptions::default());
    let b = world(InitOptions::default());
    let c = world(InitOptions {
        seed: 2,
        ..InitOptions::default()
    });
    for region in SIM_REGIONS {
        assert_eq!(a.all(region).await, b.all(region).await);
        let ga = a.b.describe_parameter_groups(region, &[]).await.unwrap();
        assert_eq!(
            ga,
            b.b.describe_parameter_groups(region, &[]).await.unwrap()
        );
    }
    assert_eq!(a.summary, b.summary);
    assert_ne!(a.all(R).await, c.all(R).await);
}

#[tokio::test]
async fn quota_defaults_to_40_and_is_raised_to_fit_a_big_fleet() {
    let small = world(clean(20));
    for region in SIM_REGIONS {
        let q = small.b.describe_instance_quota(region).await.unwrap();
        assert_eq!(q.max, 40);
        assert_eq!(q.used as usize, small.summary.by_region[region]);
    }
    let big = world(clean(120));
    let q = big.b.describe_instance_quota(R).await.unwrap();
    let n = big.summary.by_region[R] as i64;
    assert!(n > 40);
    assert_eq!(q.max, (n * 3 + 1) / 2);
}

#[tokio::test]
async fn snapshot_duration_grows_with_storage() {
    let w = world(clean(60));
    let all = w.all(R).await;
    let small = all
        .iter()
        .filter(|i| i.read_replica_source.is_none())
        .min_by_key(|i| i.allocated_storage_gib)
        .unwrap();
    let large = all
        .iter()
        .filter(|i| i.read_replica_source.is_none())
        .max_by_key(|i| i.allocated_storage_gib)
        .unwrap();
    assert!(small.allocated_storage_gib <= 50 && large.allocated_storage_gib >= 500);
    let s1 =
        w.b.create_snapshot(R, &small.identifier, "s-small", &Tags::new())
            .await
            .unwrap();
    let s2 =
        w.b.create_snapshot(R, &large.identifier, "s-large", &Tags::new())
            .await
            .unwrap();
    assert_eq!(
        (s1.status.as_str(), s2.status.as_str()),
        ("creating", "creating")
    );
    assert_eq!(
        w.get(R, &small.identifier).await.unwrap().status,
        "backing-up"
    );
    let mut done: BTreeMap<String, u64> = BTreeMap::new();
    let mut last_pct = 0;
    for t in 0..3600u64 {
        let snaps =
            w.b.describe_snapshots(R, &SnapshotQuery::default())
                .await
                .unwrap();
        for s in snaps {
            if s.status == "available" {
                done.entry(s.identifier.clone()).or_insert(t);
            } else if s.identifier == "s-large" {
                assert!(s.percent_progress >= last_pct);
                last_pct = s.percent_progress;
            }
        }
        if done.len() == 2 {
            break;
        }
        w.advance(10);
    }
    assert!(done["s-small"] < done["s-large"], "{done:?}");
    assert!(last_pct > 50);
    assert_eq!(
        w.get(R, &small.identifier).await.unwrap().status,
        "available"
    );
    // Same id again: AlreadyExists (the adopt signal).
    let e =
        w.b.create_snapshot(R, &small.identifier, "s-small", &Tags::new())
            .await
            .unwrap_err();
    assert_eq!(
        (e.kind, e.code.as_str()),
        (ErrorKind::AlreadyExists, "DBSnapshotAlreadyExists")
    );
}

#[tokio::test]
async fn blue_green_provisions_then_switches_over_to_old1_then_old2() {
    let w = world(clean(30));
    let (src, target) = w.mysql_primary(R).await;
    let used = w.b.describe_instance_quota(R).await.unwrap().used;
    let bg = w.create_bg(&src, &target, None).await.unwrap();
    assert_eq!(bg.status, BgStatus::Provisioning);
    assert!(bg.identifier.starts_with("bgd-"));
    assert_eq!(w.b.describe_instance_quota(R).await.unwrap().used, used + 1);
    let green_arn = bg.target.clone().unwrap();
    let green_id = green_arn.rsplit(':').next().unwrap().to_string();
    assert!(green_id.starts_with(&format!("{}-green-", src.identifier)));
    assert_eq!(green_id.len(), src.identifier.len() + 13);
    // Green is a real instance, and the deployment turns AVAILABLE only when it is.
    let mut seen = std::collections::BTreeSet::new();
    let mut minutes = 0;
    loop {
        let g = w.get(R, &green_id).await.unwrap();
        let b = w.bg(R, &bg.identifier).await.unwrap();
        seen.insert(g.status.clone());
        if b.status == BgStatus::Available {
            assert_eq!(g.status, "available");
            break;
        }
        assert_eq!(b.status, BgStatus::Provisioning);
        assert_ne!(g.status, "available");
        w.advance(60);
        minutes += 1;
        assert!(minutes < 300);
    }
    assert!(minutes >= 15, "provisioning took {minutes} min");
    assert!(
        seen.contains("creating") && seen.contains("upgrading"),
        "{seen:?}"
    );

    let sw =
        w.b.switchover_blue_green(R, &bg.identifier, 300)
            .await
            .unwrap();
    assert_eq!(sw.status, BgStatus::SwitchoverInProgress);
    w.wait_bg(R, &bg.identifier, BgStatus::SwitchoverCompleted, 5)
        .await;
    let new = w.get(R, &src.identifier).await.unwrap();
    assert_eq!(new.engine_version, target);
    assert_eq!(new.parameter_group().unwrap().name, "green-mysql8-0");
    assert_ne!(new.dbi_resource_id, src.dbi_resource_id);
    let old = w.get(R, &format!("{}-old1", src.identifier)).await.unwrap();
    assert_eq!(old.engine_version, src.engine_version);
    assert_eq!(old.dbi_resource_id, src.dbi_resource_id);
    assert!(w.get(R, &green_id).await.is_none());
    let done = w.bg(R, &bg.identifier).await.unwrap();
    assert_eq!(done.source, old.arn);
    assert_eq!(done.target.as_deref(), Some(new.arn.as_str()));
    let dt = w.b.downtime().unwrap();
    assert_eq!(dt.len(), 1);
    assert_eq!(dt[0].identifier, src.identifier);
    assert!((20.0..=90.0).contains(&dt[0].seconds), "{}", dt[0].seconds);
    // DeleteTarget is refused after switchover; plain delete works.
    let e =
        w.b.delete_blue_green(R, &bg.identifier, true)
            .await
            .unwrap_err();
    assert_eq!(e.code, "InvalidBlueGreenDeploymentStateFault");
    w.b.delete_blue_green(R, &bg.identifier, false)
        .await
        .unwrap();

    // A second upgrade of the same database leaves -old2.
    let t2 = Catalog::bundled()
        .resolve_direct("mysql", &target, "8.4")
        .unwrap()
        .engine_version
        .clone();
    let bg2 =
        w.b.create_blue_green(
            R,
            &CreateBlueGreen {
                name: "second".into(),
                source_arn: new.arn.clone(),
                target_engine_version: t2.clone(),
                target_parameter_group: Some(w.green_group(R, "mysql8.4").await),
                target_instance_class: None,
                target_storage_type: None,
                tags: Tags::new(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    w.wait_bg(R, &bg2.identifier, BgStatus::Available, 300)
        .await;
    w.b.switchover_blue_green(R, &bg2.identifier, 300)
        .await
        .unwrap();
    w.wait_bg(R, &bg2.identifier, BgStatus::SwitchoverCompleted, 5)
        .await;
    assert_eq!(w.get(R, &src.identifier).await.unwrap().engine_version, t2);
    assert_eq!(
        w.get(R, &src.identifier)
            .await
            .unwrap()
            .parameter_group()
            .unwrap()
            .name,
        "green-mysql8-4"
    );
    assert!(w
        .get(R, &format!("{}-old1", src.identifier))
        .await
        .is_some());
    assert_eq!(
        w.get(R, &format!("{}-old2", src.identifier))
            .await
            .unwrap()
            .engine_version,
        target
    );
    // The trail proves each side effect happened once.
    let creates =
        w.b.trail(true)
            .unwrap()
            .into_iter()
            .filter(|t| t.action == "CreateBlueGreenDeployment" && t.outcome == "ok")
            .count();
    assert_eq!(creates, 2);
}

#[tokio::test]
async fn same_region_replicas_get_green_copies_and_switch_together() {
    let w = world(clean(150));
    let all = w.all(R).await;
    let src = all
        .iter()
        .find(|i| {
            i.engine == "mysql" && !i.read_replicas.is_empty() && i.read_replica_source.is_none()
        })
        .expect("a primary with a replica")
        .clone();
    let rep_id = src.read_replicas[0].clone();
    let target = Catalog::bundled()
        .resolve_direct("mysql", &src.engine_version, "8.0")
        .unwrap()
        .engine_version
        .clone();
    let used = w.b.describe_instance_quota(R).await.unwrap().used;
    let bg = w.create_bg(&src, &target, None).await.unwrap();
    assert_eq!(bg.switchover_details.len(), 2);
    assert_eq!(w.b.describe_instance_quota(R).await.unwrap().used, used + 2);
    w.wait_bg(R, &bg.identifier, BgStatus::Available, 300).await;
    w.b.switchover_blue_green(R, &bg.identifier, 600)
        .await
        .unwrap();
    w.wait_bg(R, &bg.identifier, BgStatus::SwitchoverCompleted, 12)
        .await;
    let new_src = w.get(R, &src.identifier).await.unwrap();
    let new_rep = w.get(R, &rep_id).await.unwrap();
    assert_eq!(new_rep.engine_version, target);
    assert_eq!(
        new_rep.read_replica_source.as_deref(),
        Some(src.identifier.as_str())
    );
    assert_eq!(new_src.read_replicas, vec![rep_id.clone()]);
    let old_rep = w.get(R, &format!("{rep_id}-old1")).await.unwrap();
    assert_eq!(
        old_rep.read_replica_source,
        Some(format!("{}-old1", src.identifier))
    );
    assert_eq!(w.b.downtime().unwrap().len(), 2);
}

#[tokio::test]
async fn throttling_after_burst_recovers_at_sustained_rate() {
    let w = world(InitOptions {
        throttle_burst: 10.0,
        throttle_rate: 2.0,
        ..clean(20)
    });
    for _ in 0..10 {
        w.b.describe_instance_quota(R).await.unwrap();
    }
    let e = w.b.describe_instance_quota(R).await.unwrap_err();
    assert_eq!(
        (e.kind, e.code.as_str(), e.message.as_str()),
        (ErrorKind::Throttled, "Throttling", "Rate exceeded")
    );
    // Throttled mutating calls change nothing.
    let e =
        w.b.create_snapshot(R, "whatever", "snap-x", &Tags::new())
            .await
            .unwrap_err();
    assert_eq!(e.code, "Throttling");
    // A failed call's request id names its trail row (as an AWS request id names the call).
    let rid = e.request_id.clone().expect("a request id");
    let row = w.b.trail(false).unwrap().into_iter().last().unwrap();
    assert_eq!(rid, format!("sim-{:08}", row.seq));
    assert_eq!(row.action, "CreateDBSnapshot");
    // Buckets are per region.
    w.b.describe_instance_quota(SIM_REGIONS[1]).await.unwrap();
    w.advance(1);
    w.b.describe_instance_quota(R).await.unwrap();
    w.b.describe_instance_quota(R).await.unwrap();
    assert_eq!(
        w.b.describe_instance_quota(R).await.unwrap_err().code,
        "Throttling"
    );
    let s = w.b.trail_summary().unwrap();
    assert_eq!(s.throttled, 3);
    assert_eq!(s.calls, 16);
    w.advance(100);
    let snaps =
        w.b.describe_snapshots(R, &SnapshotQuery::default())
            .await
            .unwrap();
    assert!(snaps.is_empty());
}

#[tokio::test]
async fn instance_quota_exceeded_as_aws_does() {
    let probe = world(clean(30));
    let n = probe.summary.by_region[R] as i64;
    let w = world(InitOptions {
        instance_quota: Some(n + 1),
        ..clean(30)
    });
    assert_eq!(
        w.b.describe_instance_quota(R).await.unwrap(),
        Quota {
            used: n,
            max: n + 1
        }
    );
    let (a, t) = w.mysql_primary(R).await;
    w.create_bg(&a, &t, None).await.unwrap();
    let b = w
        .all(R)
        .await
        .into_iter()
        .find(|i| {
            i.engine == "mysql"
                && i.identifier != a.identifier
                && i.read_replicas.is_empty()
                && i.read_replica_source.is_none()
                && !i.identifier.contains("-green-")
        })
        .unwrap();
    let t2 = Catalog::bundled()
        .resolve_direct("mysql", &b.engine_version, "8.0")
        .map(|t| t.engine_version.clone())
        .unwrap_or(b.engine_version.clone());
    let e = w.create_bg(&b, &t2, None).await.unwrap_err();
    assert_eq!(
        (e.kind, e.code.as_str()),
        (ErrorKind::QuotaExceeded, "InstanceQuotaExceeded")
    );
}

async fn refusal(w: &W, src: &DbInstance, target: &str) -> (ErrorKind, String) {
    let e = w.create_bg(src, target, None).await.unwrap_err();
    (e.kind, e.code)
}

#[tokio::test]
async fn blue_green_prerequisites_are_enforced_with_aws_codes() {
    let w = world(InitOptions::default());
    let cat = Catalog::bundled();
    let mut all = w.all(SIM_REGIONS[0]).await;
    all.extend(w.all(SIM_REGIONS[1]).await);
    let find = |f: &dyn Fn(&DbInstance) -> bool| all.iter().find(|i| f(i)).unwrap().clone();
    let to80 = |i: &DbInstance| {
        cat.resolve_direct("mysql", &i.engine_version, "8.0")
            .map(|t| t.engine_version.clone())
            .unwrap_or("8.0.42".into())
    };
    let inv = (
        ErrorKind::InvalidRequest,
        "InvalidParameterCombination".to_string(),
    );
    let unsupported = (
        ErrorKind::InvalidRequest,
        "SourceDatabaseNotSupportedFault".to_string(),
    );

    let backups_off = find(&|i| {
        i.engine == "mysql" && i.backup_retention_period == 0 && i.read_replica_source.is_none()
    });
    assert_eq!(refusal(&w, &backups_off, &to80(&backups_off)).await, inv);

    let pg = find(&|i| {
        i.engine == "postgres" && i.parameter_group().unwrap().name.starts_with("default.")
    });
    let major = cat
        .get("postgres", &pg.engine_version)
        .unwrap()
        .valid_upgrade_targets
        .iter()
        .find(|t| t.is_major_version_upgrade)
        .unwrap()
        .engine_version
        .clone();
    assert_eq!(refusal(&w, &pg, &major).await, inv);

    let cascading = find(&|i| {
        i.read_replica_source.is_none()
            && i.read_replicas.iter().any(|r| {
                all.iter()
                    .any(|x| &x.identifier == r && !x.read_replicas.is_empty())
            })
    });
    assert_eq!(
        refusal(&w, &cascading, &to80(&cascading)).await,
        unsupported
    );

    let cross = find(&|i| i.read_replicas.iter().any(|r| r.starts_with("arn:")));
    assert_eq!(refusal(&w, &cross, &to80(&cross)).await, unsupported);

    let secret = find(&|i| i.managed_master_password);
    assert_eq!(refusal(&w, &secret, &to80(&secret)).await, unsupported);

    let stopped = find(&|i| i.status == "stopped");
    assert_eq!(
        refusal(&w, &stopped, &to80(&stopped)).await,
        (
            ErrorKind::InvalidState,
            "InvalidDBInstanceState".to_string()
        )
    );

    // Not a valid target: 5.7 -> 8.4 skips a major.
    let (ok_src, _) = w.mysql_primary(R).await;
    assert_eq!(refusal(&w, &ok_src, "8.4.3").await, inv);
    // Target group of the wrong family.
    let e = w
        .create_bg(&ok_src, &to80(&ok_src), Some("default.mysql5.7"))
        .await
        .unwrap_err();
    assert_eq!(e.code, "InvalidParameterCombination");
    let e = w
        .create_bg(&ok_src, &to80(&ok_src), Some("no-such-group"))
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind, e.code.as_str()),
        (ErrorKind::NotFound, "DBParameterGroupNotFound")
    );

    // Parameter group not in-sync: a static change waits for a reboot.
    let custom = find(&|i| {
        i.engine == "mysql"
            && i.region == R
            && i.identifier != ok_src.identifier
            && i.read_replicas.is_empty()
            && i.read_replica_source.is_none()
            && i.status == "available"
            && i.backup_retention_period > 0
            && !i.managed_master_password
            && i.parameter_group().unwrap().name.ends_with("-mysql57")
    });
    let g = custom.parameter_group().unwrap().name.clone();
    let ch = |name: &str, method: &str| {
        vec![ParameterChange {
            name: name.into(),
            value: "268435456".into(),
            apply_method: method.into(),
        }]
    };
    let e =
        w.b.modify_parameter_group(R, &g, &ch("innodb_log_file_size", "immediate"))
            .await
            .unwrap_err();
    assert_eq!(e.code, "InvalidParameterCombination");
    w.b.modify_parameter_group(R, &g, &ch("innodb_log_file_size", "pending-reboot"))
        .await
        .unwrap();
    assert_eq!(
        w.get(R, &custom.identifier)
            .await
            .unwrap()
            .parameter_group()
            .unwrap()
            .apply_status,
        "pending-reboot"
    );
    assert_eq!(
        refusal(&w, &custom, &to80(&custom)).await,
        (
            ErrorKind::InvalidState,
            "InvalidDBInstanceState".to_string()
        )
    );

    // Parameter group API errors.
    let e =
        w.b.modify_parameter_group(R, "default.mysql5.7", &ch("max_connections", "immediate"))
            .await
            .unwrap_err();
    assert_eq!(e.code, "InvalidParameterValue");
    let new = NewParameterGroup {
        name: "t80".into(),
        family: "mysql8.0".into(),
        description: "d".into(),
        tags: Tags::new(),
    };
    w.b.create_parameter_group(R, &new).await.unwrap();
    assert_eq!(
        w.b.create_parameter_group(R, &new).await.unwrap_err().kind,
        ErrorKind::AlreadyExists
    );
    let e =
        w.b.modify_parameter_group(R, "t80", &ch("query_cache_size", "immediate"))
            .await
            .unwrap_err();
    assert_eq!(
        e.code, "InvalidParameterValue",
        "MySQL 8.0 has no query cache"
    );
    assert_eq!(
        w.b.delete_parameter_group(R, SHARED_GROUP)
            .await
            .unwrap_err()
            .code,
        "InvalidDBParameterGroupState"
    );
    w.b.delete_parameter_group(R, "t80").await.unwrap();
    assert_eq!(
        w.b.delete_parameter_group(R, "t80").await.unwrap_err().kind,
        ErrorKind::NotFound
    );

    // Already in a deployment.
    w.create_bg(&ok_src, &to80(&ok_src), None).await.unwrap();
    let e =
        w.b.create_blue_green(
            R,
            &CreateBlueGreen {
                name: "other-name".into(),
                source_arn: ok_src.arn.clone(),
                target_engine_version: to80(&ok_src),
                target_parameter_group: Some(w.green_group(R, "mysql8.0").await),
                target_instance_class: None,
                target_storage_type: None,
                tags: Tags::new(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, "InvalidDBInstanceState");
    let e = w
        .create_bg(&ok_src, &to80(&ok_src), None)
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind, e.code.as_str()),
        (
            ErrorKind::AlreadyExists,
            "BlueGreenDeploymentAlreadyExistsFault"
        )
    );
    // Every refusal is in the trail with its code.
    let trail = w.b.trail(true).unwrap();
    assert!(trail
        .iter()
        .any(|t| t.outcome == "SourceDatabaseNotSupportedFault"));
    assert!(
        trail
            .iter()
            .filter(|t| t.action == "CreateBlueGreenDeployment" && t.outcome == "ok")
            .count()
            == 1
    );
}

#[tokio::test]
async fn deletion_rules() {
    let w = world(InitOptions::default());
    let prot = w
        .all(R)
        .await
        .into_iter()
        .chain(w.all(SIM_REGIONS[1]).await)
        .find(|i| i.deletion_protection)
        .unwrap();
    let e =
        w.b.delete_instance(&prot.region, &prot.identifier, "final-1")
            .await
            .unwrap_err();
    assert_eq!(e.code, "InvalidParameterCombination");
    w.b.set_deletion_protection(&prot.region, &prot.identifier, false)
        .await
        .unwrap();
    w.b.delete_instance(&prot.region, &prot.identifier, "final-1")
        .await
        .unwrap();
    assert_eq!(
        w.get(&prot.region, &prot.identifier).await.unwrap().status,
        "deleting"
    );
    w.advance(3 * 3600);
    assert!(w.get(&prot.region, &prot.identifier).await.is_none());
    let s =
        w.b.describe_snapshots(
            &prot.region,
            &SnapshotQuery {
                snapshot_ids: vec!["final-1".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(s[0].status, "available");
    assert_eq!(
        w.b.delete_instance(&prot.region, &prot.identifier, "final-2")
            .await
            .unwrap_err()
            .code,
        "DBInstanceNotFound"
    );

    // Abandoning before switchover deletes the green instances.
    let (src, t) = w.mysql_primary(R).await;
    let bg = w.create_bg(&src, &t, None).await.unwrap();
    let green = bg.target.unwrap().rsplit(':').next().unwrap().to_string();
    assert_eq!(
        w.b.delete_instance(R, &src.identifier, "f")
            .await
            .unwrap_err()
            .code,
        "InvalidDBInstanceState"
    );
    w.b.delete_blue_green(R, &bg.identifier, true)
        .await
        .unwrap();
    assert_eq!(
        w.bg(R, &bg.identifier).await.unwrap().status,
        BgStatus::Deleting
    );
    w.advance(3600);
    assert!(w.bg(R, &bg.identifier).await.is_none());
    assert!(w.get(R, &green).await.is_none());
    assert_eq!(w.get(R, &src.identifier).await.unwrap().status, "available");
    let tags = w.get(R, &src.identifier).await.unwrap().tags;
    assert!(tags.contains_key("env"));
    let mut add = Tags::new();
    add.insert("k".into(), "v".into());
    w.b.add_tags(R, &src.arn, &add).await.unwrap();
    assert_eq!(w.get(R, &src.identifier).await.unwrap().tags["k"], "v");
}

#[tokio::test]
async fn targeted_faults_switchover_fail_invalid_config_snapshot_fail() {
    let w = world(clean(30));
    let (a, ta) = w.mysql_primary(R).await;
    let (b, tb) = w.mysql_primary(SIM_REGIONS[1]).await;
    w.b.set_faults(&format!(
        "switchover-fail@{}, invalid-config@{}, snapshot-fail@{}",
        a.identifier, b.identifier, a.identifier
    ))
    .unwrap();
    let s =
        w.b.create_snapshot(R, &a.identifier, "pre-a", &Tags::new())
            .await
            .unwrap();
    let bga = w.create_bg(&a, &ta, None).await;
    assert_eq!(
        bga.unwrap_err().code,
        "InvalidDBInstanceState",
        "backing-up during the snapshot"
    );
    w.advance(3600);
    let snaps =
        w.b.describe_snapshots(
            R,
            &SnapshotQuery {
                snapshot_ids: vec![s.identifier],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(snaps[0].status, "failed");
    let bga = w.create_bg(&a, &ta, None).await.unwrap();
    let bgb = w.create_bg(&b, &tb, None).await.unwrap();
    w.wait_bg(
        SIM_REGIONS[1],
        &bgb.identifier,
        BgStatus::InvalidConfiguration,
        300,
    )
    .await;
    w.wait_bg(R, &bga.identifier, BgStatus::Available, 300)
        .await;
    assert_eq!(
        w.b.switchover_blue_green(SIM_REGIONS[1], &bgb.identifier, 300)
            .await
            .unwrap_err()
            .code,
        "InvalidBlueGreenDeploymentStateFault"
    );
    w.b.switchover_blue_green(R, &bga.identifier, 300)
        .await
        .unwrap();
    w.wait_bg(R, &bga.identifier, BgStatus::SwitchoverFailed, 10)
        .await;
    // Rolled back: blue still serves under its name, same resource, old version, writable.
    let blue = w.get(R, &a.identifier).await.unwrap();
    assert_eq!(blue.dbi_resource_id, a.dbi_resource_id);
    assert_eq!(blue.engine_version, a.engine_version);
    assert_eq!(blue.status, "available");
    assert!(w.get(R, &format!("{}-old1", a.identifier)).await.is_none());
    // Abort path works from SWITCHOVER_FAILED.
    w.b.delete_blue_green(R, &bga.identifier, true)
        .await
        .unwrap();
}

#[tokio::test]
async fn switchover_longer_than_timeout_rolls_back() {
    let w = world(clean(30));
    let (a, ta) = w.mysql_primary(R).await;
    let bg = w.create_bg(&a, &ta, None).await.unwrap();
    w.wait_bg(R, &bg.identifier, BgStatus::Available, 300).await;
    // Every drawn switchover lasts at least 35 s: a 30 s timeout always rolls back.
    w.b.switchover_blue_green(R, &bg.identifier, 30)
        .await
        .unwrap();
    w.wait_bg(R, &bg.identifier, BgStatus::SwitchoverFailed, 5)
        .await;
    let e =
        w.b.switchover_blue_green(R, &bg.identifier, 10)
            .await
            .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
}

async fn failed_snapshots(seed: u64) -> Vec<String> {
    let w = world(InitOptions {
        seed,
        faults: "snapshot-fail=0.4".into(),
        ..clean(30)
    });
    for i in w.all(R).await {
        if i.read_replica_source.is_none() {
            w.b.create_snapshot(
                R,
                &i.identifier,
                &format!("{}-pre", i.identifier),
                &Tags::new(),
            )
            .await
            .unwrap();
        }
    }
    w.advance(4 * 3600);
    let mut failed: Vec<String> =
        w.b.describe_snapshots(R, &SnapshotQuery::default())
            .await
            .unwrap()
            .into_iter()
            .filter(|s| s.status == "failed")
            .map(|s| s.instance_identifier)
            .collect();
    failed.sort();
    failed
}

#[tokio::test]
async fn probabilistic_faults_are_reproducible_from_the_seed() {
    let a = failed_snapshots(1).await;
    let b = failed_snapshots(1).await;
    assert_eq!(a, b);
    assert!(!a.is_empty() && a.len() < 15, "{a:?}");
}

#[tokio::test]
async fn transient_errors_latency_and_lost_responses() {
    let w = world(clean(20));
    let (a, _) = w.mysql_primary(R).await;
    w.b.set_faults("5xx@CreateDBSnapshot").unwrap();
    let e =
        w.b.create_snapshot(R, &a.identifier, "s1", &Tags::new())
            .await
            .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Transient);
    assert!(["InternalFailure", "ServiceUnavailable"].contains(&e.code.as_str()));
    assert!(w
        .b
        .describe_snapshots(R, &SnapshotQuery::default())
        .await
        .unwrap()
        .is_empty());
    // 5xx-after: the effect happens, the response is lost; the retry sees AlreadyExists.
    w.b.set_faults("5xx-after@CreateDBSnapshot").unwrap();
    let e =
        w.b.create_snapshot(R, &a.identifier, "s1", &Tags::new())
            .await
            .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Transient);
    w.b.set_faults("").unwrap();
    assert_eq!(
        w.b.create_snapshot(R, &a.identifier, "s1", &Tags::new())
            .await
            .unwrap_err()
            .kind,
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        w.b.describe_snapshots(R, &SnapshotQuery::default())
            .await
            .unwrap()
            .len(),
        1
    );
    let t = w.b.trail(true).unwrap();
    assert_eq!(
        t.iter()
            .filter(|t| t.params.get("sim_effect_applied").is_some())
            .count(),
        1
    );
    // Latency is simulated time spent in the call.
    w.b.set_faults("latency=5000").unwrap();
    let before = w.clock.now();
    for _ in 0..5 {
        w.b.describe_instance_quota(R).await.unwrap();
    }
    let spent = w.clock.now() - before;
    assert!(spent > 0 && spent <= 25_000, "{spent}");
}

#[tokio::test]
async fn other_actor_deletes_or_modifies_mid_run() {
    let w = world(clean(30));
    let (a, ta) = w.mysql_primary(R).await;
    let (b, _) = w.mysql_primary(SIM_REGIONS[1]).await;
    w.b.set_faults(&format!(
        "actor-delete@{}, actor-modify@{}",
        a.identifier, b.identifier
    ))
    .unwrap();
    w.advance(1);
    let bg = w.create_bg(&a, &ta, None).await.unwrap();
    w.b.create_snapshot(SIM_REGIONS[1], &b.identifier, "sb", &Tags::new())
        .await
        .unwrap();
    let mut statuses = std::collections::BTreeSet::new();
    for _ in 0..90 {
        if let Some(i) = w.get(SIM_REGIONS[1], &b.identifier).await {
            statuses.insert(i.status);
        }
        w.advance(60);
    }
    assert!(
        statuses.contains("modifying") || statuses.contains("rebooting"),
        "{statuses:?}"
    );
    assert!(
        w.get(R, &a.identifier).await.is_none(),
        "deleted by someone else"
    );
    let d = w.bg(R, &bg.identifier).await.unwrap();
    assert_eq!(d.status, BgStatus::InvalidConfiguration);
    assert_eq!(d.switchover_details[0].status, "MISSING_SOURCE");
}

#[tokio::test]
async fn eventual_consistency_hides_new_resources_for_a_while() {
    let w = world(InitOptions {
        faults: "lag=1,lag-secs=30".into(),
        ..clean(20)
    });
    let (a, _) = w.mysql_primary(R).await;
    w.b.create_snapshot(R, &a.identifier, "s1", &Tags::new())
        .await
        .unwrap();
    let q = SnapshotQuery {
        snapshot_ids: vec!["s1".into()],
        ..Default::default()
    };
    assert!(w.b.describe_snapshots(R, &q).await.unwrap().is_empty());
    // Not hidden from the uniqueness check.
    assert_eq!(
        w.b.create_snapshot(R, &a.identifier, "s1", &Tags::new())
            .await
            .unwrap_err()
            .kind,
        ErrorKind::AlreadyExists
    );
    w.advance(31);
    assert_eq!(w.b.describe_snapshots(R, &q).await.unwrap().len(), 1);
    // Initial fleet is old enough to be visible.
    assert!(w.get(R, &a.identifier).await.is_some());
}

#[tokio::test]
async fn trail_records_every_call_and_paginates_describes() {
    let w = world(clean(250));
    let n = w.summary.by_region[R];
    assert!(n > 100);
    let t0 = std::time::Instant::now();
    let all = w.all(R).await;
    let took = t0.elapsed();
    assert_eq!(all.len(), n);
    eprintln!("describe of {n} instances: {took:?}");
    assert!(took < Duration::from_millis(500), "{took:?}");
    let trail = w.b.trail(false).unwrap();
    assert_eq!(trail.len(), n.div_ceil(100));
    assert!(trail
        .iter()
        .all(|t| t.action == "DescribeDBInstances" && t.outcome == "ok" && !t.mutating));
    let _ =
        w.b.create_snapshot(R, "no-such-db", "x", &Tags::new())
            .await;
    let t = w.b.trail(true).unwrap();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].outcome, "DBInstanceNotFound");
    assert_eq!(t[0].action, "CreateDBSnapshot");
    assert_eq!(t[0].time, crate::clock::rfc3339(START));
    let versions =
        w.b.describe_engine_versions(R, "mysql", Some("5.7.44"), false)
            .await
            .unwrap();
    assert!(versions[0]
        .valid_upgrade_targets
        .iter()
        .any(|t| t.is_major_version_upgrade));
}

/// Issue 10: as RDS, a minor no longer offered for new instances (5.7.33) is listed only with
/// IncludeAll, with its valid upgrade targets; an Extended Support minor is listed either way.
#[tokio::test]
async fn describe_engine_versions_lists_deprecated_minors_only_with_include_all() {
    let w = world(clean(1));
    let all = |v: Vec<EngineVersion>| {
        v.into_iter()
            .map(|v| v.engine_version)
            .collect::<Vec<String>>()
    };
    let offered = all(w
        .b
        .describe_engine_versions(R, "mysql", None, false)
        .await
        .unwrap());
    let every = all(w
        .b
        .describe_engine_versions(R, "mysql", None, true)
        .await
        .unwrap());
    assert!(!offered.contains(&"5.7.33".to_string()), "{offered:?}");
    assert!(every.contains(&"5.7.33".to_string()), "{every:?}");
    assert!(offered.contains(&"5.7.44-rds.20240808".to_string()));
    let old =
        w.b.describe_engine_versions(R, "mysql", Some("5.7.33"), true)
            .await
            .unwrap();
    assert_eq!(old[0].status, "deprecated");
    assert!(old[0]
        .valid_upgrade_targets
        .iter()
        .any(|t| t.engine_version == "8.0.42"));
    let trail = w.b.trail(false).unwrap();
    assert!(trail
        .iter()
        .any(|t| t.action == "DescribeDBEngineVersions" && t.params["IncludeAll"] == true));
}

#[tokio::test]
async fn world_survives_reopen_and_time_is_stored() {
    let w = world(clean(20));
    let (a, _) = w.mysql_primary(R).await;
    w.b.create_snapshot(R, &a.identifier, "s1", &Tags::new())
        .await
        .unwrap();
    let other = SimBackend::open(&w.path).unwrap();
    let now = other.clock().now();
    assert!(now >= START, "scaled clock starts at the world's sim epoch");
    assert_eq!(other.trail(true).unwrap().len(), 1);
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        SimBackend::open(&dir.path().join("none.sqlite")),
        Err(SimError::Missing { .. })
    ));
    std::fs::write(
        dir.path().join("junk"),
        b"not sqlite at all, just some bytes that are long enough",
    )
    .unwrap();
    let e = SimBackend::open(&dir.path().join("junk")).unwrap_err();
    assert!(matches!(e, SimError::Corrupt { .. }), "{e}");
    let e = init_world(
        &dir.path().join("w"),
        &InitOptions {
            faults: "bogus=1".into(),
            ..clean(5)
        },
        START,
    )
    .unwrap_err();
    assert!(matches!(e, SimError::BadFaultSpec { .. }));
}

#[test]
fn sim_backend_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<SimBackend>();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_one_world() {
    let w = world(clean(20));
    let other = Arc::new(SimBackend::open_with_clock(&w.path, Arc::new(w.clock.clone())).unwrap());
    let mine = Arc::new(SimBackend::open_with_clock(&w.path, Arc::new(w.clock.clone())).unwrap());
    let mut tasks = vec![];
    for k in 0..2 {
        let b = if k == 0 { other.clone() } else { mine.clone() };
        tasks.push(tokio::spawn(async move {
            for _ in 0..25 {
                b.describe_instances(R, &InstanceQuery::default())
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let trail = w.b.trail(false).unwrap();
    assert_eq!(trail.len(), 50);
    let seqs: std::collections::BTreeSet<i64> = trail.iter().map(|t| t.seq).collect();
    assert_eq!(seqs.len(), 50, "every call has its own trail entry");
}

#[test]
fn migrations_run_twice_without_harm() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("w.sqlite");
    init_world(&p, &clean(5), START).unwrap();
    drop(store::open(&p, false).unwrap());
    drop(store::open(&p, false).unwrap());
    assert!(SimBackend::open(&p).is_ok());
}

#[tokio::test]
async fn provisioning_grows_with_storage() {
    let w = world(clean(60));
    let cat = Catalog::bundled();
    let cands: Vec<DbInstance> = w
        .all(R)
        .await
        .into_iter()
        .filter(|i| {
            i.engine == "mysql" && i.read_replicas.is_empty() && i.read_replica_source.is_none()
        })
        .filter(|i| {
            cat.resolve_direct("mysql", &i.engine_version, "8.0")
                .is_some()
        })
        .collect();
    let small = cands
        .iter()
        .min_by_key(|i| i.allocated_storage_gib)
        .unwrap();
    let large = cands
        .iter()
        .max_by_key(|i| i.allocated_storage_gib)
        .unwrap();
    assert!(small.allocated_storage_gib <= 50 && large.allocated_storage_gib >= 500);
    let t = |i: &DbInstance| {
        cat.resolve_direct("mysql", &i.engine_version, "8.0")
            .unwrap()
            .engine_version
            .clone()
    };
    let bs = w.create_bg(small, &t(small), None).await.unwrap();
    let bl = w.create_bg(large, &t(large), None).await.unwrap();
    let ms = w.wait_bg(R, &bs.identifier, BgStatus::Available, 400).await;
    let ml = w.wait_bg(R, &bl.identifier, BgStatus::Available, 400).await;
    assert!(
        ml > 0,
        "large still provisioning when small was done ({ms} min)"
    );
    assert!(ms >= 15, "tens of minutes: {ms}");
}

/// A fixed script of calls and clock steps; returns everything observed.
async fn scripted_run(seed: u64) -> (Vec<String>, Vec<DbInstance>) {
    let w = world(InitOptions {
        seed,
        faults: "default".into(),
        ..clean(40)
    });
    let mut seen = vec![];
    let mut ids = vec![];
    for i in w.all(R).await {
        if i.engine == "mysql"
            && i.read_replicas.is_empty()
            && i.read_replica_source.is_none()
            && ids.len() < 4
        {
            ids.push(i);
        }
    }
    let cat = Catalog::bundled();
    for i in &ids {
        let r =
            w.b.create_snapshot(
                R,
                &i.identifier,
                &format!("{}-pre", i.identifier),
                &Tags::new(),
            )
            .await;
        seen.push(format!("{:?}", r.map(|s| s.status).map_err(|e| e.code)));
    }
    for step in 0..120 {
        w.advance(60);
        if step == 30 {
            for i in &ids {
                let t = cat
                    .resolve_direct("mysql", &i.engine_version, "8.0")
                    .map(|t| t.engine_version.clone())
                    .unwrap_or(i.engine_version.clone());
                let r = w.create_bg(i, &t, None).await;
                seen.push(format!("{:?}", r.map(|b| b.name).map_err(|e| e.code)));
            }
        }
        let bgs = w.b.describe_blue_green(R, &BlueGreenQuery::default()).await;
        seen.push(format!(
            "{:?}",
            bgs.map(|v| v
                .into_iter()
                .map(|b| (b.name, b.status))
                .collect::<Vec<_>>())
        ));
    }
    let trail: Vec<String> =
        w.b.trail(false)
            .unwrap()
            .into_iter()
            .map(|t| format!("{} {} {} {}", t.at, t.action, t.resource, t.outcome))
            .collect();
    seen.extend(trail);
    (seen, w.all(R).await)
}

#[tokio::test]
async fn same_seed_same_calls_same_run() {
    let a = scripted_run(7).await;
    let b = scripted_run(7).await;
    assert_eq!(a.0, b.0);
    assert_eq!(a.1, b.1);
    assert!(a.0.iter().any(|s| s.contains("Available")));
}

#[tokio::test]
async fn storage_change_passes_through_storage_optimization() {
    let w = world(clean(30));
    let (src, target) = w.mysql_primary(R).await;
    let new_type = if src.storage_type == "gp3" {
        "io1"
    } else {
        "gp3"
    };
    // io1 needs IOPS and at least 100 GiB.
    let (iops, gib) = if new_type == "io1" {
        (Some(3000), Some(src.allocated_storage_gib.max(100)))
    } else {
        (None, None)
    };
    let bg =
        w.b.create_blue_green(
            R,
            &CreateBlueGreen {
                name: "st".into(),
                source_arn: src.arn.clone(),
                target_engine_version: target,
                target_parameter_group: Some(w.green_group(R, "mysql8.0").await),
                target_instance_class: Some("db.r7g.large".into()),
                target_storage_type: Some(new_type.into()),
                target_iops: iops,
                target_allocated_storage: gib,
                tags: Tags::new(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let green = bg.target.unwrap().rsplit(':').next().unwrap().to_string();
    let mut seen = vec![];
    while w.bg(R, &bg.identifier).await.unwrap().status == BgStatus::Provisioning {
        let g = w.get(R, &green).await.unwrap();
        if seen.last() != Some(&g.status) {
            seen.push(g.status.clone());
        }
        w.advance(30);
    }
    assert_eq!(seen, vec!["creating", "upgrading", "storage-optimization"]);
    let g = w.get(R, &green).await.unwrap();
    assert_eq!(
        (g.storage_type.as_str(), g.instance_class.as_str()),
        (new_type, "db.r7g.large")
    );
    assert_eq!(g.iops, iops);
    assert_eq!(
        g.allocated_storage_gib,
        gib.unwrap_or(src.allocated_storage_gib)
    );
}

/// Issue 10 item 5: green's storage is refused as RDS refuses it, so a plan that sends too
/// little (io1 without IOPS) or too much (IOPS on a small gp3 volume) fails a test.
#[tokio::test]
async fn green_storage_is_refused_as_rds_refuses_it() {
    let w = world(clean(30));
    let (src, target) = w.mysql_primary(R).await;
    let pg = w.green_group(R, "mysql8.0").await;
    let try_create =
        |kind: &str, iops: Option<i32>, tput: Option<i32>, gib: Option<i32>| CreateBlueGreen {
            name: "st".into(),
            source_arn: src.arn.clone(),
            target_engine_version: target.clone(),
            target_parameter_group: Some(pg.clone()),
            target_storage_type: Some(kind.into()),
            target_iops: iops,
            target_storage_throughput: tput,
            target_allocated_storage: gib,
            ..Default::default()
        };
    let small = src.allocated_storage_gib.clamp(100, 300);
    let refused = [
        // io1 always needs IOPS.
        (try_create("io1", None, None, Some(small)), "requires iops"),
        // io1's minimum size is 100 GiB.
        (
            try_create("io1", Some(1000), None, Some(50)),
            "storage size",
        ),
        // IOPS per GiB at most 50 for io1.
        (
            try_create("io1", Some(100 * small), None, Some(small)),
            "ratio",
        ),
        // gp3 below 400 GiB: a fixed baseline.
        (
            try_create("gp3", Some(12000), None, Some(small)),
            "less than 400",
        ),
        // gp3 at 400 GiB and above: 500-4000 MiB/s, at most 0.25 per IOPS.
        (try_create("gp3", None, Some(4000), Some(500)), "ratio"),
        // Throughput is gp3's only.
        (try_create("io1", Some(3000), Some(500), Some(small)), "gp3"),
        (
            try_create("magnetic", None, None, None),
            "Invalid storage type",
        ),
    ];
    for (req, why) in refused {
        let e = w.b.create_blue_green(R, &req).await.unwrap_err();
        assert!(
            matches!(
                e.code.as_str(),
                "InvalidParameterCombination" | "InvalidParameterValue"
            ) && e.message.contains(why),
            "{req:?}: {e}"
        );
    }
    let ok = try_create("gp3", Some(16000), Some(1000), Some(500));
    let bg = w.b.create_blue_green(R, &ok).await.unwrap();
    let green = bg.target.unwrap().rsplit(':').next().unwrap().to_string();
    let g = w.get(R, &green).await.unwrap();
    assert_eq!(
        (
            g.storage_type.as_str(),
            g.iops,
            g.storage_throughput,
            g.allocated_storage_gib
        ),
        ("gp3", Some(16000), Some(1000), 500)
    );
}

/// Issue 10 item 2: names and values a family does not accept are refused with AWS's code,
/// and green may not be created with the event scheduler on.
#[tokio::test]
async fn parameter_values_and_event_scheduler_are_refused_as_rds_does() {
    let w = world(clean(30));
    let new = NewParameterGroup {
        name: "t80".into(),
        family: "mysql8.0".into(),
        description: "d".into(),
        tags: Tags::new(),
    };
    w.b.create_parameter_group(R, &new).await.unwrap();
    let set = |name: &str, value: &str| {
        vec![ParameterChange {
            name: name.into(),
            value: value.into(),
            apply_method: "immediate".into(),
        }]
    };
    for (name, value) in [
        (
            "sql_mode",
            "STRICT_TRANS_TABLES,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION",
        ),
        ("show_compatibility_56", "ON"),
        ("tx_isolation", "READ-COMMITTED"),
        ("innodb_undo_logs", "128"),
        ("event_scheduler", "DISABLED"),
        ("max_connections", "many"),
    ] {
        let e =
            w.b.modify_parameter_group(R, "t80", &set(name, value))
                .await
                .unwrap_err();
        assert_eq!(e.code, "InvalidParameterValue", "{name}={value}");
    }
    // The same sql_mode is fine in 5.7, and without NO_AUTO_CREATE_USER in 8.0.
    w.b.modify_parameter_group(
        R,
        "t80",
        &set("sql_mode", "STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION"),
    )
    .await
    .unwrap();
    // Green on a group that leaves event_scheduler at 8.0's default (ON) is refused...
    let (src, target) = w.mysql_primary(R).await;
    for pg in ["default.mysql8.0", "t80"] {
        let e = w.create_bg(&src, &target, Some(pg)).await.unwrap_err();
        assert_eq!(e.code, "InvalidParameterCombination", "{pg}");
        assert!(e.message.contains("event_scheduler=OFF"), "{e}");
    }
    // ...and accepted once it is OFF.
    w.b.modify_parameter_group(R, "t80", &set("event_scheduler", "OFF"))
        .await
        .unwrap();
    w.create_bg(&src, &target, Some("t80")).await.unwrap();
}

/// Issue 10 item 1: no green on a version RDS no longer offers.
#[tokio::test]
async fn green_on_a_deprecated_version_is_refused() {
    let w = world(clean(30));
    let (src, _) = w.mysql_primary(R).await;
    let e = w.create_bg(&src, "5.7.33", None).await.unwrap_err();
    assert_eq!(e.code, "InvalidParameterCombination");
    assert!(e.message.contains("no longer offered"), "{e}");
}

#[test]
fn speed_change_keeps_time_continuous() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("w.sqlite");
    init_world(
        &p,
        &InitOptions {
            speed: 1.0,
            ..clean(5)
        },
        START,
    )
    .unwrap();
    let before = SimBackend::open(&p).unwrap().clock().now();
    set_world_speed(&p, 1000.0).unwrap();
    let after = SimBackend::open(&p).unwrap().clock().now();
    // Continuous: no jump back, and no jump forward beyond a few wall seconds x 1000.
    assert!(
        after >= before && after - before < 60_000,
        "{before} -> {after}"
    );
    assert!(set_world_speed(&p, 0.0).is_err());
}

/// The first instance of the fleet with problem case `p` (via its distinguishing trait).
async fn with(w: &W, f: impl Fn(&DbInstance) -> bool) -> DbInstance {
    let mut all = w.all(R).await;
    all.extend(w.all(SIM_REGIONS[1]).await);
    all.into_iter().find(|i| f(i)).expect("the fleet has one")
}

/// A deployment from a protected source has a protected green, and `DeleteTarget` is refused
/// until green's protection is off (AWS: the green instances "must have deletion protection
/// turned off"), with the fault RDS documents for an invalid green configuration.
#[tokio::test]
async fn delete_target_is_refused_while_green_has_deletion_protection() {
    let w = world(clean(20));
    let (src, t) = w.mysql_primary(R).await;
    w.b.set_deletion_protection(R, &src.identifier, true)
        .await
        .unwrap();
    let bg = w.create_bg(&src, &t, None).await.unwrap();
    let green = bg.target_identifiers();
    assert_eq!(green.len(), 1);
    assert!(
        w.get(R, &green[0]).await.unwrap().deletion_protection,
        "copied from blue"
    );
    let e =
        w.b.delete_blue_green(R, &bg.identifier, true)
            .await
            .unwrap_err();
    assert_eq!(
        (e.kind, e.code.as_str()),
        (
            ErrorKind::InvalidState,
            "InvalidBlueGreenDeploymentStateFault"
        )
    );
    assert_eq!(
        w.bg(R, &bg.identifier).await.unwrap().status,
        BgStatus::Provisioning
    );
    // Without DeleteTarget nothing is deleted, so nothing is refused.
    w.b.set_deletion_protection(R, &green[0], false)
        .await
        .unwrap();
    w.b.delete_blue_green(R, &bg.identifier, true)
        .await
        .unwrap();
    w.advance(3600);
    assert!(w.get(R, &green[0]).await.is_none());
    assert!(w.get(R, &src.identifier).await.unwrap().deletion_protection);
}

/// Switchover renames blue's replicas to `-old1` too; they keep running as replicas of the old
/// source. A replica takes no final snapshot (RDS refuses one), and only a replica may be
/// deleted without one.
#[tokio::test]
async fn old_replicas_are_deleted_without_a_snapshot_and_primaries_never_are() {
    let w = world(clean(150));
    let src = with(&w, |i| {
        i.region == R
            && i.engine == "mysql"
            && !i.read_replicas.is_empty()
            && i.read_replica_source.is_none()
    })
    .await;
    let rep = src.read_replicas[0].clone();
    let t = Catalog::bundled()
        .resolve_direct("mysql", &src.engine_version, "8.0")
        .unwrap()
        .engine_version
        .clone();
    let bg = w.create_bg(&src, &t, None).await.unwrap();
    assert_eq!(
        bg.target_identifiers().len(),
        2,
        "green primary and green replica"
    );
    w.wait_bg(R, &bg.identifier, BgStatus::Available, 300).await;
    w.b.switchover_blue_green(R, &bg.identifier, 600)
        .await
        .unwrap();
    w.wait_bg(R, &bg.identifier, BgStatus::SwitchoverCompleted, 12)
        .await;
    let old_rep = w.get(R, &format!("{rep}-old1")).await.unwrap();
    let old_src = w.get(R, &format!("{}-old1", src.identifier)).await.unwrap();
    assert_eq!(old_rep.status, "available", "still running (and billed)");
    assert_eq!(old_rep.engine_version, src.engine_version);

    let e =
        w.b.delete_instance(R, &old_rep.identifier, "final-rep")
            .await
            .unwrap_err();
    assert_eq!(e.code, "InvalidParameterCombination");
    assert!(
        ReadReplica::of(&old_src).is_none(),
        "a primary has no replica token"
    );
    w.b.delete_blue_green(R, &bg.identifier, false)
        .await
        .unwrap();
    w.advance(600);
    let token = ReadReplica::of(&old_rep).unwrap();
    w.b.delete_read_replica(R, &token).await.unwrap();
    let trail = w.b.trail(true).unwrap();
    let last = trail.last().unwrap();
    assert_eq!(last.action, "DeleteDBInstance");
    assert_eq!(last.params["SkipFinalSnapshot"], true);
    w.advance(3600);
    assert!(w.get(R, &old_rep.identifier).await.is_none());
    assert!(w
        .get(R, &old_src.identifier)
        .await
        .unwrap()
        .read_replicas
        .is_empty());

    // A token for an instance that stopped being a replica (promoted) is refused.
    let other = with(&w, |i| i.region == R && i.read_replica_source.is_some()).await;
    let stale = ReadReplica::of(&other).unwrap();
    let src_of_other = other.read_replica_source.clone().unwrap();
    w.b.delete_instance(R, &src_of_other, "final-src")
        .await
        .unwrap();
    w.advance(3 * 3600);
    let e = w.b.delete_read_replica(R, &stale).await.unwrap_err();
    assert_eq!(
        (e.kind, e.code.as_str()),
        (ErrorKind::InvalidRequest, "NotAReadReplica")
    );
    assert!(
        w.get(R, &other.identifier).await.is_some(),
        "nothing deleted"
    );
}

/// What a guard before switchover must see: green's identifiers from the deployment, and the
/// faults that leave green other than planned.
#[tokio::test]
async fn green_faults_leave_green_on_the_wrong_version_or_pending_reboot() {
    let w = world(clean(30));
    let (a, ta) = w.mysql_primary(R).await;
    let (b, tb) = w.mysql_primary(SIM_REGIONS[1]).await;
    w.b.set_faults(&format!(
        "green-wrong-version@{}, green-pending-reboot@{}",
        a.identifier, b.identifier
    ))
    .unwrap();
    let bga = w.create_bg(&a, &ta, None).await.unwrap();
    let bgb = w.create_bg(&b, &tb, None).await.unwrap();
    w.wait_bg(R, &bga.identifier, BgStatus::Available, 300)
        .await;
    w.wait_bg(SIM_REGIONS[1], &bgb.identifier, BgStatus::Available, 300)
        .await;
    let bga = w.bg(R, &bga.identifier).await.unwrap();
    let ga = w.get(R, &bga.target_identifiers()[0]).await.unwrap();
    assert_ne!(ga.engine_version, ta);
    assert_eq!(ga.engine_version, a.engine_version);
    assert_eq!(ga.parameter_groups[0].apply_status, "in-sync");
    let bgb = w.bg(SIM_REGIONS[1], &bgb.identifier).await.unwrap();
    let gb = w
        .get(SIM_REGIONS[1], &bgb.target_identifiers()[0])
        .await
        .unwrap();
    assert_eq!(gb.engine_version, tb);
    assert_eq!(gb.parameter_groups[0].apply_status, "pending-reboot");
}

/// An engine upgrade that fails its prechecks leaves the log on green, in the format
/// `diagnosis` parses, under the name RDS uses; a non-major one fails at replication.
#[tokio::test]
async fn invalid_config_on_a_major_upgrade_leaves_the_precheck_log_on_green() {
    let w = world(clean(40));
    let (a, ta) = w.mysql_primary(R).await;
    let p = with(&w, |i| {
        i.engine == "postgres" && i.read_replicas.is_empty() && i.read_replica_source.is_none()
    })
    .await;
    w.b.set_faults(&format!("invalid-config@{}|{}", a.identifier, p.identifier))
        .unwrap();
    let bga = w.create_bg(&a, &ta, None).await.unwrap();
    w.wait_bg(R, &bga.identifier, BgStatus::InvalidConfiguration, 300)
        .await;
    let bga = w.bg(R, &bga.identifier).await.unwrap();
    let green = &bga.target_identifiers()[0];
    assert!(bga
        .status_details
        .unwrap()
        .contains("PrePatchCompatibility.log"));
    let g = w.get(R, green).await.unwrap();
    assert_eq!(
        (g.engine_version.as_str(), g.status.as_str()),
        (a.engine_version.as_str(), "available")
    );
    let files = w.b.describe_log_files(R, green).await.unwrap();
    let log = crate::diagnosis::pick_precheck_log(&files).expect("a precheck log");
    assert_eq!(log.name, "PrePatchCompatibility.log");
    let text = w.b.download_log_file(R, green, &log.name).await.unwrap();
    let checks = crate::diagnosis::parse(&log.name, &text);
    assert!(!crate::diagnosis::errors(&checks).is_empty(), "{text}");
    let e =
        w.b.download_log_file(R, green, "nope.log")
            .await
            .unwrap_err();
    assert_eq!(e.code, "DBLogFileNotFoundFault");

    let pg_target = Catalog::bundled()
        .resolve_direct("postgres", &p.engine_version, "16")
        .unwrap()
        .engine_version
        .clone();
    let pg_group = format!("{}-pg16", p.identifier);
    w.b.create_parameter_group(
        &p.region,
        &NewParameterGroup {
            name: pg_group.clone(),
            family: "postgres16".into(),
            description: "d".into(),
            tags: Tags::new(),
        },
    )
    .await
    .unwrap();
    let bgp = w.create_bg(&p, &pg_target, Some(&pg_group)).await.unwrap();
    w.wait_bg(
        &p.region,
        &bgp.identifier,
        BgStatus::InvalidConfiguration,
        300,
    )
    .await;
    let green = &bgp.target_identifiers()[0];
    let files = w.b.describe_log_files(&p.region, green).await.unwrap();
    let log = crate::diagnosis::pick_precheck_log(&files).expect("a precheck log");
    assert!(
        log.name.starts_with("pg_upgrade_precheck.log."),
        "{}",
        log.name
    );
    let text =
        w.b.download_log_file(&p.region, green, &log.name)
            .await
            .unwrap();
    assert_eq!(crate::diagnosis::parse(&log.name, &text).len(), 2, "{text}");
}

/// Sources blue/green does not support are refused with AWS's code; a zero-ETL integration
/// blocks only the switchover; too few PostgreSQL replication workers fail the deployment the
/// way AWS documents.
#[tokio::test]
async fn topology_problems_are_refused_where_aws_refuses_them() {
    let w = world(InitOptions::default());
    let member = with(&w, |i| i.db_cluster_identifier.is_some()).await;
    let e = w.create_bg(&member, "16.8", None).await.unwrap_err();
    assert_eq!(e.code, "SourceDatabaseNotSupportedFault", "{e}");
    let proxies = w.b.describe_proxies(R).await.unwrap();
    let mut proxies_eu = w.b.describe_proxies(SIM_REGIONS[1]).await.unwrap();
    proxies_eu.extend(proxies);
    let proxy = &proxies_eu[0];
    let region = if proxy.arn.contains(R) {
        R
    } else {
        SIM_REGIONS[1]
    };
    let targets =
        w.b.describe_proxy_targets(region, &proxy.name)
            .await
            .unwrap();
    let target = w.get(region, &targets[0].resource_id).await.unwrap();
    let t = Catalog::bundled()
        .resolve_direct("mysql", &target.engine_version, "8.0")
        .unwrap()
        .engine_version
        .clone();
    let e = w.create_bg(&target, &t, None).await.unwrap_err();
    assert_eq!(e.code, "SourceDatabaseNotSupportedFault", "{e}");
    assert_eq!(
        w.b.describe_proxy_targets(region, "no-such-proxy")
            .await
            .unwrap_err()
            .code,
        "DBProxyNotFoundFault"
    );

    let mut integrations = w.b.describe_integrations(R).await.unwrap();
    integrations.extend(w.b.describe_integrations(SIM_REGIONS[1]).await.unwrap());
    let z = with(&w, |i| i.arn == integrations[0].source_arn).await;
    let t = Catalog::bundled()
        .resolve_direct("mysql", &z.engine_version, "8.0")
        .unwrap()
        .engine_version
        .clone();
    let bg = w.create_bg(&z, &t, None).await.unwrap();
    w.wait_bg(&z.region, &bg.identifier, BgStatus::Available, 300)
        .await;
    let e =
        w.b.switchover_blue_green(&z.region, &bg.identifier, 300)
            .await
            .unwrap_err();
    assert_eq!(e.code, "InvalidBlueGreenDeploymentStateFault", "{e}");

    // The `postgres-replication-capacity` database: its group sets one apply worker.
    let mut short = None;
    for i in w
        .all(R)
        .await
        .into_iter()
        .chain(w.all(SIM_REGIONS[1]).await)
    {
        let Some(g) = i.parameter_group().filter(|_| i.engine == "postgres") else {
            continue;
        };
        let p =
            w.b.describe_parameters(&i.region, &g.name, true)
                .await
                .unwrap();
        if p.iter()
            .any(|p| p.name == "max_logical_replication_workers")
        {
            short = Some(i);
            break;
        }
    }
    let short = short.expect("the postgres-replication-capacity database");
    let t = Catalog::bundled()
        .resolve_direct("postgres", &short.engine_version, "16")
        .unwrap()
        .engine_version
        .clone();
    let bg = w.create_bg(&short, &t, None).await.unwrap();
    w.wait_bg(
        &short.region,
        &bg.identifier,
        BgStatus::InvalidConfiguration,
        300,
    )
    .await;
    let d = w
        .bg(&short.region, &bg.identifier)
        .await
        .unwrap()
        .status_details
        .unwrap();
    assert!(
        d.contains("incompatible parameter(s): [max_logical_replication_workers]"),
        "{d}"
    );
}
/// Issue 10: the generated fleet has what real 5.7 estates have, so every rollout on it goes
/// through the Extended Support and deprecated minors and the 5.7 settings 8.0 refuses.
#[tokio::test]
async fn fleet_runs_extended_support_and_deprecated_minors_and_57_settings() {
    let w = world(InitOptions::default());
    let mut versions = std::collections::BTreeSet::new();
    let mut settings = std::collections::BTreeSet::new();
    for region in SIM_REGIONS {
        for i in w.all(region).await {
            versions.insert(i.engine_version.clone());
            let g = i.parameter_group().unwrap().name.clone();
            if g.ends_with("-mysql57") {
                for p in w.b.describe_parameters(region, &g, true).await.unwrap() {
                    settings.insert(format!("{}={}", p.name, p.value.unwrap_or_default()));
                }
            }
        }
    }
    assert!(
        versions.iter().any(|v| is_extended_support_minor(v)),
        "{versions:?}"
    );
    assert!(versions.contains("5.7.33"), "{versions:?}");
    for s in [
        "sql_mode=STRICT_TRANS_TABLES,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION",
        "event_scheduler=ON",
        "show_compatibility_56=ON",
    ] {
        assert!(settings.contains(s), "{s} not in {settings:?}");
    }
}
#[tokio::test]
async fn speed_max_is_virtual_time_stored_in_the_world() {
    assert_eq!(parse_speed("max"), Ok(f64::INFINITY));
    assert_eq!(parse_speed("600"), Ok(600.0));
    for bad in ["0", "-3", "fast", "inf", "NaN", ""] {
        assert!(parse_speed(bad).is_err(), "{bad}");
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("w.sqlite");
    let opts = InitOptions {
        speed: f64::INFINITY,
        ..clean(5)
    };
    init_world(&p, &opts, START).unwrap();
    let b = SimBackend::open(&p).unwrap();
    assert_eq!(
        b.clock().now(),
        START,
        "virtual time starts at the world's start"
    );
    b.clock().sleep(Duration::from_secs(3600)).await;
    assert_eq!(
        SimBackend::open(&p).unwrap().clock().now(),
        START + 3_600_000
    );
    drop(b);
    // Back to a scaled clock at the same instant, and to virtual time again.
    set_world_speed(&p, 1.0).unwrap();
    let t = SimBackend::open(&p).unwrap().clock().now();
    assert!((START + 3_600_000..START + 3_660_000).contains(&t), "{t}");
    set_world_speed(&p, f64::INFINITY).unwrap();
    let v = SimBackend::open(&p).unwrap().clock().now();
    assert!(v >= t && v < t + 60_000, "{t} -> {v}");
}

#[tokio::test]
async fn milestones_say_when_rds_finished_what_it_was_asked() {
    let w = world(clean(10));
    let (a, to) = w.mysql_primary(R).await;
    w.b.create_snapshot(R, &a.identifier, "pre-a", &Tags::new())
        .await
        .unwrap();
    w.advance(3600);
    let bg = w.create_bg(&a, &to, None).await.unwrap();
    w.wait_bg(R, &bg.identifier, BgStatus::Available, 300).await;
    w.b.switchover_blue_green(R, &bg.identifier, 300)
        .await
        .unwrap();
    w.advance(600);
    w.b.advance().unwrap();
    let m = w.b.milestones().unwrap();
    let kinds: Vec<(&str, &str)> = m
        .iter()
        .map(|m| (m.kind.as_str(), m.resource.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("snapshot-available", "pre-a"),
            ("bgd-available", bg.identifier.as_str()),
            ("switchover-completed", bg.identifier.as_str())
        ],
        "{m:?}"
    );
    // Each at its own due time, in order, after the call that asked for it.
    let trail = w.b.trail(true).unwrap();
    assert!(m[0].at > trail[0].at && m[0].at < START + 3_600_000);
    assert!(m.windows(2).all(|p| p[0].at <= p[1].at));
    assert_eq!(m[1].detail, format!("up-{}", a.identifier));
    // Filtered describes read only what they return, and answer as the full scan does.
    let q = InstanceQuery {
        identifiers: vec![a.identifier.clone(), "nope".into(), a.identifier.clone()],
        ..Default::default()
    };
    let one = w.b.describe_instances(R, &q).await.unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(
        Some(&one[0]),
        w.all(R).await.iter().find(|i| i.identifier == a.identifier)
    );
    let (last, mutating) = w.b.trail_marks().unwrap();
    let all = w.b.trail(false).unwrap();
    assert_eq!(last, all.last().unwrap().seq);
    assert_eq!(mutating, all.iter().filter(|t| t.mutating).count() as i64);
}

/// `ListTagsForResource` on a parameter group returns the tags given at creation (and added
/// since), and refuses an ARN that names no group, as RDS does.
#[tokio::test]
async fn parameter_group_tags_are_kept_from_creation_and_unknown_arns_are_refused() {
    let w = world(clean(1));
    let new = NewParameterGroup {
        name: "rdsfleet-p1-mysql80-custom".into(),
        family: "mysql8.0".into(),
        description: "d".into(),
        tags: managed_tags("p1"),
    };
    let g = w.b.create_parameter_group(R, &new).await.unwrap();
    assert!(
        g.arn.ends_with(":pg:rdsfleet-p1-mysql80-custom"),
        "{}",
        g.arn
    );
    let described =
        w.b.describe_parameter_groups(R, std::slice::from_ref(&new.name))
            .await
            .unwrap();
    assert_eq!(described[0].arn, g.arn, "the ARN tags are read by");
    let tags = w.b.list_tags(R, &g.arn).await.unwrap();
    assert_eq!(tags, managed_tags("p1"));
    let mut more = Tags::new();
    more.insert("team".into(), "db".into());
    w.b.add_tags(R, &g.arn, &more).await.unwrap();
    assert_eq!(w.b.list_tags(R, &g.arn).await.unwrap()["team"], "db");

    let untagged = NewParameterGroup {
        name: "someone-elses".into(),
        tags: Tags::new(),
        ..new.clone()
    };
    let s = w.b.create_parameter_group(R, &untagged).await.unwrap();
    assert!(w.b.list_tags(R, &s.arn).await.unwrap().is_empty());

    let gone = g.arn.replace("rdsfleet-p1-mysql80-custom", "nope");
    let e = w.b.list_tags(R, &gone).await.unwrap_err();
    assert_eq!(
        (e.kind, e.code.as_str()),
        (ErrorKind::NotFound, "DBParameterGroupNotFound")
    );
    let e = w.b.list_tags(R, "not-an-arn").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
    let e = w.b.list_tags(SIM_REGIONS[1], &g.arn).await.unwrap_err();
    assert_eq!(
        e.kind,
        ErrorKind::InvalidRequest,
        "an ARN of another region"
    );
    let trail = w.b.trail(false).unwrap();
    assert!(trail
        .iter()
        .any(|t| t.action == "ListTagsForResource" && !t.mutating));
}

/// The indexed lookup of an instance's replicas (`store::replicas_of`, used when a switchover
/// renames or a delete removes an instance) finds exactly what a scan of the region finds.
#[tokio::test]
async fn replicas_by_source_match_a_scan_of_the_region() {
    let w = world(InitOptions {
        databases: 40,
        ..InitOptions::default()
    });
    let c = store::open(&w.path, false).unwrap();
    let mut with_replicas = 0;
    for region in SIM_REGIONS {
        let all = store::all_inst(&c, region).unwrap();
        for i in &all {
            let scanned: Vec<&str> = all
                .iter()
                .filter(|o| o.inst.read_replica_source.as_deref() == Some(&i.inst.identifier))
                .map(|o| o.inst.identifier.as_str())
                .collect();
            let looked_up = store::replicas_of(&c, region, &[i.inst.identifier.as_str()]).unwrap();
            let looked_up: Vec<&str> = looked_up
                .iter()
                .map(|o| o.inst.identifier.as_str())
                .collect();
            assert_eq!(looked_up, scanned, "{}", i.inst.identifier);
            with_replicas += usize::from(!scanned.is_empty());
        }
    }
    assert!(with_replicas > 0, "the fixture needs a replica");
}
