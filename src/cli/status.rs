//! `status` and the hints printed after a run: how a state file is shown to an operator.
//!
//! The table has one row per database: identifier, region, wave, state, step, time in step, and
//! why it waits (its typed wait reason) or what went wrong. The last column wraps on word
//! boundaries to the terminal width (`COLUMNS`, else the terminal's; no wrapping when stdout is
//! not a terminal). `--db ID` shows one database's steps and every event recorded for it.

use super::progress::{in_step_since, short_duration};
use crate::clock::{rfc3339, Millis};
use crate::engine::RunSummary;
use crate::plan::Plan;
use crate::store::{DbRow, DbState, Event, Store};
use anyhow::{bail, Result};
use std::collections::BTreeMap;
use std::fmt::Write;
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
            "{bad} database(s) failed or are blocked; see `rdsfleet status --state {s}` for the reasons and `rdsfleet report --state {s}` for what to do"
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
pub(super) fn shown_step(d: &DbRow) -> Option<String> {
    if matches!(d.state, DbState::Running | DbState::AwaitingApproval) {
        if let Some(s) = d.current_step() {
            return Some(s.kind.as_str().to_string());
        }
    }
    d.step.clone()
}

/// Why a database is where it is: what went wrong, why it waits, or why it reached its state;
/// for a running database without a wait reason, the error its current step is retrying.
pub(super) fn why(d: &DbRow) -> String {
    d.error
        .clone()
        .or_else(|| d.wait.as_ref().map(|w| w.describe()))
        .or_else(|| {
            d.current_step()
                .filter(|_| d.state == DbState::Running)
                .and_then(|s| s.last_error.clone())
                .map(|e| format!("last error: {e}"))
        })
        .or_else(|| d.note.clone())
        .unwrap_or_default()
}

/// Time at the current step, for databases in flight.
fn time_in_step(d: &DbRow, now: Millis) -> Option<Millis> {
    if matches!(d.state, DbState::Running | DbState::AwaitingApproval) {
        in_step_since(d).map(|s| now - s)
    } else {
        None
    }
}

/// `status --json`: `{plan_id, as_of, counts, databases: [{identifier, region, wave, state,
/// step, in_step_secs, why, error, wait, waiting, note, approved}]}`.
pub fn status_json(plan: &Plan, dbs: &[DbRow], now: Millis) -> String {
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
                "in_step_secs": time_in_step(d, now).map(|ms| ms / 1000),
                "why": why(d),
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
        "as_of": rfc3339(now),
        "counts": counts,
        "databases": databases,
    });
    serde_json::to_string_pretty(&v).unwrap_or_default()
}

/// The width to wrap to: `COLUMNS`, else stdout's terminal width, else none.
pub(super) fn output_width() -> Option<usize> {
    if let Some(c) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse::<usize>().ok())
    {
        return Some(c);
    }
    let t = console::Term::stdout();
    if t.is_term() {
        t.size_checked().map(|(_, cols)| cols as usize)
    } else {
        None
    }
}

/// The narrowest the last column gets beside the others; narrower, it goes under its row.
const MIN_LAST: usize = 24;

/// Lay out rows of cells: every column but the last padded to its widest cell; the last wrapped
/// on word boundaries to what `width` leaves, continuation lines indented under it. When that
/// is under [`MIN_LAST`] columns, the last cell goes under its row instead, indented by 4.
pub(super) fn table(header: &[&str], rows: &[Vec<String>], width: Option<usize>) -> String {
    let n = header.len();
    let mut w: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(n - 1) {
            w[i] = w[i].max(console::measure_text_width(c));
        }
    }
    let beside: usize = w[..n - 1].iter().map(|x| x + 2).sum();
    let under = width.is_some_and(|t| t < beside + MIN_LAST);
    let indent = if under { 4 } else { beside };
    let last_w = width.map(|t| t.saturating_sub(indent).max(MIN_LAST));
    let mut o = String::new();
    let mut line = |cells: &[String]| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate().take(n - 1) {
            let pad = w[i].saturating_sub(console::measure_text_width(c));
            let _ = write!(s, "{c}{}  ", " ".repeat(pad));
        }
        let last = cells.get(n - 1).map(String::as_str).unwrap_or("");
        let wrapped: Vec<String> = match last_w {
            Some(lw) if !last.is_empty() => textwrap::wrap(last, lw)
                .into_iter()
                .map(|c| c.into_owned())
                .collect(),
            _ => vec![last.to_string()],
        };
        if under {
            let _ = writeln!(o, "{}", s.trim_end());
        }
        for (k, part) in wrapped.iter().enumerate() {
            if under {
                if !part.is_empty() {
                    let _ = writeln!(o, "{}{part}", " ".repeat(indent));
                }
            } else if k == 0 {
                let _ = writeln!(o, "{}", format!("{s}{part}").trim_end());
            } else {
                let _ = writeln!(o, "{}{part}", " ".repeat(indent));
            }
        }
    };
    line(&header.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    for r in rows {
        line(r);
    }
    o
}

