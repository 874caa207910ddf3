//! Parameter-group planning: carry a source group's user-modified parameters into green's
//! group, renaming and dropping names the newer engine renamed or removed, stripping value
//! tokens it refuses (`sql_mode`'s `NO_AUTO_CREATE_USER` in MySQL 8.0), and setting the values
//! green must have when the deployment is created (`event_scheduler=OFF`), with the source's
//! value recorded to restore after switchover.
//!
//! The rules are data (`data/parameter-mappings.json`, versioned): each entry lists the
//! changes that take effect at one engine major. Moving from major A to B applies every entry
//! with A < major <= B in ascending order, so a rename followed by a removal chains correctly.
//! Every change is kept with its reason ([`ParameterEdit`]) so the dry-run report can show it.
//!
//! The simulator checks names and values against its own, independent model of each family
//! (`data/engine-parameters.json`), as RDS does: a rule missing here makes a group the
//! simulator refuses, and `tests` compares the two tables so the gap shows without an apply.

use crate::domain::{cmp_versions, Parameter, ParameterChange};
pub use crate::plan::ParameterEdit;
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
    #[serde(default)]
    pub green_requires: Vec<GreenRequirement>,
    #[serde(default)]
    pub engine_defaults: Vec<EngineDefaults>,
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
    /// Comma-separated list parameters (`sql_mode`): tokens this major refuses.
    #[serde(default)]
    pub removed_tokens: BTreeMap<String, Vec<String>>,
    /// Why, per name (or dropped pattern): shown in the dry-run report.
    #[serde(default)]
    pub notes: BTreeMap<String, String>,
}

/// A value green must have when the deployment is created.
#[derive(Debug, Clone, Deserialize)]
pub struct GreenRequirement {
    pub engines: Vec<String>,
    pub parameter: String,
    pub value: String,
    pub apply_method: String,
    /// Set the source's value back once green serves (after switchover).
    pub restore_after_switchover: bool,
    pub why: String,
    pub source: String,
}

/// Engine defaults of the parameters `green_requires` names, from `since` (a major) on.
#[derive(Debug, Clone, Deserialize)]
pub struct EngineDefaults {
    pub engine: String,
    pub since: String,
    pub values: BTreeMap<String, String>,
}

/// The bundled mapping table, parsed once.
pub fn table() -> &'static MappingTable {
    static T: OnceLock<MappingTable> = OnceLock::new();
    T.get_or_init(|| serde_json::from_str(MAPPINGS).expect("bundled parameter mappings are valid"))
}

impl MappingTable {
    /// The engine default of `name` at `major` (`event_scheduler` is `ON` from MySQL 8.0).
    pub fn engine_default(&self, engine: &str, major: &str, name: &str) -> Option<&str> {
        self.engine_defaults
            .iter()
            .filter(|d| d.engine == engine && cmp_versions(&d.since, major).is_le())
            .filter_map(|d| d.values.get(name).map(|v| (d, v)))
            .max_by(|a, b| cmp_versions(&a.0.since, &b.0.since))
            .map(|(_, v)| v.as_str())
    }

    /// The changes between two majors of an engine, oldest first.
    fn steps(&self, engine: &str, from_major: &str, to_major: &str) -> Vec<&MajorChanges> {
        let mut steps: Vec<&MajorChanges> = self
            .changes
            .iter()
            .filter(|c| {
                c.engine == engine
                    && cmp_versions(&c.major, from_major).is_gt()
                    && cmp_versions(&c.major, to_major).is_le()
            })
            .collect();
        steps.sort_by(|a, b| cmp_versions(&a.major, &b.major));
        steps
    }
}

/// The outcome of planning one group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mapped {
    /// What to set on green's group.
    pub parameters: Vec<ParameterChange>,
    pub dropped: Vec<String>,
    pub renamed: Vec<(String, String)>,
    /// Every change from the source's values, with its reason.
    pub edits: Vec<ParameterEdit>,
    /// Values to set back on green's group once green serves (after switchover).
    pub restore_after_switchover: Vec<ParameterChange>,
    /// True when green needs values its group would not have by carrying the source's
    /// (a `green_requires` value): a group must be created even without a family change.
    pub requires_group: bool,
}

fn name_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

