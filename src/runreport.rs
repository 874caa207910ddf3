//! The run report (`rdsfleet report --state S`): what a rollout did, for the change ticket's
//! closing note and for the people it is explained to afterwards.
//!
//! [`RunReport::build`] turns what the state file recorded (the plan, the database and step
//! rows, the resources kept or deleted) plus the measured write downtime of each switchover
//! when there is one (the simulator records it; AWS does not report it, so the switchover's
//! interval is marked instead, an upper bound) into one model, rendered as Markdown
//! ([`RunReport::markdown`]), JSON (the model itself) or one self-contained HTML page with an
//! SVG Gantt chart ([`RunReport::html`]). Sections:
//!
//! - summary: counts by state, first start, last finish, makespan;
//! - timeline per database: each step's start and duration, the approval wait, the downtime;
//! - time per step: how many, the median and the slowest (which database);
//! - failures grouped by cause, each with the exact command to run next;
//! - what is left to clean up, since when, and from when `cleanup` may delete it.
//!
//! Pure: no IO, no clock.

use crate::clock::{rfc3339, Millis};
use crate::plan::{Plan, StepKind};
use crate::state::{ResourceKind, ResourceStatus};
use crate::store::{DbRow, DbState, ResourceRow, StepStatus};
use serde::{Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Write downtime of one switchover, as measured by whoever could (the simulator).
#[derive(Debug, Clone, PartialEq)]
pub struct Downtime {
    pub region: String,
    pub identifier: String,
    pub start: Millis,
    pub seconds: f64,
}

fn time<S: Serializer>(t: &Millis, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*t))
}

fn opt_time<S: Serializer>(t: &Option<Millis>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&rfc3339(*t)),
        None => s.serialize_none(),
    }
}

/// The whole report, as rendered and as `--format json`.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub plan_id: String,
    pub state_file: String,
    pub counts: BTreeMap<String, usize>,
    #[serde(serialize_with = "opt_time")]
    pub first_started: Option<Millis>,
    #[serde(serialize_with = "opt_time")]
    pub last_finished: Option<Millis>,
    pub makespan_secs: Option<i64>,
    /// `measured` (per-switchover write downtime) or `switchover-interval` (upper bound).
    pub downtime_source: String,
    pub databases: Vec<Timeline>,
    pub steps: Vec<StepStats>,
    pub failures: Vec<FailureGroup>,
    pub cleanup: Vec<Leftover>,
}

