//! `http`: position ingest through a real firstlink server on loopback.
//!
//! The server and the load generator run in one process but on two separate
//! Tokio runtimes (threads `server-*` and `loadgen-*`), so that the CPU each
//! side burns can be read per thread from `/proc/self/task/*/stat`. They still
//! share the machine's cores.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use chrono::{SecondsFormat, Utc};
use firstlink_domain::LatLon;
use firstlink_domain::ids::VolunteerId;
use firstlink_server::App;
use firstlink_store::PositionFix;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::points::{Mixture, stream};
use crate::stats::{Samples, Table, ms, thousands};

pub struct Args {
    pub seed: u64,
    pub volunteers: usize,
    pub concurrency: Vec<usize>,
    pub seconds: u64,
    pub batch: usize,
    pub data_dir: Option<PathBuf>,
    pub server_threads: usize,
    pub client_threads: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// `POST /api/v1/me/position`, one fix.
    Single,
    /// `POST /api/v1/me/position` with `accuracy_m` 5 km: parsed, authorised
    /// and validated, then ignored (no durable write, no index update).
    SingleIgnored,
    /// `POST /api/v1/me/positions` with `batch` fixes.
    Batch(usize),
    /// `GET /health`: the HTTP stack alone.
    Health,
}

struct PhaseResult {
    name: String,
    conc: usize,
    secs: f64,
    ok: u64,
    err: u64,
    first_err: Option<String>,
    fixes_per_req: usize,
    stores_fix: bool,
    lat: Samples,
    cpu: CpuDelta,
}

#[derive(Default, Clone)]
struct CpuDelta {
    server: f64,
    writer: f64,
    client: f64,
    total: f64,
}

/// CPU seconds per thread-name prefix of this process.
fn cpu_by_thread() -> HashMap<String, f64> {
    let tick = 100.0; // USER_HZ on Linux
    let mut m = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return m;
    };
    for e in dir.flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let (Some(l), Some(r)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[l + 1..r].to_string();
        let f: Vec<&str> = stat[r + 2..].split_whitespace().collect();
        let (ut, st) = (
            f.get(11).and_then(|x| x.parse::<f64>().ok()),
            f.get(12).and_then(|x| x.parse::<f64>().ok()),
        );
        let secs = (ut.unwrap_or(0.0) + st.unwrap_or(0.0)) / tick;
        let key = if name.starts_with("server") {
            "server"
        } else if name.starts_with("sqlite-writer") {
            "writer"
        } else if name.starts_with("loadgen") {
            "client"
        } else {
            "other"
        };
        *m.entry(key.to_string()).or_insert(0.0) += secs;
    }
    m
}

fn cpu_delta(a: &HashMap<String, f64>, b: &HashMap<String, f64>, wall: f64) -> CpuDelta {
    let d = |k: &str| {
        (b.get(k).copied().unwrap_or(0.0) - a.get(k).copied().unwrap_or(0.0)) / wall * 100.0
    };
    CpuDelta {
        server: d("server"),
        writer: d("writer"),
        client: d("client"),
        total: d("server") + d("writer") + d("client") + d("other"),
    }
}

struct Setup {
    app: Arc<App>,
    addr: SocketAddr,
    tokens: Arc<Vec<String>>,
    ids: Vec<VolunteerId>,
    homes: Arc<Vec<LatLon>>,
    _dir: tempfile::TempDir,
}

