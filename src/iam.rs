//! `rdsfleet iam-policy`: the least-privilege IAM policy for the AWS adapter, as data.
//!
//! [`adapter_actions`] (from [`Op::ALL`]) is the exact set of RDS API operations `backend::aws`
//! calls; a unit test scans the adapter's source for SDK operation calls and fails if the two
//! sets differ in either direction. [`IMPLIED`] lists what RDS itself checks on the caller while
//! it performs a blue/green operation on the caller's behalf (AWS "Authorizing access to Amazon
//! RDS blue/green deployment operations"); without them the policy would look complete and still
//! fail at CreateBlueGreenDeployment or at switchover. Every action name is checked against
//! AWS's published list of RDS actions (`data/rds-iam-actions.json`, with its source and date).
//!
//! Deletes are allowed only on resources carrying rdsfleet's tag, so IAM itself enforces
//! "rdsfleet deletes only what it created and tagged": `DeleteDBInstance`,
//! `DeleteDBParameterGroup` and `DeleteBlueGreenDeployment` are conditioned on
//! `aws:ResourceTag/rdsfleet:managed = true`. Their resource types (`db`, `pg`, `deployment`)
//! accept `aws:ResourceTag/${TagKey}` (Service Authorization Reference, resource types of Amazon
//! RDS). What rdsfleet deletes must therefore carry the tag first: its snapshots, groups and
//! deployments are created with it; an old instance (`-old1`) is tagged by verify before
//! cleanup; green instances do *not* inherit it (green copies blue's tags, and the deployment's
//! own tags stay on the deployment), so `abort` must tag them before `DeleteBlueGreenDeployment`
//! with `DeleteTarget` (which needs `rds:DeleteDBInstance` on them).

use crate::backend::Op;
use crate::domain::TAG_MANAGED;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// The RDS actions the adapter calls: one per [`Op`], the backend's list of operations.
pub fn adapter_actions() -> Vec<String> {
    Op::ALL
        .iter()
        .map(|op| format!("rds:{}", op.name()))
        .collect()
}

/// Actions RDS checks on the caller of a blue/green operation, with the operation that implies
/// each (AWS "Authorizing access to Amazon RDS blue/green deployment operations"): creating a
/// deployment needs `AddTagsToResource` and `CreateDBInstanceReadReplica` (green starts as a
/// replica), switching over needs `ModifyDBInstance` and `PromoteReadReplica`, deleting one
/// needs `DeleteDBInstance`. Some are also called by the adapter; the policy grants each once.
pub const IMPLIED: &[(&str, &str)] = &[
    ("rds:AddTagsToResource", "CreateBlueGreenDeployment"),
    (
        "rds:CreateDBInstanceReadReplica",
        "CreateBlueGreenDeployment",
    ),
    ("rds:ModifyDBInstance", "SwitchoverBlueGreenDeployment"),
    ("rds:PromoteReadReplica", "SwitchoverBlueGreenDeployment"),
    ("rds:DeleteDBInstance", "DeleteBlueGreenDeployment"),
];

/// The deletes, allowed only on resources tagged `rdsfleet:managed=true`.
pub const TAGGED_DELETES: &[&str] = &[
    "rds:DeleteDBInstance",
    "rds:DeleteDBParameterGroup",
    "rds:DeleteBlueGreenDeployment",
];

/// The statements of the policy: (Sid, actions, tag-conditioned). Every action appears once.
pub fn statements() -> Vec<(&'static str, Vec<String>, bool)> {
    let called = adapter_actions();
    let reads: Vec<String> = Op::ALL
        .iter()
        .filter(|op| !op.mutating())
        .map(|op| format!("rds:{}", op.name()))
        .collect();
    let deletes: Vec<String> = TAGGED_DELETES.iter().map(|s| s.to_string()).collect();
    let changes: Vec<String> = called
        .iter()
        .filter(|a| !reads.contains(a) && !deletes.contains(a))
        .cloned()
        .collect();
    let implied: Vec<String> = IMPLIED
        .iter()
        .map(|(a, _)| a.to_string())
        .filter(|a| !called.contains(a) && !deletes.contains(a))
        .collect();
    vec![
        ("RdsfleetReads", reads, false),
        ("RdsfleetChanges", changes, false),
        ("RdsfleetDeletesOnlyWhatItTagged", deletes, true),
        ("RdsBlueGreenImpliedActions", implied, false),
    ]
}

