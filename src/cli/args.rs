//! The command-line types (clap): commands, their arguments and a worked example for each
//! (`after_help`, checked by a test that parses and validates every example). Nothing here
//! runs anything; `cli::commands` does.
//!
//! Options sit on the commands that use them: the connection (`--backend`, `--profile`,
//! `--region`, `--endpoint-url`, `--sim-world`) only on commands that talk to RDS; only `-v`
//! and `-q` are global.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};

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
    pub fn parse(s: &str) -> Option<BackendKind> {
        match s {
            "aws" => Some(BackendKind::Aws),
            "sim" => Some(BackendKind::Sim),
            _ => None,
        }
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "rdsfleet",
    version,
    about = "Upgrade a fleet of AWS RDS databases safely: inventory -> plan -> apply -> status",
    long_about = None,
    after_help = "Examples:\n  rdsfleet demo\n  rdsfleet inventory --backend sim\n\nExit codes: 0 every database reached the point asked for; 1 some failed or are blocked, or the run stopped early; 2 bad input or a fatal error (nothing changed)."
)]
pub struct Cli {
    /// More logging (-v info, -vv debug). `RUST_LOG` overrides both.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    #[command(subcommand)]
    pub cmd: Cmd,
}

/// Where RDS is, for the commands that talk to it.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Connection")]
pub struct Conn {
    /// The real AWS API, or the embedded simulator. Commands on a state file default to the
    /// backend that state was applied with.
    #[arg(long, env = "RDSFLEET_BACKEND", value_enum)]
    pub backend: Option<BackendKind>,
    /// World file of the simulator (`--backend sim`; default: `sim-world.sqlite` beside the
    /// state file if there is one, else state/sim-world.sqlite).
    #[arg(long, env = "RDSFLEET_SIM_WORLD")]
    pub sim_world: Option<PathBuf>,
    /// AWS profile (standard credential chain otherwise: env, SSO, credential_process...).
    /// `inventory` accepts several (one per account); other commands act in one account.
    #[arg(long = "profile")]
    pub profiles: Vec<String>,
    /// Region to work in; repeat for several (default: the plan's regions, else the profile's).
    #[arg(long = "region")]
    pub regions: Vec<String>,
    /// Custom RDS endpoint (e.g. a local moto server); `AWS_ENDPOINT_URL` works too.
    #[arg(long)]
    pub endpoint_url: Option<String>,
}

pub const DEFAULT_SIM_WORLD: &str = "state/sim-world.sqlite";

impl Conn {
    /// The backend: the flag (or `RDSFLEET_BACKEND`), else the one a state file recorded,
    /// else AWS.
    pub fn backend_or(&self, recorded: Option<&str>) -> BackendKind {
        self.backend
            .or_else(|| recorded.and_then(BackendKind::parse))
            .unwrap_or(BackendKind::Aws)
    }
    /// The simulator's world: the flag, else `sim-world.sqlite` beside `state` when it exists
    /// (where `sim init` and `demo` put it), else the default.
    pub fn world_for(&self, state: Option<&Path>) -> PathBuf {
        sim_world_for(self.sim_world.as_deref(), state)
    }
}

/// See [`Conn::world_for`].
pub fn sim_world_for(given: Option<&Path>, state: Option<&Path>) -> PathBuf {
    if let Some(p) = given {
        return p.to_path_buf();
    }
    if let Some(beside) = state
        .and_then(|s| s.parent())
        .map(|d| d.join("sim-world.sqlite"))
        .filter(|p| p.exists())
    {
        return beside;
    }
    PathBuf::from(DEFAULT_SIM_WORLD)
}

