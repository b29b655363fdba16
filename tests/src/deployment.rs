//! A project deployed with `transflow deploy` on its own moto server, and the moves of
//! Lambda's event source mapping (receive a batch, invoke the handler, delete what succeeded)
//! for tests and benchmarks to drive.
//!
//! It is deployed for the long-running worker (`aws.lambda = false`): moto cannot run the
//! worker's image, and an event source mapping would take every upload event to a function
//! that fails. Tests hand the queue's messages to the handler or the worker loop themselves.

use crate::moto::MotoServer;
use crate::stack::{announce, announce_and_upload};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use transflow_aws::AwsClients;
use transflow_service::api::{ApiState, Auth, app};
use transflow_service::backends::OpenedBackends;
use transflow_service::config::Config;
use transflow_service::lambda::{SqsBatchResponse, SqsEvent, handle_batch};
use transflow_service::worker::Worker;
use transflow_service::worker::setup::WorkerDirs;
use transflow_store::assembly::AssemblyStatus;
use transflow_store::backends::Backends;

/// The deployed project's config: no Lambda worker, and a short function timeout (queue
/// visibility 12 s), so tests see retries within seconds. It ends inside `[aws]`.
pub const CONFIG: &str = r#"project = "tf"
[auth]
disabled = true
[worker]
lease_secs = 5
[aws]
lambda = false
timeout_secs = 2
"#;

/// A deployed project on its own moto server.
#[derive(Debug)]
pub struct Deployment {
    /// The emulator.
    pub moto: MotoServer,
    /// Config, CLI data, worker directories.
    pub dir: tempfile::TempDir,
    /// The config file.
    pub config_path: PathBuf,
    /// The config as the CLI reads it (with the emulator's endpoint).
    pub config: Config,
    /// Clients on the emulator.
    pub clients: AwsClients,
    /// The deployed backends.
    pub backends: Backends,
    /// The job queue's URL, for the tests' own receives and deletes.
    pub queue_url: String,
    cli_binary: PathBuf,
}

impl Deployment {
    /// Starts moto and runs `transflow deploy` (the binary at `cli_binary`) against it with
    /// [`CONFIG`] plus `more_aws_config` (keys of `[aws]`).
    pub async fn new(cli_binary: &str, more_aws_config: &str) -> Deployment {
        let moto = MotoServer::start();
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("transflow.toml");
        std::fs::write(&config_path, format!("{CONFIG}{more_aws_config}")).unwrap();
        let cli_binary = PathBuf::from(cli_binary);
        let deployed = cli(&cli_binary, &moto, &config_path, dir.path(), &["deploy"]);
        assert!(deployed.status.success(), "deploy failed:\n{}", String::from_utf8_lossy(&deployed.stderr));

        let config = Config::load(&config_path, moto.env()).unwrap();
        let clients = AwsClients::from_sdk(moto.sdk_config());
        let lambda = aws_sdk_lambda::Client::new(&moto.sdk_config());
        let mappings = lambda.list_event_source_mappings().send().await.unwrap();
        assert!(mappings.event_source_mappings().is_empty(), "nothing takes the queue from the tests");
        let backends = clients.open(&config.aws_settings(), None).await.unwrap();
        let queue_url =
            clients.sqs.get_queue_url().queue_name("tf-jobs").send().await.unwrap().queue_url.unwrap();
        let deployment =
            Deployment { moto, dir, config_path, config, clients, backends, queue_url, cli_binary };
        deployment.drain_test_events().await;
        deployment
    }

    /// Runs the CLI against this deployment.
    pub fn cli(&self, args: &[&str]) -> Output {
        cli(&self.cli_binary, &self.moto, &self.config_path, self.dir.path(), args)
    }

    /// S3 sends an `s3:TestEvent` when the notification is configured; it goes first.
    async fn drain_test_events(&self) {
        for message in self.receive(1, Duration::from_secs(1)).await {
            assert!(message.body().unwrap_or_default().contains("s3:TestEvent"), "{message:?}");
            self.delete(&message).await;
        }
    }

