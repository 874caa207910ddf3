//! The fleet-scale benchmark (issue 11): one command that measures every figure rdsfleet
//! claims, prints one line per figure, and writes them with the machine description beside
//! the goals into `BENCHMARKS.md` (between its `bench:begin` / `bench:end` markers; the rest
//! of that file is written by people).
//!
//! ```sh
//! cargo run --release --bin bench                 # everything (about 10 minutes on 2 cores)
//! cargo run --release --bin bench -- --quick      # small sizes, nothing written
//! ```
//!
//! Rollouts run on the simulator in virtual time (`--speed max`): wall time is CPU time, and
//! the simulated makespan is what real time would give. Each figure runs in a child process
//! of this binary (`child.rs`), which is the `rdsfleet` command line itself for everything a
//! user would type, so the figures are those of the real commands, and peak memory is the
//! child's own. No timing is asserted in tests: the goals live here.

mod analyse;
mod child;
mod figures;
mod machine;
mod naive;
mod planfleet;
mod run;

use clap::Parser;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "bench",
    about = "rdsfleet's fleet-scale benchmark (see BENCHMARKS.md)"
)]
pub struct Args {
    /// Fleet sizes of the planning figure.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    pub plan_sizes: Vec<usize>,
    /// Databases of the large rollout (also the resume figure).
    #[arg(long, default_value_t = 10_000)]
    pub rollout: usize,
    /// Databases in flight at once in the large rollout.
    #[arg(long, default_value_t = 2000)]
    pub rollout_concurrency: usize,
    /// Databases of the batched-versus-naive polling comparison (both on the same world;
    /// the naive poller makes millions of calls on 1,000, an hour of CPU in the simulator).
    #[arg(long, default_value_t = 500)]
    pub naive: usize,
    #[arg(long, default_value_t = 250)]
    pub naive_concurrency: usize,
    /// Databases of the makespan-versus-bound figure.
    #[arg(long, default_value_t = 500)]
    pub makespan: usize,
    #[arg(long, default_value_t = 8)]
    pub makespan_concurrency: usize,
    /// `--api-rate` of every rollout (the client-side budget per region, requests/s).
    #[arg(long, default_value_t = 8.0)]
    pub api_rate: f64,
    /// Stop a child (a rollout) that runs longer than this, and report how far it got.
    #[arg(long, default_value_t = 900)]
    pub cap_secs: u64,
    /// Figures to measure (default all): plan, rollout, resume, naive, makespan, cargo-test.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Small sizes (a smoke run); implies --no-write.
    #[arg(long)]
    pub quick: bool,
    /// Only print; leave BENCHMARKS.md alone.
    #[arg(long)]
    pub no_write: bool,
    /// The file the figures go into.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/BENCHMARKS.md"))]
    pub output: PathBuf,
    /// Working directory for worlds, plans and state files (replaced).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/target/bench"))]
    pub dir: PathBuf,
}

impl Args {
    pub fn wants(&self, figure: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| o == figure)
    }
}

fn main() {
    if let Ok(mode) = std::env::var(child::CHILD_ENV) {
        std::process::exit(child::main(&mode));
    }
    let mut args = Args::parse();
    if args.quick {
        args.plan_sizes = vec![200];
        args.rollout = 200;
        args.rollout_concurrency = 50;
        args.naive = 60;
        args.naive_concurrency = 30;
        args.makespan = 30;
        args.no_write = true;
        if args.only.is_empty() {
            args.only = ["plan", "rollout", "resume", "naive", "makespan"]
                .map(String::from)
                .to_vec();
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(run::all(&args)) {
        Ok(()) => {}
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::exit(1);
        }
    }
}
