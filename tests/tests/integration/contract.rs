//! The backend contract (`transflow_tests::contract`) on the embedded backends; the AWS ones
//! meet the same checks against moto in `cli/tests/aws.rs`.

use transflow_host::backends::local::{LocalBlobStore, SqliteJobQueue, SqliteStatusStore};
use transflow_tests::contract;

#[tokio::test]
async fn the_sqlite_status_store_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStatusStore::open(&dir.path().join("status.sqlite")).unwrap();
    contract::status_store(&store, "c-").await;
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
