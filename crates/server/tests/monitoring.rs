//! AED readiness monitoring end to end: units publish with a real MQTT
//! client through the Mosquitto broker on 127.0.0.1:1883 and through the
//! embedded endpoint; a fault opens exactly one ticket, a technician's
//! webhook receives it, dispatch stops offering the AED within a second,
//! and the ticket is marked when the AED reports ok again. Also: a mission
//! whose nearest AED turns faulty, LoRaWAN uplinks, the HTTPS ingest and
//! its bad inputs, a silent unit on a driven clock.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::post;
use chrono::Utc;
use firstlink_domain::aed::{AedSource, Readiness};
use firstlink_domain::geo::LatLon;
use firstlink_domain::ids::{AedId, RegionId};
use firstlink_domain::policy::DispatchPolicy;
use firstlink_domain::volunteer::Tier;
use firstlink_monitor::{Reading, Signal, StatusLight, UnitKey, encode_binary, encode_json};
use firstlink_store::{MonitorUnit, OperatorRole, Ticket, TicketState};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{Value, json};
use support::*;

const MOSQUITTO: &str = "mqtt://127.0.0.1:1883";

/// Webhook bodies received by a technician's mock endpoint.
#[derive(Clone, Default)]
struct Technician {
    received: Arc<Mutex<Vec<Value>>>,
    url: String,
}

impl Technician {
    async fn start() -> Self {
        let mut t = Technician::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        t.url = format!("http://{}/hook", listener.local_addr().unwrap());
        let got = Arc::clone(&t.received);
        let router = axum::Router::new().route(
            "/hook",
            post(move |body: axum::Json<Value>| {
                let got = Arc::clone(&got);
                async move {
                    got.lock().unwrap().push(body.0);
                    axum::http::StatusCode::OK
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        t
    }

    fn tickets(&self) -> Vec<Value> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|b| b["data"].clone())
            .collect()
    }
}

struct Setup {
    t: TestApp,
    region: RegionId,
    key: String,
    op: String,
    tech: Technician,
}

async fn setup(slug: &str, external: bool) -> Setup {
    let client_id = format!("firstlink-test-{}", uuid::Uuid::now_v7());
    let t = spawn_app_with(|c| {
        if external {
            c.monitor.mqtt_url = Some(MOSQUITTO.into());
            c.monitor.mqtt_client_id = client_id;
        }
    })
    .await;
    let (region, key) = t
        .region(slug, fast_policy(DispatchPolicy::hjertelober()))
        .await;
    let op = t
        .operator(&format!("op-{slug}"), OperatorRole::Operator, vec![region])
        .await;
    let tech = Technician::start().await;
    let routing = json!({
        "technicians": [{ "name": "Service desk", "webhook_url": tech.url, "webhook_secret": "s3cret", "lang": "da" }],
        "escalate_after_minutes": 60
    });
    let r = t
        .http
        .put(t.url(&format!("/api/v1/regions/{slug}/service-routing")))
        .bearer_auth(&op)
        .json(&routing)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    if external {
        eventually(10, "connected to Mosquitto", || async {
            t.app.monitor.external_connected().then_some(())
        })
        .await;
        // The SUBSCRIBE follows the CONNACK; give the broker a moment to register it.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Setup {
        t,
        region,
        key,
        op,
        tech,
    }
}

/// Provisions a unit over the API; returns its id and key.
async fn provision(s: &Setup, aed: Option<AedId>, extra: Value) -> (uuid::Uuid, UnitKey, String) {
    provision_in(&s.t, &s.op, s.region, aed, extra).await
}

async fn provision_in(
    t: &TestApp,
    op: &str,
    region: RegionId,
    aed: Option<AedId>,
    extra: Value,
) -> (uuid::Uuid, UnitKey, String) {
    let slug = t.app.region(region).unwrap().region.slug;
    let mut body = json!({ "region": slug, "aed_id": aed, "hardware": "cabinet-monitor-1", "firmware": "2.1.0", "interval_s": 300 });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let (st, v) = t.post_json(op, "/api/v1/monitoring/units", body).await;
    assert_eq!(st, 201, "{v}");
    let secret = v["secret"].as_str().unwrap().to_string();
    let id = v["id"].as_str().unwrap().parse().unwrap();
    (id, UnitKey::from_secret(&secret).unwrap(), secret)
}

/// Units stamp whole seconds; `seq` seconds after the current second keeps
/// a test's readings in order even when they are sent within one second.
fn reading(seq: u32, signals: Vec<Signal>) -> Reading {
    let at = chrono::DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap()
        + chrono::Duration::seconds(i64::from(seq));
    Reading {
        at,
        seq: Some(seq),
        signals,
    }
}

fn ok_reading(seq: u32) -> Reading {
    reading(
        seq,
        vec![
            Signal::StatusLight(StatusLight::Ok),
            Signal::TemperatureC(21.0),
            Signal::DoorOpen(false),
            Signal::AedPresent(true),
        ],
    )
}

fn fault_reading(seq: u32) -> Reading {
    reading(
        seq,
        vec![
            Signal::StatusLight(StatusLight::Fault),
            Signal::TemperatureC(21.0),
        ],
    )
}

/// A connected MQTT client; its event loop runs in the background.
async fn mqtt_client(
    host: &str,
    port: u16,
    id: &str,
    login: Option<(&str, &str)>,
) -> (AsyncClient, tokio::sync::mpsc::UnboundedReceiver<Event>) {
    let mut o = MqttOptions::new(id, host, port);
    o.set_keep_alive(Duration::from_secs(10));
    if let Some((u, p)) = login {
        o.set_credentials(u, p);
    }
    let (c, mut ev) = AsyncClient::new(o, 100);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            match ev.poll().await {
                Ok(e) => {
                    if tx.send(e).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Event::Outgoing(rumqttc::Outgoing::Disconnect));
                    tracing::debug!(error = %e, "test client stopped");
                    return;
                }
            }
        }
    });
    (c, rx)
}

