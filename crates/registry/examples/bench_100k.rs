//! Benchmark (not a test): 100,000 AEDs.
//!
//! `CARGO_TARGET_DIR=… cargo run --release -p firstlink-registry --example bench_100k`
//!
//! 1. import: build a GeoJSON file of 100k AEDs, parse it, plan the sync
//!    against an empty region, write it to SQLite in chunks, then plan the
//!    same file again (idempotent re-sync: all unchanged);
//! 2. "usable AEDs near a point at time t" on the in-memory registry, for
//!    10,000 random points, with the firstlink (1.5 km) and Hjerteløber (5 km)
//!    search radii; prints p50 / p99 / max.

use std::time::Instant;

use chrono::{TimeZone, Utc};
use firstlink_domain::aed::AedSource;
use firstlink_domain::geo::LatLon;
use firstlink_domain::ids::RegionId;
use firstlink_registry::csv::ColumnMap;
use firstlink_registry::live::AedRegistry;
use firstlink_registry::{Format, ParseOptions, SyncOptions, parse_file, plan_sync};
use firstlink_store::prelude::*;

const N: usize = 100_000;
const CHUNK: usize = 2_000;

/// A small deterministic generator (no dependency).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

// Denmark-sized box, with 40 % of the AEDs spread evenly over 8 km discs around four cities (~50 per km²).
const CITIES: [(f64, f64); 4] = [
    (55.6761, 12.5683),
    (56.1629, 10.2039),
    (55.4038, 10.4024),
    (57.0488, 9.9217),
];

