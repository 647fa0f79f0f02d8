//! Dispatch-centre integration over HTTP: CAP and EIDO in (against the shared
//! samples and hand-written cases), and the signed, ordered status webhook.

mod support;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::Utc;
use firstlink_domain::ids::RegionId;
use firstlink_domain::policy::DispatchPolicy;
use firstlink_domain::volunteer::Tier;
use firstlink_store::OperatorRole;
use serde_json::{Value, json};
use support::*;

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(rel)
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(data(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Maps the events of the shared samples as if they were cardiac arrests
/// (the same mapping as firstlink-cad's own sample tests). The samples are
/// years old, hence `accept_expired`.
fn sample_settings() -> Value {
    json!({
        "cap": {
            "accept_expired": true,
            "events": ["Earthquake", "severe thunderstorm", "Homeland Security Advisory System Update", "Fire",
                       "thunderstorm", "snowfall", "Tsunami Warning", "Tsunami Cancellation", "Flash Flood Watch"],
            "event_codes": [{ "name": "SAME", "value": "CAE" }, { "name": "SAME", "value": "RMT" }, { "name": "SAME", "value": "LAE" }]
        },
        "eido": { "incident_types": ["Medical.CardiacArrest"], "internal_codes": ["09E01"] }
    })
}

async fn admin(t: &TestApp) -> String {
    t.operator("admin", OperatorRole::Admin, vec![]).await
}

async fn put_settings(t: &TestApp, admin: &str, slug: &str, v: Value) -> Value {
    let r = t
        .http
        .put(t.url(&format!("/api/v1/regions/{slug}/integration")))
        .bearer_auth(admin)
        .json(&v)
        .send()
        .await
        .unwrap();
    let s = r.status();
    let b: Value = r.json().await.unwrap();
    assert_eq!(s, 200, "{b}");
    b
}

async fn post_cap(t: &TestApp, key: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let r = t
        .http
        .post(t.url("/api/v1/cap"))
        .bearer_auth(key)
        .header("Content-Type", "application/cap+xml")
        .body(body)
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn post_eido(t: &TestApp, key: &str, v: &Value) -> (u16, Value) {
    let r = t
        .http
        .post(t.url("/api/v1/eido"))
        .bearer_auth(key)
        .header("Content-Type", "application/json")
        .body(v.to_string())
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn incident_count(t: &TestApp, region: RegionId) -> usize {
    t.app
        .store
        .missions(region, false, 10_000)
        .await
        .unwrap()
        .len()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

#[derive(Debug)]
enum Expect {
    /// A new incident at (lat, lon).
    At(f64, f64),
    /// Refused with this HTTP status and error code.
    Refused(u16, &'static str),
}

/// Posts every file of `dir` to a fresh region and checks each against `table`.
async fn check_dir(t: &TestApp, admin: &str, slug: &str, dir: &str, table: &[(&str, Expect)]) {
    let (region, key) = t.region(slug, DispatchPolicy::heartrunner()).await;
    put_settings(t, admin, slug, sample_settings()).await;
    let mut files: Vec<String> = std::fs::read_dir(data(dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    let mut listed: Vec<String> = table.iter().map(|(f, _)| f.to_string()).collect();
    listed.sort();
    assert_eq!(files, listed, "every file in {dir} has an expectation");
    let mut created = 0;
    for (file, expect) in table {
        let (s, b) = post_cap(t, &key, read(&format!("{dir}/{file}"))).await;
        match expect {
            Expect::At(lat, lon) => {
                assert_eq!(s, 201, "{dir}/{file}: {b}");
                assert_eq!(b["outcome"], "created", "{file}");
                created += 1;
                let (s, v) = t
                    .get_json(
                        &key,
                        &format!("/api/v1/incidents/{}", b["id"].as_str().unwrap()),
                    )
                    .await;
                assert_eq!(s, 200);
                let (la, lo) = (
                    v["location"]["lat"].as_f64().unwrap(),
                    v["location"]["lon"].as_f64().unwrap(),
                );
                assert!(
                    close(la, *lat) && close(lo, *lon),
                    "{dir}/{file}: at {la},{lo}, expected {lat},{lon}"
                );
                assert_eq!(
                    v["external_id"], b["key"],
                    "{file}: the CAP key is the external id"
                );
                assert!(!v["address"].as_str().unwrap().is_empty());
                // The same document again creates nothing.
                let (s2, b2) = post_cap(t, &key, read(&format!("{dir}/{file}"))).await;
                assert_eq!(
                    (s2, &b2["id"], b2["outcome"].as_str()),
                    (200, &b["id"], Some("duplicate")),
                    "{file}"
                );
            }
            Expect::Refused(status, code) => {
                assert_eq!(
                    (s, b["error"]["code"].as_str()),
                    (*status, Some(*code)),
                    "{dir}/{file}: {b}"
                );
                assert!(!b["error"]["message"].as_str().unwrap().is_empty());
            }
        }
        assert_eq!(
            incident_count(t, region).await,
            created,
            "{dir}/{file}: nothing half-created"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shared_cap_sample_becomes_an_incident_at_its_place_or_is_refused_with_the_reason() {
    use Expect::*;
    let t = spawn_app().await;
    let admin = admin(&t).await;
    check_dir(
        &t,
        &admin,
        "cap12",
        "cap/1.2",
        &[
            ("caplib-australia.xml", At(-35.3888, 147.0598)),
            // Updates whose original never reached firstlink stand on their own.
            ("caplib-canada.xml", At(42.050381432, -82.727230029)),
            ("caplib-canada_signed.xml", At(54.956647081, -105.496075376)),
            ("caplib-earthquake-iso8859-1.xml", At(12.747, -88.783)),
            ("caplib-wcatwc-warning.xml", Refused(422, "no_location")),
            ("google-PAAQ-4-mg5a94.xml", At(55.3, -134.9)),
            // A Cancel of an alert firstlink never had.
            (
                "ipaws-5e6dd9de023f1930ef6548d9.xml",
                Refused(422, "unknown_reference"),
            ),
            (
                "ipaws-5e6ddbad023f1930ef6c1a5a.xml",
                Refused(422, "no_location"),
            ),
            (
                "ipaws-5e7e0fc5023f1930efcf3deb.xml",
                At(39.083930785, -77.149412002),
            ),
            ("oasis-cap12-appendix-a1.xml", Refused(422, "no_location")),
            (
                "oasis-cap12-appendix-a2.xml",
                At(38.484006116, -119.934617737),
            ),
            ("oasis-cap12-appendix-a3.xml", At(32.9525, -115.5527)),
            ("oasis-cap12-appendix-a4.xml", Refused(422, "no_location")),
        ],
    )
    .await;
    check_dir(
        &t,
        &admin,
        "cap11",
        "cap/1.1",
        &[
            ("caplib-no_optional_fields.xml", Refused(422, "no_info")),
            ("caplib-weather.xml", Refused(422, "no_location")),
            ("oasis-cap11-appendix-a1.xml", Refused(422, "no_location")),
            (
                "oasis-cap11-appendix-a2.xml",
                At(38.484006116, -119.934617737),
            ),
            ("oasis-cap11-appendix-a3.xml", At(32.9525, -115.5527)),
            ("oasis-cap11-appendix-a4.xml", Refused(422, "no_location")),
        ],
    )
    .await;
    check_dir(
        &t,
        &admin,
        "capinvalid",
        "cap/invalid",
        &[
            ("caplib-canada_errors.xml", Refused(400, "invalid_cap")),
            // Signed CAP 1.1 (only the 1.1 XSD lacks the signature wildcard): accepted, see firstlink-cad.
            ("caplib-earthquake_signed.xml", At(38.82, -122.812)),
            ("caplib-invalid.xml", Refused(400, "invalid_cap")),
            ("caplib-noaa_errors.xml", Refused(400, "invalid_cap")),
            ("caplib-xee.xml", Refused(400, "malformed_xml")),
        ],
    )
    .await;
    // The CAP 1.1 update of appendix A3 names the alert it replaces: posted
    // after the 1.2 original's key is known, it updates instead of creating.
    let (_, key) = t.region("chain", DispatchPolicy::heartrunner()).await;
    put_settings(&t, &admin, "chain", sample_settings()).await;
    let (s, first) = post_cap(&t, &key, read("cap/1.1/oasis-cap11-appendix-a3.xml")).await;
    assert_eq!(s, 201, "{first}");
    let (s, b) = post_cap(&t, &key, read("cap/1.2/oasis-cap12-appendix-a3.xml")).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        (b["outcome"].as_str(), &b["id"]),
        (Some("updated"), &first["id"])
    );
}

fn stamp(offset_s: i64) -> String {
    (Utc::now() + chrono::Duration::seconds(offset_s))
        .format("%Y-%m-%dT%H:%M:%S+00:00")
        .to_string()
}

/// A CAP 1.2 message from the test CAD.
fn cap(
    identifier: &str,
    msg_type: &str,
    sent: &str,
    event: &str,
    area: &str,
    refs: &str,
) -> String {
    let references = if refs.is_empty() {
        String::new()
    } else {
        format!("<references>{refs}</references>")
    };
    let info = if msg_type == "Cancel" {
        String::new()
    } else {
        format!(
            "<info><category>Health</category><event>{event}</event><urgency>Immediate</urgency><severity>Extreme</severity>\
             <certainty>Observed</certainty><description>Man, 60, collapsed.</description>\
             <parameter><valueName>EMS_ETA_SECONDS</valueName><value>600</value></parameter>{area}</info>"
        )
    };
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>{identifier}</identifier><sender>cad@cph.example</sender>
<sent>{sent}</sent><status>Actual</status><msgType>{msg_type}</msgType><scope>Private</scope><addresses>firstlink</addresses>
<note>stand down: not a cardiac arrest</note>{references}{info}</alert>"#
    )
}

fn circle(desc: &str, lat: f64, lon: f64) -> String {
    format!("<area><areaDesc>{desc}</areaDesc><circle>{lat},{lon} 0.05</circle></area>")
}

const ARREST: &str = "Cardiac arrest";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cap_updates_and_cancels_change_the_mission_and_repeats_create_nothing() {
    let t = spawn_app().await;
    let admin = admin(&t).await;
    let (region, key) = t.region("cph", DispatchPolicy::heartrunner()).await;
    put_settings(&t, &admin, "cph", json!({ "cap": { "events": [ARREST] } })).await;
    let sent0 = stamp(-60);
    let alert = cap(
        "A-1",
        "Alert",
        &sent0,
        ARREST,
        &circle("Vesterbrogade 1", 55.6761, 12.5683),
        "",
    );

    let (s, b) = post_cap(&t, &key, alert.clone()).await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(
        (
            b["key"].as_str(),
            b["external_id"].as_str(),
            b["created"].as_bool()
        ),
        (
            Some("cad@cph.example|A-1"),
            Some("cad@cph.example|A-1"),
            Some(true)
        )
    );
    let id = b["id"].as_str().unwrap().to_string();
    // Retries of the same alert, over CAP and over the JSON API with the key as external id: one incident.
    for _ in 0..3 {
        let (s, b) = post_cap(&t, &key, alert.clone()).await;
        assert_eq!(
            (s, b["id"].as_str(), b["outcome"].as_str()),
            (200, Some(id.as_str()), Some("duplicate"))
        );
    }
    let r = t
        .post_incident(&key, incident_body("cad@cph.example|A-1", cph()))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["id"], json!(id));
    assert_eq!(incident_count(&t, region).await, 1);
    let (_, v) = t.get_json(&key, &format!("/api/v1/incidents/{id}")).await;
    assert_eq!(
        (v["location"]["lat"].as_f64(), v["address"].as_str()),
        (Some(55.6761), Some("Vesterbrogade 1"))
    );

    // Update: new place and address.
    let refs0 = format!("cad@cph.example,A-1,{sent0}");
    let update = cap(
        "A-2",
        "Update",
        &stamp(-30),
        ARREST,
        &circle("Istedgade 2", 55.6701, 12.5601),
        &refs0,
    );
    let (s, b) = post_cap(&t, &key, update.clone()).await;
    assert_eq!(
        (s, b["id"].as_str(), b["outcome"].as_str()),
        (200, Some(id.as_str()), Some("updated")),
        "{b}"
    );
    let (_, v) = t.get_json(&key, &format!("/api/v1/incidents/{id}")).await;
    assert_eq!(
        (v["location"]["lat"].as_f64(), v["address"].as_str()),
        (Some(55.6701), Some("Istedgade 2"))
    );
    assert!(v["ems_eta_at"].is_string());
    let (s, b) = post_cap(&t, &key, update).await;
    assert_eq!((s, b["outcome"].as_str()), (200, Some("duplicate")));
    // An update that references the update finds the same incident.
    let update2 = cap(
        "A-3",
        "Update",
        &stamp(-20),
        ARREST,
        &circle("Istedgade 3", 55.6702, 12.5602),
        &format!("cad@cph.example,A-2,{}", stamp(-30)),
    );
    let (s, b) = post_cap(&t, &key, update2).await;
    assert_eq!(
        (s, b["id"].as_str(), b["outcome"].as_str()),
        (200, Some(id.as_str()), Some("updated")),
        "{b}"
    );
    // An update older than what was applied is refused and changes nothing.
    let old = cap(
        "A-0",
        "Update",
        &stamp(-50),
        ARREST,
        &circle("Elsewhere", 55.0, 12.0),
        &refs0,
    );
    let (s, b) = post_cap(&t, &key, old).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (409, Some("stale_update")),
        "{b}"
    );
    let (_, v) = t.get_json(&key, &format!("/api/v1/incidents/{id}")).await;
    assert_eq!(v["address"], "Istedgade 3");

    // Cancel, its retry, and a second cancel.
    let cancel = cap("A-4", "Cancel", &stamp(-10), ARREST, "", &refs0);
    let (s, b) = post_cap(&t, &key, cancel.clone()).await;
    assert_eq!(
        (s, b["id"].as_str(), b["outcome"].as_str()),
        (200, Some(id.as_str()), Some("cancelled")),
        "{b}"
    );
    let (_, v) = t.get_json(&key, &format!("/api/v1/incidents/{id}")).await;
    assert_eq!(
        (v["status"].as_str(), v["status_reason"].as_str()),
        (Some("cancelled"), Some("stand down: not a cardiac arrest"))
    );
    let (s, b) = post_cap(&t, &key, cancel).await;
    assert_eq!((s, b["outcome"].as_str()), (200, Some("duplicate")));
    let (s, b) = post_cap(
        &t,
        &key,
        cap("A-5", "Cancel", &stamp(-5), ARREST, "", &refs0),
    )
    .await;
    assert_eq!((s, b["outcome"].as_str()), (200, Some("already_cancelled")));
    // An update of a cancelled mission is refused.
    let late = cap(
        "A-6",
        "Update",
        &stamp(-1),
        ARREST,
        &circle("Istedgade 4", 55.6702, 12.5602),
        &refs0,
    );
    let (s, b) = post_cap(&t, &key, late).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (409, Some("mission_over")),
        "{b}"
    );
    assert_eq!(incident_count(&t, region).await, 1);

    // Refusals, each specific, none leaving anything behind.
    let cases: Vec<(String, u16, &str)> = vec![
        (
            cap(
                "B-1",
                "Alert",
                &stamp(0),
                "Chimney fire",
                &circle("x", 55.0, 12.0),
                "",
            ),
            422,
            "not_cardiac_arrest",
        ),
        (
            cap("B-2", "Alert", &stamp(0), ARREST, "", ""),
            422,
            "no_location",
        ),
        (
            cap(
                "B-3",
                "Alert",
                &stamp(0),
                ARREST,
                "<area><areaDesc>Nowhere</areaDesc></area>",
                "",
            ),
            422,
            "no_location",
        ),
        (
            cap(
                "B-4",
                "Cancel",
                &stamp(0),
                ARREST,
                "",
                "cad@cph.example,NEVER,2024-01-01T00:00:00+00:00",
            ),
            422,
            "unknown_reference",
        ),
        (
            cap(
                "B-5",
                "Alert",
                &stamp(0),
                ARREST,
                &circle("x", 95.0, 12.0),
                "",
            ),
            400,
            "invalid_cap",
        ),
        (
            cap(
                "B-6",
                "Alert",
                "yesterday",
                ARREST,
                &circle("x", 55.0, 12.0),
                "",
            ),
            400,
            "invalid_cap",
        ),
        (
            cap(
                "B 7",
                "Alert",
                &stamp(0),
                ARREST,
                &circle("x", 55.0, 12.0),
                "",
            ),
            400,
            "invalid_cap",
        ),
        (
            cap(
                "B-8",
                "Alert",
                &stamp(0),
                ARREST,
                &circle("x", 55.0, 12.0),
                "",
            )
            .replace("</alert>", ""),
            400,
            "malformed_xml",
        ),
        ("<html><body>hello</body></html>".into(), 400, "not_cap"),
        ("not xml at all".into(), 400, "malformed_xml"),
        (String::new(), 400, "malformed_xml"),
        (
            cap(
                "B-9",
                "Ack",
                &stamp(0),
                ARREST,
                &circle("x", 55.0, 12.0),
                "cad@cph.example,A-1,2024-01-01T00:00:00+00:00",
            ),
            422,
            "not_an_incident",
        ),
    ];
    for (doc, status, code) in cases {
        let (s, b) = post_cap(&t, &key, doc.clone()).await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (status, Some(code)),
            "{doc}: {b}"
        );
    }
    // Entity expansion ("billion laughs") and external entities.
    let mut dtd = String::from("<!DOCTYPE alert [<!ENTITY lol \"lol\">");
    for i in 1..10 {
        dtd.push_str(&format!(
            "<!ENTITY lol{i} \"{}\">",
            format!(
                "&lol{};",
                if i == 1 {
                    String::new()
                } else {
                    (i - 1).to_string()
                }
            )
            .repeat(10)
        ));
    }
    dtd.push(']');
    dtd.push('>');
    let bomb = cap(
        "B-10",
        "Alert",
        &stamp(0),
        ARREST,
        &circle("&lol9;", 55.0, 12.0),
        "",
    )
    .replacen("?>", &format!("?>{dtd}"), 1);
    let (s, b) = post_cap(&t, &key, bomb).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("malformed_xml")),
        "{b}"
    );
    // Oversized: refused at the door; larger than the JSON limit but within 256 KiB: accepted.
    let filler = "x".repeat(300 * 1024);
    let big = cap(
        "B-11",
        "Alert",
        &stamp(0),
        ARREST,
        &circle("Big", 55.6, 12.5),
        "",
    )
    .replace("Man, 60, collapsed.", &filler);
    let (s, b) = post_cap(&t, &key, big).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (413, Some("payload_too_large")),
        "{b}"
    );
    let medium = cap(
        "B-12",
        "Alert",
        &stamp(0),
        ARREST,
        &circle("Medium", 55.6, 12.5),
        "",
    )
    .replace("Man, 60, collapsed.", &"y".repeat(100 * 1024));
    let (s, b) = post_cap(&t, &key, medium).await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(incident_count(&t, region).await, 2);
    // Wrong media type; no credentials.
    let r = t
        .http
        .post(t.url("/api/v1/cap"))
        .bearer_auth(&key)
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let r = t
        .http
        .post(t.url("/api/v1/cap"))
        .header("Content-Type", "application/cap+xml")
        .body(alert.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Requiring signatures needs a trusted certificate; then unsigned alerts
    // are refused, and signed ones that do not verify (here: SHA-1).
    let r = t
        .http
        .put(t.url("/api/v1/regions/cph/integration"))
        .bearer_auth(&admin)
        .json(&json!({ "cap": { "events": [ARREST], "require_signature": true } }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["field"],
        "cap.trusted_certificates"
    );
    put_settings(&t, &admin, "cph", json!({ "cap": { "events": [ARREST, "Earthquake"], "require_signature": true, "trusted_certificates": [dsig_pem("rsa")] } })).await;
    let (s, b) = post_cap(
        &t,
        &key,
        cap(
            "C-1",
            "Alert",
            &stamp(0),
            ARREST,
            &circle("x", 55.6, 12.5),
            "",
        ),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (422, Some("signature_required")),
        "{b}"
    );
    let (s, b) = post_cap(&t, &key, read("cap/1.2/caplib-earthquake-iso8859-1.xml")).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (422, Some("signature_weak_algorithm")),
        "{b}"
    );
    assert_eq!(incident_count(&t, region).await, 2);

    // Settings: operators of the region only; secrets never shown back.
    let (s, _) = t.get_json(&key, "/api/v1/regions/cph/integration").await;
    assert_eq!(s, 403);
    let (s, v) = t.get_json(&admin, "/api/v1/regions/cph/integration").await;
    assert_eq!(
        (s, v["settings"]["cap"]["require_signature"].as_bool()),
        (200, Some(true))
    );
    let r = t
        .http
        .put(t.url("/api/v1/regions/cph/integration"))
        .bearer_auth(&admin)
        .json(&json!({ "webhook": { "url": "ftp://x" , "secret": "0123456789abcdef"} }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["field"],
        "webhook.url"
    );
    let r = t
        .http
        .put(t.url("/api/v1/regions/cph/integration"))
        .bearer_auth(&admin)
        .json(&json!({ "cap": { "evnts": [] } }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

/// A file of firstlink-cad's XML-DSig fixtures (made with signxml; see its README).
fn dsig(rel: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../cad/tests/fixtures/dsig")
        .join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn dsig_pem(name: &str) -> String {
    String::from_utf8(dsig(&format!("keys/{name}.pem"))).unwrap()
}

fn replaced(doc: Vec<u8>, from: &str, to: &str) -> Vec<u8> {
    let s = String::from_utf8(doc).unwrap();
    assert_eq!(s.matches(from).count(), 1, "{from}");
    s.replace(from, to).into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_cap_alerts_are_verified_against_the_regions_certificates() {
    let t = spawn_app().await;
    let admin = admin(&t).await;
    let (region, key) = t.region("signed", DispatchPolicy::heartrunner()).await;

    // Certificates are checked when saved: a 422 naming the entry, never a 500.
    let key_pem = String::from_utf8(dsig("keys/rsa.key")).unwrap();
    for (bad, why) in [
        ("junk".to_string(), "no PEM certificate"),
        (dsig_pem("rsa1024"), "1024 bits"),
        (key_pem, "PRIVATE KEY"),
        (dsig_pem("ec-p384"), "curve"),
    ] {
        let r = t
            .http
            .put(t.url("/api/v1/regions/signed/integration"))
            .bearer_auth(&admin)
            .json(&json!({ "cap": { "trusted_certificates": [dsig_pem("ec"), bad] } }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422);
        let b: Value = r.json().await.unwrap();
        assert_eq!(
            (b["error"]["code"].as_str(), b["error"]["field"].as_str()),
            (
                Some("invalid_certificate"),
                Some("cap.trusted_certificates[1]")
            ),
            "{b}"
        );
        assert!(
            b["error"]["message"].as_str().unwrap().contains(why),
            "{why}: {b}"
        );
    }

    put_settings(&t, &admin, "signed", json!({ "cap": { "events": ["Earthquake"], "require_signature": true, "trusted_certificates": [dsig_pem("rsa"), dsig_pem("ec")] } })).await;
    let (s, v) = t
        .get_json(&admin, "/api/v1/regions/signed/integration")
        .await;
    assert_eq!(
        (
            s,
            v["settings"]["cap"]["trusted_certificates"]
                .as_array()
                .map(Vec::len)
        ),
        (200, Some(2))
    );

    // Refused, each with its reason, nothing created.
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "moved circle",
            replaced(
                dsig("signed/a3-ec-inc-comments.xml"),
                "32.9525,-115.5527 0",
                "32.9625,-115.5527 0",
            ),
            "signature_digest_mismatch",
        ),
        (
            "removed element",
            replaced(
                dsig("signed/a3-rsa-exc.xml"),
                "<web>http://www.trinet.org/scsn/scsn.html</web>",
                "",
            ),
            "signature_digest_mismatch",
        ),
        (
            "someone else's key",
            dsig("signed/a3-other.xml"),
            "signature_untrusted_key",
        ),
        (
            "SHA-1",
            dsig("signed/a3-rsa-sha1.xml"),
            "signature_weak_algorithm",
        ),
        (
            "reference to an Id",
            dsig("signed/a3-rsa-id-reference.xml"),
            "signature_reference_invalid",
        ),
        (
            "bad base64",
            replaced(
                dsig("signed/a3-rsa-exc.xml"),
                "<ds:SignatureValue>",
                "<ds:SignatureValue>*",
            ),
            "signature_malformed",
        ),
        (
            "unsigned",
            read("cap/1.2/oasis-cap12-appendix-a3.xml"),
            "signature_required",
        ),
    ];
    for (what, doc, code) in cases {
        let (s, b) = post_cap(&t, &key, doc).await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (422, Some(code)),
            "{what}: {b}"
        );
    }
    assert_eq!(incident_count(&t, region).await, 0);

    // Correctly signed: an incident at the alert's place.
    let (s, b) = post_cap(&t, &key, dsig("signed/a3-rsa-exc.xml")).await;
    assert_eq!((s, b["outcome"].as_str()), (201, Some("created")), "{b}");
    let (_, v) = t
        .get_json(
            &key,
            &format!("/api/v1/incidents/{}", b["id"].as_str().unwrap()),
        )
        .await;
    assert!(
        close(v["location"]["lat"].as_f64().unwrap(), 32.9525)
            && close(v["location"]["lon"].as_f64().unwrap(), -115.5527),
        "{v}"
    );
    assert_eq!(v["external_id"], "trinet@caltech.edu|TRI13970876.2");
    // The same message signed with the EC key and inclusive C14N: a duplicate.
    let (s, b2) = post_cap(&t, &key, dsig("signed/a3-ec-inc-comments.xml")).await;
    assert_eq!(
        (s, b2["outcome"].as_str(), &b2["id"]),
        (200, Some("duplicate"), &b["id"]),
        "{b2}"
    );
    assert_eq!(incident_count(&t, region).await, 1);

    // Not required but certificates configured: unsigned alerts pass, signed
    // ones are still verified and refused when they fail.
    put_settings(&t, &admin, "signed", json!({ "cap": { "events": ["Earthquake", "Fire", ARREST], "accept_expired": true, "trusted_certificates": [dsig_pem("rsa")] } })).await;
    let (s, b) = post_cap(
        &t,
        &key,
        cap(
            "U-1",
            "Alert",
            &stamp(0),
            ARREST,
            &circle("Vesterbrogade 1", 55.6761, 12.5683),
            "",
        ),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = post_cap(&t, &key, dsig("signed/australia-ec-exc.xml")).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (422, Some("signature_untrusted_key")),
        "{b}"
    );
    let tampered = replaced(
        dsig("signed/a3-rsa-inc.xml"),
        "<urgency>Past</urgency>",
        "<urgency>Immediate</urgency>",
    );
    let (s, b) = post_cap(&t, &key, tampered).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (422, Some("signature_digest_mismatch")),
        "{b}"
    );
    assert_eq!(incident_count(&t, region).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_cap_alerts_are_refused_unless_the_region_accepts_them() {
    let t = spawn_app().await;
    let admin = admin(&t).await;
    let (region, key) = t.region("fresh", DispatchPolicy::heartrunner()).await;
    put_settings(
        &t,
        &admin,
        "fresh",
        json!({ "cap": { "events": [ARREST] } }),
    )
    .await;
    let with_expires = |id: &str, expires: &str| {
        cap(
            id,
            "Alert",
            &stamp(-600),
            ARREST,
            &circle("Vesterbrogade 1", 55.6761, 12.5683),
            "",
        )
        .replace(
            "<description>",
            &format!("<expires>{expires}</expires><description>"),
        )
    };
    let (s, b) = post_cap(&t, &key, with_expires("E-1", &stamp(-60))).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (422, Some("cap_expired")),
        "{b}"
    );
    assert_eq!(incident_count(&t, region).await, 0);
    let (s, b) = post_cap(&t, &key, with_expires("E-2", &stamp(600))).await;
    assert_eq!(s, 201, "{b}");
    // Cancelling it works as ever.
    let cancel = cap(
        "E-3",
        "Cancel",
        &stamp(-1),
        ARREST,
        "",
        &format!("cad@cph.example,E-2,{}", stamp(-600)),
    );
    let (s, b) = post_cap(&t, &key, cancel).await;
    assert_eq!((s, b["outcome"].as_str()), (200, Some("cancelled")), "{b}");
    put_settings(
        &t,
        &admin,
        "fresh",
        json!({ "cap": { "events": [ARREST], "accept_expired": true } }),
    )
    .await;
    let (s, b) = post_cap(&t, &key, with_expires("E-1", &stamp(-60))).await;
    assert_eq!(s, 201, "{b}");
}

const GEO_PIDF: &str = r#"<?xml version="1.0" encoding="UTF-8"?><presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10" xmlns:gml="http://www.opengis.net/gml" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" entity="pres:caller@example.com"><dm:device id="d1"><gp:geopriv><gp:location-info><gml:Point srsName="urn:ogc:def:crs:EPSG::4326"><gml:pos>LAT LON</gml:pos></gml:Point></gp:location-info><gp:method>GPS</gp:method></gp:geopriv></dm:device></presence>"#;

fn eido_sample() -> Value {
    serde_json::from_slice(&read("eido/sample-call-transfer-eido.json")).unwrap()
}

fn with_incident(mut v: Value) -> Value {
    v["incidentComponent"] = json!({
        "$id": "urn:emergency:uid:incidentid:a56e556d871:bcf.state.pa.us",
        "lastUpdateTimeStamp": "2021-04-30T14:42:30.0-04:00",
        "updatedByAgencyReference": { "$ref": "state.pa.us" },
        "incidentTypeCommonRegistryText": "Medical.CardiacArrest",
        "locationReference": [{ "$ref": "123e4567-beef-12d3-a456-426614174000" }]
    });
    v
}

fn geodetic(mut v: Value, lat: f64, lon: f64, updated: &str) -> Value {
    v["locationComponent"][1]["locationByValue"] =
        json!(GEO_PIDF.replace("LAT LON", &format!("{lat} {lon}")));
    v["lastUpdateTimeStamp"] = json!(updated);
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eido_incidents_are_created_updated_and_refused_like_cap() {
    let t = spawn_app().await;
    let admin = admin(&t).await;
    let (region, key) = t.region("pa", DispatchPolicy::heartrunner()).await;
    put_settings(&t, &admin, "pa", sample_settings()).await;

    // The shared sample as it is: valid, but it says nothing about the kind of incident.
    let (s, b) = post_eido(&t, &key, &eido_sample()).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (422, Some("not_cardiac_arrest")),
        "{b}"
    );
    // With an incident type but only a civic address: no coordinates to alert around.
    let (s, b) = post_eido(&t, &key, &with_incident(eido_sample())).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (422, Some("no_location")),
        "{b}"
    );
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("42 W Cellular Street")
    );
    // Schema failures name the path.
    let mut bad = with_incident(eido_sample());
    bad.as_object_mut().unwrap().remove("eidoVersion");
    let (s, b) = post_eido(&t, &key, &bad).await;
    assert_eq!(
        (s, b["error"]["code"].as_str(), b["error"]["field"].as_str()),
        (400, Some("invalid_eido"), Some("$.eidoVersion")),
        "{b}"
    );
    let r = t
        .http
        .post(t.url("/api/v1/eido"))
        .bearer_auth(&key)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "invalid_json"
    );
    assert_eq!(incident_count(&t, region).await, 0);

    let v1 = geodetic(
        with_incident(eido_sample()),
        39.7459,
        -75.5466,
        "2021-04-30T18:43:49.439Z",
    );
    let (s, b) = post_eido(&t, &key, &v1).await;
    assert_eq!(s, 201, "{b}");
    let id = b["id"].as_str().unwrap().to_string();
    assert_eq!(
        b["external_id"],
        "eido|urn:emergency:uid:incidentid:a56e556d871:bcf.state.pa.us"
    );
    let (_, v) = t.get_json(&key, &format!("/api/v1/incidents/{id}")).await;
    assert_eq!(
        (v["location"]["lat"].as_f64(), v["location"]["lon"].as_f64()),
        (Some(39.7459), Some(-75.5466))
    );
    assert_eq!(v["address"], "42 W Cellular Street, Wilmington, DE, US");
    // The same EIDO again: nothing new.
    let (s, b) = post_eido(&t, &key, &v1).await;
    assert_eq!(
        (s, b["id"].as_str(), b["outcome"].as_str()),
        (200, Some(id.as_str()), Some("duplicate"))
    );
    // A later EIDO of the same incident updates it.
    let v2 = geodetic(
        with_incident(eido_sample()),
        39.75,
        -75.55,
        "2021-04-30T18:50:00Z",
    );
    let (s, b) = post_eido(&t, &key, &v2).await;
    assert_eq!(
        (s, b["id"].as_str(), b["outcome"].as_str()),
        (200, Some(id.as_str()), Some("updated")),
        "{b}"
    );
    let (_, v) = t.get_json(&key, &format!("/api/v1/incidents/{id}")).await;
    assert_eq!(v["location"]["lat"].as_f64(), Some(39.75));
    // An older one is refused.
    let v0 = geodetic(
        with_incident(eido_sample()),
        1.0,
        1.0,
        "2021-04-30T18:00:00Z",
    );
    let (s, b) = post_eido(&t, &key, &v0).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (409, Some("stale_update")),
        "{b}"
    );
    assert_eq!(incident_count(&t, region).await, 1);

    // The endpoints are in the OpenAPI document.
    let (_, doc) = t.get_json(&key, "/api/v1/openapi.json").await;
    for p in [
        "/api/v1/cap",
        "/api/v1/eido",
        "/api/v1/regions/{slug}/integration",
    ] {
        assert!(
            doc["paths"].get(p).is_some(),
            "{p} missing from the OpenAPI document"
        );
    }
}

// ---------------------------------------------------------------------------
// Status webhook
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Delivery {
    key: String,
    body: Value,
}

#[derive(Clone)]
struct Receiver {
    /// Answers 503 until this instant.
    down_until: Arc<Mutex<Instant>>,
    secret: String,
    refused: Arc<Mutex<u32>>,
    got: Arc<Mutex<Vec<Delivery>>>,
    bad_signatures: Arc<Mutex<u32>>,
}

async fn receive(State(r): State<Receiver>, h: HeaderMap, body: axum::body::Bytes) -> StatusCode {
    if Instant::now() < *r.down_until.lock().unwrap() {
        *r.refused.lock().unwrap() += 1;
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let sig = h
        .get("firstlink-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let now = Utc::now().timestamp() as u64;
    if !firstlink_notify::verify_webhook_signature(
        &r.secret,
        sig,
        &body,
        now,
        Duration::from_secs(300),
    ) {
        *r.bad_signatures.lock().unwrap() += 1;
        return StatusCode::UNAUTHORIZED;
    }
    let key = h
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    r.got.lock().unwrap().push(Delivery {
        key,
        body: serde_json::from_slice(&body).unwrap(),
    });
    StatusCode::OK
}

async fn start_receiver(secret: &str, outage: Duration) -> (Receiver, String) {
    let r = Receiver {
        down_until: Arc::new(Mutex::new(Instant::now() + outage)),
        secret: secret.into(),
        refused: Arc::default(),
        got: Arc::default(),
        bad_signatures: Arc::default(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let router = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(r.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (r, url)
}

/// The outage of the receiver; a minute in production terms, a few seconds here.
const OUTAGE: Duration = Duration::from_secs(4);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_receiver_that_was_down_gets_every_event_afterwards_in_order_once_each() {
    let t = spawn_app().await;
    let admin = admin(&t).await;
    let policy = fast_policy(DispatchPolicy {
        first_wave: 3,
        wave_size: 0,
        target_acceptors: 2,
        replace_declines: true,
        ..DispatchPolicy::heartrunner()
    });
    let (region, key) = t.region("cph", policy).await;
    let patient = cph();
    let mut vols = Vec::new();
    for i in 0..3 {
        vols.push(
            t.volunteer(
                region,
                patient.offset(f64::from(i) * 60.0, 150.0 + 100.0 * f64::from(i)),
                Tier::IncludingHomes,
            )
            .await,
        );
    }
    t.aed(
        region,
        "Town hall AED",
        patient.offset(10.0, 120.0),
        "24/7",
        None,
    )
    .await;
    // An incident before the webhook is turned on is not replayed.
    let r = t
        .post_incident(
            &key,
            incident_body("before-webhook", patient.offset(5000.0, 5000.0)),
        )
        .await;
    assert_eq!(r.status(), 201);
    eventually(10, "the earlier incident's events", || async {
        (t.app.store.event_log_head().await.unwrap() > 0).then_some(())
    })
    .await;

    let secret = "whsec_0123456789abcdef";
    let (rx, url) = start_receiver(secret, OUTAGE).await;
    let v = put_settings(
        &t,
        &admin,
        "cph",
        json!({
            "cap": { "events": [ARREST] },
            "webhook": { "url": url, "secret": secret, "retry_initial_ms": 100, "retry_max_ms": 400, "timeout_ms": 2000 }
        }),
    )
    .await;
    assert!(
        v["settings"]["webhook"]["secret"].is_null() && v["webhook_secret_set"] == json!(true),
        "{v}"
    );

    // A whole mission while the receiver is down; dispatch is never slowed by it.
    let started = Instant::now();
    let (s, b) = post_cap(
        &t,
        &key,
        cap(
            "W-1",
            "Alert",
            &stamp(-5),
            ARREST,
            &circle("Vesterbrogade 1", patient.lat, patient.lon),
            "",
        ),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "dispatch took {:?}",
        started.elapsed()
    );
    let id = b["id"].as_str().unwrap().to_string();
    let ids: Vec<String> = vols.iter().map(|v| v.0.to_string()).collect();
    eventually(20, "alerts", || async {
        ids.iter().all(|s| t.push.count(s) >= 1).then_some(())
    })
    .await;
    let (s, a) = t
        .post_json(
            &vols[0].1,
            &format!("/api/v1/missions/{id}/accept"),
            json!({}),
        )
        .await;
    assert_eq!(s, 200, "{a}");
    let (s, a) = t
        .post_json(
            &vols[1].1,
            &format!("/api/v1/missions/{id}/accept"),
            json!({}),
        )
        .await;
    assert_eq!(
        (s, a["mission"]["task"]["role"].as_str()),
        (200, Some("fetch_aed")),
        "{a}"
    );
    for st in ["en_route", "aed_collected", "on_scene"] {
        let (s, b) = t
            .post_json(
                &vols[1].1,
                &format!("/api/v1/missions/{id}/status"),
                json!({ "status": st }),
            )
            .await;
        assert_eq!(s, 200, "{st}: {b}");
    }
    let (s, b) = t
        .post_json(
            &vols[0].1,
            &format!("/api/v1/missions/{id}/status"),
            json!({ "status": "on_scene" }),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, _) = t
        .post_json(
            &key,
            &format!("/api/v1/incidents/{id}/end"),
            json!({ "reason": "ambulance on scene" }),
        )
        .await;
    assert_eq!(s, 200);
    assert!(
        rx.got.lock().unwrap().is_empty(),
        "nothing got through during the outage"
    );

    // After the outage: everything, in order, once.
    let got = eventually(30, "mission.ended delivered", || async {
        let g = rx.got.lock().unwrap().clone();
        g.iter()
            .any(|d| d.body["type"] == "mission.ended")
            .then_some(g)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let got2 = rx.got.lock().unwrap().clone();
    assert_eq!(got.len(), got2.len(), "nothing after the end");
    assert!(
        *rx.refused.lock().unwrap() >= 2,
        "the receiver was really down"
    );
    assert_eq!(*rx.bad_signatures.lock().unwrap(), 0);

    let keys: Vec<&str> = got.iter().map(|d| d.key.as_str()).collect();
    let mut unique = keys.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), keys.len(), "each event once: {keys:?}");
    for d in &got {
        assert_eq!(d.body["id"].as_str(), Some(d.key.as_str()));
        assert_eq!(
            d.body["incident"]["id"],
            json!(id),
            "only this mission: {}",
            d.body
        );
        assert_eq!(d.body["incident"]["external_id"], "cad@cph.example|W-1");
        assert_eq!(d.body["region"], "cph");
    }
    let seqs: Vec<u64> = got
        .iter()
        .map(|d| d.body["seq"].as_u64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in order: {seqs:?}");
    let pos: Vec<i64> = got
        .iter()
        .map(|d| d.body["position"].as_i64().unwrap())
        .collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "in order: {pos:?}");

    // Exactly the mission's timeline, minus what the feed leaves out.
    let timeline = t.app.store.events(id.parse().unwrap(), 0).await.unwrap();
    let skipped = [
        "declined",
        "timed_out",
        "out_of_range",
        "stood_down",
        "message",
    ];
    let expected: Vec<u64> = timeline
        .iter()
        .filter(|(_, e)| {
            !skipped.contains(&serde_json::to_value(e).unwrap()["type"].as_str().unwrap())
        })
        .map(|(s, _)| *s)
        .collect();
    assert_eq!(seqs, expected);
    let types: Vec<&str> = got
        .iter()
        .map(|d| d.body["type"].as_str().unwrap())
        .collect();
    for k in [
        "mission.created",
        "volunteers.alerted",
        "responder.accepted",
        "responder.aed_collected",
        "responder.on_scene",
        "mission.ended",
    ] {
        assert!(types.contains(&k), "{k} in {types:?}");
    }
    let accepted: Vec<bool> = got
        .iter()
        .filter(|d| d.body["type"] == "responder.accepted")
        .map(|d| d.body["data"]["first"].as_bool().unwrap())
        .collect();
    assert_eq!(
        accepted,
        vec![true, false],
        "the first acceptance is marked"
    );
    let on_scene: Vec<bool> = got
        .iter()
        .filter(|d| d.body["type"] == "responder.on_scene")
        .map(|d| d.body["data"]["first"].as_bool().unwrap())
        .collect();
    assert_eq!(
        on_scene,
        vec![true, false],
        "the first responder on scene is marked"
    );

    // The operator sees the feed's progress.
    let (_, v) = t.get_json(&admin, "/api/v1/regions/cph/integration").await;
    let st = &v["webhook_status"];
    assert_eq!(
        (
            st["delivered"].as_u64(),
            st["attempts"].as_u64(),
            st["skipped"].as_u64()
        ),
        (Some(got.len() as u64), Some(0), Some(0)),
        "{v}"
    );

    // The EIDO format, where the region asks for it.
    put_settings(
        &t,
        &admin,
        "cph",
        json!({ "cap": { "events": [ARREST] }, "webhook": { "url": url, "format": "eido", "retry_initial_ms": 100, "retry_max_ms": 400 } }),
    )
    .await;
    let (s, b) = post_cap(
        &t,
        &key,
        cap(
            "W-2",
            "Alert",
            &stamp(-1),
            ARREST,
            &circle("Vesterbrogade 9", patient.lat, patient.lon),
            "",
        ),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let id2 = b["id"].as_str().unwrap().to_string();
    let eido = eventually(20, "an EIDO update", || async {
        rx.got
            .lock()
            .unwrap()
            .iter()
            .find(|d| d.body["eidoVersion"] == "1.0")
            .cloned()
    })
    .await;
    assert_eq!(
        eido.body["$id"],
        json!(format!("urn:emergency:uid:incidentid:{id2}:firstlink"))
    );
    assert_eq!(
        eido.body["notesComponent"][0]["firstlinkEvent"]["type"],
        "mission.created"
    );
}
