//! Hostile input (issue 11): each case is refused with a clear error and exit code 2, and
//! nothing changes in the backend (checked in the simulator's trail).
//!
//! - Property tests of the inventory, plan and policy parsers: they never panic, and what they
//!   accept is valid (an inventory only what RDS could report, a plan only its exact content,
//!   a policy only a valid one).
//! - Through the real binary: identifiers RDS would refuse, absurd sizes, duplicate
//!   identifiers, unknown fields; a tampered plan, and a hand-made plan whose hash matches; a
//!   state file from another plan; a truncated or corrupted state file; a read-only `state/`;
//!   concurrency 0; an unknown engine; a target below the running version.
//!   (Two `apply` on one state file: `cli::ctrl_c_stops_cleanly_..._names_the_lock_holder`.)

use proptest::prelude::*;
use proptest::test_runner::Config;
use rdsfleet::domain::{DbInstance, Tags};
use rdsfleet::plan::{Plan, PlanSettings};
use rdsfleet::planner::{self, PlanContext, PlanRequest};
use rdsfleet::policy::Policy;
use rdsfleet::sim::SimBackend;
use rdsfleet::store::Store;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const FIXTURE: &str = include_str!("../fixtures/inventory.json");

fn fixture() -> Vec<DbInstance> {
    rdsfleet::inventory::parse("fixture", FIXTURE).unwrap()
}

fn fixture_plan() -> Plan {
    let req = PlanRequest {
        targets: [
            ("mysql".into(), "8.0".into()),
            ("postgres".into(), "16".into()),
        ]
        .into(),
        settings: PlanSettings::default(),
        created_at: 1_795_000_000_000,
    };
    planner::plan(&fixture(), &PlanContext::offline(), &req).unwrap()
}

// ------------------------------------------------------------------ property tests

/// Text edits: replace a byte, delete a range, or duplicate a range, at random places.
fn mutate(text: &str, edits: &[(usize, usize, u8, u8)]) -> String {
    let mut b = text.as_bytes().to_vec();
    for &(at, len, byte, kind) in edits {
        if b.is_empty() {
            break;
        }
        let at = at % b.len();
        let end = (at + len % 16).min(b.len());
        match kind % 3 {
            0 => b[at] = byte,
            1 => {
                b.drain(at..end);
            }
            _ => {
                let piece = b[at..end].to_vec();
                b.splice(at..at, piece);
            }
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

fn edits() -> impl Strategy<Value = Vec<(usize, usize, u8, u8)>> {
    prop::collection::vec(
        (any::<usize>(), any::<usize>(), any::<u8>(), any::<u8>()),
        1..4,
    )
}

/// A valid identifier: a letter, then letters, digits and single hyphens, at most 63.
fn identifier() -> impl Strategy<Value = String> {
    "[a-z]([a-z0-9]|-[a-z0-9]){0,30}"
}

/// Identifiers RDS refuses.
fn bad_identifier() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[0-9-][a-z0-9]{0,10}",
        "[a-z]{1,10}-",
        "[a-z]{1,5}--[a-z]{1,5}",
        "[a-z]{1,5}[^a-z0-9-][a-z]{0,5}",
        "[a-z]{64,70}",
        "[A-Z][a-z]{0,5}",
    ]
}

fn instance() -> impl Strategy<Value = DbInstance> {
    (
        identifier(),
        prop::sample::select(vec!["us-east-1", "eu-west-1", "us-gov-west-1"]),
        0..=65_536i32,
        0..=35i32,
        any::<bool>(),
    )
        .prop_map(|(id, region, gib, days, dp)| {
            let mut d = fixture()[0].clone();
            d.arn = format!("arn:aws:rds:{region}:123456789012:db:{id}");
            d.identifier = id;
            d.region = region.into();
            d.allocated_storage_gib = gib;
            d.backup_retention_period = days;
            d.deletion_protection = dp;
            d.tags = Tags::new();
            d
        })
}

fn unique(mut v: Vec<DbInstance>) -> Vec<DbInstance> {
    let mut seen = std::collections::BTreeSet::new();
    v.retain(|d| seen.insert((d.region.clone(), d.identifier.clone())));
    v
}

/// Policy TOML from pieces, known and unknown, valid and not.
fn policy_text() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "[concurrency]\nper_account",
        "[concurrency]\nper_region",
        "[failure_budget]\nmax_failed",
        "[failure_budget]\nmax_failed_percent",
        "[switchover]\ntimeout_secs",
        "[switchover]\nreadiness_stable_secs",
        "[retention]\nold_instance_hours",
        "[concurency]\nper_account",
        "[[wave]]\nname = \"w\"\nselect = [\"tag:env=prod\"]\nconcurrency",
        "[[wave]]\nname = \"w\"\nselect = [\"colour=red\"]\ncanary",
        "[switchover]\nwindows = [{ start = \"02:00\", end = \"05:00\" }]\ntimeout_secs",
    ]);
    let value = prop_oneof![
        (-5i64..5000).prop_map(|v| v.to_string()),
        Just("18446744073709551616".to_string()),
        Just("\"ten\"".to_string()),
        Just("[]".to_string()),
        Just("1.5".to_string()),
    ];
    prop::collection::vec((key, value), 0..4).prop_map(|kv| {
        kv.into_iter()
            .map(|(k, v)| format!("{k} = {v}\n"))
            .collect::<Vec<_>>()
            .join("\n")
    })
}

