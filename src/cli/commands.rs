//! One function per command: each takes the parsed arguments, does the work through the
//! library, prints its result, and returns the exit code.

use super::args::*;
use super::status::{next_hint, status_json, status_table, summary_code};
use super::{
    check_backend, connect, connect_for, connect_profile, out, parse_filters, plan_regions,
};
use crate::backend::readonly::{ReadOnly, RetryReads};
use crate::backend::RdsBackend;
use crate::clock::{rfc3339, wall_now, SharedClock};
use crate::engine::{Engine, EngineOptions, RunSummary};
use crate::lifecycle::{self, CleanupOptions};
use crate::plan::{Plan, PlanSettings};
use crate::planner::{self, PlanContext, PlanRequest};
use crate::policy::Policy;
use crate::sim::{self, SimBackend};
use crate::store::{DbState, Store};
use crate::{inventory, report};
use anyhow::{anyhow, bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Dispatch a parsed command line to its command.
pub(super) async fn run(cli: Cli) -> Result<i32> {
    match &cli.cmd {
        Cmd::Sim { cmd } => sim_cmd(&cli, cmd),
        Cmd::Inventory {
            format,
            output,
            filters,
        } => inventory_cmd(&cli, *format, output.as_deref(), filters).await,
        Cmd::Plan(args) => plan_cmd(&cli, args).await,
        Cmd::Apply {
            plan_file,
            state,
            run,
        } => {
            let plan = Plan::load(plan_file)?;
            let state = state
                .clone()
                .unwrap_or_else(|| Store::default_path(&plan.plan_id));
            apply_cmd(&cli, plan, &state, run).await
        }
        Cmd::Resume { state, run } => resume_cmd(&cli, state, run).await,
        Cmd::Status { state, json } => status_cmd(state, *json),
        Cmd::Report { state, output } => report_cmd(state, output.as_deref()),
        Cmd::Approve { state, dbs, wave } => approve_cmd(state, dbs, *wave),
        Cmd::Cleanup {
            state,
            disable_deletion_protection,
        } => cleanup_cmd(&cli, state, *disable_deletion_protection).await,
        Cmd::Abort { state, dbs } => abort_cmd(&cli, state, dbs).await,
        Cmd::IamPolicy => {
            out(&crate::iam::policy_json());
            Ok(0)
        }
        Cmd::Demo {
            databases,
            speed,
            seed,
            concurrency,
            problems,
            faults,
            dir,
        } => {
            demo(
                *databases,
                *speed,
                *seed,
                *concurrency,
                *problems,
                faults,
                dir,
            )
            .await
        }
    }
}

async fn inventory_cmd(
    cli: &Cli,
    format: InvFormat,
    output: Option<&Path>,
    filters: &[String],
) -> Result<i32> {
    let filters = parse_filters(filters)?;
    // One discovery per profile (account); the ARNs tell the accounts apart.
    let profiles: Vec<Option<String>> =
        if cli.profiles.is_empty() || cli.backend == BackendKind::Sim {
            vec![None]
        } else {
            cli.profiles.iter().cloned().map(Some).collect()
        };
    let mut inv = Vec::new();
    for profile in profiles {
        let (backend, clock, regions) = connect_profile(cli, profile.clone(), &[]).await?;
        let backend = ReadOnly::new(backend, clock);
        inv.extend(
            inventory::discover(&backend, &regions, &filters)
                .await
                .with_context(|| match &profile {
                    Some(p) => format!("discovering with profile {p}"),
                    None => "discovering".to_string(),
                })?,
        );
    }
    if let Some(path) = output {
        crate::plan::write_atomic(path, inventory::to_json(&inv).as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {} instances to {}", inv.len(), path.display());
    }
    match format {
        InvFormat::Table => out(&inventory::render_table(&inv)),
        InvFormat::Json => {
            if output.is_none() {
                out(&inventory::to_json(&inv))
            }
        }
    }
    Ok(0)
}

async fn resume_cmd(cli: &Cli, state: &Path, run: &RunArgs) -> Result<i32> {
    let store = Store::open(state)?;
    check_backend(cli, &store)?;
    let plan = store.plan()?;
    drop(store);
    apply_cmd(cli, plan, state, run).await
}

fn status_cmd(state: &Path, json: bool) -> Result<i32> {
    let store = Store::open(state)?;
    let plan = store.plan()?;
    let dbs = store.databases()?;
    if json {
        out(&status_json(&plan, &dbs));
    } else {
        out(&status_table(&plan, &store)?);
    }
    Ok(summary_code(&dbs))
}

fn report_cmd(state: &Path, output: Option<&Path>) -> Result<i32> {
    let store = Store::open(state)?;
    let plan = store.plan()?;
    let rows = store.databases()?;
    let md = crate::runreport::render(&plan, &rows, &store.resources()?);
    if let Some(path) = output {
        crate::plan::write_atomic(path, md.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    out(&md);
    Ok(summary_code(&rows))
}

fn approve_cmd(state: &Path, dbs: &[String], wave: Option<u32>) -> Result<i32> {
    let mut store = Store::open(state)?;
    let plan = store.plan()?;
    let rows = store.databases()?;
    let mut ids = Vec::new();
    for name in dbs {
        let r = rows
            .iter()
            .find(|r| &r.identifier == name)
            .ok_or_else(|| anyhow!("no database {name} in {}", state.display()))?;
        ids.push(r.id);
    }
    if let Some(w) = wave {
        let before = ids.len();
        ids.extend(
            rows.iter()
                .filter(|r| plan.databases[r.id as usize].wave == w)
                .map(|r| r.id),
        );
        if ids.len() == before {
            bail!("no database in wave {w}");
        }
    }
    if ids.is_empty() {
        ids = rows.iter().map(|r| r.id).collect();
    }
    let n = store.approve(&ids, wall_now(), "rdsfleet approve")?;
    out(&format!(
        "approved switchover for {n} database(s); run `rdsfleet resume --state {}` to continue",
        state.display()
    ));
    Ok(0)
}

async fn cleanup_cmd(cli: &Cli, state: &Path, disable_deletion_protection: bool) -> Result<i32> {
    let mut store = Store::open(state)?;
    check_backend(cli, &store)?;
    let (backend, clock, _) = connect_for(cli, &plan_regions(&store.plan()?)).await?;
    let backend = RetryReads::new(backend, clock.clone());
    let opts = CleanupOptions {
        disable_deletion_protection,
    };
    let actions = lifecycle::cleanup(&backend, &mut store, &clock, &opts).await?;
    Ok(print_actions(&actions))
}

async fn abort_cmd(cli: &Cli, state: &Path, dbs: &[String]) -> Result<i32> {
    let mut store = Store::open(state)?;
    check_backend(cli, &store)?;
    let (backend, clock, _) = connect_for(cli, &plan_regions(&store.plan()?)).await?;
    let backend = RetryReads::new(backend, clock.clone());
    let actions = lifecycle::abort(&backend, &mut store, &clock, dbs).await?;
    Ok(print_actions(&actions))
}

/// Print a cleanup/abort report; exit 1 when something failed.
fn print_actions(actions: &[lifecycle::Action]) -> i32 {
    if actions.is_empty() {
        out("nothing to do");
        return 0;
    }
    let mut s = String::new();
    for a in actions {
        s.push_str(&format!("{a}\n"));
    }
    out(&s);
    if actions.iter().any(|a| a.outcome == "failed") {
        1
    } else {
        0
    }
}
fn sim_cmd(cli: &Cli, cmd: &SimCmd) -> Result<i32> {
    match cmd {
        SimCmd::Init {
            databases,
            seed,
            speed,
            clean,
            instance_quota,
            faults,
        } => {
            let opts = sim::InitOptions {
                databases: *databases,
                seed: *seed,
                speed: *speed,
                clean: *clean,
                instance_quota: *instance_quota,
                faults: faults.clone(),
                ..sim::InitOptions::default()
            };
            if let Some(dir) = cli.sim_world.parent() {
                if !dir.as_os_str().is_empty() {
                    crate::files::create_private_dir_all(dir)
                        .with_context(|| format!("creating {}", dir.display()))?;
                }
            }
            let summary = sim::init_world(&cli.sim_world, &opts, wall_now())?;
            out(&format!("{summary}"));
            out(&format!("world: {}", cli.sim_world.display()));
            Ok(0)
        }
        SimCmd::Trail { json, all } => {
            let sim = SimBackend::open(&cli.sim_world)?;
            let trail = sim.trail(!*all)?;
            if *json {
                out(&serde_json::to_string_pretty(&trail)?);
            } else {
                let mut s = String::new();
                for t in &trail {
                    s.push_str(&format!(
                        "{} {:<10} {:<36} {:<40} {}\n",
                        t.time, t.region, t.action, t.resource, t.outcome
                    ));
                }
                s.push_str(&format!("{} calls\n", trail.len()));
                out(&s);
            }
            Ok(0)
        }
    }
}

async fn plan_cmd(cli: &Cli, args: &PlanArgs) -> Result<i32> {
    let mut targets = BTreeMap::new();
    for t in &args.targets {
        let (e, v) = planner::parse_target(t)?;
        targets.insert(e, v);
    }
    let mut class_map = Vec::new();
    for c in &args.class_map {
        class_map.push(planner::parse_class_map(c)?);
    }
    if !(30..=3600).contains(&args.switchover_timeout) {
        bail!("--switchover-timeout must be between 30 and 3600 seconds");
    }
    let settings = PlanSettings {
        switchover_timeout_secs: args.switchover_timeout,
        retention_hours: args.retention_hours,
        storage_type: args.storage_type.clone(),
        class_map,
    };
    let filters = parse_filters(&args.filters)?;
    let (inv, ctx, now) = match &args.inventory {
        Some(path) => {
            let inv = inventory::load(path)?;
            let inv: Vec<_> = inv
                .into_iter()
                .filter(|d| inventory::matches(&filters, d))
                .collect();
            (inv, PlanContext::offline(), wall_now())
        }
        None => {
            let (backend, clock, regions) = connect(cli).await?;
            let backend = ReadOnly::new(backend, clock.clone());
            let inv = inventory::discover(&backend, &regions, &filters).await?;
            let engines: Vec<String> = targets.keys().cloned().collect();
            let ctx = planner::gather_context(&backend, &regions, &engines).await;
            (inv, ctx, clock.now())
        }
    };
    let req = PlanRequest {
        targets,
        settings,
        created_at: now,
    };
    let mut plan = planner::plan(&inv, &ctx, &req)?;
    if let Some(p) = &args.policy {
        let text = std::fs::read_to_string(p)
            .with_context(|| format!("reading policy file {}", p.display()))?;
        let policy = Policy::parse(&p.display().to_string(), &text)?;
        plan.apply_policy(&policy, &inv);
    }
    let path = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from("plans").join(format!("{}.json", plan.plan_id)));
    plan.save(&path)?;
    let md = report::render_markdown(&plan);
    let md_path = path.with_extension("md");
    crate::plan::write_atomic(&md_path, md.as_bytes())
        .with_context(|| format!("writing {}", md_path.display()))?;
    match args.format {
        PlanFormat::Text => out(&report::render_text(&plan)),
        PlanFormat::Md => out(&md),
        PlanFormat::Json => out(&plan.to_json()),
    }
    eprintln!(
        "plan {} written to {} (report: {})\nnext: rdsfleet apply {}",
        plan.plan_id,
        path.display(),
        md_path.display(),
        path.display()
    );
    Ok(0)
}
async fn apply_cmd(cli: &Cli, plan: Plan, state: &Path, run: &RunArgs) -> Result<i32> {
    let concurrency = run.concurrency.unwrap_or_else(|| {
        plan.policy
            .as_ref()
            .map(|p| p.concurrency.per_account)
            .unwrap_or(4)
    });
    if !(run.poll_secs.is_finite() && run.poll_secs >= 0.05) {
        bail!("--poll-secs must be at least 0.05");
    }
    let poll = Duration::from_secs_f64(run.poll_secs);
    if concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    let (backend, clock, _regions) = connect_for(cli, &plan_regions(&plan)).await?;
    let fresh = !state.exists();
    if fresh {
        // Refuse a plan the world no longer matches, before anything is written. Read-only,
        // and retried when RDS throttles (a 10,000-instance describe is 100 pages).
        let reader = ReadOnly::new(backend.clone(), clock.clone());
        let live = planner::describe_fleet(&reader, &plan)
            .await
            .map_err(|(r, e)| anyhow!(e).context(format!("describing instances in {r}")))?;
        planner::refuse_drift(&plan, &live)?;
    }
    let store = Store::create_or_open(state, &plan, cli.backend.as_str(), clock.now())?;
    check_backend(cli, &store)?;
    let opts = EngineOptions {
        concurrency,
        approve_switchover: run.approve_switchover,
        api_rate: run.api_rate,
        poll_interval: poll,
        // The tick right after progress is never slower than a normal poll: with a short
        // `--poll-secs` (an emulator answers at once) the fixed 2 s default would dominate.
        fast_interval: EngineOptions::default().fast_interval.min(poll),
        ..EngineOptions::default()
    };
    let summary = drive(backend, clock, store, opts, cli.quiet).await?;
    let store = Store::open(state)?;
    out(&status_table(&plan, &store)?);
    out(&next_hint(&summary, state));
    Ok(summary.exit_code())
}

/// Run the engine with a progress bar and Ctrl-C handling.
async fn drive(
    backend: Arc<dyn RdsBackend>,
    clock: SharedClock,
    store: Store,
    opts: EngineOptions,
    quiet: bool,
) -> Result<RunSummary> {
    let mut engine = Engine::new(backend, clock, store, opts)?;
    let cancel = engine.canceller();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\ninterrupt: finishing the call in flight, then stopping (state is saved)");
            cancel.cancel();
        }
    });
    let total = engine.store().databases()?.len() as u64;
    let bar = if quiet {
        indicatif::ProgressBar::hidden()
    } else {
        let b = indicatif::ProgressBar::new(total);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} finished  {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        b
    };
    let b2 = bar.clone();
    engine.on_progress(Box::new(move |p| {
        let finished: usize = p
            .counts
            .iter()
            .filter(|(s, _)| s.is_terminal() || **s == DbState::AwaitingApproval)
            .map(|(_, n)| *n)
            .sum();
        b2.set_position(finished as u64);
        let msg = p
            .counts
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        b2.set_message(format!("{msg}  (t={})", rfc3339(p.now)));
    }));
    let summary = engine.run().await?;
    bar.finish_and_clear();
    Ok(summary)
}
async fn demo(
    databases: usize,
    speed: f64,
    seed: u64,
    concurrency: usize,
    problems: bool,
    faults: &str,
    dir: &Path,
) -> Result<i32> {
    let started = Instant::now();
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    crate::files::create_private_dir_all(dir)?;
    let world = dir.join("sim-world.sqlite");
    // Every upgrade keeps its old instance until cleanup, so a fleet-wide blue/green needs
    // DBInstances quota for twice the fleet: the demo models an operator who raised it first.
    let opts = sim::InitOptions {
        databases,
        seed,
        speed,
        clean: !problems,
        faults: faults.to_string(),
        instance_quota: Some(2 * databases as i64 + 40),
        ..sim::InitOptions::default()
    };
    let summary = sim::init_world(&world, &opts, wall_now())?;
    out(&format!("== sim init ==\n{summary}"));
    let sim = SimBackend::open(&world)?;
    let clock = sim.clock();
    let backend: Arc<dyn RdsBackend> = Arc::new(sim);
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
    let plan_path = dir.join("plan.json");
    plan.save(&plan_path)?;
    crate::plan::write_atomic(
        &dir.join("plan.md"),
        report::render_markdown(&plan).as_bytes(),
    )?;
    out(&format!("== plan ==\n{}", report::render_text(&plan)));
    let state = dir.join("state.sqlite");
    let store = Store::create_or_open(&state, &plan, "sim", clock.now())?;
    let sim_start = clock.now();
    let opts = EngineOptions {
        concurrency,
        approve_switchover: true,
        ..EngineOptions::default()
    };
    let summary = drive(backend, clock.clone(), store, opts, false).await?;
    let store = Store::open(&state)?;
    out(&format!(
        "== apply --approve-switchover ==\n{}",
        status_table(&plan, &store)?
    ));
    let run_report = dir.join("run-report.md");
    let md = crate::runreport::render(&plan, &store.databases()?, &store.resources()?);
    crate::plan::write_atomic(&run_report, md.as_bytes())
        .with_context(|| format!("writing {}", run_report.display()))?;
    let sim = SimBackend::open(&world)?;
    let trail = sim.trail(false)?;
    let mutating = trail.iter().filter(|t| t.mutating).count();
    let throttled = trail.iter().filter(|t| t.outcome == "Throttling").count();
    out(&format!(
        "\nsimulated time {:.1} h, wall time {:.1} s; API calls {} ({} mutating, {} throttled)\nfiles: {} (plan), {} (dry-run report), {} (state), {} (run report)\n{}",
        (clock.now() - sim_start) as f64 / 3_600_000.0,
        started.elapsed().as_secs_f64(),
        trail.len(),
        mutating,
        throttled,
        plan_path.display(),
        dir.join("plan.md").display(),
        state.display(),
        run_report.display(),
        next_hint(&summary, &state)
    ));
    Ok(summary.exit_code())
}
