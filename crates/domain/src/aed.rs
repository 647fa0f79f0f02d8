//! AEDs as dispatch sees them: where, whether usable, until when.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::geo::LatLon;
use crate::ids::AedId;

/// Who may use an AED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AedAccess {
    #[default]
    Public,
    Customers,
    Staff,
    Private,
}

/// Readiness as monitoring (or its absence) reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Readiness {
    /// No monitoring unit: assumed ready.
    #[default]
    Unmonitored,
    Ready,
    /// Maintenance due soon; still usable.
    MaintenanceDue,
    /// A signal near a limit; used only when nothing better is reachable.
    AtRisk,
    /// The unit is silent; used only when nothing better is reachable.
    Unknown,
    NotReady,
    Missing,
}

impl Readiness {
    /// Never assign such an AED.
    pub fn excluded(self) -> bool {
        matches!(self, Readiness::NotReady | Readiness::Missing)
    }

    /// Assign only when nothing better is reachable.
    pub fn degraded(self) -> bool {
        matches!(self, Readiness::AtRisk | Readiness::Unknown)
    }
}

/// An AED a responder could fetch right now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AedCandidate {
    pub id: AedId,
    pub name: String,
    pub position: LatLon,
    pub readiness: Readiness,
    /// It stays open until this instant; `None` = open around the clock.
    pub open_until: Option<DateTime<Utc>>,
}

/// "Which AEDs can a responder use at time t near this point": active, open
/// now, usable by the public, not claimed on another live mission, not
/// excluded by readiness. Implemented by the registry at the edge.
pub trait AedSource {
    fn usable_near(&self, centre: LatLon, radius_m: f64, at: DateTime<Utc>) -> Vec<AedCandidate>;

    /// Like [`AedSource::usable_near`] for one responder: also the AEDs that
    /// are not public but that this responder may use (e.g. staff of the
    /// place). The default knows no such permissions.
    fn usable_near_by(
        &self,
        centre: LatLon,
        radius_m: f64,
        at: DateTime<Utc>,
        responder: crate::ids::VolunteerId,
    ) -> Vec<AedCandidate> {
        let _ = responder;
        self.usable_near(centre, radius_m, at)
    }
}

/// A fixed list, for tests and the simulator.
#[derive(Debug, Clone, Default)]
pub struct AedList(pub Vec<AedCandidate>);

impl AedSource for AedList {
    fn usable_near(&self, centre: LatLon, radius_m: f64, at: DateTime<Utc>) -> Vec<AedCandidate> {
        self.0
            .iter()
            .filter(|a| centre.distance_m(a.position) <= radius_m)
            .filter(|a| !a.readiness.excluded())
            .filter(|a| a.open_until.is_none_or(|u| u > at))
            .cloned()
            .collect()
    }
}
