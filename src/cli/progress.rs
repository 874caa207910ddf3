//! Live progress of a run, on stderr only (stdout stays clean for JSON and tables).
//!
//! - **Live** (stderr is a terminal, no `--no-progress`, no `CI`): an indicatif
//!   `MultiProgress` with an overall bar (finished/total, ETA, counts by state) and one line
//!   per database in flight (`orders-db  us-east-1  provisioning green  12m  <why waiting>`),
//!   the longest-waiting first, capped to the terminal height with a `+N more` line. Log lines
//!   print above the bars through [`above`] (the logging layer uses it), so a warning never
//!   leaves a stale copy of the bars in the scrollback.
//! - **Plain** (otherwise): no bars; a timestamped line when a database changes state (and, with
//!   `-v`, when it starts a step), and the counts when they change, at most every
//!   [`PLAIN_COUNTS_EVERY_MS`] of wall time and once at the end.
//! - **Hidden** (`-q`): nothing.
//!
//! Why indicatif directly rather than `tracing-indicatif`: that crate draws one bar per tracing
//! *span*, while our lines come from the engine's progress callback (rows of the state file);
//! the part we would use, a writer that suspends the bars around each log line, is
//! [`above`] here.
//!
//! Times are the engine's clock (simulated time on the simulator), like the state file.

use crate::clock::{rfc3339, wall_now, Millis};
use crate::engine::Progress;
use crate::plan::StepKind;
use crate::store::{DbRow, DbState, WaitReason};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Mutex, RwLock};
use std::time::Duration;

/// In plain mode, the counts line is repeated at most this often (wall time).
pub const PLAIN_COUNTS_EVERY_MS: Millis = 30_000;

/// The display currently drawing bars, if any: log lines go above it.
static ACTIVE: RwLock<Option<MultiProgress>> = RwLock::new(None);

