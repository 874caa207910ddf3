//! [`SimBackend`]: the simulated RDS API. Every call runs in one SQLite transaction that
//! (1) applies the events due by now, (2) takes a throttle token, (3) injects per-call faults,
//! (4) acts, inside a savepoint so a refused call changes nothing, and (5) records its trail
//! entry. See the module doc of [`crate::sim`] for the behaviour this implements.

use super::faults::FaultSpec;
use super::fleet::{arn, family_params};
use super::rng;
use super::store::{self, BgdRow, InstRow, Member, PgRow, SnapRow, Table};
use super::{SimError, SIM_ACCOUNT_ID, SIM_REGIONS};
use crate::backend::*;
use crate::catalog::Catalog;
use crate::clock::{rfc3339, Clock, Millis, ScaledClock, SharedClock, VirtualClock};
use crate::domain::*;
use async_trait::async_trait;
use rusqlite::{params, Connection, TransactionBehavior};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// World metadata key of the virtual time (present only in a world on virtual time).
pub(super) const VIRTUAL_NOW: &str = "virtual_now";

/// One API call as the simulator received it (the simulator's CloudTrail).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrailEntry {
    pub seq: i64,
    pub at: Millis,
    pub time: String,
    pub region: String,
    /// AWS action name, e.g. `CreateDBSnapshot`.
    pub action: String,
    pub resource: String,
    pub params: Value,
    pub mutating: bool,
    /// `ok`, or the AWS error code the caller got (e.g. `Throttling`). A `5xx-after` fault
    /// records `InternalFailure` with `"sim_effect_applied": true` in `params`.
    pub outcome: String,
}

/// A write-unavailability window recorded during a switchover.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DowntimeEntry {
    pub region: String,
    pub identifier: String,
    pub start: Millis,
    pub seconds: f64,
}

/// When the simulated RDS finished something it was asked: `snapshot-available` /
/// `snapshot-failed` (resource: snapshot id, detail: instance), `bgd-available`,
/// `switchover-completed` / `switchover-failed` (resource: deployment identifier, detail: its
/// name). With the trail (when it was asked) this gives how long RDS itself took, whatever
/// the orchestrator did: the benchmark's lower bound on a rollout's makespan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Milestone {
    pub at: Millis,
    pub region: String,
    pub kind: String,
    pub resource: String,
    pub detail: String,
}

/// Counts over the trail, for run summaries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrailSummary {
    pub calls: usize,
    pub mutating: usize,
    pub throttled: usize,
    /// Outcome (`ok` or error code) -> count.
    pub by_outcome: BTreeMap<String, usize>,
    /// Action -> count.
    pub by_action: BTreeMap<String, usize>,
}

/// The simulated RDS. `Send + Sync`: the connection sits behind a mutex that is never held
/// across an `.await`.
pub struct SimBackend {
    conn: Arc<Mutex<Connection>>,
    clock: SharedClock,
    /// Set when the world runs on virtual time (`--speed max`): every call first catches up
    /// with the time stored in the world (another process may have got further) and stores
    /// its own.
    virtual_clock: Option<VirtualClock>,
    seed: u64,
    burst: f64,
    rate: f64,
    faults: Mutex<FaultSpec>,
    catalog: Catalog,
}

impl std::fmt::Debug for SimBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimBackend")
            .field("seed", &self.seed)
            .finish()
    }
}

fn meta_parse<T: std::str::FromStr>(
    conn: &Connection,
    path: &Path,
    key: &str,
) -> Result<T, SimError> {
    store::get_meta(conn, key)?
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| SimError::Corrupt {
            path: path.display().to_string(),
            reason: format!("metadata `{key}` missing or invalid"),
        })
}

impl SimBackend {
    /// Open an existing world with its own clock: a [`VirtualClock`] continuing the world's
    /// stored time when it runs on virtual time (`--speed max`), else a [`ScaledClock`]
    /// (epochs and speed from the world file).
    pub fn open(path: &Path) -> Result<SimBackend, SimError> {
        let conn = store::open(path, false)?;
        if store::get_meta(&conn, VIRTUAL_NOW)?.is_some() {
            let now: Millis = meta_parse(&conn, path, VIRTUAL_NOW)?;
            let conn = Arc::new(Mutex::new(conn));
            let c2 = conn.clone();
            // Saved on the world's connection, outside any call (the lock is never held
            // across an await, and the clock sleeps only between calls).
            let clock = VirtualClock::persisted(
                now,
                Arc::new(move |t| {
                    let c = c2.lock().unwrap_or_else(|p| p.into_inner());
                    if let Err(e) = store::advance_meta_time(&c, VIRTUAL_NOW, t) {
                        tracing::warn!("cannot save the simulated time: {e}");
                    }
                }),
            );
            return Self::with_conn(path, conn, Arc::new(clock.clone()), Some(clock));
        }
        let sim_epoch: Millis = meta_parse(&conn, path, "sim_epoch")?;
        let wall_epoch: Millis = meta_parse(&conn, path, "wall_epoch")?;
        let speed: f64 = meta_parse(&conn, path, "speed")?;
        let clock: SharedClock = Arc::new(ScaledClock::new(sim_epoch, wall_epoch, speed));
        Self::with_conn(path, Arc::new(Mutex::new(conn)), clock, None)
    }

    /// Open with an injected clock (tests: a ManualClock shared with the engine).
    pub fn open_with_clock(path: &Path, clock: SharedClock) -> Result<SimBackend, SimError> {
        let conn = store::open(path, false)?;
        Self::with_conn(path, Arc::new(Mutex::new(conn)), clock, None)
    }

    fn with_conn(
        path: &Path,
        conn: Arc<Mutex<Connection>>,
        clock: SharedClock,
        virtual_clock: Option<VirtualClock>,
    ) -> Result<SimBackend, SimError> {
        let (seed, burst, rate, faults) = {
            let conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            let seed: u64 = meta_parse(&conn, path, "seed")?;
            let burst: f64 = meta_parse(&conn, path, "throttle_burst")?;
            let rate: f64 = meta_parse(&conn, path, "throttle_rate")?;
            let faults = FaultSpec::parse(&store::get_meta(&conn, "faults")?.unwrap_or_default())?;
            (seed, burst, rate, faults)
        };
        Ok(SimBackend {
            conn,
            clock,
            virtual_clock,
            seed,
            burst,
            rate,
            faults: Mutex::new(faults),
            catalog: Catalog::bundled(),
        })
    }

