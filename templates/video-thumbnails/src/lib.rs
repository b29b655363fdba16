//! `video-thumbnails`: N JPEG thumbnails taken at even intervals of each video.
//!
//! Fields: `count` (1–100, default 8), `width` (16–3840, default 320; height keeps the aspect).
//! Each video `clip.mp4` yields `clip_01.jpg`, `clip_02.jpg`…, named after the input's safe stem
//! (`50% off.mp4` → `50_off_01.jpg`).

use transflow_sdk::prelude::*;

struct VideoThumbnails;

impl Template for VideoThumbnails {
    fn describe() -> TemplateInfo {
        TemplateInfo::new("video-thumbnails", "JPEG thumbnails at even intervals of each video")
            .field("count", "How many thumbnails per video, 1 to 100", Some("8"))
            .field(
                "width",
                "Thumbnail width in pixels, 16 to 3840; height keeps the aspect ratio",
                Some("320"),
            )
            .step(
                StepInfo::new("thumbnails", "count JPEG frames spread evenly over the video").uses(ORIGINAL),
            )
    }

    fn run_step(_step: &str, ctx: &Context) -> Result<(), StepError> {
        let count: u32 = ctx.field_in("count", 8, 1..=100)?;
        let width: u32 = ctx.field_in("width", 320, 16..=3840)?;
        let inputs = ctx.inputs();
        for (index, input) in inputs.iter().enumerate() {
            input.media()?;
            let duration = input.duration().filter(|d| *d > 0.0).ok_or_else(|| {
                StepError::failed(format!("{} has no duration: is it a video?", input.name))
            })?;
            // One frame from the middle of each of `count` equal slices of the video.
            let interval = duration / f64::from(count);
            let out = ctx.reserve_output(&format!("{}_%02d.jpg", input.stem()))?;
            let seek = format!("{:.6}", interval / 2.0);
            let filter = format!("fps=1/{interval:.6},scale={width}:-2");
            let share = 1.0 / inputs.len() as f32;
            ctx.ffmpeg([
                "-ss",
                &seek,
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

transflow_sdk::export!(VideoThumbnails);
