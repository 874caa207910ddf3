//! The step table's decisions, table-driven through one [`check`] helper: a situation in (the
//! current step and its status, what was observed, approval, window, quota, a call's result),
//! the decision out as one short line. No IO, no clock, no store: these are pure functions.

use super::*;
use crate::backend::{BackendError, ErrorKind};
use crate::domain::SwitchoverMember;
use crate::inventory::fake::db as instance;
use crate::plan::{Plan, PlannedParameterGroup};
use crate::state::{DbState, StepStatus};
use crate::store::{test_plan, DbRow, StepRow};

const T0: Millis = 1_000_000_000;
const MIN: Millis = 60_000;

/// One situation of database "a" (mysql 5.7.44 -> 8.0.40, plan `test_plan`).
struct Case {
    kind: StepKind,
    status: StepStatus,
    attempt: i64,
    /// Minutes since the step first left pending.
    age_min: Millis,
    not_before: Millis,
    approved: bool,
    window_open: bool,
    instances: Vec<DbInstance>,
    snapshots: Vec<Snapshot>,
    blue_greens: Vec<BlueGreen>,
    groups: Vec<ParameterGroup>,
    planned_group: bool,
    group_status: Option<ResourceStatus>,
    quota: Option<Option<i64>>,
    fresh: Option<Fresh>,
    green: Option<GreenSeen>,
    diagnosis: Option<Diagnosis>,
    group_tags: Option<GroupTags>,
    readiness_stable: Millis,
    blue_protected: bool,
    last_error: Option<String>,
    replicas: Vec<&'static str>,
}

impl Default for Case {
    fn default() -> Self {
        Case {
            kind: StepKind::Precheck,
            status: StepStatus::Pending,
            attempt: 0,
            age_min: 0,
            not_before: 0,
            approved: false,
            window_open: true,
            instances: vec![],
            snapshots: vec![],
            blue_greens: vec![],
            groups: vec![],
            planned_group: false,
            group_status: None,
            quota: None,
            fresh: None,
            green: None,
            diagnosis: None,
            group_tags: None,
            readiness_stable: 0,
            blue_protected: false,
            last_error: None,
            replicas: vec![],
        }
    }
}

fn at(kind: StepKind, status: StepStatus) -> Case {
    Case {
        kind,
        status,
        ..Case::default()
    }
}

struct Fixture {
    plan: Plan,
    row: DbRow,
    step: StepRow,
    seen: Seen,
    rules: Rules,
    group: PlannedParameterGroup,
}

fn fixture(c: &Case) -> Fixture {
    let mut plan = test_plan();
    plan.databases[0].replicas = c.replicas.iter().map(|r| r.to_string()).collect();
    plan.databases[0].source.deletion_protection = c.blue_protected;
    let p = &plan.databases[0];
    let steps: Vec<StepRow> = p
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| StepRow {
            seq: i as i64,
            kind: s.kind,
            status: StepStatus::Done,
            attempt: 0,
            remote_id: None,
            last_error: None,
            not_before: 0,
            started_at: Some(T0),
            finished_at: Some(T0),
        })
        .collect();
    let seq = steps.iter().position(|s| s.kind == c.kind).unwrap();
    let mut steps = steps;
    steps[seq] = StepRow {
        status: c.status,
        attempt: c.attempt,
        not_before: c.not_before,
        last_error: c.last_error.clone(),
        started_at: (c.status != StepStatus::Pending || c.age_min > 0)
            .then_some(now() - c.age_min * MIN),
        finished_at: None,
        ..steps[seq].clone()
    };
    for s in steps.iter_mut().skip(seq + 1) {
        s.status = StepStatus::Pending;
        s.started_at = None;
    }
    let row = DbRow {
        id: 0,
        region: p.region.clone(),
        identifier: p.identifier.clone(),
        state: DbState::Running,
        step: None,
        approved: c.approved,
        error: None,
        wait: None,
        note: None,
        updated_at: T0,
        steps: steps.clone(),
    };
    let seen = Seen {
        instances: by(c
            .instances
            .iter()
            .map(|i| (i.identifier.clone(), i.clone()))
            .collect()),
        snapshots: by(c
            .snapshots
            .iter()
            .map(|s| (s.identifier.clone(), s.clone()))
            .collect()),
        blue_greens: by(c
            .blue_greens
            .iter()
            .map(|b| (b.name.clone(), b.clone()))
            .collect()),
        parameter_groups: by(c
            .groups
            .iter()
            .map(|g| (g.name.clone(), g.clone()))
            .collect()),
    };
    let rules = Rules {
        readiness_stable: c.readiness_stable,
        ..Rules::default()
    };
    let group = PlannedParameterGroup {
        region: p.region.clone(),
        name: "default.mysql8.0".into(),
        family: "mysql8.0".into(),
        source_group: "custom".into(),
        source_family: "mysql5.7".into(),
        description: "d".into(),
        parameters: vec![ParameterChange {
            name: "max_connections".into(),
            value: "500".into(),
            apply_method: "pending-reboot".into(),
        }],
        dropped: vec![],
        renamed: vec![],
        used_by: vec!["a".into()],
        edits: vec![],
        restore_after_switchover: vec![],
    };
    Fixture {
        step: steps[seq].clone(),
        plan,
        row,
        seen,
        rules,
        group,
    }
}

