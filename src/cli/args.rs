//! The command-line types (clap): global flags, commands and their arguments. Nothing here
//! runs anything; `cli::commands` does.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendKind {
    Aws,
    Sim,
}

impl BackendKind {
    pub fn as_str(&self) -> &'static str {
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
        /// Simulated seconds per wall second, or `max`: virtual time, as fast as the CPU
        /// allows, with the makespan real time would give.
        #[arg(long, default_value = "3000", value_parser = crate::sim::parse_speed)]
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
        /// Simulated seconds per wall second, or `max` for virtual time (time jumps to the
        /// end of every wait; continued by the next process that opens the world).
        #[arg(long, default_value = "60", value_parser = crate::sim::parse_speed)]
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
    pub inventory: Option<PathBuf>,
    /// Rollout policy (TOML: waves, canary, limits, failure budget, windows, retention);
    /// see plans/policy.example.toml. It is embedded in the plan.
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// ENGINE=VERSION, e.g. mysql=8.0 (newest valid 8.0.x) or mysql=8.0.40.
    #[arg(long = "target", required = true)]
    pub targets: Vec<String>,
    /// Where to write the plan JSON (default plans/<plan-id>.json).
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    /// What to print on stdout.
    #[arg(long, value_enum, default_value = "text")]
    pub format: PlanFormat,
    /// Live discovery filters (as for `inventory`).
    #[arg(long = "filter")]
    pub filters: Vec<String>,
    /// Move storage to this type in the same switchover (e.g. gp3).
    #[arg(long)]
    pub storage_type: Option<String>,
    /// Instance class prefix map, e.g. db.r5=db.r7g (repeat).
    #[arg(long = "class-map")]
    pub class_map: Vec<String>,
    /// SwitchoverTimeout in seconds (30..3600).
    #[arg(long, default_value_t = 300)]
    pub switchover_timeout: u32,
    /// Hours to keep old instances before cleanup may delete them.
    #[arg(long, default_value_t = 72)]
    pub retention_hours: u32,
}

#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// Databases in flight at once (default: the policy's per_account, else 4).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Approve the switchover of every database (recorded in the state file).
    #[arg(long)]
    pub approve_switchover: bool,
    /// Client-side API budget per region (requests per second; RDS allows ~12 shared by all tools).
    #[arg(long, default_value_t = 8.0)]
    pub api_rate: f64,
    /// Seconds between polls while waiting on AWS (fractions allowed, e.g. 0.2 against a
    /// local emulator such as moto, which answers at once; at least 0.05).
    #[arg(long, default_value_t = 30.0)]
    pub poll_secs: f64,
}