pub fn run(a: &Args) -> anyhow::Result<()> {
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(a.server_threads)
        .thread_name("server-worker")
        .enable_all()
        .build()?;
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(a.client_threads)
        .thread_name("loadgen-worker")
        .enable_all()
        .build()?;
    println!(
        "# firstlink-bench http  ({} volunteers, {} s per phase, concurrency {:?}, server threads {}, load-generator threads {}, on {} cores)",
        thousands(a.volunteers as f64),
        a.seconds,
        a.concurrency,
        a.server_threads,
        a.client_threads,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let setup = server_rt.block_on(setup(a))?;
    println!(
        "data dir: {} (filesystem: {})",
        setup._dir.path().display(),
        fs_type(setup._dir.path())
    );

    let mut results = Vec::new();
    // Warm-up: every volunteer posts once (fills the token cache and the index).
    let r = client_rt.block_on(drive(
        &setup,
        Kind::Single,
        128,
        Duration::from_secs(a.seconds.min(10)),
        true,
    ));
    println!(
        "warm-up: {} requests, {} errors",
        thousands(r.ok as f64),
        r.err
    );
    for &c in &a.concurrency {
        let dur = Duration::from_secs(a.seconds);
        results.push(client_rt.block_on(drive(&setup, Kind::Single, c, dur, false)));
        results.push(client_rt.block_on(drive(&setup, Kind::Batch(a.batch), c, dur, false)));
    }
    // Diagnostics at the first concurrency level.
    let c = a.concurrency.first().copied().unwrap_or(128);
    let short = Duration::from_secs((a.seconds / 2).max(3));
    results.push(client_rt.block_on(drive(&setup, Kind::SingleIgnored, c, short, false)));
    results.push(client_rt.block_on(drive(&setup, Kind::Health, c, short, false)));
    let store = server_rt.block_on(store_only(&setup, c, short));

    let mut tb = Table::new(
        "Position ingest over HTTP/1.1 keep-alive (server and load generator share the 2 cores)",
        &[
            "phase",
            "conc",
            "req/s",
            "fixes sent/s",
            "index updates/s",
            "p50 ms",
            "p99 ms",
            "p99.9 ms",
            "errors",
            "CPU server / writer / loadgen / total %",
        ],
    );
    for r in &results {
        let rps = r.ok as f64 / r.secs;
        tb.row(vec![
            r.name.clone(),
            r.conc.to_string(),
            thousands(rps),
            if r.fixes_per_req > 0 {
                thousands(rps * r.fixes_per_req as f64)
            } else {
                "-".into()
            },
            if r.stores_fix {
                thousands(rps)
            } else {
                "0".into()
            },
            ms(r.lat.pct_ms(0.5)),
            ms(r.lat.pct_ms(0.99)),
            ms(r.lat.pct_ms(0.999)),
            r.err.to_string(),
            format!(
                "{:.0} / {:.0} / {:.0} / {:.0}",
                r.cpu.server, r.cpu.writer, r.cpu.client, r.cpu.total
            ),
        ]);
    }
    tb.row(vec![
        "store.save_positions only (no HTTP)".into(),
        c.to_string(),
        thousands(store.0),
        thousands(store.0),
        thousands(store.0),
        ms(store.1.pct_ms(0.5)),
        ms(store.1.pct_ms(0.99)),
        ms(store.1.pct_ms(0.999)),
        "0".into(),
        format!(
            "{:.0} / {:.0} / {:.0} / {:.0}",
            store.2.server, store.2.writer, store.2.client, store.2.total
        ),
    ]);
    tb.print();
    for r in &results {
        if let Some(e) = &r.first_err {
            println!("first error in '{}': {e}", r.name);
        }
    }
    let best = results
        .iter()
        .filter(|r| r.stores_fix)
        .map(|r| r.ok as f64 / r.secs)
        .fold(0.0, f64::max);
    let best_fixes = results
        .iter()
        .filter(|r| r.stores_fix)
        .map(|r| r.ok as f64 / r.secs * r.fixes_per_req as f64)
        .fold(0.0, f64::max);
    let mut sum = Table::new("Target (HTTP)", &["target", "measured", "verdict"]);
    sum.row(vec![
        "≥ 30,000 position updates/s over HTTP".into(),
        format!(
            "{} durable index updates/s ({} fixes received/s)",
            thousands(best),
            thousands(best_fixes)
        ),
        crate::stats::verdict(best >= 30_000.0),
    ]);
    sum.print();
    let n = setup.app.index().positioned();
    println!(
        "\nvolunteers with a position in the server's index at the end: {}",
        thousands(n as f64)
    );
    drop(setup);
    client_rt.shutdown_timeout(Duration::from_secs(1));
    server_rt.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

fn fs_type(p: &std::path::Path) -> String {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let p = p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let mut best = (0usize, String::from("?"));
    for l in mounts.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() > 2 && p.starts_with(f[1]) && f[1].len() >= best.0 {
            best = (f[1].len(), format!("{} on {}", f[2], f[1]));
        }
    }
    best.1
}

async fn setup(a: &Args) -> anyhow::Result<Setup> {
    let dir = match &a.data_dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            tempfile::Builder::new()
                .prefix("firstlink-bench-")
                .tempdir_in(d)?
        }
        None => tempfile::Builder::new()
            .prefix("firstlink-bench-")
            .tempdir()?,
    };
    let config = firstlink_server::Config {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        log_format: "text".into(),
        ..firstlink_server::Config::default()
    };
    let app = firstlink_server::build(config)?;
    firstlink_server::launch(&app).await?;
    let region = firstlink_server::api::admin::create_region_checked(
        &app,
        firstlink_server::api::admin::NewRegion {
            slug: "bench-dk".into(),
            name: "Bench Denmark".into(),
            timezone: "Europe/Copenhagen".into(),
            country: "DK".into(),
            preset: None,
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("create region: {e:?}"))?;

    let homes = Mixture::new(a.seed, stream::VOLUNTEERS).volunteers(a.volunteers);
    let t = Instant::now();
    let kind = crate::seed::Kind {
        id_tag: 0xB0,
        token_tag: "bench",
        phone_prefix: "+4590",
    };
    let (vols, tokens) = crate::seed::volunteers(a.seed, region.id, a.volunteers, &kind);
    // Concurrent writes so that the store's group commit batches them.
    crate::seed::write(&app.store, &vols, &tokens, 512).await?;
    // One read of everything rather than one per volunteer.
    firstlink_server::changes::apply(&app, vec![firstlink_store::Change::Resync]).await;
    println!(
        "created {} volunteers with sessions in {:.1} s",
        thousands(vols.len() as f64),
        t.elapsed().as_secs_f64()
    );

    let (tx, rx) = tokio::sync::oneshot::channel();
    let app2 = Arc::clone(&app);
    tokio::spawn(async move {
        if let Err(e) = firstlink_server::serve(app2, move |addr| {
            let _ = tx.send(addr);
        })
        .await
        {
            eprintln!("server: {e}");
        }
    });
    let addr = rx.await.context("server did not bind")?;
    Ok(Setup {
        app,
        addr,
        tokens: Arc::new(tokens),
        ids: vols.iter().map(|v| v.id).collect(),
        homes: Arc::new(homes),
        _dir: dir,
    })
}

