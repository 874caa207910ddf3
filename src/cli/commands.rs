//! One function per command: each takes the parsed arguments, does the work through the
//! library, prints its result (stdout: results; stderr: progress, logs, hints), and returns
//! the exit code.

use super::args::*;
use super::logging;
use super::progress::{self, Display};
use super::status::{
    db_history, next_hint, output_width, run_is_over, status_json, status_table, summary_code,
};
use super::{connect_for, connect_profile, out, parse_filters, plan_regions, recovery, Connected};
use crate::backend::readonly::ReadOnly;
use crate::clock::{wall_now, Clock, Millis, SystemClock};
use crate::engine::{Engine, EngineOptions, Progress, RunSummary};
use crate::lifecycle::{self, CleanupOptions};
use crate::plan::{Plan, PlanSettings};
use crate::planner::{self, PlanContext, PlanRequest};
use crate::policy::Policy;
use crate::runreport::{Downtime, RunReport};
use crate::sim::{self, SimBackend};
use crate::store::Store;
use crate::{inventory, report};
use anyhow::{anyhow, bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Dispatch a parsed command line to its command.
pub(super) async fn run(cli: Cli) -> Result<i32> {
    let verbose = cli.verbose;
    let quiet = cli.quiet;
    match &cli.cmd {
        Cmd::Demo(args) => super::demo::demo(args, verbose, quiet).await,
        Cmd::Sim { cmd } => sim_cmd(cmd),
        Cmd::Inventory {
            format,
            output,
            filters,
            conn,
        } => inventory_cmd(conn, *format, output.as_deref(), filters).await,
        Cmd::Plan(args) => plan_cmd(args).await,
        Cmd::Apply {
            plan_file,
            state,
            run,
            conn,
        } => {
            let plan = planner::load(plan_file)?;
            let state = state
                .clone()
                .unwrap_or_else(|| Store::default_path(&plan.plan_id));
            apply_cmd(conn, plan, &state, run, verbose, quiet).await
        }
        Cmd::Resume { state, run, conn } => resume_cmd(conn, state, run, verbose, quiet).await,
        Cmd::Status(args) => status_cmd(args).await,
        Cmd::Report(args) => report_cmd(args),
        Cmd::Approve {
            state,
            dbs,
            wave,
            sim_world,
        } => approve_cmd(state, dbs, *wave, sim_world.as_deref()),
        Cmd::Cleanup {
            state,
            disable_deletion_protection,
            api_rate,
            conn,
        } => cleanup_cmd(conn, state, *disable_deletion_protection, *api_rate).await,
        Cmd::Abort {
            state,
            dbs,
            api_rate,
            conn,
        } => abort_cmd(conn, state, dbs, *api_rate).await,
        Cmd::IamPolicy => {
            out(&crate::iam::policy_json());
            Ok(0)
        }
        Cmd::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut cmd, "rdsfleet", &mut std::io::stdout());
            Ok(0)
        }
    }
}

