//! Discovery and the inventory file.
//!
//! Owns: turning `--filter`-style strings into [`Filter`]s, discovering instances across
//! regions through the [`RdsBackend`] trait, enriching their custom parameter groups (family and
//! user-modified parameters, so that `plan --inventory FILE` can plan offline), and the
//! inventory file itself: a JSON array of [`DbInstance`] (see `crate::domain`).
//!
//! API economy (RDS throttles per account and region, ~12 req/s sustained): one paginated
//! `describe_instances` per region with engine filters pushed down, one
//! `describe_parameter_groups` per region for all custom groups, and one `describe_parameters`
//! per *distinct* custom group per region, never one call per database.

use crate::backend::{BackendError, InstanceQuery, RdsBackend};
use crate::domain::{DbInstance, ParameterGroup};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("bad filter `{filter}`: {reason} (expected engine=NAME, version=PREFIX, tag:KEY=VALUE or id=GLOB)")]
    BadFilter { filter: String, reason: String },
    #[error("cannot read inventory file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("inventory file {path} is not a JSON array of instances: {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
    #[error("inventory file {path} has {count} problem(s) RDS would never report: {problems}")]
    Invalid {
        path: String,
        count: usize,
        problems: String,
    },
    #[error("discovery failed in region {region}: {source}")]
    Backend {
        region: String,
        source: BackendError,
    },
}

/// One discovery filter. Several filters combine with AND; several `Engine` filters with OR
/// among themselves (so `engine=mysql engine=postgres` means either engine).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    Engine(String),
    VersionPrefix(String),
    Tag(String, String),
    IdentifierGlob(String),
}

/// Parse `engine=mysql`, `version=5.7`, `tag:env=prod`, `id=orders-*`.
pub fn parse_filter(s: &str) -> Result<Filter, InventoryError> {
    let bad = |reason: &str| InventoryError::BadFilter {
        filter: s.to_string(),
        reason: reason.to_string(),
    };
    let (key, value) = s.split_once('=').ok_or_else(|| bad("missing `=`"))?;
    let key = key.trim();
    let value = value.trim();
    if value.is_empty() {
        return Err(bad("empty value"));
    }
    if let Some(tag) = key.strip_prefix("tag:") {
        if tag.is_empty() {
            return Err(bad("empty tag key"));
        }
        return Ok(Filter::Tag(tag.to_string(), value.to_string()));
    }
    match key {
        "engine" => Ok(Filter::Engine(value.to_string())),
        "version" => Ok(Filter::VersionPrefix(value.to_string())),
        "id" => Ok(Filter::IdentifierGlob(value.to_string())),
        _ => Err(bad(&format!("unknown key `{key}`"))),
    }
}

/// Does `db` pass every filter? (Engine filters are OR-ed together, everything else AND-ed.)
pub fn matches(filters: &[Filter], db: &DbInstance) -> bool {
    let engines: Vec<&str> = filters
        .iter()
        .filter_map(|f| match f {
            Filter::Engine(e) => Some(e.as_str()),
            _ => None,
        })
        .collect();
    if !engines.is_empty() && !engines.contains(&db.engine.as_str()) {
        return false;
    }
    filters.iter().all(|f| match f {
        Filter::Engine(_) => true,
        Filter::VersionPrefix(p) => crate::domain::version_has_prefix(&db.engine_version, p),
        Filter::Tag(k, v) => db.tags.get(k) == Some(v),
        Filter::IdentifierGlob(g) => glob_match(g.as_bytes(), db.identifier.as_bytes()),
    })
}

/// Shell-style glob with `*` (any run) and `?` (one character).
fn glob_match(pat: &[u8], s: &[u8]) -> bool {
    // Iterative matcher with single backtrack point: linear-ish, no recursion blow-up.
    let (mut p, mut i) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        if p < pat.len() && (pat[p] == b'?' || pat[p] == s[i]) {
            p += 1;
            i += 1;
        } else if p < pat.len() && pat[p] == b'*' {
            star = Some((p, i));
            p += 1;
        } else if let Some((sp, si)) = star {
            p = sp + 1;
            i = si + 1;
            star = Some((sp, si + 1));
        } else {
            return false;
        }
    }
    while p < pat.len() && pat[p] == b'*' {
        p += 1;
    }
    p == pat.len()
}

/// Parameter group names per `describe_parameter_groups` call during discovery.
const GROUP_CHUNK: usize = 20;

