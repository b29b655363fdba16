//! Every built-in template on generated media, outputs checked with ffprobe.

use std::path::{Path, PathBuf};
use std::process::Command;
use test_components as components;
use transflow_ffmpeg::MediaMeta;
use transflow_runtime::JobLimits;
use transflow_tests::{
    Harness, Run, assert_completed, duration, ffmpeg_builds, ffprobe, lavfi, media, result_path, stream,
};

/// Output options for a quick H.264 MP4 of generated video.
const H264: [&str; 6] = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"];

fn results<'a>(
    status: &'a transflow_store::assembly::AssemblyStatus,
    step: &str,
) -> &'a [transflow_store::assembly::FileRecord] {
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

/// A thumbnails job starts what the same work run by hand starts — one ffprobe of the upload,
/// one ffmpeg — and still describes each thumbnail as ffprobe does.
#[tokio::test]
async fn a_thumbnails_job_starts_two_tools_and_its_results_meta_matches_ffprobe() {
    let harness = Harness::new().await;
    assert_eq!(harness.tools_started(), 0, "setting up the tools started one");
    let run = harness.run(components::VIDEO_THUMBNAILS, &[&media().clip], &[("count", "8")]).await;
    assert_completed(&run.status);
    assert_eq!(harness.tools_started(), 2, "tools started for one job (upload probe + run)");
    let thumbs = results(&run.status, "thumbnails");
    assert_eq!(thumbs.len(), 8);
    for thumb in thumbs {
        let probed = ffprobe(&result_path(thumb.url.as_deref().unwrap()));
        let ffprobes = MediaMeta::from_ffprobe_json(&probed.to_string()).expect("a JPEG is media");
        let meta = thumb.meta.as_ref().expect("a thumbnail has meta");
        assert_eq!(
            (&meta.format, meta.width, meta.height, &meta.video_codec),
            (&ffprobes.format, ffprobes.width, ffprobes.height, &ffprobes.video_codec),
            "{}",
            thumb.name
        );
    }
}

/// A clip whose video lasts `seconds` at `fps`, every frame one flat grey, brighter with time (luma
/// `16 + 200·t/seconds` in video range), so a thumbnail's brightness tells which moment it shows.
/// With `audio_seconds`, a longer soundtrack makes the container outlast the video.
fn ramp(dir: &Path, seconds: f64, fps: u32, audio_seconds: Option<f64>) -> PathBuf {
    let video = format!(
        "color=c=black:size=320x180:rate={fps}:duration={seconds},format=yuv420p,\
         geq=lum=16+200*T/{seconds}:cb=128:cr=128"
    );
    match audio_seconds {
        None => lavfi(dir, "ramp.mp4", &video, &H264),
        Some(audio) => {
            let graph = format!("{video}[out0];sine=duration={audio}[out1]");
            lavfi(dir, "ramp.mp4", &graph, &[&H264[..], &["-c:a", "aac"]].concat())
        }
    }
}

/// The moment of a [`ramp`] of `seconds` that the JPEG at `path` shows, read from its mean
/// brightness (JPEG is full range: video-range luma `16 + y` becomes `y · 255/219`).
fn moment_shown(path: &Path, seconds: f64) -> f64 {
    let output = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "rawvideo", "-pix_fmt", "gray", "-"])
        .output()
        .expect("ffmpeg is installed");
    assert!(output.status.success() && !output.stdout.is_empty(), "{} does not decode", path.display());
    let mean = output.stdout.iter().map(|b| f64::from(*b)).sum::<f64>() / output.stdout.len() as f64;
    mean * 219.0 / 255.0 / 200.0 * seconds
}

/// Runs `video-thumbnails` with `count` on a [`ramp`] and checks that it makes exactly `count`
/// JPEGs 160 pixels wide, numbered in order, the i-th showing the frame on screen at the middle of
/// the i-th of `count` equal slices of the clip (the last frame for slices after the video ends).
async fn thumbnails_of_a_ramp(
    harness: &Harness,
    (seconds, fps, audio): (f64, u32, Option<f64>),
    count: usize,
) {
    let dir = tempfile::tempdir().unwrap();
    let clip = ramp(dir.path(), seconds, fps, audio);
    let case = format!("{seconds} s at {fps} fps with {audio:?} s of audio, count {count}");
    let fields = [("count", count.to_string()), ("width", "160".to_owned())];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = harness.run(components::VIDEO_THUMBNAILS, &[&clip], &fields).await;
    assert_completed(&run.status);
    let mut thumbs: Vec<_> = results(&run.status, "thumbnails").iter().collect();
    thumbs.sort_by(|a, b| a.name.cmp(&b.name));
    let names: Vec<&str> = thumbs.iter().map(|t| t.name.as_str()).collect();
    let expected: Vec<String> = (1..=count).map(|i| format!("ramp_{i:02}.jpg")).collect();
    assert_eq!(names, expected, "{case}");
    let frame = 1.0 / f64::from(fps);
    let container = audio.map_or(seconds, |audio| audio.max(seconds));
    for (i, thumb) in thumbs.iter().enumerate() {
        let path = result_path(thumb.url.as_deref().unwrap());
        let video = ffprobe(&path);
        let video = stream(&video, "video");
        assert_eq!(video["codec_name"], "mjpeg");
        assert_eq!((video["width"].as_u64(), video["height"].as_u64()), (Some(160), Some(90)));
        let middle = (2 * i + 1) as f64 * container / (2 * count) as f64;
        let on_screen = middle.min(seconds - frame);
        let shown = moment_shown(&path, seconds);
        // The frame on screen at `on_screen` started at most one frame before it.
        assert!(
            (on_screen - 1.25 * frame..=on_screen + 0.25 * frame).contains(&shown),
            "{case}: thumbnail {} shows {shown:.3} s, not the frame on screen at {on_screen:.3} s",
            i + 1
        );
    }
}

