//! `rdsfleet demo`: the whole job on a fresh simulated fleet, showing what matters by default:
//! blocked databases and their fixes, the approval gate (apply stops there; the demo then
//! approves, as an operator would), a staged switchover failure that rdsfleet does not retry,
//! and an HTML run report at the end.
//!
//! The failures are staged (problem cases in the fleet, a `switchover-fail@<db>` fault), and
//! the demo says so. It exits 0 when the rollout behaved as designed: the run finished, only
//! staged failures happened (with `--faults`, every fault is staged), and the failed
//! switchover was called exactly once. `apply`'s exit codes are unchanged.

use super::args::DemoArgs;
use super::commands::{drive, run_report};
use super::progress;
use super::BackendKind;
use super::{out, Connected};
use crate::backend::readonly::ReadOnly;
use crate::backend::RdsBackend;
use crate::backend::Wrapped;
use crate::clock::wall_now;
use crate::engine::{EngineOptions, RunSummary};
use crate::plan::{Plan, PlanSettings};
use crate::planner::{self, PlanRequest};
use crate::runreport::RunReport;
use crate::sim::{self, SimBackend};
use crate::store::{DbState, Store};
use crate::{inventory, report};
use anyhow::{Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// Print prose wrapped to the terminal (as is when stdout is not one).
fn say(text: &str) {
    match super::status::output_width() {
        Some(w) => out(&textwrap::fill(text, w.max(40))),
        None => out(text),
    }
}

pub(super) async fn demo(a: &DemoArgs, verbose: u8, quiet: bool) -> Result<i32> {
    let started = Instant::now();
    let dir = a.dir.as_path();
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    crate::files::create_private_dir_all(dir)?;
    let world = dir.join("sim-world.sqlite");
    // Every upgrade keeps its old instance until cleanup, so a fleet-wide blue/green needs
    // DBInstances quota for twice the fleet: the demo models an operator who raised it first.
    let opts = sim::InitOptions {
        databases: a.databases,
        seed: a.seed,
        speed: a.speed,
        clean: a.clean,
        faults: a.faults.clone(),
        instance_quota: Some(2 * a.databases as i64 + 40),
        ..sim::InitOptions::default()
    };
    let summary = sim::init_world(&world, &opts, wall_now())?;
    out(&format!("== 1. a simulated fleet (sim init) ==\n{summary}"));
    let sim = SimBackend::open(&world)?;
    let clock = sim.clock();
    super::logging::set_clock(clock.clone());
    let sim = Arc::new(sim);
    let backend: Arc<dyn RdsBackend> = Arc::new(Wrapped::with_hook(
        sim.clone() as Arc<dyn RdsBackend>,
        super::CallLog,
    ));
    let plan = make_plan(&backend, &clock, dir).await?;
    // The plan's summary without its list of blocked databases: they follow, with their fixes.
    let text = report::render_text(&plan);
    let summary: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("  ") && !l.starts_with("blocked ("))
        .map(|l| l.trim_end())
        .collect::<Vec<_>>();
    out(&format!("\n== 2. the plan ==\n{}", summary.join("\n")));
    out(&blocked_with_fixes(&plan, super::status::output_width()));
    let victim = if a.clean || a.faults.contains("switchover-fail") {
        None
    } else {
        stage_failure(&sim, &plan, &a.faults)?
    };
    let state = dir.join("state.sqlite");
    let store = Store::create_or_open(&state, &plan, "sim", clock.now())?;
    let c = Connected {
        backend,
        clock: clock.clone(),
        regions: sim::SIM_REGIONS.iter().map(|s| s.to_string()).collect(),
        kind: BackendKind::Sim,
    };
    let opts = EngineOptions {
        concurrency: a.concurrency,
        approve_switchover: false,
        ..EngineOptions::default()
    };
    let mode = progress::mode(a.display.no_progress, quiet);
    out(&format!(
        "\n== 3. apply, without approval ==\n(watch from another terminal: rdsfleet status --state {} --watch)",
        state.display()
    ));
    let first = drive(&c, store, opts.clone(), &state, mode, verbose).await?;
    if first.interrupted || first.halted.is_some() {
        return finish(a, dir, &state, &first, started, None, &BTreeSet::new());
    }
    let mut store = Store::open(&state)?;
    let waiting: Vec<i64> = store
        .databases()?
        .iter()
        .filter(|d| d.state == DbState::AwaitingApproval)
        .map(|d| d.id)
        .collect();
    say(&format!(
        "{} database(s) have their green side ready and stopped at the approval gate: nothing switches over without a recorded approval.\nThe demo approves them now, as you would after review with:\n  rdsfleet approve --state {} [--wave N | --db ID]",
        waiting.len(),
        state.display()
    ));
    store.approve(&waiting, clock.now(), "rdsfleet demo")?;
    drop(store);
    operator_deletes_integrations(&sim, &plan)?;
    out("\n== 4. resume, approved: switchovers and verification ==");
    let store = Store::open(&state)?;
    let second = drive(&c, store, opts, &state, mode, verbose).await?;
    let blocked: BTreeSet<String> = plan
        .databases
        .iter()
        .filter(|d| !d.blockers.is_empty())
        .map(|d| d.identifier.clone())
        .collect();
    finish(
        a,
        dir,
        &state,
        &second,
        started,
        victim.as_deref(),
        &blocked,
    )
}

