//! The plan file: an immutable, fingerprinted description of everything `apply` will do.
//!
//! A plan is JSON (schema in `plans/README.md`). Its `plan_id` is a hash of its canonical
//! content, computed with every derived resource name blanked out; the names are then derived
//! from the `plan_id` ([`crate::naming`]). Loading a plan recomputes the id, so an edited plan
//! file is refused rather than half-trusted.

use crate::naming;
use crate::policy::{Selector, WaveInfo};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

pub const PLAN_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("cannot read plan file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("plan file {path} is not a valid rdsfleet plan: {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
    #[error("plan file {path} has schema version {found}, this rdsfleet reads {expected}")]
    Schema {
        path: String,
        found: u32,
        expected: u32,
    },
    #[error("plan file {path} was modified after it was made: its content hashes to {computed}, not its plan_id {recorded}; run `plan` again")]
    Tampered {
        path: String,
        recorded: String,
        computed: String,
    },
    #[error("plan file {path} names something RDS would refuse: {problem}")]
    Invalid { path: String, problem: String },
    #[error("cannot write plan file {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// A blocker or a warning: a stable machine `code` and a human message that says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub code: String,
    pub message: String,
}

impl Finding {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Finding {
            code: code.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Upgrade through a blue/green deployment.
    BlueGreen,
    /// Nothing to do (already at or above the target, or not selected); see `skip_reason`.
    Skip,
    /// Travels with its source's blue/green deployment (same-region read replica).
    WithSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepKind {
    Precheck,
    Snapshot,
    ParameterGroup,
    CreateBlueGreen,
    WaitReady,
    Switchover,
    Verify,
}

impl StepKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            StepKind::Precheck => "precheck",
            StepKind::Snapshot => "snapshot",
            StepKind::ParameterGroup => "parameter-group",
            StepKind::CreateBlueGreen => "create-blue-green",
            StepKind::WaitReady => "wait-ready",
            StepKind::Switchover => "switchover",
            StepKind::Verify => "verify",
        }
    }
    pub fn parse(s: &str) -> Option<StepKind> {
        Some(match s {
            "precheck" => StepKind::Precheck,
            "snapshot" => StepKind::Snapshot,
            "parameter-group" => StepKind::ParameterGroup,
            "create-blue-green" => StepKind::CreateBlueGreen,
            "wait-ready" => StepKind::WaitReady,
            "switchover" => StepKind::Switchover,
            "verify" => StepKind::Verify,
            _ => return None,
        })
    }
}

impl std::fmt::Display for StepKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One ordered step of a database's upgrade. `resource_name` is the deterministic name of what
/// the step creates (snapshot, parameter group, blue/green deployment), where it creates one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedStep {
    pub kind: StepKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
}

/// What the planner saw of the source instance; `apply` compares it to the live instance
/// (drift) before touching anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedSource {
    pub status: String,
    pub engine_version: String,
    pub parameter_group: Option<String>,
    #[serde(default)]
    pub dbi_resource_id: String,
    pub instance_class: String,
    #[serde(default)]
    pub storage_type: String,
    #[serde(default)]
    pub allocated_storage_gib: i32,
    #[serde(default)]
    pub deletion_protection: bool,
}

/// The green side of the deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetSpec {
    pub engine_version: String,
    /// Parameter group for green: a group this plan creates, or an AWS default group.
    pub parameter_group: String,
    pub parameter_group_family: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_type: Option<String>,
    /// `TargetIops` to send: set whenever green's storage is io1/io2 and any storage setting
    /// changes, and for gp3 above its baseline (see `planner::storage`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iops: Option<i32>,
    /// `TargetStorageThroughput` to send (gp3 at or above its baseline threshold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_throughput: Option<i32>,
    /// `TargetAllocatedStorage` to send, in GiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocated_storage_gib: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedDatabase {
    pub identifier: String,
    pub region: String,
    pub arn: String,
    pub engine: String,
    pub from_version: String,
    /// Target version; `None` when skipped without a resolvable target.
    pub to_version: Option<String>,
    pub strategy: Strategy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_reason: Option<String>,
    pub wave: u32,
    pub blockers: Vec<Finding>,
    pub warnings: Vec<Finding>,
    /// Same-region read replicas that travel with this database's deployment.
    #[serde(default)]
    pub replicas: Vec<String>,
    pub source: ObservedSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<TargetSpec>,
    /// Ordered steps; empty when blocked or skipped (apply leaves such a database untouched).
    pub steps: Vec<PlannedStep>,
    /// Instance attributes the report needs (vCPUs for Extended Support estimates).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