async fn inventory_cmd(
    conn: &Conn,
    format: InvFormat,
    output: Option<&Path>,
    filters: &[String],
) -> Result<i32> {
    let filters = parse_filters(filters)?;
    let kind = conn.backend_or(None);
    // One discovery per profile (account); the ARNs tell the accounts apart.
    let profiles: Vec<Option<String>> = if conn.profiles.is_empty() || kind == BackendKind::Sim {
        vec![None]
    } else {
        conn.profiles.iter().cloned().map(Some).collect()
    };
    let mut inv = Vec::new();
    for profile in profiles {
        let c = connect_profile(conn, kind, profile.clone(), None, &[]).await?;
        let backend = ReadOnly::new(c.backend, c.clock);
        inv.extend(
            inventory::discover(&backend, &c.regions, &filters)
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

async fn resume_cmd(
    conn: &Conn,
    state: &Path,
    run: &RunArgs,
    verbose: u8,
    quiet: bool,
) -> Result<i32> {
    let store = Store::open(state)?;
    let plan = store.plan()?;
    drop(store);
    apply_cmd(conn, plan, state, run, verbose, quiet).await
}

/// "Now" for a state file: the simulator's clock when it was applied on the simulator and its
/// world is at hand, else the wall clock (AWS), else the last time the state file recorded.
fn state_now(store: &Store, state: &Path, sim_world: Option<&Path>) -> Result<Millis> {
    if store.meta("backend")?.as_deref() != Some("sim") {
        return Ok(wall_now());
    }
    let world = sim_world_for(sim_world, Some(state));
    if world.exists() {
        if let Ok(sim) = SimBackend::open(&world) {
            return Ok(sim.clock().now());
        }
    }
    let rows = store.databases()?;
    let last_row = rows
        .iter()
        .flat_map(|r| {
            std::iter::once(r.updated_at).chain(
                r.steps
                    .iter()
                    .filter_map(|s| s.finished_at.or(s.started_at)),
            )
        })
        .max();
    let last_event = store.events(None)?.iter().map(|e| e.at).max();
    Ok(last_row.max(last_event).unwrap_or_else(wall_now))
}

async fn status_cmd(args: &StatusArgs) -> Result<i32> {
    recovery(
        "nothing (status only reads the state file)",
        "ls state/   # state files are state/<plan-id>.sqlite",
    );
    let state = args.state.as_path();
    let width = output_width();
    let mut frames = 0u64;
    loop {
        let store = Store::open(state)?;
        let plan = store.plan()?;
        let now = state_now(&store, state, args.sim_world.as_deref())?;
        let dbs = store.databases()?;
        if args.json {
            out(&status_json(&plan, &dbs, now));
            return Ok(summary_code(&dbs));
        }
        if let Some(id) = &args.db {
            out(&db_history(&plan, &store, id, now, width)?);
            return Ok(summary_code(&dbs));
        }
        // Redrawn in place, the table must fit the terminal, beside the title, counts and lock.
        let rows = args
            .watch
            .then(terminal_rows)
            .flatten()
            .map(|r| r.saturating_sub(4).max(3));
        let table = status_table(&plan, &store, now, width, rows)?;
        if !args.watch {
            out(&table);
            return Ok(summary_code(&dbs));
        }
        // Redraw in place on a terminal (like `watch`); frames one after another otherwise.
        if console::Term::stdout().is_term() {
            out(&format!("\x1b[H\x1b[2J{table}"));
        } else {
            out(&format!("{table}\n"));
        }
        frames += 1;
        let over = run_is_over(&store)?;
        if over || args.count.is_some_and(|c| frames >= c) {
            if over {
                out("(the run is over: nothing holds the state file and every database is finished or awaiting approval)");
            }
            return Ok(summary_code(&dbs));
        }
        drop(store);
        SystemClock
            .sleep(Duration::from_secs_f64(args.interval))
            .await;
    }
}

/// The height of the terminal stdout is, when it is one (`LINES` wins, as for `COLUMNS`).
fn terminal_rows() -> Option<usize> {
    if let Some(l) = std::env::var("LINES").ok().and_then(|l| l.parse().ok()) {
        return Some(l);
    }
    let t = console::Term::stdout();
    t.is_term()
        .then(|| t.size_checked().map(|(rows, _)| rows as usize))
        .flatten()
}

/// Measured write downtime for a state file applied on the simulator (empty otherwise).
fn measured_downtime(store: &Store, state: &Path, sim_world: Option<&Path>) -> Vec<Downtime> {
    if store.meta("backend").ok().flatten().as_deref() != Some("sim") {
        return Vec::new();
    }
    let world = sim_world_for(sim_world, Some(state));
    let Ok(sim) = SimBackend::open(&world) else {
        return Vec::new();
    };
    sim.downtime()
        .unwrap_or_default()
        .into_iter()
        .map(|d| Downtime {
            region: d.region,
            identifier: d.identifier,
            start: d.start,
            seconds: d.seconds,
        })
        .collect()
}

/// The run report of a state file.
pub(super) fn run_report(state: &Path, sim_world: Option<&Path>) -> Result<(RunReport, i32)> {
    let store = Store::open(state)?;
    let plan = store.plan()?;
    let rows = store.databases()?;
    let downtime = measured_downtime(&store, state, sim_world);
    let r = RunReport::build(
        &plan,
        &rows,
        &store.resources()?,
        &downtime,
        &state.display().to_string(),
    );
    Ok((r, summary_code(&rows)))
}

fn report_cmd(args: &ReportArgs) -> Result<i32> {
    recovery(
        "nothing (report only reads)",
        "rdsfleet report --state state/<plan-id>.sqlite --format html -o report.html",
    );
    let (text, code) = match (&args.plan_file, &args.state) {
        (Some(plan_file), _) => {
            let plan = Plan::load(plan_file)?;
            let text = match args.format {
                ReportFormat::Md => report::render_markdown(&plan),
                ReportFormat::Json => report::render_json(&plan),
                ReportFormat::Html => report::render_html(&plan),
            };
            (text, 0)
        }
        (None, Some(state)) => {
            let (r, code) = run_report(state, args.sim_world.as_deref())?;
            let text = match args.format {
                ReportFormat::Md => r.markdown(None),
                ReportFormat::Json => r.json(),
                ReportFormat::Html => r.html(),
            };
            (text, code)
        }
        (None, None) => bail!("give a plan file or --state"),
    };
    match &args.output {
        Some(path) => {
            crate::plan::write_atomic(path, text.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
        None => out(&text),
    }
    Ok(code)
}

fn approve_cmd(
    state: &Path,
    dbs: &[String],
    wave: Option<u32>,
    sim_world: Option<&Path>,
) -> Result<i32> {
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
    let _ = logging::open_run_log(state);
    // On the clock the engine records with (the simulator's, for a simulated rollout), so
    // the approval sits in order among the run's events.
    let now = state_now(&store, state, sim_world)?;
    let n = store.approve(&ids, now, "rdsfleet approve")?;
    tracing::info!(databases = n, "switchover approved");
    out(&format!(
        "approved switchover for {n} database(s); run `rdsfleet resume --state {}` to continue",
        state.display()
    ));
    Ok(0)
}

/// `--api-rate` of cleanup and abort: like apply's, fractions allowed.
fn lifecycle_budget(api_rate: f64) -> Result<lifecycle::Budget> {
    if !(api_rate.is_finite() && api_rate > 0.0) {
        bail!("--api-rate must be a positive number of requests per second (fractions allowed)");
    }
    Ok(lifecycle::Budget {
        api_rate,
        // No burst: no second ever sees more than `api_rate` calls (as for apply).
        api_burst: 1.0,
    })
}

async fn cleanup_cmd(
    conn: &Conn,
    state: &Path,
    disable_deletion_protection: bool,
    api_rate: f64,
) -> Result<i32> {
    let mut store = Store::open(state)?;
    let c = connect_for(conn, Some(&store), &plan_regions(&store.plan()?)).await?;
    let _ = logging::open_run_log(state);
    recovery(
        format!("what was deleted so far is recorded in {}", state.display()),
        format!(
            "rdsfleet cleanup --state {}   # safe to repeat",
            state.display()
        ),
    );
    let opts = CleanupOptions {
        disable_deletion_protection,
        budget: lifecycle_budget(api_rate)?,
    };
    let actions = lifecycle::cleanup(c.backend.clone(), &mut store, &c.clock, &opts).await?;
    Ok(print_actions(&actions))
}

async fn abort_cmd(conn: &Conn, state: &Path, dbs: &[String], api_rate: f64) -> Result<i32> {
    let budget = lifecycle_budget(api_rate)?;
    let mut store = Store::open(state)?;
    let c = connect_for(conn, Some(&store), &plan_regions(&store.plan()?)).await?;
    let _ = logging::open_run_log(state);
    recovery(
        format!("what was undone so far is recorded in {}", state.display()),
        format!(
            "rdsfleet abort --state {}   # safe to repeat",
            state.display()
        ),
    );
    let actions = lifecycle::abort(c.backend.clone(), &mut store, &c.clock, dbs, budget).await?;
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

fn sim_cmd(cmd: &SimCmd) -> Result<i32> {
    match cmd {
        SimCmd::Init {
            databases,
            seed,
            speed,
            clean,
            instance_quota,
            faults,
            world,
        } => {
            let world = &world.sim_world;
            let opts = sim::InitOptions {
                databases: *databases,
                seed: *seed,
                speed: *speed,
                clean: *clean,
                instance_quota: *instance_quota,
                faults: faults.clone(),
                ..sim::InitOptions::default()
            };
            if let Some(dir) = world.parent() {
                if !dir.as_os_str().is_empty() {
                    crate::files::create_private_dir_all(dir)
                        .with_context(|| format!("creating {}", dir.display()))?;
                }
            }
            let summary = sim::init_world(world, &opts, wall_now())?;
            out(&format!("{summary}"));
            out(&format!("world: {}", world.display()));
            Ok(0)
        }
        SimCmd::Trail { json, all, world } => {
            let sim = SimBackend::open(&world.sim_world)?;
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

async fn plan_cmd(args: &PlanArgs) -> Result<i32> {
    let mut targets = BTreeMap::new();
    for t in &args.targets {
        let (e, v) = planner::parse_target(t)?;
        targets.insert(e, v);
    }
    let mut class_map = Vec::new();
    for c in &args.class_map {
        class_map.push(planner::parse_class_map(c)?);
    }
    let settings = PlanSettings {
        switchover_timeout_secs: args.switchover_timeout,
        retention_hours: args.retention_hours,
        storage_type: args.storage_type.clone(),
        class_map,
        iops: args.iops,
        storage_throughput: args.storage_throughput,
        allocated_storage_gib: args.allocated_storage,
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
            let c = connect_for(&args.conn, None, &[]).await?;
            let backend = ReadOnly::new(c.backend, c.clock.clone());
            let inv = inventory::discover(&backend, &c.regions, &filters).await?;
            let engines: Vec<String> = targets.keys().cloned().collect();
            let ctx = planner::gather_context(&backend, &c.regions, &engines).await;
            (inv, ctx, c.clock.now())
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
        planner::apply_policy(&mut plan, &policy, &inv);
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

async fn apply_cmd(
    conn: &Conn,
    plan: Plan,
    state: &Path,
    run: &RunArgs,
    verbose: u8,
    quiet: bool,
) -> Result<i32> {
    let concurrency = run.concurrency.unwrap_or_else(|| {
        plan.policy
            .as_ref()
            .map(|p| p.concurrency.per_account)
            .unwrap_or(4)
    });
    let poll = Duration::from_secs_f64(run.poll_secs);
    let existing = if state.exists() {
        Some(Store::open(state)?)
    } else {
        None
    };
    let c = connect_for(conn, existing.as_ref(), &plan_regions(&plan)).await?;
    drop(existing);
    if !state.exists() {
        // Refuse a plan the world no longer matches, before anything is written. Within the
        // run's API budget (a 10,000-instance describe is 100 pages, each a request), and
        // retried when RDS throttles.
        let budget = lifecycle::Budget {
            api_rate: run.api_rate,
            ..Default::default()
        };
        let mut exec = lifecycle::executor(c.backend.clone(), &c.clock, budget);
        let mut live = Vec::new();
        for r in plan_regions(&plan) {
            let all = exec
                .describe_instances(&r, &crate::backend::InstanceQuery::default())
                .await
                .map_err(|e| anyhow!(e).context(format!("describing instances in {r}")))?;
            live.extend(all);
        }
        planner::refuse_drift(&plan, &live)?;
    }
    let store = Store::create_or_open(state, &plan, c.kind.as_str(), c.clock.now())?;
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
    let mode = progress::mode(run.display.no_progress, quiet);
    let summary = drive(&c, store, opts, state, mode, verbose).await?;
    let store = Store::open(state)?;
    out(&status_table(
        &plan,
        &store,
        c.clock.now(),
        output_width(),
        None,
    )?);
    out(&next_hint(&summary, state));
    Ok(summary.exit_code())
}

/// Run the engine with the progress display, the run log and Ctrl-C handling.
pub(super) async fn drive(
    c: &Connected,
    store: Store,
    opts: EngineOptions,
    state: &Path,
    mode: progress::Mode,
    verbose: u8,
) -> Result<RunSummary> {
    let log = logging::open_run_log(state)
        .with_context(|| format!("opening the run log beside {}", state.display()))?;
    let plan_id = store.plan()?.plan_id;
    let total = store.databases()?.len();
    let mut engine = Engine::new(c.backend.clone(), c.clock.clone(), store, opts)?;
    tracing::info!(plan_id, backend = c.kind.as_str(), state = %state.display(), run_log = %log.display(), "run started");
    recovery(
        format!(
            "the state file {} records every change made so far",
            state.display()
        ),
        format!("rdsfleet resume --state {}", state.display()),
    );
    let cancel = engine.canceller();
    let ctrl_c = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            logging::eprint_line(
                "\ninterrupt: finishing the call in flight, then stopping (state is saved)",
            );
            cancel.cancel();
        }
    });
    let display = Arc::new(Display::new(mode, total, verbose > 0));
    let last: Arc<Mutex<Option<Progress>>> = Arc::default();
    let (d2, l2) = (display.clone(), last.clone());
    engine.on_progress(Box::new(move |p| {
        d2.update(p);
        *l2.lock().unwrap_or_else(|e| e.into_inner()) = Some(p.clone());
    }));
    let result = engine.run().await;
    display.finish(last.lock().unwrap_or_else(|e| e.into_inner()).as_ref());
    ctrl_c.abort();
    let summary = result?;
    tracing::info!(
        counts = %progress::counts_line(&summary.counts),
        interrupted = summary.interrupted,
        halted = summary.halted.as_deref(),
        api_calls = summary.api_calls,
        "run ended"
    );
    Ok(summary)
}
