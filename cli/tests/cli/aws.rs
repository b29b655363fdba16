//! The AWS deployment, offline: `transflow deploy` against moto on loopback, uploads through
//! pre-signed S3 URLs, the S3 → SQS events fed to the Lambda handler (directly, and to the
//! real `bootstrap` through a Runtime API emulator), status in DynamoDB, outputs in S3.
//!
//! moto cannot run the worker's container image, so each test plays the part of Lambda's
//! event source mapping: it receives from the queue, hands the batch to the handler and deletes
//! the messages the handler did not list as failures.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use transflow_service::lambda::{STOP_MARGIN, handle_batch};
use transflow_service::worker::Processed;
use transflow_service::worker::run_loop::{LoopSettings, run_loop};
use transflow_store::assembly::{AssemblyState, AssemblyStatus};
use transflow_store::backends::BlobSpec;
use transflow_tests::deployment::{Deployment, another_version, sqs_event, sqs_event_json};
use transflow_tests::lambda_runtime_api::{Answer, RuntimeApi};
use transflow_tests::{contract, ffprobe, media, play_hls, stream, variant};

use crate::BINARY;
const BOOTSTRAP: &str = env!("CARGO_BIN_EXE_bootstrap");

/// Workers read the template pointer at every job, so a publish shows at the next one.
const NO_POINTER_CACHE: &str = "template_pointer_ttl_ms = 0\n";

/// Downloads every result through its pre-signed URL and probes it.
async fn probe_results(status: &AssemblyStatus, dir: &Path) -> Vec<Value> {
    let mut probes = Vec::new();
    for (step, records) in &status.results {
        for record in records {
            let url = record.url.as_deref().expect("results have URLs");
            let bytes = reqwest::get(url).await.unwrap().error_for_status().unwrap().bytes().await.unwrap();
            let path = dir.join(format!("{step}-{}", record.name));
            std::fs::write(&path, &bytes).unwrap();
            probes.push(ffprobe(&path));
        }
    }
    probes
}