impl PlannedDatabase {
    pub fn step(&self, kind: StepKind) -> Option<&PlannedStep> {
        self.steps.iter().find(|s| s.kind == kind)
    }
    pub fn resource_name(&self, kind: StepKind) -> Option<&str> {
        self.step(kind).and_then(|s| s.resource_name.as_deref())
    }
    /// Will `apply` act on this database?
    pub fn is_actionable(&self) -> bool {
        self.strategy == Strategy::BlueGreen && self.blockers.is_empty() && !self.steps.is_empty()
    }
}

/// A target parameter group the plan creates, carrying the source group's user-modified
/// parameters into the new family. Shared source groups give one shared target group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedParameterGroup {
    pub region: String,
    /// Deterministic name (blank while the plan id is being computed).
    pub name: String,
    pub family: String,
    pub source_group: String,
    pub source_family: String,
    pub description: String,
    pub parameters: Vec<crate::domain::ParameterChange>,
    /// Source parameters with no equivalent in the new family.
    #[serde(default)]
    pub dropped: Vec<String>,
    /// `(old, new)` parameter renames applied.
    #[serde(default)]
    pub renamed: Vec<(String, String)>,
    /// Identifiers of the databases whose green side uses this group.
    pub used_by: Vec<String>,
    /// Every change from the source's values (renamed, dropped, values rewritten, values green
    /// requires), with its reason: what the dry-run report lists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub edits: Vec<ParameterEdit>,
    /// Values to set on this group once green serves: the source's own values of parameters
    /// green needed otherwise at creation (`event_scheduler`). Apply after switchover, and only
    /// once every database in `used_by` has switched over (before that, a green still
    /// replicating shares the group).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restore_after_switchover: Vec<crate::domain::ParameterChange>,
}

/// One change the plan makes to a source parameter, with its reason (for the dry-run report).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParameterEdit {
    /// The source parameter's name.
    pub name: String,
    /// Its value on the source (`None`: the source leaves it at the engine default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The name on green (`None`: not set on green).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_name: Option<String>,
    /// The value on green (`None`: not set on green, the family default applies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_value: Option<String>,
    pub reason: String,
}

/// Switchover and retention settings that apply reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanSettings {
    /// `SwitchoverTimeout` in seconds (30..=3600).
    pub switchover_timeout_secs: u32,
    /// How long old instances are kept after switchover before cleanup may delete them.
    pub retention_hours: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_type: Option<String>,
    /// Instance-class prefix map, e.g. `db.r5` -> `db.r7g`.
    #[serde(default)]
    pub class_map: Vec<(String, String)>,
    /// `--iops`: provisioned IOPS for green (io1/io2, gp3 at or above 400 GiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iops: Option<i32>,
    /// `--storage-throughput`: MiB/s for green (gp3 at or above 400 GiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_throughput: Option<i32>,
    /// `--allocated-storage`: GiB for green (e.g. io1's 100 GiB minimum).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocated_storage_gib: Option<i32>,
}

