//! Command-line interface: parses arguments, builds the backend, dispatches to the library,
//! prints one error chain and maps outcomes to exit codes (0 all done, 1 some databases failed
//! or are blocked, 2 bad input or fatal error). `anyhow` lives here and nowhere else.
//!
//! - `args`: the clap types;
//! - `commands`: one function per command;
//! - `status`: how a state file is shown (`status`, the hint after a run).

mod args;
mod commands;
mod status;

pub use args::*;
pub use status::status_json;

use crate::backend::aws::{AwsBackend, AwsOptions};
use crate::backend::RdsBackend;
use crate::clock::{SharedClock, SystemClock};
use crate::inventory;
use crate::plan::Plan;
use crate::sim::{self, SimBackend};
use crate::store::Store;
use anyhow::{bail, Result};
use clap::Parser;
use std::io::Write;
use std::sync::Arc;

/// Entry point used by `main`: returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => 2,
            };
            let _ = e.print();
            return code;
        }
    };
    init_tracing(cli.verbose, cli.quiet);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return 2;
        }
    };
    match rt.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            2
        }
    }
}

fn init_tracing(verbose: u8, quiet: bool) {
    let level = if quiet {
        "error"
    } else {
        match verbose {
            0 => "warn",
            1 => "info",
            _ => "debug",
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("rdsfleet={level}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
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

/// Build the backend the global flags ask for, its clock, and the regions to work in.
pub(super) async fn connect(cli: &Cli) -> Result<(Arc<dyn RdsBackend>, SharedClock, Vec<String>)> {
    connect_for(cli, &[]).await
}

/// The regions a plan works in (what `apply`, `resume`, `cleanup` and `abort` need clients for
/// when no `--region` is given).
pub(super) fn plan_regions(plan: &Plan) -> Vec<String> {
    let set: std::collections::BTreeSet<String> =
        plan.databases.iter().map(|d| d.region.clone()).collect();
    set.into_iter().collect()
}

/// As [`connect`], defaulting the regions to `default_regions` when `--region` is not given.
pub(super) async fn connect_for(
    cli: &Cli,
    default_regions: &[String],
) -> Result<(Arc<dyn RdsBackend>, SharedClock, Vec<String>)> {
    if cli.profiles.len() > 1 {
        bail!(
            "{} profiles given: only `inventory` works across several accounts; plan and apply act in one account at a time (pass one --profile)",
            cli.profiles.len()
        );
    }
    connect_profile(cli, cli.profiles.first().cloned(), default_regions).await
}

pub(super) async fn connect_profile(
    cli: &Cli,
    profile: Option<String>,
    default_regions: &[String],
) -> Result<(Arc<dyn RdsBackend>, SharedClock, Vec<String>)> {
    let given = if cli.regions.is_empty() {
        default_regions.to_vec()
    } else {
        cli.regions.clone()
    };
    match cli.backend {
        BackendKind::Sim => {
            if !cli.sim_world.exists() {
                bail!(
                    "no simulated world at {}: create one with `rdsfleet --backend sim sim init`",
                    cli.sim_world.display()
                );
            }
            let sim = SimBackend::open(&cli.sim_world)?;
            let clock = sim.clock();
            let regions = if given.is_empty() {
                sim::SIM_REGIONS.iter().map(|s| s.to_string()).collect()
            } else {
                given
            };
            Ok((Arc::new(sim), clock, regions))
        }
        BackendKind::Aws => {
            // No region at all: the adapter takes the profile's (or AWS_REGION's).
            let opts = AwsOptions {
                profile,
                endpoint_url: cli.endpoint_url.clone(),
                ..AwsOptions::default()
            };
            let aws = AwsBackend::connect(&given, &opts).await?;
            let regions = aws.regions();
            Ok((Arc::new(aws), Arc::new(SystemClock), regions))
        }
    }
}
/// A resumed state must be driven by the backend that started it.
pub(super) fn check_backend(cli: &Cli, store: &Store) -> Result<()> {
    if let Some(b) = store.meta("backend")? {
        if b != cli.backend.as_str() {
            bail!(
                "state file {} was applied with --backend {b}; pass --backend {b} to continue it",
                store.path()
            );
        }
    }
    Ok(())
}
