//! CAP `circle` and `polygon` values: the point firstlink alerts at.

use super::*;

/// `"lat,lon"` → checked coordinates.
fn parse_pair(element: &'static str, pair: &str, whole: &str) -> Result<LatLon, CapError> {
    let bad = |reason| CapError::InvalidGeometry {
        element,
        value: truncated(whole, ECHO),
        reason,
    };
    let (lat, lon) = pair
        .split_once(',')
        .ok_or_else(|| bad("a point is not lat,lon"))?;
    let lat: f64 = lat
        .trim()
        .parse()
        .map_err(|_| bad("latitude is not a number"))?;
    let lon: f64 = lon
        .trim()
        .parse()
        .map_err(|_| bad("longitude is not a number"))?;
    LatLon::new(lat, lon).map_err(|_| bad("coordinates out of range"))
}

/// `"lat,lon radius"` (radius in km, ≥ 0) → the centre.
pub(super) fn parse_circle(value: &str) -> Result<LatLon, CapError> {
    let bad = |reason| CapError::InvalidGeometry {
        element: "circle",
        value: truncated(value, ECHO),
        reason,
    };
    let mut parts = value.split_whitespace();
    let (Some(centre), Some(radius), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("expected \"lat,lon radius\""));
    };
    let radius: f64 = radius.parse().map_err(|_| bad("radius is not a number"))?;
    if !radius.is_finite() || radius < 0.0 {
        return Err(bad("radius must be a finite number ≥ 0"));
    }
    parse_pair("circle", centre, value)
}

/// At least four space-separated `lat,lon` points, first equal to last →
/// area-weighted centroid.
pub(super) fn parse_polygon(value: &str) -> Result<LatLon, CapError> {
    let bad = |reason| CapError::InvalidGeometry {
        element: "polygon",
        value: truncated(value, ECHO),
        reason,
    };
    let points = value
        .split_whitespace()
        .map(|p| parse_pair("polygon", p, value).map(|ll| (ll.lat, ll.lon)))
        .collect::<Result<Vec<_>, _>>()?;
    if points.len() < 4 {
        return Err(bad("fewer than four points"));
    }
    if points.first() != points.last() {
        return Err(bad("the ring is not closed (first point ≠ last point)"));
    }
    let (lat, lon) = crate::geom::ring_centroid(&points).ok_or_else(|| bad("no centroid"))?;
    LatLon::new(lat, lon).map_err(|_| bad("centroid out of range"))
}
