//! Uploads with hostile or odd names (`50% off.mp4`, `concat:x.mp4`, `pipe:0.mp4`, a tab,
//! leading `-`/`.`, glob characters, long or non-Latin names) go through the built-in templates:
//! their outputs are named after the SDK's safe stem (`template-sdk/src/stem.rs`), so ffmpeg
//! never reads a name as a pattern or a protocol and the host never refuses one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use test_components as components;
use transflow_store::assembly::{AssemblyStatus, FileRecord};
use transflow_tests::{Harness, assert_completed, ffprobe, media, result_path, stream};

/// Upload names (without the extension) the brief is about, with the stems expected from them.
const HOSTILE: [(&str, &str); 4] =
    [("50% off", "50_off"), ("concat:x", "concat_x"), ("pipe:0", "pipe_0"), ("a\tb", "a_b")];

/// Other names the stem has to cope with.
const ODD: [(&str, &str); 7] = [
    ("-rf", "rf"),
    // A name that is only an extension: the host gives it the basename `.mp4`.
    ("", "mp4"),
    ("*?[x]{y}", "x_y"),
    ("back\\slash", "back_slash"),
    ("vidéo 1", "video_1"),
    ("日本語", "file-805f5ce7"),
    ("%2525d", "2525d"),
];

/// Copies of `source` in `dir`, one per `(basename, _)`, named `basename.ext`.
fn named_copies(source: &Path, dir: &Path, names: &[(&str, &str)], ext: &str) -> Vec<PathBuf> {
    names
        .iter()
        .map(|(basename, _)| {
            let path = dir.join(format!("{basename}.{ext}"));
            std::fs::copy(source, &path).unwrap_or_else(|e| panic!("copy to {}: {e}", path.display()));
            path
        })
        .collect()
}

/// The result names of `step`, by the name of the upload each derives from.
fn names_by_upload(status: &AssemblyStatus, step: &str) -> BTreeMap<String, Vec<String>> {
    let uploads: BTreeMap<&str, &str> =
        status.uploads.iter().map(|u| (u.id.as_str(), u.name.as_str())).collect();
    let mut by_upload: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for result in results(status, step) {
        let upload = uploads[result.original_id.as_deref().expect("results name their upload")];
        by_upload.entry(upload.to_owned()).or_default().push(result.name.clone());
    }
    by_upload.values_mut().for_each(|names| names.sort());
    by_upload
}

fn results<'a>(status: &'a AssemblyStatus, step: &str) -> &'a [FileRecord] {
    status
        .results
        .get(step)
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("no results for step {step}: {status:?}"))
}

/// `{stem}{suffix}` for every upload `{basename}.{ext}`, as [`names_by_upload`] gives them.
fn expected(names: &[(&str, &str)], ext: &str, suffixes: &[&str]) -> BTreeMap<String, Vec<String>> {
    names
        .iter()
        .map(|(basename, stem)| {
            (format!("{basename}.{ext}"), suffixes.iter().map(|suffix| format!("{stem}{suffix}")).collect())
        })
        .collect()
}

