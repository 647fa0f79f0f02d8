//! Crash safety of the real binary: SIGKILL between acknowledging an incident
//! and sending its alerts, then restart: every alert goes out exactly once,
//! and a second kill after sending sends nothing twice while timers resume.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::post;
use base64::Engine;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_firstlink");

#[derive(Clone, Default)]
struct Mocks {
    pushes: Arc<Mutex<HashMap<String, usize>>>,
    sms: Arc<Mutex<Vec<Value>>>,
}

async fn start_mocks() -> (Mocks, String) {
    let m = Mocks::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = axum::Router::new()
        .route(
            "/push/{sub}",
            post(
                |State(m): State<Mocks>, UrlPath(sub): UrlPath<String>| async move {
                    *m.pushes.lock().unwrap().entry(sub).or_default() += 1;
                    StatusCode::CREATED
                },
            ),
        )
        .route(
            "/sms",
            post(
                |State(m): State<Mocks>, axum::Json(b): axum::Json<Value>| async move {
                    m.sms.lock().unwrap().push(b);
                    axum::Json(json!({ "id": "1" }))
                },
            ),
        )
        .with_state(m.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (m, base)
}

fn admin(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new(BIN)
        .args(["admin", "--data-dir", dir.to_str().unwrap()])
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "admin {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

struct Server {
    child: Child,
    base: String,
}

fn serve(dir: &Path, mocks: &str, vapid: &str, failpoint: Option<&str>) -> Server {
    let mut cmd = Command::new(BIN);
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        dir.to_str().unwrap(),
    ])
    .env("FIRSTLINK_NOTIFY__WEB_PUSH__VAPID_PRIVATE_KEY", vapid)
    .env(
        "FIRSTLINK_NOTIFY__WEB_PUSH__SUBJECT",
        "mailto:ops@example.org",
    )
    .env("FIRSTLINK_NOTIFY__SMS__URL", format!("{mocks}/sms"))
    .env("FIRSTLINK_NOTIFY__SMS__AUTH_TOKEN", "gw")
    .env("FIRSTLINK_NOTIFY__SMS__FROM", "firstlink")
    .env("FIRSTLINK_OUTBOX__BASE_BACKOFF_MS", "100")
    // Tests run side by side: the monitoring endpoint takes any free port.
    .env("FIRSTLINK_MONITOR__BROKER_LISTEN", "127.0.0.1:0")
    .env("RUST_LOG", "warn")
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    match failpoint {
        Some(f) => cmd.env("FIRSTLINK_FAILPOINT", f),
        None => cmd.env_remove("FIRSTLINK_FAILPOINT"),
    };
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let base = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{line}");
    Server { child, base }
}

