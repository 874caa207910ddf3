//! The engine catalog: engine versions and their valid upgrade targets, shaped like
//! `DescribeDBEngineVersions`. One catalog serves both the simulator (which answers
//! `DescribeDBEngineVersions` from it) and the planner (which falls back to it when the live
//! call is unavailable). The data lives in `data/engine-catalog.json`, not in code.

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
    #[serde(default)]
    valid_upgrade_target: Vec<RawTarget>,
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

    pub fn get(&self, engine: &str, version: &str) -> Option<&EngineVersion> {
        self.versions
            .iter()
            .find(|v| v.engine == engine && v.engine_version == version)
    }

    /// All versions of an engine, optionally restricted to one version.
    pub fn list(&self, engine: &str, version: Option<&str>) -> Vec<EngineVersion> {
        self.versions
            .iter()
            .filter(|v| v.engine == engine && version.is_none_or(|x| v.engine_version == x))
            .cloned()
            .collect()
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
            .find(|t| t.engine_version == to)
    }

    /// Newest direct upgrade target of `from` matching the requested version or prefix
    /// (`8.0` picks the newest valid 8.0.x; `8.0.40` must be valid itself).
    pub fn resolve_direct(&self, engine: &str, from: &str, wanted: &str) -> Option<&UpgradeTarget> {
        self.get(engine, from)?
            .valid_upgrade_targets
            .iter()
            .filter(|t| version_has_prefix(&t.engine_version, wanted))
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
}
