//! The people's side of the API: mission history with roles, technicians'
//! read access, AED edits that keep what a form does not show, region
//! branding, news and training feeds, CPR refresher reminders.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use chrono::{NaiveDate, Utc};
use firstlink_domain::policy::DispatchPolicy;
use firstlink_domain::volunteer::Tier;
use firstlink_store::{AedDetails, OperatorRole, OwnerReminder};
use serde_json::{Value, json};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mission_history_names_each_volunteers_task() {
    let t = spawn_app().await;
    let policy = fast_policy(DispatchPolicy {
        first_wave: 2,
        wave_size: 0,
        target_acceptors: 2,
        replace_declines: false,
        ..DispatchPolicy::firstlink()
    });
    let (region, key) = t.region("hist", policy).await;
    let patient = cph();
    let (_, tok_a) = t
        .volunteer(region, patient.offset(0.0, 150.0), Tier::IncludingHomes)
        .await;
    let (_, tok_b) = t
        .volunteer(region, patient.offset(0.0, 250.0), Tier::IncludingHomes)
        .await;
    let id = incident(&t, &key, "hist-1", patient).await;
    alerted(&t, &tok_a).await;
    alerted(&t, &tok_b).await;
    let (s, r) = t
        .post_json(&tok_a, &format!("/api/v1/missions/{id}/accept"), json!({}))
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(
        t.post_json(&tok_b, &format!("/api/v1/missions/{id}/decline"), json!({}))
            .await
            .0,
        200
    );
    assert_eq!(
        t.post_json(
            &key,
            &format!("/api/v1/incidents/{id}/end"),
            json!({ "reason": "done" })
        )
        .await
        .0,
        200
    );
    let (s, h) = t.get_json(&tok_a, "/api/v1/me/missions").await;
    assert_eq!(s, 200);
    assert_eq!(h[0]["incident_id"], json!(id));
    assert_eq!(h[0]["role"], "cpr", "{h}");
    let (_, h) = t.get_json(&tok_b, "/api/v1/me/missions").await;
    assert_eq!(h[0]["state"], "declined");
    assert!(
        h[0]["role"].is_null(),
        "a volunteer who declined had no task: {h}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn technicians_read_their_regions_and_aeds_but_nothing_else() {
    let t = spawn_app().await;
    let (ra, key) = t
        .region("tech-a", fast_policy(DispatchPolicy::firstlink()))
        .await;
    let (rb, _) = t
        .region("tech-b", fast_policy(DispatchPolicy::firstlink()))
        .await;
    let aed = t.aed(ra, "Depot AED", cph(), "24/7", Some("1234")).await;
    t.aed(rb, "Other AED", cph(), "24/7", None).await;
    let mut rec = t.app.store.aed(aed).await.unwrap().unwrap();
    rec.details.owner_contact = Some("owner@example.org".into());
    t.app.store.upsert_aed(&rec).await.unwrap();
    let rt = t.app.region(ra).unwrap();
    t.app.aeds_mut().upsert(rec, rt.tz, "DK");
    let tech = t.operator("tech", OperatorRole::Technician, vec![ra]).await;

    let (s, regions) = t.get_json(&tech, "/api/v1/regions").await;
    assert_eq!(s, 200);
    let slugs: Vec<&str> = regions
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["tech-a"]);
    let (s, aeds) = t.get_json(&tech, "/api/v1/aeds?region=tech-a").await;
    assert_eq!(s, 200);
    assert_eq!(aeds.as_array().unwrap().len(), 1);
    assert_eq!(aeds[0]["name"], "Depot AED");
    assert_eq!(aeds[0]["access_code"], "1234", "technicians open cabinets");
    assert!(
        aeds[0]["owner_contact"].is_null(),
        "the owner's contact is not for technicians"
    );
    assert_eq!(t.get_json(&tech, "/api/v1/aeds?region=tech-b").await.0, 403);
    // Read only: no writes to AEDs, policy or settings.
    let body = json!({ "id": aed, "name": "Renamed", "location": { "lat": 55.6761, "lon": 12.5683 }, "access": "public", "status": "active" });
    assert_eq!(
        t.post_json(&tech, "/api/v1/aeds?region=tech-a", body)
            .await
            .0,
        403
    );
    assert_eq!(
        t.app.store.aed(aed).await.unwrap().unwrap().name,
        "Depot AED"
    );
    assert_eq!(
        t.get_json(&tech, "/api/v1/regions/tech-a/policy").await.0,
        403
    );
    assert_eq!(
        t.put_json(&tech, "/api/v1/regions/tech-a/branding", json!({}))
            .await
            .0,
        403
    );
    assert_eq!(
        t.put_json(
            &tech,
            "/api/v1/regions/tech-a/feeds",
            json!({ "feeds": [] })
        )
        .await
        .0,
        403
    );
    assert_eq!(
        t.get_json(&tech, "/api/v1/volunteers?region=tech-a")
            .await
            .0,
        403
    );
    // And no incidents.
    let id = incident(&t, &key, "tech-1", cph()).await;
    assert_eq!(
        t.get_json(&tech, &format!("/api/v1/incidents/{id}"))
            .await
            .0,
        404
    );
    let (s, list) = t.get_json(&tech, "/api/v1/incidents?region=tech-a").await;
    assert!(
        s == 403 || list.as_array().is_some_and(Vec::is_empty),
        "{s} {list}"
    );
    // The region feed carries nothing for them either.
    let (s, _) = t
        .get_json(&tech, &format!("/api/v1/incidents/{id}/events"))
        .await;
    assert_eq!(s, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saving_an_aed_from_the_form_keeps_the_fields_the_form_does_not_show() {
    let t = spawn_app().await;
    let (ra, _) = t
        .region("edit-a", fast_policy(DispatchPolicy::firstlink()))
        .await;
    let (rb, _) = t
        .region("edit-b", fast_policy(DispatchPolicy::firstlink()))
        .await;
    let op = t.operator("op", OperatorRole::Operator, vec![ra]).await;
    let id = t
        .aed(ra, "Library", cph(), "Mo-Fr 10:00-18:00", Some("1111"))
        .await;
    let mut rec = t.app.store.aed(id).await.unwrap().unwrap();
    rec.details = AedDetails {
        manufacturer: Some("Philips".into()),
        model: Some("HeartStart FRx".into()),
        pad_expiry: NaiveDate::from_ymd_opt(2027, 5, 1),
        battery_expiry: NaiveDate::from_ymd_opt(2029, 1, 1),
        owner_contact: Some("+4520112233".into()),
        owner_name: Some("Library desk".into()),
        source: Some("osm".into()),
        source_id: Some("node/42".into()),
        reminders: vec![OwnerReminder {
            kind: "confirm".into(),
            at: Utc::now(),
        }],
        location_desc: vec![
            ("en".into(), "By the stairs".into()),
            ("da".into(), "Ved trappen".into()),
        ],
        ..rec.details
    };
    t.app.store.upsert_aed(&rec).await.unwrap();

    // What the console's edit form sends: the fields it shows, nothing else.
    let form = json!({
        "id": id, "name": "City library", "location": { "lat": 55.6762, "lon": 12.5684 }, "access": "public", "status": "active",
        "opening_hours": "Mo-Sa 09:00-20:00", "level": "1", "access_code": "2222",
    });
    let (s, w) = t.post_json(&op, "/api/v1/aeds?region=edit-a", form).await;
    assert_eq!(s, 200, "{w}");
    let after = t.app.store.aed(id).await.unwrap().unwrap();
    assert_eq!(after.name, "City library");
    assert_eq!(after.opening_hours.as_deref(), Some("Mo-Sa 09:00-20:00"));
    assert_eq!(after.details.level.as_deref(), Some("1"));
    assert_eq!(after.details.access_code.as_deref(), Some("2222"));
    // Everything else survived.
    assert_eq!(after.details.manufacturer.as_deref(), Some("Philips"));
    assert_eq!(after.details.model.as_deref(), Some("HeartStart FRx"));
    assert_eq!(
        after.details.pad_expiry,
        NaiveDate::from_ymd_opt(2027, 5, 1)
    );
    assert_eq!(
        after.details.battery_expiry,
        NaiveDate::from_ymd_opt(2029, 1, 1)
    );
    assert_eq!(after.details.owner_contact.as_deref(), Some("+4520112233"));
    assert_eq!(after.details.owner_name.as_deref(), Some("Library desk"));
    assert_eq!(
        (
            after.details.source.as_deref(),
            after.details.source_id.as_deref()
        ),
        (Some("osm"), Some("node/42"))
    );
    assert_eq!(after.details.reminders.len(), 1);
    assert_eq!(after.details.location_desc.len(), 2, "both languages kept");
    assert_eq!(after.details.locked, Some(true));
    // The in-memory registry (what dispatch uses) agrees.
    assert_eq!(
        t.app
            .aeds()
            .get(id)
            .unwrap()
            .details
            .manufacturer
            .as_deref(),
        Some("Philips")
    );
    // An empty string clears a field.
    let (s, _) = t
        .post_json(&op, "/api/v1/aeds?region=edit-a", json!({ "id": id, "name": "City library", "location": { "lat": 55.6762, "lon": 12.5684 }, "access": "public", "status": "active", "access_code": "" }))
        .await;
    assert_eq!(s, 200);
    let after = t.app.store.aed(id).await.unwrap().unwrap();
    assert_eq!(after.details.access_code, None);
    assert_eq!(
        after.opening_hours.as_deref(),
        Some("Mo-Sa 09:00-20:00"),
        "absent keeps"
    );
    // Another region's AED cannot be overwritten through this region.
    let other = t.aed(rb, "Elsewhere", cph(), "24/7", None).await;
    let (s, e) = t
        .post_json(&op, "/api/v1/aeds?region=edit-a", json!({ "id": other, "name": "Mine now", "location": { "lat": 55.6, "lon": 12.5 }, "access": "public", "status": "active" }))
        .await;
    assert_eq!((s, e["error"]["code"].as_str()), (404, Some("not_found")));
    assert_eq!(
        t.app.store.aed(other).await.unwrap().unwrap().name,
        "Elsewhere"
    );
    // A new AED still gets created, marked as entered by hand.
    let (s, w) = t.post_json(&op, "/api/v1/aeds?region=edit-a", json!({ "name": "New one", "location": { "lat": 55.67, "lon": 12.56 }, "access": "public", "status": "active" })).await;
    assert_eq!(s, 200);
    let new: firstlink_domain::ids::AedId = serde_json::from_value(w["id"].clone()).unwrap();
    assert_eq!(
        t.app
            .store
            .aed(new)
            .await
            .unwrap()
            .unwrap()
            .details
            .source
            .as_deref(),
        Some("manual")
    );
}

fn png(w: u32, h: u32, pad: usize) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    b.extend_from_slice(&w.to_be_bytes());
    b.extend_from_slice(&h.to_be_bytes());
    b.extend_from_slice(&[8, 6, 0, 0, 0]);
    b.resize(b.len() + pad, 0);
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_region_has_its_own_brand() {
    let t = spawn_app().await;
    let (dk, _) = t
        .region("hovedstaden", fast_policy(DispatchPolicy::hjertelober()))
        .await;
    let (se, _) = t
        .region("stockholm", fast_policy(DispatchPolicy::heartrunner()))
        .await;
    let op_dk = t.operator("op-dk", OperatorRole::Operator, vec![dk]).await;
    let op_se = t.operator("op-se", OperatorRole::Operator, vec![se]).await;
    let disp = t
        .operator("disp-dk", OperatorRole::Dispatcher, vec![dk])
        .await;
    let (_, vol_dk) = t.volunteer(dk, cph(), Tier::PublicOnly).await;
    let (_, vol_se) = t.volunteer(se, cph(), Tier::PublicOnly).await;

    // Defaults before anything is set: the region's name, firstlink's colours.
    let (s, b) = t.get_json(&vol_dk, "/api/v1/me/branding").await;
    assert_eq!(s, 200);
    assert_eq!(
        (
            b["display_name"].as_str(),
            b["custom"].as_bool(),
            b["logo"].is_null()
        ),
        (Some("hovedstaden"), Some(false), true)
    );

    // Validation: hex colours, readable contrast, by field.
    let path = "/api/v1/regions/hovedstaden/branding";
    let (s, e) = t
        .put_json(&op_dk, path, json!({ "primary_color": "#ffd700" }))
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str(), e["error"]["field"].as_str()),
        (400, Some("low_contrast"), Some("primary_color"))
    );
    let (s, e) = t
        .put_json(&op_dk, path, json!({ "accent_color": "red" }))
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str(), e["error"]["field"].as_str()),
        (400, Some("invalid_field"), Some("accent_color"))
    );
    let (s, e) = t
        .put_json(&op_dk, path, json!({ "display_name": "x".repeat(61) }))
        .await;
    assert_eq!(
        (s, e["error"]["field"].as_str()),
        (400, Some("display_name"))
    );
    let (s, e) = t.put_json(&op_dk, path, json!({ "logo": "x" })).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (400, Some("invalid_field"))
    );
    // Only operators of the region set it; a dispatcher reads it.
    assert_eq!(
        t.put_json(&disp, path, json!({ "display_name": "Nope" }))
            .await
            .0,
        403
    );
    assert_eq!(
        t.put_json(&op_se, path, json!({ "display_name": "Nope" }))
            .await
            .0,
        403
    );

    let (s, b) = t.put_json(&op_dk, path, json!({ "display_name": "Hjerteløber", "primary_color": "#C8102E", "accent_color": "#8b0000" })).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["primary_color"], "#c8102e");
    let (s, b) = t.put_json(&op_se, "/api/v1/regions/stockholm/branding", json!({ "display_name": "SMSlivräddare", "primary_color": "#005b96", "accent_color": "#1d3f6e" })).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        t.get_json(&disp, path).await.1["display_name"],
        "Hjerteløber"
    );

    // Logo: PNG or WebP by their bytes, size-limited; SVG refused.
    let logo = |tok: &str, ct: &str, body: Vec<u8>| {
        let req = t
            .http
            .put(t.url("/api/v1/regions/hovedstaden/branding/logo"))
            .bearer_auth(tok.to_string())
            .header("content-type", ct.to_string())
            .body(body);
        async move {
            let r = req.send().await.unwrap();
            let s = r.status().as_u16();
            (s, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let svg =
        br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#.to_vec();
    let (s, e) = logo(&op_dk, "image/svg+xml", svg).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (415, Some("unsupported_image"))
    );
    let (s, e) = logo(
        &op_dk,
        "image/png",
        b"GIF89a not a png at all, really".to_vec(),
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (415, Some("unsupported_image"))
    );
    let (s, e) = logo(&op_dk, "image/png", png(64, 64, 70 * 1024)).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (413, Some("payload_too_large"))
    );
    assert_eq!(logo(&disp, "image/png", png(64, 64, 100)).await.0, 403);
    let (s, b) = logo(&op_dk, "image/png", png(64, 64, 100)).await;
    assert_eq!(s, 200, "{b}");
    assert!(
        b["logo"]
            .as_str()
            .unwrap()
            .starts_with("data:image/png;base64,iVBORw0KGgo")
    );

    // Each volunteer sees their own region's brand, and only that.
    let (_, b) = t.get_json(&vol_dk, "/api/v1/me/branding").await;
    assert_eq!(
        (
            b["display_name"].as_str(),
            b["primary_color"].as_str(),
            b["custom"].as_bool()
        ),
        (Some("Hjerteløber"), Some("#c8102e"), Some(true))
    );
    assert!(b["logo"].as_str().is_some());
    let (_, b) = t.get_json(&vol_se, "/api/v1/me/branding").await;
    assert_eq!(
        (b["display_name"].as_str(), b["primary_color"].as_str()),
        (Some("SMSlivräddare"), Some("#005b96"))
    );
    assert!(b["logo"].is_null());
    assert_eq!(t.get_json(&vol_dk, path).await.0, 403);
    assert_eq!(t.get_json(&op_dk, "/api/v1/me/branding").await.0, 403);
    // Removing the logo keeps the colours.
    let r = t
        .http
        .delete(t.url("/api/v1/regions/hovedstaden/branding/logo"))
        .bearer_auth(&op_dk)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, b) = t.get_json(&vol_dk, "/api/v1/me/branding").await;
    assert!(b["logo"].is_null());
    assert_eq!(b["primary_color"], "#c8102e");
    // The OpenAPI document lists the new endpoints.
    let (_, doc) = t.get_json(&op_dk, "/api/v1/openapi.json").await;
    for p in [
        "/api/v1/regions/{slug}/branding",
        "/api/v1/regions/{slug}/branding/logo",
        "/api/v1/me/branding",
        "/api/v1/regions/{slug}/feeds",
        "/api/v1/me/news",
        "/api/v1/regions/{slug}/refresher",
        "/api/v1/me/refresher",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p} missing from OpenAPI");
    }
}

