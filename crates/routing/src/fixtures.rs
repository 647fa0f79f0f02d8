//! Documented points on the test extracts in `/work/shared/data/osm/`, for
//! tests elsewhere in firstlink (e.g. a dispatch test that must prefer the
//! volunteer who is nearer *on foot*).
//!
//! Around Copenhagen's inner harbour (`copenhagen.osm.pbf`): the patient is at
//! Amaliehaven on the city bank. Volunteer "across" stands by the Opera on
//! Holmen, about 560 m away in a straight line but about 3.4 km on foot (no
//! bridge near; the walk goes round by Knippelsbro). Volunteer "same side"
//! stands at Kongens Nytorv, about 730 m away in a straight line and under
//! 1.2 km on foot. Straight-line ranks "across" first; walking ranks "same
//! side" first. Checked by the test `harbour_fixture_ranks_volunteers_differently`.

use firstlink_domain::geo::LatLon;

/// Patient at Amaliehaven, on the city (west) bank of the inner harbour.
pub const HARBOUR_PATIENT: LatLon = LatLon {
    lat: 55.6845,
    lon: 12.5935,
};

/// Volunteer across the water by the Opera (Holmen): ≈ 560 m straight, ≈ 3.4 km walking.
pub const HARBOUR_VOLUNTEER_ACROSS: LatLon = LatLon {
    lat: 55.6818,
    lon: 12.6010,
};

/// Volunteer on the same bank at Kongens Nytorv: ≈ 730 m straight, < 1.2 km walking.
pub const HARBOUR_VOLUNTEER_SAME_SIDE: LatLon = LatLon {
    lat: 55.6797,
    lon: 12.5857,
};

/// A point in the Øresund, ≈ 5 km east of the Copenhagen extract: off graph.
pub const OERESUND_SEA: LatLon = LatLon {
    lat: 55.6900,
    lon: 12.7000,
};
