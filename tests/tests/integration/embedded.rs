//! The embedded stack over HTTP on loopback: create-upload → PUT → queue → worker → status,
//! with real SQLite files, real ffmpeg and the real video-thumbnails template.

use md5::{Digest, Md5};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;
use transflow_tests::stack::{TestStack, announce, publish_templates};
use transflow_tests::{ffprobe, media, stream};

pub(crate) const LIMIT: Duration = Duration::from_secs(120);

pub(crate) async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.expect("JSON body")
}

/// A copy of the test clip with `tag` appended: a distinct MD5, still a valid MP4.
pub(crate) fn tagged_clip(dir: &Path, tag: &str) -> PathBuf {
    let mut bytes = std::fs::read(&media().clip).unwrap();
    bytes.extend_from_slice(tag.as_bytes());
    let path = dir.join(format!("clip-{tag}.mp4"));
    std::fs::write(&path, bytes).unwrap();
    path
}

#[tokio::test]
async fn an_upload_is_processed_and_its_results_are_served() {
    let stack = TestStack::start(|_| {}).await;
    let clip = media().clip.as_path();
    let created =
        stack.create_upload("video-thumbnails", &[clip], json!({ "count": "3", "width": "160" })).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let plan = json_of(created).await;
    let id = plan["assembly_id"].as_str().unwrap().to_owned();
    let uploading = stack.request(Method::GET, &format!("/api/status/{id}")).send().await.unwrap();
    assert_eq!(json_of(uploading).await["ok"], "ASSEMBLY_UPLOADING");

    for response in stack.upload_all(&plan, &[clip]).await {
        assert_eq!(response.status(), StatusCode::OK, "{:?}", response.text().await);
    }
    let status = stack.wait_finished(&id, LIMIT).await;
    assert_eq!(status["ok"], "ASSEMBLY_COMPLETED", "{status:#}");
    assert_eq!(status["uploads"][0]["meta"]["width"], 640);
    // The route answers with the stored document as it is: byte for byte what serializing the
    // record gives.
    let stored = stack.worker.backends.statuses.get(&id).await.unwrap().unwrap().value;
    let answer = stack.request(Method::GET, &format!("/api/status/{id}")).send().await.unwrap();
    assert_eq!(answer.headers()["content-type"], "application/json");
    assert_eq!(answer.text().await.unwrap(), serde_json::to_string(&stored).unwrap());
    assert_eq!(status["bytes_received"], status["bytes_expected"]);
    let thumbnails = status["results"]["thumbnails"].as_array().expect("thumbnails");
    assert_eq!(thumbnails.len(), 3);
    let dir = tempfile::tempdir().unwrap();
    for (index, thumbnail) in thumbnails.iter().enumerate() {
        let response = stack.client.get(thumbnail["url"].as_str().unwrap()).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "image/jpeg");
        let path = dir.path().join(format!("{index}.jpg"));
        std::fs::write(&path, response.bytes().await.unwrap()).unwrap();
        let video = stream(&ffprobe(&path), "video").clone();
        assert_eq!((video["codec_name"].as_str(), video["width"].as_u64()), (Some("mjpeg"), Some(160)));
    }
    // A result URL with its token altered is refused.
    let url = thumbnails[0]["url"].as_str().unwrap();
    let forged = url.replacen("/r/", "/r/A", 1);
    assert_eq!(stack.client.get(forged).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    stack.stop().await;
}

