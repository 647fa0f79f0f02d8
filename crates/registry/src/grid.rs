//! A uniform latitude/longitude grid for "what lies within r metres".

use std::collections::HashMap;

use firstlink_domain::geo::LatLon;

const M_PER_DEG_LAT: f64 = 111_320.0;

/// Keys bucketed by cell; queries return candidates from the covering cells
/// (callers check the exact distance).
#[derive(Debug, Clone)]
pub struct Grid<K> {
    cells: Cells<Vec<K>>,
}

impl<K: Copy> Grid<K> {
    /// `cell_m`: cell height in metres (width in degrees is the same).
    pub fn new(cell_m: f64) -> Self {
        Self {
            cells: Cells::new(cell_m),
        }
    }

    pub fn insert(&mut self, k: K, p: LatLon) {
        let c = self.cells.key(p);
        self.cells.cells.entry(c).or_default().push(k);
    }

    /// Calls `f` for every key in cells that may lie within `radius_m` of `centre`.
    pub fn for_each_near(&self, centre: LatLon, radius_m: f64, mut f: impl FnMut(K)) {
        self.cells
            .for_each_near(centre, radius_m, |v| v.iter().for_each(|k| f(*k)));
    }
}

impl<K: Copy + PartialEq> Grid<K> {
    pub fn remove(&mut self, k: K, p: LatLon) {
        let c = self.cells.key(p);
        if let Some(v) = self.cells.cells.get_mut(&c) {
            v.retain(|x| *x != k);
            if v.is_empty() {
                self.cells.cells.remove(&c);
            }
        }
    }
}

/// The cells of a [`Grid`], each holding a `V` (a bucket of any layout).
#[derive(Debug, Clone)]
pub struct Cells<V> {
    cell_deg: f64,
    pub(crate) cells: HashMap<(i32, i32), V>,
}

impl<V> Cells<V> {
    /// `cell_m`: cell height in metres (width in degrees is the same).
    pub fn new(cell_m: f64) -> Self {
        Self {
            cell_deg: (cell_m / M_PER_DEG_LAT).max(1e-6),
            cells: HashMap::new(),
        }
    }

    /// The cell holding `p`.
    pub fn key(&self, p: LatLon) -> (i32, i32) {
        (
            (p.lat / self.cell_deg).floor() as i32,
            (p.lon / self.cell_deg).floor() as i32,
        )
    }

    /// Calls `f` with every cell that may lie within `radius_m` of `centre`.
    pub fn for_each_near(&self, centre: LatLon, radius_m: f64, mut f: impl FnMut(&V)) {
        if radius_m.is_nan() || radius_m < 0.0 {
            return;
        }
        let dlat = radius_m / M_PER_DEG_LAT;
        let coslat = centre.lat.abs().min(89.0).to_radians().cos().max(0.01);
        // Widest longitude span at the latitude nearest the pole within the circle.
        let far_lat = (centre.lat.abs() + dlat)
            .min(89.9)
            .to_radians()
            .cos()
            .max(0.001);
        let dlon = (radius_m / (M_PER_DEG_LAT * far_lat.min(coslat))).min(360.0);
        let (lat0, lon0) = (
            (centre.lat - dlat) / self.cell_deg,
            (centre.lon - dlon) / self.cell_deg,
        );
        let (lat1, lon1) = (
            (centre.lat + dlat) / self.cell_deg,
            (centre.lon + dlon) / self.cell_deg,
        );
        let (a0, a1) = (lat0.floor() as i64, lat1.floor() as i64);
        let (b0, b1) = (lon0.floor() as i64, lon1.floor() as i64);
        let span = (a1 - a0 + 1).saturating_mul(b1 - b0 + 1);
        if span > self.cells.len() as i64 * 4 {
            // A huge circle: scanning the occupied cells is cheaper.
            for ((a, b), v) in &self.cells {
                let (a, b) = (i64::from(*a), i64::from(*b));
                if (a0..=a1).contains(&a) && (b0..=b1).contains(&b) {
                    f(v);
                }
            }
            return;
        }
        for a in a0..=a1 {
            for b in b0..=b1 {
                let (Ok(a), Ok(b)) = (i32::try_from(a), i32::try_from(b)) else {
                    continue;
                };
                if let Some(v) = self.cells.get(&(a, b)) {
                    f(v);
                }
            }
        }
    }
}