/// Discover instances in every region, filter, enrich custom parameter groups and sort by
/// (region, identifier).
pub async fn discover(
    backend: &dyn RdsBackend,
    regions: &[String],
    filters: &[Filter],
) -> Result<Vec<DbInstance>, InventoryError> {
    let engines: Vec<String> = filters
        .iter()
        .filter_map(|f| match f {
            Filter::Engine(e) => Some(e.clone()),
            _ => None,
        })
        .collect();
    let query = InstanceQuery {
        identifiers: Vec::new(),
        engines,
    };
    let mut out = Vec::new();
    let mut seen_regions = BTreeSet::new();
    for region in regions {
        if !seen_regions.insert(region.clone()) {
            continue; // `--region x --region x` must not describe twice
        }
        let wrap = |e: BackendError| InventoryError::Backend {
            region: region.clone(),
            source: e,
        };
        let mut found: Vec<DbInstance> = backend
            .describe_instances(region, &query)
            .await
            .map_err(wrap)?
            .into_iter()
            .filter(|db| matches(filters, db))
            .collect();
        // Distinct custom groups in this region: one describe each, shared by all users.
        let custom: BTreeSet<String> = found
            .iter()
            .flat_map(|db| db.parameter_groups.iter())
            .filter(|g| !ParameterGroup::is_default(&g.name))
            .map(|g| g.name.clone())
            .collect();
        if !custom.is_empty() {
            let names: Vec<String> = custom.iter().cloned().collect();
            // RDS takes one group name per request, so a call with N names costs N requests:
            // chunk them, so that each call fits in the API's burst and can be retried alone.
            let mut families: BTreeMap<String, String> = BTreeMap::new();
            for chunk in names.chunks(GROUP_CHUNK) {
                let groups = backend
                    .describe_parameter_groups(region, chunk)
                    .await
                    .map_err(wrap)?;
                families.extend(groups.into_iter().map(|g| (g.name, g.family)));
            }
            let mut params = BTreeMap::new();
            for name in &custom {
                let mut p = backend
                    .describe_parameters(region, name, true)
                    .await
                    .map_err(wrap)?;
                // Keep only what the user changed, in a stable order (fingerprints).
                p.retain(|p| p.source == "user");
                p.sort_by(|a, b| a.name.cmp(&b.name));
                params.insert(name.clone(), p);
            }
            for db in &mut found {
                for g in &mut db.parameter_groups {
                    if let Some(p) = params.get(&g.name) {
                        g.family = families.get(&g.name).cloned().or(g.family.take());
                        g.user_parameters = Some(p.clone());
                    }
                }
            }
        }
        if !found.is_empty() {
            enrich_topology(backend, region, &mut found).await;
        }
        out.extend(found);
    }
    out.sort_by(|a, b| (&a.region, &a.identifier).cmp(&(&b.region, &b.identifier)));
    Ok(out)
}

/// Fill `rds_proxies` and `zero_etl_integrations` of one region's instances: one paginated
/// `DescribeDBProxies`, one `DescribeDBProxyTargets` per proxy (the API takes one proxy) and one
/// `DescribeIntegrations`, never one call per database. A read the endpoint cannot answer (moto
/// has no `DescribeIntegrations`; a policy may deny it) leaves the field `None`, "not checked",
/// which the planner reports as a warning: a check that was not made never passes silently.
async fn enrich_topology(backend: &dyn RdsBackend, region: &str, found: &mut [DbInstance]) {
    let proxies: Option<BTreeMap<String, Vec<String>>> = match backend
        .describe_proxies(region)
        .await
    {
        Ok(list) => {
            let mut by_target: BTreeMap<String, Vec<String>> = BTreeMap::new();
            let mut complete = true;
            for p in &list {
                match backend.describe_proxy_targets(region, &p.name).await {
                    Ok(targets) => {
                        for t in targets {
                            by_target
                                .entry(t.resource_id)
                                .or_default()
                                .push(p.name.clone());
                        }
                    }
                    // Deleted between the two calls: it targets nothing any more.
                    Err(e) if e.kind == crate::backend::ErrorKind::NotFound => {}
                    Err(e) => {
                        tracing::warn!(region, proxy = %p.name, error = %e, "DescribeDBProxyTargets failed: RDS Proxy targets not checked");
                        complete = false;
                    }
                }
            }
            complete.then_some(by_target)
        }
        Err(e) => {
            tracing::warn!(region, error = %e, "DescribeDBProxies failed: RDS Proxy targets not checked");
            None
        }
    };
    let integrations: Option<BTreeMap<String, Vec<String>>> = match backend
        .describe_integrations(region)
        .await
    {
        Ok(list) => {
            let mut by_source: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for i in list {
                let label = if i.status.is_empty() {
                    i.name
                } else {
                    format!("{} ({})", i.name, i.status)
                };
                by_source.entry(i.source_arn).or_default().push(label);
            }
            Some(by_source)
        }
        Err(e) => {
            tracing::warn!(region, error = %e, "DescribeIntegrations failed: zero-ETL integrations not checked");
            None
        }
    };
    for db in found.iter_mut() {
        db.rds_proxies = proxies
            .as_ref()
            .map(|m| m.get(&db.identifier).cloned().unwrap_or_default());
        db.zero_etl_integrations = integrations
            .as_ref()
            .map(|m| m.get(&db.arn).cloned().unwrap_or_default());
    }
}

