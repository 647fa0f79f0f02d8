//! Regions as partitions of everything dispatch can see.
//!
//! A mission of region R is dispatched from R's volunteers and R's AEDs
//! only, plus those of each neighbour N with a mutual agreement: R names N
//! *and* N names R. A region may have a boundary (GeoJSON Polygon or
//! MultiPolygon); an incident outside it, farther than the border margin, is
//! refused (`outside_region`). Without a boundary the region takes any
//! location, and still dispatches only from its own data.
//!
//! Stored as the setting `region.partition.<region id>` (JSON), so it reaches
//! every process through the same change feed as the region itself.

use chrono::{DateTime, Utc};
use firstlink_domain::aed::{AedCandidate, AedSource};
use firstlink_domain::geo::LatLon;
use firstlink_domain::ids::{RegionId, VolunteerId};
use firstlink_domain::index::{Candidate, CandidateFilter, RegionMask, VolunteerIndex};
use firstlink_domain::mission::CandidateSource;

use crate::aeds::AedRegistry;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Default border margin: an incident this close outside the boundary is
/// still taken (addresses on the border street, geocoding error).
pub const DEFAULT_MARGIN_M: f64 = 500.0;
/// Vertices a boundary may have in all (a national border at ~50 m detail).
pub const MAX_VERTICES: usize = 200_000;

pub fn setting_key(region: RegionId) -> String {
    format!("{PREFIX}{region}")
}

pub const PREFIX: &str = "region.partition.";

/// A region's partition settings as stored and as the API shows them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Partition {
    /// GeoJSON geometry (`Polygon` or `MultiPolygon`, WGS 84 lon/lat), or none.
    #[schema(value_type = Option<Object>)]
    pub boundary: Option<serde_json::Value>,
    /// How far outside the boundary an incident is still taken, metres.
    pub border_margin_m: Option<f64>,
    /// Regions (by id) whose volunteers and AEDs this region may use, and
    /// which may use this region's: in effect only where both name each other.
    #[schema(value_type = Vec<String>)]
    pub neighbours: Vec<RegionId>,
}

/// A parsed boundary: polygons of rings (the first ring outer, the rest holes).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Boundary {
    polygons: Vec<Vec<Vec<LatLon>>>,
}

impl Boundary {
    /// Parses a GeoJSON geometry; the error says what is wrong, for the caller.
    pub fn parse(v: &serde_json::Value) -> Result<Self, String> {
        let kind = v.get("type").and_then(|t| t.as_str()).unwrap_or("");
        let coords = v
            .get("coordinates")
            .ok_or_else(|| "a GeoJSON geometry needs \"coordinates\"".to_string())?;
        let polys: Vec<&serde_json::Value> = match kind {
            "Polygon" => vec![coords],
            "MultiPolygon" => coords
                .as_array()
                .ok_or("MultiPolygon coordinates must be an array")?
                .iter()
                .collect(),
            other => {
                return Err(format!(
                    "must be a GeoJSON Polygon or MultiPolygon, not {other:?}"
                ));
            }
        };
        let mut vertices = 0usize;
        let mut polygons = Vec::with_capacity(polys.len());
        for p in polys {
            let rings = p.as_array().ok_or("a polygon is an array of rings")?;
            if rings.is_empty() {
                return Err("a polygon needs an outer ring".into());
            }
            let mut out = Vec::with_capacity(rings.len());
            for ring in rings {
                let pts = ring.as_array().ok_or("a ring is an array of positions")?;
                if pts.len() < 4 {
                    return Err("a ring needs at least 4 positions (closed)".into());
                }
                vertices += pts.len();
                if vertices > MAX_VERTICES {
                    return Err(format!("at most {MAX_VERTICES} positions in all"));
                }
                let mut r = Vec::with_capacity(pts.len());
                for pt in pts {
                    let xy = pt.as_array().filter(|a| a.len() >= 2);
                    let (Some(lon), Some(lat)) = (
                        xy.and_then(|a| a[0].as_f64()),
                        xy.and_then(|a| a[1].as_f64()),
                    ) else {
                        return Err("a position is [longitude, latitude]".into());
                    };
                    r.push(LatLon::new(lat, lon).map_err(|e| format!("position: {e}"))?);
                }
                out.push(r);
            }
            polygons.push(out);
        }
        if polygons.is_empty() {
            return Err("the geometry has no polygon".into());
        }
        Ok(Self { polygons })
    }

