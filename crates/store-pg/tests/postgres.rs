//! The storage suite on PostgreSQL (the server on 127.0.0.1:5432, trust auth
//! as `postgres`; `FIRSTLINK_PG_ADMIN_URL` overrides), each test in a fresh
//! database `firstlink_test_<random>` that is dropped afterwards. An
//! unreachable server FAILS these tests: they never skip.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use firstlink_store::prelude::*;
use firstlink_store::suite;
use firstlink_store_pg::PgStore;
use tokio_postgres::NoTls;

fn admin_url() -> String {
    std::env::var("FIRSTLINK_PG_ADMIN_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

async fn admin() -> tokio_postgres::Client {
    let url = admin_url();
    let (client, conn) = tokio_postgres::connect(&url, NoTls).await.unwrap_or_else(|e| {
        panic!("the PostgreSQL storage tests need a server at {url} (set FIRSTLINK_PG_ADMIN_URL to use another): {e}")
    });
    tokio::spawn(conn);
    client
}

/// A fresh, empty database; dropped by [`drop_db`].
async fn create_db() -> (String, String) {
    let name = format!("firstlink_test_{}", uuid::Uuid::new_v4().simple());
    admin()
        .await
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let mut cfg: tokio_postgres::Config = admin_url().parse().unwrap();
    cfg.dbname(&name);
    let host = match cfg.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "127.0.0.1".into(),
    };
    let port = cfg.get_ports().first().copied().unwrap_or(5432);
    let user = cfg.get_user().unwrap_or("postgres").to_string();
    let url = format!("postgres://{user}@{host}:{port}/{name}");
    (name, url)
}

async fn drop_db(name: &str) {
    admin()
        .await
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .unwrap();
}

/// Runs `f` on a fresh store in a fresh database; drops the database even
/// when `f` panics, then lets the panic through.
async fn with_store<F, Fut>(f: F)
where
    F: FnOnce(Arc<PgStore>, String) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (name, url) = create_db().await;
    let outcome = {
        let url2 = url.clone();
        tokio::spawn(async move {
            let s = Arc::new(PgStore::connect(&url2).await.expect("connect and migrate"));
            f(s.clone(), url2).await;
            s.close();
        })
        .await
    };
    drop_db(&name).await;
    if let Err(e) = outcome {
        match e.try_into_panic() {
            Ok(p) => std::panic::resume_unwind(p),
            Err(e) => panic!("test task failed: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts() {
    with_store(|s, _| async move { suite::accounts(&*s).await }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volunteers_and_positions() {
    with_store(|s, _| async move { suite::volunteers_and_positions(&*s).await }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missions_are_atomic() {
    with_store(|s, _| async move { suite::missions_are_atomic(&*s).await }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster() {
    with_store(|s, _| async move { suite::cluster(&*s).await }).await;
}

/// Two nodes on one database: each hears the other's changes through LISTEN/NOTIFY.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_feed() {
    with_store(|s, url| async move {
        let other = PgStore::connect(&url).await.unwrap();
        suite::change_feed(&*s, &other).await;
        other.close();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox() {
    with_store(|s, _| async move { suite::outbox(&*s).await }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aed_registry() {
    with_store(|s, _| async move { suite::aed_registry(&*s).await }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_integration() {
    with_store(|s, _| async move { suite::dispatch_integration(&*s).await }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitoring() {
    with_store(|s, _| async move { suite::monitoring(&*s).await }).await;
}

/// Every check of the suite, each on a fresh store (as the tests above), one
/// after the other, timed without the database set-up (compare with
/// `sqlite_parity.rs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suite_timed() {
    let total = Arc::new(std::sync::Mutex::new(std::time::Duration::ZERO));
    let started = Instant::now();
    for check in 0..6 {
        let total = total.clone();
        with_store(move |s, _| async move {
            let t = Instant::now();
            match check {
                0 => suite::accounts(&*s).await,
                1 => suite::volunteers_and_positions(&*s).await,
                2 => suite::missions_are_atomic(&*s).await,
                3 => suite::outbox(&*s).await,
                4 => suite::aed_registry(&*s).await,
                _ => suite::dispatch_integration(&*s).await,
            }
            *total.lock().unwrap() += t.elapsed();
        })
        .await;
    }
    eprintln!(
        "storage suite on PostgreSQL: checks {:?}, with creating, migrating and dropping 6 databases {:?}",
        *total.lock().unwrap(),
        started.elapsed()
    );
}

/// Nodes starting at once on an empty database: exactly one migrates, all
/// of them work, and reconnecting applies nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_starts_migrate_once() {
    let (name, url) = create_db().await;
    let outcome = tokio::spawn({
        let url = url.clone();
        async move {
            let mut starts = Vec::new();
            for _ in 0..4 {
                let url = url.clone();
                starts.push(tokio::spawn(
                    async move { PgStore::connect_with(&url, 2).await },
                ));
            }
            let mut stores = Vec::new();
            for t in starts {
                stores.push(t.await.unwrap().expect("every node starts"));
            }
            for (i, s) in stores.iter().enumerate() {
                s.set_setting(&format!("node{i}"), "up").await.unwrap();
            }
            let again = PgStore::connect(&url).await.unwrap();
            assert_eq!(again.setting("node3").await.unwrap().as_deref(), Some("up"));
            let (c, conn) = tokio_postgres::connect(&url, NoTls).await.unwrap();
            tokio::spawn(conn);
            let names: Vec<String> = c
                .query("SELECT name FROM schema_migrations ORDER BY name", &[])
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            assert_eq!(
                names,
                vec![
                    "0001_init",
                    "0003_integration",
                    "0004_monitoring",
                    "0005_cluster"
                ]
            );
        }
    })
    .await;
    drop_db(&name).await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// Many writers at once through the pool all land; a corrupt row is an error, not a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_land_and_corrupt_rows_are_errors() {
    with_store(|s, url| async move {
        let mut tasks = Vec::new();
        for i in 0..200 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                s.set_setting(&format!("k{i}"), &format!("v{i}")).await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let other = PgStore::connect(&url).await.unwrap();
        for i in [0, 99, 199] {
            assert_eq!(
                other.setting(&format!("k{i}")).await.unwrap(),
                Some(format!("v{i}"))
            );
        }
        let (c, conn) = tokio_postgres::connect(&url, NoTls).await.unwrap();
        tokio::spawn(conn);
        c.batch_execute(
            "INSERT INTO regions (id, slug, name, timezone, country, policy, created_at)
             VALUES (gen_random_uuid(), 'bad', 'bad', 'UTC', 'DK', '{\"nonsense\": 1}', now())",
        )
        .await
        .unwrap();
        assert!(matches!(
            s.regions().await,
            Err(firstlink_store::StoreError::Corrupt(_))
        ));
    })
    .await;
}

/// With PostGIS installed in the database, the optional migration adds
/// indexed geography points to AEDs and positions, and the suite still
/// passes. (PostGIS is optional: without it on the server this says so and
/// checks nothing more.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgis_when_installed() {
    let available = admin()
        .await
        .query_opt(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'",
            &[],
        )
        .await
        .unwrap()
        .is_some();
    if !available {
        eprintln!(
            "PostGIS is not available on this PostgreSQL server: the optional PostGIS migration is not tested"
        );
        return;
    }
    let (name, url) = create_db().await;
    let outcome = tokio::spawn({
        let url = url.clone();
        async move {
            let (c, conn) = tokio_postgres::connect(&url, NoTls).await.unwrap();
            tokio::spawn(conn);
            c.batch_execute("CREATE EXTENSION postgis").await.unwrap();
            let s = PgStore::connect(&url).await.unwrap();
            suite::aed_registry(&s).await;
            suite::volunteers_and_positions(&s).await;
            let near: i64 = c
                .query_one(
                    "SELECT count(*) FROM aeds WHERE ST_DWithin(geog, ST_SetSRID(ST_MakePoint(12.5690, 55.6765), 4326)::geography, 100)",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            assert_eq!(near, 2, "both AEDs of the suite lie within 100 m");
            let applied: i64 =
                c.query_one("SELECT count(*) FROM schema_migrations WHERE name LIKE 'postgis_%'", &[]).await.unwrap().get(0);
            assert_eq!(applied, 1);
            s.close();
        }
    })
    .await;
    drop_db(&name).await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
