//! `compare`: the same points and queries in firstlink's index, PostGIS and
//! Redis, in one run, all on loopback.

use std::time::Instant;

use anyhow::Context;
use firstlink_domain::LatLon;
use firstlink_domain::index::VolunteerIndex;
use futures_util::SinkExt;
use futures_util::pin_mut;

use crate::index::{K, RADIUS_M, World, patients, time_queries};
use crate::stats::{Samples, Table, loadavg, ms, rss_bytes, thousands};

pub struct Args {
    pub seed: u64,
    pub volunteers: usize,
    pub queries: usize,
    pub pg: String,
    pub pg_db: String,
    pub redis: String,
    pub skip_pg: bool,
    pub skip_redis: bool,
}

struct Row {
    system: String,
    timed: String,
    s: Samples,
    mean_found: f64,
}

pub async fn run(a: &Args) -> anyhow::Result<()> {
    println!(
        "# firstlink-bench compare  (seed {:#x}, {} volunteers, {} queries, nearest {K} within {RADIUS_M} m)",
        a.seed,
        thousands(a.volunteers as f64),
        thousands(a.queries as f64)
    );
    let world = World::generate(a.seed, a.volunteers);
    let pts = patients(a.seed, a.queries);
    let mut rows = Vec::new();
    let mut load = Table::new(
        "Loading 1 M points",
        &[
            "system",
            "how",
            "load s",
            "index s",
            "memory per volunteer, B",
        ],
    );

    // firstlink's index, same points, same patients.
    let rss0 = rss_bytes();
    let t = Instant::now();
    let mut idx = VolunteerIndex::with_capacity(world.len());
    world.fill(&mut idx);
    let fl_load = t.elapsed().as_secs_f64();
    let per = rss_bytes().saturating_sub(rss0) as f64 / world.len() as f64;
    load.row(vec![
        "firstlink index".into(),
        "upsert + set_position".into(),
        format!("{fl_load:.2}"),
        "-".into(),
        format!("{per:.0} (RSS delta)"),
    ]);
    let (s1, s, mean) = time_queries(&idx, &pts);
    rows.push(Row {
        system: "firstlink index".into(),
        timed: "in-process, single shot".into(),
        s: s1,
        mean_found: mean,
    });
    rows.push(Row {
        system: "firstlink index".into(),
        timed: "in-process, min of 3 passes per query".into(),
        s,
        mean_found: mean,
    });
    drop(idx);

    if !a.skip_pg {
        postgis(a, &world, &pts, &mut rows, &mut load)
            .await
            .context("PostGIS")?;
    }
    if !a.skip_redis {
        redis_geo(a, &world, &pts, &mut rows, &mut load).context("Redis")?;
    }

    load.print();
    println!("\nload average: {}", loadavg());
    let mut tb = Table::new(
        &format!(
            "nearest {K} within {RADIUS_M} m at the same {} patient points",
            thousands(pts.len() as f64)
        ),
        &[
            "system",
            "timed",
            "p50 ms",
            "p99 ms",
            "p99.9 ms",
            "mean ms",
            "mean found",
        ],
    );
    for r in &rows {
        tb.row(vec![
            r.system.clone(),
            r.timed.clone(),
            ms(r.s.pct_ms(0.5)),
            ms(r.s.pct_ms(0.99)),
            ms(r.s.pct_ms(0.999)),
            ms(r.s.mean_ms()),
            format!("{:.1}", r.mean_found),
        ]);
    }
    tb.print();
    println!(
        "\nNote: firstlink's filter drops ineligible / quiet-hours volunteers (≈ 77 % pass), PostGIS and Redis return any point, \
         so their 'mean found' is higher where fewer than {K} are in range."
    );
    Ok(())
}

