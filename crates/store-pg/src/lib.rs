//! firstlink's PostgreSQL storage backend.
//!
//! [`PgStore`] implements [`firstlink_store::Store`] on a small pool of
//! `tokio-postgres` connections, with the same semantics as the embedded
//! SQLite backend (the reference). Every method is one statement or one
//! transaction, committed before it returns (with PostgreSQL's default
//! `synchronous_commit = on`, a commit is on disk), so several server nodes
//! may share one database: nothing relies on a single writer.
//!
//! The schema has its own migrations (`migrations/*.sql`, PostgreSQL types),
//! embedded and applied at connect under a `pg_advisory_lock`, and tracked in
//! `schema_migrations`, so nodes starting at once migrate exactly once. When
//! PostGIS is installed in the database, an extra migration adds indexed
//! geography points to AEDs and positions (derived from lat/lon).
//!
//! Mission events get a global commit position (`mission_events.pos`) from a
//! one-row counter that each event-writing transaction updates last and holds
//! until commit: positions become visible strictly in order, on any node.
//!
//! Several nodes share one database: writes that nodes mirror in memory are
//! announced to the others with `NOTIFY` (module `changes`, read back through
//! `Store::changes`); volunteer positions, the one high-rate write, are
//! group-committed by one writer per store (module `positions`) and announced right
//! after their commit.

mod changes;
mod pool;
mod positions;

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use firstlink_domain::geo::LatLon;
use firstlink_domain::ids::{AedId, IncidentId, RegionId, VolunteerId};
use firstlink_domain::mission::{Event, Mission};
use firstlink_domain::policy::DispatchPolicy;
use firstlink_domain::volunteer::QuietHours;
use firstlink_store::model::*;
use firstlink_store::monitoring::*;
use firstlink_store::prelude::*;
use firstlink_store::{Result, StoreError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{FromSql, ToSql};
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

use pool::{Conn, Pool};

/// Embedded migrations, applied in order. Names match the SQLite backend's
/// where a migration exists in both.
const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_init", include_str!("../migrations/0001_init.sql")),
    // AED registry (issue 3): 0002 goes here when it needs schema.
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
];

/// Applied after [`MIGRATIONS`] when the database has the PostGIS extension.
const POSTGIS_MIGRATIONS: &[(&str, &str)] = &[(
    "postgis_0001_geography",
    include_str!("../migrations/postgis_0001_geography.sql"),
)];

/// `pg_advisory_lock` key held while migrating ("firstlnk").
const MIGRATION_LOCK: i64 = 0x6669_7273_746c_6e6b;

/// Connections per store (per server node).
pub const DEFAULT_POOL_SIZE: usize = 8;

type P<'a> = &'a (dyn ToSql + Sync);

pub struct PgStore {
    pool: Pool,
    ready: tokio::sync::OnceCell<()>,
    /// Tags this instance's change notifications (see [`changes`]).
    origin: String,
    /// Positions to announce after their commit (started on first use).
    positions_out: std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<Change>>,
    /// The group-commit writer of positions (started on first use).
    positions_in: std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<positions::Request>>,
}

// --- errors and conversions ---

pub(crate) fn backend(e: tokio_postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error()
        && *db.code() == SqlState::UNIQUE_VIOLATION
    {
        return StoreError::Conflict(unique_name(db.constraint().unwrap_or("")));
    }
    StoreError::Backend(e.to_string())
}

/// The same names the SQLite backend reports.
fn unique_name(constraint: &str) -> &'static str {
    match constraint {
        "regions_slug_key" => "region slug",
        "volunteers_phone" => "phone",
        "volunteers_email" => "email",
        "operators_username_key" => "username",
        "incidents_region_external_key" => "external_id",
        "api_keys_pkey" => "api key id",
        "aed_claims_pkey" => "aed already claimed",
        "monitor_units_lorawan_device_id_key" => "lorawan device id",
        "service_tickets_one_open" => "open ticket",
        _ => "unique key",
    }
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn get<'a, T: FromSql<'a>>(r: &'a Row, i: usize) -> Result<T> {
    r.try_get(i)
        .map_err(|e| corrupt(format_args!("column {i}: {e}")))
}

fn json_col<T: DeserializeOwned>(r: &Row, i: usize) -> Result<T> {
    let v: serde_json::Value = get(r, i)?;
    serde_json::from_value(v).map_err(|e| corrupt(format_args!("column {i}: {e}")))
}

fn opt_json_col<T: DeserializeOwned>(r: &Row, i: usize) -> Result<Option<T>> {
    let v: Option<serde_json::Value> = get(r, i)?;
    v.map(|v| serde_json::from_value(v).map_err(|e| corrupt(format_args!("column {i}: {e}"))))
        .transpose()
}

fn enum_col<T: DeserializeOwned>(r: &Row, i: usize) -> Result<T> {
    let s: String = get(r, i)?;
    serde_json::from_value(serde_json::Value::String(s))
        .map_err(|e| corrupt(format_args!("column {i}: {e}")))
}

fn u32_col(r: &Row, i: usize) -> Result<u32> {
    let n: i64 = match r.columns().get(i).map(|c| c.type_().clone()) {
        Some(tokio_postgres::types::Type::INT4) => i64::from(get::<i32>(r, i)?),
        _ => get::<i64>(r, i)?,
    };
    u32::try_from(n).map_err(|_| corrupt(format_args!("column {i}: {n} out of range")))
}

fn u64_col(r: &Row, i: usize) -> Result<u64> {
    let n: i64 = get(r, i)?;
    u64::try_from(n).map_err(|_| corrupt(format_args!("column {i}: {n} out of range")))
}

fn to_json<T: Serialize>(v: &T) -> Result<serde_json::Value> {
    serde_json::to_value(v).map_err(|e| StoreError::Backend(format!("cannot serialize: {e}")))
}

fn enum_str<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

fn to_i64(n: u64) -> Result<i64> {
    i64::try_from(n).map_err(|_| StoreError::Backend(format!("{n} does not fit a bigint")))
}

// --- rows ---

const REGION_COLS: &str = "id, slug, name, timezone, country, policy, created_at";

fn region_row(r: &Row) -> Result<Region> {
    Ok(Region {
        id: RegionId(get(r, 0)?),
        slug: get(r, 1)?,
        name: get(r, 2)?,
        timezone: get(r, 3)?,
        country: get(r, 4)?,
        policy: json_col::<DispatchPolicy>(r, 5)?,
        created_at: get(r, 6)?,
    })
}

const API_KEY_COLS: &str = "id, region_id, name, hash, created_at, revoked_at";

fn api_key_row(r: &Row) -> Result<ApiKey> {
    Ok(ApiKey {
        id: get(r, 0)?,
        region_id: RegionId(get(r, 1)?),
        name: get(r, 2)?,
        hash: get(r, 3)?,
        created_at: get(r, 4)?,
        revoked_at: get(r, 5)?,
    })
}

const OPERATOR_COLS: &str = "id, username, password_hash, role, regions, created_at, disabled_at";

fn operator_row(r: &Row) -> Result<Operator> {
    let role: String = get(r, 3)?;
    let regions: Vec<Uuid> = get(r, 4)?;
    Ok(Operator {
        id: get(r, 0)?,
        username: get(r, 1)?,
        password_hash: get(r, 2)?,
        role: OperatorRole::parse(&role)
            .ok_or_else(|| corrupt(format_args!("unknown role {role:?}")))?,
        regions: regions.into_iter().map(RegionId).collect(),
        created_at: get(r, 5)?,
        disabled_at: get(r, 6)?,
    })
}

const VOLUNTEER_COLS: &str = "id, region_id, name, phone, email, password_hash, language, languages, birth_date, tier, \
     training_kind, training_date, consent_at, verified_at, suspended_at, available, quiet_start, quiet_end, created_at";

