//! Rendering a [`Plan`] for humans: the Markdown dry-run report a reviewer pastes into a change
//! ticket (`plan --format md`, also written beside the plan file) and the short terminal summary.
//!
//! Rendering only: everything comes from the plan (so the same plan always renders the same
//! report, byte for byte) plus two data tables shipped in the binary — the Extended Support
//! pricing (`data/extended-support-pricing.json`, dated and sourced) and vCPUs per class size.
//!
//! Estimates are deliberately simple and stated in the report: durations from storage size,
//! write downtime from RDS's switchover behaviour (usually under a minute, bounded by the
//! switchover timeout, after which RDS rolls back).

use crate::domain::major_version;
use crate::plan::{Finding, Plan, PlannedDatabase, StepKind, Strategy};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::sync::OnceLock;

const PRICING: &str = include_str!("../data/extended-support-pricing.json");

#[derive(Debug, Deserialize)]
struct Pricing {
    as_of: String,
    source: String,
    hours_per_month: f64,
    majors: Vec<PricedMajor>,
    vcpus_by_size: BTreeMap<String, u32>,
}

#[derive(Debug, Deserialize)]
struct PricedMajor {
    engine: String,
    major: String,
    periods: Vec<Period>,
}

#[derive(Debug, Deserialize)]
struct Period {
    from: String,
    usd_per_vcpu_hour: f64,
}

fn pricing() -> &'static Pricing {
    static P: OnceLock<Pricing> = OnceLock::new();
    P.get_or_init(|| serde_json::from_str(PRICING).expect("bundled pricing table is valid"))
}

/// Extended Support rate for an engine major on `date` (`YYYY-MM-DD`); 0 in standard support.
fn rate(p: &Pricing, engine: &str, major: &str, date: &str) -> f64 {
    p.majors
        .iter()
        .find(|m| m.engine == engine && m.major == major)
        .and_then(|m| {
            m.periods
                .iter()
                .filter(|per| per.from.as_str() <= date)
                .max_by(|a, b| a.from.cmp(&b.from))
        })
        .map(|per| per.usd_per_vcpu_hour)
        .unwrap_or(0.0)
}

/// vCPUs of an instance class from its size (`db.r6g.2xlarge` -> 8); `None` when unknown.
fn vcpus(p: &Pricing, class: &str) -> Option<u32> {
    let size = class.rsplit('.').next()?;
    p.vcpus_by_size.get(size).copied()
}

/// Rough minutes for one database's upgrade, excluding the approval wait before switchover.
/// Snapshot ~5 min + 3 s/GiB; green provisioning ~20 min + 6 s/GiB (+12 s/GiB for a PostgreSQL
/// major, whose green is filled by logical replication); switchover ~1 min; verify ~2 min.
fn estimate_minutes(d: &PlannedDatabase) -> u64 {
    let gib = d.source.allocated_storage_gib.max(0) as u64;
    let major = d
        .to_version
        .as_deref()
        .is_some_and(|t| major_version(&d.engine, t) != major_version(&d.engine, &d.from_version));
    let logical = if d.engine == "postgres" && major {
        gib / 5
    } else {
        0
    };
    5 + gib / 20 + 20 + gib / 10 + logical + 1 + 2
}

fn fmt_minutes(m: u64) -> String {
    if m < 60 {
        format!("{m} min")
    } else {
        format!("{}h{:02}", m / 60, m % 60)
    }
}