proptest! {
    #![proptest_config(Config { cases: 48, ..Config::default() })]

    #[test]
    fn inventory_parser_never_panics_and_accepts_only_what_rds_reports(e in edits()) {
        let text = mutate(FIXTURE, &e);
        if let Ok(inv) = rdsfleet::inventory::parse("mutated", &text) {
            prop_assert!(rdsfleet::inventory::problems(&inv).is_empty());
        }
    }

    #[test]
    fn valid_inventories_round_trip(v in prop::collection::vec(instance(), 0..6)) {
        let inv = unique(v);
        let text = rdsfleet::inventory::to_json(&inv);
        prop_assert_eq!(rdsfleet::inventory::parse("gen", &text).unwrap(), inv);
    }

    #[test]
    fn an_identifier_rds_refuses_is_refused(
        v in prop::collection::vec(instance(), 1..4),
        bad in bad_identifier(),
        i in any::<prop::sample::Index>(),
    ) {
        let mut inv = unique(v);
        let k = i.index(inv.len());
        inv[k].identifier = bad.clone();
        let e = rdsfleet::inventory::parse("gen", &rdsfleet::inventory::to_json(&inv));
        prop_assert!(e.is_err(), "{bad:?} accepted");
        let msg = e.unwrap_err().to_string();
        prop_assert!(msg.contains("identifier"), "{msg}");
    }

    #[test]
    fn plan_parser_never_panics_and_accepts_only_the_plan_it_hashed(e in edits()) {
        let plan = fixture_plan();
        let text = mutate(&plan.to_json(), &e);
        if let Ok(mut p) = planner::parse("mutated", &text) {
            // Only an edit that changes nothing (whitespace) may pass, or one of `created_at`,
            // which the plan id leaves out by design (the same content, the same id), into
            // another well-formed time.
            prop_assert!(rdsfleet::clock::parse_rfc3339(&p.created_at).is_some(), "{}", p.created_at);
            p.created_at = plan.created_at.clone();
            prop_assert_eq!(p, plan);
        }
    }

    #[test]
    fn policy_parser_never_panics_and_accepts_only_valid_policies(text in policy_text()) {
        if let Ok(p) = Policy::parse("gen.toml", &text) {
            prop_assert!(p.validate().is_ok(), "{text}");
            prop_assert!(p.concurrency.per_account > 0 && p.concurrency.per_region > 0);
        }
    }

    #[test]
    fn valid_policies_round_trip(
        account in 1usize..64,
        region in 1usize..64,
        timeout in 30u32..=3600,
        stable in 0u64..7200,
        hours in 0u32..1000,
        percent in prop::option::of(1u32..=100),
    ) {
        let mut p = Policy::default();
        p.concurrency.per_account = account;
        p.concurrency.per_region = region;
        p.switchover.timeout_secs = timeout;
        p.switchover.readiness_stable_secs = stable;
        p.retention.old_instance_hours = hours;
        p.failure_budget.max_failed_percent = percent;
        let text = toml::to_string(&p).unwrap();
        prop_assert_eq!(Policy::parse("gen.toml", &text).unwrap(), p);
    }
}