/// Run `print` with the bars cleared, then redraw them (or just run it when none are drawn).
pub fn above(print: impl FnOnce()) {
    match &*ACTIVE.read().unwrap_or_else(|p| p.into_inner()) {
        Some(mp) => mp.suspend(print),
        None => print(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Live,
    Plain,
    Hidden,
}

/// The mode for this process: `-q` hides; `--no-progress`, `CI` or a stderr that is not a
/// terminal give plain lines.
pub fn mode(no_progress: bool, quiet: bool) -> Mode {
    if quiet {
        Mode::Hidden
    } else if no_progress || std::env::var_os("CI").is_some() || !std::io::stderr().is_terminal() {
        Mode::Plain
    } else {
        Mode::Live
    }
}

/// What a step is doing, for people.
pub fn step_phrase(kind: StepKind) -> &'static str {
    match kind {
        StepKind::Precheck => "prechecks",
        StepKind::Snapshot => "pre-upgrade snapshot",
        StepKind::ParameterGroup => "parameter group",
        StepKind::CreateBlueGreen => "creating blue/green",
        StepKind::WaitReady => "provisioning green",
        StepKind::Switchover => "switching over",
        StepKind::Verify => "verifying",
    }
}

/// `45s`, `12m`, `3h05m`, `2d04h`.
pub fn short_duration(ms: Millis) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86_399 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// Since when a database has been at its current step (engine clock), if it started it.
pub fn in_step_since(d: &DbRow) -> Option<Millis> {
    d.current_step().and_then(|s| s.started_at)
}

/// What a database in flight is doing: its step phrase, or the gate it waits at.
pub fn doing(d: &DbRow) -> String {
    match (&d.wait, d.current_step()) {
        (Some(WaitReason::Approval), _) => "awaiting approval".into(),
        (Some(WaitReason::ReadinessGuard { .. }), _) => "readiness guard".into(),
        (Some(WaitReason::Window { .. }), _) => "switchover window".into(),
        (Some(WaitReason::Queued { .. }), _) => "queued".into(),
        (Some(WaitReason::WithSource { .. }), _) => "with its source".into(),
        (_, Some(s)) if s.started_at.is_none() => format!("next: {}", step_phrase(s.kind)),
        (_, Some(s)) => step_phrase(s.kind).into(),
        (_, None) => d.state.as_str().into(),
    }
}

/// The counts line: `running 12 · pending 30 · done 20 · failed 1`.
pub fn counts_line(counts: &std::collections::BTreeMap<DbState, usize>) -> String {
    counts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(s, n)| format!("{s} {n}"))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// Finished for this run: terminal, or held at the approval gate.
fn finished(counts: &std::collections::BTreeMap<DbState, usize>) -> u64 {
    counts
        .iter()
        .filter(|(s, _)| s.is_terminal() || **s == DbState::AwaitingApproval)
        .map(|(_, n)| *n as u64)
        .sum()
}

/// The lines for databases in flight, longest in its step first, at most `cap` of them plus
/// a `+N more` line; each cut to `width` columns.
pub fn active_lines(p: &Progress, cap: usize, width: usize) -> Vec<String> {
    let mut active: Vec<&DbRow> = p
        .databases
        .iter()
        .filter(|d| d.state == DbState::Running)
        .collect();
    active.sort_by_key(|d| (in_step_since(d).unwrap_or(p.now), d.identifier.clone()));
    let name_w = active
        .iter()
        .map(|d| d.identifier.len())
        .max()
        .unwrap_or(0)
        .min(40);
    let shown = if active.len() > cap {
        cap.saturating_sub(1)
    } else {
        active.len()
    };
    let doing_w = active[..shown]
        .iter()
        .map(|d| doing(d).len())
        .max()
        .unwrap_or(0);
    let mut out: Vec<String> = active[..shown]
        .iter()
        .map(|d| {
            let t = in_step_since(d)
                .map(|s| short_duration(p.now - s))
                .unwrap_or_else(|| "-".into());
            let why = d.wait.as_ref().map(|w| w.describe()).unwrap_or_default();
            let line = format!(
                "  {:<name_w$}  {:<9}  {:<doing_w$} {:>6}  {}",
                d.identifier,
                d.region,
                doing(d),
                t,
                why
            );
            console::truncate_str(line.trim_end(), width, "…").into_owned()
        })
        .collect();
    if shown < active.len() {
        out.push(format!("  +{} more in flight", active.len() - shown));
    }
    out
}

/// The live or plain progress of one run.
pub struct Display {
    mode: Mode,
    verbose: bool,
    inner: Mutex<Inner>,
}

struct Inner {
    mp: Option<MultiProgress>,
    overall: Option<ProgressBar>,
    lines: Vec<ProgressBar>,
    /// Plain mode: what each database was at, and when the counts were last printed.
    seen: HashMap<i64, (DbState, Option<StepKind>)>,
    counts_printed: Option<(Millis, String)>,
}

impl Display {
    pub fn new(mode: Mode, total: usize, verbose: bool) -> Display {
        let (mp, overall) = if mode == Mode::Live {
            let mp = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(8));
            let bar = mp.add(ProgressBar::new(total as u64));
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {elapsed_precise} [{bar:30}] {pos}/{len} finished, ETA {eta}  {wide_msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(250));
            *ACTIVE.write().unwrap_or_else(|p| p.into_inner()) = Some(mp.clone());
            (Some(mp), Some(bar))
        } else {
            (None, None)
        };
        Display {
            mode,
            verbose,
            inner: Mutex::new(Inner {
                mp,
                overall,
                lines: Vec::new(),
                seen: HashMap::new(),
                counts_printed: None,
            }),
        }
    }

    /// Show the state after a tick.
    pub fn update(&self, p: &Progress) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match self.mode {
            Mode::Live => g.live(p),
            Mode::Plain => {
                for line in g.plain(p, self.verbose, wall_now()) {
                    super::logging::eprint_line(&line);
                }
            }
            Mode::Hidden => {}
        }
    }

    /// Clear the bars (live) or print the last counts (plain).
    pub fn finish(&self, last: Option<&Progress>) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        *ACTIVE.write().unwrap_or_else(|p| p.into_inner()) = None;
        if let Some(mp) = g.mp.take() {
            for l in g.lines.drain(..) {
                l.finish_and_clear();
                mp.remove(&l);
            }
            if let Some(b) = g.overall.take() {
                b.finish_and_clear();
            }
            let _ = mp.clear();
        }
        if let (Mode::Plain, Some(p)) = (self.mode, last) {
            let line = counts_line(&p.counts);
            if g.counts_printed.as_ref().map(|(_, l)| l) != Some(&line) {
                super::logging::eprint_line(&format!("{} {line}", rfc3339(p.now)));
            }
        }
    }
}