/// One database's rollout.
#[derive(Debug, Clone, Serialize)]
pub struct Timeline {
    pub identifier: String,
    pub region: String,
    pub wave: u32,
    pub state: DbState,
    pub spans: Vec<Span>,
    /// Green ready until the switchover started: approval, readiness guard, window.
    pub approval_wait_secs: Option<i64>,
    pub downtime: Option<DowntimeMark>,
    pub total_secs: Option<i64>,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Span {
    pub step: StepKind,
    pub status: StepStatus,
    #[serde(serialize_with = "time")]
    pub start: Millis,
    #[serde(serialize_with = "opt_time")]
    pub end: Option<Millis>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DowntimeMark {
    #[serde(serialize_with = "time")]
    pub start: Millis,
    pub seconds: f64,
    /// False: the switchover's interval, an upper bound of the write downtime.
    pub measured: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepStats {
    pub step: StepKind,
    pub count: usize,
    pub median_secs: i64,
    pub slowest_secs: i64,
    pub slowest: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct FailureGroup {
    pub cause: String,
    pub state: DbState,
    pub databases: Vec<String>,
    /// What the first of them recorded (the planner's fix for a blocker).
    pub detail: String,
    pub next: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Leftover {
    pub kind: String,
    pub name: String,
    pub region: String,
    pub database: String,
    pub status: String,
    #[serde(serialize_with = "opt_time")]
    pub since: Option<Millis>,
    /// When `cleanup` may delete it (old instances: after the retention).
    #[serde(serialize_with = "opt_time")]
    pub deletable_from: Option<Millis>,
    pub next: String,
}

/// `12 s`, `14 min`, `3h05`.
pub fn dur(ms: Millis) -> String {
    let s = ms.max(0) / 1000;
    if s < 60 {
        format!("{s} s")
    } else if s < 3600 {
        format!("{} min", s / 60)
    } else {
        format!("{}h{:02}", s / 3600, (s % 3600) / 60)
    }
}

fn median(sorted: &[i64]) -> i64 {
    match sorted.len() {
        0 => 0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2,
    }
}

impl RunReport {
    /// Build the report from the state file's rows. `downtime` is what was measured (may be
    /// empty); `state_file` is named in the next commands.
    pub fn build(
        plan: &Plan,
        rows: &[DbRow],
        resources: &[ResourceRow],
        downtime: &[Downtime],
        state_file: &str,
    ) -> RunReport {
        let mut counts = BTreeMap::new();
        for r in rows {
            *counts.entry(r.state.to_string()).or_default() += 1;
        }
        let databases: Vec<Timeline> = rows.iter().map(|r| timeline(plan, r, downtime)).collect();
        let first_started = databases
            .iter()
            .filter_map(|t| t.spans.first().map(|s| s.start))
            .min();
        let last_finished = rows
            .iter()
            .flat_map(|r| r.steps.iter().filter_map(|s| s.finished_at))
            .max();
        RunReport {
            plan_id: plan.plan_id.clone(),
            state_file: state_file.to_string(),
            counts,
            first_started,
            last_finished,
            makespan_secs: first_started
                .zip(last_finished)
                .map(|(a, b)| (b - a) / 1000),
            downtime_source: if downtime.is_empty() {
                "switchover-interval".into()
            } else {
                "measured".into()
            },
            steps: step_stats(rows),
            failures: failures(plan, rows, state_file),
            cleanup: leftovers(plan, rows, resources, state_file),
            databases,
        }
    }

    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The Markdown report. `chart`, when given, is put under a timeline heading after the
    /// summary, as is (the HTML page passes its SVG placeholder; Markdown has no chart).
    pub fn markdown(&self, chart: Option<&str>) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "# rdsfleet run report: plan `{}`\n", self.plan_id);
        self.summary_md(&mut o);
        if let Some(c) = chart {
            let _ = writeln!(o, "\n## Timeline\n\n{c}\n");
        }
        self.failures_md(&mut o);
        self.steps_md(&mut o);
        self.cleanup_md(&mut o);
        self.timeline_md(&mut o);
        o
    }

    /// One self-contained HTML page (inline CSS and SVG, no scripts, no fetches).
    pub fn html(&self) -> String {
        const MARK: &str = "<!--rdsfleet-gantt-->";
        let body = crate::htmlpage::md_to_html(&self.markdown(Some(MARK)), &[MARK]);
        let body = body.replace(MARK, &self.gantt_svg());
        crate::htmlpage::page(&format!("rdsfleet run report: {}", self.plan_id), &body)
    }

    fn summary_md(&self, o: &mut String) {
        let _ = writeln!(o, "## Summary\n\n| | count, time |\n|---|---:|");
        for (s, n) in &self.counts {
            let _ = writeln!(o, "| {s} | {n} |");
        }
        if let (Some(a), Some(b)) = (self.first_started, self.last_finished) {
            let _ = writeln!(o, "| first step started | {} |", rfc3339(a));
            let _ = writeln!(o, "| last step finished | {} |", rfc3339(b));
            let _ = writeln!(o, "| makespan | {} |", dur(b - a));
        }
        let downtimes: Vec<f64> = self
            .databases
            .iter()
            .filter_map(|t| t.downtime.as_ref().filter(|d| d.measured))
            .map(|d| d.seconds)
            .collect();
        if !downtimes.is_empty() {
            let max = downtimes.iter().cloned().fold(0.0, f64::max);
            let _ = writeln!(
                o,
                "| write downtime per switchover (measured) | {:.0} s average, {:.0} s longest |",
                downtimes.iter().sum::<f64>() / downtimes.len() as f64,
                max
            );
        }
    }

    fn failures_md(&self, o: &mut String) {
        let _ = writeln!(o, "\n## Failures and blocked databases\n");
        if self.failures.is_empty() {
            let _ = writeln!(o, "None.");
            return;
        }
        for g in &self.failures {
            let _ = writeln!(
                o,
                "### {} ({} {}: {})\n\n{}\n\nNext: `{}`\n",
                g.cause,
                g.databases.len(),
                g.state,
                g.databases.join(", "),
                md_cell(&g.detail),
                g.next
            );
        }
    }

    fn timeline_md(&self, o: &mut String) {
        let _ = writeln!(o, "\n## Timeline per database\n");
        let dt = if self.downtime_source == "measured" {
            "write downtime"
        } else {
            "switchover (upper bound of write downtime)"
        };
        let _ = writeln!(
            o,
            "| database | region | wave | state | started | snapshot | green ready | approval wait | {dt} | verify | total |\n|---|---|---:|---|---|---:|---:|---:|---:|---:|---:|"
        );
        for t in self.databases.iter().filter(|t| !t.spans.is_empty()) {
            let took = |kinds: &[StepKind]| -> String {
                let ms: Millis = t
                    .spans
                    .iter()
                    .filter(|s| kinds.contains(&s.step))
                    .filter_map(|s| s.end.map(|e| e - s.start))
                    .sum();
                if t.spans.iter().any(|s| kinds.contains(&s.step)) {
                    dur(ms)
                } else {
                    "-".into()
                }
            };
            let down = t
                .downtime
                .as_ref()
                .map(|d| format!("{:.0} s", d.seconds))
                .unwrap_or_else(|| "-".into());
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                t.identifier,
                t.region,
                t.wave,
                t.state,
                t.spans
                    .first()
                    .map(|s| rfc3339(s.start))
                    .unwrap_or_default(),
                took(&[StepKind::Snapshot]),
                took(&[StepKind::CreateBlueGreen, StepKind::WaitReady]),
                t.approval_wait_secs
                    .map(|s| dur(s * 1000))
                    .unwrap_or_else(|| "-".into()),
                down,
                took(&[StepKind::Verify]),
                t.total_secs
                    .map(|s| dur(s * 1000))
                    .unwrap_or_else(|| "-".into()),
            );
        }
    }

    fn steps_md(&self, o: &mut String) {
        let _ = writeln!(
            o,
            "\n## Time per step\n\nFinished steps only; the approval wait is not part of any step.\n\n| step | count | median | slowest | slowest database |\n|---|---:|---:|---:|---|"
        );
        for s in &self.steps {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} |",
                s.step.as_str(),
                s.count,
                dur(s.median_secs * 1000),
                dur(s.slowest_secs * 1000),
                s.slowest
            );
        }
    }

