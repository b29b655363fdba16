//! Every built-in template on generated media, outputs checked with ffprobe.

use test_components as components;
use transflow_tests::{Harness, assert_completed, duration, ffprobe, media, result_path, stream};

fn results<'a>(
    status: &'a transflow_host::assembly::AssemblyStatus,
    step: &str,
) -> &'a [transflow_host::assembly::FileRecord] {
    status
        .results
        .get(step)
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("no results for step {step}: {status:?}"))
}

#[tokio::test]
async fn video_thumbnails_makes_count_jpegs_at_width() {
    let run = Harness::new()
        .await
        .run(components::VIDEO_THUMBNAILS, &[&media().clip], &[("count", "5"), ("width", "160")])
        .await;
    assert_completed(&run.status);
    let thumbs = results(&run.status, "thumbnails");
    assert_eq!(thumbs.len(), 5);
    for thumb in thumbs {
        let probe = ffprobe(&result_path(thumb.url.as_deref().unwrap()));
        let video = stream(&probe, "video");
        assert_eq!(video["codec_name"], "mjpeg");
        assert_eq!((video["width"].as_u64(), video["height"].as_u64()), (Some(160), Some(90)));
        assert_eq!(thumb.mime, "image/jpeg");
        assert_eq!(thumb.original_id.as_deref(), Some(run.status.uploads[0].id.as_str()));
    }
}

#[tokio::test]
async fn video_encode_makes_h264_aac_at_target_height() {
    let run =
        Harness::new().await.run(components::VIDEO_ENCODE, &[&media().clip], &[("height", "240")]).await;
    assert_completed(&run.status);
    let [mp4] = results(&run.status, "encode") else { panic!("one mp4 expected") };
    let probe = ffprobe(&result_path(mp4.url.as_deref().unwrap()));
    let video = stream(&probe, "video");
    assert_eq!(video["codec_name"], "h264");
    assert_eq!(video["height"].as_u64(), Some(240));
    assert_eq!(stream(&probe, "audio")["codec_name"], "aac");
    assert!((duration(&probe) - 4.0).abs() < 0.3, "duration {}", duration(&probe));
    assert_eq!(mp4.meta.as_ref().unwrap().height, Some(240));
    assert!(results(&run.status, "webm").is_empty(), "webm is off by default");
    let between: Vec<&f32> = run.progress.iter().filter(|p| **p > 0.0 && **p < 100.0).collect();
    assert!(!between.is_empty(), "progress was reported while running: {:?}", run.progress);
    assert!(run.progress.windows(2).all(|w| w[0] <= w[1]), "progress never goes back: {:?}", run.progress);
}

#[tokio::test]
async fn video_encode_never_upscales_and_writes_webm_on_request() {
    let run = Harness::new()
        .await
        .run(components::VIDEO_ENCODE, &[&media().clip], &[("height", "1080"), ("webm", "true")])
        .await;
    assert_completed(&run.status);
    let [mp4] = results(&run.status, "encode") else { panic!("one mp4 expected") };
    assert_eq!(
        stream(&ffprobe(&result_path(mp4.url.as_deref().unwrap())), "video")["height"].as_u64(),
        Some(360)
    );
    let [webm] = results(&run.status, "webm") else { panic!("one webm expected") };
    let probe = ffprobe(&result_path(webm.url.as_deref().unwrap()));
    assert_eq!(stream(&probe, "video")["codec_name"], "vp9");
    assert_eq!(stream(&probe, "audio")["codec_name"], "opus");
    assert_eq!(webm.mime, "video/webm");
}