/// How an engine is named in a reason (`mysql` -> `MySQL`).
fn engine_name(engine: &str) -> &str {
    match engine {
        "mysql" => "MySQL",
        "mariadb" => "MariaDB",
        "postgres" => "PostgreSQL",
        other => other,
    }
}

fn note(step: &MajorChanges, key: &str, default: String) -> String {
    step.notes.get(key).cloned().unwrap_or(default)
}

/// Strip the tokens `removed` refuses from a comma-separated list value.
fn strip_tokens(value: &str, removed: &[String]) -> (String, Vec<String>) {
    let mut kept = Vec::new();
    let mut gone = Vec::new();
    for t in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        if removed.iter().any(|r| r.eq_ignore_ascii_case(t)) {
            gone.push(t.to_string());
        } else {
            kept.push(t);
        }
    }
    (kept.join(","), gone)
}

fn apply_method(p: &Parameter) -> String {
    // Green is a fresh instance, so static parameters take effect at its first boot.
    if p.apply_type == "static" {
        "pending-reboot".into()
    } else {
        "immediate".into()
    }
}

/// Carry one user parameter across `steps`: its name and value on green, or `None` (dropped),
/// recording every change.
fn carry(
    engine_id: &str,
    steps: &[&MajorChanges],
    p: &Parameter,
    out: &mut Mapped,
) -> Option<(String, String)> {
    let value = p.value.clone()?; // a user parameter without a value has nothing to carry over
    let engine = engine_name(engine_id);
    let mut name = p.name.clone();
    let mut val = value.clone();
    for s in steps {
        if let Some(d) = s.dropped.iter().find(|d| name_matches(d, &name)) {
            out.dropped.push(p.name.clone());
            let why = note(s, d, format!("removed in {engine} {}", s.major));
            out.edits.push(ParameterEdit {
                name: p.name.clone(),
                value: Some(value),
                to_name: None,
                to_value: None,
                reason: why,
            });
            return None;
        }
        if let Some(n) = s.renamed.get(&name) {
            let why = note(s, &name, format!("renamed in {engine} {}", s.major));
            out.edits.push(ParameterEdit {
                name: p.name.clone(),
                value: Some(value.clone()),
                to_name: Some(n.clone()),
                to_value: Some(val.clone()),
                reason: why,
            });
            name = n.clone();
        }
        if let Some(removed) = s.removed_tokens.get(&name) {
            let (kept, gone) = strip_tokens(&val, removed);
            if !gone.is_empty() {
                let why = note(
                    s,
                    &name,
                    format!("{engine} {} refuses these values", s.major),
                );
                let why = format!("{why}: removed {}", gone.join(", "));
                if kept.is_empty() {
                    // Nothing left to set: RDS takes no empty value; the family default applies.
                    out.dropped.push(p.name.clone());
                    out.edits.push(ParameterEdit {
                        name: p.name.clone(),
                        value: Some(value),
                        to_name: None,
                        to_value: None,
                        reason: format!(
                            "{why}; nothing is left, so the {engine} {} default applies",
                            s.major
                        ),
                    });
                    return None;
                }
                out.edits.push(ParameterEdit {
                    name: p.name.clone(),
                    value: Some(value.clone()),
                    to_name: Some(name.clone()),
                    to_value: Some(kept.clone()),
                    reason: why,
                });
                val = kept;
            }
        }
    }
    if name != p.name {
        out.renamed.push((p.name.clone(), name.clone()));
    }
    Some((name, val))
}

