//! Integration tests on real OpenStreetMap extracts (`/work/shared/data/osm/`)
//! and against mock OSRM / Valhalla servers on loopback.
//!
//! Hand-checked distances were computed independently of this crate: the way
//! geometry was exported with `osmium export … -f geojsonseq` and the
//! haversine lengths of its segments (R = 6 371 008.8 m) summed in Python.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use firstlink_domain::geo::{LatLon, StraightLine, WalkingEstimator};
use firstlink_routing::fixtures::*;
use firstlink_routing::{
    BuildError, Flavour, Graph, GraphEstimator, HttpEstimator, LoadError, Progress, Reach, Router,
    build_graph,
};

fn osm(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/osm")
        .join(name)
}

fn ll(lat: f64, lon: f64) -> LatLon {
    LatLon { lat, lon }
}

fn copenhagen() -> &'static Router {
    static R: OnceLock<Router> = OnceLock::new();
    R.get_or_init(|| {
        Router::new(build_graph(osm("copenhagen.osm.pbf"), |_| {}).expect("copenhagen builds"))
    })
}

fn stockholm() -> &'static Router {
    static R: OnceLock<Router> = OnceLock::new();
    R.get_or_init(|| {
        Router::new(
            build_graph(osm("stockholm-sodermalm.osm.pbf"), |_| {}).expect("stockholm builds"),
        )
    })
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("firstlink-routing-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

// ---------------------------------------------------------------- building

#[test]
fn build_reports_progress_and_a_sensible_graph() {
    let mut seen = Vec::new();
    let g = build_graph(osm("copenhagen.osm.pbf"), |p| seen.push(p)).unwrap();
    assert!(
        matches!(seen.first(), Some(Progress::Ways { walkable, .. }) if *walkable > 1000),
        "{seen:?}"
    );
    assert!(matches!(seen.last(), Some(Progress::Done { .. })));
    assert!(
        g.num_vertices() > 5000 && g.num_edges() > g.num_vertices(),
        "{} {}",
        g.num_vertices(),
        g.num_edges()
    );
    assert!(g.total_length_m() > 500_000.0);
}

#[test]
fn truncated_pbf_is_an_error() {
    let bytes = std::fs::read(osm("stockholm-sodermalm.osm.pbf")).unwrap();
    for cut in [10, 1000, bytes.len() / 2, bytes.len() - 3] {
        let path = tmp(&format!("truncated-{cut}.osm.pbf"));
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let err = build_graph(&path, |_| {}).unwrap_err();
        assert!(matches!(err, BuildError::Pbf(_)), "cut {cut}: {err}");
    }
}

#[test]
fn non_osm_files_are_errors() {
    let path = tmp("not-osm.osm.pbf");
    std::fs::write(
        &path,
        "<html><body>this is not an OSM file</body></html>\n".repeat(20),
    )
    .unwrap();
    assert!(matches!(
        build_graph(&path, |_| {}),
        Err(BuildError::Pbf(_))
    ));
    let empty = tmp("empty.osm.pbf");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(
        build_graph(&empty, |_| {}),
        Err(BuildError::Pbf(_))
    ));
    assert!(matches!(
        build_graph(tmp("does-not-exist.osm.pbf"), |_| {}),
        Err(BuildError::Io(_))
    ));
    // A graph file is not a PBF and a PBF is not a graph file.
    assert!(matches!(
        Graph::load(osm("stockholm-sodermalm.osm.pbf")),
        Err(LoadError::NotAGraph)
    ));
}

#[test]
fn extract_without_walkable_ways_is_an_error() {
    // Buildings of Södermalm only (osmium tags-filter w/building, minus w/highway).
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/buildings-only.osm.pbf");
    let err = build_graph(&path, |_| {}).unwrap_err();
    assert!(matches!(err, BuildError::NoWalkableWays), "{err}");
    assert_eq!(err.to_string(), "the extract contains no walkable ways");
}

// ---------------------------------------------------------------- file format