fn completed(status: &AssemblyStatus) -> bool {
    status.ok == Some(AssemblyState::AssemblyCompleted) && status.error.is_none()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_through_a_presigned_url_is_processed_by_the_lambda_handler() {
    let deployment = Deployment::new(BINARY, NO_POINTER_CACHE).await;
    deployment.publish(Path::new(test_components::VIDEO_THUMBNAILS));
    let api = deployment.serve_api().await;
    let id = deployment.upload(&api, "video-thumbnails", &media().clip).await;

    let uploaded = deployment.backends.blobs.list(&format!("uploads/main/{id}/")).await.unwrap();
    assert_eq!(uploaded.len(), 1, "the upload is in S3");
    let messages = deployment.receive_for(&id, 60).await;
    let worker = deployment.worker("w1").await;
    let response = deployment.deliver(&worker, &messages).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");

    let status = deployment.status(&id).await;
    assert!(completed(&status), "{status:#?}");
    // S3 took the PUT; the worker's listing recorded the arrival.
    assert!(status.expected_uploads.iter().all(|upload| upload.received), "{status:#?}");
    assert_eq!(status.bytes_received, std::fs::metadata(&media().clip).unwrap().len());
    let probes = probe_results(&status, deployment.dir.path()).await;
    assert!(!probes.is_empty());
    for probe in &probes {
        assert_eq!(stream(probe, "video")["codec_name"], "mjpeg", "{probe:#}");
    }

    let printed = deployment.cli(&["--aws", "status", &id]);
    assert!(printed.status.success(), "{}", String::from_utf8_lossy(&printed.stderr));
    let printed: Value = serde_json::from_slice(&printed.stdout).unwrap();
    assert_eq!(printed["ok"], "ASSEMBLY_COMPLETED");
}

/// `transflow serve` on a free loopback port with `signing_key`; returns it (killed on drop)
/// and its base URL.
async fn spawn_serve(deployment: &Deployment, signing_key: &str) -> (tokio::process::Child, String) {
    use tokio::io::AsyncBufReadExt;
    let mut serve = tokio::process::Command::new(BINARY)
        .arg("--config")
        .arg(&deployment.config_path)
        .arg("--data-dir")
        .arg(deployment.dir.path().join("serve-data"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .envs(deployment.moto.env())
        .env("TRANSFLOW_SERVER_SIGNING_KEY", signing_key)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("transflow serve starts");
    let mut lines = tokio::io::BufReader::new(serve.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines.next_line().await.unwrap().expect("serve printed its address");
        if let Some(rest) = line.strip_prefix("Transflow API on ") {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (serve, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hls_result_plays_from_its_url_through_transflow_serve() {
    const SIGNING_KEY: &str = "aws-file-urls-signing-key-0123456789";
    let deployment = Deployment::new(BINARY, NO_POINTER_CACHE).await;
    deployment.publish(Path::new(test_components::HLS));
    let (_serve, api) = spawn_serve(&deployment, SIGNING_KEY).await;
    let clip = media().clip.as_path();
    let id = deployment.upload(&api, "hls", clip).await;

    // The workers know the server's public URL and share its key.
    let mut config = deployment.config.clone();
    config.server.public_url = Some(api.clone());
    config.server.signing_key = Some(SIGNING_KEY.into());
    let worker = deployment.worker_with("w1", &config).await;
    let response = deployment.deliver(&worker, &deployment.receive_for(&id, 120).await).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    let status = deployment.status(&id).await;
    assert!(completed(&status), "{status:#?}");

    let master = status.results["hls"].iter().find(|r| r.name.ends_with("master.m3u8")).unwrap();
    let master_url = master.url.as_deref().unwrap();
    assert!(master_url.starts_with(&format!("{api}/r/")), "served by transflow serve: {master_url}");
    let played = play_hls(master_url, deployment.dir.path()).await;
    assert_eq!(stream(&played, "video")["codec_name"], "h264", "{played:#}");

    // A segment streamed from S3 with a byte range.
    let segment = status.results["hls"].iter().find(|r| r.name.ends_with(".ts")).unwrap();
    let key = format!("outputs/main/{id}/hls/{}", segment.name);
    let stored = deployment.dir.path().join("segment.ts");
    deployment.backends.blobs.get_to_file(&key, &stored).await.unwrap();
    let stored = std::fs::read(&stored).unwrap();
    let client = reqwest::Client::new();
    let partial = client.get(segment.url.as_deref().unwrap()).header("range", "bytes=188-375").send();
    let partial = partial.await.unwrap();
    assert_eq!(partial.status(), reqwest::StatusCode::PARTIAL_CONTENT);
    let content_range = format!("bytes 188-375/{}", stored.len());
    assert_eq!(partial.headers()["content-range"], content_range.as_str());
    assert_eq!(partial.bytes().await.unwrap(), stored[188..376]);

    // The original, from its own directory's URL.
    let original = status.uploads[0].url.as_deref().expect("the upload has a URL");
    assert!(original.starts_with(&format!("{api}/r/")), "{original}");
    let fetched = client.get(original).send().await.unwrap().error_for_status().unwrap();
    assert_eq!(fetched.bytes().await.unwrap(), std::fs::read(clip).unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_event_delivered_twice_at_once_runs_once() {
    let deployment = Deployment::new(BINARY, NO_POINTER_CACHE).await;
    let (id, body) = deployment
        .queued_upload(test_components::VIDEO_THUMBNAILS, "video-thumbnails", &media().clip, 60)
        .await;

    let (one, two) = (deployment.worker("w1").await, deployment.worker("w2").await);
    let (first, second) = tokio::join!(one.process_message(&body, 1), two.process_message(&body, 1));
    let outcomes: Vec<Processed> = [first.unwrap(), second.unwrap()].into_iter().flatten().collect();
    let ran = outcomes.iter().filter(|o| matches!(o, Processed::Ran(_))).count();
    assert_eq!(ran, 1, "{outcomes:?}");
    assert!(completed(&deployment.status(&id).await));
    let again = one.process_message(&body, 2).await.unwrap();
    assert_eq!(again, [Processed::AlreadyFinished { assembly_id: id.clone() }]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_worker_given_one_upload_event_twice_runs_it_once() {
    let deployment = Deployment::new(BINARY, NO_POINTER_CACHE).await;
    let (id, body) = deployment
        .queued_upload(test_components::VIDEO_THUMBNAILS, "video-thumbnails", &media().clip, 60)
        .await;
    contract::one_run_per_assembly(&deployment.worker("w1").await, &body, &id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_lease_another_run_took_stops_and_writes_nothing_more() {
    let deployment = Deployment::new(BINARY, NO_POINTER_CACHE).await;
    let (id, body) = deployment
        .queued_upload(test_components::VIDEO_ENCODE, "video-encode", &long_clip(deployment.dir.path()), 300)
        .await;
    let worker = Arc::new(deployment.worker("w1").await);
    let running = {
        let worker = worker.clone();
        tokio::spawn(async move { worker.process_message(&body, 1).await })
    };
    for _ in 0..600 {
        if deployment.status(&id).await.ok == Some(AssemblyState::AssemblyExecuting) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Another run takes the lease, as after a lapse (lease_secs = 5, renewed every 5/3 s).
    let key = aws_sdk_dynamodb::types::AttributeValue::S(id.clone());
    let owner = aws_sdk_dynamodb::types::AttributeValue::S("w2/run-takeover".into());
    let takeover =
        deployment.clients.dynamodb.update_item().table_name("tf-assemblies").key("assembly_id", key);
    let takeover =
        takeover.update_expression("SET lease_owner = :owner").expression_attribute_values(":owner", owner);
    takeover.send().await.unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(120), running).await.expect("the run stops");
    assert_eq!(outcome.unwrap().unwrap(), [Processed::InProgressElsewhere { assembly_id: id.clone() }]);
    let status = deployment.status(&id).await;
    assert_eq!(status.ok, Some(AssemblyState::AssemblyExecuting), "left to the new holder: {status:#?}");
    let outputs = deployment.backends.blobs.list(&format!("outputs/main/{id}/")).await.unwrap();
    assert!(outputs.is_empty(), "no results from the run that lost its lease: {outputs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bootstrap_binary_serves_a_batch_through_the_runtime_api() {
    let deployment = Deployment::new(BINARY, NO_POINTER_CACHE).await;
    deployment.publish(Path::new(test_components::VIDEO_THUMBNAILS));
    let api = deployment.serve_api().await;
    let id = deployment.upload(&api, "video-thumbnails", &media().clip).await;
    let messages = deployment.receive_for(&id, 120).await;

    let mut runtime = RuntimeApi::start().await;
    let mut bootstrap = deployment.bootstrap(BOOTSTRAP, &runtime.address).spawn().expect("bootstrap starts");

    let request = runtime.invoke(sqs_event_json(&messages), Duration::from_secs(300)).await;
    let (answered, answer) = runtime.answer(Duration::from_secs(240)).await.expect("bootstrap answers");
    assert_eq!(answered, request);
    assert_eq!(answer, Answer::Response(json!({ "batchItemFailures": [] })));
    assert!(completed(&deployment.status(&id).await));

    // Garbage is dropped, not retried.
    let garbage = json!({ "Records": [{ "messageId": "junk", "body": "not an event" }] });
    runtime.invoke(garbage, Duration::from_secs(60)).await;
    let (_, answer) = runtime.answer(Duration::from_secs(60)).await.expect("bootstrap answers");
    assert_eq!(answer, Answer::Response(json!({ "batchItemFailures": [] })));
    bootstrap.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_past_the_invocation_deadline_is_stopped_and_resumed_by_a_later_delivery() {
    let deployment = Deployment::new(BINARY, NO_POINTER_CACHE).await;
    deployment.publish(Path::new(test_components::VIDEO_ENCODE));
    let api = deployment.serve_api().await;
    let id = deployment.upload(&api, "video-encode", &long_clip(deployment.dir.path())).await;
    let messages = deployment.receive_for(&id, 300).await;
    let body = messages.iter().find_map(|m| m.body().filter(|b| b.contains(&id))).unwrap().to_owned();

    // One second of work before the handler's stop margin: the encode is cut short.
    let first = deployment.worker("w1").await;
    let deadline = SystemTime::now() + STOP_MARGIN + Duration::from_secs(1);
    let response = handle_batch(&first, sqs_event(&messages), deadline).await;
    let retried: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    let message_id = messages.iter().find(|m| m.body() == Some(body.as_str())).unwrap().message_id().unwrap();
    assert_eq!(retried, [message_id], "the unfinished job is retried");
    assert!(!deployment.status(&id).await.is_finished(), "stopped mid-job");

    // The lease is left to expire rather than released: until then the assembly is claimed…
    let second = deployment.worker("w2").await;
    let claimed = second.process_message(&body, 2).await.unwrap();
    assert_eq!(claimed, [Processed::InProgressElsewhere { assembly_id: id.clone() }]);
    // …and after it (lease_secs = 5), a later delivery runs it from the start.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let resumed = second.process_message(&body, 3).await.unwrap();
    assert!(matches!(&resumed[..], [Processed::Ran(status)] if completed(status)), "{resumed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_long_running_worker_serves_the_queue_until_sigterm() {
    let deployment = Deployment::new(BINARY, NO_POINTER_CACHE).await;
    deployment.publish(Path::new(test_components::VIDEO_THUMBNAILS));
    let api = deployment.serve_api().await;
    let mut worker = tokio::process::Command::new(BINARY)
        .arg("--config")
        .arg(&deployment.config_path)
        .arg("--data-dir")
        .arg(deployment.dir.path().join("worker-data"))
        .arg("worker")
        .envs(deployment.moto.env())
        .kill_on_drop(true)
        .spawn()
        .expect("transflow worker starts");
    let clip = variant(&media().clip, deployment.dir.path(), "long-running");
    let id = deployment.upload(&api, "video-thumbnails", &clip).await;
    let mut status = deployment.status(&id).await;
    for _ in 0..1200 {
        if status.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        status = deployment.status(&id).await;
    }
    assert!(completed(&status), "{status:#?}");

    let pid = worker.id().unwrap().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let exited = tokio::time::timeout(Duration::from_secs(30), worker.wait()).await;
    assert!(exited.expect("the worker stops within 30 s").unwrap().success(), "a graceful stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_is_given_up_and_lands_in_the_dead_letter_queue() {
    let deployment = Deployment::new(BINARY, NO_POINTER_CACHE).await;
    let sha256 = deployment.publish(Path::new(test_components::AUDIO_ENCODE));
    // The component vanishes from the bucket: every attempt fails to fetch it, a storage
    // fault that is retried rather than failed at once.
    let bucket = deployment.config.aws_names().templates_bucket;
    let key = format!("templates/audio-encode/{sha256}.wasm");
    deployment.clients.s3.delete_object().bucket(bucket).key(key).send().await.unwrap();

    let api = deployment.serve_api().await;
    let id = deployment.upload(&api, "audio-encode", &media().clip).await;
    let worker = deployment.worker("w1").await;
    let max = deployment.backends.queue.max_receive_count();
    assert!(max >= 5, "deploy sets maxReceiveCount ≥ 5, got {max}");

    let mut last_count = 0;
    let mut while_retried = None;
    let mut dead = Vec::new();
    for _ in 0..60 {
        let messages = deployment.receive(1, Duration::from_secs(1)).await;
        if !messages.is_empty() {
            last_count = sqs_event(&messages).records[0]
                .attributes
                .approximate_receive_count
                .clone()
                .unwrap()
                .parse()
                .unwrap();
            let response = deployment.deliver(&worker, &messages).await;
            assert_eq!(response.batch_item_failures.len(), 1, "a storage fault is retried");
            if last_count == 1 {
                while_retried = Some(deployment.status(&id).await);
            }
        }
        dead = deployment.backends.queue.dead_letters().await.unwrap();
        if !dead.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    assert_eq!(last_count, max, "delivered maxReceiveCount times");
    // While it was retried, the status said so, with its uploads received.
    let while_retried = while_retried.expect("a first delivery");
    let retried = format!("processing failed on attempt 1 of {max} and will be retried: ");
    assert!(while_retried.message.starts_with(&retried), "{}", while_retried.message);
    assert!(while_retried.expected_uploads.iter().all(|upload| upload.received), "{while_retried:#?}");
    assert_eq!(dead.len(), 1, "then set aside");
    assert!(dead[0].body.contains(&id));
    let status = deployment.status(&id).await;
    assert_eq!(status.error.map(|e| e.to_string()).as_deref(), Some("RETRIES_EXHAUSTED"), "{status:#?}");
    assert!(status.message.contains(&format!("{max} times")), "{}", status.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_stays_redrivable_while_the_worker_loop_runs() {
    let deployment = Deployment::new(BINARY, NO_POINTER_CACHE).await;
    deployment.publish(Path::new(test_components::VIDEO_THUMBNAILS));
    let api = deployment.serve_api().await;
    let id = deployment.upload(&api, "video-thumbnails", &media().clip).await;
    // The job's last delivery died with its worker: the queue set the event aside, and nobody
    // recorded why.
    let messages = deployment.receive_for(&id, 60).await;
    let sqs = &deployment.clients.sqs;
    let dead_letters = sqs.get_queue_url().queue_name("tf-jobs-dlq").send().await.unwrap().queue_url.unwrap();
    for message in &messages {
        let send = sqs.send_message().queue_url(&dead_letters).message_body(message.body().unwrap());
        send.send().await.unwrap();
        deployment.delete(message).await;
    }

    let worker = Arc::new(deployment.worker("w1").await);
    let settings = LoopSettings { dead_letter_sweep: Duration::from_millis(100), ..LoopSettings::default() };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(run_loop(worker, settings, stopped));
    let mut status = deployment.status(&id).await;
    for _ in 0..300 {
        if status.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        status = deployment.status(&id).await;
    }
    assert_eq!(status.error.map(|e| e.to_string()).as_deref(), Some("RETRIES_EXHAUSTED"), "{status:#?}");
    assert!(status.message.contains("dead-letter queue"), "{}", status.message);

    // The loop keeps checking, and the letter stays visible all along: it can be redriven.
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let counters = sqs
            .get_queue_attributes()
            .queue_url(&dead_letters)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap();
        let count = |name: &str| counters[&aws_sdk_sqs::types::QueueAttributeName::from(name)].clone();
        assert_eq!(
            (count("ApproximateNumberOfMessages"), count("ApproximateNumberOfMessagesNotVisible")),
            ("1".to_owned(), "0".to_owned()),
            "the dead letter is visible"
        );
    }
    stop.send(true).unwrap();
    running.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_component_records_the_language_it_was_written_in() {
    let deployment = Deployment::new(BINARY, NO_POINTER_CACHE).await;
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let templates = deployment.dir.path().join("templates");
    let (templates, checkout) = (templates.to_str().unwrap(), checkout.to_str().unwrap());
    let ok = |output: std::process::Output| {
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    };
    ok(deployment.cli(&[
        "new",
        "template",
        "poster-py",
        "--lang",
        "python",
        "--dir",
        templates,
        "--transflow",
        checkout,
    ]));
    ok(deployment.cli(&["bake", "--templates", templates]));
    let typescript_fixtures = format!("{checkout}/tests/components/typescript");
    ok(deployment.cli(&["bake", "--templates", &typescript_fixtures, "step-errors"]));

    // Each built component published on its own, as deploy.md shows, with no --language.
    deployment.publish(Path::new(test_components::VIDEO_THUMBNAILS));
    deployment.publish(&Path::new(templates).join("poster-py/dist/template.wasm"));
    deployment.publish(&Path::new(&typescript_fixtures).join("step-errors/dist/template.wasm"));
    let listed = deployment.cli(&["--aws", "templates", "list"]);
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    for (id, language) in
        [("video-thumbnails", "rust"), ("poster-py", "python"), ("step-errors", "typescript")]
    {
        let line = listed
            .lines()
            .find(|line| line.starts_with(&format!("{id} ")))
            .unwrap_or_else(|| panic!("{listed}"));
        assert!(line.contains(&format!("  {language}  ")), "{id} should be {language}: {line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_version_reaches_the_next_assembly_while_a_running_one_keeps_its_own() {
    let deployment = Deployment::new(BINARY, NO_POINTER_CACHE).await;
    let component = Path::new(test_components::VIDEO_ENCODE);
    let v1 = deployment.publish(component);
    let v2_path = deployment.dir.path().join("video-encode-v2.wasm");
    std::fs::write(&v2_path, another_version(component, "v2")).unwrap();
    let api = deployment.serve_api().await;
    let worker = Arc::new(deployment.worker("w1").await);

    // A starts on v1 with a clip long enough to be running when v2 is published.
    let long = long_clip(deployment.dir.path());
    let first = deployment.upload(&api, "video-encode", &long).await;
    let messages = deployment.receive_for(&first, 300).await;
    let running = {
        let (worker, event) = (worker.clone(), sqs_event(&messages));
        tokio::spawn(async move {
            handle_batch(&worker, event, SystemTime::now() + Duration::from_secs(300)).await
        })
    };
    for _ in 0..600 {
        if deployment.status(&first).await.ok == Some(AssemblyState::AssemblyExecuting) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let v2 = deployment.publish(&v2_path);
    assert_ne!(v1, v2);
    let published_while_running = !deployment.status(&first).await.is_finished();
    assert!(running.await.unwrap().batch_item_failures.is_empty());
    let first_status = deployment.status(&first).await;
    assert!(completed(&first_status), "{first_status:#?}");
    assert_eq!(first_status.template_version, v1, "a running assembly finishes on its version");
    assert!(published_while_running, "the clip was too short to publish while it ran");

    // The next assembly runs v2.
    let second_clip = variant(&media().clip, deployment.dir.path(), "second");
    let second = deployment.upload(&api, "video-encode", &second_clip).await;
    deployment.deliver(&worker, &deployment.receive_for(&second, 300).await).await;
    assert_eq!(deployment.status(&second).await.template_version, v2);

    // Rolled back, the one after runs v1 again.
    let rolled = deployment.cli(&["--aws", "templates", "rollback", "video-encode"]);
    assert!(rolled.status.success(), "{}", String::from_utf8_lossy(&rolled.stderr));
    let third_clip = variant(&media().clip, deployment.dir.path(), "third");
    let third = deployment.upload(&api, "video-encode", &third_clip).await;
    deployment.deliver(&worker, &deployment.receive_for(&third, 300).await).await;
    let third_status = deployment.status(&third).await;
    assert!(completed(&third_status), "{third_status:#?}");
    assert_eq!(third_status.template_version, v1);

    let listed = deployment.cli(&["--aws", "templates", "list"]);
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.contains(&format!("video-encode  current {}", &v1[..12])), "{listed}");
    assert!(listed.contains("2 version(s)"), "{listed}");
}

/// A 12 s 1280×720 clip: long enough to encode that a publish lands mid-job.
fn long_clip(dir: &Path) -> PathBuf {
    let path = dir.join("long.mp4");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=1280x720:rate=30:duration=12")
        .args(["-f", "lavfi", "-i", "sine=frequency=440:duration=12"])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_of_one_branch_leaves_the_other_intact() {
    let deployment = Deployment::new(BINARY, NO_POINTER_CACHE).await;
    let blobs = &deployment.backends.blobs;
    let statuses = &deployment.backends.statuses;
    let now = transflow_store::assembly::now_rfc3339();
    for branch in ["a", "b"] {
        for key in [format!("uploads/{branch}/x/u1/clip.mp4"), format!("outputs/{branch}/x/thumbs/1.jpg")] {
            let spec = BlobSpec { content_type: "application/octet-stream".into(), ..BlobSpec::default() };
            blobs.put(&key, Box::pin(std::io::Cursor::new(b"bytes".to_vec())), &spec).await.unwrap();
        }
        statuses.create(&contract::status(&format!("{branch}-1"), branch, &now)).await.unwrap();
    }
    let cleaned = deployment.cli(&["cleanup", "--branch", "a"]);
    assert!(cleaned.status.success(), "{}", String::from_utf8_lossy(&cleaned.stderr));
    assert!(
        String::from_utf8_lossy(&cleaned.stdout).contains("1 upload(s), 1 output(s), 1 status record(s)")
    );

    assert!(blobs.list("uploads/a/").await.unwrap().is_empty());
    assert!(blobs.list("outputs/a/").await.unwrap().is_empty());
    assert!(statuses.get("a-1").await.unwrap().is_none());
    assert_eq!(blobs.list("uploads/b/").await.unwrap().len(), 1);
    assert_eq!(blobs.list("outputs/b/").await.unwrap().len(), 1);
    assert!(statuses.get("b-1").await.unwrap().is_some());
    let bucket = deployment.config.aws_names().bucket;
    deployment.clients.s3.head_bucket().bucket(bucket).send().await.expect("the bucket stays");

    let refused = deployment.cli(&["cleanup", "--branch", "../b"]);
    assert!(!refused.status.success(), "a branch is one path segment");
}
