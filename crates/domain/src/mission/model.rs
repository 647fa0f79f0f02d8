//! The mission's data: states, tasks, alerts, inputs, effects, events and
//! the mission record itself. The state machine is in the parent module.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::geo::LatLon;
use crate::ids::{AedId, IncidentId, VolunteerId};
use crate::incident::NewIncident;
use crate::policy::DispatchPolicy;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Volunteers are being alerted or are on their way.
    Active,
    /// Accepted but nobody alerted (an exclusion or blackout applied).
    NotAlerted,
    /// The ambulance took over, the dispatcher ended it, or it timed out.
    Ended,
    /// The dispatch centre cancelled it.
    Cancelled,
}

/// One volunteer's part in a mission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    Alerted,
    Declined,
    TimedOut,
    Accepted,
    EnRoute,
    AtAed,
    OnScene,
    HandedOver,
    /// Not needed (enough accepted, or the mission ended before they answered).
    StoodDown,
    /// Had moved out of range when accepting: released.
    OutOfRange,
    /// Accepted, then withdrew.
    Left,
}

impl AlertState {
    /// Accepted and still taking part.
    pub fn responding(self) -> bool {
        matches!(
            self,
            Self::Accepted | Self::EnRoute | Self::AtAed | Self::OnScene | Self::HandedOver
        )
    }

    /// Accepted at some point (for surveys and statistics).
    pub fn ever_accepted(self) -> bool {
        self.responding() || self == Self::Left
    }

    /// Order of progress for responders.
    pub(super) fn progress_rank(self) -> u8 {
        match self {
            Self::Accepted => 1,
            Self::EnRoute => 2,
            Self::AtAed => 3,
            Self::OnScene => 4,
            Self::HandedOver => 5,
            _ => 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Go straight to the patient and start CPR.
    Cpr,
    /// Fetch an AED, then go to the patient.
    FetchAed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AedTask {
    pub id: AedId,
    pub name: String,
    pub position: LatLon,
    /// Estimated arrival at the AED.
    pub eta_at: DateTime<Utc>,
}

/// What an accepted volunteer has been asked to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub role: Role,
    pub aed: Option<AedTask>,
    /// Estimated arrival at the patient.
    pub eta_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub volunteer: VolunteerId,
    pub wave: u32,
    pub state: AlertState,
    pub alerted_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
    /// Position when alerted.
    pub position: LatLon,
    /// Walking-equivalent metres to the patient when alerted.
    pub walk_m: f64,
    pub task: Option<Task>,
}

/// Progress a responder reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Progress {
    EnRoute,
    AedCollected,
    OnScene,
    HandedOver,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Input {
    Start,
    Tick,
    Accept {
        volunteer: VolunteerId,
        position: Option<LatLon>,
    },
    Decline {
        volunteer: VolunteerId,
    },
    Progress {
        volunteer: VolunteerId,
        progress: Progress,
    },
    Leave {
        volunteer: VolunteerId,
    },
    Update {
        location: Option<LatLon>,
        address: Option<String>,
        ems_eta_seconds: Option<u32>,
        notes: Option<String>,
    },
    Message {
        text: String,
    },
    Cancel {
        reason: Option<String>,
    },
    End {
        reason: Option<String>,
    },
}

/// Notices to responders other than the alert itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Note {
    StandDown,
    OutOfRange,
    Ended,
    Cancelled,
    Message { text: String },
    ReturnAed { aed: AedId, name: String },
    Survey,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Effect {
    /// Send an alert (no address in it).
    Alert {
        volunteer: VolunteerId,
        walk_m: f64,
        eta_s: u32,
    },
    /// Send a notice, not before `at` when given.
    Notify {
        volunteer: VolunteerId,
        note: Note,
        at: Option<DateTime<Utc>>,
    },
    Claim {
        aed: AedId,
        volunteer: VolunteerId,
    },
    Release {
        aed: AedId,
    },
    /// The volunteer is now taken by this mission (or free again).
    Busy {
        volunteer: VolunteerId,
        busy: bool,
    },
}

/// An entry of the mission's timeline, as the dispatcher sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    Created,
    NotAlerted {
        reason: String,
    },
    WaveSent {
        wave: u32,
        alerted: u32,
        radius_m: f64,
    },
    Accepted {
        volunteer: VolunteerId,
        role: Role,
        aed: Option<AedId>,
        eta_s: u32,
    },
    Declined {
        volunteer: VolunteerId,
    },
    TimedOut {
        volunteer: VolunteerId,
    },
    OutOfRange {
        volunteer: VolunteerId,
    },
    StoodDown {
        volunteers: u32,
    },
    Progress {
        volunteer: VolunteerId,
        progress: Progress,
    },
    Left {
        volunteer: VolunteerId,
    },
    Updated {
        location: Option<LatLon>,
        ems_eta_seconds: Option<u32>,
    },
    Message {
        text: String,
    },
    Ended {
        reason: Option<String>,
    },
    Cancelled {
        reason: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// The answer to an `Accept`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum AcceptReply {
    Accepted {
        task: Task,
    },
    /// Enough volunteers have accepted already.
    NotNeeded,
    /// Too far away now: the mission is cancelled for this volunteer.
    OutOfRange,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outcome {
    pub effects: Vec<Effect>,
    pub events: Vec<Event>,
    pub accept: Option<AcceptReply>,
}

/// A request the mission cannot take in its present state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MissionError {
    #[error("the mission is over")]
    NotActive,
    #[error("this volunteer was not alerted for this mission")]
    NotAlerted,
    #[error("this volunteer is no longer part of the mission")]
    NoLongerPart,
    #[error("only a responder who accepted can do that")]
    NotResponding,
    #[error("cannot go from {from} back to {to}")]
    Backwards {
        from: &'static str,
        to: &'static str,
    },
    #[error("only a responder sent to an AED can collect one")]
    NoAedTask,
    #[error("the mission was already started")]
    AlreadyStarted,
}

/// A live or finished mission: the incident, the policy it runs under, and
/// every alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mission {
    pub id: IncidentId,
    pub incident: NewIncident,
    pub policy: DispatchPolicy,
    pub status: Status,
    pub end_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub ems_eta_at: Option<DateTime<Utc>>,
    pub radius_m: f64,
    pub wave: u32,
    pub next_wave_at: Option<DateTime<Utc>>,
    pub replace_at: Option<DateTime<Utc>>,
    /// Declines, time-outs and withdrawals not yet replaced.
    pub unreplaced: u32,
    pub started: bool,
    pub alerts: Vec<Alert>,
}