fn by<T>(v: Vec<(String, T)>) -> Option<HashMap<String, T>> {
    Some(v.into_iter().collect())
}

fn now() -> Millis {
    T0 + 1000 * MIN
}

fn input<'a>(c: &'a Case, f: &'a Fixture) -> Input<'a> {
    Input {
        now: now(),
        plan_id: &f.plan.plan_id,
        db: &f.plan.databases[0],
        row: &f.row,
        step: &f.step,
        seen: &f.seen,
        rules: &f.rules,
        window: Window {
            open: c.window_open,
            opens_at: (!c.window_open).then_some(now() + 60 * MIN),
        },
        group: c.planned_group.then_some((&f.group, c.group_status)),
        quota_headroom: c.quota,
        fresh: c.fresh.as_ref(),
        green: c.green.as_ref(),
        diagnosis: c.diagnosis.as_ref(),
        group_tags: c.group_tags.as_ref(),
    }
}

/// One line per decision: what a reviewer needs to see.
fn summary(d: &Decision) -> String {
    match d {
        Decision::Wait(w) => format!("wait {}", w.describe()),
        Decision::Step(c) => {
            let mut s = format!("step {}: {}", c.to, c.why);
            if let Some(t) = c.not_before {
                s.push_str(&format!(" [not before +{}s]", (t - now()) / 1000));
            }
            s
        }
        Decision::Call(e, _) => format!("call {}", e.op()),
        Decision::Need(n) => format!("need {n:?}"),
        Decision::Finish(f) => format!("finish: {}", f.note),
        Decision::Fail(why) => format!("fail: {why}"),
        Decision::Block(why) => format!("block: {why}"),
        Decision::AwaitApproval => "await approval".into(),
    }
}

/// The decision for `c` must start with `expect`.
#[track_caller]
fn check(c: Case, expect: &str) {
    let f = fixture(&c);
    let got = summary(&next(&input(&c, &f)));
    assert!(got.starts_with(expect), "expected `{expect}`, got `{got}`");
}

/// The decision after `effect` returned `result` must start with `expect`.
#[track_caller]
fn check_outcome(c: Case, effect: Effect, result: BResult<EffectOk>, expect: &str) {
    let f = fixture(&c);
    let i = input(&c, &f);
    let got = summary(&(step(c.kind).on_outcome)(&i, &effect, &result));
    assert!(got.starts_with(expect), "expected `{expect}`, got `{got}`");
}

fn source() -> DbInstance {
    let mut i = instance("us-east-1", "a");
    i.dbi_resource_id = "db-ABC".into();
    i
}

fn snap(status: &str, of: &str) -> Snapshot {
    let plan = test_plan();
    Snapshot {
        identifier: plan.databases[0]
            .resource_name(StepKind::Snapshot)
            .unwrap()
            .into(),
        arn: "arn:snap".into(),
        instance_identifier: of.into(),
        status: status.into(),
        engine_version: "5.7.44".into(),
        allocated_storage_gib: 100,
        percent_progress: 0,
        tags: Tags::new(),
    }
}

fn deployment(status: BgStatus) -> BlueGreen {
    let plan = test_plan();
    BlueGreen {
        identifier: "bgd-1".into(),
        name: plan.databases[0]
            .resource_name(StepKind::CreateBlueGreen)
            .unwrap()
            .into(),
        source: plan.databases[0].arn.clone(),
        target: None,
        status,
        status_details: None,
        switchover_details: vec![SwitchoverMember {
            source_member: plan.databases[0].arn.clone(),
            target_member: Some("arn:aws:rds:us-east-1:123456789012:db:a-green-x1".into()),
            status: "AVAILABLE".into(),
        }],
        tags: managed_tags(&plan.plan_id),
    }
}

/// Green as planned for "a": the target version, the planned group in sync, available.
fn green_ok() -> DbInstance {
    let mut g = instance("us-east-1", "a-green-x1");
    g.engine_version = "8.0.40".into();
    g.parameter_groups[0].name = "default.mysql8.0".into();
    g
}

fn err(kind: ErrorKind) -> BResult<EffectOk> {
    Err(BackendError::new(kind, "Code", "message"))
}

fn effect(op: Op) -> Effect {
    let region = "us-east-1".to_string();
    match op {
        Op::CreateDBSnapshot => Effect::CreateSnapshot {
            region,
            instance: "a".into(),
            name: "s".into(),
            tags: Tags::new(),
        },
        Op::CreateDBParameterGroup => Effect::CreateParameterGroup {
            region,
            group: NewParameterGroup {
                name: "g".into(),
                family: "mysql8.0".into(),
                description: "d".into(),
                tags: Tags::new(),
            },
        },
        Op::ModifyDBParameterGroup => Effect::ModifyParameterGroup {
            region,
            name: "g".into(),
            parameters: vec![],
        },
        Op::SwitchoverBlueGreenDeployment => Effect::Switchover {
            region,
            identifier: "bgd-1".into(),
            timeout_secs: 300,
        },
        Op::AddTagsToResource => Effect::AddTags {
            region,
            arn: "arn:old".into(),
            tags: Tags::new(),
        },
        _ => Effect::CreateBlueGreen {
            region,
            request: CreateBlueGreen {
                name: "n".into(),
                source_arn: "arn".into(),
                target_engine_version: "8.0.40".into(),
                target_parameter_group: None,
                target_instance_class: None,
                target_storage_type: None,
                target_iops: None,
                target_storage_throughput: None,
                target_allocated_storage: None,
                tags: Tags::new(),
            },
        },
    }
}

