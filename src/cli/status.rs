//! `status` and the hints printed after a run: how a state file is shown to an operator.

use crate::engine::RunSummary;
use crate::plan::Plan;
use crate::store::{DbRow, DbState, Store};
use anyhow::Result;
use std::collections::BTreeMap;
use std::path::Path;

pub(super) fn next_hint(summary: &RunSummary, state: &Path) -> String {
    let s = state.display();
    if let Some(reason) = &summary.halted {
        return format!("halted: {reason}\ncontinue with: rdsfleet resume --state {s}");
    }
    if summary.interrupted {
        return format!("stopped before the end; continue with: rdsfleet resume --state {s}");
    }
    let waiting = summary.count(DbState::AwaitingApproval);
    let mut lines = Vec::new();
    if waiting > 0 {
        lines.push(format!(
            "{waiting} database(s) are ready and awaiting switchover approval. Review, then: rdsfleet resume --state {s} --approve-switchover (or rdsfleet approve --state {s} --db ID)"
        ));
    }
    let bad = summary.count(DbState::Failed) + summary.count(DbState::Blocked);
    if bad > 0 {
        lines.push(format!(
            "{bad} database(s) failed or are blocked; see `rdsfleet status --state {s}` for the reasons"
        ));
    }
    if lines.is_empty() {
        lines.push("all databases reached the requested point".to_string());
    }
    lines.join("\n")
}

pub(super) fn summary_code(dbs: &[DbRow]) -> i32 {
    if dbs
        .iter()
        .any(|d| matches!(d.state, DbState::Failed | DbState::Blocked))
    {
        1
    } else {
        0
    }
}

/// The step a database is at: the first not done while in flight, else the last it reached.
fn shown_step(d: &DbRow) -> Option<String> {
    if matches!(d.state, DbState::Running | DbState::AwaitingApproval) {
        if let Some(s) = d.current_step() {
            return Some(s.kind.as_str().to_string());
        }
    }
    d.step.clone()
}

/// `status --json`: `{plan_id, counts, databases: [{identifier, region, state, step, error}]}`.
pub fn status_json(plan: &Plan, dbs: &[DbRow]) -> String {
    let mut counts = serde_json::Map::new();
    for s in DbState::ALL {
        let n = dbs.iter().filter(|d| d.state == s).count();
        counts.insert(s.as_str().to_string(), n.into());
    }
    let databases: Vec<serde_json::Value> = dbs
        .iter()
        .map(|d| {
            serde_json::json!({
                "identifier": d.identifier,
                "region": d.region,
                "state": d.state.as_str(),
                "step": shown_step(d),
                "error": d.error,
                "wait": d.wait,
                "waiting": d.wait.as_ref().map(|w| w.describe()),
                "note": d.note,
                "wave": plan.databases.get(d.id as usize).map(|p| p.wave),
                "approved": d.approved,
            })
        })
        .collect();
    let v = serde_json::json!({
        "plan_id": plan.plan_id,
        "counts": counts,
        "databases": databases,
    });
    serde_json::to_string_pretty(&v).unwrap_or_default()
}

pub(super) fn status_table(plan: &Plan, store: &Store) -> Result<String> {
    let dbs = store.databases()?;
    let mut s = format!("plan {}  ({} databases)\n", plan.plan_id, dbs.len());
    s.push_str(&format!(
        "{:<34} {:<10} {:<18} {:<18} {}\n",
        "DATABASE", "REGION", "STATE", "STEP", "DETAIL"
    ));
    for d in &dbs {
        let detail = d
            .error
            .clone()
            .or_else(|| d.wait.as_ref().map(|w| w.describe()))
            .or_else(|| d.note.clone())
            .unwrap_or_default();
        let detail: String = detail.chars().take(110).collect();
        s.push_str(&format!(
            "{:<34} {:<10} {:<18} {:<18} {}\n",
            d.identifier,
            d.region,
            d.state.as_str(),
            shown_step(d).unwrap_or_else(|| "-".into()),
            detail
        ));
    }
    let mut counts: BTreeMap<DbState, usize> = BTreeMap::new();
    for d in &dbs {
        *counts.entry(d.state).or_default() += 1;
    }
    s.push_str(
        &counts
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join("  "),
    );
    if let Some(h) = store.lock_holder()? {
        s.push_str(&format!("\n(being applied by {h})"));
    }
    Ok(s)
}
