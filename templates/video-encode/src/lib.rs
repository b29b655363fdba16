//! `video-encode`: an H.264/AAC MP4 of each video at a target height, optionally also a VP9/Opus WebM.
//!
//! Fields: `height` (144–2160, default 720; never upscales: the output is at most the source's
//! height), `preset` (libx264 preset: ultrafast, superfast, veryfast, faster, fast, medium or slow;
//! default veryfast), `crf` (16–35, default 23), `webm` (true/false, default false: the `webm` step
//! also writes a WebM at the same height). Inputs without audio get outputs without audio.
//! Each video `clip.mov` yields `clip.mp4` (and `clip.webm`), named after the input's safe stem.

use transflow_sdk::prelude::*;

const PRESETS: &[&str] = &["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow"];

struct VideoEncode;

/// What a step writes: the container's extension and its codec and muxer options, space-separated.
struct Format {
    ext: &'static str,
    video: String,
    audio: &'static str,
    muxer: &'static str,
}

impl Template for VideoEncode {
    fn describe() -> TemplateInfo {
        TemplateInfo::new(
            "video-encode",
            "H.264/AAC MP4 of each video at a target height, and optionally a VP9/Opus WebM",
        )
        .field(
            "height",
            "Output height in pixels, 144 to 2160; never more than the source's height",
            Some("720"),
        )
        .field(
            "preset",
            "libx264 speed preset: ultrafast, superfast, veryfast, faster, fast, medium or slow",
            Some("veryfast"),
        )
        .field("crf", "libx264 constant rate factor, 16 (best) to 35 (smallest)", Some("23"))
        .field("webm", "Also write a VP9/Opus WebM at the same height: true or false", Some("false"))
        .step(StepInfo::new("encode", "an H.264/AAC MP4 of each video").uses(ORIGINAL))
        .step(StepInfo::new("webm", "a VP9/Opus WebM of each video, when `webm` is true").uses(ORIGINAL))
    }

    fn run_step(step: &str, ctx: &Context) -> Result<(), StepError> {
        let format = match step {
            "encode" => {
                let preset = ctx.field_choice("preset", "veryfast", PRESETS)?;
                let crf: u32 = ctx.field_in("crf", 23, 16..=35)?;
                Format {
                    ext: "mp4",
                    video: format!("-c:v libx264 -preset {preset} -crf {crf}"),
                    audio: "-c:a aac -b:a 128k",
                    muxer: "-movflags +faststart",
                }
            }
            "webm" => {
                if !ctx.field_bool("webm", false)? {
                    ctx.progress(1.0, Some("skipped: field `webm` is false"));
                    return Ok(());
                }
                Format {
                    ext: "webm",
                    video: "-c:v libvpx-vp9 -b:v 0 -crf 33 -deadline realtime -cpu-used 8 -row-mt 1".into(),
                    audio: "-c:a libopus -b:a 96k",
                    muxer: "",
                }
            }
            other => return Err(StepError::failed(format!("unknown step `{other}`"))),
        };
        encode(ctx, &format)
    }
}

/// Encodes every input into `format` at the `height` field, never upscaling.
fn encode(ctx: &Context, format: &Format) -> Result<(), StepError> {
    let target: u32 = ctx.field_in("height", 720, 144..=2160)?;
    let inputs = ctx.inputs();
    let share = 1.0 / inputs.len() as f32;
    for (index, input) in inputs.iter().enumerate() {
        input.media()?;
        let (_, source) = input
            .dimensions()
            .ok_or_else(|| StepError::failed(format!("{} has no video stream", input.name)))?;
        // H.264 and VP9 in 4:2:0 need even dimensions; `-2` keeps the width even too.
        let height = (target.min(source) & !1).max(2);
        let scale = format!("scale=-2:{height}");
        let out = ctx.reserve_output(&format!("{}.{}", input.stem(), format.ext))?;
        let mut args = vec!["-i", &input.path, "-map", "0:v:0", "-vf", &scale];
        args.extend(format.video.split_whitespace());
        args.extend(["-pix_fmt", "yuv420p"]);
        if input.has_audio() {
            args.extend(["-map", "0:a:0"]);
            args.extend(format.audio.split_whitespace());
        } else {
            args.push("-an");
        }
        args.extend(format.muxer.split_whitespace());
        args.push(&out);
        ctx.ffmpeg(args).progress(index as f32 * share, (index + 1) as f32 * share).run()?;
        ctx.emit(&out, Some(&input.original_id))?;
    }
    Ok(())
}

transflow_sdk::export!(VideoEncode);
