//! `image-resize`: each image fitted into a `width` × `height` box, keeping its aspect ratio and
//! never upscaling, as JPEG, PNG or WebP.
//!
//! Fields: `width` and `height` (16–8192, default 1024 each), `format` (jpeg, png or webp, default
//! jpeg), `quality` (1–100, default 85; JPEG and WebP only, PNG is lossless). Odd dimensions are
//! kept: none of the three encoders needs even ones. Each image `card.png` yields `card.jpg`
//! (`.png`, `.webp`), named after the input's safe stem.

use transflow_sdk::prelude::*;

struct ImageResize;

impl Template for ImageResize {
    fn describe() -> TemplateInfo {
        TemplateInfo::new("image-resize", "Each image fitted into a bounding box as JPEG, PNG or WebP")
            .field(
                "width",
                "Bounding box width in pixels, 16 to 8192; images are never upscaled",
                Some("1024"),
            )
            .field(
                "height",
                "Bounding box height in pixels, 16 to 8192; images are never upscaled",
                Some("1024"),
            )
            .field("format", "Output format: jpeg, png or webp", Some("jpeg"))
            .field("quality", "JPEG or WebP quality, 1 (smallest) to 100 (best); PNG is lossless", Some("85"))
            .step(StepInfo::new("resize", "each image fitted into width x height").uses(ORIGINAL))
    }

    fn run_step(_step: &str, ctx: &Context) -> Result<(), StepError> {
        let width: u32 = ctx.field_in("width", 1024, 16..=8192)?;
        let height: u32 = ctx.field_in("height", 1024, 16..=8192)?;
        let format = ctx.field_choice("format", "jpeg", &["jpeg", "png", "webp"])?;
        let quality: u32 = ctx.field_in("quality", 85, 1..=100)?;
        let (ext, codec) = match format.as_str() {
            // mjpeg's -q:v runs from 2 (best) to 31 (worst).
            "jpeg" => ("jpg", format!("-c:v mjpeg -q:v {}", 31 - ((quality - 1) * 29 + 49) / 99)),
            "webp" => ("webp", format!("-c:v libwebp -quality {quality}")),
            _ => ("png", "-c:v png".to_owned()),
        };
        // Quoted so the filtergraph parser keeps the commas inside min() in the expression.
        let scale =
            format!("scale=w='min(iw,{width})':h='min(ih,{height})':force_original_aspect_ratio=decrease");
        let inputs = ctx.inputs();
        let share = 1.0 / inputs.len() as f32;
        for (index, input) in inputs.iter().enumerate() {
            if !input.has_video() {
                return Err(StepError::failed(format!("{} is not an image", input.name)));
            }
            let out = ctx.reserve_output(&format!("{}.{ext}", input.stem()))?;
            let args = ["-i", &input.path, "-vf", &scale, "-frames:v", "1"]
                .into_iter()
                .chain(codec.split_whitespace())
                .chain([out.as_str()]);
            ctx.ffmpeg(args).progress(index as f32 * share, (index + 1) as f32 * share).run()?;
            ctx.emit(&out, Some(&input.original_id))?;
        }
        Ok(())
    }
}

transflow_sdk::export!(ImageResize);
