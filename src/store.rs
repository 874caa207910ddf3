//! The state file: a local SQLite database that makes `apply` resumable.
//!
//! It holds the plan itself (so `resume` needs nothing else), one row per database and per step
//! (status, attempt, remote id, last error), the shared resources rdsfleet created (parameter
//! groups), an append-only event log, and a single-writer lock.
//!
//! - **Only this module writes SQL** for the state file (the simulator's world file is separate).
//! - **Migrations** are an append-only list tracked with `PRAGMA user_version`, applied in one
//!   transaction; never edit or remove an entry, only append.
//! - **Durability:** WAL mode with `synchronous=NORMAL`; every transition is its own
//!   transaction, so `kill -9` leaves either the old or the new row, never half of one. NORMAL
//!   (not FULL) is durable against process death; an OS crash or power loss may drop the last
//!   few transitions, which is covered by the same rule that covers `kill -9` between a call and
//!   its recorded outcome: every side effect has a deterministic name and is adopted on resume.
//! - **Claims are compare-and-set:** step transitions say which status they expect
//!   (`UPDATE .. WHERE status = ?`) and fail loudly when another writer got there first.
//! - **Locking:** one `lock` row names the holder (`pid@host`). A second `apply` fails at once
//!   naming it. A holder whose process is gone (same host, pid not alive) is taken over.

use crate::clock::{rfc3339, wall_now, Millis};
use crate::plan::{Plan, StepKind};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state file {path}: {source}")]
    Sqlite {
        path: String,
        source: rusqlite::Error,
    },
    #[error("state file {0} does not exist")]
    Missing(String),
    #[error("state file {path} is locked by {holder} (since {since}); another rdsfleet is driving this plan. Wait for it, or stop it first")]
    Locked {
        path: String,
        holder: String,
        since: String,
    },
    #[error(
        "state file {path} belongs to plan {found}, not {expected}; use a different --state file"
    )]
    PlanMismatch {
        path: String,
        found: String,
        expected: String,
    },
    #[error("state file {path} was written by a newer rdsfleet (schema {found}, this one knows {known})")]
    TooNew {
        path: String,
        found: i64,
        known: i64,
    },
    #[error("state file {path} is corrupt: {detail}")]
    Corrupt { path: String, detail: String },
    #[error("illegal state transition for database {db}: {from} -> {to} (see state::{table})")]
    Illegal {
        db: i64,
        from: String,
        to: String,
        table: &'static str,
    },
    #[error("state transition refused for {identifier} step {step}: expected status {expected}, found {found}")]
    Conflict {
        identifier: String,
        step: String,
        expected: String,
        found: String,
    },
}

type SResult<T> = Result<T, StoreError>;

/// Wrap a SQLite error with the state file's path. Borrows only the path, so it can be used
/// while a transaction holds the connection.
fn sql_err(path: &str) -> impl Fn(rusqlite::Error) -> StoreError + Copy + '_ {
    move |source| StoreError::Sqlite {
        path: path.to_string(),
        source,
    }
}

/// The append-only list of migrations. Never edit or remove an entry: append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: initial schema
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
     CREATE TABLE databases (
        id INTEGER PRIMARY KEY,
        region TEXT NOT NULL,
        identifier TEXT NOT NULL,
        state TEXT NOT NULL,
        step TEXT,
        approved INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        updated_at INTEGER NOT NULL,
        UNIQUE (region, identifier)
     );
     CREATE TABLE steps (
        db_id INTEGER NOT NULL REFERENCES databases(id),
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        status TEXT NOT NULL,
        attempt INTEGER NOT NULL DEFAULT 0,
        remote_id TEXT,
        last_error TEXT,
        not_before INTEGER NOT NULL DEFAULT 0,
        started_at INTEGER,
        finished_at INTEGER,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (db_id, seq)
     );
     CREATE TABLE resources (
        region TEXT NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        status TEXT NOT NULL,
        detail TEXT,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (region, kind, name)
     );
     CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL,
        wall INTEGER NOT NULL,
        db_id INTEGER,
        step TEXT,
        kind TEXT NOT NULL,
        detail TEXT NOT NULL
     );
     CREATE TABLE lock (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        holder TEXT NOT NULL,
        pid INTEGER NOT NULL,
        host TEXT NOT NULL,
        acquired_at INTEGER NOT NULL,
        heartbeat_at INTEGER NOT NULL
     );",
    // 2: why a database waits (typed, JSON) and why it reached its state, apart from `error`,
    //    which now only says why a database failed or is blocked. `started` means "intent
    //    recorded before a call" in every step: steps that only observe say `waiting`.
    "ALTER TABLE databases ADD COLUMN wait TEXT;
     ALTER TABLE databases ADD COLUMN note TEXT;
     UPDATE databases SET note = error, error = NULL
       WHERE state NOT IN ('failed', 'blocked', 'aborted') AND error IS NOT NULL;
     UPDATE steps SET status = 'waiting'
       WHERE status = 'started' AND kind IN ('precheck', 'wait-ready', 'verify');",
];

