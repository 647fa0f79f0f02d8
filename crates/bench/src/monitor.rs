//! `monitor`: telemetry throughput end to end through an MQTT broker
//! (Mosquitto on 127.0.0.1:1883 by default) with the readiness rules
//! evaluated, and memory per monitoring unit.
//!
//! A real firstlink `App` runs in-process with a temporary data directory
//! and `monitor.mqtt_url` pointing at the broker. `--units` AEDs and their
//! units are written through the store and loaded. Publishers (separate MQTT
//! connections on their own runtime) then send the compact binary form,
//! each message MAC'd with its unit's key:
//! 1. warm-up: one message per unit (every AED goes from unmonitored to
//!    ready: a durable readiness change each);
//! 2. measured: `--messages` steady-state messages round-robin over the units
//!    (normal values; the rules run, nothing changes), timed from the first
//!    publish until firstlink has accepted the last one;
//! 3. faults: one status-light fault each for `--faults` units (a durable
//!    readiness change, a ticket and a notification each), timed the same way.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use chrono::Utc;
use firstlink_domain::aed::{AedAccess, Readiness};
use firstlink_domain::geo::LatLon;
use firstlink_domain::ids::AedId;
use firstlink_monitor::{Reading, Signal, StatusLight, UnitKey, UnitTopic, encode_binary};
use firstlink_server::{App, Config};
use firstlink_store::{Aed, AedDetails, AedStatus, MonitorUnit, Region};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use uuid::Uuid;

use crate::stats::rss_bytes;

pub struct Args {
    pub units: usize,
    /// Offered rates of the steady-state phases, messages per second.
    pub rates: Vec<f64>,
    /// Seconds per steady-state phase.
    pub seconds: f64,
    /// Rate of the warm-up and fault phases (each message a durable decision).
    pub warmup_rate: f64,
    pub faults: usize,
    pub broker: String,
    pub publishers: usize,
    /// QoS of the units' publishes (0 or 1).
    pub qos: u8,
    pub data_dir: Option<std::path::PathBuf>,
}

