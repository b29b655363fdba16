//! Media metadata read from ffprobe's JSON, shaped like Transloadit's `meta`, or from a still
//! image's header where that settles everything ffprobe would say.

use serde::{Deserialize, Serialize};

/// What ffprobe says about a file. Every field is optional: images have no duration, audio
/// has no width.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MediaMeta {
    /// Container format as ffprobe names it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Width of the first video stream in pixels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Height of the first video stream in pixels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Duration in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    /// Frames per second of the first video stream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub framerate: Option<f64>,
    /// Codec of the first video stream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video_codec: Option<String>,
    /// Codec of the first audio stream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio_codec: Option<String>,
    /// Overall bit rate in bits/s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bitrate: Option<u64>,
    /// Bit rate of the first video stream in bits/s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video_bitrate: Option<u64>,
    /// Bit rate of the first audio stream in bits/s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio_bitrate: Option<u64>,
    /// Sample rate of the first audio stream in Hz.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_rate: Option<u32>,
    /// Channels of the first audio stream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<u32>,
}

/// The parts of `ffprobe -print_format json -show_format -show_streams` we read.
#[derive(Debug, Deserialize)]
struct Probe {
    #[serde(default)]
    streams: Vec<Stream>,
    format: Option<Format>,
}

#[derive(Debug, Deserialize)]
struct Stream {
    codec_type: Option<String>,
    codec_name: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    avg_frame_rate: Option<String>,
    r_frame_rate: Option<String>,
    bit_rate: Option<String>,
    sample_rate: Option<String>,
    channels: Option<u32>,
    duration: Option<String>,
    disposition: Option<Disposition>,
}

#[derive(Debug, Deserialize)]
struct Disposition {
    #[serde(default)]
    attached_pic: u8,
}

#[derive(Debug, Deserialize)]
struct Format {
    format_name: Option<String>,
    duration: Option<String>,
    bit_rate: Option<String>,
}

impl MediaMeta {
    /// Reads ffprobe's JSON. Returns `None` when it found no audio or video stream at all,
    /// which is how ffprobe describes a file that is not media.
    pub fn from_ffprobe_json(json: &str) -> Option<MediaMeta> {
        let probe: Probe = serde_json::from_str(json).ok()?;
        let stream_of = |kind: &str| {
            probe.streams.iter().find(|s| {
                s.codec_type.as_deref() == Some(kind)
                    && s.disposition.as_ref().is_none_or(|d| d.attached_pic == 0)
            })
        };
        let video = stream_of("video");
        let audio = stream_of("audio");
        if video.is_none() && audio.is_none() {
            return None;
        }
        let format = probe.format.as_ref();
        let duration = format
            .and_then(|f| parse_f64(f.duration.as_deref()))
            .or_else(|| video.and_then(|v| parse_f64(v.duration.as_deref())))
            .or_else(|| audio.and_then(|a| parse_f64(a.duration.as_deref())))
            .filter(|d| *d > 0.0);
        Some(MediaMeta {
            format: format.and_then(|f| f.format_name.clone()),
            width: video.and_then(|v| v.width),
            height: video.and_then(|v| v.height),
            duration,
            framerate: video.and_then(|v| {
                parse_ratio(v.avg_frame_rate.as_deref()).or_else(|| parse_ratio(v.r_frame_rate.as_deref()))
            }),
            video_codec: video.and_then(|v| v.codec_name.clone()),
            audio_codec: audio.and_then(|a| a.codec_name.clone()),
            bitrate: format.and_then(|f| parse_u64(f.bit_rate.as_deref())),
            video_bitrate: video.and_then(|v| parse_u64(v.bit_rate.as_deref())),
            audio_bitrate: audio.and_then(|a| parse_u64(a.bit_rate.as_deref())),
            sample_rate: audio.and_then(|a| parse_u64(a.sample_rate.as_deref())).map(|r| r as u32),
            channels: audio.and_then(|a| a.channels),
        })
    }
}

/// ffprobe starts a `.jpg` on its first 2048 bytes; when a JPEG ends within them its own
/// demuxer (`jpeg_pipe`) wins over the extension's (`image2`).
const FFPROBE_FIRST_READ: u64 = 2048;

