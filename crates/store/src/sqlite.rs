//! The embedded SQLite backend: WAL mode, one writer thread with group commit,
//! a few reader connections.
//!
//! Every write is a job sent to the writer thread. The thread takes all jobs
//! waiting, runs each inside its own savepoint (so one failing job does not
//! undo the others), commits once with `synchronous=FULL`, and only then
//! answers each caller. Many concurrent requests thus share one fsync while
//! none is acknowledged before its data is on disk.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use firstlink_domain::aed::{AedAccess, Readiness};
use firstlink_domain::geo::LatLon;
use firstlink_domain::ids::{AedId, IncidentId, RegionId, VolunteerId};
use firstlink_domain::mission::{Event, Mission, Status};
use firstlink_domain::policy::DispatchPolicy;
use firstlink_domain::volunteer::{QuietHours, Tier};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::model::*;
use crate::monitoring::*;
use crate::prelude::*;
use crate::{Result, StoreError};

mod accounts;
mod cluster;
mod missions;
mod monitoring;
mod outbox;
mod registry;
mod volunteers;

const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_init", include_str!("../migrations/0001_init.sql")),
    // AED registry (issue 3): 0002 goes here.
    // Dispatch-centre integration (issue 8): 0003 goes here.
    (
        "0003_integration",
        include_str!("../migrations/0003_integration.sql"),
    ),
    (
        "0004_monitoring",
        include_str!("../migrations/0004_monitoring.sql"),
    ),
    (
        "0005_cluster",
        include_str!("../migrations/0005_cluster.sql"),
    ),
    (
        "0006_changes",
        include_str!("../migrations/0006_changes.sql"),
    ),
];
/// How often the change feed looks for new rows (a CLI write is visible to
/// a running server within this, plus the time to apply it).
const TAIL_EVERY: std::time::Duration = std::time::Duration::from_millis(200);
const TAIL_BATCH: i64 = 2_000;
const READERS: usize = 4;
const MAX_BATCH: usize = 1_024;

type Completion = Box<dyn FnOnce(Result<()>) + Send>;
type Job = Box<dyn FnOnce(&Connection) -> (bool, Completion) + Send>;

pub struct SqliteStore {
    writer: Mutex<Option<mpsc::Sender<Job>>>,
    readers: Arc<Vec<Mutex<Connection>>>,
    next_reader: AtomicUsize,
}

fn backend(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, msg) = &e
        && f.code == rusqlite::ErrorCode::ConstraintViolation
    {
        let m = msg.as_deref().unwrap_or("");
        if m.contains("UNIQUE") || m.contains("PRIMARY KEY") {
            return StoreError::Conflict(unique_name(m));
        }
    }
    StoreError::Backend(e.to_string())
}

fn unique_name(msg: &str) -> &'static str {
    for (needle, name) in [
        ("regions.slug", "region slug"),
        ("volunteers.region_id, volunteers.phone", "phone"),
        ("volunteers.region_id, volunteers.email", "email"),
        ("operators.username", "username"),
        ("incidents.region_id, incidents.external_id", "external_id"),
        ("api_keys.id", "api key id"),
        ("monitor_units.lorawan_device_id", "lorawan device id"),
        (
            "service_tickets.aed_id, service_tickets.cause",
            "open ticket",
        ),
    ] {
        if msg.contains(needle) {
            return name;
        }
    }
    "unique key"
}

fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn parse_ts(s: &str) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
        })
}

fn opt_ts(s: Option<String>) -> rusqlite::Result<Option<DateTime<Utc>>> {
    s.as_deref().map(parse_ts).transpose()
}

