//! Three `firstlink serve` processes on loopback ports sharing one
//! PostgreSQL database (the server on 127.0.0.1:5432; `FIRSTLINK_PG_ADMIN_URL`
//! overrides; an unreachable server FAILS this test, it never skips).
//!
//! Volunteers sign up and report through different nodes; the incident is
//! posted to node 0, which takes the mission's lease; volunteers answer
//! through nodes 1 and 2; node 0 is SIGKILLed mid-mission; another node takes
//! the lease over and drives the mission's timers; the mission completes; every
//! volunteer got each notification exactly once.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use tokio_postgres::NoTls;

fn admin_url() -> String {
    std::env::var("FIRSTLINK_PG_ADMIN_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

async fn pg(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("the cluster test needs PostgreSQL at {url} (set FIRSTLINK_PG_ADMIN_URL to use another): {e}"));
    tokio::spawn(conn);
    client
}

/// A fresh database; dropped when the guard goes.
struct Db {
    name: String,
    url: String,
}

impl Db {
    async fn create() -> Self {
        let name = format!("firstlink_cluster_{}", uuid::Uuid::new_v4().simple());
        pg(&admin_url())
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let base = admin_url();
        let url = format!("{}/{name}", &base[..base.rfind('/').unwrap()]);
        Self { name, url }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let name = self.name.clone();
        // A plain thread: the test's runtime may be shutting down.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                pg(&admin_url())
                    .await
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
            })
        })
        .join();
    }
}

async fn lease_holder(db: &tokio_postgres::Client, incident: &str) -> Option<String> {
    db.query_opt(
        "SELECT holder FROM leases WHERE name = $1 AND expires_at > clock_timestamp()",
        &[&format!("mission:{incident}")],
    )
    .await
    .unwrap()
    .map(|r| r.get(0))
}

