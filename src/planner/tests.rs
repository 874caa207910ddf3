//! Planner tests, all through one [`check`] helper: an inventory plus targets in, the expected
//! blocker and warning codes of one database out (and the step invariants checked every time).

use super::*;
use crate::domain::{EngineVersion, Parameter, ParameterGroupStatus, UpgradeTarget};
use crate::inventory::fake::{db, user_param, FakeBackend};
use crate::plan::StepKind;

#[derive(Default)]
struct Case {
    inv: Vec<DbInstance>,
    targets: Vec<&'static str>,
    quotas: Vec<(&'static str, Quota)>,
    catalog: Option<Catalog>,
    settings: PlanSettings,
}

/// Plan `case`, then assert the blocker and warning codes of database `id` (in order) and the
/// step invariants: blocked => no steps and no target; actionable => exactly the blue/green
/// steps. Returns the plan for further assertions.
fn check(case: Case, id: &str, blockers: &[&str], warnings: &[&str]) -> Plan {
    let ctx = PlanContext {
        quotas: case
            .quotas
            .into_iter()
            .map(|(r, q)| (r.to_string(), q))
            .collect(),
        ..PlanContext::with_catalog(case.catalog.unwrap_or_else(Catalog::bundled))
    };
    let req = PlanRequest {
        targets: case
            .targets
            .iter()
            .map(|t| parse_target(t).unwrap())
            .collect(),
        settings: case.settings,
        created_at: 1_795_000_000_000,
    };
    let plan = plan(&case.inv, &ctx, &req).expect("plans");
    let p = plan
        .databases
        .iter()
        .find(|d| d.identifier == id)
        .unwrap_or_else(|| panic!("{id} not in plan"));
    let codes = |f: &[Finding]| f.iter().map(|f| f.code.clone()).collect::<Vec<_>>();
    assert_eq!(
        codes(&p.blockers),
        blockers,
        "blockers of {id}: {:#?}",
        p.blockers
    );
    assert_eq!(
        codes(&p.warnings),
        warnings,
        "warnings of {id}: {:#?}",
        p.warnings
    );
    for f in p.blockers.iter().chain(&p.warnings) {
        assert!(f.message.len() > 30, "message too thin to fix from: {f:?}");
    }
    for d in &plan.databases {
        if d.blockers.is_empty() && d.strategy == Strategy::BlueGreen {
            let kinds: Vec<StepKind> = d.steps.iter().map(|s| s.kind).collect();
            let table: Vec<StepKind> = crate::machine::BLUE_GREEN.iter().map(|s| s.kind).collect();
            assert_eq!(kinds, table, "{}", d.identifier);
            assert!(d
                .target
                .as_ref()
                .is_some_and(|t| !t.parameter_group.is_empty()));
            assert!(d.resource_name(StepKind::Snapshot).is_some());
        } else {
            assert!(
                d.steps.is_empty() && d.target.is_none(),
                "{} must not act",
                d.identifier
            );
        }
    }
    plan
}

fn mysql(id: &str) -> DbInstance {
    db("us-east-1", id)
}

fn pg(id: &str, version: &str) -> DbInstance {
    let mut d = db("us-east-1", id);
    d.engine = "postgres".into();
    d.engine_version = version.into();
    d.option_groups = vec!["default:postgres-13".into()];
    d.parameter_groups = vec![group(
        "pg-logical",
        "postgres13",
        vec![user_param("rds.logical_replication", "1")],
    )];
    d
}

fn group(name: &str, family: &str, params: Vec<Parameter>) -> ParameterGroupStatus {
    ParameterGroupStatus {
        name: name.into(),
        apply_status: "in-sync".into(),
        family: Some(family.into()),
        user_parameters: Some(params),
    }
}

/// The warnings every PostgreSQL major upgrade carries (what logical replication needs and
/// does not copy), after `first` and before `last`.
fn pg_major(first: &[&'static str], last: &[&'static str]) -> Vec<&'static str> {
    let mut v = first.to_vec();
    v.extend([
        "logical-replication-capacity-check",
        "postgres-ddl-not-replicated",
        "postgres-sequences-not-replicated",
        "postgres-large-objects-not-replicated",
    ]);
    v.extend(last);
    v
}

fn one(d: DbInstance, target: &'static str) -> Case {
    Case {
        inv: vec![d],
        targets: vec![target],
        ..Default::default()
    }
}

#[test]
fn clean_mysql_is_planned_to_the_newest_80() {
    let plan = check(one(mysql("a"), "mysql=8.0"), "a", &[], &[]);
    let p = &plan.databases[0];
    assert_eq!(p.to_version.as_deref(), Some("8.0.42"));
    let t = p.target.as_ref().unwrap();
    assert_eq!(t.parameter_group_family, "mysql8.0");
    assert_eq!(t.instance_class, None);
    // On default.mysql5.7 (event_scheduler OFF by default) to 8.0 (ON by default): green
    // needs a group of its own with event_scheduler=OFF (issue 10); nothing to restore.
    assert_eq!(plan.parameter_groups.len(), 1);
    let g = &plan.parameter_groups[0];
    assert_eq!(t.parameter_group, g.name);
    assert_eq!(
        (g.source_group.as_str(), g.family.as_str()),
        ("default.mysql5.7", "mysql8.0")
    );
    assert_eq!(g.parameters.len(), 1);
    assert_eq!(
        (
            g.parameters[0].name.as_str(),
            g.parameters[0].value.as_str()
        ),
        ("event_scheduler", "OFF")
    );
    assert!(g.restore_after_switchover.is_empty());
    assert_eq!(p.wave, 1);
}

