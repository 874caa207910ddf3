//! The world file: all SQL of the simulator sits here.
//!
//! One SQLite file holds the whole simulated account (instances, snapshots, parameter groups,
//! blue/green deployments, scheduled events, token buckets, quotas, the API trail and the
//! recorded downtime). Resources are rows keyed by (region, name) with their state as a JSON
//! column: simple, and a describe of 200 instances parses in about a millisecond.
//!
//! Locking: WAL mode plus a busy timeout, so an `apply` and an `inventory` can share the world;
//! every API call runs in one `BEGIN IMMEDIATE` transaction (its effect and its trail entry
//! commit together or not at all, so a SIGKILLed orchestrator never leaves half a call).
//!
//! Compatibility: migrations are an append-only list tracked by `PRAGMA user_version`.

use super::SimError;
use crate::clock::Millis;
use crate::domain::{BlueGreen, DbInstance, ParameterGroup, Snapshot, Tags};
use rusqlite::{params, Connection, OptionalExtension};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Append-only: never edit or remove an entry, add a new one.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE quota (region TEXT PRIMARY KEY, max INTEGER NOT NULL);
CREATE TABLE bucket (region TEXT PRIMARY KEY, tokens REAL NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE instances (region TEXT NOT NULL, id TEXT NOT NULL, dbi TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (region, id));
CREATE TABLE snapshots (region TEXT NOT NULL, id TEXT NOT NULL, created_at INTEGER NOT NULL,
    data TEXT NOT NULL, PRIMARY KEY (region, id));
CREATE TABLE pgroups (region TEXT NOT NULL, id TEXT NOT NULL, created_at INTEGER NOT NULL,
    data TEXT NOT NULL, PRIMARY KEY (region, id));
CREATE TABLE bgds (region TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL,
    created_at INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (region, id));
CREATE UNIQUE INDEX bgds_name ON bgds (region, name);
CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, due_at INTEGER NOT NULL,
    kind TEXT NOT NULL, region TEXT NOT NULL, target TEXT NOT NULL, payload TEXT NOT NULL);
CREATE INDEX events_due ON events (due_at, id);
CREATE TABLE trail (seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL,
    region TEXT NOT NULL, action TEXT NOT NULL, resource TEXT NOT NULL, params TEXT NOT NULL,
    mutating INTEGER NOT NULL, outcome TEXT NOT NULL);
CREATE TABLE downtime (id INTEGER PRIMARY KEY AUTOINCREMENT, region TEXT NOT NULL,
    identifier TEXT NOT NULL, start INTEGER NOT NULL, seconds REAL NOT NULL);
"#,
    // 2: when RDS finished what it was asked (snapshot available, deployment available,
    //    switchover ended): the benchmark's lower bound on the makespan reads it; and the
    //    mutating calls counted cheaply (another process watching a rollout).
    r#"
CREATE TABLE milestones (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL,
    region TEXT NOT NULL, kind TEXT NOT NULL, resource TEXT NOT NULL, detail TEXT NOT NULL);
CREATE INDEX trail_mutating ON trail (seq) WHERE mutating = 1;
"#,
    // 3: an instance's read-replica source, indexed: a switchover or a delete updates the
    //    instances that replicate the renamed or deleted one without decoding every instance
    //    of the region (that scan was most of a 10,000-database benchmark's time).
    r#"
ALTER TABLE instances ADD COLUMN source TEXT
    GENERATED ALWAYS AS (json_extract(data, '$.inst.read_replica_source')) VIRTUAL;
CREATE INDEX instances_source ON instances (region, source);
"#,
];

/// Open (and migrate) a world file. `create` allows a missing file.
pub fn open(path: &Path, create: bool) -> Result<Connection, SimError> {
    if !create && !path.exists() {
        return Err(SimError::Missing {
            path: path.display().to_string(),
        });
    }
    let corrupt = |e: rusqlite::Error| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) | Some(rusqlite::ErrorCode::DatabaseCorrupt) => {
            SimError::Corrupt {
                path: path.display().to_string(),
                reason: e.to_string(),
            }
        }
        _ => SimError::Sqlite(e),
    };
    if create {
        // The world is private like a state file (see `crate::files`).
        let _ = crate::files::ensure_private_file(path);
    }
    let conn = Connection::open(path).map_err(corrupt)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))
        .map_err(corrupt)?;
    // Every call runs the same dozen statements: keep them all prepared.
    conn.set_prepared_statement_cache_capacity(64);
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(corrupt)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(corrupt)?;
    migrate(&conn).map_err(|e| match e {
        SimError::Sqlite(e) => corrupt(e),
        other => other,
    })?;
    if !create {
        // A file that is SQLite but not a world (no seed) is as bad as a corrupt one.
        let seed: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key='seed'", [], |r| r.get(0))
            .optional()?;
        if seed.is_none() {
            return Err(SimError::Corrupt {
                path: path.display().to_string(),
                reason: "no world metadata (was it made by `sim init`?)".into(),
            });
        }
    }
    Ok(conn)
}