fn body_for(kind: Kind, home: LatLon, rng: &mut ChaCha8Rng) -> (String, Bytes) {
    let jitter = |rng: &mut ChaCha8Rng, p: LatLon| LatLon {
        lat: p.lat + rng.gen_range(-0.002..0.002),
        lon: p.lon + rng.gen_range(-0.003..0.003),
    };
    match kind {
        Kind::Single => {
            let p = jitter(rng, home);
            (
                "/api/v1/me/position".into(),
                Bytes::from(format!(
                    "{{\"lat\":{:.6},\"lon\":{:.6},\"accuracy_m\":12}}",
                    p.lat, p.lon
                )),
            )
        }
        Kind::SingleIgnored => {
            let p = jitter(rng, home);
            (
                "/api/v1/me/position".into(),
                Bytes::from(format!(
                    "{{\"lat\":{:.6},\"lon\":{:.6},\"accuracy_m\":5000}}",
                    p.lat, p.lon
                )),
            )
        }
        Kind::Batch(n) => {
            let now = Utc::now();
            let mut s = String::with_capacity(96 * n + 16);
            s.push_str("{\"positions\":[");
            for j in 0..n {
                let p = jitter(rng, home);
                let at = (now - chrono::Duration::seconds((n - 1 - j) as i64 * 5))
                    .to_rfc3339_opts(SecondsFormat::Secs, true);
                if j > 0 {
                    s.push(',');
                }
                s.push_str(&format!(
                    "{{\"lat\":{:.6},\"lon\":{:.6},\"accuracy_m\":12,\"at\":\"{at}\"}}",
                    p.lat, p.lon
                ));
            }
            s.push_str("]}");
            ("/api/v1/me/positions".into(), Bytes::from(s))
        }
        Kind::Health => ("/health".into(), Bytes::new()),
    }
}

