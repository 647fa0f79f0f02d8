//! Queries on a [`Graph`]: bounded one-to-many Dijkstra (forward and
//! reverse), point-to-point routes with geometry, and the
//! [`WalkingEstimator`] implementation with straight-line fallback.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Mutex;

use firstlink_domain::geo::{LatLon, StraightLine, WalkingEstimator};

use crate::graph::{Graph, REVERSED, to_latlon};
use crate::snap::Snap;

/// Snapping and off-graph settings of a [`Router`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RouterConfig {
    /// Points farther than this from every walkable edge are "off graph"
    /// (default 300 m).
    pub max_snap_m: f64,
    /// The walk from a point to its snapped position on the graph counts this
    /// many walking-equivalent metres per metre (default 1.2: it crosses
    /// courtyards, lawns or a building to its door, slower than a paved way).
    pub snap_factor: f64,
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            max_snap_m: 300.0,
            snap_factor: 1.2,
        }
    }
}

/// Result of one target of a one-to-many query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reach {
    /// Reachable at this many walking-equivalent metres (snap legs included).
    Metres(f64),
    /// On the graph but not reachable within the budget.
    Unreachable,
    /// Farther than [`RouterConfig::max_snap_m`] from any walkable edge.
    OffGraph,
}

impl Reach {
    /// The distance, if reachable.
    pub fn metres(self) -> Option<f64> {
        match self {
            Reach::Metres(m) => Some(m),
            _ => None,
        }
    }
}

/// A walking route between two points.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// The path, starting at the origin and ending at the destination (the
    /// legs to and from the graph included).
    pub geometry: Vec<LatLon>,
    /// Physical length in metres (sum of the geometry's great-circle segments).
    pub distance_m: f64,
    /// Walking-equivalent metres (slow ground counts extra): divide by a
    /// walking speed in m/s to get seconds.
    pub cost_m: f64,
}

impl Route {
    /// The route as a GeoJSON `Feature` with a `LineString` (`[lon, lat]`
    /// positions) and properties `distance_m`, `cost_m` and `duration_s` =
    /// `cost_m / speed_mps` (a non-positive or non-finite speed gives `null`).
    pub fn to_geojson(&self, speed_mps: f64) -> serde_json::Value {
        let coords: Vec<serde_json::Value> = self
            .geometry
            .iter()
            .map(|p| serde_json::json!([p.lon, p.lat]))
            .collect();
        let duration = (speed_mps.is_finite() && speed_mps > 0.0).then(|| self.cost_m / speed_mps);
        serde_json::json!({
            "type": "Feature",
            "geometry": { "type": "LineString", "coordinates": coords },
            "properties": {
                "distance_m": self.distance_m,
                "cost_m": self.cost_m,
                "duration_s": duration,
            }
        })
    }

    /// Append `next` (which should start where `self` ends) to this route.
    fn append(mut self, next: Route) -> Route {
        let skip = usize::from(self.geometry.last() == next.geometry.first());
        self.geometry.extend(next.geometry.into_iter().skip(skip));
        self.distance_m += next.distance_m;
        self.cost_m += next.cost_m;
        self
    }
}

/// Walking-equivalent metres for the two legs of "volunteer → AED → patient",
/// from [`Router::aed_legs`].
#[derive(Debug, Clone, PartialEq)]
pub struct AedLegs {
    /// Volunteer `i` straight to the patient.
    pub volunteer_to_patient: Vec<Option<f64>>,
    /// AED `a` to the patient.
    pub aed_to_patient: Vec<Option<f64>>,
    /// `volunteer_to_aed[a][i]`: volunteer `i` to AED `a`; `None` also when
    /// the whole detour (this leg plus `aed_to_patient[a]`) exceeds the budget.
    pub volunteer_to_aed: Vec<Vec<Option<f64>>>,
}

/// Per-query working memory, reused through the router's pool.
#[derive(Debug, Default)]
struct Scratch {
    dist: Vec<f32>,
    pred: Vec<u32>,
    stamp: Vec<u32>,
    want: Vec<u32>,
    epoch: u32,
    heap: BinaryHeap<Reverse<u64>>,
}

const NO_PRED: u32 = u32::MAX;

