//! What a dispatch centre feels, end to end: `POST /api/v1/incidents` until
//! the first push notification is accepted by the (local, mock) Web Push
//! provider, with many volunteers indexed and missions already live. And how
//! soon a write by another process on the same SQLite file (what the CLI
//! does) is visible in the running server.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use firstlink_domain::geo::LatLon;
use firstlink_domain::policy::DispatchPolicy;
use firstlink_store::{Change, Device, PositionFix, Recipient};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use crate::stats::{Samples, Table, ms, thousands};

pub struct Args {
    pub seed: u64,
    pub volunteers: usize,
    pub live: usize,
    pub incidents: usize,
    pub feed_samples: usize,
}

/// Arrival times of the pushes the mock provider accepted.
#[derive(Clone, Default)]
struct Mock(Arc<Mutex<Vec<Instant>>>);

async fn accept(State(m): State<Mock>) -> StatusCode {
    m.0.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Instant::now());
    StatusCode::CREATED
}

impl Mock {
    fn first_after(&self, t: Instant) -> Option<Instant> {
        let v = self.0.lock().unwrap_or_else(|e| e.into_inner());
        v.iter().copied().filter(|x| *x >= t).min()
    }
    fn last(&self) -> Option<Instant> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last()
            .copied()
    }
}

/// A browser-like subscription key pair (the server encrypts to it).
fn subscription() -> (String, String) {
    let (_, public) = firstlink_notify::generate_vapid_keypair();
    (public, "AAAAAAAAAAAAAAAAAAAAAA".into())
}

fn around(rng: &mut ChaCha8Rng, c: LatLon, metres: f64) -> LatLon {
    c.offset(rng.gen_range(0.0..360.0), rng.gen_range(0.0..metres))
}

pub fn run(a: &Args) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(go(a))
}

