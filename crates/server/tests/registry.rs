//! The AED registry over HTTP: the public map feed, claimed AEDs, restricted
//! codes, fetch and return, operator review.

mod support;

use chrono::{Duration, Utc};
use firstlink_domain::aed::AedAccess;
use firstlink_domain::policy::DispatchPolicy;
use firstlink_domain::volunteer::Tier;
use firstlink_store::{AedReviewFlag, AedStatus, OperatorRole};
use serde_json::{Value, json};
use support::*;

async fn public(t: &TestApp, query: &str) -> (u16, Value, String) {
    let r = t
        .http
        .get(t.url(&format!("/api/v1/public/aeds{query}")))
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let text = r.text().await.unwrap();
    (
        s,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        if s == 200 { ct } else { text },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_feed_is_geojson_without_restricted_fields() {
    let t = spawn_app().await;
    let (region, _) = t
        .region("pub", fast_policy(DispatchPolicy::firstlink()))
        .await;
    let p = cph();
    let open = t.aed(region, "Station", p, "24/7", Some("P#4321")).await;
    let closed = t
        .aed(
            region,
            "Night closed",
            p.offset(90.0, 500.0),
            "Mo-Su 00:00-00:01",
            None,
        )
        .await;
    let private = t
        .aed(
            region,
            "Office",
            p.offset(180.0, 300.0),
            "24/7",
            Some("P#9999"),
        )
        .await;
    {
        let mut a = t.app.store.aed(private).await.unwrap().unwrap();
        a.access = AedAccess::Private;
        a.details.owner_contact = Some("+45 1234 5678".into());
        t.app.store.upsert_aed(&a).await.unwrap();
        t.app
            .aeds_mut()
            .upsert(a, chrono_tz::Europe::Copenhagen, "DK");
        let mut o = t.app.store.aed(open).await.unwrap().unwrap();
        o.details.owner_contact = Some("owner@example.org".into());
        o.details.location_desc = vec![
            ("da".into(), "Ved indgangen".into()),
            ("en".into(), "By the entrance".into()),
        ];
        o.details.indoor = Some(false);
        t.app.store.upsert_aed(&o).await.unwrap();
        t.app
            .aeds_mut()
            .upsert(o, chrono_tz::Europe::Copenhagen, "DK");
    }
    let (s, fc, ct) = public(&t, "?region=pub&lang=en").await;
    assert_eq!(s, 200);
    assert!(ct.starts_with("application/geo+json"), "{ct}");
    assert_eq!(fc["type"], "FeatureCollection");
    let f = fc["features"].as_array().unwrap();
    assert_eq!(f.len(), 2, "the private AED is not public: {fc}");
    let text = fc.to_string();
    for secret in [
        "P#4321",
        "P#9999",
        "owner@example.org",
        "+45 1234 5678",
        "access_code",
        "owner_contact",
    ] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    let by =
        |id: firstlink_domain::ids::AedId| f.iter().find(|x| x["id"] == json!(id)).unwrap().clone();
    let o = by(open);
    assert_eq!(
        o["geometry"],
        json!({ "type": "Point", "coordinates": [p.lon, p.lat] })
    );
    assert_eq!(o["properties"]["name"], "Station");
    assert_eq!(o["properties"]["open_now"], true);
    assert_eq!(o["properties"]["next_change"], Value::Null);
    assert_eq!(o["properties"]["access"], "public");
    assert_eq!(o["properties"]["indoor"], false);
    assert_eq!(o["properties"]["description"], "By the entrance");
    let c = by(closed);
    assert_eq!(c["properties"]["open_now"], false);
    let next: chrono::DateTime<Utc> =
        serde_json::from_value(c["properties"]["next_change"].clone()).unwrap();
    assert!(
        next > Utc::now() && next < Utc::now() + Duration::days(1),
        "next opening {next}"
    );
    // open_now and bbox filters.
    let (_, fc, _) = public(&t, "?region=pub&open_now=true").await;
    assert_eq!(fc["features"].as_array().unwrap().len(), 1);
    let q = p.offset(90.0, 500.0);
    let (_, fc, _) = public(
        &t,
        &format!(
            "?bbox={},{},{},{}",
            q.lon - 0.001,
            q.lat - 0.001,
            q.lon + 0.001,
            q.lat + 0.001
        ),
    )
    .await;
    assert_eq!(fc["features"].as_array().unwrap().len(), 1);
    assert_eq!(fc["features"][0]["id"], json!(closed));
    // Bad input: a clear field error; unknown region: 404.
    let (s, b, _) = public(&t, "?bbox=1,2,3").await;
    assert_eq!(
        (s, b["error"]["field"].as_str()),
        (400, Some("bbox")),
        "{b}"
    );
    assert_eq!(public(&t, "?region=nowhere").await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_only_aed_is_claimed_the_next_acceptor_goes_straight_to_the_patient() {
    let t = spawn_app().await;
    let (region, key) = t
        .region("claimed", fast_policy(DispatchPolicy::hjertelober()))
        .await;
    let p = cph();
    let aed = t
        .aed(
            region,
            "Only AED",
            p.offset(0.0, 100.0),
            "24/7",
            Some("K#2468"),
        )
        .await;
    let (_, a) = t
        .volunteer(region, p.offset(0.0, 200.0), Tier::IncludingHomes)
        .await;
    let (_, b) = t
        .volunteer(region, p.offset(180.0, 250.0), Tier::IncludingHomes)
        .await;
    let id = incident(&t, &key, "c1", p).await;
    alerted(&t, &a).await;
    alerted(&t, &b).await;
    let (_, ra) = t
        .post_json(&a, &format!("/api/v1/missions/{id}/accept"), json!({}))
        .await;
    assert_eq!(ra["mission"]["task"]["role"], "fetch_aed", "{ra}");
    assert_eq!(ra["mission"]["task"]["aed"]["id"], json!(aed));
    assert_eq!(ra["mission"]["task"]["aed"]["access_code"], "K#2468");
    assert!(t.app.aeds().claimed_by(aed).is_some());
    let (_, rb) = t
        .post_json(&b, &format!("/api/v1/missions/{id}/accept"), json!({}))
        .await;
    assert_eq!(rb["mission"]["task"]["role"], "cpr", "{rb}");
    assert_eq!(rb["mission"]["task"]["aed"], Value::Null);
    assert!(!rb.to_string().contains("K#2468"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volunteer_not_assigned_to_an_aed_never_sees_its_code() {
    let t = spawn_app().await;
    let (region, key) = t
        .region("codes", fast_policy(DispatchPolicy::hjertelober()))
        .await;
    let p = cph();
    // Letters too, so the code can never appear inside a timestamp or an id by chance.
    let code = "K#80317";
    t.aed(
        region,
        "Coded cabinet",
        p.offset(0.0, 100.0),
        "24/7",
        Some(code),
    )
    .await;
    let (_, a) = t
        .volunteer(region, p.offset(0.0, 200.0), Tier::IncludingHomes)
        .await;
    let (_, b) = t
        .volunteer(region, p.offset(180.0, 250.0), Tier::IncludingHomes)
        .await;
    let id = incident(&t, &key, "k1", p).await;
    alerted(&t, &a).await;
    alerted(&t, &b).await;
    let mut seen_by_b = Vec::new();
    // Before accepting.
    for path in [
        "/api/v1/me/alert".to_string(),
        format!("/api/v1/missions/{id}"),
        "/api/v1/me/missions".into(),
        format!("/api/v1/missions/{id}/route"),
    ] {
        seen_by_b.push(t.get_json(&b, &path).await.1.to_string());
    }
    let (_, ra) = t
        .post_json(&a, &format!("/api/v1/missions/{id}/accept"), json!({}))
        .await;
    assert!(
        ra.to_string().contains(code),
        "the assigned responder sees the code: {ra}"
    );
    // During: B accepts (goes direct) and reports progress.
    seen_by_b.push(
        t.post_json(&b, &format!("/api/v1/missions/{id}/accept"), json!({}))
            .await
            .1
            .to_string(),
    );
    seen_by_b.push(
        t.post_json(
            &b,
            &format!("/api/v1/missions/{id}/status"),
            json!({ "status": "on_scene" }),
        )
        .await
        .1
        .to_string(),
    );
    for path in [
        "/api/v1/me/alert".to_string(),
        format!("/api/v1/missions/{id}"),
        format!("/api/v1/missions/{id}/route"),
    ] {
        seen_by_b.push(t.get_json(&b, &path).await.1.to_string());
    }
    // After the end.
    let (s, _) = t
        .post_json(
            &key,
            &format!("/api/v1/incidents/{id}/end"),
            json!({ "reason": "done" }),
        )
        .await;
    assert_eq!(s, 200);
    for path in [
        "/api/v1/me/alert".to_string(),
        format!("/api/v1/missions/{id}"),
        "/api/v1/me/missions".into(),
    ] {
        seen_by_b.push(t.get_json(&b, &path).await.1.to_string());
    }
    // Nor does the assigned responder after the mission, nor the public.
    let (_, after_a) = t.get_json(&a, &format!("/api/v1/missions/{id}")).await;
    seen_by_b.push(after_a.to_string());
    seen_by_b.push(
        t.http
            .get(t.url("/api/v1/public/aeds"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    for (i, body) in seen_by_b.iter().enumerate() {
        assert!(!body.contains(code), "response {i} shows the code: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collected_aed_stays_unavailable_until_returned() {
    let t = spawn_app().await;
    let (region, key) = t
        .region("fetch", fast_policy(DispatchPolicy::hjertelober()))
        .await;
    let p = cph();
    let aed = t
        .aed(region, "Lobby AED", p.offset(0.0, 100.0), "24/7", None)
        .await;
    let (_, a) = t
        .volunteer(region, p.offset(0.0, 200.0), Tier::IncludingHomes)
        .await;
    let id = incident(&t, &key, "f1", p).await;
    alerted(&t, &a).await;
    let (_, ra) = t
        .post_json(&a, &format!("/api/v1/missions/{id}/accept"), json!({}))
        .await;
    assert_eq!(ra["mission"]["task"]["aed"]["id"], json!(aed));
    let (s, _) = t
        .post_json(
            &a,
            &format!("/api/v1/missions/{id}/status"),
            json!({ "status": "aed_collected" }),
        )
        .await;
    assert_eq!(s, 200);
    // The job marks it collected from the mission feed.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (s, _) = t
        .post_json(
            &key,
            &format!("/api/v1/incidents/{id}/end"),
            json!({ "reason": "done" }),
        )
        .await;
    assert_eq!(s, 200);
    eventually(10, "out for return", || async {
        t.app.aeds().out_for_return(aed).is_some().then_some(())
    })
    .await;
    assert!(t.app.aeds().claimed_by(aed).is_none());
    // Recorded, so a restart keeps it out of dispatch (App::load restores it).
    let stored = eventually(5, "out for return stored", || async {
        t.app
            .store
            .aed(aed)
            .await
            .unwrap()
            .unwrap()
            .details
            .out_for_return
    })
    .await;
    assert_eq!(stored.incident.to_string(), id);
    // Not usable on the next mission.
    let id2 = incident(&t, &key, "f2", p).await;
    alerted(&t, &a).await;
    let (_, r2) = t
        .post_json(&a, &format!("/api/v1/missions/{id2}/accept"), json!({}))
        .await;
    assert_eq!(r2["mission"]["task"]["role"], "cpr", "{r2}");
    // Another operator's region cannot confirm; the responder can.
    let (other, _) = t
        .region("elsewhere", fast_policy(DispatchPolicy::firstlink()))
        .await;
    let op = t
        .operator("op-else", OperatorRole::Operator, vec![other])
        .await;
    assert_eq!(
        t.post_json(&op, &format!("/api/v1/aeds/{aed}/returned"), json!({}))
            .await
            .0,
        404
    );
    let r = t
        .http
        .post(t.url(&format!("/api/v1/aeds/{aed}/returned")))
        .bearer_auth(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(t.app.aeds().out_for_return(aed).is_none());
    assert_eq!(
        t.app
            .store
            .aed(aed)
            .await
            .unwrap()
            .unwrap()
            .details
            .out_for_return,
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_review_approve_and_merge_and_see_health() {
    let t = spawn_app().await;
    let (region, _) = t
        .region("review", fast_policy(DispatchPolicy::firstlink()))
        .await;
    let p = cph();
    let a = t.aed(region, "Original", p, "24/7", Some("1111")).await;
    let b = t
        .aed(
            region,
            "Copy",
            p.offset(0.0, 2.0),
            "Mo-Fr 08:00-16:00",
            None,
        )
        .await;
    {
        let mut x = t.app.store.aed(b).await.unwrap().unwrap();
        x.details.review = vec![AedReviewFlag::Duplicate {
            of: a,
            distance_m: 2.0,
        }];
        x.details.manufacturer = Some("Philips".into());
        x.details.battery_expiry = Some(Utc::now().date_naive() + Duration::days(10));
        t.app.store.upsert_aed(&x).await.unwrap();
        t.app
            .aeds_mut()
            .upsert(x, chrono_tz::Europe::Copenhagen, "DK");
        let mut y = t.app.store.aed(a).await.unwrap().unwrap();
        y.status = AedStatus::PendingReview;
        let moved = p.offset(90.0, 300.0);
        y.details.review = vec![AedReviewFlag::Moved {
            lat: moved.lat,
            lon: moved.lon,
            distance_m: 300.0,
            source: Some("osm".into()),
        }];
        t.app.store.upsert_aed(&y).await.unwrap();
        t.app
            .aeds_mut()
            .upsert(y, chrono_tz::Europe::Copenhagen, "DK");
    }
    let op = t
        .operator("op-review", OperatorRole::Operator, vec![region])
        .await;
    let (s, q) = t.get_json(&op, "/api/v1/aeds/review?region=review").await;
    assert_eq!((s, q.as_array().unwrap().len()), (200, 2), "{q}");
    let (s, h) = t.get_json(&op, "/api/v1/aeds/health?region=review").await;
    assert_eq!(s, 200);
    assert_eq!(
        (
            h["total"].as_u64(),
            h["pending_review"].as_u64(),
            h["flagged"].as_u64()
        ),
        (Some(2), Some(1), Some(2)),
        "{h}"
    );
    // Which AEDs need new consumables, with the dates.
    assert_eq!(
        (
            h["expiring_consumables"].as_u64(),
            h["expiring"][0]["name"].as_str()
        ),
        (Some(1), Some("Copy")),
        "{h}"
    );
    assert_eq!(
        h["expiring"][0]["battery_expiry"],
        json!((Utc::now().date_naive() + Duration::days(10)).to_string())
    );
    // Merge the copy into the original; approve the original with its move.
    let (s, _) = t
        .post_json(
            &op,
            &format!("/api/v1/aeds/{b}/merge"),
            json!({ "into": a }),
        )
        .await;
    assert_eq!(s, 200);
    let (s, r) = t
        .post_json(
            &op,
            &format!("/api/v1/aeds/{a}/approve"),
            json!({ "accept_move": true }),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let kept = t.app.store.aed(a).await.unwrap().unwrap();
    assert_eq!(kept.status, AedStatus::Active);
    assert!(kept.details.review.is_empty());
    assert!((kept.position.distance_m(p) - 300.0).abs() < 1.0);
    assert_eq!(kept.details.manufacturer.as_deref(), Some("Philips"));
    assert_eq!(
        t.app.store.aed(b).await.unwrap().unwrap().status,
        AedStatus::Removed
    );
    let (s, c) = t
        .post_json(&op, &format!("/api/v1/aeds/{a}/confirm"), json!({}))
        .await;
    assert_eq!(s, 200, "{c}");
    let (_, h) = t.get_json(&op, "/api/v1/aeds/health?region=review").await;
    assert_eq!(
        (
            h["active"].as_u64(),
            h["confirmed_recently"].as_u64(),
            h["flagged"].as_u64()
        ),
        (Some(1), Some(1), Some(0)),
        "{h}"
    );
    // The merge carried the copy's battery date over to the record that was kept.
    assert_eq!(
        (
            h["expiring"].as_array().unwrap().len(),
            h["expiring"][0]["name"].as_str()
        ),
        (1, Some("Original")),
        "{h}"
    );
    // The existing operator list still works with the extended record.
    assert_eq!(t.get_json(&op, "/api/v1/aeds?region=review").await.0, 200);
}

/// An AED record for the reminder tests, written through the store and loaded.
async fn owned_aed(
    t: &TestApp,
    region: firstlink_domain::ids::RegionId,
    name: &str,
    confirmed: chrono::DateTime<Utc>,
    pads: Option<chrono::NaiveDate>,
) -> firstlink_domain::ids::AedId {
    let id = t.aed(region, name, cph(), "Mo-Fr 08:00-17:00", None).await;
    let mut a = t.app.store.aed(id).await.unwrap().unwrap();
    a.details.owner_contact = Some("+45 20 11 22 33".into());
    a.details.last_confirmed_at = Some(confirmed);
    a.details.pad_expiry = pads;
    t.app.store.upsert_aed(&a).await.unwrap();
    let rt = t.app.region(region).unwrap();
    t.app.aeds_mut().upsert(a, rt.tz, "DK");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_are_reminded_confirm_by_link_and_silent_owners_are_escalated_then_deactivated() {
    use firstlink_registry::reminders::ReminderKind as K;
    let sms = MockSms::start().await;
    let t = spawn_app_with(|c| c.notify.sms = Some(sms.config())).await;
    let (region, _) = t.region("owners", DispatchPolicy::firstlink()).await;
    let now = Utc::now();
    // Denmark: confirm every 24 months (limited hours), first reminder 30 days before.
    let due_soon = now - chrono::Months::new(24) + Duration::days(10);
    let kiosk = owned_aed(
        &t,
        region,
        "Kiosk",
        due_soon,
        Some(now.date_naive() + Duration::days(10)),
    )
    .await;
    let fresh = owned_aed(&t, region, "Fresh", now - Duration::days(30), None).await;
    let done = firstlink_server::owner_reminders::run_once(&t.app, now)
        .await
        .unwrap();
    assert!(
        done.contains(&(kiosk, K::Confirm)) && done.contains(&(kiosk, K::Pads)),
        "{done:?}"
    );
    assert!(
        done.iter().all(|(a, _)| *a != fresh),
        "a recently confirmed AED gets nothing: {done:?}"
    );
    // The same round again sends nothing new.
    assert!(
        firstlink_server::owner_reminders::run_once(&t.app, now)
            .await
            .unwrap()
            .is_empty()
    );
    eventually(10, "two SMS", || async {
        (sms.all().len() == 2).then_some(())
    })
    .await;
    let texts: Vec<String> = sms.all().iter().map(|b| b.to_string()).collect();
    assert!(
        texts
            .iter()
            .all(|b| b.contains("+4520112233") && b.contains("Kiosk")),
        "{texts:?}"
    );
    assert!(
        texts.iter().any(|b| b.contains("Elektroderne")),
        "Danish region, Danish text: {texts:?}"
    );
    // The link in the message confirms the record without an account.
    let body = &texts[0];
    let start = body.find("/owner/confirm/").unwrap();
    let link: String = body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "/-_".contains(*c))
        .collect();
    let page = t.http.get(t.url(&link)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Kiosk"));
    let token = link.rsplit('/').next().unwrap().to_string();
    let form = t
        .http
        .post(t.url(&format!("/api/v1/public/aeds/{kiosk}/confirm")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    assert!(form.text().await.unwrap().contains("Thank you"));
    let confirmed = t
        .app
        .store
        .aed(kiosk)
        .await
        .unwrap()
        .unwrap()
        .details
        .last_confirmed_at
        .unwrap();
    assert!(confirmed > now - Duration::minutes(1));
    // A token is good for its own AED only, and a new owner contact voids it.
    let (s, _) = t
        .post_json(
            "",
            &format!("/api/v1/public/aeds/{fresh}/confirm"),
            json!({ "token": token }),
        )
        .await;
    assert_eq!(s, 404);
    let mut rec = t.app.store.aed(kiosk).await.unwrap().unwrap();
    rec.details.owner_contact = Some("new-owner@example.org".into());
    t.app.store.upsert_aed(&rec).await.unwrap();
    assert_eq!(t.http.get(t.url(&link)).send().await.unwrap().status(), 404);

    // A silent owner: three reminders 14 days apart, then escalation, then deactivation 8 weeks after the last.
    let silent = owned_aed(&t, region, "Silent", due_soon, None).await;
    let mut steps = Vec::new();
    for day in [0, 14, 28, 42, 60, 84, 90] {
        for (a, k) in firstlink_server::owner_reminders::run_once(&t.app, now + Duration::days(day))
            .await
            .unwrap()
        {
            if a == silent {
                steps.push((day, k));
            }
        }
    }
    assert_eq!(
        steps,
        vec![
            (0, K::Confirm),
            (14, K::Confirm),
            (28, K::Confirm),
            (42, K::Escalate),
            (84, K::Deactivate)
        ],
        "{steps:?}"
    );
    assert_eq!(
        t.app.aeds().get(silent).unwrap().status,
        AedStatus::Inactive
    );
    let log = t.app.store.audit_log(Some(region), 50).await.unwrap();
    assert!(log.iter().any(
        |e| e.action == "aed.owner_silent" && e.target.as_deref() == Some(&silent.to_string())
    ));
    assert!(log.iter().any(|e| e.action == "aed.deactivated"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coverage_counts_reachable_volunteers_and_usable_aeds_per_cell() {
    let t = spawn_app().await;
    let (region, _) = t.region("coverage", DispatchPolicy::firstlink()).await;
    let p = cph();
    t.aed(region, "Lobby", p.offset(0.0, 100.0), "24/7", None)
        .await;
    t.aed(
        region,
        "Shop",
        p.offset(90.0, 200.0),
        "Mo-Su 00:00-00:01",
        None,
    )
    .await; // closed nearly always
    t.volunteer(region, p.offset(180.0, 150.0), Tier::IncludingHomes)
        .await;
    t.volunteer(region, p.offset(270.0, 300.0), Tier::IncludingHomes)
        .await;
    let op = t
        .operator("cov-op", OperatorRole::Operator, vec![region])
        .await;
    // A 6 km box around the point in 1 km cells.
    let (w, s) = (p.offset(270.0, 3_000.0).lon, p.offset(180.0, 3_000.0).lat);
    let (e, n) = (p.offset(90.0, 3_000.0).lon, p.offset(0.0, 3_000.0).lat);
    let (st, v) = t
        .get_json(
            &op,
            &format!("/api/v1/coverage?region=coverage&cell_m=1000&bbox={w},{s},{e},{n}"),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let cells = v["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 36, "6 × 6 cells");
    let nearest = |lat: f64, lon: f64| {
        cells
            .iter()
            .min_by(|a, b| {
                let d = |c: &Value| {
                    (c["lat"].as_f64().unwrap() - lat).powi(2)
                        + (c["lon"].as_f64().unwrap() - lon).powi(2)
                };
                d(a).total_cmp(&d(b))
            })
            .unwrap()
    };
    let centre = nearest(p.lat, p.lon);
    assert_eq!(
        (centre["volunteers"].as_u64(), centre["aeds"].as_u64()),
        (Some(2), Some(1)),
        "{centre}: the closed shop does not count"
    );
    let corner = nearest(s, w);
    assert_eq!(
        (corner["volunteers"].as_u64(), corner["aeds"].as_u64()),
        (Some(0), Some(0)),
        "{corner}"
    );
    // Counts only, no positions; operators only; bad sizes refused.
    assert!(!v.to_string().contains("volunteer_id"));
    let disp = t
        .operator("cov-disp", OperatorRole::Dispatcher, vec![region])
        .await;
    assert_eq!(
        t.get_json(&disp, "/api/v1/coverage?region=coverage")
            .await
            .0,
        403
    );
    let (st, b) = t
        .get_json(&op, "/api/v1/coverage?region=coverage&cell_m=10")
        .await;
    assert_eq!(
        (st, b["error"]["field"].as_str()),
        (400, Some("cell_m")),
        "{b}"
    );
    let (st, _) = t.get_json(&op, "/api/v1/coverage?region=coverage").await;
    assert_eq!(st, 200, "framed by the region's AEDs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_registers_an_aed_for_review_and_edits_it_through_the_link() {
    let sms = MockSms::start().await;
    let t = spawn_app_with(|c| c.notify.sms = Some(sms.config())).await;
    let (region, _) = t.region("owned", DispatchPolicy::firstlink()).await;
    let p = cph();
    let reg = json!({
        "region": "owned", "name": "Bakery on the corner", "location": { "lat": p.lat, "lon": p.lon },
        "access": "public", "opening_hours": "Mo-Sa 06:00-18:00", "owner_name": "Bageriet ApS",
        "owner_contact": "+45 30 40 50 60", "access_code": "1470", "pad_expiry": "2027-05-01"
    });
    // Bad input names the field and creates nothing.
    let mut bad = reg.clone();
    bad["owner_contact"] = json!("ring the bell");
    let (s, b) = t.post_json("", "/api/v1/public/aeds/register", bad).await;
    assert_eq!(
        (s, b["error"]["field"].as_str()),
        (400, Some("owner_contact")),
        "{b}"
    );
    let mut bad = reg.clone();
    bad["opening_hours"] = json!("Mo-Sa 06:00-25:99");
    assert_eq!(
        t.post_json("", "/api/v1/public/aeds/register", bad).await.1["error"]["field"],
        "opening_hours"
    );
    assert_eq!(t.app.aeds().all(Some(region)).count(), 0);

    let (s, b) = t.post_json("", "/api/v1/public/aeds/register", reg).await;
    assert_eq!(s, 202, "{b}");
    let id: firstlink_domain::ids::AedId = serde_json::from_value(b["id"].clone()).unwrap();
    let a = t.app.aeds().get(id).unwrap().clone();
    assert_eq!(a.status, AedStatus::PendingReview);
    assert!(a.details.review.contains(&AedReviewFlag::NewRegistration));
    // Not offered to dispatch, not on the public map, before an operator approves it.
    assert!(
        firstlink_domain::aed::AedSource::usable_near(&*t.app.aeds(), p, 500.0, Utc::now())
            .is_empty()
    );
    assert!(!public(&t, "?region=owned").await.2.contains("Bakery"));
    // The owner's phone gets the link.
    eventually(10, "registration message", || async {
        (!sms.all().is_empty()).then_some(())
    })
    .await;
    let msg = sms.all()[0].to_string();
    let start = msg.find("/owner/confirm/").unwrap();
    let link: String = msg[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "/-_".contains(*c))
        .collect();
    let token = link.rsplit('/').next().unwrap().to_string();
    // Editing with the token: hours change at once, a move waits for review.
    let far = p.offset(90.0, 60.0);
    let edit = json!({ "token": token, "opening_hours": "Mo-Su 06:00-20:00", "location": { "lat": far.lat, "lon": far.lon } });
    let r = t
        .http
        .put(t.url(&format!("/api/v1/public/aeds/{id}")))
        .json(&edit)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["move_pending_review"],
        true
    );
    let a = t.app.store.aed(id).await.unwrap().unwrap();
    assert_eq!(a.opening_hours.as_deref(), Some("Mo-Su 06:00-20:00"));
    assert_eq!(a.position, p, "the position waits for review");
    assert!(
        a.details
            .review
            .iter()
            .any(|f| matches!(f, AedReviewFlag::Moved { .. }))
    );
    // A wrong token changes nothing.
    let r = t
        .http
        .put(t.url(&format!("/api/v1/public/aeds/{id}")))
        .json(&json!({ "token": "x", "name": "Hijacked" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        t.app.store.aed(id).await.unwrap().unwrap().name,
        "Bakery on the corner"
    );
    // The operator approves: active, in dispatch.
    let op = t
        .operator("owned-op", OperatorRole::Operator, vec![region])
        .await;
    let (s, b) = t
        .post_json(
            &op,
            &format!("/api/v1/aeds/{id}/approve"),
            json!({ "accept_move": true }),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let a = t.app.aeds().get(id).unwrap().clone();
    assert_eq!(a.status, AedStatus::Active);
    assert!(a.position.distance_m(far) < 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staff_only_aed_goes_only_to_the_responders_authorised_for_it() {
    let t = spawn_app().await;
    let (region, key) = t
        .region("staff", fast_policy(DispatchPolicy::hjertelober()))
        .await;
    let p = cph();
    let staff_aed = t
        .aed(
            region,
            "Office AED (staff)",
            p.offset(0.0, 60.0),
            "24/7",
            Some("S#2580"),
        )
        .await;
    {
        let mut a = t.app.store.aed(staff_aed).await.unwrap().unwrap();
        a.access = AedAccess::Staff;
        t.app.store.upsert_aed(&a).await.unwrap();
        t.app
            .aeds_mut()
            .upsert(a, chrono_tz::Europe::Copenhagen, "DK");
    }
    let (colleague, c_tok) = t
        .volunteer(region, p.offset(0.0, 120.0), Tier::IncludingHomes)
        .await;
    let (_, stranger) = t
        .volunteer(region, p.offset(180.0, 120.0), Tier::IncludingHomes)
        .await;
    let op = t
        .operator("staff-op", OperatorRole::Operator, vec![region])
        .await;
    // Only volunteers of the region can be authorised.
    let (s, b) = t
        .put_json(
            &op,
            &format!("/api/v1/aeds/{staff_aed}/responders"),
            json!({ "volunteers": [uuid::Uuid::now_v7()] }),
        )
        .await;
    assert_eq!(
        (s, b["error"]["field"].as_str()),
        (400, Some("volunteers[0]")),
        "{b}"
    );
    let (s, b) = t
        .put_json(
            &op,
            &format!("/api/v1/aeds/{staff_aed}/responders"),
            json!({ "volunteers": [colleague] }),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let id = incident(&t, &key, "s1", p).await;
    alerted(&t, &stranger).await;
    alerted(&t, &c_tok).await;
    // The stranger is not sent to the staff AED (and never sees its code)…
    let (_, rs) = t
        .post_json(
            &stranger,
            &format!("/api/v1/missions/{id}/accept"),
            json!({}),
        )
        .await;
    assert_eq!(rs["mission"]["task"]["role"], "cpr", "{rs}");
    assert!(!rs.to_string().contains("S#2580"));
    // …the colleague is.
    let (_, rc) = t
        .post_json(&c_tok, &format!("/api/v1/missions/{id}/accept"), json!({}))
        .await;
    assert_eq!(rc["mission"]["task"]["aed"]["id"], json!(staff_aed), "{rc}");
    assert_eq!(rc["mission"]["task"]["aed"]["access_code"], "S#2580");
    // Not on the public map.
    assert!(!public(&t, "?region=staff").await.2.contains("Office AED"));
}