fn esc(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn usd(x: f64) -> String {
    let cents = (x * 100.0).round() as i64;
    let whole = cents / 100;
    let mut digits = whole.to_string();
    let mut i = digits.len() as i64 - 3;
    while i > 0 {
        digits.insert(i as usize, ',');
        i -= 3;
    }
    format!("${digits}.{:02}", cents % 100)
}

struct Counts {
    total: usize,
    upgrade: usize,
    replicas: usize,
    blocked: usize,
    skipped: usize,
    warned: usize,
}

fn counts(plan: &Plan) -> Counts {
    let upgrading = upgrading_replicas(plan);
    let dbs = &plan.databases;
    Counts {
        total: dbs.len(),
        upgrade: dbs.iter().filter(|d| d.is_actionable()).count(),
        replicas: upgrading.len(),
        blocked: dbs.iter().filter(|d| !d.blockers.is_empty()).count(),
        skipped: dbs
            .iter()
            .filter(|d| {
                d.blockers.is_empty()
                    && !d.is_actionable()
                    && !upgrading.contains(&(d.region.as_str(), d.identifier.as_str()))
            })
            .count(),
        warned: dbs.iter().filter(|d| !d.warnings.is_empty()).count(),
    }
}

/// (region, identifier) of the replicas whose source will be upgraded.
fn upgrading_replicas(plan: &Plan) -> BTreeSet<(&str, &str)> {
    plan.databases
        .iter()
        .filter(|d| d.is_actionable())
        .flat_map(|d| {
            d.replicas
                .iter()
                .map(move |r| (d.region.as_str(), r.as_str()))
        })
        .collect()
}

fn findings_line(f: &[Finding]) -> String {
    f.iter()
        .map(|f| format!("`{}`", f.code))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The dry-run report (issue 4 item 7): one function per section, in this order.
pub fn render_markdown(plan: &Plan) -> String {
    let mut o = String::new();
    let actionable: Vec<&PlannedDatabase> = plan
        .databases
        .iter()
        .filter(|d| d.is_actionable())
        .collect();
    header(&mut o, plan);
    summary(&mut o, plan, &actionable);
    plan_warnings(&mut o, plan);
    blockers(&mut o, plan);
    waves(&mut o, plan, &actionable);
    warnings(&mut o, plan);
    parameter_changes(&mut o, plan);
    resources(&mut o, plan, &actionable);
    rollback(&mut o, plan, &actionable);
    extended_support_section(&mut o, plan);
    not_upgraded(&mut o, plan);
    o
}

/// The date the plan was made (`YYYY-MM-DD`), for pricing.
fn plan_date(plan: &Plan) -> &str {
    plan.created_at.get(..10).unwrap_or("")
}

/// Title, targets, fingerprint and settings.
fn header(o: &mut String, plan: &Plan) {
    let _ = writeln!(o, "# rdsfleet upgrade plan `{}`\n", plan.plan_id);
    let _ = writeln!(o, "- Created: {}", plan.created_at);
    let targets: Vec<String> = plan
        .targets
        .iter()
        .map(|(e, v)| format!("`{e}={v}`"))
        .collect();
    let _ = writeln!(o, "- Targets: {}", targets.join(", "));
    let _ = writeln!(
        o,
        "- Inventory fingerprint: `{}`",
        &plan.inventory_fingerprint[..plan.inventory_fingerprint.len().min(16)]
    );
    let s = &plan.settings;
    let _ = writeln!(
        o,
        "- Switchover timeout: {} s; old instances kept {} h after switchover",
        s.switchover_timeout_secs, s.retention_hours
    );
    if let Some(st) = &s.storage_type {
        let _ = writeln!(o, "- Storage type for green: `{st}`");
    }
    let asked: Vec<String> = [
        s.iops.map(|i| format!("{i} IOPS")),
        s.storage_throughput.map(|t| format!("{t} MiB/s")),
        s.allocated_storage_gib.map(|g| format!("{g} GiB")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !asked.is_empty() {
        let _ = writeln!(
            o,
            "- Storage asked for green: {} (per database in the wave tables)",
            asked.join(", ")
        );
    }
    if !s.class_map.is_empty() {
        let m: Vec<String> = s
            .class_map
            .iter()
            .map(|(a, b)| format!("`{a}` -> `{b}`"))
            .collect();
        let _ = writeln!(o, "- Instance class map: {}", m.join(", "));
    }
}

/// The summary table: counts, waves, durations, downtime, Extended Support ended.
fn summary(o: &mut String, plan: &Plan, actionable: &[&PlannedDatabase]) {
    let c = counts(plan);
    // Summary.
    let _ = writeln!(o, "\n## Summary\n");
    let _ = writeln!(o, "| | count |\n|---|---:|");
    let _ = writeln!(o, "| Databases in plan | {} |", c.total);
    let _ = writeln!(o, "| Upgraded through blue/green | {} |", c.upgrade);
    let _ = writeln!(o, "| Read replicas carried along | {} |", c.replicas);
    let _ = writeln!(o, "| **Blocked** (left untouched) | {} |", c.blocked);
    let _ = writeln!(o, "| Skipped (nothing to do) | {} |", c.skipped);
    let _ = writeln!(o, "| With warnings | {} |", c.warned);
    let _ = writeln!(
        o,
        "| Parameter groups to create | {} |",
        plan.parameter_groups.len()
    );
    let waves: BTreeSet<u32> = actionable.iter().map(|d| d.wave).collect();
    let s = &plan.settings;
    let longest = actionable
        .iter()
        .map(|d| estimate_minutes(d))
        .max()
        .unwrap_or(0);
    let serial: u64 = actionable.iter().map(|d| estimate_minutes(d)).sum();
    let _ = writeln!(o, "| Waves | {} |", waves.len());
    let _ = writeln!(
        o,
        "| Estimated duration per wave (all in parallel / one at a time) | {} / {} |",
        fmt_minutes(longest),
        fmt_minutes(serial)
    );
    let _ = writeln!(
        o,
        "| Expected write downtime per database | < 1 min (at most {} s, then RDS rolls back) |",
        s.switchover_timeout_secs
    );
    let es = extended_support(plan, pricing(), plan_date(plan));
    let _ = writeln!(
        o,
        "| Extended Support charges ended (per month, est.) | {} |",
        usd(es.saved)
    );
}

/// Plan-level warnings (catalog fallback and the like).
fn plan_warnings(o: &mut String, plan: &Plan) {
    if !plan.warnings.is_empty() {
        let _ = writeln!(o, "\n## Plan warnings\n");
        for w in &plan.warnings {
            let _ = writeln!(o, "- `{}`: {}", w.code, esc(&w.message));
        }
    }
}

/// Blocked databases with the fix for each blocker.
fn blockers(o: &mut String, plan: &Plan) {
    // Blockers first.
    let blocked: Vec<&PlannedDatabase> = plan
        .databases
        .iter()
        .filter(|d| !d.blockers.is_empty())
        .collect();
    let _ = writeln!(o, "\n## Blockers\n");
    if blocked.is_empty() {
        let _ = writeln!(o, "None.");
    } else {
        let _ = writeln!(
            o,
            "These databases are left untouched by `apply` until fixed and re-planned.\n"
        );
        let _ = writeln!(
            o,
            "| database | region | code | problem and fix |\n|---|---|---|---|"
        );
        for d in &blocked {
            for b in &d.blockers {
                let _ = writeln!(
                    o,
                    "| {} | {} | `{}` | {} |",
                    d.identifier,
                    d.region,
                    b.code,
                    esc(&b.message)
                );
            }
        }
    }
}

/// One table per wave.
fn waves(o: &mut String, plan: &Plan, actionable: &[&PlannedDatabase]) {
    // Per-wave tables.
    let waves: BTreeSet<u32> = actionable.iter().map(|d| d.wave).collect();
    for wave in &waves {
        match plan.waves.iter().find(|w| w.number == *wave) {
            Some(w) => {
                let limit = w
                    .concurrency
                    .map(|c| format!(", at most {c} at once"))
                    .unwrap_or_default();
                let _ = writeln!(o, "\n## Wave {wave}: {}{limit}\n", w.name);
                let _ = writeln!(o, "Starts only when every database of the previous wave has switched over and been verified.\n");
            }
            None => {
                let _ = writeln!(o, "\n## Wave {wave}\n");
            }
        }
        let _ = writeln!(
            o,
            "| database | region | engine | from | to | class | storage | parameter group | replicas | est. | warnings |"
        );
        let _ = writeln!(o, "|---|---|---|---|---|---|---|---|---|---:|---|");
        for d in actionable.iter().filter(|d| d.wave == *wave) {
            let t = d.target.as_ref().expect("actionable has a target");
            let class = match &t.instance_class {
                Some(c) => format!("{} -> {c}", d.source.instance_class),
                None => d.source.instance_class.clone(),
            };
            let storage = storage_cell(d, t);
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | `{}` | {} | {} | {} |",
                d.identifier,
                d.region,
                d.engine,
                d.from_version,
                t.engine_version,
                class,
                storage,
                t.parameter_group,
                if d.replicas.is_empty() {
                    "-".to_string()
                } else {
                    d.replicas.join(", ")
                },
                fmt_minutes(estimate_minutes(d)),
                if d.warnings.is_empty() {
                    "-".to_string()
                } else {
                    findings_line(&d.warnings)
                }
            );
        }
    }
}

/// Green's storage as the wave table shows it: type, then what the deployment request sets
/// (`gp2 -> io1, 3000 IOPS, 50 -> 100 GiB`).
fn storage_cell(d: &PlannedDatabase, t: &crate::plan::TargetSpec) -> String {
    let mut cell = match &t.storage_type {
        Some(st) => format!("{} -> {st}", d.source.storage_type),
        None => d.source.storage_type.clone(),
    };
    if let Some(i) = t.iops {
        cell.push_str(&format!(", {i} IOPS"));
    }
    if let Some(tp) = t.storage_throughput {
        cell.push_str(&format!(", {tp} MiB/s"));
    }
    if let Some(g) = t.allocated_storage_gib {
        cell.push_str(&format!(", {} -> {g} GiB", d.source.allocated_storage_gib));
    }
    cell
}

/// Every warning in full.
fn warnings(o: &mut String, plan: &Plan) {
    // Warnings in full.
    let warned: Vec<&PlannedDatabase> = plan
        .databases
        .iter()
        .filter(|d| !d.warnings.is_empty())
        .collect();
    if !warned.is_empty() {
        let _ = writeln!(o, "\n## Warnings\n");
        for d in warned {
            for w in &d.warnings {
                let _ = writeln!(
                    o,
                    "- {} ({}) `{}`: {}",
                    d.identifier,
                    d.region,
                    w.code,
                    esc(&w.message)
                );
            }
        }
    }
}

/// The parameter groups the plan creates and what changes in them: every carried value,
/// every change from the source's values with its reason, and what is restored after
/// switchover.
fn parameter_changes(o: &mut String, plan: &Plan) {
    let _ = writeln!(o, "\n## Parameter changes\n");
    if plan.parameter_groups.is_empty() {
        let _ = writeln!(
            o,
            "No parameter group to create: green uses the source's group or the AWS default group of its family."
        );
    }
    for g in &plan.parameter_groups {
        let _ = writeln!(
            o,
            "### `{}` ({})\n\nFrom `{}` ({}) to family `{}`, used by {}.\n",
            g.name,
            g.region,
            g.source_group,
            g.source_family,
            g.family,
            g.used_by.join(", ")
        );
        if g.parameters.is_empty() {
            let _ = writeln!(o, "No parameters set.");
        } else {
            let _ = writeln!(o, "| parameter | value | apply |\n|---|---|---|");
            for p in &g.parameters {
                let _ = writeln!(
                    o,
                    "| `{}` | `{}` | {} |",
                    p.name,
                    esc(&p.value),
                    p.apply_method
                );
            }
        }
        parameter_edits(o, g);
        if !g.restore_after_switchover.is_empty() {
            let r: Vec<String> = g
                .restore_after_switchover
                .iter()
                .map(|p| format!("`{}={}`", p.name, esc(&p.value)))
                .collect();
            let _ = writeln!(
                o,
                "\nRestored on this group after switchover (the source's values), once every database using it has switched over: {}",
                r.join(", ")
            );
        }
        let _ = writeln!(o);
    }
}

/// The changes from the source's values, with their reasons (older plans: renames and drops).
fn parameter_edits(o: &mut String, g: &crate::plan::PlannedParameterGroup) {
    if !g.edits.is_empty() {
        let _ = writeln!(
            o,
            "\nChanged from the source:\n\n| source | green | why |\n|---|---|---|"
        );
        for e in &g.edits {
            let from = match &e.value {
                Some(v) => format!("`{}={}`", e.name, esc(v)),
                None => format!("`{}` (default)", e.name),
            };
            let to = match (&e.to_name, &e.to_value) {
                (Some(n), Some(v)) => format!("`{n}={}`", esc(v)),
                _ => "not set (family default)".to_string(),
            };
            let _ = writeln!(o, "| {from} | {to} | {} |", esc(&e.reason));
        }
        return;
    }
    if !g.renamed.is_empty() {
        let r: Vec<String> = g
            .renamed
            .iter()
            .map(|(a, b)| format!("`{a}` -> `{b}`"))
            .collect();
        let _ = writeln!(o, "\nRenamed: {}", r.join(", "));
    }
    if !g.dropped.is_empty() {
        let r: Vec<String> = g.dropped.iter().map(|a| format!("`{a}`")).collect();
        let _ = writeln!(
            o,
            "\nDropped (no equivalent in {}): {}",
            g.family,
            r.join(", ")
        );
    }
}

/// Every resource `apply` will create.
fn resources(o: &mut String, plan: &Plan, actionable: &[&PlannedDatabase]) {
    // Resources.
    let _ = writeln!(o, "\n## Resources that will be created\n");
    if actionable.is_empty() {
        let _ = writeln!(o, "None: no database will be upgraded.");
    } else {
        let _ = writeln!(o, "All are tagged `rdsfleet:plan-id={}`.\n", plan.plan_id);
        let _ = writeln!(o, "| kind | name | region | for |\n|---|---|---|---|");
        for g in &plan.parameter_groups {
            let _ = writeln!(
                o,
                "| DB parameter group | `{}` | {} | {} |",
                g.name,
                g.region,
                g.used_by.join(", ")
            );
        }
        for d in actionable {
            if let Some(n) = d.resource_name(StepKind::Snapshot) {
                let _ = writeln!(
                    o,
                    "| DB snapshot | `{n}` | {} | {} |",
                    d.region, d.identifier
                );
            }
            if let Some(n) = d.resource_name(StepKind::CreateBlueGreen) {
                let mut members = vec![d.identifier.clone()];
                members.extend(d.replicas.iter().cloned());
                let _ = writeln!(
                    o,
                    "| Blue/green deployment (+{} green instance(s)) | `{n}` | {} | {} |",
                    members.len(),
                    d.region,
                    members.join(", ")
                );
            }
        }
    }
}

/// What is kept for rollback.
fn rollback(o: &mut String, plan: &Plan, actionable: &[&PlannedDatabase]) {
    // Rollback.
    let s = &plan.settings;
    let _ = writeln!(o, "\n## Kept for rollback\n");
    let _ = writeln!(
        o,
        "There is no automatic rollback after a switchover. For each upgraded database rdsfleet keeps \
         the pre-upgrade snapshot and the old instance (renamed `<name>-old1`, read-only, still billed) \
         for {} h; cleanup deletes the old instance only after that, with a final snapshot.\n",
        s.retention_hours
    );
    if !actionable.is_empty() {
        let _ = writeln!(
            o,
            "| database | pre-upgrade snapshot | old instance | retention |\n|---|---|---|---|"
        );
        for d in actionable {
            let _ = writeln!(
                o,
                "| {} | `{}` | `{}-old1` | {} h |",
                d.identifier,
                d.resource_name(StepKind::Snapshot).unwrap_or("-"),
                d.identifier,
                s.retention_hours
            );
        }
    }
}

/// Extended Support charges, now and after.
fn extended_support_section(o: &mut String, plan: &Plan) {
    // Extended Support.
    let pricing = pricing();
    let date = plan_date(plan);
    let es = extended_support(plan, pricing, date);
    let _ = writeln!(o, "\n## Extended Support charges\n");
    let _ = writeln!(
        o,
        "Estimate at US East (N. Virginia) on-demand rates per vCPU-hour on {date}, {} h/month; \
         Multi-AZ counts both instances. Pricing table as of {} ({}).\n",
        pricing.hours_per_month, pricing.as_of, pricing.source
    );
    if es.rows.is_empty() {
        let _ = writeln!(
            o,
            "No database in this upgrade is billed for Extended Support."
        );
    } else {
        let _ = writeln!(
            o,
            "| database | from | to | vCPUs | now / month | after / month | ended / month |\n|---|---|---|---:|---:|---:|---:|"
        );
        for r in &es.rows {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} |",
                r.identifier,
                r.from,
                r.to,
                r.vcpus.map(|v| v.to_string()).unwrap_or_else(|| "?".into()),
                usd(r.now),
                usd(r.after),
                usd(r.now - r.after)
            );
        }
        let _ = writeln!(
            o,
            "| **total** | | | | {} | {} | **{}** |",
            usd(es.now),
            usd(es.now - es.saved),
            usd(es.saved)
        );
        if es.unknown_vcpus > 0 {
            let _ = writeln!(
                o,
                "\n{} database(s) have an instance size missing from the vCPU table and count as 0.",
                es.unknown_vcpus
            );
        }
    }
    if es.blocked_now > 0.0 {
        let _ = writeln!(
            o,
            "\nBlocked databases keep paying about {} per month in Extended Support until they are fixed and upgraded.",
            usd(es.blocked_now)
        );
    }
}

/// Databases not upgraded by their own deployment, and why.
fn not_upgraded(o: &mut String, plan: &Plan) {
    // Skipped.
    let upgrading = upgrading_replicas(plan);
    let skipped: Vec<&PlannedDatabase> = plan
        .databases
        .iter()
        .filter(|d| d.blockers.is_empty() && !d.is_actionable())
        .collect();
    if !skipped.is_empty() {
        let _ = writeln!(o, "\n## Not upgraded by their own deployment\n");
        let _ = writeln!(
            o,
            "| database | region | engine | version | why |\n|---|---|---|---|---|"
        );
        for d in skipped {
            let why = match d.strategy {
                Strategy::WithSource
                    if !upgrading.contains(&(d.region.as_str(), d.identifier.as_str())) =>
                {
                    format!(
                        "{}; its source is not upgraded by this plan, so neither is it",
                        d.skip_reason.clone().unwrap_or_default()
                    )
                }
                _ => d
                    .skip_reason
                    .clone()
                    .unwrap_or_else(|| "nothing to do".into()),
            };
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} |",
                d.identifier,
                d.region,
                d.engine,
                d.from_version,
                esc(&why)
            );
        }
    }
}