// --- generic rules -------------------------------------------------------------------------

#[test]
fn a_failed_step_fails_the_database_and_a_backoff_waits() {
    check(
        Case {
            last_error: Some("boom".into()),
            ..at(StepKind::Snapshot, StepStatus::Failed)
        },
        "fail: boom",
    );
    check(
        Case {
            not_before: now() + 5 * MIN,
            last_error: Some("Throttling".into()),
            ..at(StepKind::Snapshot, StepStatus::Pending)
        },
        "wait retrying at",
    );
}

#[test]
fn error_policy_retries_what_passes_and_fails_the_rest() {
    let c = || at(StepKind::Snapshot, StepStatus::Started);
    let snap = || effect(Op::CreateDBSnapshot);
    check_outcome(c(), snap(), err(ErrorKind::Throttled), "step pending:");
    check_outcome(c(), snap(), err(ErrorKind::Transient), "step pending:");
    check_outcome(
        c(),
        snap(),
        err(ErrorKind::QuotaExceeded),
        "step pending: Code (quota-exceeded): message (will retry) [not before +125s]",
    );
    check_outcome(c(), snap(), err(ErrorKind::InvalidState), "step pending:");
    check_outcome(
        Case {
            attempt: MAX_INVALID_STATE_RETRIES,
            ..c()
        },
        snap(),
        err(ErrorKind::InvalidState),
        "fail: CreateDBSnapshot failed",
    );
    for k in [
        ErrorKind::AccessDenied,
        ErrorKind::InvalidRequest,
        ErrorKind::NotFound,
        ErrorKind::Other,
    ] {
        check_outcome(c(), snap(), err(k), "fail: CreateDBSnapshot failed");
    }
}

// --- precheck --------------------------------------------------------------------------------

#[test]
fn precheck_verifies_the_source_is_still_what_was_planned() {
    let c = |instances: Vec<DbInstance>| Case {
        instances,
        ..at(StepKind::Precheck, StepStatus::Pending)
    };
    check(c(vec![]), "block: drift: instance a no longer exists");
    let mut upgraded = source();
    upgraded.engine_version = "8.0.40".into();
    check(c(vec![upgraded]), "finish: already on the target version");
    let mut moved = source();
    moved.engine_version = "5.7.43".into();
    check(c(vec![moved]), "block: drift: engine version is 5.7.43");
    let mut regrouped = source();
    regrouped.parameter_groups[0].name = "other".into();
    check(c(vec![regrouped]), "block: drift: parameter group is other");
    check(c(vec![source()]), "step done: source verified");
    let mut busy = source();
    busy.status = "backing-up".into();
    check(
        c(vec![busy.clone()]),
        "step waiting: waiting for a to be available",
    );
    check(
        Case {
            instances: vec![busy.clone()],
            age_min: 10,
            ..at(StepKind::Precheck, StepStatus::Waiting)
        },
        "wait waiting for the source: instance status backing-up",
    );
    check(
        Case {
            instances: vec![busy],
            age_min: 61,
            ..at(StepKind::Precheck, StepStatus::Waiting)
        },
        "block: precheck: instance status backing-up",
    );
    let mut reboot = source();
    reboot.parameter_groups[0].apply_status = "pending-reboot".into();
    check(
        Case {
            instances: vec![reboot],
            ..at(StepKind::Precheck, StepStatus::Waiting)
        },
        "wait waiting for the source: instance status available / parameter group not in-sync",
    );
}

// --- snapshot --------------------------------------------------------------------------------

#[test]
fn snapshot_is_created_once_adopted_when_found_and_never_someone_elses() {
    let c = |status, snaps: Vec<Snapshot>| Case {
        snapshots: snaps,
        ..at(StepKind::Snapshot, status)
    };
    check(c(StepStatus::Pending, vec![]), "call CreateDBSnapshot");
    // Unknown outcome and nothing there: the call is made again.
    check(c(StepStatus::Started, vec![]), "call CreateDBSnapshot");
    // Unknown outcome and it is there: adopted, not repeated.
    check(
        c(StepStatus::Started, vec![snap("creating", "a")]),
        "step waiting: adopted existing snapshot",
    );
    check(
        c(StepStatus::Waiting, vec![snap("creating", "a")]),
        "step waiting: snapshot in progress",
    );
    check(
        c(StepStatus::Waiting, vec![snap("available", "a")]),
        "step done: snapshot available",
    );
    check(
        c(StepStatus::Waiting, vec![snap("failed", "a")]),
        "fail: pre-upgrade snapshot",
    );
    check(
        c(StepStatus::Pending, vec![snap("available", "b")]),
        "fail: snapshot rf",
    );
    check(
        Case {
            age_min: 2,
            ..c(StepStatus::Waiting, vec![])
        },
        "wait waiting for AWS: snapshot",
    );
    check(
        Case {
            age_min: 6,
            ..c(StepStatus::Waiting, vec![])
        },
        "fail: snapshot rf",
    );
    let started = || at(StepKind::Snapshot, StepStatus::Started);
    let ok = Ok(EffectOk::Snapshot(snap("creating", "a")));
    check_outcome(
        started(),
        effect(Op::CreateDBSnapshot),
        ok,
        "step waiting: snapshot creation started",
    );
    check_outcome(
        started(),
        effect(Op::CreateDBSnapshot),
        err(ErrorKind::AlreadyExists),
        "step waiting: snapshot already exists: adopted",
    );
}

