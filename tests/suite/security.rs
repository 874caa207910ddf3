//! Security checks as tests (issue 11):
//! - every file rdsfleet creates (state, world, plans, reports, inventory, demo output, and
//!   SQLite's `-wal`/`-shm`) is 0600, and every directory it creates 0700;
//! - no credential or secret planted in the environment or in an `AWS_PROFILE` config shows
//!   up in any state file, log or report (the AWS backend: `tests/moto/secrets.rs`);
//! - nothing untagged is ever deleted, whatever the state file says.

use crate::common::*;
use rdsfleet::backend::{BlueGreenQuery, InstanceQuery, RdsBackend};
use rdsfleet::domain::is_managed;
use rdsfleet::lifecycle::{self, CleanupOptions};
use rdsfleet::store::Store;
use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Every file and directory under `root` (not `root` itself).
fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(root).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}

struct Bin {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    /// stdout and stderr of every run, to scan.
    outputs: std::cell::RefCell<Vec<String>>,
}

impl Bin {
    fn new() -> Bin {
        Bin {
            dir: tempdir(),
            env: vec![],
            outputs: Default::default(),
        }
    }
    fn run(&self, args: &[&str]) -> Output {
        let o = Command::new(env!("CARGO_BIN_EXE_rdsfleet"))
            .current_dir(self.dir.path())
            .env("RDSFLEET_BACKEND", "sim")
            .env_remove("RDSFLEET_SIM_WORLD")
            .env_remove("RUST_LOG")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .args(args)
            .output()
            .unwrap();
        let mut outs = self.outputs.borrow_mut();
        outs.push(String::from_utf8_lossy(&o.stdout).into_owned());
        outs.push(String::from_utf8_lossy(&o.stderr).into_owned());
        o
    }
    fn ok(&self, args: &[&str]) {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    /// A whole session: world, inventory, plan, apply, status, report, cleanup, demo.
    fn session(&self) {
        self.ok(&[
            "sim",
            "init",
            "--databases",
            "6",
            "--clean",
            "--speed",
            "max",
        ]);
        self.ok(&["inventory", "--format", "json", "-o", "out/inventory.json"]);
        self.ok(&["plan", "--target", "mysql=8.0", "--target", "postgres=16"]);
        let plan = std::fs::read_dir(self.dir.path().join("plans"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "json"))
            .unwrap();
        let id = plan.file_stem().unwrap().to_str().unwrap().to_string();
        let plan = plan.display().to_string();
        self.ok(&["-vv", "apply", &plan, "--approve-switchover"]);
        let state = format!("state/{id}.sqlite");
        self.ok(&["status", "--state", &state, "--json"]);
        self.ok(&["report", "--state", &state, "-o", "out/run-report.md"]);
        self.ok(&["-vv", "cleanup", "--state", &state]);
        self.ok(&["sim", "trail", "--json", "--all"]);
        self.ok(&[
            "demo",
            "--databases",
            "4",
            "--speed",
            "max",
            "--dir",
            "demo",
        ]);
    }
}

#[test]
fn files_and_directories_rdsfleet_creates_are_private() {
    let b = Bin::new();
    b.session();
    let created = walk(b.dir.path());
    assert!(created.len() >= 10, "{created:?}");
    for p in &created {
        let want = if p.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode(p), want, "{} is {:o}", p.display(), mode(p));
    }
    // SQLite's -wal and -shm exist only while a database is open: they follow its mode.
    let w = world(WorldSpec::default());
    let sim = w.sim();
    let plan = block_on(w.plan(&[("mysql", "8.0")]));
    let store = w.store(&plan);
    store.event(None, None, "probe", "x", 0).unwrap();
    for db in [w.state_path(), w.path.clone()] {
        for suffix in ["", "-wal", "-shm"] {
            let f = PathBuf::from(format!("{}{suffix}", db.display()));
            assert!(f.exists(), "{} missing", f.display());
            assert_eq!(mode(&f), 0o600, "{}", f.display());
        }
    }
    drop((store, sim));
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Fake secrets, in the shapes AWS uses, planted where a credential chain would look.
pub const PLANTED: [&str; 4] = [
    "AKIAPLANTEDKEY7Q3X9Z",
    "plantedSecretKey/doNotLeak+8fJ2kQ9vX3mN5pR7tW1yZ0aB",
    "IQoJb3JpZ2luX2VjEPLANTEDSESSIONTOKENdoNotLeak",
    "PLANTED-profile-secret-doNotLeak",
];

/// Every planted secret found in `text`.
pub fn leaks(text: &str) -> Vec<&'static str> {
    PLANTED
        .iter()
        .copied()
        .filter(|s| text.contains(s))
        .collect()
}