impl MediaMeta {
    /// What ffprobe would say of a still JPEG, PNG or WebP image that starts with `head`, is
    /// `size` bytes long and is named with the extension `ext` (lower case), read from its
    /// header in-process; `None` when the header does not settle it (another type, an
    /// animation, a header past `head`, a small JPEG or one not named `.jpg`/`.jpeg`), so the
    /// caller asks ffprobe.
    ///
    /// Format, size and codec are ffprobe's. Duration, frame rate and bit rate are left out: for
    /// a still image ffprobe reports its demuxer's default of 25 frames a second (a `.jpg` then
    /// "lasts" 0.04 s at size × 200 bit/s), which describes ffmpeg, not the image.
    pub fn of_still_image(head: &[u8], size: u64, ext: &str) -> Option<MediaMeta> {
        let (format, codec) = match imagesize::image_type(head).ok()? {
            imagesize::ImageType::Jpeg if size > FFPROBE_FIRST_READ && matches!(ext, "jpg" | "jpeg") => {
                ("image2", "mjpeg")
            }
            imagesize::ImageType::Png if png_is_still(head)? => ("png_pipe", "png"),
            imagesize::ImageType::Webp if webp_is_still(head)? => ("webp_pipe", "webp"),
            _ => return None,
        };
        let dimensions = imagesize::blob_size(head).ok()?;
        Some(MediaMeta {
            format: Some(format.to_owned()),
            width: Some(u32::try_from(dimensions.width).ok()?),
            height: Some(u32::try_from(dimensions.height).ok()?),
            video_codec: Some(codec.to_owned()),
            ..MediaMeta::default()
        })
    }
}

/// Whether a PNG is a single image: `Some(false)` for an animated PNG (an `acTL` chunk before
/// the first `IDAT`, which ffprobe reads as `apng` with a duration), `None` when `head` ends
/// before either.
fn png_is_still(head: &[u8]) -> Option<bool> {
    let mut at = 8;
    loop {
        let length = u32::from_be_bytes(head.get(at..at + 4)?.try_into().ok()?) as usize;
        match head.get(at + 4..at + 8)? {
            b"acTL" => return Some(false),
            b"IDAT" => return Some(true),
            _ => at = at.checked_add(12)?.checked_add(length)?,
        }
    }
}

/// Whether a WebP is a single image: an extended (`VP8X`) file says in its flags whether it is
/// animated; simple ones (`VP8 `, `VP8L`) never are.
fn webp_is_still(head: &[u8]) -> Option<bool> {
    const ANIMATION_FLAG: u8 = 0x02;
    match head.get(12..16)? {
        b"VP8X" => Some(head.get(20)? & ANIMATION_FLAG == 0),
        b"VP8 " | b"VP8L" => Some(true),
        _ => None,
    }
}

fn parse_f64(text: Option<&str>) -> Option<f64> {
    text?.parse::<f64>().ok().filter(|v| v.is_finite())
}

fn parse_u64(text: Option<&str>) -> Option<u64> {
    text?.parse().ok()
}