/// PostgreSQL on its default group keeps an AWS default group on green.
#[test]
fn postgres_on_a_default_group_gets_the_new_default_group() {
    let mut d = pg("a", "13.15");
    d.parameter_groups = vec![ParameterGroupStatus {
        name: "default.postgres13".into(),
        apply_status: "in-sync".into(),
        family: Some("postgres13".into()),
        user_parameters: Some(vec![]),
    }];
    let plan = check(
        one(d, "postgres=16"),
        "a",
        &["logical-replication-off"],
        &pg_major(&[], &[]),
    );
    assert!(plan.parameter_groups.is_empty());
}

#[test]
fn blocker_backups_disabled() {
    let mut d = mysql("a");
    d.backup_retention_period = 0;
    check(one(d, "mysql=8.0"), "a", &["backups-disabled"], &[]);
}

#[test]
fn blocker_status_not_available() {
    let mut d = mysql("a");
    d.status = "modifying".into();
    check(one(d, "mysql=8.0"), "a", &["status-not-available"], &[]);
}

#[test]
fn blocker_pending_modifications() {
    let mut d = mysql("a");
    d.pending_modifications = vec!["DBInstanceClass".into()];
    check(one(d, "mysql=8.0"), "a", &["pending-modifications"], &[]);
}

#[test]
fn blocker_parameter_group_not_in_sync() {
    let mut d = mysql("a");
    d.parameter_groups[0].apply_status = "pending-reboot".into();
    check(
        one(d, "mysql=8.0"),
        "a",
        &["parameter-group-not-in-sync"],
        &[],
    );
}

#[test]
fn blocker_logical_replication_off() {
    let mut d = pg("a", "13.15");
    d.parameter_groups = vec![group(
        "pg-plain",
        "postgres13",
        vec![user_param("work_mem", "65536")],
    )];
    check(
        one(d, "postgres=16"),
        "a",
        &["logical-replication-off"],
        &pg_major(&[], &[]),
    );
    let mut d = pg("b", "13.15");
    d.parameter_groups = vec![ParameterGroupStatus {
        name: "default.postgres13".into(),
        apply_status: "in-sync".into(),
        family: None,
        user_parameters: None,
    }];
    check(
        one(d, "postgres=16"),
        "b",
        &["logical-replication-off"],
        &pg_major(&[], &[]),
    );
    // A minor upgrade does not use logical replication.
    let mut d = pg("c", "13.15");
    d.parameter_groups[0].user_parameters = Some(vec![]);
    check(one(d, "postgres=13"), "c", &[], &[]);
}

#[test]
fn warning_logical_replication_unknown_offline() {
    let mut d = pg("a", "13.15");
    d.parameter_groups[0].user_parameters = None;
    check(
        one(d, "postgres=16"),
        "a",
        &[],
        &pg_major(&["logical-replication-unknown"], &["parameters-unknown"]),
    );
}

#[test]
fn blocker_source_version_too_old() {
    let v = |ver: &str, fam: &str, targets: &[&str]| EngineVersion {
        engine: "postgres".into(),
        engine_version: ver.into(),
        parameter_group_family: fam.into(),
        status: "available".into(),
        valid_upgrade_targets: targets
            .iter()
            .map(|t| UpgradeTarget {
                engine_version: t.to_string(),
                is_major_version_upgrade: true,
                auto_upgrade: false,
            })
            .collect(),
    };
    let catalog = Catalog::from_versions(
        vec![
            v("13.4", "postgres13", &["16.8"]),
            v("16.8", "postgres16", &[]),
        ],
        "test",
    );
    let case = Case {
        catalog: Some(catalog),
        ..one(pg("a", "13.4"), "postgres=16")
    };
    check(case, "a", &["source-version-too-old"], &pg_major(&[], &[]));
}

#[test]
fn blocker_cascading_replica_and_replicas_travel_with_source() {
    let mut src = mysql("src");
    src.read_replicas = vec!["r1".into()];
    let mut r1 = mysql("r1");
    r1.read_replica_source = Some("src".into());
    r1.read_replicas = vec!["r2".into()];
    let mut r2 = mysql("r2");
    r2.read_replica_source = Some("r1".into());
    let case = Case {
        inv: vec![src, r1, r2],
        targets: vec!["mysql=8.0"],
        ..Default::default()
    };
    let plan = check(case, "src", &["cascading-replica"], &[]);
    assert_eq!(
        plan.database("us-east-1", "r1").unwrap().strategy,
        Strategy::WithSource
    );

    let mut src = mysql("src");
    src.read_replicas = vec!["arn:aws:rds:us-east-1:123456789012:db:r1".into()];
    let mut r1 = mysql("r1");
    r1.read_replica_source = Some("src".into());
    let case = Case {
        inv: vec![r1, src],
        targets: vec!["mysql=8.0"],
        ..Default::default()
    };
    let plan = check(case, "src", &[], &[]);
    let s = plan.database("us-east-1", "src").unwrap();
    assert_eq!(s.replicas, vec!["r1"]);
    let r = plan.database("us-east-1", "r1").unwrap();
    assert_eq!(r.strategy, Strategy::WithSource);
    assert_eq!(r.to_version.as_deref(), Some("8.0.42"));
}

