//! # firstlink-bench
//!
//! The benchmark command of the backbone issue: 1,000,000 volunteers over
//! Denmark, half of them packed around Copenhagen. Every point set comes from
//! ChaCha8 with a fixed seed (`--seed`), so runs and systems see the same
//! volunteers and the same patients. Every subcommand stops by itself and
//! prints Markdown tables; nothing here is a test.
//!
//! Build and run (release, own target dir):
//!
//! ```text
//! CARGO_TARGET_DIR=/work/target-bench cargo build --release -p firstlink-bench
//! /work/target-bench/release/firstlink-bench index
//! /work/target-bench/release/firstlink-bench compare
//! /work/target-bench/release/firstlink-bench http
//! ```
//!
//! ## `index`
//!
//! firstlink's in-memory `VolunteerIndex`, single thread:
//! - resident memory per volunteer: `VmRSS` before and after filling the
//!   index, and `heap_bytes()`; bulk insert rate (`upsert` + `set_position`);
//! - position updates: ≥ 10 M random moves of existing volunteers (0–300 m
//!   from their home point, so some change cell), pre-drawn, one thread;
//! - candidate search "nearest 30 within 1.3 km" at ≥ 100,000 patient points
//!   drawn from the same distribution, each timed with `Instant`;
//! - first-wave planning: `Mission::new` + `handle(Input::Start)` with the
//!   firstlink preset over the same index, an `AedList` of 5,000 AEDs and the
//!   straight-line walking estimator. `handle` marks nobody busy itself (that
//!   happens through the returned effects), so the index is the same for
//!   every run.
//!
//! ## `compare`
//!
//! The same 1 M points in firstlink's index, PostGIS and Redis, queried at the
//! same patient points in one run, everything on loopback:
//! - PostGIS (database `bench_geo`, created if missing, `CREATE EXTENSION
//!   postgis`): table `v(id, geog geography(Point, 4326))` loaded with `COPY`,
//!   GiST index, `ANALYZE`. Query `SELECT id FROM v WHERE ST_DWithin(geog, p,
//!   1300) ORDER BY geog <-> p LIMIT 30`, timed (a) inside the server by a
//!   PL/pgSQL loop that reads `clock_timestamp()` around each query (executor
//!   time of a cached plan, no parse, no network) and (b) as a client round
//!   trip with a prepared statement over `tokio-postgres`;
//! - Redis: `GEOADD` pipelined (20 commands × 500 members per round trip) into
//!   `bench:volunteers`, then `GEOSEARCH … FROMLONLAT lon lat BYRADIUS 1300 m
//!   ASC COUNT 30` round trips; the key is deleted afterwards.
//!
//! ## `http`
//!
//! A real firstlink server in-process on `127.0.0.1:0` with a temporary data
//! directory (`--data-dir` picks its parent, e.g. `/dev/shm` to take the disk's
//! fsync out of the picture). N volunteers (default 20,000) and their sessions
//! are written straight through the store. Then, for each `--concurrency`
//! level, keep-alive HTTP/1.1 connections (hyper, one request in flight per
//! connection) drive `POST /api/v1/me/position` and then `POST
//! /api/v1/me/positions` (batches of `--batch` fixes, newest kept) for
//! `--seconds` each. Diagnostics: the same single-fix request with a 5 km
//! accuracy (parsed, authorised, validated, then ignored: no durable write),
//! `GET /health` (the HTTP stack alone) and `store.save_positions` called
//! directly without HTTP. Server and load generator run on separate Tokio
//! runtimes so the CPU of each (and of the SQLite writer thread) is reported
//! from `/proc/self/task`, but they share the machine's cores.
//!
//! ## `cluster`
//!
//! The `firstlink` binary as processes: one node on SQLite, then three nodes
//! on one PostgreSQL database; positions and incidents per second through
//! them, how fast a position reaches the other nodes, failover time (see
//! `cluster.rs`).
//!
//! ## `monitor`
//!
//! AED readiness telemetry end to end through Mosquitto with the rules
//! evaluated, and memory per monitoring unit (see `monitor.rs`).

