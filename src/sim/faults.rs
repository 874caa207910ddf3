//! The `--faults` spec: which failures the simulator injects, how often, and on what.
//!
//! Grammar (documented for users in [`crate::sim`]):
//!
//! ```text
//! spec   := "" | "none" | item { ("," | newline) item }     ('#' starts a comment)
//! item   := "default" | name [ "=" number ] [ "@" target { "|" target } ]
//! ```
//!
//! A fault applies to a resource when `hash(seed, fault, resource) < probability`, so the
//! same seed injects the same faults whatever the order of calls. With `@targets` the fault
//! applies only to those database identifiers (or, for `5xx`/`5xx-after`/`latency`, action
//! names such as `CreateBlueGreenDeployment`), with probability 1 unless a number is given.

use super::rng;
use super::SimError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Every fault name the spec accepts, with what its number means.
pub const FAULTS: &[(&str, &str)] = &[
    (
        "invalid-config",
        "probability a blue/green deployment ends INVALID_CONFIGURATION",
    ),
    (
        "switchover-fail",
        "probability a switchover fails and is rolled back (SWITCHOVER_FAILED)",
    ),
    ("snapshot-fail", "probability a snapshot ends `failed`"),
    (
        "5xx",
        "probability a call fails with InternalFailure/ServiceUnavailable, without effect",
    ),
    (
        "5xx-after",
        "probability a mutating call takes effect but its response is lost (InternalFailure)",
    ),
    (
        "latency",
        "extra latency per call, in simulated milliseconds (uniform 0..N)",
    ),
    (
        "actor-modify",
        "probability someone else modifies or reboots a database once rdsfleet touches it",
    ),
    (
        "actor-delete",
        "probability someone else deletes a database once rdsfleet touches it",
    ),
    (
        "lag",
        "probability a resource created less than lag-secs ago is missing from describes",
    ),
    (
        "lag-secs",
        "the eventual-consistency window in simulated seconds (default 30)",
    ),
    (
        "green-wrong-version",
        "probability a deployment's green primary stays on blue's engine version (for the guard before switchover)",
    ),
    (
        "green-pending-reboot",
        "probability a deployment's green primary has its parameter group pending-reboot (for the guard before switchover)",
    ),
];

/// The set `default` expands to.
pub const DEFAULT_SET: &str = "invalid-config=0.03,switchover-fail=0.04,snapshot-fail=0.03,\
5xx=0.01,5xx-after=0.005,latency=400,actor-modify=0.02,actor-delete=0.01,lag=0.2,lag-secs=30";

/// One parsed fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    pub value: f64,
    /// Empty: any resource, keyed by hash. Otherwise only these identifiers/actions.
    #[serde(default)]
    pub targets: Vec<String>,
}

/// A parsed fault spec: fault name -> fault.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultSpec {
    pub faults: BTreeMap<String, Fault>,
}

impl FaultSpec {
    /// Parse a spec string, or read one from a file when `arg` is `@path`.
    pub fn from_arg(arg: &str) -> Result<FaultSpec, SimError> {
        if let Some(path) = arg.trim().strip_prefix('@') {
            let text = std::fs::read_to_string(path).map_err(|e| SimError::Io {
                path: path.to_string(),
                source: e,
            })?;
            FaultSpec::parse(&text)
        } else {
            FaultSpec::parse(arg)
        }
    }

    /// Parse the grammar above. Errors name the bad item and list the valid fault names.
    pub fn parse(spec: &str) -> Result<FaultSpec, SimError> {
        let mut out = FaultSpec::default();
        for line in spec.lines() {
            let line = line.split('#').next().unwrap_or("");
            for item in line.split(',') {
                let item = item.trim();
                if item.is_empty() || item == "none" {
                    continue;
                }
                if item == "default" {
                    let d = FaultSpec::parse(DEFAULT_SET)?;
                    for (k, v) in d.faults {
                        out.faults.entry(k).or_insert(v);
                    }
                    continue;
                }
                let bad = |why: &str| {
                    SimError::BadFaultSpec {
                    item: item.to_string(),
                    reason: format!(
                        "{why}; grammar: name[=number][@target|target...], names: {}, or `default`/`none`",
                        FAULTS.iter().map(|f| f.0).collect::<Vec<_>>().join(", ")
                    ),
                }
                };
                let (head, targets) = match item.split_once('@') {
                    Some((h, t)) => (
                        h.trim(),
                        t.split('|')
                            .map(|s| s.trim().to_string())
                            .filter(|s| !s.is_empty())
                            .collect::<Vec<_>>(),
                    ),
                    None => (item, vec![]),
                };
                let (name, value) = match head.split_once('=') {
                    Some((n, v)) => {
                        let v: f64 = v
                            .trim()
                            .parse()
                            .map_err(|_| bad("the value is not a number"))?;
                        (n.trim(), Some(v))
                    }
                    None => (head, None),
                };
                if !FAULTS.iter().any(|f| f.0 == name) {
                    return Err(bad("unknown fault name"));
                }
                let is_prob = !matches!(name, "latency" | "lag-secs");
                let value = match value {
                    Some(v) => v,
                    None if is_prob && !targets.is_empty() => 1.0,
                    None => return Err(bad("a value is required without @targets")),
                };
                if is_prob && !(0.0..=1.0).contains(&value) {
                    return Err(bad("a probability must be between 0 and 1"));
                }
                if value < 0.0 {
                    return Err(bad("the value must not be negative"));
                }
                out.faults
                    .insert(name.to_string(), Fault { value, targets });
            }
        }
        Ok(out)
    }