#[test]
fn blocker_cross_region_replica() {
    let mut src = mysql("src");
    src.read_replicas = vec!["arn:aws:rds:eu-west-1:123456789012:db:src-eu".into()];
    let mut eu = db("eu-west-1", "src-eu");
    eu.read_replica_source = Some("arn:aws:rds:us-east-1:123456789012:db:src".into());
    let case = Case {
        inv: vec![src, eu],
        targets: vec!["mysql=8.0"],
        ..Default::default()
    };
    let plan = check(case, "src", &["cross-region-replica"], &[]);
    let eu = plan.database("eu-west-1", "src-eu").unwrap();
    assert_eq!(eu.blockers[0].code, "cross-region-replica");
}

#[test]
fn blocker_managed_master_password() {
    let mut d = mysql("a");
    d.managed_master_password = true;
    check(one(d, "mysql=8.0"), "a", &["managed-master-password"], &[]);
}

#[test]
fn blocker_custom_option_group_only_on_mysql_major() {
    let mut d = mysql("a");
    d.option_groups = vec!["audit-plugin".into()];
    check(
        one(d.clone(), "mysql=8.0"),
        "a",
        &["custom-option-group"],
        &[],
    );
    d.engine_version = "8.0.28".into();
    d.parameter_groups[0].name = "default.mysql8.0".into();
    check(one(d, "mysql=8.0"), "a", &[], &[]);
}

#[test]
fn blocker_engine_not_supported() {
    let mut d = mysql("a");
    d.engine = "sqlserver-se".into();
    d.engine_version = "15.00.4345.5.v1".into();
    check(
        one(d, "sqlserver-se=16"),
        "a",
        &["engine-not-supported"],
        &[],
    );
}

#[test]
fn blocker_previous_generation_class_unless_mapped() {
    let mut d = mysql("a");
    d.instance_class = "db.m4.large".into();
    check(
        one(d.clone(), "mysql=8.0"),
        "a",
        &["previous-generation-class"],
        &[],
    );
    let case = Case {
        settings: PlanSettings {
            class_map: vec![("db.m4".into(), "db.m7g".into())],
            storage_type: Some("gp3".into()),
            ..Default::default()
        },
        ..one(d, "mysql=8.0")
    };
    let plan = check(case, "a", &[], &[]);
    let t = plan.databases[0].target.as_ref().unwrap();
    assert_eq!(t.instance_class.as_deref(), Some("db.m7g.large"));
    assert_eq!(t.storage_type.as_deref(), Some("gp3"));
}

#[test]
fn blocker_quota_headroom_counts_replicas() {
    let mut src = mysql("src");
    src.read_replicas = vec!["r1".into()];
    let mut r1 = mysql("r1");
    r1.read_replica_source = Some("src".into());
    let quota = Quota { used: 38, max: 40 };
    let case = Case {
        inv: vec![src.clone(), r1.clone()],
        targets: vec!["mysql=8.0"],
        quotas: vec![("us-east-1", quota)],
        ..Default::default()
    };
    check(case, "src", &[], &[]);
    let case = Case {
        inv: vec![src, r1, mysql("other")],
        targets: vec!["mysql=8.0"],
        quotas: vec![("us-east-1", quota)],
        ..Default::default()
    };
    check(case, "other", &[], &["quota-headroom-low"]);
    // A deployment that can never fit is blocked.
    let case = Case {
        inv: vec![mysql("solo")],
        targets: vec!["mysql=8.0"],
        quotas: vec![("us-east-1", Quota { used: 40, max: 40 })],
        ..Default::default()
    };
    check(case, "solo", &["quota-headroom"], &[]);
}

#[test]
fn blocker_target_below_current() {
    // One database already past the target is blocked; the rest of the fleet is planned.
    let mut d = mysql("a");
    d.engine_version = "8.0.42".into();
    let case = Case {
        inv: vec![d.clone(), mysql("b")],
        targets: vec!["mysql=5.7"],
        ..Default::default()
    };
    check(case, "a", &["target-below-current"], &[]);
    // Past it everywhere, the target is a mistake: refused as a whole.
    let ctx = PlanContext::offline();
    let req = PlanRequest {
        targets: [parse_target("mysql=5.7").unwrap()].into(),
        settings: PlanSettings::default(),
        created_at: 0,
    };
    let e = plan(&[d], &ctx, &req).unwrap_err();
    assert!(
        matches!(&e, PlanningError::TargetBelowFleet { oldest, .. } if oldest == "8.0.42"),
        "{e}"
    );
}

#[test]
fn blocker_no_upgrade_path() {
    let mut d = mysql("a");
    d.engine_version = "5.7.12".into();
    check(one(d, "mysql=8.0"), "a", &["no-upgrade-path"], &[]);
}

#[test]
fn blocker_multi_hop_upgrade_names_the_intermediate() {
    let mut d = mysql("a");
    d.engine_version = "5.6.51".into();
    let plan = check(one(d, "mysql=8.0"), "a", &["multi-hop-upgrade"], &[]);
    assert!(plan.databases[0].blockers[0]
        .message
        .contains("--target mysql=5.7"));
}

#[test]
fn warning_deletion_protection() {
    let mut d = mysql("a");
    d.deletion_protection = true;
    check(one(d, "mysql=8.0"), "a", &[], &["deletion-protection"]);
}

#[test]
fn skips_untargeted_engines_and_databases_already_at_target() {
    let mut d = mysql("new");
    d.engine_version = "8.0.42".into();
    let case = Case {
        inv: vec![d, pg("p", "13.15")],
        targets: vec!["mysql=8.0"],
        ..Default::default()
    };
    let plan = check(case, "new", &[], &[]);
    assert_eq!(plan.databases[0].strategy, Strategy::Skip);
    assert_eq!(plan.databases[1].strategy, Strategy::Skip);
    assert!(plan.databases[1]
        .skip_reason
        .as_deref()
        .unwrap()
        .contains("no --target"));
}

