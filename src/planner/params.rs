//! Parameter-group mapping: carry a source group's user-modified parameters into the target
//! family, renaming and dropping what the newer engine renamed or removed.
//!
//! The mapping table is data (`data/parameter-mappings.json`, versioned): each entry lists the
//! changes that take effect at one engine major. Moving from major A to B applies every entry
//! with A < major <= B in ascending order, so a rename followed by a removal chains correctly.

use crate::domain::{cmp_versions, Parameter, ParameterChange};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;

const MAPPINGS: &str = include_str!("../../data/parameter-mappings.json");

#[derive(Debug, Clone, Deserialize)]
pub struct MappingTable {
    pub version: u32,
    pub as_of: String,
    pub source: String,
    pub changes: Vec<MajorChanges>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MajorChanges {
    pub engine: String,
    pub major: String,
    #[serde(default)]
    pub renamed: BTreeMap<String, String>,
    /// Names removed at this major; a trailing `*` matches by prefix (`query_cache_*`).
    #[serde(default)]
    pub dropped: Vec<String>,
}

/// The bundled mapping table, parsed once.
pub fn table() -> &'static MappingTable {
    static T: OnceLock<MappingTable> = OnceLock::new();
    T.get_or_init(|| serde_json::from_str(MAPPINGS).expect("bundled parameter mappings are valid"))
}

/// The outcome of mapping one group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mapped {
    pub parameters: Vec<ParameterChange>,
    pub dropped: Vec<String>,
    pub renamed: Vec<(String, String)>,
}

fn name_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

/// Map `params` (the source group's user-modified parameters) from `from_major` to `to_major`.
pub fn map_parameters(
    table: &MappingTable,
    engine: &str,
    from_major: &str,
    to_major: &str,
    params: &[Parameter],
) -> Mapped {
    let mut steps: Vec<&MajorChanges> = table
        .changes
        .iter()
        .filter(|c| {
            c.engine == engine
                && cmp_versions(&c.major, from_major).is_gt()
                && cmp_versions(&c.major, to_major).is_le()
        })
        .collect();
    steps.sort_by(|a, b| cmp_versions(&a.major, &b.major));
    let mut out = Mapped::default();
    let mut sorted: Vec<&Parameter> = params.iter().filter(|p| p.source == "user").collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    'params: for p in sorted {
        let Some(value) = p.value.clone() else {
            continue; // a user parameter without a value has nothing to carry over
        };
        let mut name = p.name.clone();
        for s in &steps {
            if s.dropped.iter().any(|d| name_matches(d, &name)) {
                out.dropped.push(p.name.clone());
                continue 'params;
            }
            if let Some(n) = s.renamed.get(&name) {
                name = n.clone();
            }
        }
        if name != p.name {
            out.renamed.push((p.name.clone(), name.clone()));
        }
        out.parameters.push(ParameterChange {
            name,
            value,
            // Green is a fresh instance, so static parameters take effect at its first boot.
            apply_method: if p.apply_type == "static" {
                "pending-reboot".into()
            } else {
                "immediate".into()
            },
        });
    }
    out.parameters.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::fake::user_param;

    #[test]
    fn mysql_57_to_80_renames_and_drops() {
        let params = vec![
            user_param("tx_isolation", "READ-COMMITTED"),
            user_param("query_cache_size", "1048576"),
            user_param("query_cache_type", "1"),
            user_param("max_connections", "500"),
            Parameter {
                apply_type: "static".into(),
                ..user_param("innodb_file_format", "Barracuda")
            },
        ];
        let m = map_parameters(table(), "mysql", "5.7", "8.0", &params);
        assert_eq!(
            m.renamed,
            vec![(
                "tx_isolation".to_string(),
                "transaction_isolation".to_string()
            )]
        );
        assert_eq!(
            m.dropped,
            vec!["innodb_file_format", "query_cache_size", "query_cache_type"]
        );
        let names: Vec<_> = m.parameters.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["max_connections", "transaction_isolation"]);
        assert_eq!(m.parameters[1].value, "READ-COMMITTED");
    }

    #[test]
    fn postgres_chains_every_major_between() {
        let params = vec![
            user_param("wal_keep_segments", "64"),
            user_param("force_parallel_mode", "off"),
            user_param("rds.logical_replication", "1"),
        ];
        let m = map_parameters(table(), "postgres", "12", "16", &params);
        assert_eq!(m.dropped, vec!["wal_keep_segments"]);
        assert_eq!(
            m.renamed,
            vec![(
                "force_parallel_mode".to_string(),
                "debug_parallel_query".to_string()
            )]
        );
        // Same family range that excludes the change: nothing renamed.
        let m = map_parameters(table(), "postgres", "12", "15", &params);
        assert!(m.renamed.is_empty());
        assert_eq!(m.parameters.len(), 2);
    }

    #[test]
    fn table_is_versioned_and_dated() {
        let t = table();
        assert!(t.version >= 1 && !t.as_of.is_empty() && !t.source.is_empty());
    }
}