/// The simulator's world file, for `sim` commands.
#[derive(Debug, Clone, Args)]
pub struct WorldArg {
    /// World file of the simulator.
    #[arg(long, env = "RDSFLEET_SIM_WORLD", default_value = DEFAULT_SIM_WORLD)]
    pub sim_world: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Run the whole job on a fresh simulated fleet: problem cases, the approval gate, a staged
    /// switchover failure, and an HTML run report at the end.
    #[command(
        after_help = "Examples:\n  rdsfleet demo\n  rdsfleet demo --databases 200 --faults default\n  rdsfleet demo --clean --no-progress"
    )]
    Demo(DemoArgs),
    /// The embedded simulated RDS.
    Sim {
        #[command(subcommand)]
        cmd: SimCmd,
    },
    /// Discover RDS instances (all regions given) and print or save the inventory.
    #[command(
        after_help = "Examples:\n  rdsfleet inventory --backend sim --filter engine=mysql\n  rdsfleet inventory --profile prod --region us-east-1 --format json -o inventory.json"
    )]
    Inventory {
        #[arg(long, value_enum, default_value = "table")]
        format: InvFormat,
        /// Write the inventory JSON to this file (the `plan --inventory` format).
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
        /// engine=mysql, version=5.7, tag:env=prod, id=orders-* (repeat to combine).
        #[arg(long = "filter")]
        filters: Vec<String>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Make an immutable plan (JSON under plans/) and print its dry-run report.
    #[command(
        after_help = "Examples:\n  rdsfleet plan --backend sim --target mysql=8.0 --target postgres=16\n  rdsfleet plan --inventory inventory.json --target mysql=8.0 --policy plans/policy.example.toml"
    )]
    Plan(PlanArgs),
    /// Drive a plan: snapshots, parameter groups, blue/green, switchover (with approval).
    #[command(
        after_help = "Examples:\n  rdsfleet apply plans/rf0123456789.json\n  rdsfleet apply plans/rf0123456789.json --backend sim --approve-switchover --no-progress"
    )]
    Apply {
        plan_file: PathBuf,
        /// State file (default state/<plan-id>.sqlite).
        #[arg(long)]
        state: Option<PathBuf>,
        #[command(flatten)]
        run: RunArgs,
        #[command(flatten)]
        conn: Conn,
    },
    /// Continue an interrupted apply from its state file.
    #[command(
        after_help = "Examples:\n  rdsfleet resume --state state/rf0123456789.sqlite\n  rdsfleet resume --state state/rf0123456789.sqlite --approve-switchover"
    )]
    Resume {
        #[arg(long)]
        state: PathBuf,
        #[command(flatten)]
        run: RunArgs,
        #[command(flatten)]
        conn: Conn,
    },
    /// Show where every database is and why it waits; or one database's history.
    #[command(
        after_help = "Examples:\n  rdsfleet status --state state/rf0123456789.sqlite\n  rdsfleet status --state state/rf0123456789.sqlite --watch\n  rdsfleet status --state state/rf0123456789.sqlite --db orders-db"
    )]
    Status(StatusArgs),
    /// The run report (from a state file) or the dry-run report (from a plan file), as
    /// Markdown, JSON or a self-contained HTML page.
    #[command(
        after_help = "Examples:\n  rdsfleet report --state state/rf0123456789.sqlite --format html -o rollout.html\n  rdsfleet report plans/rf0123456789.json --format md"
    )]
    Report(ReportArgs),
    /// Approve switchover for some or all databases of a state file.
    #[command(
        after_help = "Examples:\n  rdsfleet approve --state state/rf0123456789.sqlite --wave 1\n  rdsfleet approve --state state/rf0123456789.sqlite --db orders-db --db billing-db"
    )]
    Approve {
        #[arg(long)]
        state: PathBuf,
        /// Database identifier (repeat); default: all.
        #[arg(long = "db")]
        dbs: Vec<String>,
        /// Approve a whole wave.
        #[arg(long)]
        wave: Option<u32>,
        /// Simulator world, whose clock the approval is recorded on (default: beside the
        /// state file); a state file applied on AWS records the wall clock.
        #[arg(long, env = "RDSFLEET_SIM_WORLD")]
        sim_world: Option<PathBuf>,
    },
    /// Delete what finished upgrades left: blue/green deployment objects, and old instances
    /// after their retention (always with a final snapshot). Only what this plan created.
    #[command(after_help = "Examples:\n  rdsfleet cleanup --state state/rf0123456789.sqlite")]
    Cleanup {
        #[arg(long)]
        state: PathBuf,
        /// Turn off deletion protection on old instances that have it, then delete them.
        #[arg(long)]
        disable_deletion_protection: bool,
        /// Client-side API budget per region (requests per second, fractions allowed).
        #[arg(long, default_value_t = 8.0)]
        api_rate: f64,
        #[command(flatten)]
        conn: Conn,
    },
    /// Abort upgrades that have not switched over (deletes their green side); after switchover
    /// it changes nothing and prints the rollback path.
    #[command(
        after_help = "Examples:\n  rdsfleet abort --state state/rf0123456789.sqlite --db orders-db"
    )]
    Abort {
        #[arg(long)]
        state: PathBuf,
        /// Database identifier (repeat); default: every unfinished database.
        #[arg(long = "db")]
        dbs: Vec<String>,
        /// Client-side API budget per region (requests per second, fractions allowed).
        #[arg(long, default_value_t = 8.0)]
        api_rate: f64,
        #[command(flatten)]
        conn: Conn,
    },
    /// Print the least-privilege IAM policy for the AWS backend.
    #[command(after_help = "Examples:\n  rdsfleet iam-policy > rdsfleet-policy.json")]
    IamPolicy,
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  rdsfleet completions bash > ~/.local/share/bash-completion/completions/rdsfleet\n  rdsfleet completions zsh > ~/.zfunc/_rdsfleet\n  rdsfleet completions fish > ~/.config/fish/completions/rdsfleet.fish"
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[arg(long, default_value_t = 70)]
    pub databases: usize,
    /// Simulated seconds per wall second, or `max`: virtual time, as fast as the CPU allows,
    /// with the makespan real time would give.
    #[arg(long, default_value = "3000", value_parser = crate::sim::parse_speed)]
    pub speed: f64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// A fleet without problem cases and without the staged switchover failure.
    #[arg(long, conflicts_with = "problems")]
    pub clean: bool,
    /// Include the problem cases (blocked databases); the default, kept for old scripts.
    #[arg(long, hide = true)]
    pub problems: bool,
    /// More simulator faults on top of the staged ones (`rdsfleet sim init --help`).
    #[arg(long, default_value = "")]
    pub faults: String,
    /// Directory for the demo's world, plan, state and reports (replaced).
    #[arg(long, default_value = "state/demo")]
    pub dir: PathBuf,
    #[command(flatten)]
    pub display: DisplayArgs,
}

