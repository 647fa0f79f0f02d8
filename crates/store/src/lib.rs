//! firstlink's storage boundary.
//!
//! [`Store`] is everything the server asks of a database, in domain terms. The
//! embedded [`sqlite::SqliteStore`] is the default; a PostgreSQL backend
//! implements the same trait. Every write method returns only once its change
//! is durable (committed), so the server never acknowledges what could be lost.

pub mod model;
pub mod monitoring;
pub mod sqlite;
#[cfg(feature = "suite")]
pub mod suite;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use firstlink_domain::ids::{AedId, IncidentId, RegionId, VolunteerId};
use firstlink_domain::mission::Event;
use firstlink_domain::policy::DispatchPolicy;
use uuid::Uuid;

pub use model::*;
pub use monitoring::*;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was hit (the string says which).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    #[error("not found")]
    NotFound,
    #[error("database error: {0}")]
    Backend(String),
    #[error("corrupt record: {0}")]
    Corrupt(String),
    #[error("the store is shut down")]
    Closed,
    /// An optimistic write found the record changed since it was read.
    #[error("changed since read")]
    Stale,
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Regions, API keys, operator accounts, sessions, the audit log and settings.
#[async_trait]
pub trait Accounts: Send + Sync {
    async fn create_region(&self, r: &Region) -> Result<()>;

    async fn regions(&self) -> Result<Vec<Region>>;

    async fn update_policy(&self, id: RegionId, policy: &DispatchPolicy) -> Result<()>;

    async fn create_api_key(&self, k: &ApiKey) -> Result<()>;

    async fn api_key(&self, id: &str) -> Result<Option<ApiKey>>;

    async fn api_keys(&self, region: RegionId) -> Result<Vec<ApiKey>>;

    async fn revoke_api_key(&self, id: &str, at: DateTime<Utc>) -> Result<()>;

    async fn create_operator(&self, o: &Operator) -> Result<()>;

    async fn operator_by_username(&self, username: &str) -> Result<Option<Operator>>;

    async fn operator(&self, id: Uuid) -> Result<Option<Operator>>;

    async fn operators(&self) -> Result<Vec<Operator>>;

    async fn create_session(&self, s: &Session) -> Result<()>;

    async fn session(&self, token_hash: &str) -> Result<Option<Session>>;

    async fn delete_session(&self, token_hash: &str) -> Result<()>;

    async fn delete_sessions_of(&self, subject: Uuid) -> Result<()>;

    async fn audit(&self, e: &AuditEntry) -> Result<()>;

    async fn audit_log(&self, region: Option<RegionId>, limit: u32) -> Result<Vec<AuditEntry>>;

    async fn setting(&self, key: &str) -> Result<Option<String>>;

    async fn set_setting(&self, key: &str, value: &str) -> Result<()>;
}

/// Volunteers, their phone verification, positions and devices.
#[async_trait]
pub trait Volunteers: Send + Sync {
    async fn create_volunteer(&self, v: &Volunteer) -> Result<()>;

    async fn update_volunteer(&self, v: &Volunteer) -> Result<()>;

    async fn volunteer(&self, id: VolunteerId) -> Result<Option<Volunteer>>;

    async fn volunteer_by_contact(
        &self,
        region: RegionId,
        phone: Option<&str>,
        email: Option<&str>,
    ) -> Result<Option<Volunteer>>;

