//! Hostile templates end with a clear error inside their limits, and the same host then runs
//! a normal job fine. The attacks on the host's files run both with bubblewrap and without it.

use md5::{Digest, Md5};
use std::path::{Path, PathBuf};
use std::time::Duration;
use test_components as components;
use transflow_runtime::JobLimits;
use transflow_tests::{Harness, assert_completed, ffmpeg_builds, media, result_path};

async fn fails_then_host_still_works(limits: JobLimits, component: &str, code: &str, step: &str) -> String {
    let harness = Harness::with_limits(limits).await;
    let run = harness.run(component, &[&media().clip], &[]).await;
    assert_eq!(run.status.error.map(|c| c.as_str()), Some(code), "{:?}", run.status);
    assert_eq!(run.status.failed_step.as_deref(), Some(step));
    assert!(run.status.message.starts_with(&format!("step `{step}`")), "{}", run.status.message);
    let next = harness.run(components::VIDEO_THUMBNAILS, &[&media().clip], &[("count", "2")]).await;
    assert_completed(&next.status);
    run.status.message
}

#[tokio::test]
async fn a_panicking_template_traps_with_its_message() {
    let message =
        fails_then_host_still_works(JobLimits::default(), components::TRAP_STEP, "TEMPLATE_TRAPPED", "boom")
            .await;
    assert!(message.contains("this template always panics"), "{message}");
}

#[tokio::test]
async fn an_endless_loop_is_stopped_at_the_step_deadline() {
    let limits = JobLimits { step_timeout: Duration::from_secs(2), ..JobLimits::default() };
    let message = fails_then_host_still_works(limits, components::SPIN_FOREVER, "STEP_TIMEOUT", "spin").await;
    assert!(message.contains("time limit of 2 s"), "{message}");
}

#[tokio::test]
async fn unbounded_allocation_hits_the_memory_limit() {
    let limits = JobLimits { memory_bytes: 64 << 20, ..JobLimits::default() };
    let message =
        fails_then_host_still_works(limits, components::EXHAUST_MEMORY, "MEMORY_LIMIT", "hog").await;
    assert!(message.contains("67108864"), "{message}");
}

#[tokio::test]
async fn a_host_call_flood_exhausts_the_budget() {
    // The memory hog reports progress on every allocation: with a tiny budget the budget runs
    // out long before memory does.
    let limits = JobLimits { hostcalls: 20, memory_bytes: 1 << 30, ..JobLimits::default() };
    let message =
        fails_then_host_still_works(limits, components::EXHAUST_MEMORY, "RESOURCE_LIMIT", "hog").await;
    assert!(message.contains("more than 20 host calls"), "{message}");
}

/// Each attack of the `hostile` fixture and the error code it must end with.
const ATTACKS: &[(&str, &str)] = &[
    ("var-stream-map", "ARGUMENT_REFUSED"),
    ("x264-stats", "ARGUMENT_REFUSED"),
    ("x264-stats-escaped", "ARGUMENT_REFUSED"),
    ("x265-csv", "ARGUMENT_REFUSED"),
    ("sendcmd", "ARGUMENT_REFUSED"),
    ("glob-reserve", "STEP_FAILED"),
    ("glob-other-job", "ARGUMENT_REFUSED"),
    ("read-absolute", "ARGUMENT_REFUSED"),
    ("read-movie", "ARGUMENT_REFUSED"),
    ("overwrite-input-palette", "ARGUMENT_REFUSED"),
    ("overwrite-input-dump", "ARGUMENT_REFUSED"),
    ("overwrite-input-output", "ARGUMENT_REFUSED"),
    ("disk-fill", "RESOURCE_LIMIT"),
];

/// Every attack class, with bubblewrap and with it unavailable (as on Lambda), on Debian's
/// ffmpeg and on the pinned build the worker image ships: each ends with
/// its error code in a message naming the step, writes nothing outside the workspace, puts no
/// byte of a host file in any file the host keeps, leaves the caller's file byte-identical and
/// keeps only results equal to their files.
#[tokio::test]
async fn attacks_end_with_a_clear_error_and_touch_nothing_with_and_without_bubblewrap() {
    let scene = tempfile::tempdir().unwrap();
    let victim = scene.path().join("victim");
    std::fs::create_dir(&victim).unwrap();
    let token = format!("TRANSFLOW-SECRET-{:032x}", rand_token());
    let secret = scene.path().join("secret.bin");
    std::fs::write(&secret, token.repeat(64)).unwrap();
    let upload = scene.path().join("upload.mp4");
    std::fs::copy(&media().clip, &upload).unwrap();
    let original = std::fs::read(&upload).unwrap();
    let fields =
        |case| [("case", case), ("target", victim.to_str().unwrap()), ("secret", secret.to_str().unwrap())];
    for (build, tools) in [true, false].into_iter().flat_map(ffmpeg_builds) {
        let limits = JobLimits { output_bytes: 40 << 20, ..JobLimits::default() };
        let harness = Harness::with_tools(limits, tools).await;
        for (case, code) in ATTACKS {
            let run = harness.run(components::HOSTILE, &[&upload], &fields(case)).await;
            let status = &run.status;
            let context =
                format!("{case} (ffmpeg {build}, sandbox `{}`): {}", status.sandbox, status.message);
            assert_eq!(status.error.map(|c| c.as_str()), Some(*code), "{context}");
            assert!(status.message.starts_with("step `attack`"), "{context}");
            assert_eq!(std::fs::read_dir(&victim).unwrap().count(), 0, "{context}: wrote outside");
            assert!(std::fs::read(&upload).unwrap() == original, "{context}: the caller's file changed");
            for file in files_under(harness.dir()) {
                let bytes = std::fs::read(&file).unwrap();
                let leaked = bytes.windows(token.len()).any(|w| w == token.as_bytes());
                assert!(!leaked, "{context}: {} holds bytes of a host file", file.display());
            }
            for result in status.results.values().flatten() {
                let kept = std::fs::read(result_path(result.url.as_deref().unwrap())).unwrap();
                assert_eq!(kept.len() as u64, result.size, "{context}");
                assert_eq!(hex::encode(Md5::digest(&kept)), result.md5hash, "{context}");
            }
        }
        let next = harness.run(components::VIDEO_THUMBNAILS, &[&media().clip], &[("count", "2")]).await;
        assert_completed(&next.status);
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).into_iter().flatten().flatten() {
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                found.push(entry.path());
            }
        }
    }
    found
}

fn rand_token() -> u128 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    nanos ^ (u128::from(std::process::id()) << 64)
}