fn migrate(conn: &Connection) -> Result<(), SimError> {
    let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if v as usize > MIGRATIONS.len() {
        return Err(SimError::Corrupt {
            path: conn.path().unwrap_or("").to_string(),
            reason: format!("world schema version {v} is newer than this rdsfleet"),
        });
    }
    if v as usize == MIGRATIONS.len() {
        return Ok(());
    }
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let res = (|| -> rusqlite::Result<()> {
        // Re-read under the lock: another process may have migrated meanwhile.
        let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        for m in &MIGRATIONS[v as usize..] {
            conn.execute_batch(m)?;
        }
        conn.pragma_update(None, "user_version", MIGRATIONS.len() as i64)?;
        Ok(())
    })();
    match res {
        Ok(()) => conn.execute_batch("COMMIT")?,
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e.into());
        }
    }
    Ok(())
}

pub fn get_meta(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached("SELECT value FROM meta WHERE key=?1")?
        .query_row([key], |r| r.get(0))
        .optional()
}

/// Store a time under `key` unless a later one is already there (virtual time never goes back).
pub fn advance_meta_time(conn: &Connection, key: &str, t: Millis) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value=excluded.value
         WHERE CAST(meta.value AS INTEGER) < CAST(excluded.value AS INTEGER)",
    )?
    .execute(params![key, t.to_string()])?;
    Ok(())
}

/// Record that RDS finished something (see [`crate::sim::Milestone`]).
pub fn milestone(
    c: &Connection,
    at: Millis,
    region: &str,
    kind: &str,
    resource: &str,
    detail: &str,
) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO milestones (at, region, kind, resource, detail) VALUES (?1,?2,?3,?4,?5)",
        params![at, region, kind, resource, detail],
    )?;
    Ok(())
}

pub fn delete_meta(conn: &Connection, key: &str) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM meta WHERE key=?1", [key])?;
    Ok(())
}

pub fn set_meta(conn: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value=excluded.value",
        params![key, value],
    )?;
    Ok(())
}

/// A simulated instance: the domain view plus what only the simulator knows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstRow {
    pub inst: DbInstance,
    pub created_at: Millis,
    /// Blue/green deployment this instance belongs to (as blue or green), while it exists.
    #[serde(default)]
    pub bgd: Option<String>,
    /// Old instances after a switchover are read-only.
    #[serde(default)]
    pub read_only: bool,
    /// An "other actor" fault was already scheduled for it (only once per instance).
    #[serde(default)]
    pub actor_scheduled: bool,
    /// Which problem case of `sim init` this instance embodies, if any (for the summary).
    #[serde(default)]
    pub problem: Option<String>,
    /// RDS Proxies with this instance as a target (`DescribeDBProxies` / `...ProxyTargets`).
    #[serde(default)]
    pub proxies: Vec<String>,
    /// Zero-ETL integrations with this instance as source (`DescribeIntegrations`).
    #[serde(default)]
    pub integrations: Vec<String>,
    /// The instance's log files (`DescribeDBLogFiles` / `DownloadDBLogFilePortion`).
    #[serde(default)]
    pub logs: Vec<SimLog>,
    /// PostgreSQL: rows of `pg_database` (each needs a replication slot, a WAL sender and an
    /// apply worker when blue/green replicates logically). 0 means the default, 2 (`postgres`
    /// and one application database).
    #[serde(default)]
    pub databases: u32,
}

impl InstRow {
    /// A row for an instance the simulator creates, with no sim-only extras.
    pub fn new(inst: DbInstance, created_at: Millis) -> InstRow {
        InstRow {
            inst,
            created_at,
            bgd: None,
            read_only: false,
            actor_scheduled: false,
            problem: None,
            proxies: Vec::new(),
            integrations: Vec::new(),
            logs: Vec::new(),
            databases: 0,
        }
    }
}

