//! The figures, one function each, in the order `BENCHMARKS.md` lists them.

use crate::analyse::{analyse, Res, RunFigures};
use crate::child::{CHILD_ENV, REPORT_ENV};
use crate::figures::{duration, Limits};
use crate::machine;
use crate::Args;
use rdsfleet::clock::{Clock, SystemClock};
use rdsfleet::plan::Plan;
use rdsfleet::sim::SimBackend;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Simulated time at which every benchmark world starts (a Monday, 09:00 UTC).
const START: i64 = 1_793_610_000_000;

/// One measured figure and its goal.
pub struct Figure {
    pub name: String,
    pub value: String,
    pub goal: &'static str,
    /// `None`: no goal (information), or not measured.
    pub met: Option<bool>,
}

impl Figure {
    fn line(&self) -> String {
        let verdict = match self.met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "",
        };
        if self.goal.is_empty() {
            format!("{}: {}", self.name, self.value)
        } else {
            format!(
                "{}: {}  [goal: {}: {verdict}]",
                self.name, self.value, self.goal
            )
        }
    }
}

/// What a child process did.
pub struct Done {
    pub code: i32,
    /// Killed after `--cap-secs`.
    pub capped: bool,
    pub wall: Duration,
    pub report: Value,
    pub stdout: String,
    pub stderr: String,
}

impl Done {
    fn peak_mib(&self) -> f64 {
        self.report["peak_rss_kib"].as_f64().unwrap_or(f64::NAN) / 1024.0
    }
}

struct Bench<'a> {
    args: &'a Args,
    exe: PathBuf,
    figures: Vec<Figure>,
    /// Calls of the large rollout's apply, and its world before apply (for the resume figure).
    rollout_calls: Option<i64>,
}

pub async fn all(args: &Args) -> Res<()> {
    if args.dir.exists() {
        std::fs::remove_dir_all(&args.dir)?;
    }
    std::fs::create_dir_all(&args.dir)?;
    let machine = machine::describe();
    println!("machine: {machine}");
    let mut b = Bench {
        args,
        exe: std::env::current_exe()?,
        figures: vec![],
        rollout_calls: None,
    };
    if args.wants("plan") {
        for &n in &args.plan_sizes {
            b.plan(n).await?;
        }
    }
    if args.wants("rollout") || args.wants("resume") {
        b.rollout().await?;
    }
    if args.wants("resume") {
        b.resume().await?;
    }
    if args.wants("naive") {
        b.naive().await?;
    }
    if args.wants("makespan") {
        b.makespan(false).await?;
        b.makespan(true).await?;
    }
    if args.wants("cargo-test") {
        b.cargo_test()?;
    }
    if !args.no_write {
        let old = machine::read_block(&args.output);
        machine::write_block(&args.output, &b.render(&machine, &old))?;
        println!("written to {}", args.output.display());
    }
    Ok(())
}

fn s(v: impl ToString) -> String {
    v.to_string()
}

/// Copy a world file (and its WAL, if a process left one) to `to`.
fn copy_world(from: &Path, to: &Path) -> Res<()> {
    for suffix in ["", "-wal", "-shm"] {
        let f = PathBuf::from(format!("{}{suffix}", from.display()));
        if f.exists() {
            std::fs::copy(&f, format!("{}{suffix}", to.display()))?;
        }
    }
    Ok(())
}

/// The sequence number of the world's last trail entry, and the number of mutating calls.
fn marks(world: &Path) -> Res<(i64, i64)> {
    Ok(SimBackend::open(world)?.trail_marks()?)
}

