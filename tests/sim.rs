//! Whole-fleet rollouts against the simulated RDS through `dyn RdsBackend` only, driven by a
//! deliberately naive poller (one describe per region and resource type per tick). They check
//! the simulator end to end under the default faults and under throttling: every database
//! ends done, failed or blocked with a reason, and no side effect happened twice.

use rdsfleet::backend::*;
use rdsfleet::catalog::Catalog;
use rdsfleet::clock::{Clock, ManualClock, Millis, SharedClock};
use rdsfleet::domain::*;
use rdsfleet::sim::*;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const START: Millis = 1_790_000_000_000;

#[derive(Debug, Clone, PartialEq)]
enum St {
    Pending,
    Snapshotting,
    Creating,
    Provisioning,
    Switching,
    Done,
    Failed(String),
    Blocked(String),
}

fn terminal(s: &St) -> bool {
    matches!(s, St::Done | St::Failed(_) | St::Blocked(_))
}

struct Report {
    outcomes: BTreeMap<String, usize>,
    trail: TrailSummary,
    sim_minutes: i64,
    wall: Duration,
    effects: BTreeMap<(String, String), usize>,
}

async fn rollout(opts: InitOptions) -> Report {
    let wall = std::time::Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("world.sqlite");
    init_world(&path, &opts, START).unwrap();
    let clock = ManualClock::new(START);
    let shared: SharedClock = Arc::new(clock.clone());
    let sim = SimBackend::open_with_clock(&path, shared).unwrap();
    let b: &dyn RdsBackend = &sim;
    let cat = Catalog::bundled();

    // The databases to upgrade: MySQL primaries, to the newest 8.0 they can reach directly.
    let mut dbs: BTreeMap<(String, String), (DbInstance, String, St)> = BTreeMap::new();
    for region in SIM_REGIONS {
        let all = loop {
            match b
                .describe_instances(region, &InstanceQuery::default())
                .await
            {
                Ok(v) => break v,
                Err(e) if e.is_retryable() => clock.sleep(Duration::from_secs(1)).await,
                Err(e) => panic!("{e}"),
            }
        };
        for i in all {
            if i.engine != "mysql" || i.read_replica_source.is_some() {
                continue;
            }
            let st = match cat.resolve_direct("mysql", &i.engine_version, "8.0") {
                Some(t) => (t.engine_version.clone(), St::Pending),
                None => (String::new(), St::Blocked("no direct 8.0 target".into())),
            };
            dbs.insert((region.to_string(), i.identifier.clone()), (i, st.0, st.1));
        }
    }

    // Green needs event_scheduler=OFF at creation, which MySQL 8.0 does not default to: one
    // custom 8.0 group per region, as a planner would create.
    let green_group = |region: &str| format!("rf-green-mysql80-{region}");
    for region in SIM_REGIONS {
        let new = NewParameterGroup {
            name: green_group(region),
            family: "mysql8.0".into(),
            description: "green".into(),
            tags: managed_tags("rf-test"),
        };
        let off = [ParameterChange {
            name: "event_scheduler".into(),
            value: "OFF".into(),
            apply_method: "immediate".into(),
        }];
        loop {
            let created = match b.create_parameter_group(region, &new).await {
                Ok(_) => Ok(()),
                Err(e) if e.kind == ErrorKind::AlreadyExists => Ok(()),
                Err(e) => Err(e),
            };
            let r = match created {
                Ok(()) => {
                    b.modify_parameter_group(region, &green_group(region), &off)
                        .await
                }
                Err(e) => Err(e),
            };
            match r {
                Ok(()) => break,
                Err(e) if e.is_retryable() => clock.sleep(Duration::from_secs(1)).await,
                Err(e) => panic!("{e}"),
            }
        }
    }

    for _tick in 0..(3 * 24 * 60) {
        if dbs.values().all(|d| terminal(&d.2)) {
            break;
        }
        let mut snaps = BTreeMap::new();
        let mut bgs = BTreeMap::new();
        for region in SIM_REGIONS {
            if let Ok(v) = b
                .describe_snapshots(region, &SnapshotQuery::default())
                .await
            {
                for s in v {
                    snaps.insert((region.to_string(), s.identifier.clone()), s.status);
                }
            }
            if let Ok(v) = b
                .describe_blue_green(region, &BlueGreenQuery::default())
                .await
            {
                for g in v {
                    bgs.insert((region.to_string(), g.name.clone()), g);
                }
            }
        }
        for ((region, id), (inst, target, st)) in dbs.iter_mut() {
            let snap = format!("{id}-pre");
            let name = format!("rf-{id}");
            let next = match st.clone() {
                St::Pending => match b.create_snapshot(region, id, &snap, &Tags::new()).await {
                    Ok(_) => St::Snapshotting,
                    Err(e) if e.kind == ErrorKind::AlreadyExists => St::Snapshotting,
                    Err(e) if e.is_retryable() || e.kind == ErrorKind::InvalidState => St::Pending,
                    Err(e) => St::Failed(e.code),
                },
                St::Snapshotting => match snaps
                    .get(&(region.clone(), snap.clone()))
                    .map(String::as_str)
                {
                    Some("available") => St::Creating,
                    Some("failed") => St::Failed("snapshot failed".into()),
                    _ => St::Snapshotting,
                },
                St::Creating => {
                    let req = CreateBlueGreen {
                        name: name.clone(),
                        source_arn: inst.arn.clone(),
                        target_engine_version: target.clone(),
                        target_parameter_group: Some(green_group(region)),
                        target_instance_class: None,
                        target_storage_type: None,
                        tags: managed_tags("rf-test"),
                        ..Default::default()
                    };
                    match b.create_blue_green(region, &req).await {
                        Ok(_) => St::Provisioning,
                        Err(e) if e.kind == ErrorKind::AlreadyExists => St::Provisioning,
                        Err(e) if e.kind == ErrorKind::QuotaExceeded => St::Blocked(e.code),
                        Err(e) if e.kind == ErrorKind::NotFound => St::Failed(e.code),
                        Err(e) if e.is_retryable() || e.kind == ErrorKind::InvalidState => {
                            St::Creating
                        }
                        Err(e) => St::Failed(e.code),
                    }
                }
                St::Provisioning | St::Switching => {
                    match bgs.get(&(region.clone(), name.clone())) {
                        None => st.clone(),
                        Some(g) => match &g.status {
                            BgStatus::Available => {
                                match b.switchover_blue_green(region, &g.identifier, 300).await {
                                    Ok(_) => St::Switching,
                                    // A lost response: the switchover may be running; look again.
                                    Err(e) if e.is_retryable() => St::Switching,
                                    Err(e) if e.kind == ErrorKind::InvalidState => st.clone(),
                                    Err(e) => St::Failed(e.code),
                                }
                            }
                            BgStatus::SwitchoverCompleted => St::Done,
                            BgStatus::SwitchoverFailed => St::Failed("SWITCHOVER_FAILED".into()),
                            BgStatus::InvalidConfiguration => {
                                St::Failed("INVALID_CONFIGURATION".into())
                            }
                            _ => st.clone(),
                        },
                    }
                }
                s => s,
            };
            *st = next;
        }
        clock.advance(Duration::from_secs(60));
    }
    let mut outcomes = BTreeMap::new();
    for (_, _, st) in dbs.values() {
        let k = match st {
            St::Done => "done".to_string(),
            St::Failed(r) => format!("failed: {r}"),
            St::Blocked(r) => format!("blocked: {r}"),
            other => format!("unfinished: {other:?}"),
        };
        *outcomes.entry(k).or_default() += 1;
    }
    let mut effects = BTreeMap::new();
    for t in sim.trail(true).unwrap() {
        if t.outcome == "ok" || t.params.get("sim_effect_applied").is_some() {
            *effects.entry((t.action, t.resource)).or_default() += 1;
        }
    }
    Report {
        outcomes,
        trail: sim.trail_summary().unwrap(),
        sim_minutes: (clock.now() - START) / 60_000,
        wall: wall.elapsed(),
        effects,
    }
}