    fn cleanup_md(&self, o: &mut String) {
        let _ = writeln!(o, "\n## Left to clean up\n");
        if self.cleanup.is_empty() {
            let _ = writeln!(o, "Nothing.");
            return;
        }
        let _ = writeln!(
            o,
            "Pre-upgrade snapshots are never deleted. Old instances stay (read-only, billed) as the rollback path until their retention has passed; `cleanup` deletes them with a final snapshot.\n\n| what | name | region | database | status | since | deletable from | next |\n|---|---|---|---|---|---|---|---|"
        );
        for l in &self.cleanup {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | `{}` |",
                l.kind,
                l.name,
                l.region,
                l.database,
                l.status,
                l.since.map(rfc3339).unwrap_or_else(|| "-".into()),
                l.deletable_from
                    .map(rfc3339)
                    .unwrap_or_else(|| "now".into()),
                l.next
            );
        }
    }
}

/// A Markdown table cell or paragraph: no pipes, no line breaks.
fn md_cell(s: &str) -> String {
    s.replace('|', "/").replace('\n', " ")
}

fn timeline(plan: &Plan, r: &DbRow, downtime: &[Downtime]) -> Timeline {
    let p = &plan.databases[r.id as usize];
    let spans: Vec<Span> = r
        .steps
        .iter()
        .filter_map(|s| {
            Some(Span {
                step: s.kind,
                status: s.status,
                start: s.started_at?,
                end: s.finished_at,
            })
        })
        .collect();
    let sw = spans.iter().find(|s| s.step == StepKind::Switchover);
    let ready = spans
        .iter()
        .find(|s| s.step == StepKind::WaitReady)
        .and_then(|s| s.end);
    let approval_wait_secs = sw.zip(ready).map(|(s, r)| (s.start - r).max(0) / 1000);
    let downtime = sw.and_then(|s| downtime_mark(r, s, downtime));
    let total_secs = match (
        spans.first(),
        r.steps.iter().filter_map(|s| s.finished_at).max(),
    ) {
        (Some(a), Some(b)) if r.state == DbState::Done => Some((b - a.start) / 1000),
        _ => None,
    };
    Timeline {
        identifier: r.identifier.clone(),
        region: r.region.clone(),
        wave: p.wave,
        state: r.state,
        spans,
        approval_wait_secs,
        downtime,
        total_secs,
        detail: r
            .error
            .clone()
            .or_else(|| r.note.clone())
            .unwrap_or_default(),
    }
}

