//! Incidents as the dispatch centre reports them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::geo::LatLon;

/// Where the patient is. Decides which volunteers may be sent (some are
/// cleared for public places only) and whether to alert at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LocationType {
    Residence,
    Public,
    CareFacility,
    #[default]
    Unknown,
}

/// Reasons the dispatch centre gives for not sending lay volunteers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Exclusion {
    /// The patient is a child under 8.
    PatientUnder8,
    /// Traffic accident, fall, suicide attempt or other trauma.
    Trauma,
    /// Violence, fire, gas or any other danger to a responder.
    UnsafeScene,
    /// Hospital, nursing home or other place with its own trained staff.
    CareFacility,
    /// Known terminal illness / do-not-resuscitate.
    DoNotResuscitate,
}

impl Exclusion {
    pub const ALL: [Exclusion; 5] = [
        Self::PatientUnder8,
        Self::Trauma,
        Self::UnsafeScene,
        Self::CareFacility,
        Self::DoNotResuscitate,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PatientUnder8 => "patient_under_8",
            Self::Trauma => "trauma",
            Self::UnsafeScene => "unsafe_scene",
            Self::CareFacility => "care_facility",
            Self::DoNotResuscitate => "do_not_resuscitate",
        }
    }
}

/// What the dispatch centre tells firstlink about a suspected cardiac arrest.
/// Every field has been validated at the edge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewIncident {
    /// The CAD's own id; the idempotency key within a region.
    pub external_id: String,
    pub location: LatLon,
    /// Street address shown to responders only once they have accepted.
    pub address: String,
    pub reported_at: DateTime<Utc>,
    pub location_type: LocationType,
    /// Seconds from `reported_at` until the ambulance is expected on scene.
    pub ems_eta_seconds: Option<u32>,
    pub exclusions: Vec<Exclusion>,
    /// Free text for the responders (entrance, floor, door code), shown after accept.
    pub notes: Option<String>,
    /// Started from the console for training or demos: alerts are marked as a test.
    pub test: bool,
}

/// Limits that apply to every source of incidents (JSON, CAP, EIDO).
pub mod limits {
    pub const EXTERNAL_ID_MAX: usize = 128;
    pub const ADDRESS_MAX: usize = 500;
    pub const NOTES_MAX: usize = 2_000;
    pub const EXCLUSIONS_MAX: usize = 16;
    /// Four hours: a larger ETA is a unit mix-up, not an ambulance.
    pub const EMS_ETA_MAX_S: u32 = 4 * 3600;
}

/// Why an incident is not alerted although it was accepted.
pub fn blocking_exclusion(incident: &NewIncident) -> Option<Exclusion> {
    if incident.location_type == LocationType::CareFacility {
        return Some(Exclusion::CareFacility);
    }
    incident.exclusions.first().copied()
}