impl Inner {
    fn live(&mut self, p: &Progress) {
        let (Some(mp), Some(overall)) = (self.mp.clone(), self.overall.clone()) else {
            return;
        };
        overall.set_length(p.total as u64);
        overall.set_position(finished(&p.counts));
        // Engine time first (simulated time on the simulator): the end of the line may be cut.
        overall.set_message(format!(
            "{}  {}",
            rfc3339(p.now).get(..16).unwrap_or(""),
            counts_line(&p.counts)
        ));
        let (rows, cols) = console::Term::stderr().size();
        // The overall bar, the `+N more` line and one spare row for the cursor.
        let cap = (rows as usize).saturating_sub(3).max(1);
        let lines = active_lines(p, cap, cols as usize);
        while self.lines.len() > lines.len() {
            if let Some(l) = self.lines.pop() {
                l.finish_and_clear();
                mp.remove(&l);
            }
        }
        while self.lines.len() < lines.len() {
            let l = mp.add(ProgressBar::new(1));
            l.set_style(
                ProgressStyle::with_template("{msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            self.lines.push(l);
        }
        for (bar, text) in self.lines.iter().zip(lines) {
            bar.set_message(text);
        }
    }

    /// The plain lines for this tick: state changes (and step starts when verbose), then the
    /// counts when they changed and were not printed for a while.
    fn plain(&mut self, p: &Progress, verbose: bool, wall: Millis) -> Vec<String> {
        let ts = rfc3339(p.now);
        let mut out = Vec::new();
        for d in &p.databases {
            let step = d.current_step().map(|s| s.kind);
            let now = (d.state, step);
            let before = self.seen.insert(d.id, now);
            let Some((was, was_step)) = before else {
                continue;
            };
            if was != d.state {
                let why = d
                    .error
                    .clone()
                    .or_else(|| d.wait.as_ref().map(|w| w.describe()))
                    .or_else(|| d.note.clone())
                    .map(|w| format!(": {w}"))
                    .unwrap_or_default();
                out.push(format!(
                    "{ts} {} ({}) {was} -> {}{why}",
                    d.identifier, d.region, d.state
                ));
            } else if verbose && was_step != step && d.state == DbState::Running {
                if let Some(k) = step {
                    out.push(format!(
                        "{ts} {} ({}) {}",
                        d.identifier,
                        d.region,
                        step_phrase(k)
                    ));
                }
            }
        }
        let line = counts_line(&p.counts);
        let due = match &self.counts_printed {
            None => true,
            Some((at, last)) => *last != line && wall - at >= PLAIN_COUNTS_EVERY_MS,
        };
        if due {
            out.push(format!(
                "{ts} {}/{} finished: {line}",
                finished(&p.counts),
                p.total
            ));
            self.counts_printed = Some((wall, line));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{StepRow, StepStatus};
    use std::collections::BTreeMap;

    fn row(id: i64, name: &str, state: DbState, step: StepKind, started: Millis) -> DbRow {
        DbRow {
            id,
            region: "us-east-1".into(),
            identifier: name.into(),
            state,
            step: None,
            approved: false,
            error: None,
            wait: None,
            note: None,
            updated_at: 0,
            steps: vec![StepRow {
                seq: 0,
                kind: step,
                status: StepStatus::Waiting,
                attempt: 1,
                remote_id: None,
                last_error: None,
                not_before: 0,
                started_at: Some(started),
                finished_at: None,
            }],
        }
    }

    fn progress(dbs: Vec<DbRow>, now: Millis) -> Progress {
        let mut counts = BTreeMap::new();
        for d in &dbs {
            *counts.entry(d.state).or_default() += 1;
        }
        Progress {
            counts,
            total: dbs.len(),
            now,
            databases: dbs,
        }
    }

    #[test]
    fn active_lines_show_step_and_time_longest_first_and_cap_with_more() {
        let mut a = row(0, "orders-db", DbState::Running, StepKind::WaitReady, 0);
        a.wait = Some(WaitReason::Aws {
            what: "blue/green rf1-orders-db".into(),
            status: "PROVISIONING".into(),
        });
        let b = row(
            1,
            "billing-db",
            DbState::Running,
            StepKind::Snapshot,
            600_000,
        );
        let c = row(2, "users-db", DbState::Running, StepKind::Precheck, 700_000);
        let done = row(3, "done-db", DbState::Done, StepKind::Verify, 0);
        let p = progress(vec![b, a, c, done], 720_000);
        let lines = active_lines(&p, 10, 200);
        assert_eq!(lines.len(), 3, "{lines:#?}");
        assert!(lines[0].contains("orders-db") && lines[0].contains("provisioning green"));
        assert!(
            lines[0].contains("12m") && lines[0].contains("PROVISIONING"),
            "{}",
            lines[0]
        );
        assert!(lines[1].contains("billing-db") && lines[1].contains("2m"));
        let capped = active_lines(&p, 2, 200);
        assert_eq!(capped.len(), 2);
        assert_eq!(capped[1], "  +2 more in flight");
        let narrow = active_lines(&p, 10, 30);
        assert!(
            narrow.iter().all(|l| console::measure_text_width(l) <= 30),
            "{narrow:#?}"
        );
    }

    #[test]
    fn plain_lines_report_state_changes_and_throttled_counts() {
        let mut inner = Inner {
            mp: None,
            overall: None,
            lines: vec![],
            seen: HashMap::new(),
            counts_printed: None,
        };
        let p1 = progress(
            vec![row(0, "a", DbState::Running, StepKind::Snapshot, 0)],
            0,
        );
        let first = inner.plain(&p1, false, 0);
        assert_eq!(first.len(), 1, "counts once at start: {first:?}");
        let mut failed = row(0, "a", DbState::Failed, StepKind::Switchover, 0);
        failed.error = Some("switchover failed".into());
        let p2 = progress(vec![failed], 60_000);
        let second = inner.plain(&p2, false, 1_000);
        assert_eq!(
            second,
            vec!["1970-01-01T00:01:00Z a (us-east-1) running -> failed: switchover failed"],
            "counts changed but were printed 1 s ago"
        );
        let third = inner.plain(&p2, false, 1_000 + PLAIN_COUNTS_EVERY_MS);
        assert_eq!(third, vec!["1970-01-01T00:01:00Z 1/1 finished: failed 1"]);
    }

    #[test]
    fn durations_are_short() {
        assert_eq!(short_duration(45_000), "45s");
        assert_eq!(short_duration(12 * 60_000), "12m");
        assert_eq!(short_duration(3 * 3_600_000 + 5 * 60_000), "3h05m");
        assert_eq!(short_duration(50 * 3_600_000), "2d02h");
    }
}