async fn view(http: &reqwest::Client, base: &str, key: &str, id: &str) -> Value {
    http.get(format!("{base}/api/v1/incidents/{id}"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn responder_states(v: &Value) -> Vec<String> {
    let mut s: Vec<String> = v["responders"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| r["state"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default();
    s.sort();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_survive_losing_the_one_driving_a_mission() {
    let db = Db::create().await;
    let sql = pg(&db.url).await;
    let (mocks, mbase) = start_mocks().await;
    let (vapid, _) = firstlink_notify::generate_vapid_keypair();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let url_env = [("FIRSTLINK_DATABASE_URL", db.url.as_str())];
    let key = seed(dirs[0].path(), "cluster", &url_env);

    // Node 0 runs monitoring; the others do not (one node per installation does).
    let node_ids = ["node-0", "node-1", "node-2"];
    let mut nodes: Vec<Option<Server>> = (0..3)
        .map(|i| {
            let mut env = vec![
                ("FIRSTLINK_DATABASE_URL", db.url.as_str()),
                ("FIRSTLINK_CLUSTER__NODE_ID", node_ids[i]),
            ];
            if i > 0 {
                env.push(("FIRSTLINK_MONITOR__ENABLED", "false"));
            }
            Some(serve(dirs[i].path(), &mbase, &vapid, &env))
        })
        .collect();
    let bases: Vec<String> = nodes
        .iter()
        .map(|n| n.as_ref().unwrap().base.clone())
        .collect();
    let b: Vec<&str> = bases.iter().map(String::as_str).collect();
    let http = reqwest::Client::new();

    // A policy change made on node 2 reaches node 0, which will plan the mission.
    let op = login(&http, b[1]).await;
    short_policy(&http, b[2], &op, "cluster", 10).await;
    for _ in 0..100 {
        let p: Value = http
            .get(format!("{}/api/v1/regions/cluster/policy", b[0]))
            .bearer_auth(&op)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if p["answer_timeout_s"] == json!(10) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Four volunteers; each step of their set-up lands on another node.
    let mut vols = Vec::new();
    for i in 0..4 {
        vols.push(volunteer(&http, &b, &mocks, &mbase, "cluster", i).await);
    }
    // Their positions and availability reached node 0's index.
    let mut indexed = 0;
    for _ in 0..200 {
        let m = http
            .get(format!("{}/metrics", b[0]))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        indexed = m
            .lines()
            .find_map(|l| l.strip_prefix("firstlink_positions_indexed "))
            .and_then(|v| v.trim().parse::<u32>().ok())
            .unwrap_or(0);
        if indexed == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        indexed, 4,
        "positions reported through nodes 1 and 2 are in node 0's index"
    );

    // A dispatcher's console follows the region's live feed on node 2.
    let feed = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
    {
        let (feed, url) = (feed.clone(), format!("{}/api/v1/events", b[2]));
        let mut r = http.get(url).bearer_auth(&op).send().await.unwrap();
        assert_eq!(r.status(), 200);
        tokio::spawn(async move {
            let mut buf = String::new();
            while let Ok(Some(chunk)) = r.chunk().await {
                buf.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buf.find("\n\n") {
                    let frame: String = buf.drain(..end + 2).collect();
                    for data in frame.lines().filter_map(|l| l.strip_prefix("data:")) {
                        if let Ok(v) = serde_json::from_str::<Value>(data.trim()) {
                            feed.lock().unwrap().push(v);
                        }
                    }
                }
            }
        });
    }
    let seen = |kind: &str| {
        feed.lock()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == json!(kind))
            .cloned()
            .collect::<Vec<_>>()
    };

    // The call lands on node 0: it alerts all four and holds the mission's lease.
    let id = post_incident(&http, b[0], &key, "cluster-1").await;
    until(20, "four alerts", || {
        vols.iter().all(|(v, _)| mocks.count(v) >= 1).then_some(())
    })
    .await;
    assert_eq!(lease_holder(&sql, &id).await.as_deref(), Some("node-0"));

    // Volunteers answer through the other nodes.
    let r = http
        .post(format!("{}/api/v1/missions/{id}/accept", b[1]))
        .bearer_auth(&vols[0].1)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["outcome"], "accepted");
    let r = http
        .post(format!("{}/api/v1/missions/{id}/decline", b[2]))
        .bearer_auth(&vols[1].1)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The dispatcher's view on every node shows both answers.
    for base in &b {
        let mut states = Vec::new();
        for _ in 0..100 {
            states = responder_states(&view(&http, base, &key, &id).await);
            if states == ["accepted", "alerted", "alerted", "declined"] {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            states,
            ["accepted", "alerted", "alerted", "declined"],
            "view on {base}"
        );
    }
    // Node 2's console saw, live, the events committed by nodes 0 (wave) and 1 (acceptance).
    until(10, "the live feed on node 2", || {
        (!seen("accepted").is_empty() && !seen("declined").is_empty()).then_some(())
    })
    .await;
    assert_eq!(seen("wave_sent").len(), 1, "{:?}", feed.lock().unwrap());
    assert_eq!(seen("accepted")[0]["volunteer"], json!(vols[0].0));
    assert_eq!(seen("accepted").len(), 1, "each event once on the feed");
    // Quiescent: everything due is sent. Then node 0 dies.
    for _ in 0..100 {
        let row = sql
            .query_one(
                "SELECT count(*) FROM outbox WHERE status = 'pending' AND next_attempt_at <= now()",
                &[],
            )
            .await
            .unwrap();
        if row.get::<_, i64>(0) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let killed = Instant::now();
    nodes[0].take().unwrap().kill();

    // Another node takes the lease over within a few seconds.
    let mut holder = None;
    for _ in 0..200 {
        holder = lease_holder(&sql, &id).await.filter(|h| h != "node-0");
        if holder.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let failover = killed.elapsed();
    let holder = holder.expect("another node took the mission's lease");
    eprintln!("mission lease moved from node-0 to {holder} {failover:?} after SIGKILL");
    assert!(
        failover < Duration::from_secs(8),
        "failover took {failover:?}"
    );

    // Its timers still fire: the two who did not answer time out (10 s after the alert) and are told so.
    until(30, "time-outs driven by the new node", || {
        vols[2..]
            .iter()
            .all(|(v, _)| mocks.count(v) == 2)
            .then_some(())
    })
    .await;
    let states = responder_states(&view(&http, b[1], &key, &id).await);
    assert_eq!(states, ["accepted", "declined", "timed_out", "timed_out"]);

    // The responder arrives (through node 2), the dispatcher ends the mission.
    let r = http
        .post(format!("{}/api/v1/missions/{id}/status", b[2]))
        .bearer_auth(&vols[0].1)
        .json(&json!({ "status": "on_scene" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Ended through the node that does not drive the mission.
    let other = if holder == "node-1" { b[2] } else { b[1] };
    let r = http
        .post(format!("{other}/api/v1/incidents/{id}/end"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    until(10, "end notice", || {
        (mocks.count(&vols[0].0) == 2).then_some(())
    })
    .await;
    // The console on node 2 followed the whole mission, the new node's time-outs included.
    until(10, "the end on node 2's feed", || {
        (!seen("ended").is_empty()).then_some(())
    })
    .await;
    assert_eq!(seen("timed_out").len(), 2);
    let seqs: Vec<u64> = feed
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| e["seq"].as_u64())
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "in order, none twice: {seqs:?}"
    );
    for base in &b[1..] {
        let mut status = Value::Null;
        for _ in 0..100 {
            status = view(&http, base, &key, &id).await["status"].clone();
            if status == json!("ended") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(status, json!("ended"), "the mission ended on {base}");
    }

    // Exactly once: alert for everyone, a time-out notice for the two silent
    // ones, the end notice for the responder; nothing more arrives later.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got: Vec<usize> = vols.iter().map(|(v, _)| mocks.count(v)).collect();
    assert_eq!(got, vec![2, 1, 2, 2], "pushes per volunteer");
    for (v, _) in &vols {
        let vid: uuid::Uuid = v.parse().unwrap();
        let incident: uuid::Uuid = id.parse().unwrap();
        let sent: i64 = sql
            .query_one("SELECT count(*) FROM outbox WHERE volunteer_id = $1 AND incident_id = $2 AND status = 'sent'", &[&vid, &incident])
            .await
            .unwrap()
            .get(0);
        assert_eq!(
            sent as usize,
            mocks.count(v),
            "every notification recorded for {v} was sent, once"
        );
    }
    // The driving node let the ended mission's lease go.
    let mut leases = -1;
    for _ in 0..100 {
        leases = sql
            .query_one(
                "SELECT count(*) FROM leases WHERE name = $1",
                &[&format!("mission:{id}")],
            )
            .await
            .unwrap()
            .get::<_, i64>(0);
        if leases == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(leases, 0, "the ended mission's lease was released");
    let dead: i64 = sql
        .query_one("SELECT count(*) FROM outbox WHERE status = 'dead'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(dead, 0);
    for n in nodes.into_iter().flatten() {
        n.kill();
    }
}
