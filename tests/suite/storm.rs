//! Crash storm (issue 11): the real binary is killed with SIGKILL at seeded random instants
//! during one simulated rollout with faults on (apply, approval of half the fleet, approval of
//! the rest, then cleanup after the retention), and resumed after each kill. Afterwards,
//! checked against the simulator's trail and the files themselves:
//! - every database is terminal;
//! - no side effect took effect twice;
//! - no switchover of a database before its approval was recorded;
//! - no instance deleted without a final snapshot, nor before its pre-upgrade snapshot was
//!   available, nor anything rdsfleet did not create or own (only `-oldN` of planned ones);
//! - the state file and the world pass `PRAGMA integrity_check`.
//!
//! `cargo test` runs a short storm (a handful of kills on a small fleet, a few seconds);
//! `RDSFLEET_CRASH_STORM=50 cargo test --test suite storm` runs the full one (50 kills).
//! `RDSFLEET_CRASH_STORM_SEED` picks another seed; a failure prints the seed and kill log.

use rdsfleet::clock::{Clock, SystemClock};
use rdsfleet::plan::{Plan, StepKind, Strategy};
use rdsfleet::sim::{SimBackend, TrailEntry};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const FAULTS: &str =
    "5xx=0.03,5xx-after=0.03,latency=800,switchover-fail=0.1,snapshot-fail=0.05,invalid-config=0.05,lag=0.3,lag-secs=60,actor-modify=0.1";

/// xorshift64*: seeded, reproducible, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in 1..=n.
    fn upto(&mut self, n: u64) -> u64 {
        1 + self.next() % n.max(1)
    }
}

struct Storm {
    dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
    rng: Rng,
    kills: usize,
    log: Vec<String>,
}

impl Storm {
    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
    fn world(&self) -> PathBuf {
        self.path("world.sqlite")
    }
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_rdsfleet"));
        c.current_dir(self.dir.path())
            .env("RDSFLEET_BACKEND", "sim")
            .env("RDSFLEET_SIM_WORLD", self.world())
            .env_remove("RUST_LOG")
            .args(args)
            .stdin(Stdio::null());
        c
    }
    fn ok(&self, args: &[&str]) -> String {
        let o = self.cmd(args).output().unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }
    fn sim(&self) -> SimBackend {
        SimBackend::open(&self.world()).unwrap()
    }
    /// Number of mutating calls in the trail.
    fn mutating_mark(&self, sim: &SimBackend) -> i64 {
        sim.trail_marks().unwrap().1
    }

    /// Run `args` to its end, killing it with SIGKILL after a random number (1..=span) of new
    /// side effects, `kills` times at most; then once more without killing. Returns the
    /// kills left unused (the run finished first).
    fn storm(&mut self, args: &[&str], kills: usize, span: u64) -> usize {
        let sim = self.sim();
        for k in 0..kills {
            let start = self.mutating_mark(&sim);
            let after = self.rng.upto(span) as i64;
            let err = self.path("stderr.txt");
            let mut child = self
                .cmd(args)
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&err).unwrap())
                .spawn()
                .unwrap();
            match wait_for_mark(&sim, &mut child, start + after, &self.rt) {
                Some(code) => {
                    self.log
                        .push(format!("{args:?} finished ({code}) before kill"));
                    assert!(
                        code == 0 || code == 1,
                        "{args:?} exit {code}: {}",
                        std::fs::read_to_string(&err).unwrap_or_default()
                    );
                    return kills - k;
                }
                None => {
                    let seen = self.mutating_mark(&sim);
                    child.kill().unwrap(); // SIGKILL
                    child.wait().unwrap();
                    self.kills += 1;
                    let now = self.mutating_mark(&sim);
                    self.log.push(format!(
                        "{args:?} killed after {} side effects (aimed at {after}, seen {})",
                        now - start,
                        seen - start
                    ));
                }
            }
        }
        let o = self.cmd(args).output().unwrap();
        let code = o.status.code().unwrap_or(-1);
        assert!(
            code == 0 || code == 1,
            "{args:?} exit {code}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        0
    }
}

/// Poll the trail until it counts `mark` mutating calls (`None`), or the child exits
/// (its exit code).
fn wait_for_mark(
    sim: &SimBackend,
    child: &mut Child,
    mark: i64,
    rt: &tokio::runtime::Runtime,
) -> Option<i32> {
    let t = Instant::now();
    loop {
        if sim.trail_marks().unwrap().1 >= mark {
            return None;
        }
        if let Some(st) = child.try_wait().unwrap() {
            return Some(st.code().unwrap_or(-1));
        }
        assert!(t.elapsed() < Duration::from_secs(120), "a run hung");
        // The observation interval of another process (through clock.rs, like all waiting);
        // nothing in the test depends on how long it is.
        rt.block_on(SystemClock.sleep(Duration::from_micros(200)));
    }
}

fn took_effect(t: &TrailEntry) -> bool {
    t.outcome == "ok" || t.params.get("sim_effect_applied") == Some(&serde_json::Value::Bool(true))
}

