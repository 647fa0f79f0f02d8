//! `firstlink devices …`: provision monitoring units for a region's AEDs and
//! simulate them — realistic telemetry over MQTT with injected faults (low
//! battery, a cold night, theft, a silent unit, a status-light fault), for
//! demos and benchmarks. The demo runs the simulator in-process against the
//! embedded endpoint.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::Subcommand;
use firstlink_domain::geo::LatLon;
use firstlink_domain::ids::AedId;
use firstlink_monitor::{
    Reading, Signal, StatusLight, UnitKey, UnitTopic, encode_binary, encode_json,
};
use firstlink_server::{App, Config};
use firstlink_store::MonitorUnit;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rumqttc::{AsyncClient, MqttOptions, QoS};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Subcommand)]
pub enum DevicesCommand {
    /// Provision a monitoring unit for every AED of a region that has none,
    /// and write their credentials (id, secret, registered place) as JSON.
    Provision {
        /// Region slug.
        #[arg(long)]
        region: String,
        /// At most this many units.
        #[arg(long)]
        limit: Option<usize>,
        /// Seconds between a unit's reports.
        #[arg(long, default_value_t = 300)]
        interval: u32,
        /// Where the credentials go (keep this file secret).
        #[arg(long)]
        out: PathBuf,
    },
    /// Publish telemetry for the units in a credentials file.
    Simulate {
        /// The credentials file written by `devices provision`.
        #[arg(long)]
        units: PathBuf,
        /// `mqtt://host:port`. Default: this server's embedded endpoint, one
        /// authenticated connection per unit. With an external broker all units
        /// share one connection (every message carries its unit's MAC).
        #[arg(long)]
        broker: Option<String>,
        /// Seconds between a unit's messages.
        #[arg(long, default_value_t = 60.0)]
        every: f64,
        /// Share of units that develop a fault.
        #[arg(long, default_value_t = 0.1)]
        faults: f64,
        /// Stop after this many seconds.
        #[arg(long)]
        duration: Option<u64>,
        /// Send the JSON form instead of the compact binary one.
        #[arg(long)]
        json: bool,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

/// A unit's credentials and where its AED hangs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UnitCredentials {
    pub id: Uuid,
    pub secret: String,
    pub aed_id: Option<AedId>,
    pub lat: f64,
    pub lon: f64,
}

/// The faults the simulator injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    LowBattery,
    ColdNight,
    Theft,
    Silent,
    StatusLight,
}

const FAULTS: [Fault; 5] = [
    Fault::LowBattery,
    Fault::ColdNight,
    Fault::Theft,
    Fault::Silent,
    Fault::StatusLight,
];

/// One simulated unit: a cabinet indoors around 19 °C, a slowly draining
/// battery, a GPS fix that wanders a few metres, and maybe a fault that
/// starts after a few messages.
pub struct SimUnit {
    pub creds: UnitCredentials,
    key: UnitKey,
    fault: Option<(Fault, u32)>,
    seq: u32,
    battery: f64,
    rng: ChaCha8Rng,
}

