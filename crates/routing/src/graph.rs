//! The pedestrian graph: vertices (way ends and junctions), edges with their
//! intermediate geometry, a CSR adjacency and a spatial grid for snapping;
//! plus its binary file format ([`Graph::save`], [`Graph::load`]).

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use firstlink_domain::geo::LatLon;

use crate::error::{BuildError, LoadError};
use crate::snap::Grid;
use crate::tags::{WayProfile, walk_profile};

/// Degrees per unit of the stored fixed-point coordinates (1e-7°, ≈ 1 cm).
pub(crate) const COORD_SCALE: f64 = 1e-7;
/// Bit of [`Arc::edge`] set when the arc walks the edge from `v` to `u`.
pub(crate) const REVERSED: u32 = 1 << 31;

/// Convert degrees to fixed-point 1e-7° units.
pub(crate) fn to_fixed(deg: f64) -> i32 {
    (deg / COORD_SCALE).round() as i32
}

/// Convert a fixed-point pair to a [`LatLon`].
pub(crate) fn to_latlon(lat: i32, lon: i32) -> LatLon {
    LatLon {
        lat: f64::from(lat) * COORD_SCALE,
        lon: f64::from(lon) * COORD_SCALE,
    }
}

/// One directed half of an edge in the CSR adjacency of its tail vertex.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Arc {
    /// Vertex at the other end.
    pub head: u32,
    /// Edge index, with [`REVERSED`] set when walking it from `v` to `u`.
    pub edge: u32,
    /// Cost of walking tail → head (infinite if forbidden).
    pub cost_out: f32,
    /// Cost of walking head → tail (infinite if forbidden); used by reverse searches.
    pub cost_in: f32,
}

/// Options of the graph builder.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildOptions {
    /// Keep every connected component whose total way length is at least this
    /// share of the largest one's (default 1.0: keep only the largest, so that
    /// every snapped point can reach every other; small islands such as a
    /// fenced-off courtyard path would otherwise capture snaps and report
    /// "unreachable").
    pub min_component_share: f64,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            min_component_share: 1.0,
        }
    }
}

/// A walkable pedestrian network, ready for routing.
///
/// Built from OpenStreetMap by [`crate::build_graph`] (or from in-memory
/// ways by [`Graph::from_osm_ways`]), stored by [`Graph::save`] and read back
/// by [`Graph::load`]. Vertices are way ends and junctions; the nodes between
/// them are kept as edge geometry for drawing routes and snapping.
#[derive(Debug)]
pub struct Graph {
    pub(crate) vlat: Vec<i32>,
    pub(crate) vlon: Vec<i32>,
    pub(crate) edge_u: Vec<u32>,
    pub(crate) edge_v: Vec<u32>,
    /// Physical length in metres.
    pub(crate) edge_len: Vec<f32>,
    /// Walking-equivalent cost u → v (infinite if forbidden).
    pub(crate) cost_fw: Vec<f32>,
    /// Walking-equivalent cost v → u (infinite if forbidden).
    pub(crate) cost_bw: Vec<f32>,
    /// `shape_start[e]..shape_start[e+1]` indexes the intermediate points of edge `e`.
    pub(crate) shape_start: Vec<u32>,
    pub(crate) shape_lat: Vec<i32>,
    pub(crate) shape_lon: Vec<i32>,
    // Derived on construction, not stored.
    pub(crate) first_arc: Vec<u32>,
    pub(crate) arcs: Vec<Arc>,
    pub(crate) grid: Grid,
}

/// One OSM way for [`Graph::from_osm_ways`]: node ids and `(key, value)` tags.
pub type OsmWay<'a> = (Vec<i64>, Vec<(&'a str, &'a str)>);

/// Walkable ways collected from an OSM source, before assembly.
#[derive(Debug, Default)]
pub(crate) struct RawWays {
    /// Node references of all kept ways, concatenated.
    pub refs: Vec<i64>,
    /// `(start, end, profile)` ranges into `refs`.
    pub ways: Vec<(usize, usize, WayProfile)>,
}

