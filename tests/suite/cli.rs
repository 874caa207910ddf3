//! Tests of the real binary: the CLI contract, exit codes, and SIGKILL during `apply`
//! followed by `resume`, checked through `inventory` and `sim trail` (not the state file).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_rdsfleet")
}

struct Cli {
    dir: tempfile::TempDir,
}

impl Cli {
    fn new() -> Cli {
        Cli {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
    fn cmd(&self) -> Command {
        let mut c = Command::new(bin());
        c.current_dir(self.dir.path())
            .env("RDSFLEET_BACKEND", "sim")
            .env("RDSFLEET_SIM_WORLD", self.path("world.sqlite"))
            .env_remove("RUST_LOG");
        c
    }
    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }
    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "{args:?} failed ({:?}):\n{}\n{}",
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }
    fn json(&self, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

#[test]
fn bad_input_exits_2_and_changes_nothing() {
    let c = Cli::new();
    c.ok(&["sim", "init", "--databases", "4", "--clean"]);
    let o = c.run(&["plan", "--target", "mysql"]);
    assert_eq!(code(&o), 2, "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("error"));
    let o = c.run(&["apply", "no-such-plan.json"]);
    assert_eq!(code(&o), 2);
    let o = c.run(&["status", "--state", "nope.sqlite"]);
    assert_eq!(code(&o), 2);
    // Plan and apply act in one account: several profiles are refused before anything runs.
    let o = c.run(&[
        "plan",
        "--profile",
        "a",
        "--profile",
        "b",
        "--target",
        "mysql=8.0",
    ]);
    assert_eq!(code(&o), 2);
    assert!(String::from_utf8_lossy(&o.stderr).contains("one account"));
    let o = c.run(&[
        "inventory",
        "--backend",
        "sim",
        "--sim-world",
        "missing.sqlite",
    ]);
    assert_eq!(code(&o), 2);
    assert!(String::from_utf8_lossy(&o.stderr).contains("sim init"));
    // A tampered plan is refused.
    c.ok(&["plan", "--target", "mysql=8.0", "-o", "p.json"]);
    let text = std::fs::read_to_string(c.path("p.json")).unwrap();
    std::fs::write(
        c.path("p.json"),
        text.replacen("\"wave\": 1", "\"wave\": 2", 1),
    )
    .unwrap();
    let o = c.run(&["apply", "p.json", "--state", "s.sqlite"]);
    assert_eq!(code(&o), 2, "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        !c.path("s.sqlite").exists(),
        "nothing may be written for a refused plan"
    );
    assert!(
        c.ok(&["sim", "trail", "--json"]).trim() == "[]",
        "no mutating call may happen"
    );
}

#[test]
fn inventory_json_has_the_contract_fields() {
    let c = Cli::new();
    c.ok(&["sim", "init", "--databases", "6", "--seed", "2"]);
    let v = c.json(&["inventory", "--format", "json"]);
    let a = v.as_array().unwrap();
    assert!(a.len() >= 6);
    for k in [
        "region",
        "identifier",
        "arn",
        "engine",
        "engine_version",
        "status",
        "instance_class",
        "parameter_groups",
        "read_replica_source",
        "read_replicas",
        "backup_retention_period",
        "deletion_protection",
        "tags",
    ] {
        assert!(a[0].get(k).is_some(), "missing {k}: {}", a[0]);
    }
}

/// Start `apply`, kill it with SIGKILL after `kill_after` side-effect intents, then `resume`
/// until it finishes. Returns the number of kills that happened.
fn apply_with_kill(c: &Cli, args: &[&str], kill_after: usize) -> bool {
    let mut child = c
        .cmd()
        .args(args)
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut seen = 0;
    let mut killed = false;
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        if line.contains("intent:") {
            seen += 1;
            if seen == kill_after {
                child.kill().unwrap(); // SIGKILL
                killed = true;
                break;
            }
        }
    }
    child.wait().unwrap();
    killed
}

#[test]
fn sigkill_during_apply_then_resume_finishes_without_repeating_anything() {
    let c = Cli::new();
    c.ok(&[
        "sim",
        "init",
        "--databases",
        "12",
        "--seed",
        "4",
        "--clean",
        "--speed",
        "3000",
    ]);
    c.ok(&[
        "plan",
        "--target",
        "mysql=8.0",
        "--target",
        "postgres=16",
        "-o",
        "plan.json",
    ]);
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(c.path("plan.json")).unwrap()).unwrap();
    let to_upgrade: Vec<(String, String)> = plan["databases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["strategy"] != "skip" && d["blockers"].as_array().unwrap().is_empty())
        .map(|d| {
            (
                d["identifier"].as_str().unwrap().to_string(),
                d["to_version"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let sources = plan["databases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["strategy"] == "blue-green" && d["blockers"].as_array().unwrap().is_empty())
        .count();
    assert!(to_upgrade.len() >= 8 && sources >= 8);
    // Phase 1: no approval. Kill mid-way, resume to the gate.
    let killed = apply_with_kill(
        &c,
        &[
            "apply",
            "plan.json",
            "--state",
            "s.sqlite",
            "--concurrency",
            "4",
        ],
        7,
    );
    assert!(killed, "apply finished before it could be killed");
    let o = c.run(&["resume", "--state", "s.sqlite"]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let st = c.json(&["status", "--state", "s.sqlite", "--json"]);
    assert!(
        st["counts"]["awaiting-approval"].as_u64().unwrap() >= 8,
        "{st}"
    );
    let trail = c.json(&["sim", "trail", "--json"]);
    assert!(
        !trail
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["action"] == "SwitchoverBlueGreenDeployment"),
        "switchover before approval"
    );
    // Phase 2: approve; kill during the switchovers; resume until done.
    let killed = apply_with_kill(
        &c,
        &["resume", "--state", "s.sqlite", "--approve-switchover"],
        3,
    );
    assert!(killed);
    let mut last = -1;
    for _ in 0..5 {
        let o = c.run(&["resume", "--state", "s.sqlite"]);
        last = code(&o);
        if last == 0 {
            break;
        }
    }
    assert_eq!(last, 0);
    // Checked through inventory: every upgraded database is on its target version.
    let inv = c.json(&["inventory", "--format", "json"]);
    let by_id: std::collections::HashMap<String, &serde_json::Value> = inv
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["identifier"].as_str().unwrap().to_string(), i))
        .collect();
    for (id, to) in &to_upgrade {
        assert_eq!(by_id[id]["engine_version"].as_str().unwrap(), to, "{id}");
        assert!(by_id.contains_key(&format!("{id}-old1")), "{id}-old1 kept");
    }
    // Exactly one snapshot, one blue/green creation and one switchover per database.
    let trail = c.json(&["sim", "trail", "--json"]);
    for action in [
        "CreateDBSnapshot",
        "CreateBlueGreenDeployment",
        "SwitchoverBlueGreenDeployment",
    ] {
        let n = trail
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["action"] == action && t["outcome"] == "ok")
            .count();
        assert_eq!(n, sources, "{action}");
    }
}

#[test]
fn demo_runs_end_to_end() {
    let c = Cli::new();
    let o = c.run(&["demo", "--databases", "10", "--speed", "5000", "--dir", "d"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(code(&o), 0, "{out}\n{}", String::from_utf8_lossy(&o.stderr));
    // The interesting cases by default: blocked with fixes, the gate, a staged failure.
    for want in [
        "Staged problem cases",
        "Staged failure: the simulator will roll back the switchover of",
        "stopped at the approval gate",
        "failed: switchover failed",
        "behaved as designed",
        "run-report.html",
    ] {
        assert!(out.contains(want), "demo output lacks {want:?}:\n{out}");
    }
    assert!(Path::new(&c.path("d/plan.md")).exists());
    assert!(Path::new(&c.path("d/run-report.html")).exists());
    // --clean: nothing staged, everything done.
    let o = c.run(&[
        "demo",
        "--databases",
        "6",
        "--speed",
        "5000",
        "--dir",
        "d2",
        "--clean",
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(code(&o), 0, "{out}");
    assert!(
        !out.contains("Staged failure") && out.contains("behaved as designed"),
        "{out}"
    );
}

/// Start `apply` with `-v` and return the child once it has logged its first side-effect intent.
// The child is handed to the caller, who waits on it; clippy can't see through the return.
#[allow(clippy::zombie_processes)]
fn start_apply_until_first_intent(
    c: &Cli,
    args: &[&str],
) -> (std::process::Child, BufReader<std::process::ChildStderr>) {
    let mut child = c
        .cmd()
        .args(args)
        .arg("-v")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        if err.read_line(&mut line).unwrap_or(0) == 0 {
            let status = child.wait().unwrap();
            panic!("apply ended ({status}) before its first side effect");
        }
        if line.contains("intent:") {
            return (child, err);
        }
    }
}

#[test]
fn ctrl_c_stops_cleanly_with_a_resume_hint_and_a_second_apply_names_the_lock_holder() {
    let c = Cli::new();
    // Slow simulated time, so the run is still going when we interrupt it.
    c.ok(&[
        "sim",
        "init",
        "--databases",
        "6",
        "--seed",
        "4",
        "--clean",
        "--speed",
        "20",
    ]);
    c.ok(&[
        "plan",
        "--target",
        "mysql=8.0",
        "--target",
        "postgres=16",
        "-o",
        "plan.json",
    ]);
    let (mut child, mut err) =
        start_apply_until_first_intent(&c, &["apply", "plan.json", "--state", "s.sqlite"]);
    // A second apply on the same state file fails at once, naming the holder.
    let o = c.run(&["apply", "plan.json", "--state", "s.sqlite"]);
    assert_eq!(code(&o), 2);
    let msg = String::from_utf8_lossy(&o.stderr);
    assert!(msg.contains(&format!("pid {}", child.id())), "{msg}");
    // Ctrl-C: stop, persist, exit 1 with a resume hint.
    let st = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    let status = child.wait().unwrap();
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    assert_eq!(status.code(), Some(1), "{out}\n{rest}");
    assert!(out.contains("rdsfleet resume --state s.sqlite"), "{out}");
    // The lock was released, and resume goes on from the saved state.
    let st = c.json(&["status", "--state", "s.sqlite", "--json"]);
    assert!(
        st["databases"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["step"].is_string()),
        "{st}"
    );
}

#[tokio::test]
async fn apply_refuses_a_plan_the_fleet_no_longer_matches() {
    use rdsfleet::backend::{InstanceQuery, RdsBackend};
    let c = Cli::new();
    c.ok(&["sim", "init", "--databases", "6", "--seed", "9", "--clean"]);
    c.ok(&[
        "plan",
        "--target",
        "mysql=8.0",
        "--target",
        "postgres=16",
        "-o",
        "plan.json",
    ]);
    let plan = rdsfleet::plan::Plan::load(&c.path("plan.json")).unwrap();
    let victim = plan
        .databases
        .iter()
        .find(|d| d.is_actionable() && d.replicas.is_empty())
        .unwrap();
    // Somebody deletes a planned instance behind rdsfleet's back.
    let sim = rdsfleet::sim::SimBackend::open(&c.path("world.sqlite")).unwrap();
    if victim.source.deletion_protection {
        sim.set_deletion_protection(&victim.region, &victim.identifier, false)
            .await
            .unwrap();
    }
    sim.delete_instance(&victim.region, &victim.identifier, "someone-elses-final")
        .await
        .unwrap();
    let before = sim.trail(true).unwrap().len();
    let o = c.run(&[
        "apply",
        "plan.json",
        "--state",
        "s.sqlite",
        "--approve-switchover",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(code(&o), 2, "{err}");
    assert!(
        err.contains(&victim.identifier) && err.contains("drift"),
        "{err}"
    );
    assert!(
        !c.path("s.sqlite").exists(),
        "a refused apply writes no state"
    );
    assert_eq!(
        sim.trail(true).unwrap().len(),
        before,
        "a refused apply changes nothing"
    );
    let _ = sim
        .describe_instances(&victim.region, &InstanceQuery::default())
        .await
        .unwrap();
}

/// Regression: `sim init` with the default world path must work in a directory without `state/`.
#[test]
fn sim_init_creates_the_world_directory() {
    let c = Cli::new();
    let o = c
        .cmd()
        .env_remove("RDSFLEET_SIM_WORLD")
        .args(["sim", "init", "--databases", "3"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(c.path("state/sim-world.sqlite").exists());
}

#[test]
fn policy_waves_are_approved_wave_by_wave() {
    let c = Cli::new();
    c.ok(&[
        "sim",
        "init",
        "--databases",
        "12",
        "--seed",
        "6",
        "--clean",
        "--speed",
        "5000",
    ]);
    std::fs::write(
        c.path("policy.toml"),
        "[switchover]\nreadiness_stable_secs = 60\n\n[[wave]]\nname = \"dev\"\nselect = [\"tag:env=dev\"]\n\n[[wave]]\nname = \"rest\"\nselect = [\"tag:env=staging\", \"tag:env=prod\"]\n",
    )
    .unwrap();
    c.ok(&[
        "plan",
        "--policy",
        "policy.toml",
        "--target",
        "mysql=8.0",
        "--target",
        "postgres=16",
        "-o",
        "p.json",
    ]);
    let plan = rdsfleet::plan::Plan::load(&c.path("p.json")).unwrap();
    assert_eq!(plan.waves.len(), 2);
    assert!(plan.policy.is_some(), "the policy is embedded in the plan");
    let o = c.run(&["apply", "p.json", "--state", "s.sqlite"]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let wave_states = |st: &serde_json::Value, w: u64| -> Vec<String> {
        st["databases"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["wave"] == w && d["state"] != "skipped" && d["state"] != "blocked")
            .map(|d| d["state"].as_str().unwrap().to_string())
            .collect()
    };
    let st = c.json(&["status", "--state", "s.sqlite", "--json"]);
    assert!(
        wave_states(&st, 1).iter().all(|s| s == "awaiting-approval"),
        "{st}"
    );
    assert!(wave_states(&st, 2).iter().all(|s| s == "pending"), "{st}");
    c.ok(&["approve", "--state", "s.sqlite", "--wave", "1"]);
    let o = c.run(&["resume", "--state", "s.sqlite"]);
    assert_eq!(code(&o), 0);
    let st = c.json(&["status", "--state", "s.sqlite", "--json"]);
    assert!(wave_states(&st, 1).iter().all(|s| s == "done"), "{st}");
    assert!(
        wave_states(&st, 2).iter().all(|s| s == "awaiting-approval"),
        "{st}"
    );
    c.ok(&["approve", "--state", "s.sqlite", "--wave", "2"]);
    let o = c.run(&["resume", "--state", "s.sqlite"]);
    assert_eq!(code(&o), 0);
    let st = c.json(&["status", "--state", "s.sqlite", "--json"]);
    assert!(wave_states(&st, 2).iter().all(|s| s == "done"), "{st}");
    // Approvals are recorded on the run's clock (the simulator's, which runs ahead of the
    // wall clock here), so they sit in order among its events.
    let store = rdsfleet::store::Store::open(&c.path("s.sqlite")).unwrap();
    let events = store.events(None).unwrap();
    let mut approvals = 0;
    for (i, e) in events.iter().enumerate() {
        if e.kind == "switchover-approved" {
            approvals += 1;
            let before = events[..i].iter().map(|e| e.at).max().unwrap();
            assert!(
                e.at >= before,
                "approval at {} before earlier events ({before})",
                e.at
            );
        }
    }
    assert!(approvals > 0);
    let report = c.ok(&["report", "--state", "s.sqlite"]);
    assert!(
        report.contains("## Timeline") && report.contains("makespan"),
        "{report}"
    );
}

/// Every command's `--help` works (exit 0) and shows an example; completions for the three
/// shells; bad input is refused with exit 2, says what changed (nothing) and what to run next.
#[test]
fn help_completions_and_bad_input_say_what_to_do_next() {
    let c = Cli::new();
    for cmd in [
        vec!["--help"],
        vec!["demo", "--help"],
        vec!["sim", "init", "--help"],
        vec!["sim", "trail", "--help"],
        vec!["inventory", "--help"],
        vec!["plan", "--help"],
        vec!["apply", "--help"],
        vec!["resume", "--help"],
        vec!["status", "--help"],
        vec!["report", "--help"],
        vec!["approve", "--help"],
        vec!["cleanup", "--help"],
        vec!["abort", "--help"],
        vec!["iam-policy", "--help"],
        vec!["completions", "--help"],
    ] {
        let help = c.ok(&cmd);
        assert!(help.contains("Examples:\n  rdsfleet "), "{cmd:?}:\n{help}");
    }
    let demo_help = c.ok(&["demo", "--help"]);
    for global_only in ["--profile", "--endpoint-url", "--region", "--backend"] {
        assert!(
            !demo_help.contains(global_only),
            "demo --help shows {global_only}"
        );
    }
    for shell in ["bash", "zsh", "fish"] {
        let script = c.ok(&["completions", shell]);
        assert!(
            script.contains("rdsfleet") && script.len() > 1000,
            "{shell}"
        );
    }
    // The example `sim init --help` used to give is refused, before any world is made.
    let o = c.run(&[
        "sim",
        "init",
        "--faults",
        "switchover-fail=0.05,transient=0.01",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(code(&o), 2, "{err}");
    assert!(
        err.contains("transient") && err.contains("changed: nothing"),
        "{err}"
    );
    assert!(err.contains("next: rdsfleet sim init --help"), "{err}");
    assert!(!c.path("world.sqlite").exists());
    // A connection option on a command that does not connect is a usage error.
    assert_eq!(code(&c.run(&["demo", "--profile", "prod"])), 2);
    // A missing state file: nothing changed, and where state files are.
    let o = c.run(&["status", "--state", "nope.sqlite"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(code(&o), 2);
    assert!(
        err.contains("changed: nothing") && err.contains("next: ls state/"),
        "{err}"
    );
    let o = c.run(&["report"]);
    assert_eq!(code(&o), 2, "report needs a plan file or --state");
}

/// A fleet with problem cases and transient faults, applied with stderr not a terminal:
/// plain timestamped progress on stderr only, exit 1 (blocked databases), then `status` (table
/// cut to the width, `--db` history, `--watch`), the run log and the report formats.
#[test]
fn a_run_with_problems_status_run_log_and_reports() {
    let c = Cli::new();
    c.ok(&[
        "sim",
        "init",
        "--databases",
        "10",
        "--seed",
        "3",
        "--speed",
        "5000",
        "--faults",
        "5xx=0.05",
    ]);
    c.ok(&[
        "plan",
        "--target",
        "mysql=8.0",
        "--target",
        "postgres=16",
        "-o",
        "plan.json",
    ]);
    let o = c.run(&[
        "apply",
        "plan.json",
        "--state",
        "s.sqlite",
        "--approve-switchover",
    ]);
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert_eq!(code(&o), 1, "blocked databases make it 1:\n{out}\n{err}");
    assert!(
        err.contains(" finished: "),
        "plain progress on stderr: {err}"
    );
    let stamped = err
        .lines()
        .filter(|l| l.contains(" finished: "))
        .all(|l| l.as_bytes().get(4) == Some(&b'-') && l.contains('T') && l.contains("Z "));
    assert!(stamped, "timestamped: {err}");
    assert!(!out.contains('\r') && !out.contains('\u{1b}') && !err.contains('\r'));
    assert!(!out.contains(" finished: "), "progress never on stdout");

    // status: a table cut on word boundaries to COLUMNS.
    let o = c
        .cmd()
        .env("COLUMNS", "90")
        .args(["status", "--state", "s.sqlite"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 1);
    let table = String::from_utf8(o.stdout).unwrap();
    assert!(
        table.contains("IN STEP") && table.contains("WHY"),
        "{table}"
    );
    for l in table.lines().filter(|l| l.contains("  ")) {
        assert!(l.chars().count() <= 90 || !l.contains(' '), "too wide: {l}");
    }
    let o = c.run(&["status", "--state", "s.sqlite", "--json"]);
    assert_eq!(code(&o), 1, "status exits 1 while databases are blocked");
    let st: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let blocked = st["databases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["state"] == "blocked")
        .unwrap();
    assert!(!blocked["why"].as_str().unwrap().is_empty());
    let done = st["databases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["state"] == "done" && d["step"] == "verify")
        .unwrap();
    let id = done["identifier"].as_str().unwrap();
    let o = c.run(&["status", "--state", "s.sqlite", "--db", id]);
    let hist = String::from_utf8_lossy(&o.stdout);
    for want in ["STEP", "switchover", "event(s)", "EVENT"] {
        assert!(hist.contains(want), "--db history lacks {want}:\n{hist}");
    }
    // --watch ends by itself once the run is over.
    let o = c.run(&[
        "status",
        "--state",
        "s.sqlite",
        "--watch",
        "--interval",
        "0",
    ]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("the run is over"));

    // The run log: JSON lines, 0600, with database, step and request-id fields.
    let log = c.path("s.log.jsonl");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&log).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // (`step` and `attempt` come with the engine's per-step span: see the engine's log calls.)
    assert!(lines
        .iter()
        .any(|l| l["db"].is_string() && l["message"].as_str().unwrap().starts_with("intent:")));
    assert!(
        lines.iter().any(|l| l["request_id"]
            .as_str()
            .is_some_and(|r| r.starts_with("sim-"))),
        "a failed call's request id is logged"
    );
    assert!(lines.iter().any(|l| l["message"] == "run ended"));

    // Reports: Markdown on stdout, JSON, HTML to a file; the dry-run report in the same formats.
    let md = String::from_utf8(c.run(&["report", "--state", "s.sqlite"]).stdout).unwrap();
    assert!(
        md.contains("## Time per step") && md.contains("## Failures and blocked"),
        "{md}"
    );
    let v: serde_json::Value = serde_json::from_str(
        &String::from_utf8(
            c.run(&["report", "--state", "s.sqlite", "--format", "json"])
                .stdout,
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        v["downtime_source"], "measured",
        "the simulator measured it"
    );
    let o = c.run(&[
        "report", "--state", "s.sqlite", "--format", "html", "-o", "r.html",
    ]);
    assert!(o.stdout.is_empty(), "with -o nothing on stdout");
    let html = std::fs::read_to_string(c.path("r.html")).unwrap();
    assert!(html.contains("<svg class=\"gantt\""));
    let plan_html = c.ok(&["report", "plan.json", "--format", "html"]);
    assert!(plan_html.contains("<h2>Blockers</h2>"), "{plan_html}");
    let plan_json: serde_json::Value =
        serde_json::from_str(&c.ok(&["report", "plan.json", "--format", "json"])).unwrap();
    assert!(plan_json["counts"]["blocked"].as_u64().unwrap() > 0);
}
