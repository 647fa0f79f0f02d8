//! Many incidents at once, near each other, half of them cancelled at once,
//! while volunteers report positions: every incident is planned and the
//! server keeps answering.
//!
//! The server runs on its own runtime (as in production, two workers), so a
//! server that stalls — e.g. two paths taking the index and AED locks in
//! opposite orders — fails this test on the test's own timer instead of
//! hanging it.

mod support;

use std::sync::Arc;
use std::time::Duration;

use firstlink_domain::geo::LatLon;
use firstlink_domain::policy::DispatchPolicy;
use firstlink_domain::volunteer::Tier;
use serde_json::json;
use support::*;

fn near(i: usize, spread: f64) -> LatLon {
    // A deterministic scatter over about ±1 km.
    let a = (i as f64 * 2.399_963).sin() * spread;
    let b = (i as f64 * 1.618_034).cos() * spread;
    LatLon::new(55.6761 + a * 0.009, 12.5683 + b * 0.016).unwrap()
}

#[test]
fn concurrent_incidents_are_all_planned_and_the_server_keeps_answering() {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let t = spawn_app().await;
            let (region, key) = t
                .region("load", fast_policy(DispatchPolicy::firstlink()))
                .await;
            for i in 0..12 {
                t.aed(region, &format!("AED {i}"), near(i * 7, 1.0), "24/7", None)
                    .await;
            }
            let mut toks = Vec::new();
            for i in 0..60 {
                toks.push(
                    t.volunteer(region, near(i, 1.0), Tier::IncludingHomes)
                        .await
                        .1,
                );
            }
            tx.send((t.base.clone(), key, toks, Arc::clone(&t.app), region))
                .unwrap();
            // Keep the server (and its runtime) alive until the process ends.
            let _keep = t;
            std::future::pending::<()>().await;
        });
    });
    let (base, key, toks, app, region) = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("server set-up");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
        let work = async {
            let mut tasks = Vec::new();
            for w in 0..16usize {
                let (http, base, key) = (http.clone(), base.clone(), key.clone());
                tasks.push(tokio::spawn(async move {
                    for n in 0..15usize {
                        let at = near(w * 31 + n, 1.0);
                        let r = http
                            .post(format!("{base}/api/v1/incidents"))
                            .bearer_auth(&key)
                            .json(&json!({ "external_id": format!("load-{w}-{n}"), "location": { "lat": at.lat, "lon": at.lon },
                                "address": "Somewhere 1", "reported_at": chrono::Utc::now().to_rfc3339(),
                                "location_type": "public", "ems_eta_seconds": 600 }))
                            .send()
                            .await
                            .expect("the server answers");
                        assert_eq!(r.status(), 201);
                        // Every other one is cancelled at once: its volunteers and AEDs
                        // are freed while the next incidents are being planned.
                        if n % 2 == 1 {
                            let id = r.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_string();
                            let r = http.post(format!("{base}/api/v1/incidents/{id}/cancel")).bearer_auth(&key).send().await.expect("the server answers");
                            assert!(r.status().is_success() || r.status() == 409, "cancel: {}", r.status());
                        }
                    }
                }));
            }
            for (i, tok) in toks.iter().enumerate() {
                let (http, base, tok) = (http.clone(), base.clone(), tok.clone());
                tasks.push(tokio::spawn(async move {
                    for n in 0..10usize {
                        let p = near(i + n, 1.0);
                        let r = http.post(format!("{base}/api/v1/me/position")).bearer_auth(&tok).json(&json!({ "lat": p.lat, "lon": p.lon })).send().await.expect("the server answers");
                        assert_eq!(r.status(), 204);
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            // Every acknowledged incident gets planned (or was cancelled first).
            for _ in 0..200 {
                let all = app.store.missions(region, false, 1_000).await.unwrap();
                if all.len() == 240 && all.iter().all(|m| m.mission.started || !m.mission.is_live()) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("not every incident was planned");
        };
        tokio::time::timeout(Duration::from_secs(120), work).await.expect("the server stalled under concurrent incidents");
        let r = http.get(format!("{base}/health")).send().await.expect("still answering");
        assert_eq!(r.status(), 200);
    });
}
