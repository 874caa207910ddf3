//! Green's storage: what `CreateBlueGreenDeployment` must send (`TargetStorageType`,
//! `TargetIops`, `TargetStorageThroughput`, `TargetAllocatedStorage`) for the storage type and
//! size the operator asked for, and the combinations RDS refuses, as blockers with a fix.
//!
//! The limits are data (`data/storage-rules.json`). The decisions:
//! - io1/io2 always need provisioned IOPS: whenever green's storage changes (type, size or
//!   IOPS), `TargetIops` is sent: `--iops`, else the source's own when it has some, else the
//!   database is blocked (`storage-iops-required`). IOPS must fit the type's range and its
//!   IOPS-per-GiB ratio for green's size (`storage-iops-invalid`).
//! - gp3 below 400 GiB has a fixed baseline (3,000 IOPS, 125 MiB/s) that RDS refuses to be
//!   given; at 400 GiB and above IOPS (12,000-64,000) and throughput (500-4,000 MiB/s, at most
//!   0.25 MiB/s per IOPS) may be provisioned. Moving to gp3 carries the source's provisioned
//!   IOPS/throughput when they exceed the baseline, so green is not slower.
//! - Sizes outside the type's range are blocked (`storage-size-invalid`, e.g. io1 needs 100
//!   GiB: pass `--allocated-storage 100`); a smaller size than the source's is a warning
//!   (`storage-shrink`: green creation fails if the data does not fit).
//! - Green with fewer IOPS than the source provisions is a warning (`storage-iops-lower`).

use crate::domain::DbInstance;
use crate::plan::{Finding, PlanSettings};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;

const RULES: &str = include_str!("../../data/storage-rules.json");

#[derive(Debug, Clone, Deserialize)]
pub struct StorageRules {
    pub as_of: String,
    pub source: String,
    pub types: BTreeMap<String, TypeRule>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TypeRule {
    pub min_gib: i32,
    pub max_gib: i32,
    /// gp3: IOPS and throughput can be provisioned from this size on (a baseline below).
    pub provisioned_from_gib: Option<i32>,
    pub baseline_iops_below: Option<i32>,
    pub baseline_throughput_below: Option<i32>,
    pub iops_min: Option<i32>,
    pub iops_max: Option<i32>,
    pub iops_per_gib_min: Option<f64>,
    pub iops_per_gib_max: Option<f64>,
    pub throughput_min: Option<i32>,
    pub throughput_max: Option<i32>,
    pub max_throughput_per_iops: Option<f64>,
}

/// The bundled storage rules, parsed once.
pub fn rules() -> &'static StorageRules {
    static R: OnceLock<StorageRules> = OnceLock::new();
    R.get_or_init(|| serde_json::from_str(RULES).expect("bundled storage rules are valid"))
}

/// What to send for green's storage (`None`: not sent; green copies the source's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GreenStorage {
    pub storage_type: Option<String>,
    pub iops: Option<i32>,
    pub storage_throughput: Option<i32>,
    pub allocated_storage_gib: Option<i32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub green: GreenStorage,
    pub blockers: Vec<Finding>,
    pub warnings: Vec<Finding>,
}

/// What the planner works out for one database.
struct Ctx<'a> {
    db: &'a DbInstance,
    settings: &'a PlanSettings,
    kind: &'a str,
    gib: i32,
    /// Any storage setting changes (type, size, IOPS or throughput asked for).
    changes: bool,
    out: Outcome,
}

impl Ctx<'_> {
    fn block(&mut self, code: &str, message: String) {
        self.out.blockers.push(Finding::new(code, message));
    }
    fn warn(&mut self, code: &str, message: String) {
        self.out.warnings.push(Finding::new(code, message));
    }
    fn source_iops(&self) -> Option<i32> {
        self.db.iops.filter(|i| *i > 0)
    }
}