impl SimUnit {
    pub fn new(creds: UnitCredentials, fault_share: f64, seed: u64) -> Option<Self> {
        let key = UnitKey::from_secret(&creds.secret)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let fault = (rng.r#gen::<f64>() < fault_share)
            .then(|| (FAULTS[rng.gen_range(0..FAULTS.len())], rng.gen_range(2..8)));
        Some(Self {
            creds,
            key,
            fault,
            seq: 0,
            battery: rng.gen_range(60.0..100.0),
            rng,
        })
    }

    pub fn topic(&self, json: bool) -> String {
        if json {
            UnitTopic::Json(self.creds.id).to_topic()
        } else {
            UnitTopic::Binary(self.creds.id).to_topic()
        }
    }

    /// The next message, or `None` when the unit has gone silent.
    pub fn next(&mut self, at: DateTime<Utc>, json: bool) -> Option<Vec<u8>> {
        self.seq += 1;
        let active = self
            .fault
            .filter(|(_, from)| self.seq >= *from)
            .map(|(f, _)| f);
        if active == Some(Fault::Silent) {
            return None;
        }
        self.battery = (self.battery - 0.01).max(0.0);
        let hour = f64::from(chrono::Timelike::hour(&at));
        let mut temp = 19.0
            + 2.0 * ((hour - 15.0) / 24.0 * std::f64::consts::TAU).cos()
            + self.rng.gen_range(-0.3..0.3);
        let mut home = LatLon {
            lat: self.creds.lat,
            lon: self.creds.lon,
        };
        let mut light = StatusLight::Ok;
        let mut battery = self.battery;
        let mut present = true;
        match active {
            Some(Fault::LowBattery) => battery = 12.0,
            Some(Fault::ColdNight) => temp = -4.0 + self.rng.gen_range(-0.5..0.5),
            Some(Fault::Theft) => {
                home = home.offset(45.0, 400.0);
                present = false;
            }
            Some(Fault::StatusLight) => light = StatusLight::Fault,
            _ => {}
        }
        let fix = home.offset(self.rng.gen_range(0.0..360.0), self.rng.gen_range(0.0..4.0));
        let signals = vec![
            Signal::StatusLight(light),
            Signal::TemperatureC(temp as f32),
            Signal::Beeps(false),
            Signal::Position(fix),
            Signal::UnitBatteryPct(battery.round().clamp(0.0, 100.0) as u8),
            Signal::DoorOpen(false),
            Signal::AedPresent(present),
        ];
        let at = DateTime::from_timestamp(at.timestamp(), 0).unwrap_or(at);
        let r = Reading {
            at,
            seq: Some(self.seq),
            signals,
        };
        Some(if json {
            encode_json(&r, &self.key)
        } else {
            encode_binary(&r, &self.key)
        })
    }

    pub fn fault(&self) -> Option<Fault> {
        self.fault.map(|f| f.0)
    }
}

/// Provisions a unit for each AED of the region without one.
pub async fn provision(
    app: &Arc<App>,
    region: &str,
    limit: Option<usize>,
    interval_s: u32,
) -> anyhow::Result<Vec<UnitCredentials>> {
    let rt = app
        .region_by_slug(region)
        .ok_or_else(|| anyhow::anyhow!("no region {region:?}"))?;
    let aeds: Vec<(AedId, LatLon)> = app
        .aeds()
        .all(Some(rt.region.id))
        .map(|a| (a.id, a.position))
        .collect();
    let mut out = Vec::new();
    for (aed, pos) in aeds {
        if limit.is_some_and(|l| out.len() >= l) {
            break;
        }
        if app.monitor.unit_of(aed).is_some() {
            continue;
        }
        let u = MonitorUnit {
            id: Uuid::now_v7(),
            region_id: rt.region.id,
            aed_id: Some(aed),
            hardware: "firstlink-sim".into(),
            firmware: Some(env!("CARGO_PKG_VERSION").into()),
            interval_s,
            key_generation: 1,
            revoked_at: None,
            lorawan: None,
            created_at: app.now(),
        };
        app.store.save_unit(&u).await?;
        firstlink_server::changes::apply(app, vec![firstlink_store::Change::Unit(u.id)]).await;
        out.push(UnitCredentials {
            id: u.id,
            secret: app.monitor.key_for(&u).to_secret(),
            aed_id: Some(aed),
            lat: pos.lat,
            lon: pos.lon,
        });
    }
    Ok(out)
}

/// Counts of what the simulator sent.
#[derive(Default)]
pub struct SimStats {
    pub sent: AtomicU64,
    pub silent: AtomicU64,
}

/// Runs the simulated units until `duration` (forever when `None`).
/// `per_unit_login`: one authenticated connection per unit (the embedded
/// endpoint); else one shared connection.
pub async fn simulate(
    units: Vec<SimUnit>,
    host: &str,
    port: u16,
    per_unit_login: bool,
    every: Duration,
    json: bool,
    duration: Option<Duration>,
) -> anyhow::Result<Arc<SimStats>> {
    let stats = Arc::new(SimStats::default());
    let n = units.len().max(1) as u32;
    let mut tasks = Vec::new();
    let shared = if per_unit_login {
        None
    } else {
        Some(connect(
            host,
            port,
            &format!("firstlink-sim-{}", Uuid::now_v7()),
            None,
        ))
    };
    for (i, mut u) in units.into_iter().enumerate() {
        let client = match &shared {
            Some(c) => c.clone(),
            None => connect(
                host,
                port,
                &format!("unit-{}", u.creds.id),
                Some((u.creds.id.to_string(), u.creds.secret.clone())),
            ),
        };
        let stats = Arc::clone(&stats);
        // Spread the units over the interval.
        let offset = every.mul_f64(f64::from(i as u32 % n) / f64::from(n));
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(offset).await;
            let mut tick = tokio::time::interval(every);
            let topic = u.topic(json);
            loop {
                tick.tick().await;
                match u.next(Utc::now(), json) {
                    Some(p) => {
                        if client
                            .publish(topic.clone(), QoS::AtLeastOnce, false, p)
                            .await
                            .is_ok()
                        {
                            stats.sent.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    None => {
                        stats.silent.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    if let Some(d) = duration {
        tokio::time::sleep(d).await;
        for t in &tasks {
            t.abort();
        }
        // Let the last publishes leave.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(stats)
}

/// An MQTT client whose event loop runs in the background and reconnects.
fn connect(host: &str, port: u16, id: &str, login: Option<(String, String)>) -> AsyncClient {
    let mut o = MqttOptions::new(id, host, port);
    o.set_keep_alive(Duration::from_secs(60));
    if let Some((u, p)) = login {
        o.set_credentials(u, p);
    }
    let (c, mut ev) = AsyncClient::new(o, 1_000);
    tokio::spawn(async move {
        loop {
            if ev.poll().await.is_err() {
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    });
    c
}

pub async fn run(config: Config, command: &DevicesCommand) -> anyhow::Result<()> {
    match command {
        DevicesCommand::Provision {
            region,
            limit,
            interval,
            out,
        } => {
            let mut config = config;
            // Provisioning only writes; it must not take the endpoint of a running server.
            config.monitor.broker_listen = String::new();
            config.monitor.mqtt_url = None;
            let app = firstlink_server::build(config)?;
            app.load().await?;
            app.monitor.load(&app).await.ok();
            let creds = provision(&app, region, *limit, *interval).await?;
            write_private(out, &serde_json::to_vec_pretty(&creds)?)?;
            println!(
                "provisioned {} units for {region}; credentials in {}",
                creds.len(),
                out.display()
            );
            Ok(())
        }
        DevicesCommand::Simulate {
            units,
            broker,
            every,
            faults,
            duration,
            json,
            seed,
        } => {
            let creds: Vec<UnitCredentials> = serde_json::from_slice(
                &std::fs::read(units).map_err(|e| anyhow::anyhow!("{}: {e}", units.display()))?,
            )?;
            let (url, per_unit) = match broker {
                Some(b) => (b.clone(), false),
                None => (format!("mqtt://{}", config.monitor.broker_listen), true),
            };
            let (host, port) = firstlink_server::monitor::mqtt::parse_url(&url)?;
            let sims: Vec<SimUnit> = creds
                .into_iter()
                .enumerate()
                .filter_map(|(i, c)| SimUnit::new(c, *faults, seed.wrapping_add(i as u64)))
                .collect();
            let faulty = sims.iter().filter(|s| s.fault().is_some()).count();
            println!(
                "simulating {} units ({faulty} with a fault) against {url}, one message per unit every {every} s",
                sims.len()
            );
            let stats = simulate(
                sims,
                &host,
                port,
                per_unit,
                Duration::from_secs_f64(every.max(0.001)),
                *json,
                duration.map(Duration::from_secs),
            )
            .await?;
            if duration.is_none() {
                std::future::pending::<()>().await;
            }
            println!(
                "sent {} messages ({} skipped by silent units)",
                stats.sent.load(Ordering::Relaxed),
                stats.silent.load(Ordering::Relaxed)
            );
            Ok(())
        }
    }
}

fn write_private(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    use std::io::Write;
    opts.open(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(secret: String) -> UnitCredentials {
        UnitCredentials {
            id: Uuid::now_v7(),
            secret,
            aed_id: None,
            lat: 55.68,
            lon: 12.57,
        }
    }

    #[test]
    fn simulated_messages_decode_with_the_units_key_and_faults_show() {
        let key = UnitKey::derive(&[7; 32], Uuid::nil(), 1);
        let now = Utc::now();
        let mut seen = std::collections::HashSet::new();
        for seed in 0..200 {
            let mut u = SimUnit::new(creds(key.to_secret()), 1.0, seed).unwrap();
            let fault = u.fault().unwrap();
            seen.insert(format!("{fault:?}"));
            let mut last = None;
            for i in 0..10 {
                match u.next(now + chrono::Duration::seconds(i), i % 2 == 0) {
                    Some(p) if i % 2 == 0 => {
                        last = Some(firstlink_monitor::decode_json(&p, &key, true).unwrap())
                    }
                    Some(p) => last = Some(firstlink_monitor::decode_binary(&p, &key).unwrap()),
                    None => assert_eq!(fault, Fault::Silent),
                }
            }
            let Some(r) = last else { continue };
            let has = |want: &dyn Fn(&Signal) -> bool| r.signals.iter().any(want);
            match fault {
                Fault::LowBattery => {
                    assert!(has(&|s| matches!(s, Signal::UnitBatteryPct(p) if *p < 20)))
                }
                Fault::ColdNight => {
                    assert!(has(&|s| matches!(s, Signal::TemperatureC(t) if *t < 0.0)))
                }
                Fault::Theft => assert!(has(&|s| matches!(s, Signal::AedPresent(false)))),
                Fault::StatusLight => assert!(has(&|s| matches!(
                    s,
                    Signal::StatusLight(StatusLight::Fault)
                ))),
                Fault::Silent => {}
            }
        }
        assert_eq!(
            seen.len(),
            FAULTS.len(),
            "every fault kind is drawn: {seen:?}"
        );
        // No faults asked for, none drawn.
        assert!((0..50).all(|s| {
            SimUnit::new(creds(key.to_secret()), 0.0, s)
                .unwrap()
                .fault()
                .is_none()
        }));
    }
}