fn check(r: &Report, label: &str) {
    eprintln!(
        "{label}: outcomes {:?}; {} API calls ({} mutating), {} throttled; {} simulated minutes; wall {:?}",
        r.outcomes, r.trail.calls, r.trail.mutating, r.trail.throttled, r.sim_minutes, r.wall
    );
    assert!(
        r.outcomes.keys().all(|k| !k.starts_with("unfinished")),
        "{:?}",
        r.outcomes
    );
    assert!(r.outcomes.get("done").copied().unwrap_or(0) > 0);
    for ((action, res), n) in &r.effects {
        assert_eq!(*n, 1, "{action} {res} took effect {n} times");
    }
}

#[tokio::test]
async fn fleet_rollout_under_default_faults() {
    let r = rollout(InitOptions {
        databases: 200,
        clean: true,
        faults: "default".into(),
        ..InitOptions::default()
    })
    .await;
    check(&r, "200 dbs, default faults");
    assert!(
        r.outcomes.keys().any(|k| k.starts_with("failed")),
        "default faults fail some: {:?}",
        r.outcomes
    );
}

#[tokio::test]
async fn fleet_rollout_under_throttling_and_a_tight_quota() {
    let r = rollout(InitOptions {
        databases: 60,
        clean: true,
        throttle_burst: 15.0,
        throttle_rate: 0.5,
        instance_quota: Some(50),
        ..InitOptions::default()
    })
    .await;
    check(&r, "60 dbs, burst 15, 0.5/s, quota 50");
    assert!(r.trail.throttled > 0);
    assert!(
        r.outcomes
            .keys()
            .any(|k| k == "blocked: InstanceQuotaExceeded"),
        "{:?}",
        r.outcomes
    );
}