    async fn volunteers(
        &self,
        region: Option<RegionId>,
        query: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Volunteer>>;

    async fn delete_volunteer(&self, id: VolunteerId) -> Result<()>;

    async fn set_verification(
        &self,
        id: VolunteerId,
        code_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<()>;

    /// Returns the stored code hash and expiry and counts one attempt.
    async fn verification_attempt(
        &self,
        id: VolunteerId,
    ) -> Result<Option<(String, DateTime<Utc>, u32)>>;

    async fn clear_verification(&self, id: VolunteerId) -> Result<()>;

    async fn save_positions(&self, fixes: &[PositionFix]) -> Result<()>;

    async fn delete_position(&self, id: VolunteerId) -> Result<()>;

    async fn positions(&self) -> Result<Vec<PositionFix>>;

    /// Deletes positions older than `before_unix`; returns whose.
    async fn purge_positions(&self, before_unix: u32) -> Result<Vec<VolunteerId>>;

    async fn add_device(&self, d: &Device) -> Result<()>;

    async fn devices(&self, volunteer: VolunteerId) -> Result<Vec<Device>>;

    async fn delete_device(&self, volunteer: VolunteerId, id: Uuid) -> Result<bool>;
}

/// Incidents and missions: steps, events, claims, busy volunteers, surveys,
/// the dispatch-centre integration (settings, CAD messages, event log, webhook cursors).
#[async_trait]
pub trait Missions: Send + Sync {
    async fn claims(&self) -> Result<Vec<Claim>>;

    /// Stores a new incident with its first mission state, unless the region
    /// already has one with the same external id.
    async fn create_incident(&self, step: &MissionStep) -> Result<Created>;

    /// Commits one mission step atomically: state, events, outbox, claims,
    /// busy volunteers — only on top of `step.base_version` ([`StoreError::Stale`]
    /// otherwise). A step that ends the mission frees all its volunteers.
    async fn commit_step(&self, step: &MissionStep) -> Result<()>;

    /// Ids of the live missions (cheap: no state is read).
    async fn live_mission_ids(&self) -> Result<Vec<IncidentId>>;

    /// Volunteers busy with a live mission, and with which.
    async fn busy(&self) -> Result<Vec<(VolunteerId, IncidentId)>>;

    async fn mission(&self, id: IncidentId) -> Result<Option<StoredMission>>;

    async fn live_missions(&self) -> Result<Vec<StoredMission>>;

    async fn missions(
        &self,
        region: RegionId,
        live_only: bool,
        limit: u32,
    ) -> Result<Vec<StoredMission>>;

    async fn events(&self, id: IncidentId, after_seq: u64) -> Result<Vec<(u64, Event)>>;

    /// Missions the volunteer was alerted for, newest first.
    async fn alerts_of(&self, volunteer: VolunteerId, limit: u32) -> Result<Vec<IncidentId>>;

    async fn save_survey(
        &self,
        incident: IncidentId,
        volunteer: VolunteerId,
        answers: &serde_json::Value,
        at: DateTime<Utc>,
    ) -> Result<()>;

    /// The region's CAD integration settings: a JSON document whose schema the server owns.
    async fn integration(&self, region: RegionId) -> Result<Option<serde_json::Value>>;

    async fn set_integration(
        &self,
        region: RegionId,
        settings: &serde_json::Value,
        at: DateTime<Utc>,
    ) -> Result<()>;

    /// Every region's integration settings.
    async fn integrations(&self) -> Result<Vec<(RegionId, serde_json::Value)>>;

    async fn incident_by_external_id(
        &self,
        region: RegionId,
        external_id: &str,
    ) -> Result<Option<IncidentId>>;

    async fn cad_message(&self, region: RegionId, key: &str) -> Result<Option<CadMessage>>;

    /// Records a CAD message; the same region and key again replaces it.
    async fn record_cad_message(&self, m: &CadMessage) -> Result<()>;

    /// The latest source timestamp of the CAD messages recorded for an incident.
    async fn cad_latest(&self, incident: IncidentId) -> Result<Option<DateTime<Utc>>>;

    /// Mission events of `region` committed after position `after`, in commit order.
    async fn event_log(&self, region: RegionId, after: i64, limit: u32)
    -> Result<Vec<LoggedEvent>>;

    /// The position of the latest committed mission event (0 when none).
    async fn event_log_head(&self) -> Result<i64>;

    async fn webhook_cursor(&self, region: RegionId) -> Result<Option<WebhookCursor>>;

    async fn save_webhook_cursor(&self, c: &WebhookCursor) -> Result<()>;
}

/// The outbox of messages to send.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    async fn enqueue(&self, items: &[NewOutbox]) -> Result<()>;

    /// Pending items due at `now` that no worker holds (a read; see [`OutboxStore::outbox_claim`]).
    async fn outbox_due(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<OutboxItem>>;

    /// Hands out up to `limit` items due at `now` and holds them for `holder`
    /// until `now + hold`: no other caller gets them meanwhile. Marking an
    /// item sent, retried or dead ends the hold; a holder that dies lets it
    /// run out and another worker sends the item.
    async fn outbox_claim(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        limit: u32,
        hold: chrono::Duration,
    ) -> Result<Vec<OutboxItem>>;

    async fn outbox_sent(&self, id: i64, at: DateTime<Utc>) -> Result<()>;

    async fn outbox_retry(&self, id: i64, next_at: DateTime<Utc>, error: &str) -> Result<()>;

    async fn outbox_dead(&self, id: i64, error: &str) -> Result<()>;

    /// When the next pending item becomes due or its hold runs out.
    async fn outbox_next_due(&self) -> Result<Option<DateTime<Utc>>>;

    async fn outbox_stats(&self) -> Result<OutboxStats>;

    /// Sent messages (for tests and the audit view).
    async fn outbox_sent_keys(&self, incident: IncidentId) -> Result<Vec<String>>;
}

/// The AED registry.
#[async_trait]
pub trait Registry: Send + Sync {
    async fn upsert_aed(&self, a: &Aed) -> Result<()>;

    async fn aeds(&self, region: Option<RegionId>) -> Result<Vec<Aed>>;

    async fn aed(&self, id: AedId) -> Result<Option<Aed>>;

    /// Writes many AED records, in one transaction where the backend can
    /// (SQLite: all of them or none). The default writes them one by one.
    async fn upsert_aeds(&self, aeds: &[Aed]) -> Result<()> {
        for a in aeds {
            self.upsert_aed(a).await?;
        }
        Ok(())
    }
}

/// AED readiness monitoring: units, tickets, readiness history, telemetry.
#[async_trait]
pub trait Monitoring: Send + Sync {
    /// Inserts or replaces a monitoring unit.
    async fn save_unit(&self, u: &MonitorUnit) -> Result<()>;

    async fn units(&self) -> Result<Vec<MonitorUnit>>;

    /// Rule states of units, saved in one transaction (periodic checkpoint).
    async fn save_unit_states(
        &self,
        states: &[(Uuid, serde_json::Value)],
        at: DateTime<Utc>,
    ) -> Result<()>;

    async fn unit_states(&self) -> Result<Vec<(Uuid, serde_json::Value)>>;

    /// Applies a monitoring decision atomically (see [`MonitorWrite`]).
    async fn commit_monitor(&self, w: &MonitorWrite) -> Result<()>;

    /// Tickets, newest first; `open_only` leaves out resolved ones.
    async fn tickets(
        &self,
        region: Option<RegionId>,
        aed: Option<AedId>,
        open_only: bool,
        limit: u32,
    ) -> Result<Vec<Ticket>>;

    async fn ticket(&self, id: Uuid) -> Result<Option<Ticket>>;

    /// An AED's readiness changes, newest first.
    async fn readiness_history(&self, aed: AedId, limit: u32) -> Result<Vec<ReadinessRecord>>;

    /// Inserts or replaces telemetry buckets (keyed by unit and start).
    async fn save_telemetry(&self, buckets: &[TelemetryBucket]) -> Result<()>;

    /// A unit's buckets from `since` on, oldest first.
    async fn telemetry(
        &self,
        unit: Uuid,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<TelemetryBucket>>;

    /// Deletes telemetry buckets that started before `before`; returns how many.
    async fn purge_telemetry(&self, before: DateTime<Utc>) -> Result<u64>;
}

/// Several nodes: leases and the change feed.
#[async_trait]
pub trait Cluster: Send + Sync {
    /// Takes or renews, for `holder`, each named lease for `ttl` (measured by
    /// the store's clock). A lease held by another holder is taken only once
    /// it has expired, and its epoch then grows by one. Returns the leases
    /// `holder` holds afterwards.
    async fn acquire_leases(
        &self,
        holder: &str,
        names: &[String],
        ttl: std::time::Duration,
    ) -> Result<Vec<Lease>>;

    /// Gives up leases `holder` holds (others are left alone).
    async fn release_leases(&self, holder: &str, names: &[String]) -> Result<()>;

    /// The change feed: what is written to this store, in commit order, for
    /// processes that keep in-memory views of it. PostgreSQL announces other
    /// nodes' writes (LISTEN/NOTIFY); the embedded SQLite store tails its
    /// `changes` table, which also lists this process's own writes (applying
    /// a change is idempotent). `None`: the store keeps no feed.
    async fn changes(&self) -> Result<Option<tokio::sync::mpsc::Receiver<Change>>> {
        Ok(None)
    }

    /// Announces changes that are not a row of the store (a rebuilt graph
    /// file) to every process following the feed.
    async fn announce(&self, changes: &[Change]) -> Result<()> {
        let _ = changes;
        Ok(())
    }

    /// Whether other server nodes may write to this store at the same time
    /// (then leases decide who drives what).
    fn shared(&self) -> bool {
        false
    }
}

/// Everything the server asks of a database: one object type for all the
/// area traits (`Arc<dyn Store>`). Any type implementing every area is a `Store`.
pub trait Store:
    Accounts
    + Volunteers
    + Missions
    + OutboxStore
    + Registry
    + Monitoring
    + Cluster
    + Send
    + Sync
    + 'static
{
}

impl<T> Store for T where
    T: Accounts
        + Volunteers
        + Missions
        + OutboxStore
        + Registry
        + Monitoring
        + Cluster
        + Send
        + Sync
        + 'static
{
}

/// The area traits, for calling store methods: `use firstlink_store::prelude::*;`.
pub mod prelude {
    pub use crate::{
        Accounts, Cluster, Missions, Monitoring, OutboxStore, Registry, Store, Volunteers,
    };
}