// --- parameter group -------------------------------------------------------------------------

#[test]
fn parameter_group_is_created_then_configured_and_adopted_only_with_its_family() {
    let g = |family: &str| ParameterGroup {
        name: "default.mysql8.0".into(),
        family: family.into(),
        description: String::new(),
        arn: String::new(),
    };
    let c = |groups: Vec<ParameterGroup>, status| Case {
        planned_group: true,
        group_status: status,
        groups,
        ..at(StepKind::ParameterGroup, StepStatus::Pending)
    };
    // An AWS default group: nothing to create.
    check(
        at(StepKind::ParameterGroup, StepStatus::Pending),
        "step done: default parameter group",
    );
    check(
        c(vec![], Some(ResourceStatus::Done)),
        "step done: parameter group ready",
    );
    check(c(vec![], None), "call CreateDBParameterGroup");
    // Our create succeeded earlier (the row says `created`): configured, no tags read.
    check(
        c(vec![g("mysql8.0")], Some(ResourceStatus::Created)),
        "call ModifyDBParameterGroup",
    );
    check(
        c(vec![g("mysql5.7")], None),
        "fail: parameter group default.mysql8.0 exists with another family",
    );
    let started = || Case {
        planned_group: true,
        ..at(StepKind::ParameterGroup, StepStatus::Started)
    };
    check_outcome(
        started(),
        effect(Op::CreateDBParameterGroup),
        Ok(EffectOk::ParameterGroup(g("mysql8.0"))),
        "call ModifyDBParameterGroup",
    );
    check_outcome(
        started(),
        effect(Op::CreateDBParameterGroup),
        err(ErrorKind::AlreadyExists),
        "wait waiting for AWS: parameter group default.mysql8.0 is exists; checking whose it is",
    );
    check_outcome(
        started(),
        effect(Op::ModifyDBParameterGroup),
        Ok(EffectOk::Done),
        "step done: parameter group created",
    );
}

/// A group found under the plan's group name is modified (and so later deleted by abort) only
/// when it is ours: the state file says our create succeeded, or it carries this plan's tags.
#[test]
fn a_group_found_under_the_plans_name_is_adopted_only_when_it_is_ours() {
    const ARN: &str = "arn:aws:rds:us-east-1:123456789012:pg:default.mysql8.0";
    let found = || ParameterGroup {
        name: "default.mysql8.0".into(),
        family: "mysql8.0".into(),
        description: String::new(),
        arn: ARN.into(),
    };
    let plan_id = test_plan().plan_id;
    let c = |status: Option<ResourceStatus>, tags: Option<GroupTags>| Case {
        planned_group: true,
        group_status: status,
        groups: vec![found()],
        group_tags: tags,
        ..at(StepKind::ParameterGroup, StepStatus::Pending)
    };
    let tagged = |k: &[(&str, &str)]| -> Option<GroupTags> {
        Some(Ok(k
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()))
    };
    // Whose it is is unknown: read its tags. No row (an earlier attempt's state file lost, or
    // a stranger's), a `started` row (the create's outcome never recorded, or AlreadyExists),
    // a `deleted` one (recreated since by someone).
    for status in [
        None,
        Some(ResourceStatus::Started),
        Some(ResourceStatus::Deleted),
    ] {
        check(
            c(status, None),
            &format!("need GroupTags {{ name: \"default.mysql8.0\", arn: \"{ARN}\" }}"),
        );
    }
    // Our create succeeded: configured without reading tags.
    check(
        c(Some(ResourceStatus::Created), None),
        "call ModifyDBParameterGroup",
    );
    // This plan's tags: ours (an earlier attempt), configured and recorded as ours.
    let ours: Vec<(String, String)> = managed_tags(&plan_id).into_iter().collect();
    let ours: Vec<(&str, &str)> = ours.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    for status in [None, Some(ResourceStatus::Started)] {
        let case = c(status, tagged(&ours));
        let f = fixture(&case);
        match next(&input(&case, &f)) {
            Decision::Call(Effect::ModifyParameterGroup { name, .. }, Some(t)) => {
                assert_eq!(name, "default.mysql8.0");
                assert_eq!(
                    (t.at_intent, t.on_ok),
                    (ResourceStatus::Created, ResourceStatus::Done)
                );
            }
            other => panic!("expected the adoption of our group, got {other:?}"),
        }
    }
    // Someone else's: never modified; the database waits for an operator, who is told what
    // to do (re-planning derives the same name).
    let stranger = "wait waiting for an operator: parameter group default.mysql8.0 already exists and was not created by this plan";
    check(c(None, tagged(&[])), stranger);
    check(
        c(None, tagged(&[("team", "payments")])),
        &format!("{stranger} (it does not carry this plan's rdsfleet tags); it was not modified and rdsfleet will never delete it. Delete it"),
    );
    check(
        c(
            Some(ResourceStatus::Started),
            tagged(&[
                ("rdsfleet:managed", "true"),
                ("rdsfleet:plan-id", "rf-other"),
            ]),
        ),
        &format!("{stranger} (it is tagged by another rdsfleet plan, rf-other)"),
    );
    check(
        c(None, tagged(&[("rdsfleet:managed", "true")])),
        &format!("{stranger} (it does not carry this plan's rdsfleet tags)"),
    );
    check(c(None, tagged(&[("rdsfleet:plan-id", &plan_id)])), stranger);
    let read_err = |kind| Some(Err(BackendError::new(kind, "Code", "message")));
    check(
        c(None, read_err(ErrorKind::NotFound)),
        "wait waiting for AWS: parameter group default.mysql8.0 is gone while its tags were read",
    );
    check(
        c(None, read_err(ErrorKind::Throttled)),
        "step pending: Code (throttled): message (will retry) [not before +5s]",
    );
    check(
        c(None, read_err(ErrorKind::AccessDenied)),
        "wait waiting for an operator: cannot tell whether parameter group default.mysql8.0 is this plan's",
    );
    // The family is judged first: a group of another family is refused whoever made it.
    check(
        Case {
            groups: vec![ParameterGroup {
                family: "mysql5.7".into(),
                ..found()
            }],
            ..c(None, None)
        },
        "fail: parameter group default.mysql8.0 exists with another family",
    );
}