#[test]
fn save_load_round_trip_gives_identical_answers_and_loads_fast() {
    let r = copenhagen();
    let path = tmp("copenhagen.flg");
    r.graph().save(&path).unwrap();
    let t = Instant::now();
    let loaded = Graph::load(&path).unwrap();
    let load_time = t.elapsed();
    assert!(load_time < Duration::from_secs(1), "{load_time:?}");
    assert_eq!(loaded.num_vertices(), r.graph().num_vertices());
    assert_eq!(loaded.num_edges(), r.graph().num_edges());
    let l = Router::new(loaded);
    let targets: Vec<LatLon> = (0..40)
        .map(|i| HARBOUR_PATIENT.offset(f64::from(i) * 37.0, 150.0 + 40.0 * f64::from(i)))
        .collect();
    assert_eq!(
        r.distances_from(HARBOUR_PATIENT, &targets, 2500.0),
        l.distances_from(HARBOUR_PATIENT, &targets, 2500.0)
    );
    assert_eq!(
        r.distances_to(HARBOUR_PATIENT, &targets, 2500.0),
        l.distances_to(HARBOUR_PATIENT, &targets, 2500.0)
    );
    assert_eq!(
        r.route(HARBOUR_PATIENT, HARBOUR_VOLUNTEER_ACROSS),
        l.route(HARBOUR_PATIENT, HARBOUR_VOLUNTEER_ACROSS)
    );

    // Truncated and corrupted copies are refused.
    let bytes = std::fs::read(&path).unwrap();
    let cut = tmp("cut.flg");
    std::fs::write(&cut, &bytes[..bytes.len() - 100]).unwrap();
    assert!(matches!(Graph::load(&cut), Err(LoadError::Truncated)));
    let mut flipped = bytes.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 1;
    let bad = tmp("flipped.flg");
    std::fs::write(&bad, &flipped).unwrap();
    assert!(matches!(Graph::load(&bad), Err(LoadError::Checksum)));
}

// ---------------------------------------------------------------- real routes

#[test]
fn crossing_copenhagens_inner_harbour_goes_round_by_a_bridge() {
    let r = copenhagen();
    let (a, b) = (HARBOUR_PATIENT, HARBOUR_VOLUNTEER_ACROSS);
    let straight = a.distance_m(b);
    let route = r.route(a, b).unwrap();
    assert!((500.0..650.0).contains(&straight), "{straight}");
    assert!(
        route.distance_m > 4.0 * straight,
        "{} vs {straight}",
        route.distance_m
    );
    // The walk crosses at Knippelsbro.
    let knippelsbro = ll(55.6757, 12.5877);
    assert!(
        route
            .geometry
            .iter()
            .any(|p| p.distance_m(knippelsbro) < 120.0)
    );
    // One-to-many agrees with point-to-point, both directions.
    let d = r.distances_from(a, &[b], 10_000.0)[0].unwrap();
    assert!((d - route.cost_m).abs() < 0.5, "{d} vs {}", route.cost_m);
    let back = r.distances_to(a, &[b], 10_000.0)[0].unwrap();
    assert!((back - route.cost_m).abs() < 5.0, "{back}");
    assert_eq!(
        r.distances_from(a, &[b], 2000.0),
        vec![None],
        "beyond the budget"
    );
}

#[test]
fn harbour_fixture_ranks_volunteers_differently() {
    let r = copenhagen();
    let p = HARBOUR_PATIENT;
    let (across, same) = (HARBOUR_VOLUNTEER_ACROSS, HARBOUR_VOLUNTEER_SAME_SIDE);
    let line = StraightLine::default();
    let straight = line.distances_from(p, &[across, same], f64::INFINITY);
    assert!(
        straight[0].unwrap() < straight[1].unwrap(),
        "straight line prefers the one across: {straight:?}"
    );
    let est = GraphEstimator::new(Router::new(Graph::from_bytes(&graph_bytes(r)).unwrap()));
    let walk = est.distances_from(p, &[across, same], f64::INFINITY);
    assert!(
        walk[1].unwrap() < walk[0].unwrap(),
        "walking prefers the same side: {walk:?}"
    );
    assert!(
        walk[1].unwrap() < 1200.0 && walk[0].unwrap() > 3000.0,
        "{walk:?}"
    );
}

