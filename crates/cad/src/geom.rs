//! Plane geometry on (lat, lon) pairs, good enough for the small areas CAD
//! systems describe.

/// Area-weighted centroid of a closed ring of `(lat, lon)` points (shoelace
/// formula in degrees). A ring that crosses the antimeridian is unwrapped
/// first. Falls back to the mean of the distinct vertices for a degenerate
/// (zero-area) ring. Returns `(lat, lon)` with lon in [-180, 180].
pub(crate) fn ring_centroid(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    if points.is_empty() {
        return None;
    }
    let min_lon = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let max_lon = points.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    let unwrap = max_lon - min_lon > 180.0;
    let pts: Vec<(f64, f64)> = points
        .iter()
        .map(|&(lat, lon)| {
            (
                lat,
                if unwrap && lon < 0.0 {
                    lon + 360.0
                } else {
                    lon
                },
            )
        })
        .collect();
    let n = pts.len();
    let (mut a2, mut cx, mut cy) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let (y0, x0) = pts[i];
        let (y1, x1) = pts[(i + 1) % n];
        let cross = x0 * y1 - x1 * y0;
        a2 += cross;
        cx += (x0 + x1) * cross;
        cy += (y0 + y1) * cross;
    }
    let (lat, lon) = if a2.abs() > 1e-12 {
        (cy / (3.0 * a2), cx / (3.0 * a2))
    } else {
        // Degenerate ring: mean of the vertices (closing point excluded).
        let distinct = if n > 1 && pts[0] == pts[n - 1] {
            &pts[..n - 1]
        } else {
            &pts[..]
        };
        let k = distinct.len() as f64;
        (
            distinct.iter().map(|p| p.0).sum::<f64>() / k,
            distinct.iter().map(|p| p.1).sum::<f64>() / k,
        )
    };
    let lon = if lon > 180.0 { lon - 360.0 } else { lon };
    (lat.is_finite() && lon.is_finite()).then_some((lat, lon))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn square_centroid() {
        let sq = [(0.0, 0.0), (0.0, 2.0), (2.0, 2.0), (2.0, 0.0), (0.0, 0.0)];
        let (lat, lon) = ring_centroid(&sq).unwrap();
        assert!((lat - 1.0).abs() < 1e-9 && (lon - 1.0).abs() < 1e-9);
    }

    #[test]
    fn l_shape_is_area_weighted_not_vertex_mean() {
        // An L: 2x1 bar plus 1x1 on top-left; centroid x = (2*1 + 0.5*1)/3.
        let l = [
            (0.0, 0.0),
            (0.0, 2.0),
            (1.0, 2.0),
            (1.0, 1.0),
            (2.0, 1.0),
            (2.0, 0.0),
            (0.0, 0.0),
        ];
        let (lat, lon) = ring_centroid(&l).unwrap();
        assert!((lon - 5.0 / 6.0).abs() < 1e-9, "{lon}");
        assert!((lat - 5.0 / 6.0).abs() < 1e-9, "{lat}");
    }

    #[test]
    fn antimeridian_and_degenerate() {
        let r = [
            (0.0, 179.0),
            (0.0, -179.0),
            (2.0, -179.0),
            (2.0, 179.0),
            (0.0, 179.0),
        ];
        let (lat, lon) = ring_centroid(&r).unwrap();
        assert!(
            (lat - 1.0).abs() < 1e-9 && (lon.abs() - 180.0).abs() < 1e-9,
            "{lon}"
        );
        let line = [(1.0, 1.0), (3.0, 3.0), (1.0, 1.0)];
        assert_eq!(ring_centroid(&line), Some((2.0, 2.0)));
    }
}