pub use crate::state::{Brief, DbState, ResourceKind, ResourceStatus, StepStatus, WaitReason};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRow {
    pub seq: i64,
    pub kind: StepKind,
    pub status: StepStatus,
    pub attempt: i64,
    pub remote_id: Option<String>,
    pub last_error: Option<String>,
    pub not_before: Millis,
    pub started_at: Option<Millis>,
    pub finished_at: Option<Millis>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbRow {
    /// Index of the database in `plan.databases`.
    pub id: i64,
    pub region: String,
    pub identifier: String,
    pub state: DbState,
    pub step: Option<String>,
    pub approved: bool,
    /// Why the database failed, is blocked or was aborted; nothing else.
    pub error: Option<String>,
    /// Why it is not moving right now (running, pending or awaiting approval only).
    pub wait: Option<WaitReason>,
    /// Why it reached its state, when that is worth saying (upgraded out of band, travels
    /// with its source, old instance kept).
    pub note: Option<String>,
    pub updated_at: Millis,
    pub steps: Vec<StepRow>,
}

impl DbRow {
    /// The first step that is not done.
    pub fn current_step(&self) -> Option<&StepRow> {
        self.steps.iter().find(|s| s.status != StepStatus::Done)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub id: i64,
    pub at: Millis,
    pub wall: Millis,
    pub db_id: Option<i64>,
    pub step: Option<String>,
    pub kind: String,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceRow {
    pub region: String,
    pub kind: ResourceKind,
    pub name: String,
    pub status: ResourceStatus,
    pub detail: Option<String>,
}

/// The state file.
pub struct Store {
    conn: Connection,
    path: String,
    holds_lock: bool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "localhost".to_string())
}

/// Is a process with this pid alive on this host? (Linux: /proc; elsewhere assume alive.)
fn pid_alive(pid: i64) -> bool {
    if cfg!(target_os = "linux") {
        let stat = format!("/proc/{pid}/stat");
        match std::fs::read_to_string(stat) {
            // A zombie (state Z) has exited: treat it as gone.
            Ok(s) => !s
                .rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
                .unwrap_or(false),
            Err(_) => false,
        }
    } else {
        true
    }
}

impl Store {
    fn err(&self, e: rusqlite::Error) -> StoreError {
        sql_err(&self.path)(e)
    }

    fn open_conn(path: &Path) -> SResult<Store> {
        let p = path.display().to_string();
        let conn = Connection::open(path).map_err(sql_err(&p))?;
        let s = Store {
            conn,
            path: p,
            holds_lock: false,
        };
        s.conn
            .busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| s.err(e))?;
        s.conn
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| s.err(e))?;
        s.conn
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| s.err(e))?;
        s.conn
            .pragma_update(None, "foreign_keys", "ON")
            .map_err(|e| s.err(e))?;
        Ok(s)
    }

    /// Apply pending migrations in one transaction. Safe to run any number of times.
    fn migrate(&mut self) -> SResult<()> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql_err(&path))?;
        let version: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(sql_err(&path))?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::TooNew {
                path,
                found: version,
                known,
            });
        }
        for (i, m) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            tx.execute_batch(m).map_err(sql_err(&path))?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)
                .map_err(sql_err(&path))?;
        }
        tx.commit().map_err(sql_err(&path))
    }

    /// Open an existing state file.
    pub fn open(path: &Path) -> SResult<Store> {
        if !path.exists() {
            return Err(StoreError::Missing(path.display().to_string()));
        }
        let mut s = Store::open_conn(path)?;
        s.migrate()?;
        if s.meta("plan_id")?.is_none() {
            return Err(StoreError::Corrupt {
                path: s.path.clone(),
                detail: "no plan recorded (not an rdsfleet state file?)".into(),
            });
        }
        Ok(s)
    }

    /// Create a state file for `plan`, or open the existing one if it already belongs to this
    /// plan (a second `apply` of the same plan continues it). `backend` records which backend
    /// drives it (a resume with another backend is refused by the CLI).
    pub fn create_or_open(path: &Path, plan: &Plan, backend: &str, now: Millis) -> SResult<Store> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                let _ = crate::files::create_private_dir_all(dir);
            }
        }
        // Created 0600 (SQLite would use the umask); failures show up as SQLite's own error.
        let _ = crate::files::ensure_private_file(path);
        let mut s = Store::open_conn(path)?;
        s.migrate()?;
        if let Some(found) = s.meta("plan_id")? {
            if found != plan.plan_id {
                return Err(StoreError::PlanMismatch {
                    path: s.path.clone(),
                    found,
                    expected: plan.plan_id.clone(),
                });
            }
            return Ok(s);
        }
        let e = sql_err(&s.path);
        let tx = s
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(e)?;
        let meta = [
            ("plan_id", plan.plan_id.clone()),
            ("plan_json", plan.to_json()),
            ("backend", backend.to_string()),
            ("created_at", now.to_string()),
        ];
        for (k, v) in meta {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)",
                params![k, v],
            )
            .map_err(e)?;
        }
        for (i, db) in plan.databases.iter().enumerate() {
            let (state, error) = initial_state(plan, i);
            tx.execute(
                "INSERT INTO databases (id, region, identifier, state, step, approved, error, updated_at)
                 VALUES (?1, ?2, ?3, ?4, NULL, 0, ?5, ?6)",
                params![i as i64, db.region, db.identifier, state.as_str(), error, now],
            )
            .map_err(e)?;
            if state == DbState::Pending && db.is_actionable() {
                for (seq, st) in db.steps.iter().enumerate() {
                    tx.execute(
                        "INSERT INTO steps (db_id, seq, kind, status, updated_at)
                         VALUES (?1, ?2, ?3, 'pending', ?4)",
                        params![i as i64, seq as i64, st.kind.as_str(), now],
                    )
                    .map_err(e)?;
                }
            }
        }
        tx.execute(
            "INSERT INTO events (at, wall, db_id, step, kind, detail) VALUES (?1, ?2, NULL, NULL, 'state-created', ?3)",
            params![now, wall_now(), format!("plan {} with {} databases", plan.plan_id, plan.databases.len())],
        )
        .map_err(e)?;
        tx.commit().map_err(e)?;
        Ok(s)
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn meta(&self, key: &str) -> SResult<Option<String>> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))
    }

    pub fn set_meta(&self, key: &str, value: &str) -> SResult<()> {
        self.conn
            .execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// The plan this state file drives (verified against its plan id).
    pub fn plan(&self) -> SResult<Plan> {
        let text = self.meta("plan_json")?.ok_or_else(|| StoreError::Corrupt {
            path: self.path.clone(),
            detail: "plan missing".into(),
        })?;
        Plan::from_json(&self.path, &text).map_err(|e| StoreError::Corrupt {
            path: self.path.clone(),
            detail: e.to_string(),
        })
    }

    /// Take the single-writer lock, or fail naming the holder. A holder on this host whose
    /// process is gone (killed, crashed) is taken over, and the takeover is logged.
    pub fn acquire_lock(&mut self, now: Millis) -> SResult<()> {
        let pid = std::process::id() as i64;
        let host = host_name();
        let holder = format!("pid {pid} on {host}");
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql_err(&path))?;
        let cur: Option<(String, i64, String, i64)> = tx
            .query_row(
                "SELECT holder, pid, host, acquired_at FROM lock WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .map_err(sql_err(&path))?;
        if let Some((h, hpid, hhost, since)) = cur {
            // Same pid: an earlier engine in this very process (in-process crash tests).
            let stale = hhost == host && (hpid == pid || !pid_alive(hpid));
            if !stale {
                return Err(StoreError::Locked {
                    path,
                    holder: h,
                    since: rfc3339(since),
                });
            }
            tx.execute(
                "INSERT INTO events (at, wall, kind, detail) VALUES (?1, ?2, 'lock-taken-over', ?3)",
                params![now, wall_now(), format!("previous holder {h} is gone")],
            )
            .map_err(sql_err(&path))?;
        }
        tx.execute(
            "INSERT INTO lock (id, holder, pid, host, acquired_at, heartbeat_at)
             VALUES (1, ?1, ?2, ?3, ?4, ?4)
             ON CONFLICT(id) DO UPDATE SET holder = excluded.holder, pid = excluded.pid,
               host = excluded.host, acquired_at = excluded.acquired_at, heartbeat_at = excluded.heartbeat_at",
            params![holder, pid, host, wall_now()],
        )
        .map_err(sql_err(&path))?;
        tx.commit().map_err(sql_err(&path))?;
        self.holds_lock = true;
        Ok(())
    }

    /// Release the lock (on a clean exit; a crash leaves it to be taken over).
    pub fn release_lock(&mut self) -> SResult<()> {
        if self.holds_lock {
            self.conn
                .execute(
                    "DELETE FROM lock WHERE id = 1 AND pid = ?1",
                    [std::process::id() as i64],
                )
                .map_err(|e| self.err(e))?;
            self.holds_lock = false;
        }
        Ok(())
    }

    pub fn heartbeat(&self) -> SResult<()> {
        if self.holds_lock {
            self.conn
                .execute(
                    "UPDATE lock SET heartbeat_at = ?1 WHERE id = 1",
                    [wall_now()],
                )
                .map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// The current lock holder, if any (for `status`).
    pub fn lock_holder(&self) -> SResult<Option<String>> {
        self.conn
            .query_row("SELECT holder FROM lock WHERE id = 1", [], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Every database with its steps, in plan order.
    pub fn databases(&self) -> SResult<Vec<DbRow>> {
        self.load(None)
    }

    /// The databases `ids` (in id order) with their steps: what the engine reads each tick of
    /// the databases in flight, so a tick costs what is in flight, not the whole fleet.
    pub fn rows(&self, ids: &[i64]) -> SResult<Vec<DbRow>> {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let mut out = Vec::with_capacity(ids.len());
        // SQLite takes at most 32766 parameters; stay far below.
        for chunk in ids.chunks(500) {
            out.extend(self.load(Some(chunk))?);
        }
        Ok(out)
    }

    /// Every database's state and recorded approval, in plan order (no steps): the engine's
    /// view of the whole fleet, read once per run.
    pub fn briefs(&self) -> SResult<Vec<Brief>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, state, approved FROM databases ORDER BY id")
            .map_err(|e| self.err(e))?;
        let v = stmt
            .query_map([], |r| {
                let state: String = r.get(1)?;
                Ok(Brief {
                    id: r.get(0)?,
                    state: DbState::parse(&state).unwrap_or(DbState::Failed),
                    approved: r.get::<_, i64>(2)? != 0,
                })
            })
            .map_err(|e| self.err(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        Ok(v)
    }

    /// Databases waiting at the approval gate whose approval is now recorded (`approve` writes
    /// it from another process while a run goes on).
    pub fn approved_waiting(&self) -> SResult<Vec<i64>> {
        self.ids_where(
            "SELECT id FROM databases WHERE state = 'awaiting-approval' AND approved = 1",
        )
    }

    /// Databases whose switchover step is done.
    pub fn switched_over(&self) -> SResult<Vec<i64>> {
        self.ids_where("SELECT db_id FROM steps WHERE kind = 'switchover' AND status = 'done'")
    }

    fn ids_where(&self, sql: &str) -> SResult<Vec<i64>> {
        let mut stmt = self.conn.prepare(sql).map_err(|e| self.err(e))?;
        let v = stmt
            .query_map([], |r| r.get(0))
            .map_err(|e| self.err(e))?
            .collect::<Result<Vec<i64>, _>>()
            .map_err(|e| self.err(e))?;
        Ok(v)
    }

    /// Database rows with their steps: all of them, or those of `ids`.
    fn load(&self, ids: Option<&[i64]>) -> SResult<Vec<DbRow>> {
        let filter = |col: &str| match ids {
            None => String::new(),
            Some(ids) => format!(
                "WHERE {col} IN ({})",
                ids.iter().map(|_| "?").collect::<Vec<_>>().join(",")
            ),
        };
        let params = rusqlite::params_from_iter(ids.unwrap_or(&[]).iter());
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT id, region, identifier, state, step, approved, error, updated_at, wait, note
                 FROM databases {} ORDER BY id",
                filter("id")
            ))
            .map_err(|e| self.err(e))?;
        let mut rows: Vec<DbRow> = stmt
            .query_map(params, |r| {
                let state: String = r.get(3)?;
                Ok(DbRow {
                    id: r.get(0)?,
                    region: r.get(1)?,
                    identifier: r.get(2)?,
                    state: DbState::parse(&state).unwrap_or(DbState::Failed),
                    step: r.get(4)?,
                    approved: r.get::<_, i64>(5)? != 0,
                    error: r.get(6)?,
                    updated_at: r.get(7)?,
                    wait: r
                        .get::<_, Option<String>>(8)?
                        .and_then(|w| serde_json::from_str(&w).ok()),
                    note: r.get(9)?,
                    steps: Vec::new(),
                })
            })
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        let index: std::collections::HashMap<i64, usize> =
            rows.iter().enumerate().map(|(k, r)| (r.id, k)).collect();
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT db_id, seq, kind, status, attempt, remote_id, last_error, not_before,
                        started_at, finished_at
                 FROM steps {} ORDER BY db_id, seq",
                filter("db_id")
            ))
            .map_err(|e| self.err(e))?;
        let params = rusqlite::params_from_iter(ids.unwrap_or(&[]).iter());
        let steps = stmt
            .query_map(params, |r| {
                let kind: String = r.get(2)?;
                let status: String = r.get(3)?;
                Ok((
                    r.get::<_, i64>(0)?,
                    kind,
                    status,
                    StepRow {
                        seq: r.get(1)?,
                        kind: StepKind::Precheck,
                        status: StepStatus::Pending,
                        attempt: r.get(4)?,
                        remote_id: r.get(5)?,
                        last_error: r.get(6)?,
                        not_before: r.get(7)?,
                        started_at: r.get(8)?,
                        finished_at: r.get(9)?,
                    },
                ))
            })
            .map_err(|e| self.err(e))?;
        for s in steps {
            let (db_id, kind, status, mut row) = s.map_err(|e| self.err(e))?;
            row.kind = StepKind::parse(&kind).ok_or_else(|| StoreError::Corrupt {
                path: self.path.clone(),
                detail: format!("unknown step kind {kind}"),
            })?;
            row.status = StepStatus::parse(&status).ok_or_else(|| StoreError::Corrupt {
                path: self.path.clone(),
                detail: format!("unknown step status {status}"),
            })?;
            if let Some(&k) = index.get(&db_id) {
                rows[k].steps.push(row);
            }
        }
        Ok(rows)
    }

    /// Move a step from `expected` to `to` (compare-and-set), updating the database's current
    /// step, and log the event, all in one transaction.
    #[allow(clippy::too_many_arguments)]
    pub fn transition(
        &mut self,
        db: &DbRow,
        seq: i64,
        expected: StepStatus,
        to: StepStatus,
        upd: StepUpdate,
        now: Millis,
        event: &str,
    ) -> SResult<()> {
        if !crate::state::step_transition_is_legal(expected, to) {
            return Err(StoreError::Illegal {
                db: db.id,
                from: expected.to_string(),
                to: to.to_string(),
                table: "STEP_TRANSITIONS",
            });
        }
        let e = sql_err(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(e)?;
        let found: String = tx
            .query_row(
                "SELECT status FROM steps WHERE db_id = ?1 AND seq = ?2",
                params![db.id, seq],
                |r| r.get(0),
            )
            .map_err(e)?;
        if found != expected.as_str() {
            return Err(StoreError::Conflict {
                identifier: db.identifier.clone(),
                step: seq.to_string(),
                expected: expected.as_str().into(),
                found,
            });
        }
        let kind: String = tx
            .query_row(
                "SELECT kind FROM steps WHERE db_id = ?1 AND seq = ?2",
                params![db.id, seq],
                |r| r.get(0),
            )
            .map_err(e)?;
        tx.execute(
            "UPDATE steps SET status = ?3,
                attempt = attempt + ?4,
                remote_id = COALESCE(?5, remote_id),
                last_error = CASE WHEN ?6 THEN ?7 ELSE last_error END,
                not_before = COALESCE(?8, not_before),
                started_at = CASE WHEN ?3 <> 'pending' AND started_at IS NULL THEN ?9 ELSE started_at END,
                finished_at = CASE WHEN ?3 IN ('done', 'failed') THEN ?9 ELSE finished_at END,
                updated_at = ?9
             WHERE db_id = ?1 AND seq = ?2",
            params![
                db.id,
                seq,
                to.as_str(),
                upd.bump_attempt as i64,
                upd.remote_id,
                upd.set_error,
                upd.error,
                upd.not_before,
                now
            ],
        )
        .map_err(e)?;
        tx.execute(
            "UPDATE databases SET step = ?2, updated_at = ?3 WHERE id = ?1",
            params![db.id, kind, now],
        )
        .map_err(e)?;
        tx.execute(
            "INSERT INTO events (at, wall, db_id, step, kind, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![now, wall_now(), db.id, kind, format!("step-{}", to.as_str()), event],
        )
        .map_err(e)?;
        tx.commit().map_err(e)
    }

    /// Move a database from `from` to `to` (compare-and-set on its current state, refused
    /// unless [`crate::state::DB_TRANSITIONS`] lists it), setting its three "why" fields
    /// together, and log the event, in one transaction.
    pub fn transition_db(
        &mut self,
        db_id: i64,
        from: DbState,
        to: DbState,
        why: &DbWhy,
        now: Millis,
        detail: &str,
    ) -> SResult<()> {
        if !crate::state::db_transition_is_legal(from, to) {
            return Err(StoreError::Illegal {
                db: db_id,
                from: from.to_string(),
                to: to.to_string(),
                table: "DB_TRANSITIONS",
            });
        }
        let e = sql_err(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(e)?;
        let wait = why
            .wait
            .as_ref()
            .map(|w| serde_json::to_string(w).unwrap_or_default());
        let n = tx
            .execute(
                "UPDATE databases SET state = ?2, error = ?3, wait = ?4, note = ?5, updated_at = ?6
                 WHERE id = ?1 AND state = ?7",
                params![
                    db_id,
                    to.as_str(),
                    why.error,
                    wait,
                    why.note,
                    now,
                    from.as_str()
                ],
            )
            .map_err(e)?;
        if n != 1 {
            let (identifier, found): (String, String) = tx
                .query_row(
                    "SELECT identifier, state FROM databases WHERE id = ?1",
                    [db_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(e)?;
            return Err(StoreError::Conflict {
                identifier,
                step: "-".into(),
                expected: from.to_string(),
                found,
            });
        }
        if from != to {
            tx.execute(
                "INSERT INTO events (at, wall, db_id, kind, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    now,
                    wall_now(),
                    db_id,
                    format!("db-{}", to.as_str()),
                    detail
                ],
            )
            .map_err(e)?;
        }
        tx.commit().map_err(e)
    }

    /// Record why a database in `state` is waiting (`None`: it is not). Compare-and-set on the
    /// state; logs a `wait` event when the kind of wait changes, so `status --db` shows them.
    pub fn set_wait(
        &mut self,
        db_id: i64,
        state: DbState,
        wait: Option<&WaitReason>,
        now: Millis,
    ) -> SResult<()> {
        let e = sql_err(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(e)?;
        let old: Option<String> = tx
            .query_row("SELECT wait FROM databases WHERE id = ?1", [db_id], |r| {
                r.get(0)
            })
            .map_err(e)?;
        let old: Option<WaitReason> = old.and_then(|w| serde_json::from_str(&w).ok());
        let kind = |w: Option<&WaitReason>| w.map(std::mem::discriminant);
        let json = wait.map(|w| serde_json::to_string(w).unwrap_or_default());
        let n = tx
            .execute(
                "UPDATE databases SET wait = ?2, updated_at = ?3 WHERE id = ?1 AND state = ?4",
                params![db_id, json, now, state.as_str()],
            )
            .map_err(e)?;
        if n != 1 {
            return Err(StoreError::Conflict {
                identifier: db_id.to_string(),
                step: "-".into(),
                expected: state.to_string(),
                found: "another state".into(),
            });
        }
        if let Some(w) = wait {
            if kind(old.as_ref()) != kind(Some(w)) {
                tx.execute(
                    "INSERT INTO events (at, wall, db_id, kind, detail) VALUES (?1, ?2, ?3, 'wait', ?4)",
                    params![now, wall_now(), db_id, w.describe()],
                )
                .map_err(e)?;
            }
        }
        tx.commit().map_err(e)
    }

    /// Set a database's state (and error), logging the event. Transitional: the engine and
    /// lifecycle move to [`Store::transition_db`].
    pub fn set_db_state(
        &mut self,
        db_id: i64,
        state: DbState,
        error: Option<&str>,
        now: Millis,
        detail: &str,
    ) -> SResult<()> {
        let from: String = self
            .conn
            .query_row("SELECT state FROM databases WHERE id = ?1", [db_id], |r| {
                r.get(0)
            })
            .map_err(|e| self.err(e))?;
        let from = DbState::parse(&from).unwrap_or(DbState::Failed);
        let why = if matches!(state, DbState::Failed | DbState::Blocked | DbState::Aborted) {
            DbWhy::error(error.unwrap_or(detail))
        } else {
            DbWhy {
                note: error.map(String::from),
                ..DbWhy::default()
            }
        };
        self.transition_db(db_id, from, state, &why, now, detail)
    }

    /// Record switchover approval for the given databases (all when `ids` is empty).
    pub fn approve(&mut self, ids: &[i64], now: Millis, who: &str) -> SResult<usize> {
        let e = sql_err(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(e)?;
        let mut n = 0;
        let all: Vec<i64> = if ids.is_empty() {
            let mut st = tx
                .prepare("SELECT id FROM databases WHERE approved = 0")
                .map_err(e)?;
            let v = st
                .query_map([], |r| r.get(0))
                .map_err(e)?
                .collect::<Result<Vec<i64>, _>>()
                .map_err(e)?;
            v
        } else {
            ids.to_vec()
        };
        for id in all {
            n += tx
                .execute(
                    "UPDATE databases SET approved = 1, updated_at = ?2 WHERE id = ?1 AND approved = 0",
                    params![id, now],
                )
                .map_err(e)?;
            tx.execute(
                "INSERT INTO events (at, wall, db_id, kind, detail) VALUES (?1, ?2, ?3, 'switchover-approved', ?4)",
                params![now, wall_now(), id, who],
            )
            .map_err(e)?;
        }
        tx.commit().map_err(e)?;
        Ok(n)
    }

    /// Append a free-form event (API call intents and outcomes, warnings, reconciliation).
    pub fn event(
        &self,
        db_id: Option<i64>,
        step: Option<StepKind>,
        kind: &str,
        detail: &str,
        now: Millis,
    ) -> SResult<()> {
        self.conn
            .execute(
                "INSERT INTO events (at, wall, db_id, step, kind, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![now, wall_now(), db_id, step.map(|s| s.as_str()), kind, detail],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    pub fn events(&self, db_id: Option<i64>) -> SResult<Vec<Event>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, at, wall, db_id, step, kind, detail FROM events
                 WHERE ?1 IS NULL OR db_id = ?1 ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let v = stmt
            .query_map([db_id], |r| {
                Ok(Event {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    wall: r.get(2)?,
                    db_id: r.get(3)?,
                    step: r.get(4)?,
                    kind: r.get(5)?,
                    detail: r.get(6)?,
                })
            })
            .map_err(|e| self.err(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        Ok(v)
    }

    pub fn resource(
        &self,
        region: &str,
        kind: ResourceKind,
        name: &str,
    ) -> SResult<Option<ResourceRow>> {
        self.conn
            .query_row(
                "SELECT region, kind, name, status, detail FROM resources
                 WHERE region = ?1 AND kind = ?2 AND name = ?3",
                params![region, kind.as_str(), name],
                resource_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    pub fn resources(&self) -> SResult<Vec<ResourceRow>> {
        let mut stmt = self
            .conn
            .prepare("SELECT region, kind, name, status, detail FROM resources ORDER BY region, kind, name")
            .map_err(|e| self.err(e))?;
        let v = stmt
            .query_map([], resource_row)
            .map_err(|e| self.err(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        Ok(v)
    }

    /// The tracked resources of one kind.
    pub fn resources_of(&self, kind: ResourceKind) -> SResult<Vec<ResourceRow>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT region, kind, name, status, detail FROM resources WHERE kind = ?1
                 ORDER BY region, name",
            )
            .map_err(|e| self.err(e))?;
        let v = stmt
            .query_map([kind.as_str()], resource_row)
            .map_err(|e| self.err(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        Ok(v)
    }

    /// Record a tracked resource's status (see [`ResourceStatus`]).
    pub fn set_resource(
        &self,
        region: &str,
        kind: ResourceKind,
        name: &str,
        status: ResourceStatus,
        detail: Option<&str>,
        now: Millis,
    ) -> SResult<()> {
        self.conn
            .execute(
                "INSERT INTO resources (region, kind, name, status, detail, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(region, kind, name) DO UPDATE SET status = excluded.status,
                   detail = COALESCE(excluded.detail, detail), updated_at = excluded.updated_at",
                params![region, kind.as_str(), name, status.as_str(), detail, now],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Path suggestion for a plan's state file: `state/<plan-id>.sqlite`.
    pub fn default_path(plan_id: &str) -> PathBuf {
        PathBuf::from("state").join(format!("{plan_id}.sqlite"))
    }
}

/// A `resources` row (columns region, kind, name, status, detail).
fn resource_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ResourceRow> {
    let text = |i: usize, v: String| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("unknown resource value {v}").into(),
        )
    };
    let kind: String = r.get(1)?;
    let status: String = r.get(3)?;
    Ok(ResourceRow {
        region: r.get(0)?,
        kind: ResourceKind::parse(&kind).ok_or_else(|| text(1, kind))?,
        name: r.get(2)?,
        status: ResourceStatus::parse(&status).ok_or_else(|| text(3, status))?,
        detail: r.get(4)?,
    })
}

/// The three "why" fields of a database row, set together by [`Store::transition_db`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DbWhy {
    pub error: Option<String>,
    pub wait: Option<WaitReason>,
    pub note: Option<String>,
}

impl DbWhy {
    pub fn error(e: impl Into<String>) -> Self {
        DbWhy {
            error: Some(e.into()),
            ..Default::default()
        }
    }
    pub fn note(n: impl Into<String>) -> Self {
        DbWhy {
            note: Some(n.into()),
            ..Default::default()
        }
    }
    pub fn wait(w: WaitReason) -> Self {
        DbWhy {
            wait: Some(w),
            ..Default::default()
        }
    }
}

/// Optional column updates carried by a [`Store::transition`].
#[derive(Debug, Clone, Default)]
pub struct StepUpdate {
    pub bump_attempt: bool,
    pub remote_id: Option<String>,
    pub set_error: bool,
    pub error: Option<String>,
    pub not_before: Option<Millis>,
}

impl StepUpdate {
    pub fn remote(id: impl Into<String>) -> Self {
        StepUpdate {
            remote_id: Some(id.into()),
            set_error: true,
            ..Default::default()
        }
    }
    pub fn clear_error() -> Self {
        StepUpdate {
            set_error: true,
            ..Default::default()
        }
    }
    pub fn error(msg: impl Into<String>) -> Self {
        StepUpdate {
            set_error: true,
            error: Some(msg.into()),
            ..Default::default()
        }
    }
    pub fn retry_at(msg: impl Into<String>, at: Millis) -> Self {
        StepUpdate {
            set_error: true,
            error: Some(msg.into()),
            not_before: Some(at),
            ..Default::default()
        }
    }
    pub fn attempt() -> Self {
        StepUpdate {
            bump_attempt: true,
            set_error: true,
            ..Default::default()
        }
    }
}

/// The state a database starts in, from the plan.
fn initial_state(plan: &Plan, i: usize) -> (DbState, Option<String>) {
    use crate::plan::Strategy;
    let db = &plan.databases[i];
    if !db.blockers.is_empty() {
        let msg = db
            .blockers
            .iter()
            .map(|b| format!("{}: {}", b.code, b.message))
            .collect::<Vec<_>>()
            .join("; ");
        return (DbState::Blocked, Some(msg));
    }
    match db.strategy {
        Strategy::Skip => (
            DbState::Skipped,
            Some(db.skip_reason.clone().unwrap_or_else(|| "skipped".into())),
        ),
        Strategy::WithSource => (DbState::Pending, None),
        Strategy::BlueGreen if db.steps.is_empty() => {
            (DbState::Blocked, Some("plan has no steps".into()))
        }
        Strategy::BlueGreen => (DbState::Pending, None),
    }
}

/// A two-database plan for unit tests (one actionable, one blocked).
#[cfg(test)]
pub(crate) fn test_plan() -> Plan {
    use crate::plan::*;
    {
        let db = |id: &str, blockers: Vec<Finding>| PlannedDatabase {
            identifier: id.into(),
            region: "us-east-1".into(),
            arn: format!("arn:aws:rds:us-east-1:123456789012:db:{id}"),
            engine: "mysql".into(),
            from_version: "5.7.44".into(),
            to_version: Some("8.0.40".into()),
            strategy: Strategy::BlueGreen,
            skip_reason: None,
            wave: 1,
            steps: if blockers.is_empty() {
                crate::machine::BLUE_GREEN
                    .iter()
                    .map(|s| PlannedStep {
                        kind: s.kind,
                        resource_name: None,
                    })
                    .collect()
            } else {
                vec![]
            },
            blockers,
            warnings: vec![],
            replicas: vec![],
            source: ObservedSource {
                status: "available".into(),
                engine_version: "5.7.44".into(),
                parameter_group: Some("default.mysql5.7".into()),
                dbi_resource_id: "db-ABC".into(),
                instance_class: "db.r5.large".into(),
                storage_type: "gp2".into(),
                allocated_storage_gib: 100,
                deletion_protection: false,
            },
            target: Some(TargetSpec {
                engine_version: "8.0.40".into(),
                parameter_group: "default.mysql8.0".into(),
                parameter_group_family: "mysql8.0".into(),
                instance_class: None,
                storage_type: None,
                iops: None,
                storage_throughput: None,
                allocated_storage_gib: None,
            }),
            tags: Default::default(),
        };
        let mut p = Plan {
            schema_version: PLAN_SCHEMA_VERSION,
            plan_id: String::new(),
            created_at: "2026-11-21T00:00:00Z".into(),
            inventory_fingerprint: "x".into(),
            targets: [("mysql".to_string(), "8.0".to_string())].into(),
            settings: PlanSettings::default(),
            warnings: vec![],
            parameter_groups: vec![],
            databases: vec![
                db("a", vec![]),
                db(
                    "b",
                    vec![Finding::new("backups-disabled", "turn on backups")],
                ),
            ],
            policy: None,
            waves: vec![],
        };
        crate::planner::finalize(&mut p);
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_plan() -> Plan {
        test_plan()
    }

    #[test]
    fn migrations_run_twice_and_plan_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let plan = tiny_plan();
        {
            let s = Store::create_or_open(&path, &plan, "sim", 5).unwrap();
            assert_eq!(s.plan().unwrap(), plan);
        }
        let mut s = Store::open(&path).unwrap();
        s.migrate().unwrap();
        let dbs = s.databases().unwrap();
        assert_eq!(dbs[0].state, DbState::Pending);
        assert_eq!(dbs[0].steps.len(), 7);
        assert_eq!(dbs[1].state, DbState::Blocked);
        assert!(dbs[1].steps.is_empty());
        // The same plan reopens; another plan is refused.
        Store::create_or_open(&path, &plan, "sim", 6).unwrap();
        let mut other = plan.clone();
        other.databases.pop();
        crate::planner::finalize(&mut other);
        assert!(matches!(
            Store::create_or_open(&path, &other, "sim", 6),
            Err(StoreError::PlanMismatch { .. })
        ));
    }

    #[test]
    fn transitions_are_compare_and_set() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let mut s = Store::create_or_open(&path, &tiny_plan(), "sim", 5).unwrap();
        let db = s.databases().unwrap().remove(0);
        s.transition(
            &db,
            0,
            StepStatus::Pending,
            StepStatus::Started,
            StepUpdate::attempt(),
            7,
            "go",
        )
        .unwrap();
        let err = s
            .transition(
                &db,
                0,
                StepStatus::Pending,
                StepStatus::Started,
                StepUpdate::attempt(),
                8,
                "again",
            )
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict { .. }));
        s.transition(
            &db,
            0,
            StepStatus::Started,
            StepStatus::Done,
            StepUpdate::remote("r-1"),
            9,
            "ok",
        )
        .unwrap();
        let db = s.databases().unwrap().remove(0);
        assert_eq!(db.steps[0].status, StepStatus::Done);
        assert_eq!(db.steps[0].attempt, 1);
        assert_eq!(db.steps[0].remote_id.as_deref(), Some("r-1"));
        assert_eq!(db.steps[0].started_at, Some(7));
        assert_eq!(db.steps[0].finished_at, Some(9));
        assert_eq!(db.current_step().unwrap().kind, StepKind::Snapshot);
    }

    #[test]
    fn lock_names_the_holder_and_dead_holders_are_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let mut s = Store::create_or_open(&path, &tiny_plan(), "sim", 5).unwrap();
        // A live foreign holder: pid 1 (init) is always alive.
        s.conn
            .execute(
                "INSERT INTO lock (id, holder, pid, host, acquired_at, heartbeat_at) VALUES (1, 'pid 1 on h', 1, ?1, 0, 0)",
                [host_name()],
            )
            .unwrap();
        let err = s.acquire_lock(10).unwrap_err();
        assert!(err.to_string().contains("pid 1 on h"), "{err}");
        // A dead holder is taken over.
        s.conn
            .execute(
                "UPDATE lock SET pid = 999999999, holder = 'pid 999999999 on h'",
                [],
            )
            .unwrap();
        s.acquire_lock(11).unwrap();
        assert!(s
            .lock_holder()
            .unwrap()
            .unwrap()
            .contains(&std::process::id().to_string()));
        s.release_lock().unwrap();
        assert!(s.lock_holder().unwrap().is_none());
    }
}