/// The measured downtime inside this switchover's interval, else the interval itself once the
/// switchover has finished.
fn downtime_mark(r: &DbRow, sw: &Span, measured: &[Downtime]) -> Option<DowntimeMark> {
    let end = sw.end;
    let m = measured.iter().rev().find(|d| {
        d.region == r.region
            && d.identifier == r.identifier
            && d.start >= sw.start
            && end.is_none_or(|e| d.start <= e)
    });
    match (m, end) {
        (Some(d), _) => Some(DowntimeMark {
            start: d.start,
            seconds: d.seconds,
            measured: true,
        }),
        (None, Some(e)) if measured.is_empty() => Some(DowntimeMark {
            start: sw.start,
            seconds: (e - sw.start) as f64 / 1000.0,
            measured: false,
        }),
        _ => None,
    }
}

/// (seconds, database) of every finished run of one step.
type Durations<'a> = (StepKind, Vec<(i64, &'a str)>);

fn step_stats(rows: &[DbRow]) -> Vec<StepStats> {
    let mut by: BTreeMap<usize, Durations> = BTreeMap::new();
    for r in rows {
        for s in &r.steps {
            if let (StepStatus::Done, Some(a), Some(b)) = (s.status, s.started_at, s.finished_at) {
                by.entry(s.kind as usize)
                    .or_insert_with(|| (s.kind, Vec::new()))
                    .1
                    .push(((b - a) / 1000, r.identifier.as_str()));
            }
        }
    }
    by.into_values()
        .map(|(kind, mut v)| {
            v.sort();
            let secs: Vec<i64> = v.iter().map(|x| x.0).collect();
            let (slowest_secs, slowest) = v.last().copied().unwrap_or((0, ""));
            StepStats {
                step: kind,
                count: v.len(),
                median_secs: median(&secs),
                slowest_secs,
                slowest: slowest.to_string(),
            }
        })
        .collect()
}

/// The cause a failure is grouped under: the planner's blocker code (a replica: its source's),
/// or the failed step plus the AWS error code when the message carries one.
fn cause(r: &DbRow) -> String {
    let mut e = r.error.clone().unwrap_or_default();
    while let Some(rest) = e.strip_prefix("travels with ") {
        e = rest.split_once(": ").map(|x| x.1).unwrap_or("").to_string();
    }
    if r.state == DbState::Blocked {
        let code = e.split([':', ',']).next().unwrap_or("").trim();
        let is_code = !code.is_empty()
            && code
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        return if is_code {
            code.to_string()
        } else {
            "blocked".into()
        };
    }
    let step = r
        .steps
        .iter()
        .find(|s| s.status == StepStatus::Failed)
        .map(|s| s.kind.as_str())
        .or(r.step.as_deref())
        .unwrap_or("rollout");
    // `BackendError`'s display: `Code (kind): message`.
    let words: Vec<&str> = e.split_whitespace().collect();
    let code = words.windows(2).find_map(|w| {
        (w[1].starts_with('(')
            && w[1].ends_with("):")
            && w[0].chars().next().is_some_and(|c| c.is_ascii_uppercase())
            && w[0].chars().all(|c| c.is_ascii_alphanumeric()))
        .then_some(w[0])
    });
    // Else an RDS status in capitals (`INVALID_CONFIGURATION`, `SWITCHOVER_FAILED`).
    let status = || {
        words
            .iter()
            .map(|w| w.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '_'))
            .find(|w| {
                w.len() > 3
                    && w.contains('_')
                    && w.chars().all(|c| c.is_ascii_uppercase() || c == '_')
            })
    };
    match code.or_else(status) {
        Some(c) => format!("{step} failed: {c}"),
        None => format!("{step} failed"),
    }
}

