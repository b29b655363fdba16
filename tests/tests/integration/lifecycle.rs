//! An assembly's life through the embedded API: what its id covers, re-runs after a failure,
//! a cancel or an expiry, corrected announcements, the order of upload targets, and what
//! create-upload refuses before anything is uploaded.

use crate::embedded::{LIMIT, Receiver, json_of, tagged_clip};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use transflow_store::backends::BlobSpec;
use transflow_tests::media;
use transflow_tests::stack::{TestStack, announce};

async fn status_of(stack: &TestStack, id: &str) -> Value {
    json_of(stack.request(Method::GET, &format!("/api/status/{id}")).send().await.unwrap()).await
}

/// Waits (bounded) until `check` holds for the status.
async fn wait_status(stack: &TestStack, id: &str, check: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..300 {
        let status = status_of(stack, id).await;
        if check(&status) {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the status of {id} never got there: {:#}", status_of(stack, id).await);
}

#[tokio::test]
async fn other_fields_are_another_assembly() {
    let stack = TestStack::start(|_| {}).await;
    let clip = media().clip.as_path();
    let two = json_of(stack.create_upload("video-thumbnails", &[clip], json!({ "count": "2" })).await).await;
    stack.upload_all(&two, &[clip]).await;
    let id_two = two["assembly_id"].as_str().unwrap();
    let done = stack.wait_finished(id_two, LIMIT).await;
    assert_eq!(done["results"]["thumbnails"].as_array().map(Vec::len), Some(2), "{done:#}");

    let three = stack.create_upload("video-thumbnails", &[clip], json!({ "count": "3" })).await;
    assert_eq!(three.status(), StatusCode::CREATED, "new work, not the earlier results");
    let three = json_of(three).await;
    assert_ne!(three["assembly_id"], two["assembly_id"]);
    stack.upload_all(&three, &[clip]).await;
    let done = stack.wait_finished(three["assembly_id"].as_str().unwrap(), LIMIT).await;
    assert_eq!(done["results"]["thumbnails"].as_array().map(Vec::len), Some(3), "{done:#}");
    // Transloadit's absolute URL, and the time the uploads took.
    let url = format!("{}/api/status/{}", stack.base, three["assembly_id"].as_str().unwrap());
    assert_eq!(three["assembly_url"], url);
    assert_eq!(done["assembly_url"], url);
    assert!(done["assembly_ssl_url"].is_null(), "served over http");
    assert!(done["upload_duration"].as_f64().is_some_and(|d| d >= 0.0), "{done:#}");
    stack.stop().await;
}

#[tokio::test]
async fn a_failed_assembly_runs_again_as_a_new_attempt() {
    let stack = TestStack::start(|_| {}).await;
    let clip = media().clip.as_path();
    let fields = json!({ "count": "many" });
    let first = json_of(stack.create_upload("video-thumbnails", &[clip], fields.clone()).await).await;
    stack.upload_all(&first, &[clip]).await;
    let id = first["assembly_id"].as_str().unwrap();
    let failed = stack.wait_finished(id, LIMIT).await;
    assert_eq!((failed["error"].as_str(), failed["attempt"].as_u64()), (Some("INVALID_FIELD"), Some(1)));

    let again = stack.create_upload("video-thumbnails", &[clip], fields).await;
    assert_eq!(again.status(), StatusCode::CREATED, "a failed assembly is not returned forever");
    let again = json_of(again).await;
    assert_eq!((again["assembly_id"].as_str(), again["attempt"].as_u64()), (Some(id), Some(2)));
    assert_ne!(again["uploads"][0]["upload_id"], first["uploads"][0]["upload_id"]);
    let uploading = status_of(&stack, id).await;
    assert_eq!(uploading["ok"], "ASSEMBLY_UPLOADING");
    assert_eq!(uploading["previous_attempt"]["outcome"], "INVALID_FIELD");
    assert_eq!(uploading["previous_attempt"]["attempt"], 1);
    let uploads = stack.worker.backends.blobs.list(&format!("uploads/main/{id}/")).await.unwrap();
    assert!(uploads.is_empty(), "the failed attempt's uploads were removed: {uploads:?}");

    stack.upload_all(&again, &[clip]).await;
    let second = stack.wait_finished(id, LIMIT).await;
    assert_eq!((second["error"].as_str(), second["attempt"].as_u64()), (Some("INVALID_FIELD"), Some(2)));
    assert_ne!(second["execution_start"], failed["execution_start"], "it ran again");
    stack.stop().await;
}

#[tokio::test]
async fn a_canceled_assembly_notifies_and_runs_again_while_its_old_targets_stop_working() {
    let stack = TestStack::start(|_| {}).await;
    let receiver = Receiver::start(&[200]).await;
    let dir = tempfile::tempdir().unwrap();
    let clip = tagged_clip(dir.path(), "cancel");
    let body = json!({
        "template_id": "video-thumbnails",
        "files": [announce(&clip, "video/mp4")],
        "fields": { "count": "1" },
        "notify_url": receiver.url,
    });
    let first = json_of(stack.post_create_upload(body.clone()).await).await;
    let id = first["assembly_id"].as_str().unwrap().to_owned();
    let canceled = stack.request(Method::DELETE, &format!("/api/assemblies/{id}")).send().await.unwrap();
    assert_eq!(json_of(canceled).await["ok"], "ASSEMBLY_CANCELED");
    let notified = wait_status(&stack, &id, |s| s["notify_status"].is_string()).await;
    assert_eq!(notified["notify_status"], "delivered", "{notified:#}");
    let posted: Value = serde_json::from_slice(&receiver.received.lock().unwrap()[0].1).unwrap();
    assert_eq!(posted["ok"], "ASSEMBLY_CANCELED");

    let again = json_of(stack.post_create_upload(body).await).await;
    assert_eq!(again["attempt"], 2);
    let stale = stack.put_to(&first["uploads"][0], &clip).await;
    assert_eq!(stale.status(), StatusCode::CONFLICT);
    assert_eq!(json_of(stale).await["error"], "UPLOAD_SUPERSEDED");
    assert_eq!(stack.put_to(&again["uploads"][0], &clip).await.status(), StatusCode::OK);
    let done = stack.wait_finished(&id, LIMIT).await;
    assert_eq!(done["ok"], "ASSEMBLY_COMPLETED", "{done:#}");
    assert_eq!(done["previous_attempt"]["outcome"], "ASSEMBLY_CANCELED");
    assert!(done.get("notify_status").is_none() || done["notify_status"] != "failed");
    stack.stop().await;
}

#[tokio::test]
async fn a_wrong_size_is_corrected_by_announcing_again() {
    let stack = TestStack::start(|_| {}).await;
    let clip = media().clip.as_path();
    let mut wrong = announce(clip, "video/mp4");
    let wrong_size = (wrong["size"].as_u64().unwrap() + 1).to_string();
    wrong["size"] = json!(wrong["size"].as_u64().unwrap() + 1);
    let body = |file: Value| json!({ "template_id": "video-thumbnails", "files": [file], "fields": { "count": "1" } });
    let first = json_of(stack.post_create_upload(body(wrong)).await).await;
    assert_eq!(first["uploads"][0]["headers"]["content-length"], wrong_size, "the wrong size is signed");

    let corrected = stack.post_create_upload(body(announce(clip, "video/mp4"))).await;
    assert_eq!(corrected.status(), StatusCode::CREATED);
    let corrected = json_of(corrected).await;
    assert_eq!(corrected["assembly_id"], first["assembly_id"], "the size is not part of the id");
    assert_eq!(corrected["attempt"], 2);
    // Announcing exactly the same again is a retry: the same targets.
    let retried = json_of(stack.post_create_upload(body(announce(clip, "video/mp4"))).await).await;
    assert_eq!(retried["uploads"][0]["upload_id"], corrected["uploads"][0]["upload_id"]);
    assert_eq!(retried["attempt"], 2);

    assert_eq!(stack.put_to(&first["uploads"][0], clip).await.status(), StatusCode::CONFLICT);
    assert_eq!(stack.put_to(&corrected["uploads"][0], clip).await.status(), StatusCode::OK);
    let done = stack.wait_finished(corrected["assembly_id"].as_str().unwrap(), LIMIT).await;
    assert_eq!(done["ok"], "ASSEMBLY_COMPLETED", "{done:#}");
    stack.stop().await;
}

#[tokio::test]
async fn an_assembly_whose_uploads_never_all_arrive_expires_and_its_partial_uploads_go() {
    let stack = TestStack::start(|config| {
        config.retention.upload_expiry_secs = 1;
        config.retention.sweep_interval_secs = 1;
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (tagged_clip(dir.path(), "a"), tagged_clip(dir.path(), "b"));
    let plan = json_of(stack.create_upload("video-thumbnails", &[&a, &b], json!({})).await).await;
    let id = plan["assembly_id"].as_str().unwrap().to_owned();
    // One of the two files arrived (stored directly: the test must not race the expiry).
    let first = &plan["uploads"][0];
    let key = format!("uploads/main/{id}/{}/{}", first["upload_id"].as_str().unwrap(), "clip-a.mp4");
    let spec = BlobSpec { content_type: "video/mp4".into(), ..BlobSpec::default() };
    stack.worker.backends.blobs.put_file(&key, &a, &spec).await.unwrap();

    let expired = wait_status(&stack, &id, |s| s["error"] == "UPLOAD_EXPIRED").await;
    assert!(expired["message"].as_str().unwrap().contains("announce the files again"), "{expired:#}");
    for _ in 0..300 {
        let stored = stack.worker.backends.statuses.get(&id).await.unwrap().unwrap().value;
        let left = stack.worker.backends.blobs.list(&format!("uploads/main/{id}/")).await.unwrap();
        if stored.error.is_some() && left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stored = stack.worker.backends.statuses.get(&id).await.unwrap().unwrap().value;
    assert_eq!(stored.error.map(|code| code.as_str()), Some("UPLOAD_EXPIRED"), "the sweep recorded it");
    assert!(stack.worker.backends.blobs.list(&format!("uploads/main/{id}/")).await.unwrap().is_empty());
    let late = stack.put_to(&plan["uploads"][1], &b).await;
    assert_eq!(late.status(), StatusCode::CONFLICT, "an expired attempt takes no uploads");

    let again = json_of(stack.create_upload("video-thumbnails", &[&a, &b], json!({})).await).await;
    assert_eq!(again["attempt"], 2);
    stack.stop().await;
}

#[tokio::test]
async fn targets_follow_the_request_even_for_files_of_the_same_name() {
    let stack = TestStack::start(|_| {}).await;
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let clips: Vec<_> = ["one", "two"]
        .iter()
        .zip(&dirs)
        .map(|(tag, dir)| {
            let path = dir.path().join("clip.mp4");
            std::fs::rename(tagged_clip(dir.path(), tag), &path).unwrap();
            path
        })
        .collect();
    // Announce them against MD5 order, so a response in MD5 order would pair them wrongly.
    let md5 = |path: &Path| announce(path, "video/mp4")["md5"].as_str().unwrap().to_owned();
    let mut files: Vec<&Path> = clips.iter().map(|p| p.as_path()).collect();
    files.sort_by_key(|path| std::cmp::Reverse(md5(path)));
    let plan = json_of(stack.create_upload("video-thumbnails", &files, json!({ "count": "1" })).await).await;
    for response in stack.upload_all(&plan, &files).await {
        assert_eq!(response.status(), StatusCode::OK, "{:?}", response.text().await);
    }
    // Each PUT was accepted, so each file went to the target signed with its own MD5. (The
    // assembly itself fails: both inputs have the stem `clip`, so the thumbnails step names
    // its outputs alike, and the host refuses the second emit.)
    let done = stack.wait_finished(plan["assembly_id"].as_str().unwrap(), LIMIT).await;
    let received: Vec<&Value> =
        done["expected_uploads"].as_array().unwrap().iter().map(|e| &e["received"]).collect();
    assert_eq!(received, [true, true], "{done:#}");
    assert_eq!(done["uploads"].as_array().map(Vec::len), Some(2));
    stack.stop().await;
}

#[tokio::test]
async fn create_upload_refuses_control_characters_and_unreachable_notify_urls() {
    let stack = TestStack::start(|config| config.webhook.allow_loopback = false).await;
    let clip = media().clip.as_path();
    let post = |file: Value, notify_url: Option<&str>| {
        let mut body = json!({ "template_id": "video-thumbnails", "files": [file] });
        if let Some(url) = notify_url {
            body["notify_url"] = json!(url);
        }
        stack.post_create_upload(body)
    };
    for bad in ["clip\r.mp4", "clip\n.mp4", "clip\t.mp4", "\u{1b}[31mclip.mp4"] {
        let mut file = announce(clip, "video/mp4");
        file["name"] = json!(bad);
        let response = post(file, None).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad:?}");
        assert_eq!(json_of(response).await["error"], "INVALID_REQUEST");
    }
    let response = post(announce(clip, "video/mp4\r\nx-evil: 1"), None).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    for (url, reason) in [
        ("http://169.254.169.254/latest/meta-data/", "a link-local address"),
        ("http://0.0.0.0:8080/", "an unspecified address"),
        ("http://localhost:9/hook", "a loopback address"),
        ("ftp://example.com/", "http or https"),
    ] {
        let response = post(announce(clip, "video/mp4"), Some(url)).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{url}");
        let error = json_of(response).await;
        assert_eq!(error["error"], "INVALID_NOTIFY_URL");
        assert!(error["message"].as_str().unwrap().contains(reason), "{url}: {error}");
    }
    assert!(stack.worker.backends.blobs.list("").await.unwrap().is_empty());
    stack.stop().await;
}