impl Scratch {
    fn begin(&mut self, n: usize) {
        if self.dist.len() != n {
            *self = Scratch {
                dist: vec![0.0; n],
                pred: vec![NO_PRED; n],
                stamp: vec![0; n],
                want: vec![0; n],
                epoch: 0,
                heap: BinaryHeap::new(),
            };
        }
        if self.epoch == u32::MAX {
            self.stamp.fill(0);
            self.want.fill(0);
            self.epoch = 0;
        }
        self.epoch += 1;
        self.heap.clear();
    }

    fn get(&self, v: u32) -> f32 {
        if self.stamp[v as usize] == self.epoch {
            self.dist[v as usize]
        } else {
            f32::INFINITY
        }
    }

    fn set(&mut self, v: u32, d: f32, pred: u32) {
        self.stamp[v as usize] = self.epoch;
        self.dist[v as usize] = d;
        self.pred[v as usize] = pred;
        self.heap
            .push(Reverse((u64::from(d.to_bits()) << 32) | u64::from(v)));
    }
}

/// One endpoint of a search: a snapped point and the cost of the snap leg.
#[derive(Debug, Clone, Copy)]
struct End {
    snap: Snap,
    offset: f64,
}

/// Routes on a [`Graph`]. `Send + Sync`: share one per region behind an `Arc`;
/// each query borrows working memory from an internal pool.
#[derive(Debug)]
pub struct Router {
    graph: Graph,
    config: RouterConfig,
    pool: Mutex<Vec<Scratch>>,
}

impl Router {
    /// A router with the default [`RouterConfig`].
    pub fn new(graph: Graph) -> Self {
        Self::with_config(graph, RouterConfig::default())
    }

    /// A router with explicit snapping settings. A negative or non-finite
    /// setting is replaced by its default.
    pub fn with_config(graph: Graph, config: RouterConfig) -> Self {
        let d = RouterConfig::default();
        let ok = |x: f64| x.is_finite() && x >= 0.0;
        let config = RouterConfig {
            max_snap_m: if ok(config.max_snap_m) {
                config.max_snap_m
            } else {
                d.max_snap_m
            },
            snap_factor: if ok(config.snap_factor) {
                config.snap_factor
            } else {
                d.snap_factor
            },
        };
        Self {
            graph,
            config,
            pool: Mutex::new(Vec::new()),
        }
    }

    /// The underlying graph.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The snapping settings.
    pub fn config(&self) -> RouterConfig {
        self.config
    }

    /// Metres from `p` to the nearest walkable edge, `None` if off graph
    /// (farther than [`RouterConfig::max_snap_m`]).
    pub fn snap_distance(&self, p: LatLon) -> Option<f64> {
        self.snap(p).map(|s| s.dist_m)
    }

    /// The nearest point on the graph to `p`, if on graph.
    pub fn snap_point(&self, p: LatLon) -> Option<LatLon> {
        self.snap(p).map(|s| s.point)
    }

    fn snap(&self, p: LatLon) -> Option<Snap> {
        self.graph.grid.snap(&self.graph, p, self.config.max_snap_m)
    }

    fn end(&self, p: LatLon) -> Option<End> {
        self.snap(p).map(|snap| End {
            snap,
            offset: snap.dist_m * self.config.snap_factor,
        })
    }

    fn with_scratch<R>(&self, f: impl FnOnce(&mut Scratch) -> R) -> R {
        let mut s = self
            .pool
            .lock()
            .map(|mut p| p.pop())
            .unwrap_or_default()
            .unwrap_or_default();
        let r = f(&mut s);
        if let Ok(mut p) = self.pool.lock() {
            p.push(s);
        }
        r
    }

    /// Cost of moving along edge `e` from position `a` to `b` (metres from
    /// `u`) in search direction; a reverse search walks it from `b` to `a`.
    fn part(&self, e: u32, a: f64, b: f64, reverse: bool) -> f64 {
        let (a, b) = if reverse { (b, a) } else { (a, b) };
        let e = e as usize;
        let len = f64::from(self.graph.edge_len[e]);
        if a == b || len <= 0.0 {
            return 0.0;
        }
        if b > a {
            f64::from(self.graph.cost_fw[e]) * (b - a) / len
        } else {
            f64::from(self.graph.cost_bw[e]) * (a - b) / len
        }
    }

