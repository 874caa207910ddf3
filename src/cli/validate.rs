//! Offline checks of every argument, run before any command does anything: a bad value is
//! refused with exit code 2 and nothing changed. Also what the help examples are tested
//! against (`examples_parse_and_validate`).

use super::args::*;
use crate::sim::FaultSpec;
use crate::{inventory, planner};
use anyhow::{bail, Context, Result};

/// Check every argument that can be checked without touching files, state or RDS (a fault
/// spec given as `@file` is read).
pub fn validate(cli: &Cli) -> Result<()> {
    match &cli.cmd {
        Cmd::Demo(d) => {
            if d.databases == 0 {
                bail!("--databases must be at least 1");
            }
            speed(d.speed)?;
            if d.concurrency == 0 {
                bail!("--concurrency must be at least 1");
            }
            faults(&d.faults)?;
        }
        Cmd::Sim {
            cmd:
                SimCmd::Init {
                    databases,
                    speed: s,
                    faults: f,
                    ..
                },
        } => {
            if *databases == 0 {
                bail!("--databases must be at least 1");
            }
            speed(*s)?;
            faults(f)?;
        }
        Cmd::Sim { .. } => {}
        Cmd::Inventory { filters, .. } => filters_ok(filters)?,
        Cmd::Plan(a) => {
            for t in &a.targets {
                planner::parse_target(t)?;
            }
            for c in &a.class_map {
                planner::parse_class_map(c)?;
            }
            if !(30..=3600).contains(&a.switchover_timeout) {
                bail!("--switchover-timeout must be between 30 and 3600 seconds");
            }
            filters_ok(&a.filters)?;
        }
        Cmd::Apply { run, .. } | Cmd::Resume { run, .. } => run_ok(run)?,
        Cmd::Status(s) => {
            if !(s.interval.is_finite() && s.interval >= 0.0) {
                bail!("--interval must be a number of seconds, 0 or more");
            }
        }
        Cmd::Report(_)
        | Cmd::Approve { .. }
        | Cmd::Cleanup { .. }
        | Cmd::Abort { .. }
        | Cmd::IamPolicy
        | Cmd::Completions { .. } => {}
    }
    Ok(())
}

fn speed(s: f64) -> Result<()> {
    // `--speed max` parses to infinity: virtual time, no sleeping at all.
    if !(s == f64::INFINITY || (s.is_finite() && s > 0.0)) {
        bail!("--speed must be a positive number of simulated seconds per wall second, or `max`");
    }
    Ok(())
}

fn faults(spec: &str) -> Result<()> {
    FaultSpec::from_arg(spec).context("--faults")?;
    Ok(())
}

fn filters_ok(filters: &[String]) -> Result<()> {
    for f in filters {
        inventory::parse_filter(f)?;
    }
    Ok(())
}

fn run_ok(run: &RunArgs) -> Result<()> {
    if !(run.poll_secs.is_finite() && run.poll_secs >= 0.05) {
        bail!("--poll-secs must be at least 0.05");
    }
    if run.concurrency == Some(0) {
        bail!("--concurrency must be at least 1");
    }
    if !(run.api_rate.is_finite() && run.api_rate > 0.0) {
        bail!("--api-rate must be a positive number of requests per second");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// Every `rdsfleet ...` example in every command's help parses and passes validation
    /// (shell redirections cut off).
    #[test]
    fn examples_parse_and_validate() {
        let examples = examples();
        assert!(examples.len() >= 20, "{examples:#?}");
        for ex in &examples {
            let words: Vec<&str> = ex.split_whitespace().take_while(|w| *w != ">").collect();
            let cli = Cli::try_parse_from(&words)
                .unwrap_or_else(|e| panic!("example `{ex}` does not parse:\n{e}"));
            validate(&cli).unwrap_or_else(|e| panic!("example `{ex}` is refused: {e:#}"));
        }
        // Every command has at least one example.
        let cmd = <Cli as clap::CommandFactory>::command();
        for sub in cmd.get_subcommands() {
            let leaves: Vec<&clap::Command> = if sub.has_subcommands() {
                sub.get_subcommands().collect()
            } else {
                vec![sub]
            };
            for leaf in leaves {
                let help = leaf
                    .get_after_help()
                    .map(|h| h.to_string())
                    .unwrap_or_default();
                assert!(
                    help.contains("rdsfleet "),
                    "`{}` has no example in its help",
                    leaf.get_name()
                );
            }
        }
    }

    #[test]
    fn bad_values_are_refused_before_anything_runs() {
        for bad in [
            vec!["rdsfleet", "sim", "init", "--faults", "transient=0.01"],
            vec!["rdsfleet", "demo", "--faults", "switchover-fail=2x"],
            vec!["rdsfleet", "plan", "--target", "mysql"],
            vec!["rdsfleet", "inventory", "--filter", "colour=blue"],
            vec!["rdsfleet", "apply", "p.json", "--poll-secs", "0"],
            vec!["rdsfleet", "demo", "--speed", "0"],
        ] {
            // Refused by the parser (a value parser) or by validation: never accepted.
            let refused = match Cli::try_parse_from(&bad) {
                Ok(cli) => validate(&cli).is_err(),
                Err(e) => e.kind() == clap::error::ErrorKind::ValueValidation,
            };
            assert!(refused, "{bad:?} accepted");
        }
    }

    #[test]
    fn connection_options_only_on_commands_that_connect() {
        for bad in [
            vec!["rdsfleet", "demo", "--profile", "x"],
            vec!["rdsfleet", "demo", "--region", "us-east-1"],
            vec![
                "rdsfleet",
                "status",
                "--state",
                "s",
                "--endpoint-url",
                "http://x",
            ],
            vec!["rdsfleet", "iam-policy", "--backend", "sim"],
        ] {
            assert!(Cli::try_parse_from(&bad).is_err(), "{bad:?} parsed");
        }
        for good in [
            vec!["rdsfleet", "inventory", "--profile", "a", "--profile", "b"],
            vec![
                "rdsfleet",
                "resume",
                "--state",
                "s",
                "--region",
                "eu-west-1",
            ],
            vec![
                "rdsfleet",
                "-v",
                "cleanup",
                "--state",
                "s",
                "--backend",
                "sim",
            ],
        ] {
            Cli::try_parse_from(&good).unwrap_or_else(|e| panic!("{good:?}: {e}"));
        }
    }
}
