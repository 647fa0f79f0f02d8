//! Snapping: a uniform grid over edge segments in a local flat projection,
//! finding the nearest point on the nearest walkable edge.

use firstlink_domain::geo::LatLon;

use crate::graph::{COORD_SCALE, Graph, to_latlon};

/// Metres per degree of latitude (mean earth radius).
const M_PER_DEG: f64 = firstlink_domain::geo::EARTH_RADIUS_M * std::f64::consts::PI / 180.0;
/// Smallest grid cell side in metres.
const MIN_CELL_M: f64 = 50.0;
/// Upper bound on the number of grid cells.
const MAX_CELLS: f64 = 4_000_000.0;

/// A point snapped onto an edge.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Snap {
    /// Edge index.
    pub edge: u32,
    /// Segment of the edge's polyline (0 = from `u` to the first shape point).
    pub seg: u32,
    /// Metres along the edge from `u` to the snapped point.
    pub along_m: f64,
    /// The snapped point on the edge.
    pub point: LatLon,
    /// Metres from the query point to the snapped point.
    pub dist_m: f64,
}

/// Uniform grid of segment ids, CSR-packed.
#[derive(Debug)]
pub(crate) struct Grid {
    lat0: f64,
    lon0: f64,
    /// Metres per degree of longitude at the grid's middle latitude.
    kx: f64,
    cell: f64,
    nx: i64,
    ny: i64,
    cell_start: Vec<u32>,
    items: Vec<u32>,
    /// Edge of each global segment id (segment ids of edge `e` start at `shape_start[e] + e`).
    seg_edge: Vec<u32>,
}

impl Grid {
    pub(crate) fn empty() -> Grid {
        Grid {
            lat0: 0.0,
            lon0: 0.0,
            kx: M_PER_DEG,
            cell: MIN_CELL_M,
            nx: 0,
            ny: 0,
            cell_start: vec![0],
            items: Vec::new(),
            seg_edge: Vec::new(),
        }
    }

    fn xy(&self, lat: f64, lon: f64) -> (f64, f64) {
        ((lon - self.lon0) * self.kx, (lat - self.lat0) * M_PER_DEG)
    }

    fn xy_fixed(&self, p: (i32, i32)) -> (f64, f64) {
        self.xy(f64::from(p.0) * COORD_SCALE, f64::from(p.1) * COORD_SCALE)
    }

    pub(crate) fn build(g: &Graph) -> Grid {
        // Bounds over vertices and shape points, so every segment lies inside the grid.
        let (sw, ne) = g.bounds();
        let lat = g.shape_lat.iter().map(|&x| f64::from(x) * COORD_SCALE);
        let lon = g.shape_lon.iter().map(|&x| f64::from(x) * COORD_SCALE);
        let sw = LatLon {
            lat: lat.clone().fold(sw.lat, f64::min),
            lon: lon.clone().fold(sw.lon, f64::min),
        };
        let ne = LatLon {
            lat: lat.fold(ne.lat, f64::max),
            lon: lon.fold(ne.lon, f64::max),
        };
        let kx = M_PER_DEG * ((sw.lat + ne.lat) / 2.0).to_radians().cos().max(0.01);
        let w = ((ne.lon - sw.lon) * kx).max(1.0);
        let h = ((ne.lat - sw.lat) * M_PER_DEG).max(1.0);
        let cell = MIN_CELL_M.max((w * h / MAX_CELLS).sqrt());
        let nx = (w / cell).floor() as i64 + 1;
        let ny = (h / cell).floor() as i64 + 1;
        let mut grid = Grid {
            lat0: sw.lat,
            lon0: sw.lon,
            kx,
            cell,
            nx,
            ny,
            cell_start: Vec::new(),
            items: Vec::new(),
            seg_edge: Vec::new(),
        };

        let ne_count = g.num_edges();
        let mut seg_edge = Vec::with_capacity(g.shape_lat.len() + ne_count);
        for e in 0..ne_count {
            let n = g.edge_point_count(e) - 1;
            seg_edge.extend(std::iter::repeat_n(e as u32, n));
        }
        let ncells = (nx * ny) as usize;
        let mut count = vec![0u32; ncells + 1];
        // Two passes: count, then fill.
        for pass in 0..2 {
            let mut fill = if pass == 1 { count.clone() } else { Vec::new() };
            let mut items = if pass == 1 {
                vec![0u32; count[ncells] as usize]
            } else {
                Vec::new()
            };
            let mut gseg = 0u32;
            for e in 0..ne_count {
                let n = g.edge_point_count(e);
                let mut a = grid.xy_fixed(g.edge_point(e, 0));
                for j in 1..n {
                    let b = grid.xy_fixed(g.edge_point(e, j));
                    let (cx0, cx1) = (grid.cx(a.0.min(b.0)), grid.cx(a.0.max(b.0)));
                    let (cy0, cy1) = (grid.cy(a.1.min(b.1)), grid.cy(a.1.max(b.1)));
                    for cy in cy0..=cy1 {
                        for cx in cx0..=cx1 {
                            let c = (cy * nx + cx) as usize;
                            if pass == 0 {
                                count[c + 1] += 1;
                            } else {
                                items[fill[c] as usize] = gseg;
                                fill[c] += 1;
                            }
                        }
                    }
                    a = b;
                    gseg += 1;
                }
            }
            if pass == 0 {
                for c in 0..ncells {
                    count[c + 1] += count[c];
                }
            } else {
                grid.items = items;
            }
        }
        grid.cell_start = count;
        grid.seg_edge = seg_edge;
        grid
    }