#[tokio::test]
async fn video_thumbnails_makes_exactly_count_frames_from_the_middles_of_equal_slices() {
    // With every ffmpeg build the host may run: the worker image ships the pinned one.
    for (build, tools) in ffmpeg_builds(true) {
        eprintln!("ffmpeg build: {build}");
        let harness = Harness::with_tools(JobLimits::default(), tools).await;
        thumbnails_of_a_ramp(&harness, (2.0, 25, None), 3).await;
        thumbnails_of_a_ramp(&harness, (2.0, 25, None), 7).await;
        thumbnails_of_a_ramp(&harness, (10.0, 5, None), 8).await;
        // Three frames, seven thumbnails: frames 1, 1, 2, 2, 2, 3, 3, each its own file.
        thumbnails_of_a_ramp(&harness, (0.12, 25, None), 7).await;
        // The video stops after 1 s of 3: the last slices show its last frame.
        thumbnails_of_a_ramp(&harness, (1.0, 25, Some(3.0)), 6).await;
    }
}

#[tokio::test]
async fn video_thumbnails_refuses_media_without_a_video_stream_or_a_duration() {
    let dir = tempfile::tempdir().unwrap();
    // A live WebM, as browsers record them, has no duration in its container.
    let live = lavfi(
        dir.path(),
        "live.webm",
        "testsrc2=size=320x180:rate=25:duration=1",
        &["-c:v", "libvpx-vp9", "-deadline", "realtime", "-live", "1"],
    );
    let harness = Harness::new().await;
    for (input, name, reason) in [
        (live.as_path(), "live.webm", "no duration"),
        (media().audio.as_path(), "tone.wav", "no video stream"),
    ] {
        let status = harness.run(components::VIDEO_THUMBNAILS, &[input], &[]).await.status;
        assert_eq!(status.error.map(|c| c.as_str()), Some("INPUT_INVALID"), "{name}: {status:?}");
        let prefix = format!("step `thumbnails`: input `{name}` cannot be processed: ");
        assert!(status.message.starts_with(&prefix) && status.message.contains(reason), "{}", status.message);
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

/// Heights of the renditions of an `hls` run, in the master playlist's order, each measured by
/// ffprobe on its own playlist.
fn rendition_heights(run: &Run) -> Vec<u64> {
    let files = results(&run.status, "hls");
    let master = files.iter().find(|f| f.name.ends_with("master.m3u8")).expect("master playlist emitted");
    let master = result_path(master.url.as_deref().unwrap());
    let text = std::fs::read_to_string(&master).unwrap();
    text.lines()
        .filter(|l| l.ends_with(".m3u8"))
        .map(|variant| {
            let probe = ffprobe(&master.parent().unwrap().join(variant));
            stream(&probe, "video")["height"].as_u64().expect("height")
        })
        .collect()
}

#[tokio::test]
async fn hls_makes_only_ladder_rungs_no_taller_than_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let harness = Harness::new().await;
    let cases: [(&str, &str, &[u64]); 4] = [
        ("1280x720", "3", &[720, 480, 360]),
        // Fewer rungs fit than asked for: only those.
        ("320x240", "3", &[240]),
        ("854x480", "4", &[480, 360, 240]),
        // Shorter than every rung: one rendition at its own height.
        ("320x180", "2", &[180]),
    ];
    for (size, renditions, expected) in cases {
        let graph = format!("testsrc2=size={size}:rate=25:duration=2");
        let clip = lavfi(dir.path(), &format!("{size}.mp4"), &graph, &H264);
        let run = harness.run(components::HLS, &[&clip], &[("renditions", renditions)]).await;
        assert_completed(&run.status);
        assert_eq!(rendition_heights(&run), expected, "{size} source, {renditions} renditions asked");
    }
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

#[tokio::test]
async fn a_component_built_against_the_previous_wit_still_runs() {
    let harness = Harness::new().await;
    let run = harness.run(components::OLD_WIT, &[&media().clip], &[]).await;
    assert_completed(&run.status);
    let results = &run.status.results["copy"];
    assert_eq!(results.len(), 1);
    let probed = ffprobe(&result_path(results[0].url.as_deref().unwrap()));
    assert_eq!(probed["streams"][0]["codec_name"], "h264");
}

#[tokio::test]
async fn two_spawned_ffmpeg_runs_go_on_at_once_in_one_rust_step() {
    let harness = Harness::new().await;
    let run = harness.run(components::SPAWN_TWO, &[&media().clip], &[]).await;
    assert_completed(&run.status);
    let widths: Vec<(String, u64)> = run.status.results["pair"]
        .iter()
        .map(|result| {
            let probed = ffprobe(&result_path(result.url.as_deref().unwrap()));
            let seconds = duration(&probed);
            assert!((seconds - 2.0).abs() < 0.2, "{}: {seconds} s", result.name);
            (result.name.clone(), probed["streams"][0]["width"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(widths, [("wide.mp4".to_owned(), 320), ("narrow.mp4".to_owned(), 160)]);
}

#[tokio::test]
async fn audio_encode_encodes_several_inputs_side_by_side_into_one_result_each() {
    let files = [&media().audio, &media().clip].map(|path| path.as_path());
    let run = Harness::new().await.run(components::AUDIO_ENCODE, &files, &[]).await;
    assert_completed(&run.status);
    let encoded = results(&run.status, "encode");
    assert_eq!(encoded.len(), 2);
    for mp3 in encoded {
        let probe = ffprobe(&result_path(mp3.url.as_deref().unwrap()));
        assert_eq!(stream(&probe, "audio")["codec_name"], "mp3", "{}", mp3.name);
    }
}