/// Read an inventory file written by `inventory --format json`.
pub fn load(path: &Path) -> Result<Vec<DbInstance>, InventoryError> {
    let p = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| InventoryError::Read {
        path: p.clone(),
        source: e,
    })?;
    parse(&p, &text)
}

/// Parse and check inventory text (`path` names it in errors). Unknown fields are refused (a
/// misspelt `deletion_protection` must not read as `false`), and so is anything RDS would not
/// report: see [`problems`].
pub fn parse(path: &str, text: &str) -> Result<Vec<DbInstance>, InventoryError> {
    let inv: Vec<DbInstance> = serde_json::from_str(text).map_err(|e| InventoryError::Parse {
        path: path.to_string(),
        source: e,
    })?;
    let found = problems(&inv);
    if found.is_empty() {
        Ok(inv)
    } else {
        Err(InventoryError::Invalid {
            path: path.to_string(),
            count: found.len(),
            problems: found.into_iter().take(10).collect::<Vec<_>>().join("; "),
        })
    }
}

/// RDS's documented limits: allocated storage up to 64 TiB, backup retention 0 to 35 days,
/// tag keys up to 128 characters and values up to 256.
const MAX_STORAGE_GIB: i32 = 65_536;
const MAX_BACKUP_RETENTION_DAYS: i32 = 35;
const MAX_TAG_KEY: usize = 128;
const MAX_TAG_VALUE: usize = 256;

/// What in an inventory RDS would never have reported: identifiers and names RDS refuses
/// ([`crate::naming::check_identifier`]), malformed regions and ARNs, impossible sizes,
/// duplicate instances. One line per problem, naming the instance.
pub fn problems(instances: &[DbInstance]) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, d) in instances.iter().enumerate() {
        let who = format!("instance #{} ({:?} in {:?})", i + 1, d.identifier, d.region);
        let mut bad = |what: &str, why: String| out.push(format!("{who}: {what} {why}"));
        if !seen.insert((&d.region, &d.identifier)) {
            bad("identifier", "appears twice in this region".into());
        }
        instance_problems(d, &mut bad);
    }
    out
}

/// The problems of one instance, each handed to `bad(field, why)`.
fn instance_problems(d: &DbInstance, bad: &mut impl FnMut(&str, String)) {
    use crate::naming::{check_identifier, check_rds_name, check_region};
    if let Err(e) = check_region(&d.region) {
        bad("region", e);
    }
    if let Err(e) = check_identifier(&d.identifier) {
        bad("identifier", e);
    }
    if !d.arn.is_empty() && !arn_names(&d.arn, &d.region, &d.identifier) {
        bad("arn", format!("{:?} is not this instance's ARN", d.arn));
    }
    if !token(&d.engine, |c| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
    }) {
        bad("engine", format!("{:?} is not an engine name", d.engine));
    }
    if !token(&d.engine_version, |c| {
        c.is_ascii_alphanumeric() || c == '.' || c == '-'
    }) {
        bad(
            "engine_version",
            format!("{:?} is not a version", d.engine_version),
        );
    }
    if !d.instance_class.starts_with("db.")
        || !token(&d.instance_class, |c| c.is_ascii_alphanumeric() || c == '.')
    {
        bad(
            "instance_class",
            format!("{:?} is not a DB instance class", d.instance_class),
        );
    }
    if !(0..=MAX_STORAGE_GIB).contains(&d.allocated_storage_gib) {
        bad(
            "allocated_storage_gib",
            format!(
                "{} is outside 0..={MAX_STORAGE_GIB}",
                d.allocated_storage_gib
            ),
        );
    }
    if !(0..=MAX_BACKUP_RETENTION_DAYS).contains(&d.backup_retention_period) {
        bad(
            "backup_retention_period",
            format!(
                "{} is outside 0..={MAX_BACKUP_RETENTION_DAYS} days",
                d.backup_retention_period
            ),
        );
    }
    for g in &d.parameter_groups {
        // AWS's own default groups are the only names with a dot (`default.mysql5.7`).
        let r = match g.name.strip_prefix("default.") {
            Some(fam) if token(fam, |c| c.is_ascii_alphanumeric() || c == '.' || c == '-') => {
                Ok(())
            }
            _ => check_rds_name(&g.name, crate::naming::PARAMETER_GROUP_MAX),
        };
        if let Err(e) = r {
            bad("parameter group", format!("{:?} {e}", g.name));
        }
    }
    for r in d.read_replica_source.iter().chain(&d.read_replicas) {
        let ok = check_identifier(r).is_ok() || r.starts_with("arn:aws");
        if !ok || r.chars().any(char::is_control) {
            bad(
                "replica link",
                format!("{r:?} is neither an identifier nor an ARN"),
            );
        }
    }
    for (k, v) in &d.tags {
        let ctl = k.chars().chain(v.chars()).any(char::is_control);
        if k.is_empty()
            || k.chars().count() > MAX_TAG_KEY
            || v.chars().count() > MAX_TAG_VALUE
            || ctl
        {
            bad("tag", format!("{k:?} breaks RDS's tag limits (key 1..={MAX_TAG_KEY}, value up to {MAX_TAG_VALUE} characters, no control characters)"));
        }
    }
}