/// Inventory and plan the whole simulated fleet; write plan.json, plan.md and plan.html.
async fn make_plan(
    backend: &Arc<dyn RdsBackend>,
    clock: &crate::clock::SharedClock,
    dir: &Path,
) -> Result<Plan> {
    let regions: Vec<String> = sim::SIM_REGIONS.iter().map(|s| s.to_string()).collect();
    let reader = ReadOnly::new(backend.clone(), clock.clone());
    let inv = inventory::discover(&reader, &regions, &[]).await?;
    let mut targets = BTreeMap::new();
    targets.insert("mysql".to_string(), "8.0".to_string());
    targets.insert("postgres".to_string(), "16".to_string());
    let engines: Vec<String> = targets.keys().cloned().collect();
    let ctx = planner::gather_context(&reader, &regions, &engines).await;
    let plan = planner::plan(
        &inv,
        &ctx,
        &PlanRequest {
            targets,
            settings: PlanSettings::default(),
            created_at: clock.now(),
        },
    )?;
    plan.save(&dir.join("plan.json"))?;
    crate::plan::write_atomic(
        &dir.join("plan.md"),
        report::render_markdown(&plan).as_bytes(),
    )?;
    crate::plan::write_atomic(
        &dir.join("plan.html"),
        report::render_html(&plan).as_bytes(),
    )?;
    Ok(plan)
}

/// The blocked databases grouped by blocker, each with the planner's problem-and-fix text,
/// wrapped to `width` when known.
fn blocked_with_fixes(plan: &Plan, width: Option<usize>) -> String {
    let mut by: BTreeMap<&str, (Vec<&str>, &str)> = BTreeMap::new();
    for d in &plan.databases {
        for b in &d.blockers {
            let e = by
                .entry(b.code.as_str())
                .or_insert((Vec::new(), b.message.as_str()));
            e.0.push(d.identifier.as_str());
        }
    }
    if by.is_empty() {
        return "No blocked databases (--clean).".into();
    }
    let mut o = String::from(
        "Staged problem cases: these databases are blocked and left untouched. Each blocker says how to fix it:",
    );
    for (code, (dbs, msg)) in by {
        let item = format!("{code} ({}): {}", dbs.join(", "), msg);
        match width {
            Some(w) => {
                let opts = textwrap::Options::new(w.max(40))
                    .initial_indent("  ")
                    .subsequent_indent("      ");
                for line in textwrap::wrap(&item, opts) {
                    o.push('\n');
                    o.push_str(&line);
                }
            }
            None => o.push_str(&format!("\n  {item}")),
        }
    }
    o.push_str("\n(after a fix, plan again: a new plan picks them up)");
    o
}

/// Make the switchover of one upgradable database (without replicas) fail, and say so.
fn stage_failure(sim: &SimBackend, plan: &Plan, user_faults: &str) -> Result<Option<String>> {
    // A database with nothing else to show (no replica, no warning such as a zero-ETL
    // integration), so the staged failure is the only thing that happens to it.
    let plain = |d: &&crate::plan::PlannedDatabase| d.is_actionable() && d.replicas.is_empty();
    let Some(victim) = plan
        .databases
        .iter()
        .filter(plain)
        .find(|d| d.warnings.is_empty())
        .or_else(|| plan.databases.iter().find(plain))
        .map(|d| d.identifier.clone())
    else {
        return Ok(None);
    };
    let item = format!("switchover-fail@{victim}");
    let spec = if user_faults.trim().is_empty() {
        item.clone()
    } else {
        format!("{user_faults},{item}")
    };
    sim.set_faults(&spec)?;
    say(&format!(
        "Staged failure: the simulator will roll back the switchover of {victim} (fault `{item}`). RDS leaves the old database serving; rdsfleet must record the failure and never retry it."
    ));
    Ok(Some(victim))
}

/// AWS refuses a switchover while a zero-ETL integration exists on blue or green; rdsfleet
/// waits for an operator to delete it (and says so). The demo plays that operator.
fn operator_deletes_integrations(sim: &SimBackend, plan: &Plan) -> Result<()> {
    for d in plan.databases.iter().filter(|d| {
        d.is_actionable() && d.warnings.iter().any(|w| w.code == "zero-etl-integration")
    }) {
        let gone = sim.operator_deletes_integrations(&d.region, &d.identifier)?;
        if !gone.is_empty() {
            say(&format!(
                "{} has the zero-ETL integration {}: AWS refuses a switchover while it exists, and rdsfleet would wait, saying so. The demo deletes it now, as you would (`aws rds delete-integration`), to recreate it after the switchover.",
                d.identifier,
                gone.join(", ")
            ));
        }
    }
    Ok(())
}

