//! `video-thumbnails`: `count` JPEG thumbnails of each video, one from the middle of each of
//! `count` equal slices of its duration.
//!
//! Fields: `count` (1–100, default 8), `width` (16–3840, default 320; height keeps the aspect).
//! Thumbnail `i` (from 1) is the frame on screen at `(2i − 1) / (2 · count)` of the probed
//! duration: a 2 s clip with `count` 4 gives the frames shown at 0.25, 0.75, 1.25 and 1.75 s.
//! Every video gives exactly `count` files, all from one ffmpeg run: a clip with fewer frames
//! than `count` repeats frames (each repeat still its own file), and slices after the end of a
//! video stream shorter than its container show its last frame. An input without a video
//! stream, or whose container records no duration (a still image, a raw stream, a live
//! recording such as a browser's WebM), fails with `INPUT_INVALID`.
//!
//! Each video `clip.mp4` yields `clip_01.jpg`, `clip_02.jpg`…, named after the input's safe stem
//! (`50% off.mp4` → `50_off_01.jpg`).

use transflow_sdk::prelude::*;

struct VideoThumbnails;

impl Template for VideoThumbnails {
    fn describe() -> TemplateInfo {
        TemplateInfo::new(
            "video-thumbnails",
            "JPEG thumbnails of each video, one from the middle of each of count equal slices",
        )
        .field("count", "How many thumbnails per video, 1 to 100; always exactly this many", Some("8"))
        .field("width", "Thumbnail width in pixels, 16 to 3840; height keeps the aspect ratio", Some("320"))
        .step(
            StepInfo::new(
                "thumbnails",
                "the frames on screen at the middles of count equal slices of the video",
            )
            .uses(ORIGINAL),
        )
    }

    fn run_step(_step: &str, ctx: &Context) -> Result<(), StepError> {
        let count: u32 = ctx.field_in("count", 8, 1..=100)?;
        let width: u32 = ctx.field_in("width", 320, 16..=3840)?;
        let inputs = ctx.inputs();
        for (index, input) in inputs.iter().enumerate() {
            input.media()?;
            if !input.has_video() {
                return Err(input.invalid("it has no video stream to take thumbnails from"));
            }
            let duration = input.duration().filter(|d| *d > 0.0).ok_or_else(|| {
                input.invalid(
                    "its container records no duration (a still image, a raw stream or a live \
                     recording), so thumbnails cannot be spread over it; remux it into a file \
                     that records one, e.g. `ffmpeg -i in.webm -c copy out.mkv`",
                )
            })?;
            let out = ctx.reserve_output(&format!("{}_%02d.jpg", input.stem()))?;
            let filter = middles_of_slices(duration, count, width);
            let share = 1.0 / inputs.len() as f32;
            ctx.ffmpeg([
                "-i",
                &input.path,
                "-vf",
                &filter,
                "-frames:v",
                &count.to_string(),
                "-q:v",
                "3",
                &out,
            ])
            .progress(index as f32 * share, (index + 1) as f32 * share)
            .run()?;
            ctx.emit_pending(Some(&input.original_id))?;
        }
        Ok(())
    }
}

/// The filter chain that picks, in one decoding pass, the frame on screen at the middle of each
/// of `count` equal slices of `duration` seconds and scales it to `width`.
///
/// `fps` emits one frame per slice at multiples of the slice length, and with `round=up` each is
/// the last frame starting at or before its tick; shifting the timestamps back by half a slice
/// puts the ticks on the middles. `tpad` repeats the last frame past the end of the stream, so
/// the last ticks exist even when the video stream ends before the container's duration, and
/// `-frames:v count` stops the run. `tpad` comes before `setpts` because it counts its duration
/// in frames of the stream's rate, which ffmpeg 7's `setpts` leaves unknown. Integer
/// milliseconds keep the arguments exact and the same as the TypeScript twin's.
fn middles_of_slices(duration: f64, count: u32, width: u32) -> String {
    let millis = ((duration * 1000.0).round() as u64).max(1);
    let count = u64::from(count);
    let half_slice = format!("{millis}/{}", 2000 * count);
    let rate = format!("{}/{millis}", 1000 * count);
    format!(
        "tpad=stop_mode=clone:stop_duration={millis}ms,setpts=PTS-STARTPTS-{half_slice}/TB,\
         fps=fps={rate}:start_time=0:round=up,scale={width}:-2"
    )
}

transflow_sdk::export!(VideoThumbnails);