    fn cx(&self, x: f64) -> i64 {
        ((x / self.cell).floor() as i64).clamp(0, self.nx - 1)
    }

    fn cy(&self, y: f64) -> i64 {
        ((y / self.cell).floor() as i64).clamp(0, self.ny - 1)
    }

    /// Nearest point on any edge within `max_m` metres of `p`.
    pub(crate) fn snap(&self, g: &Graph, p: LatLon, max_m: f64) -> Option<Snap> {
        if self.nx == 0 || !p.lat.is_finite() || !p.lon.is_finite() || max_m.is_nan() {
            return None;
        }
        let (x, y) = self.xy(p.lat, p.lon);
        let max_m = max_m.clamp(0.0, 1e6);
        // Unclamped cell of the query; may lie outside the grid.
        let (qx, qy) = ((x / self.cell).floor(), (y / self.cell).floor());
        if !qx.is_finite() || !qy.is_finite() {
            return None;
        }
        let (qx, qy) = (qx.clamp(-1e9, 1e9) as i64, qy.clamp(-1e9, 1e9) as i64);
        // Distance from the query to the grid rectangle: skip if beyond reach.
        let dx = (0.0f64).max(-x).max(x - self.nx as f64 * self.cell);
        let dy = (0.0f64).max(-y).max(y - self.ny as f64 * self.cell);
        if (dx * dx + dy * dy).sqrt() > max_m * 1.05 + 1.0 {
            return None;
        }
        let mut best: Option<(f64, u32, f64)> = None; // (squared planar dist, seg, t)
        let max_ring = (max_m / self.cell).ceil() as i64 + 1;
        for r in 0..=max_ring {
            for cy in (qy - r).max(0)..=(qy + r).min(self.ny - 1) {
                let on_edge_row = cy == qy - r || cy == qy + r;
                let mut cx = (qx - r).max(0);
                while cx <= (qx + r).min(self.nx - 1) {
                    let c = (cy * self.nx + cx) as usize;
                    for &s in
                        &self.items[self.cell_start[c] as usize..self.cell_start[c + 1] as usize]
                    {
                        let (d2, t) = self.seg_dist2(g, s, x, y);
                        if best.is_none_or(|b| d2 < b.0) {
                            best = Some((d2, s, t));
                        }
                    }
                    // Inside rows only the two border cells belong to ring r.
                    cx = if on_edge_row || cx == qx + r || r == 0 {
                        cx + 1
                    } else {
                        qx + r
                    };
                }
            }
            // Every segment not yet seen lies outside the scanned square of
            // cells, so at least `reach` metres away.
            let (rf, c) = (r as f64, self.cell);
            let reach = (x - (qx as f64 - rf) * c)
                .min((qx as f64 + rf + 1.0) * c - x)
                .min(y - (qy as f64 - rf) * c)
                .min((qy as f64 + rf + 1.0) * c - y);
            if let Some((d2, ..)) = best
                && d2.sqrt() <= reach
            {
                break;
            }
            let covers_grid =
                qx - r <= 0 && qx + r >= self.nx - 1 && qy - r <= 0 && qy + r >= self.ny - 1;
            if covers_grid {
                break;
            }
        }
        let (_, s, t) = best?;
        let e = self.seg_edge[s as usize] as usize;
        let seg = s as usize - (g.shape_start[e] as usize + e);
        let a = g.edge_point(e, seg);
        let b = g.edge_point(e, seg + 1);
        let (la, lb) = (to_latlon(a.0, a.1), to_latlon(b.0, b.1));
        let point = LatLon {
            lat: la.lat + (lb.lat - la.lat) * t,
            lon: la.lon + (lb.lon - la.lon) * t,
        };
        let dist_m = p.distance_m(point);
        if dist_m > max_m {
            return None;
        }
        let mut along_m = 0.0;
        for j in 0..seg {
            let (p0, p1) = (g.edge_point(e, j), g.edge_point(e, j + 1));
            along_m += to_latlon(p0.0, p0.1).distance_m(to_latlon(p1.0, p1.1));
        }
        along_m += la.distance_m(lb) * t;
        // Keep positions consistent with the stored f32 edge length.
        let along_m = along_m.min(f64::from(g.edge_len[e]));
        Some(Snap {
            edge: e as u32,
            seg: seg as u32,
            along_m,
            point,
            dist_m,
        })
    }

    /// Squared planar distance from (x, y) to global segment `s`, and the
    /// position `t ∈ [0, 1]` of the nearest point on it.
    fn seg_dist2(&self, g: &Graph, s: u32, x: f64, y: f64) -> (f64, f64) {
        let e = self.seg_edge[s as usize] as usize;
        let j = s as usize - (g.shape_start[e] as usize + e);
        let a = self.xy_fixed(g.edge_point(e, j));
        let b = self.xy_fixed(g.edge_point(e, j + 1));
        let (vx, vy) = (b.0 - a.0, b.1 - a.1);
        let len2 = vx * vx + vy * vy;
        let t = if len2 > 0.0 {
            (((x - a.0) * vx + (y - a.1) * vy) / len2).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let (px, py) = (a.0 + vx * t - x, a.1 + vy * t - y);
        (px * px + py * py, t)
    }
}
