use super::*;
use crate::store::StepRow;

const MIN: Millis = 60_000;

fn step(kind: StepKind, status: StepStatus, a: Millis, b: Option<Millis>) -> StepRow {
    StepRow {
        seq: 0,
        kind,
        status,
        attempt: 1,
        remote_id: None,
        last_error: None,
        not_before: 0,
        started_at: Some(a),
        finished_at: b,
    }
}

fn row(id: i64, name: &str, state: DbState, error: Option<&str>, steps: Vec<StepRow>) -> DbRow {
    DbRow {
        id,
        region: "us-east-1".into(),
        identifier: name.into(),
        state,
        step: None,
        approved: true,
        error: error.map(str::to_string),
        wait: None,
        note: None,
        updated_at: 100 * MIN,
        steps,
    }
}

/// Database 0 `a` done (snapshot 10 min, green 40 min, approval wait 10 min, switchover 2 min,
/// verify 1 min), `b` blocked, `c` failed at switchover.
fn fixture() -> (Plan, Vec<DbRow>) {
    let mut plan = crate::store::test_plan();
    let mut c = plan.databases[0].clone();
    c.identifier = "c".into();
    plan.databases.push(c);
    for d in plan.databases.iter_mut() {
        let name = format!("rf1-{}", d.identifier);
        for s in d.steps.iter_mut() {
            if s.kind == StepKind::CreateBlueGreen {
                s.resource_name = Some(name.clone());
            }
        }
    }
    use StepKind::*;
    use StepStatus::{Done, Failed};
    let a = row(
        0,
        "a",
        DbState::Done,
        None,
        vec![
            step(Snapshot, Done, 0, Some(10 * MIN)),
            step(CreateBlueGreen, Done, 10 * MIN, Some(11 * MIN)),
            step(WaitReady, Done, 11 * MIN, Some(50 * MIN)),
            step(Switchover, Done, 60 * MIN, Some(62 * MIN)),
            step(Verify, Done, 62 * MIN, Some(63 * MIN)),
        ],
    );
    let b = row(
        1,
        "b",
        DbState::Blocked,
        Some("backups-disabled: turn on backups"),
        vec![],
    );
    let c = row(
        2,
        "c",
        DbState::Failed,
        Some("switchover of rf1-c failed and RDS rolled it back"),
        vec![
            step(Snapshot, Done, 0, Some(20 * MIN)),
            step(CreateBlueGreen, Done, 20 * MIN, Some(21 * MIN)),
            step(WaitReady, Done, 21 * MIN, Some(51 * MIN)),
            step(Switchover, Failed, 70 * MIN, Some(72 * MIN)),
        ],
    );
    (plan, vec![a, b, c])
}

