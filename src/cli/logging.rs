//! Logs (tracing): human lines on stderr and a JSON-lines log per run beside the state file.
//!
//! - **Human lines** (`-v` info, `-vv` debug, `-q` errors only, `RUST_LOG` overrides): one line
//!   per event, `LEVEL message key=value ...`, printed *through* the live progress display
//!   when there is one (above the bars, which are redrawn after the line), else straight to
//!   stderr with a timestamp. An identical warning within [`REPEAT_WINDOW_MS`] of wall time is
//!   counted instead of printed; the count is given the next time it prints, and at exit.
//! - **Run log** (`<state file stem>.log.jsonl` beside the state file, mode 0600, appended by
//!   every command that changes something): every `rdsfleet` event at DEBUG and above, one JSON
//!   object per line with the event's fields at top level (`db`, `step`, `attempt`,
//!   `request_id`, `op`, ...) and the fields of the spans it happened in.
//! - **Timestamps** are the engine's clock ([`set_clock`]): on the simulator, simulated time,
//!   the same time the state file records; wall time (UTC) until a backend is connected.

use crate::clock::{rfc3339, wall_now, Millis, SharedClock};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Identical warnings within this much wall time of the last printed one are only counted.
pub const REPEAT_WINDOW_MS: Millis = 60_000;

static CLOCK: RwLock<Option<SharedClock>> = RwLock::new(None);
static RUN_LOG: Mutex<Option<File>> = Mutex::new(None);
static HUMAN: Mutex<Option<Human>> = Mutex::new(None);

/// Log timestamps follow this clock from now on (the engine's).
pub fn set_clock(clock: SharedClock) {
    *CLOCK.write().unwrap_or_else(|p| p.into_inner()) = Some(clock);
}

pub fn now() -> Millis {
    match &*CLOCK.read().unwrap_or_else(|p| p.into_inner()) {
        Some(c) => c.now(),
        None => wall_now(),
    }
}

/// The run log of a state file: `state/<plan-id>.sqlite` -> `state/<plan-id>.log.jsonl`.
pub fn run_log_path(state: &Path) -> PathBuf {
    state.with_extension("log.jsonl")
}

/// Append this run's JSON lines to the run log beside `state` (created 0600).
pub fn open_run_log(state: &Path) -> std::io::Result<PathBuf> {
    let path = run_log_path(state);
    let mut o = std::fs::OpenOptions::new();
    o.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        o.mode(0o600);
        let f = o.open(&path)?;
        // An older file (or a umask-widened one) is narrowed too: the log names resources.
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        *RUN_LOG.lock().unwrap_or_else(|p| p.into_inner()) = Some(f);
    }
    #[cfg(not(unix))]
    {
        *RUN_LOG.lock().unwrap_or_else(|p| p.into_inner()) = Some(o.open(&path)?);
    }
    Ok(path)
}

/// How human lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// A terminal: short local-free time, coloured level.
    Terminal,
    /// A file or a CI log: full RFC 3339 timestamp, no colour.
    Plain,
}

struct Human {
    style: Style,
    repeats: Repeats,
}

/// The repeat counter of identical warnings.
#[derive(Default)]
struct Repeats(HashMap<String, Repeat>);

struct Repeat {
    printed_at: Millis,
    suppressed: u64,
}

impl Repeats {
    /// What to print for a warning `text` seen at wall time `wall`: `None` while identical
    /// ones are held back (within [`REPEAT_WINDOW_MS`] of the last printed), else the line,
    /// with the count of those held back since.
    fn admit(&mut self, text: &str, wall: Millis) -> Option<String> {
        match self.0.get_mut(text) {
            Some(r) if wall - r.printed_at < REPEAT_WINDOW_MS => {
                r.suppressed += 1;
                None
            }
            Some(r) => {
                let n = std::mem::take(&mut r.suppressed);
                r.printed_at = wall;
                Some(if n > 0 {
                    format!("{text} (and {n} more like it before)")
                } else {
                    text.to_string()
                })
            }
            None => {
                self.0.insert(
                    text.to_string(),
                    Repeat {
                        printed_at: wall,
                        suppressed: 0,
                    },
                );
                Some(text.to_string())
            }
        }
    }
    /// The summaries of what is still held back (at exit), in text order.
    fn drain(&mut self) -> Vec<String> {
        let mut held: Vec<String> = self
            .0
            .drain()
            .filter(|(_, r)| r.suppressed > 0)
            .map(|(k, r)| format!("{k} (repeated {} more time(s))", r.suppressed))
            .collect();
        held.sort();
        held
    }
}

