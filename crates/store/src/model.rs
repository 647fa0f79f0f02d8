//! The records the store keeps. Plain data; the server maps them to wire types.

use chrono::{DateTime, NaiveDate, Utc};
use firstlink_domain::aed::{AedAccess, Readiness};
use firstlink_domain::geo::LatLon;
use firstlink_domain::ids::{AedId, IncidentId, RegionId, VolunteerId};
use firstlink_domain::mission::{Event, Mission};
use firstlink_domain::policy::DispatchPolicy;
use firstlink_domain::volunteer::{QuietHours, Tier};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Region {
    pub id: RegionId,
    pub slug: String,
    pub name: String,
    /// IANA time zone, e.g. `Europe/Copenhagen`.
    pub timezone: String,
    /// ISO 3166-1 alpha-2, e.g. `DK`.
    pub country: String,
    pub policy: DispatchPolicy,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    pub id: String,
    pub region_id: RegionId,
    pub name: String,
    /// argon2 PHC string of the secret part.
    pub hash: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperatorRole {
    /// Follows and acts on incidents of their regions.
    Dispatcher,
    /// Also manages volunteers, AEDs and region settings.
    Operator,
    /// Also manages regions, keys and accounts.
    Admin,
    /// Services AEDs: sees readiness and service tickets of their regions,
    /// acknowledges and resolves tickets. No incidents, no volunteers.
    Technician,
}

impl OperatorRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dispatcher => "dispatcher",
            Self::Operator => "operator",
            Self::Admin => "admin",
            Self::Technician => "technician",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "dispatcher" => Some(Self::Dispatcher),
            "operator" => Some(Self::Operator),
            "technician" => Some(Self::Technician),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Operator {
    pub id: Uuid,
    pub username: String,
    pub password_hash: String,
    pub role: OperatorRole,
    pub regions: Vec<RegionId>,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    Operator,
    Volunteer,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub token_hash: String,
    pub kind: SessionKind,
    pub subject: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Volunteer {
    pub id: VolunteerId,
    pub region_id: RegionId,
    pub name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub password_hash: String,
    /// Language of notifications (BCP 47 primary tag).
    pub language: String,
    /// Languages the volunteer speaks (shown to the dispatcher).
    pub languages: Vec<String>,
    pub birth_date: NaiveDate,
    pub tier: Tier,
    pub training_kind: Option<String>,
    pub training_date: Option<NaiveDate>,
    pub consent_at: Option<DateTime<Utc>>,
    pub verified_at: Option<DateTime<Utc>>,
    pub suspended_at: Option<DateTime<Utc>>,
    pub available: bool,
    pub quiet: Option<QuietHours>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PositionFix {
    pub volunteer: VolunteerId,
    pub position: LatLon,
    pub at_unix: u32,
}

/// Where to reach a volunteer's device: the channel and its address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "channel", rename_all = "snake_case")]
pub enum Recipient {
    WebPush {
        endpoint: String,
        p256dh: String,
        auth: String,
    },
    Fcm {
        token: String,
    },
    Apns {
        device_token: String,
    },
    Sms {
        phone: String,
    },
    Email {
        address: String,
    },
    Webhook {
        url: String,
        secret: String,
    },
    /// The demo's simulated phones, served in-process.
    Demo,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    pub id: Uuid,
    pub volunteer: VolunteerId,
    pub recipient: Recipient,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AedStatus {
    PendingReview,
    Active,
    Inactive,
    Removed,
}

/// An AED record as the backbone needs it; the registry issue extends `details`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Aed {
    pub id: AedId,
    pub region_id: RegionId,
    pub name: String,
    pub position: LatLon,
    pub access: AedAccess,
    /// OpenStreetMap `opening_hours`; `None` = unknown.
    pub opening_hours: Option<String>,
    pub readiness: Readiness,
    pub status: AedStatus,
    pub details: AedDetails,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AedDetails {
    pub indoor: Option<bool>,
    pub level: Option<String>,
    /// Where it hangs, by language tag.
    pub location_desc: Vec<(String, String)>,
    pub locked: Option<bool>,
    /// Restricted: operators, dispatch, and an assigned responder only.
    pub access_code: Option<String>,
    /// Restricted.
    pub owner_contact: Option<String>,
    pub source: Option<String>,
    pub source_id: Option<String>,
    // AED registry (issue 3): fields below default when absent from stored JSON.
    #[serde(default)]
    pub manufacturer: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub serial: Option<String>,
    #[serde(default)]
    pub pad_expiry: Option<NaiveDate>,
    #[serde(default)]
    pub battery_expiry: Option<NaiveDate>,
    #[serde(default)]
    pub last_maintenance: Option<NaiveDate>,
    /// When the owner last confirmed the record.
    #[serde(default)]
    pub last_confirmed_at: Option<DateTime<Utc>>,
    /// Restricted, like `owner_contact`.
    #[serde(default)]
    pub owner_name: Option<String>,
    /// Why `opening_hours` (as received) did not parse: the AED is kept as "hours unknown".
    #[serde(default)]
    pub hours_error: Option<String>,
    /// Open questions for an operator (moved point, likely duplicate, new registration).
    #[serde(default)]
    pub review: Vec<AedReviewFlag>,
    /// Reminders sent to the owner (confirmation, pads, battery), escalations
    /// and deactivations, oldest first; the registry's reminder rules read them.
    #[serde(default)]
    pub reminders: Vec<OwnerReminder>,
    /// Taken on a mission and not confirmed back in its cabinet yet: not
    /// offered to dispatch until it is (survives a restart).
    #[serde(default)]
    pub out_for_return: Option<OutForReturnRecord>,
    /// Volunteers who may use this AED although it is not public (staff,
    /// members); dispatch sends only them, and the public feed never shows it.
    #[serde(default)]
    pub authorized_responders: Vec<VolunteerId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutForReturnRecord {
    pub incident: IncidentId,
    pub volunteer: VolunteerId,
    pub since: DateTime<Utc>,
}

/// One reminder the registry sent (or step it took) for an AED.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerReminder {
    /// `confirm`, `pads`, `battery`, `escalate` or `deactivate`.
    pub kind: String,
    pub at: DateTime<Utc>,
}

/// A mission as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMission {
    pub region_id: RegionId,
    pub mission: Mission,
    pub updated_at: DateTime<Utc>,
    /// Grows by one with every committed step (0 after creation).
    pub version: u64,
}

/// One notification to send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxMessage {
    /// Stable id: the collapse key / idempotency key at the provider.
    pub id: String,
    pub kind: String,
    pub incident: Option<IncidentId>,
    /// Parameters for the localized text and the app.
    pub data: serde_json::Value,
    pub urgent: bool,
    pub ttl_seconds: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewOutbox {
    /// Unique: the same key is recorded once, ever (sent once per volunteer and mission).
    pub dedupe_key: String,
    pub volunteer: Option<VolunteerId>,
    pub incident: Option<IncidentId>,
    /// `None`: the volunteer's registered devices.
    pub recipient: Option<Recipient>,
    pub message: OutboxMessage,
    pub not_before: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutboxItem {
    pub id: i64,
    pub dedupe_key: String,
    pub volunteer: Option<VolunteerId>,
    pub incident: Option<IncidentId>,
    pub recipient: Option<Recipient>,
    pub message: OutboxMessage,
    pub created_at: DateTime<Utc>,
    pub attempts: u32,
}

/// Everything one step of a mission changes, committed atomically.
#[derive(Debug, Clone, PartialEq)]
pub struct MissionStep {
    pub region_id: RegionId,
    pub mission: Mission,
    /// Events to append to the timeline with their sequence numbers (1, 2, … per incident).
    pub events: Vec<(u64, Event)>,
    pub outbox: Vec<NewOutbox>,
    pub claims: Vec<(AedId, VolunteerId)>,
    pub releases: Vec<AedId>,
    /// Volunteers this step alerts (busy with this mission until freed) and
    /// frees. A volunteer busy with another live mission makes the whole
    /// step fail with `Conflict("volunteer busy")`.
    pub busy: Vec<VolunteerId>,
    pub free: Vec<VolunteerId>,
    /// The stored version this step was computed from: the commit fails with
    /// [`crate::StoreError::Stale`] when another step committed since.
    /// `create_incident` ignores it (a new incident starts at version 0).
    pub base_version: u64,
    pub at: DateTime<Utc>,
}

/// A time-limited lease held by one node (see [`crate::Store::acquire_leases`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub name: String,
    /// Grows by one whenever the lease changes holder.
    pub epoch: u64,
}

/// A write that an in-memory view mirrors (see [`crate::Store::changes`]).
///
/// A change names what changed, not its new value (positions excepted):
/// whoever applies it reads the current row, so applying a change twice, or
/// late, ends in the same state.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Positions(Vec<PositionFix>),
    PositionDeleted(VolunteerId),
    Volunteer(VolunteerId),
    Aed(AedId),
    Region(RegionId),
    /// A mission step (or a new incident) was committed.
    Mission(IncidentId),
    /// An API key was created or revoked (by its public id).
    ApiKey(String),
    /// An operator account was created or changed.
    Operator(uuid::Uuid),
    /// A monitoring unit was provisioned, moved, rotated or revoked.
    Unit(uuid::Uuid),
    /// A setting (region partition, monitoring rules, service routing, …) by key.
    Setting(String),
    /// A region's pedestrian graph file was rebuilt.
    Graph(RegionId),
    /// The feed was interrupted and changes may have been missed: reload.
    Resync,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub region_id: Option<RegionId>,
    pub target: Option<String>,
    pub details: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub aed: AedId,
    pub incident: IncidentId,
    pub volunteer: VolunteerId,
}

/// Result of creating an incident.
#[derive(Debug, Clone, PartialEq)]
pub enum Created {
    New,
    /// The region already has an incident with this external id.
    Existing(IncidentId),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxStats {
    pub pending: u64,
    pub sent: u64,
    pub dead: u64,
}

/// Why an AED record waits for an operator (AED registry, issue 3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AedReviewFlag {
    /// A sync saw the point more than 100 m away; the stored position is kept until approved.
    Moved {
        lat: f64,
        lon: f64,
        distance_m: f64,
        source: Option<String>,
    },
    /// Another record lies within a few metres.
    Duplicate { of: AedId, distance_m: f64 },
    /// Registered by an owner; pending review.
    NewRegistration,
}

// --- dispatch-centre integration (issue 8) ---

/// A CAP / EIDO message that created or changed an incident, under its
/// idempotency key.
#[derive(Debug, Clone, PartialEq)]
pub struct CadMessage {
    pub region_id: RegionId,
    /// CAP `"<sender>|<identifier>"`, EIDO `"eido|<$id>"`.
    pub key: String,
    pub incident: IncidentId,
    /// `alert`, `update`, `cancel` or `eido`.
    pub kind: String,
    /// The source's own timestamp (CAP `sent`, EIDO `lastUpdateTimeStamp`).
    pub source_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
}

/// A mission event with its position in the global, durable commit order.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedEvent {
    /// Strictly increasing across all incidents, in commit order.
    pub pos: i64,
    pub region_id: RegionId,
    pub incident: IncidentId,
    pub seq: u64,
    pub event: Event,
}

/// Where a region's status webhook stands.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookCursor {
    pub region_id: RegionId,
    /// Position of the last event acknowledged (or given up on).
    pub last_pos: i64,
    /// Failed attempts at the next event.
    pub attempts: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub delivered: u64,
    pub skipped: u64,
    pub updated_at: DateTime<Utc>,
}
