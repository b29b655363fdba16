//! `audio-encode`: an MP3 or AAC (M4A) encode and a PNG waveform of each audio or video file's
//! first audio stream.
//!
//! Fields: `format` (mp3 or aac, default mp3), `bitrate` (kbit/s, 32–320, default 192; MP3 rounds
//! it to the nearest standard rate), `waveform_width` (64–4096, default 1200) and
//! `waveform_height` (32–1024, default 240). An input without audio fails the step.
//! Each file `clip.wav` yields `clip.mp3` (or `clip.m4a`) and `clip_waveform.png`, named after
//! the input's safe stem.

use transflow_sdk::prelude::*;

/// Encodes started before the step waits for them.
const RUNS_AT_ONCE: usize = 4;

struct AudioEncode;

impl Template for AudioEncode {
    fn describe() -> TemplateInfo {
        TemplateInfo::new("audio-encode", "MP3 or AAC encode and a PNG waveform of each file's audio")
            .field("format", "Audio format: mp3 (MP3 file) or aac (AAC in an .m4a file)", Some("mp3"))
            .field("bitrate", "Audio bit rate in kbit/s, 32 to 320", Some("192"))
            .field("waveform_width", "Waveform image width in pixels, 64 to 4096", Some("1200"))
            .field("waveform_height", "Waveform image height in pixels, 32 to 1024", Some("240"))
            .step(StepInfo::new("encode", "the audio as MP3 or AAC").uses(ORIGINAL))
            .step(StepInfo::new("waveform", "a PNG picture of the audio's waveform").uses(ORIGINAL))
    }

    fn run_step(step: &str, ctx: &Context) -> Result<(), StepError> {
        // Per input: the output name's suffix and the whitespace-free ffmpeg options.
        let (suffix, options) = match step {
            "encode" => {
                let bitrate: u32 = ctx.field_in("bitrate", 192, 32..=320)?;
                match ctx.field_choice("format", "mp3", &["mp3", "aac"])?.as_str() {
                    "mp3" => (".mp3", format!("-vn -c:a libmp3lame -b:a {bitrate}k")),
                    _ => (".m4a", format!("-vn -c:a aac -b:a {bitrate}k -movflags +faststart")),
                }
            }
            "waveform" => {
                let width: u32 = ctx.field_in("waveform_width", 1200, 64..=4096)?;
                let height: u32 = ctx.field_in("waveform_height", 240, 32..=1024)?;
                // One mono waveform: with several channels only the first would get the colour.
                let graph = format!(
                    "[0:a:0]aformat=channel_layouts=mono,showwavespic=s={width}x{height}:colors=#3b82f6"
                );
                ("_waveform.png", format!("-filter_complex {graph} -frames:v 1"))
            }
            other => return Err(StepError::failed(format!("unknown step `{other}`"))),
        };
        let inputs = ctx.inputs();
        if let Some(silent) = inputs.iter().find(|input| !input.has_audio()) {
            return Err(StepError::failed(format!("{} has no audio stream", silent.name)));
        }
        let share = 1.0 / inputs.len() as f32;
        // Audio encoders use one core each, so several inputs encode side by side, a few at a
        // time to stay well under the host's bound on runs a step holds.
        for (chunk, batch) in inputs.chunks(RUNS_AT_ONCE).enumerate() {
            let mut runs = Vec::new();
            let mut outputs = Vec::new();
            for (offset, input) in batch.iter().enumerate() {
                let index = chunk * RUNS_AT_ONCE + offset;
                let out = ctx.reserve_output(&format!("{}{suffix}", input.stem()))?;
                let args =
                    ["-i", &input.path].into_iter().chain(options.split_whitespace()).chain([out.as_str()]);
                runs.push(
                    ctx.ffmpeg(args).progress(index as f32 * share, (index + 1) as f32 * share).spawn()?,
                );
                outputs.push((out, input));
            }
            join_all(runs)?;
            for (out, input) in outputs {
                ctx.emit(&out, Some(&input.original_id))?;
            }
        }
        Ok(())
    }
}

transflow_sdk::export!(AudioEncode);