    /// Whether `p` lies inside (on the boundary counts as inside).
    pub fn contains(&self, p: LatLon) -> bool {
        self.polygons
            .iter()
            .any(|rings| in_ring(&rings[0], p) && !rings[1..].iter().any(|hole| in_ring(hole, p)))
    }

    /// Metres from `p` to the nearest edge (local plane around `p`).
    pub fn distance_m(&self, p: LatLon) -> f64 {
        let k = firstlink_domain::geo::EARTH_RADIUS_M.to_radians();
        let kx = k * p.lat.to_radians().cos();
        let to_xy = |q: &LatLon| ((q.lon - p.lon) * kx, (q.lat - p.lat) * k);
        let mut best = f64::INFINITY;
        for ring in self.polygons.iter().flatten() {
            for w in ring.windows(2) {
                let (a, b) = (to_xy(&w[0]), to_xy(&w[1]));
                best = best.min(point_segment(a, b));
            }
        }
        best
    }
}

/// Even-odd ray casting in lon/lat (fine at the scale of a region).
fn in_ring(ring: &[LatLon], p: LatLon) -> bool {
    let mut inside = false;
    let mut j = ring.len() - 1;
    for i in 0..ring.len() {
        let (a, b) = (ring[i], ring[j]);
        if (a.lat > p.lat) != (b.lat > p.lat) {
            let x = a.lon + (p.lat - a.lat) / (b.lat - a.lat) * (b.lon - a.lon);
            if p.lon < x {
                inside = !inside;
            }
        }
        j = i;
    }
    inside
}

/// Distance from the origin to segment a–b.
fn point_segment(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 == 0.0 {
        0.0
    } else {
        (-(a.0 * dx + a.1 * dy) / len2).clamp(0.0, 1.0)
    };
    let (x, y) = (a.0 + t * dx, a.1 + t * dy);
    (x * x + y * y).sqrt()
}

/// Most neighbours a region may name.
pub const MAX_NEIGHBOURS: usize = 16;
/// Largest border margin, metres.
pub const MAX_MARGIN_M: f64 = 50_000.0;

/// Checks settings for `region`; the error names the offending field.
pub fn validate(region: RegionId, p: &Partition) -> Result<(), (&'static str, String)> {
    if let Some(b) = &p.boundary {
        Boundary::parse(b).map_err(|e| ("boundary", e))?;
    }
    if let Some(m) = p.border_margin_m
        && !(0.0..=MAX_MARGIN_M).contains(&m)
    {
        return Err((
            "border_margin_m",
            format!("between 0 and {MAX_MARGIN_M} metres"),
        ));
    }
    if p.neighbours.len() > MAX_NEIGHBOURS {
        return Err(("neighbours", format!("at most {MAX_NEIGHBOURS}")));
    }
    if p.neighbours.contains(&region) {
        return Err(("neighbours", "a region is not its own neighbour".into()));
    }
    Ok(())
}

/// Validates and stores a region's partition settings. Every process
/// following the change feed (this one too, once the caller applies the
/// change) takes them up.
pub async fn save(
    store: &dyn firstlink_store::Store,
    region: RegionId,
    p: &Partition,
) -> anyhow::Result<()> {
    validate(region, p).map_err(|(f, e)| anyhow::anyhow!("{f}: {e}"))?;
    let mut p = p.clone();
    p.neighbours.sort();
    p.neighbours.dedup();
    store
        .set_setting(&setting_key(region), &serde_json::to_string(&p)?)
        .await?;
    Ok(())
}

/// A partition as the runtime uses it.
#[derive(Debug, Clone, Default)]
pub struct PartitionRt {
    pub settings: Partition,
    pub boundary: Option<Boundary>,
}

impl PartitionRt {
    /// From stored settings; a stored boundary that does not parse (written by
    /// hand) is dropped with a warning rather than refusing every incident.
    pub fn from_settings(region: &str, settings: Partition) -> Self {
        let boundary = settings
            .boundary
            .as_ref()
            .and_then(|b| match Boundary::parse(b) {
                Ok(b) => Some(b),
                Err(e) => {
                    tracing::warn!(region, error = %e, "stored region boundary unusable; ignored");
                    None
                }
            });
        Self { settings, boundary }
    }

    pub fn margin_m(&self) -> f64 {
        self.settings.border_margin_m.unwrap_or(DEFAULT_MARGIN_M)
    }