#[tokio::test]
async fn hls_writes_a_master_playlist_with_renditions_no_taller_than_the_source() {
    let run = Harness::new().await.run(components::HLS, &[&media().clip], &[]).await;
    assert_completed(&run.status);
    let files = results(&run.status, "hls");
    let master = files.iter().find(|f| f.name.ends_with("master.m3u8")).expect("master playlist emitted");
    let master_path = result_path(master.url.as_deref().unwrap());
    let text = std::fs::read_to_string(&master_path).unwrap();
    let heights: Vec<u64> = text
        .lines()
        .filter_map(|l| l.split("RESOLUTION=").nth(1))
        .map(|r| r.split(',').next().unwrap().split('x').nth(1).unwrap().parse().unwrap())
        .collect();
    assert!(heights.len() >= 2, "at least two renditions: {text}");
    assert!(heights.iter().all(|h| *h <= 360), "no rendition taller than the source: {heights:?}");
    for variant in text.lines().filter(|l| l.ends_with(".m3u8")) {
        let playlist = std::fs::read_to_string(master_path.parent().unwrap().join(variant)).unwrap();
        assert!(playlist.contains("#EXT-X-ENDLIST") && playlist.contains(".ts"), "{variant}: {playlist}");
    }
    let segments = files.iter().filter(|f| f.name.ends_with(".ts")).count();
    assert!(segments >= heights.len(), "segments emitted: {segments}");
    let probe = ffprobe(&master_path);
    assert_eq!(stream(&probe, "video")["codec_name"], "h264");
}

#[tokio::test]
async fn audio_encode_makes_mp3_and_a_waveform_png() {
    let run = Harness::new()
        .await
        .run(components::AUDIO_ENCODE, &[&media().audio], &[("bitrate", "128"), ("waveform_width", "800")])
        .await;
    assert_completed(&run.status);
    let [mp3] = results(&run.status, "encode") else { panic!("one mp3 expected") };
    let probe = ffprobe(&result_path(mp3.url.as_deref().unwrap()));
    assert_eq!(stream(&probe, "audio")["codec_name"], "mp3");
    assert!((duration(&probe) - 3.0).abs() < 0.2);
    let [png] = results(&run.status, "waveform") else { panic!("one png expected") };
    let probe = ffprobe(&result_path(png.url.as_deref().unwrap()));
    let video = stream(&probe, "video");
    assert_eq!(video["codec_name"], "png");
    assert_eq!((video["width"].as_u64(), video["height"].as_u64()), (Some(800), Some(240)));
}

#[tokio::test]
async fn audio_encode_makes_aac_from_a_video_soundtrack() {
    let run =
        Harness::new().await.run(components::AUDIO_ENCODE, &[&media().clip], &[("format", "aac")]).await;
    assert_completed(&run.status);
    let [m4a] = results(&run.status, "encode") else { panic!("one m4a expected") };
    let probe = ffprobe(&result_path(m4a.url.as_deref().unwrap()));
    assert_eq!(stream(&probe, "audio")["codec_name"], "aac");
    assert!(probe["streams"].as_array().unwrap().iter().all(|s| s["codec_type"] != "video"));
}

#[tokio::test]
async fn image_resize_fits_the_box_in_each_format() {
    let harness = Harness::new().await;
    for (format, codec) in [("jpeg", "mjpeg"), ("png", "png"), ("webp", "webp")] {
        let run = harness
            .run(
                components::IMAGE_RESIZE,
                &[&media().image],
                &[("width", "400"), ("height", "400"), ("format", format)],
            )
            .await;
        assert_completed(&run.status);
        let [image] = results(&run.status, "resize") else { panic!("one image expected") };
        let video = ffprobe(&result_path(image.url.as_deref().unwrap()));
        let video = stream(&video, "video");
        assert_eq!(video["codec_name"], codec);
        assert_eq!((video["width"].as_u64(), video["height"].as_u64()), (Some(400), Some(225)), "{format}");
    }
    let run = harness
        .run(components::IMAGE_RESIZE, &[&media().image], &[("width", "4000"), ("height", "4000")])
        .await;
    assert_completed(&run.status);
    let image = &results(&run.status, "resize")[0];
    assert_eq!(image.meta.as_ref().unwrap().width, Some(1600), "never upscales");
}

#[tokio::test]
async fn an_invalid_field_fails_naming_step_and_field() {
    let run =
        Harness::new().await.run(components::VIDEO_THUMBNAILS, &[&media().clip], &[("count", "lots")]).await;
    assert_eq!(run.status.error.map(|c| c.as_str()), Some("INVALID_FIELD"));
    assert_eq!(run.status.failed_step.as_deref(), Some("thumbnails"));
    assert!(
        run.status.message.contains("`count`") && run.status.message.contains("lots"),
        "{}",
        run.status.message
    );
}