fn volunteer_row(r: &Row) -> Result<Volunteer> {
    let minute = |i: usize| -> Result<Option<u16>> {
        let v: Option<i32> = get(r, i)?;
        v.map(|v| {
            u16::try_from(v).map_err(|_| corrupt(format_args!("column {i}: {v} out of range")))
        })
        .transpose()
    };
    let (qs, qe) = (minute(16)?, minute(17)?);
    Ok(Volunteer {
        id: VolunteerId(get(r, 0)?),
        region_id: RegionId(get(r, 1)?),
        name: get(r, 2)?,
        phone: get(r, 3)?,
        email: get(r, 4)?,
        password_hash: get(r, 5)?,
        language: get(r, 6)?,
        languages: get(r, 7)?,
        birth_date: get(r, 8)?,
        tier: enum_col(r, 9)?,
        training_kind: get(r, 10)?,
        training_date: get(r, 11)?,
        consent_at: get(r, 12)?,
        verified_at: get(r, 13)?,
        suspended_at: get(r, 14)?,
        available: get(r, 15)?,
        quiet: qs.zip(qe).and_then(|(s, e)| QuietHours::new(s, e)),
        created_at: get(r, 18)?,
    })
}

/// A volunteer's column values, in `VOLUNTEER_COLS` order.
struct VolunteerParams {
    tier: String,
    quiet_start: Option<i32>,
    quiet_end: Option<i32>,
}

impl VolunteerParams {
    fn new(v: &Volunteer) -> Self {
        Self {
            tier: enum_str(&v.tier),
            quiet_start: v.quiet.map(|q| i32::from(q.start_min)),
            quiet_end: v.quiet.map(|q| i32::from(q.end_min)),
        }
    }

    fn params<'a>(&'a self, v: &'a Volunteer) -> [P<'a>; 19] {
        [
            &v.id.0,
            &v.region_id.0,
            &v.name,
            &v.phone,
            &v.email,
            &v.password_hash,
            &v.language,
            &v.languages,
            &v.birth_date,
            &self.tier,
            &v.training_kind,
            &v.training_date,
            &v.consent_at,
            &v.verified_at,
            &v.suspended_at,
            &v.available,
            &self.quiet_start,
            &self.quiet_end,
            &v.created_at,
        ]
    }
}

const AED_COLS: &str =
    "id, region_id, name, lat, lon, access, opening_hours, readiness, status, details, updated_at";

fn aed_row(r: &Row) -> Result<Aed> {
    Ok(Aed {
        id: AedId(get(r, 0)?),
        region_id: RegionId(get(r, 1)?),
        name: get(r, 2)?,
        position: LatLon {
            lat: get(r, 3)?,
            lon: get(r, 4)?,
        },
        access: enum_col(r, 5)?,
        opening_hours: get(r, 6)?,
        readiness: enum_col(r, 7)?,
        status: enum_col(r, 8)?,
        details: json_col(r, 9)?,
        updated_at: get(r, 10)?,
    })
}

fn mission_row(r: &Row) -> Result<StoredMission> {
    Ok(StoredMission {
        region_id: RegionId(get(r, 0)?),
        mission: json_col::<Mission>(r, 1)?,
        updated_at: get(r, 2)?,
        version: u64_col(r, 3)?,
    })
}

const OUTBOX_COLS: &str =
    "id, dedupe_key, volunteer_id, incident_id, recipient, message, created_at, attempts";

fn outbox_row(r: &Row) -> Result<OutboxItem> {
    Ok(OutboxItem {
        id: get(r, 0)?,
        dedupe_key: get(r, 1)?,
        volunteer: get::<Option<Uuid>>(r, 2)?.map(VolunteerId),
        incident: get::<Option<Uuid>>(r, 3)?.map(IncidentId),
        recipient: opt_json_col(r, 4)?,
        message: json_col(r, 5)?,
        created_at: get(r, 6)?,
        attempts: u32_col(r, 7)?,
    })
}

fn cad_row(r: &Row) -> Result<CadMessage> {
    Ok(CadMessage {
        region_id: RegionId(get(r, 0)?),
        key: get(r, 1)?,
        incident: IncidentId(get(r, 2)?),
        kind: get(r, 3)?,
        source_at: get(r, 4)?,
        received_at: get(r, 5)?,
    })
}

fn cursor_row(r: &Row) -> Result<WebhookCursor> {
    Ok(WebhookCursor {
        region_id: RegionId(get(r, 0)?),
        last_pos: get(r, 1)?,
        attempts: u32_col(r, 2)?,
        next_attempt_at: get(r, 3)?,
        last_error: get(r, 4)?,
        delivered: u64_col(r, 5)?,
        skipped: u64_col(r, 6)?,
        updated_at: get(r, 7)?,
    })
}

fn collect<T>(rows: Vec<Row>, f: fn(&Row) -> Result<T>) -> Result<Vec<T>> {
    rows.iter().map(f).collect()
}

// --- writes shared by several methods (inside the caller's transaction) ---

async fn insert_outbox(
    c: &impl GenericClient,
    items: &[NewOutbox],
    now: DateTime<Utc>,
) -> Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    let mut keys = Vec::with_capacity(items.len());
    let mut vols = Vec::with_capacity(items.len());
    let mut incs = Vec::with_capacity(items.len());
    let mut recs = Vec::with_capacity(items.len());
    let mut msgs = Vec::with_capacity(items.len());
    let mut due = Vec::with_capacity(items.len());
    for o in items {
        keys.push(o.dedupe_key.as_str());
        vols.push(o.volunteer.map(|v| v.0));
        incs.push(o.incident.map(|i| i.0));
        recs.push(o.recipient.as_ref().map(to_json).transpose()?);
        msgs.push(to_json(&o.message)?);
        due.push(o.not_before);
    }
    // A key already recorded (or repeated in this batch) is ignored.
    c.execute(
        "INSERT INTO outbox (dedupe_key, volunteer_id, incident_id, recipient, message, created_at, next_attempt_at, status)
         SELECT k, v, i, r, m, $7, n, 'pending'
         FROM UNNEST($1::text[], $2::uuid[], $3::uuid[], $4::jsonb[], $5::jsonb[], $6::timestamptz[])
              WITH ORDINALITY AS u(k, v, i, r, m, n, ord)
         ORDER BY ord
         ON CONFLICT (dedupe_key) DO NOTHING",
        &[&keys, &vols, &incs, &recs, &msgs, &due, &now],
    )
    .await
    .map_err(backend)?;
    Ok(())
}

async fn upsert_aeds_in(c: &impl GenericClient, aeds: &[Aed]) -> Result<()> {
    if aeds.is_empty() {
        return Ok(());
    }
    // One statement cannot update a row twice: the last record of an id wins,
    // as if written one after the other.
    let mut last: HashMap<AedId, usize> = HashMap::with_capacity(aeds.len());
    for (i, a) in aeds.iter().enumerate() {
        last.insert(a.id, i);
    }
    let mut idx: Vec<usize> = last.into_values().collect();
    idx.sort_unstable();
    let n = idx.len();
    let (mut ids, mut regions, mut names, mut lats, mut lons) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut access, mut hours, mut ready, mut status, mut details, mut updated) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for i in idx {
        let a = &aeds[i];
        ids.push(a.id.0);
        regions.push(a.region_id.0);
        names.push(a.name.as_str());
        lats.push(a.position.lat);
        lons.push(a.position.lon);
        access.push(enum_str(&a.access));
        hours.push(a.opening_hours.as_deref());
        ready.push(enum_str(&a.readiness));
        status.push(enum_str(&a.status));
        details.push(to_json(&a.details)?);
        updated.push(a.updated_at);
    }
    c.execute(
        &format!(
            "INSERT INTO aeds ({AED_COLS})
             SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::float8[], $5::float8[], $6::text[], $7::text[],
                                  $8::text[], $9::text[], $10::jsonb[], $11::timestamptz[])
             ON CONFLICT (id) DO UPDATE SET region_id = excluded.region_id, name = excluded.name, lat = excluded.lat,
               lon = excluded.lon, access = excluded.access, opening_hours = excluded.opening_hours,
               readiness = excluded.readiness, status = excluded.status, details = excluded.details,
               updated_at = excluded.updated_at"
        ),
        &[&ids, &regions, &names, &lats, &lons, &access, &hours, &ready, &status, &details, &updated],
    )
    .await
    .map_err(backend)?;
    Ok(())
}