/// Decide green's storage for `db` from the plan's storage flags.
pub fn plan_storage(rules: &StorageRules, db: &DbInstance, settings: &PlanSettings) -> Outcome {
    let kind = settings
        .storage_type
        .as_deref()
        .unwrap_or(db.storage_type.as_str());
    let type_changes = kind != db.storage_type;
    let gib = settings
        .allocated_storage_gib
        .unwrap_or(db.allocated_storage_gib);
    let size_changes = gib != db.allocated_storage_gib;
    let mut c = Ctx {
        db,
        settings,
        kind,
        gib,
        changes: type_changes
            || size_changes
            || settings.iops.is_some()
            || settings.storage_throughput.is_some(),
        out: Outcome::default(),
    };
    c.out.green.storage_type = type_changes.then(|| kind.to_string());
    c.out.green.allocated_storage_gib = size_changes.then_some(gib);
    let Some(rule) = rules.types.get(kind) else {
        // A type rdsfleet has no rules for (magnetic `standard`), kept as it is.
        if settings.iops.is_some() || settings.storage_throughput.is_some() {
            c.block("storage-iops-invalid", format!("{} is on `{kind}` storage, for which IOPS and throughput cannot be provisioned: add --storage-type gp3 (or io1/io2) to move it, or drop --iops/--storage-throughput", db.identifier));
        }
        return c.out;
    };
    check_size(&mut c, rule);
    match kind {
        "io1" | "io2" => provisioned_iops(&mut c, rule),
        "gp3" => gp3(&mut c, rule),
        _ => general_purpose(&mut c),
    }
    c.out
}

fn check_size(c: &mut Ctx, rule: &TypeRule) {
    let (db, kind, gib) = (c.db, c.kind, c.gib);
    if gib < rule.min_gib {
        c.block("storage-size-invalid", format!("{kind} storage needs at least {} GiB and {} has {gib} GiB: pass --allocated-storage {} (or more) to give green that size", rule.min_gib, db.identifier, rule.min_gib));
    } else if gib > rule.max_gib {
        c.block("storage-size-invalid", format!("{kind} storage allows at most {} GiB; green would have {gib} GiB: pass --allocated-storage {} or less", rule.max_gib, rule.max_gib));
    }
    if gib < db.allocated_storage_gib {
        c.warn("storage-shrink", format!("green gets {gib} GiB, less than the source's {} GiB: creating the deployment fails if the data does not fit; check the used space (FreeStorageSpace) first", db.allocated_storage_gib));
    }
}

/// The IOPS range RDS accepts for `gib` GiB of a provisioned-IOPS type.
fn iops_range(rule: &TypeRule, gib: i32) -> (i32, i32) {
    let lo = rule
        .iops_min
        .unwrap_or(0)
        .max((rule.iops_per_gib_min.unwrap_or(0.0) * gib as f64).ceil() as i32);
    let hi = rule
        .iops_max
        .unwrap_or(i32::MAX)
        .min((rule.iops_per_gib_max.unwrap_or(f64::MAX) * gib as f64).floor() as i32);
    (lo, hi)
}

/// io1/io2: IOPS always, within range and ratio.
fn provisioned_iops(c: &mut Ctx, rule: &TypeRule) {
    let (lo, hi) = iops_range(rule, c.gib);
    let iops = c.settings.iops.or_else(|| c.source_iops());
    if c.settings.storage_throughput.is_some() {
        c.block("storage-iops-invalid", format!("storage throughput can be provisioned on gp3 only, not {}: drop --storage-throughput", c.kind));
    }
    match iops {
        None if c.changes => c.block("storage-iops-required", format!("{} storage needs provisioned IOPS and {} has none to carry ({} storage): pass --iops N, between {lo} and {hi} for {} GiB", c.kind, c.db.identifier, c.db.storage_type, c.gib)),
        None => {}
        Some(i) if lo > hi => c.block("storage-iops-invalid", format!("no IOPS value fits {} GiB of {}: change --allocated-storage (then pass --iops {i} or another value in range)", c.gib, c.kind)),
        Some(i) if i < lo || i > hi => c.block("storage-iops-invalid", format!("{i} IOPS for {} GiB of {} is refused by RDS, which accepts {lo}-{hi} here ({}-{} IOPS per GiB, {}-{} in all): pass --iops in that range, or change --allocated-storage", c.gib, c.kind, rule.iops_per_gib_min.unwrap_or(0.0), rule.iops_per_gib_max.unwrap_or(0.0), rule.iops_min.unwrap_or(0), rule.iops_max.unwrap_or(0))),
        Some(i) => {
            if c.changes {
                c.out.green.iops = Some(i);
            }
            if let Some(s) = c.source_iops().filter(|s| i < *s) {
                c.warn("storage-iops-lower", format!("green gets {i} provisioned IOPS, fewer than the source's {s}: pass --iops {s} to keep them"));
            }
        }
    }
}