struct EsRow {
    identifier: String,
    from: String,
    to: String,
    vcpus: Option<u32>,
    now: f64,
    after: f64,
}

struct Es {
    rows: Vec<EsRow>,
    now: f64,
    saved: f64,
    blocked_now: f64,
    unknown_vcpus: usize,
}

fn extended_support(plan: &Plan, p: &Pricing, date: &str) -> Es {
    let upgrading = upgrading_replicas(plan);
    let mut es = Es {
        rows: Vec::new(),
        now: 0.0,
        saved: 0.0,
        blocked_now: 0.0,
        unknown_vcpus: 0,
    };
    for d in &plan.databases {
        let key = (d.region.as_str(), d.identifier.as_str());
        let v = vcpus(p, &d.source.instance_class);
        let copies = if d.tags.get("multi-az").map(String::as_str) == Some("true") {
            2.0
        } else {
            1.0
        };
        let per_month = |engine: &str, version: &str| {
            rate(p, engine, &major_version(engine, version), date)
                * v.unwrap_or(0) as f64
                * copies
                * p.hours_per_month
        };
        let now = per_month(&d.engine, &d.from_version);
        if !d.blockers.is_empty() {
            es.blocked_now += now;
            continue;
        }
        if !(d.is_actionable() || upgrading.contains(&key)) || now == 0.0 && v.is_some() {
            continue;
        }
        let to = d.to_version.clone().unwrap_or_default();
        let after = per_month(&d.engine, &to);
        if v.is_none() {
            es.unknown_vcpus += 1;
        }
        if now == 0.0 {
            continue;
        }
        es.now += now;
        es.saved += now - after;
        es.rows.push(EsRow {
            identifier: d.identifier.clone(),
            from: d.from_version.clone(),
            to,
            vcpus: v.map(|x| x * copies as u32),
            now,
            after,
        });
    }
    es
}