#[test]
fn shared_group_is_mapped_once_with_renames_and_drops() {
    let params = vec![
        user_param("tx_isolation", "READ-COMMITTED"),
        user_param("query_cache_size", "0"),
        user_param("max_connections", "900"),
    ];
    let mut a = mysql("a");
    a.parameter_groups = vec![group("shared-57", "mysql5.7", params.clone())];
    let mut b = mysql("b");
    b.parameter_groups = vec![group("shared-57", "mysql5.7", params)];
    let case = Case {
        inv: vec![a, b],
        targets: vec!["mysql=8.0"],
        ..Default::default()
    };
    let plan = check(case, "a", &[], &[]);
    assert_eq!(plan.parameter_groups.len(), 1);
    let g = &plan.parameter_groups[0];
    assert_eq!(g.used_by, vec!["a", "b"]);
    assert_eq!(g.family, "mysql8.0");
    assert_eq!(g.dropped, vec!["query_cache_size"]);
    assert_eq!(
        g.renamed,
        vec![(
            "tx_isolation".to_string(),
            "transaction_isolation".to_string()
        )]
    );
    assert!(g.name.starts_with(&plan.plan_id) && g.name.ends_with("mysql8-0-shared-57"));
    for d in &plan.databases {
        assert_eq!(d.target.as_ref().unwrap().parameter_group, g.name);
        assert_eq!(
            d.resource_name(StepKind::ParameterGroup),
            Some(g.name.as_str())
        );
    }
}

#[test]
fn plans_are_deterministic_and_verify_on_load() {
    let case = || Case {
        inv: vec![mysql("b"), mysql("a")],
        targets: vec!["mysql=8.0"],
        ..Default::default()
    };
    let p1 = check(case(), "a", &[], &[]);
    let mut rev = case();
    rev.inv.reverse();
    let p2 = check(rev, "a", &[], &[]);
    assert_eq!(p1, p2);
    assert_eq!(p1.databases[0].identifier, "a");
    let back = Plan::from_json("p.json", &p1.to_json()).unwrap();
    assert_eq!(back, p1);
}

#[test]
fn planning_errors() {
    assert!(matches!(
        parse_target("mysql"),
        Err(PlanningError::BadTarget(_))
    ));
    assert!(matches!(
        parse_target("=8.0"),
        Err(PlanningError::BadTarget(_))
    ));
    assert!(matches!(
        parse_target("mysql=8.0."),
        Err(PlanningError::BadTarget(_))
    ));
    assert_eq!(
        parse_class_map("db.r5=db.r7g").unwrap(),
        ("db.r5".into(), "db.r7g".into())
    );
    assert!(matches!(
        parse_class_map("r5=r7g"),
        Err(PlanningError::BadClassMap(_))
    ));
    assert_eq!(
        map_class(&[("db.r5".into(), "db.r7g".into())], "db.r5.2xlarge"),
        "db.r7g.2xlarge"
    );
    assert_eq!(
        map_class(&[("db.r5".into(), "db.r7g".into())], "db.r5d.large"),
        "db.r5d.large"
    );

    let ctx = PlanContext::offline();
    let req = |t: &str, st: Option<&str>| PlanRequest {
        targets: [parse_target(t).unwrap()].into_iter().collect(),
        settings: PlanSettings {
            storage_type: st.map(str::to_string),
            ..Default::default()
        },
        created_at: 0,
    };
    let inv = vec![mysql("a")];
    assert!(matches!(
        plan(&inv, &ctx, &req("mysql=8.0.99", None)),
        Err(PlanningError::TargetNotInCatalog { .. })
    ));
    assert!(matches!(
        plan(&inv, &ctx, &req("mysqll=8.0", None)),
        Err(PlanningError::UnknownEngine { .. })
    ));
    assert!(matches!(
        plan(&inv, &ctx, &req("mysql=8.0", Some("magnetic"))),
        Err(PlanningError::BadStorageType(_))
    ));
    let mut slow = req("mysql=8.0", None);
    slow.settings.switchover_timeout_secs = 5;
    assert_eq!(
        plan(&inv, &ctx, &slow),
        Err(PlanningError::BadSwitchoverTimeout(5))
    );
    let empty = PlanRequest {
        targets: BTreeMap::new(),
        settings: PlanSettings::default(),
        created_at: 0,
    };
    assert_eq!(plan(&inv, &ctx, &empty), Err(PlanningError::NoTargets));
    // Offline planning says so in the plan's warnings.
    let p = plan(&inv, &ctx, &req("mysql=8.0", None)).unwrap();
    let codes: Vec<_> = p.warnings.iter().map(|w| w.code.as_str()).collect();
    assert_eq!(codes, ["catalog-offline", "quota-unknown"]);
}

