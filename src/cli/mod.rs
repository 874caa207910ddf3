//! Command-line interface: parses and validates arguments, builds the backend, dispatches to the
//! library, and maps outcomes to exit codes (0 all done, 1 some databases failed or are
//! blocked, or the run stopped early, 2 bad input or a fatal error). `anyhow` lives here and
//! nowhere else.
//!
//! Every error is printed as what happened (the error chain), what was and wasn't changed, and
//! the exact command to run next ([`recovery`], [`next_for`]).
//!
//! - `args`: the clap types and their examples;
//! - `validate`: offline checks of every argument, before anything runs;
//! - `commands`: one function per command; `demo`: the guided demo;
//! - `status`: how a state file is shown (`status`, the hint after a run);
//! - `progress`: live bars or plain lines during a run; `logging`: tracing, the run log.

mod args;
mod commands;
mod demo;
mod logging;
mod progress;
mod status;
mod validate;

pub use args::*;
pub use status::status_json;
pub use validate::validate;

use crate::backend::aws::{AwsBackend, AwsOptions};
use crate::backend::{BoxCall, Hook, Wrapped};
use crate::backend::{Op, RdsBackend};
use crate::clock::{SharedClock, SystemClock};
use crate::inventory;
use crate::plan::Plan;
use crate::sim::{self, SimBackend};
use crate::store::Store;
use anyhow::{bail, Result};
use clap::Parser;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Entry point used by `main`: returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp
                | clap::error::ErrorKind::DisplayVersion
                | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 0,
                _ => 2,
            };
            let _ = e.print();
            return code;
        }
    };
    let no_progress = match &cli.cmd {
        Cmd::Demo(d) => d.display.no_progress,
        Cmd::Apply { run, .. } | Cmd::Resume { run, .. } => run.display.no_progress,
        _ => false,
    };
    let style = if progress::mode(no_progress, false) == progress::Mode::Live {
        logging::Style::Terminal
    } else {
        logging::Style::Plain
    };
    logging::init(cli.verbose, cli.quiet, style);
    recovery("nothing", format!("rdsfleet {} --help", cmd_name(&cli.cmd)));
    let code = match validate(&cli) {
        Err(e) => report_error(&e),
        Ok(()) => match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
        {
            Ok(rt) => match rt.block_on(commands::run(cli)) {
                Ok(code) => code,
                Err(e) => report_error(&e),
            },
            Err(e) => {
                eprintln!("error: cannot start the async runtime: {e}\n  changed: nothing");
                2
            }
        },
    };
    logging::flush_repeats();
    code
}

/// Print an error with what was changed and what to run next; exit code 2.
fn report_error(e: &anyhow::Error) -> i32 {
    let r = RECOVERY
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
        .unwrap_or_default();
    let next = next_for(e).unwrap_or(r.next);
    logging::eprint_line(&format!(
        "error: {}\n  changed: {}\n  next: {next}",
        chain_text(e),
        r.changed
    ));
    2
}

/// The error chain as one line, `outer: inner: ...`, without repeating a cause that a link's
/// own message already quotes.
fn chain_text(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for link in e.chain() {
        let t = link.to_string();
        if !parts.last().is_some_and(|p| p.contains(&t)) {
            parts.push(t);
        }
    }
    parts.join(": ")
}

/// What an error message ends with: what was changed by the time of the error, and the command
/// to run next. Commands update it as they go.
#[derive(Debug, Clone, Default)]
struct Recovery {
    changed: String,
    next: String,
}

static RECOVERY: Mutex<Option<Recovery>> = Mutex::new(None);

/// From here on, an error says `changed` was changed and `next` is the command to run.
pub(super) fn recovery(changed: impl Into<String>, next: impl Into<String>) {
    *RECOVERY.lock().unwrap_or_else(|p| p.into_inner()) = Some(Recovery {
        changed: changed.into(),
        next: next.into(),
    });
}