fn json<T: Serialize>(v: &T) -> String {
    // Serializing our own plain data types cannot fail.
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

fn from_json<T: DeserializeOwned>(s: &str) -> rusqlite::Result<T> {
    serde_json::from_str(s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn uuid_col(row: &Row<'_>, i: usize) -> rusqlite::Result<Uuid> {
    let s: String = row.get(i)?;
    Uuid::parse_str(&s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn date_col(s: Option<String>) -> rusqlite::Result<Option<NaiveDate>> {
    s.map(|s| {
        NaiveDate::parse_from_str(&s, "%Y-%m-%d").map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
        })
    })
    .transpose()
}

fn enum_str<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

fn str_enum<T: DeserializeOwned>(s: &str) -> rusqlite::Result<T> {
    from_json(&format!("\"{s}\""))
}

fn open(path: &Path) -> Result<Connection> {
    let c = Connection::open(path).map_err(backend)?;
    c.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000;",
    )
    .map_err(backend)?;
    Ok(c)
}

fn migrate(c: &mut Connection) -> Result<()> {
    c.execute_batch("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
        .map_err(backend)?;
    for (name, sql) in MIGRATIONS {
        let done: bool = c
            .query_row(
                "SELECT 1 FROM schema_migrations WHERE name = ?1",
                [name],
                |_| Ok(true),
            )
            .optional()
            .map_err(backend)?
            .unwrap_or(false);
        if done {
            continue;
        }
        let tx = c.transaction().map_err(backend)?;
        tx.execute_batch(sql).map_err(backend)?;
        tx.execute(
            "INSERT INTO schema_migrations VALUES (?1, ?2)",
            params![name, ts(Utc::now())],
        )
        .map_err(backend)?;
        tx.commit().map_err(backend)?;
        tracing::info!(migration = name, "applied database migration");
    }
    Ok(())
}

fn writer_loop(mut conn: Connection, rx: mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let tx = match conn.transaction() {
            Ok(tx) => tx,
            Err(e) => {
                let msg = e.to_string();
                for job in jobs {
                    // The job is never run; answer it with the error.
                    drop(job);
                    tracing::error!(error = %msg, "could not begin a write transaction");
                }
                continue;
            }
        };
        let mut done: Vec<Completion> = Vec::with_capacity(jobs.len());
        for job in jobs {
            let sp = tx.execute_batch("SAVEPOINT job");
            let (ok, completion) = job(&tx);
            if sp.is_ok() {
                let end = if ok {
                    "RELEASE job"
                } else {
                    "ROLLBACK TO job; RELEASE job"
                };
                if let Err(e) = tx.execute_batch(end) {
                    tracing::error!(error = %e, "savepoint handling failed");
                }
            }
            done.push(completion);
        }
        let committed = tx.commit().map_err(|e| StoreError::Backend(e.to_string()));
        for c in done {
            c(match &committed {
                Ok(()) => Ok(()),
                Err(e) => Err(StoreError::Backend(e.to_string())),
            });
        }
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies migrations.
    pub fn open(path: &Path) -> Result<Self> {
        let mut w = open(path)?;
        migrate(&mut w)?;
        let readers = (0..READERS)
            .map(|_| open(path).map(Mutex::new))
            .collect::<Result<Vec<_>>>()?;
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer_loop(w, rx))
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        Ok(Self {
            writer: Mutex::new(Some(tx)),
            readers: Arc::new(readers),
            next_reader: AtomicUsize::new(0),
        })
    }

    /// Runs `f` on the writer thread inside a transaction shared with other
    /// waiting writes; returns after the commit.
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<T>>();
        let job: Job = Box::new(move |conn| {
            let r = f(conn);
            let ok = r.is_ok();
            let completion: Completion = Box::new(move |commit: Result<()>| {
                let _ = tx.send(commit.and(r));
            });
            (ok, completion)
        });
        {
            let w = self.writer.lock().map_err(|_| StoreError::Closed)?;
            w.as_ref()
                .ok_or(StoreError::Closed)?
                .send(job)
                .map_err(|_| StoreError::Closed)?;
        }
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `f` on one of the reader connections on the blocking pool.
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        let readers = Arc::clone(&self.readers);
        tokio::task::spawn_blocking(move || {
            let c = readers[i].lock().map_err(|_| StoreError::Closed)?;
            f(&c)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("reader task failed: {e}")))?
    }

    /// Stops the writer after the jobs already queued.
    pub fn close(&self) {
        if let Ok(mut w) = self.writer.lock() {
            w.take();
        }
    }
}

/// A row of the `changes` table as a [`Change`]; `None` for a row this
/// version does not know (written by a newer one) or cannot parse.
fn change_of(kind: &str, key: String) -> Option<Change> {
    let uuid = || Uuid::parse_str(&key).ok();
    Some(match kind {
        "v" => Change::Volunteer(VolunteerId(uuid()?)),
        "a" => Change::Aed(AedId(uuid()?)),
        "r" => Change::Region(RegionId(uuid()?)),
        "g" => Change::Graph(RegionId(uuid()?)),
        "u" => Change::Unit(uuid()?),
        "o" => Change::Operator(uuid()?),
        "k" => Change::ApiKey(key),
        "s" => Change::Setting(key),
        _ => return None,
    })
}

/// The `changes` row of a change that is not a row of its own.
fn change_row(c: &Change) -> Option<(&'static str, String)> {
    match c {
        Change::Graph(r) => Some(("g", r.0.to_string())),
        Change::Region(r) => Some(("r", r.0.to_string())),
        Change::Aed(a) => Some(("a", a.0.to_string())),
        Change::Volunteer(v) => Some(("v", v.0.to_string())),
        Change::Unit(u) => Some(("u", u.to_string())),
        Change::Operator(o) => Some(("o", o.to_string())),
        Change::ApiKey(k) => Some(("k", k.clone())),
        Change::Setting(k) => Some(("s", k.clone())),
        _ => None,
    }
}

/// What the feed read after a position.
enum Tail {
    Changes(Vec<(i64, Change)>),
    /// Changes after the position were pruned before they were read; the
    /// newest id now (the reader must reload everything).
    Gap(i64),
}

fn read_changes(c: &Connection, after: i64) -> Result<Tail> {
    let (min, max): (Option<i64>, Option<i64>) = c
        .query_row("SELECT MIN(id), MAX(id) FROM changes", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .map_err(backend)?;
    if let (Some(min), Some(max)) = (min, max)
        && min > after + 1
    {
        return Ok(Tail::Gap(max));
    }
    let mut st = c
        .prepare_cached("SELECT id, kind, key FROM changes WHERE id > ?1 ORDER BY id LIMIT ?2")
        .map_err(backend)?;
    let rows = st
        .query_map(params![after, TAIL_BATCH], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .map_err(backend)?;
    let mut out = Vec::new();
    for row in rows {
        let (id, kind, key) = row.map_err(backend)?;
        match change_of(&kind, key) {
            Some(ch) => out.push((id, ch)),
            None => {
                tracing::warn!(change.id = id, change.kind = %kind, "unknown change in the feed; skipped")
            }
        }
    }
    Ok(Tail::Changes(out))
}

fn region_row(r: &Row<'_>) -> rusqlite::Result<Region> {
    Ok(Region {
        id: RegionId(uuid_col(r, 0)?),
        slug: r.get(1)?,
        name: r.get(2)?,
        timezone: r.get(3)?,
        country: r.get(4)?,
        policy: from_json::<DispatchPolicy>(&r.get::<_, String>(5)?)?,
        created_at: parse_ts(&r.get::<_, String>(6)?)?,
    })
}

fn api_key_row(r: &Row<'_>) -> rusqlite::Result<ApiKey> {
    Ok(ApiKey {
        id: r.get(0)?,
        region_id: RegionId(uuid_col(r, 1)?),
        name: r.get(2)?,
        hash: r.get(3)?,
        created_at: parse_ts(&r.get::<_, String>(4)?)?,
        revoked_at: opt_ts(r.get(5)?)?,
    })
}

fn operator_row(r: &Row<'_>) -> rusqlite::Result<Operator> {
    let role: String = r.get(3)?;
    Ok(Operator {
        id: uuid_col(r, 0)?,
        username: r.get(1)?,
        password_hash: r.get(2)?,
        role: OperatorRole::parse(&role).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                3,
                rusqlite::types::Type::Text,
                "unknown role".into(),
            )
        })?,
        regions: from_json(&r.get::<_, String>(4)?)?,
        created_at: parse_ts(&r.get::<_, String>(5)?)?,
        disabled_at: opt_ts(r.get(6)?)?,
    })
}