#[tokio::test]
async fn context_falls_back_to_the_bundled_catalog_when_live_is_unavailable() {
    let fake = FakeBackend::default();
    let ctx = gather_context(&fake, &["us-east-1".into()], &["mysql".into()]).await;
    assert_eq!(ctx.catalog("us-east-1"), &Catalog::bundled());
    assert_eq!(
        ctx.catalog_warning.as_ref().unwrap().code,
        "catalog-fallback"
    );
    assert_eq!(ctx.quota_warning.as_ref().unwrap().code, "quota-unknown");
    let req = PlanRequest {
        targets: [parse_target("mysql=8.0").unwrap()].into_iter().collect(),
        settings: PlanSettings::default(),
        created_at: 0,
    };
    let p = plan(&[mysql("a")], &ctx, &req).unwrap();
    assert_eq!(p.warnings[0].code, "catalog-fallback");
    // An endpoint that answers with nothing for a supported engine also falls back.
    let empty = FakeBackend {
        engine_versions: Some(vec![]),
        ..Default::default()
    };
    let ctx2 = gather_context(&empty, &["us-east-1".into()], &["mysql".into()]).await;
    assert_eq!(
        ctx2.catalog_warning.as_ref().unwrap().code,
        "catalog-fallback"
    );
    assert_eq!(p.databases[0].to_version.as_deref(), Some("8.0.42"));
}

#[tokio::test]
async fn context_uses_the_live_catalog_and_quotas() {
    let live = vec![
        EngineVersion {
            engine: "mysql".into(),
            engine_version: "5.7.44".into(),
            parameter_group_family: "mysql5.7".into(),
            status: "available".into(),
            valid_upgrade_targets: vec![UpgradeTarget {
                engine_version: "8.0.36".into(),
                is_major_version_upgrade: true,
                auto_upgrade: false,
            }],
        },
        EngineVersion {
            engine: "mysql".into(),
            engine_version: "8.0.36".into(),
            parameter_group_family: "mysql8.0".into(),
            status: "available".into(),
            valid_upgrade_targets: vec![],
        },
    ];
    let fake = FakeBackend {
        engine_versions: Some(live),
        quota: Some(Quota { used: 1, max: 40 }),
        ..Default::default()
    };
    let ctx = gather_context(
        &fake,
        &["us-east-1".into()],
        &["mysql".into(), "mysql".into()],
    )
    .await;
    assert!(ctx.catalog_warning.is_none() && ctx.quota_warning.is_none());
    assert_eq!(ctx.quotas["us-east-1"], Quota { used: 1, max: 40 });
    let calls = fake.calls.lock().unwrap().clone();
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.starts_with("describe_engine_versions"))
            .count(),
        1
    );
    let req = PlanRequest {
        targets: [parse_target("mysql=8.0").unwrap()].into_iter().collect(),
        settings: PlanSettings::default(),
        created_at: 0,
    };
    let p = plan(&[mysql("a")], &ctx, &req).unwrap();
    assert_eq!(p.databases[0].to_version.as_deref(), Some("8.0.36"));
    assert!(p.warnings.is_empty());
}

fn drift_plan() -> Plan {
    let mut a = mysql("a");
    a.parameter_groups = vec![group("g57", "mysql5.7", vec![])];
    let case = Case {
        inv: vec![a, mysql("b"), mysql("c"), mysql("d"), mysql("e")],
        targets: vec!["mysql=8.0"],
        ..Default::default()
    };
    check(case, "a", &[], &[])
}

#[test]
fn drift_reports_each_kind() {
    let plan = drift_plan();
    let mut a = mysql("a");
    a.parameter_groups = vec![group("other", "mysql5.7", vec![])];
    let mut b = mysql("b");
    b.engine_version = "5.7.43".into();
    let mut c = mysql("c");
    c.status = "rebooting".into();
    let mut d = mysql("d");
    d.engine_version = "8.0.42".into();
    // e deleted
    let drifts = check_drift(&plan, &[d, c, b, a]);
    let kinds: Vec<(&str, DriftKind)> = drifts
        .iter()
        .map(|d| (d.identifier.as_str(), d.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("a", DriftKind::ParameterGroupChanged),
            ("b", DriftKind::VersionChanged),
            ("c", DriftKind::StatusChanged),
            ("d", DriftKind::AlreadyUpgraded),
            ("e", DriftKind::Deleted),
        ]
    );
    assert!(!DriftKind::AlreadyUpgraded.is_error() && DriftKind::Deleted.is_error());
    assert!(drifts[0].message.contains("other"));
}

#[test]
fn no_drift_when_nothing_changed() {
    let plan = drift_plan();
    let mut a = mysql("a");
    a.parameter_groups = vec![group("g57", "mysql5.7", vec![])];
    let live = vec![
        a,
        mysql("b"),
        mysql("c"),
        mysql("d"),
        mysql("e"),
        mysql("unplanned"),
    ];
    assert_eq!(check_drift(&plan, &live), vec![]);
    let mut a = mysql("a");
    a.parameter_groups = vec![group("g57", "mysql5.7", vec![])];
    a.parameter_groups[0].apply_status = "pending-reboot".into();
    let live = vec![a, mysql("b"), mysql("c"), mysql("d"), mysql("e")];
    assert_eq!(
        check_drift(&plan, &live)[0].kind,
        DriftKind::ParameterGroupChanged
    );
}

