//! What the host keeps is what it says it keeps: the caller's uploads enter the workspace as
//! read-only copies and stay byte-identical; a file is emitted under one name only and kept
//! with the size and MD5 of the kept bytes; reservations and step lists are refused at their
//! bounds. Each refusal names its step (or the limit), and the same host then runs a normal
//! job fine.

use md5::{Digest, Md5};
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use test_components as components;
use transflow_ffmpeg::{MediaTools, ToolSettings};
use transflow_runtime::workspace::MAX_RESERVED_OUTPUTS;
use transflow_runtime::{AssemblyRequest, DirectorySink, EngineError, Runner, UploadSource};
use transflow_tests::{Harness, assert_completed, ffprobe, media, result_path};

fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

/// Runs `game` of the emit-games fixture, expects it to fail in step `play` with `code`, then
/// runs a normal template on the same harness; returns the failure's message.
async fn game_fails_then_host_still_works(game: &[(&str, &str)], code: &str) -> String {
    let harness = Harness::new().await;
    let run = harness.run(components::EMIT_GAMES, &[&media().clip], game).await;
    assert_eq!(run.status.error.map(|c| c.as_str()), Some(code), "{:?}", run.status);
    assert_eq!(run.status.failed_step.as_deref(), Some("play"));
    assert!(run.status.message.starts_with("step `play`"), "{}", run.status.message);
    assert!(run.status.results.is_empty(), "{:?}", run.status.results);
    let next = harness.run(components::VIDEO_THUMBNAILS, &[&media().clip], &[("count", "2")]).await;
    assert_completed(&next.status);
    run.status.message
}

#[tokio::test]
async fn a_file_emitted_under_several_spellings_is_kept_once_as_written() {
    let harness = Harness::new().await;
    let run = harness.run(components::EMIT_GAMES, &[&media().clip], &[("game", "spellings")]).await;
    assert_completed(&run.status);
    let results = &run.status.results["play"];
    assert_eq!(results.len(), 1, "{results:?}");
    let result = &results[0];
    assert_eq!(result.name, "x.ts");
    let kept_path = result_path(result.url.as_deref().unwrap());
    let kept = std::fs::read(&kept_path).unwrap();
    assert!(kept.len() > 10_000, "one second of the clip, not {} bytes", kept.len());
    assert_eq!(result.size, kept.len() as u64);
    assert_eq!(result.md5hash, md5_hex(&kept));
    assert_eq!(std::fs::metadata(&kept_path).unwrap().permissions().mode() & 0o777, 0o444);
    let probe = ffprobe(&kept_path);
    assert_eq!(probe["format"]["format_name"], "mpegts", "{probe}");
}

#[tokio::test]
async fn a_second_spelling_of_an_emitted_file_fails_the_step() {
    let message = game_fails_then_host_still_works(&[("game", "spellings-strict")], "STEP_FAILED").await;
    assert!(message.contains("`out/play/./x.ts` cannot be emitted"), "{message}");
    assert!(message.contains("`.` and `..` components are not allowed"), "{message}");
}

#[tokio::test]
async fn a_file_rewritten_after_it_was_emitted_is_not_kept() {
    let message = game_fails_then_host_still_works(&[("game", "rewrite-after-emit")], "STEP_FAILED").await;
    assert!(message.contains("result `x.ts` changed after it was emitted"), "{message}");
}

#[tokio::test]
async fn a_reservation_flood_stops_at_the_per_step_bound() {
    let expect = MAX_RESERVED_OUTPUTS.to_string();
    let message =
        game_fails_then_host_still_works(&[("game", "reserve-flood"), ("expect", &expect)], "RESOURCE_LIMIT")
            .await;
    assert!(
        message.contains(&format!("step `play` may reserve at most {MAX_RESERVED_OUTPUTS} outputs")),
        "{message}"
    );
}