fn graph_bytes(r: &Router) -> Vec<u8> {
    let path = tmp(&format!("copy-{:?}.flg", std::thread::current().id()));
    r.graph().save(&path).unwrap();
    std::fs::read(&path).unwrap()
}

#[test]
fn route_inside_kongens_have_uses_the_park_paths() {
    let r = copenhagen();
    // Near Rosenborg castle → the south-east of the garden; both inside the park.
    let (a, b) = (ll(55.6858, 12.5772), ll(55.6845, 12.5815));
    let route = r.route(a, b).unwrap();
    // The park polygon's bounding box (from the extract): lat 55.68289–55.68731,
    // lon 12.57629–12.58344. Every point of the walk stays inside it.
    for p in &route.geometry {
        assert!(
            (55.68289..=55.68731).contains(&p.lat) && (12.57629..=12.58344).contains(&p.lon),
            "left the park at {p:?}"
        );
    }
    // Garden paths wind a little, but no detour round the streets outside.
    assert!(
        route.distance_m < 2.0 * a.distance_m(b),
        "{} vs {}",
        route.distance_m,
        a.distance_m(b)
    );
}

#[test]
fn car_oneway_street_is_walkable_both_ways() {
    // Dronningens Tværgade, way with highway=residential + oneway=yes, nodes
    // (55.6830399, 12.589178) → (55.6836131, 12.5871031) → (55.6840593, 12.5854882).
    // Hand-checked length: 257.586 m.
    let r = copenhagen();
    let (start, end) = (ll(55.6830399, 12.589178), ll(55.6840593, 12.5854882));
    let there = r.route(start, end).unwrap();
    let back = r.route(end, start).unwrap();
    for route in [&there, &back] {
        assert!((route.distance_m - 257.586).abs() < 0.5, "{route:?}");
        assert!((route.cost_m - 257.586).abs() < 0.5);
        assert!(
            route
                .geometry
                .iter()
                .any(|p| p.distance_m(ll(55.6836131, 12.5871031)) < 0.05),
            "follows the street"
        );
    }
    let d = r.distances_to(end, &[start], 1000.0)[0].unwrap();
    assert!((d - 257.586).abs() < 0.5);
}

#[test]
fn foot_no_bridge_is_never_used() {
    // Dybbølsbro: highway=tertiary, foot=no (the pavements are separate ways),
    // nodes a, p1, p2, p3, b. Its first inner nodes are shared with a
    // pedestrian plaza's outline and a cycleway; p3 belongs to Dybbølsbro
    // alone (checked with osmium export), and the 200 m section p2 → p3 is
    // the bridge proper. No route may pass p3 or walk p2 → p3.
    let r = copenhagen();
    let p2 = ll(55.6649884, 12.5588934);
    let p3 = ll(55.6634907, 12.5610033);
    let (a, b) = (ll(55.6652634, 12.5585425), ll(55.6633896, 12.56119));
    for (from, to) in [(a, b), (b, a), (p2, b)] {
        let route = r.route(from, to).unwrap();
        assert!(
            route.geometry.iter().all(|p| p.distance_m(p3) > 0.5),
            "route passes p3: {route:?}"
        );
        for w in route.geometry.windows(2) {
            let on_bridge = |x: LatLon, y: LatLon| x.distance_m(p2) < 0.5 && y.distance_m(p3) < 3.0;
            assert!(
                !on_bridge(w[0], w[1]) && !on_bridge(w[1], w[0]),
                "route walks the bridge: {route:?}"
            );
        }
        assert!(route.distance_m > 1.0, "{route:?}");
    }
    // A point on the roadway mid-bridge snaps to something else (a pavement), not onto it.
    assert!(r.snap_distance(ll(55.6642, 12.55995)).unwrap() > 1.0);
}