#[test]
fn minor_upgrade_keeps_the_custom_group_and_orphan_replicas_warn() {
    let mut d = mysql("a");
    d.engine_version = "8.0.28".into();
    d.option_groups = vec!["audit-80".into()];
    d.parameter_groups = vec![group(
        "app-80",
        "mysql8.0",
        vec![user_param("max_connections", "10")],
    )];
    let mut orphan = mysql("orphan");
    orphan.read_replica_source = Some("gone".into());
    let case = Case {
        inv: vec![d, orphan],
        targets: vec!["mysql=8.0"],
        ..Default::default()
    };
    let plan = check(case, "a", &[], &[]);
    let t = plan.databases[0].target.as_ref().unwrap();
    assert_eq!(t.engine_version.as_str(), "8.0.42");
    // app-80 leaves event_scheduler at 8.0's default (ON), which green may not have at
    // creation: a copy of the group with it OFF, and ON restored after switchover.
    let g = &plan.parameter_groups[0];
    assert_eq!(t.parameter_group, g.name);
    assert_eq!(
        (g.source_group.as_str(), g.family.as_str()),
        ("app-80", "mysql8.0")
    );
    let set: Vec<(&str, &str)> = g
        .parameters
        .iter()
        .map(|p| (p.name.as_str(), p.value.as_str()))
        .collect();
    assert_eq!(set, [("event_scheduler", "OFF"), ("max_connections", "10")]);
    assert_eq!(g.restore_after_switchover[0].name, "event_scheduler");
    assert_eq!(g.restore_after_switchover[0].value, "ON");
    let o = plan.database("us-east-1", "orphan").unwrap();
    assert_eq!(o.strategy, Strategy::WithSource);
    assert_eq!(o.warnings[0].code, "replica-source-not-planned");
}

/// A same-family group that already has event_scheduler OFF serves green as it is.
#[test]
fn minor_upgrade_keeps_a_custom_group_green_can_use() {
    let mut d = mysql("a");
    d.engine_version = "8.0.28".into();
    d.parameter_groups = vec![group(
        "app-80",
        "mysql8.0",
        vec![user_param("event_scheduler", "OFF")],
    )];
    let plan = check(one(d, "mysql=8.0"), "a", &[], &[]);
    let t = plan.databases[0].target.as_ref().unwrap();
    assert_eq!(t.parameter_group, "app-80");
    assert!(plan.parameter_groups.is_empty());
}

#[test]
fn plan_json_has_the_documented_fields() {
    let mut a = mysql("a");
    a.parameter_groups = vec![group(
        "g57",
        "mysql5.7",
        vec![user_param("tx_isolation", "SERIALIZABLE")],
    )];
    let plan = check(one(a, "mysql=8.0"), "a", &[], &[]);
    let v: serde_json::Value = serde_json::from_str(&plan.to_json()).unwrap();
    for k in [
        "schema_version",
        "plan_id",
        "created_at",
        "inventory_fingerprint",
        "targets",
        "settings",
        "warnings",
        "parameter_groups",
        "databases",
    ] {
        assert!(v.get(k).is_some(), "missing top-level {k}");
    }
    let d = &v["databases"][0];
    for k in [
        "identifier",
        "region",
        "arn",
        "engine",
        "from_version",
        "to_version",
        "strategy",
        "wave",
        "blockers",
        "warnings",
        "steps",
        "source",
        "target",
    ] {
        assert!(d.get(k).is_some(), "missing databases[].{k}");
    }
    assert_eq!(d["strategy"], "blue-green");
    assert_eq!(d["steps"][1]["kind"], "snapshot");
    assert!(d["steps"][1]["resource_name"]
        .as_str()
        .unwrap()
        .ends_with("-a-pre"));
    assert_eq!(
        v["parameter_groups"][0]["renamed"][0][1],
        "transaction_isolation"
    );
    if std::env::var_os("SHOW_PLAN").is_some() {
        println!("{}", plan.to_json());
    }
}

#[test]
fn warning_binlog_format_not_row_only_when_set_explicitly() {
    let mut d = mysql("mixed");
    d.parameter_groups = vec![group(
        "custom-mixed",
        "mysql5.7",
        vec![user_param("binlog_format", "MIXED")],
    )];
    let case = Case {
        inv: vec![d],
        targets: vec!["mysql=8.0"],
        ..Default::default()
    };
    check(case, "mixed", &[], &["binlog-format-not-row"]);
    let mut d = mysql("row");
    d.parameter_groups = vec![group(
        "custom-row",
        "mysql5.7",
        vec![user_param("binlog_format", "ROW")],
    )];
    let case = Case {
        inv: vec![d],
        targets: vec!["mysql=8.0"],
        ..Default::default()
    };
    check(case, "row", &[], &[]);
}

#[test]
fn blocker_multi_az_cluster_member() {
    let mut d = mysql("a");
    d.db_cluster_identifier = Some("orders-cluster".into());
    let plan = check(one(d, "mysql=8.0"), "a", &["multi-az-cluster-member"], &[]);
    assert!(plan.databases[0].blockers[0]
        .message
        .contains("orders-cluster"));
}

#[test]
fn blocker_rds_proxy_target_and_warning_when_not_checked() {
    let mut d = mysql("a");
    d.rds_proxies = Some(vec!["orders-proxy".into()]);
    let plan = check(one(d, "mysql=8.0"), "a", &["rds-proxy-target"], &[]);
    let m = &plan.databases[0].blockers[0].message;
    assert!(
        m.contains("orders-proxy") && m.contains("deregister-db-proxy-targets"),
        "{m}"
    );
    // A check that could not be made is said, never passed silently.
    let mut d = mysql("b");
    d.rds_proxies = None;
    check(one(d, "mysql=8.0"), "b", &[], &["rds-proxy-unknown"]);
}

#[test]
fn warning_zero_etl_integration_and_when_not_checked() {
    let mut d = mysql("a");
    d.zero_etl_integrations = Some(vec!["to-redshift (active)".into()]);
    let plan = check(one(d, "mysql=8.0"), "a", &[], &["zero-etl-integration"]);
    assert!(plan.databases[0].warnings[0]
        .message
        .contains("to-redshift"));
    let mut d = mysql("b");
    d.zero_etl_integrations = None;
    check(one(d, "mysql=8.0"), "b", &[], &["zero-etl-unknown"]);
}

