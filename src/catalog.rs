//! The engine catalog: engine versions and their valid upgrade targets, shaped like
//! `DescribeDBEngineVersions`. One catalog serves both the simulator (which answers
//! `DescribeDBEngineVersions` from it) and the planner (which falls back to it when the live
//! call is unavailable). The data lives in `data/engine-catalog.json`, not in code.
//!
//! The catalog holds what `DescribeDBEngineVersions` returns with `IncludeAll=true`: versions
//! still offered (`Status` `available`, Extended Support minors such as `5.7.44-RDS.20240808`
//! included) and versions no longer offered for new instances (`deprecated`, e.g. `5.7.33`),
//! which fleets still run and which keep their `ValidUpgradeTarget`. A deprecated version is
//! never chosen as an upgrade target: RDS cannot create an instance on it.

use crate::domain::{cmp_versions, version_has_prefix, EngineVersion, UpgradeTarget};
use serde::Deserialize;

const BUNDLED: &str = include_str!("../data/engine-catalog.json");

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("engine catalog is not valid JSON: {0}")]
    Parse(#[from] serde_json::Error),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    pub versions: Vec<EngineVersion>,
    /// Where the data came from (`bundled 2026-11-01` or `live`).
    pub origin: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawDoc {
    #[serde(rename = "DBEngineVersions")]
    db_engine_versions: Vec<RawVersion>,
    #[serde(rename = "as_of", default)]
    as_of: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawVersion {
    engine: String,
    engine_version: String,
    #[serde(rename = "DBParameterGroupFamily")]
    family: String,
    #[serde(default = "available")]
    status: String,
    #[serde(default)]
    valid_upgrade_target: Vec<RawTarget>,
}

fn available() -> String {
    "available".into()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawTarget {
    engine_version: String,
    is_major_version_upgrade: bool,
    #[serde(default)]
    auto_upgrade: bool,
}

impl Catalog {
    /// The catalog shipped inside the binary.
    pub fn bundled() -> Catalog {
        Catalog::parse(BUNDLED).expect("bundled engine catalog is valid")
    }

    /// Parse a document shaped like a `DescribeDBEngineVersions` response.
    pub fn parse(text: &str) -> Result<Catalog, CatalogError> {
        let doc: RawDoc = serde_json::from_str(text)?;
        let versions = doc
            .db_engine_versions
            .into_iter()
            .map(|v| EngineVersion {
                engine: v.engine,
                engine_version: v.engine_version,
                parameter_group_family: v.family,
                status: v.status,
                valid_upgrade_targets: v
                    .valid_upgrade_target
                    .into_iter()
                    .map(|t| UpgradeTarget {
                        engine_version: t.engine_version,
                        is_major_version_upgrade: t.is_major_version_upgrade,
                        auto_upgrade: t.auto_upgrade,
                    })
                    .collect(),
            })
            .collect();
        Ok(Catalog {
            versions,
            origin: format!("bundled catalog as of {}", doc.as_of),
        })
    }

    pub fn from_versions(versions: Vec<EngineVersion>, origin: impl Into<String>) -> Catalog {
        Catalog {
            versions,
            origin: origin.into(),
        }
    }

    /// One version; versions match case-insensitively (AWS answers `5.7.44-rds.20240808`
    /// where its documentation writes `5.7.44-RDS.20240808`).
    pub fn get(&self, engine: &str, version: &str) -> Option<&EngineVersion> {
        self.versions
            .iter()
            .find(|v| v.engine == engine && v.engine_version.eq_ignore_ascii_case(version))
    }

    /// All versions of an engine, optionally restricted to one version, as
    /// `DescribeDBEngineVersions` lists them: versions no longer offered (`deprecated`) only
    /// with `include_all`.
    pub fn list(
        &self,
        engine: &str,
        version: Option<&str>,
        include_all: bool,
    ) -> Vec<EngineVersion> {
        self.versions
            .iter()
            .filter(|v| {
                v.engine == engine
                    && version.is_none_or(|x| v.engine_version.eq_ignore_ascii_case(x))
            })
            .filter(|v| include_all || !v.is_deprecated())
            .cloned()
            .collect()
    }

    /// Is this version known and no longer offered for new instances?
    pub fn is_deprecated(&self, engine: &str, version: &str) -> bool {
        self.get(engine, version).is_some_and(|v| v.is_deprecated())
    }

    /// Parameter group family of an engine version (`mysql8.0`).
    pub fn family(&self, engine: &str, version: &str) -> Option<&str> {
        self.get(engine, version)
            .map(|v| v.parameter_group_family.as_str())
    }

    /// Is `to` a direct valid upgrade target of `from`?
    pub fn valid_target(&self, engine: &str, from: &str, to: &str) -> Option<&UpgradeTarget> {
        self.get(engine, from)?
            .valid_upgrade_targets
            .iter()
            .find(|t| t.engine_version.eq_ignore_ascii_case(to))
    }

    /// Newest direct upgrade target of `from` matching the requested version or prefix
    /// (`8.0` picks the newest valid 8.0.x; `8.0.40` must be valid itself). A target the
    /// catalog lists as deprecated is skipped.
    pub fn resolve_direct(&self, engine: &str, from: &str, wanted: &str) -> Option<&UpgradeTarget> {
        self.get(engine, from)?
            .valid_upgrade_targets
            .iter()
            .filter(|t| version_has_prefix(&t.engine_version, wanted))
            .filter(|t| !self.is_deprecated(engine, &t.engine_version))
            .max_by(|a, b| cmp_versions(&a.engine_version, &b.engine_version))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_catalog_resolves_mysql_and_postgres() {
        let c = Catalog::bundled();
        assert_eq!(c.family("mysql", "5.7.44"), Some("mysql5.7"));
        let t = c.resolve_direct("mysql", "5.7.44", "8.0").unwrap();
        assert_eq!(t.engine_version, "8.0.42");
        assert!(t.is_major_version_upgrade);
        assert!(c.resolve_direct("mysql", "5.7.44", "8.4").is_none());
        assert!(c.valid_target("postgres", "13.15", "16.4").is_some());
    }

    /// Issue 10: the fleets that most need upgrading run Extended Support minors and minors
    /// no longer offered; the bundled catalog knows both, with their targets.
    #[test]
    fn bundled_catalog_has_extended_support_and_deprecated_minors() {
        let c = Catalog::bundled();
        let es = c.get("mysql", "5.7.44-RDS.20240808").expect("ES minor");
        assert_eq!(es.parameter_group_family, "mysql5.7");
        assert!(!es.is_deprecated());
        assert_eq!(
            c.resolve_direct("mysql", "5.7.44-RDS.20240808", "8.0")
                .unwrap()
                .engine_version,
            "8.0.42"
        );
        assert!(c.get("postgres", "11.22-rds.20240418").is_some());
        assert!(c.is_deprecated("mysql", "5.7.33"));
        assert_eq!(
            c.resolve_direct("mysql", "5.7.33", "8.0")
                .unwrap()
                .engine_version,
            "8.0.42"
        );
        // Without IncludeAll a deprecated version is not listed; with it, it is.
        assert!(c.list("mysql", Some("5.7.33"), false).is_empty());
        assert_eq!(c.list("mysql", Some("5.7.33"), true).len(), 1);
        assert_eq!(c.list("mysql", Some("5.7.44-RDS.20240808"), false).len(), 1);
        // No version lists a deprecated one as a target, and every target is in the catalog.
        for v in &c.versions {
            for t in &v.valid_upgrade_targets {
                let tv = c.get(&v.engine, &t.engine_version);
                assert!(
                    tv.is_some(),
                    "{} -> {} unknown",
                    v.engine_version,
                    t.engine_version
                );
                assert!(
                    !tv.unwrap().is_deprecated(),
                    "{} -> {}",
                    v.engine_version,
                    t.engine_version
                );
            }
        }
    }
}
