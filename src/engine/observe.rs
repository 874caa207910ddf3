//! Observation: what one tick sees of one region, with batched, paginated describes only -
//! never one call per database. A part is described only when a database's current step
//! needs it (the step table's `needs`), and only for the names those steps wait on.
//!
//! Each part stands alone: a failed describe holds back only the steps that need it; after a
//! throttled describe the rest of the region waits for the next tick (the loop backs off).

use crate::backend::{BResult, BlueGreenQuery, ErrorKind, InstanceQuery, SnapshotQuery};
use crate::clock::Millis;
use crate::effects::Executor;
use crate::machine::{self, Seen};
use crate::plan::{Plan, StepKind};
use crate::store::{DbRow, Store, StoreError};
use std::collections::{BTreeSet, HashMap, HashSet};

/// What the active databases of one region need described this tick.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Wanted {
    /// Engines of the databases whose step needs instances (the listing's filter).
    pub engines: Option<BTreeSet<String>>,
    /// The instances those steps look at by name (the database, its `-oldN` copies, its
    /// replicas and theirs): described by name when that takes fewer calls than the listing.
    pub identifiers: BTreeSet<String>,
    pub snapshots: Vec<String>,
    pub blue_greens: Vec<String>,
    pub parameter_groups: Vec<String>,
}

/// Which describes the current steps of `dbs` need (pure).
/// `configured`: (region, name) of the parameter groups already configured (nothing to look
/// for).
pub fn wanted(plan: &Plan, dbs: &[&DbRow], configured: &HashSet<(String, String)>) -> Wanted {
    let mut w = Wanted::default();
    for d in dbs {
        let Some(step) = d.current_step() else {
            continue;
        };
        let p = &plan.databases[d.id as usize];
        let needs = machine::step(step.kind).needs;
        if needs.instances {
            w.engines
                .get_or_insert_with(BTreeSet::new)
                .insert(p.engine.clone());
            for id in std::iter::once(&p.identifier).chain(&p.replicas) {
                w.identifiers.insert(id.clone());
                w.identifiers
                    .extend((1..=9).map(|n| format!("{id}-old{n}")));
            }
        }
        if needs.snapshots {
            w.snapshots
                .extend(p.resource_name(StepKind::Snapshot).map(String::from));
        }
        if needs.blue_greens {
            w.blue_greens
                .extend(p.resource_name(StepKind::CreateBlueGreen).map(String::from));
        }
        if needs.parameter_groups {
            if let Some(t) = &p.target {
                let configured =
                    configured.contains(&(p.region.clone(), t.parameter_group.clone()));
                let planned = plan
                    .parameter_groups
                    .iter()
                    .any(|g| g.region == p.region && g.name == t.parameter_group);
                if planned && !configured && !w.parameter_groups.contains(&t.parameter_group) {
                    w.parameter_groups.push(t.parameter_group.clone());
                }
            }
        }
    }
    w
}

/// Requests a describe by name takes per name (the adapter sends at most 50 names a call), and
/// a listing per instance (100 a page): describe by name when that is fewer requests. A
/// region holds about twice its planned databases once old instances accumulate.
fn by_name_is_cheaper(names: usize, planned_in_region: usize) -> bool {
    names.div_ceil(50) < (2 * planned_in_region).div_ceil(100).max(1)
}

/// Describe what `want` lists in `region` (each describe within the API budget).
/// `planned_in_region`: how many databases of the plan are in the region.
pub async fn region(
    exec: &mut Executor,
    store: &Store,
    region: &str,
    want: Wanted,
    planned_in_region: usize,
    now: Millis,
) -> Result<Seen, StoreError> {
    let mut seen = Seen {
        instances: want.engines.is_none().then(HashMap::new),
        snapshots: want.snapshots.is_empty().then(HashMap::new),
        blue_greens: want.blue_greens.is_empty().then(HashMap::new),
        parameter_groups: want.parameter_groups.is_empty().then(HashMap::new),
    };
    if let Some(engines) = want.engines {
        let q = if by_name_is_cheaper(want.identifiers.len(), planned_in_region) {
            InstanceQuery {
                identifiers: want.identifiers.into_iter().collect(),
                engines: vec![],
            }
        } else {
            InstanceQuery {
                identifiers: vec![],
                engines: engines.into_iter().collect(),
            }
        };
        let r = exec.describe_instances(region, &q).await;
        match part(store, region, "DescribeDBInstances", r, now)? {
            Part::Seen(v) => {
                seen.instances = Some(v.into_iter().map(|i| (i.identifier.clone(), i)).collect())
            }
            Part::Failed => {}
            Part::Throttled => return Ok(seen),
        }
    }
    if !want.snapshots.is_empty() {
        let q = SnapshotQuery {
            snapshot_ids: want.snapshots,
            instance_ids: vec![],
        };
        let r = exec.describe_snapshots(region, &q).await;
        match part(store, region, "DescribeDBSnapshots", r, now)? {
            Part::Seen(v) => {
                seen.snapshots = Some(v.into_iter().map(|s| (s.identifier.clone(), s)).collect())
            }
            Part::Failed => {}
            Part::Throttled => return Ok(seen),
        }
    }
    if !want.blue_greens.is_empty() {
        let q = BlueGreenQuery {
            names: want.blue_greens,
            identifiers: vec![],
        };
        let r = exec.describe_blue_green(region, &q).await;
        match part(store, region, "DescribeBlueGreenDeployments", r, now)? {
            Part::Seen(v) => {
                seen.blue_greens = Some(v.into_iter().map(|b| (b.name.clone(), b)).collect())
            }
            Part::Failed => {}
            Part::Throttled => return Ok(seen),
        }
    }
    if !want.parameter_groups.is_empty() {
        let r = exec
            .describe_parameter_groups(region, &want.parameter_groups)
            .await;
        if let Part::Seen(v) = part(store, region, "DescribeDBParameterGroups", r, now)? {
            seen.parameter_groups = Some(v.into_iter().map(|g| (g.name.clone(), g)).collect());
        }
    }
    Ok(seen)
}

/// The result of one describe of an observation.
enum Part<T> {
    Seen(T),
    Failed,
    Throttled,
}

/// Errors are noted (an event; a log line), not fatal: the next tick describes again.
fn part<T>(
    store: &Store,
    region: &str,
    op: &str,
    r: BResult<T>,
    now: Millis,
) -> Result<Part<T>, StoreError> {
    match r {
        Ok(v) => Ok(Part::Seen(v)),
        Err(e) => {
            if e.is_retryable() {
                // The next tick retries anyway: not something an operator must act on.
                tracing::debug!(region, op, error = %e, "describe failed; will retry next tick");
            } else {
                tracing::warn!(region, op, error = %e, "describe failed; will retry next tick");
            }
            store.event(
                None,
                None,
                "observe-error",
                &format!("{region} {op}: {e}"),
                now,
            )?;
            Ok(if e.kind == ErrorKind::Throttled {
                Part::Throttled
            } else {
                Part::Failed
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::by_name_is_cheaper;

    #[test]
    fn instances_are_described_by_name_only_when_that_takes_fewer_requests() {
        // One database at verify in a region of 5,000: 10 names, one call, not 100 pages.
        assert!(by_name_is_cheaper(10, 5000));
        // 2,000 databases at verify in that region: the listing is cheaper.
        assert!(!by_name_is_cheaper(20_000, 5000));
        // A small region: one page either way, the listing (it also sees renamed copies).
        assert!(!by_name_is_cheaper(10, 20));
    }
}
