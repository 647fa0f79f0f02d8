//! The storage suite on the embedded SQLite backend, plus what only SQLite has:
//! the data survives closing and reopening the file.

use firstlink_store::prelude::*;
use firstlink_store::sqlite::SqliteStore;
use firstlink_store::suite;

fn fresh() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&dir.path().join("t.db")).unwrap();
    (dir, s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts() {
    let (_d, s) = fresh();
    suite::accounts(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volunteers_and_positions() {
    let (_d, s) = fresh();
    suite::volunteers_and_positions(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missions_are_atomic() {
    let (_d, s) = fresh();
    suite::missions_are_atomic(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster() {
    let (_d, s) = fresh();
    suite::cluster(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox() {
    let (_d, s) = fresh();
    suite::outbox(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_data_survives_reopening_and_concurrent_writes_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    {
        let s = std::sync::Arc::new(SqliteStore::open(&path).unwrap());
        // Many writers at once share commits (group commit) and all land.
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
        s.close();
    }
    let s = SqliteStore::open(&path).unwrap();
    for i in [0, 99, 199] {
        assert_eq!(
            s.setting(&format!("k{i}")).await.unwrap(),
            Some(format!("v{i}"))
        );
    }
}