    /// Bounded Dijkstra from `src`; stops when every vertex in `wanted` is
    /// settled (if any) or the frontier passes `max`. Returns settled count.
    fn search(&self, s: &mut Scratch, src: &End, reverse: bool, max: f64, wanted: &[u32]) -> usize {
        let g = &self.graph;
        s.begin(g.num_vertices());
        let e = src.snap.edge;
        let len = f64::from(g.edge_len[e as usize]);
        let t = src.snap.along_m;
        for (v, pos) in [(g.edge_u[e as usize], 0.0), (g.edge_v[e as usize], len)] {
            let d = (src.offset + self.part(e, t, pos, reverse)) as f32;
            if f64::from(d) <= max && d < s.get(v) {
                s.set(v, d, NO_PRED);
            }
        }
        let mut remaining = 0usize;
        for &v in wanted {
            if s.want[v as usize] != s.epoch {
                s.want[v as usize] = s.epoch;
                remaining += 1;
            }
        }
        let stop_early = !wanted.is_empty();
        let max32 = max.min(f64::from(f32::MAX)) as f32;
        let mut settled = 0usize;
        while let Some(Reverse(key)) = s.heap.pop() {
            let v = key as u32;
            let d = f32::from_bits((key >> 32) as u32);
            if d > s.dist[v as usize] {
                continue;
            }
            if d > max32 {
                break;
            }
            settled += 1;
            if s.want[v as usize] == s.epoch {
                s.want[v as usize] = 0;
                remaining -= 1;
                if stop_early && remaining == 0 {
                    break;
                }
            }
            let (lo, hi) = (
                g.first_arc[v as usize] as usize,
                g.first_arc[v as usize + 1] as usize,
            );
            for (i, arc) in g.arcs[lo..hi].iter().enumerate() {
                let c = if reverse { arc.cost_in } else { arc.cost_out };
                let nd = d + c;
                if nd <= max32 && nd < s.get(arc.head) {
                    s.set(arc.head, nd, (lo + i) as u32);
                }
            }
        }
        settled
    }

    /// Best way to finish at target `t` after a search from `src`:
    /// `(cost, via)` with via 0 = through `u`, 1 = through `v`, 2 = along the shared edge.
    fn finish(&self, s: &Scratch, src: &End, t: &End, reverse: bool) -> (f64, u8) {
        let g = &self.graph;
        let e = t.snap.edge;
        let len = f64::from(g.edge_len[e as usize]);
        let mut best = (f64::INFINITY, 0u8);
        for (via, (v, pos)) in [(g.edge_u[e as usize], 0.0), (g.edge_v[e as usize], len)]
            .into_iter()
            .enumerate()
        {
            let c = f64::from(s.get(v)) + self.part(e, pos, t.snap.along_m, reverse);
            if c < best.0 {
                best = (c, via as u8);
            }
        }
        if src.snap.edge == e {
            let c = src.offset + self.part(e, src.snap.along_m, t.snap.along_m, reverse);
            if c <= best.0 {
                best = (c, 2);
            }
        }
        (best.0 + t.offset, best.1)
    }

    /// One-to-many from `origin`: `reverse = false` measures origin → target,
    /// `true` target → origin. `None` when the origin is off graph.
    fn reach(
        &self,
        origin: LatLon,
        targets: &[LatLon],
        max_m: f64,
        reverse: bool,
    ) -> Option<Vec<Reach>> {
        let src = self.end(origin)?;
        let ends: Vec<Option<End>> = targets.iter().map(|&p| self.end(p)).collect();
        if max_m.is_nan() || max_m < 0.0 {
            return Some(
                ends.iter()
                    .map(|e| {
                        if e.is_some() {
                            Reach::Unreachable
                        } else {
                            Reach::OffGraph
                        }
                    })
                    .collect(),
            );
        }
        let g = &self.graph;
        let wanted: Vec<u32> = ends
            .iter()
            .flatten()
            .flat_map(|t| {
                [
                    g.edge_u[t.snap.edge as usize],
                    g.edge_v[t.snap.edge as usize],
                ]
            })
            .collect();
        Some(self.with_scratch(|s| {
            if !wanted.is_empty() {
                self.search(s, &src, reverse, max_m, &wanted);
            } else {
                s.begin(g.num_vertices());
            }
            ends.iter()
                .map(|t| match t {
                    None => Reach::OffGraph,
                    Some(t) => {
                        let (c, _) = self.finish(s, &src, t, reverse);
                        if c <= max_m {
                            Reach::Metres(c)
                        } else {
                            Reach::Unreachable
                        }
                    }
                })
                .collect()
        }))
    }

