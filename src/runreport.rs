//! The run report (`rdsfleet report --state S`): what a rollout did, as Markdown for the change
//! ticket's closing note. Pure rendering of what the state file recorded: the plan, the
//! database and step rows, and the resources kept or deleted. No IO, no clock.

use crate::clock::{rfc3339, Millis};
use crate::plan::{Plan, StepKind};
use crate::store::{DbRow, DbState, ResourceRow};
use std::collections::BTreeMap;
use std::fmt::Write;

fn dur(ms: Millis) -> String {
    let m = ms / 60_000;
    if m >= 60 {
        format!("{}h{:02}", m / 60, m % 60)
    } else {
        format!("{m} min")
    }
}

fn step_time(row: &DbRow, kind: StepKind, finished: bool) -> Option<Millis> {
    let s = row.steps.iter().find(|s| s.kind == kind)?;
    if finished {
        s.finished_at
    } else {
        s.started_at
    }
}

/// Render the run report.
pub fn render(plan: &Plan, rows: &[DbRow], resources: &[ResourceRow]) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# rdsfleet run report: plan `{}`\n", plan.plan_id);
    let mut counts: BTreeMap<DbState, usize> = BTreeMap::new();
    for r in rows {
        *counts.entry(r.state).or_default() += 1;
    }
    let starts: Vec<Millis> = rows
        .iter()
        .filter_map(|r| r.steps.iter().filter_map(|s| s.started_at).min())
        .collect();
    let ends: Vec<Millis> = rows
        .iter()
        .filter_map(|r| r.steps.iter().filter_map(|s| s.finished_at).max())
        .collect();
    let _ = writeln!(o, "## Summary\n\n| | |\n|---|---:|");
    for (s, n) in &counts {
        let _ = writeln!(o, "| {s} | {n} |");
    }
    if let (Some(a), Some(b)) = (starts.iter().min(), ends.iter().max()) {
        let _ = writeln!(o, "| first step started | {} |", rfc3339(*a));
        let _ = writeln!(o, "| last step finished | {} |", rfc3339(*b));
        let _ = writeln!(o, "| makespan | {} |", dur(b - a));
    }
    let _ = writeln!(
        o,
        "\n## Databases\n\n| database | region | wave | state | started | switched over | total | detail |\n|---|---|---:|---|---|---|---:|---|"
    );
    for r in rows {
        let p = &plan.databases[r.id as usize];
        let start = r.steps.iter().filter_map(|s| s.started_at).min();
        let end = r.steps.iter().filter_map(|s| s.finished_at).max();
        let sw = step_time(r, StepKind::Switchover, true);
        let total = match (start, end) {
            (Some(a), Some(b)) if r.state == DbState::Done => dur(b - a),
            _ => "-".into(),
        };
        let detail = r
            .error
            .clone()
            .unwrap_or_default()
            .replace('|', "/")
            .chars()
            .take(140)
            .collect::<String>();
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.identifier,
            r.region,
            p.wave,
            r.state,
            start.map(rfc3339).unwrap_or_else(|| "-".into()),
            sw.map(rfc3339).unwrap_or_else(|| "-".into()),
            total,
            detail
        );
    }
    let kept: Vec<&ResourceRow> = resources
        .iter()
        .filter(|r| r.kind == crate::state::ResourceKind::OldInstance)
        .collect();
    if !kept.is_empty() {
        let _ = writeln!(
            o,
            "\n## Rollback copies\n\nOld instances (read-only) and their status; `cleanup` deletes them after {} h, with a final snapshot. Pre-upgrade snapshots are never deleted.\n\n| old instance | region | status |\n|---|---|---|",
            plan.settings.retention_hours
        );
        for r in kept {
            let _ = writeln!(o, "| {} | {} | {} |", r.name, r.region, r.status);
        }
    }
    let failed: Vec<&DbRow> = rows
        .iter()
        .filter(|r| matches!(r.state, DbState::Failed | DbState::Blocked))
        .collect();
    if !failed.is_empty() {
        let _ = writeln!(o, "\n## Needs attention\n");
        for r in failed {
            let _ = writeln!(
                o,
                "- **{}** ({}, {}): {}",
                r.identifier,
                r.region,
                r.state,
                r.error.clone().unwrap_or_default()
            );
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{StepRow, StepStatus};

    #[test]
    fn report_shows_counts_makespan_and_failures() {
        let plan = crate::store::test_plan();
        let step = |kind, a, b| StepRow {
            seq: 0,
            kind,
            status: StepStatus::Done,
            attempt: 1,
            remote_id: None,
            last_error: None,
            not_before: 0,
            started_at: Some(a),
            finished_at: Some(b),
        };
        let rows = vec![
            DbRow {
                id: 0,
                region: "us-east-1".into(),
                identifier: "a".into(),
                state: DbState::Done,
                step: Some("verify".into()),
                approved: true,
                error: None,
                wait: None,
                note: None,
                updated_at: 0,
                steps: vec![
                    step(StepKind::Precheck, 0, 60_000),
                    step(StepKind::Switchover, 3_000_000, 3_600_000),
                ],
            },
            DbRow {
                id: 1,
                region: "us-east-1".into(),
                identifier: "b".into(),
                state: DbState::Blocked,
                step: None,
                approved: false,
                error: Some("backups-disabled: turn on backups".into()),
                wait: None,
                note: None,
                updated_at: 0,
                steps: vec![],
            },
        ];
        let md = render(&plan, &rows, &[]);
        assert!(md.contains("| makespan | 1h00 |"), "{md}");
        assert!(
            md.contains("| done | 1 |") && md.contains("| blocked | 1 |"),
            "{md}"
        );
        assert!(
            md.contains("- **b** (us-east-1, blocked): backups-disabled"),
            "{md}"
        );
    }
}