/// The status table of a state file, as of `now` (engine clock).
/// `max_lines`: the table of databases takes at most this many lines (`status --watch` fits
/// the terminal), the databases still moving first; a last line says how many were left out.
pub(super) fn status_table(
    plan: &Plan,
    store: &Store,
    now: Millis,
    width: Option<usize>,
    max_lines: Option<usize>,
) -> Result<String> {
    let all = store.databases()?;
    let mut s = format!(
        "plan {}  ({} databases)  as of {}\n",
        plan.plan_id,
        all.len(),
        rfc3339(now)
    );
    s.push_str(&rows_table(plan, &all, now, width, max_lines));
    let mut counts: BTreeMap<DbState, usize> = BTreeMap::new();
    for d in &all {
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

/// The table of databases, in at most `max_lines` lines when given (a row's WHY may wrap
/// over several): the databases still moving first, then a line saying how many are left out.
fn rows_table(
    plan: &Plan,
    all: &[DbRow],
    now: Millis,
    width: Option<usize>,
    max_lines: Option<usize>,
) -> String {
    let mut keep = max_lines;
    loop {
        let (shown, left_out) = fit_rows(all, keep);
        let rows: Vec<Vec<String>> = shown
            .iter()
            .map(|&i| status_row(plan, &all[i], now))
            .collect();
        let mut t = table(
            &[
                "DATABASE", "REGION", "WAVE", "STATE", "STEP", "IN STEP", "WHY",
            ],
            &rows,
            width,
        );
        if left_out > 0 {
            t.push_str(&format!(
                "... and {left_out} more not shown (databases still moving come first); `status` without --watch lists them all\n"
            ));
        }
        match (keep, max_lines) {
            (Some(k), Some(max)) if t.lines().count() > max && k > 2 => keep = Some(k - 1),
            _ => return t,
        }
    }
}

/// One database's row of the status table.
fn status_row(plan: &Plan, d: &DbRow, now: Millis) -> Vec<String> {
    vec![
        d.identifier.clone(),
        d.region.clone(),
        plan.databases
            .get(d.id as usize)
            .map(|p| p.wave.to_string())
            .unwrap_or_default(),
        d.state.to_string(),
        shown_step(d).unwrap_or_else(|| "-".into()),
        time_in_step(d, now)
            .map(short_duration)
            .unwrap_or_else(|| "-".into()),
        why(d),
    ]
}

/// Which rows a table of at most `max_rows` shows (indexes, in plan order) and how many it
/// leaves out: databases still moving (running, pending, awaiting approval) before finished
/// ones, each group in plan order.
fn fit_rows(dbs: &[DbRow], max_rows: Option<usize>) -> (Vec<usize>, usize) {
    let all: Vec<usize> = (0..dbs.len()).collect();
    let Some(max) = max_rows.filter(|&m| m < dbs.len()) else {
        return (all, 0);
    };
    let keep = max.saturating_sub(1); // one line says how many are left out
    let mut order = all;
    order.sort_by_key(|&i| dbs[i].state.is_terminal());
    let mut shown: Vec<usize> = order.into_iter().take(keep).collect();
    shown.sort_unstable();
    let left_out = dbs.len() - shown.len();
    (shown, left_out)
}

/// `status --db ID`: the database's rows (every region it is in), its steps and its events.
pub(super) fn db_history(
    plan: &Plan,
    store: &Store,
    id: &str,
    now: Millis,
    width: Option<usize>,
) -> Result<String> {
    let dbs: Vec<DbRow> = store
        .databases()?
        .into_iter()
        .filter(|d| d.identifier == id)
        .collect();
    if dbs.is_empty() {
        bail!(
            "no database {id} in state file {} (`rdsfleet status --state {}` lists them)",
            store.path(),
            store.path()
        );
    }
    let mut o = String::new();
    for d in &dbs {
        let p = plan.databases.get(d.id as usize);
        let _ = writeln!(
            o,
            "{} ({}) wave {}: {}{}",
            d.identifier,
            d.region,
            p.map(|p| p.wave).unwrap_or(0),
            d.state,
            if d.approved {
                ", switchover approved"
            } else {
                ""
            }
        );
        if let Some(p) = p {
            let _ = writeln!(
                o,
                "  {} {} -> {}",
                p.engine,
                p.from_version,
                p.to_version.as_deref().unwrap_or("-")
            );
        }
        let w = why(d);
        if !w.is_empty() {
            let _ = writeln!(o, "  why: {w}");
        }
        o.push('\n');
        let steps: Vec<Vec<String>> = d
            .steps
            .iter()
            .map(|s| {
                let took = match (s.started_at, s.finished_at) {
                    (Some(a), Some(b)) => short_duration(b - a),
                    (Some(a), None) => format!("{} so far", short_duration(now - a)),
                    _ => "-".into(),
                };
                vec![
                    s.kind.as_str().to_string(),
                    s.status.to_string(),
                    s.attempt.to_string(),
                    s.started_at.map(rfc3339).unwrap_or_else(|| "-".into()),
                    took,
                    s.remote_id.clone().unwrap_or_else(|| "-".into()),
                    s.last_error.clone().unwrap_or_default(),
                ]
            })
            .collect();
        o.push_str(&table(
            &[
                "STEP",
                "STATUS",
                "ATTEMPT",
                "STARTED",
                "TOOK",
                "RESOURCE",
                "LAST ERROR",
            ],
            &steps,
            width,
        ));
        o.push('\n');
        let events = store.events(Some(d.id))?;
        o.push_str(&events_table(&events, width));
    }
    Ok(o)
}

fn events_table(events: &[Event], width: Option<usize>) -> String {
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            vec![
                rfc3339(e.at),
                e.step.clone().unwrap_or_else(|| "-".into()),
                e.kind.clone(),
                e.detail.clone(),
            ]
        })
        .collect();
    let mut o = format!("{} event(s)\n", events.len());
    o.push_str(&table(&["AT", "STEP", "EVENT", "DETAIL"], &rows, width));
    o
}

