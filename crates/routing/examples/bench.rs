//! Benchmark of the pedestrian router (not a test).
//!
//! ```text
//! cargo run --release -p firstlink-routing --example bench -- /work/shared/data/osm/copenhagen.osm.pbf [--queries N] [--pgrouting DBNAME]
//! ```
//!
//! Prints graph build time and peak memory (VmHWM), file size, load time,
//! one-to-many within 1,400 m from random patients (full bounded search, and
//! to 200 random volunteers) and point-to-point route percentiles. With
//! `--pgrouting DB` it also times `pgr_drivingDistance` (1,400 m) and
//! `pgr_dijkstra` on the same points through `psql` (PostgreSQL on
//! 127.0.0.1:5432, user postgres, a database imported with osm2pgrouting).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use firstlink_domain::geo::LatLon;
use firstlink_routing::{Graph, Router, build_graph};

/// splitmix64: a small deterministic generator, good enough for picking points.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn proc_status(key: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .map(|l| l[key.len()..].trim().to_string())
        })
        .unwrap_or_else(|| "n/a".into())
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn report(name: &str, mut t: Vec<Duration>) {
    t.sort();
    println!(
        "{name:<44} n={:<5} p50={:>9.1?} p99={:>9.1?} max={:>9.1?}",
        t.len(),
        pct(&t, 0.5),
        pct(&t, 0.99),
        t.last().copied().unwrap_or_default()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(pbf) = args.first() else {
        eprintln!("usage: bench <file.osm.pbf> [--queries N] [--pgrouting DBNAME]");
        std::process::exit(2);
    };
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let queries: usize = opt("--queries")
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let pg_db = opt("--pgrouting");

    println!(
        "machine: {} cores, {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        cpu_model()
    );
    let t = Instant::now();
    let graph = match build_graph(pbf, |_| {}) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("build failed: {e}");
            std::process::exit(1);
        }
    };
    let build = t.elapsed();
    println!(
        "build: {build:.2?}, {} vertices, {} edges, {:.0} km of ways; peak memory VmHWM {}",
        graph.num_vertices(),
        graph.num_edges(),
        graph.total_length_m() / 1000.0,
        proc_status("VmHWM:")
    );

    let path = std::env::temp_dir().join("firstlink-bench.flg");
    graph.save(&path).expect("save");
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    drop(graph);
    let mut loads = Vec::new();
    let mut loaded = None;
    for _ in 0..5 {
        let t = Instant::now();
        loaded = Some(Graph::load(&path).expect("load"));
        loads.push(t.elapsed());
    }
    loads.sort();
    println!(
        "file: {:.2} MB; load (incl. checksum, CSR and grid): min {:.1?}, median {:.1?}",
        size as f64 / 1e6,
        loads[0],
        loads[2]
    );
    let router = Router::new(loaded.expect("loaded"));
    let g = router.graph();

    // Random patients: random graph vertices moved 0–30 m in a random direction.
    let mut rng = Rng(42);
    let patient = |rng: &mut Rng| {
        g.vertex(rng.below(g.num_vertices()))
            .unwrap_or(g.bounds().0)
            .offset(rng.unit() * 360.0, rng.unit() * 30.0)
    };
    let patients: Vec<LatLon> = (0..queries).map(|_| patient(&mut rng)).collect();

    // Warm-up.
    for p in patients.iter().take(50) {
        router.settled_within(*p, 1400.0);
    }
    let mut settled = 0usize;
    let mut times = Vec::new();
    for p in &patients {
        let t = Instant::now();
        settled += router.settled_within(*p, 1400.0).unwrap_or(0);
        times.push(t.elapsed());
    }
    println!(
        "one-to-many: mean {:.0} vertices settled within 1,400 m",
        settled as f64 / queries as f64
    );
    report("one-to-many, everything within 1,400 m", times);

    let mut times = Vec::new();
    let mut reached = 0usize;
    for p in &patients {
        let volunteers: Vec<LatLon> = (0..200)
            .map(|_| p.offset(rng.unit() * 360.0, rng.unit() * 2000.0))
            .collect();
        let t = Instant::now();
        let d = router.distances_to(*p, &volunteers, 1400.0);
        times.push(t.elapsed());
        reached += d.iter().flatten().count();
    }
    println!(
        "one-to-many to 200 volunteers within 2 km straight: mean {:.0} reachable within 1,400 m",
        reached as f64 / queries as f64
    );
    report("one-to-many, 200 volunteers (incl. snapping)", times);

    let mut times = Vec::new();
    for p in patients.iter().take(500) {
        let volunteers: Vec<LatLon> = (0..200)
            .map(|_| p.offset(rng.unit() * 360.0, rng.unit() * 2000.0))
            .collect();
        let t = Instant::now();
        for v in &volunteers {
            std::hint::black_box(router.snap_distance(*v));
        }
        times.push(t.elapsed());
    }
    report("snapping 200 volunteer points only", times);

    let mut times = Vec::new();
    let mut pairs = Vec::new();
    for p in &patients {
        let q = p.offset(rng.unit() * 360.0, 200.0 + rng.unit() * 1800.0);
        pairs.push((*p, q));
        let t = Instant::now();
        let r = router.route(*p, q);
        times.push(t.elapsed());
        std::hint::black_box(r);
    }
    report("point-to-point route 0.2–2 km with geometry", times);
    println!(
        "peak memory after queries VmHWM {}, VmRSS {}",
        proc_status("VmHWM:"),
        proc_status("VmRSS:")
    );
    std::fs::remove_file(&path).ok();

    if let Some(db) = pg_db {
        pgrouting(
            &db,
            &patients[..patients.len().min(1000)],
            &pairs[..pairs.len().min(200)],
        );
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// Time pgRouting on the same points, inside the database (no client round trip).
fn pgrouting(db: &str, patients: &[LatLon], pairs: &[(LatLon, LatLon)]) {
    let mut sql = String::from(
        "\\set ON_ERROR_STOP on\nCREATE TEMP TABLE pts(i int, lon float8, lat float8);\nINSERT INTO pts VALUES ",
    );
    let rows: Vec<String> = patients
        .iter()
        .enumerate()
        .map(|(i, p)| format!("({i},{},{})", p.lon, p.lat))
        .collect();
    sql.push_str(&rows.join(","));
    sql.push_str(";\nCREATE TEMP TABLE pairs(i int, lon1 float8, lat1 float8, lon2 float8, lat2 float8);\nINSERT INTO pairs VALUES ");
    let rows: Vec<String> = pairs
        .iter()
        .enumerate()
        .map(|(i, (a, b))| format!("({i},{},{},{},{})", a.lon, a.lat, b.lon, b.lat))
        .collect();
    sql.push_str(&rows.join(","));
    sql.push_str(
        r#";
CREATE TEMP TABLE t(kind text, ms float8, n int);
DO $$
DECLARE r record; v bigint; w bigint; t0 timestamptz; n int;
BEGIN
  FOR r IN SELECT * FROM pts ORDER BY i LOOP
    SELECT id INTO v FROM ways_vertices_pgr ORDER BY the_geom <-> ST_SetSRID(ST_MakePoint(r.lon, r.lat), 4326) LIMIT 1;
    t0 := clock_timestamp();
    SELECT count(*) INTO n FROM pgr_drivingDistance('SELECT gid AS id, source, target, length_m AS cost FROM ways', v, 1400, directed => false);
    INSERT INTO t VALUES ('dd', extract(epoch FROM clock_timestamp() - t0) * 1000, n);
  END LOOP;
  FOR r IN SELECT * FROM pairs ORDER BY i LOOP
    SELECT id INTO v FROM ways_vertices_pgr ORDER BY the_geom <-> ST_SetSRID(ST_MakePoint(r.lon1, r.lat1), 4326) LIMIT 1;
    SELECT id INTO w FROM ways_vertices_pgr ORDER BY the_geom <-> ST_SetSRID(ST_MakePoint(r.lon2, r.lat2), 4326) LIMIT 1;
    t0 := clock_timestamp();
    SELECT count(*) INTO n FROM pgr_dijkstra('SELECT gid AS id, source, target, length_m AS cost FROM ways', v, w, directed => false);
    INSERT INTO t VALUES ('dij', extract(epoch FROM clock_timestamp() - t0) * 1000, n);
  END LOOP;
END $$;
SELECT kind, count(*), round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2), round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 2), round(max(ms)::numeric, 2), round(avg(n)) FROM t GROUP BY kind ORDER BY kind DESC;
"#,
    );
    let child = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            "5432",
            "-U",
            "postgres",
            "-d",
            db,
            "-At",
            "-F",
            " ",
            "-q",
            "-f",
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        println!("pgRouting: psql not available");
        return;
    };
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(sql.as_bytes()).ok();
    }
    let t = Instant::now();
    let Ok(out) = child.wait_with_output() else {
        println!("pgRouting: psql failed");
        return;
    };
    if !out.status.success() {
        println!(
            "pgRouting: psql failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        return;
    }
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split(' ').collect();
        if let [kind, n, p50, p99, max, avg_rows] = f[..] {
            let name = if kind == "dd" {
                "pgr_drivingDistance 1,400 m (in-DB timing)"
            } else {
                "pgr_dijkstra point-to-point (in-DB timing)"
            };
            println!(
                "{name:<44} n={n:<5} p50={p50:>7} ms p99={p99:>7} ms max={max:>7} ms (mean {avg_rows} rows)"
            );
        }
    }
    println!(
        "pgRouting run (incl. nearest-vertex lookups) took {:.1?} wall",
        t.elapsed()
    );
}
