//! The same checks as `postgres.rs`, on the embedded SQLite backend, in this
//! crate's test run: the checks appended to the suite for the extension
//! methods run on both backends, and the timings compare like with like.

use std::time::{Duration, Instant};

use firstlink_store::sqlite::SqliteStore;
use firstlink_store::suite;

fn fresh() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&dir.path().join("t.db")).unwrap();
    (dir, s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aed_registry() {
    let (_d, s) = fresh();
    suite::aed_registry(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_integration() {
    let (_d, s) = fresh();
    suite::dispatch_integration(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitoring() {
    let (_d, s) = fresh();
    suite::monitoring(&s).await;
}

/// Every check of the suite, each on a fresh store, timed without the set-up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suite_timed() {
    let started = Instant::now();
    let mut total = Duration::ZERO;
    for check in 0..6 {
        let (_d, s) = fresh();
        let t = Instant::now();
        match check {
            0 => suite::accounts(&s).await,
            1 => suite::volunteers_and_positions(&s).await,
            2 => suite::missions_are_atomic(&s).await,
            3 => suite::outbox(&s).await,
            4 => suite::aed_registry(&s).await,
            _ => suite::dispatch_integration(&s).await,
        }
        total += t.elapsed();
    }
    eprintln!(
        "storage suite on SQLite: checks {total:?}, with creating 6 databases {:?}",
        started.elapsed()
    );
}