/// Is there nothing more to watch: nobody holds the state file and every database is
/// finished or held at the approval gate?
pub(super) fn run_is_over(store: &Store) -> Result<bool> {
    Ok(store.lock_holder()?.is_none()
        && store
            .databases()?
            .iter()
            .all(|d| d.state.is_terminal() || d.state == DbState::AwaitingApproval))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_column_wraps_on_word_boundaries_under_itself() {
        let rows = vec![vec![
            "orders-db".to_string(),
            "waiting for DBInstances quota headroom in us-east-1 (need 2, have 0)".to_string(),
        ]];
        let t = table(&["DATABASE", "WHY"], &rows, Some(40));
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "DATABASE   WHY");
        assert_eq!(lines[1], "orders-db  waiting for DBInstances quota");
        assert_eq!(lines[2], "           headroom in us-east-1 (need");
        assert_eq!(lines[3], "           2, have 0)");
        assert!(lines.iter().all(|l| l.len() <= 40), "{t}");
        // Too narrow for the last column beside the others: it goes under its row.
        let t = table(&["DATABASE", "WHY"], &rows, Some(32));
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "DATABASE");
        assert_eq!(lines[1], "    WHY");
        assert_eq!(lines[2], "orders-db");
        assert_eq!(lines[3], "    waiting for DBInstances");
        assert!(lines.iter().all(|l| l.len() <= 32), "{t}");
        // No width (not a terminal): one line per row, nothing cut.
        let t = table(&["DATABASE", "WHY"], &rows, None);
        assert_eq!(t.lines().count(), 2);
        assert!(t.contains("(need 2, have 0)"));
    }

    /// `status --watch` fits the terminal: databases still moving first, in plan order, and
    /// one line for the rest.
    #[test]
    fn a_watched_table_keeps_what_moves_and_counts_the_rest() {
        let db = |id: i64, state: DbState| DbRow {
            id,
            region: "us-east-1".into(),
            identifier: format!("db-{id}"),
            state,
            step: None,
            approved: false,
            error: None,
            wait: None,
            note: None,
            updated_at: 0,
            steps: vec![],
        };
        use DbState::*;
        let dbs = [
            db(0, Done),
            db(1, Running),
            db(2, Done),
            db(3, Pending),
            db(4, Failed),
            db(5, AwaitingApproval),
        ];
        let check = |max: Option<usize>, shown: &[usize], left_out: usize| {
            assert_eq!(fit_rows(&dbs, max), (shown.to_vec(), left_out), "{max:?}");
        };
        check(None, &[0, 1, 2, 3, 4, 5], 0);
        check(Some(6), &[0, 1, 2, 3, 4, 5], 0);
        check(Some(4), &[1, 3, 5], 3);
        check(Some(3), &[1, 3], 4);
        check(Some(5), &[0, 1, 3, 5], 2);
    }
}