impl Server {
    /// SIGKILL: no shutdown hooks, no flushing.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

async fn until<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    for _ in 0..secs * 20 {
        if let Some(v) = f() {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn keys() -> (String, String) {
    let sk = p256::SecretKey::random(&mut rand_core::OsRng);
    let point =
        p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&sk.public_key(), false);
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    (b64.encode(point.as_bytes()), b64.encode([7u8; 16]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_between_acknowledgement_and_alerts_loses_nothing_and_sends_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let (mocks, mbase) = start_mocks().await;
    let (vapid, _) = firstlink_notify::generate_vapid_keypair();
    admin(
        dir.path(),
        &[
            "create-region",
            "--slug",
            "crash",
            "--name",
            "Crash test",
            "--timezone",
            "Europe/Copenhagen",
            "--country",
            "DK",
        ],
        &[],
    );
    let out = admin(
        dir.path(),
        &["create-api-key", "--region", "crash", "--name", "cad"],
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
            "ops",
            "--role",
            "admin",
            "--password-env",
            "OPS_PW",
        ],
        &[("OPS_PW", "a long operator password")],
    );

    let http = reqwest::Client::new();
    let s = serve(
        dir.path(),
        &mbase,
        &vapid,
        Some("hold_after_incident_commit"),
    );
    // A short answer time, so that re-armed timers show within the test.
    let op: Value = http
        .post(format!("{}/api/v1/auth/login", s.base))
        .json(&json!({ "username": "ops", "password": "a long operator password" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let op = op["token"].as_str().unwrap().to_string();
    let mut policy: Value = http
        .get(format!("{}/api/v1/regions/crash/policy", s.base))
        .bearer_auth(&op)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    policy["answer_timeout_s"] = json!(8);
    policy["wave_size"] = json!(0);
    policy["replace_declines"] = json!(false);
    let r = http
        .put(format!("{}/api/v1/regions/crash/policy", s.base))
        .bearer_auth(&op)
        .json(&policy)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Three volunteers sign up, verify by SMS, subscribe to push and report a position, as the app does.
    let mut vols = Vec::new();
    for i in 0..3 {
        let phone = format!("+45300000{i:02}");
        let b: Value = http
            .post(format!("{}/api/v1/volunteers/signup", s.base))
            .json(&json!({ "region": "crash", "name": format!("V{i}"), "phone": phone, "password": "volunteer password",
                "language": "en", "birth_date": "1980-01-01", "tier": "including_homes", "consent": true }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let vid = b["volunteer_id"].as_str().unwrap().to_string();
        let text = until(10, "sms", || {
            mocks
                .sms
                .lock()
                .unwrap()
                .iter()
                .find(|m| m["to"] == json!(phone))
                .map(|m| m["text"].as_str().unwrap().to_string())
        })
        .await;
        let digits: String = text.chars().filter(char::is_ascii_digit).collect();
        let code = &digits[digits.len() - 6..];
        let t: Value = http
            .post(format!("{}/api/v1/volunteers/verify", s.base))
            .json(&json!({ "volunteer_id": vid, "code": code }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let tok = t["token"].as_str().unwrap().to_string();
        let (p256dh, auth) = keys();
        let r = http.post(format!("{}/api/v1/me/devices", s.base)).bearer_auth(&tok)
            .json(&json!({ "channel": "web_push", "endpoint": format!("{mbase}/push/{vid}"), "keys": { "p256dh": p256dh, "auth": auth } })).send().await.unwrap();
        assert_eq!(r.status(), 201);
        http.put(format!("{}/api/v1/me/availability", s.base))
            .bearer_auth(&tok)
            .json(&json!({ "available": true, "quiet_hours": null }))
            .send()
            .await
            .unwrap();
        let r = http
            .post(format!("{}/api/v1/me/position", s.base))
            .bearer_auth(&tok)
            .json(&json!({ "lat": 55.6761 + 0.001 * f64::from(i), "lon": 12.5683 }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        vols.push((vid, tok));
    }

    // The incident is acknowledged (durable), then the process dies before planning.
    let r = http
        .post(format!("{}/api/v1/incidents", s.base))
        .bearer_auth(&key)
        .json(&json!({ "external_id": "crash-1", "location": { "lat": 55.6765, "lon": 12.5690 }, "address": "Rådhuspladsen 1",
            "reported_at": chrono::Utc::now().to_rfc3339(), "location_type": "public", "ems_eta_seconds": 600 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    s.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        mocks.pushes.lock().unwrap().is_empty(),
        "nothing was sent before the kill"
    );

    // Restart: the stored incident is planned and every alert goes out once.
    let s = serve(dir.path(), &mbase, &vapid, None);
    let count = |v: &str| mocks.pushes.lock().unwrap().get(v).copied().unwrap_or(0);
    until(20, "alerts after restart", || {
        vols.iter().all(|(v, _)| count(v) >= 1).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    for (v, _) in &vols {
        assert_eq!(count(v), 1, "volunteer {v} alerted exactly once");
    }
    // One accepts; then the process is killed again after the alerts went out.
    let r = http
        .post(format!("{}/api/v1/missions/{id}/accept", s.base))
        .bearer_auth(&vols[0].1)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let acc: Value = r.json().await.unwrap();
    assert_eq!(acc["outcome"], "accepted");
    s.kill();

    let s = serve(dir.path(), &mbase, &vapid, None);
    // Timers were re-armed: the two who did not answer time out (8 s after their alert) and are told so.
    until(30, "time-outs after the second restart", || {
        vols[1..].iter().all(|(v, _)| count(v) == 2).then_some(())
    })
    .await;
    let view: Value = http
        .get(format!("{}/api/v1/incidents/{id}", s.base))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let states: Vec<&str> = view["responders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states.iter().filter(|s| **s == "timed_out").count(),
        2,
        "{view}"
    );
    assert_eq!(
        states.iter().filter(|s| **s == "accepted").count(),
        1,
        "{view}"
    );
    assert_eq!(count(&vols[0].0), 1, "the acceptor got no second alert");
    // The mission still works: the responder is on scene, the dispatcher ends it.
    let r = http
        .post(format!("{}/api/v1/missions/{id}/status", s.base))
        .bearer_auth(&vols[0].1)
        .json(&json!({ "status": "on_scene" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .post(format!("{}/api/v1/incidents/{id}/end", s.base))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    until(10, "end notice", || (count(&vols[0].0) == 2).then_some(())).await;
    s.kill();
}