/// The short summary `plan` prints by default.
pub fn render_text(plan: &Plan) -> String {
    let c = counts(plan);
    let mut o = String::new();
    let _ = writeln!(
        o,
        "plan {} ({}): {} database(s): {} to upgrade (+{} replica(s) carried along), {} blocked, {} skipped; {} parameter group(s) to create",
        plan.plan_id,
        plan.created_at,
        c.total,
        c.upgrade,
        c.replicas,
        c.blocked,
        c.skipped,
        plan.parameter_groups.len()
    );
    for w in &plan.warnings {
        let _ = writeln!(o, "warning: {}: {}", w.code, w.message);
    }
    let blocked: Vec<&PlannedDatabase> = plan
        .databases
        .iter()
        .filter(|d| !d.blockers.is_empty())
        .collect();
    if !blocked.is_empty() {
        let _ = writeln!(o, "blocked (left untouched; see the report for fixes):");
        for d in blocked {
            let codes: Vec<&str> = d.blockers.iter().map(|b| b.code.as_str()).collect();
            let _ = writeln!(o, "  {}/{}: {}", d.region, d.identifier, codes.join(", "));
        }
    }
    let es = extended_support(plan, pricing(), plan.created_at.get(..10).unwrap_or(""));
    if es.saved > 0.0 {
        let _ = writeln!(
            o,
            "Extended Support charges ended: about {} per month",
            usd(es.saved)
        );
    }
    o
}

