//! Results and originals from their prefix-signed URLs on the embedded stack: an HLS master
//! playlist that plain ffmpeg plays, byte ranges and HEAD, and tokens that open their own
//! directory only.

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use transflow_store::prefix_urls::PrefixSigner;
use transflow_tests::stack::{TestStack, publish_templates};
use transflow_tests::{media, play_hls, raw_get_status, stream, variant};

const LIMIT: Duration = Duration::from_secs(180);
const SIGNING_KEY: &str = "file-urls-test-signing-key-0123456789";

async fn stack_with(component: &str) -> TestStack {
    let stack = TestStack::start(|config| config.server.signing_key = Some(SIGNING_KEY.into())).await;
    publish_templates(&stack.worker.engine, &*stack.worker.backends.templates, &[component]).await;
    stack
}

/// Uploads `file` for `template` and waits for the assembly to complete; returns its status.
async fn completed(stack: &TestStack, template: &str, file: &Path) -> Value {
    let plan: Value = stack.create_upload(template, &[file], json!({})).await.json().await.unwrap();
    for response in stack.upload_all(&plan, &[file]).await {
        assert_eq!(response.status(), StatusCode::OK);
    }
    let status = stack.wait_finished(plan["assembly_id"].as_str().unwrap(), LIMIT).await;
    assert_eq!(status["ok"], "ASSEMBLY_COMPLETED", "{status:#}");
    status
}

fn url_of<'a>(status: &'a Value, step: &str, suffix: &str) -> &'a str {
    let results = status["results"][step].as_array().expect("results of the step");
    let result = results.iter().find(|r| r["name"].as_str().unwrap().ends_with(suffix)).expect("the result");
    result["url"].as_str().unwrap()
}

/// The token and the key of a file URL under `base`.
fn split_url<'a>(base: &str, url: &'a str) -> (&'a str, &'a str) {
    let rest = url.strip_prefix(&format!("{base}/r/")).unwrap_or_else(|| panic!("{url} is not a file URL"));
    rest.split_once('/').unwrap()
}

#[tokio::test]
async fn an_hls_master_playlist_plays_from_its_url_and_the_original_is_beside_it() {
    let stack = stack_with(test_components::HLS).await;
    let clip = media().clip.as_path();
    let status = completed(&stack, "hls", clip).await;
    let master = url_of(&status, "hls", "master.m3u8");
    assert!(master.starts_with(&format!("{}/r/", stack.base)), "{master}");

    let dir = tempfile::tempdir().unwrap();
    let played = play_hls(master, dir.path()).await;
    let mut heights: Vec<u64> = played["streams"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["codec_type"] == "video")
        .map(|s| s["height"].as_u64().unwrap())
        .collect();
    heights.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(heights, [360, 240], "both renditions played: {played:#}");
    assert_eq!(stream(&played, "audio")["codec_name"], "aac");

    let upload = &status["uploads"][0];
    let original = upload["url"].as_str().expect("the upload has a URL");
    let (_, key) = split_url(&stack.base, original);
    assert!(key.starts_with("uploads/main/") && key.ends_with("/clip.mp4"), "{key}");
    let fetched = stack.client.get(original).send().await.unwrap();
    assert_eq!(fetched.status(), StatusCode::OK);
    assert_eq!(fetched.bytes().await.unwrap(), std::fs::read(clip).unwrap());
    assert!(
        upload["ssl_url"].is_null() && status["results"]["hls"][0]["ssl_url"].is_null(),
        "served over http"
    );
    stack.stop().await;
}