const VOLUNTEER_COLS: &str = "id, region_id, name, phone, email, password_hash, language, languages, birth_date, tier, \
     training_kind, training_date, consent_at, verified_at, suspended_at, available, quiet_start, quiet_end, created_at";

fn volunteer_row(r: &Row<'_>) -> rusqlite::Result<Volunteer> {
    let qs: Option<u16> = r.get(16)?;
    let qe: Option<u16> = r.get(17)?;
    Ok(Volunteer {
        id: VolunteerId(uuid_col(r, 0)?),
        region_id: RegionId(uuid_col(r, 1)?),
        name: r.get(2)?,
        phone: r.get(3)?,
        email: r.get(4)?,
        password_hash: r.get(5)?,
        language: r.get(6)?,
        languages: from_json(&r.get::<_, String>(7)?)?,
        birth_date: date_col(Some(r.get(8)?))?.unwrap_or_default(),
        tier: str_enum::<Tier>(&r.get::<_, String>(9)?)?,
        training_kind: r.get(10)?,
        training_date: date_col(r.get(11)?)?,
        consent_at: opt_ts(r.get(12)?)?,
        verified_at: opt_ts(r.get(13)?)?,
        suspended_at: opt_ts(r.get(14)?)?,
        available: r.get(15)?,
        quiet: qs.zip(qe).and_then(|(s, e)| QuietHours::new(s, e)),
        created_at: parse_ts(&r.get::<_, String>(18)?)?,
    })
}