#[test]
fn hand_checked_distances_in_stockholm() {
    let r = stockholm();
    // Swedenborgsgatan (7 nodes) end to end: 358.0 m; Högbergsgatan (17 nodes): 831.8 m.
    let cases = [
        (
            ll(59.3175816, 18.0631759),
            ll(59.3144549, 18.0646782),
            358.0,
        ),
        (ll(59.314529, 18.0568177), ll(59.3163951, 18.070971), 831.8),
    ];
    for (a, b, expect) in cases {
        let d = r.route(a, b).unwrap();
        assert!(
            (d.distance_m - expect).abs() < 1.0,
            "{} vs {expect}",
            d.distance_m
        );
        let m = r.distances_from(a, &[b], 2000.0)[0].unwrap();
        assert!((m - expect).abs() < 1.0, "{m} vs {expect}");
    }
}

#[test]
fn stockholm_unpaved_park_path_loses_to_a_longer_paved_street() {
    // Mariatorget: the footway from the square's centre (59.3181509, 18.0624426)
    // to its south end (59.3175279, 18.0627459) is one straight unpaved segment
    // of 71.4 m (×1.2 = 85.7 walking-equivalent m). The paved street alongside,
    // via node (59.3181361, 18.0623433), is longer (≈ 84 m) but cheaper (≈ 85.4).
    let r = stockholm();
    let (a, b) = (ll(59.3181509, 18.0624426), ll(59.3175279, 18.0627459));
    assert!((a.distance_m(b) - 71.38).abs() < 0.05);
    let route = r.route(a, b).unwrap();
    assert!(
        route.cost_m < 1.2 * 71.38 && route.cost_m > 84.2,
        "{route:?}"
    );
    assert!(
        route.distance_m > 80.0,
        "takes the longer street: {route:?}"
    );
    assert!(
        route
            .geometry
            .iter()
            .any(|p| p.distance_m(ll(59.3181361, 18.0623433)) < 0.05)
    );
}

#[test]
fn point_in_the_sea_falls_back_not_zero() {
    let r = copenhagen();
    assert_eq!(r.snap_distance(OERESUND_SEA), None);
    assert_eq!(r.reach_from(OERESUND_SEA, &[HARBOUR_PATIENT], 1e9), None);
    assert_eq!(
        r.reach_from(HARBOUR_PATIENT, &[OERESUND_SEA], 1e9).unwrap(),
        vec![Reach::OffGraph]
    );
    let est = GraphEstimator::new(Router::new(Graph::from_bytes(&graph_bytes(r)).unwrap()));
    let straight = HARBOUR_PATIENT.distance_m(OERESUND_SEA) * 1.35;
    for d in [
        est.distance(OERESUND_SEA, HARBOUR_PATIENT),
        est.distance(HARBOUR_PATIENT, OERESUND_SEA),
    ] {
        let d = d.unwrap();
        assert!(d > 5000.0 && (d - straight).abs() < 1.0, "{d}");
    }
    // Far outside the world of the graph, and nonsense coordinates: no panic.
    let est_targets = [ll(-33.9, 151.2), ll(f64::NAN, 0.0)];
    let got = est.distances_from(HARBOUR_PATIENT, &est_targets, 1e9);
    assert!(got[0].unwrap() > 1e7);
    assert_eq!(got.len(), 2);
}

#[test]
fn one_to_many_agrees_with_point_to_point_and_reverse() {
    let r = copenhagen();
    let origin = ll(55.6761, 12.5683); // Rådhuspladsen
    let targets: Vec<LatLon> = (0..60)
        .map(|i| origin.offset(f64::from(i) * 61.0, 100.0 + 25.0 * f64::from(i)))
        .collect();
    let many = r.distances_from(origin, &targets, 1400.0);
    let rev = r.distances_to(origin, &targets, 1400.0);
    let mut reached = 0;
    for (i, t) in targets.iter().enumerate() {
        let single = r
            .route(origin, *t)
            .map(|x| x.cost_m)
            .filter(|&c| c <= 1400.0);
        match (many[i], single) {
            (Some(m), Some(s)) => {
                assert!((m - s).abs() < 0.5, "target {i}: {m} vs {s}");
                reached += 1;
            }
            (None, None) => {}
            other => panic!("target {i}: {other:?}"),
        }
        // The walking graph here has (almost) no oneway:foot: both directions agree.
        if let (Some(a), Some(b)) = (many[i], rev[i]) {
            assert!((a - b).abs() < 1.0, "target {i}: {a} vs {b}");
        }
        if let Some(m) = many[i] {
            assert!(
                m >= t.distance_m(origin) - 1.0,
                "walking is never shorter than the straight line"
            );
        }
    }
    assert!(reached > 20, "{reached}");
}

