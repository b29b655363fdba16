//! `{{name}}`: a JPEG poster frame from the middle of each video.
//!
//! Fields: `width` (16–3840, default 640; height keeps the aspect ratio).

use transflow_sdk::prelude::*;

struct {{type_name}};

impl Template for {{type_name}} {
    fn describe() -> TemplateInfo {
        TemplateInfo::new("{{name}}", "A JPEG poster frame from the middle of each video")
            .field("width", "Poster width in pixels, 16 to 3840; height keeps the aspect ratio", Some("640"))
            .step(StepInfo::new("poster", "the middle frame as a JPEG").uses(ORIGINAL))
    }

    fn run_step(_step: &str, ctx: &Context) -> Result<(), StepError> {
        let width: u32 = ctx.field_in("width", 640, 16..=3840)?;
        for input in ctx.inputs() {
            input.media()?;
            let middle = input.duration().unwrap_or(0.0) / 2.0;
            // Output names come from the input's stem: its name made safe for ffmpeg and the host.
            let out = ctx.reserve_output(&format!("{}.jpg", input.stem()))?;
            let scale = format!("scale={width}:-2");
            ctx.ffmpeg(["-ss", &format!("{middle:.3}"), "-i", &input.path, "-vf", &scale, "-frames:v", "1", &out])
                .run()?;
            ctx.emit(&out, Some(&input.original_id))?;
        }
        Ok(())
    }
}

transflow_sdk::export!({{type_name}});
