//! What each built-in template says about itself.

use test_components as components;
use transflow_tests::Harness;

#[tokio::test]
async fn built_in_templates_describe_their_steps_and_fields() {
    let harness = Harness::new().await;
    // (component, id, steps with what each uses, field names)
    type Expected<'a> = (&'a str, &'a str, &'a [(&'a str, &'a [&'a str])], &'a [&'a str]);
    let expected: &[Expected] = &[
        (
            components::VIDEO_THUMBNAILS,
            "video-thumbnails",
            &[("thumbnails", &[":original"])],
            &["count", "width"],
        ),
        (
            components::VIDEO_ENCODE,
            "video-encode",
            &[("encode", &[":original"]), ("webm", &[":original"])],
            &["height", "webm"],
        ),
        (components::HLS, "hls", &[("hls", &[":original"])], &["renditions"]),
        (
            components::AUDIO_ENCODE,
            "audio-encode",
            &[("encode", &[":original"]), ("waveform", &[":original"])],
            &["format", "bitrate"],
        ),
        (
            components::IMAGE_RESIZE,
            "image-resize",
            &[("resize", &[":original"])],
            &["width", "height", "format"],
        ),
    ];
    for (component, id, steps, fields) in expected {
        let (template, _) = harness.engine.load(&std::fs::read(component).unwrap()).await.unwrap();
        let description = &template.description;
        assert_eq!(description.id, *id);
        assert!(!description.description.is_empty());
        let actual: Vec<(&str, Vec<&str>)> = description
            .steps
            .iter()
            .map(|s| (s.name.as_str(), s.uses.iter().map(String::as_str).collect()))
            .collect();
        let wanted: Vec<(&str, Vec<&str>)> = steps.iter().map(|(n, u)| (*n, u.to_vec())).collect();
        assert_eq!(actual, wanted, "{id}");
        for field in *fields {
            let documented = description.fields.iter().find(|f| f.name == *field);
            assert!(
                documented.is_some_and(|f| !f.description.is_empty() && f.default_value.is_some()),
                "{id}: {field}"
            );
        }
        assert_eq!(template.version.len(), 64);
    }
}

#[tokio::test]
async fn loads_come_from_memory_then_the_disk_cache() {
    use transflow_runtime::LoadSource;
    let harness = Harness::new().await;
    let bytes = std::fs::read(components::VIDEO_THUMBNAILS).unwrap();
    let (first, source) = harness.engine.load(&bytes).await.unwrap();
    assert_eq!(source, LoadSource::Compiled);
    assert_eq!(harness.engine.load(&bytes).await.unwrap().1, LoadSource::Memory);
    harness.engine.forget(&first.version);
    assert_eq!(harness.engine.load(&bytes).await.unwrap().1, LoadSource::DiskCache);
}

#[tokio::test]
async fn bytes_that_are_not_a_component_are_rejected() {
    let harness = Harness::new().await;
    let error = harness.engine.load(b"\0asm not really").await.unwrap_err();
    assert!(matches!(error, transflow_runtime::EngineError::Compile(_)), "{error}");
}