/// Least-privilege policy JSON (pretty). Resources are `*` because RDS names the green
/// instances itself (AWS documents that prefix patterns do not work there); the deletes are
/// narrowed by the tag condition instead.
pub fn policy_json() -> String {
    let statements: Vec<Value> = statements()
        .into_iter()
        .map(|(sid, actions, tagged)| {
            let mut st = json!({
                "Sid": sid,
                "Effect": "Allow",
                "Action": actions,
                "Resource": "*"
            });
            if tagged {
                st["Condition"] = json!({
                    "StringEquals": { format!("aws:ResourceTag/{TAG_MANAGED}"): "true" }
                });
            }
            st
        })
        .collect();
    let doc = json!({ "Version": "2012-10-17", "Statement": statements });
    serde_json::to_string_pretty(&doc).expect("a JSON value always serializes")
}

/// AWS's published list of RDS actions (`data/rds-iam-actions.json`).
#[derive(Debug, Deserialize)]
pub struct ActionList {
    pub source: String,
    pub as_of: String,
    pub actions: BTreeSet<String>,
}

/// The bundled list of RDS actions.
pub fn published_actions() -> ActionList {
    serde_json::from_str(include_str!("../data/rds-iam-actions.json"))
        .expect("bundled RDS action list is valid")
}

/// Actions of `policy` (a policy document) that AWS does not publish for RDS.
pub fn unknown_actions(policy: &Value, published: &ActionList) -> Vec<String> {
    let mut out = Vec::new();
    for st in policy["Statement"].as_array().into_iter().flatten() {
        for a in st["Action"].as_array().into_iter().flatten() {
            let a = a.as_str().unwrap_or_default();
            let known = a
                .strip_prefix("rds:")
                .is_some_and(|n| published.actions.contains(n));
            if !known {
                out.push(a.to_string());
            }
        }
    }
    out
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
        // Sent directly, or page by page through its paginator (`gated_items!`).
        let sent = statement.contains(".send()") || statement.contains(".into_paginator()");
        if src[end..].starts_with("()") && sent {
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
        let src = "client.describe_db_instances().send();\n c.create_db_snapshot()\n .x(1).send().await;\n out.db_snapshot();\n b.switchover_details().iter();\n b.describe_instances(region, q).send();\n gated_items!(r, c.describe_db_snapshots().into_paginator(), db_snapshots)";
        let got: Vec<String> = scan_operation_calls(src).into_iter().collect();
        assert_eq!(
            got,
            vec![
                "rds:CreateDBSnapshot",
                "rds:DescribeDBInstances",
                "rds:DescribeDBSnapshots"
            ]
        );
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
    fn policy_json_covers_adapter_and_implied_actions_once_each() {
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
            .chain(IMPLIED.iter().map(|(a, _)| a.to_string()))
            .collect();
        assert_eq!(actions, expected);
        assert!(policy_json().contains('\n'), "policy is pretty-printed");
    }

    /// IAM enforces the promise: every delete is granted only on tagged resources, and nothing
    /// else grants a delete.
    #[test]
    fn deletes_are_granted_only_on_rdsfleet_tagged_resources() {
        let v: serde_json::Value = serde_json::from_str(&policy_json()).unwrap();
        for st in v["Statement"].as_array().unwrap() {
            let actions: Vec<&str> = st["Action"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect();
            let deletes = actions
                .iter()
                .filter(|a| a.starts_with("rds:Delete"))
                .count();
            if deletes > 0 {
                assert_eq!(deletes, actions.len(), "deletes share a statement: {st}");
                assert_eq!(
                    st["Condition"]["StringEquals"]["aws:ResourceTag/rdsfleet:managed"], "true",
                    "{st}"
                );
            } else {
                assert!(st.get("Condition").is_none(), "{st}");
            }
        }
        let conditioned: BTreeSet<&str> = TAGGED_DELETES.iter().copied().collect();
        let called_deletes: BTreeSet<String> = adapter_actions()
            .into_iter()
            .filter(|a| a.starts_with("rds:Delete"))
            .collect();
        for d in &called_deletes {
            assert!(
                conditioned.contains(d.as_str()),
                "{d} is not tag-conditioned"
            );
        }
    }

    /// Every action name in the policy is one AWS publishes for RDS (a typo such as
    /// `rds:DescribeDbInstances` or a removed action fails here, not at the first apply).
    #[test]
    fn every_action_is_in_the_published_rds_action_list() {
        let published = published_actions();
        assert!(published.actions.len() > 150, "list looks truncated");
        assert!(published.source.contains("Service Authorization Reference"));
        assert!(!published.as_of.is_empty());
        let v: serde_json::Value = serde_json::from_str(&policy_json()).unwrap();
        assert_eq!(unknown_actions(&v, &published), Vec::<String>::new());
        let typo = json!({"Statement": [{"Action": ["rds:DescribeDbInstances", "rds:DescribeDBInstances", "ec2:DescribeInstances"]}]});
        assert_eq!(
            unknown_actions(&typo, &published),
            vec!["rds:DescribeDbInstances", "ec2:DescribeInstances"]
        );
    }
}