/// The dry-run report as JSON: the figures the Markdown report derives from the plan (counts,
/// estimates, Extended Support), and per database its path, wave, blockers with their fixes
/// and warnings. The plan file itself stays the full machine-readable record.
pub fn render_json(plan: &Plan) -> String {
    let c = counts(plan);
    let es = extended_support(plan, pricing(), plan_date(plan));
    let dbs: Vec<serde_json::Value> = plan
        .databases
        .iter()
        .map(|d| {
            serde_json::json!({
                "identifier": d.identifier,
                "region": d.region,
                "engine": d.engine,
                "from_version": d.from_version,
                "to_version": d.to_version,
                "actionable": d.is_actionable(),
                "wave": d.wave,
                "estimated_minutes": d.is_actionable().then(|| estimate_minutes(d)),
                "blockers": d.blockers,
                "warnings": d.warnings,
                "skip_reason": d.skip_reason,
                "replicas": d.replicas,
            })
        })
        .collect();
    let v = serde_json::json!({
        "plan_id": plan.plan_id,
        "created_at": plan.created_at,
        "targets": plan.targets,
        "counts": {
            "databases": c.total,
            "upgrade": c.upgrade,
            "replicas_carried": c.replicas,
            "blocked": c.blocked,
            "skipped": c.skipped,
            "with_warnings": c.warned,
            "parameter_groups": plan.parameter_groups.len(),
        },
        "warnings": plan.warnings,
        "extended_support_usd_per_month": {
            "now": es.now,
            "ended": es.saved,
            "blocked_databases_keep_paying": es.blocked_now,
            "pricing_as_of": pricing().as_of,
        },
        "switchover_timeout_secs": plan.settings.switchover_timeout_secs,
        "retention_hours": plan.settings.retention_hours,
        "databases": dbs,
    });
    serde_json::to_string_pretty(&v).unwrap_or_default()
}

