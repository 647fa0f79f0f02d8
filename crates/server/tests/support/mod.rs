//! Test harness: a real server on port 0 with its own database, a local mock
//! push service and helpers that act as the CAD and the phones would.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine;
use chrono::Utc;
use firstlink_domain::geo::LatLon;
use firstlink_domain::ids::{RegionId, VolunteerId};
use firstlink_domain::policy::DispatchPolicy;
use firstlink_domain::volunteer::Tier;
use firstlink_server::api::admin::{NewRegion, create_key_checked, create_region_checked};
use firstlink_server::auth::{hash_password, random_secret, sha256_hex};
use firstlink_server::{App, Config};
use firstlink_store::{Operator, OperatorRole, Session, SessionKind, Volunteer};
use serde_json::{Value, json};

/// One push received by the mock push service.
#[derive(Debug, Clone)]
pub struct Push {
    pub subscriber: String,
    pub urgency: String,
    pub topic: String,
    pub ttl: String,
}

#[derive(Clone, Default)]
pub struct MockPush {
    pub received: Arc<Mutex<Vec<Push>>>,
    /// Subscribers whose endpoint answers 410 Gone.
    pub gone: Arc<Mutex<Vec<String>>>,
    pub base: String,
}

impl MockPush {
    pub async fn start() -> Self {
        let mut m = MockPush::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        m.base = format!("http://{}", listener.local_addr().unwrap());
        let state = m.clone();
        let router = axum::Router::new()
            .route("/push/{sub}", post(push))
            .with_state(state);
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        m
    }

    pub fn count(&self, subscriber: &str) -> usize {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.subscriber == subscriber)
            .count()
    }

    pub fn all(&self) -> Vec<Push> {
        self.received.lock().unwrap().clone()
    }
}