fn old_instance() -> ResourceRow {
    ResourceRow {
        region: "us-east-1".into(),
        kind: crate::state::ResourceKind::OldInstance,
        name: "a-old1".into(),
        status: crate::state::ResourceStatus::Kept,
        detail: Some(format!(r#"{{"source":"a","switched_at":{}}}"#, 62 * MIN)),
    }
}

#[test]
fn summary_steps_and_downtime_interval_without_measurement() {
    let (plan, rows) = fixture();
    let r = RunReport::build(&plan, &rows, &[], &[], "s.sqlite");
    assert_eq!(r.makespan_secs, Some(72 * 60));
    assert_eq!(r.counts["done"], 1);
    let snap = r
        .steps
        .iter()
        .find(|s| s.step == StepKind::Snapshot)
        .unwrap();
    assert_eq!((snap.count, snap.median_secs), (2, 15 * 60));
    assert_eq!((snap.slowest_secs, snap.slowest.as_str()), (20 * 60, "c"));
    let a = &r.databases[0];
    assert_eq!(a.approval_wait_secs, Some(10 * 60));
    let d = a.downtime.as_ref().unwrap();
    assert!(!d.measured && d.seconds == 120.0, "{d:?}");
    assert_eq!(a.total_secs, Some(63 * 60));
    let md = r.markdown(None);
    assert!(md.contains("| makespan | 1h12 |"), "{md}");
    assert!(
        md.contains("switchover (upper bound of write downtime)"),
        "{md}"
    );
    assert!(
        md.contains("| snapshot | 2 | 15 min | 20 min | c |"),
        "{md}"
    );
}

#[test]
fn measured_downtime_inside_the_switchover_wins() {
    let (plan, rows) = fixture();
    let measured = vec![
        // Another database's, and an older one of `a` (a previous run): ignored.
        Downtime {
            region: "us-east-1".into(),
            identifier: "c".into(),
            start: 61 * MIN,
            seconds: 50.0,
        },
        Downtime {
            region: "us-east-1".into(),
            identifier: "a".into(),
            start: 5 * MIN,
            seconds: 99.0,
        },
        Downtime {
            region: "us-east-1".into(),
            identifier: "a".into(),
            start: 61 * MIN,
            seconds: 42.0,
        },
    ];
    let r = RunReport::build(&plan, &rows, &[], &measured, "s.sqlite");
    let d = r.databases[0].downtime.as_ref().unwrap();
    assert!(d.measured && d.seconds == 42.0, "{d:?}");
    assert!(
        r.databases[2].downtime.is_none(),
        "c's is outside its switchover"
    );
    assert!(r
        .markdown(None)
        .contains("| write downtime per switchover (measured) | 42 s average, 42 s longest |"));
}

#[test]
fn failures_are_grouped_by_cause_with_the_next_command() {
    let (plan, mut rows) = fixture();
    let mut b2 = rows[1].clone();
    b2.id = 0;
    b2.identifier = "b2".into();
    b2.error = Some("travels with b: backups-disabled: turn on backups".into());
    rows.push(b2);
    rows[2].steps[3].last_error = None;
    let r = RunReport::build(&plan, &rows, &[], &[], "state/x.sqlite");
    assert_eq!(r.failures.len(), 2, "{:#?}", r.failures);
    let blocked = r
        .failures
        .iter()
        .find(|g| g.state == DbState::Blocked)
        .unwrap();
    assert_eq!(blocked.cause, "backups-disabled");
    assert_eq!(
        blocked.databases,
        vec!["b", "b2"],
        "a replica joins its source"
    );
    assert_eq!(
        blocked.next,
        "rdsfleet plan --target mysql=8.0   # after the fix above; nothing was changed on these"
    );
    let failed = r
        .failures
        .iter()
        .find(|g| g.state == DbState::Failed)
        .unwrap();
    assert_eq!(failed.cause, "switchover failed");
    assert!(failed
        .next
        .starts_with("rdsfleet abort --state state/x.sqlite --db c "));
    // An AWS code in the message names the cause.
    let mut rows2 = rows.clone();
    rows2[2].error = Some(
        "CreateBlueGreenDeployment failed: DBInstanceNotFound (not-found): DBInstance c not found."
            .into(),
    );
    rows2[2].steps[3].status = StepStatus::Done;
    rows2[2].steps[1].status = StepStatus::Failed;
    let r = RunReport::build(&plan, &rows2, &[], &[], "s");
    assert!(
        r.failures
            .iter()
            .any(|g| g.cause == "create-blue-green failed: DBInstanceNotFound"),
        "{:#?}",
        r.failures
    );
    // Else an RDS status in capitals.
    rows2[2].error =
        Some("blue/green deployment rf1-c is INVALID_CONFIGURATION (x); blue is untouched".into());
    let r = RunReport::build(&plan, &rows2, &[], &[], "s");
    assert!(
        r.failures
            .iter()
            .any(|g| g.cause == "create-blue-green failed: INVALID_CONFIGURATION"),
        "{:#?}",
        r.failures
    );
}

#[test]
fn leftovers_say_since_when_and_from_when_cleanup_may_delete() {
    let (plan, rows) = fixture();
    let replica = ResourceRow {
        kind: crate::state::ResourceKind::OldReplica,
        name: "a-ro1-old1".into(),
        detail: Some(format!(
            r#"{{"source":"a","replica_of":"a-old1","switched_at":{}}}"#,
            62 * MIN
        )),
        ..old_instance()
    };
    let r = RunReport::build(&plan, &rows, &[old_instance(), replica], &[], "s.sqlite");
    let kinds: Vec<&str> = r.cleanup.iter().map(|l| l.kind.as_str()).collect();
    assert_eq!(
        kinds,
        vec![
            "blue/green deployment",
            "green side (blue/green deployment)",
            "old instance (rollback copy)",
            "old read replica (renamed at switchover)"
        ]
    );
    assert_eq!(r.cleanup[3].database, "a");
    assert_eq!(r.cleanup[3].deletable_from, r.cleanup[2].deletable_from);
    let old = &r.cleanup[2];
    assert_eq!(old.since, Some(62 * MIN));
    let retention = plan.settings.retention_hours as Millis * 3_600_000;
    assert_eq!(old.deletable_from, Some(62 * MIN + retention));
    assert_eq!(old.next, "rdsfleet cleanup --state s.sqlite");
    assert_eq!(r.cleanup[1].next, "rdsfleet abort --state s.sqlite --db c");
    // Once cleanup deleted the deployment object, it is no longer listed.
    let gone = ResourceRow {
        region: "us-east-1".into(),
        kind: crate::state::ResourceKind::BlueGreen,
        name: "rf1-a".into(),
        status: crate::state::ResourceStatus::Deleted,
        detail: None,
    };
    let r = RunReport::build(&plan, &rows, &[gone], &[], "s.sqlite");
    assert!(!r.cleanup.iter().any(|l| l.kind == "blue/green deployment"));
}

#[test]
fn html_is_one_page_with_the_chart_and_no_fetches() {
    let (plan, rows) = fixture();
    let html = RunReport::build(&plan, &rows, &[], &[], "s.sqlite").html();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<svg class=\"gantt\""), "{html}");
    for (_, colour) in STEP_COLOURS.iter().filter(|(k, _)| {
        matches!(
            k,
            StepKind::Snapshot | StepKind::WaitReady | StepKind::Switchover
        )
    }) {
        assert!(html.contains(&format!("fill=\"{colour}\"")), "{colour}");
    }
    assert!(
        html.contains("url(#hatch)"),
        "the switchover interval is hatched"
    );
    assert!(html.contains("<h2>Time per step</h2>"));
    assert!(!html.contains("<script") && !html.contains("src=\"http") && !html.contains("@import"));
    let json: serde_json::Value =
        serde_json::from_str(&RunReport::build(&plan, &rows, &[], &[], "s").json()).unwrap();
    assert_eq!(
        json["databases"][0]["spans"][0]["start"],
        "1970-01-01T00:00:00Z"
    );
}