impl Bench<'_> {
    fn push(&mut self, f: Figure) {
        println!("{}", f.line());
        self.figures.push(f);
    }

    /// A child process of this binary in `mode`, in `cwd`, on the simulated `world`.
    fn command(&self, mode: &str, cwd: &Path, world: &Path, args: &[String]) -> (Command, PathBuf) {
        let report = cwd.join(format!("child-{}.json", self.figures.len()));
        let _ = std::fs::remove_file(&report);
        let mut c = Command::new(&self.exe);
        c.args(args)
            .current_dir(cwd)
            .env(CHILD_ENV, mode)
            .env(REPORT_ENV, &report)
            .env("RDSFLEET_BACKEND", "sim")
            .env("RDSFLEET_SIM_WORLD", world)
            .env_remove("RUST_LOG");
        (c, report)
    }

    /// Run a child to its end, or SIGKILL it after `--cap-secs` (then `capped` is set).
    async fn run(&self, mode: &str, cwd: &Path, world: &Path, args: &[String]) -> Res<Done> {
        let (mut c, report) = self.command(mode, cwd, world, args);
        let (out, err) = (cwd.join("child.stdout"), cwd.join("child.stderr"));
        let t = Instant::now();
        let mut child = c
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out)?)
            .stderr(std::fs::File::create(&err)?)
            .spawn()?;
        let cap = Duration::from_secs(self.args.cap_secs);
        let mut capped = false;
        let mut peak = None;
        let status = loop {
            if let Some(st) = child.try_wait()? {
                break st;
            }
            if t.elapsed() > cap {
                // Its peak memory so far, read before it goes.
                peak = crate::child::peak_rss_kib_of(&format!("/proc/{}/status", child.id()));
                child.kill()?; // SIGKILL
                capped = true;
                break child.wait()?;
            }
            SystemClock.sleep(Duration::from_millis(20)).await;
        };
        let wall = t.elapsed();
        let report = std::fs::read_to_string(&report)
            .ok()
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_else(|| serde_json::json!({ "peak_rss_kib": peak }));
        Ok(Done {
            code: status.code().unwrap_or(-1),
            capped,
            wall,
            report,
            stdout: std::fs::read_to_string(&out).unwrap_or_default(),
            stderr: std::fs::read_to_string(&err).unwrap_or_default(),
        })
    }

    /// Run the rdsfleet command line; fail unless it exits 0.
    async fn cli(&self, cwd: &Path, world: &Path, args: &[String]) -> Res<Done> {
        let d = self.run("cli", cwd, world, args).await?;
        if d.code != 0 || d.capped {
            return Err(format!(
                "rdsfleet {} exited {}{}:\n{}\n{}",
                args.join(" "),
                d.code,
                if d.capped {
                    " (killed at --cap-secs)"
                } else {
                    ""
                },
                d.stdout,
                d.stderr
            )
            .into());
        }
        Ok(d)
    }

    /// A fresh directory with a clean `n`-database world on virtual time and its plan.
    /// `throttle`: the simulated RDS throttles (300 burst, 12/s per region) as AWS does.
    async fn setup(
        &self,
        name: &str,
        n: usize,
        policy: bool,
        throttle: bool,
    ) -> Res<(PathBuf, PathBuf)> {
        let d = self.args.dir.join(name);
        std::fs::create_dir_all(&d)?;
        let world = d.join("world.sqlite");
        eprintln!("bench: {name}: sim init + plan ({n} databases)");
        // In-process, at a fixed simulated start: resource names derive from the plan id,
        // which hashes the plan's creation time, and durations are drawn per resource name,
        // so a fixed start makes every figure reproducible (wall times aside).
        let opts = rdsfleet::sim::InitOptions {
            databases: n,
            seed: 1,
            speed: f64::INFINITY,
            clean: true,
            // Every upgrade keeps its old instance until cleanup: the operator raised the
            // quota first (as `demo` does).
            instance_quota: Some(2 * n as i64 + 40),
            ..rdsfleet::sim::InitOptions::default()
        };
        let opts = if throttle {
            opts
        } else {
            rdsfleet::sim::InitOptions {
                throttle_burst: 1e12,
                throttle_rate: 1e12,
                ..opts
            }
        };
        rdsfleet::sim::init_world(&world, &opts, START)?;
        let mut plan = [
            "plan",
            "-q",
            "--target",
            "mysql=8.0",
            "--target",
            "postgres=16",
            "-o",
            "plan.json",
        ]
        .map(s)
        .to_vec();
        if policy {
            std::fs::write(
                d.join("policy.toml"),
                "# The default policy: every setting at its default.\n",
            )?;
            plan.extend(["--policy", "policy.toml"].map(s));
        }
        self.cli(&d, &world, &plan).await?;
        // The plan is reviewed before it is applied: let 15 minutes of simulated time pass
        // (virtual time stands still between processes otherwise).
        SimBackend::open(&world)?
            .clock()
            .sleep(Duration::from_secs(900))
            .await;
        Ok((d, world))
    }

    fn apply_args(&self, state: &str, concurrency: usize) -> Vec<String> {
        [
            "apply",
            "plan.json",
            "-q",
            "--state",
            state,
            "--approve-switchover",
            "--concurrency",
            &concurrency.to_string(),
            "--api-rate",
            &self.args.api_rate.to_string(),
        ]
        .map(s)
        .to_vec()
    }

    async fn plan(&mut self, n: usize) -> Res<()> {
        let d = self.args.dir.join("plan");
        std::fs::create_dir_all(&d)?;
        let r = self
            .run("plan", &d, &d.join("none"), &[n.to_string()])
            .await?;
        let plan_ms = r.report["plan_ms"].as_f64().unwrap_or(f64::NAN);
        let total_ms = r.report["total_ms"].as_f64().unwrap_or(f64::NAN);
        let big = n >= 10_000;
        self.push(Figure {
            name: format!("plan, {n} databases"),
            value: format!(
                "plan {plan_ms:.1} ms, load+plan+JSON+report {total_ms:.1} ms, process {:.2} s, peak {:.0} MB",
                r.wall.as_secs_f64(),
                r.peak_mib()
            ),
            goal: if big {
                "10,000 in under 0.5 s (load+plan+JSON+report) and 200 MB"
            } else {
                ""
            },
            met: big.then(|| total_ms < 500.0 && r.peak_mib() < 200.0),
        });
        Ok(())
    }

    async fn rollout(&mut self) -> Res<()> {
        let (n, c) = (self.args.rollout, self.args.rollout_concurrency);
        let (d, world) = self.setup(&format!("rollout-{n}"), n, false, true).await?;
        copy_world(&world, &d.join("resume-world.sqlite"))?;
        let since = marks(&world)?.0;
        eprintln!("bench: rollout-{n}: apply (concurrency {c})");
        let r = self
            .run("cli", &d, &world, &self.apply_args("state.sqlite", c))
            .await?;
        if r.code != 0 && !r.capped {
            return Err(format!("apply exited {}: {}", r.code, r.stderr).into());
        }
        let f = analyse(&world, &d.join("state.sqlite"), since, None)?;
        self.rollout_calls = Some(f.calls as i64);
        if !self.args.wants("rollout") {
            return Ok(());
        }
        let wall = r.wall.as_secs_f64();
        let stopped = if r.capped {
            format!("STOPPED at --cap-secs {}: ", self.args.cap_secs)
        } else {
            String::new()
        };
        self.push(Figure {
            name: format!("rollout, {n} databases, virtual time, 2 regions, concurrency {c}"),
            value: format!(
                "{stopped}wall {wall:.1} s, {:.0} steps/s, peak {:.0} MB; {} of {} databases done, simulated makespan {}{}",
                f.steps_done as f64 / wall,
                r.peak_mib(),
                f.done,
                f.planned,
                duration(f.makespan_ms),
                repeated(&f)
            ),
            goal: "under 30 s wall and 300 MB",
            met: Some(!r.capped && wall < 30.0 && r.peak_mib() < 300.0 && f.not_done == 0),
        });
        self.push(Figure {
            name: format!(
                "API calls per database, rollout of {n}{}",
                if r.capped { " (so far)" } else { "" }
            ),
            value: format!(
                "{:.1} ({} calls, {} mutating, {} throttled by the simulated RDS)",
                f.calls as f64 / f.planned as f64,
                f.calls,
                f.mutating,
                f.throttled
            ),
            goal: "",
            met: None,
        });
        self.api_peak(&f, &format!("rollout of {n}"));
        Ok(())
    }

    fn api_peak(&mut self, f: &RunFigures, what: &str) {
        let rate = self.args.api_rate;
        let peaks: Vec<String> = f.peak_1s.iter().map(|(r, p)| format!("{r} {p}")).collect();
        self.push(Figure {
            name: format!("peak API calls per region in any 1 s of simulated time, {what}"),
            value: format!(
                "{} (--api-rate {rate}; every page of a describe counts)",
                peaks.join(", ")
            ),
            goal: "never above --api-rate",
            met: Some(f.peak_1s.values().all(|p| *p as f64 <= rate)),
        });
    }

    /// Kill an apply of the large rollout with SIGKILL halfway (by calls), then time how long
    /// `resume` takes to make its first new side effect (seen in the simulator's trail).
    async fn resume(&mut self) -> Res<()> {
        let n = self.args.rollout;
        let d = self.args.dir.join(format!("rollout-{n}"));
        let world = d.join("resume-world.sqlite");
        let total = self.rollout_calls.ok_or("the rollout figure did not run")?;
        let (start, _) = marks(&world)?;
        let args = self.apply_args("resume.sqlite", self.args.rollout_concurrency);
        let (mut c, _) = self.command("cli", &d, &world, &args);
        let mut child = c.stdout(Stdio::null()).stderr(Stdio::null()).spawn()?;
        let sim = SimBackend::open(&world)?;
        let at = start + total / 2;
        eprintln!("bench: resume: apply, SIGKILL after {} calls", total / 2);
        while sim.trail_marks()?.0 < at {
            if child.try_wait()?.is_some() {
                return Err("the apply finished before it could be killed".into());
            }
            SystemClock.sleep(Duration::from_millis(5)).await;
        }
        child.kill()?; // SIGKILL
        child.wait()?;
        let (killed_at, effects_at_kill) = sim.trail_marks()?;
        let resume = [
            "resume",
            "-q",
            "--state",
            "resume.sqlite",
            "--concurrency",
            &self.args.rollout_concurrency.to_string(),
            "--api-rate",
            &self.args.api_rate.to_string(),
        ]
        .map(s);
        let (mut c, _) = self.command("cli", &d, &world, &resume);
        let t = Instant::now();
        let mut child = c.stdout(Stdio::null()).stderr(Stdio::null()).spawn()?;
        let first = first_new_effect(&sim, &mut child, effects_at_kill).await;
        let _ = child.kill();
        child.wait()?;
        let first = first?.map(|_| t.elapsed());
        self.push(Figure {
            name: format!("resume of a {n}-database state file killed mid-run (SIGKILL after {} of {total} calls)", killed_at - start),
            value: match first {
                Some(w) => format!("first new side effect {:.2} s after start", w.as_secs_f64()),
                None => "no new side effect (the resumed run finished without one)".into(),
            },
            goal: "under 2 s",
            met: Some(first.is_some_and(|w| w.as_secs_f64() < 2.0)),
        });
        Ok(())
    }

    async fn naive(&mut self) -> Res<()> {
        let (n, c) = (self.args.naive, self.args.naive_concurrency);
        // Throttling off: see naive.rs.
        let (d, world) = self.setup(&format!("naive-{n}"), n, false, false).await?;
        let other = d.join("naive-world.sqlite");
        copy_world(&world, &other)?;
        eprintln!("bench: naive-{n}: batched apply");
        let since = marks(&world)?.0;
        self.cli(&d, &world, &self.apply_args("state.sqlite", c))
            .await?;
        let batched = analyse(&world, &d.join("state.sqlite"), since, None)?;
        eprintln!("bench: naive-{n}: naive apply");
        let since = marks(&other)?.0;
        let args = [
            other.display().to_string(),
            "plan.json".into(),
            "naive-state.sqlite".into(),
            c.to_string(),
            self.args.api_rate.to_string(),
        ];
        let r = self.run("naive", &d, &other, &args).await?;
        if r.code != 0 && !r.capped {
            return Err(format!("naive apply exited {}: {}", r.code, r.stderr).into());
        }
        let naive = analyse(&other, &d.join("naive-state.sqlite"), since, None)?;
        let per = |f: &RunFigures| f.calls as f64 / f.planned as f64;
        let ratio = per(&naive) / per(&batched);
        // Stopped at the cap, the naive poller's count so far is a lower bound of its figure.
        let (at_least, so_far) = if r.capped {
            ("at least ", " so far")
        } else {
            ("", "")
        };
        self.push(Figure {
            name: format!(
                "API calls per database, {n} databases, concurrency {c}, same world, RDS throttling off"
            ),
            value: format!(
                "batched {:.1}, naive one-describe-per-database poller {at_least}{:.1}{so_far}: {at_least}{ratio:.1}x fewer (done: {} and {}; simulated makespan {} and {})",
                per(&batched),
                per(&naive),
                batched.done,
                naive.done,
                duration(batched.makespan_ms),
                duration(naive.makespan_ms)
            ),
            goal: "at least 20x fewer",
            met: Some(ratio >= 20.0),
        });
        Ok(())
    }

    async fn makespan(&mut self, policy: bool) -> Res<()> {
        let (n, c) = (self.args.makespan, self.args.makespan_concurrency);
        let label = if policy {
            "default policy"
        } else {
            "no policy"
        };
        let name = format!("makespan-{n}-{}", label.replace(' ', "-"));
        let (d, world) = self.setup(&name, n, policy, true).await?;
        let plan = Plan::load(&d.join("plan.json"))?;
        let limits = Limits {
            account: c,
            region: plan.policy.as_ref().map(|p| p.concurrency.per_region),
            wave: plan
                .waves
                .iter()
                .filter_map(|w| Some((w.number, w.concurrency?)))
                .collect(),
        };
        eprintln!("bench: {name}: apply");
        let since = marks(&world)?.0;
        self.cli(&d, &world, &self.apply_args("state.sqlite", c))
            .await?;
        let f = analyse(&world, &d.join("state.sqlite"), since, Some(&limits))?;
        let bound = f.bound_ms.unwrap_or(0).max(1);
        let over = (f.makespan_ms as f64 / bound as f64 - 1.0) * 100.0;
        self.push(Figure {
            name: format!("makespan, {n} databases, {label}, concurrency {c}"),
            value: format!(
                "{} against a lower bound of {} ({over:+.1}%); {} of {} done{}",
                duration(f.makespan_ms),
                duration(bound),
                f.done,
                f.planned,
                repeated(&f)
            ),
            goal: "within 5% of the bound",
            met: Some(over <= 5.0 && f.not_done == 0),
        });
        Ok(())
    }

    fn cargo_test(&mut self) -> Res<()> {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let root = env!("CARGO_MANIFEST_DIR");
        eprintln!("bench: cargo test (building first, untimed)");
        Command::new(&cargo)
            .args(["test", "--no-run", "-q"])
            .current_dir(root)
            .status()?;
        let t = Instant::now();
        let o = Command::new(&cargo)
            .args(["test", "-q"])
            .current_dir(root)
            .output()?;
        let wall = t.elapsed().as_secs_f64();
        self.push(Figure {
            name: "cargo test, warm, this machine".into(),
            value: format!(
                "{wall:.0} s wall ({})",
                if o.status.success() {
                    "passed"
                } else {
                    "FAILED"
                }
            ),
            goal: "",
            met: None,
        });
        Ok(())
    }

    /// The block of BENCHMARKS.md between the markers. With `--only`, the rows of the
    /// figures not measured this time are kept from `old` (the current block), marked as from
    /// the earlier run.
    fn render(&self, machine: &str, old: &str) -> String {
        let date = rdsfleet::clock::rfc3339(rdsfleet::clock::wall_now());
        let mut s = format!(
            "Measured {date} on: {machine}.\n\n| figure | measured | goal | |\n|---|---|---|---|\n"
        );
        let mut rows: Vec<(String, String)> = vec![];
        for f in &self.figures {
            let verdict = match f.met {
                Some(true) => "met",
                Some(false) => "**missed** (see notes)",
                None => "",
            };
            let row = format!(
                "| {} | {} | {} | {verdict} |",
                f.name,
                f.value.replace('|', "/"),
                f.goal
            );
            rows.push((f.name.clone(), row));
        }
        if !self.args.only.is_empty() {
            // In the old order: re-measured rows replace theirs, the others stay, marked.
            let mut merged = vec![];
            for line in old
                .lines()
                .filter(|l| l.starts_with("| ") && !l.starts_with("| figure"))
            {
                let name = line[2..]
                    .split(" | ")
                    .next()
                    .unwrap_or_default()
                    .to_string();
                if let Some(i) = rows.iter().position(|(n, _)| *n == name) {
                    merged.push(rows.remove(i));
                } else if line.ends_with("(earlier run) |") {
                    merged.push((name, line.to_string()));
                } else {
                    let marked = format!("{} (earlier run) |", line.trim_end_matches(" |"));
                    merged.push((name, marked));
                }
            }
            merged.extend(rows);
            rows = merged;
        }
        for (_, row) in rows {
            s.push_str(&row);
            s.push('\n');
        }
        s
    }
}

fn repeated(f: &RunFigures) -> String {
    if f.repeated.is_empty() {
        String::new()
    } else {
        format!("; REPEATED SIDE EFFECTS: {}", f.repeated.join(", "))
    }
}

/// Wait until the world's trail has more than `after` mutating calls; `None` if the child
/// ends first.
async fn first_new_effect(sim: &SimBackend, child: &mut Child, after: i64) -> Res<Option<()>> {
    loop {
        if sim.trail_marks()?.1 > after {
            return Ok(Some(()));
        }
        if child.try_wait()?.is_some() {
            return Ok((sim.trail_marks()?.1 > after).then_some(()));
        }
        SystemClock.sleep(Duration::from_millis(2)).await;
    }
}