/// One log file of a simulated instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimLog {
    pub name: String,
    pub written_at: Millis,
    pub text: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapRow {
    pub snap: Snapshot,
    pub created_at: Millis,
    pub done_at: Millis,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PgRow {
    pub group: ParameterGroup,
    /// Parameters set by the user (`Source=user`), name -> value.
    pub params: BTreeMap<String, String>,
    #[serde(default)]
    pub tags: Tags,
    pub created_at: Millis,
}

/// One blue -> green pair, by DbiResourceId (stable across the switchover renames).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Member {
    pub blue: String,
    pub green: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BgdRow {
    pub bg: BlueGreen,
    pub members: Vec<Member>,
    pub created_at: Millis,
    pub target_version: String,
    /// Set when a fault decided at creation that this deployment ends INVALID_CONFIGURATION.
    #[serde(default)]
    pub doomed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Snapshots,
    Pgroups,
    Bgds,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Snapshots => "snapshots",
            Table::Pgroups => "pgroups",
            Table::Bgds => "bgds",
        }
    }
}

fn decode<T: DeserializeOwned>(s: &str) -> rusqlite::Result<T> {
    serde_json::from_str(s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn encode<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("sim rows serialize")
}

pub fn get<T: DeserializeOwned>(
    tx: &Connection,
    t: Table,
    region: &str,
    id: &str,
) -> rusqlite::Result<Option<T>> {
    let sql = format!("SELECT data FROM {} WHERE region=?1 AND id=?2", t.name());
    let s: Option<String> = tx
        .query_row(&sql, params![region, id], |r| r.get(0))
        .optional()?;
    s.map(|s| decode(&s)).transpose()
}

/// The rows with these ids (missing ones skipped), in id order like [`all`]: a describe
/// filtered by name reads only what it returns, not the whole region.
pub fn some<T: DeserializeOwned>(
    tx: &Connection,
    t: Table,
    region: &str,
    ids: &[String],
) -> rusqlite::Result<Vec<T>> {
    let ids: std::collections::BTreeSet<&String> = ids.iter().collect();
    let sql = format!("SELECT data FROM {} WHERE region=?1 AND id=?2", t.name());
    let mut st = tx.prepare_cached(&sql)?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(s) = st
            .query_row(params![region, id], |r| r.get::<_, String>(0))
            .optional()?
        {
            out.push(decode(&s)?);
        }
    }
    Ok(out)
}

/// As [`some`], for instances.
pub fn some_inst(tx: &Connection, region: &str, ids: &[String]) -> rusqlite::Result<Vec<InstRow>> {
    let ids: std::collections::BTreeSet<&String> = ids.iter().collect();
    let mut st = tx.prepare_cached("SELECT data FROM instances WHERE region=?1 AND id=?2")?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(s) = st
            .query_row(params![region, id], |r| r.get::<_, String>(0))
            .optional()?
        {
            out.push(decode(&s)?);
        }
    }
    Ok(out)
}

pub fn all<T: DeserializeOwned>(
    tx: &Connection,
    t: Table,
    region: &str,
) -> rusqlite::Result<Vec<T>> {
    let sql = format!("SELECT data FROM {} WHERE region=?1 ORDER BY id", t.name());
    let mut st = tx.prepare_cached(&sql)?;
    let rows = st.query_map([region], |r| r.get::<_, String>(0))?;
    rows.map(|s| decode(&s?)).collect()
}

pub fn delete(tx: &Connection, t: Table, region: &str, id: &str) -> rusqlite::Result<()> {
    let sql = format!("DELETE FROM {} WHERE region=?1 AND id=?2", t.name());
    tx.execute(&sql, params![region, id])?;
    Ok(())
}

pub fn put_snap(tx: &Connection, region: &str, s: &SnapRow) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT OR REPLACE INTO snapshots (region, id, created_at, data) VALUES (?1,?2,?3,?4)",
        params![region, s.snap.identifier, s.created_at, encode(s)],
    )?;
    Ok(())
}

pub fn put_pg(tx: &Connection, region: &str, p: &PgRow) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT OR REPLACE INTO pgroups (region, id, created_at, data) VALUES (?1,?2,?3,?4)",
        params![region, p.group.name, p.created_at, encode(p)],
    )?;
    Ok(())
}