impl RawWays {
    /// Add a way if its tags make it walkable. Returns whether it was kept.
    pub fn push(&mut self, refs: impl IntoIterator<Item = i64>, tags: &[(&str, &str)]) -> bool {
        let Some(profile) = walk_profile(tags) else {
            return false;
        };
        let start = self.refs.len();
        self.refs.extend(refs);
        if self.refs.len() - start < 2 {
            self.refs.truncate(start);
            return false;
        }
        self.ways.push((start, self.refs.len(), profile));
        true
    }

    /// Sorted unique node ids referenced by the kept ways.
    pub fn node_ids(&self) -> Vec<i64> {
        let mut ids = self.refs.clone();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// Union-find root with path halving.
fn find(parent: &mut [u32], mut x: u32) -> u32 {
    while parent[x as usize] != x {
        let p = parent[parent[x as usize] as usize];
        parent[x as usize] = p;
        x = p;
    }
    x
}

impl Graph {
    /// Build a graph from in-memory OSM data: nodes `(id, position)` and ways
    /// `(node ids, tags)`. Applies the same tag rules as [`crate::build_graph`];
    /// meant for synthetic graphs in tests and for callers that already
    /// parsed OSM data. Ways referencing unknown nodes are split there.
    pub fn from_osm_ways(
        nodes: &[(i64, LatLon)],
        ways: &[OsmWay<'_>],
        options: &BuildOptions,
    ) -> Result<Graph, BuildError> {
        let mut raw = RawWays::default();
        for (refs, tags) in ways {
            raw.push(refs.iter().copied(), tags);
        }
        let ids = raw.node_ids();
        let by_id: HashMap<i64, LatLon> = nodes.iter().copied().collect();
        let coords: Vec<Option<(i32, i32)>> = ids
            .iter()
            .map(|id| by_id.get(id).map(|p| (to_fixed(p.lat), to_fixed(p.lon))))
            .collect();
        Self::assemble(&raw, &ids, &coords, options)
    }

    /// Turn walkable ways into a graph. `ids` are the sorted unique node ids
    /// of `raw`, `coords[i]` the position of `ids[i]` if known.
    pub(crate) fn assemble(
        raw: &RawWays,
        ids: &[i64],
        coords: &[Option<(i32, i32)>],
        options: &BuildOptions,
    ) -> Result<Graph, BuildError> {
        if raw.ways.is_empty() {
            return Err(BuildError::NoWalkableWays);
        }
        let index = |id: i64| ids.binary_search(&id).ok();
        // How often each node is used: 2+ means a junction.
        let mut uses = vec![0u8; ids.len()];
        for &id in &raw.refs {
            if let Some(i) = index(id) {
                uses[i] = uses[i].saturating_add(1);
            }
        }
        let mut vertex_of = vec![u32::MAX; ids.len()];
        let (mut vlat, mut vlon) = (Vec::new(), Vec::new());
        let mut vertex = |i: usize, vlat: &mut Vec<i32>, vlon: &mut Vec<i32>| -> u32 {
            if vertex_of[i] == u32::MAX {
                vertex_of[i] = vlat.len() as u32;
                let (la, lo) = coords[i].unwrap_or((0, 0));
                vlat.push(la);
                vlon.push(lo);
            }
            vertex_of[i]
        };
        let mut edges: Vec<(u32, u32, f32, f32, f32)> = Vec::new(); // u, v, len, fw, bw
        let mut shape_start = vec![0u32];
        let (mut shape_lat, mut shape_lon) = (Vec::new(), Vec::new());

        for &(start, end, profile) in &raw.ways {
            // Resolve to node indices with known coordinates, splitting at gaps.
            let mut piece: Vec<usize> = Vec::new();
            let mut pieces: Vec<Vec<usize>> = Vec::new();
            for &id in &raw.refs[start..end] {
                match index(id).filter(|&i| coords[i].is_some()) {
                    Some(i) => {
                        if piece.last() != Some(&i) {
                            piece.push(i);
                        }
                    }
                    None => {
                        if piece.len() >= 2 {
                            pieces.push(std::mem::take(&mut piece));
                        }
                        piece.clear();
                    }
                }
            }
            if piece.len() >= 2 {
                pieces.push(piece);
            }
            for piece in pieces {
                let mut from = vertex(piece[0], &mut vlat, &mut vlon);
                let mut prev = coords[piece[0]].unwrap_or((0, 0));
                let mut len = 0.0f64;
                let mut shape_here = 0usize;
                for (j, &i) in piece.iter().enumerate().skip(1) {
                    let c = coords[i].unwrap_or((0, 0));
                    len += to_latlon(prev.0, prev.1).distance_m(to_latlon(c.0, c.1));
                    prev = c;
                    if j + 1 == piece.len() || uses[i] >= 2 {
                        let to = vertex(i, &mut vlat, &mut vlon);
                        if !(to == from && shape_here == 0) {
                            let l = len as f32;
                            edges.push((from, to, l, l * profile.forward, l * profile.backward));
                            shape_start.push(shape_lat.len() as u32);
                        } else {
                            // Degenerate self-loop without geometry: drop its (empty) shape.
                            shape_lat.truncate(shape_lat.len() - shape_here);
                            shape_lon.truncate(shape_lon.len() - shape_here);
                        }
                        from = to;
                        len = 0.0;
                        shape_here = 0;
                    } else {
                        shape_lat.push(c.0);
                        shape_lon.push(c.1);
                        shape_here += 1;
                    }
                }
            }
        }
        if edges.is_empty() {
            return Err(BuildError::NoWalkableWays);
        }
        if edges.len() >= REVERSED as usize || shape_lat.len() >= u32::MAX as usize {
            return Err(BuildError::TooLarge);
        }

        // Connected components (undirected), by total way length.
        let nv = vlat.len();
        let mut parent: Vec<u32> = (0..nv as u32).collect();
        for &(u, v, ..) in &edges {
            let (a, b) = (find(&mut parent, u), find(&mut parent, v));
            if a != b {
                parent[a as usize] = b;
            }
        }
        let mut comp_len = vec![0.0f64; nv];
        for &(u, _, l, ..) in &edges {
            let r = find(&mut parent, u);
            comp_len[r as usize] += f64::from(l);
        }
        let largest = comp_len.iter().copied().fold(0.0, f64::max);
        let threshold = largest * options.min_component_share.clamp(0.0, 1.0);
        let keep_root = |r: u32| comp_len[r as usize] >= threshold;

        // Renumber kept vertices and edges.
        let mut new_id = vec![u32::MAX; nv];
        let mut g = GraphParts::default();
        for v in 0..nv {
            let r = find(&mut parent, v as u32);
            if keep_root(r) {
                new_id[v] = g.vlat.len() as u32;
                g.vlat.push(vlat[v]);
                g.vlon.push(vlon[v]);
            }
        }
        g.shape_start.push(0);
        for (e, &(u, v, l, fw, bw)) in edges.iter().enumerate() {
            if new_id[u as usize] == u32::MAX {
                continue;
            }
            g.edge_u.push(new_id[u as usize]);
            g.edge_v.push(new_id[v as usize]);
            g.edge_len.push(l);
            g.cost_fw.push(fw);
            g.cost_bw.push(bw);
            let (s, t) = (shape_start[e] as usize, shape_start[e + 1] as usize);
            g.shape_lat.extend_from_slice(&shape_lat[s..t]);
            g.shape_lon.extend_from_slice(&shape_lon[s..t]);
            g.shape_start.push(g.shape_lat.len() as u32);
        }
        Ok(g.finish())
    }

    /// Number of vertices (way ends and junctions).
    pub fn num_vertices(&self) -> usize {
        self.vlat.len()
    }

    /// Number of edges (way pieces between vertices).
    pub fn num_edges(&self) -> usize {
        self.edge_u.len()
    }

    /// Total physical length of all edges, in metres.
    pub fn total_length_m(&self) -> f64 {
        self.edge_len.iter().map(|&l| f64::from(l)).sum()
    }

    /// South-west and north-east corners of the graph.
    pub fn bounds(&self) -> (LatLon, LatLon) {
        let min = |v: &[i32]| v.iter().copied().min().unwrap_or(0);
        let max = |v: &[i32]| v.iter().copied().max().unwrap_or(0);
        (
            to_latlon(min(&self.vlat), min(&self.vlon)),
            to_latlon(max(&self.vlat), max(&self.vlon)),
        )
    }

    /// Position of vertex `v`, `None` for an index ≥ [`Graph::num_vertices`].
    pub fn vertex(&self, v: usize) -> Option<LatLon> {
        Some(to_latlon(*self.vlat.get(v)?, *self.vlon.get(v)?))
    }

    /// Number of points of edge `e`'s polyline (both ends included).
    pub(crate) fn edge_point_count(&self, e: usize) -> usize {
        (self.shape_start[e + 1] - self.shape_start[e]) as usize + 2
    }

    /// Point `j` of edge `e`'s polyline in fixed-point (0 = `u`, last = `v`).
    pub(crate) fn edge_point(&self, e: usize, j: usize) -> (i32, i32) {
        let k = self.edge_point_count(e);
        if j == 0 {
            let u = self.edge_u[e] as usize;
            (self.vlat[u], self.vlon[u])
        } else if j + 1 == k {
            let v = self.edge_v[e] as usize;
            (self.vlat[v], self.vlon[v])
        } else {
            let s = self.shape_start[e] as usize + j - 1;
            (self.shape_lat[s], self.shape_lon[s])
        }
    }

    /// Write the graph to `path` in the firstlink graph format (see
    /// `docs/routing.md`): written to a temporary file next to it, then renamed.
    pub fn save(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        let path = path.as_ref();
        let mut buf = Vec::with_capacity(self.stored_size());
        buf.extend_from_slice(MAGIC);
        for x in [
            FORMAT_VERSION,
            0,
            self.vlat.len() as u32,
            self.edge_u.len() as u32,
            self.shape_lat.len() as u32,
            0,
        ] {
            buf.extend_from_slice(&x.to_le_bytes());
        }
        let put_i = |buf: &mut Vec<u8>, v: &[i32]| {
            v.iter()
                .for_each(|x| buf.extend_from_slice(&x.to_le_bytes()))
        };
        let put_u = |buf: &mut Vec<u8>, v: &[u32]| {
            v.iter()
                .for_each(|x| buf.extend_from_slice(&x.to_le_bytes()))
        };
        let put_f = |buf: &mut Vec<u8>, v: &[f32]| {
            v.iter()
                .for_each(|x| buf.extend_from_slice(&x.to_le_bytes()))
        };
        put_i(&mut buf, &self.vlat);
        put_i(&mut buf, &self.vlon);
        put_u(&mut buf, &self.edge_u);
        put_u(&mut buf, &self.edge_v);
        put_f(&mut buf, &self.edge_len);
        put_f(&mut buf, &self.cost_fw);
        put_f(&mut buf, &self.cost_bw);
        put_u(&mut buf, &self.shape_start);
        put_i(&mut buf, &self.shape_lat);
        put_i(&mut buf, &self.shape_lon);
        let sum = fnv1a(&buf);
        buf.extend_from_slice(&sum.to_le_bytes());
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&buf)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    }

    fn stored_size(&self) -> usize {
        HEADER_LEN + 8 * self.vlat.len() + 24 * self.edge_u.len() + 4 + 8 * self.shape_lat.len() + 8
    }

    /// Read a graph written by [`Graph::save`]. Checks magic, version, sizes,
    /// checksum and every index, so a truncated or corrupt file is an error.
    pub fn load(path: impl AsRef<Path>) -> Result<Graph, LoadError> {
        let bytes = std::fs::read(path)?;
        Self::from_bytes(&bytes)
    }

    /// Parse the bytes of a graph file (see [`Graph::load`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Graph, LoadError> {
        if bytes.len() < HEADER_LEN + 8 || &bytes[..8] != MAGIC {
            return Err(if bytes.len() >= 8 && &bytes[..8] != MAGIC {
                LoadError::NotAGraph
            } else {
                LoadError::Truncated
            });
        }
        let word = |i: usize| {
            u32::from_le_bytes([
                bytes[8 + 4 * i],
                bytes[9 + 4 * i],
                bytes[10 + 4 * i],
                bytes[11 + 4 * i],
            ])
        };
        let version = word(0);
        if version != FORMAT_VERSION {
            return Err(LoadError::Version(version));
        }
        let (nv, ne, ns) = (word(2) as u64, word(3) as u64, word(4) as u64);
        let expected = HEADER_LEN as u64 + 8 * nv + 24 * ne + 4 + 8 * ns + 8;
        if (bytes.len() as u64) < expected {
            return Err(LoadError::Truncated);
        }
        if bytes.len() as u64 > expected {
            return Err(LoadError::Corrupt("trailing bytes after the checksum"));
        }
        let body = &bytes[..bytes.len() - 8];
        let mut tail = [0u8; 8];
        tail.copy_from_slice(&bytes[bytes.len() - 8..]);
        if fnv1a(body) != u64::from_le_bytes(tail) {
            return Err(LoadError::Checksum);
        }
        let (nv, ne, ns) = (nv as usize, ne as usize, ns as usize);
        let mut at = HEADER_LEN;
        let mut take = |n: usize| {
            let s = &body[at..at + 4 * n];
            at += 4 * n;
            s.chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]])
        };
        let mut g = GraphParts {
            vlat: take(nv).map(i32::from_le_bytes).collect(),
            vlon: take(nv).map(i32::from_le_bytes).collect(),
            edge_u: take(ne).map(u32::from_le_bytes).collect(),
            edge_v: take(ne).map(u32::from_le_bytes).collect(),
            edge_len: take(ne).map(f32::from_le_bytes).collect(),
            cost_fw: take(ne).map(f32::from_le_bytes).collect(),
            cost_bw: take(ne).map(f32::from_le_bytes).collect(),
            shape_start: take(ne + 1).map(u32::from_le_bytes).collect(),
            shape_lat: Vec::new(),
            shape_lon: Vec::new(),
        };
        g.shape_lat = take(ns).map(i32::from_le_bytes).collect();
        g.shape_lon = take(ns).map(i32::from_le_bytes).collect();
        g.validate()?;
        Ok(g.finish())
    }
}