/// Reports, the verdict and the exit code.
fn finish(
    a: &DemoArgs,
    dir: &Path,
    state: &Path,
    summary: &RunSummary,
    started: Instant,
    victim: Option<&str>,
    blocked: &BTreeSet<String>,
) -> Result<i32> {
    let (r, _) = run_report(state, Some(&dir.join("sim-world.sqlite")))?;
    crate::plan::write_atomic(&dir.join("run-report.md"), r.markdown(None).as_bytes())?;
    let html = dir.join("run-report.html");
    crate::plan::write_atomic(&html, r.html().as_bytes())
        .with_context(|| format!("writing {}", html.display()))?;
    let sim = SimBackend::open(&dir.join("sim-world.sqlite"))?;
    let trail = sim.trail(false)?;
    // A switchover call names the deployment, whose id the state file has for each database.
    let rows = Store::open(state)?.databases()?;
    let switchovers_of = |db: &str| {
        let deployment = rows
            .iter()
            .filter(|r| r.identifier == db)
            .flat_map(|r| r.steps.iter().filter_map(|s| s.remote_id.clone()))
            .find(|id| id.starts_with("bgd-"));
        trail
            .iter()
            .filter(|t| {
                t.action == "SwitchoverBlueGreenDeployment"
                    && Some(&t.resource) == deployment.as_ref()
            })
            .count()
    };
    out(&format!(
        "\n== 5. outcome ==\n{}",
        super::progress::counts_line(&summary.counts)
    ));
    for g in &r.failures {
        out(&format!(
            "  {} {}: {}\n    next: {}",
            g.databases.len(),
            g.state,
            g.cause,
            g.next
        ));
    }
    let verdict = verdict(a, &r, summary, victim, blocked, switchovers_of);
    out(&format!(
        "\nsimulated time {:.1} h, wall time {:.1} s, {} API calls",
        (r.makespan_secs.unwrap_or(0)) as f64 / 3600.0,
        started.elapsed().as_secs_f64(),
        trail.len()
    ));
    out(&format!(
        "files in {}: plan.json, plan.md/.html (dry-run report), state.sqlite, state.log.jsonl (run log), run-report.md",
        dir.display()
    ));
    let abs = std::fs::canonicalize(&html).unwrap_or(html);
    out(&format!("the run report: file://{}", abs.display()));
    match verdict {
        Ok(msg) => {
            say(&msg);
            Ok(0)
        }
        Err(msg) => {
            say(&msg);
            Ok(1)
        }
    }
}

/// Did the rollout behave as designed? `Ok(what to say)` or `Err(what went wrong)`.
fn verdict(
    a: &DemoArgs,
    r: &RunReport,
    summary: &RunSummary,
    victim: Option<&str>,
    blocked: &BTreeSet<String>,
    switchovers_of: impl Fn(&str) -> usize,
) -> Result<String, String> {
    if summary.interrupted || summary.halted.is_some() {
        return Err(format!(
            "the rollout stopped early{}",
            summary
                .halted
                .as_deref()
                .map(|h| format!(": {h}"))
                .unwrap_or_default()
        ));
    }
    let failed: Vec<&str> = r
        .databases
        .iter()
        .filter(|t| t.state == DbState::Failed && !t.detail.starts_with("travels with"))
        .map(|t| t.identifier.as_str())
        .collect();
    let unexpected: Vec<&str> = failed
        .iter()
        .copied()
        .filter(|f| Some(*f) != victim && a.faults.trim().is_empty())
        .collect();
    let unplanned_blocks: Vec<&str> = r
        .databases
        .iter()
        .filter(|t| t.state == DbState::Blocked && !t.detail.starts_with("travels with"))
        .map(|t| t.identifier.as_str())
        .filter(|b| !blocked.contains(*b))
        .collect();
    if !unexpected.is_empty() || !unplanned_blocks.is_empty() {
        return Err(format!(
            "NOT as designed: unexpected failures {unexpected:?}, blocked without a planner blocker {unplanned_blocks:?}"
        ));
    }
    if let Some(v) = victim {
        let n = switchovers_of(v);
        if n != 1 || !failed.contains(&v) {
            return Err(format!(
                "NOT as designed: the staged switchover failure of {v} was called {n} time(s) (expected once, then failed)"
            ));
        }
    }
    Ok(format!(
        "The failures above were staged for this demo{}; the rollout behaved as designed{}.",
        if a.faults.trim().is_empty() {
            ""
        } else {
            " (with --faults, every failure is injected)"
        },
        victim
            .map(|v| format!(": {v}'s failed switchover was called once and not retried"))
            .unwrap_or_default()
    ))
}