pub fn put_bgd(tx: &Connection, region: &str, b: &BgdRow) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT OR REPLACE INTO bgds (region, id, name, created_at, data) VALUES (?1,?2,?3,?4,?5)",
        params![region, b.bg.identifier, b.bg.name, b.created_at, encode(b)],
    )?;
    Ok(())
}

pub fn bgd_by_name(tx: &Connection, region: &str, name: &str) -> rusqlite::Result<Option<BgdRow>> {
    let s: Option<String> = tx
        .query_row(
            "SELECT data FROM bgds WHERE region=?1 AND name=?2",
            params![region, name],
            |r| r.get(0),
        )
        .optional()?;
    s.map(|s| decode(&s)).transpose()
}

pub fn get_inst(tx: &Connection, region: &str, id: &str) -> rusqlite::Result<Option<InstRow>> {
    let s: Option<String> = tx
        .query_row(
            "SELECT data FROM instances WHERE region=?1 AND id=?2",
            params![region, id],
            |r| r.get(0),
        )
        .optional()?;
    s.map(|s| decode(&s)).transpose()
}

pub fn get_inst_by_dbi(tx: &Connection, dbi: &str) -> rusqlite::Result<Option<InstRow>> {
    let s: Option<String> = tx
        .query_row("SELECT data FROM instances WHERE dbi=?1", [dbi], |r| {
            r.get(0)
        })
        .optional()?;
    s.map(|s| decode(&s)).transpose()
}

pub fn all_inst(tx: &Connection, region: &str) -> rusqlite::Result<Vec<InstRow>> {
    let mut st = tx.prepare_cached("SELECT data FROM instances WHERE region=?1 ORDER BY id")?;
    let rows = st.query_map([region], |r| r.get::<_, String>(0))?;
    rows.map(|s| decode(&s?)).collect()
}

/// The instances of `region` whose read-replica source is one of `sources` (an identifier, as
/// a same-region replica names its source), in identifier order like [`all_inst`].
pub fn replicas_of(
    tx: &Connection,
    region: &str,
    sources: &[&str],
) -> rusqlite::Result<Vec<InstRow>> {
    let mut st =
        tx.prepare_cached("SELECT id, data FROM instances WHERE region=?1 AND source=?2")?;
    let mut out: Vec<(String, InstRow)> = Vec::new();
    for src in sources {
        let rows = st.query_map(params![region, src], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        for row in rows {
            let (id, data) = row?;
            out.push((id, decode(&data)?));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out.into_iter().map(|(_, r)| r).collect())
}

pub fn count_inst(tx: &Connection, region: &str) -> rusqlite::Result<i64> {
    tx.query_row(
        "SELECT COUNT(*) FROM instances WHERE region=?1",
        [region],
        |r| r.get(0),
    )
}

/// Insert or update an instance, keyed by its DbiResourceId (its name may have changed).
pub fn put_inst(tx: &Connection, r: &InstRow) -> rusqlite::Result<()> {
    tx.execute(
        "DELETE FROM instances WHERE dbi=?1",
        [&r.inst.dbi_resource_id],
    )?;
    tx.execute(
        "INSERT INTO instances (region, id, dbi, created_at, data) VALUES (?1,?2,?3,?4,?5)",
        params![
            r.inst.region,
            r.inst.identifier,
            r.inst.dbi_resource_id,
            r.created_at,
            encode(r)
        ],
    )?;
    Ok(())
}

pub fn delete_inst(tx: &Connection, dbi: &str) -> rusqlite::Result<()> {
    tx.execute("DELETE FROM instances WHERE dbi=?1", [dbi])?;
    Ok(())
}

/// What RDS does on its own, later: a transition scheduled by a call (or by another event),
/// applied by the first call at or after its due time. Stored as its tag (`kind` column) and
/// its fields (`payload`, JSON), so a world file shows it plainly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "payload", rename_all = "kebab-case")]
pub enum EventKind {
    /// An instance's status becomes `status`, if it is still in one of `from` (any, if empty);
    /// `clear_pending` applies its pending modifications, `reboot` syncs its parameter groups.
    InstStatus {
        status: String,
        #[serde(default)]
        from: Vec<String>,
        #[serde(default)]
        clear_pending: bool,
        #[serde(default)]
        reboot: bool,
    },
    /// A snapshot finished (`available`, or `failed`); its source instance (`dbi`, when it
    /// was backing up for it) goes back to `available`.
    SnapshotDone {
        fail: bool,
        #[serde(default)]
        dbi: Option<String>,
    },
    /// A deployment doomed at creation goes INVALID_CONFIGURATION with RDS's `detail`; a
    /// failed engine upgrade (`precheck`) leaves green on blue's version with the precheck log.
    BgdInvalid {
        #[serde(default)]
        detail: Option<String>,
        #[serde(default)]
        precheck: bool,
    },
    /// A switchover ends: completed (`ok`) or rolled back; `downtime` seconds from `start`.
    SwitchoverEnd {
        ok: bool,
        downtime: f64,
        start: Millis,
    },
    /// A deleting instance disappears.
    InstGone {},
    /// A deleting deployment disappears.
    BgdGone {},
    /// Someone other than rdsfleet acts on a database (the `actor-*` faults).
    Actor { kind: ActorAction },
}

/// What the other actor of the `actor-*` faults does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActorAction {
    Delete,
    Modify,
    Reboot,
}

/// A scheduled event: `what` happens to `target` (a `dbi`, a snapshot or deployment name)
/// in `region` at `due_at`.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: i64,
    pub due_at: Millis,
    pub region: String,
    pub target: String,
    pub what: EventKind,
}