/// The next command for errors that know better than the command's default: the first link
/// of the error chain (outermost first) that names one.
fn next_for(e: &anyhow::Error) -> Option<String> {
    e.chain().find_map(next_for_link)
}

fn next_for_link(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    use crate::backend::{BackendError, ErrorKind};
    use crate::plan::PlanError;
    use crate::planner::DriftRefusal;
    use crate::store::StoreError;
    if let Some(b) = e.downcast_ref::<BackendError>() {
        return match b.kind {
            ErrorKind::AccessDenied => Some(
                "rdsfleet iam-policy   # the permissions rdsfleet needs; check which identity the credential chain picked (aws sts get-caller-identity)"
                    .into(),
            ),
            ErrorKind::Throttled | ErrorKind::Transient => Some(
                "run the same command again in a minute   # RDS was throttling or failing transiently; nothing is repeated twice"
                    .into(),
            ),
            _ => None,
        };
    }
    if let Some(PlanError::Read { .. }) = e.downcast_ref::<PlanError>() {
        return Some(
            "ls plans/   # plans are plans/<plan-id>.json, made by `rdsfleet plan`".into(),
        );
    }
    if let Some(s) = e.downcast_ref::<StoreError>() {
        return match s {
            StoreError::Missing(_) => Some(
                "ls state/   # state files are state/<plan-id>.sqlite, made by `rdsfleet apply PLAN`"
                    .into(),
            ),
            StoreError::Locked { path, .. } => Some(format!(
                "rdsfleet status --state {path} --watch   # follow the run that holds it; stop it (Ctrl-C) before `rdsfleet resume --state {path}`"
            )),
            StoreError::PlanMismatch { .. } => Some(
                "rdsfleet apply PLAN   # without --state: each plan has its own state/<plan-id>.sqlite"
                    .into(),
            ),
            _ => None,
        };
    }
    if let Some(PlanError::Tampered { .. }) = e.downcast_ref::<PlanError>() {
        return Some(
            "rdsfleet plan --target ENGINE=VERSION   # make a new plan; a plan can't be edited"
                .into(),
        );
    }
    if e.downcast_ref::<DriftRefusal>().is_some() {
        return Some(
            "rdsfleet plan --target ENGINE=VERSION   # plan again from the fleet as it is now"
                .into(),
        );
    }
    if let Some(sim::SimError::Missing { .. }) = e.downcast_ref::<sim::SimError>() {
        return Some("rdsfleet sim init   # or run `rdsfleet demo`".into());
    }
    None
}

fn cmd_name(c: &Cmd) -> &'static str {
    match c {
        Cmd::Demo(_) => "demo",
        Cmd::Sim {
            cmd: SimCmd::Init { .. },
        } => "sim init",
        Cmd::Sim {
            cmd: SimCmd::Trail { .. },
        } => "sim trail",
        Cmd::Inventory { .. } => "inventory",
        Cmd::Plan(_) => "plan",
        Cmd::Apply { .. } => "apply",
        Cmd::Resume { .. } => "resume",
        Cmd::Status(_) => "status",
        Cmd::Report(_) => "report",
        Cmd::Approve { .. } => "approve",
        Cmd::Cleanup { .. } => "cleanup",
        Cmd::Abort { .. } => "abort",
        Cmd::IamPolicy => "iam-policy",
        Cmd::Completions { .. } => "completions",
    }
}

/// Print to stdout; a closed pipe (`| head`) is not an error.
pub(super) fn out(s: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(s.as_bytes());
    if !s.ends_with('\n') {
        let _ = o.write_all(b"\n");
    }
    let _ = o.flush();
}

pub(super) fn parse_filters(filters: &[String]) -> Result<Vec<inventory::Filter>> {
    Ok(filters
        .iter()
        .map(|f| inventory::parse_filter(f))
        .collect::<Result<Vec<_>, _>>()?)
}