async fn postgis(
    a: &Args,
    w: &World,
    pts: &[LatLon],
    rows: &mut Vec<Row>,
    load: &mut Table,
) -> anyhow::Result<()> {
    // Create the database if it is missing.
    {
        let (c, conn) =
            tokio_postgres::connect(&format!("{} dbname=postgres", a.pg), tokio_postgres::NoTls)
                .await?;
        let h = tokio::spawn(conn);
        let exists = c
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&a.pg_db])
            .await?
            .is_some();
        if !exists {
            c.batch_execute(&format!("CREATE DATABASE \"{}\"", a.pg_db))
                .await?;
        }
        drop(c);
        let _ = h.await;
    }
    let (c, conn) = tokio_postgres::connect(
        &format!("{} dbname={}", a.pg, a.pg_db),
        tokio_postgres::NoTls,
    )
    .await?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            eprintln!("postgres connection: {e}");
        }
    });
    c.batch_execute("CREATE EXTENSION IF NOT EXISTS postgis")
        .await
        .context("CREATE EXTENSION postgis (is postgresql-15-postgis-3 installed?)")?;
    let version: String = c
        .query_one("SELECT postgis_full_version()", &[])
        .await?
        .get(0);
    println!(
        "PostGIS: {}",
        version
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    );
    c.batch_execute(
        "DROP TABLE IF EXISTS v; DROP TABLE IF EXISTS p;
         CREATE TABLE v (id integer NOT NULL, geog geography(Point, 4326) NOT NULL);
         CREATE TABLE p (i integer PRIMARY KEY, geog geography(Point, 4326) NOT NULL);",
    )
    .await?;
    let t = Instant::now();
    copy_points(&c, "COPY v (id, geog) FROM STDIN", &w.points).await?;
    let copy_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    c.batch_execute("CREATE INDEX v_geog ON v USING gist (geog); ANALYZE v;")
        .await?;
    let idx_s = t.elapsed().as_secs_f64();
    copy_points(&c, "COPY p (i, geog) FROM STDIN", pts).await?;
    c.batch_execute("ANALYZE p").await?;
    let size: i64 = c
        .query_one("SELECT pg_total_relation_size('v')", &[])
        .await?
        .get(0);
    load.row(vec![
        "PostGIS".into(),
        "COPY (EWKT) + GiST".into(),
        format!("{copy_s:.2}"),
        format!("{idx_s:.2}"),
        format!(
            "{:.0} (table + index on disk)",
            size as f64 / w.len() as f64
        ),
    ]);

    // Server-side timing: a PL/pgSQL loop times each query with clock_timestamp().
    c.batch_execute(&format!(
        "CREATE OR REPLACE FUNCTION bench_knn() RETURNS TABLE (ms double precision, n integer)
         LANGUAGE plpgsql AS $$
         DECLARE r record; t0 timestamptz; c integer;
         BEGIN
           FOR r IN SELECT p.geog FROM p ORDER BY p.i LOOP
             t0 := clock_timestamp();
             SELECT count(*) INTO c FROM (
               SELECT v.id FROM v WHERE ST_DWithin(v.geog, r.geog, {RADIUS_M})
               ORDER BY v.geog <-> r.geog LIMIT {K}) s;
             ms := extract(epoch FROM clock_timestamp() - t0) * 1000.0;
             n := c;
             RETURN NEXT;
           END LOOP;
         END $$;"
    ))
    .await?;
    let _warm = c.query("SELECT * FROM bench_knn()", &[]).await?;
    let res = c.query("SELECT * FROM bench_knn()", &[]).await?;
    let mut s = Samples::with_capacity(res.len());
    let mut found = 0i64;
    for r in &res {
        let m: f64 = r.get(0);
        let n: i32 = r.get(1);
        s.push_ns((m * 1e6) as u64);
        found += i64::from(n);
    }
    s.sort();
    let mean = found as f64 / res.len().max(1) as f64;
    rows.push(Row {
        system: "PostGIS".into(),
        timed: "inside the server (PL/pgSQL loop, clock_timestamp)".into(),
        s,
        mean_found: mean,
    });

    // One EXPLAIN for the record: the plan must use the GiST index.
    let explain = format!(
        "EXPLAIN (ANALYZE, TIMING OFF) SELECT id FROM v WHERE ST_DWithin(geog, 'SRID=4326;POINT({lon} {lat})'::geography, {RADIUS_M}) \
         ORDER BY geog <-> 'SRID=4326;POINT({lon} {lat})'::geography LIMIT {K}",
        lon = pts[0].lon,
        lat = pts[0].lat
    );
    let plan = c.query(explain.as_str(), &[]).await?;
    let plan: Vec<String> = plan.iter().map(|r| r.get::<_, String>(0)).collect();
    println!(
        "PostGIS plan for the first patient point:\n  {}",
        plan.join("\n  ")
    );

    // Client round trip over loopback with a prepared statement.
    let stmt = c
        .prepare(&format!(
            "SELECT id FROM v WHERE ST_DWithin(geog, ST_SetSRID(ST_MakePoint($1, $2), 4326)::geography, {RADIUS_M}) \
             ORDER BY geog <-> ST_SetSRID(ST_MakePoint($1, $2), 4326)::geography LIMIT {K}"
        ))
        .await?;
    for p in pts.iter().take(1_000) {
        c.query(&stmt, &[&p.lon, &p.lat]).await?;
    }
    let mut s = Samples::with_capacity(pts.len());
    let mut found = 0usize;
    for p in pts {
        let t = Instant::now();
        let r = c.query(&stmt, &[&p.lon, &p.lat]).await?;
        s.push(t.elapsed());
        found += r.len();
    }
    s.sort();
    rows.push(Row {
        system: "PostGIS".into(),
        timed: "client round trip (tokio-postgres, prepared)".into(),
        s,
        mean_found: found as f64 / pts.len() as f64,
    });
    c.batch_execute("DROP FUNCTION bench_knn(); DROP TABLE p;")
        .await?;
    Ok(())
}