pub fn schedule(
    tx: &Connection,
    due_at: Millis,
    region: &str,
    target: &str,
    what: &EventKind,
) -> rusqlite::Result<()> {
    let v = serde_json::to_value(what)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?;
    tx.execute(
        "INSERT INTO events (due_at, kind, region, target, payload) VALUES (?1,?2,?3,?4,?5)",
        params![
            due_at,
            v["kind"].as_str().unwrap_or_default(),
            region,
            target,
            v["payload"].to_string()
        ],
    )?;
    Ok(())
}

/// Pop the earliest event due at or before `now`.
pub fn pop_due(tx: &Connection, now: Millis) -> rusqlite::Result<Option<Event>> {
    let ev = tx
        .prepare_cached(
            "SELECT id, due_at, kind, region, target, payload FROM events
             WHERE due_at <= ?1 ORDER BY due_at, id LIMIT 1",
        )?
        .query_row([now], |r| {
            let kind: String = r.get(2)?;
            let payload: serde_json::Value = serde_json::from_str(&r.get::<_, String>(5)?)
                .map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(
                        5,
                        rusqlite::types::Type::Text,
                        e.into(),
                    )
                })?;
            let what =
                serde_json::from_value(serde_json::json!({"kind": kind, "payload": payload}))
                    .map_err(|e| {
                        rusqlite::Error::FromSqlConversionFailure(
                            2,
                            rusqlite::types::Type::Text,
                            e.into(),
                        )
                    })?;
            Ok(Event {
                id: r.get(0)?,
                due_at: r.get(1)?,
                region: r.get(3)?,
                target: r.get(4)?,
                what,
            })
        })
        .optional()?;
    if let Some(e) = &ev {
        tx.prepare_cached("DELETE FROM events WHERE id=?1")?
            .execute([e.id])?;
    }
    Ok(ev)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every event kind comes back from the world file as it went in, in due order, and
    /// only once it is due.
    #[test]
    fn events_round_trip_in_due_order() {
        let c = Connection::open_in_memory().unwrap();
        migrate(&c).unwrap();
        let all = [
            EventKind::InstStatus {
                status: "available".into(),
                from: vec!["modifying".into()],
                clear_pending: true,
                reboot: false,
            },
            EventKind::SnapshotDone {
                fail: true,
                dbi: Some("db-X".into()),
            },
            EventKind::BgdInvalid {
                detail: Some("incompatible parameter(s)".into()),
                precheck: false,
            },
            EventKind::SwitchoverEnd {
                ok: true,
                downtime: 31.5,
                start: 7,
            },
            EventKind::InstGone {},
            EventKind::BgdGone {},
            EventKind::Actor {
                kind: ActorAction::Reboot,
            },
        ];
        for (i, what) in all.iter().enumerate().rev() {
            schedule(&c, 100 + i as Millis, "us-east-1", &format!("t{i}"), what).unwrap();
        }
        assert!(pop_due(&c, 99).unwrap().is_none(), "nothing due yet");
        for (i, what) in all.iter().enumerate() {
            let ev = pop_due(&c, 1_000).unwrap().unwrap();
            assert_eq!(
                (&ev.what, ev.target.as_str()),
                (what, format!("t{i}").as_str())
            );
        }
        assert!(pop_due(&c, 1_000).unwrap().is_none());
    }
}