/// Writes the parts of a step other than the incident row itself. The
/// events go last: taking the event-log counter locks it until commit, so
/// it is held for as short a time as possible.
async fn write_step_parts(c: &impl GenericClient, step: &MissionStep) -> Result<()> {
    let id = step.mission.id.0;
    if !step.mission.alerts.is_empty() {
        let mut last: HashMap<VolunteerId, usize> = HashMap::new();
        for (i, a) in step.mission.alerts.iter().enumerate() {
            last.insert(a.volunteer, i);
        }
        let (mut vols, mut states, mut ats) = (Vec::new(), Vec::new(), Vec::new());
        for i in last.into_values() {
            let a = &step.mission.alerts[i];
            vols.push(a.volunteer.0);
            states.push(enum_str(&a.state));
            ats.push(a.alerted_at);
        }
        c.execute(
            "INSERT INTO alerts (incident_id, volunteer_id, state, alerted_at)
             SELECT $1, v, s, a FROM UNNEST($2::uuid[], $3::text[], $4::timestamptz[]) AS u(v, s, a)
             ON CONFLICT (incident_id, volunteer_id) DO UPDATE SET state = excluded.state",
            &[&id, &vols, &states, &ats],
        )
        .await
        .map_err(backend)?;
    }
    if !step.releases.is_empty() {
        let aeds: Vec<Uuid> = step.releases.iter().map(|a| a.0).collect();
        c.execute(
            "DELETE FROM aed_claims WHERE incident_id = $1 AND aed_id = ANY($2)",
            &[&id, &aeds],
        )
        .await
        .map_err(backend)?;
    }
    if !step.claims.is_empty() {
        let aeds: Vec<Uuid> = step.claims.iter().map(|(a, _)| a.0).collect();
        let vols: Vec<Uuid> = step.claims.iter().map(|(_, v)| v.0).collect();
        c.execute(
            "INSERT INTO aed_claims (aed_id, incident_id, volunteer_id, claimed_at)
             SELECT a, $1, v, $2 FROM UNNEST($3::uuid[], $4::uuid[]) AS u(a, v)",
            &[&id, &step.at, &aeds, &vols],
        )
        .await
        .map_err(|e| match backend(e) {
            StoreError::Conflict(_) => StoreError::Conflict("aed already claimed"),
            other => other,
        })?;
    }
    write_busy(c, step).await?;
    insert_outbox(c, &step.outbox, step.at).await?;
    if !step.events.is_empty() {
        let n = i64::try_from(step.events.len())
            .map_err(|_| StoreError::Backend("too many events".into()))?;
        let row = c
            .query_one(
                "UPDATE event_log_counter SET pos = pos + $1 RETURNING pos",
                &[&n],
            )
            .await
            .map_err(backend)?;
        let end: i64 = get(&row, 0)?;
        let first = end - n + 1;
        let mut seqs = Vec::with_capacity(step.events.len());
        let mut poss = Vec::with_capacity(step.events.len());
        let mut ats = Vec::with_capacity(step.events.len());
        let mut evs = Vec::with_capacity(step.events.len());
        for (k, (seq, e)) in (0i64..).zip(&step.events) {
            seqs.push(to_i64(*seq)?);
            poss.push(first + k);
            ats.push(e.at);
            evs.push(to_json(e)?);
        }
        c.execute(
            "INSERT INTO mission_events (incident_id, seq, pos, at, event)
             SELECT $1, s, p, a, e FROM UNNEST($2::int8[], $3::int8[], $4::timestamptz[], $5::jsonb[]) AS u(s, p, a, e)",
            &[&id, &seqs, &poss, &ats, &evs],
        )
        .await
        .map_err(backend)?;
    }
    Ok(())
}

/// Who is busy with this mission after the step; refuses a volunteer busy elsewhere.
async fn write_busy(c: &impl GenericClient, step: &MissionStep) -> Result<()> {
    let id = step.mission.id.0;
    if !step.mission.is_live() {
        c.execute("DELETE FROM volunteer_busy WHERE incident_id = $1", &[&id])
            .await
            .map_err(backend)?;
        return Ok(());
    }
    if !step.free.is_empty() {
        let free: Vec<Uuid> = step.free.iter().map(|v| v.0).collect();
        c.execute(
            "DELETE FROM volunteer_busy WHERE incident_id = $1 AND volunteer_id = ANY($2)",
            &[&id, &free],
        )
        .await
        .map_err(backend)?;
    }
    if !step.busy.is_empty() {
        let busy: Vec<Uuid> = step.busy.iter().map(|v| v.0).collect();
        c.execute(
            "INSERT INTO volunteer_busy (volunteer_id, incident_id, since) SELECT v, $1, $2 FROM UNNEST($3::uuid[]) AS v
             ON CONFLICT (volunteer_id) DO NOTHING",
            &[&id, &step.at, &busy],
        )
        .await
        .map_err(backend)?;
        let elsewhere = c
            .query_opt("SELECT 1 FROM volunteer_busy WHERE volunteer_id = ANY($1) AND incident_id <> $2 LIMIT 1", &[&busy, &id])
            .await
            .map_err(backend)?;
        if elsewhere.is_some() {
            return Err(StoreError::Conflict("volunteer busy"));
        }
    }
    Ok(())
}