pub fn run(a: &Args) -> anyhow::Result<()> {
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .thread_name("server")
        .build()?;
    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .thread_name("publisher")
        .build()?;
    let parent = a.data_dir.clone().unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(&parent)?;
    let (host, port) = firstlink_server::monitor::mqtt::parse_url(&a.broker)?;

    let config = Config {
        data_dir: dir.path().to_path_buf(),
        monitor: firstlink_server::config::MonitorConfig {
            broker_listen: String::new(),
            mqtt_url: Some(a.broker.clone()),
            mqtt_client_id: format!("firstlink-bench-{}", Uuid::now_v7()),
            lorawan: false,
            ..Default::default()
        },
        ..Config::default()
    };
    let app = server.block_on(async { firstlink_server::start(config).await })?;

    // AEDs and units, written through the store, then loaded.
    let t = Instant::now();
    let (units, rss_before, rss_after) = server.block_on(provision(&app, a.units))?;
    let per_unit = (rss_after.saturating_sub(rss_before)) as f64 / a.units as f64;
    println!(
        "## Monitoring ingest through {} (units publish with QoS {})\n",
        a.broker, a.qos
    );
    println!(
        "{} AEDs with a unit each, written and loaded in {:.1} s",
        a.units,
        t.elapsed().as_secs_f64()
    );
    println!(
        "memory per unit: {} bytes counted from the structures (slot with record, key, rule state of {} B and telemetry bucket; map entry; strings); \
         resident set grew {:.1} MB while loading {} units = {:.0} bytes per unit (the allocator reuses memory freed while writing them)\n",
        app.monitor.bytes_per_unit(),
        std::mem::size_of::<firstlink_monitor::UnitState>(),
        (rss_after.saturating_sub(rss_before)) as f64 / 1e6,
        a.units,
        per_unit,
    );
    server.block_on(async {
        let end = Instant::now() + Duration::from_secs(10);
        while !app.monitor.external_connected() && Instant::now() < end {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    });
    anyhow::ensure!(
        app.monitor.external_connected(),
        "firstlink did not connect to {}",
        a.broker
    );

    let qos = if a.qos == 0 {
        QoS::AtMostOnce
    } else {
        QoS::AtLeastOnce
    };
    let pubs: Vec<AsyncClient> = client.block_on(async {
        (0..a.publishers.max(1))
            .map(|i| publisher(&host, port, i))
            .collect()
    });
    let base = Utc::now().timestamp();
    let accepted = || app.monitor.counters.accepted.load(Ordering::Relaxed) as usize;
    let transitions = || app.monitor.counters.transitions.load(Ordering::Relaxed) as usize;

    println!(
        "| phase | offered msg/s | accepted | publish s | end-to-end s | accepted msg/s | readiness changes |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    // Paced: the broker drops QoS 1 messages beyond a subscriber's queue
    // (Mosquitto: max_queued_messages, 1,000 by default), so a rate the
    // consumer cannot sustain shows up as loss, not as a long tail.
    let phase = |name: &str, msgs: Vec<(String, Vec<u8>)>, rate: f64| -> anyhow::Result<bool> {
        let n = msgs.len();
        let (a0, t0) = (accepted(), transitions());
        let start = Instant::now();
        client.block_on(publish_all(&pubs, msgs, rate, qos))?;
        let published = start.elapsed();
        // Done when everything arrived, or nothing more arrived for a second.
        let (mut last, mut since) = (accepted(), Instant::now());
        while accepted() < a0 + n && since.elapsed() < Duration::from_secs(1) {
            std::thread::sleep(Duration::from_millis(1));
            if accepted() != last {
                (last, since) = (accepted(), Instant::now());
            }
        }
        let took = if accepted() >= a0 + n {
            start.elapsed()
        } else {
            since - start
        };
        let got = accepted() - a0;
        println!(
            "| {name} | {rate:.0} | {got} of {n} | {:.2} | {:.2} | {:.0} | {} |",
            published.as_secs_f64(),
            took.as_secs_f64(),
            got as f64 / took.as_secs_f64(),
            transitions() - t0
        );
        Ok(got == n)
    };
    let ok = |u: &(Uuid, UnitKey), seq: u32| {
        let r = Reading {
            at: chrono::DateTime::from_timestamp(base + i64::from(seq), 0).unwrap_or_default(),
            seq: Some(seq),
            signals: vec![
                Signal::StatusLight(StatusLight::Ok),
                Signal::TemperatureC(20.5),
                Signal::UnitBatteryPct(80),
                Signal::DoorOpen(false),
            ],
        };
        (UnitTopic::Binary(u.0).to_topic(), encode_binary(&r, &u.1))
    };
    phase(
        "warm-up (unmonitored → ready)",
        units.iter().map(|u| ok(u, 1)).collect(),
        a.warmup_rate,
    )?;
    let mut seq = 2;
    for &rate in &a.rates {
        let n = (rate * a.seconds) as usize;
        let msgs: Vec<_> = (0..n)
            .map(|i| ok(&units[i % units.len()], seq + (i / units.len()) as u32))
            .collect();
        seq += (n / units.len()) as u32 + 1;
        phase("steady state", msgs, rate)?;
    }
    let rounds = seq;
    let faults: Vec<_> = units
        .iter()
        .take(a.faults)
        .map(|u| {
            let r = Reading {
                at: chrono::DateTime::from_timestamp(base + i64::from(rounds), 0)
                    .unwrap_or_default(),
                seq: Some(rounds),
                signals: vec![Signal::StatusLight(StatusLight::Fault)],
            };
            (UnitTopic::Binary(u.0).to_topic(), encode_binary(&r, &u.1))
        })
        .collect();
    phase("faults (→ not ready, ticket)", faults, a.warmup_rate)?;
    let refused = app.monitor.counters.rejected();
    if !refused.is_empty() {
        println!("\nrefused: {refused:?}");
    }
    let not_ready = app
        .aeds()
        .all(None)
        .filter(|x| x.readiness == Readiness::NotReady)
        .count();
    println!(
        "\nAEDs not ready at the end: {not_ready} (expected {})",
        a.faults.min(a.units)
    );
    drop(client);
    drop(server);
    Ok(())
}

async fn provision(app: &Arc<App>, n: usize) -> anyhow::Result<(Vec<(Uuid, UnitKey)>, u64, u64)> {
    let region = Region {
        id: firstlink_domain::ids::RegionId::new(),
        slug: "bench".into(),
        name: "Bench".into(),
        timezone: "Europe/Copenhagen".into(),
        country: "DK".into(),
        policy: firstlink_domain::policy::DispatchPolicy::firstlink(),
        created_at: Utc::now(),
    };
    app.store.create_region(&region).await?;
    firstlink_server::changes::apply(app, vec![firstlink_store::Change::Region(region.id)]).await;
    let tz = app
        .region(region.id)
        .map(|r| r.tz)
        .unwrap_or(chrono_tz::UTC);
    let centre = LatLon::new(55.68, 12.57).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let aeds: Vec<Aed> = (0..n)
        .map(|i| Aed {
            id: AedId::new(),
            region_id: region.id,
            name: format!("AED {i}"),
            position: centre.offset((i % 360) as f64, (i / 360) as f64 * 10.0),
            access: AedAccess::Public,
            opening_hours: Some("24/7".into()),
            readiness: Readiness::Unmonitored,
            status: AedStatus::Active,
            details: AedDetails::default(),
            updated_at: Utc::now(),
        })
        .collect();
    for chunk in aeds.chunks(5_000) {
        app.store.upsert_aeds(chunk).await?;
    }
    {
        let mut reg = app.aeds_mut();
        for a in &aeds {
            reg.upsert(a.clone(), tz, "DK");
        }
    }
    let rows: Vec<MonitorUnit> = aeds
        .iter()
        .map(|a| MonitorUnit {
            id: Uuid::now_v7(),
            region_id: region.id,
            aed_id: Some(a.id),
            hardware: "bench".into(),
            firmware: None,
            interval_s: 3_600,
            key_generation: 1,
            revoked_at: None,
            lorawan: None,
            created_at: Utc::now(),
        })
        .collect();
    let mut writes = Vec::new();
    for u in &rows {
        let (store, u) = (Arc::clone(&app.store), u.clone());
        writes.push(tokio::spawn(async move { store.save_unit(&u).await }));
    }
    for w in writes {
        w.await??;
    }
    let before = rss_bytes();
    let mut out = Vec::with_capacity(n);
    for u in rows {
        out.push((u.id, app.monitor.key_for(&u)));
        app.monitor.upsert_unit(app, u);
    }
    let after = rss_bytes();
    Ok((out, before, after))
}

fn publisher(host: &str, port: u16, i: usize) -> AsyncClient {
    let mut o = MqttOptions::new(format!("bench-pub-{i}-{}", Uuid::now_v7()), host, port);
    o.set_keep_alive(Duration::from_secs(30));
    o.set_inflight(1_000);
    let (c, mut ev) = AsyncClient::new(o, 10_000);
    tokio::spawn(async move {
        loop {
            match ev.poll().await {
                Ok(Event::Incoming(Packet::Disconnect)) | Err(_) => {
                    tokio::time::sleep(Duration::from_millis(200)).await
                }
                Ok(_) => {}
            }
        }
    });
    c
}

/// Publishes `msgs` at `rate` per second overall, in 5 ms slices.
async fn publish_all(
    pubs: &[AsyncClient],
    msgs: Vec<(String, Vec<u8>)>,
    rate: f64,
    qos: QoS,
) -> anyhow::Result<()> {
    let mut per: Vec<Vec<(String, Vec<u8>)>> = vec![Vec::new(); pubs.len()];
    for (i, m) in msgs.into_iter().enumerate() {
        per[i % pubs.len()].push(m);
    }
    let each = rate / pubs.len() as f64;
    let mut tasks = Vec::new();
    for (c, batch) in pubs.iter().cloned().zip(per) {
        tasks.push(tokio::spawn(async move {
            let start = tokio::time::Instant::now();
            for (i, (topic, payload)) in batch.into_iter().enumerate() {
                if i % 64 == 0 {
                    tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / each))
                        .await;
                }
                c.publish(topic, qos, false, payload).await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}
