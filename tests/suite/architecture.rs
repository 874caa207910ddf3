//! Architecture invariants from ARCHITECTURE.md, checked against the source tree.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Source files (relative to the crate root) whose code (not comments) mentions `needle`.
fn files_using(needle: &str) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut hits: Vec<String> = files
        .iter()
        // Test-only code (test files, and everything after `#[cfg(test)]`) is not checked.
        .filter(|f| !f.to_string_lossy().ends_with("tests.rs"))
        .filter(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .take_while(|l| l.trim() != "#[cfg(test)]")
                .any(|l| {
                    let code = l.split("//").next().unwrap_or("");
                    code.contains(needle)
                })
        })
        .map(|f| f.strip_prefix(root).unwrap().display().to_string())
        .collect();
    hits.sort();
    hits
}

fn check(needle: &str, allowed: &[&str]) {
    for f in files_using(needle) {
        assert!(
            allowed.iter().any(|a| f.starts_with(a)),
            "{f} uses `{needle}`; only {allowed:?} may (see ARCHITECTURE.md)"
        );
    }
}

#[test]
fn only_the_aws_adapter_names_the_sdk() {
    for needle in ["aws_sdk_rds", "aws_config", "aws_smithy"] {
        check(needle, &["src/backend/aws"]);
    }
}

#[test]
fn only_the_store_and_the_simulator_touch_sqlite() {
    check("rusqlite", &["src/store.rs", "src/sim/"]);
}

#[test]
fn only_the_clock_reads_the_wall_clock() {
    check("SystemTime::now", &["src/clock.rs"]);
    check("Instant::now", &["src/cli/demo.rs", "src/bin/"]);
    check("tokio::time::sleep", &["src/clock.rs"]);
    check("thread::sleep", &[]);
}

#[test]
fn pure_modules_do_no_io() {
    for needle in [
        "std::fs",
        "tokio::",
        "RdsBackend",
        "clock::wall_now",
        ".now()",
    ] {
        check_not_in(
            needle,
            &[
                "src/planner/paths.rs",
                "src/planner/params.rs",
                "src/planner/prechecks.rs",
                "src/planner/drift.rs",
                "src/report.rs",
                "src/runreport.rs",
                "src/runreport/gantt.rs",
                "src/htmlpage.rs",
                "src/policy.rs",
                "src/naming.rs",
                "src/machine.rs",
                "src/state.rs",
                "src/engine/schedule.rs",
            ],
        );
    }
}

fn check_not_in(needle: &str, files: &[&str]) {
    let used = files_using(needle);
    for f in files {
        assert!(
            !used.iter().any(|u| u == f),
            "{f} uses `{needle}`: it must stay pure"
        );
    }
}

/// The mutating methods of `RdsBackend`, read from the one method -> `Op` mapping
/// (`src/backend/wrap.rs`): every method whose operation mutates.
fn mutating_methods() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let wrap = std::fs::read_to_string(root.join("src/backend/wrap.rs")).unwrap();
    let mut out = Vec::new();
    for chunk in wrap.split("async fn ").skip(1) {
        let name = chunk.split('(').next().unwrap().trim();
        let Some(op) = chunk.split("Op::").nth(1) else {
            continue;
        };
        let op: String = op.chars().take_while(|c| c.is_alphanumeric()).collect();
        let op = rdsfleet::backend::Op::ALL
            .into_iter()
            .find(|o| o.name() == op)
            .unwrap_or_else(|| panic!("{name} maps to unknown Op::{op}"));
        if op.mutating() {
            out.push(format!(".{name}("));
        }
    }
    out
}

#[test]
fn every_side_effect_goes_through_the_one_effect_path() {
    let methods = mutating_methods();
    let ops = rdsfleet::backend::Op::ALL
        .iter()
        .filter(|o| o.mutating())
        .count();
    assert!(
        methods.len() >= ops,
        "every mutating Op has a method: {methods:?}"
    );
    // The benchmark's naive poller is a backend wrapper: it forwards side effects unchanged.
    for m in &methods {
        check(
            m,
            &[
                "src/effects.rs",
                "src/backend/",
                "src/sim/",
                "src/bin/bench/naive.rs",
            ],
        );
    }
}

#[test]
fn the_state_machine_is_pure_and_started_means_intent_recorded() {
    for needle in ["Store::", "&mut Store", "Executor", ".await"] {
        check_not_in(needle, &["src/machine.rs", "src/engine/schedule.rs"]);
    }
    // A decision never moves a step to `started`: only the effect path does, right before its
    // call (the intent), so `started` always means "call made or about to be; outcome unknown".
    check("Change::to(StepStatus::Started", &[]);
    check("StepStatus::Started,", &["src/effects.rs", "src/state.rs"]);
}