impl Default for PlanSettings {
    fn default() -> Self {
        PlanSettings {
            switchover_timeout_secs: 300,
            retention_hours: 72,
            storage_type: None,
            class_map: Vec::new(),
            iops: None,
            storage_throughput: None,
            allocated_storage_gib: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub schema_version: u32,
    pub plan_id: String,
    pub created_at: String,
    pub inventory_fingerprint: String,
    /// Targets as requested (`mysql` -> `8.0`).
    pub targets: BTreeMap<String, String>,
    pub settings: PlanSettings,
    /// Plan-level warnings (e.g. the engine catalog fell back to the bundled copy).
    pub warnings: Vec<Finding>,
    pub parameter_groups: Vec<PlannedParameterGroup>,
    pub databases: Vec<PlannedDatabase>,
    /// The rollout policy the plan was made with (`plan --policy`); `None` = defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<crate::policy::Policy>,
    /// The waves, numbered as in `databases[].wave`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waves: Vec<crate::policy::WaveInfo>,
}

/// Number the policy's waves, splitting canaries off: the waves as numbered in the plan, and
/// per wave rule its (main wave, canary wave) numbers.
fn number_waves(policy: &crate::policy::Policy) -> (Vec<WaveInfo>, Vec<(u32, Option<u32>)>) {
    let mut infos = Vec::new();
    let mut number_of_rule: Vec<(u32, Option<u32>)> = Vec::new();
    let mut n = 0u32;
    for w in &policy.waves {
        let canary = if w.canary > 0 {
            n += 1;
            infos.push(WaveInfo {
                number: n,
                name: format!("{}-canary", w.name),
                concurrency: Some(w.canary),
            });
            Some(n)
        } else {
            None
        };
        n += 1;
        infos.push(WaveInfo {
            number: n,
            name: w.name.clone(),
            concurrency: w.concurrency,
        });
        number_of_rule.push((n, canary));
    }
    (infos, number_of_rule)
}

/// Assign the policy's waves to the plan's databases (replicas follow their source). Databases that no
/// wave selects are skipped with a reason: a policy never touches what it didn't select.
/// Returns the waves as numbered in the plan. Call `plan.finalize()` afterwards.
fn assign_waves(
    policy: &crate::policy::Policy,
    plan: &mut Plan,
    inventory: &[crate::domain::DbInstance],
) -> Vec<WaveInfo> {
    if policy.waves.is_empty() {
        return vec![WaveInfo {
            number: 1,
            name: "all".into(),
            concurrency: None,
        }];
    }
    let by_key: std::collections::HashMap<(&str, &str), &crate::domain::Tags> = inventory
        .iter()
        .map(|i| ((i.region.as_str(), i.identifier.as_str()), &i.tags))
        .collect();
    let no_tags = crate::domain::Tags::new();
    let tags_of = |region: &str, id: &str| -> &crate::domain::Tags {
        by_key.get(&(region, id)).copied().unwrap_or(&no_tags)
    };
    // Rule index per database (first match).
    let mut rule_of: Vec<Option<usize>> = Vec::with_capacity(plan.databases.len());
    for d in &plan.databases {
        let tags = tags_of(&d.region, &d.identifier);
        let r = policy.waves.iter().position(|w| {
            w.select.iter().any(|s| {
                Selector::parse(s)
                    .map(|sel| sel.matches(&d.region, &d.identifier, &d.engine, tags))
                    .unwrap_or(false)
            })
        });
        rule_of.push(r);
    }
    let (infos, number_of_rule) = number_waves(policy);
    let mut canary_left: Vec<usize> = policy.waves.iter().map(|w| w.canary).collect();
    for (i, d) in plan.databases.iter_mut().enumerate() {
        match rule_of[i] {
            Some(r) => {
                let (main, canary) = number_of_rule[r];
                d.wave = match canary {
                    Some(c)
                        if canary_left[r] > 0
                            && d.strategy == Strategy::BlueGreen
                            && d.blockers.is_empty() =>
                    {
                        canary_left[r] -= 1;
                        c
                    }
                    _ => main,
                };
            }
            None => {
                d.wave = 0;
                if d.strategy == Strategy::BlueGreen {
                    d.strategy = Strategy::Skip;
                    d.steps.clear();
                    d.skip_reason = Some("not selected by any wave of the policy".into());
                }
            }
        }
    }
    // Replicas travel with their source: same wave.
    let waves: Vec<(String, String, u32)> = plan
        .databases
        .iter()
        .flat_map(|d| {
            d.replicas
                .iter()
                .map(move |r| (d.region.clone(), r.clone(), d.wave))
        })
        .collect();
    for (region, r, w) in waves {
        if let Some(d) = plan
            .databases
            .iter_mut()
            .find(|d| d.region == region && d.identifier == r)
        {
            d.wave = w;
        }
    }
    infos
}

/// The naming rule of a step: (kind, plan id, database, its target parameter group) -> name.
pub type StepNamer = fn(StepKind, &str, &PlannedDatabase, Option<&str>) -> Option<String>;

impl Plan {
    /// Apply a rollout policy: assign waves, carry its switchover timeout and retention into
    /// the settings and embed it. The plan id must be computed again afterwards
    /// (`planner::apply_policy` does both).
    pub fn embed_policy(
        &mut self,
        policy: &crate::policy::Policy,
        inventory: &[crate::domain::DbInstance],
    ) {
        self.waves = assign_waves(policy, self, inventory);
        self.settings.switchover_timeout_secs = policy.switchover.timeout_secs;
        self.settings.retention_hours = policy.retention.old_instance_hours;
        self.policy = Some(policy.clone());
    }

    /// The policy in force (the embedded one, or the defaults).
    pub fn policy(&self) -> crate::policy::Policy {
        self.policy.clone().unwrap_or_default()
    }

    /// Compute `plan_id` from the content and derive every resource name from it: parameter
    /// groups here, each step's through `step_name` (the step table's naming rule,
    /// `machine::resource_name`; `planner::finalize` passes it). Call after the planner has
    /// filled in everything else.
    pub fn finalize_with(&mut self, step_name: StepNamer) {
        self.plan_id = self.content_hash();
        let id = self.plan_id.clone();
        let mut pg_names: BTreeMap<(String, String), String> = BTreeMap::new();
        // Names derived from an earlier plan id (finalize is called again after a policy is
        // applied): targets pointing at them are re-derived too.
        let old_names: std::collections::BTreeSet<(String, String)> = self
            .parameter_groups
            .iter()
            .map(|g| (g.region.clone(), g.name.clone()))
            .collect();
        for g in &mut self.parameter_groups {
            g.name = naming::parameter_group_name(&id, &g.family, &g.source_group);
            pg_names.insert((g.region.clone(), g.source_group.clone()), g.name.clone());
        }
        for db in &mut self.databases {
            if let Some(t) = &mut db.target {
                if t.parameter_group.is_empty()
                    || old_names.contains(&(db.region.clone(), t.parameter_group.clone()))
                {
                    // Planner leaves the name blank for planned groups; fill it from the map.
                    if let Some(src) = &db.source.parameter_group {
                        if let Some(n) = pg_names.get(&(db.region.clone(), src.clone())) {
                            t.parameter_group = n.clone();
                        }
                    }
                }
            }
            let pg = db.target.as_ref().map(|t| t.parameter_group.clone());
            let names: Vec<Option<String>> = db
                .steps
                .iter()
                .map(|s| step_name(s.kind, &id, db, pg.as_deref()))
                .collect();
            for (s, n) in db.steps.iter_mut().zip(names) {
                s.resource_name = n;
            }
        }
    }

    /// The hash of the canonical content with `plan_id`, `created_at` and every derived name
    /// blanked: the same inventory, targets and settings always give the same plan id.
    pub fn content_hash(&self) -> String {
        let mut c = self.clone();
        c.plan_id = String::new();
        c.created_at = String::new();
        let mut planned: Vec<String> = Vec::new();
        for g in &mut c.parameter_groups {
            planned.push(std::mem::take(&mut g.name));
        }
        for db in &mut c.databases {
            if let Some(t) = &mut db.target {
                if planned.contains(&t.parameter_group) {
                    t.parameter_group.clear();
                }
            }
            for s in &mut db.steps {
                s.resource_name = None;
            }
        }
        let bytes = serde_json::to_vec(&c).expect("plan serializes");
        let digest = Sha256::digest(&bytes);
        format!("rf{}", &hex(&digest)[..10])
    }

    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("plan serializes");
        s.push('\n');
        s
    }

    /// Parse a plan and verify its schema version and content hash. The resource names are
    /// checked by [`Plan::verify_names`] with the step table's naming rules
    /// (`planner::load` does both).
    pub fn from_json(path: &str, text: &str) -> Result<Plan, PlanError> {
        #[derive(Deserialize)]
        struct Head {
            schema_version: u32,
        }
        let head: Head = serde_json::from_str(text).map_err(|e| PlanError::Parse {
            path: path.to_string(),
            source: e,
        })?;
        if head.schema_version != PLAN_SCHEMA_VERSION {
            return Err(PlanError::Schema {
                path: path.to_string(),
                found: head.schema_version,
                expected: PLAN_SCHEMA_VERSION,
            });
        }
        let plan: Plan = serde_json::from_str(text).map_err(|e| PlanError::Parse {
            path: path.to_string(),
            source: e,
        })?;
        let computed = plan.content_hash();
        if computed != plan.plan_id {
            return Err(PlanError::Tampered {
                path: path.to_string(),
                recorded: plan.plan_id.clone(),
                computed,
            });
        }
        // A plan made by hand with a matching hash still names only what RDS could have.
        if let Some(problem) = plan.problems().into_iter().next() {
            return Err(PlanError::Invalid {
                path: path.to_string(),
                problem,
            });
        }
        Ok(plan)
    }

    /// Every resource name must be the one derived from the plan id (a plan file whose names
    /// were edited would make `apply` act on something the plan did not make).
    pub fn verify_names(&self, path: &str, step_name: StepNamer) -> Result<(), PlanError> {
        let mut check = self.clone();
        check.finalize_with(step_name);
        if check != *self {
            return Err(PlanError::Tampered {
                path: path.to_string(),
                recorded: self.plan_id.clone(),
                computed: check.plan_id,
            });
        }
        Ok(())
    }

    /// Identifiers and regions RDS would refuse (see [`crate::naming::check_identifier`]).
    pub fn problems(&self) -> Vec<String> {
        use crate::naming::{check_identifier, check_region};
        let mut out = vec![];
        // Not part of the plan id (the same content always gives the same id), so at least
        // what it must look like is checked.
        if crate::clock::parse_rfc3339(&self.created_at).is_none() {
            out.push(format!(
                "created_at {:?} is not an RFC 3339 UTC time",
                self.created_at
            ));
        }
        for d in &self.databases {
            let ids = std::iter::once(&d.identifier).chain(&d.replicas);
            for (what, r) in ids
                .map(|id| (id, check_identifier(id)))
                .chain(std::iter::once((&d.region, check_region(&d.region))))
            {
                if let Err(e) = r {
                    out.push(format!("{what:?} {e}"));
                }
            }
        }
        out
    }

    pub fn load(path: &Path) -> Result<Plan, PlanError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| PlanError::Read {
            path: p.clone(),
            source: e,
        })?;
        Plan::from_json(&p, &text)
    }

    /// Write the plan atomically (temp file + rename) so a crash never leaves half a plan.
    pub fn save(&self, path: &Path) -> Result<(), PlanError> {
        write_atomic(path, self.to_json().as_bytes()).map_err(|e| PlanError::Write {
            path: path.display().to_string(),
            source: e,
        })
    }

    /// The parameter groups whose `restore_after_switchover` values are due: every database
    /// using the group has switched over (`switched(region, identifier)`), so no green still
    /// replicating shares it. For the engine's restore step (`ModifyDBParameterGroup` with
    /// the group's `restore_after_switchover`, `immediate`: the parameters are dynamic).
    pub fn restores_due(
        &self,
        switched: &dyn Fn(&str, &str) -> bool,
    ) -> Vec<&PlannedParameterGroup> {
        self.parameter_groups
            .iter()
            .filter(|g| !g.restore_after_switchover.is_empty())
            .filter(|g| g.used_by.iter().all(|id| switched(&g.region, id)))
            .collect()
    }

    pub fn database(&self, region: &str, identifier: &str) -> Option<&PlannedDatabase> {
        self.databases
            .iter()
            .find(|d| d.region == region && d.identifier == identifier)
    }
}