/// gp3: a fixed baseline below the threshold size, provisioned IOPS/throughput above it.
fn gp3(c: &mut Ctx, rule: &TypeRule) {
    let from = rule.provisioned_from_gib.unwrap_or(0);
    if c.gib < from {
        let base = rule.baseline_iops_below.unwrap_or(0);
        if c.settings.iops.is_some() || c.settings.storage_throughput.is_some() {
            c.block("storage-iops-invalid", format!("gp3 below {from} GiB has a fixed baseline of {base} IOPS and {} MiB/s that RDS refuses to be given ({} would have {} GiB): drop --iops/--storage-throughput, or pass --allocated-storage {from} (or more)", rule.baseline_throughput_below.unwrap_or(0), c.db.identifier, c.gib));
        }
        if let Some(s) = c.source_iops().filter(|s| *s > base) {
            c.warn("storage-iops-lower", format!("the source provisions {s} IOPS; gp3 below {from} GiB gives {base}: keep {} on io1/io2, or grow it to {from} GiB (--allocated-storage) to provision more", c.db.identifier));
        }
        return;
    }
    let (imin, imax) = (
        rule.iops_min.unwrap_or(0),
        rule.iops_max.unwrap_or(i32::MAX),
    );
    let (tmin, tmax) = (
        rule.throughput_min.unwrap_or(0),
        rule.throughput_max.unwrap_or(i32::MAX),
    );
    // Moving to gp3: carry what the source provisions above gp3's baseline, so green is not
    // slower. Staying on gp3: green keeps the source's own values unless told otherwise.
    let moves = c.out.green.storage_type.is_some();
    let iops = c.settings.iops.or_else(|| {
        c.source_iops()
            .filter(|s| moves && *s > imin)
            .map(|s| s.min(imax))
    });
    let throughput = c.settings.storage_throughput.or_else(|| {
        c.db.storage_throughput
            .filter(|t| moves && *t > tmin)
            .map(|t| t.min(tmax))
    });
    if let Some(i) = iops.filter(|i| *i < imin || *i > imax) {
        c.block("storage-iops-invalid", format!("{i} IOPS is refused for gp3 of {} GiB: RDS accepts {imin}-{imax} at {from} GiB and above: pass --iops in that range", c.gib));
    }
    if let Some(t) = throughput.filter(|t| *t < tmin || *t > tmax) {
        c.block("storage-iops-invalid", format!("{t} MiB/s is refused for gp3 of {} GiB: RDS accepts {tmin}-{tmax} at {from} GiB and above: pass --storage-throughput in that range", c.gib));
    }
    // What green will run with: what is sent, else what it keeps, else the baseline.
    let kept = |v: Option<i32>| if moves { None } else { v };
    let green_iops = iops.or(kept(c.source_iops())).unwrap_or(imin);
    let ratio = rule.max_throughput_per_iops.unwrap_or(f64::MAX);
    if let Some(t) = throughput.or(kept(c.db.storage_throughput)) {
        if t as f64 > ratio * green_iops as f64 {
            let need = (t as f64 / ratio).ceil() as i32;
            c.block("storage-iops-invalid", format!("{t} MiB/s needs at least {need} IOPS on gp3 (at most {ratio} MiB/s per IOPS) and green would have {green_iops}: pass --iops {need} or more, or a lower --storage-throughput"));
        }
    }
    if let Some(s) = c.source_iops().filter(|s| *s > green_iops) {
        c.warn("storage-iops-lower", format!("the source provisions {s} IOPS and green on gp3 gets {green_iops}: pass --iops {} (gp3 allows up to {imax})", s.min(imax)));
    }
    c.out.green.iops = iops;
    c.out.green.storage_throughput = throughput;
}