#[test]
fn no_planted_secret_reaches_state_logs_or_reports() {
    let mut b = Bin::new();
    let config = b.dir.path().join("aws-config");
    std::fs::write(
        &config,
        format!(
            "[profile planted]\nregion = us-east-1\naws_access_key_id = {}\naws_secret_access_key = {}\naws_session_token = {}\n",
            PLANTED[0], PLANTED[3], PLANTED[2]
        ),
    )
    .unwrap();
    b.env = vec![
        ("AWS_ACCESS_KEY_ID".into(), PLANTED[0].into()),
        ("AWS_SECRET_ACCESS_KEY".into(), PLANTED[1].into()),
        ("AWS_SESSION_TOKEN".into(), PLANTED[2].into()),
        ("AWS_PROFILE".into(), "planted".into()),
        ("AWS_CONFIG_FILE".into(), config.display().to_string()),
        ("RDSFLEET_TEST_PASSWORD".into(), PLANTED[3].into()),
    ];
    b.session();
    std::fs::remove_file(&config).unwrap();
    let mut scanned = 0;
    for p in walk(b.dir.path()).iter().filter(|p| p.is_file()) {
        let bytes = std::fs::read(p).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert_eq!(leaks(&text), Vec::<&str>::new(), "in {}", p.display());
        scanned += 1;
    }
    for (i, out) in b.outputs.borrow().iter().enumerate() {
        assert_eq!(leaks(out), Vec::<&str>::new(), "in output {i}: {out}");
    }
    assert!(scanned >= 8, "only {scanned} files scanned");
}

#[tokio::test]
async fn nothing_untagged_is_deleted_whatever_the_state_file_says() {
    let w = world(WorldSpec {
        databases: 8,
        ..Default::default()
    });
    let plan = w.plan(&[("mysql", "8.0"), ("postgres", "16")]).await;
    let s = w.run(&plan, opts(true)).await;
    assert_eq!(s.exit_code(), 0, "{s:?}");
    let sim = w.sim();
    // The state file now lies: every database done, every instance in the account recorded as
    // an old instance of every database, switched over long ago, every deployment name not
    // yet deleted.
    let mut untagged = BTreeSet::new();
    let mut all = vec![];
    for r in w.regions() {
        for i in sim
            .describe_instances(&r, &InstanceQuery::default())
            .await
            .unwrap()
        {
            if !is_managed(&i.tags, Some(&plan.plan_id)) {
                untagged.insert((r.clone(), i.identifier.clone()));
            }
            all.push((r.clone(), i.identifier.clone()));
        }
    }
    assert!(!untagged.is_empty());
    {
        let c = rusqlite::Connection::open(w.state_path()).unwrap();
        c.execute("UPDATE databases SET state = 'done'", [])
            .unwrap();
        // Each instance is claimed by one of the upgraded databases of its region, in turn.
        for (k, (region, id)) in all.iter().enumerate() {
            let claimants: Vec<_> = plan
                .databases
                .iter()
                .filter(|d| &d.region == region && d.is_actionable())
                .collect();
            if let Some(d) = claimants.get(k % claimants.len().max(1)) {
                let detail = serde_json::json!({"source": d.identifier, "switched_at": 0});
                c.execute(
                    "INSERT OR REPLACE INTO resources (region, kind, name, status, detail, updated_at)
                     VALUES (?1, 'old-instance', ?2, 'created', ?3, 0)",
                    rusqlite::params![region, id, detail.to_string()],
                )
                .unwrap();
            }
        }
        c.execute(
            "UPDATE resources SET status = 'created' WHERE kind = 'blue-green'",
            [],
        )
        .unwrap();
    }
    let before = w.trail().len();
    w.clock.advance(std::time::Duration::from_secs(400 * 3600));
    let mut store = Store::open(&w.state_path()).unwrap();
    let opts = CleanupOptions {
        disable_deletion_protection: true,
        ..Default::default()
    };
    lifecycle::cleanup(sim.clone(), &mut store, &w.shared_clock(), &opts)
        .await
        .unwrap();
    lifecycle::abort(
        sim.clone(),
        &mut store,
        &w.shared_clock(),
        &[],
        Default::default(),
    )
    .await
    .unwrap();
    drop(store);
    let deleted: Vec<(String, String, String)> = w.trail()[before..]
        .iter()
        .filter(|t| t.action.starts_with("Delete") && t.outcome == "ok")
        .map(|t| (t.action.clone(), t.region.clone(), t.resource.clone()))
        .collect();
    for (action, region, resource) in &deleted {
        if action == "DeleteDBInstance" {
            assert!(
                !untagged.contains(&(region.clone(), resource.clone())),
                "{resource} was not tagged by rdsfleet, and was deleted"
            );
        }
    }
    // Everything untagged still runs.
    for (region, id) in &untagged {
        let q = InstanceQuery {
            identifiers: vec![id.clone()],
            ..Default::default()
        };
        let found = sim.describe_instances(region, &q).await.unwrap();
        assert!(
            found
                .iter()
                .any(|i| &i.identifier == id && i.status != "deleting"),
            "{id} is gone"
        );
    }
    // Deployments: only tagged ones were ever deleted.
    for (action, region, resource) in &deleted {
        if action == "DeleteBlueGreenDeployment" {
            let q = BlueGreenQuery {
                identifiers: vec![resource.clone()],
                ..Default::default()
            };
            for b in sim.describe_blue_green(region, &q).await.unwrap() {
                assert!(is_managed(&b.tags, Some(&plan.plan_id)), "{b:?}");
            }
        }
    }
    println!(
        "untagged: {} instances kept; deletions: {deleted:?}",
        untagged.len()
    );
}
