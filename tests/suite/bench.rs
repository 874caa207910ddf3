//! The benchmark command (`bench`, issue 11) runs every figure end to end on a tiny fleet, and
//! rewrites only its own block of BENCHMARKS.md. No timing is asserted: the goals live in the
//! benchmark, and a debug build on a shared machine says nothing about speed.

use std::process::Command;

fn bench() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bench"));
    c.env_remove("RUST_LOG");
    c
}

#[test]
fn bench_measures_every_figure_on_a_tiny_fleet() {
    let dir = crate::common::tempdir();
    let o = bench()
        .args([
            "--plan-sizes",
            "50",
            "--rollout",
            "16",
            "--rollout-concurrency",
            "8",
            "--naive",
            "10",
            "--naive-concurrency",
            "5",
            "--makespan",
            "8",
            "--makespan-concurrency",
            "4",
            "--only",
            "plan,rollout,resume,naive,makespan",
            "--no-write",
            "--dir",
        ])
        .arg(dir.path().join("work"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{out}\n{err}");
    for figure in [
        "machine: ",
        "plan, 50 databases: plan ",
        "rollout, 16 databases, virtual time, 2 regions",
        "API calls per database, rollout of 16: ",
        "peak API calls per region in any 1 s of simulated time",
        "resume of a 16-database state file killed mid-run",
        "API calls per database, 10 databases",
        "makespan, 8 databases, no policy",
        "makespan, 8 databases, default policy",
    ] {
        assert_eq!(
            out.lines().filter(|l| l.starts_with(figure)).count(),
            1,
            "one line for {figure:?}:\n{out}"
        );
    }
    assert!(out.contains("16 of 16 databases done"), "{out}");
    assert!(out.contains("first new side effect"), "{out}");
    assert!(out.contains("8 of 8 done"), "{out}");
    assert!(!out.contains("REPEATED"), "{out}");
}

#[test]
fn bench_rewrites_only_its_block_of_benchmarks_md() {
    let dir = crate::common::tempdir();
    let md = dir.path().join("BENCHMARKS.md");
    std::fs::write(
        &md,
        "# Benchmarks\n\nwritten by people\n\n<!-- bench:begin -->\nold figures\n<!-- bench:end -->\n\n## Notes\nkept\n",
    )
    .unwrap();
    let o = bench()
        .args(["--only", "plan", "--plan-sizes", "30", "--output"])
        .arg(&md)
        .arg("--dir")
        .arg(dir.path().join("work"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&md).unwrap();
    assert!(text.starts_with("# Benchmarks\n\nwritten by people\n\n<!-- bench:begin"));
    assert!(
        text.ends_with("<!-- bench:end -->\n\n## Notes\nkept\n"),
        "{text}"
    );
    assert!(!text.contains("old figures"));
    assert!(text.contains("| plan, 30 databases | plan "), "{text}");
    assert!(text.contains("logical CPUs"), "machine description: {text}");
    // A partial run (--only) keeps the other rows, in place, marked as earlier.
    let o = bench()
        .args(["--only", "plan", "--plan-sizes", "20", "--output"])
        .arg(&md)
        .arg("--dir")
        .arg(dir.path().join("work"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&md).unwrap();
    let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("| plan, ")).collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert!(rows[0].starts_with("| plan, 30 databases") && rows[0].ends_with("(earlier run) |"));
    assert!(rows[1].starts_with("| plan, 20 databases") && !rows[1].contains("earlier"));
}