    pub fn is_empty(&self) -> bool {
        self.faults.is_empty()
    }

    /// The numeric value of a fault, if set.
    pub fn value(&self, name: &str) -> Option<f64> {
        self.faults.get(name).map(|f| f.value)
    }

    /// Is fault `name` set and does its target list (if any) name one of `keys`?
    pub fn applies(&self, name: &str, keys: &[&str]) -> bool {
        self.faults.get(name).is_some_and(|f| {
            f.targets.is_empty() || keys.iter().any(|k| f.targets.iter().any(|t| t == k))
        })
    }

    /// Does fault `name` hit `key` (a resource identifier or action)? `salt` varies the draw
    /// for repeated events on the same key (e.g. the n-th call).
    pub fn hits(&self, seed: u64, name: &str, keys: &[&str], salt: &str) -> bool {
        if !self.applies(name, keys) {
            return false;
        }
        let f = &self.faults[name];
        let key = keys.first().copied().unwrap_or("");
        rng::unit(seed, &["fault", name, key, salt]) < f.value
    }

    /// Canonical text form (stored in the world file).
    pub fn to_spec(&self) -> String {
        self.faults
            .iter()
            .map(|(k, f)| {
                let mut s = format!("{k}={}", f.value);
                if !f.targets.is_empty() {
                    s.push('@');
                    s.push_str(&f.targets.join("|"));
                }
                s
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_default_targets_and_files() {
        let s = FaultSpec::parse("default, switchover-fail@orders-db|billing-db").unwrap();
        assert_eq!(s.value("invalid-config"), Some(0.03));
        let f = &s.faults["switchover-fail"];
        assert_eq!(f.value, 1.0);
        assert_eq!(f.targets, vec!["orders-db", "billing-db"]);
        assert!(s.hits(1, "switchover-fail", &["orders-db"], ""));
        assert!(!s.hits(1, "switchover-fail", &["other-db"], ""));
        assert!(
            !s.hits(1, "snapshot-fail", &["orders-db"], "") || s.value("snapshot-fail").is_some()
        );
        let round = FaultSpec::parse(&s.to_spec()).unwrap();
        assert_eq!(round, s);
        assert!(FaultSpec::parse("").unwrap().is_empty());
        assert!(FaultSpec::parse("none").unwrap().is_empty());

        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.txt");
        std::fs::write(&p, "# my faults\nsnapshot-fail=0.5\nlatency=100 # ms\n").unwrap();
        let s = FaultSpec::from_arg(&format!("@{}", p.display())).unwrap();
        assert_eq!(s.value("snapshot-fail"), Some(0.5));
        assert_eq!(s.value("latency"), Some(100.0));
    }

    #[test]
    fn example_file_parses_and_overrides_default() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/sim-faults-example.txt");
        let s = FaultSpec::from_arg(&format!("@{path}")).unwrap();
        assert_eq!(s.value("switchover-fail"), Some(0.10));
        assert_eq!(s.value("snapshot-fail"), Some(0.03));
        assert_eq!(
            s.faults["invalid-config"].targets,
            vec!["orders-db", "billing-db"]
        );
        assert_eq!(s.value("lag-secs"), Some(20.0));
    }

    #[test]
    fn bad_specs_are_explained() {
        for bad in ["nope=0.1", "5xx=2", "5xx=abc", "5xx", "latency=-1"] {
            let e = FaultSpec::parse(bad).unwrap_err().to_string();
            assert!(e.contains("grammar"), "{bad}: {e}");
        }
    }
}