/// Non-empty, at most 64 characters, every character allowed by `ok`.
fn token(s: &str, ok: impl Fn(char) -> bool) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(ok)
}

/// `arn:PARTITION:rds:REGION:ACCOUNT:db:IDENTIFIER` of this instance.
fn arn_names(arn: &str, region: &str, identifier: &str) -> bool {
    let p: Vec<&str> = arn.split(':').collect();
    p.len() == 7
        && p[0] == "arn"
        && p[1].starts_with("aws")
        && p[2] == "rds"
        && p[3] == region
        && p[4].len() == 12
        && p[4].chars().all(|c| c.is_ascii_digit())
        && p[5] == "db"
        && p[6] == identifier
}

/// The inventory file format: a pretty JSON array, newline-terminated.
pub fn to_json(instances: &[DbInstance]) -> String {
    let mut s = serde_json::to_string_pretty(instances).expect("instances serialize");
    s.push('\n');
    s
}

/// A fixed-width table for terminals.
pub fn render_table(instances: &[DbInstance]) -> String {
    let header = [
        "REGION",
        "IDENTIFIER",
        "ENGINE",
        "VERSION",
        "CLASS",
        "STORAGE",
        "STATUS",
        "PARAMETER GROUP",
        "TOPOLOGY",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    for db in instances {
        let pg = db
            .parameter_group()
            .map(|g| format!("{} ({})", g.name, g.apply_status))
            .unwrap_or_else(|| "-".into());
        let topo = match (&db.read_replica_source, db.read_replicas.len()) {
            (Some(src), _) => format!("replica of {src}"),
            (None, 0) => "-".into(),
            (None, n) => format!("{n} replica(s)"),
        };
        rows.push(vec![
            db.region.clone(),
            db.identifier.clone(),
            db.engine.clone(),
            db.engine_version.clone(),
            db.instance_class.clone(),
            format!(
                "{} {}GiB{}",
                db.storage_type,
                db.allocated_storage_gib,
                if db.multi_az { " multi-az" } else { "" }
            ),
            db.status.clone(),
            pg,
            topo,
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out.push_str(&format!("{} instance(s)\n", instances.len()));
    out
}

/// SHA-256 of the canonical JSON of the instances, independent of their order (and of the
/// order of parameters inside a group).
pub fn fingerprint(instances: &[DbInstance]) -> String {
    let mut v: Vec<DbInstance> = instances.to_vec();
    v.sort_by(|a, b| (&a.region, &a.identifier).cmp(&(&b.region, &b.identifier)));
    for db in &mut v {
        for g in &mut db.parameter_groups {
            if let Some(p) = &mut g.user_parameters {
                p.sort_by(|a, b| a.name.cmp(&b.name));
            }
        }
    }
    let bytes = serde_json::to_vec(&v).expect("instances serialize");
    crate::plan::sha256_hex(&bytes)
}

/// A tiny in-memory [`RdsBackend`] over a `Vec`, for discovery and planning tests (the real
/// simulator is a separate module). It counts describe calls so tests can check API economy.
#[cfg(test)]
pub(crate) mod fake {
    use crate::backend::*;
    use crate::domain::*;
    use async_trait::async_trait;
    use std::sync::Mutex;

    #[derive(Default)]
    pub struct FakeBackend {
        pub instances: Vec<DbInstance>,
        pub groups: Vec<(String, ParameterGroup, Vec<Parameter>)>,
        pub engine_versions: Option<Vec<EngineVersion>>,
        /// Per-region answers, preferred over `engine_versions` for their region.
        pub engine_versions_in: std::collections::BTreeMap<String, Vec<EngineVersion>>,
        pub quota: Option<Quota>,
        /// Proxies with their targets; `None`: `DescribeDBProxies` is unavailable.
        pub proxies: Option<Vec<(DbProxy, Vec<ProxyTarget>)>>,
        /// `None`: `DescribeIntegrations` is unavailable.
        pub integrations: Option<Vec<Integration>>,
        pub calls: Mutex<Vec<String>>,
    }

    fn unavailable() -> BackendError {
        BackendError::new(ErrorKind::Unavailable, "NotImplemented", "fake backend")
    }

    #[async_trait]
    impl RdsBackend for FakeBackend {
        fn kind(&self) -> &'static str {
            "fake"
        }
        async fn describe_instances(
            &self,
            region: &str,
            q: &InstanceQuery,
        ) -> BResult<Vec<DbInstance>> {
            self.calls
                .lock()
                .unwrap()
                .push(format!("describe_instances {region} {:?}", q.engines));
            Ok(self
                .instances
                .iter()
                .filter(|d| d.region == region)
                .filter(|d| q.engines.is_empty() || q.engines.contains(&d.engine))
                .cloned()
                .collect())
        }
        async fn describe_blue_green(
            &self,
            _: &str,
            _: &BlueGreenQuery,
        ) -> BResult<Vec<BlueGreen>> {
            Err(unavailable())
        }
        async fn describe_snapshots(&self, _: &str, _: &SnapshotQuery) -> BResult<Vec<Snapshot>> {
            Err(unavailable())
        }
        async fn create_snapshot(&self, _: &str, _: &str, _: &str, _: &Tags) -> BResult<Snapshot> {
            Err(unavailable())
        }
        async fn describe_parameter_groups(
            &self,
            region: &str,
            names: &[String],
        ) -> BResult<Vec<ParameterGroup>> {
            self.calls
                .lock()
                .unwrap()
                .push(format!("describe_parameter_groups {region}"));
            Ok(self
                .groups
                .iter()
                .filter(|(r, g, _)| r == region && (names.is_empty() || names.contains(&g.name)))
                .map(|(_, g, _)| g.clone())
                .collect())
        }
        async fn describe_parameters(
            &self,
            region: &str,
            group: &str,
            user_only: bool,
        ) -> BResult<Vec<Parameter>> {
            self.calls
                .lock()
                .unwrap()
                .push(format!("describe_parameters {region} {group}"));
            let (_, _, p) = self
                .groups
                .iter()
                .find(|(r, g, _)| r == region && g.name == group)
                .ok_or_else(|| {
                    BackendError::new(ErrorKind::NotFound, "DBParameterGroupNotFound", group)
                })?;
            Ok(p.iter()
                .filter(|p| !user_only || p.source == "user")
                .cloned()
                .collect())
        }
        async fn create_parameter_group(
            &self,
            _: &str,
            _: &NewParameterGroup,
        ) -> BResult<ParameterGroup> {
            Err(unavailable())
        }
        async fn modify_parameter_group(
            &self,
            _: &str,
            _: &str,
            _: &[ParameterChange],
        ) -> BResult<()> {
            Err(unavailable())
        }
        async fn delete_parameter_group(&self, _: &str, _: &str) -> BResult<()> {
            Err(unavailable())
        }
        async fn create_blue_green(&self, _: &str, _: &CreateBlueGreen) -> BResult<BlueGreen> {
            Err(unavailable())
        }
        async fn switchover_blue_green(&self, _: &str, _: &str, _: u32) -> BResult<BlueGreen> {
            Err(unavailable())
        }
        async fn delete_blue_green(&self, _: &str, _: &str, _: bool) -> BResult<()> {
            Err(unavailable())
        }
        async fn delete_instance(&self, _: &str, _: &str, _: &str) -> BResult<()> {
            Err(unavailable())
        }
        async fn set_deletion_protection(&self, _: &str, _: &str, _: bool) -> BResult<()> {
            Err(unavailable())
        }
        async fn add_tags(&self, _: &str, _: &str, _: &Tags) -> BResult<()> {
            Err(unavailable())
        }
        async fn list_tags(&self, _: &str, _: &str) -> BResult<Tags> {
            Err(unavailable())
        }
        async fn describe_engine_versions(
            &self,
            region: &str,
            engine: &str,
            version: Option<&str>,
            include_all: bool,
        ) -> BResult<Vec<EngineVersion>> {
            self.calls
                .lock()
                .unwrap()
                .push(format!("describe_engine_versions {region} {engine}"));
            assert!(include_all, "the planner asks with IncludeAll");
            match self
                .engine_versions_in
                .get(region)
                .or(self.engine_versions.as_ref())
            {
                None => Err(unavailable()),
                Some(v) => Ok(v
                    .iter()
                    .filter(|e| e.engine == engine && version.is_none_or(|x| x == e.engine_version))
                    .cloned()
                    .collect()),
            }
        }
        async fn describe_instance_quota(&self, region: &str) -> BResult<Quota> {
            self.calls
                .lock()
                .unwrap()
                .push(format!("describe_instance_quota {region}"));
            self.quota.ok_or_else(unavailable)
        }
        async fn delete_read_replica(&self, _: &str, _: &ReadReplica) -> BResult<()> {
            Err(unavailable())
        }
        async fn describe_proxies(&self, region: &str) -> BResult<Vec<DbProxy>> {
            self.calls
                .lock()
                .unwrap()
                .push(format!("describe_proxies {region}"));
            let p = self.proxies.as_ref().ok_or_else(unavailable)?;
            Ok(p.iter().map(|(p, _)| p.clone()).collect())
        }
        async fn describe_proxy_targets(
            &self,
            region: &str,
            proxy: &str,
        ) -> BResult<Vec<ProxyTarget>> {
            self.calls
                .lock()
                .unwrap()
                .push(format!("describe_proxy_targets {region} {proxy}"));
            let p = self.proxies.as_ref().ok_or_else(unavailable)?;
            Ok(p.iter()
                .filter(|(p, _)| p.name == proxy)
                .flat_map(|(_, t)| t.clone())
                .collect())
        }
        async fn describe_integrations(&self, region: &str) -> BResult<Vec<Integration>> {
            self.calls
                .lock()
                .unwrap()
                .push(format!("describe_integrations {region}"));
            self.integrations.clone().ok_or_else(unavailable)
        }
        async fn describe_log_files(&self, _: &str, _: &str) -> BResult<Vec<LogFile>> {
            Err(unavailable())
        }
        async fn download_log_file(&self, _: &str, _: &str, _: &str) -> BResult<String> {
            Err(unavailable())
        }
    }

    /// A plain available MySQL 5.7 instance with backups on; tests tweak what they need.
    pub fn db(region: &str, id: &str) -> DbInstance {
        DbInstance {
            region: region.into(),
            identifier: id.into(),
            arn: format!("arn:aws:rds:{region}:123456789012:db:{id}"),
            dbi_resource_id: format!("db-{}", id.to_uppercase()),
            engine: "mysql".into(),
            engine_version: "5.7.44".into(),
            status: "available".into(),
            instance_class: "db.r6g.large".into(),
            allocated_storage_gib: 100,
            storage_type: "gp2".into(),
            iops: None,
            storage_throughput: None,
            multi_az: false,
            parameter_groups: vec![ParameterGroupStatus {
                name: "default.mysql5.7".into(),
                apply_status: "in-sync".into(),
                family: None,
                user_parameters: None,
            }],
            option_groups: vec!["default:mysql-5-7".into()],
            read_replica_source: None,
            read_replicas: vec![],
            backup_retention_period: 7,
            deletion_protection: false,
            managed_master_password: false,
            pending_modifications: vec![],
            tags: Tags::new(),
            db_cluster_identifier: None,
            // As discovery leaves them when the topology reads answered and found nothing.
            rds_proxies: Some(vec![]),
            zero_etl_integrations: Some(vec![]),
        }
    }

    pub fn user_param(name: &str, value: &str) -> Parameter {
        Parameter {
            name: name.into(),
            value: Some(value.into()),
            source: "user".into(),
            apply_type: "dynamic".into(),
            is_modifiable: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::*;
    use super::*;
    use crate::domain::{Parameter, ParameterGroupStatus};

    #[test]
    fn filters_parse_and_reject_garbage() {
        assert_eq!(
            parse_filter("engine=mysql").unwrap(),
            Filter::Engine("mysql".into())
        );
        assert_eq!(
            parse_filter("version=5.7").unwrap(),
            Filter::VersionPrefix("5.7".into())
        );
        assert_eq!(
            parse_filter("tag:env=prod").unwrap(),
            Filter::Tag("env".into(), "prod".into())
        );
        assert_eq!(
            parse_filter("id=orders-*").unwrap(),
            Filter::IdentifierGlob("orders-*".into())
        );
        for bad in ["engine", "colour=blue", "tag:=x", "engine="] {
            assert!(
                matches!(parse_filter(bad), Err(InventoryError::BadFilter { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn filters_match() {
        let mut d = db("eu-west-1", "orders-1");
        d.tags.insert("env".into(), "prod".into());
        let f =
            |s: &[&str]| -> Vec<Filter> { s.iter().map(|x| parse_filter(x).unwrap()).collect() };
        assert!(matches(
            &f(&["engine=mysql", "version=5.7", "tag:env=prod", "id=orders-*"]),
            &d
        ));
        assert!(matches(&f(&["engine=postgres", "engine=mysql"]), &d));
        assert!(!matches(&f(&["engine=postgres"]), &d));
        assert!(!matches(&f(&["version=5.6"]), &d));
        assert!(!matches(&f(&["tag:env=dev"]), &d));
        assert!(!matches(&f(&["id=billing-*"]), &d));
        assert!(matches(&f(&["id=*-?"]), &d));
        assert!(!matches(&f(&["id=orders"]), &d));
    }

    fn custom(db: &mut crate::domain::DbInstance, g: &str) {
        db.parameter_groups = vec![ParameterGroupStatus {
            name: g.into(),
            apply_status: "in-sync".into(),
            family: None,
            user_parameters: None,
        }];
    }

    #[tokio::test]
    async fn discover_sorts_filters_and_enriches_shared_groups_once() {
        let mut a = db("us-east-1", "b-db");
        custom(&mut a, "shared");
        let mut b = db("us-east-1", "a-db");
        custom(&mut b, "shared");
        let mut c = db("eu-west-1", "z-db");
        c.engine = "postgres".into();
        c.engine_version = "13.15".into();
        let grp = crate::domain::ParameterGroup {
            name: "shared".into(),
            family: "mysql5.7".into(),
            description: String::new(),
            arn: String::new(),
        };
        let params = vec![
            user_param("tx_isolation", "READ-COMMITTED"),
            Parameter {
                source: "engine-default".into(),
                ..user_param("max_connections", "100")
            },
        ];
        let fake = FakeBackend {
            instances: vec![a, b, c],
            groups: vec![("us-east-1".into(), grp, params)],
            ..Default::default()
        };
        let regions = vec!["us-east-1".to_string(), "eu-west-1".to_string()];
        let all = discover(&fake, &regions, &[]).await.unwrap();
        let ids: Vec<_> = all
            .iter()
            .map(|d| (d.region.as_str(), d.identifier.as_str()))
            .collect();
        assert_eq!(
            ids,
            [
                ("eu-west-1", "z-db"),
                ("us-east-1", "a-db"),
                ("us-east-1", "b-db")
            ]
        );
        let g = all[1].parameter_group().unwrap();
        assert_eq!(g.family.as_deref(), Some("mysql5.7"));
        assert_eq!(g.user_parameters.as_ref().unwrap().len(), 1);
        let calls = fake.calls.lock().unwrap().clone();
        assert_eq!(
            calls
                .iter()
                .filter(|c| c.starts_with("describe_parameters "))
                .count(),
            1,
            "{calls:?}"
        );
        assert_eq!(
            calls
                .iter()
                .filter(|c| c.starts_with("describe_instances"))
                .count(),
            2
        );

        let mysql = discover(&fake, &regions, &[parse_filter("engine=mysql").unwrap()])
            .await
            .unwrap();
        assert_eq!(mysql.len(), 2);
        // The engine filter is pushed down to the backend query, not only applied locally.
        let calls = fake.calls.lock().unwrap().clone();
        assert!(
            calls.contains(&"describe_instances us-east-1 [\"mysql\"]".to_string()),
            "{calls:?}"
        );
    }

    #[tokio::test]
    async fn discover_reads_proxies_and_integrations_once_per_region_not_per_database() {
        use crate::domain::{DbProxy, Integration, ProxyTarget};
        let dbs: Vec<DbInstance> = (0..30)
            .map(|i| db("us-east-1", &format!("db{i:02}")))
            .collect();
        let target = |p: &str, id: &str| ProxyTarget {
            proxy_name: p.into(),
            resource_id: id.into(),
            target_type: "RDS_INSTANCE".into(),
        };
        let proxy = |n: &str| DbProxy {
            name: n.into(),
            arn: String::new(),
            status: "available".into(),
        };
        let fake = FakeBackend {
            instances: dbs.clone(),
            proxies: Some(vec![
                (
                    proxy("p1"),
                    vec![target("p1", "db03"), target("p1", "db07")],
                ),
                (proxy("p2"), vec![target("p2", "db07")]),
            ]),
            integrations: Some(vec![Integration {
                name: "to-redshift".into(),
                arn: String::new(),
                source_arn: dbs[5].arn.clone(),
                target_arn: String::new(),
                status: "active".into(),
            }]),
            ..Default::default()
        };
        let all = discover(&fake, &["us-east-1".into()], &[]).await.unwrap();
        let by = |id: &str| all.iter().find(|d| d.identifier == id).unwrap();
        assert_eq!(by("db07").rds_proxies, Some(vec!["p1".into(), "p2".into()]));
        assert_eq!(by("db03").rds_proxies, Some(vec!["p1".into()]));
        assert_eq!(by("db00").rds_proxies, Some(vec![]));
        assert_eq!(
            by("db05").zero_etl_integrations,
            Some(vec!["to-redshift (active)".into()])
        );
        assert_eq!(by("db06").zero_etl_integrations, Some(vec![]));
        let calls = fake.calls.lock().unwrap().clone();
        let count = |p: &str| calls.iter().filter(|c| c.starts_with(p)).count();
        assert_eq!(count("describe_proxies "), 1, "{calls:?}");
        assert_eq!(
            count("describe_proxy_targets "),
            2,
            "one per proxy: {calls:?}"
        );
        assert_eq!(count("describe_integrations "), 1, "{calls:?}");

        // An endpoint that cannot answer leaves "not checked", which the planner reports.
        let fake = FakeBackend {
            instances: dbs,
            ..Default::default()
        };
        let all = discover(&fake, &["us-east-1".into()], &[]).await.unwrap();
        assert!(all
            .iter()
            .all(|d| d.rds_proxies.is_none() && d.zero_etl_integrations.is_none()));
    }

    #[tokio::test]
    async fn discover_wraps_backend_errors_with_region() {
        let mut a = db("us-east-1", "a");
        custom(&mut a, "missing");
        let fake = FakeBackend {
            instances: vec![a],
            ..Default::default()
        };
        let err = discover(&fake, &["us-east-1".into()], &[])
            .await
            .unwrap_err();
        match err {
            InventoryError::Backend { region, source } => {
                assert_eq!(region, "us-east-1");
                assert_eq!(source.kind, crate::backend::ErrorKind::NotFound);
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn fingerprint_ignores_order_and_round_trips_through_file() {
        let a = db("us-east-1", "a");
        let b = db("us-east-1", "b");
        assert_eq!(
            fingerprint(&[a.clone(), b.clone()]),
            fingerprint(&[b.clone(), a.clone()])
        );
        let mut b2 = b.clone();
        b2.engine_version = "5.7.43".into();
        assert_ne!(
            fingerprint(&[a.clone(), b.clone()]),
            fingerprint(&[a.clone(), b2])
        );

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inv.json");
        std::fs::write(&path, to_json(&[a.clone(), b.clone()])).unwrap();
        assert_eq!(load(&path).unwrap(), vec![a.clone(), b]);
        std::fs::write(&path, "{}").unwrap();
        assert!(matches!(load(&path), Err(InventoryError::Parse { .. })));
        assert!(matches!(
            load(&dir.path().join("nope.json")),
            Err(InventoryError::Read { .. })
        ));
        let t = render_table(&[a]);
        assert!(
            t.contains("REGION") && t.contains("default.mysql5.7 (in-sync)"),
            "{t}"
        );
    }

    /// One `check` per rule: a valid instance with one thing changed is refused, naming it.
    fn check_problem(change: impl Fn(&mut DbInstance), needle: &str) {
        let mut d = db("us-east-1", "orders-db");
        change(&mut d);
        let text = to_json(&[d]);
        match parse("inv.json", &text) {
            Err(InventoryError::Invalid { problems, .. }) => {
                assert!(problems.contains(needle), "{needle}: {problems}")
            }
            other => panic!("{needle}: {other:?}"),
        }
    }

    #[test]
    fn inventories_rds_would_never_report_are_refused() {
        assert!(parse("inv.json", &to_json(&[db("us-east-1", "orders-db")])).is_ok());
        check_problem(
            |d| d.identifier = "../../etc/passwd; rm -rf /".into(),
            "identifier",
        );
        check_problem(|d| d.identifier = "Orders".into(), "lower case");
        check_problem(|d| d.identifier = "a".repeat(64), "1 to 63");
        check_problem(|d| d.region = "us-east-1; rm".into(), "region");
        check_problem(
            |d| d.arn = "arn:aws:rds:us-east-1:123456789012:db:other".into(),
            "arn",
        );
        check_problem(|d| d.engine = "My SQL".into(), "engine");
        check_problem(|d| d.engine_version = "".into(), "engine_version");
        check_problem(|d| d.instance_class = "r5.large".into(), "instance_class");
        check_problem(|d| d.allocated_storage_gib = -1, "allocated_storage_gib");
        check_problem(
            |d| d.allocated_storage_gib = i32::MAX,
            "allocated_storage_gib",
        );
        check_problem(
            |d| d.backup_retention_period = 36,
            "backup_retention_period",
        );
        check_problem(
            |d| d.parameter_groups[0].name = "my_group".into(),
            "parameter group",
        );
        check_problem(
            |d| d.read_replicas = vec!["$(reboot)".into()],
            "replica link",
        );
        check_problem(
            |d| {
                d.tags.insert("k".repeat(129), "v".into());
            },
            "tag",
        );
        let two = to_json(&[db("us-east-1", "a"), db("us-east-1", "a")]);
        let e = parse("inv.json", &two).unwrap_err().to_string();
        assert!(e.contains("appears twice"), "{e}");
        // The same identifier in two regions is two instances.
        assert!(parse(
            "inv.json",
            &to_json(&[db("us-east-1", "a"), db("eu-west-1", "a")])
        )
        .is_ok());
        // A misspelt field is refused, not read as its default.
        let typo = to_json(&[db("us-east-1", "a")])
            .replace("\"deletion_protection\"", "\"deletion_protecton\"");
        let e = parse("inv.json", &typo).unwrap_err().to_string();
        assert!(e.contains("unknown field `deletion_protecton`"), "{e}");
    }
}