async fn thumbnails_of(names: &[(&str, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    let files = named_copies(&media().clip, dir.path(), names, "mp4");
    let files: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let run = Harness::new()
        .await
        .run(components::VIDEO_THUMBNAILS, &files, &[("count", "3"), ("width", "160")])
        .await;
    assert_completed(&run.status);
    assert_eq!(
        names_by_upload(&run.status, "thumbnails"),
        expected(names, "mp4", &["_01.jpg", "_02.jpg", "_03.jpg"])
    );
    for thumb in results(&run.status, "thumbnails") {
        let video = ffprobe(&result_path(thumb.url.as_deref().unwrap()));
        let video = stream(&video, "video");
        assert_eq!(video["codec_name"], "mjpeg", "{}", thumb.name);
        assert_eq!(
            (video["width"].as_u64(), video["height"].as_u64()),
            (Some(160), Some(90)),
            "{}",
            thumb.name
        );
    }
}

#[tokio::test]
async fn video_thumbnails_makes_count_frames_whatever_the_upload_is_called() {
    thumbnails_of(&HOSTILE).await;
}

#[tokio::test]
async fn video_thumbnails_copes_with_odd_long_and_non_latin_names() {
    let long = "n".repeat(200);
    let mut names = ODD.to_vec();
    names.push((&long, "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn-bbc8f365"));
    thumbnails_of(&names).await;
}

#[tokio::test]
async fn video_encode_names_each_mp4_after_the_stem() {
    let dir = tempfile::tempdir().unwrap();
    let files = named_copies(&media().clip, dir.path(), &HOSTILE, "mp4");
    let files: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let run = Harness::new()
        .await
        .run(components::VIDEO_ENCODE, &files, &[("height", "144"), ("preset", "ultrafast")])
        .await;
    assert_completed(&run.status);
    assert_eq!(names_by_upload(&run.status, "encode"), expected(&HOSTILE, "mp4", &[".mp4"]));
    for mp4 in results(&run.status, "encode") {
        let probe = ffprobe(&result_path(mp4.url.as_deref().unwrap()));
        assert_eq!(stream(&probe, "video")["codec_name"], "h264", "{}", mp4.name);
        assert_eq!(stream(&probe, "video")["height"].as_u64(), Some(144), "{}", mp4.name);
        assert_eq!(stream(&probe, "audio")["codec_name"], "aac", "{}", mp4.name);
    }
}

#[tokio::test]
async fn audio_encode_names_the_mp3_and_the_waveform_after_the_stem() {
    let dir = tempfile::tempdir().unwrap();
    let files = named_copies(&media().audio, dir.path(), &HOSTILE, "wav");
    let files: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let run = Harness::new()
        .await
        .run(
            components::AUDIO_ENCODE,
            &files,
            &[("bitrate", "64"), ("waveform_width", "64"), ("waveform_height", "32")],
        )
        .await;
    assert_completed(&run.status);
    assert_eq!(names_by_upload(&run.status, "encode"), expected(&HOSTILE, "wav", &[".mp3"]));
    assert_eq!(names_by_upload(&run.status, "waveform"), expected(&HOSTILE, "wav", &["_waveform.png"]));
    for mp3 in results(&run.status, "encode") {
        let probe = ffprobe(&result_path(mp3.url.as_deref().unwrap()));
        assert_eq!(stream(&probe, "audio")["codec_name"], "mp3", "{}", mp3.name);
    }
}

#[tokio::test]
async fn hls_puts_each_video_in_a_directory_named_after_the_stem() {
    let names = [HOSTILE[0], HOSTILE[1]];
    let dir = tempfile::tempdir().unwrap();
    let files = named_copies(&media().clip, dir.path(), &names, "mp4");
    let files: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let run = Harness::new().await.run(components::HLS, &files, &[("renditions", "2")]).await;
    assert_completed(&run.status);
    let by_upload = names_by_upload(&run.status, "hls");
    for (basename, stem) in names {
        let emitted = &by_upload[&format!("{basename}.mp4")];
        assert!(emitted.contains(&format!("{stem}/master.m3u8")), "{emitted:?}");
        for rendition in ["v0", "v1"] {
            assert!(emitted.contains(&format!("{stem}/{rendition}/index.m3u8")), "{emitted:?}");
            assert!(emitted.contains(&format!("{stem}/{rendition}/seg_000.ts")), "{emitted:?}");
        }
        assert!(emitted.iter().all(|name| name.starts_with(&format!("{stem}/"))), "{emitted:?}");
    }
}

#[tokio::test]
async fn image_resize_names_each_image_after_the_stem() {
    let names = [HOSTILE[0], HOSTILE[2]];
    let dir = tempfile::tempdir().unwrap();
    let files = named_copies(&media().image, dir.path(), &names, "png");
    let files: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let run = Harness::new()
        .await
        .run(components::IMAGE_RESIZE, &files, &[("width", "160"), ("height", "160")])
        .await;
    assert_completed(&run.status);
    assert_eq!(names_by_upload(&run.status, "resize"), expected(&names, "png", &[".jpg"]));
    for image in results(&run.status, "resize") {
        let probe = ffprobe(&result_path(image.url.as_deref().unwrap()));
        assert_eq!(stream(&probe, "video")["width"].as_u64(), Some(160), "{}", image.name);
    }
}
