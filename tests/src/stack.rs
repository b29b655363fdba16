//! The embedded stack served on a loopback port, with an HTTP client that speaks its API the
//! way an app (or the page) does: create-upload, PUT each file to its signed URL, poll status.

use md5::{Digest, Md5};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use transflow_runtime::TemplateEngine;
use transflow_service::config::Config;
use transflow_service::embedded::{Layout, Stack};
use transflow_service::worker::Worker;
use transflow_store::backends::{TemplateRegistry, TemplateVersion};

/// A running stack and a client for it.
#[derive(Debug)]
pub struct TestStack {
    /// `http://127.0.0.1:{port}`.
    pub base: String,
    /// A token for user `dev`.
    pub token: String,
    /// The client every request of the stack's helpers goes through.
    pub client: reqwest::Client,
    /// The worker, for direct access to the backends.
    pub worker: Arc<Worker>,
    /// The data directory.
    pub layout: Layout,
    stop: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

/// Publishes `components` (paths of `.wasm` files) into `registry`, checking each in `engine`.
pub async fn publish_templates(
    engine: &TemplateEngine,
    registry: &dyn TemplateRegistry,
    components: &[&str],
) {
    for component in components {
        publish_component(engine, registry, &std::fs::read(component).expect("component built")).await;
    }
}

/// Publishes one component, checked in `engine`; returns its version.
pub async fn publish_component(
    engine: &TemplateEngine,
    registry: &dyn TemplateRegistry,
    bytes: &[u8],
) -> TemplateVersion {
    let (template, _) = engine.load(bytes).await.expect("template loads");
    let version = TemplateVersion {
        id: template.description.id.clone(),
        sha256: template.version.clone(),
        size: bytes.len() as u64,
        language: "rust".into(),
        published_at: transflow_store::assembly::now_rfc3339(),
        description: template.description.clone(),
    };
    registry.publish(bytes, version.clone()).await.expect("publish");
    version
}

impl TestStack {
    /// Starts a stack with a test config (loopback webhooks allowed), changed by `tweak`, with
    /// the video-thumbnails template published.
    pub async fn start(tweak: impl FnOnce(&mut Config)) -> TestStack {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config { data_dir: dir.path().to_owned(), ..Config::default() };
        config.auth.jwt_secret = Some("integration-test-secret-0123456789".into());
        config.webhook.allow_loopback = true;
        config.webhook.secret = Some(crate::stack::WEBHOOK_SECRET.into());
        config.worker.visibility_secs = 30;
        tweak(&mut config);
        let layout = Layout::under(dir.path());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let stack = Stack::open(&config, &layout, &base).await.expect("stack opens");
        let worker = &stack.worker;
        publish_templates(&worker.engine, &*worker.backends.templates, &[test_components::VIDEO_THUMBNAILS])
            .await;
        let token = stack.dev_token.clone().unwrap_or_default();
        let worker = stack.worker.clone();
        let (stop, stopped) = watch::channel(false);
        let server = tokio::spawn(stack.serve(listener, stopped));
        let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        TestStack { base, token, client, worker, layout, stop, server, _dir: dir }
    }

    /// A request to `path` with the dev token.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token)
    }

    /// `POST /api/create-upload` for `files` (announced with their real size and MD5).
    pub async fn create_upload(&self, template: &str, files: &[&Path], fields: Value) -> reqwest::Response {
        let announced: Vec<Value> = files.iter().map(|file| announce(file, "video/mp4")).collect();
        self.post_create_upload(json!({ "template_id": template, "files": announced, "fields": fields }))
            .await
    }

    /// `POST /api/create-upload` with this body.
    pub async fn post_create_upload(&self, body: Value) -> reqwest::Response {
        let request = self.request(reqwest::Method::POST, "/api/create-upload").json(&body);
        request.send().await.expect("create-upload answers")
    }

    /// PUTs each file to its target from a create-upload response, whose targets follow the
    /// order of the announced `files`; returns the responses.
    pub async fn upload_all(&self, plan: &Value, files: &[&Path]) -> Vec<reqwest::Response> {
        let mut responses = Vec::new();
        for (target, file) in plan["uploads"].as_array().expect("uploads").iter().zip(files) {
            responses.push(self.put_to(target, file).await);
        }
        responses
    }

    /// PUTs `file` to one target of a create-upload response.
    pub async fn put_to(&self, target: &Value, file: &Path) -> reqwest::Response {
        put_to(&self.client, target, file).await
    }

    /// Polls the status every 100 ms until the assembly ends (at most `limit`).
    pub async fn wait_finished(&self, assembly_id: &str, limit: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let status: Value = self
                .request(reqwest::Method::GET, &format!("/api/status/{assembly_id}"))
                .send()
                .await
                .expect("status answers")
                .json()
                .await
                .expect("status JSON");
            let ended = status["error"].is_string()
                || ["ASSEMBLY_COMPLETED", "ASSEMBLY_CANCELED"].contains(&status["ok"].as_str().unwrap_or(""));
            if ended || tokio::time::Instant::now() >= deadline {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the server and the worker.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.server.await;
    }
}

/// PUTs `file` to `target`, one entry of a create-upload response's `uploads`, with the
/// headers it lists.
pub async fn put_to(client: &reqwest::Client, target: &Value, file: &Path) -> reqwest::Response {
    let mut request = client.put(target["url"].as_str().expect("a target URL"));
    for (header, value) in target["headers"].as_object().expect("target headers") {
        request = request.header(header, value.as_str().unwrap());
    }
    request.body(std::fs::read(file).unwrap()).send().await.expect("PUT answers")
}

/// Posts `body` to the create-upload route at `base` (with `token`, when auth is on) and PUTs
/// `file` to the single target it plans; returns the create-upload response. Panics unless
/// both succeed.
pub async fn announce_and_upload(
    client: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    body: &Value,
    file: &Path,
) -> Value {
    let mut request = client.post(format!("{base}/api/create-upload")).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let plan: Value = request.send().await.expect("create-upload answers").json().await.expect("JSON");
    let response = put_to(client, &plan["uploads"][0], file).await;
    let status = response.status();
    assert!(status.is_success(), "{status}: {} (plan {plan:#})", response.text().await.unwrap_or_default());
    plan
}

/// The `notify_url` webhook secret of test stacks.
pub const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A create-upload file entry with the file's real size and MD5.
pub fn announce(file: &Path, mime: &str) -> Value {
    let bytes = std::fs::read(file).expect("readable file");
    json!({
        "name": file.file_name().unwrap().to_string_lossy(),
        "size": bytes.len(),
        "mime": mime,
        "md5": hex::encode(Md5::digest(&bytes)),
    })
}
