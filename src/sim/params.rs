//! The simulator's model of DB parameter group families (`data/engine-parameters.json`): which
//! parameters each family has, their engine defaults and apply types, and the values RDS
//! accepts for them. `ModifyDBParameterGroup` refuses a name the family lacks or a value it
//! does not accept with `InvalidParameterValue`, as RDS does.
//!
//! This model is independent of the planner's mapping rules (`data/parameter-mappings.json`):
//! a removed parameter or `sql_mode` token the planner forgets to map reaches this check and
//! fails the test that carried it. The tests below compare the two tables directly, so such a
//! gap also shows without running an apply.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;

const DATA: &str = include_str!("../../data/engine-parameters.json");

/// One parameter as the model describes it.
#[derive(Debug, Clone, Deserialize)]
pub struct ParamSpec {
    pub name: String,
    /// `static` or `dynamic`.
    pub apply: String,
    /// `integer`, `float`, `boolean`, `enum`, `list` or `string`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Engine default per family; the parameter exists in exactly these families.
    pub defaults: BTreeMap<String, String>,
    #[serde(default)]
    pub allowed: Vec<String>,
    #[serde(default)]
    pub allowed_by_family: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Deserialize)]
struct Doc {
    parameters: Vec<ParamSpec>,
}

fn specs() -> &'static [ParamSpec] {
    static S: OnceLock<Vec<ParamSpec>> = OnceLock::new();
    S.get_or_init(|| {
        let d: Doc = serde_json::from_str(DATA).expect("bundled engine parameters are valid");
        d.parameters
    })
}

/// A parameter of one family.
#[derive(Debug, Clone, Copy)]
pub struct FamilyParam {
    pub name: &'static str,
    pub default: &'static str,
    /// `static` or `dynamic`.
    pub apply: &'static str,
    spec: &'static ParamSpec,
    family_allowed: Option<&'static [String]>,
}

/// The parameters of a family (empty for a family the model does not know).
pub fn family_params(family: &str) -> Vec<FamilyParam> {
    specs()
        .iter()
        .filter_map(|s| {
            let default = s.defaults.get(family)?;
            Some(FamilyParam {
                name: &s.name,
                default,
                apply: &s.apply,
                spec: s,
                family_allowed: s.allowed_by_family.get(family).map(Vec::as_slice),
            })
        })
        .collect()
}

/// One parameter of a family, if the family has it.
pub fn family_param(family: &str, name: &str) -> Option<FamilyParam> {
    family_params(family).into_iter().find(|p| p.name == name)
}