async fn go(a: &Args) -> anyhow::Result<()> {
    let mock = Mock::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let mock_base = format!("http://{}", listener.local_addr()?);
    let router = axum::Router::new()
        .route("/push/{sub}", axum::routing::post(accept))
        .with_state(mock.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let dir = tempfile::Builder::new()
        .prefix("firstlink-bench-")
        .tempdir()?;
    let (vapid, _) = firstlink_notify::generate_vapid_keypair();
    let mut config = firstlink_server::Config {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        log_format: "text".into(),
        ..firstlink_server::Config::default()
    };
    config.monitor.broker_listen = "127.0.0.1:0".into();
    config.notify = serde_json::from_value(json!({
        "web_push": { "vapid_private_key": vapid, "subject": "mailto:bench@example.org" }
    }))?;
    let app = firstlink_server::build(config.clone())?;
    firstlink_server::launch(&app).await?;
    let region = firstlink_server::api::admin::create_region_checked(
        &app,
        firstlink_server::api::admin::NewRegion {
            slug: "bench".into(),
            name: "Bench".into(),
            timezone: "Europe/Copenhagen".into(),
            country: "DK".into(),
            preset: None,
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("create region: {e:?}"))?;
    // Live missions stay quiet: long answer times, no further waves.
    let policy = DispatchPolicy {
        answer_timeout_s: 3_600,
        wave_interval_s: 3_600,
        max_mission_s: 7_200,
        ..DispatchPolicy::firstlink()
    };
    app.store.update_policy(region.id, &policy).await?;
    firstlink_server::changes::apply(&app, vec![Change::Region(region.id)]).await;
    let (_, key) = firstlink_server::api::admin::create_key_checked(&app, region.id, "bench")
        .await
        .map_err(|e| anyhow::anyhow!("create key: {e:?}"))?;

    // Volunteers within 6 km of central Copenhagen, each with a Web Push subscription.
    let t = Instant::now();
    let kind = crate::seed::Kind {
        id_tag: 0xD0,
        token_tag: "disp",
        phone_prefix: "+4591",
    };
    let (vols, tokens) = crate::seed::volunteers(a.seed, region.id, a.volunteers, &kind);
    crate::seed::write(&app.store, &vols, &tokens, 512).await?;
    let cph = LatLon::new(55.6761, 12.5683)?;
    let mut rng = ChaCha8Rng::seed_from_u64(a.seed);
    let now = Utc::now().timestamp() as u32;
    let fixes: Vec<PositionFix> = vols
        .iter()
        .map(|v| PositionFix {
            volunteer: v.id,
            position: around(&mut rng, cph, 6_000.0),
            at_unix: now,
        })
        .collect();
    for chunk in fixes.chunks(5_000) {
        app.store.save_positions(chunk).await?;
    }
    let (p256dh, auth) = subscription();
    futures_util::future::try_join_all(vols.chunks(2_000).map(|chunk| {
        let store = Arc::clone(&app.store);
        let (p256dh, auth, base) = (p256dh.clone(), auth.clone(), mock_base.clone());
        async move {
            for v in chunk {
                store
                    .add_device(&Device {
                        id: uuid::Uuid::now_v7(),
                        volunteer: v.id,
                        recipient: Recipient::WebPush {
                            endpoint: format!("{base}/push/{}", v.id),
                            p256dh: p256dh.clone(),
                            auth: auth.clone(),
                        },
                        created_at: Utc::now(),
                    })
                    .await?;
            }
            anyhow::Ok(())
        }
    }))
    .await?;
    firstlink_server::changes::apply(&app, vec![Change::Resync]).await;
    println!(
        "{} volunteers with positions and push subscriptions in {:.1} s; {} indexed",
        thousands(vols.len() as f64),
        t.elapsed().as_secs_f64(),
        thousands(app.index().positioned() as f64)
    );

    let (tx, rx) = tokio::sync::oneshot::channel();
    let app2 = Arc::clone(&app);
    tokio::spawn(async move {
        let _ = firstlink_server::serve(app2, move |addr| {
            let _ = tx.send(addr);
        })
        .await;
    });
    let base = format!("http://{}", rx.await.context("server did not bind")?);
    let http = reqwest::Client::new();
    let post = |ext: String, at: LatLon| {
        let (http, base, key) = (http.clone(), base.clone(), key.clone());
        async move {
            let r = http
                .post(format!("{base}/api/v1/incidents"))
                .bearer_auth(&key)
                .json(&json!({"external_id": ext, "location": {"lat": at.lat, "lon": at.lon},
                    "address": "Bench", "reported_at": Utc::now().to_rfc3339(), "location_type": "public"}))
                .send()
                .await?;
            anyhow::ensure!(
                r.status().as_u16() == 201,
                "POST /incidents: {}",
                r.status()
            );
            let v: serde_json::Value = r.json().await?;
            anyhow::Ok(v["id"].as_str().unwrap_or_default().to_string())
        }
    };
    let quiet = |mock: Mock| async move {
        // Until nothing has arrived for 300 ms.
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if mock
                .last()
                .is_none_or(|l| l.elapsed() > Duration::from_millis(300))
            {
                return;
            }
        }
    };
    for i in 0..a.live {
        post(format!("live-{i}"), around(&mut rng, cph, 5_000.0)).await?;
    }
    quiet(mock.clone()).await;
    println!(
        "{} live missions, {} pushes sent for them; {} live in the runtime",
        a.live,
        mock.0.lock().map(|v| v.len()).unwrap_or(0),
        app.missions.live_count()
    );

    let mut e2e = Samples::with_capacity(a.incidents);
    let mut ack = Samples::with_capacity(a.incidents);
    for i in 0..a.incidents {
        let t0 = Instant::now();
        let id = post(format!("m-{i}"), around(&mut rng, cph, 5_000.0)).await?;
        ack.push(t0.elapsed());
        let first = loop {
            if let Some(f) = mock.first_after(t0) {
                break f;
            }
            anyhow::ensure!(t0.elapsed() < Duration::from_secs(10), "no push for {id}");
            tokio::time::sleep(Duration::from_micros(200)).await;
        };
        e2e.push(first - t0);
        // End it, and let its stand-down notices pass before the next call.
        let _ = http
            .post(format!("{base}/api/v1/incidents/{id}/cancel"))
            .bearer_auth(&key)
            .json(&json!({"reason": "bench"}))
            .send()
            .await?;
        quiet(mock.clone()).await;
    }
    e2e.sort();
    ack.sort();
    let mut t = Table::new(
        &format!(
            "POST /incidents → first push accepted by the mock provider ({} volunteers, {} live missions, {} incidents one at a time)",
            thousands(a.volunteers as f64),
            a.live,
            a.incidents
        ),
        &["what", "p50", "p99", "max"],
    );
    for (name, s) in [("201 answered", &ack), ("first push accepted", &e2e)] {
        t.row(vec![
            name.into(),
            ms(s.pct_ms(0.5)),
            ms(s.pct_ms(0.99)),
            ms(s.max_ms()),
        ]);
    }
    t.print();

    // Another process's write (a second store on the same file, as the CLI
    // opens it) until the running server's view shows it.
    let other = firstlink_server::open_store(&config)?;
    let mut seen = Samples::with_capacity(a.feed_samples);
    for i in 0..a.feed_samples {
        let slug = format!("cli-{i}");
        let t0 = Instant::now();
        other
            .create_region(&firstlink_store::Region {
                id: firstlink_domain::ids::RegionId::new(),
                slug: slug.clone(),
                name: slug.clone(),
                timezone: "Europe/Copenhagen".into(),
                country: "DK".into(),
                policy: DispatchPolicy::firstlink(),
                created_at: Utc::now(),
            })
            .await?;
        let committed = t0.elapsed();
        while app.region_by_slug(&slug).is_none() {
            anyhow::ensure!(
                t0.elapsed() < Duration::from_secs(5),
                "region {slug} never seen"
            );
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        seen.push(t0.elapsed() - committed);
        // Writes arrive at any moment relative to the feed's tick.
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..200))).await;
    }
    seen.sort();
    let mut t = Table::new(
        &format!(
            "write committed by another process → visible in the running server ({} samples)",
            a.feed_samples
        ),
        &["p50", "p99", "max"],
    );
    t.row(vec![
        ms(seen.pct_ms(0.5)),
        ms(seen.pct_ms(0.99)),
        ms(seen.max_ms()),
    ]);
    t.print();
    Ok(())
}