// --- connecting and migrating ---

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/db`), applies the
    /// migrations and returns a store with a pool of [`DEFAULT_POOL_SIZE`]
    /// connections.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, DEFAULT_POOL_SIZE).await
    }

    pub async fn connect_with(url: &str, pool_size: usize) -> Result<Self> {
        let s = Self::lazy_with(url, pool_size)?;
        s.ensure_ready().await?;
        Ok(s)
    }

    /// Checks the URL now and connects (and migrates) on first use: for
    /// callers that cannot await.
    pub fn lazy(url: &str) -> Result<Self> {
        Self::lazy_with(url, DEFAULT_POOL_SIZE)
    }

    pub fn lazy_with(url: &str, pool_size: usize) -> Result<Self> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Backend(format!("invalid database_url: {e}")))?;
        let origin = Uuid::new_v4().simple().to_string();
        Ok(Self {
            pool: Pool::new(config, pool_size),
            ready: tokio::sync::OnceCell::new(),
            origin,
            positions_out: std::sync::OnceLock::new(),
            positions_in: std::sync::OnceLock::new(),
        })
    }

    /// Refuses further calls and closes the idle connections.
    pub fn close(&self) {
        self.pool.close();
    }

    async fn ensure_ready(&self) -> Result<()> {
        self.ready
            .get_or_try_init(|| self.migrate())
            .await
            .map(|_| ())
    }

    /// Applies the missing migrations, one transaction each, on a dedicated
    /// connection holding the migration advisory lock (released when the
    /// connection closes, whatever happens here). With PostGIS installed in
    /// the database, the PostGIS migrations follow.
    async fn migrate(&self) -> Result<()> {
        let mut c = self.pool.connect().await?;
        c.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(backend)?;
        c.batch_execute("CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL)")
            .await
            .map_err(backend)?;
        let postgis = c
            .query_opt("SELECT 1 FROM pg_extension WHERE extname = 'postgis'", &[])
            .await
            .map_err(backend)?
            .is_some();
        let optional = if postgis { POSTGIS_MIGRATIONS } else { &[] };
        for (name, sql) in MIGRATIONS.iter().chain(optional) {
            let done = c
                .query_opt("SELECT 1 FROM schema_migrations WHERE name = $1", &[name])
                .await
                .map_err(backend)?
                .is_some();
            if done {
                continue;
            }
            let tx = c.transaction().await.map_err(backend)?;
            tx.batch_execute(sql).await.map_err(backend)?;
            tx.execute(
                "INSERT INTO schema_migrations (name, applied_at) VALUES ($1, now())",
                &[name],
            )
            .await
            .map_err(backend)?;
            tx.commit().await.map_err(backend)?;
            tracing::info!(migration = name, "applied postgres migration");
        }
        c.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn conn(&self) -> Result<Conn<'_>> {
        self.ensure_ready().await?;
        self.pool.get().await
    }

    async fn exec(&self, sql: &str, params: &[P<'_>]) -> Result<u64> {
        self.conn()
            .await?
            .execute(sql, params)
            .await
            .map_err(backend)
    }

    fn position_announcer(&self) -> &tokio::sync::mpsc::UnboundedSender<Change> {
        self.positions_out.get_or_init(|| {
            changes::position_announcer(self.pool.config().clone(), self.origin.clone())
        })
    }

    /// Announces a position change after its commit, batched (see [`changes`]).
    fn announce_position(&self, c: Change) {
        let _ = self.position_announcer().send(c);
    }

    /// One statement and the announcement of what it changed, in one transaction.
    async fn exec_announced(&self, sql: &str, params: &[P<'_>], change: &[Change]) -> Result<u64> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await.map_err(backend)?;
        let n = tx.execute(sql, params).await.map_err(backend)?;
        changes::announce(&tx, &self.origin, change).await?;
        tx.commit().await.map_err(backend)?;
        Ok(n)
    }

    async fn rows(&self, sql: &str, params: &[P<'_>]) -> Result<Vec<Row>> {
        self.conn().await?.query(sql, params).await.map_err(backend)
    }

    async fn opt(&self, sql: &str, params: &[P<'_>]) -> Result<Option<Row>> {
        self.conn()
            .await?
            .query_opt(sql, params)
            .await
            .map_err(backend)
    }

    async fn one(&self, sql: &str, params: &[P<'_>]) -> Result<Row> {
        self.conn()
            .await?
            .query_one(sql, params)
            .await
            .map_err(backend)
    }
}

fn found(n: u64) -> Result<()> {
    if n == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

fn limit(n: u32) -> i64 {
    i64::from(n)
}

#[async_trait]
impl Accounts for PgStore {
    async fn create_region(&self, r: &Region) -> Result<()> {
        let policy = to_json(&r.policy)?;
        self.exec_announced(
            &format!("INSERT INTO regions ({REGION_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"),
            &[
                &r.id.0,
                &r.slug,
                &r.name,
                &r.timezone,
                &r.country,
                &policy,
                &r.created_at,
            ],
            &[Change::Region(r.id)],
        )
        .await?;
        Ok(())
    }

    async fn regions(&self) -> Result<Vec<Region>> {
        collect(
            self.rows(
                &format!("SELECT {REGION_COLS} FROM regions ORDER BY slug COLLATE \"C\""),
                &[],
            )
            .await?,
            region_row,
        )
    }

    async fn update_policy(&self, id: RegionId, policy: &DispatchPolicy) -> Result<()> {
        let p = to_json(policy)?;
        found(
            self.exec_announced(
                "UPDATE regions SET policy = $1 WHERE id = $2",
                &[&p, &id.0],
                &[Change::Region(id)],
            )
            .await?,
        )
    }

    async fn create_api_key(&self, k: &ApiKey) -> Result<()> {
        self.exec_announced(
            &format!("INSERT INTO api_keys ({API_KEY_COLS}) VALUES ($1, $2, $3, $4, $5, $6)"),
            &[
                &k.id,
                &k.region_id.0,
                &k.name,
                &k.hash,
                &k.created_at,
                &k.revoked_at,
            ],
            &[Change::ApiKey(k.id.clone())],
        )
        .await?;
        Ok(())
    }

    async fn api_key(&self, id: &str) -> Result<Option<ApiKey>> {
        self.opt(
            &format!("SELECT {API_KEY_COLS} FROM api_keys WHERE id = $1"),
            &[&id],
        )
        .await?
        .as_ref()
        .map(api_key_row)
        .transpose()
    }

    async fn api_keys(&self, region: RegionId) -> Result<Vec<ApiKey>> {
        collect(
            self.rows(&format!("SELECT {API_KEY_COLS} FROM api_keys WHERE region_id = $1 ORDER BY created_at, id"), &[&region.0])
                .await?,
            api_key_row,
        )
    }

    async fn revoke_api_key(&self, id: &str, at: DateTime<Utc>) -> Result<()> {
        found(
            self.exec_announced(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2",
                &[&at, &id],
                &[Change::ApiKey(id.to_string())],
            )
            .await?,
        )
    }

    async fn create_operator(&self, o: &Operator) -> Result<()> {
        let regions: Vec<Uuid> = o.regions.iter().map(|r| r.0).collect();
        self.exec_announced(
            &format!("INSERT INTO operators ({OPERATOR_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"),
            &[
                &o.id,
                &o.username,
                &o.password_hash,
                &o.role.as_str(),
                &regions,
                &o.created_at,
                &o.disabled_at,
            ],
            &[Change::Operator(o.id)],
        )
        .await?;
        Ok(())
    }

    async fn operator_by_username(&self, username: &str) -> Result<Option<Operator>> {
        self.opt(
            &format!("SELECT {OPERATOR_COLS} FROM operators WHERE username = $1"),
            &[&username],
        )
        .await?
        .as_ref()
        .map(operator_row)
        .transpose()
    }

    async fn operator(&self, id: Uuid) -> Result<Option<Operator>> {
        self.opt(
            &format!("SELECT {OPERATOR_COLS} FROM operators WHERE id = $1"),
            &[&id],
        )
        .await?
        .as_ref()
        .map(operator_row)
        .transpose()
    }

    async fn operators(&self) -> Result<Vec<Operator>> {
        collect(
            self.rows(
                &format!("SELECT {OPERATOR_COLS} FROM operators ORDER BY username COLLATE \"C\""),
                &[],
            )
            .await?,
            operator_row,
        )
    }

    async fn create_session(&self, s: &Session) -> Result<()> {
        self.exec(
            "INSERT INTO sessions (token_hash, kind, subject, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
            &[&s.token_hash, &enum_str(&s.kind), &s.subject, &s.created_at, &s.expires_at],
        )
        .await?;
        Ok(())
    }

    async fn session(&self, token_hash: &str) -> Result<Option<Session>> {
        let row = self
            .opt("SELECT token_hash, kind, subject, created_at, expires_at FROM sessions WHERE token_hash = $1", &[&token_hash])
            .await?;
        row.map(|r| {
            Ok(Session {
                token_hash: get(&r, 0)?,
                kind: enum_col(&r, 1)?,
                subject: get(&r, 2)?,
                created_at: get(&r, 3)?,
                expires_at: get(&r, 4)?,
            })
        })
        .transpose()
    }

    async fn delete_session(&self, token_hash: &str) -> Result<()> {
        self.exec("DELETE FROM sessions WHERE token_hash = $1", &[&token_hash])
            .await?;
        Ok(())
    }

    async fn delete_sessions_of(&self, subject: Uuid) -> Result<()> {
        self.exec("DELETE FROM sessions WHERE subject = $1", &[&subject])
            .await?;
        Ok(())
    }

    async fn audit(&self, e: &AuditEntry) -> Result<()> {
        self.exec(
            "INSERT INTO audit (at, actor, action, region_id, target, details) VALUES ($1, $2, $3, $4, $5, $6)",
            &[&e.at, &e.actor, &e.action, &e.region_id.map(|r| r.0), &e.target, &e.details],
        )
        .await?;
        Ok(())
    }

    async fn audit_log(&self, region: Option<RegionId>, limit_n: u32) -> Result<Vec<AuditEntry>> {
        let rows = self
            .rows(
                "SELECT at, actor, action, region_id, target, details FROM audit
                 WHERE $1::uuid IS NULL OR region_id = $1 ORDER BY id DESC LIMIT $2",
                &[&region.map(|r| r.0), &limit(limit_n)],
            )
            .await?;
        collect(rows, |r| {
            Ok(AuditEntry {
                at: get(r, 0)?,
                actor: get(r, 1)?,
                action: get(r, 2)?,
                region_id: get::<Option<Uuid>>(r, 3)?.map(RegionId),
                target: get(r, 4)?,
                details: get(r, 5)?,
            })
        })
    }

    async fn setting(&self, key: &str) -> Result<Option<String>> {
        self.opt("SELECT value FROM settings WHERE key = $1", &[&key])
            .await?
            .map(|r| get(&r, 0))
            .transpose()
    }

    async fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        self.exec_announced(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&key, &value],
            &[Change::Setting(key.to_string())],
        )
        .await?;
        Ok(())
    }
}

#[async_trait]
impl Volunteers for PgStore {
    async fn create_volunteer(&self, v: &Volunteer) -> Result<()> {
        let p = VolunteerParams::new(v);
        self.exec_announced(
            &format!(
                "INSERT INTO volunteers ({VOLUNTEER_COLS})
                 VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19)"
            ),
            &p.params(v),
            &[Change::Volunteer(v.id)],
        )
        .await?;
        Ok(())
    }

    async fn update_volunteer(&self, v: &Volunteer) -> Result<()> {
        let p = VolunteerParams::new(v);
        found(
            self.exec_announced(
                "UPDATE volunteers SET region_id=$2, name=$3, phone=$4, email=$5, password_hash=$6, language=$7, languages=$8,
                 birth_date=$9, tier=$10, training_kind=$11, training_date=$12, consent_at=$13, verified_at=$14,
                 suspended_at=$15, available=$16, quiet_start=$17, quiet_end=$18, created_at=$19 WHERE id=$1",
                &p.params(v),
                &[Change::Volunteer(v.id)],
            )
            .await?,
        )
    }

    async fn volunteer(&self, id: VolunteerId) -> Result<Option<Volunteer>> {
        self.opt(
            &format!("SELECT {VOLUNTEER_COLS} FROM volunteers WHERE id = $1"),
            &[&id.0],
        )
        .await?
        .as_ref()
        .map(volunteer_row)
        .transpose()
    }

    async fn volunteer_by_contact(
        &self,
        region: RegionId,
        phone: Option<&str>,
        email: Option<&str>,
    ) -> Result<Option<Volunteer>> {
        self.opt(
            &format!(
                "SELECT {VOLUNTEER_COLS} FROM volunteers WHERE region_id = $1
                 AND (($2::text IS NOT NULL AND phone = $2) OR ($3::text IS NOT NULL AND email = $3)) LIMIT 1"
            ),
            &[&region.0, &phone, &email],
        )
        .await?
        .as_ref()
        .map(volunteer_row)
        .transpose()
    }

    async fn volunteers(
        &self,
        region: Option<RegionId>,
        query: Option<&str>,
        limit_n: u32,
    ) -> Result<Vec<Volunteer>> {
        // Like SQLite: `%` and `_` in the query are dropped, the match ignores case.
        let q = query.map(|q| format!("%{}%", q.replace(['%', '_'], "").replace('\\', "\\\\")));
        let rows = self
            .rows(
                &format!(
                    "SELECT {VOLUNTEER_COLS} FROM volunteers WHERE ($1::uuid IS NULL OR region_id = $1)
                     AND ($2::text IS NULL OR name ILIKE $2 OR phone ILIKE $2 OR email ILIKE $2)
                     ORDER BY name COLLATE \"C\", id LIMIT $3"
                ),
                &[&region.map(|r| r.0), &q, &limit(limit_n)],
            )
            .await?;
        collect(rows, volunteer_row)
    }

    async fn delete_volunteer(&self, id: VolunteerId) -> Result<()> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await.map_err(backend)?;
        tx.execute("DELETE FROM sessions WHERE subject = $1", &[&id.0])
            .await
            .map_err(backend)?;
        tx.execute("DELETE FROM volunteers WHERE id = $1", &[&id.0])
            .await
            .map_err(backend)?;
        changes::announce(&tx, &self.origin, &[Change::Volunteer(id)]).await?;
        tx.commit().await.map_err(backend)
    }

    async fn set_verification(
        &self,
        id: VolunteerId,
        code_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        self.exec(
            "INSERT INTO verification_codes (volunteer_id, code_hash, expires_at, attempts) VALUES ($1, $2, $3, 0)
             ON CONFLICT (volunteer_id) DO UPDATE SET code_hash = excluded.code_hash, expires_at = excluded.expires_at, attempts = 0",
            &[&id.0, &code_hash, &expires_at],
        )
        .await?;
        Ok(())
    }

    async fn verification_attempt(
        &self,
        id: VolunteerId,
    ) -> Result<Option<(String, DateTime<Utc>, u32)>> {
        let row = self
            .opt(
                "UPDATE verification_codes SET attempts = attempts + 1 WHERE volunteer_id = $1
                 RETURNING code_hash, expires_at, attempts",
                &[&id.0],
            )
            .await?;
        row.map(|r| Ok((get(&r, 0)?, get(&r, 1)?, u32_col(&r, 2)?)))
            .transpose()
    }

    async fn clear_verification(&self, id: VolunteerId) -> Result<()> {
        self.exec(
            "DELETE FROM verification_codes WHERE volunteer_id = $1",
            &[&id.0],
        )
        .await?;
        Ok(())
    }

    async fn save_positions(&self, fixes: &[PositionFix]) -> Result<()> {
        if fixes.is_empty() {
            return Ok(());
        }
        // Group commit with other callers; answered after the commit.
        self.ensure_ready().await?;
        let (done, rx) = tokio::sync::oneshot::channel();
        let writer = self.positions_in.get_or_init(|| {
            positions::writer(
                self.pool.config().clone(),
                self.position_announcer().clone(),
            )
        });
        writer
            .send(positions::Request {
                fixes: fixes.to_vec(),
                done,
            })
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn delete_position(&self, id: VolunteerId) -> Result<()> {
        self.exec("DELETE FROM positions WHERE volunteer_id = $1", &[&id.0])
            .await?;
        // After the volunteer's earlier positions (see `changes`).
        self.announce_position(Change::PositionDeleted(id));
        Ok(())
    }

    async fn positions(&self) -> Result<Vec<PositionFix>> {
        let rows = self
            .rows("SELECT volunteer_id, lat, lon, at_unix FROM positions", &[])
            .await?;
        collect(rows, |r| {
            Ok(PositionFix {
                volunteer: VolunteerId(get(r, 0)?),
                position: LatLon {
                    lat: get(r, 1)?,
                    lon: get(r, 2)?,
                },
                at_unix: u32_col(r, 3)?,
            })
        })
    }

    async fn purge_positions(&self, before_unix: u32) -> Result<Vec<VolunteerId>> {
        let rows = self
            .rows(
                "DELETE FROM positions WHERE at_unix < $1 RETURNING volunteer_id",
                &[&i64::from(before_unix)],
            )
            .await?;
        collect(rows, |r| Ok(VolunteerId(get(r, 0)?)))
    }

    async fn add_device(&self, d: &Device) -> Result<()> {
        let rec = to_json(&d.recipient)?;
        let mut c = self.conn().await?;
        let tx = c.transaction().await.map_err(backend)?;
        // The same endpoint registered again replaces the old registration.
        tx.execute(
            "DELETE FROM devices WHERE volunteer_id = $1 AND recipient = $2",
            &[&d.volunteer.0, &rec],
        )
        .await
        .map_err(backend)?;
        tx.execute(
            "INSERT INTO devices (id, volunteer_id, recipient, created_at) VALUES ($1, $2, $3, $4)",
            &[&d.id, &d.volunteer.0, &rec, &d.created_at],
        )
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn devices(&self, volunteer: VolunteerId) -> Result<Vec<Device>> {
        let rows = self
            .rows(
                "SELECT id, volunteer_id, recipient, created_at FROM devices WHERE volunteer_id = $1 ORDER BY created_at, id",
                &[&volunteer.0],
            )
            .await?;
        collect(rows, |r| {
            Ok(Device {
                id: get(r, 0)?,
                volunteer: VolunteerId(get(r, 1)?),
                recipient: json_col(r, 2)?,
                created_at: get(r, 3)?,
            })
        })
    }

    async fn delete_device(&self, volunteer: VolunteerId, id: Uuid) -> Result<bool> {
        Ok(self
            .exec(
                "DELETE FROM devices WHERE id = $1 AND volunteer_id = $2",
                &[&id, &volunteer.0],
            )
            .await?
            > 0)
    }
}

#[async_trait]
impl Missions for PgStore {
    async fn claims(&self) -> Result<Vec<Claim>> {
        let rows = self
            .rows(
                "SELECT aed_id, incident_id, volunteer_id FROM aed_claims",
                &[],
            )
            .await?;
        collect(rows, |r| {
            Ok(Claim {
                aed: AedId(get(r, 0)?),
                incident: IncidentId(get(r, 1)?),
                volunteer: VolunteerId(get(r, 2)?),
            })
        })
    }

    async fn create_incident(&self, step: &MissionStep) -> Result<Created> {
        let m = &step.mission;
        let state = to_json(m)?;
        let mut c = self.conn().await?;
        let tx = c.transaction().await.map_err(backend)?;
        // Another node may create the same incident at the same moment: the
        // unique (region, external id) decides, the loser reads the winner's id.
        let inserted = tx
            .query_opt(
                "INSERT INTO incidents (id, region_id, external_id, status, state, next_deadline, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
                 ON CONFLICT (region_id, external_id) DO NOTHING RETURNING id",
                &[&m.id.0, &step.region_id.0, &m.incident.external_id, &enum_str(&m.status), &state, &m.next_deadline(), &step.at],
            )
            .await
            .map_err(backend)?;
        if inserted.is_none() {
            let row = tx
                .query_opt(
                    "SELECT id FROM incidents WHERE region_id = $1 AND external_id = $2",
                    &[&step.region_id.0, &m.incident.external_id],
                )
                .await
                .map_err(backend)?
                .ok_or_else(|| StoreError::Backend("incident conflict without a row".into()))?;
            return Ok(Created::Existing(IncidentId(get(&row, 0)?)));
        }
        write_step_parts(&tx, step).await?;
        changes::announce(&tx, &self.origin, &[Change::Mission(m.id)]).await?;
        tx.commit().await.map_err(backend)?;
        Ok(Created::New)
    }

    async fn commit_step(&self, step: &MissionStep) -> Result<()> {
        let m = &step.mission;
        let state = to_json(m)?;
        let mut c = self.conn().await?;
        let tx = c.transaction().await.map_err(backend)?;
        let n = tx
            .execute(
                "UPDATE incidents SET status = $2, state = $3, next_deadline = $4, updated_at = $5, version = version + 1
                 WHERE id = $1 AND version = $6",
                &[&m.id.0, &enum_str(&m.status), &state, &m.next_deadline(), &step.at, &to_i64(step.base_version)?],
            )
            .await
            .map_err(backend)?;
        if n == 0 {
            let exists = tx
                .query_opt("SELECT 1 FROM incidents WHERE id = $1", &[&m.id.0])
                .await
                .map_err(backend)?;
            return Err(if exists.is_some() {
                StoreError::Stale
            } else {
                StoreError::NotFound
            });
        }
        write_step_parts(&tx, step).await?;
        changes::announce(&tx, &self.origin, &[Change::Mission(m.id)]).await?;
        tx.commit().await.map_err(backend)
    }

    async fn mission(&self, id: IncidentId) -> Result<Option<StoredMission>> {
        self.opt(
            "SELECT region_id, state, updated_at, version FROM incidents WHERE id = $1",
            &[&id.0],
        )
        .await?
        .as_ref()
        .map(mission_row)
        .transpose()
    }

    async fn live_missions(&self) -> Result<Vec<StoredMission>> {
        collect(
            self.rows("SELECT region_id, state, updated_at, version FROM incidents WHERE status = 'active' ORDER BY created_at, id", &[]).await?,
            mission_row,
        )
    }

    async fn missions(
        &self,
        region: RegionId,
        live_only: bool,
        limit_n: u32,
    ) -> Result<Vec<StoredMission>> {
        collect(
            self.rows(
                "SELECT region_id, state, updated_at, version FROM incidents WHERE region_id = $1 AND (NOT $2 OR status = 'active')
                 ORDER BY created_at DESC, id DESC LIMIT $3",
                &[&region.0, &live_only, &limit(limit_n)],
            )
            .await?,
            mission_row,
        )
    }

    async fn events(&self, id: IncidentId, after_seq: u64) -> Result<Vec<(u64, Event)>> {
        let after = i64::try_from(after_seq).unwrap_or(i64::MAX);
        let rows = self.rows("SELECT seq, event FROM mission_events WHERE incident_id = $1 AND seq > $2 ORDER BY seq", &[&id.0, &after]).await?;
        collect(rows, |r| Ok((u64_col(r, 0)?, json_col(r, 1)?)))
    }

    async fn alerts_of(&self, volunteer: VolunteerId, limit_n: u32) -> Result<Vec<IncidentId>> {
        let rows = self
            .rows(
                "SELECT incident_id FROM alerts WHERE volunteer_id = $1 ORDER BY alerted_at DESC LIMIT $2",
                &[&volunteer.0, &limit(limit_n)],
            )
            .await?;
        collect(rows, |r| Ok(IncidentId(get(r, 0)?)))
    }

    async fn save_survey(
        &self,
        incident: IncidentId,
        volunteer: VolunteerId,
        answers: &serde_json::Value,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.exec(
            "INSERT INTO surveys (incident_id, volunteer_id, answers, at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (incident_id, volunteer_id) DO UPDATE SET answers = excluded.answers, at = excluded.at",
            &[&incident.0, &volunteer.0, answers, &at],
        )
        .await?;
        Ok(())
    }

    async fn integration(&self, region: RegionId) -> Result<Option<serde_json::Value>> {
        self.opt(
            "SELECT settings FROM region_integrations WHERE region_id = $1",
            &[&region.0],
        )
        .await?
        .map(|r| get(&r, 0))
        .transpose()
    }

    async fn set_integration(
        &self,
        region: RegionId,
        settings: &serde_json::Value,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.exec(
            "INSERT INTO region_integrations (region_id, settings, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (region_id) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at",
            &[&region.0, settings, &at],
        )
        .await?;
        Ok(())
    }

    async fn integrations(&self) -> Result<Vec<(RegionId, serde_json::Value)>> {
        let rows = self
            .rows(
                "SELECT region_id, settings FROM region_integrations ORDER BY region_id",
                &[],
            )
            .await?;
        collect(rows, |r| Ok((RegionId(get(r, 0)?), get(r, 1)?)))
    }

    async fn incident_by_external_id(
        &self,
        region: RegionId,
        external_id: &str,
    ) -> Result<Option<IncidentId>> {
        self.opt(
            "SELECT id FROM incidents WHERE region_id = $1 AND external_id = $2",
            &[&region.0, &external_id],
        )
        .await?
        .map(|r| Ok(IncidentId(get(&r, 0)?)))
        .transpose()
    }

    async fn cad_message(&self, region: RegionId, key: &str) -> Result<Option<CadMessage>> {
        self.opt(
            "SELECT region_id, key, incident_id, kind, source_at, received_at FROM cad_messages WHERE region_id = $1 AND key = $2",
            &[&region.0, &key],
        )
        .await?
        .as_ref()
        .map(cad_row)
        .transpose()
    }

    async fn record_cad_message(&self, m: &CadMessage) -> Result<()> {
        self.exec(
            "INSERT INTO cad_messages (region_id, key, incident_id, kind, source_at, received_at) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (region_id, key) DO UPDATE SET incident_id = excluded.incident_id, kind = excluded.kind,
               source_at = excluded.source_at, received_at = excluded.received_at",
            &[&m.region_id.0, &m.key, &m.incident.0, &m.kind, &m.source_at, &m.received_at],
        )
        .await?;
        Ok(())
    }

    async fn cad_latest(&self, incident: IncidentId) -> Result<Option<DateTime<Utc>>> {
        let r = self
            .one(
                "SELECT MAX(source_at) FROM cad_messages WHERE incident_id = $1",
                &[&incident.0],
            )
            .await?;
        get(&r, 0)
    }

    async fn event_log(
        &self,
        region: RegionId,
        after: i64,
        limit_n: u32,
    ) -> Result<Vec<LoggedEvent>> {
        let rows = self
            .rows(
                "SELECT e.pos, i.region_id, e.incident_id, e.seq, e.event FROM mission_events e
                 JOIN incidents i ON i.id = e.incident_id
                 WHERE e.pos > $1 AND i.region_id = $2 ORDER BY e.pos LIMIT $3",
                &[&after, &region.0, &limit(limit_n)],
            )
            .await?;
        collect(rows, |r| {
            Ok(LoggedEvent {
                pos: get(r, 0)?,
                region_id: RegionId(get(r, 1)?),
                incident: IncidentId(get(r, 2)?),
                seq: u64_col(r, 3)?,
                event: json_col(r, 4)?,
            })
        })
    }

    async fn event_log_head(&self) -> Result<i64> {
        let r = self
            .one(
                "SELECT COALESCE(MAX(pos), 0)::int8 FROM mission_events",
                &[],
            )
            .await?;
        get(&r, 0)
    }

    async fn webhook_cursor(&self, region: RegionId) -> Result<Option<WebhookCursor>> {
        self.opt(
            "SELECT region_id, last_pos, attempts, next_attempt_at, last_error, delivered, skipped, updated_at
             FROM webhook_cursors WHERE region_id = $1",
            &[&region.0],
        )
        .await?
        .as_ref()
        .map(cursor_row)
        .transpose()
    }

    async fn save_webhook_cursor(&self, w: &WebhookCursor) -> Result<()> {
        let attempts = i32::try_from(w.attempts)
            .map_err(|_| StoreError::Backend("attempts out of range".into()))?;
        self.exec(
            "INSERT INTO webhook_cursors (region_id, last_pos, attempts, next_attempt_at, last_error, delivered, skipped, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (region_id) DO UPDATE SET last_pos = excluded.last_pos, attempts = excluded.attempts,
               next_attempt_at = excluded.next_attempt_at, last_error = excluded.last_error,
               delivered = excluded.delivered, skipped = excluded.skipped, updated_at = excluded.updated_at",
            &[&w.region_id.0, &w.last_pos, &attempts, &w.next_attempt_at, &w.last_error, &to_i64(w.delivered)?, &to_i64(w.skipped)?, &w.updated_at],
        )
        .await?;
        Ok(())
    }

    async fn live_mission_ids(&self) -> Result<Vec<IncidentId>> {
        let rows = self
            .rows("SELECT id FROM incidents WHERE status = 'active'", &[])
            .await?;
        collect(rows, |r| Ok(IncidentId(get(r, 0)?)))
    }

    async fn busy(&self) -> Result<Vec<(VolunteerId, IncidentId)>> {
        let rows = self
            .rows(
                "SELECT volunteer_id, incident_id FROM volunteer_busy ORDER BY since",
                &[],
            )
            .await?;
        collect(rows, |r| {
            Ok((VolunteerId(get(r, 0)?), IncidentId(get(r, 1)?)))
        })
    }
}

#[async_trait]
impl OutboxStore for PgStore {
    async fn enqueue(&self, items: &[NewOutbox]) -> Result<()> {
        let c = self.conn().await?;
        insert_outbox(&*c, items, Utc::now()).await
    }

    async fn outbox_due(&self, now: DateTime<Utc>, limit_n: u32) -> Result<Vec<OutboxItem>> {
        collect(
            self.rows(
                &format!(
                    "SELECT {OUTBOX_COLS} FROM outbox WHERE status = 'pending' AND next_attempt_at <= $1
                     AND (claimed_until IS NULL OR claimed_until <= $1) ORDER BY next_attempt_at, id LIMIT $2"
                ),
                &[&now, &limit(limit_n)],
            )
            .await?,
            outbox_row,
        )
    }

    async fn outbox_claim(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        limit_n: u32,
        hold: chrono::Duration,
    ) -> Result<Vec<OutboxItem>> {
        // SKIP LOCKED: nodes claiming at once take different items.
        let until = now + hold;
        let mut items = collect(
            self.rows(
                &format!(
                    "UPDATE outbox SET claimed_by = $3, claimed_until = $4 WHERE id IN (
                         SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $1
                         AND (claimed_until IS NULL OR claimed_until <= $1)
                         ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED)
                     RETURNING {OUTBOX_COLS}"
                ),
                &[&now, &limit(limit_n), &holder, &until],
            )
            .await?,
            outbox_row,
        )?;
        items.sort_by_key(|i| i.id);
        Ok(items)
    }

    async fn outbox_sent(&self, id: i64, at: DateTime<Utc>) -> Result<()> {
        self.exec(
            "UPDATE outbox SET status = 'sent', sent_at = $2, attempts = attempts + 1, last_error = NULL, claimed_until = NULL WHERE id = $1",
            &[&id, &at],
        )
        .await?;
        Ok(())
    }

    async fn outbox_retry(&self, id: i64, next_at: DateTime<Utc>, error: &str) -> Result<()> {
        self.exec(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $2, last_error = $3, claimed_until = NULL WHERE id = $1",
            &[&id, &next_at, &error],
        )
        .await?;
        Ok(())
    }

    async fn outbox_dead(&self, id: i64, error: &str) -> Result<()> {
        self.exec("UPDATE outbox SET status = 'dead', attempts = attempts + 1, last_error = $2, claimed_until = NULL WHERE id = $1", &[&id, &error])
            .await?;
        Ok(())
    }

    async fn outbox_next_due(&self) -> Result<Option<DateTime<Utc>>> {
        let r = self.one("SELECT MIN(GREATEST(next_attempt_at, claimed_until)) FROM outbox WHERE status = 'pending'", &[]).await?;
        get(&r, 0)
    }

    async fn outbox_stats(&self) -> Result<OutboxStats> {
        let r = self
            .one(
                "SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'sent'),
                        count(*) FILTER (WHERE status = 'dead') FROM outbox",
                &[],
            )
            .await?;
        Ok(OutboxStats {
            pending: u64_col(&r, 0)?,
            sent: u64_col(&r, 1)?,
            dead: u64_col(&r, 2)?,
        })
    }

    async fn outbox_sent_keys(&self, incident: IncidentId) -> Result<Vec<String>> {
        let rows = self.rows("SELECT dedupe_key FROM outbox WHERE incident_id = $1 AND status = 'sent' ORDER BY id", &[&incident.0]).await?;
        collect(rows, |r| get(r, 0))
    }
}

#[async_trait]
impl Registry for PgStore {
    async fn upsert_aed(&self, a: &Aed) -> Result<()> {
        self.upsert_aeds(std::slice::from_ref(a)).await
    }

    async fn aeds(&self, region: Option<RegionId>) -> Result<Vec<Aed>> {
        collect(
            self.rows(&format!("SELECT {AED_COLS} FROM aeds WHERE $1::uuid IS NULL OR region_id = $1 ORDER BY id"), &[&region.map(|r| r.0)])
                .await?,
            aed_row,
        )
    }

    async fn aed(&self, id: AedId) -> Result<Option<Aed>> {
        self.opt(
            &format!("SELECT {AED_COLS} FROM aeds WHERE id = $1"),
            &[&id.0],
        )
        .await?
        .as_ref()
        .map(aed_row)
        .transpose()
    }

    async fn upsert_aeds(&self, aeds: &[Aed]) -> Result<()> {
        // One statement: all of them or none.
        let mut c = self.conn().await?;
        let tx = c.transaction().await.map_err(backend)?;
        upsert_aeds_in(&tx, aeds).await?;
        let announced: Vec<Change> = aeds.iter().map(|a| Change::Aed(a.id)).collect();
        changes::announce(&tx, &self.origin, &announced).await?;
        tx.commit().await.map_err(backend)
    }
}

#[async_trait]
impl Monitoring for PgStore {
    async fn save_unit(&self, u: &MonitorUnit) -> Result<()> {
        self.exec_announced(
            "INSERT INTO monitor_units (id, region_id, aed_id, lorawan_device_id, data) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id) DO UPDATE SET region_id = excluded.region_id, aed_id = excluded.aed_id,
             lorawan_device_id = excluded.lorawan_device_id, data = excluded.data",
            &[&u.id, &u.region_id.0, &u.aed_id.map(|a| a.0), &u.lorawan.as_ref().map(|l| l.device_id.as_str()), &to_json(u)?],
            &[Change::Unit(u.id)],
        )
        .await?;
        Ok(())
    }

    async fn units(&self) -> Result<Vec<MonitorUnit>> {
        collect(
            self.rows("SELECT data FROM monitor_units ORDER BY id", &[])
                .await?,
            |r| json_col(r, 0),
        )
    }

    async fn save_unit_states(
        &self,
        states: &[(Uuid, serde_json::Value)],
        at: DateTime<Utc>,
    ) -> Result<()> {
        if states.is_empty() {
            return Ok(());
        }
        let ids: Vec<Uuid> = states.iter().map(|s| s.0).collect();
        let vals: Vec<&serde_json::Value> = states.iter().map(|s| &s.1).collect();
        self.exec(
            "UPDATE monitor_units u SET state = v.state, state_at = $3
             FROM unnest($1::uuid[], $2::jsonb[]) AS v(id, state) WHERE u.id = v.id",
            &[&ids, &vals, &at],
        )
        .await?;
        Ok(())
    }

    async fn unit_states(&self) -> Result<Vec<(Uuid, serde_json::Value)>> {
        collect(
            self.rows(
                "SELECT id, state FROM monitor_units WHERE state IS NOT NULL",
                &[],
            )
            .await?,
            |r| Ok((get(r, 0)?, get(r, 1)?)),
        )
    }

    async fn commit_monitor(&self, w: &MonitorWrite) -> Result<()> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await.map_err(backend)?;
        if let Some(r) = &w.readiness {
            tx.execute(
                "UPDATE aeds SET readiness = $2, updated_at = $3 WHERE id = $1",
                &[&r.aed_id.0, &enum_str(&r.readiness), &r.at],
            )
            .await
            .map_err(backend)?;
            tx.execute(
                "INSERT INTO readiness_history (aed_id, at, readiness, causes) VALUES ($1, $2, $3, $4)",
                &[&r.aed_id.0, &r.at, &enum_str(&r.readiness), &to_json(&r.causes)?],
            )
            .await
            .map_err(backend)?;
        }
        if let Some((id, st)) = &w.unit_state {
            tx.execute(
                "UPDATE monitor_units SET state = $2, state_at = $3 WHERE id = $1",
                &[id, st, &w.at],
            )
            .await
            .map_err(backend)?;
        }
        for t in &w.tickets {
            tx.execute(
                "INSERT INTO service_tickets (id, region_id, aed_id, cause, open, opened_at, data) VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (id) DO UPDATE SET open = excluded.open, data = excluded.data",
                &[&t.id, &t.region_id.0, &t.aed_id.0, &t.cause, &(t.state != TicketState::Resolved), &t.opened_at, &to_json(t)?],
            )
            .await
            .map_err(backend)?;
        }
        insert_outbox(&tx, &w.outbox, w.at).await?;
        if let Some(r) = &w.readiness {
            changes::announce(&tx, &self.origin, &[Change::Aed(r.aed_id)]).await?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn tickets(
        &self,
        region: Option<RegionId>,
        aed: Option<AedId>,
        open_only: bool,
        limit: u32,
    ) -> Result<Vec<Ticket>> {
        let rows = self
            .rows(
                "SELECT data FROM service_tickets WHERE ($1::uuid IS NULL OR region_id = $1) AND ($2::uuid IS NULL OR aed_id = $2)
                 AND (NOT $3 OR open) ORDER BY opened_at DESC, id LIMIT $4",
                &[&region.map(|r| r.0), &aed.map(|a| a.0), &open_only, &self::limit(limit)],
            )
            .await?;
        collect(rows, |r| json_col(r, 0))
    }

    async fn ticket(&self, id: Uuid) -> Result<Option<Ticket>> {
        self.opt("SELECT data FROM service_tickets WHERE id = $1", &[&id])
            .await?
            .as_ref()
            .map(|r| json_col(r, 0))
            .transpose()
    }

    async fn readiness_history(&self, aed: AedId, limit: u32) -> Result<Vec<ReadinessRecord>> {
        let rows = self
            .rows("SELECT aed_id, at, readiness, causes FROM readiness_history WHERE aed_id = $1 ORDER BY id DESC LIMIT $2", &[&aed.0, &self::limit(limit)])
            .await?;
        collect(rows, |r| {
            Ok(ReadinessRecord {
                aed_id: AedId(get(r, 0)?),
                at: get(r, 1)?,
                readiness: enum_col(r, 2)?,
                causes: json_col(r, 3)?,
            })
        })
    }

    async fn save_telemetry(&self, buckets: &[TelemetryBucket]) -> Result<()> {
        if buckets.is_empty() {
            return Ok(());
        }
        let units: Vec<Uuid> = buckets.iter().map(|b| b.unit_id).collect();
        let starts: Vec<DateTime<Utc>> = buckets.iter().map(|b| b.start).collect();
        let data = buckets.iter().map(to_json).collect::<Result<Vec<_>>>()?;
        self.exec(
            "INSERT INTO telemetry_buckets (unit_id, start, data) SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::jsonb[])
             ON CONFLICT (unit_id, start) DO UPDATE SET data = excluded.data",
            &[&units, &starts, &data],
        )
        .await?;
        Ok(())
    }

    async fn purge_telemetry(&self, before: DateTime<Utc>) -> Result<u64> {
        self.exec("DELETE FROM telemetry_buckets WHERE start < $1", &[&before])
            .await
    }

    async fn telemetry(
        &self,
        unit: Uuid,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<TelemetryBucket>> {
        let rows = self
            .rows("SELECT data FROM telemetry_buckets WHERE unit_id = $1 AND start >= $2 ORDER BY start LIMIT $3", &[&unit, &since, &self::limit(limit)])
            .await?;
        collect(rows, |r| json_col(r, 0))
    }
}

#[async_trait]
impl Cluster for PgStore {
    async fn acquire_leases(
        &self,
        holder: &str,
        names: &[String],
        ttl: std::time::Duration,
    ) -> Result<Vec<Lease>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let ms = i64::try_from(ttl.as_millis())
            .map_err(|_| StoreError::Backend("lease time out of range".into()))?;
        // The database's clock decides expiry, so nodes' clocks need not agree.
        let rows = self
            .rows(
                "INSERT INTO leases (name, holder, epoch, expires_at)
                 SELECT n, $2, 1, clock_timestamp() + make_interval(secs => $3::float8 / 1000) FROM UNNEST($1::text[]) AS n
                 ON CONFLICT (name) DO UPDATE SET
                     epoch = CASE WHEN leases.holder = excluded.holder THEN leases.epoch ELSE leases.epoch + 1 END,
                     holder = excluded.holder, expires_at = excluded.expires_at
                 WHERE leases.holder = excluded.holder OR leases.expires_at <= clock_timestamp()
                 RETURNING name, epoch",
                &[&names, &holder, &(ms as f64)],
            )
            .await?;
        collect(rows, |r| {
            Ok(Lease {
                name: get(r, 0)?,
                epoch: u64_col(r, 1)?,
            })
        })
    }

    async fn release_leases(&self, holder: &str, names: &[String]) -> Result<()> {
        self.exec(
            "DELETE FROM leases WHERE name = ANY($1) AND holder = $2",
            &[&names, &holder],
        )
        .await?;
        Ok(())
    }

    async fn announce(&self, changes: &[Change]) -> Result<()> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await.map_err(backend)?;
        changes::announce(&tx, &self.origin, changes).await?;
        tx.commit().await.map_err(backend)
    }

    fn shared(&self) -> bool {
        true
    }

    async fn changes(&self) -> Result<Option<tokio::sync::mpsc::Receiver<Change>>> {
        self.ensure_ready().await?;
        changes::listen(self.pool.config().clone(), self.origin.clone())
            .await
            .map(Some)
    }
}
