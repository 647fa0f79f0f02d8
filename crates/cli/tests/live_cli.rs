//! The command line and a running server agree: with `firstlink serve`
//! running on SQLite, what `admin`, `aeds import`, `devices provision` and
//! `routing build --region` write is in effect on the server within 2 s,
//! with no restart and no 500.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

/// The bound for a CLI write to be in effect on the running server.
const IN_EFFECT: Duration = Duration::from_secs(2);

/// Polls `check` until it holds; returns how long it took, failing past `IN_EFFECT`.
async fn in_effect<F, Fut>(what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let t = Instant::now();
    loop {
        if check().await {
            return t.elapsed();
        }
        assert!(
            t.elapsed() < IN_EFFECT,
            "{what}: not in effect after {IN_EFFECT:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn get(http: &reqwest::Client, url: String, token: &str) -> (u16, Value) {
    let r = http.get(url).bearer_auth(token).send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

fn aed_file(dir: &Path) -> std::path::PathBuf {
    let features: Vec<Value> = (0..3)
        .map(|i| {
            json!({"type": "Feature", "id": format!("t-{i}"),
                "geometry": {"type": "Point", "coordinates": [12.5690 + 0.001 * f64::from(i), 55.6770]},
                "properties": {"emergency": "defibrillator", "name": format!("Live AED {i}"),
                               "opening_hours": "24/7", "access": "yes"}})
        })
        .collect();
    let p = dir.join("aeds.geojson");
    std::fs::write(
        &p,
        serde_json::to_vec(&json!({"type": "FeatureCollection", "features": features})).unwrap(),
    )
    .unwrap();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_writes_take_effect_on_a_running_server_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let (mocks, mbase) = start_mocks().await;
    let (vapid, _) = firstlink_notify::generate_vapid_keypair();
    seed(dir.path(), "first", &[]);
    let s = serve(dir.path(), &mbase, &vapid, &[]);
    let http = reqwest::Client::new();
    let ops = login(&http, &s.base).await;

    // A second region, its API key and its dispatcher, all from the CLI.
    admin(
        dir.path(),
        &[
            "create-region",
            "--slug",
            "second",
            "--name",
            "Second",
            "--timezone",
            "Europe/Copenhagen",
            "--country",
            "DK",
        ],
        &[],
    );
    let took = in_effect("new region listed", || async {
        let (_, v) = get(&http, format!("{}/api/v1/regions", s.base), &ops).await;
        v.to_string().contains("\"second\"")
    })
    .await;
    eprintln!("region visible after {took:?}");
    let out = admin(
        dir.path(),
        &["create-api-key", "--region", "second", "--name", "cad"],
        &[],
    );
    let key = out
        .lines()
        .find_map(|l| l.strip_prefix("dispatch-api-key: "))
        .unwrap()
        .to_string();
    admin(
        dir.path(),
        &[
            "create-operator",
            "--username",
            "disp2",
            "--role",
            "dispatcher",
            "--region",
            "second",
            "--password-env",
            "PW",
        ],
        &[("PW", "another long password")],
    );
    let login2 = || async {
        let r: Value = http
            .post(format!("{}/api/v1/auth/login", s.base))
            .json(&json!({"username": "disp2", "password": "another long password"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap_or(Value::Null);
        r["token"].as_str().map(str::to_string)
    };
    let tok2 = login2().await.expect("the new operator signs in at once");
    let (s2, who) = get(&http, format!("{}/api/v1/auth/whoami", s.base), &tok2).await;
    assert_eq!(s2, 200, "{who}");
    assert!(who.to_string().contains("second"), "{who}");

    // A volunteer of the new region, and an incident posted with the new key: dispatched, no 500.
    let (vid, vtok) = volunteer(&http, &[&s.base], &mocks, &mbase, "second", 0).await;
    let id = post_incident(&http, &s.base, &key, "second-1").await;
    until(10, "the new region's volunteer alerted", || {
        (mocks.count(&vid) >= 1).then_some(())
    })
    .await;
    let r = http
        .post(format!("{}/api/v1/missions/{id}/accept", s.base))
        .bearer_auth(&vtok)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // AEDs imported from the CLI: in the public feed and in dispatch.
    let file = aed_file(dir.path());
    firstlink(
        &[
            "aeds",
            "--data-dir",
            d,
            "import",
            "--region",
            "second",
            "--source",
            "test",
            file.to_str().unwrap(),
        ],
        &[],
    );
    let took = in_effect("imported AEDs in the public feed", || async {
        let v: Value = http
            .get(format!("{}/api/v1/public/aeds?region=second", s.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap_or(Value::Null);
        v["features"].as_array().is_some_and(|f| f.len() == 3)
    })
    .await;
    eprintln!("imported AEDs visible after {took:?}");
    let (st, cov) = get(
        &http,
        format!(
            "{}/api/v1/coverage?region=second&bbox=12.56,55.67,12.58,55.68",
            s.base
        ),
        &ops,
    )
    .await;
    assert_eq!(st, 200, "{cov}");
    assert!(
        cov["cells"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["aeds"].as_u64() > Some(0)),
        "dispatch sees the imported AEDs: {cov}"
    );

    // Units provisioned from the CLI are accepted at once.
    let creds = dir.path().join("units.json");
    firstlink(
        &[
            "devices",
            "--data-dir",
            d,
            "provision",
            "--region",
            "second",
            "--out",
            creds.to_str().unwrap(),
        ],
        &[],
    );
    let units: Vec<Value> = serde_json::from_slice(&std::fs::read(&creds).unwrap()).unwrap();
    assert_eq!(units.len(), 3);
    let (uid, secret) = (
        units[0]["id"].as_str().unwrap().to_string(),
        units[0]["secret"].as_str().unwrap().to_string(),
    );
    let took = in_effect("provisioned unit accepted", || async {
        let body = json!({"t": {"ts": chrono::Utc::now().timestamp(), "seq": 1, "light": "ok", "temp_c": 21.0}});
        let r = http
            .post(format!("{}/api/v1/units/{uid}/telemetry", s.base))
            .bearer_auth(&secret)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert!(r.status().as_u16() < 500, "{}", r.status());
        r.status() == 202
    })
    .await;
    eprintln!("provisioned unit accepted after {took:?}");

    // A graph built from the CLI: the responder's route follows streets.
    let route_points = || async {
        let (st, r) = get(
            &http,
            format!("{}/api/v1/missions/{id}/route", s.base),
            &vtok,
        )
        .await;
        assert_eq!(st, 200, "{r}");
        r.to_string().matches("],[").count()
    };
    let straight = route_points().await;
    let extract = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/osm/copenhagen.osm.pbf"
    );
    firstlink(
        &[
            "routing",
            "build",
            extract,
            "--region",
            "second",
            "--data-dir",
            d,
        ],
        &[],
    );
    let took = in_effect("graph in use", || async {
        route_points().await > straight + 3
    })
    .await;
    eprintln!("graph in use after {took:?}");

    // A boundary set from the CLI: an incident outside it is refused, at once.
    let b = dir.path().join("boundary.geojson");
    std::fs::write(
        &b,
        json!({"type": "Feature", "properties": {}, "geometry": {"type": "Polygon",
            "coordinates": [[[9.47, 47.05], [9.64, 47.05], [9.64, 47.27], [9.47, 47.27], [9.47, 47.05]]]}})
        .to_string(),
    )
    .unwrap();
    admin(
        dir.path(),
        &[
            "set-partition",
            "--region",
            "second",
            "--boundary",
            b.to_str().unwrap(),
            "--margin-m",
            "100",
        ],
        &[],
    );
    let took = in_effect("boundary in force", || async {
        let r = http
            .post(format!("{}/api/v1/incidents", s.base))
            .bearer_auth(&key)
            .json(
                &json!({"external_id": format!("out-{}", uuid::Uuid::new_v4()),
                "location": {"lat": 55.6765, "lon": 12.5690}, "address": "Rådhuspladsen 1",
                "reported_at": chrono::Utc::now().to_rfc3339(), "location_type": "public"}),
            )
            .send()
            .await
            .unwrap();
        let st = r.status().as_u16();
        assert!(st == 201 || st == 422, "{st}");
        st == 422
    })
    .await;
    eprintln!("boundary in force after {took:?}");

    // Nothing of this needed a restart, and the server still answers.
    let (st, _) = get(&http, format!("{}/api/v1/incidents/{id}", s.base), &key).await;
    assert_eq!(st, 200);
    s.kill();
}