/// The dry-run report as one self-contained HTML page (the Markdown report, converted).
pub fn render_html(plan: &Plan) -> String {
    crate::htmlpage::page(
        &format!("rdsfleet upgrade plan {}", plan.plan_id),
        &crate::htmlpage::md_to_html(&render_markdown(plan), &[]),
    )
}

/// The report file name written beside a plan (`plan-rf0123.json` -> `plan-rf0123.md`).
pub fn report_path(plan_path: &std::path::Path) -> std::path::PathBuf {
    plan_path.with_extension("md")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::PlanSettings;
    use crate::planner::{parse_class_map, parse_target, plan, PlanContext, PlanRequest};

    fn fixture_plan() -> Plan {
        let dir = env!("CARGO_MANIFEST_DIR");
        let inv = crate::inventory::load(
            &std::path::Path::new(dir).join("tests/fixtures/inventory.json"),
        )
        .expect("fixture inventory loads");
        let mut ctx = PlanContext::offline();
        ctx.quotas.insert(
            "us-east-1".into(),
            crate::domain::Quota { used: 12, max: 40 },
        );
        let req = PlanRequest {
            targets: ["mysql=8.0", "postgres=16"]
                .iter()
                .map(|t| parse_target(t).unwrap())
                .collect(),
            settings: PlanSettings {
                storage_type: Some("gp3".into()),
                class_map: vec![parse_class_map("db.r5=db.r7g").unwrap()],
                ..Default::default()
            },
            // 2026-11-21T12:00:00Z: fixed so the report is deterministic.
            created_at: 1_795_262_400_000,
        };
        plan(&inv, &ctx, &req).expect("fixture plans")
    }

    #[test]
    fn golden_report_for_the_fixture_inventory() {
        let plan = fixture_plan();
        let md = render_markdown(&plan);
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/report.md");
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &md).unwrap();
        }
        let want = std::fs::read_to_string(&path)
            .expect("tests/golden/report.md exists (regenerate with UPDATE_GOLDEN=1)");
        assert!(
            md == want,
            "report differs from {} (regenerate with UPDATE_GOLDEN=1 and review the diff)\n{md}",
            path.display()
        );
        // Same plan, same bytes.
        assert_eq!(render_markdown(&fixture_plan()), md);
    }

    #[test]
    fn report_has_every_section_and_blockers_first() {
        let md = render_markdown(&fixture_plan());
        let pos = |s: &str| md.find(s).unwrap_or_else(|| panic!("missing {s}"));
        assert!(pos("## Summary") < pos("## Blockers"));
        assert!(pos("## Blockers") < pos("## Wave 1"));
        for s in [
            "## Parameter changes",
            "## Resources that will be created",
            "## Kept for rollback",
            "## Extended Support charges",
            "write downtime",
        ] {
            pos(s);
        }
        let text = render_text(&fixture_plan());
        assert!(text.contains("blocked"), "{text}");
    }

    #[test]
    fn json_and_html_carry_the_same_report() {
        let plan = fixture_plan();
        let v: serde_json::Value = serde_json::from_str(&render_json(&plan)).unwrap();
        let blocked = v["databases"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| !d["blockers"].as_array().unwrap().is_empty())
            .count();
        assert!(blocked > 0);
        assert_eq!(v["counts"]["blocked"], blocked);
        assert_eq!(v["plan_id"], plan.plan_id);
        let html = render_html(&plan);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(
            html.contains("<h2>Blockers</h2>") && html.contains("<table>"),
            "{html}"
        );
        let first = plan
            .databases
            .iter()
            .find(|d| !d.blockers.is_empty())
            .unwrap();
        assert!(html.contains(&first.identifier));
        assert!(!html.contains("<script") && !html.contains("src=\"http"));
    }

    #[test]
    fn storage_cell_shows_what_the_request_sets() {
        let mut plan = fixture_plan();
        let d = plan
            .databases
            .iter_mut()
            .find(|d| d.identifier == "billing-db")
            .unwrap();
        let t = d.target.as_mut().unwrap();
        t.storage_type = Some("io1".into());
        t.iops = Some(3000);
        t.allocated_storage_gib = Some(300);
        let t = t.clone();
        assert_eq!(storage_cell(d, &t), "gp2 -> io1, 3000 IOPS, 200 -> 300 GiB");
    }

    #[test]
    fn money_and_rates() {
        assert_eq!(usd(1234567.891), "$1,234,567.89");
        assert_eq!(usd(0.0), "$0.00");
        let p = pricing();
        assert_eq!(rate(p, "mysql", "5.7", "2024-02-01"), 0.0);
        assert_eq!(rate(p, "mysql", "5.7", "2024-03-01"), 0.1);
        assert_eq!(rate(p, "mysql", "5.7", "2026-11-21"), 0.2);
        assert_eq!(rate(p, "mysql", "8.4", "2026-11-21"), 0.0);
        // PostgreSQL 11 entered Extended Support on 2024-03-01, but was charged from 2024-04-01.
        assert_eq!(rate(p, "postgres", "11", "2024-03-15"), 0.0);
        assert_eq!(rate(p, "postgres", "11", "2024-04-01"), 0.1);
        // An Extended Support minor is priced as its major.
        assert_eq!(
            rate(
                p,
                "mysql",
                &major_version("mysql", "5.7.44-RDS.20240808"),
                "2026-11-21"
            ),
            0.2
        );
        assert_eq!(
            rate(
                p,
                "postgres",
                &major_version("postgres", "11.22-rds.20240418"),
                "2024-05-01"
            ),
            0.1
        );
        assert_eq!(vcpus(p, "db.r6g.2xlarge"), Some(8));
        assert_eq!(vcpus(p, "db.weird"), None);
    }
}
