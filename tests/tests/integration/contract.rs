//! The backend contract (`transflow_tests::contract`) on the embedded backends and on the AWS
//! ones against moto. A worker's promise on AWS (`one_run_per_assembly`) needs S3's upload
//! events, so it runs on a full deployment in `cli/tests/cli/aws.rs`.

use aws_sdk_dynamodb::types::{AttributeValue, BillingMode, TimeToLiveSpecification};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;
use transflow_aws::{AwsClients, schema};
use transflow_local::{LocalBlobStore, SqliteJobQueue, SqliteStatusStore};
use transflow_service::config::Config;
use transflow_service::embedded::{Layout, Stack};
use transflow_store::assembly::now_rfc3339;
use transflow_store::backends::{BackendError, Backends, Created, StatusStore, Versioned};
use transflow_tests::contract::{self, status};
use transflow_tests::media;
use transflow_tests::moto::MotoServer;
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

/// The AWS backends on a moto server of their own, on resources made as `transflow deploy`
/// makes them (the table's shape from [`schema`]), with an empty queue.
struct OnMoto {
    _moto: MotoServer,
    clients: AwsClients,
    table: String,
    backends: Backends,
}

/// The maximum receive count the queue's redrive policy gives: not deploy's, so the test sees
/// the queue read it from the policy.
const MAX_RECEIVE_COUNT: u32 = 7;

impl OnMoto {
    async fn start() -> OnMoto {
        let moto = MotoServer::start();
        let clients = AwsClients::from_sdk(moto.sdk_config());
        let config = Config::default();
        let (names, settings) = (config.aws_names(), config.aws_settings());
        clients.s3.create_bucket().bucket(&names.bucket).send().await.unwrap();

        let dynamodb = &clients.dynamodb;
        dynamodb
            .create_table()
            .table_name(&names.table)
            .billing_mode(BillingMode::PayPerRequest)
            .set_attribute_definitions(Some(schema::table_attributes().unwrap()))
            .set_key_schema(Some(schema::table_key().unwrap()))
            .global_secondary_indexes(schema::branch_index().unwrap())
            .send()
            .await
            .unwrap();
        let ttl = TimeToLiveSpecification::builder().enabled(true).attribute_name(schema::TTL_ATTRIBUTE);
        let ttl = dynamodb
            .update_time_to_live()
            .table_name(&names.table)
            .time_to_live_specification(ttl.build().unwrap());
        ttl.send().await.unwrap();

        let sqs = &clients.sqs;
        let dead_letters = sqs.create_queue().queue_name(&names.dead_letter_queue).send().await.unwrap();
        let dead_letter_arn = sqs
            .get_queue_attributes()
            .queue_url(dead_letters.queue_url().unwrap())
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap()[&QueueAttributeName::QueueArn]
            .clone();
        let redrive = json!({ "deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": MAX_RECEIVE_COUNT });
        let queue = sqs.create_queue().queue_name(&names.queue);
        queue.attributes(QueueAttributeName::RedrivePolicy, redrive.to_string()).send().await.unwrap();

        let backends = clients.open(&settings, None).await.unwrap();
        OnMoto { _moto: moto, clients, table: names.table, backends }
    }

    /// The status table's item for `assembly_id`, as DynamoDB stores it.
    async fn raw_item(&self, assembly_id: &str) -> HashMap<String, AttributeValue> {
        let key = AttributeValue::S(assembly_id.into());
        let got = self.clients.dynamodb.get_item().table_name(&self.table).key(schema::TABLE_KEY, key).send();
        got.await.unwrap().item.expect("the item exists")
    }
}

#[tokio::test]
async fn the_dynamodb_status_store_keeps_the_contract() {
    let aws = OnMoto::start().await;
    contract::status_store(aws.backends.statuses.as_ref(), "c-").await;
    // The contract's large record shrank back: its item holds the document again.
    let item = aws.raw_item("c-large").await;
    assert!(item.contains_key("status") && !item.contains_key("status_ref"), "shrunk back inline");
}

#[tokio::test]
async fn a_status_record_past_the_dynamodb_item_limit_lives_in_s3() {
    let aws = OnMoto::start().await;
    let statuses = &aws.backends.statuses;
    let mut large = status("spill-1", "main", &now_rfc3339());
    large.fields.insert("notes".into(), "x".repeat(600 * 1024));
    statuses.create(&large).await.unwrap();
    // The item keeps the record's key; the document is in the media bucket.
    let item = aws.raw_item("spill-1").await;
    let spilled = item["status_ref"].as_s().unwrap();
    assert!(spilled.starts_with("status/main/spill-1/") && !item.contains_key("status"), "{spilled}");
    assert_eq!(aws.backends.blobs.list("status/main/spill-1/").await.unwrap().len(), 1);
    assert_eq!(statuses.get("spill-1").await.unwrap().unwrap().value, large);
}

#[tokio::test]
async fn the_s3_blob_store_keeps_the_contract() {
    let aws = OnMoto::start().await;
    contract::blob_store(aws.backends.blobs.as_ref(), "c/").await;
}

#[tokio::test]
async fn the_sqs_queue_keeps_the_contract() {
    let aws = OnMoto::start().await;
    let queue = aws.backends.queue.as_ref();
    assert_eq!(queue.max_receive_count(), MAX_RECEIVE_COUNT, "read from the redrive policy");
    contract::job_queue(queue).await;
}