// --- create blue/green -----------------------------------------------------------------------

#[test]
fn deployment_is_created_within_quota_and_adopted_only_for_its_source() {
    let c = |status, bgs: Vec<BlueGreen>, quota| Case {
        blue_greens: bgs,
        quota,
        ..at(StepKind::CreateBlueGreen, status)
    };
    let mut stranger = deployment(BgStatus::Provisioning);
    stranger.source = "arn:aws:rds:us-east-1:123456789012:db:other".into();
    check(
        c(StepStatus::Pending, vec![stranger], None),
        "fail: blue/green deployment rf",
    );
    check(
        c(
            StepStatus::Pending,
            vec![deployment(BgStatus::Provisioning)],
            None,
        ),
        "step done: adopted existing blue/green deployment",
    );
    check(
        c(
            StepStatus::Started,
            vec![deployment(BgStatus::Provisioning)],
            None,
        ),
        "step done: blue/green deployment created",
    );
    check(c(StepStatus::Pending, vec![], None), "need Quota");
    check(
        c(StepStatus::Pending, vec![], Some(Some(0))),
        "wait waiting for DBInstances quota headroom in us-east-1 (need 1, have 0)",
    );
    check(
        Case {
            replicas: vec!["a-replica"],
            ..c(StepStatus::Pending, vec![], Some(Some(1)))
        },
        "wait waiting for DBInstances quota headroom in us-east-1 (need 2, have 1)",
    );
    check(
        c(StepStatus::Pending, vec![], Some(Some(1))),
        "call CreateBlueGreenDeployment",
    );
    // The endpoint cannot say (moto): created without a headroom check.
    check(
        c(StepStatus::Started, vec![], Some(None)),
        "call CreateBlueGreenDeployment",
    );
    check(
        Case {
            age_min: 6,
            ..c(StepStatus::Waiting, vec![], None)
        },
        "fail: blue/green deployment rf",
    );
    let started = || at(StepKind::CreateBlueGreen, StepStatus::Started);
    check_outcome(
        started(),
        effect(Op::CreateBlueGreenDeployment),
        err(ErrorKind::AlreadyExists),
        "step waiting: blue/green deployment already exists: adopting",
    );
    check_outcome(
        started(),
        effect(Op::CreateBlueGreenDeployment),
        Ok(EffectOk::BlueGreen(deployment(BgStatus::Provisioning))),
        "step waiting: blue/green deployment created",
    );
}

// --- wait ready ------------------------------------------------------------------------------

#[test]
fn green_is_ready_when_available_and_stays_available_through_the_guard() {
    let c = |status, bg: Option<BgStatus>| Case {
        blue_greens: bg.into_iter().map(deployment).collect(),
        ..at(StepKind::WaitReady, status)
    };
    check(
        c(StepStatus::Pending, None),
        "step waiting: waiting for deployment",
    );
    check(
        c(StepStatus::Pending, Some(BgStatus::Provisioning)),
        "step waiting: provisioning",
    );
    check(
        c(StepStatus::Waiting, Some(BgStatus::Provisioning)),
        "wait waiting for AWS: green environment is PROVISIONING",
    );
    check(
        c(
            StepStatus::Waiting,
            Some(BgStatus::Other("storage-optimization".into())),
        ),
        "wait waiting for AWS: green environment is storage-optimization",
    );
    check(
        c(StepStatus::Waiting, Some(BgStatus::Available)),
        "step done: green environment available",
    );
    let guard = |nb: Millis, bg| Case {
        readiness_stable: 10 * MIN,
        not_before: nb,
        ..c(StepStatus::Waiting, Some(bg))
    };
    check(
        guard(0, BgStatus::Available),
        "step waiting: green AVAILABLE; readiness guard running [not before +600s]",
    );
    check(
        guard(now() + MIN, BgStatus::Available),
        "wait green available; readiness guard until",
    );
    check(
        guard(now() - 1, BgStatus::Available),
        "step done: green environment available",
    );
    check(
        guard(now() + MIN, BgStatus::Provisioning),
        "step waiting: green left AVAILABLE (PROVISIONING); readiness guard reset",
    );
    // A failed green: its upgrade precheck log is read once, and said.
    check(
        c(StepStatus::Waiting, Some(BgStatus::InvalidConfiguration)),
        "need Diagnosis(\"a-green-x1\")",
    );
    let failed = |d: Diagnosis| Case {
        diagnosis: Some(d),
        ..c(StepStatus::Waiting, Some(BgStatus::InvalidConfiguration))
    };
    let check_of = |level| crate::diagnosis::FailedCheck {
        check: "Usage of old temporal type".into(),
        level,
        database: None,
        objects: vec![],
        detail: String::new(),
        fix: "ALTER TABLE ... FORCE".into(),
        link: None,
    };
    let f = fixture(&failed(Ok(vec![check_of(crate::diagnosis::Level::Error)])));
    let c1 = failed(Ok(vec![check_of(crate::diagnosis::Level::Error)]));
    let got = summary(&next(&input(&c1, &f)));
    assert!(
        got.contains("INVALID_CONFIGURATION")
            && got.contains("Usage of old temporal type: ALTER TABLE ... FORCE"),
        "{got}"
    );
    check(
        failed(Err("unavailable".into())),
        "fail: blue/green deployment rf",
    );
    check(
        c(StepStatus::Waiting, Some(BgStatus::SwitchoverFailed)),
        "fail: blue/green deployment rf",
    );
    check(
        Case {
            age_min: 25 * 60,
            ..c(StepStatus::Waiting, Some(BgStatus::Provisioning))
        },
        "fail: blue/green deployment rf",
    );
}