async fn copy_points(c: &tokio_postgres::Client, sql: &str, pts: &[LatLon]) -> anyhow::Result<()> {
    let sink = c.copy_in::<_, bytes::Bytes>(sql).await?;
    pin_mut!(sink);
    let mut buf = String::with_capacity(1 << 20);
    for (i, p) in pts.iter().enumerate() {
        use std::fmt::Write;
        let _ = writeln!(buf, "{i}\tSRID=4326;POINT({:.7} {:.7})", p.lon, p.lat);
        if buf.len() > (1 << 20) - 100 {
            sink.send(bytes::Bytes::from(std::mem::take(&mut buf)))
                .await?;
            buf.reserve(1 << 20);
        }
    }
    if !buf.is_empty() {
        sink.send(bytes::Bytes::from(buf)).await?;
    }
    sink.finish().await?;
    Ok(())
}

const KEY: &str = "bench:volunteers";

fn redis_used_memory(con: &mut redis::Connection) -> anyhow::Result<u64> {
    let info: String = redis::cmd("INFO").arg("memory").query(con)?;
    Ok(info
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0))
}

fn redis_geo(
    a: &Args,
    w: &World,
    pts: &[LatLon],
    rows: &mut Vec<Row>,
    load: &mut Table,
) -> anyhow::Result<()> {
    let client = redis::Client::open(a.redis.as_str())?;
    let mut con = client.get_connection()?;
    let _: () = redis::cmd("DEL").arg(KEY).query(&mut con)?;
    let mem0 = redis_used_memory(&mut con)?;
    let t = Instant::now();
    // Pipelines of 20 GEOADDs with 500 members each.
    for chunk in w.points.chunks(10_000).enumerate() {
        let (c, ps) = chunk;
        let mut pipe = redis::pipe();
        for (j, part) in ps.chunks(500).enumerate() {
            let cmd = pipe.cmd("GEOADD").arg(KEY);
            for (k, p) in part.iter().enumerate() {
                cmd.arg(p.lon).arg(p.lat).arg(c * 10_000 + j * 500 + k);
            }
            cmd.ignore();
        }
        let _: () = pipe.query(&mut con)?;
    }
    let load_s = t.elapsed().as_secs_f64();
    let mem1 = redis_used_memory(&mut con)?;
    load.row(vec![
        "Redis".into(),
        "GEOADD, pipelined (20 × 500 per round trip)".into(),
        format!("{load_s:.2}"),
        "-".into(),
        format!(
            "{:.0} (used_memory delta)",
            mem1.saturating_sub(mem0) as f64 / w.len() as f64
        ),
    ]);
    let q = |con: &mut redis::Connection, p: &LatLon| -> redis::RedisResult<Vec<String>> {
        redis::cmd("GEOSEARCH")
            .arg(KEY)
            .arg("FROMLONLAT")
            .arg(p.lon)
            .arg(p.lat)
            .arg("BYRADIUS")
            .arg(RADIUS_M)
            .arg("m")
            .arg("ASC")
            .arg("COUNT")
            .arg(K)
            .query(con)
    };
    for p in pts.iter().take(1_000) {
        q(&mut con, p)?;
    }
    let mut s = Samples::with_capacity(pts.len());
    let mut found = 0usize;
    let result = (|| -> anyhow::Result<()> {
        for p in pts {
            let t = Instant::now();
            let r = q(&mut con, p)?;
            s.push(t.elapsed());
            found += r.len();
        }
        Ok(())
    })();
    // Clean up whatever happened.
    let _: () = redis::cmd("DEL").arg(KEY).query(&mut con)?;
    result?;
    s.sort();
    rows.push(Row {
        system: "Redis GEOSEARCH".into(),
        timed: "client round trip (redis-rs, sync)".into(),
        s,
        mean_found: found as f64 / pts.len() as f64,
    });
    Ok(())
}