// ------------------------------------------------------------------ the binary

struct Cli {
    dir: tempfile::TempDir,
}

impl Cli {
    fn new() -> Cli {
        let c = Cli {
            dir: crate::common::tempdir(),
        };
        c.ok(&["sim", "init", "--databases", "8", "--seed", "5", "--clean"]);
        c
    }
    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_rdsfleet"))
            .current_dir(self.dir.path())
            .env("RDSFLEET_BACKEND", "sim")
            .env("RDSFLEET_SIM_WORLD", self.path("world.sqlite"))
            .env_remove("RUST_LOG")
            .args(args)
            .output()
            .unwrap()
    }
    fn ok(&self, args: &[&str]) {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    fn mutating_calls(&self) -> i64 {
        SimBackend::open(&self.path("world.sqlite"))
            .unwrap()
            .trail_marks()
            .unwrap()
            .1
    }
    /// `args` must exit 2 with an error containing every `needle`, and change nothing in the
    /// simulated RDS.
    fn refused(&self, args: &[&str], needles: &[&str]) -> String {
        let before = self.mutating_calls();
        let o = self.run(args);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.starts_with("error: "),
            "{args:?}: not one clear error: {err}"
        );
        for n in needles {
            assert!(err.contains(n), "{args:?}: {n:?} not in {err}");
        }
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(
            self.mutating_calls(),
            before,
            "{args:?} changed the backend"
        );
        err
    }
    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path(name), text).unwrap();
    }
}

#[test]
fn inventory_files_rds_could_not_have_written_are_refused() {
    let c = Cli::new();
    fn plan(f: &str) -> [&str; 7] {
        [
            "plan",
            "--inventory",
            f,
            "--target",
            "mysql=8.0",
            "-o",
            "p.json",
        ]
    }
    let one = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut v: serde_json::Value = serde_json::from_str(FIXTURE).unwrap();
        edit(&mut v[0]);
        serde_json::to_string_pretty(&v).unwrap()
    };
    for (name, text, needles) in [
        (
            "id.json",
            one(&|d| d["identifier"] = "../../etc/passwd; rm -rf /".into()),
            vec!["identifier", "only letters, digits and hyphens"],
        ),
        (
            "long.json",
            one(&|d| d["identifier"] = "a".repeat(64).into()),
            vec!["1 to 63"],
        ),
        (
            "size.json",
            one(&|d| d["allocated_storage_gib"] = (-40).into()),
            vec!["allocated_storage_gib"],
        ),
        (
            "huge.json",
            one(&|d| d["allocated_storage_gib"] = 9_999_999.into()),
            vec!["allocated_storage_gib"],
        ),
        (
            "unknown.json",
            one(&|d| d["deletion_protecton"] = true.into()),
            vec!["unknown field `deletion_protecton`"],
        ),
        (
            "region.json",
            one(&|d| d["region"] = "us-east-1 && curl evil".into()),
            vec!["region"],
        ),
    ] {
        c.write(name, &text);
        c.refused(&plan(name), &needles);
        assert!(!c.path("p.json").exists(), "a plan was written from {name}");
    }
    let mut v: serde_json::Value = serde_json::from_str(FIXTURE).unwrap();
    let first = v[0].clone();
    v.as_array_mut().unwrap().push(first);
    c.write("dup.json", &serde_json::to_string(&v).unwrap());
    c.refused(&plan("dup.json"), &["appears twice"]);
    c.write("notjson.json", "[{\"region\": ");
    c.refused(&plan("notjson.json"), &["not a JSON array"]);
}