    /// Walking-equivalent metres from `origin` to each target in one bounded
    /// search. `None` when the origin is off graph; per target
    /// [`Reach::OffGraph`] / [`Reach::Unreachable`] as applicable.
    pub fn reach_from(&self, origin: LatLon, targets: &[LatLon], max_m: f64) -> Option<Vec<Reach>> {
        self.reach(origin, targets, max_m, false)
    }

    /// Walking-equivalent metres from each source to `destination`, in one
    /// bounded reverse search from the destination (volunteers → patient).
    /// Differs from [`Router::reach_from`] only on `oneway:foot` ways.
    pub fn reach_to(
        &self,
        destination: LatLon,
        sources: &[LatLon],
        max_m: f64,
    ) -> Option<Vec<Reach>> {
        self.reach(destination, sources, max_m, true)
    }

    /// [`Router::reach_from`] with off-graph points as `None` (no fallback).
    pub fn distances_from(
        &self,
        origin: LatLon,
        targets: &[LatLon],
        max_m: f64,
    ) -> Vec<Option<f64>> {
        match self.reach_from(origin, targets, max_m) {
            Some(r) => r.into_iter().map(Reach::metres).collect(),
            None => vec![None; targets.len()],
        }
    }

    /// [`Router::reach_to`] with off-graph points as `None` (no fallback).
    pub fn distances_to(
        &self,
        destination: LatLon,
        sources: &[LatLon],
        max_m: f64,
    ) -> Vec<Option<f64>> {
        match self.reach_to(destination, sources, max_m) {
            Some(r) => r.into_iter().map(Reach::metres).collect(),
            None => vec![None; sources.len()],
        }
    }

    /// Number of vertices within `max_m` walking-equivalent metres of
    /// `origin` (a full bounded search, used for benchmarking); `None` if off graph.
    pub fn settled_within(&self, origin: LatLon, max_m: f64) -> Option<usize> {
        let src = self.end(origin)?;
        Some(self.with_scratch(|s| self.search(s, &src, true, max_m, &[])))
    }

    /// Both legs of "volunteer → AED → patient" plus the direct leg, with
    /// `1 + (number of AEDs reachable from the patient)` reverse searches:
    /// one from the patient (gives volunteer → patient and AED → patient),
    /// then one from each such AED bounded by what is left of `max_m`.
    pub fn aed_legs(
        &self,
        patient: LatLon,
        volunteers: &[LatLon],
        aeds: &[LatLon],
        max_m: f64,
    ) -> AedLegs {
        let mut all = volunteers.to_vec();
        all.extend_from_slice(aeds);
        let first = self.distances_to(patient, &all, max_m);
        let (direct, aed_to_patient) = first.split_at(volunteers.len());
        let volunteer_to_aed = aeds
            .iter()
            .zip(aed_to_patient)
            .map(|(&aed, leg2)| match leg2 {
                Some(leg2) => self.distances_to(aed, volunteers, max_m - leg2),
                None => vec![None; volunteers.len()],
            })
            .collect();
        AedLegs {
            volunteer_to_patient: direct.to_vec(),
            aed_to_patient: aed_to_patient.to_vec(),
            volunteer_to_aed,
        }
    }