/// How a run shows its progress.
#[derive(Debug, Clone, Args)]
pub struct DisplayArgs {
    /// No progress bars: plain timestamped lines (also when stderr is not a terminal or `CI`
    /// is set).
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[arg(long)]
    pub state: PathBuf,
    /// `{plan_id, counts, databases: [...]}` on stdout.
    #[arg(long, conflicts_with = "watch")]
    pub json: bool,
    /// Redraw every `--interval` seconds until the run is over (or `--count` redraws).
    #[arg(long)]
    pub watch: bool,
    /// Seconds between redraws with `--watch`.
    #[arg(long, default_value_t = 5.0, requires = "watch")]
    pub interval: f64,
    /// Stop `--watch` after this many redraws.
    #[arg(long, requires = "watch")]
    pub count: Option<u64>,
    /// One database's full history: its steps and every event recorded for it.
    #[arg(long, conflicts_with = "watch")]
    pub db: Option<String>,
    /// Simulator world, for the current simulated time (default: beside the state file).
    #[arg(long, env = "RDSFLEET_SIM_WORLD")]
    pub sim_world: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Md,
    Json,
    Html,
}

impl ReportFormat {
    pub fn extension(&self) -> &'static str {
        match self {
            ReportFormat::Md => "md",
            ReportFormat::Json => "json",
            ReportFormat::Html => "html",
        }
    }
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A plan file: render its dry-run report instead of a run report.
    #[arg(conflicts_with = "state", required_unless_present = "state")]
    pub plan_file: Option<PathBuf>,
    /// A state file: render what the rollout did.
    #[arg(long)]
    pub state: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "md")]
    pub format: ReportFormat,
    /// Write the report to this file instead of stdout.
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    /// Simulator world, for the measured write downtime of each switchover (default: beside
    /// the state file).
    #[arg(long, env = "RDSFLEET_SIM_WORLD")]
    pub sim_world: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum SimCmd {
    /// Create (or replace) a simulated fleet in the world file.
    #[command(
        after_help = "Examples:\n  rdsfleet sim init --databases 70 --seed 1 --speed 600\n  rdsfleet sim init --clean --faults switchover-fail=0.05,5xx=0.01\n  rdsfleet sim init --faults invalid-config@orders-db"
    )]
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
        /// Fault spec: `default`, or items such as `switchover-fail=0.05,5xx=0.01` or
        /// `invalid-config@orders-db` (grammar and names: the `rdsfleet::sim` module docs).
        #[arg(long, default_value = "")]
        faults: String,
        #[command(flatten)]
        world: WorldArg,
    },
    /// Every mutating API call the simulated RDS received.
    #[command(
        after_help = "Examples:\n  rdsfleet sim trail\n  rdsfleet sim trail --json --all > trail.json"
    )]
    Trail {
        #[arg(long)]
        json: bool,
        /// Include describes (read calls) too.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        world: WorldArg,
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
    /// Move storage to this type in the same switchover (gp2, gp3, io1, io2).
    #[arg(long)]
    pub storage_type: Option<String>,
    /// Provisioned IOPS for green (TargetIops): io1/io2 need them (the source's are carried
    /// when it has some); gp3 accepts 12000-64000 at 400 GiB and above, none below.
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..))]
    pub iops: Option<i32>,
    /// Storage throughput for green in MiB/s (TargetStorageThroughput; gp3 at 400 GiB and
    /// above: 500-4000, at most 0.25 MiB/s per IOPS).
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..))]
    pub storage_throughput: Option<i32>,
    /// Allocated storage for green in GiB (TargetAllocatedStorage), e.g. io1's 100 GiB
    /// minimum. Less than the source's only if the data fits.
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..))]
    pub allocated_storage: Option<i32>,
    /// Instance class prefix map, e.g. db.r5=db.r7g (repeat).
    #[arg(long = "class-map")]
    pub class_map: Vec<String>,
    /// SwitchoverTimeout in seconds (30..3600).
    #[arg(long, default_value_t = 300)]
    pub switchover_timeout: u32,
    /// Hours to keep old instances before cleanup may delete them.
    #[arg(long, default_value_t = 72)]
    pub retention_hours: u32,
    #[command(flatten)]
    pub conn: Conn,
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
    #[command(flatten)]
    pub display: DisplayArgs,
}

/// Every `rdsfleet ...` line of a command's `Examples:` section (its `after_help`), with the
/// path of subcommand names leading to it. Used by the test that runs each example's parse.
pub fn examples() -> Vec<String> {
    fn walk(c: &clap::Command, out: &mut Vec<String>) {
        if let Some(h) = c.get_after_help() {
            let text = h.to_string();
            out.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| l.starts_with("rdsfleet "))
                    .map(str::to_string),
            );
        }
        for s in c.get_subcommands() {
            walk(s, out);
        }
    }
    let mut out = Vec::new();
    walk(&<Cli as clap::CommandFactory>::command(), &mut out);
    out
}
