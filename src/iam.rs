//! `rdsfleet iam-policy`: the least-privilege IAM policy for the AWS adapter, as data.
//!
//! [`adapter_actions`] (from [`Op::ALL`]) is the exact set of RDS API operations `backend::aws` calls; a unit test
//! scans the adapter's source for SDK operation calls and fails if the two sets differ in
//! either direction. [`IMPLIED_ACTIONS`] are actions RDS itself checks on the caller while it
//! performs a blue/green operation on the caller's behalf (AWS "Authorizing access to Amazon
//! RDS blue/green deployment operations"); without them the policy would look complete and
//! still fail at CreateBlueGreenDeployment or at switchover.

use crate::backend::Op;
use serde_json::json;

/// The RDS actions the adapter calls: one per [`Op`], the backend's list of operations.
pub fn adapter_actions() -> Vec<String> {
    Op::ALL
        .iter()
        .map(|op| format!("rds:{}", op.name()))
        .collect()
}

/// Actions the adapter never calls but RDS requires of the caller of a blue/green operation:
/// `CreateBlueGreenDeployment` needs `CreateDBInstanceReadReplica` (the green instance is a
/// replica), `SwitchoverBlueGreenDeployment` needs `PromoteReadReplica`.
pub const IMPLIED_ACTIONS: &[&str] = &["rds:CreateDBInstanceReadReplica", "rds:PromoteReadReplica"];

/// Least-privilege policy JSON (pretty): one statement with exactly [`adapter_actions`], one
/// with the [`IMPLIED_ACTIONS`] blue/green needs. Resources are `*` because RDS names the
/// green instances itself (AWS documents that prefix patterns do not work there).
pub fn policy_json() -> String {
    let doc = json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "RdsfleetAdapterCalls",
                "Effect": "Allow",
                "Action": adapter_actions(),
                "Resource": "*"
            },
            {
                "Sid": "RdsBlueGreenImpliedActions",
                "Effect": "Allow",
                "Action": IMPLIED_ACTIONS,
                "Resource": "*"
            }
        ]
    });
    serde_json::to_string_pretty(&doc).expect("a JSON value always serializes")
}

/// `describe_db_instances` -> `DescribeDBInstances` (RDS spells "DB" in capitals).
fn action_name(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            if w == "db" {
                "DB".to_string()
            } else {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            }
        })
        .collect()
}

/// Verbs that start an RDS operation name. A method call `.verb_rest()` (no arguments, the
/// SDK's fluent-builder style) with one of these verbs, whose statement goes on to `.send()`,
/// is an SDK operation call (the `.send()` rule tells `.switchover_blue_green_deployment()`
/// from the accessor `.switchover_details()`).
const OPERATION_VERBS: &[&str] = &[
    "add",
    "apply",
    "authorize",
    "backtrack",
    "cancel",
    "copy",
    "create",
    "delete",
    "deregister",
    "describe",
    "disable",
    "download",
    "enable",
    "failover",
    "list",
    "modify",
    "promote",
    "purchase",
    "reboot",
    "register",
    "remove",
    "reset",
    "restore",
    "revoke",
    "start",
    "stop",
    "switchover",
];

/// The `rds:Action` names of every SDK operation call (`.describe_db_instances()`) in `src`.
pub fn scan_operation_calls(src: &str) -> std::collections::BTreeSet<String> {
    let mut found = std::collections::BTreeSet::new();
    let bytes = src.as_bytes();
    let mut i = 0;
    while let Some(pos) = src[i..].find('.') {
        let start = i + pos + 1;
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_lowercase() || bytes[end] == b'_') {
            end += 1;
        }
        let ident = &src[start..end];
        let statement = src[end..].split(';').next().unwrap_or("");
        if src[end..].starts_with("()") && statement.contains(".send()") {
            if let Some((verb, _)) = ident.split_once('_') {
                if OPERATION_VERBS.contains(&verb) {
                    found.insert(format!("rds:{}", action_name(ident)));
                }
            }
        }
        i = start;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::Path;

    fn adapter_sources() -> Vec<(String, String)> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/backend");
        let mut files = vec![root.join("aws.rs")];
        if let Ok(dir) = std::fs::read_dir(root.join("aws")) {
            for e in dir.flatten() {
                if e.path().extension().is_some_and(|x| x == "rs") {
                    files.push(e.path());
                }
            }
        }
        files
            .into_iter()
            .filter(|p| p.exists())
            .map(|p| {
                let text = std::fs::read_to_string(&p).unwrap();
                (p.display().to_string(), text)
            })
            .collect()
    }

    #[test]
    fn action_names_follow_rds_spelling() {
        assert_eq!(action_name("describe_db_instances"), "DescribeDBInstances");
        assert_eq!(action_name("list_tags_for_resource"), "ListTagsForResource");
        assert_eq!(
            action_name("switchover_blue_green_deployment"),
            "SwitchoverBlueGreenDeployment"
        );
    }

    #[test]
    fn scanner_finds_fluent_calls_only() {
        let src = "client.describe_db_instances().send();\n c.create_db_snapshot()\n .x(1).send().await;\n out.db_snapshot();\n b.switchover_details().iter();\n b.describe_instances(region, q).send()";
        let got: Vec<String> = scan_operation_calls(src).into_iter().collect();
        assert_eq!(got, vec!["rds:CreateDBSnapshot", "rds:DescribeDBInstances"]);
    }

    /// The policy and the adapter cannot drift apart: every operation the adapter calls is in
    /// the policy, and the policy lists nothing the adapter does not call.
    #[test]
    fn adapter_actions_match_the_adapter_source_exactly() {
        let sources = adapter_sources();
        assert!(!sources.is_empty(), "adapter source not found");
        let mut called = BTreeSet::new();
        for (_, text) in &sources {
            called.extend(scan_operation_calls(text));
        }
        let listed: BTreeSet<String> = adapter_actions().into_iter().collect();
        let missing: Vec<_> = called.difference(&listed).collect();
        let extra: Vec<_> = listed.difference(&called).collect();
        assert!(
            missing.is_empty(),
            "adapter calls actions the policy omits: {missing:?}"
        );
        assert!(
            extra.is_empty(),
            "policy lists actions the adapter never calls: {extra:?}"
        );
    }

    #[test]
    fn policy_json_covers_adapter_and_implied_actions_only() {
        let v: serde_json::Value = serde_json::from_str(&policy_json()).unwrap();
        assert_eq!(v["Version"], "2012-10-17");
        let mut actions = BTreeSet::new();
        for st in v["Statement"].as_array().unwrap() {
            assert_eq!(st["Effect"], "Allow");
            for a in st["Action"].as_array().unwrap() {
                assert!(
                    actions.insert(a.as_str().unwrap().to_string()),
                    "duplicate {a}"
                );
            }
        }
        let expected: BTreeSet<String> = adapter_actions()
            .into_iter()
            .chain(IMPLIED_ACTIONS.iter().map(|s| s.to_string()))
            .collect();
        assert_eq!(actions, expected);
        assert!(policy_json().contains('\n'), "policy is pretty-printed");
    }
}