/// The regions a plan works in (what `apply`, `resume`, `cleanup` and `abort` need clients for
/// when no `--region` is given).
pub(super) fn plan_regions(plan: &Plan) -> Vec<String> {
    let set: std::collections::BTreeSet<String> =
        plan.databases.iter().map(|d| d.region.clone()).collect();
    set.into_iter().collect()
}

/// A connected backend: the client (every call logged, see [`CallLog`]), its clock, the
/// regions to work in, and which backend it is.
pub(super) struct Connected {
    pub backend: Arc<dyn RdsBackend>,
    pub clock: SharedClock,
    pub regions: Vec<String>,
    pub kind: BackendKind,
}

/// Connect for a command that acts in one account: `--backend` (else the one `store` recorded),
/// regions defaulting to `default_regions`.
pub(super) async fn connect_for(
    conn: &Conn,
    store: Option<&Store>,
    default_regions: &[String],
) -> Result<Connected> {
    if conn.profiles.len() > 1 {
        bail!(
            "{} profiles given: only `inventory` works across several accounts; plan and apply act in one account at a time (pass one --profile)",
            conn.profiles.len()
        );
    }
    let recorded = match store {
        Some(s) => s.meta("backend")?,
        None => None,
    };
    let kind = conn.backend_or(recorded.as_deref());
    if let (Some(b), Some(s)) = (recorded.as_deref(), store) {
        if b != kind.as_str() {
            bail!(
                "state file {} was applied with --backend {b}; pass --backend {b} to continue it",
                s.path()
            );
        }
    }
    let state = store.map(|s| Path::new(s.path()).to_path_buf());
    connect_profile(
        conn,
        kind,
        conn.profiles.first().cloned(),
        state.as_deref(),
        default_regions,
    )
    .await
}

pub(super) async fn connect_profile(
    conn: &Conn,
    kind: BackendKind,
    profile: Option<String>,
    state: Option<&Path>,
    default_regions: &[String],
) -> Result<Connected> {
    let given = if conn.regions.is_empty() {
        default_regions.to_vec()
    } else {
        conn.regions.clone()
    };
    let (backend, clock, regions): (Arc<dyn RdsBackend>, SharedClock, Vec<String>) = match kind {
        BackendKind::Sim => {
            let world = conn.world_for(state);
            let sim = SimBackend::open(&world)?;
            let clock = sim.clock();
            let regions = if given.is_empty() {
                sim::SIM_REGIONS.iter().map(|s| s.to_string()).collect()
            } else {
                given
            };
            (Arc::new(sim), clock, regions)
        }
        BackendKind::Aws => {
            // No region at all: the adapter takes the profile's (or AWS_REGION's).
            let opts = AwsOptions {
                profile,
                endpoint_url: conn.endpoint_url.clone(),
                ..AwsOptions::default()
            };
            let aws = AwsBackend::connect(&given, &opts).await?;
            let regions = aws.regions();
            (Arc::new(aws), Arc::new(SystemClock), regions)
        }
    };
    logging::set_clock(clock.clone());
    Ok(Connected {
        backend: Arc::new(Wrapped::with_hook(backend, CallLog)),
        clock,
        regions,
        kind,
    })
}

/// Logs every failed call (and every mutating call that succeeded) at DEBUG, with the AWS
/// error code, kind and request id: the run log's record of what RDS answered.
pub(super) struct CallLog;

impl Hook for CallLog {
    fn around<'a, T: Send + 'a>(
        &'a self,
        op: Op,
        call: &'a (dyn Fn() -> BoxCall<'a, T> + Send + Sync),
    ) -> BoxCall<'a, T> {
        Box::pin(async move {
            let r = call().await;
            match &r {
                Err(e) => tracing::debug!(
                    op = op.name(),
                    code = %e.code,
                    kind = %e.kind,
                    request_id = e.request_id.as_deref(),
                    "{} failed: {}",
                    op.name(),
                    e.message
                ),
                Ok(_) if op.mutating() => tracing::debug!(op = op.name(), "{} ok", op.name()),
                Ok(_) => {}
            }
            r
        })
    }
}
