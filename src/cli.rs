//! Command-line interface: parses arguments, builds the backend, dispatches to the library,
//! prints one error chain and maps outcomes to exit codes (0 all done, 1 some databases failed
//! or are blocked, 2 bad input or fatal error). `anyhow` lives here and nowhere else.

use crate::backend::aws::{AwsBackend, AwsOptions};
use crate::backend::crash::ReadOnly;
use crate::backend::RdsBackend;
use crate::clock::{rfc3339, wall_now, SharedClock, SystemClock};
use crate::engine::{Engine, EngineOptions, RunSummary};
use crate::lifecycle::{self, CleanupOptions};
use crate::plan::{Plan, PlanSettings};
use crate::planner::{self, PlanContext, PlanRequest};
use crate::policy::Policy;
use crate::sim::{self, SimBackend};
use crate::store::{DbState, Store};
use crate::{inventory, report};
use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendKind {
    Aws,
    Sim,
}

impl BackendKind {
    fn as_str(&self) -> &'static str {
        match self {
            BackendKind::Aws => "aws",
            BackendKind::Sim => "sim",
        }
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "rdsfleet",
    version,
    about = "Upgrade a fleet of AWS RDS databases safely: inventory -> plan -> apply -> status",
    long_about = None
)]
pub struct Cli {
    /// Where RDS is: the real AWS API, or the embedded simulator.
    #[arg(
        long,
        env = "RDSFLEET_BACKEND",
        default_value = "aws",
        value_enum,
        global = true
    )]
    pub backend: BackendKind,
    /// World file of the simulator (`--backend sim`).
    #[arg(
        long,
        env = "RDSFLEET_SIM_WORLD",
        default_value = "state/sim-world.sqlite",
        global = true
    )]
    pub sim_world: PathBuf,
    /// AWS profile (standard credential chain otherwise: env, SSO, credential_process...).
    /// `inventory` accepts several (one per account); other commands act in one account.
    #[arg(long = "profile", global = true)]
    pub profiles: Vec<String>,
    /// Region to work in; repeat for several.
    #[arg(long = "region", global = true)]
    pub regions: Vec<String>,
    /// Custom RDS endpoint (e.g. a local moto server); `AWS_ENDPOINT_URL` works too.
    #[arg(long, global = true)]
    pub endpoint_url: Option<String>,
    /// More logging (-v info, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// The embedded simulated RDS.
    Sim {
        #[command(subcommand)]
        cmd: SimCmd,
    },
    /// Discover RDS instances (all regions given) and print or save the inventory.
    Inventory {
        #[arg(long, value_enum, default_value = "table")]
        format: InvFormat,
        /// Write the inventory JSON to this file (the `plan --inventory` format).
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
        /// engine=mysql, version=5.7, tag:env=prod, id=orders-* (repeat to combine).
        #[arg(long = "filter")]
        filters: Vec<String>,
    },
    /// Make an immutable plan (JSON under plans/) and print its dry-run report.
    Plan(PlanArgs),
    /// Drive a plan: snapshots, parameter groups, blue/green, switchover (with approval).
    Apply {
        plan_file: PathBuf,
        /// State file (default state/<plan-id>.sqlite).
        #[arg(long)]
        state: Option<PathBuf>,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Continue an interrupted apply from its state file.
    Resume {
        #[arg(long)]
        state: PathBuf,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Show where every database is.
    Status {
        #[arg(long)]
        state: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// The run report: what the rollout did (Markdown), from the state file.
    Report {
        #[arg(long)]
        state: PathBuf,
        /// Also write it to this file.
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
    },
    /// Approve switchover for some or all databases of a state file.
    Approve {
        #[arg(long)]
        state: PathBuf,
        /// Database identifier (repeat); default: all.
        #[arg(long = "db")]
        dbs: Vec<String>,
        /// Approve a whole wave.
        #[arg(long)]
        wave: Option<u32>,
    },
    /// Delete what finished upgrades left: blue/green deployment objects, and old instances
    /// after their retention (always with a final snapshot). Only what this plan created.
    Cleanup {
        #[arg(long)]
        state: PathBuf,
        /// Turn off deletion protection on old instances that have it, then delete them.
        #[arg(long)]
        disable_deletion_protection: bool,
    },
    /// Abort upgrades that have not switched over (deletes their green side); after switchover
    /// it changes nothing and prints the rollback path.
    Abort {
        #[arg(long)]
        state: PathBuf,
        /// Database identifier (repeat); default: every unfinished database.
        #[arg(long = "db")]
        dbs: Vec<String>,
    },
    /// Print the least-privilege IAM policy for the AWS backend.
    IamPolicy,
    /// Run the whole job on a fresh simulated fleet: sim init, plan, apply --approve-switchover.
    Demo {
        #[arg(long, default_value_t = 70)]
        databases: usize,
        /// Simulated seconds per wall second.
        #[arg(long, default_value_t = 3000.0)]
        speed: f64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Include the problem cases (blocked databases) in the fleet.
        #[arg(long)]
        problems: bool,
        /// Fault spec for the simulator (see `rdsfleet sim init --help`).
        #[arg(long, default_value = "")]
        faults: String,
        /// Directory for the demo's world, plan and state (replaced).
        #[arg(long, default_value = "state/demo")]
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum SimCmd {
    /// Create (or replace) a simulated fleet in the world file.
    Init {
        #[arg(long, default_value_t = 70)]
        databases: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Simulated seconds per wall second.
        #[arg(long, default_value_t = 60.0)]
        speed: f64,
        /// A fleet without the problem cases.
        #[arg(long)]
        clean: bool,
        /// DBInstances quota per region (default 40, raised to fit the fleet).
        #[arg(long)]
        instance_quota: Option<i64>,
        /// Fault spec, e.g. `default` or `switchover-fail=0.05,transient=0.01` (see the simulator docs).
        #[arg(long, default_value = "")]
        faults: String,
    },
    /// Every mutating API call the simulated RDS received.
    Trail {
        #[arg(long)]
        json: bool,
        /// Include describes (read calls) too.
        #[arg(long)]
        all: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InvFormat {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Text,
    Md,
    Json,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Plan offline from an inventory file instead of discovering live.
    #[arg(long)]
    inventory: Option<PathBuf>,
    /// Rollout policy (TOML: waves, canary, limits, failure budget, windows, retention);
    /// see plans/policy.example.toml. It is embedded in the plan.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// ENGINE=VERSION, e.g. mysql=8.0 (newest valid 8.0.x) or mysql=8.0.40.
    #[arg(long = "target", required = true)]
    targets: Vec<String>,
    /// Where to write the plan JSON (default plans/<plan-id>.json).
    #[arg(short = 'o', long)]
    output: Option<PathBuf>,
    /// What to print on stdout.
    #[arg(long, value_enum, default_value = "text")]
    format: PlanFormat,
    /// Live discovery filters (as for `inventory`).
    #[arg(long = "filter")]
    filters: Vec<String>,
    /// Move storage to this type in the same switchover (e.g. gp3).
    #[arg(long)]
    storage_type: Option<String>,
    /// Instance class prefix map, e.g. db.r5=db.r7g (repeat).
    #[arg(long = "class-map")]
    class_map: Vec<String>,
    /// SwitchoverTimeout in seconds (30..3600).
    #[arg(long, default_value_t = 300)]
    switchover_timeout: u32,
    /// Hours to keep old instances before cleanup may delete them.
    #[arg(long, default_value_t = 72)]
    retention_hours: u32,
}

#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// Databases in flight at once (default: the policy's per_account, else 4).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Approve the switchover of every database (recorded in the state file).
    #[arg(long)]
    approve_switchover: bool,
    /// Client-side API budget per region (requests per second; RDS allows ~12 shared by all tools).
    #[arg(long, default_value_t = 8.0)]
    api_rate: f64,
    /// Seconds between polls while waiting on AWS (fractions allowed, e.g. 0.2 against a
    /// local emulator such as moto, which answers at once; at least 0.05).
    #[arg(long, default_value_t = 30.0)]
    poll_secs: f64,
}

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
    match rt.block_on(run(cli)) {
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
fn out(s: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(s.as_bytes());
    if !s.ends_with('\n') {
        let _ = o.write_all(b"\n");
    }
    let _ = o.flush();
}

async fn run(cli: Cli) -> Result<i32> {
    match &cli.cmd {
        Cmd::Sim { cmd } => sim_cmd(&cli, cmd),
        Cmd::Inventory {
            format,
            output,
            filters,
        } => {
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
                let (backend, clock, regions) = connect_profile(&cli, profile.clone(), &[]).await?;
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
        Cmd::Resume { state, run } => {
            let store = Store::open(state)?;
            check_backend(&cli, &store)?;
            let plan = store.plan()?;
            drop(store);
            apply_cmd(&cli, plan, state, run).await
        }
        Cmd::Status { state, json } => {
            let store = Store::open(state)?;
            let plan = store.plan()?;
            let dbs = store.databases()?;
            if *json {
                out(&status_json(&plan, &dbs));
            } else {
                out(&status_table(&plan, &store)?);
            }
            Ok(summary_code(&dbs))
        }
        Cmd::Report { state, output } => {
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
        Cmd::Approve { state, dbs, wave } => {
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
                        .filter(|r| plan.databases[r.id as usize].wave == *w)
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
        Cmd::Cleanup {
            state,
            disable_deletion_protection,
        } => {
            let mut store = Store::open(state)?;
            check_backend(&cli, &store)?;
            let (backend, clock, _) = connect_for(&cli, &plan_regions(&store.plan()?)).await?;
            let opts = CleanupOptions {
                disable_deletion_protection: *disable_deletion_protection,
            };
            let actions = lifecycle::cleanup(backend.as_ref(), &mut store, &clock, &opts).await?;
            Ok(print_actions(&actions))
        }
        Cmd::Abort { state, dbs } => {
            let mut store = Store::open(state)?;
            check_backend(&cli, &store)?;
            let (backend, clock, _) = connect_for(&cli, &plan_regions(&store.plan()?)).await?;
            let actions = lifecycle::abort(backend.as_ref(), &mut store, &clock, dbs).await?;
            Ok(print_actions(&actions))
        }
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

fn parse_filters(filters: &[String]) -> Result<Vec<inventory::Filter>> {
    Ok(filters
        .iter()
        .map(|f| inventory::parse_filter(f))
        .collect::<Result<Vec<_>, _>>()?)
}

/// Build the backend the global flags ask for, its clock, and the regions to work in.
async fn connect(cli: &Cli) -> Result<(Arc<dyn RdsBackend>, SharedClock, Vec<String>)> {
    connect_for(cli, &[]).await
}

/// The regions a plan works in (what `apply`, `resume`, `cleanup` and `abort` need clients for
/// when no `--region` is given).
fn plan_regions(plan: &Plan) -> Vec<String> {
    let set: std::collections::BTreeSet<String> =
        plan.databases.iter().map(|d| d.region.clone()).collect();
    set.into_iter().collect()
}

/// As [`connect`], defaulting the regions to `default_regions` when `--region` is not given.
async fn connect_for(
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

async fn connect_profile(
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
                    std::fs::create_dir_all(dir)
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

/// A resumed state must be driven by the backend that started it.
fn check_backend(cli: &Cli, store: &Store) -> Result<()> {
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
        // Refuse a plan the world no longer matches, before anything is written.
        let mut live = Vec::new();
        let regions: std::collections::BTreeSet<&str> =
            plan.databases.iter().map(|d| d.region.as_str()).collect();
        for r in regions {
            live.extend(
                backend
                    .describe_instances(r, &Default::default())
                    .await
                    .with_context(|| format!("describing instances in {r}"))?,
            );
        }
        let drift: Vec<_> = planner::check_drift(&plan, &live)
            .into_iter()
            .filter(|d| d.kind != planner::DriftKind::AlreadyUpgraded)
            .collect();
        if !drift.is_empty() {
            let mut msg = format!(
                "the fleet no longer matches plan {} ({} database(s) drifted); nothing was changed. Plan again:\n",
                plan.plan_id,
                drift.len()
            );
            for d in &drift {
                msg.push_str(&format!(
                    "  - {} ({}): {}\n",
                    d.identifier, d.region, d.message
                ));
            }
            bail!(msg.trim_end().to_string());
        }
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

fn next_hint(summary: &RunSummary, state: &Path) -> String {
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
            "{bad} database(s) failed or are blocked; see `rdsfleet status --state {s}` for the reasons"
        ));
    }
    if lines.is_empty() {
        lines.push("all databases reached the requested point".to_string());
    }
    lines.join("\n")
}

fn summary_code(dbs: &[crate::store::DbRow]) -> i32 {
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
fn shown_step(d: &crate::store::DbRow) -> Option<String> {
    if matches!(d.state, DbState::Running | DbState::AwaitingApproval) {
        if let Some(s) = d.current_step() {
            return Some(s.kind.as_str().to_string());
        }
    }
    d.step.clone()
}

/// `status --json`: `{plan_id, counts, databases: [{identifier, region, state, step, error}]}`.
pub fn status_json(plan: &Plan, dbs: &[crate::store::DbRow]) -> String {
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
                "error": d.error,
                "wave": plan.databases.get(d.id as usize).map(|p| p.wave),
                "approved": d.approved,
            })
        })
        .collect();
    let v = serde_json::json!({
        "plan_id": plan.plan_id,
        "counts": counts,
        "databases": databases,
    });
    serde_json::to_string_pretty(&v).unwrap_or_default()
}

fn status_table(plan: &Plan, store: &Store) -> Result<String> {
    let dbs = store.databases()?;
    let mut s = format!("plan {}  ({} databases)\n", plan.plan_id, dbs.len());
    s.push_str(&format!(
        "{:<34} {:<10} {:<18} {:<18} {}\n",
        "DATABASE", "REGION", "STATE", "STEP", "DETAIL"
    ));
    for d in &dbs {
        let detail = d.error.clone().unwrap_or_default();
        let detail: String = detail.chars().take(110).collect();
        s.push_str(&format!(
            "{:<34} {:<10} {:<18} {:<18} {}\n",
            d.identifier,
            d.region,
            d.state.as_str(),
            shown_step(d).unwrap_or_else(|| "-".into()),
            detail
        ));
    }
    let mut counts: BTreeMap<DbState, usize> = BTreeMap::new();
    for d in &dbs {
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
    std::fs::create_dir_all(dir)?;
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
    std::fs::write(dir.join("plan.md"), report::render_markdown(&plan))?;
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
    std::fs::write(&run_report, md).with_context(|| format!("writing {}", run_report.display()))?;
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
