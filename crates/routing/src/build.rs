//! Building a [`Graph`] from an OpenStreetMap PBF file (two passes: ways,
//! then the coordinates of the nodes they use).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use osmpbf::{Element, ElementReader};

use crate::error::BuildError;
use crate::graph::{BuildOptions, Graph, RawWays};

/// Progress reports of [`build_graph`], in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// First pass: ways read so far and how many of them are walkable
    /// (reported every 100,000 ways and at the end of the pass).
    Ways { read: u64, walkable: u64 },
    /// Second pass done: nodes of walkable ways found / needed.
    Nodes { found: u64, needed: u64 },
    /// The graph is assembled: vertices and edges kept (largest component(s)).
    Done { vertices: u64, edges: u64 },
}

/// Read one pass over the file, mapping reader errors and guarding against a
/// panic inside the PBF decoder (a corrupt file must give an error).
fn pass(path: &Path, f: impl for<'a> FnMut(Element<'a>)) -> Result<(), BuildError> {
    let file = std::fs::File::open(path)?;
    let reader = ElementReader::new(std::io::BufReader::with_capacity(1 << 16, file));
    match catch_unwind(AssertUnwindSafe(move || reader.for_each(f))) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(BuildError::Pbf(e.to_string())),
        Err(_) => Err(BuildError::Pbf(
            "the PBF decoder failed on corrupt data".into(),
        )),
    }
}

/// Build the pedestrian graph of an OSM PBF extract with default
/// [`BuildOptions`] (only the largest connected component is kept).
///
/// Errors: unreadable file, a file that is not valid PBF (truncated,
/// another format) and an extract with no walkable ways.
pub fn build_graph(
    pbf_path: impl AsRef<Path>,
    progress: impl FnMut(Progress),
) -> Result<Graph, BuildError> {
    build_graph_with(pbf_path, &BuildOptions::default(), progress)
}

/// [`build_graph`] with explicit options.
pub fn build_graph_with(
    pbf_path: impl AsRef<Path>,
    options: &BuildOptions,
    mut progress: impl FnMut(Progress),
) -> Result<Graph, BuildError> {
    let path = pbf_path.as_ref();
    let mut raw = RawWays::default();
    let (mut read, mut walkable, mut elements) = (0u64, 0u64, 0u64);
    pass(path, |el| {
        elements += 1;
        if let Element::Way(w) = el {
            read += 1;
            let tags: Vec<(&str, &str)> = w.tags().collect();
            if raw.push(w.refs(), &tags) {
                walkable += 1;
            }
            if read % 100_000 == 0 {
                progress(Progress::Ways { read, walkable });
            }
        }
    })?;
    progress(Progress::Ways { read, walkable });
    if elements == 0 {
        return Err(BuildError::Pbf("the file contains no OSM data".into()));
    }
    if raw.ways.is_empty() {
        return Err(BuildError::NoWalkableWays);
    }

    let ids = raw.node_ids();
    let mut coords: Vec<Option<(i32, i32)>> = vec![None; ids.len()];
    let mut found = 0u64;
    let mut put = |id: i64, lat: i32, lon: i32| {
        let in_range = (-900_000_000..=900_000_000).contains(&lat)
            && (-1_800_000_000..=1_800_000_000).contains(&lon);
        if in_range
            && let Ok(i) = ids.binary_search(&id)
            && coords[i].is_none()
        {
            coords[i] = Some((lat, lon));
            found += 1;
        }
    };
    pass(path, |el| match el {
        Element::Node(n) => put(n.id(), n.decimicro_lat(), n.decimicro_lon()),
        Element::DenseNode(n) => put(n.id(), n.decimicro_lat(), n.decimicro_lon()),
        _ => {}
    })?;
    progress(Progress::Nodes {
        found,
        needed: ids.len() as u64,
    });

    let graph = Graph::assemble(&raw, &ids, &coords, options)?;
    progress(Progress::Done {
        vertices: graph.num_vertices() as u64,
        edges: graph.num_edges() as u64,
    });
    Ok(graph)
}
