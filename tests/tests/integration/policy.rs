//! Hostile ffmpeg arguments, pushed through a real guest, are refused before ffmpeg starts.

use test_components as components;
use transflow_tests::{Harness, assert_completed, media};

/// Runs the args fixture; `|` separates arguments, `{input}`/`{output}` are the real paths.
async fn run_args(harness: &Harness, args: &str) -> transflow_store::assembly::AssemblyStatus {
    harness.run(components::FFMPEG_ARGS, &[&media().clip], &[("args", args)]).await.status
}

#[tokio::test]
async fn hostile_arguments_are_refused_before_ffmpeg_starts() {
    let harness = Harness::new().await;
    let hostile = [
        ("-i|/etc/passwd|{output}", "/etc/passwd"),
        ("-i|../x|{output}", "../x"),
        ("-i|{input}|-i|in/../../etc/passwd|{output}", "in/../../etc/passwd"),
        ("-i|http://127.0.0.1:9/clip.mp4|{output}", "http://127.0.0.1:9/clip.mp4"),
        ("-i|concat:{input}|{output}", "concat:"),
        ("-i|{input}|-vf|movie=/etc/passwd[m];[in][m]overlay|{output}", "movie"),
        ("-i|{input}|-filter_complex|movie=../../x[m];[0:v][m]overlay|{output}", "movie"),
        ("-i|{input}|-vf|subtitles=/etc/passwd|{output}", "subtitles"),
        ("-f|lavfi|-i|testsrc|{output}", "lavfi"),
        ("-i|{input}|/tmp/escape.mp4", "/tmp/escape.mp4"),
    ];
    for (args, named) in hostile {
        let status = run_args(&harness, args).await;
        assert_eq!(status.error.map(|c| c.as_str()), Some("ARGUMENT_REFUSED"), "{args}: {status:?}");
        assert_eq!(status.failed_step.as_deref(), Some("run"));
        assert!(status.message.contains(named), "{args}: {}", status.message);
        // Nothing was written: ffmpeg never ran.
        assert!(status.results.is_empty());
    }
    assert!(!std::path::Path::new("/tmp/escape.mp4").exists());
}

#[tokio::test]
async fn ordinary_arguments_run() {
    let harness = Harness::new().await;
    let status = run_args(&harness, "-i|{input}|-t|1|-c:v|libx264|-preset|ultrafast|-an|{output}").await;
    assert_completed(&status);
    assert_eq!(status.results["run"].len(), 1);
    assert_eq!(status.results["run"][0].meta.as_ref().unwrap().video_codec.as_deref(), Some("h264"));
}