/// `conc` connections, each with one request in flight, for `dur` (or, when
/// `once`, until every volunteer has posted once).
async fn drive(s: &Setup, kind: Kind, conc: usize, dur: Duration, once: bool) -> PhaseResult {
    let cpu0 = cpu_by_thread();
    let start = Instant::now();
    let deadline = start + dur;
    let mut handles = Vec::with_capacity(conc);
    for w in 0..conc {
        let (addr, tokens, homes) = (s.addr, Arc::clone(&s.tokens), Arc::clone(&s.homes));
        handles.push(tokio::spawn(async move {
            let mut lat = Samples::with_capacity(1 << 14);
            let (mut ok, mut err, mut first_err) = (0u64, 0u64, None::<String>);
            let mut rng = ChaCha8Rng::seed_from_u64(w as u64);
            let res: anyhow::Result<()> = async {
                let stream = tokio::net::TcpStream::connect(addr).await?;
                stream.set_nodelay(true)?;
                let (mut sender, conn) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
                tokio::spawn(conn);
                // This connection speaks for volunteers w, w + conc, w + 2·conc…
                let mut v = w;
                loop {
                    if once && v >= tokens.len() {
                        break;
                    }
                    if !once && Instant::now() >= deadline {
                        break;
                    }
                    if v >= tokens.len() {
                        v = w % tokens.len();
                    }
                    let (path, body) = body_for(kind, homes[v], &mut rng);
                    let method = if kind == Kind::Health { "GET" } else { "POST" };
                    let req = Request::builder()
                        .method(method)
                        .uri(path)
                        .header("host", "bench")
                        .header("authorization", format!("Bearer {}", tokens[v]))
                        .header("content-type", "application/json")
                        .body(Full::new(body))?;
                    let t = Instant::now();
                    sender.ready().await?;
                    let resp =
                        tokio::time::timeout(Duration::from_secs(10), sender.send_request(req))
                            .await??;
                    let status = resp.status();
                    let body = resp.into_body().collect().await?.to_bytes();
                    lat.push(t.elapsed());
                    if status.is_success() {
                        ok += 1;
                    } else {
                        err += 1;
                        if first_err.is_none() {
                            first_err =
                                Some(format!("{status}: {}", String::from_utf8_lossy(&body)));
                        }
                    }
                    v += conc;
                }
                Ok(())
            }
            .await;
            if let Err(e) = res {
                err += 1;
                first_err.get_or_insert(format!("connection: {e}"));
            }
            (lat, ok, err, first_err)
        }));
    }
    let mut lat = Samples::default();
    let (mut ok, mut err, mut first_err) = (0, 0, None);
    for h in handles {
        if let Ok((l, o, e, f)) = h.await {
            lat.extend(l);
            ok += o;
            err += e;
            if first_err.is_none() {
                first_err = f;
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    lat.sort();
    let cpu = cpu_delta(&cpu0, &cpu_by_thread(), secs);
    let (name, fixes_per_req, stores_fix) = match kind {
        Kind::Single => ("POST /me/position".to_string(), 1, true),
        Kind::SingleIgnored => (
            "POST /me/position, fix ignored (no durable write)".to_string(),
            1,
            false,
        ),
        Kind::Batch(n) => (
            format!("POST /me/positions ({n} fixes, newest kept)"),
            n,
            true,
        ),
        Kind::Health => ("GET /health (HTTP stack only)".to_string(), 0, false),
    };
    PhaseResult {
        name,
        conc,
        secs,
        ok,
        err,
        first_err,
        fixes_per_req,
        stores_fix,
        lat,
        cpu,
    }
}

/// The durable write alone: `conc` tasks on the server runtime calling
/// `store.save_positions` with one fix each, back to back.
async fn store_only(s: &Setup, conc: usize, dur: Duration) -> (f64, Samples, CpuDelta) {
    let cpu0 = cpu_by_thread();
    let start = Instant::now();
    let deadline = start + dur;
    let mut hs = Vec::new();
    for w in 0..conc {
        let store = Arc::clone(&s.app.store);
        let ids: Vec<(VolunteerId, LatLon)> = s
            .ids
            .iter()
            .zip(s.homes.iter())
            .skip(w)
            .step_by(conc)
            .map(|(a, b)| (*a, *b))
            .collect();
        hs.push(tokio::spawn(async move {
            let mut lat = Samples::with_capacity(1 << 14);
            let mut n = 0u64;
            let mut k = 0usize;
            while Instant::now() < deadline && !ids.is_empty() {
                let (id, p) = ids[k % ids.len()];
                k += 1;
                let at = Utc::now().timestamp() as u32;
                let t = Instant::now();
                if store
                    .save_positions(&[PositionFix {
                        volunteer: id,
                        position: p,
                        at_unix: at,
                    }])
                    .await
                    .is_ok()
                {
                    n += 1;
                }
                lat.push(t.elapsed());
            }
            (n, lat)
        }));
    }
    let mut total = 0;
    let mut lat = Samples::default();
    for h in hs {
        if let Ok((n, l)) = h.await {
            total += n;
            lat.extend(l);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    lat.sort();
    (
        total as f64 / secs,
        lat,
        cpu_delta(&cpu0, &cpu_by_thread(), secs),
    )
}