    pub fn clock(&self) -> SharedClock {
        self.clock.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (the transaction rolls back).
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every API call received, in order; `mutating_only` keeps the mutating ones.
    pub fn trail(&self, mutating_only: bool) -> Result<Vec<TrailEntry>, SimError> {
        let conn = self.lock();
        let mut st = conn.prepare(
            "SELECT seq, at, region, action, resource, params, mutating, outcome FROM trail
             WHERE mutating >= ?1 ORDER BY seq",
        )?;
        let rows = st.query_map([mutating_only as i64], |r| {
            let at: Millis = r.get(1)?;
            Ok(TrailEntry {
                seq: r.get(0)?,
                at,
                time: rfc3339(at),
                region: r.get(2)?,
                action: r.get(3)?,
                resource: r.get(4)?,
                params: serde_json::from_str(&r.get::<_, String>(5)?).unwrap_or(Value::Null),
                mutating: r.get::<_, i64>(6)? != 0,
                outcome: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every milestone, in order (see [`Milestone`]).
    pub fn milestones(&self) -> Result<Vec<Milestone>, SimError> {
        let conn = self.lock();
        let mut st =
            conn.prepare("SELECT at, region, kind, resource, detail FROM milestones ORDER BY id")?;
        let rows = st.query_map([], |r| {
            Ok(Milestone {
                at: r.get(0)?,
                region: r.get(1)?,
                kind: r.get(2)?,
                resource: r.get(3)?,
                detail: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The sequence number of the last call in the trail (0 for none), and the number of
    /// mutating calls in it: a cheap way to watch a running rollout from another process.
    pub fn trail_marks(&self) -> Result<(i64, i64), SimError> {
        let conn = self.lock();
        // The primary key and a partial index: cheap however long the trail.
        let last = conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM trail", [], |r| r.get(0))?;
        let mutating = conn.query_row(
            "SELECT COUNT(*) FROM trail INDEXED BY trail_mutating WHERE mutating = 1",
            [],
            |r| r.get(0),
        )?;
        Ok((last, mutating))
    }

    /// Every call after `after_seq`, in order, handed to `f` one at a time (a trail of
    /// millions of calls need not fit in memory).
    pub fn each_call_after(
        &self,
        after_seq: i64,
        mut f: impl FnMut(TrailEntry),
    ) -> Result<(), SimError> {
        let conn = self.lock();
        let mut st = conn.prepare(
            "SELECT seq, at, region, action, resource, params, mutating, outcome FROM trail
             WHERE seq > ?1 ORDER BY seq",
        )?;
        let mut rows = st.query([after_seq])?;
        while let Some(r) = rows.next()? {
            let at: Millis = r.get(1)?;
            f(TrailEntry {
                seq: r.get(0)?,
                at,
                time: rfc3339(at),
                region: r.get(2)?,
                action: r.get(3)?,
                resource: r.get(4)?,
                params: serde_json::from_str(&r.get::<_, String>(5)?).unwrap_or(Value::Null),
                mutating: r.get::<_, i64>(6)? != 0,
                outcome: r.get(7)?,
            });
        }
        Ok(())
    }

    /// Counts over the whole trail.
    pub fn trail_summary(&self) -> Result<TrailSummary, SimError> {
        let mut s = TrailSummary::default();
        for e in self.trail(false)? {
            s.calls += 1;
            s.mutating += e.mutating as usize;
            s.throttled += (e.outcome == "Throttling") as usize;
            *s.by_outcome.entry(e.outcome).or_default() += 1;
            *s.by_action.entry(e.action).or_default() += 1;
        }
        Ok(s)
    }

    /// Replace the fault spec (also stored in the world, for other processes opening it later).
    pub fn set_faults(&self, spec: &str) -> Result<(), SimError> {
        let parsed = FaultSpec::from_arg(spec)?;
        store::set_meta(&self.lock(), "faults", &parsed.to_spec())?;
        *self.faults.lock().unwrap_or_else(|p| p.into_inner()) = parsed;
        Ok(())
    }

    /// Set the `DBInstances` quota of `region`: AWS granting a quota increase, or (lower)
    /// another team taking the headroom. Records nothing in the trail (not an RDS call).
    pub fn set_instance_quota(&self, region: &str, max: i64) -> Result<(), SimError> {
        let n = self.lock().execute(
            "UPDATE quota SET max=?1 WHERE region=?2",
            params![max, region],
        )?;
        if n == 0 {
            return Err(SimError::BadOption(format!("no region {region}")));
        }
        Ok(())
    }

    /// Per-database write-unavailability windows recorded during switchovers.
    pub fn downtime(&self) -> Result<Vec<DowntimeEntry>, SimError> {
        let conn = self.lock();
        let mut st =
            conn.prepare("SELECT region, identifier, start, seconds FROM downtime ORDER BY id")?;
        let rows = st.query_map([], |r| {
            Ok(DowntimeEntry {
                region: r.get(0)?,
                identifier: r.get(1)?,
                start: r.get(2)?,
                seconds: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Apply the events due by the clock's now, outside of any API call (for `sim status`-like
    /// tools and tests). Records nothing in the trail.
    pub fn advance(&self) -> Result<(), SimError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        process_events(&tx, self.clock.now(), self.seed)?;
        tx.commit()?;
        Ok(())
    }

    /// On virtual time, catch up with the time stored in the world (another process may
    /// have got further), then store ours. Inside the call's transaction.
    fn sync_virtual_time(&self, tx: &Connection) -> rusqlite::Result<()> {
        if let Some(v) = &self.virtual_clock {
            if let Some(t) = store::get_meta(tx, VIRTUAL_NOW)? {
                v.catch_up(t.parse().unwrap_or(0));
            }
            store::advance_meta_time(tx, VIRTUAL_NOW, v.now())?;
        }
        Ok(())
    }

    /// Run one API call: see the module doc. Returns the result and the injected latency.
    fn run<T>(
        &self,
        region: &str,
        op: Op,
        resource: &str,
        params: Value,
        f: impl FnOnce(&Ctx) -> BResult<(T, usize)>,
    ) -> (BResult<T>, u64) {
        let (action, mutating) = (op.name(), op.mutating());
        let faults = self
            .faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut conn = self.lock();
        let r = (|| -> BResult<(BResult<T>, u64)> {
            let mut tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .sq()?;
            // Read the time only once the world is ours: another process may have held it, and
            // its calls must not appear to come after ours (nor, on virtual time, its time).
            self.sync_virtual_time(&tx).sq()?;
            let now = self.clock.now();
            process_events(&tx, now, self.seed).sq()?;
            let seq: i64 = tx
                .prepare_cached("SELECT COALESCE(MAX(seq), 0) + 1 FROM trail")
                .and_then(|mut st| st.query_row([], |r| r.get(0)))
                .sq()?;
            let salt = seq.to_string();
            let keys = [resource, action];
            let latency = if faults.applies("latency", &keys) {
                let max = faults.value("latency").unwrap_or(0.0);
                rng::between(self.seed, &["latency", &salt], 0.0, max) as u64
            } else {
                0
            };
            let record = |c: &Connection, params: &Value, outcome: &str| -> BResult<()> {
                c.prepare_cached(
                    "INSERT INTO trail (at, region, action, resource, params, mutating, outcome)
                     VALUES (?1,?2,?3,?4,?5,?6,?7)",
                )
                .and_then(|mut st| {
                    st.execute(params![
                        now,
                        region,
                        action,
                        resource,
                        params.to_string(),
                        mutating as i64,
                        outcome
                    ])
                })
                .sq()?;
                Ok(())
            };
            let throttled = BackendError::new(ErrorKind::Throttled, "Throttling", "Rate exceeded");
            if !SIM_REGIONS.contains(&region) {
                let e = BackendError::new(
                    ErrorKind::InvalidRequest,
                    "InvalidParameterValue",
                    format!(
                        "unknown region {region}: the simulator has {}",
                        SIM_REGIONS.join(", ")
                    ),
                );
                record(&tx, &params, &e.code)?;
                tx.commit().sq()?;
                return Ok((Err(e), latency));
            }
            if !take_token(&tx, region, now, self.burst, self.rate).sq()? {
                record(&tx, &params, "Throttling")?;
                tx.commit().sq()?;
                return Ok((Err(throttled), latency));
            }
            if faults.hits(self.seed, "5xx", &keys, &salt) {
                let e = if rng::unit(self.seed, &["5xx-kind", &salt]) < 0.5 {
                    BackendError::new(
                        ErrorKind::Transient,
                        "InternalFailure",
                        "An internal error has occurred (simulated)",
                    )
                } else {
                    BackendError::new(
                        ErrorKind::Transient,
                        "ServiceUnavailable",
                        "Service unavailable (simulated)",
                    )
                };
                record(&tx, &params, &e.code)?;
                tx.commit().sq()?;
                return Ok((Err(e), latency));
            }
            let mut sp = tx.savepoint().sq()?;
            let ctx = Ctx {
                c: &sp,
                now,
                seed: self.seed,
                faults: &faults,
                region,
                catalog: &self.catalog,
            };
            let res = f(&ctx);
            let res = match res {
                Err(e) => {
                    sp.rollback().sq()?;
                    drop(sp);
                    record(&tx, &params, &e.code)?;
                    tx.commit().sq()?;
                    return Ok((Err(e), latency));
                }
                Ok(v) => {
                    sp.commit().sq()?;
                    v
                }
            };
            let (value, pages) = res;
            if mutating && faults.hits(self.seed, "5xx-after", &keys, &salt) {
                let mut p = params.clone();
                p["sim_effect_applied"] = json!(true);
                record(&tx, &p, "InternalFailure")?;
                tx.commit().sq()?;
                return Ok((
                    Err(BackendError::new(
                        ErrorKind::Transient,
                        "InternalFailure",
                        "An internal error has occurred (simulated; the request took effect)",
                    )),
                    latency,
                ));
            }
            record(&tx, &params, "ok")?;
            // Further pages of a describe are further calls, each needing a token.
            for page in 2..=pages.max(1) {
                let mut p = params.clone();
                p["page"] = json!(page);
                if !take_token(&tx, region, now, self.burst, self.rate).sq()? {
                    record(&tx, &p, "Throttling")?;
                    tx.commit().sq()?;
                    return Ok((Err(throttled), latency));
                }
                record(&tx, &p, "ok")?;
            }
            tx.commit().sq()?;
            Ok((Ok(value), latency))
        })();
        match r {
            Ok(x) => x,
            Err(e) => (Err(e), 0),
        }
    }

    async fn call<T: Send>(
        &self,
        region: &str,
        op: Op,
        resource: &str,
        params: Value,
        f: impl FnOnce(&Ctx) -> BResult<(T, usize)> + Send,
    ) -> BResult<T> {
        let (res, latency) = self.run(region, op, resource, params, f);
        if latency > 0 {
            self.clock.sleep(Duration::from_millis(latency)).await;
        }
        res
    }
}

/// Map SQLite failures inside a call to a backend error (busy => transient, retry).
trait Sq<T> {
    fn sq(self) -> BResult<T>;
}

impl<T> Sq<T> for rusqlite::Result<T> {
    fn sq(self) -> BResult<T> {
        self.map_err(|e| {
            let busy = matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy) | Some(rusqlite::ErrorCode::DatabaseLocked)
            );
            BackendError::new(
                if busy {
                    ErrorKind::Transient
                } else {
                    ErrorKind::Other
                },
                "SimWorldError",
                e.to_string(),
            )
        })
    }
}

/// Token bucket in simulated time. Returns false when no token is left.
fn take_token(
    c: &Connection,
    region: &str,
    now: Millis,
    burst: f64,
    rate: f64,
) -> rusqlite::Result<bool> {
    let (tokens, updated): (f64, Millis) = c
        .prepare_cached("SELECT tokens, updated_at FROM bucket WHERE region=?1")?
        .query_row([region], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let elapsed = (now - updated).max(0) as f64 / 1000.0;
    let tokens = (tokens + elapsed * rate).min(burst);
    let (tokens, ok) = if tokens >= 1.0 {
        (tokens - 1.0, true)
    } else {
        (tokens, false)
    };
    c.prepare_cached("UPDATE bucket SET tokens=?1, updated_at=?2 WHERE region=?3")?
        .execute(params![tokens, now.max(updated), region])?;
    Ok(ok)
}

/// What an operation sees.
struct Ctx<'a> {
    c: &'a Connection,
    now: Millis,
    seed: u64,
    faults: &'a FaultSpec,
    region: &'a str,
    catalog: &'a Catalog,
}

fn e(kind: ErrorKind, code: &str, msg: impl Into<String>) -> BackendError {
    BackendError::new(kind, code, msg)
}

fn inst_not_found(id: &str) -> BackendError {
    e(
        ErrorKind::NotFound,
        "DBInstanceNotFound",
        format!("DBInstance {id} not found."),
    )
}

fn pg_not_found(name: &str) -> BackendError {
    e(
        ErrorKind::NotFound,
        "DBParameterGroupNotFound",
        format!("DBParameterGroup not found: {name}"),
    )
}

fn bgd_not_found(id: &str) -> BackendError {
    e(
        ErrorKind::NotFound,
        "BlueGreenDeploymentNotFoundFault",
        format!("BlueGreenDeployment {id} not found."),
    )
}

fn bgd_state(msg: impl Into<String>) -> BackendError {
    e(
        ErrorKind::InvalidState,
        "InvalidBlueGreenDeploymentStateFault",
        msg,
    )
}

fn inst_state(msg: impl Into<String>) -> BackendError {
    e(ErrorKind::InvalidState, "InvalidDBInstanceState", msg)
}

fn bad_param(msg: impl Into<String>) -> BackendError {
    e(ErrorKind::InvalidRequest, "InvalidParameterValue", msg)
}

fn bad_combo(msg: impl Into<String>) -> BackendError {
    e(
        ErrorKind::InvalidRequest,
        "InvalidParameterCombination",
        msg,
    )
}

fn not_supported(msg: impl Into<String>) -> BackendError {
    e(
        ErrorKind::InvalidRequest,
        "SourceDatabaseNotSupportedFault",
        msg,
    )
}

fn pages(n: usize) -> usize {
    n.div_ceil(100).max(1)
}

fn secs(s: f64) -> Millis {
    (s * 1000.0) as Millis
}

impl Ctx<'_> {
    fn unit(&self, parts: &[&str]) -> f64 {
        rng::unit(self.seed, parts)
    }
    fn between(&self, parts: &[&str], lo: f64, hi: f64) -> f64 {
        rng::between(self.seed, parts, lo, hi)
    }
    /// Eventual consistency: is a resource created at `created` hidden from describes now?
    fn lagging(&self, id: &str, created: Millis) -> bool {
        let window = self.faults.value("lag-secs").unwrap_or(30.0);
        self.now - created < secs(window) && self.faults.hits(self.seed, "lag", &[id], "")
    }
    fn inst(&self, id: &str) -> BResult<InstRow> {
        store::get_inst(self.c, self.region, id)
            .sq()?
            .ok_or_else(|| inst_not_found(id))
    }
    fn pg(&self, name: &str) -> BResult<PgRow> {
        store::get(self.c, Table::Pgroups, self.region, name)
            .sq()?
            .ok_or_else(|| pg_not_found(name))
    }
    fn bgd(&self, id: &str) -> BResult<BgdRow> {
        store::get(self.c, Table::Bgds, self.region, id)
            .sq()?
            .ok_or_else(|| bgd_not_found(id))
    }
    fn schedule(&self, at: Millis, kind: &str, target: &str, payload: Value) -> BResult<()> {
        store::schedule(self.c, at, kind, self.region, target, payload).sq()
    }
    /// The value of a parameter in a group (user value, else the family default).
    fn param_value(&self, group: &PgRow, name: &str) -> Option<String> {
        group.params.get(name).cloned().or_else(|| {
            family_params(&group.group.family)
                .into_iter()
                .find(|p| p.0 == name)
                .map(|p| p.1.to_string())
        })
    }
    /// The first time rdsfleet touches a database, the "other actor" faults may schedule
    /// their interference some minutes later (once per database).
    fn maybe_actor(&self, row: &mut InstRow) -> BResult<()> {
        if row.actor_scheduled || row.inst.read_replica_source.is_some() {
            return Ok(());
        }
        let id = row.inst.identifier.clone();
        let delete = self.faults.hits(self.seed, "actor-delete", &[&id], "");
        let modify = self.faults.hits(self.seed, "actor-modify", &[&id], "");
        if !delete && !modify {
            return Ok(());
        }
        row.actor_scheduled = true;
        let at = self.now + secs(self.between(&["actor-delay", &id], 300.0, 1200.0));
        let kind = if delete {
            "delete"
        } else if self.unit(&["actor-kind", &id]) < 0.5 {
            "modify"
        } else {
            "reboot"
        };
        self.schedule(
            at,
            "actor",
            &row.inst.dbi_resource_id,
            json!({ "kind": kind }),
        )
    }
    fn quota_max(&self) -> BResult<i64> {
        self.c
            .query_row(
                "SELECT max FROM quota WHERE region=?1",
                [self.region],
                |r| r.get(0),
            )
            .sq()
    }
    /// Parse `arn:aws:rds:REGION:ACCOUNT:KIND:ID` for this region.
    fn parse_arn<'s>(&self, a: &'s str) -> BResult<(&'s str, &'s str)> {
        let parts: Vec<&str> = a.splitn(7, ':').collect();
        if parts.len() != 7 || parts[0] != "arn" || parts[2] != "rds" || parts[4] != SIM_ACCOUNT_ID
        {
            return Err(bad_param(format!("Invalid resource name: {a}")));
        }
        if parts[3] != self.region {
            return Err(bad_param(format!(
                "The ARN {a} is not in region {}",
                self.region
            )));
        }
        Ok((parts[5], parts[6]))
    }
}

fn snapshot_view(row: &SnapRow, now: Millis) -> Snapshot {
    let mut s = row.snap.clone();
    if s.status == "creating" {
        let total = (row.done_at - row.created_at).max(1) as f64;
        s.percent_progress =
            (((now - row.created_at) as f64 / total) * 100.0).clamp(0.0, 99.0) as i32;
    }
    s
}

// ---------------------------------------------------------------- events

/// Apply every event due at or before `now`, earliest first. Each event's effects are computed
/// at its own due time, so results do not depend on when a call happened to look.
fn process_events(c: &Connection, now: Millis, seed: u64) -> rusqlite::Result<()> {
    while let Some(ev) = store::pop_due(c, now)? {
        apply_event(c, &ev, seed)?;
    }
    Ok(())
}

fn apply_event(c: &Connection, ev: &store::Event, seed: u64) -> rusqlite::Result<()> {
    let at = ev.due_at;
    let region = ev.region.as_str();
    match ev.kind.as_str() {
        "inst-status" => {
            let Some(mut row) = store::get_inst_by_dbi(c, &ev.target)? else {
                return Ok(());
            };
            if let Some(from) = ev.payload["from"].as_array() {
                if !from
                    .iter()
                    .any(|s| s.as_str() == Some(row.inst.status.as_str()))
                {
                    return Ok(());
                }
            }
            let status = ev.payload["status"]
                .as_str()
                .unwrap_or("available")
                .to_string();
            row.inst.status = status.clone();
            if ev.payload["clear_pending"].as_bool() == Some(true) {
                row.inst.pending_modifications.clear();
            }
            if ev.payload["reboot"].as_bool() == Some(true) {
                for g in &mut row.inst.parameter_groups {
                    g.apply_status = "in-sync".into();
                }
            }
            store::put_inst(c, &row)?;
            if status == "available" {
                if let Some(b) = &row.bgd {
                    bgd_check(c, region, b, at)?;
                }
            }
        }
        "snapshot-done" => snapshot_done(c, region, ev, at)?,
        "bgd-invalid" => {
            if let Some(mut b) = store::get::<BgdRow>(c, Table::Bgds, region, &ev.target)? {
                if b.bg.status == BgStatus::Provisioning {
                    b.bg.status = BgStatus::InvalidConfiguration;
                    b.bg.status_details = Some(
                        "Replication from the blue environment to the green environment failed (simulated fault)".into(),
                    );
                    store::put_bgd(c, region, &b)?;
                }
            }
        }
        "switchover-end" => switchover_end(c, region, &ev.target, &ev.payload, at)?,
        "inst-gone" => {
            let Some(row) = store::get_inst_by_dbi(c, &ev.target)? else {
                return Ok(());
            };
            store::delete_inst(c, &ev.target)?;
            // Its source forgets it; its replicas are promoted (they lose their source).
            for mut other in store::all_inst(c, region)? {
                let before = (
                    other.inst.read_replicas.len(),
                    other.inst.read_replica_source.clone(),
                );
                other
                    .inst
                    .read_replicas
                    .retain(|r| r != &row.inst.identifier && r != &row.inst.arn);
                if other.inst.read_replica_source.as_deref() == Some(row.inst.identifier.as_str()) {
                    other.inst.read_replica_source = None;
                }
                if before
                    != (
                        other.inst.read_replicas.len(),
                        other.inst.read_replica_source.clone(),
                    )
                {
                    store::put_inst(c, &other)?;
                }
            }
            if let Some(b) = &row.bgd {
                bgd_member_missing(c, region, b, &row.inst.dbi_resource_id)?;
            }
        }
        "bgd-gone" => store::delete(c, Table::Bgds, region, &ev.target)?,
        "actor" => {
            let Some(mut row) = store::get_inst_by_dbi(c, &ev.target)? else {
                return Ok(());
            };
            if row.inst.status == "deleting" {
                return Ok(());
            }
            let id = row.inst.identifier.clone();
            match ev.payload["kind"].as_str().unwrap_or("") {
                "delete" => {
                    row.inst.status = "deleting".into();
                    row.inst.deletion_protection = false;
                    store::put_inst(c, &row)?;
                    store::schedule(c, at + 300_000, "inst-gone", region, &ev.target, json!({}))?;
                    if let Some(b) = &row.bgd {
                        bgd_member_missing(c, region, b, &ev.target)?;
                    }
                }
                "modify" => {
                    row.inst.status = "modifying".into();
                    row.inst.pending_modifications = vec!["DBInstanceClass".into()];
                    store::put_inst(c, &row)?;
                    let d = rng::between(seed, &["actor-modify-dur", &id], 600.0, 1800.0);
                    store::schedule(
                        c,
                        at + secs(d),
                        "inst-status",
                        region,
                        &ev.target,
                        json!({"status": "available", "from": ["modifying"], "clear_pending": true}),
                    )?;
                }
                _ => {
                    row.inst.status = "rebooting".into();
                    store::put_inst(c, &row)?;
                    let d = rng::between(seed, &["actor-reboot-dur", &id], 120.0, 300.0);
                    store::schedule(
                        c,
                        at + secs(d),
                        "inst-status",
                        region,
                        &ev.target,
                        json!({"status": "available", "from": ["rebooting"], "reboot": true}),
                    )?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// A snapshot finished (`available`, or `failed` under the fault); its source stops backing up.
fn snapshot_done(
    c: &Connection,
    region: &str,
    ev: &store::Event,
    at: Millis,
) -> rusqlite::Result<()> {
    let Some(mut s) = store::get::<SnapRow>(c, Table::Snapshots, region, &ev.target)? else {
        return Ok(());
    };
    if s.snap.status == "creating" {
        let failed = ev.payload["fail"].as_bool() == Some(true);
        s.snap.status = if failed { "failed" } else { "available" }.into();
        s.snap.percent_progress = if failed { 0 } else { 100 };
        store::put_snap(c, region, &s)?;
        let kind = format!("snapshot-{}", s.snap.status);
        store::milestone(
            c,
            at,
            region,
            &kind,
            &ev.target,
            &s.snap.instance_identifier,
        )?;
    }
    if let Some(dbi) = ev.payload["dbi"].as_str() {
        if let Some(mut row) = store::get_inst_by_dbi(c, dbi)? {
            if row.inst.status == "backing-up" {
                row.inst.status = "available".into();
                store::put_inst(c, &row)?;
            }
        }
    }
    Ok(())
}

/// A member instance of a deployment disappeared: before switchover the deployment can no
/// longer be switched over.
fn bgd_member_missing(
    c: &Connection,
    region: &str,
    bgd_id: &str,
    dbi: &str,
) -> rusqlite::Result<()> {
    let Some(mut b) = store::get::<BgdRow>(c, Table::Bgds, region, bgd_id)? else {
        return Ok(());
    };
    if matches!(
        b.bg.status,
        BgStatus::SwitchoverCompleted | BgStatus::Deleting
    ) {
        return Ok(());
    }
    for (i, m) in b.members.iter().enumerate() {
        if let Some(d) = b.bg.switchover_details.get_mut(i) {
            if m.blue == dbi {
                d.status = "MISSING_SOURCE".into();
            } else if m.green == dbi {
                d.status = "MISSING_TARGET".into();
            }
        }
    }
    b.bg.status = BgStatus::InvalidConfiguration;
    b.bg.status_details = Some("A database of the deployment was deleted".into());
    store::put_bgd(c, region, &b)
}

/// PROVISIONING -> AVAILABLE once every green instance is available.
fn bgd_check(c: &Connection, region: &str, bgd_id: &str, at: Millis) -> rusqlite::Result<()> {
    let Some(mut b) = store::get::<BgdRow>(c, Table::Bgds, region, bgd_id)? else {
        return Ok(());
    };
    if b.bg.status != BgStatus::Provisioning {
        return Ok(());
    }
    let mut all = true;
    for (i, m) in b.members.iter().enumerate() {
        let ok = store::get_inst_by_dbi(c, &m.green)?
            .map(|g| g.inst.status == "available")
            .unwrap_or(false);
        if ok {
            if let Some(d) = b.bg.switchover_details.get_mut(i) {
                d.status = "AVAILABLE".into();
            }
        }
        all &= ok;
    }
    if all {
        b.bg.status = BgStatus::Available;
        b.bg.status_details = None;
        store::milestone(c, at, region, "bgd-available", bgd_id, &b.bg.name)?;
    }
    store::put_bgd(c, region, &b)
}

/// The switchover timed out or lost a member: RDS rolled it back, blue keeps serving.
fn switchover_rolled_back(c: &Connection, region: &str, mut b: BgdRow) -> rusqlite::Result<()> {
    b.bg.status = BgStatus::SwitchoverFailed;
    b.bg.status_details = Some(
        "Switchover timed out or failed and was rolled back; the blue environment is serving and writable".into(),
    );
    for d in &mut b.bg.switchover_details {
        d.status = "SWITCHOVER_FAILED".into();
    }
    store::put_bgd(c, region, &b)
}

fn switchover_end(
    c: &Connection,
    region: &str,
    bgd_id: &str,
    p: &Value,
    at: Millis,
) -> rusqlite::Result<()> {
    let Some(mut b) = store::get::<BgdRow>(c, Table::Bgds, region, bgd_id)? else {
        return Ok(());
    };
    if b.bg.status != BgStatus::SwitchoverInProgress {
        return Ok(());
    }
    let start = p["start"].as_i64().unwrap_or(at);
    let downtime = p["downtime"].as_f64().unwrap_or(0.0);
    let ok = p["ok"].as_bool() == Some(true);
    let mut pairs = vec![];
    for m in &b.members {
        let blue = store::get_inst_by_dbi(c, &m.blue)?;
        let green = store::get_inst_by_dbi(c, &m.green)?;
        if let Some(bl) = &blue {
            c.execute(
                "INSERT INTO downtime (region, identifier, start, seconds) VALUES (?1,?2,?3,?4)",
                params![region, bl.inst.identifier, start, downtime],
            )?;
        }
        pairs.push((blue, green));
    }
    let ok = ok && pairs.iter().all(|(bl, g)| bl.is_some() && g.is_some());
    let kind = if ok {
        "switchover-completed"
    } else {
        "switchover-failed"
    };
    store::milestone(c, at, region, kind, bgd_id, &b.bg.name)?;
    if !ok {
        return switchover_rolled_back(c, region, b);
    }
    // Rename map: blue id -> <id>-oldN, green id -> production id.
    let mut rename: HashMap<String, String> = HashMap::new();
    let mut taken: Vec<String> = vec![];
    for (bl, g) in &pairs {
        let (bl, g) = (bl.as_ref().expect("checked"), g.as_ref().expect("checked"));
        let prod = bl.inst.identifier.clone();
        let mut n = 1;
        let old = loop {
            let cand = format!("{prod}-old{n}");
            if store::get_inst(c, region, &cand)?.is_none() && !taken.contains(&cand) {
                break cand;
            }
            n += 1;
        };
        taken.push(old.clone());
        rename.insert(prod.clone(), old);
        rename.insert(g.inst.identifier.clone(), prod);
    }
    let map = |s: &str| rename.get(s).cloned().unwrap_or_else(|| s.to_string());
    b.bg.switchover_details.clear();
    for (idx, (bl, g)) in pairs.into_iter().enumerate() {
        let (mut bl, mut g) = (bl.expect("checked"), g.expect("checked"));
        let prod = bl.inst.identifier.clone();
        let old = map(&prod);
        bl.inst.identifier = old.clone();
        bl.inst.arn = arn(region, "db", &old);
        bl.read_only = true;
        bl.bgd = None;
        bl.inst.read_replica_source = bl.inst.read_replica_source.as_deref().map(map);
        bl.inst.read_replicas = bl.inst.read_replicas.iter().map(|r| map(r)).collect();
        store::put_inst(c, &bl)?;
        g.inst.identifier = prod.clone();
        g.inst.arn = arn(region, "db", &prod);
        g.bgd = None;
        g.inst.read_replica_source = g.inst.read_replica_source.as_deref().map(map);
        g.inst.read_replicas = g.inst.read_replicas.iter().map(|r| map(r)).collect();
        store::put_inst(c, &g)?;
        if idx == 0 {
            b.bg.source = bl.inst.arn.clone();
            b.bg.target = Some(g.inst.arn.clone());
        }
        b.bg.switchover_details.push(SwitchoverMember {
            source_member: bl.inst.arn.clone(),
            target_member: Some(g.inst.arn.clone()),
            status: "SWITCHOVER_COMPLETED".into(),
        });
    }
    // Instances outside the deployment (e.g. a cross-region replica) follow the renames too.
    let member_dbis: Vec<&String> = b.members.iter().flat_map(|m| [&m.blue, &m.green]).collect();
    for mut other in store::all_inst(c, region)? {
        let src = other.inst.read_replica_source.as_deref().map(map);
        if src != other.inst.read_replica_source
            && !member_dbis.contains(&&other.inst.dbi_resource_id)
        {
            other.inst.read_replica_source = src;
            store::put_inst(c, &other)?;
        }
    }
    b.bg.status = BgStatus::SwitchoverCompleted;
    b.bg.status_details = None;
    store::put_bgd(c, region, &b)
}

// ---------------------------------------------------------------- operations

fn describe_instances(x: &Ctx, q: &InstanceQuery) -> BResult<(Vec<DbInstance>, usize)> {
    let rows = if q.identifiers.is_empty() {
        store::all_inst(x.c, x.region).sq()?
    } else {
        store::some_inst(x.c, x.region, &q.identifiers).sq()?
    };
    let out: Vec<DbInstance> = rows
        .into_iter()
        .filter(|r| q.identifiers.is_empty() || q.identifiers.contains(&r.inst.identifier))
        .filter(|r| q.engines.is_empty() || q.engines.contains(&r.inst.engine))
        .filter(|r| !x.lagging(&r.inst.identifier, r.created_at))
        .map(|r| r.inst)
        .collect();
    let n = pages(out.len());
    Ok((out, n))
}

fn create_snapshot(
    x: &Ctx,
    instance_id: &str,
    snapshot_id: &str,
    tags: &Tags,
) -> BResult<Snapshot> {
    if snapshot_id.is_empty() || snapshot_id.len() > 255 {
        return Err(bad_param(format!(
            "Invalid snapshot identifier: {snapshot_id}"
        )));
    }
    if store::get::<SnapRow>(x.c, Table::Snapshots, x.region, snapshot_id)
        .sq()?
        .is_some()
    {
        return Err(e(ErrorKind::AlreadyExists, "DBSnapshotAlreadyExists", format!("Cannot create the snapshot because a snapshot with the identifier {snapshot_id} already exists.")));
    }
    let mut row = x.inst(instance_id)?;
    if !matches!(row.inst.status.as_str(), "available" | "stopped") {
        return Err(inst_state(format!("Cannot create a snapshot because the database instance {instance_id} is not currently in the available state (it is {}).", row.inst.status)));
    }
    let storage = row.inst.allocated_storage_gib.max(1) as f64;
    let dur = (120.0 + 1.5 * storage) * x.between(&["snapshot", snapshot_id], 0.8, 1.3);
    let fail = x.faults.hits(
        x.seed,
        "snapshot-fail",
        &[instance_id, snapshot_id],
        snapshot_id,
    );
    let s = SnapRow {
        snap: Snapshot {
            identifier: snapshot_id.to_string(),
            arn: arn(x.region, "snapshot", snapshot_id),
            instance_identifier: instance_id.to_string(),
            status: "creating".into(),
            engine_version: row.inst.engine_version.clone(),
            allocated_storage_gib: row.inst.allocated_storage_gib,
            percent_progress: 0,
            tags: tags.clone(),
        },
        created_at: x.now,
        done_at: x.now + secs(dur),
    };
    store::put_snap(x.c, x.region, &s).sq()?;
    x.schedule(
        s.done_at,
        "snapshot-done",
        snapshot_id,
        json!({"fail": fail, "dbi": row.inst.dbi_resource_id}),
    )?;
    if row.inst.status == "available" {
        row.inst.status = "backing-up".into();
    }
    x.maybe_actor(&mut row)?;
    store::put_inst(x.c, &row).sq()?;
    Ok(snapshot_view(&s, x.now))
}

fn describe_parameters(x: &Ctx, group: &str, user_only: bool) -> BResult<(Vec<Parameter>, usize)> {
    let g = x.pg(group)?;
    let out: Vec<Parameter> = family_params(&g.group.family)
        .into_iter()
        .filter_map(|(name, default, apply)| {
            let user = g.params.get(name);
            if user_only && user.is_none() {
                return None;
            }
            Some(Parameter {
                name: name.to_string(),
                value: Some(user.cloned().unwrap_or_else(|| default.to_string())),
                source: if user.is_some() {
                    "user"
                } else {
                    "engine-default"
                }
                .into(),
                apply_type: apply.to_string(),
                is_modifiable: true,
            })
        })
        .collect();
    let n = pages(out.len());
    Ok((out, n))
}

fn new_group(
    x: &Ctx,
    name: &str,
    family: &str,
    description: &str,
    params: BTreeMap<String, String>,
    tags: &Tags,
) -> BResult<ParameterGroup> {
    if name.is_empty()
        || name.len() > 255
        || ParameterGroup::is_default(name)
        || !name.starts_with(|c: char| c.is_ascii_alphabetic())
    {
        return Err(bad_param(format!("Invalid parameter group name: {name}")));
    }
    if store::get::<PgRow>(x.c, Table::Pgroups, x.region, name)
        .sq()?
        .is_some()
    {
        return Err(e(
            ErrorKind::AlreadyExists,
            "DBParameterGroupAlreadyExists",
            format!("Parameter group {name} already exists"),
        ));
    }
    let row = PgRow {
        group: ParameterGroup {
            name: name.to_string(),
            family: family.to_string(),
            description: description.to_string(),
            arn: arn(x.region, "pg", name),
        },
        params,
        tags: tags.clone(),
        created_at: x.now,
    };
    store::put_pg(x.c, x.region, &row).sq()?;
    Ok(row.group)
}

fn modify_parameter_group(x: &Ctx, group: &str, changes: &[ParameterChange]) -> BResult<()> {
    let mut g = x.pg(group)?;
    if ParameterGroup::is_default(group) {
        return Err(bad_param(format!(
            "The parameter group {group} is a default parameter group and cannot be modified."
        )));
    }
    if changes.is_empty() || changes.len() > 20 {
        return Err(bad_param(format!(
            "Between 1 and 20 parameters can be modified per call, got {}",
            changes.len()
        )));
    }
    let known = family_params(&g.group.family);
    let mut any_static = false;
    for ch in changes {
        let Some(p) = known.iter().find(|p| p.0 == ch.name) else {
            return Err(bad_param(format!(
                "Could not find parameter with name: {} (family {})",
                ch.name, g.group.family
            )));
        };
        match (ch.apply_method.as_str(), p.2) {
            ("immediate", "static") => {
                return Err(bad_combo(format!(
                    "cannot use immediate apply method for static parameter {}",
                    ch.name
                )))
            }
            ("immediate", _) => {}
            ("pending-reboot", t) => any_static |= t == "static",
            (m, _) => return Err(bad_param(format!("Invalid apply method: {m}"))),
        }
        g.params.insert(ch.name.clone(), ch.value.clone());
    }
    store::put_pg(x.c, x.region, &g).sq()?;
    if any_static {
        // Static changes wait for a reboot: every instance using the group is now out of sync.
        for mut r in store::all_inst(x.c, x.region).sq()? {
            let mut touched = false;
            for s in &mut r.inst.parameter_groups {
                if s.name == group {
                    s.apply_status = "pending-reboot".into();
                    touched = true;
                }
            }
            if touched {
                store::put_inst(x.c, &r).sq()?;
            }
        }
    }
    Ok(())
}

fn valid_bgd_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 60
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && !name.ends_with('-')
        && !name.contains("--")
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn create_blue_green(x: &Ctx, req: &CreateBlueGreen) -> BResult<BlueGreen> {
    if !valid_bgd_name(&req.name) {
        return Err(bad_param(format!(
            "Invalid BlueGreenDeploymentName: {}",
            req.name
        )));
    }
    if store::bgd_by_name(x.c, x.region, &req.name).sq()?.is_some() {
        return Err(e(
            ErrorKind::AlreadyExists,
            "BlueGreenDeploymentAlreadyExistsFault",
            format!("A blue/green deployment named {} already exists.", req.name),
        ));
    }
    let (kind, src_id) = x.parse_arn(&req.source_arn)?;
    if kind != "db" {
        return Err(bad_param(format!(
            "Source must be a DB instance ARN: {}",
            req.source_arn
        )));
    }
    let src = x.inst(src_id)?;
    let s = src.inst.clone();
    if s.read_replica_source.is_some() {
        return Err(not_supported(format!(
            "{src_id} is a read replica; a blue/green deployment needs the primary as source."
        )));
    }
    if s.read_replicas.iter().any(|r| r.starts_with("arn:")) {
        return Err(not_supported(format!(
            "{src_id} has a cross-Region read replica, which blue/green deployments don't support."
        )));
    }
    let mut replicas = vec![];
    for r in &s.read_replicas {
        let rr = x.inst(r)?;
        if !rr.inst.read_replicas.is_empty() {
            return Err(not_supported(format!("{src_id} has a cascading read replica ({r} has replicas), which blue/green deployments don't support.")));
        }
        replicas.push(rr);
    }
    if s.managed_master_password {
        return Err(not_supported(format!("{src_id} manages its master password with Secrets Manager, which blue/green deployments don't support.")));
    }
    if let Some(b) = &src.bgd {
        return Err(inst_state(format!(
            "{src_id} is already part of blue/green deployment {b}."
        )));
    }
    for r in std::iter::once(&src).chain(replicas.iter()) {
        if r.inst.status != "available" {
            return Err(inst_state(format!(
                "DB instance {} is not in the available state (it is {}).",
                r.inst.identifier, r.inst.status
            )));
        }
    }
    let src_pg_name = s
        .parameter_group()
        .map(|p| p.name.clone())
        .unwrap_or_default();
    if s.parameter_group()
        .is_some_and(|p| p.apply_status != "in-sync")
    {
        return Err(inst_state(format!(
            "The parameter group {src_pg_name} of {src_id} is not in-sync (pending reboot)."
        )));
    }
    if (s.engine == "mysql" || s.engine == "mariadb") && s.backup_retention_period == 0 {
        return Err(bad_combo(format!("Automated backups must be enabled on {src_id} (BackupRetentionPeriod > 0) to create a blue/green deployment.")));
    }
    let target = req.target_engine_version.clone();
    let major = if target == s.engine_version {
        false
    } else {
        match x
            .catalog
            .valid_target(&s.engine, &s.engine_version, &target)
        {
            Some(t) => t.is_major_version_upgrade,
            None => {
                return Err(bad_combo(format!(
                    "Cannot upgrade {} from {} to {}: not a valid upgrade target.",
                    s.engine, s.engine_version, target
                )))
            }
        }
    };
    if s.engine == "postgres" && major {
        let pg = x.pg(&src_pg_name)?;
        if x.param_value(&pg, "rds.logical_replication").as_deref() != Some("1") {
            return Err(bad_combo(format!("A PostgreSQL major version upgrade with blue/green needs rds.logical_replication=1 in the source parameter group {src_pg_name}.")));
        }
    }
    let family = x
        .catalog
        .family(&s.engine, &target)
        .map(str::to_string)
        .ok_or_else(|| bad_combo(format!("Unknown engine version {} {target}", s.engine)))?;
    let target_pg = match &req.target_parameter_group {
        Some(name) => {
            let pg = x.pg(name)?;
            if pg.group.family != family {
                return Err(bad_combo(format!(
                    "The parameter group {name} has family {}, but {target} needs {family}.",
                    pg.group.family
                )));
            }
            name.clone()
        }
        None if major || src_pg_name.is_empty() => format!("default.{family}"),
        None => src_pg_name.clone(),
    };
    let used = store::count_inst(x.c, x.region).sq()?;
    let max = x.quota_max()?;
    let need = 1 + replicas.len() as i64;
    if used + need > max {
        return Err(e(ErrorKind::QuotaExceeded, "InstanceQuotaExceeded", format!("The blue/green deployment needs {need} more DB instances; {used} of the quota of {max} are in use.")));
    }
    if let Some(c) = &req.target_instance_class {
        if !c.starts_with("db.") {
            return Err(bad_param(format!("Invalid DB instance class: {c}")));
        }
    }

    let bgd_id = format!(
        "bgd-{}",
        rng::token(
            x.seed,
            &["bgd", x.region, &req.name, &x.now.to_string()],
            16
        )
    );
    let storage = s.allocated_storage_gib.max(1) as f64;
    let total = (18.0 * 60.0 + 4.0 * storage + 360.0 * replicas.len() as f64)
        * x.between(&["provision", &bgd_id], 0.8, 1.3);
    let doomed = x
        .faults
        .hits(x.seed, "invalid-config", &[src_id], &req.name);
    let engine_major = major_version(&s.engine, &target);
    let mut members = vec![];
    let mut details = vec![];
    let mut green_names: HashMap<String, String> = HashMap::new();
    let blues: Vec<InstRow> = std::iter::once(src.clone()).chain(replicas).collect();
    for (i, blue) in blues.iter().enumerate() {
        let bid = blue.inst.identifier.clone();
        let mut salt = 0;
        let gid = loop {
            let cand = format!(
                "{bid}-green-{}",
                rng::token(x.seed, &["green", &bgd_id, &bid, &salt.to_string()], 6)
            );
            if store::get_inst(x.c, x.region, &cand).sq()?.is_none() {
                break cand;
            }
            salt += 1;
        };
        green_names.insert(bid.clone(), gid.clone());
        let mut g = blue.inst.clone();
        g.identifier = gid.clone();
        g.arn = arn(x.region, "db", &gid);
        g.dbi_resource_id = format!(
            "db-{}",
            rng::token(x.seed, &["dbi", &bgd_id, &gid], 26).to_ascii_uppercase()
        );
        g.engine_version = target.clone();
        g.status = "creating".into();
        g.parameter_groups = vec![ParameterGroupStatus {
            name: target_pg.clone(),
            apply_status: "in-sync".into(),
            family: None,
            user_parameters: None,
        }];
        if major {
            g.option_groups = vec![format!(
                "default:{}-{}",
                s.engine,
                engine_major.replace('.', "-")
            )];
        }
        if let Some(c) = &req.target_instance_class {
            g.instance_class = c.clone();
        }
        let storage_change = req
            .target_storage_type
            .as_ref()
            .is_some_and(|t| t != &g.storage_type);
        if let Some(t) = &req.target_storage_type {
            g.storage_type = t.clone();
        }
        g.read_replica_source = g
            .read_replica_source
            .as_ref()
            .and_then(|r| green_names.get(r).cloned());
        g.read_replicas = vec![];
        g.pending_modifications = vec![];
        if i > 0 {
            // Link the green replica to the green source.
            let src_green = green_names[&s.identifier].clone();
            let mut gs = store::get_inst(x.c, x.region, &src_green)
                .sq()?
                .expect("green source just created");
            gs.inst.read_replicas.push(gid.clone());
            store::put_inst(x.c, &gs).sq()?;
        }
        let row = InstRow {
            inst: g,
            created_at: x.now,
            bgd: Some(bgd_id.clone()),
            read_only: false,
            actor_scheduled: true,
            problem: None,
        };
        store::put_inst(x.c, &row).sq()?;
        // Phases: creating -> upgrading (version change) -> storage-optimization (storage
        // type change) -> available.
        let d = if i == 0 {
            total
        } else {
            total * x.between(&["provision-replica", &gid], 0.85, 1.0)
        };
        let dbi = row.inst.dbi_resource_id.clone();
        let phases = ["creating", "upgrading", "storage-optimization"];
        if target != s.engine_version {
            x.schedule(
                x.now + secs(d * 0.45),
                "inst-status",
                &dbi,
                json!({"status": "upgrading", "from": phases}),
            )?;
        }
        if storage_change {
            x.schedule(
                x.now + secs(d * 0.85),
                "inst-status",
                &dbi,
                json!({"status": "storage-optimization", "from": phases}),
            )?;
        }
        x.schedule(
            x.now + secs(d),
            "inst-status",
            &dbi,
            json!({"status": "available", "from": phases}),
        )?;
        members.push(Member {
            blue: blue.inst.dbi_resource_id.clone(),
            green: dbi,
        });
        details.push(SwitchoverMember {
            source_member: blue.inst.arn.clone(),
            target_member: Some(row.inst.arn.clone()),
            status: "PROVISIONING".into(),
        });
    }
    for (i, mut b) in blues.into_iter().enumerate() {
        b.bgd = Some(bgd_id.clone());
        if i == 0 {
            x.maybe_actor(&mut b)?;
        }
        store::put_inst(x.c, &b).sq()?;
    }
    if doomed {
        x.schedule(x.now + secs(total * 0.6), "bgd-invalid", &bgd_id, json!({}))?;
    }
    let bg = BlueGreen {
        identifier: bgd_id.clone(),
        name: req.name.clone(),
        source: s.arn.clone(),
        target: details.first().and_then(|d| d.target_member.clone()),
        status: BgStatus::Provisioning,
        status_details: None,
        switchover_details: details,
        tags: req.tags.clone(),
    };
    store::put_bgd(
        x.c,
        x.region,
        &BgdRow {
            bg: bg.clone(),
            members,
            created_at: x.now,
            target_version: target,
            doomed,
        },
    )
    .sq()?;
    Ok(bg)
}

fn switchover(x: &Ctx, identifier: &str, timeout_secs: u32) -> BResult<BlueGreen> {
    let mut b = x.bgd(identifier)?;
    if !(30..=3600).contains(&timeout_secs) {
        return Err(bad_param(format!(
            "SwitchoverTimeout must be between 30 and 3600 seconds, got {timeout_secs}"
        )));
    }
    if b.bg.status != BgStatus::Available {
        return Err(bgd_state(format!(
            "The blue/green deployment {identifier} can't be switched over in status {}.",
            b.bg.status
        )));
    }
    for m in &b.members {
        for dbi in [&m.blue, &m.green] {
            match store::get_inst_by_dbi(x.c, dbi).sq()? {
                Some(r) if r.inst.status == "available" => {}
                Some(r) => {
                    return Err(inst_state(format!(
                        "DB instance {} is {}, not available: the switchover can't start.",
                        r.inst.identifier, r.inst.status
                    )))
                }
                None => {
                    return Err(bgd_state(format!(
                        "A database of {identifier} no longer exists."
                    )))
                }
            }
        }
    }
    let src_id = store::get_inst_by_dbi(x.c, &b.members[0].blue)
        .sq()?
        .map(|r| r.inst.identifier)
        .unwrap_or_default();
    let attempt = x.now.to_string();
    let dur = x.between(&["switchover", identifier, &attempt], 35.0, 150.0);
    let downtime = x
        .between(&["downtime", identifier, &attempt], 20.0, 90.0)
        .min(dur - 5.0);
    let fault = x
        .faults
        .hits(x.seed, "switchover-fail", &[&src_id], identifier);
    let timed_out = dur > timeout_secs as f64;
    let (ok, end, downtime) = if timed_out {
        (
            false,
            x.now + secs(timeout_secs as f64),
            downtime.min(timeout_secs as f64),
        )
    } else if fault {
        (false, x.now + secs(dur), downtime)
    } else {
        (true, x.now + secs(dur), downtime)
    };
    b.bg.status = BgStatus::SwitchoverInProgress;
    for d in &mut b.bg.switchover_details {
        d.status = "SWITCHOVER_IN_PROGRESS".into();
    }
    store::put_bgd(x.c, x.region, &b).sq()?;
    x.schedule(
        end,
        "switchover-end",
        identifier,
        json!({"ok": ok, "downtime": downtime, "start": x.now}),
    )?;
    Ok(b.bg)
}

fn delete_blue_green(x: &Ctx, identifier: &str, delete_target: bool) -> BResult<()> {
    let mut b = x.bgd(identifier)?;
    match b.bg.status {
        BgStatus::SwitchoverInProgress | BgStatus::Deleting => {
            return Err(bgd_state(format!(
                "The blue/green deployment {identifier} can't be deleted in status {}.",
                b.bg.status
            )))
        }
        BgStatus::SwitchoverCompleted if delete_target => {
            return Err(bgd_state(format!(
            "The blue/green deployment {identifier} has switched over: DeleteTarget can't be true."
        )))
        }
        _ => {}
    }
    let completed = b.bg.status == BgStatus::SwitchoverCompleted;
    for m in &b.members {
        if let Some(mut bl) = store::get_inst_by_dbi(x.c, &m.blue).sq()? {
            bl.bgd = None;
            store::put_inst(x.c, &bl).sq()?;
        }
        if let Some(mut g) = store::get_inst_by_dbi(x.c, &m.green).sq()? {
            g.bgd = None;
            if delete_target && !completed {
                g.inst.status = "deleting".into();
                let d = x.between(&["delete", &g.inst.dbi_resource_id], 240.0, 600.0);
                x.schedule(
                    x.now + secs(d),
                    "inst-gone",
                    &g.inst.dbi_resource_id,
                    json!({}),
                )?;
            }
            store::put_inst(x.c, &g).sq()?;
        }
    }
    b.bg.status = BgStatus::Deleting;
    store::put_bgd(x.c, x.region, &b).sq()?;
    let d = x.between(&["bgd-delete", identifier], 60.0, 180.0);
    x.schedule(x.now + secs(d), "bgd-gone", identifier, json!({}))
}

fn delete_instance(x: &Ctx, id: &str, final_snapshot_id: &str) -> BResult<()> {
    let mut row = x.inst(id)?;
    if matches!(row.inst.status.as_str(), "deleting" | "creating") {
        return Err(inst_state(format!(
            "DB instance {id} is {} and can't be deleted now.",
            row.inst.status
        )));
    }
    if row.inst.deletion_protection {
        return Err(bad_combo("Cannot delete protected DB Instance, please disable deletion protection and try again."));
    }
    if let Some(b) = &row.bgd {
        return Err(inst_state(format!(
            "DB instance {id} is part of blue/green deployment {b}; delete the deployment first."
        )));
    }
    if final_snapshot_id.is_empty() {
        return Err(bad_combo(
            "FinalDBSnapshotIdentifier is required when SkipFinalSnapshot is false.",
        ));
    }
    if store::get::<SnapRow>(x.c, Table::Snapshots, x.region, final_snapshot_id)
        .sq()?
        .is_some()
    {
        return Err(e(ErrorKind::AlreadyExists, "DBSnapshotAlreadyExists", format!("Cannot create the snapshot because a snapshot with the identifier {final_snapshot_id} already exists.")));
    }
    let storage = row.inst.allocated_storage_gib.max(1) as f64;
    let snap_dur = (120.0 + 1.5 * storage) * x.between(&["snapshot", final_snapshot_id], 0.8, 1.3);
    let s = SnapRow {
        snap: Snapshot {
            identifier: final_snapshot_id.to_string(),
            arn: arn(x.region, "snapshot", final_snapshot_id),
            instance_identifier: id.to_string(),
            status: "creating".into(),
            engine_version: row.inst.engine_version.clone(),
            allocated_storage_gib: row.inst.allocated_storage_gib,
            percent_progress: 0,
            tags: row.inst.tags.clone(),
        },
        created_at: x.now,
        done_at: x.now + secs(snap_dur),
    };
    store::put_snap(x.c, x.region, &s).sq()?;
    x.schedule(
        s.done_at,
        "snapshot-done",
        final_snapshot_id,
        json!({"fail": false}),
    )?;
    row.inst.status = "deleting".into();
    store::put_inst(x.c, &row).sq()?;
    let gone = s
        .done_at
        .max(x.now + secs(x.between(&["delete", &row.inst.dbi_resource_id], 240.0, 600.0)));
    x.schedule(gone, "inst-gone", &row.inst.dbi_resource_id, json!({}))
}

/// Resolve an ARN to its resource's tags (and a setter).
fn add_tags(x: &Ctx, a: &str, tags: &Tags) -> BResult<()> {
    let (kind, id) = x.parse_arn(a)?;
    match kind {
        "db" => {
            let mut r = x.inst(id)?;
            r.inst.tags.extend(tags.clone());
            store::put_inst(x.c, &r).sq()
        }
        "snapshot" => {
            let mut s = store::get::<SnapRow>(x.c, Table::Snapshots, x.region, id)
                .sq()?
                .ok_or_else(|| {
                    e(
                        ErrorKind::NotFound,
                        "DBSnapshotNotFound",
                        format!("DBSnapshot {id} not found."),
                    )
                })?;
            s.snap.tags.extend(tags.clone());
            store::put_snap(x.c, x.region, &s).sq()
        }
        "pg" => {
            let mut g = x.pg(id)?;
            g.tags.extend(tags.clone());
            store::put_pg(x.c, x.region, &g).sq()
        }
        "deployment" => {
            let mut b = x.bgd(id)?;
            b.bg.tags.extend(tags.clone());
            store::put_bgd(x.c, x.region, &b).sq()
        }
        _ => Err(bad_param(format!("Unsupported resource type in {a}"))),
    }
}

#[async_trait]
impl RdsBackend for SimBackend {
    fn kind(&self) -> &'static str {
        "sim"
    }

    async fn describe_instances(
        &self,
        region: &str,
        q: &InstanceQuery,
    ) -> BResult<Vec<DbInstance>> {
        let res = if q.identifiers.len() == 1 {
            q.identifiers[0].clone()
        } else {
            "*".into()
        };
        let p = json!({"identifiers": q.identifiers, "engines": q.engines});
        self.call(region, Op::DescribeDBInstances, &res, p, |x| {
            describe_instances(x, q)
        })
        .await
    }

    async fn describe_blue_green(
        &self,
        region: &str,
        q: &BlueGreenQuery,
    ) -> BResult<Vec<BlueGreen>> {
        let p = json!({"names": q.names, "identifiers": q.identifiers});
        self.call(region, Op::DescribeBlueGreenDeployments, "*", p, |x| {
            let rows: Vec<BgdRow> = if !q.identifiers.is_empty() {
                store::some(x.c, Table::Bgds, x.region, &q.identifiers).sq()?
            } else if !q.names.is_empty() {
                let mut v = vec![];
                for n in q.names.iter().collect::<std::collections::BTreeSet<_>>() {
                    v.extend(store::bgd_by_name(x.c, x.region, n).sq()?);
                }
                v.sort_by(|a, b| a.bg.identifier.cmp(&b.bg.identifier));
                v
            } else {
                store::all(x.c, Table::Bgds, x.region).sq()?
            };
            let out: Vec<BlueGreen> = rows
                .into_iter()
                .filter(|b| q.names.is_empty() || q.names.contains(&b.bg.name))
                .filter(|b| q.identifiers.is_empty() || q.identifiers.contains(&b.bg.identifier))
                .filter(|b| !x.lagging(&b.bg.name, b.created_at))
                .map(|b| b.bg)
                .collect();
            let n = pages(out.len());
            Ok((out, n))
        })
        .await
    }

    async fn describe_snapshots(&self, region: &str, q: &SnapshotQuery) -> BResult<Vec<Snapshot>> {
        let p = json!({"snapshot_ids": q.snapshot_ids, "instance_ids": q.instance_ids});
        self.call(region, Op::DescribeDBSnapshots, "*", p, |x| {
            let rows: Vec<SnapRow> = if q.snapshot_ids.is_empty() {
                store::all(x.c, Table::Snapshots, x.region).sq()?
            } else {
                store::some(x.c, Table::Snapshots, x.region, &q.snapshot_ids).sq()?
            };
            let out: Vec<Snapshot> = rows
                .iter()
                .filter(|s| {
                    q.snapshot_ids.is_empty() || q.snapshot_ids.contains(&s.snap.identifier)
                })
                .filter(|s| {
                    q.instance_ids.is_empty()
                        || q.instance_ids.contains(&s.snap.instance_identifier)
                })
                .filter(|s| !x.lagging(&s.snap.identifier, s.created_at))
                .map(|s| snapshot_view(s, x.now))
                .collect();
            let n = pages(out.len());
            Ok((out, n))
        })
        .await
    }

    async fn create_snapshot(
        &self,
        region: &str,
        instance_id: &str,
        snapshot_id: &str,
        tags: &Tags,
    ) -> BResult<Snapshot> {
        let p = json!({"DBInstanceIdentifier": instance_id, "DBSnapshotIdentifier": snapshot_id, "Tags": tags});
        self.call(region, Op::CreateDBSnapshot, snapshot_id, p, |x| {
            create_snapshot(x, instance_id, snapshot_id, tags).map(|s| (s, 1))
        })
        .await
    }

    async fn describe_parameter_groups(
        &self,
        region: &str,
        names: &[String],
    ) -> BResult<Vec<ParameterGroup>> {
        let p = json!({"names": names});
        self.call(region, Op::DescribeDBParameterGroups, "*", p, |x| {
            if names.is_empty() {
                let all: Vec<PgRow> = store::all(x.c, Table::Pgroups, x.region).sq()?;
                let n = pages(all.len());
                return Ok((all.into_iter().map(|g| g.group).collect(), n));
            }
            // One DescribeDBParameterGroups per name, as the API takes one name.
            let mut out = vec![];
            for name in names {
                out.push(x.pg(name)?.group);
            }
            Ok((out, names.len()))
        })
        .await
    }

    async fn describe_parameters(
        &self,
        region: &str,
        group: &str,
        user_only: bool,
    ) -> BResult<Vec<Parameter>> {
        let p =
            json!({"DBParameterGroupName": group, "Source": if user_only { "user" } else { "" }});
        self.call(region, Op::DescribeDBParameters, group, p, |x| {
            describe_parameters(x, group, user_only)
        })
        .await
    }

    async fn create_parameter_group(
        &self,
        region: &str,
        group: &NewParameterGroup,
    ) -> BResult<ParameterGroup> {
        let p = json!({"DBParameterGroupName": group.name, "DBParameterGroupFamily": group.family, "Description": group.description, "Tags": group.tags});
        self.call(region, Op::CreateDBParameterGroup, &group.name, p, |x| {
            if !x
                .catalog
                .versions
                .iter()
                .any(|v| v.parameter_group_family == group.family)
            {
                return Err(bad_param(format!(
                    "Invalid DBParameterGroupFamily: {}",
                    group.family
                )));
            }
            new_group(
                x,
                &group.name,
                &group.family,
                &group.description,
                BTreeMap::new(),
                &group.tags,
            )
            .map(|g| (g, 1))
        })
        .await
    }

    async fn modify_parameter_group(
        &self,
        region: &str,
        group: &str,
        changes: &[ParameterChange],
    ) -> BResult<()> {
        let p = json!({"DBParameterGroupName": group, "Parameters": changes});
        self.call(region, Op::ModifyDBParameterGroup, group, p, |x| {
            modify_parameter_group(x, group, changes).map(|v| (v, 1))
        })
        .await
    }

    async fn delete_parameter_group(&self, region: &str, group: &str) -> BResult<()> {
        let p = json!({"DBParameterGroupName": group});
        self.call(region, Op::DeleteDBParameterGroup, group, p, |x| {
            x.pg(group)?;
            if ParameterGroup::is_default(group) {
                return Err(bad_param(format!(
                    "Default parameter group {group} cannot be deleted."
                )));
            }
            let in_use = store::all_inst(x.c, x.region)
                .sq()?
                .into_iter()
                .any(|r| r.inst.parameter_groups.iter().any(|g| g.name == group));
            if in_use {
                return Err(e(
                    ErrorKind::InvalidState,
                    "InvalidDBParameterGroupState",
                    format!("Parameter group {group} is in use by a DB instance."),
                ));
            }
            store::delete(x.c, Table::Pgroups, x.region, group).sq()?;
            Ok(((), 1))
        })
        .await
    }

    async fn create_blue_green(&self, region: &str, req: &CreateBlueGreen) -> BResult<BlueGreen> {
        let p = json!({
            "BlueGreenDeploymentName": req.name, "Source": req.source_arn,
            "TargetEngineVersion": req.target_engine_version,
            "TargetDBParameterGroupName": req.target_parameter_group,
            "TargetDBInstanceClass": req.target_instance_class,
            "TargetStorageType": req.target_storage_type, "Tags": req.tags,
        });
        self.call(region, Op::CreateBlueGreenDeployment, &req.name, p, |x| {
            create_blue_green(x, req).map(|b| (b, 1))
        })
        .await
    }

    async fn switchover_blue_green(
        &self,
        region: &str,
        identifier: &str,
        timeout_secs: u32,
    ) -> BResult<BlueGreen> {
        let p =
            json!({"BlueGreenDeploymentIdentifier": identifier, "SwitchoverTimeout": timeout_secs});
        self.call(
            region,
            Op::SwitchoverBlueGreenDeployment,
            identifier,
            p,
            |x| switchover(x, identifier, timeout_secs).map(|b| (b, 1)),
        )
        .await
    }

    async fn delete_blue_green(
        &self,
        region: &str,
        identifier: &str,
        delete_target: bool,
    ) -> BResult<()> {
        let p = json!({"BlueGreenDeploymentIdentifier": identifier, "DeleteTarget": delete_target});
        self.call(region, Op::DeleteBlueGreenDeployment, identifier, p, |x| {
            delete_blue_green(x, identifier, delete_target).map(|v| (v, 1))
        })
        .await
    }

    async fn delete_instance(
        &self,
        region: &str,
        identifier: &str,
        final_snapshot_id: &str,
    ) -> BResult<()> {
        let p = json!({"DBInstanceIdentifier": identifier, "SkipFinalSnapshot": false, "FinalDBSnapshotIdentifier": final_snapshot_id});
        self.call(region, Op::DeleteDBInstance, identifier, p, |x| {
            delete_instance(x, identifier, final_snapshot_id).map(|v| (v, 1))
        })
        .await
    }

    async fn set_deletion_protection(
        &self,
        region: &str,
        identifier: &str,
        enabled: bool,
    ) -> BResult<()> {
        let p = json!({"DBInstanceIdentifier": identifier, "DeletionProtection": enabled, "ApplyImmediately": true});
        self.call(region, Op::ModifyDBInstance, identifier, p, |x| {
            let mut r = x.inst(identifier)?;
            if r.inst.status == "deleting" {
                return Err(inst_state(format!(
                    "DB instance {identifier} is being deleted."
                )));
            }
            r.inst.deletion_protection = enabled;
            store::put_inst(x.c, &r).sq()?;
            Ok(((), 1))
        })
        .await
    }

    async fn add_tags(&self, region: &str, arn: &str, tags: &Tags) -> BResult<()> {
        let p = json!({"ResourceName": arn, "Tags": tags});
        self.call(region, Op::AddTagsToResource, arn, p, |x| {
            add_tags(x, arn, tags).map(|v| (v, 1))
        })
        .await
    }

    async fn describe_engine_versions(
        &self,
        region: &str,
        engine: &str,
        version: Option<&str>,
    ) -> BResult<Vec<EngineVersion>> {
        let p = json!({"Engine": engine, "EngineVersion": version});
        self.call(region, Op::DescribeDBEngineVersions, engine, p, |x| {
            let v = x.catalog.list(engine, version);
            let n = pages(v.len());
            Ok((v, n))
        })
        .await
    }

    async fn describe_instance_quota(&self, region: &str) -> BResult<Quota> {
        self.call(
            region,
            Op::DescribeAccountAttributes,
            "DBInstances",
            json!({}),
            |x| {
                let used = store::count_inst(x.c, x.region).sq()?;
                Ok((
                    Quota {
                        used,
                        max: x.quota_max()?,
                    },
                    1,
                ))
            },
        )
        .await
    }
}
