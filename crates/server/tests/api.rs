//! Whole missions over HTTP, as the dispatch centre and the phones run them,
//! against the real server on port 0 with a local mock push service.

mod support;

use std::time::Duration;

use firstlink_domain::policy::DispatchPolicy;
use firstlink_domain::volunteer::Tier;
use firstlink_store::OperatorRole;
use serde_json::{Value, json};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_mission_alerts_replaces_assigns_and_ends_for_everybody() {
    let t = spawn_app().await;
    let policy = fast_policy(DispatchPolicy {
        first_wave: 3,
        wave_size: 0,
        target_acceptors: 2,
        replace_declines: true,
        ..DispatchPolicy::heartrunner()
    });
    let (region, key) = t.region("cph", policy).await;
    let patient = cph();
    // Six volunteers at increasing distance; one AED near the patient with a code.
    let mut vols = Vec::new();
    for i in 0..6 {
        vols.push(
            t.volunteer(
                region,
                patient.offset(f64::from(i) * 60.0, 150.0 + 100.0 * f64::from(i)),
                Tier::IncludingHomes,
            )
            .await,
        );
    }
    let aed = t
        .aed(
            region,
            "Town hall AED",
            patient.offset(10.0, 120.0),
            "24/7",
            Some("T#4321"),
        )
        .await;

    let r = t
        .post_incident(&key, incident_body("cad-100", patient))
        .await;
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // The same CAD id again: the same incident, no second mission.
    let again = t
        .post_incident(&key, incident_body("cad-100", patient))
        .await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.json::<Value>().await.unwrap()["id"], json!(id));

    // The first wave (3 nearest) reaches the mock push service, urgently.
    let first: Vec<String> = vols[..3].iter().map(|v| v.0.to_string()).collect();
    let ok = tokio::time::timeout(Duration::from_secs(10), async {
        while !first.iter().all(|s| t.push.count(s) == 1) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let (_, v) = t.get_json(&key, &format!("/api/v1/incidents/{id}")).await;
    assert!(ok.is_ok(), "pushes {:?} view {v}", t.push.all());
    assert!(
        t.push
            .all()
            .iter()
            .all(|p| p.urgency == "high" && !p.topic.is_empty())
    );
    assert_eq!(t.push.count(&vols[3].0.to_string()), 0);

    // Before accepting, a volunteer sees distance and time, never the address.
    let (s, alert) = t.get_json(&vols[0].1, "/api/v1/me/alert").await;
    assert_eq!(s, 200);
    assert_eq!(alert["state"], "alerted");
    assert!(alert["distance_m"].as_u64().unwrap() > 0 && alert["eta_s"].as_u64().unwrap() > 0);
    assert!(
        alert["address"].is_null()
            && alert["location"].is_null()
            && alert["notes"].is_null()
            && alert["task"].is_null()
    );
    assert!(!alert.to_string().contains("Vesterbrogade"));

    // A decline is replaced by the next nearest volunteer.
    let (s, _) = t
        .post_json(
            &vols[1].1,
            &format!("/api/v1/missions/{id}/decline"),
            json!({}),
        )
        .await;
    assert_eq!(s, 200);
    let v3 = vols[3].0.to_string();
    eventually(20, "replacement alert", || async {
        (t.push.count(&v3) == 1).then_some(())
    })
    .await;

    // The first acceptor goes straight to CPR (heartrunner), the second fetches the AED.
    let (s, a0) = t
        .post_json(
            &vols[0].1,
            &format!("/api/v1/missions/{id}/accept"),
            json!({}),
        )
        .await;
    assert_eq!(s, 200, "{a0}");
    assert_eq!(a0["outcome"], "accepted");
    assert_eq!(a0["mission"]["task"]["role"], "cpr");
    assert_eq!(
        a0["mission"]["address"],
        "Vesterbrogade 1, 1620 København V"
    );
    assert!(
        a0["mission"]["task"]["aed"].is_null(),
        "no AED for the CPR responder"
    );
    let (s, a2) = t.post_json(&vols[2].1, &format!("/api/v1/missions/{id}/accept"), json!({ "position": { "lat": patient.offset(120.0, 350.0).lat, "lon": patient.offset(120.0, 350.0).lon } })).await;
    assert_eq!(s, 200, "{a2}");
    assert_eq!(a2["mission"]["task"]["role"], "fetch_aed");
    assert_eq!(a2["mission"]["task"]["aed"]["id"], json!(aed));
    assert_eq!(a2["mission"]["task"]["aed"]["access_code"], "T#4321");
    // The CPR responder never sees the code.
    let (_, m0) = t
        .get_json(&vols[0].1, &format!("/api/v1/missions/{id}"))
        .await;
    assert!(!m0.to_string().contains("T#4321"));
    assert_eq!(
        m0["responders"].as_array().unwrap().len(),
        1,
        "sees the other responder"
    );

    // Target reached: the outstanding volunteer is stood down, with a push that replaces the alert.
    let stood: String = vols[3].0.to_string();
    eventually(20, "stand-down push", || async {
        (t.push.count(&stood) == 2).then_some(())
    })
    .await;
    let (_, view) = t.get_json(&key, &format!("/api/v1/incidents/{id}")).await;
    let st = states(&view);
    assert_eq!(st[&vols[0].0.to_string()], "accepted");
    assert_eq!(st[&vols[1].0.to_string()], "declined");
    assert_eq!(st[&vols[2].0.to_string()], "accepted");
    assert_eq!(st[&stood], "stood_down");
    assert_eq!(view["counts"]["accepted"], 2);
    let r2 = view["responders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["volunteer_id"] == json!(vols[2].0))
        .unwrap();
    assert_eq!(r2["aed"]["id"], json!(aed));
    assert!(
        r2["position"]["lat"].is_number(),
        "the dispatcher sees accepted responders' positions"
    );
    let r1 = view["responders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["volunteer_id"] == json!(vols[1].0))
        .unwrap();
    assert!(r1["position"].is_null(), "but not those who declined");
    // A late acceptance is told it is not needed.
    let (s, late) = t
        .post_json(
            &vols[3].1,
            &format!("/api/v1/missions/{id}/accept"),
            json!({}),
        )
        .await;
    assert_eq!((s, late["outcome"].as_str()), (200, Some("not_needed")));

    // Progress, then the dispatcher ends the mission.
    for st in ["en_route", "aed_collected", "on_scene"] {
        let (s, b) = t
            .post_json(
                &vols[2].1,
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
            json!({ "status": "aed_collected" }),
        )
        .await;
    assert_eq!((s, b["error"]["code"].as_str()), (409, Some("no_aed_task")));
    let (s, ended) = t
        .post_json(
            &key,
            &format!("/api/v1/incidents/{id}/end"),
            json!({ "reason": "ambulance on scene" }),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(ended["status"], "ended");
    let (a, c) = (vols[0].0.to_string(), vols[2].0.to_string());
    eventually(20, "end pushes", || async {
        (t.push.count(&a) == 2 && t.push.count(&c) >= 2).then_some(())
    })
    .await;
    // The address and the code are hidden again; no current alert.
    let (_, m2) = t
        .get_json(&vols[2].1, &format!("/api/v1/missions/{id}"))
        .await;
    assert_eq!(m2["status"], "ended");
    assert!(m2["address"].is_null() && m2["task"].is_null());
    assert!(!m2.to_string().contains("T#4321"));
    let r = t
        .http
        .get(t.url("/api/v1/me/alert"))
        .bearer_auth(&vols[2].1)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    // The AED is free again for the next mission.
    assert!(t.app.aeds().claimed_by(aed).is_none());
    let (s, b) = t
        .post_json(&key, &format!("/api/v1/incidents/{id}/end"), json!({}))
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (409, Some("mission_over"))
    );
    // The timeline records it all.
    let events = t.app.store.events(id.parse().unwrap(), 0).await.unwrap();
    let kinds: Vec<String> = events
        .iter()
        .map(|e| {
            serde_json::to_value(&e.1).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for k in [
        "created",
        "wave_sent",
        "declined",
        "accepted",
        "stood_down",
        "progress",
        "ended",
    ] {
        assert!(kinds.contains(&k.to_string()), "{k} in {kinds:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_aed_is_never_given_to_two_responders_even_across_missions() {
    let t = spawn_app().await;
    let policy = fast_policy(DispatchPolicy {
        first_wave: 4,
        roles: firstlink_domain::policy::RoleStrategy::FirstNViaAed { n: 4 },
        ..DispatchPolicy::hjertelober()
    });
    let (region, key) = t.region("one-aed", policy).await;
    let p = cph();
    let q = p.offset(90.0, 300.0);
    let aed = t
        .aed(region, "Only AED", p.offset(45.0, 150.0), "24/7", None)
        .await;
    let mut vols = Vec::new();
    for i in 0..4 {
        vols.push(
            t.volunteer(
                region,
                p.offset(f64::from(i) * 90.0, 200.0),
                Tier::IncludingHomes,
            )
            .await,
        );
    }
    let a = t
        .post_incident(&key, incident_body("a", p))
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let b = t
        .post_incident(&key, incident_body("b", q))
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Every volunteer was alerted for one of the two missions; find them.
    let mut tasks = Vec::new();
    for (vid, tok) in &vols {
        let (s, cur) = eventually(20, "alert", || async {
            let (s, v) = t.get_json(tok, "/api/v1/me/alert").await;
            (s == 200).then_some((s, v))
        })
        .await;
        assert_eq!(s, 200);
        let mid = cur["incident_id"].as_str().unwrap().to_string();
        assert!(mid == a || mid == b);
        let (s, r) = t
            .post_json(tok, &format!("/api/v1/missions/{mid}/accept"), json!({}))
            .await;
        assert_eq!(s, 200, "{vid}: {r}");
        tasks.push(r["mission"]["task"].clone());
    }
    let holders = tasks
        .iter()
        .filter(|t| t["aed"]["id"] == json!(aed))
        .count();
    assert_eq!(holders, 1, "exactly one responder holds the AED: {tasks:?}");
    assert!(tasks.iter().filter(|t| t["role"] == "cpr").count() >= 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_aed_is_skipped_for_an_open_one() {
    let t = spawn_app().await;
    let (region, key) = t
        .region("hours", fast_policy(DispatchPolicy::hjertelober()))
        .await;
    let p = cph();
    let closed = t
        .aed(
            region,
            "Closed pharmacy",
            p.offset(0.0, 80.0),
            "Mo-Su 00:00-00:01",
            None,
        )
        .await;
    let open = t
        .aed(region, "Station", p.offset(180.0, 250.0), "24/7", None)
        .await;
    let (_, tok) = t
        .volunteer(region, p.offset(0.0, 200.0), Tier::IncludingHomes)
        .await;
    let id = t
        .post_incident(&key, incident_body("h1", p))
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    eventually(20, "alert", || async {
        (t.get_json(&tok, "/api/v1/me/alert").await.0 == 200).then_some(())
    })
    .await;
    let (_, r) = t
        .post_json(&tok, &format!("/api/v1/missions/{id}/accept"), json!({}))
        .await;
    assert_eq!(r["mission"]["task"]["aed"]["id"], json!(open), "{r}");
    assert_ne!(r["mission"]["task"]["aed"]["id"], json!(closed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volunteer_who_moved_away_is_released_and_replaced() {
    let t = spawn_app().await;
    let policy = fast_policy(DispatchPolicy {
        first_wave: 1,
        ..DispatchPolicy::goodsam()
    });
    let (region, key) = t.region("range", policy).await;
    let p = cph();
    let (_, near) = t
        .volunteer(region, p.offset(0.0, 100.0), Tier::IncludingHomes)
        .await;
    let (v2, _) = t
        .volunteer(region, p.offset(90.0, 300.0), Tier::IncludingHomes)
        .await;
    let id = t
        .post_incident(&key, incident_body("r1", p))
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    eventually(20, "alert", || async {
        (t.get_json(&near, "/api/v1/me/alert").await.0 == 200).then_some(())
    })
    .await;
    let far = p.offset(0.0, 20_000.0);
    let (s, r) = t
        .post_json(
            &near,
            &format!("/api/v1/missions/{id}/accept"),
            json!({ "position": { "lat": far.lat, "lon": far.lon } }),
        )
        .await;
    assert_eq!((s, r["outcome"].as_str()), (200, Some("out_of_range")));
    assert!(r["mission"]["address"].is_null());
    let v2s = v2.to_string();
    eventually(20, "replacement", || async {
        (t.push.count(&v2s) == 1).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_alerts_time_out_and_a_gone_push_endpoint_is_dropped() {
    let t = spawn_app().await;
    let policy = fast_policy(DispatchPolicy {
        first_wave: 1,
        wave_size: 0,
        ..DispatchPolicy::goodsam()
    });
    let (region, key) = t.region("timeout", policy).await;
    let p = cph();
    let (v1, tok1) = t
        .volunteer(region, p.offset(0.0, 100.0), Tier::IncludingHomes)
        .await;
    let (v2, _) = t
        .volunteer(region, p.offset(0.0, 200.0), Tier::IncludingHomes)
        .await;
    t.push.gone.lock().unwrap().push(v1.to_string());
    let id = t
        .post_incident(&key, incident_body("t1", p))
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // v1's endpoint is gone: the device is removed.
    eventually(20, "device removed", || async {
        let (_, d) = t.get_json(&tok1, "/api/v1/me/devices").await;
        d.as_array().is_some_and(|a| a.is_empty()).then_some(())
    })
    .await;
    // After 5 s v1 times out and v2 is alerted instead.
    let v2s = v2.to_string();
    eventually(25, "replacement after time-out", || async {
        (t.push.count(&v2s) == 1).then_some(())
    })
    .await;
    let (_, view) = t.get_json(&key, &format!("/api/v1/incidents/{id}")).await;
    assert_eq!(states(&view)[&v1.to_string()], "timed_out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_accounts_only_reach_their_own_region_and_role() {
    let t = spawn_app().await;
    let (ra, key_a) = t
        .region("region-a", fast_policy(DispatchPolicy::firstlink()))
        .await;
    let (rb, key_b) = t
        .region("region-b", fast_policy(DispatchPolicy::firstlink()))
        .await;
    let id_a = t
        .post_incident(&key_a, incident_body("x1", cph()))
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Region B's key cannot read, change, end or follow region A's incident (it does not even learn it exists).
    let path = format!("/api/v1/incidents/{id_a}");
    assert_eq!(t.get_json(&key_b, &path).await.0, 404);
    assert_eq!(
        t.post_json(&key_b, &format!("{path}/cancel"), json!({}))
            .await
            .0,
        404
    );
    assert_eq!(
        t.post_json(&key_b, &format!("{path}/messages"), json!({ "text": "hi" }))
            .await
            .0,
        404
    );
    assert_eq!(t.get_json(&key_b, &format!("{path}/events")).await.0, 404);
    let (_, list_b) = t.get_json(&key_b, "/api/v1/incidents").await;
    assert!(list_b.as_array().unwrap().is_empty());
    // The same external id in region B is a different incident.
    let r = t.post_incident(&key_b, incident_body("x1", cph())).await;
    assert_eq!(r.status(), 201);
    // Dispatcher of A: can follow A, not B; cannot manage volunteers or keys.
    let disp = t
        .operator("disp-a", OperatorRole::Dispatcher, vec![ra])
        .await;
    assert_eq!(t.get_json(&disp, &path).await.0, 200);
    assert_eq!(
        t.get_json(&disp, "/api/v1/volunteers?region=region-a")
            .await
            .0,
        403
    );
    assert_eq!(
        t.post_json(
            &disp,
            "/api/v1/regions/region-a/api-keys",
            json!({ "name": "x" })
        )
        .await
        .0,
        403
    );
    let (s, b) = t.post_json(&disp, "/api/v1/incidents", json!({})).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("invalid_field"))
    );
    // Operator of B: manages B only.
    let op_b = t.operator("op-b", OperatorRole::Operator, vec![rb]).await;
    assert_eq!(
        t.get_json(&op_b, "/api/v1/volunteers?region=region-b")
            .await
            .0,
        200
    );
    assert_eq!(
        t.get_json(&op_b, "/api/v1/volunteers?region=region-a")
            .await
            .0,
        403
    );
    assert_eq!(t.get_json(&op_b, &path).await.0, 404);
    // A dispatch key is not an operator; a volunteer is neither.
    assert_eq!(
        t.get_json(&key_a, "/api/v1/volunteers?region=region-a")
            .await
            .0,
        403
    );
    let (_, vtok) = t
        .volunteer(ra, cph().offset(0.0, 5_000.0), Tier::PublicOnly)
        .await;
    assert_eq!(t.get_json(&vtok, &path).await.0, 404);
    assert_eq!(
        t.post_json(&vtok, "/api/v1/incidents", incident_body("v", cph()))
            .await
            .0,
        403
    );
    // A volunteer cannot act on a mission they were not alerted for.
    assert_eq!(
        t.post_json(&vtok, &format!("/api/v1/missions/{id_a}/accept"), json!({}))
            .await
            .0,
        404
    );
    // Admin: everything; can revoke a key, which then stops working at once.
    let admin = t.operator("root", OperatorRole::Admin, vec![]).await;
    assert_eq!(t.get_json(&admin, &path).await.0, 200);
    let (s, k) = t
        .post_json(
            &admin,
            "/api/v1/regions/region-b/api-keys",
            json!({ "name": "spare" }),
        )
        .await;
    assert_eq!(s, 201);
    let spare = k["key"].as_str().unwrap().to_string();
    assert_eq!(t.get_json(&spare, "/api/v1/incidents").await.0, 200);
    let r = t
        .http
        .delete(t.url(&format!(
            "/api/v1/regions/region-b/api-keys/{}",
            k["id"].as_str().unwrap()
        )))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(t.get_json(&spare, "/api/v1/incidents").await.0, 401);
    // No token, a garbage token, a wrong secret: 401 with a JSON body.
    let r = t.http.get(t.url(&path)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "unauthorized"
    );
    assert_eq!(t.get_json("nonsense", &path).await.0, 401);
    let forged = format!("{}x", &key_a[..key_a.len() - 1]);
    assert_eq!(t.get_json(&forged, &path).await.0, 401);
    // The audit log names who did what.
    let (_, audit) = t.get_json(&admin, "/api/v1/audit").await;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"incident.create") && actions.contains(&"api_key.revoke"),
        "{actions:?}"
    );
    // Health and metrics need no token.
    assert_eq!(
        t.http.get(t.url("/health")).send().await.unwrap().status(),
        200
    );
    let m = t
        .http
        .get(t.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains("firstlink_incidents_received_total{region=\"region-a\"} 1"),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_error_never_a_500() {
    let t = spawn_app().await;
    let (_, key) = t
        .region("bad", fast_policy(DispatchPolicy::firstlink()))
        .await;
    let send = |body: String, ct: &'static str| {
        let t = &t;
        let key = key.clone();
        async move {
            let r = t
                .http
                .post(t.url("/api/v1/incidents"))
                .bearer_auth(key)
                .header("content-type", ct)
                .body(body)
                .send()
                .await
                .unwrap();
            let s = r.status().as_u16();
            (s, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let ok = incident_body("bad-1", cph());
    let cases: Vec<(Value, u16, &str, Option<&str>)> = vec![
        (
            json!({ "location": { "lat": 100.0, "lon": 12.0 } }),
            400,
            "invalid_field",
            Some("location.lat"),
        ),
        (
            json!({ "location": { "lat": 55.0, "lon": -200.0 } }),
            400,
            "invalid_field",
            Some("location.lon"),
        ),
        (
            json!({ "location_type": "spaceship" }),
            400,
            "invalid_field",
            Some("location_type"),
        ),
        (
            json!({ "exclusions": ["trauma", "aliens"] }),
            400,
            "invalid_field",
            Some("exclusions[1]"),
        ),
        (
            json!({ "external_id": "" }),
            400,
            "invalid_field",
            Some("external_id"),
        ),
        (
            json!({ "external_id": "x".repeat(129) }),
            400,
            "invalid_field",
            Some("external_id"),
        ),
        (
            json!({ "address": "   " }),
            400,
            "invalid_field",
            Some("address"),
        ),
        (
            json!({ "reported_at": "yesterday" }),
            400,
            "invalid_field",
            Some("reported_at"),
        ),
        (
            json!({ "reported_at": "2099-01-01T00:00:00Z" }),
            400,
            "invalid_field",
            Some("reported_at"),
        ),
        (
            json!({ "ems_eta_seconds": -5 }),
            400,
            "invalid_field",
            Some("ems_eta_seconds"),
        ),
        (
            json!({ "ems_eta_seconds": 999999 }),
            400,
            "invalid_field",
            Some("ems_eta_seconds"),
        ),
        (json!({ "surprise": 1 }), 400, "invalid_field", None),
    ];
    for (patch, status, code, field) in cases {
        let mut body = ok.clone();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (s, b) = send(body.to_string(), "application/json").await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (status, Some(code)),
            "{patch}: {b}"
        );
        if let Some(f) = field {
            assert_eq!(b["error"]["field"], f, "{patch}: {b}");
        }
    }
    let (s, b) = send("{not json".into(), "application/json").await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("invalid_json"))
    );
    let (s, _) = send(ok.to_string(), "text/plain").await;
    assert_eq!(s, 415);
    let (s, b) = send(
        format!("{{\"notes\":\"{}\"}}", "a".repeat(100_000)),
        "application/json",
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (413, Some("payload_too_large"))
    );
    let (s, _) = t.get_json(&key, "/api/v1/incidents/not-a-uuid").await;
    assert_eq!(s, 404);
    let (s, b) = t.get_json(&key, "/api/v1/nothing-here").await;
    assert_eq!((s, b["error"]["code"].as_str()), (404, Some("not_found")));
    // Nothing was created by any of that.
    assert!(t.app.missions.live().await.is_empty());
    // Policy validation names the field.
    let admin = t.operator("adm", OperatorRole::Admin, vec![]).await;
    let mut p = serde_json::to_value(DispatchPolicy::firstlink()).unwrap();
    p["radius_m"] = json!(-1.0);
    let r = t
        .http
        .put(t.url("/api/v1/regions/bad/policy"))
        .bearer_auth(&admin)
        .json(&p)
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    let b: Value = r.json().await.unwrap();
    assert_eq!((s, b["error"]["field"].as_str()), (400, Some("radius_m")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_verifies_through_the_sms_gateway_and_positions_keep_only_the_latest() {
    // A local SMS gateway that records what it is asked to send.
    let gw = MockSms::start().await;
    let sent = gw.sent.clone();
    let t = spawn_app_with(|c| c.notify.sms = Some(gw.config())).await;
    let (_, _) = t
        .region("signup", fast_policy(DispatchPolicy::firstlink()))
        .await;
    let body = json!({
        "region": "signup", "name": "Kirsten Holm", "phone": "+45 20 11 22 33", "password": "long enough password",
        "language": "da", "birth_date": "1985-04-02", "tier": "including_homes",
        "training": { "kind": "BLS/AED", "date": "2026-02-01" }, "consent": true
    });
    // Too young, no consent: clear errors naming the field.
    let mut young = body.clone();
    young["birth_date"] = json!("2015-01-01");
    let (s, b) = t.post_json("", "/api/v1/volunteers/signup", young).await;
    assert_eq!((s, b["error"]["field"].as_str()), (400, Some("birth_date")));
    let mut nocons = body.clone();
    nocons["consent"] = json!(false);
    assert_eq!(
        t.post_json("", "/api/v1/volunteers/signup", nocons).await.1["error"]["field"],
        "consent"
    );
    let (s, b) = t
        .post_json("", "/api/v1/volunteers/signup", body.clone())
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["verify_via"], "sms");
    let vid = b["volunteer_id"].as_str().unwrap().to_string();
    let (s, b) = t
        .post_json("", "/api/v1/volunteers/signup", body.clone())
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (409, Some("already_registered"))
    );
    let msg = eventually(20, "verification SMS", || async {
        sent.lock().unwrap().first().cloned()
    })
    .await;
    assert_eq!(msg["to"], "+4520112233");
    let text = msg["text"].as_str().unwrap();
    let code: String = text
        .chars()
        .filter(char::is_ascii_digit)
        .collect::<String>()
        .chars()
        .rev()
        .take(6)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    assert_eq!(code.len(), 6, "{text}");
    // Unverified: cannot sign in yet; a wrong code is refused.
    let (s, b) = t.post_json("", "/api/v1/volunteers/login", json!({ "region": "signup", "phone": "+4520112233", "password": "long enough password" })).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (403, Some("not_verified"))
    );
    let (s, _) = t
        .post_json(
            "",
            "/api/v1/volunteers/verify",
            json!({ "volunteer_id": vid, "code": "000000x" }),
        )
        .await;
    assert_eq!(s, 400);
    let (s, b) = t
        .post_json(
            "",
            "/api/v1/volunteers/verify",
            json!({ "volunteer_id": vid, "code": code }),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let tok = b["token"].as_str().unwrap().to_string();
    let (s, me) = t.get_json(&tok, "/api/v1/me").await;
    assert_eq!(
        (s, me["verified"].as_bool(), me["eligible"].as_bool()),
        (200, Some(true), Some(false)),
        "not available yet"
    );
    let r = t
        .http
        .put(t.url("/api/v1/me/availability"))
        .bearer_auth(&tok)
        .json(&json!({ "available": true, "quiet_hours": { "start": "23:00", "end": "07:00" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = t
        .http
        .put(t.url("/api/v1/me/availability"))
        .bearer_auth(&tok)
        .json(&json!({ "available": true, "quiet_hours": { "start": "25:00", "end": "07:00" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Batched positions: only the newest is kept.
    let now = chrono::Utc::now();
    let batch = json!({ "positions": [
        { "lat": 55.70, "lon": 12.50, "at": (now - chrono::Duration::seconds(30)).to_rfc3339() },
        { "lat": 55.68, "lon": 12.57, "at": now.to_rfc3339() },
        { "lat": 55.60, "lon": 12.40, "at": (now - chrono::Duration::seconds(60)).to_rfc3339() }
    ]});
    let r = t
        .http
        .post(t.url("/api/v1/me/positions"))
        .bearer_auth(&tok)
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (_, me) = t.get_json(&tok, "/api/v1/me").await;
    assert_eq!(
        (
            me["position"]["lat"].as_f64(),
            me["position"]["lon"].as_f64()
        ),
        (Some(55.68), Some(12.57))
    );
    let stored = t.app.store.positions().await.unwrap();
    assert_eq!(stored.len(), 1, "one row per volunteer");
    // Password sign-in works now; a wrong password does not.
    let (s, _) = t.post_json("", "/api/v1/volunteers/login", json!({ "region": "signup", "phone": "+4520112233", "password": "long enough password" })).await;
    assert_eq!(s, 200);
    let (s, _) = t
        .post_json(
            "",
            "/api/v1/volunteers/login",
            json!({ "region": "signup", "phone": "+4520112233", "password": "wrong password!!" }),
        )
        .await;
    assert_eq!(s, 401);
    // Forgetting the position deletes it.
    let r = t
        .http
        .delete(t.url("/api/v1/me/position"))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(t.app.store.positions().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn positions_older_than_the_retention_are_deleted() {
    let t = spawn_app_with(|c| c.position_retention_hours = 1).await;
    let (region, _) = t
        .region("retention", fast_policy(DispatchPolicy::firstlink()))
        .await;
    let (v, tok) = t.volunteer(region, cph(), Tier::PublicOnly).await;
    let old = chrono::Utc::now() - chrono::Duration::minutes(59);
    let r = t
        .http
        .post(t.url("/api/v1/me/position"))
        .bearer_auth(&tok)
        .json(&json!({ "lat": 55.7, "lon": 12.6, "at": old.to_rfc3339() }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    // The fresher fix stays (an older one never overwrites a newer one).
    assert_eq!(t.app.index().position(v).unwrap().0.lat, cph().lat);
    // Make the stored fix 2 hours old, then run housekeeping.
    let two_h = (chrono::Utc::now() - chrono::Duration::hours(2)).timestamp() as u32;
    t.app.index_mut().clear_position(v);
    t.app.store.delete_position(v).await.unwrap();
    t.app
        .store
        .save_positions(&[firstlink_store::PositionFix {
            volunteer: v,
            position: cph(),
            at_unix: two_h,
        }])
        .await
        .unwrap();
    t.app.index_mut().set_position(v, cph(), two_h);
    let n = firstlink_server::housekeeping::run_once(&t.app)
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert!(t.app.index().position(v).is_none());
    assert!(t.app.store.positions().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_feed_replays_from_last_event_id_then_streams() {
    let t = spawn_app().await;
    let (region, key) = t
        .region(
            "feed",
            fast_policy(DispatchPolicy {
                first_wave: 1,
                ..DispatchPolicy::firstlink()
            }),
        )
        .await;
    let (_, vtok) = t
        .volunteer(region, cph().offset(0.0, 100.0), Tier::IncludingHomes)
        .await;
    let id = t
        .post_incident(&key, incident_body("f1", cph()))
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    eventually(20, "alert", || async {
        (t.get_json(&vtok, "/api/v1/me/alert").await.0 == 200).then_some(())
    })
    .await;
    let mut r = t
        .http
        .get(t.url(&format!("/api/v1/incidents/{id}/events")))
        .bearer_auth(&key)
        .header("last-event-id", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut buf = String::new();
    let first = tokio::time::timeout(Duration::from_secs(5), r.chunk())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    buf.push_str(&String::from_utf8_lossy(&first));
    assert!(
        buf.contains("id: 2") && buf.contains("wave_sent") && !buf.contains("id: 1\n"),
        "{buf}"
    );
    // A live event arrives on the open stream.
    t.post_json(&vtok, &format!("/api/v1/missions/{id}/accept"), json!({}))
        .await;
    let got = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let c = r.chunk().await.unwrap().unwrap();
            buf.push_str(&String::from_utf8_lossy(&c));
            if buf.contains("\"type\":\"accepted\"") {
                return;
            }
        }
    })
    .await;
    assert!(got.is_ok(), "{buf}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_covers_the_api() {
    let t = spawn_app().await;
    let r = t
        .http
        .get(t.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/v1/incidents",
        "/api/v1/incidents/{id}",
        "/api/v1/incidents/{id}/cancel",
        "/api/v1/incidents/{id}/end",
        "/api/v1/incidents/{id}/events",
        "/api/v1/volunteers/signup",
        "/api/v1/me/position",
        "/api/v1/me/positions",
        "/api/v1/me/devices",
        "/api/v1/me/alert",
        "/api/v1/missions/{id}/accept",
        "/api/v1/missions/{id}/survey",
    ] {
        assert!(
            paths.contains_key(p),
            "{p} missing from the OpenAPI document"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_street_graph_dispatch_prefers_the_volunteer_who_is_closer_on_foot() {
    use firstlink_routing::fixtures::{
        HARBOUR_PATIENT, HARBOUR_VOLUNTEER_ACROSS, HARBOUR_VOLUNTEER_SAME_SIDE,
    };
    let dir = tempfile::tempdir().unwrap();
    let pbf =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/osm/copenhagen.osm.pbf");
    let graph = firstlink_routing::build_graph(&pbf, |_| {}).unwrap();
    let gpath = dir.path().join("harbour.flg");
    graph.save(&gpath).unwrap();
    let policy = fast_policy(DispatchPolicy {
        first_wave: 1,
        max_alerts: 1,
        ..DispatchPolicy::firstlink()
    });
    // Without the graph: straight line sends the volunteer across the water.
    let t = spawn_app().await;
    let (region, key) = t.region("harbour", policy.clone()).await;
    let (across, _) = t
        .volunteer(region, HARBOUR_VOLUNTEER_ACROSS, Tier::IncludingHomes)
        .await;
    t.volunteer(region, HARBOUR_VOLUNTEER_SAME_SIDE, Tier::IncludingHomes)
        .await;
    let id = t
        .post_incident(&key, incident_body("h", HARBOUR_PATIENT))
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let view = eventually(20, "first wave", || async {
        let (_, v) = t.get_json(&key, &format!("/api/v1/incidents/{id}")).await;
        (v["counts"]["alerted"] == 1).then_some(v)
    })
    .await;
    assert_eq!(view["responders"][0]["volunteer_id"], json!(across));
    // With the graph: the volunteer on the same bank, truly closer on foot.
    let gp = gpath.clone();
    let t = spawn_app_with(move |c| {
        c.graphs.insert("harbour".into(), gp);
    })
    .await;
    let (region, key) = t.region("harbour", policy).await;
    t.app
        .load_graph(&t.app.region(region).unwrap().region)
        .unwrap();
    let (_, _) = t
        .volunteer(region, HARBOUR_VOLUNTEER_ACROSS, Tier::IncludingHomes)
        .await;
    let (same2, stok) = t
        .volunteer(region, HARBOUR_VOLUNTEER_SAME_SIDE, Tier::IncludingHomes)
        .await;
    let id = t
        .post_incident(&key, incident_body("h", HARBOUR_PATIENT))
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let view = eventually(20, "first wave", || async {
        let (_, v) = t.get_json(&key, &format!("/api/v1/incidents/{id}")).await;
        (v["counts"]["alerted"] == 1).then_some(v)
    })
    .await;
    assert_eq!(view["responders"][0]["volunteer_id"], json!(same2));
    // The responder's route follows the streets: longer than the straight line, with a geometry.
    let (s, _) = t
        .post_json(&stok, &format!("/api/v1/missions/{id}/accept"), json!({}))
        .await;
    assert_eq!(s, 200);
    let (s, route) = t
        .get_json(&stok, &format!("/api/v1/missions/{id}/route"))
        .await;
    assert_eq!(s, 200, "{route}");
    assert_eq!(route["geometry"]["type"], "LineString");
    assert!(route["geometry"]["coordinates"].as_array().unwrap().len() > 5);
    let d = route["properties"]["distance_m"].as_f64().unwrap();
    let straight = HARBOUR_VOLUNTEER_SAME_SIDE.distance_m(HARBOUR_PATIENT);
    assert!(d > straight && d < 2.0 * straight, "{d} vs {straight}");
}