/// ffprobe writes frame rates as `num/den`; `0/0` means unknown.
fn parse_ratio(text: Option<&str>) -> Option<f64> {
    let (num, den) = text?.split_once('/')?;
    let (num, den): (f64, f64) = (num.parse().ok()?, den.parse().ok()?);
    (num > 0.0 && den > 0.0).then(|| (num / den * 1000.0).round() / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_video_and_audio_streams() {
        let json = r#"{"streams":[
            {"codec_type":"video","codec_name":"h264","width":1280,"height":720,"avg_frame_rate":"30000/1001","bit_rate":"1000000"},
            {"codec_type":"audio","codec_name":"aac","sample_rate":"48000","channels":2,"bit_rate":"128000"}],
            "format":{"format_name":"mov,mp4,m4a,3gp,3g2,mj2","duration":"10.000000","bit_rate":"1130000"}}"#;
        let meta = MediaMeta::from_ffprobe_json(json).unwrap();
        assert_eq!((meta.width, meta.height), (Some(1280), Some(720)));
        assert_eq!(meta.framerate, Some(29.97));
        assert_eq!(meta.duration, Some(10.0));
        assert_eq!(meta.audio_codec.as_deref(), Some("aac"));
        assert_eq!(meta.sample_rate, Some(48000));
        assert_eq!(meta.bitrate, Some(1_130_000));
    }

    #[test]
    fn cover_art_is_not_the_video_stream() {
        let json = r#"{"streams":[
            {"codec_type":"audio","codec_name":"mp3"},
            {"codec_type":"video","codec_name":"mjpeg","width":500,"height":500,"disposition":{"attached_pic":1}}],
            "format":{"format_name":"mp3","duration":"3.5"}}"#;
        let meta = MediaMeta::from_ffprobe_json(json).unwrap();
        assert_eq!(meta.video_codec, None);
        assert_eq!(meta.width, None);
    }

    /// `name` made by ffmpeg in `dir` from `testsrc` at `size` with `options`.
    fn made(dir: &std::path::Path, name: &str, size: &str, options: &[&str]) -> std::path::PathBuf {
        let path = dir.join(name);
        let status = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i"])
            .arg(format!("testsrc=size={size}:rate=5:duration=1"))
            .args(options)
            .arg(&path)
            .status()
            .expect("ffmpeg is installed");
        assert!(status.success(), "ffmpeg made no {name}");
        path
    }

    #[test]
    fn still_images_are_described_from_their_headers_as_ffprobe_describes_them() {
        let dir = tempfile::tempdir().unwrap();
        let one = ["-frames:v", "1"];
        let cases = [
            (made(dir.path(), "still.jpg", "320x180", &one), true),
            (made(dir.path(), "still.JPEG", "320x180", &one), true),
            (made(dir.path(), "still.png", "33x17", &one), true),
            (made(dir.path(), "still.webp", "320x180", &one), true),
            // ffprobe reads these as `jpeg_pipe` (too small, or not named as a JPEG), `apng`
            // and an animation of unknown size: they are left to ffprobe.
            (made(dir.path(), "tiny.jpg", "16x16", &one), false),
            (
                made(
                    dir.path(),
                    "still-jpeg.mp4",
                    "320x180",
                    &[&one[..], &["-f", "image2", "-c:v", "mjpeg"]].concat(),
                ),
                false,
            ),
            (made(dir.path(), "moving.png", "64x48", &["-f", "apng"]), false),
            (made(dir.path(), "moving.webp", "64x48", &["-loop", "0"]), false),
        ];
        for (path, described) in cases {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::read(&path).unwrap();
            let ext = name.rsplit_once('.').unwrap().1.to_ascii_lowercase();
            let from_header = MediaMeta::of_still_image(&bytes, bytes.len() as u64, &ext);
            assert_eq!(from_header.is_some(), described, "{name}: {from_header:?}");
            let Some(meta) = from_header else { continue };
            let output = std::process::Command::new("ffprobe")
                .args(["-v", "error", "-print_format", "json", "-show_format", "-show_streams"])
                .arg(&path)
                .output()
                .expect("ffprobe is installed");
            let probed = MediaMeta::from_ffprobe_json(&String::from_utf8_lossy(&output.stdout)).unwrap();
            let seen = |m: &MediaMeta| (m.format.clone(), m.width, m.height, m.video_codec.clone());
            assert_eq!(seen(&meta), seen(&probed), "{name}");
            assert_eq!((meta.duration, meta.framerate, meta.bitrate), (None, None, None), "{name}");
        }
        // A header cut short is left to ffprobe too.
        let jpeg = std::fs::read(dir.path().join("still.jpg")).unwrap();
        assert_eq!(MediaMeta::of_still_image(&jpeg[..4], jpeg.len() as u64, "jpg"), None);
    }

    #[test]
    fn no_streams_is_not_media() {
        assert_eq!(MediaMeta::from_ffprobe_json(r#"{"streams":[],"format":{}}"#), None);
        assert_eq!(MediaMeta::from_ffprobe_json("not json"), None);
    }
}
