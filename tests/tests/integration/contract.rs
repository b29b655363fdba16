//! The backend contract (`transflow_tests::contract`) on the embedded backends; the AWS ones
//! meet the same checks against moto in `cli/tests/aws.rs`.

use std::time::Duration;
use transflow_host::assembly::now_rfc3339;
use transflow_host::backends::local::{LocalBlobStore, SqliteJobQueue, SqliteStatusStore};
use transflow_host::backends::{BackendError, Created, StatusStore, Versioned};
use transflow_tests::contract::{self, status};

const LONG: Duration = Duration::from_secs(30);

fn open(dir: &tempfile::TempDir) -> SqliteStatusStore {
    SqliteStatusStore::open(&dir.path().join("state/status.sqlite")).expect("open the store")
}

#[tokio::test]
async fn the_sqlite_status_store_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    contract::status_store(&open(&dir), "c-").await;
}

#[tokio::test]
async fn sqlite_records_survive_reopening_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut record = status("a1", "main", &now_rfc3339());
    {
        let store = open(&dir);
        store.create(&record).await.unwrap();
        record.message = "Processing".into();
        store.update(&record, 1).await.unwrap();
        store.acquire_lease("a1", "w1", LONG).await.unwrap().unwrap();
    }
    let store = open(&dir);
    assert_eq!(store.get("a1").await.unwrap(), Some(Versioned { value: record, version: 2 }));
    assert_eq!(store.acquire_lease("a1", "w2", LONG).await.unwrap(), None);
}

#[tokio::test]
async fn two_handles_on_one_sqlite_file_see_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (open(&dir), open(&dir));
    let record = status("a1", "main", &now_rfc3339());
    one.create(&record).await.unwrap();
    assert!(matches!(two.create(&record).await.unwrap(), Created::Existing(_)));
    assert!(one.acquire_lease("a1", "w1", LONG).await.unwrap().is_some());
    assert_eq!(two.acquire_lease("a1", "w2", LONG).await.unwrap(), None);
    assert_eq!(two.update(&record, 1).await.unwrap(), 2);
    assert!(matches!(one.update(&record, 1).await.unwrap_err(), BackendError::Conflict(_)));
}

#[tokio::test]
async fn the_local_blob_store_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBlobStore::new(dir.path(), "http://127.0.0.1:1/blobs", b"key").unwrap();
    contract::blob_store(&store, "c/").await;
}

#[tokio::test]
async fn the_sqlite_queue_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let queue = SqliteJobQueue::open(&dir.path().join("queue.sqlite"), 5).unwrap();
    contract::job_queue(&queue).await;
}