fn integrity(path: &Path) {
    let c = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    let r: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(r, "ok", "{}", path.display());
}

fn crash_storm(kills: usize, databases: usize, seed: u64) {
    let mut s = Storm {
        dir: crate::common::tempdir(),
        rt: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
        rng: Rng(seed.max(1)),
        kills: 0,
        log: vec![],
    };
    let size = databases.to_string();
    s.ok(&[
        "sim",
        "init",
        "--databases",
        &size,
        "--seed",
        "3",
        "--speed",
        "max",
    ]);
    s.ok(&[
        "plan",
        "--target",
        "mysql=8.0",
        "--target",
        "postgres=16",
        "-o",
        "plan.json",
        "--retention-hours",
        "24",
    ]);
    let plan = Plan::load(&s.path("plan.json")).unwrap();
    s.sim().set_faults(FAULTS).unwrap();
    let actionable: Vec<_> = plan
        .databases
        .iter()
        .filter(|d| d.is_actionable() && d.strategy == rdsfleet::plan::Strategy::BlueGreen)
        .collect();
    assert!(actionable.len() >= 4, "fleet too small");
    // The kills are split over the four phases, and each run is killed after a random number
    // of side effects up to the phase's expected number of side effects per kill (about five
    // per database up to the gate, two per switchover, two per cleanup), so they spread over
    // the whole phase.
    let n = actionable.len() as u64;
    let (ka, kb, kc) = (kills * 2 / 5, kills / 5, kills / 5);
    let span = |effects: u64, k: usize| (effects / k.max(1) as u64).max(1);
    let report = std::panic::AssertUnwindSafe(|| {
        // A: apply without approval: everything stops at the gate (or fails).
        // Kills a phase could not use (it finished first) go to the next one.
        let left = s.storm(
            &[
                "apply",
                "plan.json",
                "--state",
                "s.sqlite",
                "--concurrency",
                "4",
            ],
            ka,
            span(5 * n, ka),
        );
        // B: approve half, resume; C: approve the rest, resume.
        let half: Vec<&str> = actionable
            .iter()
            .step_by(2)
            .map(|d| d.identifier.as_str())
            .collect();
        let mut approved_at: BTreeMap<String, i64> = BTreeMap::new();
        let mut approve = |s: &mut Storm, ids: &[&str]| {
            let mut args = vec!["approve", "--state", "s.sqlite"];
            for id in ids {
                args.extend(["--db", id]);
            }
            s.ok(&args);
            let seq = s.sim().trail_marks().unwrap().0;
            for id in ids {
                approved_at.insert(id.to_string(), seq);
            }
        };
        approve(&mut s, &half);
        let k = kb + left;
        let left = s.storm(&["resume", "--state", "s.sqlite"], k, span(n, k));
        let rest: Vec<&str> = actionable
            .iter()
            .map(|d| d.identifier.as_str())
            .filter(|id| !half.contains(id))
            .collect();
        approve(&mut s, &rest);
        let k = kc + left;
        let left = s.storm(&["resume", "--state", "s.sqlite"], k, span(n, k));
        // D: after the retention, cleanup (deletes old instances with a final snapshot).
        let sim = s.sim();
        pass_time(&sim, Duration::from_secs(25 * 3600));
        drop(sim);
        let k = kills - ka - kb - kc + left;
        s.storm(&["cleanup", "--state", "s.sqlite"], k, span(2 * n, k));
        approved_at
    });
    let approved_at = match std::panic::catch_unwind(report) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("crash storm seed {seed}, kill log:\n{}", s.log.join("\n"));
            std::panic::resume_unwind(e);
        }
    };
    let ctx = format!("seed {seed}, {} kills:\n{}", s.kills, s.log.join("\n"));
    println!("crash storm, {} databases, {ctx}", actionable.len());
    check_after_storm(&s, &plan, &approved_at, &ctx);
    // The short storm's phases may finish before their kills; the full one must kill at
    // (nearly) every instant it drew.
    assert!(
        s.kills * 10 >= kills * 9 || (kills <= 10 && s.kills * 2 >= kills),
        "only {} of {kills} kills happened: the runs were too short. {ctx}",
        s.kills
    );
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Let simulated time pass in a world on virtual time (saved for the next process).
fn pass_time(sim: &SimBackend, d: Duration) {
    block_on(sim.clock().sleep(d));
}

