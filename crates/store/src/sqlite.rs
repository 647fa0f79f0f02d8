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

#[async_trait]
impl Accounts for SqliteStore {
    async fn create_region(&self, r: &Region) -> Result<()> {
        let r = r.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO regions (id, slug, name, timezone, country, policy, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![r.id.to_string(), r.slug, r.name, r.timezone, r.country, json(&r.policy), ts(r.created_at)],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn regions(&self) -> Result<Vec<Region>> {
        self.read(|c| {
            let mut s = c
                .prepare("SELECT id, slug, name, timezone, country, policy, created_at FROM regions ORDER BY slug")
                .map_err(backend)?;
            let rows = s.query_map([], region_row).map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn update_policy(&self, id: RegionId, policy: &DispatchPolicy) -> Result<()> {
        let p = json(policy);
        self.write(move |c| {
            let n = c
                .execute(
                    "UPDATE regions SET policy = ?1 WHERE id = ?2",
                    params![p, id.to_string()],
                )
                .map_err(backend)?;
            if n == 0 {
                Err(StoreError::NotFound)
            } else {
                Ok(())
            }
        })
        .await
    }

    async fn create_api_key(&self, k: &ApiKey) -> Result<()> {
        let k = k.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO api_keys (id, region_id, name, hash, created_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![k.id, k.region_id.to_string(), k.name, k.hash, ts(k.created_at), k.revoked_at.map(ts)],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn api_key(&self, id: &str) -> Result<Option<ApiKey>> {
        let id = id.to_string();
        self.read(move |c| {
            c.query_row(
                "SELECT id, region_id, name, hash, created_at, revoked_at FROM api_keys WHERE id = ?1",
                [id],
                api_key_row,
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn api_keys(&self, region: RegionId) -> Result<Vec<ApiKey>> {
        self.read(move |c| {
            let mut s = c
                .prepare("SELECT id, region_id, name, hash, created_at, revoked_at FROM api_keys WHERE region_id = ?1 ORDER BY created_at")
                .map_err(backend)?;
            let rows = s.query_map([region.to_string()], api_key_row).map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn revoke_api_key(&self, id: &str, at: DateTime<Utc>) -> Result<()> {
        let id = id.to_string();
        self.write(move |c| {
            let n = c
                .execute(
                    "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?1) WHERE id = ?2",
                    params![ts(at), id],
                )
                .map_err(backend)?;
            if n == 0 {
                Err(StoreError::NotFound)
            } else {
                Ok(())
            }
        })
        .await
    }

    async fn create_operator(&self, o: &Operator) -> Result<()> {
        let o = o.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO operators (id, username, password_hash, role, regions, created_at, disabled_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![o.id.to_string(), o.username, o.password_hash, o.role.as_str(), json(&o.regions), ts(o.created_at), o.disabled_at.map(ts)],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn operator_by_username(&self, username: &str) -> Result<Option<Operator>> {
        let u = username.to_string();
        self.read(move |c| {
            c.query_row(
                "SELECT id, username, password_hash, role, regions, created_at, disabled_at FROM operators WHERE username = ?1",
                [u],
                operator_row,
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn operator(&self, id: Uuid) -> Result<Option<Operator>> {
        self.read(move |c| {
            c.query_row(
                "SELECT id, username, password_hash, role, regions, created_at, disabled_at FROM operators WHERE id = ?1",
                [id.to_string()],
                operator_row,
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn operators(&self) -> Result<Vec<Operator>> {
        self.read(|c| {
            let mut s = c
                .prepare("SELECT id, username, password_hash, role, regions, created_at, disabled_at FROM operators ORDER BY username")
                .map_err(backend)?;
            let rows = s.query_map([], operator_row).map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn create_session(&self, s: &Session) -> Result<()> {
        let s = s.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO sessions (token_hash, kind, subject, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![s.token_hash, enum_str(&s.kind), s.subject.to_string(), ts(s.created_at), ts(s.expires_at)],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn session(&self, token_hash: &str) -> Result<Option<Session>> {
        let h = token_hash.to_string();
        self.read(move |c| {
            c.query_row(
                "SELECT token_hash, kind, subject, created_at, expires_at FROM sessions WHERE token_hash = ?1",
                [h],
                |r| {
                    Ok(Session {
                        token_hash: r.get(0)?,
                        kind: str_enum(&r.get::<_, String>(1)?)?,
                        subject: uuid_col(r, 2)?,
                        created_at: parse_ts(&r.get::<_, String>(3)?)?,
                        expires_at: parse_ts(&r.get::<_, String>(4)?)?,
                    })
                },
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn delete_session(&self, token_hash: &str) -> Result<()> {
        let h = token_hash.to_string();
        self.write(move |c| {
            c.execute("DELETE FROM sessions WHERE token_hash = ?1", [h])
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn delete_sessions_of(&self, subject: Uuid) -> Result<()> {
        self.write(move |c| {
            c.execute(
                "DELETE FROM sessions WHERE subject = ?1",
                [subject.to_string()],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn audit(&self, e: &AuditEntry) -> Result<()> {
        let e = e.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO audit (at, actor, action, region_id, target, details) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![ts(e.at), e.actor, e.action, e.region_id.map(|r| r.to_string()), e.target, e.details.to_string()],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn audit_log(&self, region: Option<RegionId>, limit: u32) -> Result<Vec<AuditEntry>> {
        self.read(move |c| {
            let mut s = c
                .prepare(
                    "SELECT at, actor, action, region_id, target, details FROM audit
                     WHERE ?1 IS NULL OR region_id = ?1 ORDER BY id DESC LIMIT ?2",
                )
                .map_err(backend)?;
            let rows = s
                .query_map(params![region.map(|r| r.to_string()), limit], |r| {
                    let reg: Option<String> = r.get(3)?;
                    Ok(AuditEntry {
                        at: parse_ts(&r.get::<_, String>(0)?)?,
                        actor: r.get(1)?,
                        action: r.get(2)?,
                        region_id: reg.and_then(|s| s.parse().ok()),
                        target: r.get(4)?,
                        details: from_json(&r.get::<_, String>(5)?)?,
                    })
                })
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn setting(&self, key: &str) -> Result<Option<String>> {
        let k = key.to_string();
        self.read(move |c| {
            c.query_row("SELECT value FROM settings WHERE key = ?1", [k], |r| {
                r.get(0)
            })
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        let (k, v) = (key.to_string(), value.to_string());
        self.write(move |c| {
            c.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![k, v],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl Volunteers for SqliteStore {
    async fn create_volunteer(&self, v: &Volunteer) -> Result<()> {
        let p = volunteer_params(v);
        self.write(move |c| {
            let sql = format!("INSERT INTO volunteers ({VOLUNTEER_COLS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19)");
            c.execute(&sql, rusqlite::params_from_iter(p.iter().map(|b| b.as_ref() as &dyn rusqlite::ToSql)))
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn update_volunteer(&self, v: &Volunteer) -> Result<()> {
        let p = volunteer_params(v);
        self.write(move |c| {
            let n = c
                .execute(
                    "UPDATE volunteers SET region_id=?2, name=?3, phone=?4, email=?5, password_hash=?6, language=?7, languages=?8,
                     birth_date=?9, tier=?10, training_kind=?11, training_date=?12, consent_at=?13, verified_at=?14,
                     suspended_at=?15, available=?16, quiet_start=?17, quiet_end=?18, created_at=?19 WHERE id=?1",
                    rusqlite::params_from_iter(p.iter().map(|b| b.as_ref() as &dyn rusqlite::ToSql)),
                )
                .map_err(backend)?;
            if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
        })
        .await
    }

    async fn volunteer(&self, id: VolunteerId) -> Result<Option<Volunteer>> {
        self.read(move |c| {
            c.query_row(
                &format!("SELECT {VOLUNTEER_COLS} FROM volunteers WHERE id = ?1"),
                [id.to_string()],
                volunteer_row,
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn volunteer_by_contact(
        &self,
        region: RegionId,
        phone: Option<&str>,
        email: Option<&str>,
    ) -> Result<Option<Volunteer>> {
        let (p, e) = (phone.map(str::to_string), email.map(str::to_string));
        self.read(move |c| {
            c.query_row(
                &format!(
                    "SELECT {VOLUNTEER_COLS} FROM volunteers WHERE region_id = ?1 AND ((?2 IS NOT NULL AND phone = ?2) OR (?3 IS NOT NULL AND email = ?3)) LIMIT 1"
                ),
                params![region.to_string(), p, e],
                volunteer_row,
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn volunteers(
        &self,
        region: Option<RegionId>,
        query: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Volunteer>> {
        let q = query.map(|q| format!("%{}%", q.replace(['%', '_'], "")));
        self.read(move |c| {
            let mut s = c
                .prepare(&format!(
                    "SELECT {VOLUNTEER_COLS} FROM volunteers WHERE (?1 IS NULL OR region_id = ?1)
                     AND (?2 IS NULL OR name LIKE ?2 OR phone LIKE ?2 OR email LIKE ?2) ORDER BY name LIMIT ?3"
                ))
                .map_err(backend)?;
            let rows = s.query_map(params![region.map(|r| r.to_string()), q, limit], volunteer_row).map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn delete_volunteer(&self, id: VolunteerId) -> Result<()> {
        self.write(move |c| {
            c.execute("DELETE FROM sessions WHERE subject = ?1", [id.to_string()])
                .map_err(backend)?;
            c.execute("DELETE FROM volunteers WHERE id = ?1", [id.to_string()])
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn set_verification(
        &self,
        id: VolunteerId,
        code_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        let h = code_hash.to_string();
        self.write(move |c| {
            c.execute(
                "INSERT INTO verification_codes (volunteer_id, code_hash, expires_at, attempts) VALUES (?1, ?2, ?3, 0)
                 ON CONFLICT (volunteer_id) DO UPDATE SET code_hash = excluded.code_hash, expires_at = excluded.expires_at, attempts = 0",
                params![id.to_string(), h, ts(expires_at)],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn verification_attempt(
        &self,
        id: VolunteerId,
    ) -> Result<Option<(String, DateTime<Utc>, u32)>> {
        self.write(move |c| {
            c.execute("UPDATE verification_codes SET attempts = attempts + 1 WHERE volunteer_id = ?1", [id.to_string()])
                .map_err(backend)?;
            c.query_row(
                "SELECT code_hash, expires_at, attempts FROM verification_codes WHERE volunteer_id = ?1",
                [id.to_string()],
                |r| Ok((r.get(0)?, parse_ts(&r.get::<_, String>(1)?)?, r.get(2)?)),
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn clear_verification(&self, id: VolunteerId) -> Result<()> {
        self.write(move |c| {
            c.execute(
                "DELETE FROM verification_codes WHERE volunteer_id = ?1",
                [id.to_string()],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn save_positions(&self, fixes: &[PositionFix]) -> Result<()> {
        let fixes = fixes.to_vec();
        self.write(move |c| {
            let mut s = c
                .prepare_cached(
                    "INSERT INTO positions (volunteer_id, lat, lon, at_unix) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (volunteer_id) DO UPDATE SET lat = excluded.lat, lon = excluded.lon, at_unix = excluded.at_unix
                     WHERE excluded.at_unix >= positions.at_unix",
                )
                .map_err(backend)?;
            for f in &fixes {
                s.execute(params![f.volunteer.to_string(), f.position.lat, f.position.lon, f.at_unix]).map_err(backend)?;
            }
            Ok(())
        })
        .await
    }

    async fn delete_position(&self, id: VolunteerId) -> Result<()> {
        self.write(move |c| {
            c.execute(
                "DELETE FROM positions WHERE volunteer_id = ?1",
                [id.to_string()],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn positions(&self) -> Result<Vec<PositionFix>> {
        self.read(|c| {
            let mut s = c
                .prepare("SELECT volunteer_id, lat, lon, at_unix FROM positions")
                .map_err(backend)?;
            let rows = s
                .query_map([], |r| {
                    Ok(PositionFix {
                        volunteer: VolunteerId(uuid_col(r, 0)?),
                        position: LatLon {
                            lat: r.get(1)?,
                            lon: r.get(2)?,
                        },
                        at_unix: r.get(3)?,
                    })
                })
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn purge_positions(&self, before_unix: u32) -> Result<Vec<VolunteerId>> {
        self.write(move |c| {
            let mut s = c
                .prepare("DELETE FROM positions WHERE at_unix < ?1 RETURNING volunteer_id")
                .map_err(backend)?;
            let rows = s
                .query_map([before_unix], |r| Ok(VolunteerId(uuid_col(r, 0)?)))
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn add_device(&self, d: &Device) -> Result<()> {
        let d = d.clone();
        self.write(move |c| {
            // The same endpoint registered again replaces the old registration.
            let rec = json(&d.recipient);
            c.execute("DELETE FROM devices WHERE volunteer_id = ?1 AND recipient = ?2", params![d.volunteer.to_string(), rec])
                .map_err(backend)?;
            c.execute(
                "INSERT INTO devices (id, volunteer_id, recipient, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![d.id.to_string(), d.volunteer.to_string(), rec, ts(d.created_at)],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn devices(&self, volunteer: VolunteerId) -> Result<Vec<Device>> {
        self.read(move |c| {
            let mut s = c
                .prepare("SELECT id, volunteer_id, recipient, created_at FROM devices WHERE volunteer_id = ?1 ORDER BY created_at")
                .map_err(backend)?;
            let rows = s
                .query_map([volunteer.to_string()], |r| {
                    Ok(Device {
                        id: uuid_col(r, 0)?,
                        volunteer: VolunteerId(uuid_col(r, 1)?),
                        recipient: from_json(&r.get::<_, String>(2)?)?,
                        created_at: parse_ts(&r.get::<_, String>(3)?)?,
                    })
                })
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn delete_device(&self, volunteer: VolunteerId, id: Uuid) -> Result<bool> {
        self.write(move |c| {
            let n = c
                .execute(
                    "DELETE FROM devices WHERE id = ?1 AND volunteer_id = ?2",
                    params![id.to_string(), volunteer.to_string()],
                )
                .map_err(backend)?;
            Ok(n > 0)
        })
        .await
    }
}

#[async_trait]
impl Missions for SqliteStore {
    async fn claims(&self) -> Result<Vec<Claim>> {
        self.read(|c| {
            let mut s = c
                .prepare("SELECT aed_id, incident_id, volunteer_id FROM aed_claims")
                .map_err(backend)?;
            let rows = s
                .query_map([], |r| {
                    Ok(Claim {
                        aed: AedId(uuid_col(r, 0)?),
                        incident: IncidentId(uuid_col(r, 1)?),
                        volunteer: VolunteerId(uuid_col(r, 2)?),
                    })
                })
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn create_incident(&self, step: &MissionStep) -> Result<Created> {
        let step = step.clone();
        self.write(move |c| {
            let m = &step.mission;
            let existing: Option<String> = c
                .query_row(
                    "SELECT id FROM incidents WHERE region_id = ?1 AND external_id = ?2",
                    params![step.region_id.to_string(), m.incident.external_id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(backend)?;
            if let Some(id) = existing {
                let id = id.parse().map_err(|_| StoreError::Corrupt("incident id".into()))?;
                return Ok(Created::Existing(id));
            }
            c.execute(
                "INSERT INTO incidents (id, region_id, external_id, status, state, next_deadline, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
                params![
                    m.id.to_string(),
                    step.region_id.to_string(),
                    m.incident.external_id,
                    status_str(m.status),
                    json(m),
                    m.next_deadline().map(ts),
                    ts(step.at)
                ],
            )
            .map_err(backend)?;
            write_step_parts(c, &step)?;
            Ok(Created::New)
        })
        .await
    }

    async fn commit_step(&self, step: &MissionStep) -> Result<()> {
        let step = step.clone();
        self.write(move |c| {
            let m = &step.mission;
            let n = c
                .execute(
                    "UPDATE incidents SET status = ?2, state = ?3, next_deadline = ?4, updated_at = ?5, version = version + 1
                     WHERE id = ?1 AND version = ?6",
                    params![m.id.to_string(), status_str(m.status), json(m), m.next_deadline().map(ts), ts(step.at), step.base_version],
                )
                .map_err(backend)?;
            if n == 0 {
                let exists = c.query_row("SELECT 1 FROM incidents WHERE id = ?1", [m.id.to_string()], |_| Ok(())).optional().map_err(backend)?;
                return Err(if exists.is_some() { StoreError::Stale } else { StoreError::NotFound });
            }
            write_step_parts(c, &step)
        })
        .await
    }

    async fn mission(&self, id: IncidentId) -> Result<Option<StoredMission>> {
        self.read(move |c| {
            c.query_row(
                "SELECT region_id, state, updated_at, version FROM incidents WHERE id = ?1",
                [id.to_string()],
                mission_row,
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn live_missions(&self) -> Result<Vec<StoredMission>> {
        self.read(|c| {
            let mut s = c
                .prepare("SELECT region_id, state, updated_at, version FROM incidents WHERE status = 'active' ORDER BY created_at")
                .map_err(backend)?;
            let rows = s.query_map([], mission_row).map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn missions(
        &self,
        region: RegionId,
        live_only: bool,
        limit: u32,
    ) -> Result<Vec<StoredMission>> {
        self.read(move |c| {
            let mut s = c
                .prepare(
                    "SELECT region_id, state, updated_at, version FROM incidents WHERE region_id = ?1 AND (?2 = 0 OR status = 'active')
                     ORDER BY created_at DESC LIMIT ?3",
                )
                .map_err(backend)?;
            let rows = s.query_map(params![region.to_string(), live_only, limit], mission_row).map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn events(&self, id: IncidentId, after_seq: u64) -> Result<Vec<(u64, Event)>> {
        self.read(move |c| {
            let mut s = c
                .prepare("SELECT seq, event FROM mission_events WHERE incident_id = ?1 AND seq > ?2 ORDER BY seq")
                .map_err(backend)?;
            let rows = s
                .query_map(params![id.to_string(), after_seq], |r| Ok((r.get(0)?, from_json(&r.get::<_, String>(1)?)?)))
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn alerts_of(&self, volunteer: VolunteerId, limit: u32) -> Result<Vec<IncidentId>> {
        self.read(move |c| {
            let mut s = c
                .prepare("SELECT incident_id FROM alerts WHERE volunteer_id = ?1 ORDER BY alerted_at DESC LIMIT ?2")
                .map_err(backend)?;
            let rows = s.query_map(params![volunteer.to_string(), limit], |r| Ok(IncidentId(uuid_col(r, 0)?))).map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn save_survey(
        &self,
        incident: IncidentId,
        volunteer: VolunteerId,
        answers: &serde_json::Value,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let a = answers.to_string();
        self.write(move |c| {
            c.execute(
                "INSERT INTO surveys (incident_id, volunteer_id, answers, at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (incident_id, volunteer_id) DO UPDATE SET answers = excluded.answers, at = excluded.at",
                params![incident.to_string(), volunteer.to_string(), a, ts(at)],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn integration(&self, region: RegionId) -> Result<Option<serde_json::Value>> {
        self.read(move |c| {
            let s: Option<String> = c
                .query_row(
                    "SELECT settings FROM region_integrations WHERE region_id = ?1",
                    [region.to_string()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(backend)?;
            s.map(|s| from_json(&s)).transpose().map_err(backend)
        })
        .await
    }

    async fn set_integration(
        &self,
        region: RegionId,
        settings: &serde_json::Value,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let v = settings.to_string();
        self.write(move |c| {
            c.execute(
                "INSERT INTO region_integrations (region_id, settings, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (region_id) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at",
                params![region.to_string(), v, ts(at)],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn integrations(&self) -> Result<Vec<(RegionId, serde_json::Value)>> {
        self.read(|c| {
            let mut s = c
                .prepare("SELECT region_id, settings FROM region_integrations ORDER BY region_id")
                .map_err(backend)?;
            let rows = s
                .query_map([], |r| {
                    Ok((
                        RegionId(uuid_col(r, 0)?),
                        from_json(&r.get::<_, String>(1)?)?,
                    ))
                })
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn incident_by_external_id(
        &self,
        region: RegionId,
        external_id: &str,
    ) -> Result<Option<IncidentId>> {
        let e = external_id.to_string();
        self.read(move |c| {
            c.query_row(
                "SELECT id FROM incidents WHERE region_id = ?1 AND external_id = ?2",
                params![region.to_string(), e],
                |r| Ok(IncidentId(uuid_col(r, 0)?)),
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn cad_message(&self, region: RegionId, key: &str) -> Result<Option<CadMessage>> {
        let k = key.to_string();
        self.read(move |c| {
            c.query_row(
                "SELECT region_id, key, incident_id, kind, source_at, received_at FROM cad_messages WHERE region_id = ?1 AND key = ?2",
                params![region.to_string(), k],
                |r| {
                    Ok(CadMessage {
                        region_id: RegionId(uuid_col(r, 0)?),
                        key: r.get(1)?,
                        incident: IncidentId(uuid_col(r, 2)?),
                        kind: r.get(3)?,
                        source_at: parse_ts(&r.get::<_, String>(4)?)?,
                        received_at: parse_ts(&r.get::<_, String>(5)?)?,
                    })
                },
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn record_cad_message(&self, m: &CadMessage) -> Result<()> {
        let m = m.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO cad_messages (region_id, key, incident_id, kind, source_at, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (region_id, key) DO UPDATE SET incident_id = excluded.incident_id, kind = excluded.kind,
                   source_at = excluded.source_at, received_at = excluded.received_at",
                params![m.region_id.to_string(), m.key, m.incident.to_string(), m.kind, ts(m.source_at), ts(m.received_at)],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn cad_latest(&self, incident: IncidentId) -> Result<Option<DateTime<Utc>>> {
        self.read(move |c| {
            let s: Option<String> = c
                .query_row(
                    "SELECT MAX(source_at) FROM cad_messages WHERE incident_id = ?1",
                    [incident.to_string()],
                    |r| r.get(0),
                )
                .map_err(backend)?;
            opt_ts(s).map_err(backend)
        })
        .await
    }

    async fn event_log(
        &self,
        region: RegionId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<LoggedEvent>> {
        self.read(move |c| {
            // mission_events is a rowid table written only by the single writer
            // thread and never deleted from: its rowid is the commit order.
            let mut s = c
                .prepare(
                    "SELECT e.rowid, i.region_id, e.incident_id, e.seq, e.event FROM mission_events e
                     JOIN incidents i ON i.id = e.incident_id
                     WHERE e.rowid > ?1 AND i.region_id = ?2 ORDER BY e.rowid LIMIT ?3",
                )
                .map_err(backend)?;
            let rows = s
                .query_map(params![after, region.to_string(), limit], |r| {
                    Ok(LoggedEvent {
                        pos: r.get(0)?,
                        region_id: RegionId(uuid_col(r, 1)?),
                        incident: IncidentId(uuid_col(r, 2)?),
                        seq: r.get(3)?,
                        event: from_json(&r.get::<_, String>(4)?)?,
                    })
                })
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn event_log_head(&self) -> Result<i64> {
        self.read(|c| {
            c.query_row(
                "SELECT COALESCE(MAX(rowid), 0) FROM mission_events",
                [],
                |r| r.get(0),
            )
            .map_err(backend)
        })
        .await
    }

    async fn webhook_cursor(&self, region: RegionId) -> Result<Option<WebhookCursor>> {
        self.read(move |c| {
            c.query_row(
                "SELECT region_id, last_pos, attempts, next_attempt_at, last_error, delivered, skipped, updated_at
                 FROM webhook_cursors WHERE region_id = ?1",
                [region.to_string()],
                |r| {
                    Ok(WebhookCursor {
                        region_id: RegionId(uuid_col(r, 0)?),
                        last_pos: r.get(1)?,
                        attempts: r.get(2)?,
                        next_attempt_at: opt_ts(r.get(3)?)?,
                        last_error: r.get(4)?,
                        delivered: r.get(5)?,
                        skipped: r.get(6)?,
                        updated_at: parse_ts(&r.get::<_, String>(7)?)?,
                    })
                },
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn save_webhook_cursor(&self, w: &WebhookCursor) -> Result<()> {
        let w = w.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO webhook_cursors (region_id, last_pos, attempts, next_attempt_at, last_error, delivered, skipped, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (region_id) DO UPDATE SET last_pos = excluded.last_pos, attempts = excluded.attempts,
                   next_attempt_at = excluded.next_attempt_at, last_error = excluded.last_error,
                   delivered = excluded.delivered, skipped = excluded.skipped, updated_at = excluded.updated_at",
                params![
                    w.region_id.to_string(),
                    w.last_pos,
                    w.attempts,
                    w.next_attempt_at.map(ts),
                    w.last_error,
                    w.delivered,
                    w.skipped,
                    ts(w.updated_at)
                ],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn live_mission_ids(&self) -> Result<Vec<IncidentId>> {
        self.read(|c| {
            let mut s = c
                .prepare("SELECT id FROM incidents WHERE status = 'active'")
                .map_err(backend)?;
            let rows = s
                .query_map([], |r| Ok(IncidentId(uuid_col(r, 0)?)))
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn busy(&self) -> Result<Vec<(VolunteerId, IncidentId)>> {
        self.read(|c| {
            let mut s = c
                .prepare("SELECT volunteer_id, incident_id FROM volunteer_busy ORDER BY since")
                .map_err(backend)?;
            let rows = s
                .query_map([], |r| {
                    Ok((VolunteerId(uuid_col(r, 0)?), IncidentId(uuid_col(r, 1)?)))
                })
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }
}

#[async_trait]
impl OutboxStore for SqliteStore {
    async fn enqueue(&self, items: &[NewOutbox]) -> Result<()> {
        let items = items.to_vec();
        self.write(move |c| insert_outbox(c, &items, Utc::now()))
            .await
    }

    async fn outbox_due(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<OutboxItem>> {
        self.read(move |c| {
            let mut s = c
                .prepare(
                    "SELECT id, dedupe_key, volunteer_id, incident_id, recipient, message, created_at, attempts FROM outbox
                     WHERE status = 'pending' AND next_attempt_at <= ?1 AND (claimed_until IS NULL OR claimed_until <= ?1)
                     ORDER BY next_attempt_at, id LIMIT ?2",
                )
                .map_err(backend)?;
            let rows = s.query_map(params![ts(now), limit], outbox_row).map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn outbox_claim(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        limit: u32,
        hold: chrono::Duration,
    ) -> Result<Vec<OutboxItem>> {
        let holder = holder.to_string();
        self.write(move |c| {
            let mut s = c
                .prepare_cached(
                    "UPDATE outbox SET claimed_by = ?3, claimed_until = ?4 WHERE id IN (
                         SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= ?1
                         AND (claimed_until IS NULL OR claimed_until <= ?1) ORDER BY next_attempt_at, id LIMIT ?2)
                     RETURNING id, dedupe_key, volunteer_id, incident_id, recipient, message, created_at, attempts",
                )
                .map_err(backend)?;
            let rows = s.query_map(params![ts(now), limit, holder, ts(now + hold)], outbox_row).map_err(backend)?;
            let mut items = rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)?;
            items.sort_by_key(|i| i.id);
            Ok(items)
        })
        .await
    }

    async fn outbox_sent(&self, id: i64, at: DateTime<Utc>) -> Result<()> {
        self.write(move |c| {
            c.execute(
                "UPDATE outbox SET status = 'sent', sent_at = ?2, attempts = attempts + 1, last_error = NULL, claimed_until = NULL WHERE id = ?1",
                params![id, ts(at)],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn outbox_retry(&self, id: i64, next_at: DateTime<Utc>, error: &str) -> Result<()> {
        let e = error.to_string();
        self.write(move |c| {
            c.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3, claimed_until = NULL WHERE id = ?1",
                params![id, ts(next_at), e],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn outbox_dead(&self, id: i64, error: &str) -> Result<()> {
        let e = error.to_string();
        self.write(move |c| {
            c.execute(
                "UPDATE outbox SET status = 'dead', attempts = attempts + 1, last_error = ?2, claimed_until = NULL WHERE id = ?1",
                params![id, e],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn outbox_next_due(&self) -> Result<Option<DateTime<Utc>>> {
        self.read(|c| {
            let s: Option<String> = c
                .query_row("SELECT MIN(MAX(next_attempt_at, COALESCE(claimed_until, ''))) FROM outbox WHERE status = 'pending'", [], |r| r.get(0))
                .map_err(backend)?;
            opt_ts(s).map_err(backend)
        })
        .await
    }

    async fn outbox_stats(&self) -> Result<OutboxStats> {
        self.read(|c| {
            c.query_row(
                "SELECT COALESCE(SUM(status='pending'),0), COALESCE(SUM(status='sent'),0), COALESCE(SUM(status='dead'),0) FROM outbox",
                [],
                |r| Ok(OutboxStats { pending: r.get(0)?, sent: r.get(1)?, dead: r.get(2)? }),
            )
            .map_err(backend)
        })
        .await
    }

    async fn outbox_sent_keys(&self, incident: IncidentId) -> Result<Vec<String>> {
        self.read(move |c| {
            let mut s = c
                .prepare("SELECT dedupe_key FROM outbox WHERE incident_id = ?1 AND status = 'sent' ORDER BY id")
                .map_err(backend)?;
            let rows = s.query_map([incident.to_string()], |r| r.get(0)).map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }
}

#[async_trait]
impl Registry for SqliteStore {
    async fn upsert_aed(&self, a: &Aed) -> Result<()> {
        let a = a.clone();
        self.write(move |c| {
            c.execute(
                &format!(
                    "INSERT INTO aeds ({AED_COLS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)
                     ON CONFLICT (id) DO UPDATE SET region_id=excluded.region_id, name=excluded.name, lat=excluded.lat, lon=excluded.lon,
                     access=excluded.access, opening_hours=excluded.opening_hours, readiness=excluded.readiness,
                     status=excluded.status, details=excluded.details, updated_at=excluded.updated_at"
                ),
                params![
                    a.id.to_string(),
                    a.region_id.to_string(),
                    a.name,
                    a.position.lat,
                    a.position.lon,
                    enum_str(&a.access),
                    a.opening_hours,
                    enum_str(&a.readiness),
                    enum_str(&a.status),
                    json(&a.details),
                    ts(a.updated_at)
                ],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn aeds(&self, region: Option<RegionId>) -> Result<Vec<Aed>> {
        self.read(move |c| {
            let mut s = c
                .prepare(&format!(
                    "SELECT {AED_COLS} FROM aeds WHERE ?1 IS NULL OR region_id = ?1 ORDER BY id"
                ))
                .map_err(backend)?;
            let rows = s
                .query_map([region.map(|r| r.to_string())], aed_row)
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn aed(&self, id: AedId) -> Result<Option<Aed>> {
        self.read(move |c| {
            c.query_row(
                &format!("SELECT {AED_COLS} FROM aeds WHERE id = ?1"),
                [id.to_string()],
                aed_row,
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn upsert_aeds(&self, aeds: &[Aed]) -> Result<()> {
        let aeds = aeds.to_vec();
        self.write(move |c| {
            let mut s = c
                .prepare(&format!(
                    "INSERT INTO aeds ({AED_COLS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)
                     ON CONFLICT (id) DO UPDATE SET region_id=excluded.region_id, name=excluded.name, lat=excluded.lat, lon=excluded.lon,
                     access=excluded.access, opening_hours=excluded.opening_hours, readiness=excluded.readiness,
                     status=excluded.status, details=excluded.details, updated_at=excluded.updated_at"
                ))
                .map_err(backend)?;
            for a in &aeds {
                s.execute(params![
                    a.id.to_string(),
                    a.region_id.to_string(),
                    a.name,
                    a.position.lat,
                    a.position.lon,
                    enum_str(&a.access),
                    a.opening_hours,
                    enum_str(&a.readiness),
                    enum_str(&a.status),
                    json(&a.details),
                    ts(a.updated_at)
                ])
                .map_err(backend)?;
            }
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl Monitoring for SqliteStore {
    async fn save_unit(&self, u: &MonitorUnit) -> Result<()> {
        let u = u.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO monitor_units (id, region_id, aed_id, lorawan_device_id, data) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (id) DO UPDATE SET region_id = excluded.region_id, aed_id = excluded.aed_id,
                 lorawan_device_id = excluded.lorawan_device_id, data = excluded.data",
                params![
                    u.id.to_string(),
                    u.region_id.to_string(),
                    u.aed_id.map(|a| a.to_string()),
                    u.lorawan.as_ref().map(|l| l.device_id.clone()),
                    json(&u)
                ],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn units(&self) -> Result<Vec<MonitorUnit>> {
        self.read(|c| {
            let mut s = c
                .prepare("SELECT data FROM monitor_units ORDER BY id")
                .map_err(backend)?;
            let rows = s
                .query_map([], |r| from_json(&r.get::<_, String>(0)?))
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn save_unit_states(
        &self,
        states: &[(Uuid, serde_json::Value)],
        at: DateTime<Utc>,
    ) -> Result<()> {
        let states = states.to_vec();
        self.write(move |c| {
            let mut up = c
                .prepare_cached("UPDATE monitor_units SET state = ?2, state_at = ?3 WHERE id = ?1")
                .map_err(backend)?;
            for (id, st) in &states {
                up.execute(params![id.to_string(), st.to_string(), ts(at)])
                    .map_err(backend)?;
            }
            Ok(())
        })
        .await
    }

    async fn unit_states(&self) -> Result<Vec<(Uuid, serde_json::Value)>> {
        self.read(|c| {
            let mut s = c
                .prepare("SELECT id, state FROM monitor_units WHERE state IS NOT NULL")
                .map_err(backend)?;
            let rows = s
                .query_map([], |r| {
                    Ok((uuid_col(r, 0)?, from_json(&r.get::<_, String>(1)?)?))
                })
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn commit_monitor(&self, w: &MonitorWrite) -> Result<()> {
        let w = w.clone();
        self.write(move |c| {
            if let Some(r) = &w.readiness {
                c.execute(
                    "UPDATE aeds SET readiness = ?2, updated_at = ?3 WHERE id = ?1",
                    params![r.aed_id.to_string(), enum_str(&r.readiness), ts(r.at)],
                )
                .map_err(backend)?;
                c.execute(
                    "INSERT INTO readiness_history (aed_id, at, readiness, causes) VALUES (?1, ?2, ?3, ?4)",
                    params![r.aed_id.to_string(), ts(r.at), enum_str(&r.readiness), json(&r.causes)],
                )
                .map_err(backend)?;
            }
            if let Some((id, st)) = &w.unit_state {
                c.execute("UPDATE monitor_units SET state = ?2, state_at = ?3 WHERE id = ?1", params![id.to_string(), st.to_string(), ts(w.at)])
                    .map_err(backend)?;
            }
            let mut up = c
                .prepare_cached(
                    "INSERT INTO service_tickets (id, region_id, aed_id, cause, open, opened_at, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (id) DO UPDATE SET open = excluded.open, data = excluded.data",
                )
                .map_err(backend)?;
            for t in &w.tickets {
                up.execute(params![
                    t.id.to_string(),
                    t.region_id.to_string(),
                    t.aed_id.to_string(),
                    t.cause,
                    t.state != TicketState::Resolved,
                    ts(t.opened_at),
                    json(t)
                ])
                .map_err(backend)?;
            }
            insert_outbox(c, &w.outbox, w.at)
        })
        .await
    }

    async fn tickets(
        &self,
        region: Option<RegionId>,
        aed: Option<AedId>,
        open_only: bool,
        limit: u32,
    ) -> Result<Vec<Ticket>> {
        self.read(move |c| {
            let mut s = c
                .prepare(
                    "SELECT data FROM service_tickets WHERE (?1 IS NULL OR region_id = ?1) AND (?2 IS NULL OR aed_id = ?2)
                     AND (?3 = 0 OR open = 1) ORDER BY opened_at DESC, id LIMIT ?4",
                )
                .map_err(backend)?;
            let rows = s
                .query_map(params![region.map(|r| r.to_string()), aed.map(|a| a.to_string()), open_only, limit], |r| {
                    from_json(&r.get::<_, String>(0)?)
                })
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn ticket(&self, id: Uuid) -> Result<Option<Ticket>> {
        self.read(move |c| {
            c.query_row(
                "SELECT data FROM service_tickets WHERE id = ?1",
                [id.to_string()],
                |r| from_json(&r.get::<_, String>(0)?),
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn readiness_history(&self, aed: AedId, limit: u32) -> Result<Vec<ReadinessRecord>> {
        self.read(move |c| {
            let mut s = c
                .prepare("SELECT at, readiness, causes FROM readiness_history WHERE aed_id = ?1 ORDER BY id DESC LIMIT ?2")
                .map_err(backend)?;
            let rows = s
                .query_map(params![aed.to_string(), limit], |r| {
                    Ok(ReadinessRecord {
                        aed_id: aed,
                        at: parse_ts(&r.get::<_, String>(0)?)?,
                        readiness: str_enum(&r.get::<_, String>(1)?)?,
                        causes: from_json(&r.get::<_, String>(2)?)?,
                    })
                })
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn save_telemetry(&self, buckets: &[TelemetryBucket]) -> Result<()> {
        let buckets = buckets.to_vec();
        self.write(move |c| {
            let mut up = c
                .prepare_cached(
                    "INSERT INTO telemetry_buckets (unit_id, start, data) VALUES (?1, ?2, ?3)
                     ON CONFLICT (unit_id, start) DO UPDATE SET data = excluded.data",
                )
                .map_err(backend)?;
            for b in &buckets {
                up.execute(params![b.unit_id.to_string(), ts(b.start), json(b)])
                    .map_err(backend)?;
            }
            Ok(())
        })
        .await
    }

    async fn purge_telemetry(&self, before: DateTime<Utc>) -> Result<u64> {
        self.write(move |c| {
            c.execute(
                "DELETE FROM telemetry_buckets WHERE start < ?1",
                [ts(before)],
            )
            .map(|n| n as u64)
            .map_err(backend)
        })
        .await
    }

    async fn telemetry(
        &self,
        unit: Uuid,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<TelemetryBucket>> {
        self.read(move |c| {
            let mut s = c
                .prepare("SELECT data FROM telemetry_buckets WHERE unit_id = ?1 AND start >= ?2 ORDER BY start LIMIT ?3")
                .map_err(backend)?;
            let rows = s.query_map(params![unit.to_string(), ts(since), limit], |r| from_json(&r.get::<_, String>(0)?)).map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }
}

#[async_trait]
impl Cluster for SqliteStore {
    async fn acquire_leases(
        &self,
        holder: &str,
        names: &[String],
        ttl: std::time::Duration,
    ) -> Result<Vec<Lease>> {
        let (holder, names) = (holder.to_string(), names.to_vec());
        let ttl = chrono::Duration::from_std(ttl)
            .map_err(|_| StoreError::Backend("lease time out of range".into()))?;
        self.write(move |c| {
            let now = Utc::now();
            let mut up = c
                .prepare_cached(
                    "INSERT INTO leases (name, holder, epoch, expires_at) VALUES (?1, ?2, 1, ?3)
                     ON CONFLICT (name) DO UPDATE SET
                         epoch = CASE WHEN leases.holder = excluded.holder THEN leases.epoch ELSE leases.epoch + 1 END,
                         holder = excluded.holder, expires_at = excluded.expires_at
                     WHERE leases.holder = excluded.holder OR leases.expires_at <= ?4
                     RETURNING name, epoch",
                )
                .map_err(backend)?;
            let mut held = Vec::new();
            for n in &names {
                if let Some(l) = up
                    .query_row(params![n, holder, ts(now + ttl), ts(now)], |r| Ok(Lease { name: r.get(0)?, epoch: r.get(1)? }))
                    .optional()
                    .map_err(backend)?
                {
                    held.push(l);
                }
            }
            Ok(held)
        })
        .await
    }

    async fn release_leases(&self, holder: &str, names: &[String]) -> Result<()> {
        let (holder, names) = (holder.to_string(), names.to_vec());
        self.write(move |c| {
            for n in &names {
                c.execute(
                    "DELETE FROM leases WHERE name = ?1 AND holder = ?2",
                    params![n, holder],
                )
                .map_err(backend)?;
            }
            Ok(())
        })
        .await
    }

    async fn changes(&self) -> Result<Option<tokio::sync::mpsc::Receiver<Change>>> {
        // From the newest change now: whoever subscribes loads the state
        // afterwards, so nothing committed meanwhile is missed (a change
        // applied twice is harmless).
        let mut after: i64 = self
            .read(|c| {
                c.query_row("SELECT COALESCE(MAX(id), 0) FROM changes", [], |r| r.get(0))
                    .map_err(backend)
            })
            .await?;
        let (tx, rx) = tokio::sync::mpsc::channel(4_096);
        let readers = Arc::clone(&self.readers);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(TAIL_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if tx.is_closed() {
                    return;
                }
                let r = Arc::clone(&readers);
                let read = tokio::task::spawn_blocking(move || {
                    let c = r[0].lock().map_err(|_| StoreError::Closed)?;
                    read_changes(&c, after)
                })
                .await;
                let batch = match read {
                    Ok(Ok(Tail::Changes(b))) => b,
                    Ok(Ok(Tail::Gap(max))) => {
                        tracing::warn!("the change feed fell behind its pruning; reloading");
                        after = max;
                        vec![(max, Change::Resync)]
                    }
                    Ok(Err(StoreError::Closed)) => return,
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "could not read the change feed; retrying");
                        continue;
                    }
                    Err(_) => return,
                };
                for (id, ch) in batch {
                    after = after.max(id);
                    if tx.send(ch).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Some(rx))
    }

    async fn announce(&self, changes: &[Change]) -> Result<()> {
        let rows: Vec<(&'static str, String)> = changes.iter().filter_map(change_row).collect();
        if rows.is_empty() {
            return Ok(());
        }
        self.write(move |c| {
            for (kind, key) in &rows {
                c.execute(
                    "INSERT INTO changes (kind, key) VALUES (?1, ?2)",
                    params![kind, key],
                )
                .map_err(backend)?;
            }
            Ok(())
        })
        .await
    }
}