const RSS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Region news</title><link>https://region.example/</link>
<item><title>Ten new AEDs in the harbour</title><link>https://region.example/news/1</link>
<description><![CDATA[<p>Ten <b>new</b> AEDs <img src=x onerror="alert(1)"> were put up.</p><script>alert(2)</script>]]></description>
<pubDate>Mon, 02 Nov 2026 08:00:00 GMT</pubDate></item>
<item><title>Evil link</title><link>javascript:alert(3)</link><description>click</description><pubDate>Sun, 01 Nov 2026 08:00:00 GMT</pubDate></item>
</channel></rss>"#;

const ATOM: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Courses</title><id>urn:x</id><updated>2026-11-03T10:00:00Z</updated>
<entry><title>CPR refresher, 12 November</title><id>urn:1</id><link href="/courses/12-nov"/><updated>2026-11-03T10:00:00Z</updated>
<summary type="html">&lt;em&gt;Two hours&lt;/em&gt;, free for volunteers</summary></entry></feed>"#;

#[derive(Clone, Default)]
struct Hits(Arc<Mutex<Vec<String>>>);

async fn mock_feeds() -> (String, Hits, Arc<AtomicUsize>) {
    let hits = Hits::default();
    let slow = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let record = move |p: &'static str| {
        let h = h.clone();
        move || {
            h.0.lock().unwrap().push(p.to_string());
            async move {}
        }
    };
    let s2 = Arc::clone(&slow);
    let router = axum::Router::new()
        .route("/rss.xml", get({
            let r = record("rss");
            move || {
                let f = r();
                async move {
                    f.await;
                    ([(header::CONTENT_TYPE, "application/rss+xml")], RSS).into_response()
                }
            }
        }))
        .route("/atom.xml", get({
            let r = record("atom");
            move || {
                let f = r();
                async move {
                    f.await;
                    ([(header::CONTENT_TYPE, "application/atom+xml")], ATOM).into_response()
                }
            }
        }))
        .route("/broken.xml", get(|| async { ([(header::CONTENT_TYPE, "application/xml")], "<rss><channel><item><title>half").into_response() }))
        .route("/bomb.xml", get(|| async { r#"<!DOCTYPE r [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><rss><channel><title>&b;</title></channel></rss>"# }))
        .route("/gone.xml", get(|| async { StatusCode::NOT_FOUND }))
        .route("/huge.xml", get(|| async { format!("<rss><channel><title>{}</title></channel></rss>", "x".repeat(2 * 1024 * 1024)) }))
        .route("/slow.xml", get(move || {
            let s = Arc::clone(&s2);
            async move {
                s.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(30)).await;
                RSS
            }
        }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (base, hits, slow)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volunteers_read_their_regions_feeds_as_text() {
    let t = spawn_app().await;
    let (ra, _) = t
        .region("news-a", fast_policy(DispatchPolicy::firstlink()))
        .await;
    let (rb, _) = t
        .region("news-b", fast_policy(DispatchPolicy::firstlink()))
        .await;
    let op = t.operator("op", OperatorRole::Operator, vec![ra]).await;
    let disp = t.operator("disp", OperatorRole::Dispatcher, vec![ra]).await;
    let (_, vol) = t.volunteer(ra, cph(), Tier::PublicOnly).await;
    let (_, vol_b) = t.volunteer(rb, cph(), Tier::PublicOnly).await;
    let (base, hits, _) = mock_feeds().await;

    // Nothing configured: an empty list.
    let (s, n) = t.get_json(&vol, "/api/v1/me/news").await;
    assert_eq!((s, n["items"].as_array().map(Vec::len)), (200, Some(0)));

    // URLs are validated, by field.
    let path = "/api/v1/regions/news-a/feeds";
    for (bad, field) in [
        ("ftp://x.example/feed", "feeds[0].url"),
        ("javascript:alert(1)", "feeds[0].url"),
        ("https://u:p@x.example/", "feeds[0].url"),
        ("not a url", "feeds[0].url"),
    ] {
        let (s, e) = t
            .put_json(
                &op,
                path,
                json!({ "feeds": [{ "url": bad, "kind": "news" }] }),
            )
            .await;
        assert_eq!(
            (s, e["error"]["field"].as_str()),
            (400, Some(field)),
            "{bad}: {e}"
        );
    }
    let (s, e) = t
        .put_json(
            &op,
            path,
            json!({ "feeds": [{ "url": "https://x.example/f", "kind": "gossip" }] }),
        )
        .await;
    assert_eq!(
        (s, e["error"]["field"].as_str()),
        (400, Some("feeds[0].kind"))
    );
    let eleven: Vec<Value> = (0..11)
        .map(|i| json!({ "url": format!("https://x.example/{i}"), "kind": "news" }))
        .collect();
    assert_eq!(
        t.put_json(&op, path, json!({ "feeds": eleven })).await.0,
        400
    );
    assert_eq!(t.put_json(&disp, path, json!({ "feeds": [] })).await.0, 403);
    assert_eq!(t.get_json(&vol, path).await.0, 403);

    let feeds = json!({ "feeds": [
        { "url": format!("{base}/rss.xml"), "kind": "news" },
        { "url": format!("{base}/atom.xml"), "kind": "training", "label": "Training courses" },
        { "url": format!("{base}/broken.xml"), "kind": "news", "label": "Broken" },
        { "url": format!("{base}/bomb.xml"), "kind": "news", "label": "Bomb" },
        { "url": format!("{base}/gone.xml"), "kind": "news", "label": "Gone" },
        { "url": format!("{base}/huge.xml"), "kind": "news", "label": "Huge" },
    ] });
    let (s, saved) = t.put_json(&op, path, feeds).await;
    assert_eq!(s, 200, "{saved}");
    assert_eq!(
        t.get_json(&disp, path).await.1["feeds"]
            .as_array()
            .unwrap()
            .len(),
        6
    );

    let (s, n) = t.get_json(&vol, "/api/v1/me/news").await;
    assert_eq!(s, 200, "{n}");
    let items = n["items"].as_array().unwrap();
    let titles: Vec<&str> = items.iter().map(|i| i["title"].as_str().unwrap()).collect();
    // Newest first, across feeds; the failing feeds leave the others alone.
    assert_eq!(
        titles,
        [
            "CPR refresher, 12 November",
            "Ten new AEDs in the harbour",
            "Evil link"
        ],
        "{n}"
    );
    assert_eq!(items[0]["kind"], "training");
    assert_eq!(items[0]["feed"], "Training courses");
    assert_eq!(items[0]["link"], format!("{base}/courses/12-nov"));
    assert_eq!(items[0]["summary"], "Two hours, free for volunteers");
    assert_eq!(items[1]["feed"], "Region news");
    assert_eq!(items[1]["summary"], "Ten new AEDs were put up.");
    assert!(
        items[2]["link"].is_null(),
        "only http(s) links are passed on"
    );
    assert!(
        !n["items"].to_string().contains('<'),
        "no markup reaches the app: {n}"
    );
    let status: Vec<(String, bool)> = n["feeds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["feed"].as_str().unwrap().to_string(),
                f["ok"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        status,
        [
            ("Region news", true),
            ("Training courses", true),
            ("Broken", false),
            ("Bomb", false),
            ("Gone", false),
            ("Huge", false)
        ]
        .map(|(a, b)| (a.to_string(), b))
        .to_vec()
    );
    assert!(
        !n.to_string().contains("rss.xml") && !n.to_string().contains("broken.xml"),
        "feed URLs are not shown to volunteers"
    );

    // Cached: a second read does not fetch again.
    let before = hits.0.lock().unwrap().len();
    assert_eq!(t.get_json(&vol, "/api/v1/me/news").await.0, 200);
    assert_eq!(hits.0.lock().unwrap().len(), before);
    // Another region's volunteer does not see them.
    let (_, n) = t.get_json(&vol_b, "/api/v1/me/news").await;
    assert_eq!(n["items"].as_array().unwrap().len(), 0);
    // Operators are not volunteers.
    assert_eq!(t.get_json(&op, "/api/v1/me/news").await.0, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_feed_times_out_without_holding_the_others() {
    let t = spawn_app().await;
    let (ra, _) = t
        .region("slow", fast_policy(DispatchPolicy::firstlink()))
        .await;
    let op = t.operator("op", OperatorRole::Operator, vec![ra]).await;
    let (_, vol) = t.volunteer(ra, cph(), Tier::PublicOnly).await;
    let (base, _, slow) = mock_feeds().await;
    let feeds = json!({ "feeds": [{ "url": format!("{base}/slow.xml"), "kind": "news" }, { "url": format!("{base}/atom.xml"), "kind": "training" }] });
    assert_eq!(
        t.put_json(&op, "/api/v1/regions/slow/feeds", feeds).await.0,
        200
    );
    let started = std::time::Instant::now();
    let (s, n) = t.get_json(&vol, "/api/v1/me/news").await;
    assert_eq!(s, 200);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the fetch time-out bounds the answer"
    );
    assert_eq!(slow.load(Ordering::SeqCst), 1);
    assert_eq!(n["items"].as_array().unwrap().len(), 1);
    assert_eq!(n["feeds"][0]["ok"], false);
    assert_eq!(n["feeds"][1]["ok"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresher_reminder_goes_out_once_per_training_date() {
    let t = spawn_app().await;
    let (ra, _) = t
        .region("cpr", fast_policy(DispatchPolicy::firstlink()))
        .await;
    let op = t.operator("op", OperatorRole::Operator, vec![ra]).await;
    let disp = t.operator("disp", OperatorRole::Dispatcher, vec![ra]).await;
    let (old, tok_old) = t.volunteer(ra, cph(), Tier::PublicOnly).await;
    let (fresh, tok_fresh) = t.volunteer(ra, cph(), Tier::PublicOnly).await;
    let (soon, _) = t.volunteer(ra, cph(), Tier::PublicOnly).await;
    let today = Utc::now().date_naive();
    let set_training = |id, date: NaiveDate| {
        let app = Arc::clone(&t.app);
        async move {
            let mut v = app.store.volunteer(id).await.unwrap().unwrap();
            v.training_date = Some(date);
            app.store.update_volunteer(&v).await.unwrap();
        }
    };
    // 13 months ago: past a 12-month interval. 11 months and 20 days ago: due within 30 days.
    let old_date = today.checked_sub_months(chrono::Months::new(13)).unwrap();
    set_training(old, old_date).await;
    set_training(fresh, today - chrono::Duration::days(30)).await;
    set_training(
        soon,
        today.checked_sub_months(chrono::Months::new(12)).unwrap() + chrono::Duration::days(10),
    )
    .await;

    // The interval is the region's, validated, operators only.
    let path = "/api/v1/regions/cpr/refresher";
    assert_eq!(t.get_json(&op, path).await.1["interval_months"], 24);
    let (s, e) = t.put_json(&op, path, json!({ "interval_months": 0 })).await;
    assert_eq!(
        (s, e["error"]["field"].as_str()),
        (400, Some("interval_months"))
    );
    assert_eq!(
        t.put_json(&op, path, json!({ "interval_months": 121 }))
            .await
            .0,
        400
    );
    assert_eq!(
        t.put_json(&disp, path, json!({ "interval_months": 12 }))
            .await
            .0,
        403
    );
    // With the default 24 months nobody is due.
    assert!(
        firstlink_server::refresher::run_once(&t.app)
            .await
            .unwrap()
            .is_empty()
    );
    let (s, _) = t
        .put_json(&op, path, json!({ "interval_months": 12 }))
        .await;
    assert_eq!(s, 200);

    // The app's view.
    let (s, r) = t.get_json(&tok_old, "/api/v1/me/refresher").await;
    assert_eq!(s, 200);
    assert_eq!(r["state"], "overdue");
    assert_eq!(
        r["due_on"],
        json!(
            old_date
                .checked_add_months(chrono::Months::new(12))
                .unwrap()
        )
    );
    assert_eq!(
        t.get_json(&tok_fresh, "/api/v1/me/refresher").await.1["state"],
        "ok"
    );
    assert_eq!(t.get_json(&op, "/api/v1/me/refresher").await.0, 403);

    let mut due = firstlink_server::refresher::run_once(&t.app).await.unwrap();
    due.sort();
    let mut want = vec![old, soon];
    want.sort();
    assert_eq!(due, want);
    let (o, s) = (old.to_string(), soon.to_string());
    eventually(10, "refresher pushes", || async {
        (t.push.count(&o) == 1 && t.push.count(&s) == 1).then_some(())
    })
    .await;
    assert_eq!(t.push.count(&fresh.to_string()), 0);
    assert!(
        t.push.all().iter().all(|p| p.urgency != "high"),
        "a reminder is not an alert"
    );
    // Again, and after a "restart" of the job's memory: nothing more for the same dates.
    firstlink_server::refresher::run_once(&t.app).await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!((t.push.count(&o), t.push.count(&s)), (1, 1));
    // A new training date (entered in the app) that is again old gets its own reminder.
    let (s2, _) = t
        .http
        .patch(t.url("/api/v1/me"))
        .bearer_auth(&tok_old)
        .json(
            &json!({ "training": { "kind": "BLS", "date": today - chrono::Duration::days(400) } }),
        )
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(s2, 200);
    firstlink_server::refresher::run_once(&t.app).await.unwrap();
    eventually(10, "second reminder", || async {
        (t.push.count(&o) == 2).then_some(())
    })
    .await;
    // A refreshed training stops the reminders and the app's warning.
    let (s3, _) = t
        .http
        .patch(t.url("/api/v1/me"))
        .bearer_auth(&tok_old)
        .json(&json!({ "training": { "kind": "BLS", "date": today } }))
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(s3, 200);
    assert_eq!(
        t.get_json(&tok_old, "/api/v1/me/refresher").await.1["state"],
        "ok"
    );
}