#[test]
fn aed_detour_legs_on_real_data() {
    let r = copenhagen();
    let legs = r.aed_legs(
        HARBOUR_PATIENT,
        &[HARBOUR_VOLUNTEER_SAME_SIDE],
        &[ll(55.6827, 12.5890)],
        3000.0,
    );
    let v2a = legs.volunteer_to_aed[0][0].unwrap();
    let a2p = legs.aed_to_patient[0].unwrap();
    let direct = legs.volunteer_to_patient[0].unwrap();
    assert!(v2a + a2p >= direct - 0.5, "a detour is never shorter");
    let via = r
        .route_via(
            HARBOUR_VOLUNTEER_SAME_SIDE,
            ll(55.6827, 12.5890),
            HARBOUR_PATIENT,
        )
        .unwrap();
    assert!(
        (via.cost_m - (v2a + a2p)).abs() < 1.0,
        "{} vs {}",
        via.cost_m,
        v2a + a2p
    );
    let gj = via.to_geojson(2.3);
    assert_eq!(gj["type"], "Feature");
    assert!(gj["geometry"]["coordinates"].as_array().unwrap().len() > 5);
}

#[test]
fn estimator_is_shared_across_threads() {
    let est = Arc::new(GraphEstimator::new(Router::new(
        Graph::from_bytes(&graph_bytes(copenhagen())).unwrap(),
    )));
    let targets: Vec<LatLon> = (0..30)
        .map(|i| HARBOUR_PATIENT.offset(f64::from(i) * 12.0, 80.0 * f64::from(i)))
        .collect();
    let expected = est.distances_from(HARBOUR_PATIENT, &targets, 1400.0);
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (est, targets) = (Arc::clone(&est), targets.clone());
            std::thread::spawn(move || {
                (0..20)
                    .map(|_| est.distances_from(HARBOUR_PATIENT, &targets, 1400.0))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for h in handles {
        for got in h.join().unwrap() {
            assert_eq!(got, expected);
        }
    }
}

// ---------------------------------------------------------------- HTTP adapter

#[derive(Clone)]
enum Reply {
    Json(&'static str),
    Status(u16),
    Hang,
}

/// A one-request-per-connection HTTP server on 127.0.0.1:0; records requests.
fn mock(reply: Reply) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            stream.set_read_timeout(Some(Duration::from_secs(2))).ok();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                head.push_str(&line);
            }
            let mut body = vec![0u8; len];
            reader.read_exact(&mut body).ok();
            log.lock()
                .unwrap()
                .push(format!("{head}\r\n{}", String::from_utf8_lossy(&body)));
            let response = match &reply {
                Reply::Json(b) => format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}",
                    b.len()
                ),
                Reply::Status(code) => format!(
                    "HTTP/1.1 {code} Oops\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
                ),
                Reply::Hang => {
                    std::thread::sleep(Duration::from_secs(3));
                    continue;
                }
            };
            stream.write_all(response.as_bytes()).ok();
        }
    });
    (url, seen)
}

const TIMEOUT: Duration = Duration::from_millis(400);

fn points() -> (LatLon, [LatLon; 2]) {
    (
        HARBOUR_PATIENT,
        [HARBOUR_VOLUNTEER_ACROSS, HARBOUR_VOLUNTEER_SAME_SIDE],
    )
}