async fn push(State(m): State<MockPush>, Path(sub): Path<String>, h: HeaderMap) -> StatusCode {
    if m.gone.lock().unwrap().contains(&sub) {
        return StatusCode::GONE;
    }
    let g = |k: &str| {
        h.get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    m.received.lock().unwrap().push(Push {
        subscriber: sub,
        urgency: g("urgency"),
        topic: g("topic"),
        ttl: g("ttl"),
    });
    StatusCode::CREATED
}

/// A local SMS gateway that records the JSON bodies it is asked to send.
#[derive(Clone, Default)]
pub struct MockSms {
    pub sent: Arc<Mutex<Vec<Value>>>,
    pub url: String,
}

impl MockSms {
    pub async fn start() -> Self {
        let mut m = MockSms::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        m.url = format!("http://{}/sms", listener.local_addr().unwrap());
        let sent = Arc::clone(&m.sent);
        let router = axum::Router::new().route(
            "/sms",
            post(move |axum::Json(b): axum::Json<Value>| {
                let sent = Arc::clone(&sent);
                async move {
                    sent.lock().unwrap().push(b);
                    axum::Json(json!({ "id": "msg-1" }))
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        m
    }

    /// The gateway settings for `Config::notify.sms`.
    pub fn config(&self) -> firstlink_notify::SmsConfig {
        serde_json::from_value(
            json!({ "url": self.url, "auth_token": "gw-secret", "from": "firstlink" }),
        )
        .unwrap()
    }

    pub fn all(&self) -> Vec<Value> {
        self.sent.lock().unwrap().clone()
    }
}

pub struct TestApp {
    pub app: Arc<App>,
    pub base: String,
    pub http: reqwest::Client,
    pub push: MockPush,
    _dir: Option<tempfile::TempDir>,
}

/// A P-256 key pair and auth secret as a browser would make for a subscription.
pub fn subscription_keys() -> (String, String) {
    let sk = p256::SecretKey::random(&mut rand_core::OsRng);
    let pk = sk.public_key();
    let point = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&pk, false);
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut auth = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut auth);
    (b64.encode(point.as_bytes()), b64.encode(auth))
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut t = spawn_app_in(dir.path(), configure).await;
    t._dir = Some(dir);
    t
}

/// A server on its own runtime: stopping it ends every task of it at once,
/// as when the process stops, and another can start on the same data
/// directory.
pub struct Stoppable {
    pub t: TestApp,
    rt: Option<tokio::runtime::Runtime>,
}

/// Starts a server on `dir` (kept by the caller) on a runtime of its own.
pub async fn start_stoppable(
    dir: &std::path::Path,
    configure: impl FnOnce(&mut Config) + Send + 'static,
) -> Stoppable {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = dir.to_path_buf();
    let mut t = rt
        .spawn(async move { spawn_app_in(&dir, configure).await })
        .await
        .unwrap();
    // The caller's requests run on the caller's runtime.
    t.http = reqwest::Client::new();
    Stoppable { t, rt: Some(rt) }
}

impl Stoppable {
    /// Stops the server: its listeners, workers and timers end.
    pub async fn stop(mut self) {
        let rt = self.rt.take();
        drop(self.t);
        if let Some(rt) = rt {
            tokio::task::spawn_blocking(move || rt.shutdown_timeout(Duration::from_secs(10)))
                .await
                .unwrap();
        }
    }
}

/// A server on the data directory `dir`, which the caller keeps.
#[allow(clippy::field_reassign_with_default)]
pub async fn spawn_app_in(dir: &std::path::Path, configure: impl FnOnce(&mut Config)) -> TestApp {
    let push = MockPush::start().await;
    let (private, _) = firstlink_notify::generate_vapid_keypair();
    let mut config = Config::default();
    config.listen = "127.0.0.1:0".into();
    config.data_dir = dir.to_path_buf();
    config.public_rate_per_minute = 1_000;
    config.outbox.base_backoff_ms = 100;
    config.monitor.broker_listen = "127.0.0.1:0".into();
    config.notify = serde_json::from_value(json!({
        "web_push": { "vapid_private_key": private, "subject": "mailto:test@example.org" },
        "webhook": {}
    }))
    .unwrap();
    configure(&mut config);
    let app = firstlink_server::start(config).await.unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let a2 = Arc::clone(&app);
    tokio::spawn(async move {
        firstlink_server::serve(a2, |addr| {
            let _ = tx.send(addr);
        })
        .await
        .unwrap();
    });
    let addr = rx.await.unwrap();
    TestApp {
        app,
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
        push,
        _dir: None,
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A quick policy for tests: short timeouts, small waves.
pub fn fast_policy(base: DispatchPolicy) -> DispatchPolicy {
    DispatchPolicy {
        answer_timeout_s: 5,
        wave_interval_s: 5,
        replace_delay_s: 0,
        ..base
    }
}

pub fn cph() -> LatLon {
    LatLon::new(55.6761, 12.5683).unwrap()
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A region with `policy` and a dispatch key for it.
    pub async fn region(&self, slug: &str, policy: DispatchPolicy) -> (RegionId, String) {
        let r = create_region_checked(
            &self.app,
            NewRegion {
                slug: slug.into(),
                name: slug.into(),
                timezone: "Europe/Copenhagen".into(),
                country: "DK".into(),
                preset: None,
            },
        )
        .await
        .unwrap();
        self.app.store.update_policy(r.id, &policy).await.unwrap();
        firstlink_server::changes::apply(&self.app, vec![firstlink_store::Change::Region(r.id)])
            .await;
        let (_, key) = create_key_checked(&self.app, r.id, "test CAD")
            .await
            .unwrap();
        (r.id, key)
    }

    /// An operator account; returns a session token from the login endpoint.
    pub async fn operator(
        &self,
        username: &str,
        role: OperatorRole,
        regions: Vec<RegionId>,
    ) -> String {
        let pw = "correct horse battery";
        self.app
            .store
            .create_operator(&Operator {
                id: uuid::Uuid::now_v7(),
                username: username.into(),
                password_hash: hash_password(pw).unwrap(),
                role,
                regions,
                created_at: Utc::now(),
                disabled_at: None,
            })
            .await
            .unwrap();
        let r: Value = self
            .http
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({ "username": username, "password": pw }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["token"].as_str().unwrap().to_string()
    }

    /// A verified, available volunteer at `pos` with a Web Push subscription
    /// pointing at the mock, registered and positioned over HTTP as the app
    /// would. Returns the id and a session token.
    pub async fn volunteer(
        &self,
        region: RegionId,
        pos: LatLon,
        tier: Tier,
    ) -> (VolunteerId, String) {
        let now = Utc::now();
        let v = Volunteer {
            id: VolunteerId::new(),
            region_id: region,
            name: format!("Vol {}", &random_secret()[..6]),
            phone: None,
            email: Some(format!(
                "{}@example.org",
                random_secret()[..10].to_lowercase()
            )),
            password_hash: "x".into(),
            language: "en".into(),
            languages: vec!["en".into()],
            birth_date: chrono::NaiveDate::from_ymd_opt(1990, 1, 1).unwrap(),
            tier,
            training_kind: Some("BLS".into()),
            training_date: chrono::NaiveDate::from_ymd_opt(2026, 1, 1),
            consent_at: Some(now),
            verified_at: Some(now),
            suspended_at: None,
            available: false,
            quiet: None,
            created_at: now,
        };
        self.app.store.create_volunteer(&v).await.unwrap();
        firstlink_server::changes::apply(&self.app, vec![firstlink_store::Change::Volunteer(v.id)])
            .await;
        let token = format!("flv_{}", random_secret());
        self.app
            .store
            .create_session(&Session {
                token_hash: sha256_hex(&token),
                kind: SessionKind::Volunteer,
                subject: v.id.0,
                created_at: now,
                expires_at: now + chrono::Duration::days(1),
            })
            .await
            .unwrap();
        let (p256dh, auth) = subscription_keys();
        let r = self
            .http
            .post(self.url("/api/v1/me/devices"))
            .bearer_auth(&token)
            .json(&json!({ "channel": "web_push", "endpoint": format!("{}/push/{}", self.push.base, v.id), "keys": { "p256dh": p256dh, "auth": auth } }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        let r = self
            .http
            .put(self.url("/api/v1/me/availability"))
            .bearer_auth(&token)
            .json(&json!({ "available": true, "quiet_hours": null }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let r = self
            .http
            .post(self.url("/api/v1/me/position"))
            .bearer_auth(&token)
            .json(&json!({ "lat": pos.lat, "lon": pos.lon }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        (v.id, token)
    }

    /// An AED record as an operator would enter it.
    pub async fn aed(
        &self,
        region: RegionId,
        name: &str,
        pos: LatLon,
        hours: &str,
        code: Option<&str>,
    ) -> firstlink_domain::ids::AedId {
        let a = firstlink_store::Aed {
            id: firstlink_domain::ids::AedId::new(),
            region_id: region,
            name: name.into(),
            position: pos,
            access: firstlink_domain::aed::AedAccess::Public,
            opening_hours: Some(hours.into()),
            readiness: firstlink_domain::aed::Readiness::Unmonitored,
            status: firstlink_store::AedStatus::Active,
            details: firstlink_store::AedDetails {
                access_code: code.map(String::from),
                locked: Some(code.is_some()),
                ..Default::default()
            },
            updated_at: Utc::now(),
        };
        self.app.store.upsert_aed(&a).await.unwrap();
        let rt = self.app.region(region).unwrap();
        self.app.aeds_mut().upsert(a.clone(), rt.tz, "DK");
        a.id
    }

    pub async fn post_incident(&self, key: &str, body: Value) -> reqwest::Response {
        self.http
            .post(self.url("/api/v1/incidents"))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get_json(&self, token: &str, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn put_json(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .put(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn patch_json(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .patch(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_json(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }
}

pub fn incident_body(external_id: &str, at: LatLon) -> Value {
    json!({
        "external_id": external_id,
        "location": { "lat": at.lat, "lon": at.lon },
        "address": "Vesterbrogade 1, 1620 København V",
        "reported_at": Utc::now().to_rfc3339(),
        "location_type": "public",
        "ems_eta_seconds": 900,
        "notes": "2nd floor, door code 1234"
    })
}

/// Posts an incident at `at`; returns its id.
pub async fn incident(t: &TestApp, key: &str, ext: &str, at: LatLon) -> String {
    let r = t.post_incident(key, incident_body(ext, at)).await;
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Waits until the volunteer with session `tok` has an alert.
pub async fn alerted(t: &TestApp, tok: &str) {
    eventually(20, "alert", || async {
        (t.get_json(tok, "/api/v1/me/alert").await.0 == 200).then_some(())
    })
    .await;
}

/// Polls `f` until it returns Some, or panics after `secs`.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let end = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if tokio::time::Instant::now() > end {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn states(view: &Value) -> HashMap<String, String> {
    view["responders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["volunteer_id"].as_str().unwrap().to_string(),
                r["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}
