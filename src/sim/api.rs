//! [`SimBackend`]: the simulated RDS API. Every call runs in one SQLite transaction that
//! (1) applies the events due by now, (2) takes a throttle token, (3) injects per-call faults,
//! (4) acts, inside a savepoint so a refused call changes nothing, and (5) records its trail
//! entry. See the module doc of [`crate::sim`] for the behaviour this implements.

use super::faults::FaultSpec;
use super::fleet::arn;
use super::params::{family_param, family_params};
use super::rng;
use super::store::{self, ActorAction, BgdRow, EventKind, InstRow, Member, PgRow, SnapRow, Table};
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

    /// What an operator does by hand outside rdsfleet before a switchover: delete the zero-ETL
    /// integrations sourced from an instance (rdsfleet itself never deletes them). Returns
    /// their names; records nothing in the trail (it is not rdsfleet's call).
    pub fn operator_deletes_integrations(
        &self,
        region: &str,
        identifier: &str,
    ) -> Result<Vec<String>, SimError> {
        let conn = self.lock();
        let Some(mut row) = store::get_inst(&conn, region, identifier)? else {
            return Ok(vec![]);
        };
        let gone = std::mem::take(&mut row.integrations);
        store::put_inst(&conn, &row)?;
        Ok(gone)
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
        params: &Value,
        f: impl FnOnce(&Ctx) -> BResult<(T, usize)>,
    ) -> (BResult<T>, u64, usize) {
        let faults = self
            .faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut conn = self.lock();
        // The trail row of this call; a failed call's request id names it (`sim-<seq>`), as an
        // AWS request id names the call in CloudTrail.
        let call_seq = std::cell::Cell::new(None);
        let r = self.run_in(
            &mut conn, &faults, &call_seq, region, op, resource, params, f,
        );
        let rid = call_seq.get().map(|seq| format!("sim-{seq:08}"));
        match r {
            Ok((Err(e), latency, pages)) => (Err(e.with_request_id(rid)), latency, pages),
            Ok(x) => x,
            Err(e) => (Err(e.with_request_id(rid)), 0, 1),
        }
    }

    /// The body of [`Self::run`], inside one transaction.
    #[allow(clippy::too_many_arguments)]
    fn run_in<T>(
        &self,
        conn: &mut Connection,
        faults: &FaultSpec,
        call_seq: &std::cell::Cell<Option<i64>>,
        region: &str,
        op: Op,
        resource: &str,
        params: &Value,
        f: impl FnOnce(&Ctx) -> BResult<(T, usize)>,
    ) -> BResult<(BResult<T>, u64, usize)> {
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
        call_seq.set(Some(seq));
        let salt = seq.to_string();
        let keys = [resource, op.name()];
        let latency = if faults.applies("latency", &keys) {
            let max = faults.value("latency").unwrap_or(0.0);
            rng::between(self.seed, &["latency", &salt], 0.0, max) as u64
        } else {
            0
        };
        let rec = CallRecord {
            now,
            region,
            op,
            resource,
        };
        if let Some(e) = self.refusal(&tx, faults, region, now, &keys, &salt)? {
            rec.record(&tx, params, &e.code)?;
            tx.commit().sq()?;
            return Ok((Err(e), latency, 1));
        }
        let mut sp = tx.savepoint().sq()?;
        let ctx = Ctx {
            c: &sp,
            now,
            seed: self.seed,
            faults,
            region,
            catalog: &self.catalog,
        };
        let (value, pages) = match f(&ctx) {
            Err(e) => {
                sp.rollback().sq()?;
                drop(sp);
                rec.record(&tx, params, &e.code)?;
                tx.commit().sq()?;
                return Ok((Err(e), latency, 1));
            }
            Ok(v) => {
                sp.commit().sq()?;
                v
            }
        };
        if op.mutating() && faults.hits(self.seed, "5xx-after", &keys, &salt) {
            let mut p = params.clone();
            p["sim_effect_applied"] = json!(true);
            rec.record(&tx, &p, "InternalFailure")?;
            tx.commit().sq()?;
            let e = BackendError::new(
                ErrorKind::Transient,
                "InternalFailure",
                "An internal error has occurred (simulated; the request took effect)",
            );
            return Ok((Err(e), latency, 1));
        }
        rec.record(&tx, params, "ok")?;
        tx.commit().sq()?;
        Ok((Ok(value), latency, pages))
    }

    /// Request `page` (2 and on) of a describe whose answer was computed by its first request:
    /// a call of its own at the time it is sent, which needs a token of RDS's bucket too.
    fn further_page(
        &self,
        region: &str,
        op: Op,
        resource: &str,
        params: &Value,
        page: usize,
    ) -> BResult<()> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .sq()?;
        self.sync_virtual_time(&tx).sq()?;
        let rec = CallRecord {
            now: self.clock.now(),
            region,
            op,
            resource,
        };
        let mut p = params.clone();
        p["page"] = json!(page);
        let ok = take_token(&tx, region, rec.now, self.burst, self.rate).sq()?;
        rec.record(&tx, &p, if ok { "ok" } else { "Throttling" })?;
        tx.commit().sq()?;
        if ok {
            Ok(())
        } else {
            Err(throttled())
        }
    }

    /// Why a call is refused before it acts: an unknown region, no throttle token, or an
    /// injected 5xx.
    fn refusal(
        &self,
        c: &Connection,
        faults: &FaultSpec,
        region: &str,
        now: Millis,
        keys: &[&str],
        salt: &str,
    ) -> BResult<Option<BackendError>> {
        if !SIM_REGIONS.contains(&region) {
            return Ok(Some(BackendError::new(
                ErrorKind::InvalidRequest,
                "InvalidParameterValue",
                format!(
                    "unknown region {region}: the simulator has {}",
                    SIM_REGIONS.join(", ")
                ),
            )));
        }
        if !take_token(c, region, now, self.burst, self.rate).sq()? {
            return Ok(Some(throttled()));
        }
        if faults.hits(self.seed, "5xx", keys, salt) {
            return Ok(Some(if rng::unit(self.seed, &["5xx-kind", salt]) < 0.5 {
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
            }));
        }
        Ok(None)
    }

    async fn call<T: Send>(
        &self,
        region: &str,
        op: Op,
        resource: &str,
        params: Value,
        f: impl FnOnce(&Ctx) -> BResult<(T, usize)> + Send,
    ) -> BResult<T> {
        let (res, latency, pages) = self.run(region, op, resource, &params, f);
        if latency > 0 {
            self.clock.sleep(Duration::from_millis(latency)).await;
        }
        let value = res?;
        // A describe's further pages are requests of their own, sent one after the other,
        // each admitted by the caller's budget (`backend::gate`) and by RDS's.
        let mut requests = gate::Requests::new(region);
        requests.next().await;
        for page in 2..=pages {
            requests.next().await;
            self.further_page(region, op, resource, &params, page)?;
        }
        Ok(value)
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

fn throttled() -> BackendError {
    BackendError::new(ErrorKind::Throttled, "Throttling", "Rate exceeded")
}

/// What the trail records of one call, whatever its outcome.
struct CallRecord<'a> {
    now: Millis,
    region: &'a str,
    op: Op,
    resource: &'a str,
}

