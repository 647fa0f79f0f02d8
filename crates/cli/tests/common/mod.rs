//! What the binary's process-level tests share: local mock push and SMS
//! providers, the `admin` command, starting `serve` and reading its address,
//! volunteers set up as the app does it, waiting for a condition.

#![allow(dead_code)]

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

pub const BIN: &str = env!("CARGO_BIN_EXE_firstlink");

#[derive(Clone, Default)]
pub struct Mocks {
    pub pushes: Arc<Mutex<HashMap<String, usize>>>,
    pub sms: Arc<Mutex<Vec<Value>>>,
}

impl Mocks {
    /// Pushes received for one subscriber (the volunteer id in the endpoint).
    pub fn count(&self, subscriber: &str) -> usize {
        self.pushes
            .lock()
            .unwrap()
            .get(subscriber)
            .copied()
            .unwrap_or(0)
    }
}

/// A push service at `<base>/push/<subscriber>` and an SMS gateway at `<base>/sms`.
pub async fn start_mocks() -> (Mocks, String) {
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

/// Runs the `firstlink` binary to completion; its stdout, or a failure with its stderr.
pub fn firstlink(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn admin(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut all = vec!["admin", "--data-dir", dir.to_str().unwrap()];
    all.extend_from_slice(args);
    firstlink(&all, env)
}

/// A region `slug`, a dispatch API key (returned) and an admin `ops`.
pub fn seed(dir: &Path, slug: &str, env: &[(&str, &str)]) -> String {
    admin(
        dir,
        &[
            "create-region",
            "--slug",
            slug,
            "--name",
            "Test region",
            "--timezone",
            "Europe/Copenhagen",
            "--country",
            "DK",
        ],
        env,
    );
    let out = admin(
        dir,
        &["create-api-key", "--region", slug, "--name", "cad"],
        env,
    );
    let key = out
        .lines()
        .find_map(|l| l.strip_prefix("dispatch-api-key: "))
        .unwrap()
        .to_string();
    let mut env = env.to_vec();
    env.push(("OPS_PW", "a long operator password"));
    admin(
        dir,
        &[
            "create-operator",
            "--username",
            "ops",
            "--role",
            "admin",
            "--password-env",
            "OPS_PW",
        ],
        &env,
    );
    key
}

pub struct Server {
    pub child: Child,
    pub base: String,
}

/// `firstlink serve` on a free port, with notifications going to the mocks;
/// returns once it has loaded its state and prints its address.
pub fn serve(dir: &Path, mocks: &str, vapid: &str, env: &[(&str, &str)]) -> Server {
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
    .env_remove("FIRSTLINK_FAILPOINT")
    .envs(env.iter().copied())
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
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
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

pub async fn until<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    for _ in 0..secs * 20 {
        if let Some(v) = f() {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Subscription keys as a browser makes them.
pub fn keys() -> (String, String) {
    let sk = p256::SecretKey::random(&mut rand_core::OsRng);
    let point =
        p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&sk.public_key(), false);
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    (b64.encode(point.as_bytes()), b64.encode([7u8; 16]))
}

pub async fn login(http: &reqwest::Client, base: &str) -> String {
    let op: Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({ "username": "ops", "password": "a long operator password" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    op["token"].as_str().unwrap().to_string()
}

/// Sets a short answer time and no further waves, so timers show in a test.
pub async fn short_policy(http: &reqwest::Client, base: &str, op: &str, slug: &str, answer_s: u32) {
    let mut policy: Value = http
        .get(format!("{base}/api/v1/regions/{slug}/policy"))
        .bearer_auth(op)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    policy["answer_timeout_s"] = json!(answer_s);
    policy["wave_size"] = json!(0);
    policy["replace_declines"] = json!(false);
    let r = http
        .put(format!("{base}/api/v1/regions/{slug}/policy"))
        .bearer_auth(op)
        .json(&policy)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// A volunteer signs up, verifies by SMS, subscribes to push, turns
/// availability on and reports a position near Copenhagen's city hall, as
/// the app does. Step `k` goes to `bases[k % bases.len()]`, so with several
/// nodes each step lands on another one. Returns (volunteer id, token).
pub async fn volunteer(
    http: &reqwest::Client,
    bases: &[&str],
    mocks: &Mocks,
    mbase: &str,
    slug: &str,
    i: usize,
) -> (String, String) {
    let at = |k: usize| bases[(i + k) % bases.len()];
    let phone = format!("+45300000{i:02}");
    let b: Value = http
        .post(format!("{}/api/v1/volunteers/signup", at(0)))
        .json(&json!({ "region": slug, "name": format!("V{i}"), "phone": phone, "password": "volunteer password",
            "language": "en", "birth_date": "1980-01-01", "tier": "including_homes", "consent": true }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let vid = b["volunteer_id"]
        .as_str()
        .unwrap_or_else(|| panic!("signup: {b}"))
        .to_string();
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
        .post(format!("{}/api/v1/volunteers/verify", at(1)))
        .json(&json!({ "volunteer_id": vid, "code": code }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tok = t["token"]
        .as_str()
        .unwrap_or_else(|| panic!("verify: {t}"))
        .to_string();
    let (p256dh, auth) = keys();
    let r = http
        .post(format!("{}/api/v1/me/devices", at(2)))
        .bearer_auth(&tok)
        .json(&json!({ "channel": "web_push", "endpoint": format!("{mbase}/push/{vid}"), "keys": { "p256dh": p256dh, "auth": auth } }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = http
        .put(format!("{}/api/v1/me/availability", at(3)))
        .bearer_auth(&tok)
        .json(&json!({ "available": true, "quiet_hours": null }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "availability: {}", r.status());
    let r = http
        .post(format!("{}/api/v1/me/position", at(4)))
        .bearer_auth(&tok)
        .json(&json!({ "lat": 55.6761 + 0.001 * i as f64, "lon": 12.5683 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    (vid, tok)
}

/// An incident at Copenhagen's city hall square; returns its id.
pub async fn post_incident(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    external_id: &str,
) -> String {
    let r = http
        .post(format!("{base}/api/v1/incidents"))
        .bearer_auth(key)
        .json(&json!({ "external_id": external_id, "location": { "lat": 55.6765, "lon": 12.5690 }, "address": "Rådhuspladsen 1",
            "reported_at": chrono::Utc::now().to_rfc3339(), "location_type": "public", "ems_eta_seconds": 600 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}