fn usable(t: &TestApp, aed: AedId, at: LatLon) -> bool {
    t.app
        .aeds()
        .usable_near(at, 2_000.0, Utc::now())
        .iter()
        .any(|a| a.id == aed)
}

async fn open_tickets(s: &Setup) -> Vec<Value> {
    let slug = s.t.app.region(s.region).unwrap().region.slug;
    let (st, v) =
        s.t.get_json(&s.op, &format!("/api/v1/monitoring/tickets?region={slug}"))
            .await;
    assert_eq!(st, 200, "{v}");
    v.as_array().unwrap().clone()
}

/// The scenario the issue asks for, on any MQTT path: ok, then a burst of
/// fault messages, then ok again.
async fn fault_cycle(
    s: &Setup,
    aed: AedId,
    unit: uuid::Uuid,
    publish: impl AsyncFn(Vec<u8>, bool),
) {
    let p = cph();
    publish(
        encode_json(&ok_reading(1), &UnitKey::from_bytes([0; 32])),
        true,
    )
    .await; // wrong key: refused
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        s.t.app
            .monitor
            .counters
            .rejected()
            .get("bad_mac")
            .copied()
            .unwrap_or(0)
            >= 1,
        "{:?}",
        s.t.app.monitor.counters.rejected()
    );
    assert!(usable(&s.t, aed, p));

    let key =
        s.t.app
            .monitor
            .key_for(&s.t.app.monitor.unit(unit).unwrap());
    publish(encode_json(&ok_reading(2), &key), true).await;
    eventually(5, "ready", || async {
        (s.t.app.aeds().get(aed).unwrap().readiness == Readiness::Ready).then_some(())
    })
    .await;

    let sent = Instant::now();
    for seq in 3..6 {
        publish(encode_binary(&fault_reading(seq), &key), false).await;
    }
    eventually(5, "not ready", || async {
        (!usable(&s.t, aed, p)).then_some(())
    })
    .await;
    let took = sent.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "dispatch still offered the faulty AED after {took:?}"
    );
    assert_eq!(
        s.t.app.aeds().get(aed).unwrap().readiness,
        Readiness::NotReady
    );

    // Exactly one ticket for the three fault messages (recorded just after
    // dispatch stopped offering the AED), and the technician hears of it once.
    eventually(5, "ticket", || async {
        (!open_tickets(s).await.is_empty()).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let tickets = open_tickets(s).await;
    assert_eq!(tickets.len(), 1, "{tickets:?}");
    assert_eq!(tickets[0]["cause"], "status_fault");
    assert_eq!(tickets[0]["status"], "open");
    eventually(10, "technician notified", || async {
        (!s.tech.tickets().is_empty()).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let heard = s.tech.tickets();
    assert_eq!(heard.len(), 1, "{heard:?}");
    assert_eq!(heard[0]["ticket_id"], tickets[0]["id"]);
    assert_eq!(heard[0]["cause"], "status_fault");

    // The AED reports ok again: usable, and the ticket says so but stays for review.
    publish(encode_json(&ok_reading(6), &key), true).await;
    eventually(5, "ready again", || async {
        usable(&s.t, aed, p).then_some(())
    })
    .await;
    eventually(5, "ticket marked", || async {
        (open_tickets(s).await[0]["status"] == "normal_again").then_some(())
    })
    .await;
    let tickets = open_tickets(s).await;
    assert_eq!(tickets.len(), 1);
    assert_eq!(tickets[0]["status"], "normal_again", "{tickets:?}");
    let id = tickets[0]["id"].as_str().unwrap().to_string();
    let (st, v) =
        s.t.post_json(
            &s.op,
            &format!("/api/v1/monitoring/tickets/{id}/resolve"),
            json!({ "note": "status light re-seated" }),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert!(open_tickets(s).await.is_empty());
    // The history holds both changes, newest first.
    let (_, r) =
        s.t.get_json(&s.op, &format!("/api/v1/aeds/{aed}/readiness"))
            .await;
    let hist: Vec<&str> = r["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["readiness"].as_str().unwrap())
        .collect();
    assert_eq!(hist, vec!["ready", "not_ready", "ready"], "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_mosquitto_a_fault_opens_one_ticket_and_the_aed_leaves_dispatch_at_once() {
    let s = setup("mon-mosquitto", true).await;
    let aed =
        s.t.aed(
            s.region,
            "Station hall",
            cph().offset(0.0, 150.0),
            "24/7",
            None,
        )
        .await;
    let (unit, _, _) = provision(&s, Some(aed), json!({})).await;
    let (pubc, _rx) = mqtt_client("127.0.0.1", 1883, &format!("unit-{unit}"), None).await;
    let topic_json = format!("firstlink/v1/units/{unit}/json");
    let topic_bin = format!("firstlink/v1/units/{unit}/bin");
    fault_cycle(&s, aed, unit, async |payload: Vec<u8>, json: bool| {
        let topic = if json { &topic_json } else { &topic_bin };
        pubc.publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
    })
    .await;

    // A unit publishing as another (its key, the other's topic) is refused and counted.
    let aed2 =
        s.t.aed(s.region, "Library", cph().offset(90.0, 300.0), "24/7", None)
            .await;
    let (other, _, _) = provision(&s, Some(aed2), json!({})).await;
    let key =
        s.t.app
            .monitor
            .key_for(&s.t.app.monitor.unit(unit).unwrap());
    let before =
        s.t.app
            .monitor
            .counters
            .rejected()
            .get("bad_mac")
            .copied()
            .unwrap_or(0);
    pubc.publish(
        format!("firstlink/v1/units/{other}/bin"),
        QoS::AtLeastOnce,
        false,
        encode_binary(&fault_reading(9), &key),
    )
    .await
    .unwrap();
    // Malformed and oversized payloads too; the ingest keeps running.
    pubc.publish(
        topic_json.clone(),
        QoS::AtLeastOnce,
        false,
        b"{not json".to_vec(),
    )
    .await
    .unwrap();
    pubc.publish(
        topic_bin.clone(),
        QoS::AtLeastOnce,
        false,
        vec![1u8; 10_000],
    )
    .await
    .unwrap();
    eventually(5, "refusals counted", || async {
        let r = s.t.app.monitor.counters.rejected();
        (r.get("bad_mac").copied().unwrap_or(0) > before
            && r.contains_key("malformed")
            && r.contains_key("too_large"))
        .then_some(())
    })
    .await;
    assert_eq!(
        s.t.app.aeds().get(aed2).unwrap().readiness,
        Readiness::Unmonitored
    );
    pubc.publish(
        topic_json,
        QoS::AtLeastOnce,
        false,
        encode_json(&ok_reading(10), &key),
    )
    .await
    .unwrap();
    eventually(5, "still ingesting", || async {
        (s.t.app.monitor.unit_status(unit).await?.last_seen?
            > Utc::now() - chrono::Duration::seconds(5))
        .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_embedded_endpoint_units_authenticate_and_publish_only_as_themselves() {
    let s = setup("mon-embedded", false).await;
    let addr =
        s.t.app
            .monitor
            .broker_addr()
            .expect("embedded endpoint bound");
    let aed =
        s.t.aed(
            s.region,
            "Town hall",
            cph().offset(0.0, 150.0),
            "24/7",
            None,
        )
        .await;
    let (unit, _, secret) = provision(&s, Some(aed), json!({})).await;

    // Wrong password: CONNACK refused.
    let (_c, mut rx) = mqtt_client(
        "127.0.0.1",
        addr.port(),
        "intruder",
        Some((&unit.to_string(), "not-the-secret")),
    )
    .await;
    let refused = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(e) = rx.recv().await {
            match e {
                Event::Incoming(Packet::ConnAck(a))
                    if a.code != rumqttc::ConnectReturnCode::Success =>
                {
                    return true;
                }
                Event::Incoming(Packet::ConnAck(_)) => return false,
                Event::Outgoing(rumqttc::Outgoing::Disconnect) => return true,
                _ => {}
            }
        }
        true
    })
    .await
    .unwrap();
    assert!(refused, "a wrong password must not connect");

    let (c, _rx) = mqtt_client(
        "127.0.0.1",
        addr.port(),
        &format!("unit-{unit}"),
        Some((&unit.to_string(), &secret)),
    )
    .await;
    let topic_json = format!("firstlink/v1/units/{unit}/json");
    let topic_bin = format!("firstlink/v1/units/{unit}/bin");
    fault_cycle(&s, aed, unit, async |payload: Vec<u8>, json: bool| {
        let topic = if json { &topic_json } else { &topic_bin };
        c.publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
    })
    .await;

    // Publishing under another unit's topic closes the connection and is counted.
    let aed2 =
        s.t.aed(s.region, "School", cph().offset(90.0, 300.0), "24/7", None)
            .await;
    let (other, other_key, _) = provision(&s, Some(aed2), json!({})).await;
    c.publish(
        format!("firstlink/v1/units/{other}/bin"),
        QoS::AtLeastOnce,
        false,
        encode_binary(&fault_reading(20), &other_key),
    )
    .await
    .unwrap();
    eventually(5, "identity mismatch counted", || async {
        s.t.app
            .monitor
            .counters
            .rejected()
            .get("identity_mismatch")
            .map(|_| ())
    })
    .await;
    assert_eq!(
        s.t.app.aeds().get(aed2).unwrap().readiness,
        Readiness::Unmonitored
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_nearest_aed_turns_faulty_during_alerting_the_next_acceptor_goes_to_another() {
    let s = setup("mon-mission", false).await;
    let t = &s.t;
    let p = cph();
    let near = t
        .aed(s.region, "Near AED", p.offset(0.0, 80.0), "24/7", None)
        .await;
    let far = t
        .aed(s.region, "Far AED", p.offset(180.0, 250.0), "24/7", None)
        .await;
    let (unit, key, secret) = provision(&s, Some(near), json!({})).await;
    let ingest = |body: Vec<u8>| {
        t.http
            .post(t.url(&format!("/api/v1/units/{unit}/telemetry")))
            .bearer_auth(&secret)
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
    };
    assert_eq!(
        ingest(encode_binary(&ok_reading(1), &key))
            .await
            .unwrap()
            .status(),
        202
    );
    let (_, a) = t
        .volunteer(s.region, p.offset(90.0, 150.0), Tier::IncludingHomes)
        .await;
    let id = incident(t, &s.key, "m1", p).await;
    alerted(t, &a).await;
    // While the volunteer is being alerted the near AED reports a fault.
    assert_eq!(
        ingest(encode_binary(&fault_reading(2), &key))
            .await
            .unwrap()
            .status(),
        202
    );
    let (_, ra) = t
        .post_json(&a, &format!("/api/v1/missions/{id}/accept"), json!({}))
        .await;
    assert_eq!(ra["mission"]["task"]["role"], "fetch_aed", "{ra}");
    assert_eq!(ra["mission"]["task"]["aed"]["id"], json!(far), "{ra}");
    assert!(t.app.aeds().claimed_by(near).is_none());

    // The far AED's cabinet opening during the mission confirms "collected".
    let (unit2, key2, secret2) = provision(&s, Some(far), json!({})).await;
    let door = reading(1, vec![Signal::DoorOpen(true), Signal::AedPresent(false)]);
    let r = t
        .http
        .post(t.url(&format!("/api/v1/units/{unit2}/telemetry")))
        .bearer_auth(&secret2)
        .header("content-type", "application/json")
        .body(encode_json(&door, &key2))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    eventually(5, "collected on the timeline", || async {
        let (_, m) = t.get_json(&s.key, &format!("/api/v1/incidents/{id}")).await;
        (m["responders"][0]["state"] == "at_aed").then_some(())
    })
    .await;
    // No "door opened" check ticket for a collection during a mission.
    assert!(
        open_tickets(&s)
            .await
            .iter()
            .all(|t| t["aed_id"] != json!(far)),
        "{:?}",
        open_tickets(&s).await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lorawan_uplinks_through_the_things_stack_format() {
    let s = setup("mon-lorawan", true).await;
    let aed =
        s.t.aed(
            s.region,
            "Harbour cabinet",
            cph().offset(0.0, 150.0),
            "24/7",
            None,
        )
        .await;
    let device = format!("ws301-{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
    provision(
        &s,
        Some(aed),
        json!({ "lorawan": { "device_id": device, "codec": "milesight-ws301" } }),
    )
    .await;
    let (c, _rx) = mqtt_client("127.0.0.1", 1883, &format!("tts-{device}"), None).await;
    // The vector "door open" from ../shared/data/iot/milesight-ws301.json (fPort 85, AwAB).
    let uplink = json!({
        "end_device_ids": { "device_id": device, "application_ids": { "application_id": "aed-cabinets" }, "dev_eui": "24E124141B123456" },
        "received_at": Utc::now().to_rfc3339(),
        "uplink_message": { "f_port": 85, "frm_payload": "AwAB" }
    });
    c.publish(
        format!("v3/aed-cabinets@ttn/devices/{device}/up"),
        QoS::AtLeastOnce,
        false,
        uplink.to_string(),
    )
    .await
    .unwrap();
    // Outside a mission an opened door opens a check.
    let t = eventually(10, "door check", || async {
        open_tickets(&s)
            .await
            .into_iter()
            .find(|t| t["cause"] == "door_opened")
    })
    .await;
    assert_eq!(t["aed_id"], json!(aed));
    // An uplink whose topic names another device is refused.
    c.publish(
        "v3/aed-cabinets/devices/someone-else/up",
        QoS::AtLeastOnce,
        false,
        uplink.to_string(),
    )
    .await
    .unwrap();
    eventually(5, "identity mismatch counted", || async {
        s.t.app
            .monitor
            .counters
            .rejected()
            .get("identity_mismatch")
            .map(|_| ())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_ingest_refuses_bad_input_with_clear_codes() {
    let s = setup("mon-https", false).await;
    let t = &s.t;
    let aed = t.aed(s.region, "Gym", cph(), "24/7", None).await;
    let (unit, key, secret) = provision(&s, Some(aed), json!({})).await;
    let send = |secret: &str, ct: &str, body: Vec<u8>| {
        t.http
            .post(t.url(&format!("/api/v1/units/{unit}/telemetry")))
            .bearer_auth(secret)
            .header("content-type", ct)
            .body(body)
            .send()
    };
    let code = |r: reqwest::Response| async move {
        let s = r.status().as_u16();
        (
            s,
            r.json::<Value>()
                .await
                .map(|v| v["error"]["code"].as_str().unwrap_or("").to_string())
                .unwrap_or_default(),
        )
    };
    assert_eq!(
        code(
            send(
                "wrong",
                "application/json",
                encode_json(&ok_reading(1), &key)
            )
            .await
            .unwrap()
        )
        .await
        .0,
        401
    );
    assert_eq!(
        code(
            send(&secret, "application/json", b"[1,2".to_vec())
                .await
                .unwrap()
        )
        .await,
        (422, "malformed".into())
    );
    assert_eq!(
        code(
            send(&secret, "application/octet-stream", vec![7; 40])
                .await
                .unwrap()
        )
        .await
        .0,
        422
    );
    assert_eq!(
        code(send(&secret, "text/plain", b"hi".to_vec()).await.unwrap())
            .await
            .0,
        415
    );
    let future = Reading {
        at: Utc::now() + chrono::Duration::hours(2),
        seq: Some(1),
        signals: vec![Signal::StatusLight(StatusLight::Fault)],
    };
    assert_eq!(
        code(
            send(&secret, "application/json", encode_json(&future, &key))
                .await
                .unwrap()
        )
        .await,
        (422, "from_future".into())
    );
    assert_eq!(
        t.app.aeds().get(aed).unwrap().readiness,
        Readiness::Unmonitored,
        "nothing refused may change readiness"
    );
    assert_eq!(
        send(
            &secret,
            "application/json",
            encode_json(&ok_reading(2), &key)
        )
        .await
        .unwrap()
        .status(),
        202
    );
    // The chart data is there at once (the unit's buckets are flushed before reading).
    let (st, buckets) = t
        .get_json(
            &s.op,
            &format!("/api/v1/monitoring/units/{unit}/telemetry?hours=2"),
        )
        .await;
    assert_eq!(st, 200, "{buckets}");
    let total: u64 = buckets
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["messages"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 1, "one accepted message so far: {buckets}");
    assert_eq!(buckets[0]["temp_last"], 21.0);
    // Refusals are counted by reason for the operator's dashboards.
    let metrics = t
        .http
        .get(t.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"firstlink_telemetry_refused{reason="malformed"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"firstlink_telemetry_refused{reason="from_future"} 1"#));

    // A revoked unit is refused; a rotated key replaces the old one.
    let (st, v) = t
        .post_json(
            &s.op,
            &format!("/api/v1/monitoring/units/{unit}/rotate-key"),
            json!({}),
        )
        .await;
    assert_eq!(st, 200);
    let new_secret = v["secret"].as_str().unwrap().to_string();
    assert_eq!(
        send(
            &secret,
            "application/json",
            encode_json(&ok_reading(3), &key)
        )
        .await
        .unwrap()
        .status(),
        401
    );
    let new_key = UnitKey::from_secret(&new_secret).unwrap();
    assert_eq!(
        send(
            &new_secret,
            "application/json",
            encode_json(&ok_reading(4), &new_key)
        )
        .await
        .unwrap()
        .status(),
        202
    );
    let (st, _) = t
        .post_json(
            &s.op,
            &format!("/api/v1/monitoring/units/{unit}/revoke"),
            json!({}),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(
        send(
            &new_secret,
            "application/json",
            encode_json(&ok_reading(5), &new_key)
        )
        .await
        .unwrap()
        .status(),
        401
    );

    // Another region's operator cannot see the unit or its tickets.
    let (other, _) = t.region("mon-other", DispatchPolicy::firstlink()).await;
    let stranger = t
        .operator("stranger", OperatorRole::Operator, vec![other])
        .await;
    assert_eq!(
        t.get_json(&stranger, &format!("/api/v1/monitoring/units/{unit}"))
            .await
            .0,
        404
    );
    assert_eq!(
        t.get_json(&stranger, "/api/v1/monitoring/tickets?region=mon-https")
            .await
            .0,
        403
    );
    // A technician of the region can; a dispatcher cannot provision.
    let tech = t
        .operator("tech", OperatorRole::Technician, vec![s.region])
        .await;
    assert_eq!(
        t.get_json(&tech, &format!("/api/v1/monitoring/units/{unit}"))
            .await
            .0,
        200
    );
    assert_eq!(
        t.get_json(&tech, "/api/v1/incidents?region=mon-https")
            .await
            .0,
        403
    );
    let (st, _) = t
        .post_json(
            &tech,
            "/api/v1/monitoring/units",
            json!({ "region": "mon-https", "hardware": "x", "interval_s": 300 }),
        )
        .await;
    assert_eq!(st, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_unit_is_flagged_after_two_intervals_and_escalates_unacknowledged() {
    let s = setup("mon-silent", false).await;
    let t = &s.t;
    let aed = t.aed(s.region, "Pool", cph(), "24/7", None).await;
    let (unit, key, secret) = provision(&s, Some(aed), json!({})).await;
    let r = t
        .http
        .post(t.url(&format!("/api/v1/units/{unit}/telemetry")))
        .bearer_auth(&secret)
        .header("content-type", "application/json")
        .body(encode_json(&ok_reading(1), &key))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let seen = Utc::now();
    // Interval 300 s: not yet silent after one interval and a half…
    t.app
        .monitor
        .tick_at(&t.app, seen + chrono::Duration::seconds(450))
        .await;
    assert_eq!(t.app.aeds().get(aed).unwrap().readiness, Readiness::Ready);
    // …silent after two.
    t.app
        .monitor
        .tick_at(&t.app, seen + chrono::Duration::seconds(601))
        .await;
    assert_eq!(t.app.aeds().get(aed).unwrap().readiness, Readiness::Unknown);
    let tickets = open_tickets(&s).await;
    assert_eq!(
        tickets.iter().filter(|t| t["cause"] == "silent").count(),
        1,
        "{tickets:?}"
    );
    // Nobody acknowledges it within the hour: escalated once.
    t.app
        .monitor
        .tick_at(&t.app, seen + chrono::Duration::minutes(75))
        .await;
    t.app
        .monitor
        .tick_at(&t.app, seen + chrono::Duration::minutes(80))
        .await;
    eventually(10, "escalation delivered", || async {
        s.tech
            .tickets()
            .iter()
            .any(|d| d["escalated"] == true)
            .then_some(())
    })
    .await;
    let escalations = s
        .tech
        .tickets()
        .iter()
        .filter(|d| d["escalated"] == true)
        .count();
    assert_eq!(escalations, 1);
    let (_, v) = t
        .get_json(&s.op, "/api/v1/monitoring/summary?region=mon-silent")
        .await;
    assert_eq!(v["by_readiness"]["unknown"], 1, "{v}");
    assert_eq!(v["open_tickets"], 1);
}

/// In a cluster, other nodes change units and tickets through the database;
/// the node running monitoring re-reads them (`refresh_shared`, every few
/// seconds there) and acts on them — a rotated key, a unit provisioned
/// elsewhere, a ticket acknowledged elsewhere is not escalated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_made_through_other_nodes_reach_the_monitoring_node() {
    let s = setup("mon-shared", false).await;
    let t = &s.t;
    let aed = t.aed(s.region, "Hall", cph(), "24/7", None).await;
    let (unit, _, _) = provision(&s, Some(aed), json!({})).await;
    let send = |id: uuid::Uuid, key: UnitKey, seq: u32| {
        let http = t.http.clone();
        let url = t.url(&format!("/api/v1/units/{id}/telemetry"));
        async move {
            http.post(url)
                .bearer_auth(key.to_secret())
                .header("content-type", "application/json")
                .body(encode_json(&ok_reading(seq), &key))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    // Another node rotates the key and provisions a second unit: only the database knows.
    let mut rotated = t
        .app
        .store
        .units()
        .await
        .unwrap()
        .into_iter()
        .find(|u| u.id == unit)
        .unwrap();
    rotated.key_generation += 1;
    t.app.store.save_unit(&rotated).await.unwrap();
    let other = MonitorUnit {
        id: uuid::Uuid::now_v7(),
        aed_id: None,
        key_generation: 0,
        ..rotated.clone()
    };
    t.app.store.save_unit(&other).await.unwrap();
    let new_key = t.app.monitor.key_for(&rotated);
    let other_key = t.app.monitor.key_for(&other);
    assert_eq!(
        send(unit, new_key.clone(), 1).await,
        401,
        "not known here yet"
    );
    assert_eq!(send(other.id, other_key.clone(), 1).await, 401);
    t.app.monitor.refresh_shared(&t.app).await.unwrap();
    assert_eq!(send(unit, new_key, 2).await, 202, "the rotated key works");
    assert_eq!(
        send(other.id, other_key, 2).await,
        202,
        "the unit provisioned elsewhere reports"
    );

    // A silent unit's ticket, acknowledged through another node, is not escalated.
    let seen = Utc::now();
    t.app
        .monitor
        .tick_at(&t.app, seen + chrono::Duration::seconds(601))
        .await;
    let ticket = t
        .app
        .store
        .tickets(Some(s.region), Some(aed), true, 10)
        .await
        .unwrap()
        .into_iter()
        .find(|x| x.cause == "silent")
        .expect("a silent ticket");
    let acked = Ticket {
        state: TicketState::Acknowledged,
        ..ticket
    };
    t.app
        .store
        .commit_monitor(&firstlink_store::MonitorWrite {
            at: Utc::now(),
            tickets: vec![acked],
            ..Default::default()
        })
        .await
        .unwrap();
    t.app.monitor.refresh_shared(&t.app).await.unwrap();
    t.app
        .monitor
        .tick_at(&t.app, seen + chrono::Duration::minutes(75))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !s.tech.tickets().iter().any(|d| d["escalated"] == true),
        "{:?}",
        s.tech.tickets()
    );
    let now = t.app.store.ticket(ticket.id).await.unwrap().unwrap();
    assert_eq!(
        now.state,
        TicketState::Acknowledged,
        "the acknowledgement made elsewhere is kept"
    );
}

/// Sends one reading over HTTPS as the unit; expects it accepted.
async fn send_https(t: &TestApp, unit: uuid::Uuid, key: &UnitKey, r: &Reading) {
    let resp = t
        .http
        .post(t.url(&format!("/api/v1/units/{unit}/telemetry")))
        .bearer_auth(key.to_secret())
        .header("content-type", "application/json")
        .body(encode_json(r, key))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202, "{}", resp.text().await.unwrap());
}

/// Every notification ever recorded in the outbox, whatever its state.
async fn outbox_total(t: &TestApp) -> u64 {
    let s = t.app.store.outbox_stats().await.unwrap();
    s.pending + s.sent + s.dead
}

async fn all_tickets(t: &TestApp, region: RegionId) -> Vec<Ticket> {
    t.app
        .store
        .tickets(Some(region), None, false, u32::MAX)
        .await
        .unwrap()
}

/// The demo's symptom: a server stopped for a few seconds and started again
/// must pick up where it was — no unit judged silent for the time the server
/// was not listening, no second notice for a ticket already open — while a
/// unit that really stays silent is still flagged one window after start-up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_monitoring_resumes_without_new_tickets_or_notices() {
    const UNITS: usize = 40;
    const INTERVAL_S: i64 = 60; // silent after 2 × 60 s
    let dir = tempfile::tempdir().unwrap();
    let tech = Technician::start().await;
    let first = start_stoppable(dir.path(), |_| {}).await;
    let t = &first.t;
    let (region, _) = t
        .region("mon-restart", fast_policy(DispatchPolicy::hjertelober()))
        .await;
    let op = t
        .operator("op-mon-restart", OperatorRole::Operator, vec![region])
        .await;
    let (st, v) = t
        .put_json(
            &op,
            "/api/v1/regions/mon-restart/service-routing",
            json!({
                "technicians": [{ "name": "Service desk", "webhook_url": tech.url, "webhook_secret": "s3cret" }],
                "escalate_after_minutes": 60
            }),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let mut units = Vec::new();
    for i in 0..=UNITS {
        let aed = t
            .aed(region, &format!("Cabinet {i}"), cph(), "24/7", None)
            .await;
        let (unit, key, _) = provision_in(
            t,
            &op,
            region,
            Some(aed),
            json!({ "interval_s": INTERVAL_S }),
        )
        .await;
        units.push((aed, unit, key));
    }
    // 40 healthy units report; one more has a status fault: one ticket, one notice.
    for (_, unit, key) in &units {
        send_https(t, *unit, key, &ok_reading(1)).await;
    }
    let heard = Utc::now();
    let (faulty_aed, faulty, faulty_key) = units.pop().unwrap();
    send_https(t, faulty, &faulty_key, &fault_reading(2)).await;
    for (aed, _, _) in &units {
        assert_eq!(t.app.aeds().get(*aed).unwrap().readiness, Readiness::Ready);
    }
    eventually(10, "the fault's notice delivered", || async {
        (tech.tickets().len() == 1).then_some(())
    })
    .await;
    // The periodic checkpoint ran just before the server stopped.
    t.app.monitor.checkpoint(&t.app).await.unwrap();
    let tickets = all_tickets(t, region).await;
    assert_eq!(tickets.len(), 1, "{tickets:?}");
    let notices = outbox_total(t).await;
    assert_eq!(notices, 1);
    first.stop().await;

    tokio::time::sleep(Duration::from_secs(5)).await;

    let second = start_stoppable(dir.path(), |_| {}).await;
    let up = Utc::now();
    let t = &second.t;
    // The server ticks by itself; let it, then also judge the units at the
    // instant they would have been silent had the 5 s down counted.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    t.app
        .monitor
        .tick_at(
            &t.app,
            heard + chrono::Duration::seconds(2 * INTERVAL_S + 1),
        )
        .await;
    // The faulty unit reports its fault again: the same open ticket.
    send_https(t, faulty, &faulty_key, &fault_reading(3)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        all_tickets(t, region).await,
        tickets,
        "no ticket opened or changed"
    );
    assert_eq!(outbox_total(t).await, notices, "no notification recorded");
    for (aed, _, _) in &units {
        assert_eq!(t.app.aeds().get(*aed).unwrap().readiness, Readiness::Ready);
    }
    assert_eq!(
        t.app.aeds().get(faulty_aed).unwrap().readiness,
        Readiness::NotReady
    );
    assert_eq!(tech.tickets().len(), 1, "{:?}", tech.tickets());

    // The 40 stay silent: one window after start-up at the latest, they are
    // (the faulty unit was heard since the restart, so it is not yet).
    t.app
        .monitor
        .tick_at(&t.app, up + chrono::Duration::seconds(2 * INTERVAL_S + 1))
        .await;
    for (aed, _, _) in &units {
        assert_eq!(
            t.app.aeds().get(*aed).unwrap().readiness,
            Readiness::Unknown
        );
    }
    let silent = all_tickets(t, region)
        .await
        .into_iter()
        .filter(|x| x.cause == "silent")
        .count();
    assert_eq!(silent, UNITS);
    assert_eq!(outbox_total(t).await, notices + UNITS as u64);
    eventually(10, "the silent units' notices delivered", || async {
        (tech.tickets().len() == UNITS + 1).then_some(())
    })
    .await;
    second.stop().await;
}

/// Tickets opened while a region had nobody to tell: saving its routing
/// (with escalation) gives each its first notice, not an escalation, and
/// escalation then counts from that notice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saving_routing_gives_untold_old_tickets_a_first_notice_not_an_escalation() {
    let t = spawn_app().await;
    let (region, _) = t
        .region(
            "mon-late-routing",
            fast_policy(DispatchPolicy::hjertelober()),
        )
        .await;
    let op = t
        .operator("op-mon-late-routing", OperatorRole::Operator, vec![region])
        .await;
    let mut aeds = Vec::new();
    for i in 0..3 {
        let aed = t
            .aed(region, &format!("Lobby {i}"), cph(), "24/7", None)
            .await;
        // Reporting daily, so that no unit goes silent within the test's hours.
        let (unit, key, _) =
            provision_in(&t, &op, region, Some(aed), json!({ "interval_s": 86_400 })).await;
        send_https(&t, unit, &key, &fault_reading(1)).await;
        aeds.push(aed);
    }
    let tickets = all_tickets(&t, region).await;
    assert_eq!(tickets.len(), 3, "{tickets:?}");
    assert!(tickets.iter().all(|x| x.notified_at.is_none()));
    assert_eq!(outbox_total(&t).await, 0, "nobody to tell yet");
    // The tickets are hours old by the time someone sets up routing.
    let old: Vec<Ticket> = tickets
        .into_iter()
        .map(|x| Ticket {
            opened_at: Utc::now() - chrono::Duration::hours(3),
            ..x
        })
        .collect();
    t.app
        .store
        .commit_monitor(&firstlink_store::MonitorWrite {
            at: Utc::now(),
            tickets: old,
            ..Default::default()
        })
        .await
        .unwrap();
    t.app.monitor.refresh_shared(&t.app).await.unwrap();

    let tech = Technician::start().await;
    let manager = Technician::start().await;
    let routing = json!({
        "technicians": [{ "name": "Service desk", "webhook_url": tech.url, "webhook_secret": "a" }],
        "escalate_after_minutes": 60,
        "escalation": [{ "name": "Duty manager", "webhook_url": manager.url, "webhook_secret": "b" }]
    });
    let (st, v) = t
        .put_json(
            &op,
            "/api/v1/regions/mon-late-routing/service-routing",
            routing.clone(),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let saved = Utc::now();
    t.app.monitor.tick_at(&t.app, saved).await;
    eventually(10, "first notices delivered", || async {
        (tech.tickets().len() == 3).then_some(())
    })
    .await;
    // Saving the same routing again tells nobody anything twice.
    let (st, _) = t
        .put_json(
            &op,
            "/api/v1/regions/mon-late-routing/service-routing",
            routing,
        )
        .await;
    assert_eq!(st, 200);
    t.app
        .monitor
        .tick_at(&t.app, saved + chrono::Duration::minutes(59))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let heard = tech.tickets();
    assert_eq!(heard.len(), 3, "{heard:?}");
    assert!(heard.iter().all(|d| d["escalated"] == false), "{heard:?}");
    assert!(manager.tickets().is_empty(), "{:?}", manager.tickets());
    assert_eq!(outbox_total(&t).await, 3);
    let (_, listed) = t
        .get_json(&op, "/api/v1/monitoring/tickets?region=mon-late-routing")
        .await;
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["notified_at"].is_string() && x["escalated_at"].is_null()),
        "{listed}"
    );
    // Not acknowledged within the hour after that notice: escalated, once each.
    t.app
        .monitor
        .tick_at(&t.app, saved + chrono::Duration::minutes(61))
        .await;
    eventually(10, "escalations delivered", || async {
        (manager.tickets().len() == 3).then_some(())
    })
    .await;
    t.app
        .monitor
        .tick_at(&t.app, saved + chrono::Duration::minutes(90))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(manager.tickets().len(), 3);
    assert!(manager.tickets().iter().all(|d| d["escalated"] == true));
    assert_eq!(tech.tickets().len(), 3);
    for aed in aeds {
        assert_eq!(
            t.app.aeds().get(aed).unwrap().readiness,
            Readiness::NotReady
        );
    }
}