    /// The cheapest walking route from `from` to `to`, with its geometry;
    /// `None` when either point is off graph or no route exists.
    pub fn route(&self, from: LatLon, to: LatLon) -> Option<Route> {
        let src = self.end(from)?;
        let dst = self.end(to)?;
        let g = &self.graph;
        let te = dst.snap.edge as usize;
        let wanted = [g.edge_u[te], g.edge_v[te]];
        let (cost, via, path, start_vertex) = self.with_scratch(|s| {
            self.search(s, &src, false, f64::INFINITY, &wanted);
            let (cost, via) = self.finish(s, &src, &dst, false);
            let mut path = Vec::new(); // (edge, reversed) from the end vertex back
            let mut x = if via == 1 { g.edge_v[te] } else { g.edge_u[te] };
            if via != 2 {
                while s.stamp[x as usize] == s.epoch && s.pred[x as usize] != NO_PRED {
                    let arc = g.arcs[s.pred[x as usize] as usize];
                    let e = arc.edge & !REVERSED;
                    let reversed = arc.edge & REVERSED != 0;
                    path.push((e, reversed));
                    x = if reversed {
                        g.edge_v[e as usize]
                    } else {
                        g.edge_u[e as usize]
                    };
                }
            }
            (cost, via, path, x)
        });
        if !cost.is_finite() {
            return None;
        }
        let mut geo = vec![from, src.snap.point];
        let se = src.snap.edge as usize;
        if via == 2 {
            self.push_between(&mut geo, se, &src.snap, &dst.snap);
        } else {
            // Origin snap → start vertex.
            let towards_u = start_vertex == g.edge_u[se]
                && !(start_vertex == g.edge_v[se] && path.is_empty() && via == 1);
            self.push_to_end(&mut geo, &src.snap, towards_u);
            for &(e, reversed) in path.iter().rev() {
                let e = e as usize;
                let k = g.edge_point_count(e);
                for j in 0..k {
                    let j = if reversed { k - 1 - j } else { j };
                    let p = g.edge_point(e, j);
                    geo.push(to_latlon(p.0, p.1));
                }
            }
            // End vertex → destination snap: the reverse of snap → vertex.
            let mut tail = Vec::new();
            self.push_to_end(&mut tail, &dst.snap, via == 0);
            geo.extend(tail.into_iter().rev());
        }
        geo.push(to);
        geo.dedup_by(|b, a| a.distance_m(*b) < 0.001);
        let distance_m = geo.windows(2).map(|w| w[0].distance_m(w[1])).sum();
        Some(Route {
            geometry: geo,
            distance_m,
            cost_m: cost,
        })
    }

    /// The route `from → via → to` (e.g. volunteer → AED → patient).
    pub fn route_via(&self, from: LatLon, via: LatLon, to: LatLon) -> Option<Route> {
        Some(self.route(from, via)?.append(self.route(via, to)?))
    }

    /// Push the snapped point and the polyline points from it to `u` (or `v`).
    fn push_to_end(&self, out: &mut Vec<LatLon>, snap: &Snap, towards_u: bool) {
        let g = &self.graph;
        let e = snap.edge as usize;
        let seg = snap.seg as usize;
        out.push(snap.point);
        if towards_u {
            for j in (0..=seg).rev() {
                let p = g.edge_point(e, j);
                out.push(to_latlon(p.0, p.1));
            }
        } else {
            for j in seg + 1..g.edge_point_count(e) {
                let p = g.edge_point(e, j);
                out.push(to_latlon(p.0, p.1));
            }
        }
    }

    /// Push the polyline of edge `e` between two snapped points on it.
    fn push_between(&self, out: &mut Vec<LatLon>, e: usize, a: &Snap, b: &Snap) {
        let g = &self.graph;
        out.push(a.point);
        let (sa, sb) = (a.seg as usize, b.seg as usize);
        if b.along_m >= a.along_m {
            for j in sa + 1..=sb {
                let p = g.edge_point(e, j);
                out.push(to_latlon(p.0, p.1));
            }
        } else {
            for j in (sb + 1..=sa).rev() {
                let p = g.edge_point(e, j);
                out.push(to_latlon(p.0, p.1));
            }
        }
        out.push(b.point);
    }
}

/// A [`WalkingEstimator`] on a pedestrian [`Graph`] that always answers:
/// if the origin is off the graph (farther than [`RouterConfig::max_snap_m`]
/// from any walkable way) every target is estimated by the straight-line
/// `fallback`; if only some targets are off the graph, just those are.
/// Targets on the graph but unreachable within `max_m` are `None`.
///
/// `distances_from` measures origin → targets (forward). For volunteers
/// walking to a patient use [`Router::reach_to`] through [`GraphEstimator::router`]
/// when `oneway:foot` ways matter; elsewhere both directions are equal.
#[derive(Debug)]
pub struct GraphEstimator {
    router: Router,
    fallback: StraightLine,
}

impl GraphEstimator {
    /// Estimator with the default straight-line fallback (detour factor 1.35).
    pub fn new(router: Router) -> Self {
        Self {
            router,
            fallback: StraightLine::default(),
        }
    }