// --- switchover ------------------------------------------------------------------------------

#[test]
fn switchover_needs_approval_a_window_and_a_fresh_describe_and_is_never_retried_blindly() {
    let c = |status, approved, window_open, fresh: Option<Fresh>| Case {
        approved,
        window_open,
        fresh,
        ..at(StepKind::Switchover, status)
    };
    let seen = |s| Some(Ok(Some(deployment(s))));
    let p = StepStatus::Pending;
    // Never a call without approval or outside a window.
    check(
        c(p, false, true, seen(BgStatus::Available)),
        "await approval",
    );
    check(
        c(p, true, false, seen(BgStatus::Available)),
        "wait approved; switchover window opens",
    );
    check(c(p, true, true, None), "need FreshDeployment");
    // Never the irreversible call before green is described and confirmed as planned.
    check(c(p, true, true, seen(BgStatus::Available)), "need Green");
    let with_green = |status, g: Result<Vec<DbInstance>, BackendError>| Case {
        green: Some(GreenSeen {
            instances: g,
            integrations: Err(BackendError::new(ErrorKind::Unavailable, "U", "moto")),
        }),
        ..c(status, true, true, seen(BgStatus::Available))
    };
    check(
        with_green(p, Ok(vec![green_ok()])),
        "call SwitchoverBlueGreenDeployment",
    );
    // Unknown outcome, still AVAILABLE: the request is made again (green still checked).
    check(
        with_green(StepStatus::Started, Ok(vec![green_ok()])),
        "call SwitchoverBlueGreenDeployment",
    );
    let mut old_version = green_ok();
    old_version.engine_version = "5.7.44".into();
    check(
        with_green(p, Ok(vec![old_version])),
        "fail: green a-green-x1 runs 5.7.44, not the planned 8.0.40",
    );
    let mut other_group = green_ok();
    other_group.parameter_groups[0].name = "someone-elses".into();
    check(
        with_green(p, Ok(vec![other_group])),
        "fail: green a-green-x1 uses parameter group someone-elses",
    );
    let mut rebooting = green_ok();
    rebooting.parameter_groups[0].apply_status = "pending-reboot".into();
    check(
        with_green(p, Ok(vec![rebooting])),
        "wait waiting for an operator: a-green-x1: parameter group default.mysql8.0 is pending-reboot: reboot green",
    );
    let mut optimizing = green_ok();
    optimizing.status = "storage-optimization".into();
    check(
        with_green(p, Ok(vec![optimizing])),
        "wait green not as planned yet: a-green-x1 is storage-optimization",
    );
    let mut unprotected = green_ok();
    unprotected.deletion_protection = false;
    let mut protected_blue = with_green(p, Ok(vec![unprotected]));
    protected_blue.blue_protected = true;
    check(
        protected_blue,
        "wait waiting for an operator: a-green-x1 lost blue's deletion protection",
    );
    // A zero-ETL integration on blue: AWS refuses the switchover; the operator deletes it.
    let mut etl = with_green(p, Ok(vec![green_ok()]));
    etl.green.as_mut().unwrap().integrations = Ok(vec![Integration {
        name: "a-to-redshift".into(),
        arn: String::new(),
        source_arn: test_plan().databases[0].arn.clone(),
        target_arn: String::new(),
        status: "active".into(),
    }]);
    check(
        etl,
        "wait waiting for an operator: zero-ETL integration a-to-redshift must be deleted before the switchover",
    );
    check(
        with_green(p, Ok(vec![])),
        "fail: green has 0 of the 1 planned",
    );
    check(
        Case {
            replicas: vec!["a-replica"],
            ..with_green(p, Ok(vec![green_ok()]))
        },
        "fail: green has 1 of the 2 planned",
    );
    check(
        with_green(p, Err(BackendError::new(ErrorKind::Throttled, "T", "m"))),
        "wait green not as planned yet: could not describe green",
    );
    // Called, and AVAILABLE again: rolled back. Waits out the grace, then fails; never calls.
    check(
        Case {
            age_min: 2,
            ..c(StepStatus::Waiting, true, false, seen(BgStatus::Available))
        },
        "wait waiting for AWS: switchover is requested",
    );
    check(
        Case {
            age_min: 6,
            ..c(StepStatus::Waiting, true, true, seen(BgStatus::Available))
        },
        "fail: switchover of rf",
    );
    check(
        c(
            StepStatus::Waiting,
            true,
            true,
            seen(BgStatus::SwitchoverFailed),
        ),
        "fail: switchover of rf",
    );
    check(
        c(p, true, true, seen(BgStatus::SwitchoverFailed)),
        "fail: switchover of rf",
    );
    check(
        c(p, true, true, seen(BgStatus::SwitchoverCompleted)),
        "step done: switchover already completed: adopted",
    );
    check(
        c(p, true, true, seen(BgStatus::SwitchoverInProgress)),
        "step waiting: adopted switchover in progress",
    );
    check(
        c(p, true, true, Some(Ok(None))),
        "fail: blue/green deployment rf",
    );
    check(
        c(
            p,
            true,
            true,
            Some(Err(BackendError::new(ErrorKind::Throttled, "T", "m"))),
        ),
        "wait waiting for AWS: blue/green deployment",
    );
    check(
        c(p, true, true, seen(BgStatus::Provisioning)),
        "fail: blue/green deployment rf",
    );
    let sw = || effect(Op::SwitchoverBlueGreenDeployment);
    let started = || c(StepStatus::Started, true, true, None);
    check_outcome(
        started(),
        sw(),
        Ok(EffectOk::BlueGreen(deployment(
            BgStatus::SwitchoverInProgress,
        ))),
        "step waiting: switchover started",
    );
    check_outcome(
        started(),
        sw(),
        err(ErrorKind::InvalidState),
        "step pending:",
    );
    check_outcome(
        started(),
        sw(),
        err(ErrorKind::InvalidRequest),
        "fail: SwitchoverBlueGreenDeployment failed",
    );
}