#[tokio::test]
async fn a_step_bomb_is_refused_at_load_naming_the_limit() {
    let harness = Harness::new().await;
    let bytes = std::fs::read(components::STEP_BOMB).unwrap();
    let error = harness.engine.load(&bytes).await.unwrap_err();
    let EngineError::Describe(message) = &error else { panic!("expected a describe error, got {error}") };
    assert_eq!(message, "template `fixture-step-bomb` declares 10000 steps; at most 64 are allowed");
    let next = harness.run(components::VIDEO_THUMBNAILS, &[&media().clip], &[("count", "2")]).await;
    assert_completed(&next.status);
}

/// A file placed under `{work}/{job}/in/{upload}/`, as seen while the job ran.
#[derive(Debug)]
struct Placed {
    inode: u64,
    links: u64,
    mode: u32,
    dir_mode: u32,
    md5: String,
}

fn placed_uploads(work: &Path) -> Vec<Placed> {
    let entries = |dir: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.path()).collect()
    };
    let mut placed = Vec::new();
    for job in entries(work) {
        for upload_dir in entries(&job.join("in")) {
            for file in entries(&upload_dir) {
                let metadata = std::fs::metadata(&file).unwrap();
                placed.push(Placed {
                    inode: metadata.ino(),
                    links: metadata.nlink(),
                    mode: metadata.permissions().mode() & 0o777,
                    dir_mode: std::fs::metadata(&upload_dir).unwrap().permissions().mode() & 0o777,
                    md5: md5_hex(&std::fs::read(&file).unwrap()),
                });
            }
        }
    }
    placed
}

#[tokio::test]
async fn uploads_are_read_only_copies_and_the_callers_file_is_untouched() {
    let harness = Harness::new().await;
    let scene = tempfile::tempdir().unwrap();
    let upload = scene.path().join("caller.mp4");
    std::fs::copy(&media().clip, &upload).unwrap();
    std::fs::set_permissions(&upload, std::fs::Permissions::from_mode(0o644)).unwrap();
    let before = std::fs::metadata(&upload).unwrap();
    let original_md5 = md5_hex(&std::fs::read(&upload).unwrap());

    let tools = MediaTools::detect(&ToolSettings::default()).await.expect("ffmpeg installed");
    let work = scene.path().join("work");
    let results = Arc::new(DirectorySink::new(scene.path().join("outputs")));
    let runner = Runner::new(harness.engine.clone(), Arc::new(tools), work.clone(), results);
    let (template, _) =
        harness.engine.load(&std::fs::read(components::VIDEO_THUMBNAILS).unwrap()).await.unwrap();
    let request = AssemblyRequest {
        template,
        uploads: vec![UploadSource { name: "caller.mp4".into(), path: upload.clone() }],
        fields: BTreeMap::from([("count".to_owned(), "2".to_owned())]),
        user_id: "tester".into(),
        branch: "test".into(),
    };
    // The workspace is removed when the job ends: look at it while the step runs.
    let mut seen = None;
    let status = runner
        .run(request, |status| {
            if status.current_step.is_some() && seen.is_none() {
                seen = Some(placed_uploads(&work));
            }
        })
        .await
        .expect("a local directory keeps results");
    assert_completed(&status);

    let seen = seen.expect("the step ran");
    assert_eq!(seen.len(), 1, "{seen:?}");
    let placed = &seen[0];
    assert_ne!(placed.inode, before.ino(), "the workspace input must be a copy, not a link");
    assert_eq!(placed.links, 1);
    assert_eq!((placed.mode, placed.dir_mode), (0o444, 0o555));
    assert_eq!(placed.md5, original_md5);

    let after = std::fs::metadata(&upload).unwrap();
    assert_eq!(md5_hex(&std::fs::read(&upload).unwrap()), original_md5, "the caller's file changed");
    assert_eq!(
        (after.ino(), after.nlink(), after.permissions().mode()),
        (before.ino(), 1, before.permissions().mode())
    );
    assert_eq!(std::fs::read_dir(&work).unwrap().count(), 0, "the workspace was not removed");
}
