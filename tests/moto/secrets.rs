//! No credential or secret in state, logs or reports (issue 11), with the AWS backend: the
//! real binary against moto signs every request with credentials planted first in the
//! environment, then in an `AWS_PROFILE` config file. Every file it writes and everything it
//! prints (at `-vv`) is scanned for them, and SQLite's files are read as raw bytes.
//!
//! The AWS SDK's own logs (`RUST_LOG=trace`, which a user must ask for) are scanned for the
//! secret key and the session token; they do carry the access key id, in the SigV4 credential
//! scope (`Credential=AKIA.../date/region/rds/aws4_request`), which AWS documents as an
//! identifier, not a secret.

use crate::harness::{Moto, REGION};
use std::path::{Path, PathBuf};
use std::process::Command;

const KEY_ID: &str = "AKIAPLANTEDKEY7Q3X9Z";
const SECRET: &str = "plantedSecretKey/doNotLeak+8fJ2kQ9vX3mN5pR7tW1yZ0aB";
const TOKEN: &str = "IQoJb3JpZ2luX2VjEPLANTEDSESSIONTOKENdoNotLeak";
const PROFILE_KEY_ID: &str = "AKIAPLANTEDPROFILE00";
const PROFILE_SECRET: &str = "PLANTED-profile-secret/doNotLeak+Zq81";
const PROFILE_TOKEN: &str = "IQoJPLANTEDPROFILETOKENdoNotLeak";
const ALL: [&str; 6] = [
    KEY_ID,
    SECRET,
    TOKEN,
    PROFILE_KEY_ID,
    PROFILE_SECRET,
    PROFILE_TOKEN,
];

fn files(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(root).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Inventory, plan, apply (to the approval gate), status and report, with credentials from
/// `creds`; returns everything printed.
fn session(moto: &Moto, dir: &Path, creds: &[(&str, String)]) -> Vec<String> {
    std::fs::write(
        dir.join("fast.toml"),
        "[switchover]\nreadiness_stable_secs = 0\n",
    )
    .unwrap();
    let endpoint = moto.endpoint();
    let run = |args: &[&str]| {
        // Connection options go after the command, on the commands that connect.
        let connects = ["inventory", "plan", "apply", "resume", "cleanup", "abort"];
        let conn: Vec<&str> = if args.first().is_some_and(|a| connects.contains(a)) {
            vec![
                "--backend",
                "aws",
                "--endpoint-url",
                &endpoint,
                "--region",
                REGION,
            ]
        } else {
            vec![]
        };
        let o = Command::new(env!("CARGO_BIN_EXE_rdsfleet"))
            .current_dir(dir)
            .arg("-vv")
            .env("AWS_CONFIG_FILE", dir.join("no-such-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                dir.join("no-such-credentials"),
            )
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("RDSFLEET_BACKEND")
            .env_remove("RUST_LOG")
            .envs(creds.iter().map(|(k, v)| (*k, v.as_str())))
            .args(args)
            .args(&conn)
            .output()
            .unwrap();
        let out = format!(
            "{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(o.status.success(), "{args:?}: {out}");
        out
    };
    let mut outs = vec![
        run(&["inventory", "--format", "json", "-o", "inventory.json"]),
        run(&[
            "plan",
            "--target",
            "mysql=8.0",
            "--policy",
            "fast.toml",
            "-o",
            "plan.json",
        ]),
    ];
    outs.push(run(&[
        "apply",
        "plan.json",
        "--state",
        "s.sqlite",
        "--poll-secs",
        "0.2",
        "--api-rate",
        "100",
    ]));
    outs.push(run(&["status", "--state", "s.sqlite", "--json"]));
    outs.push(run(&["report", "--state", "s.sqlite", "-o", "report.md"]));
    outs
}

fn assert_clean(dir: &Path, outs: &[String], secrets: &[&str]) {
    let found = |text: &str| -> Vec<&str> {
        secrets
            .iter()
            .copied()
            .filter(|s| text.contains(s))
            .collect()
    };
    let mut scanned = vec![];
    for f in files(dir) {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
        assert_eq!(found(&text), Vec::<&str>::new(), "in {}", f.display());
        scanned.push(f.file_name().unwrap().to_string_lossy().into_owned());
    }
    for o in outs {
        assert_eq!(found(o), Vec::<&str>::new(), "in output: {o}");
    }
    for want in [
        "s.sqlite",
        "plan.json",
        "plan.md",
        "inventory.json",
        "report.md",
    ] {
        assert!(
            scanned.iter().any(|f| f == want),
            "{want} not written: {scanned:?}"
        );
    }
}

#[test]
fn no_planted_credential_reaches_state_logs_or_reports() {
    let moto = Moto::lock();
    moto.boto3(
        r#"
rds.create_db_instance(DBInstanceIdentifier='orders', Engine='mysql', EngineVersion='5.7.44',
    DBInstanceClass='db.m5.large', AllocatedStorage=20, MasterUsername='admin',
    MasterUserPassword='password123', BackupRetentionPeriod=7)
"#,
    );
    // 1. Credentials in the environment.
    let env_dir = tempfile::tempdir().unwrap();
    let env = [
        ("AWS_ACCESS_KEY_ID", KEY_ID.to_string()),
        ("AWS_SECRET_ACCESS_KEY", SECRET.to_string()),
        ("AWS_SESSION_TOKEN", TOKEN.to_string()),
    ];
    let outs = session(&moto, env_dir.path(), &env);
    assert_clean(env_dir.path(), &outs, &ALL);

    // 2. Credentials in the profile that AWS_PROFILE names (the config file itself is
    //    outside the scanned directory).
    let profile_dir = tempfile::tempdir().unwrap();
    let cfg_dir = tempfile::tempdir().unwrap();
    let config = cfg_dir.path().join("config");
    std::fs::write(
        &config,
        format!(
            "[profile planted]\nregion = {REGION}\naws_access_key_id = {PROFILE_KEY_ID}\naws_secret_access_key = {PROFILE_SECRET}\naws_session_token = {PROFILE_TOKEN}\n"
        ),
    )
    .unwrap();
    let profile = [
        ("AWS_PROFILE", "planted".to_string()),
        ("AWS_CONFIG_FILE", config.display().to_string()),
    ];
    let outs = session(&moto, profile_dir.path(), &profile);
    assert_clean(profile_dir.path(), &outs, &ALL);

    // 3. The SDK's own trace logs: no secret key, no session token.
    let o = Command::new(env!("CARGO_BIN_EXE_rdsfleet"))
        .current_dir(env_dir.path())
        .args([
            "inventory",
            "--backend",
            "aws",
            "--endpoint-url",
            &moto.endpoint(),
        ])
        .args(["--region", REGION])
        .env("AWS_CONFIG_FILE", env_dir.path().join("no-such-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", env_dir.path().join("none"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env("RUST_LOG", "trace")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stderr);
    assert!(text.lines().count() > 20, "no SDK trace at all: {text}");
    for s in [SECRET, TOKEN] {
        assert!(!text.contains(s), "the SDK's trace logs show {s}");
    }
}
