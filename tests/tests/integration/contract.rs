//! The backend contract (`transflow_tests::contract`) on the embedded backends; the AWS ones
//! meet the same checks against moto in `cli/tests/aws.rs`.

use serde_json::json;
use std::time::Duration;
use transflow_local::{LocalBlobStore, SqliteJobQueue, SqliteStatusStore};
use transflow_service::config::Config;
use transflow_service::embedded::{Layout, Stack};
use transflow_store::assembly::now_rfc3339;
use transflow_store::backends::{BackendError, Created, StatusStore, Versioned};
use transflow_tests::contract::{self, status};
use transflow_tests::media;
use transflow_tests::stack::{announce, announce_and_upload, publish_templates};

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

#[tokio::test]
async fn one_embedded_worker_given_one_upload_event_twice_runs_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config { data_dir: dir.path().to_owned(), ..Config::default() };
    config.auth.disabled = true;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let stack = Stack::open(&config, &Layout::under(dir.path()), &base).await.unwrap();
    let worker = stack.worker.clone();
    publish_templates(&worker.engine, &*worker.backends.templates, &[test_components::VIDEO_THUMBNAILS])
        .await;
    // The API without the worker loop: the test hands the queued event to the worker itself.
    let router = stack.router();
    tokio::spawn(async move { axum::serve(listener, router).await });

    let clip = media().clip.as_path();
    let announced = json!({ "template_id": "video-thumbnails", "files": [announce(clip, "video/mp4")] });
    let plan = announce_and_upload(&reqwest::Client::new(), &base, None, &announced, clip).await;
    let queue = &worker.backends.queue;
    let delivery =
        queue.receive(1, LONG, Duration::from_secs(5)).await.unwrap().pop().expect("a queued event");
    contract::one_run_per_assembly(&worker, &delivery.body, plan["assembly_id"].as_str().unwrap()).await;
}