fn straight(origin: LatLon, targets: &[LatLon], max_m: f64) -> Vec<Option<f64>> {
    StraightLine::default().distances_from(origin, targets, max_m)
}

#[test]
fn osrm_table_answer_is_used() {
    let (url, seen) = mock(Reply::Json(
        r#"{"code":"Ok","distances":[[3412.5,null]],"sources":[{}],"destinations":[{},{}]}"#,
    ));
    let est = HttpEstimator::new(url, Flavour::osrm(), TIMEOUT);
    let (o, t) = points();
    assert_eq!(
        est.distances_from(o, &t, 10_000.0),
        vec![Some(3412.5), None]
    );
    assert_eq!(
        est.distances_from(o, &t, 3000.0),
        vec![None, None],
        "budget applies"
    );
    let req = seen.lock().unwrap()[0].clone();
    assert!(
        req.starts_with(
            "GET /table/v1/foot/12.5935000,55.6845000;12.6010000,55.6818000;12.5857000,55.6797000?"
        ),
        "{req}"
    );
    assert!(
        req.contains("sources=0")
            && req.contains("destinations=1;2")
            && req.contains("annotations=distance"),
        "{req}"
    );
}

#[test]
fn valhalla_matrix_answer_is_used() {
    let (url, seen) = mock(Reply::Json(
        r#"{"sources_to_targets":[[{"distance":1.1,"time":800,"from_index":0,"to_index":1},{"distance":3.4125,"time":2400,"from_index":0,"to_index":0}]],"units":"kilometers"}"#,
    ));
    let est = HttpEstimator::new(url + "/", Flavour::valhalla(), TIMEOUT);
    let (o, t) = points();
    let got = est.distances_from(o, &t, 10_000.0);
    assert!(
        (got[0].unwrap() - 3412.5).abs() < 1e-6 && (got[1].unwrap() - 1100.0).abs() < 1e-6,
        "{got:?}"
    );
    let req = seen.lock().unwrap()[0].clone();
    assert!(req.starts_with("POST /sources_to_targets "), "{req}");
    let body: serde_json::Value =
        serde_json::from_str(req.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["costing"], "pedestrian");
    assert_eq!(body["sources"][0]["lat"], 55.6845);
    assert_eq!(body["targets"].as_array().unwrap().len(), 2);
}