/// Plan green's parameters: `params` are the source group's user-modified parameters (empty
/// for an AWS default group), carried from `from_major` to `to_major` of `engine`, then the
/// `green_requires` values set.
pub fn plan_group(
    table: &MappingTable,
    engine: &str,
    from_major: &str,
    to_major: &str,
    params: &[Parameter],
) -> Mapped {
    let steps = table.steps(engine, from_major, to_major);
    let mut out = Mapped::default();
    let mut sorted: Vec<&Parameter> = params.iter().filter(|p| p.source == "user").collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut carried: BTreeMap<String, ParameterChange> = BTreeMap::new();
    for p in sorted {
        if let Some((name, value)) = carry(engine, &steps, p, &mut out) {
            let apply_method = apply_method(p);
            carried.insert(
                name.clone(),
                ParameterChange {
                    name,
                    value,
                    apply_method,
                },
            );
        }
    }
    for req in table
        .green_requires
        .iter()
        .filter(|r| r.engines.iter().any(|e| e == engine))
    {
        let source_value = params
            .iter()
            .find(|p| p.source == "user" && p.name == req.parameter)
            .and_then(|p| p.value.clone());
        let on_green = carried
            .get(&req.parameter)
            .map(|c| c.value.clone())
            .or_else(|| {
                table
                    .engine_default(engine, to_major, &req.parameter)
                    .map(str::to_string)
            });
        if on_green
            .as_deref()
            .is_some_and(|v| v.eq_ignore_ascii_case(&req.value))
        {
            continue;
        }
        out.requires_group = true;
        let why = match (&source_value, &on_green) {
            (None, Some(d)) => format!(
                "{} ({} {to_major}'s default is {d})",
                req.why,
                engine_name(engine)
            ),
            _ => req.why.clone(),
        };
        out.edits.push(ParameterEdit {
            name: req.parameter.clone(),
            value: source_value.clone(),
            to_name: Some(req.parameter.clone()),
            to_value: Some(req.value.clone()),
            reason: format!("{why} [{}]", req.source),
        });
        carried.insert(
            req.parameter.clone(),
            ParameterChange {
                name: req.parameter.clone(),
                value: req.value.clone(),
                apply_method: req.apply_method.clone(),
            },
        );
        // What the source runs with: its own value, else its engine default.
        let source_effective = source_value.or_else(|| {
            table
                .engine_default(engine, from_major, &req.parameter)
                .map(str::to_string)
        });
        if req.restore_after_switchover {
            if let Some(v) = source_effective.filter(|v| !v.eq_ignore_ascii_case(&req.value)) {
                out.restore_after_switchover.push(ParameterChange {
                    name: req.parameter.clone(),
                    value: v,
                    apply_method: req.apply_method.clone(),
                });
            }
        }
    }
    out.parameters = carried.into_values().collect();
    out
}