#[test]
fn warning_cloudformation_names_the_stack_and_the_properties_to_change() {
    let mut d = mysql("a");
    d.tags.insert(
        "aws:cloudformation:stack-name".into(),
        "orders-stack".into(),
    );
    let mut case = one(d, "mysql=8.0");
    case.settings.storage_type = Some("gp3".into());
    let plan = check(case, "a", &[], &["cloudformation-managed"]);
    let m = &plan.databases[0].warnings[0].message;
    for want in [
        "orders-stack",
        "EngineVersion: 8.0.42",
        "AllowMajorVersionUpgrade: true",
        "DBParameterGroupName",
        "StorageType: gp3",
    ] {
        assert!(m.contains(want), "{want} missing from: {m}");
    }
    assert!(!m.contains("DBInstanceClass"), "class is unchanged: {m}");
    // A minor upgrade changes only the version.
    let mut d = mysql("b");
    d.engine_version = "8.0.36".into();
    d.tags
        .insert("aws:cloudformation:stack-name".into(), "s".into());
    let plan = check(one(d, "mysql=8.0"), "b", &[], &["cloudformation-managed"]);
    let m = &plan.databases[0].warnings[0].message;
    assert!(
        m.contains("EngineVersion: 8.0.42") && !m.contains("AllowMajorVersionUpgrade"),
        "{m}"
    );
}

#[test]
fn blocker_logical_replication_capacity_only_when_provably_short() {
    let short = |params: Vec<Parameter>| {
        let mut d = pg("a", "13.15");
        let mut p = vec![user_param("rds.logical_replication", "1")];
        p.extend(params);
        d.parameter_groups = vec![group("pg-logical", "postgres13", p)];
        d
    };
    let d = short(vec![user_param("max_logical_replication_workers", "1")]);
    let plan = check(
        one(d, "postgres=16"),
        "a",
        &["logical-replication-capacity"],
        &[
            "postgres-ddl-not-replicated",
            "postgres-sequences-not-replicated",
            "postgres-large-objects-not-replicated",
        ],
    );
    assert!(plan.databases[0].blockers[0]
        .message
        .contains("max_logical_replication_workers=1"));
    // Worker processes not above the apply workers (default 4).
    let d = short(vec![user_param("max_worker_processes", "4")]);
    check(
        one(d, "postgres=16"),
        "a",
        &["logical-replication-capacity"],
        &[
            "postgres-ddl-not-replicated",
            "postgres-sequences-not-replicated",
            "postgres-large-objects-not-replicated",
        ],
    );
    // Plausible values only warn, with the SQL to count the databases.
    let d = short(vec![user_param("max_replication_slots", "10")]);
    let plan = check(one(d, "postgres=16"), "a", &[], &pg_major(&[], &[]));
    let m = &plan.databases[0].warnings[0].message;
    assert!(
        m.contains("max_replication_slots=10") && m.contains("SELECT count(*) FROM pg_database"),
        "{m}"
    );
    assert!(
        m.contains("max_logical_replication_workers=4 (default)"),
        "{m}"
    );
}

#[test]
fn postgres_caveats_carry_the_sql_to_check() {
    let plan = check(
        one(pg("a", "13.15"), "postgres=16"),
        "a",
        &[],
        &pg_major(&[], &[]),
    );
    let w = &plan.databases[0].warnings;
    assert!(w[1].message.contains("information_schema.columns"));
    assert!(w[2].message.contains("pg_sequences") && w[2].message.contains("setval"));
    assert!(w[3].message.contains("pg_largeobject_metadata"));
    // A minor upgrade replicates physically: none of them.
    check(one(pg("b", "13.15"), "postgres=13"), "b", &[], &[]);
}

#[test]
fn every_emitted_code_is_in_the_code_table() {
    let known: BTreeSet<&str> = prechecks::CODES.iter().map(|c| c.0).collect();
    for code in [
        "multi-az-cluster-member",
        "rds-proxy-target",
        "rds-proxy-unknown",
        "zero-etl-integration",
        "zero-etl-unknown",
        "cloudformation-managed",
        "logical-replication-capacity",
        "logical-replication-capacity-check",
        "postgres-ddl-not-replicated",
        "postgres-sequences-not-replicated",
        "postgres-large-objects-not-replicated",
    ] {
        assert!(known.contains(code), "{code}");
    }
    let readme = include_str!("../../plans/README.md");
    for (code, _, _) in prechecks::CODES {
        assert!(
            readme.contains(&format!("`{code}`")),
            "plans/README.md lacks {code}"
        );
    }
}
/// Issue 10: the fleets that most need upgrading run Extended Support minors (as AWS names
/// them) and minors no longer offered; both get their valid targets, and a target is never a
/// deprecated version.
#[test]
fn extended_support_and_deprecated_minors_are_planned() {
    for from in ["5.7.44-RDS.20240808", "5.7.33", "5.7.44-rds.20250508"] {
        let mut d = mysql("a");
        d.engine_version = from.into();
        let plan = check(one(d, "mysql=8.0"), "a", &[], &[]);
        assert_eq!(
            plan.databases[0].to_version.as_deref(),
            Some("8.0.42"),
            "{from}"
        );
    }
    // A minor upgrade within 5.7 from a deprecated minor lands on the newest ES minor.
    let mut d = mysql("a");
    d.engine_version = "5.7.33".into();
    let plan = check(one(d, "mysql=5.7"), "a", &[], &[]);
    assert_eq!(
        plan.databases[0].to_version.as_deref(),
        Some("5.7.44-rds.20260212")
    );
    // A specific Extended Support minor can be the target.
    assert_eq!(
        parse_target("mysql=5.7.44-RDS.20240808").unwrap().1,
        "5.7.44-RDS.20240808"
    );
    assert!(parse_target("mysql=5.7.44-").is_err());
}