fn point(r: &mut Lcg) -> (f64, f64) {
    if r.next() < 0.4 {
        let (lat, lon) = CITIES[(r.next() * 4.0) as usize % 4];
        let (d, b) = (r.next().sqrt() * 8_000.0, r.next() * 360.0);
        let p = LatLon { lat, lon }.offset(b, d);
        (p.lat, p.lon)
    } else {
        (54.8 + r.next() * 2.7, 8.1 + r.next() * 4.5)
    }
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let mut r = Lcg(42);
    let hours = [
        "24/7",
        "24/7",
        "Mo-Fr 08:00-17:00",
        "Mo-Fr 07:00-18:00; Sa 09:00-14:00; PH off",
        "Mo-Su 06:00-22:00",
    ];
    let mut features = Vec::with_capacity(N);
    for i in 0..N {
        let (lat, lon) = point(&mut r);
        let mut props = serde_json::json!({ "emergency": "defibrillator", "defibrillator:location": format!("Building {i}, main entrance"), "indoor": "yes", "operator": format!("Owner {i}"), "phone": "+45 7000 0000" });
        if r.next() < 0.95 {
            props["opening_hours"] =
                hours[(r.next() * hours.len() as f64) as usize % hours.len()].into();
        }
        features.push(serde_json::json!({ "type": "Feature", "id": format!("node/{i}"), "properties": props, "geometry": { "type": "Point", "coordinates": [lon, lat] } }));
    }
    let doc = serde_json::to_vec(
        &serde_json::json!({ "type": "FeatureCollection", "features": features }),
    )
    .unwrap_or_default();
    println!(
        "GeoJSON input: {} AEDs, {:.1} MB",
        N,
        doc.len() as f64 / 1e6
    );

    let region = RegionId::new();
    let now = Utc
        .with_ymd_and_hms(2026, 3, 3, 9, 0, 0)
        .single()
        .unwrap_or_default();
    let t0 = Instant::now();
    let parsed = parse_file(
        Format::GeoJson,
        &doc,
        &ColumnMap::default(),
        &ParseOptions::default(),
    )
    .unwrap_or_default();
    let t_parse = t0.elapsed();
    let t1 = Instant::now();
    let plan = plan_sync(&[], parsed, &SyncOptions::new("bench", region, now)).unwrap_or_default();
    let t_plan = t1.elapsed();
    let s = plan.summary();

    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let store = firstlink_store::sqlite::SqliteStore::open(&dir.path().join("bench.db"))
        .unwrap_or_else(|e| panic!("open: {e}"));
    store
        .create_region(&firstlink_store::Region {
            id: region,
            slug: "bench".into(),
            name: "bench".into(),
            timezone: "Europe/Copenhagen".into(),
            country: "DK".into(),
            policy: firstlink_domain::policy::DispatchPolicy::firstlink(),
            created_at: now,
        })
        .await
        .unwrap_or_else(|e| panic!("region: {e}"));
    let writes = plan.writes();
    let t2 = Instant::now();
    for c in writes.chunks(CHUNK) {
        store
            .upsert_aeds(c)
            .await
            .unwrap_or_else(|e| panic!("write: {e}"));
    }
    let t_write = t2.elapsed();
    let t3 = Instant::now();
    let stored = store.aeds(Some(region)).await.unwrap_or_default();
    let t_load = t3.elapsed();
    let t4 = Instant::now();
    let parsed = parse_file(
        Format::GeoJson,
        &doc,
        &ColumnMap::default(),
        &ParseOptions::default(),
    )
    .unwrap_or_default();
    let again =
        plan_sync(&stored, parsed, &SyncOptions::new("bench", region, now)).unwrap_or_default();
    let t_resync = t4.elapsed();
    println!(
        "import: parse {:.2} s, plan {:.2} s, write {:.2} s (SQLite, {} rows in chunks of {CHUNK}); total {:.2} s",
        t_parse.as_secs_f64(),
        t_plan.as_secs_f64(),
        t_write.as_secs_f64(),
        writes.len(),
        (t_parse + t_plan + t_write).as_secs_f64()
    );
    println!("  summary: {s:?}");
    println!(
        "re-sync of the same file (parse + plan against {} stored): {:.2} s, unchanged {}, writes {}",
        stored.len(),
        t_resync.as_secs_f64(),
        again.unchanged,
        again.writes().len()
    );
    println!("load from SQLite: {:.2} s", t_load.as_secs_f64());

    let t5 = Instant::now();
    let mut reg = AedRegistry::default();
    for a in stored {
        reg.upsert(a, chrono_tz::Europe::Copenhagen, "DK");
    }
    println!(
        "registry build (parse hours, grid): {:.2} s",
        t5.elapsed().as_secs_f64()
    );

    let args: Vec<String> = std::env::args().collect();
    let warm = !args.iter().any(|a| a == "--cold");
    println!(
        "opening-hours cache: {}",
        if warm {
            "warmed with AedRegistry::warm(t) before the queries"
        } else {
            "cold (--cold)"
        }
    );
    // Tuesday 10:00 and Saturday 20:00 local time.
    for (label, at) in [
        ("Tue 10:00", Utc.with_ymd_and_hms(2026, 3, 3, 9, 0, 0)),
        ("Sat 20:00", Utc.with_ymd_and_hms(2026, 3, 7, 19, 0, 0)),
    ] {
        let at = at.single().unwrap_or_default();
        if warm {
            let t = Instant::now();
            reg.warm(at);
            println!(
                "warm({label}) over {N} AEDs: {:.2} s",
                t.elapsed().as_secs_f64()
            );
        }
        for radius in [1_500.0, 5_000.0] {
            let mut q = Lcg(7);
            let points: Vec<LatLon> = (0..10_000)
                .map(|_| {
                    let (lat, lon) = point(&mut q);
                    LatLon { lat, lon }
                })
                .collect();
            // Warm up.
            for p in points.iter().take(500) {
                std::hint::black_box(reg.usable_near(*p, radius, at));
            }
            let mut us = Vec::with_capacity(points.len());
            let mut found = 0usize;
            for p in &points {
                let t = Instant::now();
                let v = reg.usable_near(*p, radius, at);
                us.push(t.elapsed().as_secs_f64() * 1e6);
                found += v.len();
            }
            let mean = found as f64 / points.len() as f64;
            let (p50, p99, max) = (
                percentile(&mut us, 0.5),
                percentile(&mut us, 0.99),
                percentile(&mut us, 1.0),
            );
            println!(
                "usable_near {label}, radius {radius:>5} m: p50 {p50:.1} µs, p99 {p99:.1} µs, max {max:.1} µs, mean {mean:.1} AEDs found"
            );
        }
    }
}
