//! `cluster`: the `firstlink` binary as separate processes — one node on
//! SQLite, then three nodes on one PostgreSQL database — driven over loopback
//! HTTP with requests spread round-robin over the nodes.
//!
//! Per set-up: volunteers and their sessions are written straight through the
//! store, then
//! - **positions**: `POST /api/v1/me/position` for `--seconds` from
//!   `--concurrency` keep-alive connections;
//! - **incidents**: `POST /api/v1/incidents` (distinct external ids, patients
//!   drawn like the volunteers) from `--concurrency / 4` connections; each one
//!   is planned and alerts volunteers, so it also measures the time until every
//!   acknowledged incident has been planned;
//! - three nodes only — **propagation**: a first position for a volunteer
//!   who had none, posted to one node, until another node's
//!   `firstlink_positions_indexed` grows (polled every 0.5 ms): HTTP answer to
//!   visible in the other node's index;
//! - three nodes only — **failover**: an incident posted to one node (which
//!   takes its mission lease), that node SIGKILLed, until another node holds the
//!   lease (polled in the database every 20 ms); the node is restarted between
//!   rounds.
//!
//! Everything (nodes, PostgreSQL, load generator) shares the machine's cores.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use chrono::{SecondsFormat, Utc};
use firstlink_domain::LatLon;
use firstlink_store::Store;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;

use crate::points::{Mixture, stream};
use crate::seed;
use crate::stats::{Samples, Table, ms, thousands};

pub struct Args {
    pub seed: u64,
    pub bin: PathBuf,
    pub volunteers: usize,
    pub seconds: u64,
    pub concurrency: usize,
    pub pg_admin: String,
    pub propagation_samples: usize,
    pub failovers: usize,
}