/// gp2: no provisioned IOPS or throughput at all.
fn general_purpose(c: &mut Ctx) {
    if c.settings.iops.is_some() || c.settings.storage_throughput.is_some() {
        c.block("storage-iops-invalid", format!("{} storage has no provisioned IOPS or throughput: drop --iops/--storage-throughput, or choose --storage-type gp3 or io1/io2", c.kind));
    }
    // gp2's baseline is 3 IOPS per GiB (bursting to 3,000 below 1 TiB).
    let baseline = (3 * c.gib).max(100);
    if let Some(s) = c.source_iops().filter(|s| *s > baseline.max(3000)) {
        c.warn("storage-iops-lower", format!("the source provisions {s} IOPS; {} GiB of {} gives about {baseline} (3 per GiB): choose gp3 or io1/io2 for green", c.gib, c.kind));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::fake::db;

    fn source(kind: &str, gib: i32, iops: Option<i32>) -> DbInstance {
        let mut d = db("us-east-1", "a");
        d.storage_type = kind.into();
        d.allocated_storage_gib = gib;
        d.iops = iops;
        d
    }

    fn settings(
        kind: Option<&str>,
        iops: Option<i32>,
        tput: Option<i32>,
        gib: Option<i32>,
    ) -> PlanSettings {
        PlanSettings {
            storage_type: kind.map(str::to_string),
            iops,
            storage_throughput: tput,
            allocated_storage_gib: gib,
            ..Default::default()
        }
    }

    /// Plan, then (what is sent, blocker codes, warning codes).
    fn check(src: DbInstance, s: PlanSettings) -> (GreenStorage, Vec<String>, Vec<String>) {
        let o = plan_storage(rules(), &src, &s);
        let codes = |f: &[Finding]| f.iter().map(|f| f.code.clone()).collect::<Vec<_>>();
        for f in o.blockers.iter().chain(&o.warnings) {
            assert!(
                f.message.contains("--") || f.message.contains("check"),
                "no fix in {f:?}"
            );
        }
        (o.green.clone(), codes(&o.blockers), codes(&o.warnings))
    }

    fn sent(
        kind: Option<&str>,
        iops: Option<i32>,
        tput: Option<i32>,
        gib: Option<i32>,
    ) -> GreenStorage {
        GreenStorage {
            storage_type: kind.map(str::to_string),
            iops,
            storage_throughput: tput,
            allocated_storage_gib: gib,
        }
    }

    #[test]
    fn io1_always_gets_iops() {
        // gp2 -> io1 with IOPS and the minimum size.
        let (g, b, _) = check(
            source("gp2", 200, None),
            settings(Some("io1"), Some(3000), None, None),
        );
        assert_eq!((g, b.len()), (sent(Some("io1"), Some(3000), None, None), 0));
        // Without IOPS to carry: blocked, with the range to choose from.
        let (_, b, _) = check(
            source("gp2", 200, None),
            settings(Some("io1"), None, None, None),
        );
        assert_eq!(b, ["storage-iops-required"]);
        // io1 -> io2 carries the source's IOPS.
        let (g, b, _) = check(
            source("io1", 500, Some(10000)),
            settings(Some("io2"), None, None, None),
        );
        assert_eq!(
            (g, b.len()),
            (sent(Some("io2"), Some(10000), None, None), 0)
        );
        // io1 kept as is: nothing to send.
        let (g, b, _) = check(
            source("io1", 500, Some(10000)),
            settings(None, None, None, None),
        );
        assert_eq!((g, b.len()), (GreenStorage::default(), 0));
        // Growing an io1 volume sends IOPS along.
        let (g, _, _) = check(
            source("io1", 500, Some(10000)),
            settings(None, None, None, Some(800)),
        );
        assert_eq!(g, sent(None, Some(10000), None, Some(800)));
    }

    #[test]
    fn io1_size_and_ratio_are_checked() {
        // 50 GiB is below io1's 100 GiB minimum: the fix is --allocated-storage 100.
        let (_, b, _) = check(
            source("gp2", 50, None),
            settings(Some("io1"), Some(1000), None, None),
        );
        assert_eq!(b, ["storage-size-invalid"]);
        let (g, b, _) = check(
            source("gp2", 50, None),
            settings(Some("io1"), Some(1000), None, Some(100)),
        );
        assert_eq!(
            (g, b.len()),
            (sent(Some("io1"), Some(1000), None, Some(100)), 0)
        );
        // 30,000 IOPS on 200 GiB is more than 50 per GiB.
        let (_, b, _) = check(
            source("gp2", 200, None),
            settings(Some("io1"), Some(30000), None, None),
        );
        assert_eq!(b, ["storage-iops-invalid"]);
        // io2 allows up to 1,000 per GiB.
        let (_, b, _) = check(
            source("gp2", 200, None),
            settings(Some("io2"), Some(30000), None, None),
        );
        assert!(b.is_empty());
        // Throughput is gp3's only.
        let (_, b, _) = check(
            source("gp2", 200, None),
            settings(Some("io1"), Some(3000), Some(500), None),
        );
        assert_eq!(b, ["storage-iops-invalid"]);
    }

    #[test]
    fn gp3_below_400_gib_has_a_fixed_baseline() {
        let (g, b, w) = check(
            source("gp2", 100, None),
            settings(Some("gp3"), None, None, None),
        );
        assert_eq!(
            (g, b.len(), w.len()),
            (sent(Some("gp3"), None, None, None), 0, 0)
        );
        let (_, b, _) = check(
            source("gp2", 100, None),
            settings(Some("gp3"), Some(12000), None, None),
        );
        assert_eq!(b, ["storage-iops-invalid"]);
        // io1 with 10,000 IOPS to a small gp3 volume: allowed, with a warning.
        let (g, b, w) = check(
            source("io1", 200, Some(10000)),
            settings(Some("gp3"), None, None, None),
        );
        assert_eq!(
            (g, b.len(), w),
            (
                sent(Some("gp3"), None, None, None),
                0,
                vec!["storage-iops-lower".to_string()]
            )
        );
    }

    #[test]
    fn gp3_at_400_gib_and_above_carries_or_takes_provisioned_performance() {
        // io1 with 20,000 IOPS to gp3 of 1 TiB: the IOPS are carried.
        let (g, b, w) = check(
            source("io1", 1000, Some(20000)),
            settings(Some("gp3"), None, None, None),
        );
        assert_eq!(
            (g, b.len(), w.len()),
            (sent(Some("gp3"), Some(20000), None, None), 0, 0)
        );
        // io1 with 5,000: below gp3's 12,000 baseline, nothing to send.
        let (g, _, _) = check(
            source("io1", 1000, Some(5000)),
            settings(Some("gp3"), None, None, None),
        );
        assert_eq!(g, sent(Some("gp3"), None, None, None));
        // gp3 kept, only grown: green keeps its provisioned IOPS, nothing to warn about.
        let mut big = source("gp3", 500, Some(15000));
        big.storage_throughput = Some(1000);
        let (g, b, w) = check(big, settings(None, None, None, Some(800)));
        assert_eq!(
            (g, b.len(), w.len()),
            (sent(None, None, None, Some(800)), 0, 0)
        );
        // Explicit values, checked: throughput at most 0.25 MiB/s per IOPS.
        let (g, b, _) = check(
            source("gp2", 500, None),
            settings(Some("gp3"), Some(16000), Some(1000), None),
        );
        assert_eq!(
            (g, b.len()),
            (sent(Some("gp3"), Some(16000), Some(1000), None), 0)
        );
        let (_, b, _) = check(
            source("gp2", 500, None),
            settings(Some("gp3"), None, Some(4000), None),
        );
        assert_eq!(b, ["storage-iops-invalid"]);
        let (_, b, _) = check(
            source("gp2", 500, None),
            settings(Some("gp3"), Some(5000), None, None),
        );
        assert_eq!(b, ["storage-iops-invalid"]);
    }

    #[test]
    fn gp2_takes_no_iops_and_shrinking_warns() {
        let (_, b, _) = check(
            source("gp3", 100, None),
            settings(Some("gp2"), Some(3000), None, None),
        );
        assert_eq!(b, ["storage-iops-invalid"]);
        let (g, b, w) = check(
            source("gp2", 500, None),
            settings(None, None, None, Some(300)),
        );
        assert_eq!(
            (g, b.len(), w),
            (
                sent(None, None, None, Some(300)),
                0,
                vec!["storage-shrink".to_string()]
            )
        );
        let (_, b, _) = check(
            source("standard", 100, None),
            settings(None, Some(3000), None, None),
        );
        assert_eq!(b, ["storage-iops-invalid"]);
    }

    #[test]
    fn rules_are_dated_and_sourced() {
        let r = rules();
        assert!(!r.as_of.is_empty() && !r.source.is_empty());
        assert_eq!(iops_range(&r.types["io1"], 200), (1000, 10000));
    }
}