#[test]
fn plans_and_state_files_that_are_not_what_they_claim_are_refused() {
    let c = Cli::new();
    c.ok(&["plan", "--target", "mysql=8.0", "-o", "a.json"]);
    c.ok(&[
        "plan",
        "--target",
        "mysql=8.0",
        "--target",
        "postgres=16",
        "-o",
        "b.json",
    ]);
    let a = Plan::load(&c.path("a.json")).unwrap();
    // Tampered: one edit, the hash no longer matches.
    let text = std::fs::read_to_string(c.path("a.json")).unwrap();
    c.write("t.json", &text.replacen("\"wave\": 1", "\"wave\": 3", 1));
    c.refused(
        &["apply", "t.json", "--state", "t.sqlite"],
        &["modified after it was made"],
    );
    // Hand-made with a matching hash, naming what RDS would refuse.
    let mut evil = a.clone();
    evil.databases[0].identifier = "x; rm -rf /".into();
    rdsfleet::planner::finalize(&mut evil);
    evil.save(&c.path("evil.json")).unwrap();
    c.refused(
        &["apply", "evil.json", "--state", "e.sqlite"],
        &["RDS would refuse"],
    );
    for f in ["t.sqlite", "e.sqlite"] {
        assert!(
            !c.path(f).exists(),
            "a state file was written for a refused plan"
        );
    }
    // A state file of another plan.
    let b = Plan::load(&c.path("b.json")).unwrap();
    drop(Store::create_or_open(&c.path("b.sqlite"), &b, "sim", 0).unwrap());
    c.refused(
        &[
            "apply",
            "a.json",
            "--state",
            "b.sqlite",
            "--approve-switchover",
        ],
        &["belongs to plan", &b.plan_id],
    );
    // Truncated, and corrupted in the middle.
    drop(Store::create_or_open(&c.path("a.sqlite"), &a, "sim", 0).unwrap());
    let bytes = std::fs::read(c.path("a.sqlite")).unwrap();
    assert!(bytes.len() > 8192, "state file too small to damage");
    std::fs::write(c.path("cut.sqlite"), &bytes[..bytes.len() / 2]).unwrap();
    let mut junk = bytes.clone();
    for b in &mut junk[100..bytes.len() - 100] {
        *b = 0x5a;
    }
    std::fs::write(c.path("junk.sqlite"), &junk).unwrap();
    for f in ["cut.sqlite", "junk.sqlite"] {
        for cmd in [
            vec!["resume", "--state", f, "--approve-switchover"],
            vec!["apply", "a.json", "--state", f, "--approve-switchover"],
            vec!["status", "--state", f],
            vec!["cleanup", "--state", f],
        ] {
            c.refused(&cmd, &["state file"]);
        }
    }
}

#[test]
fn impossible_requests_are_refused_before_anything_happens() {
    let c = Cli::new();
    c.refused(
        &["plan", "--target", "oracle=19"],
        &["unknown engine `oracle`", "mysql"],
    );
    c.refused(
        &["plan", "--target", "mysql=5.6"],
        &[
            "below the running version of every mysql database",
            "RDS cannot downgrade",
        ],
    );
    c.refused(&["plan", "--target", "mysql=8.0; reboot"], &["bad target"]);
    c.write("zero.toml", "[concurrency]\nper_account = 0\n");
    c.refused(
        &["plan", "--target", "mysql=8.0", "--policy", "zero.toml"],
        &["at least 1"],
    );
    c.ok(&["plan", "--target", "mysql=8.0", "-o", "p.json"]);
    c.refused(
        &[
            "apply",
            "p.json",
            "--state",
            "s.sqlite",
            "--concurrency",
            "0",
        ],
        &["--concurrency must be at least 1"],
    );
    assert!(!c.path("s.sqlite").exists());
    // A state directory nothing can be written to. (As root, permission bits do not stop
    // writes: then a directory under /proc, where nobody can create a file, stands in.)
    let ro = c.path("state-ro");
    std::fs::create_dir(&ro).unwrap();
    let mut perm = std::fs::metadata(&ro).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o500);
    std::fs::set_permissions(&ro, perm).unwrap();
    let state = if std::fs::write(ro.join("probe"), b"x").is_ok() {
        Path::new("/proc/rdsfleet-no-such-dir/s.sqlite").to_path_buf()
    } else {
        ro.join("s.sqlite")
    };
    let state = state.display().to_string();
    c.refused(
        &["apply", "p.json", "--state", &state, "--approve-switchover"],
        &["state file"],
    );
}
