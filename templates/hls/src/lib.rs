//! `hls`: adaptive HLS of each video: H.264/AAC renditions no taller than the source, with a
//! master playlist.
//!
//! Fields: `renditions` (2–4, default 3): at most how many rungs of the ladder 1080, 720, 480,
//! 360, 240 lines to make: the tallest rungs no taller than the source, so nothing is upscaled and
//! no other height appears. A source with fewer fitting rungs gets only those (a 360-line source
//! gets 360 and 240, a 240-line one 240 alone); a source shorter than 240 lines gets one
//! rendition at its own height (made even).
//!
//! Each video `clip.mp4` yields `clip/master.m3u8`, and `clip/v0/index.m3u8` with its
//! `clip/v0/seg_000.ts`… per rendition (`v0` the tallest); the directory is the input's safe
//! stem (`50% off.mp4` → `50_off/`). Segments are 4 s long, with a keyframe every 2 s.

use transflow_sdk::prelude::*;

const LADDER: [u32; 5] = [1080, 720, 480, 360, 240];

struct Hls;

impl Template for Hls {
    fn describe() -> TemplateInfo {
        TemplateInfo::new("hls", "Adaptive HLS of each video: H.264/AAC renditions and a master playlist")
            .field(
                "renditions",
                "At most how many renditions, 2 to 4: the tallest of 1080, 720, 480, 360 and 240 lines no taller \
                 than the source (fewer when fewer fit; one at the source's own height below 240 lines)",
                Some("3"),
            )
            .step(StepInfo::new("hls", "master playlist, rendition playlists and segments of each video").uses(ORIGINAL))
    }

    fn run_step(_step: &str, ctx: &Context) -> Result<(), StepError> {
        let renditions: usize = ctx.field_in("renditions", 3, 2..=4)?;
        let inputs = ctx.inputs();
        let share = 1.0 / inputs.len() as f32;
        for (index, input) in inputs.iter().enumerate() {
            input.media()?;
            let (_, source) = input
                .dimensions()
                .ok_or_else(|| StepError::failed(format!("{} has no video stream", input.name)))?;
            let heights = heights(source, renditions);
            let framerate =
                input.meta.as_ref().and_then(|m| m.framerate).filter(|f| *f > 0.0).unwrap_or(25.0);
            let gop = ((framerate * 2.0).round() as u32).max(1);
            let audio = input.has_audio();

            // ffmpeg 5.1 creates the `v0/`, `v1/`… directories itself and writes the master
            // playlist one level above them, where `master.m3u8` is reserved.
            let stem = input.stem();
            let master = ctx.reserve_output(&format!("{stem}/master.m3u8"))?;
            let playlists = ctx.reserve_output(&format!("{stem}/v%v/index.m3u8"))?;
            let segments = ctx.reserve_output(&format!("{stem}/v%v/seg_%03d.ts"))?;

            let splits: String = (0..heights.len()).map(|i| format!("[s{i}]")).collect();
            let scales: String =
                heights.iter().enumerate().map(|(i, h)| format!(";[s{i}]scale=-2:{h}[v{i}]")).collect();
            let graph = format!("[0:v:0]split={}{splits}{scales}", heights.len());

            // Whitespace-free options; paths and the stream map are added as whole arguments.
            let mut options = String::new();
            let mut stream_map = Vec::new();
            for (i, height) in heights.iter().enumerate() {
                options += &format!(" -map [v{i}] -c:v:{i} libx264 -b:v:{i} {}k", bitrate_kbps(*height));
                if audio {
                    options += " -map 0:a:0";
                    stream_map.push(format!("v:{i},a:{i}"));
                } else {
                    stream_map.push(format!("v:{i}"));
                }
            }
            options +=
                &format!(" -preset veryfast -pix_fmt yuv420p -g {gop} -keyint_min {gop} -sc_threshold 0");
            if audio {
                options += " -c:a aac -b:a 128k";
            }
            let stream_map = stream_map.join(" ");
            let args = ["-i", &input.path, "-filter_complex", &graph]
                .into_iter()
                .chain(options.split_whitespace())
                .chain(["-f", "hls", "-hls_time", "4", "-hls_playlist_type", "vod"])
                .chain(["-hls_segment_filename", &segments, "-master_pl_name", "master.m3u8"])
                .chain(["-var_stream_map", &stream_map, &playlists]);

            ctx.info(&format!("{}: renditions of {heights:?} lines", input.name));
            ctx.ffmpeg(args).progress(index as f32 * share, (index + 1) as f32 * share).run()?;
            ctx.emit(&master, Some(&input.original_id))?;
            ctx.emit_pending(Some(&input.original_id))?;
        }
        Ok(())
    }
}

/// Rendition heights, tallest first: up to `renditions` rungs of [`LADDER`] no taller than
/// `source`, or the source's own height (made even) when no rung fits. Never a height the
/// documentation does not name: a short source gets fewer renditions, not invented ones.
fn heights(source: u32, renditions: usize) -> Vec<u32> {
    let fit: Vec<u32> = LADDER.into_iter().filter(|h| *h <= source).take(renditions).collect();
    if fit.is_empty() { vec![(source & !1).max(2)] } else { fit }
}

/// Video bit rate in kbit/s for a rendition of `height` lines.
fn bitrate_kbps(height: u32) -> u32 {
    match height {
        1080 => 5000,
        720 => 2800,
        480 => 1400,
        360 => 800,
        240 => 400,
        other => other * 4,
    }
}

transflow_sdk::export!(Hls);