/// Map `params` from `from_major` to `to_major` (names and values only, no green
/// requirements): what [`plan_group`] does before it applies `green_requires`.
pub fn map_parameters(
    table: &MappingTable,
    engine: &str,
    from_major: &str,
    to_major: &str,
    params: &[Parameter],
) -> Mapped {
    let bare = MappingTable {
        green_requires: Vec::new(),
        ..table.clone()
    };
    plan_group(&bare, engine, from_major, to_major, params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::fake::user_param;

    /// Map, then return (name, value) pairs set on green.
    fn set(m: &Mapped) -> Vec<(&str, &str)> {
        m.parameters
            .iter()
            .map(|p| (p.name.as_str(), p.value.as_str()))
            .collect()
    }

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
        assert_eq!(
            set(&m),
            [
                ("max_connections", "500"),
                ("transaction_isolation", "READ-COMMITTED")
            ]
        );
        assert!(m.edits.iter().all(|e| !e.reason.is_empty()));
    }

    /// Issue 10: the 5.7 estates' groups, as found: the parameters MySQL 8.0 removed, the
    /// aliases it renamed, and the 5.7 sql_mode with NO_AUTO_CREATE_USER.
    #[test]
    fn mysql_57_estate_group_to_80() {
        let params = vec![
            user_param(
                "sql_mode",
                "STRICT_TRANS_TABLES,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION",
            ),
            user_param("show_compatibility_56", "ON"),
            user_param("innodb_undo_logs", "128"),
            user_param("internal_tmp_disk_storage_engine", "MYISAM"),
            user_param("innodb_checksums", "1"),
            user_param("innodb_stats_sample_pages", "16"),
            user_param("tx_read_only", "0"),
        ];
        let m = plan_group(table(), "mysql", "5.7", "8.0", &params);
        assert_eq!(
            set(&m),
            [
                ("event_scheduler", "OFF"),
                ("innodb_rollback_segments", "128"),
                ("innodb_stats_transient_sample_pages", "16"),
                ("sql_mode", "STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION"),
                ("transaction_read_only", "0"),
            ]
        );
        assert_eq!(
            m.dropped,
            [
                "innodb_checksums",
                "internal_tmp_disk_storage_engine",
                "show_compatibility_56"
            ]
        );
        let sql = m.edits.iter().find(|e| e.name == "sql_mode").unwrap();
        assert!(sql.reason.contains("NO_AUTO_CREATE_USER"), "{sql:?}");
        // 5.7 left event_scheduler at its default (OFF), 8.0's default is ON: green gets OFF
        // explicitly, and nothing needs restoring (the source runs with OFF).
        let ev = m
            .edits
            .iter()
            .find(|e| e.name == "event_scheduler")
            .unwrap();
        assert_eq!(ev.value, None);
        assert!(ev.reason.contains("default is ON"), "{ev:?}");
        assert!(m.requires_group);
        assert!(m.restore_after_switchover.is_empty());
    }

    #[test]
    fn event_scheduler_on_is_turned_off_for_green_and_restored_after_switchover() {
        let m = plan_group(
            table(),
            "mysql",
            "5.7",
            "8.0",
            &[user_param("event_scheduler", "ON")],
        );
        assert_eq!(set(&m), [("event_scheduler", "OFF")]);
        assert_eq!(
            m.restore_after_switchover,
            [ParameterChange {
                name: "event_scheduler".into(),
                value: "ON".into(),
                apply_method: "immediate".into()
            }]
        );
        // 8.0 -> 8.4 from a group at its default: 8.0 runs ON, so ON comes back.
        let m = plan_group(table(), "mysql", "8.0", "8.4", &[]);
        assert_eq!(set(&m), [("event_scheduler", "OFF")]);
        assert_eq!(m.restore_after_switchover[0].value, "ON");
        // A minor upgrade within 5.7 at the default: nothing to do, no group needed.
        let m = plan_group(table(), "mysql", "5.7", "5.7", &[]);
        assert!(!m.requires_group && m.parameters.is_empty());
        // An explicit OFF is simply carried.
        let m = plan_group(
            table(),
            "mysql",
            "5.7",
            "8.0",
            &[user_param("event_scheduler", "OFF")],
        );
        assert!(!m.requires_group && m.restore_after_switchover.is_empty());
        // PostgreSQL has no event scheduler.
        assert!(!plan_group(table(), "postgres", "13", "16", &[]).requires_group);
    }

    #[test]
    fn a_sql_mode_of_only_removed_modes_falls_back_to_the_default() {
        let m = map_parameters(
            table(),
            "mysql",
            "5.7",
            "8.0",
            &[user_param("sql_mode", "NO_AUTO_CREATE_USER")],
        );
        assert!(m.parameters.is_empty());
        assert_eq!(m.dropped, ["sql_mode"]);
    }

    #[test]
    fn mariadb_10_6_to_11_4_chains_every_major_between() {
        let params = vec![
            user_param("innodb_log_write_ahead_size", "8192"),
            user_param("innodb_change_buffering", "all"),
            user_param("innodb_defragment", "1"),
            user_param("old_alter_table", "1"),
            user_param("max_connections", "300"),
            user_param("sql_mode", "NO_AUTO_CREATE_USER,STRICT_TRANS_TABLES"),
        ];
        let m = plan_group(table(), "mariadb", "10.6", "11.4", &params);
        assert_eq!(
            m.dropped,
            [
                "innodb_change_buffering",
                "innodb_defragment",
                "innodb_log_write_ahead_size",
                "old_alter_table"
            ]
        );
        // MariaDB keeps NO_AUTO_CREATE_USER, and its event scheduler is OFF by default.
        assert_eq!(
            set(&m),
            [
                ("max_connections", "300"),
                ("sql_mode", "NO_AUTO_CREATE_USER,STRICT_TRANS_TABLES")
            ]
        );
        assert!(!m.requires_group);
        // 10.6 -> 10.11 stops before the 11.x removals.
        let m = plan_group(table(), "mariadb", "10.6", "10.11", &params);
        assert_eq!(m.dropped, ["innodb_log_write_ahead_size"]);
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
        assert!(t.version >= 4 && !t.as_of.is_empty() && !t.source.is_empty());
        assert_eq!(
            t.engine_default("mysql", "5.7", "event_scheduler"),
            Some("OFF")
        );
        assert_eq!(
            t.engine_default("mysql", "8.4", "event_scheduler"),
            Some("ON")
        );
        assert_eq!(
            t.engine_default("mariadb", "11.4", "event_scheduler"),
            Some("OFF")
        );
    }
}