/// Set up tracing: the human layer with `verbose`/`quiet` (or `RUST_LOG`), and the run-log
/// layer (inactive until [`open_run_log`]).
pub fn init(verbose: u8, quiet: bool, style: Style) {
    let level = if quiet {
        "error"
    } else {
        match verbose {
            0 => "warn",
            1 => "info",
            _ => "debug",
        }
    };
    let human_filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("rdsfleet={level}")));
    *HUMAN.lock().unwrap_or_else(|p| p.into_inner()) = Some(Human {
        style,
        repeats: Repeats::default(),
    });
    let json = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(true)
        .with_target(true)
        .with_timer(EngineTime)
        .with_writer(|| RunLogWriter)
        .with_filter(EnvFilter::new("rdsfleet=debug"));
    let _ = tracing_subscriber::registry()
        .with(HumanLayer.with_filter(human_filter))
        .with(json)
        .try_init();
}

/// Print what the repeat counter held back (at exit).
pub fn flush_repeats() {
    let mut g = HUMAN.lock().unwrap_or_else(|p| p.into_inner());
    let Some(h) = g.as_mut() else { return };
    let held = h.repeats.drain();
    let style = h.style;
    drop(g);
    for line in held {
        emit(style, &line);
    }
}

/// Print one line to stderr, above the live progress bars when they are drawn.
pub fn eprint_line(line: &str) {
    super::progress::above(|| {
        let mut e = std::io::stderr().lock();
        let _ = writeln!(e, "{line}");
    });
}

fn emit(style: Style, line: &str) {
    let stamped = match style {
        Style::Plain => format!("{} {line}", rfc3339(now())),
        Style::Terminal => line.to_string(),
    };
    eprint_line(&stamped);
}

/// Formats an event as `LEVEL message key=value ...`.
#[derive(Default)]
struct Line {
    message: String,
    fields: String,
}

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else if value.contains(' ') || value.is_empty() {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            let v = format!("{value:?}");
            self.record_str(field, &v);
        }
    }
}

struct HumanLayer;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for HumanLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut line = Line::default();
        event.record(&mut line);
        let level = *event.metadata().level();
        let mut g = HUMAN.lock().unwrap_or_else(|p| p.into_inner());
        let Some(h) = g.as_mut() else { return };
        let tag = match (h.style, level) {
            (Style::Terminal, Level::ERROR) => console::style("ERROR").red().bold().to_string(),
            (Style::Terminal, Level::WARN) => console::style(" WARN").yellow().to_string(),
            (Style::Terminal, Level::INFO) => console::style(" INFO").green().to_string(),
            (Style::Terminal, _) => console::style(format!("{level:>5}")).dim().to_string(),
            (Style::Plain, _) => format!("{level:>5}"),
        };
        let text = format!("{tag} {}{}", line.message, line.fields);
        // Only warnings and errors are summarised: info/debug lines are asked for.
        let out = if level <= Level::WARN {
            h.repeats.admit(&text, wall_now())
        } else {
            Some(text)
        };
        let style = h.style;
        drop(g);
        if let Some(line) = out {
            emit(style, &line);
        }
    }
}

/// JSON timestamps on the engine clock.
struct EngineTime;

impl tracing_subscriber::fmt::time::FormatTime for EngineTime {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        w.write_str(&rfc3339(now()))
    }
}

/// Writes to the run log once one is open; discards before.
struct RunLogWriter;

impl Write for RunLogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match RUN_LOG.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            Some(f) => f.write_all(buf).map(|_| buf.len()),
            None => Ok(buf.len()),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match RUN_LOG.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_warnings_are_counted_then_summarised() {
        let mut r = Repeats::default();
        let w = "WARN describe failed region=us-east-1";
        assert_eq!(r.admit(w, 0).as_deref(), Some(w));
        assert_eq!(r.admit(w, 1_000), None);
        assert_eq!(r.admit(w, 2_000), None);
        assert_eq!(r.admit("WARN other", 2_000).as_deref(), Some("WARN other"));
        assert_eq!(
            r.admit(w, REPEAT_WINDOW_MS + 1).as_deref(),
            Some("WARN describe failed region=us-east-1 (and 2 more like it before)")
        );
        assert_eq!(r.admit(w, REPEAT_WINDOW_MS + 2), None);
        assert_eq!(
            r.drain(),
            vec!["WARN describe failed region=us-east-1 (repeated 1 more time(s))".to_string()]
        );
        assert!(r.drain().is_empty());
    }

    #[test]
    fn run_log_sits_beside_the_state_file() {
        assert_eq!(
            run_log_path(Path::new("state/rf0123456789.sqlite")),
            PathBuf::from("state/rf0123456789.log.jsonl")
        );
        assert_eq!(
            run_log_path(Path::new("state/demo/state.sqlite")),
            PathBuf::from("state/demo/state.log.jsonl")
        );
    }
}