fn volunteer_params(v: &Volunteer) -> Vec<Box<dyn rusqlite::ToSql + Send>> {
    vec![
        Box::new(v.id.to_string()),
        Box::new(v.region_id.to_string()),
        Box::new(v.name.clone()),
        Box::new(v.phone.clone()),
        Box::new(v.email.clone()),
        Box::new(v.password_hash.clone()),
        Box::new(v.language.clone()),
        Box::new(json(&v.languages)),
        Box::new(v.birth_date.format("%Y-%m-%d").to_string()),
        Box::new(enum_str(&v.tier)),
        Box::new(v.training_kind.clone()),
        Box::new(v.training_date.map(|d| d.format("%Y-%m-%d").to_string())),
        Box::new(v.consent_at.map(ts)),
        Box::new(v.verified_at.map(ts)),
        Box::new(v.suspended_at.map(ts)),
        Box::new(v.available),
        Box::new(v.quiet.map(|q| q.start_min)),
        Box::new(v.quiet.map(|q| q.end_min)),
        Box::new(ts(v.created_at)),
    ]
}

const AED_COLS: &str =
    "id, region_id, name, lat, lon, access, opening_hours, readiness, status, details, updated_at";

fn aed_row(r: &Row<'_>) -> rusqlite::Result<Aed> {
    Ok(Aed {
        id: AedId(uuid_col(r, 0)?),
        region_id: RegionId(uuid_col(r, 1)?),
        name: r.get(2)?,
        position: LatLon {
            lat: r.get(3)?,
            lon: r.get(4)?,
        },
        access: str_enum::<AedAccess>(&r.get::<_, String>(5)?)?,
        opening_hours: r.get(6)?,
        readiness: str_enum::<Readiness>(&r.get::<_, String>(7)?)?,
        status: str_enum::<AedStatus>(&r.get::<_, String>(8)?)?,
        details: from_json(&r.get::<_, String>(9)?)?,
        updated_at: parse_ts(&r.get::<_, String>(10)?)?,
    })
}

fn mission_row(r: &Row<'_>) -> rusqlite::Result<StoredMission> {
    Ok(StoredMission {
        region_id: RegionId(uuid_col(r, 0)?),
        mission: from_json::<Mission>(&r.get::<_, String>(1)?)?,
        updated_at: parse_ts(&r.get::<_, String>(2)?)?,
        version: r.get(3)?,
    })
}

/// Who is busy with this mission after the step; refuses a volunteer busy elsewhere.
fn write_busy(c: &Connection, step: &MissionStep) -> Result<()> {
    let id = step.mission.id.to_string();
    if !step.mission.is_live() {
        c.execute("DELETE FROM volunteer_busy WHERE incident_id = ?1", [&id])
            .map_err(backend)?;
        return Ok(());
    }
    for v in &step.free {
        c.execute(
            "DELETE FROM volunteer_busy WHERE volunteer_id = ?1 AND incident_id = ?2",
            params![v.to_string(), id],
        )
        .map_err(backend)?;
    }
    for v in &step.busy {
        c.execute(
            "INSERT INTO volunteer_busy (volunteer_id, incident_id, since) VALUES (?1, ?2, ?3) ON CONFLICT (volunteer_id) DO NOTHING",
            params![v.to_string(), id, ts(step.at)],
        )
        .map_err(backend)?;
        let holder: String = c
            .query_row(
                "SELECT incident_id FROM volunteer_busy WHERE volunteer_id = ?1",
                [v.to_string()],
                |r| r.get(0),
            )
            .map_err(backend)?;
        if holder != id {
            return Err(StoreError::Conflict("volunteer busy"));
        }
    }
    Ok(())
}