struct Node {
    child: Child,
    addr: SocketAddr,
    id: String,
    env: Vec<(String, String)>,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `firstlink serve` and waits for its "listening" line (printed once loaded).
fn start_node(bin: &Path, dir: &Path, id: &str, env: &[(String, String)]) -> anyhow::Result<Node> {
    let mut child = Command::new(bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("FIRSTLINK_CLUSTER__NODE_ID", id)
        .env("FIRSTLINK_MONITOR__BROKER_LISTEN", "")
        .env("RUST_LOG", "error")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
    let addr = line
        .trim()
        .rsplit("//")
        .next()
        .unwrap_or("")
        .parse()
        .with_context(|| format!("node said {line:?}"))?;
    Ok(Node {
        child,
        addr,
        id: id.to_string(),
        env: env.to_vec(),
    })
}

fn admin(
    bin: &Path,
    dir: &Path,
    env: &[(String, String)],
    args: &[&str],
) -> anyhow::Result<String> {
    let out = Command::new(bin)
        .args(["admin", "--data-dir"])
        .arg(dir)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()?;
    if !out.status.success() {
        bail!("admin {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8(out.stdout)?)
}

struct Setup {
    nodes: Vec<Node>,
    key: String,
    tokens: Arc<Vec<String>>,
    homes: Arc<Vec<LatLon>>,
    store: Arc<dyn Store>,
    pg: Option<tokio_postgres::Client>,
    dirs: Vec<tempfile::TempDir>,
}

/// Region, dispatch key, volunteers with sessions, then the nodes.
async fn setup(a: &Args, nodes: usize, database_url: Option<&str>) -> anyhow::Result<Setup> {
    let dirs: Vec<_> = (0..nodes)
        .map(|_| {
            tempfile::Builder::new()
                .prefix("firstlink-cluster-bench-")
                .tempdir()
        })
        .collect::<Result<_, _>>()?;
    let mut env: Vec<(String, String)> = Vec::new();
    if let Some(u) = database_url {
        env.push(("FIRSTLINK_DATABASE_URL".into(), u.into()));
    }
    admin(
        &a.bin,
        dirs[0].path(),
        &env,
        &[
            "create-region",
            "--slug",
            "bench",
            "--name",
            "Bench",
            "--timezone",
            "Europe/Copenhagen",
            "--country",
            "DK",
        ],
    )?;
    let out = admin(
        &a.bin,
        dirs[0].path(),
        &env,
        &["create-api-key", "--region", "bench", "--name", "cad"],
    )?;
    let key = out
        .lines()
        .find_map(|l| l.strip_prefix("dispatch-api-key: "))
        .context("no api key printed")?
        .to_string();

    let store: Arc<dyn Store> = match database_url {
        Some(u) => Arc::new(firstlink_store_pg::PgStore::connect(u).await?),
        None => Arc::new(firstlink_store::sqlite::SqliteStore::open(
            &dirs[0].path().join("firstlink.db"),
        )?),
    };
    let region = store
        .regions()
        .await?
        .into_iter()
        .next()
        .context("region")?;
    let homes = Mixture::new(a.seed, stream::VOLUNTEERS).volunteers(a.volunteers);
    let t = Instant::now();
    let kind = seed::Kind {
        id_tag: 0xC1,
        token_tag: "clbench",
        phone_prefix: "+4591",
    };
    let (vols, tokens) = seed::volunteers(a.seed, region.id, a.volunteers, &kind);
    seed::write(&store, &vols, &tokens, 64).await?;
    println!(
        "  {} volunteers with sessions written in {:.1} s",
        thousands(vols.len() as f64),
        t.elapsed().as_secs_f64()
    );

    let mut started = Vec::new();
    for (i, d) in dirs.iter().enumerate() {
        let mut e = env.clone();
        if i > 0 {
            e.push(("FIRSTLINK_MONITOR__ENABLED".into(), "false".into()));
        }
        started.push(start_node(&a.bin, d.path(), &format!("bench-{i}"), &e)?);
    }
    let pg = match database_url {
        Some(u) => {
            let (c, conn) = tokio_postgres::connect(u, tokio_postgres::NoTls).await?;
            tokio::spawn(conn);
            Some(c)
        }
        None => None,
    };
    Ok(Setup {
        nodes: started,
        key,
        tokens: Arc::new(tokens),
        homes: Arc::new(homes),
        store,
        pg,
        dirs,
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Load {
    Positions,
    Incidents,
}

struct Phase {
    ok: u64,
    err: u64,
    first_err: Option<String>,
    secs: f64,
    lat: Samples,
}

/// `conc` connections, connection `w` to node `w % nodes`, for `dur`.
async fn drive(
    s: &Setup,
    load: Load,
    conc: usize,
    dur: Duration,
    reserve: usize,
    run: u64,
) -> Phase {
    let addrs: Vec<SocketAddr> = s.nodes.iter().map(|n| n.addr).collect();
    let start = Instant::now();
    let deadline = start + dur;
    let mut handles = Vec::new();
    for w in 0..conc {
        let addr = addrs[w % addrs.len()];
        let (tokens, homes, key) = (Arc::clone(&s.tokens), Arc::clone(&s.homes), s.key.clone());
        handles.push(tokio::spawn(async move {
            let mut lat = Samples::with_capacity(1 << 12);
            let (mut ok, mut err, mut first_err) = (0u64, 0u64, None::<String>);
            let mut rng = ChaCha8Rng::seed_from_u64(run * 10_000 + w as u64);
            let res: anyhow::Result<()> = async {
                let stream = tokio::net::TcpStream::connect(addr).await?;
                stream.set_nodelay(true)?;
                let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
                tokio::spawn(conn);
                let usable = tokens.len().saturating_sub(reserve).max(1);
                let mut n = 0usize;
                while Instant::now() < deadline {
                    let v = (w + n * conc) % usable;
                    let p = homes[rng.gen_range(0..homes.len())];
                    let (path, auth, body) = match load {
                        Load::Positions => (
                            "/api/v1/me/position",
                            tokens[v].clone(),
                            format!(r#"{{"lat":{:.6},"lon":{:.6}}}"#, homes[v].lat + rng.gen_range(-0.002..0.002), homes[v].lon + rng.gen_range(-0.003..0.003)),
                        ),
                        Load::Incidents => (
                            "/api/v1/incidents",
                            key.clone(),
                            format!(
                                r#"{{"external_id":"bench-{run}-{w}-{n}","location":{{"lat":{:.6},"lon":{:.6}}},"reported_at":"{}","address":"Bench street 1","location_type":"public","ems_eta_seconds":600}}"#,
                                p.lat,
                                p.lon,
                                Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
                            ),
                        ),
                    };
                    n += 1;
                    let req = Request::builder()
                        .method("POST")
                        .uri(path)
                        .header("host", "bench")
                        .header("authorization", format!("Bearer {auth}"))
                        .header("content-type", "application/json")
                        .body(Full::new(Bytes::from(body)))?;
                    let t = Instant::now();
                    sender.ready().await?;
                    let resp = tokio::time::timeout(Duration::from_secs(10), sender.send_request(req)).await??;
                    let status = resp.status();
                    let body = resp.into_body().collect().await?.to_bytes();
                    lat.push(t.elapsed());
                    if status.is_success() {
                        ok += 1;
                    } else {
                        err += 1;
                        first_err.get_or_insert_with(|| format!("{status}: {}", String::from_utf8_lossy(&body)));
                    }
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
    let mut p = Phase {
        ok: 0,
        err: 0,
        first_err: None,
        secs: 0.0,
        lat: Samples::default(),
    };
    for h in handles {
        if let Ok((l, o, e, f)) = h.await {
            p.lat.extend(l);
            p.ok += o;
            p.err += e;
            if p.first_err.is_none() {
                p.first_err = f;
            }
        }
    }
    p.secs = start.elapsed().as_secs_f64();
    p.lat.sort();
    p
}

async fn get_text(addr: SocketAddr, path: &str) -> anyhow::Result<String> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let req = Request::builder()
        .uri(path)
        .header("host", "bench")
        .body(Full::new(Bytes::new()))?;
    let body = sender
        .send_request(req)
        .await?
        .into_body()
        .collect()
        .await?
        .to_bytes();
    Ok(String::from_utf8_lossy(&body).into_owned())
}

async fn gauge(addr: SocketAddr, name: &str) -> anyhow::Result<u64> {
    let m = get_text(addr, "/metrics").await?;
    let prefix = format!("{name} ");
    m.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
        .with_context(|| format!("no {name}"))
}

async fn positions_indexed(addr: SocketAddr) -> anyhow::Result<u64> {
    gauge(addr, "firstlink_positions_indexed").await
}

async fn post(
    addr: SocketAddr,
    path: &str,
    bearer: &str,
    body: String,
) -> anyhow::Result<(u16, String)> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let req = Request::builder()
        .method("POST")
        .uri(path)
        .header("host", "bench")
        .header("authorization", format!("Bearer {bearer}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))?;
    let resp = sender.send_request(req).await?;
    let status = resp.status().as_u16();
    Ok((
        status,
        String::from_utf8_lossy(&resp.into_body().collect().await?.to_bytes()).into_owned(),
    ))
}

/// A first position through node `i`, until node `j` has it in its index.
/// Volunteers `first..first + samples` (who have no position yet).
async fn propagation(s: &Setup, first: usize, samples: usize) -> anyhow::Result<Samples> {
    let mut out = Samples::with_capacity(samples);
    for k in 0..samples {
        let v = first + k;
        let (i, j) = (k % s.nodes.len(), (k + 1) % s.nodes.len());
        let before = positions_indexed(s.nodes[j].addr).await?;
        let home = s.homes[v];
        let (status, body) = post(
            s.nodes[i].addr,
            "/api/v1/me/position",
            &s.tokens[v],
            format!(r#"{{"lat":{},"lon":{}}}"#, home.lat, home.lon),
        )
        .await?;
        if status != 204 {
            bail!("position: {status} {body}");
        }
        let t = Instant::now();
        loop {
            if positions_indexed(s.nodes[j].addr).await? > before {
                break;
            }
            if t.elapsed() > Duration::from_secs(10) {
                bail!("a position posted to node {i} did not reach node {j} within 10 s");
            }
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        out.push(t.elapsed());
    }
    out.sort();
    Ok(out)
}

async fn lease_holder(
    pg: &tokio_postgres::Client,
    incident: &str,
) -> anyhow::Result<Option<String>> {
    Ok(pg
        .query_opt(
            "SELECT holder FROM leases WHERE name = $1 AND expires_at > clock_timestamp()",
            &[&format!("mission:{incident}")],
        )
        .await?
        .map(|r| r.get(0)))
}

/// Kills the node driving a fresh mission; time until another node holds its lease.
async fn failover(a: &Args, s: &mut Setup, rounds: usize) -> anyhow::Result<Samples> {
    let mut out = Samples::with_capacity(rounds);
    for r in 0..rounds {
        let k = r % s.nodes.len();
        let body = format!(
            r#"{{"external_id":"failover-{}-{r}","location":{{"lat":55.6765,"lon":12.5690}},"reported_at":"{}","address":"Bench street 1","location_type":"public","ems_eta_seconds":600}}"#,
            Uuid::new_v4().simple(),
            Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
        );
        let (status, resp) = post(s.nodes[k].addr, "/api/v1/incidents", &s.key, body).await?;
        if status != 201 {
            bail!("incident: {status} {resp}");
        }
        let id = resp
            .split("\"id\":\"")
            .nth(1)
            .and_then(|x| x.split('"').next())
            .context("incident id")?
            .to_string();
        let pg = s.pg.as_ref().context("postgres")?;
        let node_id = s.nodes[k].id.clone();
        let t = Instant::now();
        while lease_holder(pg, &id).await?.as_deref() != Some(node_id.as_str()) {
            if t.elapsed() > Duration::from_secs(10) {
                bail!("node {node_id} never held its mission's lease");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Land the kill at a random point of the renewal period.
        tokio::time::sleep(Duration::from_millis(250 * (r as u64 % 4))).await;
        let env = s.nodes[k].env.clone();
        let old = std::mem::replace(
            &mut s.nodes[k],
            start_node(&a.bin, s.dirs[k].path(), &format!("{node_id}-spare"), &env)?,
        );
        // The spare started meanwhile: the lease must still be where it was.
        if lease_holder(pg, &id).await?.as_deref() != Some(node_id.as_str()) {
            println!(
                "  failover {}: node {node_id} lost the lease before the kill; not counted",
                r + 1
            );
            drop(old);
            continue;
        }
        let killed = Instant::now();
        drop(old);
        loop {
            match lease_holder(pg, &id).await? {
                Some(h) if h != node_id => break,
                _ => {}
            }
            if killed.elapsed() > Duration::from_secs(30) {
                bail!("nobody took the mission over");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        out.push(killed.elapsed());
        println!(
            "  failover {}: {:.2} s",
            r + 1,
            killed.elapsed().as_secs_f64()
        );
    }
    out.sort();
    Ok(out)
}

async fn planned(s: &Setup) -> anyhow::Result<(usize, usize)> {
    let live = s.store.live_missions().await?;
    Ok((
        live.iter().filter(|m| m.mission.started).count(),
        live.len(),
    ))
}

fn report(what: &str, s: &Samples) {
    println!(
        "  {what}: p50 {} ms, p99 {} ms, max {} ms ({} samples)",
        ms(s.pct_ms(0.5)),
        ms(s.pct_ms(0.99)),
        ms(s.max_ms()),
        s.len()
    );
}

/// Until every acknowledged incident is planned, then until every node knows
/// every live mission (the other nodes have applied the mission changes).
async fn settle(s: &Setup) -> anyhow::Result<String> {
    let t = Instant::now();
    let planned_after = loop {
        let (started, live) = planned(s).await?;
        if started >= live || t.elapsed() > Duration::from_secs(120) {
            break t.elapsed().as_secs_f64();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    loop {
        let live = s.store.live_missions().await?.len() as u64;
        let mut behind = 0;
        for n in &s.nodes {
            if gauge(n.addr, "firstlink_live_missions").await? != live {
                behind += 1;
            }
        }
        if behind == 0 || t.elapsed() > Duration::from_secs(300) {
            return Ok(format!(
                "{planned_after:.1} s / {:.1} s{}",
                t.elapsed().as_secs_f64(),
                if behind > 0 {
                    format!(" ({behind} nodes behind)")
                } else {
                    String::new()
                }
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn run(a: &Args) -> anyhow::Result<()> {
    let mut pos = Table::new(
        "Through the nodes over loopback HTTP, requests spread round-robin",
        &[
            "set-up",
            "load",
            "connections",
            "ok / s",
            "errors",
            "p50 ms",
            "p99 ms",
            "all planned / all nodes caught up after",
        ],
    );
    let mut extra: Vec<(String, Samples)> = Vec::new();
    let reserve = 2 * a.propagation_samples;
    for (label, nodes, pg) in [
        ("1 node, SQLite", 1usize, false),
        ("3 nodes, PostgreSQL", 3, true),
    ] {
        println!("{label}:");
        let db = if pg {
            let name = format!("firstlink_bench_{}", Uuid::new_v4().simple());
            let (c, conn) = tokio_postgres::connect(&a.pg_admin, tokio_postgres::NoTls).await?;
            tokio::spawn(conn);
            c.batch_execute(&format!("CREATE DATABASE {name}")).await?;
            let base = &a.pg_admin[..a
                .pg_admin
                .rfind('/')
                .context("admin url needs a database")?];
            Some((c, name.clone(), format!("{base}/{name}")))
        } else {
            None
        };
        let mut s = setup(a, nodes, db.as_ref().map(|d| d.2.as_str())).await?;
        for load in [Load::Positions, Load::Incidents] {
            let conc = match load {
                Load::Positions => a.concurrency,
                Load::Incidents => (a.concurrency / 4).max(1),
            };
            if pg && load == Load::Incidents {
                // On a cluster with no other live mission first.
                let f = failover(a, &mut s, a.failovers).await?;
                report(&format!("{label}: failover on an idle cluster"), &f);
                extra.push((
                    "failover (SIGKILL → lease held elsewhere), idle cluster".into(),
                    f,
                ));
            }
            let p = drive(
                &s,
                load,
                conc,
                Duration::from_secs(a.seconds),
                reserve,
                nodes as u64,
            )
            .await;
            let after = match load {
                Load::Incidents => settle(&s).await?,
                Load::Positions => "—".into(),
            };
            if let Some(e) = &p.first_err {
                println!("  first error: {e}");
            }
            let row = vec![
                label.into(),
                match load {
                    Load::Positions => "POST /me/position",
                    Load::Incidents => "POST /incidents",
                }
                .into(),
                conc.to_string(),
                thousands(p.ok as f64 / p.secs),
                p.err.to_string(),
                ms(p.lat.pct_ms(0.5)),
                ms(p.lat.pct_ms(0.99)),
                after,
            ];
            println!("  {}", row.join(" | "));
            pos.row(row);
            if pg {
                let when = match load {
                    Load::Positions => "idle cluster",
                    Load::Incidents => "after the incident phase",
                };
                let first = s.tokens.len() - reserve
                    + if load == Load::Positions {
                        0
                    } else {
                        a.propagation_samples
                    };
                let p = propagation(&s, first, a.propagation_samples).await?;
                report(&format!("{label}: propagation, {when}"), &p);
                extra.push((format!("position propagation to another node ({when})"), p));
            }
        }
        if pg {
            let live = s.store.live_missions().await?.len();
            let f = failover(a, &mut s, a.failovers).await?;
            report(&format!("{label}: failover with {live} live missions"), &f);
            extra.push((
                format!("failover (SIGKILL → lease held elsewhere), {live} live missions"),
                f,
            ));
        }
        drop(s);
        if let Some((c, name, _)) = db {
            c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await?;
        }
    }
    pos.print();
    let mut t = Table::new(
        "Three nodes on PostgreSQL",
        &["measure", "samples", "p50", "p90", "p99", "max"],
    );
    for (name, s) in extra {
        t.row(vec![
            name,
            s.len().to_string(),
            ms(s.pct_ms(0.5)),
            ms(s.pct_ms(0.9)),
            ms(s.pct_ms(0.99)),
            ms(s.max_ms()),
        ]);
    }
    t.print();
    Ok(())
}