fn check_after_storm(s: &Storm, plan: &Plan, approved_at: &BTreeMap<String, i64>, ctx: &str) {
    // Every database terminal.
    let o = s
        .cmd(&["status", "--state", "s.sqlite", "--json"])
        .output()
        .unwrap();
    let st: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for d in st["databases"].as_array().unwrap() {
        let state = d["state"].as_str().unwrap();
        assert!(
            ["done", "failed", "blocked", "skipped", "aborted"].contains(&state),
            "{} left {state}: {d}\n{ctx}",
            d["identifier"]
        );
    }
    let sim = s.sim();
    let trail = sim.trail(false).unwrap();
    // No side effect twice (names are per region: the same group name lives in two regions).
    let mut made: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    for t in trail.iter().filter(|t| t.mutating && took_effect(t)) {
        if t.action != "AddTagsToResource" && t.action != "ModifyDBParameterGroup" {
            *made
                .entry((t.region.clone(), t.action.clone(), t.resource.clone()))
                .or_default() += 1;
        }
    }
    let twice: Vec<_> = made.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "repeated side effects {twice:?}\n{ctx}");
    // Deployment identifier -> database identifier.
    let milestones = sim.milestones().unwrap();
    let by_name: BTreeMap<&str, &str> = plan
        .databases
        .iter()
        .filter_map(|d| {
            Some((
                d.resource_name(StepKind::CreateBlueGreen)?,
                d.identifier.as_str(),
            ))
        })
        .collect();
    let bgd_db: BTreeMap<&str, &str> = milestones
        .iter()
        .filter(|m| m.kind == "bgd-available")
        .filter_map(|m| Some((m.resource.as_str(), *by_name.get(m.detail.as_str())?)))
        .collect();
    // No switchover before its approval.
    let mut switched = BTreeSet::new();
    for t in trail
        .iter()
        .filter(|t| t.action == "SwitchoverBlueGreenDeployment")
    {
        let db = bgd_db
            .get(t.resource.as_str())
            .unwrap_or_else(|| panic!("switchover of an unknown deployment {}\n{ctx}", t.resource));
        let at = approved_at
            .get(*db)
            .unwrap_or_else(|| panic!("{db} switched over, never approved\n{ctx}"));
        assert!(
            t.seq > *at,
            "{db} switched over (seq {}) before its approval ({at})\n{ctx}",
            t.seq
        );
        switched.insert(*db);
    }
    assert!(
        !switched.is_empty(),
        "no switchover at all: the storm tested nothing\n{ctx}"
    );
    // No instance deleted before the pre-upgrade snapshot of its database was available, or
    // other than an old instance of a planned database; a primary with a final snapshot. An
    // old read replica has none: RDS refuses `FinalDBSnapshotIdentifier` for a read replica
    // ("If you delete a read replica ... you must enable [SkipFinalSnapshot]", DeleteDBInstance),
    // and its data is its primary's, covered by the primary's snapshot.
    let snap_ready: BTreeMap<&str, i64> = milestones
        .iter()
        .filter(|m| m.kind == "snapshot-available")
        .map(|m| (m.resource.as_str(), m.at))
        .collect();
    let mut deleted = 0;
    for t in trail
        .iter()
        .filter(|t| t.action == "DeleteDBInstance" && took_effect(t))
    {
        let p = &t.params;
        let (base, n) = t
            .resource
            .rsplit_once("-old")
            .unwrap_or_else(|| panic!("deleted {}, not an old instance\n{ctx}", t.resource));
        assert!(n.parse::<u32>().is_ok(), "{}\n{ctx}", t.resource);
        let d = plan
            .databases
            .iter()
            .find(|d| d.identifier == base && d.region == t.region)
            .unwrap_or_else(|| panic!("deleted {}: not of a planned database\n{ctx}", t.resource));
        let primary = if d.strategy == Strategy::WithSource {
            assert_eq!(p["SkipFinalSnapshot"], true, "{t:?}\n{ctx}");
            plan.databases
                .iter()
                .find(|s| s.region == d.region && s.replicas.contains(&d.identifier))
                .unwrap_or_else(|| {
                    panic!(
                        "{} deleted: a replica of no planned source\n{ctx}",
                        t.resource
                    )
                })
        } else {
            assert_eq!(p["SkipFinalSnapshot"], false, "{t:?}\n{ctx}");
            assert!(
                p["FinalDBSnapshotIdentifier"]
                    .as_str()
                    .is_some_and(|f| !f.is_empty()),
                "{t:?}\n{ctx}"
            );
            d
        };
        let snap = primary.resource_name(StepKind::Snapshot).unwrap();
        let ready = snap_ready.get(snap).unwrap_or_else(|| {
            panic!(
                "{} deleted, its snapshot {snap} never available\n{ctx}",
                t.resource
            )
        });
        assert!(
            *ready <= t.at,
            "{} deleted before its snapshot\n{ctx}",
            t.resource
        );
        deleted += 1;
    }
    assert!(
        deleted > 0,
        "cleanup deleted nothing: the storm tested nothing\n{ctx}"
    );
    drop(sim);
    integrity(&s.path("s.sqlite"));
    integrity(&s.world());
}

#[test]
fn crash_storm_sigkill_at_random_instants_then_resume() {
    let kills: usize = std::env::var("RDSFLEET_CRASH_STORM")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    let seed: u64 = std::env::var("RDSFLEET_CRASH_STORM_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_0011);
    let databases = if kills > 10 { 40 } else { 8 };
    crash_storm(kills, databases, seed);
}