#[test]
fn garbage_errors_and_timeouts_fall_back_to_straight_line() {
    let (o, t) = points();
    let expected = straight(o, &t, 10_000.0);
    let cases = [
        (Flavour::osrm(), Reply::Json("this is not json")),
        (
            Flavour::osrm(),
            Reply::Json(r#"{"code":"NoSegment","message":"no"}"#),
        ),
        (
            Flavour::osrm(),
            Reply::Json(r#"{"code":"Ok","distances":[[1.0]]}"#),
        ),
        (
            Flavour::osrm(),
            Reply::Json(r#"{"code":"Ok","distances":[[-5.0, 3.0]]}"#),
        ),
        (Flavour::osrm(), Reply::Status(500)),
        (
            Flavour::valhalla(),
            Reply::Json(r#"{"sources_to_targets":"nope"}"#),
        ),
        (
            Flavour::valhalla(),
            Reply::Json(
                r#"{"sources_to_targets":[[{"distance":"far","to_index":0},{"distance":1.0,"to_index":1}]]}"#,
            ),
        ),
        (Flavour::valhalla(), Reply::Status(400)),
    ];
    for (flavour, reply) in cases {
        let (url, _) = mock(reply);
        let est = HttpEstimator::new(url, flavour.clone(), TIMEOUT);
        assert_eq!(est.distances_from(o, &t, 10_000.0), expected, "{flavour:?}");
        assert!(est.query(o, &t).is_err());
    }
    for flavour in [Flavour::osrm(), Flavour::valhalla()] {
        let (url, _) = mock(Reply::Hang);
        let est = HttpEstimator::new(url, flavour, TIMEOUT);
        let start = Instant::now();
        assert_eq!(est.distances_from(o, &t, 10_000.0), expected);
        assert!(
            start.elapsed() < Duration::from_millis(1500),
            "{:?}",
            start.elapsed()
        );
    }
    // Nothing listening at all.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let est = HttpEstimator::new(format!("http://127.0.0.1:{port}"), Flavour::osrm(), TIMEOUT);
    assert_eq!(est.distances_from(o, &t, 10_000.0), expected);
    assert_eq!(
        est.distances_from(o, &[], 10_000.0),
        Vec::<Option<f64>>::new()
    );
}

// ---- dispatch on the graph (the real engine, not a model) ----

mod dispatch_on_the_graph {
    use super::*;
    use chrono::TimeZone;
    use firstlink_domain::aed::AedList;
    use firstlink_domain::geo::StraightLine;
    use firstlink_domain::ids::{IncidentId, VolunteerId};
    use firstlink_domain::incident::{LocationType, NewIncident};
    use firstlink_domain::index::{VolunteerFlags, VolunteerIndex};
    use firstlink_domain::mission::{Effect, Input, Mission, MissionCtx};
    use firstlink_domain::policy::DispatchPolicy;
    use firstlink_routing::fixtures::{
        HARBOUR_PATIENT, HARBOUR_VOLUNTEER_ACROSS, HARBOUR_VOLUNTEER_SAME_SIDE,
    };

    fn first_alerted(
        walk: &dyn firstlink_domain::geo::WalkingEstimator,
    ) -> (VolunteerId, VolunteerId, VolunteerId) {
        let now = chrono::Utc.with_ymd_and_hms(2026, 5, 5, 12, 0, 0).unwrap();
        let mut index = VolunteerIndex::new();
        let (across, same) = (VolunteerId::new(), VolunteerId::new());
        for (id, p) in [
            (across, HARBOUR_VOLUNTEER_ACROSS),
            (same, HARBOUR_VOLUNTEER_SAME_SIDE),
        ] {
            index.upsert(
                id,
                VolunteerFlags {
                    eligible: true,
                    homes: true,
                    quiet: None,
                    region: None,
                },
            );
            index.set_position(id, p, now.timestamp() as u32);
        }
        let incident = NewIncident {
            external_id: "harbour".into(),
            location: HARBOUR_PATIENT,
            address: "Amaliehaven".into(),
            reported_at: now,
            location_type: LocationType::Public,
            ems_eta_seconds: None,
            exclusions: vec![],
            notes: None,
            test: false,
        };
        // Alert exactly one volunteer: the one the estimator ranks first.
        let policy = DispatchPolicy {
            first_wave: 1,
            max_alerts: 1,
            ..DispatchPolicy::firstlink()
        };
        let mut m = Mission::new(IncidentId::new(), incident, policy, now);
        let aeds = AedList::default();
        let ctx = MissionCtx {
            now,
            tz: chrono_tz::Europe::Copenhagen,
            volunteers: &index,
            aeds: &aeds,
            walk,
        };
        let out = m.handle(Input::Start, &ctx).unwrap();
        let alerted: Vec<VolunteerId> = out
            .effects
            .iter()
            .filter_map(|e| {
                if let Effect::Alert { volunteer, .. } = e {
                    Some(*volunteer)
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(alerted.len(), 1);
        (alerted[0], across, same)
    }

    #[test]
    fn the_graph_picks_the_volunteer_who_is_truly_closer_across_the_harbour() {
        // Straight line: the volunteer by the Opera looks nearest (≈ 560 m vs ≈ 730 m)…
        let (picked, across, _) = first_alerted(&StraightLine::default());
        assert_eq!(picked, across);
        // …but on foot the Opera is ≈ 3.4 km away round by Knippelsbro: the graph
        // sends the volunteer on the same bank instead.
        let graph = build_graph(osm("copenhagen.osm.pbf"), |_| {}).expect("copenhagen builds");
        let est = firstlink_routing::GraphEstimator::new(Router::new(graph));
        let (picked, _, same) = first_alerted(&est);
        assert_eq!(picked, same);
    }
}