fn outbox_row(r: &Row<'_>) -> rusqlite::Result<OutboxItem> {
    let v: Option<String> = r.get(2)?;
    let i: Option<String> = r.get(3)?;
    let rec: Option<String> = r.get(4)?;
    let parse = |s: String| {
        Uuid::parse_str(&s).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
        })
    };
    Ok(OutboxItem {
        id: r.get(0)?,
        dedupe_key: r.get(1)?,
        volunteer: v.map(parse).transpose()?.map(VolunteerId),
        incident: i.map(parse).transpose()?.map(IncidentId),
        recipient: rec.as_deref().map(from_json).transpose()?,
        message: from_json(&r.get::<_, String>(5)?)?,
        created_at: parse_ts(&r.get::<_, String>(6)?)?,
        attempts: r.get(7)?,
    })
}

fn status_str(s: Status) -> &'static str {
    match s {
        Status::Active => "active",
        Status::NotAlerted => "not_alerted",
        Status::Ended => "ended",
        Status::Cancelled => "cancelled",
    }
}

/// Writes the parts of a step other than the incident row itself.
fn write_step_parts(c: &Connection, step: &MissionStep) -> Result<()> {
    let m = &step.mission;
    let id = m.id.to_string();
    {
        let mut up = c
            .prepare_cached(
                "INSERT INTO alerts (incident_id, volunteer_id, state, alerted_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (incident_id, volunteer_id) DO UPDATE SET state = excluded.state",
            )
            .map_err(backend)?;
        for a in &m.alerts {
            up.execute(params![
                id,
                a.volunteer.to_string(),
                enum_str(&a.state),
                ts(a.alerted_at)
            ])
            .map_err(backend)?;
        }
    }
    if !step.events.is_empty() {
        let mut ins = c
            .prepare_cached(
                "INSERT INTO mission_events (incident_id, seq, at, event) VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(backend)?;
        for (seq, e) in &step.events {
            ins.execute(params![id, seq, ts(e.at), json(e)])
                .map_err(backend)?;
        }
    }
    for aed in &step.releases {
        c.execute(
            "DELETE FROM aed_claims WHERE aed_id = ?1 AND incident_id = ?2",
            params![aed.to_string(), id],
        )
        .map_err(backend)?;
    }
    for (aed, v) in &step.claims {
        c.execute(
            "INSERT INTO aed_claims (aed_id, incident_id, volunteer_id, claimed_at) VALUES (?1, ?2, ?3, ?4)",
            params![aed.to_string(), id, v.to_string(), ts(step.at)],
        )
        .map_err(|e| match backend(e) {
            StoreError::Conflict(_) => StoreError::Conflict("aed already claimed"),
            other => other,
        })?;
    }
    write_busy(c, step)?;
    insert_outbox(c, &step.outbox, step.at)
}

fn insert_outbox(c: &Connection, items: &[NewOutbox], now: DateTime<Utc>) -> Result<()> {
    let mut ins = c
        .prepare_cached(
            "INSERT INTO outbox (dedupe_key, volunteer_id, incident_id, recipient, message, created_at, next_attempt_at, status)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending') ON CONFLICT (dedupe_key) DO NOTHING",
        )
        .map_err(backend)?;
    for o in items {
        ins.execute(params![
            o.dedupe_key,
            o.volunteer.map(|v| v.to_string()),
            o.incident.map(|v| v.to_string()),
            o.recipient.as_ref().map(json),
            json(&o.message),
            ts(now),
            ts(o.not_before),
        ])
        .map_err(backend)?;
    }
    Ok(())
}