/// Write a file atomically: write a sibling temp file, fsync, rename over the target. The file
/// is private (0600, missing directories 0700: see `crate::files`).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            crate::files::create_private_dir_all(dir)?;
        }
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    {
        let mut f = crate::files::create_private_file(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 hex of bytes (inventory fingerprints).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ParameterChange;

    #[test]
    fn restores_are_due_once_every_user_of_the_group_switched_over() {
        let mut plan = crate::store::test_plan();
        let restore = vec![ParameterChange {
            name: "event_scheduler".into(),
            value: "ON".into(),
            apply_method: "immediate".into(),
        }];
        plan.parameter_groups.push(PlannedParameterGroup {
            region: "us-east-1".into(),
            name: "g".into(),
            family: "mysql8.0".into(),
            source_group: "legacy".into(),
            source_family: "mysql5.7".into(),
            description: "d".into(),
            parameters: vec![],
            dropped: vec![],
            renamed: vec![],
            used_by: vec!["a".into(), "b".into()],
            edits: vec![],
            restore_after_switchover: restore.clone(),
        });
        assert!(plan.restores_due(&|_, id| id == "a").is_empty());
        let due = plan.restores_due(&|r, _| r == "us-east-1");
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].restore_after_switchover, restore);
    }

    /// Regression: applying a policy re-finalizes the plan with a new id; every derived name
    /// must follow, or the plan fails its own hash check when loaded back.
    #[test]
    fn finalize_is_idempotent_across_plan_id_changes() {
        let mut plan = crate::store::test_plan();
        plan.parameter_groups.push(PlannedParameterGroup {
            region: "us-east-1".into(),
            name: String::new(),
            family: "mysql8.0".into(),
            source_group: "custom".into(),
            source_family: "mysql5.7".into(),
            description: "d".into(),
            parameters: vec![ParameterChange {
                name: "max_connections".into(),
                value: "500".into(),
                apply_method: "pending-reboot".into(),
            }],
            dropped: vec![],
            renamed: vec![],
            used_by: vec!["a".into()],
            edits: vec![],
            restore_after_switchover: vec![],
        });
        plan.databases[0].source.parameter_group = Some("custom".into());
        plan.databases[0].target.as_mut().unwrap().parameter_group = String::new();
        crate::planner::finalize(&mut plan);
        let first = plan.databases[0].target.clone().unwrap().parameter_group;
        assert_eq!(first, plan.parameter_groups[0].name);
        plan.databases[0].wave = 2; // what a policy does
        crate::planner::finalize(&mut plan);
        let second = plan.databases[0].target.clone().unwrap().parameter_group;
        assert_ne!(first, second);
        assert_eq!(second, plan.parameter_groups[0].name);
        let back = Plan::from_json("t", &plan.to_json()).unwrap();
        assert_eq!(back, plan);
        back.verify_names("t", crate::machine::resource_name)
            .unwrap();
        let mut edited = plan.clone();
        edited.databases[0].steps[1].resource_name = Some("someone-elses-snapshot".into());
        assert!(matches!(
            edited.verify_names("t", crate::machine::resource_name),
            Err(PlanError::Tampered { .. })
        ));
    }
}
