//! Corrupt, empty and non-media inputs end in an error status that names the step and file.

use test_components as components;
use transflow_tests::{Harness, assert_completed, media};

#[tokio::test]
async fn unusable_inputs_fail_naming_step_and_file() {
    let harness = Harness::new().await;
    let cases =
        [(&media().corrupt, "corrupt.mp4"), (&media().empty, "empty.mp4"), (&media().text, "notes.mp4")];
    for (file, name) in cases {
        let status = harness.run(components::VIDEO_ENCODE, &[file], &[]).await.status;
        assert_eq!(status.error.map(|c| c.as_str()), Some("INPUT_INVALID"), "{name}: {status:?}");
        assert_eq!(status.failed_step.as_deref(), Some("encode"));
        assert!(
            status.message.contains("step `encode`") && status.message.contains(name),
            "{}",
            status.message
        );
        assert_eq!(status.uploads[0].meta, None);
    }
    assert_completed(
        &harness.run(components::VIDEO_ENCODE, &[&media().clip], &[("height", "144")]).await.status,
    );
}

#[tokio::test]
async fn uploads_are_probed_into_status() {
    let status = Harness::new()
        .await
        .run(components::VIDEO_THUMBNAILS, &[&media().clip], &[("count", "1")])
        .await
        .status;
    assert_completed(&status);
    let upload = &status.uploads[0];
    let meta = upload.meta.as_ref().unwrap();
    assert_eq!((meta.width, meta.height, meta.framerate), (Some(640), Some(360), Some(25.0)));
    assert_eq!(meta.video_codec.as_deref(), Some("h264"));
    assert_eq!(meta.audio_codec.as_deref(), Some("aac"));
    assert_eq!(
        (upload.mime.as_str(), upload.ext.as_str(), upload.basename.as_str()),
        ("video/mp4", "mp4", "clip")
    );
    assert_eq!(upload.md5hash.len(), 32);
    assert!(status.bytes_usage > upload.size);
    assert!(status.execution_duration.is_some());
}