    /// Estimator with an explicit fallback.
    pub fn with_fallback(router: Router, fallback: StraightLine) -> Self {
        Self { router, fallback }
    }

    /// The router behind this estimator.
    pub fn router(&self) -> &Router {
        &self.router
    }
}

impl WalkingEstimator for GraphEstimator {
    fn distances_from(&self, origin: LatLon, targets: &[LatLon], max_m: f64) -> Vec<Option<f64>> {
        match self.router.reach_from(origin, targets, max_m) {
            None => self.fallback.distances_from(origin, targets, max_m),
            Some(reach) => reach
                .into_iter()
                .zip(targets)
                .map(|(r, &t)| match r {
                    Reach::Metres(m) => Some(m),
                    Reach::Unreachable => None,
                    Reach::OffGraph => self
                        .fallback
                        .distances_from(origin, &[t], max_m)
                        .pop()
                        .flatten(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::BuildOptions;

    const C: LatLon = LatLon {
        lat: 55.0,
        lon: 12.0,
    };

    /// A square of footways 100 m a side (corners 1 SW, 2 NW, 3 NE, 4 SE),
    /// plus a diagonal 1–3 tagged `foot=no` and a spur 3–5 of 50 m east with
    /// `oneway:foot=yes` (walkable 3 → 5 only) and a gravel spur 4-6.
    fn square() -> Router {
        let n2 = C.offset(0.0, 100.0);
        let nodes = vec![
            (1, C),
            (2, n2),
            (3, n2.offset(90.0, 100.0)),
            (4, C.offset(90.0, 100.0)),
            (5, n2.offset(90.0, 150.0)),
            (6, C.offset(90.0, 200.0)),
        ];
        let ways = vec![
            (vec![1, 2, 3, 4, 1], vec![("highway", "footway")]),
            (vec![1, 3], vec![("highway", "footway"), ("foot", "no")]),
            (
                vec![3, 5],
                vec![("highway", "footway"), ("oneway:foot", "yes")],
            ),
            (
                vec![4, 6],
                vec![("highway", "track"), ("surface", "gravel")],
            ),
        ];
        Router::new(Graph::from_osm_ways(&nodes, &ways, &BuildOptions::default()).unwrap())
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn foot_no_diagonal_is_not_used() {
        let r = square();
        let ne = C.offset(0.0, 100.0).offset(90.0, 100.0);
        let d = r.route(C, ne).unwrap();
        assert!(close(d.cost_m, 200.0, 0.5), "{d:?}");
        assert!(d.distance_m > 199.0);
    }

    #[test]
    fn oneway_foot_is_one_way_and_reverse_search_knows_it() {
        let r = square();
        let ne = C.offset(0.0, 100.0).offset(90.0, 100.0);
        let spur_end = C.offset(0.0, 100.0).offset(90.0, 150.0);
        // Out along the spur: fine. Back: impossible (the spur end is a dead end).
        assert!(close(r.route(ne, spur_end).unwrap().cost_m, 50.0, 0.5));
        assert_eq!(r.route(spur_end, ne), None);
        assert_eq!(r.distances_from(spur_end, &[ne], 1e9), vec![None]);
        // Reverse search from `ne`: the cost *from* spur_end *to* ne is unreachable,
        // the cost from SW corner to ne is 200.
        let got = r.distances_to(ne, &[spur_end, C], 1e9);
        assert_eq!(got[0], None);
        assert!(close(got[1].unwrap(), 200.0, 0.5));
        // Reverse search from spur_end: everything can reach it.
        let got = r.distances_to(spur_end, &[ne, C], 1e9);
        assert!(
            close(got[0].unwrap(), 50.0, 0.5) && close(got[1].unwrap(), 250.0, 0.5),
            "{got:?}"
        );
    }

    #[test]
    fn snap_leg_counts_and_off_graph_is_reported() {
        let r = square();
        // 20 m west of the west side's midpoint, to the SE corner.
        let p = C.offset(0.0, 50.0).offset(270.0, 20.0);
        let se = C.offset(90.0, 100.0);
        let d = r.distances_from(p, &[se], 1e9)[0].unwrap();
        assert!(close(d, 20.0 * 1.2 + 50.0 + 100.0, 0.6), "{d}");
        let far = C.offset(180.0, 5000.0);
        assert_eq!(r.reach_from(far, &[se], 1e9), None);
        assert_eq!(
            r.reach_from(se, &[far, p], 1e9).unwrap()[0],
            Reach::OffGraph
        );
        assert_eq!(r.route(far, se), None);
    }

    #[test]
    fn budget_is_respected() {
        let r = square();
        let nw = C.offset(0.0, 100.0);
        let ne = nw.offset(90.0, 100.0);
        let got = r.distances_from(C, &[nw, ne], 150.0);
        assert!(close(got[0].unwrap(), 100.0, 0.5));
        assert_eq!(got[1], None);
        assert_eq!(r.distances_from(C, &[nw], f64::NAN), vec![None]);
        assert_eq!(r.distances_from(C, &[nw], -1.0), vec![None]);
    }

    #[test]
    fn slow_ground_costs_more_than_its_length() {
        let r = square();
        let se = C.offset(90.0, 100.0);
        let east = C.offset(90.0, 200.0);
        let route = r.route(se, east).unwrap();
        assert!(close(route.distance_m, 100.0, 0.5));
        assert!(close(route.cost_m, 100.0 * 1.2, 0.5), "{route:?}");
    }

    #[test]
    fn same_edge_route_and_geometry() {
        let r = square();
        let a = C.offset(0.0, 20.0);
        let b = C.offset(0.0, 70.0);
        let route = r.route(a, b).unwrap();
        assert!(close(route.cost_m, 50.0, 0.3), "{route:?}");
        assert_eq!(route.geometry.len(), 2);
        let back = r.route(b, a).unwrap();
        assert!(close(back.cost_m, 50.0, 0.3));
        // Around the corner: the geometry passes the NW corner.
        let east_side = C.offset(0.0, 100.0).offset(90.0, 30.0);
        let route = r.route(a, east_side).unwrap();
        assert!(close(route.cost_m, 80.0 + 30.0, 0.5), "{route:?}");
        let corner = C.offset(0.0, 100.0);
        assert!(route.geometry.iter().any(|p| p.distance_m(corner) < 0.01));
        assert_eq!(route.geometry.first(), Some(&a));
        assert_eq!(route.geometry.last(), Some(&east_side));
        let gj = route.to_geojson(2.0);
        assert_eq!(gj["geometry"]["type"], "LineString");
        assert_eq!(gj["geometry"]["coordinates"][0][0], a.lon);
        assert!(close(
            gj["properties"]["duration_s"].as_f64().unwrap(),
            route.cost_m / 2.0,
            1e-9
        ));
        assert!(route.to_geojson(0.0)["properties"]["duration_s"].is_null());
    }

    #[test]
    fn estimator_falls_back_to_straight_line_off_graph() {
        let est = GraphEstimator::new(square());
        let far = C.offset(180.0, 5000.0);
        let se = C.offset(90.0, 100.0);
        let d = est.distances_from(far, &[se], 1e9)[0].unwrap();
        assert!(close(d, far.distance_m(se) * 1.35, 1.0));
        let got = est.distances_from(C, &[far, se], 1e9);
        assert!(close(got[0].unwrap(), 5000.0 * 1.35, 1.0));
        assert!(close(got[1].unwrap(), 100.0, 0.5));
        assert!(close(est.distance(C, se).unwrap(), 100.0, 0.5));
    }

    #[test]
    fn aed_legs_match_separate_queries() {
        let r = square();
        let nw = C.offset(0.0, 100.0);
        let ne = nw.offset(90.0, 100.0);
        let se = C.offset(90.0, 100.0);
        let legs = r.aed_legs(ne, &[C, se], &[nw], 1e9);
        assert!(close(legs.volunteer_to_patient[0].unwrap(), 200.0, 0.5));
        assert!(close(legs.aed_to_patient[0].unwrap(), 100.0, 0.5));
        assert!(close(legs.volunteer_to_aed[0][0].unwrap(), 100.0, 0.5));
        assert!(close(legs.volunteer_to_aed[0][1].unwrap(), 200.0, 0.5));
        let tight = r.aed_legs(ne, &[C, se], &[nw], 250.0);
        assert_eq!(tight.volunteer_to_aed[0][1], None, "200 + 100 > 250");
        let via = r.route_via(C, nw, ne).unwrap();
        assert!(close(via.cost_m, 200.0, 0.5));
    }
}
