//! Print graph statistics of a PBF: `cargo run --release --example info -- file.osm.pbf`.
fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: info <file.osm.pbf>");
        std::process::exit(2);
    };
    let t = std::time::Instant::now();
    match firstlink_routing::build_graph(&path, |p| eprintln!("{p:?}")) {
        Ok(g) => {
            let (sw, ne) = g.bounds();
            println!(
                "built in {:?}: {} vertices, {} edges, {:.1} km, bounds {sw:?} {ne:?}",
                t.elapsed(),
                g.num_vertices(),
                g.num_edges(),
                g.total_length_m() / 1000.0
            );
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