    /// The Lambda worker binary at `binary`, set up as Lambda starts it for this deployment,
    /// against the Runtime API at `runtime_api`; killed when dropped.
    pub fn bootstrap(&self, binary: &str, runtime_api: &str) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(binary);
        command
            .envs(self.moto.env())
            .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
            .env("AWS_LAMBDA_FUNCTION_NAME", "tf-worker")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "3008")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("TRANSFLOW_CONFIG", &self.config_path)
            .env("TRANSFLOW_DATA_DIR", self.dir.path().join("lambda"))
            .kill_on_drop(true);
        command
    }

    /// A worker on the deployed backends, with its own directories, named `name`.
    pub async fn worker(&self, name: &str) -> Worker {
        self.worker_with(name, &self.config).await
    }

    /// A worker as [`Deployment::worker`] makes, configured by `config` (this deployment's,
    /// changed) instead.
    pub async fn worker_with(&self, name: &str, config: &Config) -> Worker {
        let dirs = WorkerDirs {
            work: self.dir.path().join(name).join("work"),
            cache: self.dir.path().join(name).join("cache"),
            cache_key: None,
        };
        let mut worker = transflow_service::worker::setup::worker(config, self.backends.clone(), dirs, None)
            .await
            .expect("the worker starts");
        worker.worker_id = name.into();
        worker
    }

    /// Serves the API on the AWS backends; returns its base URL.
    pub async fn serve_api(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let notifier =
            transflow_service::worker::setup::notifier(&self.config, &self.backends, None).unwrap();
        let state = ApiState::new(
            &self.config,
            OpenedBackends { backends: self.backends.clone(), local_blobs: None },
            Auth::Disabled,
            Some(base.clone()),
            notifier,
        );
        tokio::spawn(async move { axum::serve(listener, app(Arc::new(state))).await });
        base
    }

    /// Publishes `component`, uploads `file` for `template` through the API and takes the
    /// upload's S3 event off the queue, hidden for `visibility_secs`; returns the assembly id
    /// and the event.
    pub async fn queued_upload(
        &self,
        component: &str,
        template: &str,
        file: &Path,
        visibility_secs: i32,
    ) -> (String, String) {
        self.publish(Path::new(component));
        let api = self.serve_api().await;
        let id = self.upload(&api, template, file).await;
        let messages = self.receive_for(&id, visibility_secs).await;
        let body =
            messages.iter().find_map(|m| m.body().filter(|b| b.contains(&id))).expect("the upload's event");
        (id.clone(), body.to_owned())
    }

    /// Announces `file` for `template` and PUTs it to its pre-signed S3 URL; returns the
    /// assembly id.
    pub async fn upload(&self, api: &str, template: &str, file: &Path) -> String {
        let body = json!({ "template_id": template, "files": [announce(file, "video/mp4")], "fields": {} });
        let plan = announce_and_upload(&reqwest::Client::new(), api, None, &body, file).await;
        let url = plan["uploads"][0]["url"].as_str().unwrap_or_default();
        assert!(url.starts_with(&self.moto.endpoint), "a pre-signed S3 URL: {plan:#}");
        plan["assembly_id"].as_str().unwrap().to_owned()
    }

    /// One `ReceiveMessage` of up to 10 messages.
    pub async fn receive(&self, visibility_secs: i32, wait: Duration) -> Vec<aws_sdk_sqs::types::Message> {
        self.clients
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(visibility_secs)
            .wait_time_seconds(wait.as_secs() as i32)
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
            )
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default()
    }

    /// The next messages that mention `assembly_id` (bounded wait).
    pub async fn receive_for(
        &self,
        assembly_id: &str,
        visibility_secs: i32,
    ) -> Vec<aws_sdk_sqs::types::Message> {
        for _ in 0..20 {
            let messages = self.receive(visibility_secs, Duration::from_secs(1)).await;
            if messages.iter().any(|m| m.body().unwrap_or_default().contains(assembly_id)) {
                return messages;
            }
        }
        panic!("no S3 event for {assembly_id} reached the queue");
    }

    /// Deletes a received message.
    pub async fn delete(&self, message: &aws_sdk_sqs::types::Message) {
        let receipt = message.receipt_handle().unwrap();
        self.clients
            .sqs
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .send()
            .await
            .unwrap();
    }

    /// What Lambda's event source mapping does with a batch: invoke, then delete every
    /// message the response does not list.
    pub async fn deliver(
        &self,
        worker: &Worker,
        messages: &[aws_sdk_sqs::types::Message],
    ) -> SqsBatchResponse {
        let response =
            handle_batch(worker, sqs_event(messages), SystemTime::now() + Duration::from_secs(300)).await;
        for message in messages {
            let failed = response
                .batch_item_failures
                .iter()
                .any(|f| Some(f.item_identifier.as_str()) == message.message_id());
            if !failed {
                self.delete(message).await;
            }
        }
        response
    }

    /// The assembly's status from the table.
    pub async fn status(&self, assembly_id: &str) -> AssemblyStatus {
        self.backends.statuses.get(assembly_id).await.unwrap().expect("the assembly exists").value
    }

    /// Publishes a component with `transflow templates publish --aws`; returns its sha256.
    pub fn publish(&self, wasm: &Path) -> String {
        let published = self.cli(&["--aws", "templates", "publish", wasm.to_str().unwrap()]);
        assert!(published.status.success(), "{}", String::from_utf8_lossy(&published.stderr));
        let stdout = String::from_utf8_lossy(&published.stdout).into_owned();
        stdout.split_whitespace().last().expect("publish prints the version").to_owned()
    }
}

fn cli(binary: &Path, moto: &MotoServer, config: &Path, dir: &Path, args: &[&str]) -> Output {
    Command::new(binary)
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(dir.join("cli-data"))
        .args(args)
        .envs(moto.env())
        .output()
        .expect("the CLI runs")
}

/// The SQS event Lambda would build from these messages, as JSON.
pub fn sqs_event_json(messages: &[aws_sdk_sqs::types::Message]) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let count = m
                .attributes()
                .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount))
                .cloned()
                .unwrap_or_else(|| "1".into());
            json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body(),
                "attributes": { "ApproximateReceiveCount": count },
                "eventSource": "aws:sqs",
            })
        })
        .collect();
    json!({ "Records": records })
}

/// The same event, parsed the way the handler's runtime parses it.
pub fn sqs_event(messages: &[aws_sdk_sqs::types::Message]) -> SqsEvent {
    serde_json::from_value(sqs_event_json(messages)).unwrap()
}

/// The same component with an extra custom section: another version (another sha256) of the
/// same template, as a rebuild would make.
pub fn another_version(wasm: &Path, note: &str) -> Vec<u8> {
    let name = b"transflow-test";
    let mut content = vec![name.len() as u8];
    content.extend_from_slice(name);
    content.extend_from_slice(note.as_bytes());
    let mut bytes = std::fs::read(wasm).unwrap();
    bytes.push(0);
    let mut size = content.len();
    loop {
        let byte = (size & 0x7f) as u8;
        size >>= 7;
        bytes.push(if size == 0 { byte } else { byte | 0x80 });
        if size == 0 {
            break;
        }
    }
    bytes.extend_from_slice(&content);
    bytes
}