fn failures(plan: &Plan, rows: &[DbRow], state: &str) -> Vec<FailureGroup> {
    let mut groups: BTreeMap<(DbState, String), Vec<&DbRow>> = BTreeMap::new();
    for r in rows
        .iter()
        .filter(|r| matches!(r.state, DbState::Failed | DbState::Blocked))
    {
        groups.entry((r.state, cause(r))).or_default().push(r);
    }
    let targets: String = plan
        .targets
        .iter()
        .map(|(e, v)| format!(" --target {e}={v}"))
        .collect();
    groups
        .into_iter()
        .map(|((st, cause), dbs)| {
            let names: Vec<String> = dbs.iter().map(|r| r.identifier.clone()).collect();
            let next = if st == DbState::Blocked {
                let filter = match names.as_slice() {
                    [one] => format!(" --filter id={one}"),
                    _ => String::new(),
                };
                format!("rdsfleet plan{targets}{filter}   # after the fix above; nothing was changed on these")
            } else {
                // Replicas travel with their source: abort names the sources.
                let dbs: String = dbs
                    .iter()
                    .filter(|r| !r.error.as_deref().unwrap_or("").starts_with("travels with"))
                    .map(|r| format!(" --db {}", r.identifier))
                    .collect();
                format!("rdsfleet abort --state {state}{dbs}   # deletes any green side (the source still serves); then plan again")
            };
            FailureGroup {
                cause,
                state: st,
                detail: dbs[0].error.clone().unwrap_or_default(),
                databases: names,
                next,
            }
        })
        .collect()
}

fn leftovers(plan: &Plan, rows: &[DbRow], resources: &[ResourceRow], state: &str) -> Vec<Leftover> {
    let retention = plan.settings.retention_hours as Millis * 3_600_000;
    let res = |region: &str, kind: ResourceKind, name: &str| {
        resources
            .iter()
            .find(|x| x.region == region && x.kind == kind && x.name == name)
    };
    let mut out = Vec::new();
    for r in rows {
        let p = &plan.databases[r.id as usize];
        let Some(bg) = p.resource_name(StepKind::CreateBlueGreen) else {
            continue;
        };
        let sw = r.steps.iter().find(|s| s.kind == StepKind::Switchover);
        let switched = sw
            .filter(|s| s.status == StepStatus::Done)
            .and_then(|s| s.finished_at);
        let deleted = res(&r.region, ResourceKind::BlueGreen, bg)
            .is_some_and(|x| x.status == ResourceStatus::Deleted);
        let created = r
            .steps
            .iter()
            .find(|s| s.kind == StepKind::CreateBlueGreen)
            .and_then(|s| s.started_at);
        if r.state == DbState::Done && switched.is_some() && !deleted {
            out.push(Leftover {
                kind: "blue/green deployment".into(),
                name: bg.to_string(),
                region: r.region.clone(),
                database: r.identifier.clone(),
                status: "switched over".into(),
                since: switched,
                deletable_from: None,
                next: format!("rdsfleet cleanup --state {state}"),
            });
        } else if r.state == DbState::Failed && created.is_some() {
            out.push(Leftover {
                kind: "green side (blue/green deployment)".into(),
                name: bg.to_string(),
                region: r.region.clone(),
                database: r.identifier.clone(),
                status: "failed upgrade".into(),
                since: Some(r.updated_at),
                deletable_from: None,
                next: format!("rdsfleet abort --state {state} --db {}", r.identifier),
            });
        }
    }
    for x in resources.iter().filter(|x| {
        matches!(x.kind, ResourceKind::OldInstance | ResourceKind::OldReplica)
            && x.status != ResourceStatus::Deleted
    }) {
        let detail: serde_json::Value = x
            .detail
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok())
            .unwrap_or_default();
        let since = detail["switched_at"].as_i64();
        let kind = if x.kind == ResourceKind::OldReplica {
            "old read replica (renamed at switchover)"
        } else {
            "old instance (rollback copy)"
        };
        out.push(Leftover {
            kind: kind.into(),
            name: x.name.clone(),
            region: x.region.clone(),
            database: detail["source"].as_str().unwrap_or("").to_string(),
            status: x.status.to_string(),
            since,
            deletable_from: since.map(|s| s + retention),
            next: format!("rdsfleet cleanup --state {state}"),
        });
    }
    out
}

mod gantt;
pub use gantt::{DOWNTIME_COLOUR, STEP_COLOURS};

#[cfg(test)]
mod tests;
