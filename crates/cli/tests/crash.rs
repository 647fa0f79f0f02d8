//! Crash safety of the real binary: SIGKILL between acknowledging an incident
//! and sending its alerts, then restart: every alert goes out exactly once,
//! and a second kill after sending sends nothing twice while timers resume.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_between_acknowledgement_and_alerts_loses_nothing_and_sends_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let (mocks, mbase) = start_mocks().await;
    let (vapid, _) = firstlink_notify::generate_vapid_keypair();
    let key = seed(dir.path(), "crash", &[]);

    let http = reqwest::Client::new();
    let s = serve(
        dir.path(),
        &mbase,
        &vapid,
        &[("FIRSTLINK_FAILPOINT", "hold_after_incident_commit")],
    );
    // A short answer time, so that re-armed timers show within the test.
    let op = login(&http, &s.base).await;
    short_policy(&http, &s.base, &op, "crash", 8).await;

    // Three volunteers sign up, verify by SMS, subscribe to push and report a position, as the app does.
    let mut vols = Vec::new();
    for i in 0..3 {
        vols.push(volunteer(&http, &[&s.base], &mocks, &mbase, "crash", i).await);
    }

    // The incident is acknowledged (durable), then the process dies before planning.
    let id = post_incident(&http, &s.base, &key, "crash-1").await;
    s.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        mocks.pushes.lock().unwrap().is_empty(),
        "nothing was sent before the kill"
    );

    // Restart: the stored incident is planned and every alert goes out once.
    let s = serve(dir.path(), &mbase, &vapid, &[]);
    let count = |v: &str| mocks.count(v);
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

    let s = serve(dir.path(), &mbase, &vapid, &[]);
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