/// File magic: 8 bytes.
const MAGIC: &[u8; 8] = b"FLRGRAPH";
/// Current format version.
pub const FORMAT_VERSION: u32 = 1;
/// Magic + six u32 header words.
const HEADER_LEN: usize = 8 + 6 * 4;

/// 64-bit FNV-1a over `data`, processed in 8-byte words for speed
/// (a checksum against corruption, not a cryptographic hash).
fn fnv1a(data: &[u8]) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = (h ^ w).wrapping_mul(PRIME);
    }
    for &b in chunks.remainder() {
        h = (h ^ u64::from(b)).wrapping_mul(PRIME);
    }
    h
}

/// The stored arrays of a graph, before the derived indexes are built.
#[derive(Default)]
struct GraphParts {
    vlat: Vec<i32>,
    vlon: Vec<i32>,
    edge_u: Vec<u32>,
    edge_v: Vec<u32>,
    edge_len: Vec<f32>,
    cost_fw: Vec<f32>,
    cost_bw: Vec<f32>,
    shape_start: Vec<u32>,
    shape_lat: Vec<i32>,
    shape_lon: Vec<i32>,
}

impl GraphParts {
    fn validate(&self) -> Result<(), LoadError> {
        let nv = self.vlat.len() as u32;
        let ne = self.edge_u.len();
        if nv == 0 || ne == 0 {
            return Err(LoadError::Corrupt("empty graph"));
        }
        if ne >= REVERSED as usize {
            return Err(LoadError::Corrupt("too many edges"));
        }
        let lat_ok = |x: &i32| (-900_000_000..=900_000_000).contains(x);
        let lon_ok = |x: &i32| (-1_800_000_000..=1_800_000_000).contains(x);
        if !self.vlat.iter().all(lat_ok)
            || !self.shape_lat.iter().all(lat_ok)
            || !self.vlon.iter().all(lon_ok)
            || !self.shape_lon.iter().all(lon_ok)
        {
            return Err(LoadError::Corrupt("coordinate out of range"));
        }
        if self.edge_u.iter().chain(&self.edge_v).any(|&v| v >= nv) {
            return Err(LoadError::Corrupt("edge refers to a missing vertex"));
        }
        if !self.edge_len.iter().all(|l| l.is_finite() && *l >= 0.0) {
            return Err(LoadError::Corrupt("bad edge length"));
        }
        let cost_ok = |c: &f32| !c.is_nan() && *c >= 0.0;
        if !self.cost_fw.iter().all(cost_ok) || !self.cost_bw.iter().all(cost_ok) {
            return Err(LoadError::Corrupt("bad edge cost"));
        }
        if self.shape_start.first() != Some(&0)
            || self.shape_start.last().copied() != Some(self.shape_lat.len() as u32)
            || self.shape_start.windows(2).any(|w| w[0] > w[1])
        {
            return Err(LoadError::Corrupt("bad edge geometry index"));
        }
        Ok(())
    }