// --- verify ----------------------------------------------------------------------------------

fn upgraded_fleet(old_tags: Tags, replica_version: Option<&str>) -> Vec<DbInstance> {
    let mut green = source();
    green.engine_version = "8.0.40".into();
    green.dbi_resource_id = "db-NEW".into();
    let mut old = source();
    old.identifier = "a-old1".into();
    old.arn = "arn:old".into();
    old.tags = old_tags;
    let mut v = vec![green, old];
    if let Some(rv) = replica_version {
        let mut r = instance("us-east-1", "a-replica");
        r.engine_version = rv.into();
        v.push(r);
    }
    v
}

#[test]
fn verify_tags_the_old_instance_waits_for_replicas_and_fails_after_its_timeout() {
    let plan_id = test_plan().plan_id;
    let c = |status, instances, replicas| Case {
        instances,
        replicas,
        ..at(StepKind::Verify, status)
    };
    check(
        c(
            StepStatus::Pending,
            upgraded_fleet(Tags::new(), None),
            vec![],
        ),
        "call AddTagsToResource",
    );
    check(
        c(
            StepStatus::Waiting,
            upgraded_fleet(managed_tags(&plan_id), None),
            vec![],
        ),
        "finish: upgraded to 8.0.40; old instance a-old1 kept for rollback",
    );
    check(
        c(
            StepStatus::Pending,
            upgraded_fleet(managed_tags(&plan_id), Some("5.7.44")),
            vec!["a-replica"],
        ),
        "step waiting: verifying",
    );
    check(
        Case {
            age_min: 30,
            ..c(
                StepStatus::Waiting,
                upgraded_fleet(managed_tags(&plan_id), Some("5.7.44")),
                vec!["a-replica"],
            )
        },
        "wait verifying: replica a-replica runs 5.7.44",
    );
    check(
        Case {
            age_min: 61,
            ..c(
                StepStatus::Waiting,
                upgraded_fleet(managed_tags(&plan_id), Some("5.7.44")),
                vec!["a-replica"],
            )
        },
        "fail: verification failed: replica a-replica runs 5.7.44",
    );
    check(
        Case {
            age_min: 1,
            ..c(StepStatus::Waiting, vec![source()], vec![])
        },
        "wait verifying: a runs 5.7.44 not 8.0.40",
    );
    let tagging = || {
        c(
            StepStatus::Started,
            upgraded_fleet(Tags::new(), None),
            vec![],
        )
    };
    let tag = || effect(Op::AddTagsToResource);
    check_outcome(
        tagging(),
        tag(),
        Ok(EffectOk::Done),
        "finish: upgraded to 8.0.40; old instance a-old1 kept for rollback",
    );
    check_outcome(
        tagging(),
        tag(),
        err(ErrorKind::AccessDenied),
        "finish: upgraded to 8.0.40; old instance a-old1 kept for rollback (could not tag it",
    );
    check_outcome(tagging(), tag(), err(ErrorKind::Throttled), "step pending:");
}

// --- the table -------------------------------------------------------------------------------