impl CallRecord<'_> {
    fn record(&self, c: &Connection, params: &Value, outcome: &str) -> BResult<()> {
        c.prepare_cached(
            "INSERT INTO trail (at, region, action, resource, params, mutating, outcome)
             VALUES (?1,?2,?3,?4,?5,?6,?7)",
        )
        .and_then(|mut st| {
            st.execute(params![
                self.now,
                self.region,
                self.op.name(),
                self.resource,
                params.to_string(),
                self.op.mutating() as i64,
                outcome
            ])
        })
        .sq()?;
        Ok(())
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

/// Requests a describe returning `results` takes when filtered by these value lists: one per
/// page, and at least one per combination of filter-value chunks (the adapter sends at most
/// [`crate::backend::FILTER_VALUES_PER_REQUEST`] values of a filter per request, crossing
/// filters). Each chunk paginates on its own on AWS; the larger of the two counts is close.
fn requests(results: usize, filters: &[usize]) -> usize {
    let per = crate::backend::FILTER_VALUES_PER_REQUEST;
    let chunks: usize = filters
        .iter()
        .filter(|&&n| n > 0)
        .map(|n| n.div_ceil(per))
        .product();
    pages(results).max(chunks)
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
    fn schedule(&self, at: Millis, target: &str, what: EventKind) -> BResult<()> {
        store::schedule(self.c, at, self.region, target, &what).sq()
    }
    /// The value of a parameter in a group (user value, else the family default).
    fn param_value(&self, group: &PgRow, name: &str) -> Option<String> {
        group
            .params
            .get(name)
            .cloned()
            .or_else(|| family_param(&group.group.family, name).map(|p| p.default.to_string()))
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
            ActorAction::Delete
        } else if self.unit(&["actor-kind", &id]) < 0.5 {
            ActorAction::Modify
        } else {
            ActorAction::Reboot
        };
        self.schedule(at, &row.inst.dbi_resource_id, EventKind::Actor { kind })
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
    match &ev.what {
        EventKind::InstStatus {
            status,
            from,
            clear_pending,
            reboot,
        } => ev_inst_status(c, ev, status, from, *clear_pending, *reboot),
        EventKind::SnapshotDone { fail, dbi } => {
            snapshot_done(c, region, &ev.target, *fail, dbi.as_deref(), at)
        }
        EventKind::BgdInvalid { detail, precheck } => {
            ev_bgd_invalid(c, ev, detail.as_deref(), *precheck, seed)
        }
        EventKind::SwitchoverEnd {
            ok,
            downtime,
            start,
        } => switchover_end(c, region, &ev.target, *ok, *downtime, *start, at),
        EventKind::InstGone {} => ev_inst_gone(c, ev),
        EventKind::BgdGone {} => store::delete(c, Table::Bgds, region, &ev.target),
        EventKind::Actor { kind } => ev_actor(c, ev, *kind, seed),
    }
}

/// A scheduled instance status change (`from`: only from these statuses).
fn ev_inst_status(
    c: &Connection,
    ev: &store::Event,
    status: &str,
    from: &[String],
    clear_pending: bool,
    reboot: bool,
) -> rusqlite::Result<()> {
    let Some(mut row) = store::get_inst_by_dbi(c, &ev.target)? else {
        return Ok(());
    };
    if !from.is_empty() && !from.contains(&row.inst.status) {
        return Ok(());
    }
    row.inst.status = status.to_string();
    if clear_pending {
        row.inst.pending_modifications.clear();
    }
    if reboot {
        for g in &mut row.inst.parameter_groups {
            g.apply_status = "in-sync".into();
        }
    }
    store::put_inst(c, &row)?;
    if status == "available" {
        if let Some(b) = &row.bgd {
            bgd_check(c, &ev.region, b, ev.due_at)?;
        }
    }
    Ok(())
}

/// A deployment that was doomed at creation goes INVALID_CONFIGURATION. `payload.detail`
/// carries RDS's status details; a failed engine upgrade (`payload.precheck`) leaves green on
/// blue's version with the precheck log on the green primary.
fn ev_bgd_invalid(
    c: &Connection,
    ev: &store::Event,
    detail: Option<&str>,
    precheck: bool,
    seed: u64,
) -> rusqlite::Result<()> {
    let region = ev.region.as_str();
    let Some(mut b) = store::get::<BgdRow>(c, Table::Bgds, region, &ev.target)? else {
        return Ok(());
    };
    if b.bg.status != BgStatus::Provisioning {
        return Ok(());
    }
    b.bg.status = BgStatus::InvalidConfiguration;
    b.bg.status_details = Some(detail.map(str::to_string).unwrap_or_else(|| {
        "Replication from the blue environment to the green environment failed (simulated fault)"
            .to_string()
    }));
    if precheck {
        let blue = b
            .members
            .first()
            .map(|m| store::get_inst_by_dbi(c, &m.blue))
            .transpose()?
            .flatten();
        let green = b
            .members
            .first()
            .map(|m| store::get_inst_by_dbi(c, &m.green))
            .transpose()?
            .flatten();
        if let (Some(blue), Some(mut green)) = (blue, green) {
            let log = super::logs::precheck_log(
                seed,
                &b.bg.identifier,
                &green.inst.engine,
                &blue.inst.engine_version,
                &b.target_version,
                ev.due_at,
            );
            b.bg.status_details = Some(format!(
                "The engine version upgrade of the green environment failed its prechecks; see {} on {}",
                log.name, green.inst.identifier
            ));
            // The upgrade was cancelled before it changed anything: green stays on blue's
            // version, available, with the log.
            green.inst.engine_version = blue.inst.engine_version.clone();
            green.inst.status = "available".into();
            green.logs.push(log);
            store::put_inst(c, &green)?;
        }
    }
    store::put_bgd(c, region, &b)
}

/// An instance finished deleting: it disappears, its source forgets it, its replicas are
/// promoted (they lose their source), and a deployment it was in loses a member.
fn ev_inst_gone(c: &Connection, ev: &store::Event) -> rusqlite::Result<()> {
    let region = ev.region.as_str();
    let Some(row) = store::get_inst_by_dbi(c, &ev.target)? else {
        return Ok(());
    };
    store::delete_inst(c, &ev.target)?;
    // Its replicas name it; its source lists it (an ARN source, rare here, is looked for
    // among all the region's instances).
    let mut related = store::replicas_of(c, region, &[row.inst.identifier.as_str()])?;
    match row.inst.read_replica_source.as_deref() {
        Some(src) if src.starts_with("arn:") => related = store::all_inst(c, region)?,
        Some(src) => related.extend(store::get_inst(c, region, src)?),
        None => {}
    }
    for mut other in related {
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
    Ok(())
}

/// Someone else acts on a database (the `actor-*` faults).
fn ev_actor(
    c: &Connection,
    ev: &store::Event,
    action: ActorAction,
    seed: u64,
) -> rusqlite::Result<()> {
    let (at, region) = (ev.due_at, ev.region.as_str());
    let Some(mut row) = store::get_inst_by_dbi(c, &ev.target)? else {
        return Ok(());
    };
    if row.inst.status == "deleting" {
        return Ok(());
    }
    let id = row.inst.identifier.clone();
    match action {
        ActorAction::Delete => {
            row.inst.status = "deleting".into();
            row.inst.deletion_protection = false;
            store::put_inst(c, &row)?;
            store::schedule(c, at + 300_000, region, &ev.target, &EventKind::InstGone {})?;
            if let Some(b) = &row.bgd {
                bgd_member_missing(c, region, b, &ev.target)?;
            }
        }
        ActorAction::Modify => {
            row.inst.status = "modifying".into();
            row.inst.pending_modifications = vec!["DBInstanceClass".into()];
            store::put_inst(c, &row)?;
            let d = rng::between(seed, &["actor-modify-dur", &id], 600.0, 1800.0);
            let back = EventKind::InstStatus {
                status: "available".into(),
                from: vec!["modifying".into()],
                clear_pending: true,
                reboot: false,
            };
            store::schedule(c, at + secs(d), region, &ev.target, &back)?;
        }
        ActorAction::Reboot => {
            row.inst.status = "rebooting".into();
            store::put_inst(c, &row)?;
            let d = rng::between(seed, &["actor-reboot-dur", &id], 120.0, 300.0);
            let back = EventKind::InstStatus {
                status: "available".into(),
                from: vec!["rebooting".into()],
                clear_pending: false,
                reboot: true,
            };
            store::schedule(c, at + secs(d), region, &ev.target, &back)?;
        }
    }
    Ok(())
}

/// A snapshot finished (`available`, or `failed` under the fault); its source stops backing up.
fn snapshot_done(
    c: &Connection,
    region: &str,
    snapshot_id: &str,
    failed: bool,
    dbi: Option<&str>,
    at: Millis,
) -> rusqlite::Result<()> {
    let Some(mut s) = store::get::<SnapRow>(c, Table::Snapshots, region, snapshot_id)? else {
        return Ok(());
    };
    if s.snap.status == "creating" {
        s.snap.status = if failed { "failed" } else { "available" }.into();
        s.snap.percent_progress = if failed { 0 } else { 100 };
        store::put_snap(c, region, &s)?;
        let kind = format!("snapshot-{}", s.snap.status);
        store::milestone(
            c,
            at,
            region,
            &kind,
            snapshot_id,
            &s.snap.instance_identifier,
        )?;
    }
    if let Some(dbi) = dbi {
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

/// Blue and green rows of each member of a deployment (either may be gone).
type Pairs = Vec<(Option<InstRow>, Option<InstRow>)>;

/// The end of a switchover: rolled back (SWITCHOVER_FAILED, blue still serving), or done:
/// blue renamed `<id>-oldN` and read-only, green takes the production name.
fn switchover_end(
    c: &Connection,
    region: &str,
    bgd_id: &str,
    ok: bool,
    downtime: f64,
    start: Millis,
    at: Millis,
) -> rusqlite::Result<()> {
    let Some(mut b) = store::get::<BgdRow>(c, Table::Bgds, region, bgd_id)? else {
        return Ok(());
    };
    if b.bg.status != BgStatus::SwitchoverInProgress {
        return Ok(());
    }
    let mut pairs: Pairs = vec![];
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
    let rename = switchover_renames(c, region, &pairs)?;
    let map = |s: &str| rename.get(s).cloned().unwrap_or_else(|| s.to_string());
    b.bg.switchover_details.clear();
    for (idx, (bl, g)) in pairs.into_iter().enumerate() {
        let (bl, g) = (bl.expect("checked"), g.expect("checked"));
        let (old, new) = switch_pair(c, region, bl, g, &map)?;
        if idx == 0 {
            b.bg.source = old.clone();
            b.bg.target = Some(new.clone());
        }
        b.bg.switchover_details.push(SwitchoverMember {
            source_member: old,
            target_member: Some(new),
            status: "SWITCHOVER_COMPLETED".into(),
        });
    }
    // Instances outside the deployment (e.g. a cross-region replica) follow the renames too.
    let member_dbis: Vec<&String> = b.members.iter().flat_map(|m| [&m.blue, &m.green]).collect();
    let renamed: Vec<&str> = rename.keys().map(String::as_str).collect();
    for mut other in store::replicas_of(c, region, &renamed)? {
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

/// The renames of a switchover: each blue id -> `<id>-oldN` (the first N free), each green
/// id -> its blue's production id.
fn switchover_renames(
    c: &Connection,
    region: &str,
    pairs: &Pairs,
) -> rusqlite::Result<HashMap<String, String>> {
    let mut rename: HashMap<String, String> = HashMap::new();
    let mut taken: Vec<String> = vec![];
    for (bl, g) in pairs {
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
    Ok(rename)
}

/// Apply the renames to one member: blue becomes the read-only old instance, green the
/// production one, their replica links renamed alike. Returns (old ARN, new ARN).
fn switch_pair(
    c: &Connection,
    region: &str,
    mut bl: InstRow,
    mut g: InstRow,
    map: &dyn Fn(&str) -> String,
) -> rusqlite::Result<(String, String)> {
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
    Ok((bl.inst.arn, g.inst.arn))
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
    let n = requests(out.len(), &[q.identifiers.len(), q.engines.len()]);
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
        snapshot_id,
        EventKind::SnapshotDone {
            fail,
            dbi: Some(row.inst.dbi_resource_id.clone()),
        },
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
        .filter_map(|fp| {
            let (name, default, apply) = (fp.name, fp.default, fp.apply);
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
    let mut any_static = false;
    for ch in changes {
        let Some(p) = family_param(&g.group.family, &ch.name) else {
            return Err(bad_param(format!(
                "Could not find parameter with name: {} (family {})",
                ch.name, g.group.family
            )));
        };
        // As RDS: a value the family does not accept (sql_mode's NO_AUTO_CREATE_USER in
        // mysql8.0) is refused, and nothing of the call is applied.
        p.check(&ch.value).map_err(bad_param)?;
        match (ch.apply_method.as_str(), p.apply) {
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

/// Sources blue/green deployments of DB instances do not support, beyond replicas and managed
/// passwords: members of a Multi-AZ DB cluster and RDS Proxy targets (RDS User Guide,
/// blue/green limitations).
fn topology_refusal(src: &InstRow) -> BResult<()> {
    let id = &src.inst.identifier;
    if let Some(c) = &src.inst.db_cluster_identifier {
        return Err(not_supported(format!("{id} is a member of DB cluster {c}: blue/green deployments of DB instances don't support Multi-AZ DB clusters.")));
    }
    if let Some(p) = src.proxies.first() {
        return Err(not_supported(format!(
            "{id} is a target of RDS Proxy {p}, which blue/green deployments don't support."
        )));
    }
    Ok(())
}

/// The PostgreSQL parameters logical replication runs out of, for a source with `databases`
/// databases: `max_replication_slots`, `max_wal_senders` and `max_logical_replication_workers`
/// must each exceed the number of databases (one slot, sender and apply worker per database),
/// and `max_worker_processes` must exceed `max_logical_replication_workers` (PostgreSQL's
/// logical replication configuration rule). AWS fails the deployment naming them: "Creation of
/// blue/green deployment failed due to incompatible parameter(s): [...]".
fn logical_capacity_shortfall(x: &Ctx, src: &InstRow) -> BResult<Vec<&'static str>> {
    let Some(name) = src.inst.parameter_group().map(|g| g.name.clone()) else {
        return Ok(vec![]);
    };
    let pg = x.pg(&name)?;
    let num = |p: &str| {
        x.param_value(&pg, p)
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(i64::MAX)
    };
    let dbs = if src.databases == 0 {
        2
    } else {
        src.databases as i64
    };
    let mut short = vec![];
    for p in [
        "max_replication_slots",
        "max_wal_senders",
        "max_logical_replication_workers",
    ] {
        if num(p) <= dbs {
            short.push(p);
        }
    }
    if num("max_worker_processes") <= num("max_logical_replication_workers") {
        short.push("max_worker_processes");
    }
    Ok(short)
}

/// Whether (and how) a new deployment will end INVALID_CONFIGURATION: the `bgd-invalid`
/// event's payload. PostgreSQL logical replication short of slots or workers fails as AWS
/// documents; the `invalid-config` fault fails a major upgrade at its engine prechecks (with
/// the precheck log on green) and anything else at replication.
fn doom(x: &Ctx, src: &InstRow, name: &str, major: bool) -> BResult<Option<EventKind>> {
    if src.inst.engine == "postgres" && major {
        let short = logical_capacity_shortfall(x, src)?;
        if !short.is_empty() {
            return Ok(Some(EventKind::BgdInvalid { precheck: false, detail: Some(format!(
                "Creation of blue/green deployment failed due to incompatible parameter(s): [{}] .See https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/blue-green-deployments-creating.html#blue-green-deployments-creating-preparing-postgres to help resolve the issues, then delete and recreate the blue/green deployment.",
                short.join(", ")
            )) }));
        }
    }
    let id = src.inst.identifier.as_str();
    if !x.faults.hits(x.seed, "invalid-config", &[id], name) {
        return Ok(None);
    }
    Ok(Some(EventKind::BgdInvalid {
        detail: None,
        precheck: major,
    }))
}

/// The faults that leave green other than planned, for the guard before switchover to catch:
/// `green-wrong-version` (green stays on blue's version) and `green-pending-reboot` (green's
/// parameter group waits for a reboot).
fn green_faults(x: &Ctx, src_id: &str, name: &str, blue: &DbInstance, g: &mut DbInstance) {
    if x.faults
        .hits(x.seed, "green-wrong-version", &[src_id], name)
    {
        g.engine_version = blue.engine_version.clone();
    }
    if x.faults
        .hits(x.seed, "green-pending-reboot", &[src_id], name)
    {
        for p in &mut g.parameter_groups {
            p.apply_status = "pending-reboot".into();
        }
    }
}

/// What green will be, once the request is checked against the source.
struct GreenPlan {
    version: String,
    major: bool,
    parameter_group: String,
    instance_class: Option<String>,
    storage: GreenStorageReq,
}

/// Green's storage after the request's `Target*` storage settings.
#[derive(Debug, Clone, PartialEq)]
struct GreenStorageReq {
    kind: String,
    gib: i32,
    iops: Option<i32>,
    throughput: Option<i32>,
    /// The type changes: green goes through `storage-optimization`.
    type_changes: bool,
}

fn create_blue_green(x: &Ctx, req: &CreateBlueGreen) -> BResult<BlueGreen> {
    let (src, replicas) = bgd_source(x, req)?;
    let green = bgd_target(x, &src.inst, req)?;
    let used = store::count_inst(x.c, x.region).sq()?;
    let max = x.quota_max()?;
    let need = 1 + replicas.len() as i64;
    if used + need > max {
        return Err(e(ErrorKind::QuotaExceeded, "InstanceQuotaExceeded", format!("The blue/green deployment needs {need} more DB instances; {used} of the quota of {max} are in use.")));
    }
    let bgd_id = format!(
        "bgd-{}",
        rng::token(
            x.seed,
            &["bgd", x.region, &req.name, &x.now.to_string()],
            16
        )
    );
    let storage = src.inst.allocated_storage_gib.max(1) as f64;
    let total = (18.0 * 60.0 + 4.0 * storage + 360.0 * replicas.len() as f64)
        * x.between(&["provision", &bgd_id], 0.8, 1.3);
    let doom = doom(x, &src, &req.name, green.major)?;
    let doomed = doom.is_some();
    let blues: Vec<InstRow> = std::iter::once(src.clone()).chain(replicas).collect();
    let (members, details) = create_greens(x, &bgd_id, &req.name, &blues, &green, total)?;
    for (i, mut b) in blues.into_iter().enumerate() {
        b.bgd = Some(bgd_id.clone());
        if i == 0 {
            x.maybe_actor(&mut b)?;
        }
        store::put_inst(x.c, &b).sq()?;
    }
    if let Some(payload) = doom {
        x.schedule(x.now + secs(total * 0.6), &bgd_id, payload)?;
    }
    let bg = BlueGreen {
        identifier: bgd_id.clone(),
        name: req.name.clone(),
        source: src.inst.arn.clone(),
        target: details.first().and_then(|d| d.target_member.clone()),
        status: BgStatus::Provisioning,
        status_details: None,
        switchover_details: details,
        tags: req.tags.clone(),
    };
    let row = BgdRow {
        bg: bg.clone(),
        members,
        created_at: x.now,
        target_version: green.version,
        doomed,
    };
    store::put_bgd(x.c, x.region, &row).sq()?;
    Ok(bg)
}

/// The source of a new deployment and its same-region replicas, checked as RDS checks them
/// (see the module doc's table of refusals).
fn bgd_source(x: &Ctx, req: &CreateBlueGreen) -> BResult<(InstRow, Vec<InstRow>)> {
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
    topology_refusal(&src)?;
    let s = &src.inst;
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
    if let Some(p) = s.parameter_group().filter(|p| p.apply_status != "in-sync") {
        return Err(inst_state(format!(
            "The parameter group {} of {src_id} is not in-sync (pending reboot).",
            p.name
        )));
    }
    if (s.engine == "mysql" || s.engine == "mariadb") && s.backup_retention_period == 0 {
        return Err(bad_combo(format!("Automated backups must be enabled on {src_id} (BackupRetentionPeriod > 0) to create a blue/green deployment.")));
    }
    Ok((src, replicas))
}

/// Green's version, parameter group, class and storage, checked against the source.
fn bgd_target(x: &Ctx, s: &DbInstance, req: &CreateBlueGreen) -> BResult<GreenPlan> {
    let target = req.target_engine_version.clone();
    let major = if target.eq_ignore_ascii_case(&s.engine_version) {
        false
    } else {
        // RDS creates no instance on a version it no longer offers.
        if x.catalog.is_deprecated(&s.engine, &target) {
            return Err(bad_combo(format!(
                "Cannot find version {target} for {}: it is no longer offered for new instances.",
                s.engine
            )));
        }
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
    let src_pg_name = s
        .parameter_group()
        .map(|p| p.name.clone())
        .unwrap_or_default();
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
    let parameter_group = match &req.target_parameter_group {
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
    // "The Event Scheduler (event_scheduler parameter) must be disabled on the green
    // environment when you create a blue/green deployment" (RDS User Guide, Limitations for
    // blue/green deployments). AWS documents the requirement, not how it fails; refusing the
    // creation is the strict reading, so a plan that forgets it fails here. MySQL 8.0's
    // default is ON: a group that leaves it unset does not do.
    if let Ok(pg) = x.pg(&parameter_group) {
        if x.param_value(&pg, "event_scheduler")
            .is_some_and(|v| !v.eq_ignore_ascii_case("OFF"))
        {
            return Err(bad_combo(format!("The event scheduler must be disabled on the green environment when you create a blue/green deployment: set event_scheduler=OFF in the parameter group {parameter_group}.")));
        }
    }
    if let Some(c) = &req.target_instance_class {
        if !c.starts_with("db.") {
            return Err(bad_param(format!("Invalid DB instance class: {c}")));
        }
    }
    let storage = green_storage(s, req)?;
    Ok(GreenPlan {
        version: target,
        major,
        parameter_group,
        instance_class: req.target_instance_class.clone(),
        storage,
    })
}

/// Green's storage, refused as RDS refuses it for MySQL, MariaDB and PostgreSQL (RDS User
/// Guide, "Amazon RDS DB instance storage"; CreateDBInstance's AllocatedStorage and Iops
/// constraints). Kept apart from the planner's `data/storage-rules.json` on purpose: this is
/// the model the planner's decisions are tested against.
fn green_storage(s: &DbInstance, req: &CreateBlueGreen) -> BResult<GreenStorageReq> {
    let kind = req
        .target_storage_type
        .clone()
        .unwrap_or_else(|| s.storage_type.clone());
    let type_changes = kind != s.storage_type;
    let gib = req
        .target_allocated_storage
        .unwrap_or(s.allocated_storage_gib);
    // Green keeps the source's provisioned IOPS/throughput unless told otherwise, as long as
    // its storage type can have them.
    let iops = req.target_iops.or(s.iops.filter(|_| !type_changes));
    let throughput = req
        .target_storage_throughput
        .or(s.storage_throughput.filter(|_| !type_changes));
    let engine = &s.engine;
    let combo = |m: String| Err(bad_combo(m));
    if !matches!(kind.as_str(), "gp2" | "gp3" | "io1" | "io2") {
        if req.target_storage_type.is_some() {
            return Err(bad_param(format!(
                "Invalid storage type: {kind}. Valid values: gp2, gp3, io1, io2."
            )));
        }
        return Ok(GreenStorageReq {
            kind,
            gib,
            iops,
            throughput,
            type_changes,
        });
    }
    let (min_gib, ratio) = match kind.as_str() {
        "io1" => (100, 50.0),
        "io2" => (100, 1000.0),
        _ => (20, 0.0),
    };
    if !(min_gib..=65536).contains(&gib) {
        return combo(format!(
            "Invalid storage size for engine name {engine} and storage type {kind}: {gib}"
        ));
    }
    if req.target_storage_throughput.is_some() && kind != "gp3" {
        return combo(format!(
            "Storage throughput can be specified only for the gp3 storage type, not {kind}."
        ));
    }
    match kind.as_str() {
        "io1" | "io2" => {
            let Some(i) = iops else {
                return combo(format!(
                    "The storage type {kind} requires iops to be specified."
                ));
            };
            let r = i as f64 / gib as f64;
            if !(1000..=256000).contains(&i) || !(0.5..=ratio).contains(&r) {
                return combo(format!("Invalid iops to storage (GB) ratio for engine name {engine} and storage type {kind}: {r:.4}"));
            }
        }
        "gp3" if gib < 400 => {
            if req.target_iops.is_some() || req.target_storage_throughput.is_some() {
                return combo(format!("You can't specify IOPS or storage throughput for engine {engine} and a storage size less than 400."));
            }
        }
        "gp3" => {
            if iops.is_some_and(|i| !(12000..=64000).contains(&i)) {
                return combo(format!("Invalid IOPS for engine {engine} and storage type gp3 with {gib} GiB: it must be between 12000 and 64000."));
            }
            if throughput.is_some_and(|t| !(500..=4000).contains(&t)) {
                return combo(format!("Invalid storage throughput for engine {engine} and storage type gp3 with {gib} GiB: it must be between 500 and 4000."));
            }
            if let Some(t) = throughput {
                if t as f64 > 0.25 * iops.unwrap_or(12000) as f64 {
                    return combo(format!("Invalid storage throughput to IOPS ratio for engine {engine}: at most 0.25 MiBps per IOPS."));
                }
            }
        }
        _ => {
            if req.target_iops.is_some() {
                return combo(format!(
                    "Provisioned IOPS can't be specified for the {kind} storage type."
                ));
            }
        }
    }
    // A baseline (gp2, small gp3) keeps no provisioned values; throughput is gp3's only.
    let gp3_provisioned = kind == "gp3" && gib >= 400;
    let provisioned = matches!(kind.as_str(), "io1" | "io2") || gp3_provisioned;
    Ok(GreenStorageReq {
        iops: iops.filter(|_| provisioned),
        throughput: throughput.filter(|_| gp3_provisioned),
        kind,
        gib,
        type_changes,
    })
}

/// Create the green instances (source first, then its replicas), each with its phases
/// scheduled: `creating` -> `upgrading` (version change) -> `storage-optimization` (storage
/// type change) -> `available`.
fn create_greens(
    x: &Ctx,
    bgd_id: &str,
    name: &str,
    blues: &[InstRow],
    green: &GreenPlan,
    total: f64,
) -> BResult<(Vec<Member>, Vec<SwitchoverMember>)> {
    let src = &blues[0].inst;
    let mut members = vec![];
    let mut details = vec![];
    let mut green_names: HashMap<String, String> = HashMap::new();
    for (i, blue) in blues.iter().enumerate() {
        let bid = blue.inst.identifier.clone();
        let mut salt = 0;
        let gid = loop {
            let cand = format!(
                "{bid}-green-{}",
                rng::token(x.seed, &["green", bgd_id, &bid, &salt.to_string()], 6)
            );
            if store::get_inst(x.c, x.region, &cand).sq()?.is_none() {
                break cand;
            }
            salt += 1;
        };
        green_names.insert(bid.clone(), gid.clone());
        let mut g = green_instance(x, bgd_id, &blue.inst, &gid, green, &green_names);
        if i == 0 {
            green_faults(x, &src.identifier, name, src, &mut g);
        }
        if i > 0 {
            // Link the green replica to the green source.
            let src_green = green_names[&src.identifier].clone();
            let mut gs = store::get_inst(x.c, x.region, &src_green)
                .sq()?
                .expect("green source just created");
            gs.inst.read_replicas.push(gid.clone());
            store::put_inst(x.c, &gs).sq()?;
        }
        let mut row = InstRow::new(g, x.now);
        row.bgd = Some(bgd_id.to_string());
        row.actor_scheduled = true;
        row.databases = blue.databases;
        row.logs = vec![super::fleet::base_log(&row.inst, x.now)];
        store::put_inst(x.c, &row).sq()?;
        let d = if i == 0 {
            total
        } else {
            total * x.between(&["provision-replica", &gid], 0.85, 1.0)
        };
        let dbi = row.inst.dbi_resource_id.clone();
        let phases = ["creating", "upgrading", "storage-optimization"];
        let at = |f: f64, status: &str| {
            let what = EventKind::InstStatus {
                status: status.to_string(),
                from: phases.map(str::to_string).to_vec(),
                clear_pending: false,
                reboot: false,
            };
            x.schedule(x.now + secs(d * f), &dbi, what)
        };
        if green.version != src.engine_version {
            at(0.45, "upgrading")?;
        }
        if green.storage.type_changes {
            at(0.85, "storage-optimization")?;
        }
        at(1.0, "available")?;
        members.push(Member {
            blue: blue.inst.dbi_resource_id.clone(),
            green: dbi.clone(),
        });
        details.push(SwitchoverMember {
            source_member: blue.inst.arn.clone(),
            target_member: Some(row.inst.arn.clone()),
            status: "PROVISIONING".into(),
        });
    }
    Ok((members, details))
}

/// One green instance: a copy of `blue` with green's version, group, class and storage.
fn green_instance(
    x: &Ctx,
    bgd_id: &str,
    blue: &DbInstance,
    gid: &str,
    green: &GreenPlan,
    green_names: &HashMap<String, String>,
) -> DbInstance {
    let mut g = blue.clone();
    g.identifier = gid.to_string();
    g.arn = arn(x.region, "db", gid);
    g.dbi_resource_id = format!(
        "db-{}",
        rng::token(x.seed, &["dbi", bgd_id, gid], 26).to_ascii_uppercase()
    );
    g.engine_version = green.version.clone();
    g.status = "creating".into();
    g.parameter_groups = vec![ParameterGroupStatus {
        name: green.parameter_group.clone(),
        apply_status: "in-sync".into(),
        family: None,
        user_parameters: None,
    }];
    if green.major {
        let major = major_version(&blue.engine, &green.version);
        g.option_groups = vec![format!(
            "default:{}-{}",
            blue.engine,
            major.replace('.', "-")
        )];
    }
    if let Some(c) = &green.instance_class {
        g.instance_class = c.clone();
    }
    g.storage_type = green.storage.kind.clone();
    g.allocated_storage_gib = green.storage.gib;
    g.iops = green.storage.iops;
    g.storage_throughput = green.storage.throughput;
    g.read_replica_source = g
        .read_replica_source
        .as_ref()
        .and_then(|r| green_names.get(r).cloned());
    g.read_replicas = vec![];
    g.pending_modifications = vec![];
    g
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
                // "During switchover, the blue and green environments can't have zero-ETL
                // integrations" (RDS User Guide, blue/green limitations).
                Some(r) if !r.integrations.is_empty() => {
                    return Err(bgd_state(format!(
                        "{} has the zero-ETL integration {}: delete it before the switchover and recreate it after.",
                        r.inst.identifier,
                        r.integrations.join(", ")
                    )))
                }
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
        identifier,
        EventKind::SwitchoverEnd {
            ok,
            downtime,
            start: x.now,
        },
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
    if delete_target && !completed {
        green_protection_refusal(x, &b)?;
    }
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
                    &g.inst.dbi_resource_id,
                    EventKind::InstGone {},
                )?;
            }
            store::put_inst(x.c, &g).sq()?;
        }
    }
    b.bg.status = BgStatus::Deleting;
    store::put_bgd(x.c, x.region, &b).sq()?;
    let d = x.between(&["bgd-delete", identifier], 60.0, 180.0);
    x.schedule(x.now + secs(d), identifier, EventKind::BgdGone {})
}

/// `DeleteTarget=true` needs deletion protection off on every green instance: "If you choose
/// to delete the DB instances in the green environment, they must have deletion protection
/// turned off" (RDS User Guide, deleting a blue/green deployment). Green copies blue's setting,
/// so a protected source gives a protected green. The refusal is the operation's documented
/// fault for "an invalid configuration in the green environment".
fn green_protection_refusal(x: &Ctx, b: &BgdRow) -> BResult<()> {
    for m in &b.members {
        if let Some(g) = store::get_inst_by_dbi(x.c, &m.green).sq()? {
            if g.inst.deletion_protection {
                return Err(bgd_state(format!(
                    "The green DB instance {} has deletion protection enabled: turn it off before deleting the blue/green deployment {} with DeleteTarget.",
                    g.inst.identifier, b.bg.identifier
                )));
            }
        }
    }
    Ok(())
}

/// `DeleteDBInstance` with `SkipFinalSnapshot=true`, which rdsfleet sends only for a read
/// replica (see `domain::ReadReplica`): refused for anything that is not one.
fn delete_read_replica(x: &Ctx, id: &str) -> BResult<()> {
    let mut row = x.inst(id)?;
    if row.inst.read_replica_source.is_none() {
        return Err(not_a_read_replica(id));
    }
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
    row.inst.status = "deleting".into();
    store::put_inst(x.c, &row).sq()?;
    let d = x.between(&["delete", &row.inst.dbi_resource_id], 240.0, 600.0);
    x.schedule(
        x.now + secs(d),
        &row.inst.dbi_resource_id,
        EventKind::InstGone {},
    )
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
    // A read replica takes no final snapshot (DeleteDBInstance API reference); AWS's answer.
    if row.inst.read_replica_source.is_some() {
        return Err(bad_combo(
            "FinalDBSnapshotIdentifier can not be specified when deleting a replica instance",
        ));
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
        final_snapshot_id,
        EventKind::SnapshotDone {
            fail: false,
            dbi: None,
        },
    )?;
    row.inst.status = "deleting".into();
    store::put_inst(x.c, &row).sq()?;
    let gone = s
        .done_at
        .max(x.now + secs(x.between(&["delete", &row.inst.dbi_resource_id], 240.0, 600.0)));
    x.schedule(gone, &row.inst.dbi_resource_id, EventKind::InstGone {})
}

/// `ListTagsForResource`: the tags a resource carries (those given at creation, plus any added
/// since). An ARN of this account and region naming nothing is refused with the resource's
/// not-found fault, as RDS does; a malformed one with `InvalidParameterValue`.
fn tags_of(x: &Ctx, a: &str) -> BResult<Tags> {
    let (kind, id) = x.parse_arn(a)?;
    Ok(match kind {
        "db" => x.inst(id)?.inst.tags,
        "snapshot" => {
            store::get::<SnapRow>(x.c, Table::Snapshots, x.region, id)
                .sq()?
                .ok_or_else(|| {
                    e(
                        ErrorKind::NotFound,
                        "DBSnapshotNotFound",
                        format!("DBSnapshot {id} not found."),
                    )
                })?
                .snap
                .tags
        }
        "pg" => x.pg(id)?.tags,
        "deployment" => x.bgd(id)?.bg.tags,
        _ => return Err(bad_param(format!("Unsupported resource type in {a}"))),
    })
}

/// `AddTagsToResource`: resolve an ARN to its resource and add the tags.
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
            let n = requests(out.len(), &[q.names.len(), q.identifiers.len()]);
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
            let n = requests(out.len(), &[q.snapshot_ids.len(), q.instance_ids.len()]);
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
            // One DescribeDBParameterGroups per name, as the API takes one name; a name that
            // does not exist is absent from the answer (the adapter maps RDS's
            // DBParameterGroupNotFound for a single name to "none", and filters a listing
            // for several).
            let mut out = vec![];
            for name in names {
                match x.pg(name) {
                    Ok(g) => out.push(g.group),
                    Err(e) if e.kind == ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
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

    async fn list_tags(&self, region: &str, arn: &str) -> BResult<Tags> {
        let p = json!({"ResourceName": arn});
        self.call(region, Op::ListTagsForResource, arn, p, |x| {
            tags_of(x, arn).map(|t| (t, 1))
        })
        .await
    }

    async fn describe_engine_versions(
        &self,
        region: &str,
        engine: &str,
        version: Option<&str>,
        include_all: bool,
    ) -> BResult<Vec<EngineVersion>> {
        let p = json!({"Engine": engine, "EngineVersion": version, "IncludeAll": include_all});
        self.call(region, Op::DescribeDBEngineVersions, engine, p, |x| {
            // As RDS: versions no longer offered for new instances only with IncludeAll.
            let v = x.catalog.list(engine, version, include_all);
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

    async fn delete_read_replica(&self, region: &str, replica: &ReadReplica) -> BResult<()> {
        let id = replica.identifier();
        let p = json!({"DBInstanceIdentifier": id, "SkipFinalSnapshot": true});
        self.call(region, Op::DeleteDBInstance, id, p, |x| {
            delete_read_replica(x, id).map(|v| (v, 1))
        })
        .await
    }

    async fn describe_proxies(&self, region: &str) -> BResult<Vec<DbProxy>> {
        self.call(region, Op::DescribeDBProxies, "*", json!({}), |x| {
            let mut names: Vec<String> = store::all_inst(x.c, x.region)
                .sq()?
                .into_iter()
                .flat_map(|r| r.proxies)
                .collect();
            names.sort();
            names.dedup();
            let out: Vec<DbProxy> = names
                .into_iter()
                .map(|n| DbProxy {
                    arn: arn(x.region, "db-proxy", &n),
                    name: n,
                    status: "available".into(),
                })
                .collect();
            let n = pages(out.len());
            Ok((out, n))
        })
        .await
    }

    async fn describe_proxy_targets(&self, region: &str, proxy: &str) -> BResult<Vec<ProxyTarget>> {
        let p = json!({"DBProxyName": proxy});
        self.call(region, Op::DescribeDBProxyTargets, proxy, p, |x| {
            let out: Vec<ProxyTarget> = store::all_inst(x.c, x.region)
                .sq()?
                .into_iter()
                .filter(|r| r.proxies.iter().any(|n| n == proxy))
                .map(|r| ProxyTarget {
                    proxy_name: proxy.to_string(),
                    resource_id: r.inst.identifier,
                    target_type: "RDS_INSTANCE".into(),
                })
                .collect();
            if out.is_empty() {
                return Err(e(
                    ErrorKind::NotFound,
                    "DBProxyNotFoundFault",
                    format!("DBProxy {proxy} not found."),
                ));
            }
            let n = pages(out.len());
            Ok((out, n))
        })
        .await
    }

    async fn describe_integrations(&self, region: &str) -> BResult<Vec<Integration>> {
        self.call(region, Op::DescribeIntegrations, "*", json!({}), |x| {
            let mut out = vec![];
            for r in store::all_inst(x.c, x.region).sq()? {
                for name in &r.integrations {
                    out.push(Integration {
                        name: name.clone(),
                        arn: arn(x.region, "integration", name),
                        source_arn: r.inst.arn.clone(),
                        target_arn: format!(
                            "arn:aws:redshift-serverless:{}:{SIM_ACCOUNT_ID}:namespace/{name}",
                            x.region
                        ),
                        status: "active".into(),
                    });
                }
            }
            let n = pages(out.len());
            Ok((out, n))
        })
        .await
    }

    async fn describe_log_files(&self, region: &str, instance_id: &str) -> BResult<Vec<LogFile>> {
        let p = json!({"DBInstanceIdentifier": instance_id});
        self.call(region, Op::DescribeDBLogFiles, instance_id, p, |x| {
            let out: Vec<LogFile> = x
                .inst(instance_id)?
                .logs
                .iter()
                .map(|l| LogFile {
                    name: l.name.clone(),
                    last_written: l.written_at,
                    size: l.text.len() as i64,
                })
                .collect();
            let n = pages(out.len());
            Ok((out, n))
        })
        .await
    }

    async fn download_log_file(
        &self,
        region: &str,
        instance_id: &str,
        file: &str,
    ) -> BResult<String> {
        let p = json!({"DBInstanceIdentifier": instance_id, "LogFileName": file, "Marker": "0"});
        self.call(region, Op::DownloadDBLogFilePortion, instance_id, p, |x| {
            let row = x.inst(instance_id)?;
            let log = row.logs.iter().find(|l| l.name == file).ok_or_else(|| {
                e(
                    ErrorKind::NotFound,
                    "DBLogFileNotFoundFault",
                    format!("DBLogFile {file} not found for {instance_id}."),
                )
            })?;
            let mut text = log.text.clone();
            limit_log(&mut text);
            // One portion per 1000 lines, as the adapter asks for them.
            let n = text.lines().count().div_ceil(1000).max(1);
            Ok((text, n))
        })
        .await
    }
}