    /// Build the CSR adjacency and the snapping grid.
    fn finish(self) -> Graph {
        let nv = self.vlat.len();
        let mut degree = vec![0u32; nv + 1];
        for (&u, &v) in self.edge_u.iter().zip(&self.edge_v) {
            degree[u as usize] += 1;
            degree[v as usize] += 1;
        }
        let mut first_arc = vec![0u32; nv + 1];
        for v in 0..nv {
            first_arc[v + 1] = first_arc[v] + degree[v];
        }
        let mut fill = first_arc.clone();
        let blank = Arc {
            head: 0,
            edge: 0,
            cost_out: 0.0,
            cost_in: 0.0,
        };
        let mut arcs = vec![blank; first_arc[nv] as usize];
        for e in 0..self.edge_u.len() {
            let (u, v) = (self.edge_u[e] as usize, self.edge_v[e] as usize);
            let (fw, bw) = (self.cost_fw[e], self.cost_bw[e]);
            arcs[fill[u] as usize] = Arc {
                head: v as u32,
                edge: e as u32,
                cost_out: fw,
                cost_in: bw,
            };
            fill[u] += 1;
            arcs[fill[v] as usize] = Arc {
                head: u as u32,
                edge: e as u32 | REVERSED,
                cost_out: bw,
                cost_in: fw,
            };
            fill[v] += 1;
        }
        let mut g = Graph {
            vlat: self.vlat,
            vlon: self.vlon,
            edge_u: self.edge_u,
            edge_v: self.edge_v,
            edge_len: self.edge_len,
            cost_fw: self.cost_fw,
            cost_bw: self.cost_bw,
            shape_start: self.shape_start,
            shape_lat: self.shape_lat,
            shape_lon: self.shape_lon,
            first_arc,
            arcs,
            grid: Grid::empty(),
        };
        g.grid = Grid::build(&g);
        g
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ll(lat: f64, lon: f64) -> LatLon {
        LatLon { lat, lon }
    }

    /// A plus-shaped crossing with one dangling way: 5 vertices, 4 edges;
    /// a separate far-away island of 1 edge that must be dropped.
    fn plus() -> Graph {
        let c = ll(55.0, 12.0);
        let nodes = vec![
            (1, c),
            (2, c.offset(0.0, 100.0)),
            (3, c.offset(90.0, 100.0)),
            (4, c.offset(180.0, 100.0)),
            (5, c.offset(270.0, 100.0)),
            (6, c.offset(0.0, 50.0)),
            (10, c.offset(45.0, 5000.0)),
            (11, c.offset(45.0, 5010.0)),
        ];
        let ways = vec![
            (vec![2, 6, 1, 4], vec![("highway", "footway")]),
            (vec![3, 1, 5], vec![("highway", "residential")]),
            (vec![10, 11], vec![("highway", "footway")]),
            (vec![3, 4], vec![("highway", "footway"), ("foot", "no")]),
        ];
        Graph::from_osm_ways(&nodes, &ways, &BuildOptions::default()).unwrap()
    }

    #[test]
    fn keeps_junctions_as_vertices_and_geometry_as_shape() {
        let g = plus();
        assert_eq!(g.num_vertices(), 5);
        assert_eq!(g.num_edges(), 4);
        assert_eq!(g.shape_lat.len(), 1, "node 6 is geometry, not a vertex");
        assert!(
            (g.total_length_m() - 400.0).abs() < 0.5,
            "{}",
            g.total_length_m()
        );
    }

    #[test]
    fn keeping_all_components_keeps_the_island() {
        let c = ll(55.0, 12.0);
        let nodes = vec![
            (1, c),
            (2, c.offset(0.0, 100.0)),
            (3, c.offset(90.0, 5000.0)),
            (4, c.offset(90.0, 5010.0)),
        ];
        let ways = vec![
            (vec![1, 2], vec![("highway", "footway")]),
            (vec![3, 4], vec![("highway", "footway")]),
        ];
        let all = Graph::from_osm_ways(
            &nodes,
            &ways,
            &BuildOptions {
                min_component_share: 0.0,
            },
        )
        .unwrap();
        assert_eq!(all.num_edges(), 2);
        let big = Graph::from_osm_ways(&nodes, &ways, &BuildOptions::default()).unwrap();
        assert_eq!(big.num_edges(), 1);
    }

    #[test]
    fn no_walkable_ways_is_an_error() {
        let nodes = vec![(1, ll(55.0, 12.0)), (2, ll(55.001, 12.0))];
        let ways = vec![
            (vec![1, 2], vec![("highway", "motorway")]),
            (vec![1, 2], vec![("building", "yes")]),
        ];
        let err = Graph::from_osm_ways(&nodes, &ways, &BuildOptions::default()).unwrap_err();
        assert!(matches!(err, BuildError::NoWalkableWays));
        // Ways whose nodes are all missing make no edges either.
        let err = Graph::from_osm_ways(
            &[],
            &[(vec![1, 2], vec![("highway", "footway")])],
            &BuildOptions::default(),
        )
        .unwrap_err();
        assert!(matches!(err, BuildError::NoWalkableWays));
    }

    #[test]
    fn bytes_round_trip_and_corruption_is_detected() {
        let g = plus();
        let dir =
            std::env::temp_dir().join(format!("firstlink-routing-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("plus.flg");
        g.save(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let h = Graph::from_bytes(&bytes).unwrap();
        assert_eq!(h.vlat, g.vlat);
        assert_eq!(h.edge_u, g.edge_u);
        assert_eq!(h.cost_fw, g.cost_fw);
        assert_eq!(h.shape_lon, g.shape_lon);
        for cut in [0, 7, 20, bytes.len() / 2, bytes.len() - 1] {
            assert!(
                matches!(Graph::from_bytes(&bytes[..cut]), Err(LoadError::Truncated)),
                "cut at {cut}"
            );
        }
        for i in [40, bytes.len() / 2, bytes.len() - 9] {
            let mut bad = bytes.clone();
            bad[i] ^= 0x10;
            assert!(
                matches!(Graph::from_bytes(&bad), Err(LoadError::Checksum)),
                "flip at {i}"
            );
        }
        let mut v2 = bytes.clone();
        v2[8] = 2;
        assert!(matches!(Graph::from_bytes(&v2), Err(LoadError::Version(2))));
        assert!(matches!(
            Graph::from_bytes(b"PK\x03\x04 definitely not a graph file at all"),
            Err(LoadError::NotAGraph)
        ));
        let mut long = bytes.clone();
        long.push(0);
        assert!(Graph::from_bytes(&long).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