    /// Whether an incident at `p` belongs to this region.
    pub fn takes(&self, p: LatLon) -> bool {
        match &self.boundary {
            None => true,
            Some(b) => b.contains(p) || b.distance_m(p) <= self.margin_m(),
        }
    }
}

/// The volunteers a mission may see: its regions' only.
pub struct ScopedVolunteers<'a> {
    pub index: &'a VolunteerIndex,
    pub mask: RegionMask,
}

impl CandidateSource for ScopedVolunteers<'_> {
    fn nearest(
        &self,
        centre: LatLon,
        radius_m: f64,
        k: usize,
        filter: &CandidateFilter,
        skip: &dyn Fn(VolunteerId) -> bool,
    ) -> Vec<Candidate> {
        let f = CandidateFilter {
            regions: self.mask,
            ..*filter
        };
        self.index.nearest(centre, radius_m, k, &f, skip)
    }

    fn position(&self, id: VolunteerId) -> Option<(LatLon, u32)> {
        self.index.position(id)
    }
}

/// The AEDs a mission may send responders to: its regions' only.
pub struct ScopedAeds<'a> {
    pub registry: &'a AedRegistry,
    pub regions: &'a [RegionId],
}

impl AedSource for ScopedAeds<'_> {
    fn usable_near(&self, centre: LatLon, radius_m: f64, at: DateTime<Utc>) -> Vec<AedCandidate> {
        self.registry
            .usable_near_in(self.regions, centre, radius_m, at, None)
    }

    fn usable_near_by(
        &self,
        centre: LatLon,
        radius_m: f64,
        at: DateTime<Utc>,
        responder: VolunteerId,
    ) -> Vec<AedCandidate> {
        self.registry
            .usable_near_in(self.regions, centre, radius_m, at, Some(responder))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(lat: f64, lon: f64, d: f64) -> serde_json::Value {
        serde_json::json!({"type": "Polygon", "coordinates": [[
            [lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]
        ]]})
    }

    #[test]
    fn inside_outside_holes_and_margin() {
        let mut g = square(55.0, 12.0, 1.0);
        // A hole in the middle.
        g["coordinates"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!([
                [12.4, 55.4],
                [12.6, 55.4],
                [12.6, 55.6],
                [12.4, 55.6],
                [12.4, 55.4]
            ]));
        let b = Boundary::parse(&g).unwrap();
        let at = |lat, lon| LatLon::new(lat, lon).unwrap();
        assert!(b.contains(at(55.2, 12.2)));
        assert!(!b.contains(at(55.5, 12.5)));
        assert!(!b.contains(at(56.2, 12.2)));
        // 0.01° of latitude ≈ 1,112 m north of the northern edge.
        let d = b.distance_m(at(56.01, 12.5));
        assert!((d - 1_112.0).abs() < 5.0, "{d}");
        let p = PartitionRt::from_settings(
            "x",
            Partition {
                boundary: Some(square(55.0, 12.0, 1.0)),
                border_margin_m: Some(1_500.0),
                neighbours: vec![],
            },
        );
        assert!(p.takes(at(56.01, 12.5)));
        assert!(!p.takes(at(56.02, 12.5)));
        assert!(PartitionRt::default().takes(at(0.0, 0.0)));
    }

    #[test]
    fn multipolygons_and_bad_geometry() {
        let a = square(55.0, 12.0, 0.1)["coordinates"].clone();
        let b = square(47.0, 9.5, 0.1)["coordinates"].clone();
        let m =
            Boundary::parse(&serde_json::json!({"type": "MultiPolygon", "coordinates": [a, b]}))
                .unwrap();
        assert!(m.contains(LatLon::new(47.05, 9.55).unwrap()));
        assert!(m.contains(LatLon::new(55.05, 12.05).unwrap()));
        assert!(!m.contains(LatLon::new(50.0, 10.0).unwrap()));
        for bad in [
            serde_json::json!({"type": "Point", "coordinates": [1, 2]}),
            serde_json::json!({"type": "Polygon"}),
            serde_json::json!({"type": "Polygon", "coordinates": [[[1, 2], [3, 4]]]}),
            serde_json::json!({"type": "Polygon", "coordinates": [[[1, 200], [3, 4], [5, 6], [1, 200]]]}),
            serde_json::json!({"type": "Polygon", "coordinates": []}),
        ] {
            assert!(Boundary::parse(&bad).is_err(), "{bad}");
        }
    }
}
