//! The `transflow` binary as a process: `dev` with a worker killed mid-job and the page driven
//! by Chromium, and (in [`ops`]) what an operator meets.

mod ops;

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;
use transflow_service::api::Auth;
use transflow_tests::browser::Browser;
use transflow_tests::dev_server::{DevServer, bake_into};
use transflow_tests::stack::announce;
use transflow_tests::{ffprobe, media, stream};

use crate::BINARY;
const JWT_SECRET: &str = "dev-process-test-secret-0123456789";

/// A data directory with a config whose leases and visibility are short, so a killed
/// worker's job comes back within seconds.
async fn prepared_dir(components: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("transflow.toml");
    std::fs::write(
        &config,
        format!("[auth]\njwt_secret = \"{JWT_SECRET}\"\n[worker]\nlease_secs = 3\nvisibility_secs = 3\nconcurrency = 1\n"),
    )
    .unwrap();
    bake_into(&dir.path().join("data"), components).await;
    (dir, config)
}

fn token() -> String {
    Auth::jwt(JWT_SECRET.as_bytes(), "sub").token_for("dev", Duration::from_secs(600)).unwrap()
}

async fn status(client: &reqwest::Client, base: &str, id: &str) -> Value {
    let response = client.get(format!("{base}/api/status/{id}")).bearer_auth(token()).send().await.unwrap();
    response.json().await.unwrap()
}

/// A 12 s 1280×720 clip: long enough to encode that the kill lands mid-job.
fn long_clip(dir: &Path) -> PathBuf {
    let path = dir.join("long.mp4");
    let status = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=1280x720:rate=30:duration=12")
        .args([
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=12",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
        ])
        .args(["-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    path
}

#[tokio::test]
async fn a_worker_killed_mid_job_is_finished_after_a_restart() {
    let (dir, config) = prepared_dir(&[test_components::VIDEO_ENCODE]).await;
    let data = dir.path().join("data");
    let clip = long_clip(dir.path());
    let client = reqwest::Client::new();

    let server = DevServer::start(BINARY, &config, &data);
    let body = json!({ "template_id": "video-encode", "files": [announce(&clip, "video/mp4")], "fields": { "height": "720" } });
    let plan: Value = client
        .post(format!("{}/api/create-upload", server.base))
        .bearer_auth(token())
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = plan["assembly_id"].as_str().unwrap().to_owned();
    let target = &plan["uploads"][0];
    let put = client.put(target["url"].as_str().unwrap()).header("content-type", "video/mp4");
    assert_eq!(put.body(std::fs::read(&clip).unwrap()).send().await.unwrap().status(), StatusCode::OK);

    // Kill the server once the encode is under way.
    let mut seen = Value::Null;
    for _ in 0..600 {
        seen = status(&client, &server.base, &id).await;
        if seen["ok"] == "ASSEMBLY_EXECUTING" && seen["current_step"].is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen["ok"], "ASSEMBLY_EXECUTING", "the job started: {seen:#}");
    server.kill();

    let restarted = DevServer::start(BINARY, &config, &data);
    let mut finished = Value::Null;
    for _ in 0..1200 {
        finished = status(&client, &restarted.base, &id).await;
        if finished["ok"] == "ASSEMBLY_COMPLETED" || finished["error"].is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(finished["ok"], "ASSEMBLY_COMPLETED", "{finished:#}");
    let url = finished["results"]["encode"][0]["url"].as_str().expect("an encoded result");
    let output = dir.path().join("encoded.mp4");
    std::fs::write(&output, client.get(url).send().await.unwrap().bytes().await.unwrap()).unwrap();
    let probe = ffprobe(&output);
    assert_eq!(stream(&probe, "video")["height"], 720);
    assert_eq!(stream(&probe, "audio")["codec_name"], "aac");
    assert!(restarted.terminate(Duration::from_secs(30)).is_some_and(|s| s.success()), "a graceful stop");
}

#[tokio::test]
async fn the_page_uploads_a_clip_and_shows_its_thumbnails() {
    let (dir, config) = prepared_dir(&[test_components::VIDEO_THUMBNAILS]).await;
    let server = DevServer::start(BINARY, &config, &dir.path().join("data"));
    let browser = Browser::start().await;
    browser.open(&format!("{}/#token={}", server.base, token())).await;

    // The template list loads asynchronously.
    let mut options = Value::Null;
    for _ in 0..100 {
        options =
            browser.eval("return [...document.querySelectorAll('#template option')].map(o => o.value)").await;
        if options.as_array().is_some_and(|o| o.iter().any(|v| v == "video-thumbnails")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(options.as_array().is_some_and(|o| o.iter().any(|v| v == "video-thumbnails")), "{options}");
    browser.eval("const s = document.querySelector('#template'); s.value = 'video-thumbnails'; s.dispatchEvent(new Event('change')); return null").await;
    let files = browser.find("#files").await;
    browser.send_keys(&files, media().clip.to_str().unwrap()).await;
    browser.click(&browser.find("#start").await).await;

    let mut state = Value::Null;
    for _ in 0..1200 {
        state = browser.eval("return document.querySelector('#state').textContent").await;
        let failed = browser.eval("return !document.querySelector('#error').hidden").await;
        if state == "ASSEMBLY_COMPLETED" || failed == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let error = browser.eval("return document.querySelector('#error').textContent").await;
    assert_eq!(state, "ASSEMBLY_COMPLETED", "page error: {error}");
    // Wait for the thumbnails to load, then check they decoded.
    let mut widths = Value::Null;
    for _ in 0..100 {
        widths = browser.eval("return [...document.querySelectorAll('img.result-image')].map(i => i.complete ? i.naturalWidth : 0)").await;
        if widths.as_array().is_some_and(|w| !w.is_empty() && w.iter().all(|w| w.as_u64() > Some(0))) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let widths = widths.as_array().cloned().unwrap_or_default();
    assert!(
        !widths.is_empty() && widths.iter().all(|w| w.as_u64() > Some(0)),
        "thumbnails shown: {widths:?}"
    );
    browser.close().await;
    drop(server);
}
