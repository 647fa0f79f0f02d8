//! Records of AED readiness monitoring (issue 6): monitoring units, service
//! tickets, readiness history and downsampled telemetry.

use chrono::{DateTime, Utc};
use firstlink_domain::aed::Readiness;
use firstlink_domain::ids::{AedId, RegionId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::NewOutbox;

/// A monitoring unit in an AED cabinet, bound to at most one AED at a time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorUnit {
    pub id: Uuid,
    pub region_id: RegionId,
    pub aed_id: Option<AedId>,
    /// The unit's make and model, e.g. "seluxit-aed-1".
    pub hardware: String,
    pub firmware: Option<String>,
    /// How often the unit reports; silence for two intervals is a fault.
    pub interval_s: u32,
    /// Part of the unit's key derivation; bumping it revokes the old key.
    pub key_generation: u32,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Set for LoRaWAN cabinet sensors reached through The Things Stack.
    pub lorawan: Option<LorawanBinding>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LorawanBinding {
    /// The Things Stack end-device id (unique).
    pub device_id: String,
    /// The payload codec, e.g. "milesight-ws301".
    pub codec: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketState {
    Open,
    Acknowledged,
    Resolved,
}

/// One service ticket per AED and cause while unresolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    pub id: Uuid,
    pub region_id: RegionId,
    pub aed_id: AedId,
    pub unit_id: Option<Uuid>,
    /// A rule's cause code (`status_fault`, `temperature_low`, …) or a check (`door_opened`).
    pub cause: String,
    pub state: TicketState,
    pub opened_at: DateTime<Utc>,
    /// When its first notice was recorded for someone (`None`: nobody was
    /// to be told, or a ticket stored before this field existed).
    /// Escalation counts from here.
    #[serde(default)]
    pub notified_at: Option<DateTime<Utc>>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    /// The signal went back to normal; the ticket stays for review.
    pub normal_since: Option<DateTime<Utc>>,
    pub escalated_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    pub note: Option<String>,
}

/// An AED's readiness from `at` on, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadinessRecord {
    pub aed_id: AedId,
    pub at: DateTime<Utc>,
    pub readiness: Readiness,
    pub causes: Vec<String>,
}

/// A unit's telemetry over one bucket (15 minutes): what the console charts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TelemetryBucket {
    pub unit_id: Uuid,
    pub start: DateTime<Utc>,
    pub messages: u32,
    pub temp_min: Option<f32>,
    pub temp_max: Option<f32>,
    pub temp_last: Option<f32>,
    /// The last status light seen (`ok`, `fault`, `off`, `unknown`).
    pub light: Option<String>,
    pub unit_battery: Option<u8>,
    pub door_opens: u32,
}

/// What one monitoring decision changes, committed atomically: the AED's
/// readiness (with a history row), the unit's rule state, tickets opened or
/// updated, and the notifications they cause.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MonitorWrite {
    pub at: DateTime<Utc>,
    pub readiness: Option<ReadinessRecord>,
    pub unit_state: Option<(Uuid, serde_json::Value)>,
    /// Inserted or replaced by id.
    pub tickets: Vec<Ticket>,
    pub outbox: Vec<NewOutbox>,
}
