//! Upgrade-path resolution from the engine catalog (`DescribeDBEngineVersions` ->
//! `ValidUpgradeTarget`), never from a hard-coded table.
//!
//! A request is an engine plus a wanted version or prefix (`8.0` = the newest valid 8.0.x,
//! `8.0.40` = exactly that one). When no *direct* valid target matches, a breadth-first search
//! over the catalog graph tells a multi-hop path (refused, see the planner module doc) from no
//! path at all.

use crate::catalog::Catalog;
use crate::domain::{cmp_versions, major_version, version_has_prefix};
use std::cmp::Ordering;
use std::collections::{BTreeMap, VecDeque};

/// What the catalog says about going from one version to a wanted version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// A direct valid upgrade target.
    Upgrade { to: String, is_major: bool },
    /// The database already runs the newest version matching the request.
    AlreadyAtTarget,
    /// The wanted version is older than the running one.
    BelowCurrent,
    /// Reachable only through intermediate versions; `via` lists the first hop's version
    /// (newest matching the first hop's major) and the majors on the way.
    MultiHop {
        first_hop: String,
        majors: Vec<String>,
    },
    /// No path: `reason` says why.
    NoPath { reason: String },
}

pub fn resolve(catalog: &Catalog, engine: &str, from: &str, wanted: &str) -> Resolution {
    let newest_matching = catalog
        .versions
        .iter()
        .filter(|v| v.engine == engine && version_has_prefix(&v.engine_version, wanted))
        .map(|v| v.engine_version.as_str())
        .max_by(|a, b| cmp_versions(a, b));
    if version_has_prefix(from, wanted) || from == wanted {
        match newest_matching {
            Some(n) if cmp_versions(from, n) != Ordering::Less => {
                return Resolution::AlreadyAtTarget
            }
            None => return Resolution::AlreadyAtTarget,
            _ => {}
        }
    } else if cmp_versions(wanted, from) == Ordering::Less {
        return Resolution::BelowCurrent;
    }
    if let Some(t) = catalog.resolve_direct(engine, from, wanted) {
        return Resolution::Upgrade {
            to: t.engine_version.clone(),
            is_major: t.is_major_version_upgrade,
        };
    }
    if catalog.get(engine, from).is_none() {
        return Resolution::NoPath {
            reason: format!(
                "{engine} {from} is not in the engine catalog ({}), so its valid upgrade targets are unknown",
                catalog.origin
            ),
        };
    }
    // Breadth-first over ValidUpgradeTarget edges: the shortest hop count to any version
    // matching the request.
    let mut prev: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = VecDeque::from([from]);
    let mut found: Option<&str> = None;
    while let Some(v) = queue.pop_front() {
        if v != from && version_has_prefix(v, wanted) {
            found = Some(v);
            break;
        }
        let Some(ev) = catalog.get(engine, v) else {
            continue;
        };
        for t in &ev.valid_upgrade_targets {
            let n = t.engine_version.as_str();
            if n != from && !prev.contains_key(n) {
                prev.insert(n, v);
                queue.push_back(n);
            }
        }
    }
    let Some(end) = found else {
        return Resolution::NoPath {
            reason: format!(
                "the engine catalog ({}) has no upgrade path from {engine} {from} to {wanted}",
                catalog.origin
            ),
        };
    };
    let mut path = vec![end];
    let mut cur = end;
    while let Some(p) = prev.get(cur) {
        if *p == from {
            break;
        }
        path.push(p);
        cur = p;
    }
    path.reverse();
    let first_major = major_version(engine, path[0]);
    // Name the newest direct target of the first hop's major: what the operator should plan first.
    let first_hop = catalog
        .resolve_direct(engine, from, &first_major)
        .map(|t| t.engine_version.clone())
        .unwrap_or_else(|| path[0].to_string());
    let mut majors: Vec<String> = Vec::new();
    for v in &path {
        let m = major_version(engine, v);
        if majors.last() != Some(&m) {
            majors.push(m);
        }
    }
    Resolution::MultiHop { first_hop, majors }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_against_the_bundled_catalog() {
        let c = Catalog::bundled();
        assert_eq!(
            resolve(&c, "mysql", "5.7.44", "8.0"),
            Resolution::Upgrade {
                to: "8.0.42".into(),
                is_major: true
            }
        );
        assert_eq!(
            resolve(&c, "mysql", "5.7.44", "8.0.40"),
            Resolution::Upgrade {
                to: "8.0.40".into(),
                is_major: true
            }
        );
        assert_eq!(
            resolve(&c, "mysql", "8.0.42", "8.0"),
            Resolution::AlreadyAtTarget
        );
        assert_eq!(
            resolve(&c, "mysql", "8.0.42", "5.7"),
            Resolution::BelowCurrent
        );
        assert_eq!(
            resolve(&c, "mysql", "8.0.42", "8.0.40"),
            Resolution::BelowCurrent
        );
        assert_eq!(
            resolve(&c, "mysql", "8.0.28", "8.0"),
            Resolution::Upgrade {
                to: "8.0.42".into(),
                is_major: false
            }
        );
        match resolve(&c, "mysql", "5.6.51", "8.0") {
            Resolution::MultiHop { first_hop, majors } => {
                assert_eq!(first_hop, "5.7.44");
                assert_eq!(majors, vec!["5.7".to_string(), "8.0".to_string()]);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            resolve(&c, "mysql", "5.7.12", "8.0"),
            Resolution::NoPath { .. }
        ));
        assert_eq!(
            resolve(&c, "postgres", "13.15", "16"),
            Resolution::Upgrade {
                to: "16.8".into(),
                is_major: true
            }
        );
    }
}