#[tokio::test]
async fn file_urls_serve_ranges_and_head_and_open_only_their_own_directory() {
    let stack = stack_with(test_components::AUDIO_ENCODE).await;
    let status = completed(&stack, "audio-encode", &media().clip).await;
    let dir = tempfile::tempdir().unwrap();
    let other_clip = variant(&media().clip, dir.path(), "other-assembly");
    let other = completed(&stack, "audio-encode", &other_clip).await;
    assert_ne!(status["assembly_id"], other["assembly_id"]);

    let audio = url_of(&status, "encode", "");
    let whole = stack.client.get(audio).send().await.unwrap();
    assert_eq!(whole.status(), StatusCode::OK);
    assert_eq!(whole.headers()["accept-ranges"], "bytes");
    assert_eq!(whole.headers()["x-content-type-options"], "nosniff");
    assert!(whole.headers()["content-security-policy"].to_str().unwrap().starts_with("sandbox"));
    let content_type = whole.headers()["content-type"].clone();
    assert!(content_type.to_str().unwrap().starts_with("audio/"), "{content_type:?}");
    let bytes = whole.bytes().await.unwrap();
    let size = bytes.len();

    let get_range = |range: String| stack.client.get(audio).header("range", range).send();
    let partial = get_range("bytes=10-19".into()).await.unwrap();
    assert_eq!(partial.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(partial.headers()["content-range"], format!("bytes 10-19/{size}").as_str());
    assert_eq!(partial.headers()["content-type"], content_type);
    assert_eq!(partial.bytes().await.unwrap(), bytes[10..20]);
    let tail = get_range("bytes=-5".into()).await.unwrap();
    assert_eq!(tail.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(tail.bytes().await.unwrap(), bytes[size - 5..]);
    let past = get_range(format!("bytes={size}-")).await.unwrap();
    assert_eq!(past.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(past.headers()["content-range"], format!("bytes */{size}").as_str());
    assert_eq!(past.json::<Value>().await.unwrap()["error"], "RANGE_NOT_SATISFIABLE");

    let head = stack.client.head(audio).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["content-length"], size.to_string().as_str());
    assert_eq!(head.headers()["accept-ranges"], "bytes");
    assert!(head.bytes().await.unwrap().is_empty());

    // The encode step's token opens neither the waveform step nor another assembly's files.
    let (token, key) = split_url(&stack.base, audio);
    let waveform = url_of(&status, "waveform", ".png");
    assert_eq!(stack.client.get(waveform).send().await.unwrap().status(), StatusCode::OK);
    let (_, waveform_key) = split_url(&stack.base, waveform);
    let (_, other_key) = split_url(&stack.base, url_of(&other, "encode", ""));
    for foreign in [waveform_key, other_key] {
        let refused = stack.client.get(format!("{}/r/{token}/{foreign}", stack.base)).send().await.unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{foreign}");
        assert_eq!(refused.json::<Value>().await.unwrap()["error"], "TOKEN_INVALID");
    }
    // A missing file under the token's own directory is 404, not 403.
    let (directory, _) = key.rsplit_once('/').unwrap();
    let missing = stack.client.get(format!("{}/r/{token}/{directory}/missing.mp3", stack.base)).send();
    assert_eq!(missing.await.unwrap().status(), StatusCode::NOT_FOUND);

    // Altered and expired tokens.
    let mut altered = token.to_owned().into_bytes();
    altered[20] = if altered[20] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    let refused = stack.client.get(format!("{}/r/{altered}/{key}", stack.base)).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let prefix = key.splitn(5, '/').take(4).collect::<Vec<_>>().join("/") + "/";
    let an_hour_ago = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() - 3600;
    let expired = PrefixSigner::new(SIGNING_KEY.as_bytes()).sign(&prefix, an_hour_ago);
    let refused = stack.client.get(format!("{}/r/{expired}/{key}", stack.base)).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(refused.json::<Value>().await.unwrap()["error"], "TOKEN_EXPIRED");

    // Dot segments, encoded or not, and encoded slashes are refused before any lookup.
    let address = stack.base.strip_prefix("http://").unwrap();
    let (_, other_file) =
        other_key.split_once(&format!("{}/", other["assembly_id"].as_str().unwrap())).unwrap();
    let other_id = other["assembly_id"].as_str().unwrap();
    for escape in [
        format!("/r/{token}/{directory}/../../../{other_id}/{other_file}"),
        format!("/r/{token}/{directory}/%2e%2e/%2E%2E/../{other_id}/{other_file}"),
        format!("/r/{token}/{directory}/..%2F..%2F..%2F{other_id}%2F{other_file}"),
        format!("/r/{token}/{directory}//x"),
    ] {
        assert_eq!(raw_get_status(address, &escape).await, 400, "{escape}");
    }
    assert_eq!(
        raw_get_status(address, &format!("/r/{token}/{key}")).await,
        200,
        "the same request, unaltered"
    );
    stack.stop().await;
}