mod cluster;
mod compare;
mod dispatch;
mod http;
mod index;
mod monitor;
mod points;
mod seed;
mod stats;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "firstlink-bench",
    about = "Benchmarks for firstlink's backbone (index, PostGIS/Redis comparison, HTTP ingest)"
)]
struct Cli {
    /// Seed of every point set.
    #[arg(long, global = true, default_value_t = points::SEED)]
    seed: u64,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// The in-memory index: memory, bulk load, updates, candidate search, first-wave planning.
    Index {
        #[arg(long, default_value_t = 1_000_000)]
        volunteers: usize,
        /// Random position updates (single thread).
        #[arg(long, default_value_t = 20_000_000)]
        updates: usize,
        /// Candidate searches.
        #[arg(long, default_value_t = 200_000)]
        queries: usize,
        /// First-wave plans.
        #[arg(long, default_value_t = 50_000)]
        plans: usize,
        /// AEDs in the AedList used for planning.
        #[arg(long, default_value_t = 5_000)]
        aeds: usize,
    },
    /// The same points and queries in firstlink's index, PostGIS and Redis.
    Compare {
        #[arg(long, default_value_t = 1_000_000)]
        volunteers: usize,
        #[arg(long, default_value_t = 20_000)]
        queries: usize,
        /// libpq-style connection settings without dbname.
        #[arg(long, default_value = "host=127.0.0.1 port=5432 user=postgres")]
        pg: String,
        #[arg(long, default_value = "bench_geo")]
        pg_db: String,
        #[arg(long, default_value = "redis://127.0.0.1:6379/")]
        redis: String,
        #[arg(long)]
        skip_pg: bool,
        #[arg(long)]
        skip_redis: bool,
    },
    /// Position ingest through a real server over loopback HTTP.
    Http {
        #[arg(long, default_value_t = 20_000)]
        volunteers: usize,
        /// Concurrent keep-alive connections (one request in flight each); a list runs each level.
        #[arg(long, value_delimiter = ',', default_value = "128")]
        concurrency: Vec<usize>,
        /// Seconds per measured phase.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Fixes per `POST /me/positions`.
        #[arg(long, default_value_t = 10)]
        batch: usize,
        /// Parent of the temporary data directory (default: the system temp dir).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[arg(long, default_value_t = 2)]
        server_threads: usize,
        #[arg(long, default_value_t = 2)]
        client_threads: usize,
    },
    /// POST /incidents → first push at a mock provider, with many volunteers and live
    /// missions; and a write by another process → visible in the running server.
    Dispatch {
        #[arg(long, default_value_t = 100_000)]
        volunteers: usize,
        /// Missions kept live while measuring.
        #[arg(long, default_value_t = 50)]
        live: usize,
        /// Incidents measured, one at a time.
        #[arg(long, default_value_t = 200)]
        incidents: usize,
        /// Writes by another process measured.
        #[arg(long, default_value_t = 200)]
        feed_samples: usize,
    },
    /// One node on SQLite vs three nodes on PostgreSQL: throughput, propagation, failover.
    Cluster {
        /// The `firstlink` binary (build it with --release).
        #[arg(long, default_value = "target/release/firstlink")]
        bin: PathBuf,
        #[arg(long, default_value_t = 20_000)]
        volunteers: usize,
        /// Seconds per load phase.
        #[arg(long, default_value_t = 15)]
        seconds: u64,
        /// Connections of the position phase (a quarter of them post incidents).
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Administrative connection URL (a database is created and dropped).
        #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
        pg_admin: String,
        #[arg(long, default_value_t = 200)]
        propagation_samples: usize,
        #[arg(long, default_value_t = 6)]
        failovers: usize,
    },
    /// AED monitoring telemetry through an MQTT broker, rules evaluated; memory per unit.
    Monitor {
        #[arg(long, default_value_t = 25_000)]
        units: usize,
        /// Offered rates of the steady-state phases (messages per second).
        #[arg(long, value_delimiter = ',', default_value = "20000,40000,60000")]
        rates: Vec<f64>,
        /// Seconds per steady-state phase.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Rate of the warm-up and fault phases (each message a durable decision).
        #[arg(long, default_value_t = 2_000.0)]
        warmup_rate: f64,
        /// Units that report a fault in the last phase.
        #[arg(long, default_value_t = 1_000)]
        faults: usize,
        #[arg(long, default_value = "mqtt://127.0.0.1:1883")]
        broker: String,
        /// Publishing connections.
        #[arg(long, default_value_t = 2)]
        publishers: usize,
        /// QoS of the simulated units' publishes (0: periodic telemetry, 1: acknowledged).
        #[arg(long, default_value_t = 0)]
        qos: u8,
        /// Parent of the temporary data directory.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Index {
            volunteers,
            updates,
            queries,
            plans,
            aeds,
        } => {
            index::run(&index::Args {
                seed: cli.seed,
                volunteers,
                updates,
                queries,
                plans,
                aeds,
            });
        }
        Cmd::Compare {
            volunteers,
            queries,
            pg,
            pg_db,
            redis,
            skip_pg,
            skip_redis,
        } => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(compare::run(&compare::Args {
                seed: cli.seed,
                volunteers,
                queries,
                pg,
                pg_db,
                redis,
                skip_pg,
                skip_redis,
            }))?;
        }
        Cmd::Http {
            volunteers,
            concurrency,
            seconds,
            batch,
            data_dir,
            server_threads,
            client_threads,
        } => {
            http::run(&http::Args {
                seed: cli.seed,
                volunteers,
                concurrency,
                seconds,
                batch,
                data_dir,
                server_threads,
                client_threads,
            })?;
        }
        Cmd::Dispatch {
            volunteers,
            live,
            incidents,
            feed_samples,
        } => dispatch::run(&dispatch::Args {
            seed: cli.seed,
            volunteers,
            live,
            incidents,
            feed_samples,
        })?,
        Cmd::Cluster {
            bin,
            volunteers,
            seconds,
            concurrency,
            pg_admin,
            propagation_samples,
            failovers,
        } => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            rt.block_on(cluster::run(&cluster::Args {
                seed: cli.seed,
                bin,
                volunteers,
                seconds,
                concurrency,
                pg_admin,
                propagation_samples,
                failovers,
            }))?;
        }
        Cmd::Monitor {
            units,
            rates,
            seconds,
            warmup_rate,
            faults,
            broker,
            publishers,
            qos,
            data_dir,
        } => {
            monitor::run(&monitor::Args {
                units,
                rates,
                seconds,
                warmup_rate,
                faults,
                broker,
                publishers,
                qos,
                data_dir,
            })?;
        }
    }
    Ok(())
}
