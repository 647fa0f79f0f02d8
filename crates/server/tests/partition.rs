//! Regions are partitions: another region's key cannot reach a region's
//! volunteers, AEDs or data; a boundary refuses incidents outside it; a
//! neighbour agreement lends volunteers only when both sides agreed, and
//! then anonymously.

mod support;

use std::time::Duration;

use firstlink_domain::geo::LatLon;
use firstlink_domain::policy::DispatchPolicy;
use firstlink_domain::volunteer::Tier;
use firstlink_store::OperatorRole;
use serde_json::{Value, json};
use support::*;

fn policy() -> DispatchPolicy {
    fast_policy(DispatchPolicy {
        first_wave: 3,
        wave_size: 0,
        target_acceptors: 2,
        ..DispatchPolicy::heartrunner()
    })
}

/// A GeoJSON square `d` degrees wide with its south-west corner at (lat, lon).
fn square(lat: f64, lon: f64, d: f64) -> Value {
    json!({"type": "Polygon", "coordinates": [[
        [lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]
    ]]})
}

async fn view(t: &TestApp, token: &str, id: &str) -> (u16, Value) {
    t.get_json(token, &format!("/api/v1/incidents/{id}")).await
}

/// Waits until the mission has planned its first step (a wave or "not alerted").
async fn planned(t: &TestApp, key: &str, id: &str) -> Value {
    eventually(10, "first step", || async {
        let (s, v) = view(t, key, id).await;
        (s == 200 && (v["waves"].as_u64() > Some(0) || v["status"] != "active")).then_some(v)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_regions_key_reaches_none_of_a_regions_volunteers_aeds_or_views() {
    let t = spawn_app().await;
    let (a, _key_a) = t.region("hovedstaden", policy()).await;
    let (b, key_b) = t.region("sjaelland", policy()).await;
    let patient = cph();
    let mut vols = Vec::new();
    for i in 0..4 {
        vols.push(
            t.volunteer(
                a,
                patient.offset(f64::from(i) * 90.0, 150.0),
                Tier::IncludingHomes,
            )
            .await,
        );
    }
    let aed = t
        .aed(
            a,
            "Rådhus AED",
            patient.offset(0.0, 80.0),
            "24/7",
            Some("K#77AB"),
        )
        .await;
    let dispatcher_a = t
        .operator("disp-a", OperatorRole::Dispatcher, vec![a])
        .await;

    // Without boundaries region B may take the call, but dispatches from its own data only.
    let id = incident(&t, &key_b, "b-1", patient).await;
    let v = planned(&t, &key_b, &id).await;
    assert_eq!(v["counts"]["alerted"], 0, "{v}");
    assert_eq!(v["responders"], json!([]), "{v}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (vid, _) in &vols {
        assert_eq!(t.push.count(&vid.to_string()), 0, "A's volunteer alerted");
    }
    let (_, v) = view(&t, &key_b, &id).await;
    let text = v.to_string();
    assert!(!text.contains(&aed.to_string()) && !text.contains("Rådhus"));
    for (vid, _) in &vols {
        assert!(!text.contains(&vid.to_string()));
    }
    // Region A's dispatcher cannot see B's incident (no agreement): 404, not 403.
    assert_eq!(view(&t, &dispatcher_a, &id).await.0, 404);
    // Coverage of B shows none of A's volunteers or AEDs.
    let (s, cov) = t
        .get_json(
            &key_b,
            "/api/v1/coverage?region=sjaelland&bbox=12.55,55.66,12.60,55.69",
        )
        .await;
    if s == 200 {
        let cells = cov["cells"].as_array().unwrap();
        assert!(cells.iter().all(|c| c["volunteers"] == 0 && c["aeds"] == 0));
    } else {
        assert!(s == 403 || s == 400, "{s} {cov}");
    }

    // With boundaries, B's key posting inside A is refused before anything is stored.
    let admin = t.operator("root", OperatorRole::Admin, vec![]).await;
    let (s, body) = t
        .put_json(
            &admin,
            "/api/v1/regions/hovedstaden/partition",
            json!({"boundary": square(55.60, 12.45, 0.15), "border_margin_m": 300}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = t
        .put_json(
            &admin,
            "/api/v1/regions/sjaelland/partition",
            json!({"boundary": square(55.30, 11.60, 0.25)}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let r = t.post_incident(&key_b, incident_body("b-2", patient)).await;
    assert_eq!(r.status(), 422);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "outside_region", "{e}");
    // Just outside B's boundary but within the default 500 m margin: taken.
    let edge = LatLon::new(55.30 - 0.003, 11.70).unwrap();
    let r = t.post_incident(&key_b, incident_body("b-3", edge)).await;
    assert_eq!(r.status(), 201);
    // And A's own key still takes calls inside A.
    let r = t
        .post_incident(&_key_a, incident_body("a-1", patient))
        .await;
    assert_eq!(r.status(), 201);
    // A correction cannot move A's incident out of A either.
    let a1 = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s_, e) = t
        .patch_json(
            &_key_a,
            &format!("/api/v1/incidents/{a1}"),
            json!({"location": {"lat": 55.40, "lon": 11.70}}),
        )
        .await;
    assert_eq!(
        (s_, e["error"]["code"].as_str()),
        (422, Some("outside_region")),
        "{e}"
    );
    // A bad boundary is a 400 naming the field, and changes nothing.
    let (s, e) = t
        .put_json(
            &admin,
            "/api/v1/regions/sjaelland/partition",
            json!({"boundary": {"type": "Point", "coordinates": [12.0, 55.0]}}),
        )
        .await;
    assert_eq!(
        (s, e["error"]["field"].as_str()),
        (400, Some("boundary")),
        "{e}"
    );
    let (_, p) = t
        .get_json(&admin, "/api/v1/regions/sjaelland/partition")
        .await;
    assert_eq!(p["boundary"]["type"], "Polygon");
    // Operators of region A may not change region B's partition.
    let operator_a = t.operator("op-a", OperatorRole::Operator, vec![a]).await;
    let (s, _) = t
        .put_json(
            &operator_a,
            "/api/v1/regions/sjaelland/partition",
            json!({"neighbours": ["hovedstaden"]}),
        )
        .await;
    assert_eq!(s, 403);
    let _ = b;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_neighbour_lends_volunteers_only_when_both_agreed_and_then_anonymously() {
    let t = spawn_app().await;
    let (a, _) = t.region("hovedstaden", policy()).await;
    let (b, key_b) = t.region("sjaelland", policy()).await;
    let (c, _) = t.region("nordjylland", policy()).await;
    let patient = cph();
    let mut vols = Vec::new();
    for i in 0..3 {
        vols.push(
            t.volunteer(
                a,
                patient.offset(f64::from(i) * 120.0, 200.0),
                Tier::IncludingHomes,
            )
            .await,
        );
    }
    let dispatcher_a = t
        .operator("disp-a", OperatorRole::Dispatcher, vec![a])
        .await;
    let dispatcher_c = t
        .operator("disp-c", OperatorRole::Dispatcher, vec![c])
        .await;
    let admin = t.operator("root", OperatorRole::Admin, vec![]).await;

    // Only A agrees: nothing is lent.
    let (s, p) = t
        .put_json(
            &admin,
            "/api/v1/regions/hovedstaden/partition",
            json!({"neighbours": ["sjaelland"]}),
        )
        .await;
    assert_eq!((s, p["agreed"].clone()), (200, json!([])), "{p}");
    let id = incident(&t, &key_b, "b-1", patient).await;
    let v = planned(&t, &key_b, &id).await;
    assert_eq!(v["responders"], json!([]), "{v}");

    // Both agree: B's next mission alerts A's volunteers.
    let (s, p) = t
        .put_json(
            &admin,
            "/api/v1/regions/sjaelland/partition",
            json!({"neighbours": ["hovedstaden"]}),
        )
        .await;
    assert_eq!(
        (s, p["agreed"].clone()),
        (200, json!(["hovedstaden"])),
        "{p}"
    );
    let id = incident(&t, &key_b, "b-2", patient).await;
    alerted(&t, &vols[0].1).await;
    let (s, acc) = t
        .post_json(
            &vols[0].1,
            &format!("/api/v1/missions/{id}/accept"),
            json!({}),
        )
        .await;
    assert_eq!(s, 200, "{acc}");
    let (s, v) = view(&t, &key_b, &id).await;
    assert_eq!(s, 200);
    let rs = v["responders"].as_array().unwrap();
    assert!(!rs.is_empty(), "{v}");
    for r in rs {
        // "A responder of region hovedstaden": role, state and ETA, never a name.
        assert_eq!(r["region"], "hovedstaden", "{r}");
        assert!(r["name"].is_null(), "{r}");
        let accepted = r["volunteer_id"] == json!(vols[0].0.to_string());
        assert_eq!(!r["position"].is_null(), accepted, "{r}");
    }
    // A's console sees the incident its volunteers serve; C's does not.
    assert_eq!(view(&t, &dispatcher_a, &id).await.0, 200);
    assert_eq!(view(&t, &dispatcher_c, &id).await.0, 404);
    // A's dispatcher follows, but does not act on, B's incident.
    let (s, _) = t
        .post_json(
            &dispatcher_a,
            &format!("/api/v1/incidents/{id}/end"),
            json!({"reason": "not mine"}),
        )
        .await;
    assert_eq!(s, 404);
    let _ = b;
}