impl FamilyParam {
    fn allowed(&self) -> &'static [String] {
        self.family_allowed.unwrap_or(&self.spec.allowed)
    }

    /// Does RDS accept `value` for this parameter? `Err` is RDS's complaint.
    pub fn check(&self, value: &str) -> Result<(), String> {
        let v = value.trim();
        let bad = || {
            let allowed = self.allowed();
            if allowed.is_empty() {
                format!("Invalid parameter value: {value} for: {}", self.name)
            } else {
                format!(
                    "Invalid parameter value: {value} for: {} allowed values are: {}",
                    self.name,
                    allowed.join(",")
                )
            }
        };
        // RDS takes no empty value: ResetDBParameterGroup restores a default.
        if v.is_empty() {
            return Err(bad());
        }
        let formula = v.starts_with('{') && v.ends_with('}');
        let in_allowed = |t: &str| {
            self.allowed()
                .iter()
                .any(|a| a.eq_ignore_ascii_case(t.trim()))
        };
        let ok = match self.spec.kind.as_str() {
            "integer" => formula || v.parse::<i64>().is_ok(),
            "float" => formula || v.parse::<f64>().is_ok(),
            "boolean" | "enum" => in_allowed(v),
            "list" => v.split(',').all(|t| !t.trim().is_empty() && in_allowed(t)),
            _ => true,
        };
        if ok {
            Ok(())
        } else {
            Err(bad())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::domain::{major_version, Parameter};
    use crate::planner::params as rules;
    use std::collections::BTreeSet;

    #[test]
    fn values_are_checked_per_family() {
        let sql57 = family_param("mysql5.7", "sql_mode").unwrap();
        let sql80 = family_param("mysql8.0", "sql_mode").unwrap();
        let v = "STRICT_TRANS_TABLES,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION";
        assert!(sql57.check(v).is_ok());
        let e = sql80.check(v).unwrap_err();
        assert!(e.contains("sql_mode allowed values are"), "{e}");
        assert!(sql80
            .check("STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION")
            .is_ok());
        let ev = family_param("mysql8.0", "event_scheduler").unwrap();
        assert_eq!(ev.default, "ON");
        assert!(ev.check("off").is_ok() && ev.check("DISABLED").is_err());
        assert_eq!(
            family_param("mysql5.7", "event_scheduler").unwrap().default,
            "OFF"
        );
        let mc = family_param("mysql8.0", "max_connections").unwrap();
        assert!(mc.check("500").is_ok() && mc.check("{DBInstanceClassMemory/12582880}").is_ok());
        assert!(mc.check("lots").is_err() && mc.check("").is_err());
        assert!(family_param("mysql8.0", "show_compatibility_56").is_none());
        assert!(family_param("mysql5.7", "show_compatibility_56").is_some());
        assert!(family_params("oracle-ee-19").is_empty());
    }

    /// Every (source family, target family) pair the catalog offers as an upgrade.
    fn family_pairs() -> BTreeSet<(String, String, String, String, String)> {
        let c = Catalog::bundled();
        let mut out = BTreeSet::new();
        for v in &c.versions {
            for t in &v.valid_upgrade_targets {
                let Some(tf) = c.family(&v.engine, &t.engine_version) else {
                    continue;
                };
                if tf != v.parameter_group_family {
                    out.insert((
                        v.engine.clone(),
                        v.parameter_group_family.clone(),
                        tf.to_string(),
                        major_version(&v.engine, &v.engine_version),
                        major_version(&v.engine, &t.engine_version),
                    ));
                }
            }
        }
        out
    }

    /// Issue 10: the planner's mapping rules cover every parameter and value the simulator's
    /// families drop along every upgrade the catalog offers. Carrying each source-family
    /// parameter (set to every value its family accepts, for list parameters) through the
    /// planner must give names and values the target family accepts.
    #[test]
    fn planner_rules_cover_every_parameter_a_family_drops() {
        let pairs = family_pairs();
        assert!(pairs.len() >= 6, "{pairs:?}");
        let mut gaps = Vec::new();
        for (engine, from, to, from_major, to_major) in &pairs {
            for p in family_params(from) {
                let values: Vec<String> = match p.spec.kind.as_str() {
                    // Each accepted token on its own, next to one that stays valid.
                    "list" => p
                        .allowed()
                        .iter()
                        .map(|t| format!("{t},{}", p.default))
                        .collect(),
                    _ => vec![p.default.to_string()],
                };
                for value in values {
                    if value.is_empty() {
                        continue;
                    }
                    let param = Parameter {
                        name: p.name.to_string(),
                        value: Some(value.clone()),
                        source: "user".into(),
                        apply_type: p.apply.to_string(),
                        is_modifiable: true,
                    };
                    let m =
                        rules::plan_group(rules::table(), engine, from_major, to_major, &[param]);
                    for ch in &m.parameters {
                        match family_param(to, &ch.name) {
                            None => {
                                gaps.push(format!("{from} -> {to}: `{}` does not exist", ch.name))
                            }
                            Some(tp) => {
                                if let Err(e) = tp.check(&ch.value) {
                                    gaps.push(format!("{from} -> {to}: {e}"));
                                }
                            }
                        }
                    }
                }
            }
        }
        gaps.sort();
        gaps.dedup();
        assert!(
            gaps.is_empty(),
            "mapping rules missing:\n{}",
            gaps.join("\n")
        );
    }

    /// The planner's idea of the defaults of what green requires matches the families'.
    #[test]
    fn planner_engine_defaults_match_the_families() {
        let c = Catalog::bundled();
        let t = rules::table();
        for req in &t.green_requires {
            for v in c
                .versions
                .iter()
                .filter(|v| req.engines.contains(&v.engine))
            {
                let f = &v.parameter_group_family;
                let Some(p) = family_param(f, &req.parameter) else {
                    continue;
                };
                let major = major_version(&v.engine, &v.engine_version);
                assert_eq!(
                    t.engine_default(&v.engine, &major, &req.parameter),
                    Some(p.default),
                    "{} default in {f}",
                    req.parameter
                );
                assert!(p.check(&req.value).is_ok(), "{f} accepts {}", req.value);
            }
        }
    }
}
