"""`{{name}}`: a JPEG poster frame from the middle of each video.

Fields: `width` (16–3840, default 640; height keeps the aspect ratio).
"""

from transflow_sdk import ORIGINAL, Context, StepInfo, Template, TemplateInfo, export


class {{type_name}}(Template):
    def describe(self) -> TemplateInfo:
        return (
            TemplateInfo("{{name}}", "A JPEG poster frame from the middle of each video")
            .field("width", "Poster width in pixels, 16 to 3840; height keeps the aspect ratio", "640")
            .step(StepInfo("poster", "the middle frame as a JPEG").uses(ORIGINAL))
        )

    def run_step(self, step: str, ctx: Context) -> None:
        width = ctx.field_in("width", 640, 16, 3840)
        for input in ctx.inputs():
            input.media()
            middle = (input.duration() or 0.0) / 2
            # Output names come from the input's stem: its name made safe for ffmpeg and the host.
            out = ctx.reserve_output(f"{input.stem}.jpg")
            ctx.ffmpeg(["-ss", f"{middle:.3f}", "-i", input.path, "-vf", f"scale={width}:-2", "-frames:v", "1", out]).run()
            ctx.emit(out, input.original_id)


Pipeline = export({{type_name}})