#[test]
fn every_step_kind_has_one_row_and_names_follow_the_table() {
    let plan = test_plan();
    let p = &plan.databases[0];
    let kinds: Vec<StepKind> = BLUE_GREEN.iter().map(|s| s.kind).collect();
    let mut unique = kinds.clone();
    unique.dedup();
    assert_eq!(kinds, unique);
    for s in BLUE_GREEN {
        let name = resource_name(s.kind, &plan.plan_id, p, Some("g"));
        assert_eq!(
            name.is_some(),
            s.creates != Creates::Nothing,
            "{:?}",
            s.kind
        );
        assert_eq!(
            p.resource_name(s.kind).map(String::from).is_some(),
            name.is_some()
        );
    }
    assert!(steps(Strategy::WithSource).is_empty() && steps(Strategy::Skip).is_empty());
}

#[test]
fn a_replica_mirrors_its_source() {
    let plan = test_plan();
    let row = |id: &str, state| DbRow {
        id: 0,
        region: "r".into(),
        identifier: id.into(),
        state,
        step: None,
        approved: false,
        error: Some("boom".into()),
        wait: None,
        note: None,
        updated_at: 0,
        steps: vec![],
    };
    let _ = plan;
    assert!(mirror_source(&row("a", DbState::Running), &row("r", DbState::Running)).is_none());
    let (s, why, _) =
        mirror_source(&row("a", DbState::Running), &row("r", DbState::Pending)).unwrap();
    assert_eq!(s, DbState::Running);
    assert_eq!(
        why.wait,
        Some(WaitReason::WithSource { source: "a".into() })
    );
    let (s, why, _) =
        mirror_source(&row("a", DbState::Failed), &row("r", DbState::Running)).unwrap();
    assert_eq!(s, DbState::Failed);
    assert_eq!(why.error.as_deref(), Some("travels with a: boom"));
}

#[test]
fn verify_tags_old_replicas_after_the_old_instance_and_records_both() {
    let plan_id = test_plan().plan_id;
    let mut fleet = upgraded_fleet(managed_tags(&plan_id), Some("8.0.40"));
    let mut old_replica = instance("us-east-1", "a-replica-old1");
    old_replica.read_replica_source = Some("a-old1".into());
    fleet.push(old_replica.clone());
    let c = |fleet: Vec<DbInstance>| Case {
        instances: fleet,
        replicas: vec!["a-replica"],
        ..at(StepKind::Verify, StepStatus::Waiting)
    };
    check(c(fleet.clone()), "call AddTagsToResource");
    let mut tagged = fleet.clone();
    tagged.last_mut().unwrap().tags = managed_tags(&plan_id);
    let case = c(tagged);
    let f = fixture(&case);
    let Decision::Finish(fin) = next(&input(&case, &f)) else {
        panic!("expected a finish")
    };
    let kinds: Vec<(ResourceKind, &str)> = fin
        .records
        .iter()
        .map(|r| (r.kind, r.name.as_str()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (ResourceKind::OldInstance, "a-old1"),
            (ResourceKind::OldReplica, "a-replica-old1")
        ]
    );
    let d: OldInstance = serde_json::from_str(fin.records[1].detail.as_deref().unwrap()).unwrap();
    assert_eq!(d.replica_of.as_deref(), Some("a-old1"));
    // Tagging the old instance when a replica is still untagged: the next tick goes on.
    let mut untagged = fleet;
    untagged[1].tags = Tags::new();
    check_outcome(
        Case {
            status: StepStatus::Started,
            ..c(untagged)
        },
        Effect::AddTags {
            region: "us-east-1".into(),
            arn: "arn:old".into(),
            tags: Tags::new(),
        },
        Ok(EffectOk::Done),
        "step waiting: tagged arn:old",
    );
}

#[test]
fn creation_only_values_are_restored_when_no_user_can_still_switch() {
    let mut g = fixture(&Case::default()).group;
    let users = |v: &[(&str, DbState, bool)]| -> Vec<(String, DbState, bool)> {
        v.iter().map(|(a, s, w)| (a.to_string(), *s, *w)).collect()
    };
    assert_eq!(
        restore(&g, &users(&[("a", DbState::Done, true)])),
        Restore::Nothing
    );
    g.restore_after_switchover = vec![ParameterChange {
        name: "event_scheduler".into(),
        value: "ON".into(),
        apply_method: "immediate".into(),
    }];
    assert_eq!(
        restore(&g, &users(&[("a", DbState::Done, true)])),
        Restore::Due
    );
    // A shared group waits for the databases that will still switch over.
    assert_eq!(
        restore(
            &g,
            &users(&[
                ("a", DbState::Done, true),
                ("b", DbState::Running, false),
                ("c", DbState::Pending, false)
            ])
        ),
        Restore::Waiting(vec!["b".into(), "c".into()])
    );
    // Those that never will (failed, aborted) do not hold it back; nobody switched: nothing.
    assert_eq!(
        restore(
            &g,
            &users(&[("a", DbState::Done, true), ("b", DbState::Failed, false)])
        ),
        Restore::Due
    );
    assert_eq!(
        restore(&g, &users(&[("b", DbState::Aborted, false)])),
        Restore::Waiting(vec![])
    );
    let (e, t) = restore_effect(&g);
    assert_eq!(e.op(), Op::ModifyDBParameterGroup);
    assert_eq!(t.on_ok, ResourceStatus::Restored);
}