/// The worker stores each result as its step ends, hashed while it is stored: a step that
/// finished before a later one failed has its results in the blob store, with URLs that serve
/// exactly the bytes its record describes.
#[tokio::test]
async fn results_are_stored_as_their_step_ends_even_when_a_later_step_fails() {
    // One tool run at a time runs the two independent steps in template order, so `encode` has
    // ended when `webm` fails; side by side, the failure would stop `encode` midway instead.
    let stack = TestStack::start(|config| config.tools.cpu_budget = Some(1)).await;
    publish_templates(
        &stack.worker.engine,
        &*stack.worker.backends.templates,
        &[test_components::VIDEO_ENCODE],
    )
    .await;
    let clip = media().clip.as_path();
    let fields = json!({ "height": "144", "preset": "ultrafast", "webm": "maybe" });
    let plan = json_of(stack.create_upload("video-encode", &[clip], fields).await).await;
    let id = plan["assembly_id"].as_str().unwrap().to_owned();
    stack.upload_all(&plan, &[clip]).await;
    let status = stack.wait_finished(&id, LIMIT).await;
    assert_eq!(
        (status["error"].as_str(), status["failed_step"].as_str()),
        (Some("INVALID_FIELD"), Some("webm"))
    );

    let encoded = &status["results"]["encode"][0];
    let response = stack.client.get(encoded["url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{encoded:#}");
    let bytes = response.bytes().await.unwrap();
    assert_eq!(encoded["size"].as_u64(), Some(bytes.len() as u64));
    assert_eq!(encoded["md5hash"].as_str(), Some(hex::encode(Md5::digest(&bytes)).as_str()));
    let key = format!("outputs/main/{id}/encode/{}", encoded["name"].as_str().unwrap());
    let stored = stack.worker.backends.blobs.head(&key).await.unwrap().expect("the result is stored");
    assert_eq!((stored.size, stored.content_type.as_str()), (bytes.len() as u64, "video/mp4"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mp4");
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(stream(&ffprobe(&path), "video")["height"], 144);
    stack.stop().await;
}

#[tokio::test]
async fn the_same_file_twice_finds_the_finished_assembly() {
    let stack = TestStack::start(|_| {}).await;
    let clip = media().clip.as_path();
    let first =
        json_of(stack.create_upload("video-thumbnails", &[clip], json!({ "count": "1" })).await).await;
    stack.upload_all(&first, &[clip]).await;
    let id = first["assembly_id"].as_str().unwrap();
    let done = stack.wait_finished(id, LIMIT).await;
    assert_eq!(done["ok"], "ASSEMBLY_COMPLETED", "{done:#}");

    let again = stack.create_upload("video-thumbnails", &[clip], json!({ "count": "1" })).await;
    assert_eq!(again.status(), StatusCode::OK);
    let again = json_of(again).await;
    assert_eq!(again["assembly_id"], id);
    assert_eq!(again["uploads"], json!([]));
    assert_eq!(again["status"]["execution_start"], done["execution_start"], "not processed a second time");
    stack.stop().await;
}

#[tokio::test]
async fn bad_uploads_get_clear_errors_and_store_nothing() {
    let stack = TestStack::start(|config| {
        config.limits.max_file_size = 10 << 20;
        config.limits.allowed_types = vec!["video/*".into()];
    })
    .await;
    let clip = media().clip.as_path();
    let post = |body: Value| stack.request(Method::POST, "/api/create-upload").json(&body).send();

    let mut oversize = announce(clip, "video/mp4");
    oversize["size"] = json!(11 << 20);
    let response = post(json!({ "template_id": "video-thumbnails", "files": [oversize] })).await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(json_of(response).await["error"], "FILE_TOO_LARGE");

    let text = announce(clip, "text/html");
    let response = post(json!({ "template_id": "video-thumbnails", "files": [text] })).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let response =
        post(json!({ "template_id": "nope", "files": [announce(clip, "video/mp4")] })).await.unwrap();
    assert_eq!(json_of(response).await["error"], "TEMPLATE_NOT_FOUND");

    let unauthenticated =
        stack.client.post(format!("{}/api/create-upload", stack.base)).json(&json!({})).send();
    assert_eq!(unauthenticated.await.unwrap().status(), StatusCode::UNAUTHORIZED);

    // Declared md5 differs from the content: the PUT is refused and nothing is kept.
    let mut wrong_md5 = announce(clip, "video/mp4");
    wrong_md5["md5"] = json!("0123456789abcdef0123456789abcdef");
    let plan =
        json_of(post(json!({ "template_id": "video-thumbnails", "files": [wrong_md5] })).await.unwrap())
            .await;
    let responses = stack.upload_all(&plan, &[clip]).await;
    assert_eq!(responses[0].status(), StatusCode::BAD_REQUEST);

    // Declared size differs: refused.
    let mut wrong_size = announce(clip, "video/mp4");
    wrong_size["size"] = json!(wrong_size["size"].as_u64().unwrap() - 1);
    let plan =
        json_of(post(json!({ "template_id": "video-thumbnails", "files": [wrong_size] })).await.unwrap())
            .await;
    let target = &plan["uploads"][0];
    let put = stack.client.put(target["url"].as_str().unwrap()).header("content-type", "video/mp4");
    assert_eq!(
        put.body(std::fs::read(clip).unwrap()).send().await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );

    // Tampered and expired URLs: 403.
    let plan = json_of(stack.create_upload("video-thumbnails", &[clip], json!({})).await).await;
    let url = plan["uploads"][0]["url"].as_str().unwrap();
    let tampered = url.replace("/clip.mp4?", "/other.mp4?");
    let put =
        stack.client.put(tampered).header("content-type", "video/mp4").body(std::fs::read(clip).unwrap());
    assert_eq!(put.send().await.unwrap().status(), StatusCode::FORBIDDEN);
    let expired = {
        let (head, query) = url.split_once('?').unwrap();
        let params: Vec<String> = query
            .split('&')
            .map(|p| if p.starts_with("expires=") { "expires=1000".to_owned() } else { p.to_owned() })
            .collect();
        format!("{head}?{}", params.join("&"))
    };
    let put =
        stack.client.put(expired).header("content-type", "video/mp4").body(std::fs::read(clip).unwrap());
    assert_eq!(put.send().await.unwrap().status(), StatusCode::FORBIDDEN);

    assert!(stack.worker.backends.blobs.list("").await.unwrap().is_empty(), "nothing was stored");
    stack.stop().await;
}

#[tokio::test]
async fn another_users_assembly_is_not_found() {
    let stack = TestStack::start(|_| {}).await;
    let plan =
        json_of(stack.create_upload("video-thumbnails", &[media().clip.as_path()], json!({})).await).await;
    let id = plan["assembly_id"].as_str().unwrap();
    let auth = transflow_service::api::Auth::jwt(b"integration-test-secret-0123456789", "sub");
    let mallory = auth.token_for("mallory", Duration::from_secs(60)).unwrap();
    let url = format!("{}/api/status/{id}", stack.base);
    let response = stack.client.get(&url).bearer_auth(&mallory).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let cancel =
        stack.client.delete(format!("{}/api/assemblies/{id}", stack.base)).bearer_auth(&mallory).send();
    assert_eq!(cancel.await.unwrap().status(), StatusCode::NOT_FOUND);
    assert_eq!(
        stack.request(Method::GET, &format!("/api/status/{id}")).send().await.unwrap().status(),
        StatusCode::OK
    );
    stack.stop().await;
}

#[tokio::test]
async fn fifty_assemblies_at_once_all_complete() {
    let stack = TestStack::start(|config| config.worker.concurrency = 2).await;
    let dir = tempfile::tempdir().unwrap();
    let clips: Vec<PathBuf> = (0..50).map(|i| tagged_clip(dir.path(), &i.to_string())).collect();
    let mut ids = Vec::new();
    let uploads = clips.iter().map(|clip| async {
        let plan = json_of(
            stack
                .create_upload("video-thumbnails", &[clip.as_path()], json!({ "count": "1", "width": "64" }))
                .await,
        )
        .await;
        for response in stack.upload_all(&plan, &[clip.as_path()]).await {
            assert_eq!(response.status(), StatusCode::OK);
        }
        plan["assembly_id"].as_str().unwrap().to_owned()
    });
    ids.extend(futures_util::future::join_all(uploads).await);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 50, "fifty distinct assemblies");
    for id in &ids {
        let status = stack.wait_finished(id, Duration::from_secs(600)).await;
        assert_eq!(status["ok"], "ASSEMBLY_COMPLETED", "{status:#}");
        assert_eq!(status["results"]["thumbnails"].as_array().map(Vec::len), Some(1));
    }
    assert!(stack.worker.backends.queue.dead_letters().await.unwrap().is_empty());
    stack.stop().await;
}

#[tokio::test]
async fn a_job_that_keeps_failing_is_dead_lettered_with_its_error_in_status() {
    let stack = TestStack::start(|config| {
        config.worker.max_receive_count = 2;
        config.worker.visibility_secs = 3;
    })
    .await;
    // A template whose component vanished from the registry after publishing: every attempt
    // fails to fetch it (a storage fault, so the job is retried, not failed at once).
    let registry_dir = stack.layout.templates.clone();
    let other_engine = transflow_runtime::TemplateEngine::new(transflow_runtime::EngineSettings {
        cache_dir: registry_dir.join("../other-cache"),
        cache_key_file: None,
        max_instances: 2,
        limits: transflow_runtime::JobLimits::default(),
    })
    .unwrap();
    let registry = transflow_local::DirTemplateRegistry::new(&registry_dir);
    transflow_tests::stack::publish_templates(&other_engine, &registry, &[test_components::AUDIO_ENCODE])
        .await;
    for entry in std::fs::read_dir(registry_dir.join("audio-encode")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "wasm") {
            std::fs::remove_file(path).unwrap();
        }
    }

    let clip = media().clip.as_path();
    let plan = json_of(stack.create_upload("audio-encode", &[clip], json!({})).await).await;
    stack.upload_all(&plan, &[clip]).await;
    let id = plan["assembly_id"].as_str().unwrap();
    let status = stack.wait_finished(id, LIMIT).await;
    assert_eq!(status["error"], "RETRIES_EXHAUSTED", "{status:#}");
    assert!(status["message"].as_str().unwrap().contains("2 times"), "{status:#}");

    // The queue sets the message aside on its next receive.
    let queue = &stack.worker.backends.queue;
    let mut dead = Vec::new();
    for _ in 0..200 {
        dead = queue.dead_letters().await.unwrap();
        if !dead.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(dead.len(), 1);
    assert!(dead[0].body.contains(id));
    stack.stop().await;
}

/// A webhook receiver on loopback answering each request with the next scripted status (the
/// last one repeats); it records what it received.
pub(crate) struct Receiver {
    pub(crate) url: String,
    pub(crate) received: std::sync::Arc<std::sync::Mutex<Vec<Delivery>>>,
}

/// The headers and body of one request the receiver got.
pub(crate) type Delivery = (reqwest::header::HeaderMap, Vec<u8>);

impl Receiver {
    pub(crate) async fn start(script: &'static [u16]) -> Receiver {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook?token=s3cr3t", listener.local_addr().unwrap());
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = received.clone();
        tokio::spawn(async move {
            for answer in 0.. {
                let Ok((mut socket, _)) = listener.accept().await else { return };
                let mut data = Vec::new();
                let mut buffer = [0u8; 8192];
                let (headers, body_start) = loop {
                    let n = socket.read(&mut buffer).await.unwrap_or(0);
                    if n == 0 {
                        break (None, 0);
                    }
                    data.extend_from_slice(&buffer[..n]);
                    if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                        break (Some(String::from_utf8_lossy(&data[..end]).into_owned()), end + 4);
                    }
                };
                let Some(head) = headers else { continue };
                let mut map = reqwest::header::HeaderMap::new();
                for line in head.lines().skip(1) {
                    if let Some((name, value)) = line.split_once(':') {
                        let name = reqwest::header::HeaderName::from_bytes(name.trim().as_bytes()).unwrap();
                        map.insert(name, value.trim().parse().unwrap());
                    }
                }
                let length: usize =
                    map.get("content-length").and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(0);
                while data.len() < body_start + length {
                    let n = socket.read(&mut buffer).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    data.extend_from_slice(&buffer[..n]);
                }
                log.lock().unwrap().push((map, data[body_start..].to_vec()));
                let code = script[answer.min(script.len() - 1)];
                let reply = format!("HTTP/1.1 {code} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                let _ = socket.write_all(reply.as_bytes()).await;
            }
        });
        Receiver { url, received }
    }
}

async fn run_with_webhook(stack: &TestStack, receiver: &Receiver, tag: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let clip = tagged_clip(dir.path(), tag);
    let body = json!({
        "template_id": "video-thumbnails",
        "files": [announce(&clip, "video/mp4")],
        "fields": { "count": "1" },
        "notify_url": receiver.url,
    });
    let plan = json_of(stack.post_create_upload(body).await).await;
    stack.upload_all(&plan, &[clip.as_path()]).await;
    let id = plan["assembly_id"].as_str().unwrap().to_owned();
    assert_eq!(stack.wait_finished(&id, LIMIT).await["ok"], "ASSEMBLY_COMPLETED");
    // The delivery runs after the end; wait for its record.
    for _ in 0..300 {
        let status =
            json_of(stack.request(Method::GET, &format!("/api/status/{id}")).send().await.unwrap()).await;
        if status["notify_status"].is_string() {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the webhook outcome was never recorded");
}

#[tokio::test]
async fn webhooks_are_signed_and_retried_after_server_errors_only() {
    let stack = TestStack::start(|_| {}).await;
    let secret: transflow_service::webhook::WebhookSecret =
        transflow_tests::stack::WEBHOOK_SECRET.parse().unwrap();

    let flaky = Receiver::start(&[500, 500, 200]).await;
    let status = run_with_webhook(&stack, &flaky, "flaky").await;
    assert_eq!(status["notify_status"], "delivered", "{status:#}");
    assert_eq!(status["notify_attempts"], 3);
    assert_eq!(status["notify_response_code"], 200);
    let received = flaky.received.lock().unwrap().clone();
    assert_eq!(received.len(), 3);
    for (headers, body) in &received {
        secret.verify(headers, body, Duration::from_secs(300)).expect("a valid signature");
        assert_eq!(headers["webhook-id"], received[0].0["webhook-id"], "one id across retries");
        let posted: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(posted["ok"], "ASSEMBLY_COMPLETED");
    }
    let mut tampered = received[0].1.clone();
    tampered[0] = b' ';
    assert!(secret.verify(&received[0].0, &tampered, Duration::from_secs(300)).is_err());

    let refusing = Receiver::start(&[400]).await;
    let status = run_with_webhook(&stack, &refusing, "refusing").await;
    assert_eq!(status["notify_status"], "failed", "{status:#}");
    assert_eq!(status["notify_attempts"], 1, "no retry after a 400");
    assert_eq!(status["notify_response_code"], 400);
    assert_eq!(refusing.received.lock().unwrap().len(), 1);
    stack.stop().await;
}