fn live_version(v: &str, fam: &str, targets: &[&str]) -> EngineVersion {
    EngineVersion {
        engine: "mysql".into(),
        engine_version: v.into(),
        parameter_group_family: fam.into(),
        status: "available".into(),
        valid_upgrade_targets: targets
            .iter()
            .map(|t| UpgradeTarget {
                engine_version: t.to_string(),
                is_major_version_upgrade: !t.starts_with("5.7"),
                auto_upgrade: false,
            })
            .collect(),
    }
}

/// Issue 10: versions and valid targets differ by region; each database is planned with its
/// own region's catalog, and every region is asked (with IncludeAll, which the fake asserts).
#[tokio::test]
async fn each_region_is_planned_with_its_own_catalog() {
    let mut fake = FakeBackend::default();
    fake.engine_versions_in.insert(
        "us-east-1".into(),
        vec![
            live_version("5.7.44", "mysql5.7", &["8.0.36"]),
            live_version("8.0.36", "mysql8.0", &[]),
        ],
    );
    fake.engine_versions_in.insert(
        "eu-west-1".into(),
        vec![
            live_version("5.7.44", "mysql5.7", &["8.0.40"]),
            live_version("8.0.40", "mysql8.0", &[]),
        ],
    );
    let regions = ["us-east-1".to_string(), "eu-west-1".to_string()];
    let ctx = gather_context(&fake, &regions, &["mysql".into()]).await;
    assert!(ctx.catalog_warning.is_none(), "{:?}", ctx.catalog_warning);
    let req = PlanRequest {
        targets: [parse_target("mysql=8.0").unwrap()].into_iter().collect(),
        settings: PlanSettings::default(),
        created_at: 0,
    };
    let inv = vec![db("us-east-1", "a"), db("eu-west-1", "b")];
    let p = plan(&inv, &ctx, &req).unwrap();
    let to = |r: &str| {
        p.database(r, if r == "us-east-1" { "a" } else { "b" })
            .unwrap()
            .to_version
            .clone()
    };
    assert_eq!(to("us-east-1").as_deref(), Some("8.0.36"));
    assert_eq!(to("eu-west-1").as_deref(), Some("8.0.40"));
    let calls = fake.calls.lock().unwrap().clone();
    for r in regions {
        assert!(
            calls.contains(&format!("describe_engine_versions {r} mysql")),
            "{calls:?}"
        );
    }
    // A region whose live catalog is unusable falls back alone, and says which.
    let mut partial = FakeBackend::default();
    partial.engine_versions_in.insert(
        "us-east-1".into(),
        vec![
            live_version("5.7.44", "mysql5.7", &["8.0.36"]),
            live_version("8.0.36", "mysql8.0", &[]),
        ],
    );
    partial
        .engine_versions_in
        .insert("eu-west-1".into(), vec![]);
    let ctx = gather_context(
        &partial,
        &["us-east-1".into(), "eu-west-1".into()],
        &["mysql".into()],
    )
    .await;
    let w = ctx.catalog_warning.clone().unwrap();
    assert!(
        w.message.contains("eu-west-1") && !w.message.contains("us-east-1"),
        "{w:?}"
    );
    let p = plan(&inv, &ctx, &req).unwrap();
    assert_eq!(
        p.database("us-east-1", "a").unwrap().to_version.as_deref(),
        Some("8.0.36")
    );
    assert_eq!(
        p.database("eu-west-1", "b").unwrap().to_version.as_deref(),
        Some("8.0.42")
    );
}

/// Issue 10 item 5: io1/io2 need provisioned IOPS; the plan carries them to the request, and
/// an impossible combination blocks the database with a fix.
#[test]
fn storage_flags_reach_the_target_and_impossible_ones_block() {
    let io1 = |iops: Option<i32>, gib: Option<i32>| PlanSettings {
        storage_type: Some("io1".into()),
        iops,
        allocated_storage_gib: gib,
        ..Default::default()
    };
    let mut d = mysql("a");
    d.allocated_storage_gib = 200;
    let case = |s: PlanSettings, d: DbInstance| Case {
        settings: s,
        ..one(d, "mysql=8.0")
    };
    check(
        case(io1(None, None), d.clone()),
        "a",
        &["storage-iops-required"],
        &[],
    );
    let plan = check(case(io1(Some(4000), None), d.clone()), "a", &[], &[]);
    let t = plan.databases[0].target.clone().unwrap();
    assert_eq!(
        (t.storage_type.as_deref(), t.iops, t.allocated_storage_gib),
        (Some("io1"), Some(4000), None)
    );
    d.allocated_storage_gib = 50;
    check(
        case(io1(Some(2000), None), d.clone()),
        "a",
        &["storage-size-invalid"],
        &[],
    );
    let plan = check(case(io1(Some(2000), Some(100)), d.clone()), "a", &[], &[]);
    assert_eq!(
        plan.databases[0]
            .target
            .as_ref()
            .unwrap()
            .allocated_storage_gib,
        Some(100)
    );
    // gp3 below 400 GiB with IOPS: RDS refuses it.
    let gp3 = PlanSettings {
        storage_type: Some("gp3".into()),
        iops: Some(12000),
        ..Default::default()
    };
    check(case(gp3, d), "a", &["storage-iops-invalid"], &[]);
}
