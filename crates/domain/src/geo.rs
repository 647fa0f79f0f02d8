//! Points on the earth and distances between them.

use serde::{Deserialize, Serialize};

/// Mean earth radius in metres (IUGG).
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A WGS84 position. Construct through [`LatLon::new`] at the edges so that
/// every value inside firstlink is finite and in range.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatLon {
    pub lat: f64,
    pub lon: f64,
}

/// Why a coordinate pair was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoordError {
    #[error("latitude must be a finite number between -90 and 90")]
    Latitude,
    #[error("longitude must be a finite number between -180 and 180")]
    Longitude,
}

impl LatLon {
    pub fn new(lat: f64, lon: f64) -> Result<Self, CoordError> {
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            return Err(CoordError::Latitude);
        }
        if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
            return Err(CoordError::Longitude);
        }
        Ok(Self { lat, lon })
    }

    /// Great-circle distance in metres (haversine).
    pub fn distance_m(self, other: LatLon) -> f64 {
        let (p1, p2) = (self.lat.to_radians(), other.lat.to_radians());
        let dp = p2 - p1;
        let dl = (other.lon - self.lon).to_radians();
        let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_M * a.sqrt().min(1.0).asin()
    }

    /// The point `distance_m` metres away along `bearing_deg` (0 = north).
    pub fn offset(self, bearing_deg: f64, distance_m: f64) -> LatLon {
        let d = distance_m / EARTH_RADIUS_M;
        let b = bearing_deg.to_radians();
        let (lat1, lon1) = (self.lat.to_radians(), self.lon.to_radians());
        let lat2 = (lat1.sin() * d.cos() + lat1.cos() * d.sin() * b.cos()).asin();
        let lon2 = lon1 + (b.sin() * d.sin() * lat1.cos()).atan2(d.cos() - lat1.sin() * lat2.sin());
        let lon2 = (lon2.to_degrees() + 540.0) % 360.0 - 180.0;
        LatLon {
            lat: lat2.to_degrees(),
            lon: lon2,
        }
    }
}

/// Estimates how far a person has to walk between two points, in
/// *walking-equivalent metres*: metres on flat, paved ground. Slower ground
/// (steps, steep or unpaved ways) counts as more metres, so that dividing by a
/// person's speed in m/s gives their time in seconds.
///
/// Implementations: [`StraightLine`] here (great-circle distance × a detour
/// factor), the OpenStreetMap pedestrian graph in `firstlink-routing`.
pub trait WalkingEstimator: Send + Sync {
    /// Walking-equivalent metres from `origin` to each of `targets`, in one
    /// search. `None` for a target that cannot be reached within `max_m`.
    /// The result has exactly one entry per target, in order.
    fn distances_from(&self, origin: LatLon, targets: &[LatLon], max_m: f64) -> Vec<Option<f64>>;

    /// Walking-equivalent metres between two points, `None` if unreachable.
    fn distance(&self, from: LatLon, to: LatLon) -> Option<f64> {
        self.distances_from(from, &[to], f64::INFINITY)
            .pop()
            .flatten()
    }
}

/// Great-circle distance times a detour factor: the default estimator, and the
/// fallback wherever a region has no graph or a point lies off it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StraightLine {
    /// How much longer a real walk is than the straight line (typically 1.3–1.4 in cities).
    pub detour_factor: f64,
}

impl Default for StraightLine {
    fn default() -> Self {
        Self {
            detour_factor: 1.35,
        }
    }
}

impl WalkingEstimator for StraightLine {
    fn distances_from(&self, origin: LatLon, targets: &[LatLon], max_m: f64) -> Vec<Option<f64>> {
        targets
            .iter()
            .map(|t| {
                let d = origin.distance_m(*t) * self.detour_factor;
                (d <= max_m).then_some(d)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_out_of_range_and_non_finite_coordinates() {
        assert_eq!(LatLon::new(91.0, 0.0), Err(CoordError::Latitude));
        assert_eq!(LatLon::new(f64::NAN, 0.0), Err(CoordError::Latitude));
        assert_eq!(LatLon::new(0.0, -180.5), Err(CoordError::Longitude));
        assert_eq!(LatLon::new(0.0, f64::INFINITY), Err(CoordError::Longitude));
        assert!(LatLon::new(55.67, 12.57).is_ok());
    }

    #[test]
    fn copenhagen_to_malmo_is_about_28_km() {
        let cph = LatLon::new(55.6761, 12.5683).unwrap();
        let malmo = LatLon::new(55.6050, 13.0038).unwrap();
        let d = cph.distance_m(malmo);
        assert!((27_500.0..28_500.0).contains(&d), "{d}");
    }

    #[test]
    fn offset_goes_the_distance_it_was_asked() {
        let p = LatLon::new(55.68, 12.57).unwrap();
        for bearing in [0.0, 45.0, 90.0, 200.0] {
            let q = p.offset(bearing, 1300.0);
            assert!((p.distance_m(q) - 1300.0).abs() < 0.5);
        }
    }

    #[test]
    fn straight_line_applies_detour_and_budget() {
        let est = StraightLine { detour_factor: 1.5 };
        let p = LatLon::new(55.68, 12.57).unwrap();
        let near = p.offset(90.0, 100.0);
        let far = p.offset(90.0, 1000.0);
        let got = est.distances_from(p, &[near, far], 500.0);
        assert!((got[0].unwrap() - 150.0).abs() < 0.5);
        assert_eq!(got[1], None);
    }
}
