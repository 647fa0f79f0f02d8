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

mod area_accounts;
mod area_cluster;
mod area_missions;
mod area_monitoring;
mod area_outbox;
mod area_registry;
mod area_volunteers;
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
