"""Test fixture, the twin of typescript/spawn-pair (which says what each `fail` does): two
ffmpeg runs at once in step `pair`, joined with `join_all`; `fail=first` fails the first while
the second would never end."""

from transflow_sdk import ORIGINAL, Context, StepInfo, Template, TemplateInfo, export, join_all


class SpawnPair(Template):
    def describe(self) -> TemplateInfo:
        return (
            TemplateInfo("spawn-pair-py", "Two ffmpeg runs at once in one step")
            .field("fail", "none or first", "none")
            .field("marker", "a tag for the runs command lines", "spawn-pair")
            .step(StepInfo("pair", "two sizes of the first video, made together").uses(ORIGINAL))
        )

    def run_step(self, step: str, ctx: Context) -> None:
        input = ctx.inputs()[0]
        if ctx.field_choice("fail", "none", ["none", "first"]) == "first":
            failing = ctx.ffmpeg(["-i", input.path, "-map", "0:s", ctx.reserve_output("none.mp4")]).spawn()
            endless = ["-re", "-stream_loop", "-1", "-i", input.path, "-an", ctx.reserve_output("endless.mp4")]
            join_all([failing, ctx.ffmpeg(endless).spawn()])
            return
        marker = ctx.field("marker") or "spawn-pair"
        made = []
        for name, width in [("wide", 320), ("narrow", 160)]:
            out = ctx.reserve_output(f"{name}.mp4")
            args = ["-re", "-i", input.path, "-t", "2", "-an", "-vf", f"scale={width}:-2",
                    "-metadata", f"comment={marker}-{name}", out]
            made.append((out, ctx.ffmpeg(args).spawn()))
        join_all(run for _, run in made)
        for out, _ in made:
            ctx.emit(out, input.original_id)
        for round in range(2):
            held = [ctx.ffmpeg(["-i", input.path, "-frames:v", "1", ctx.reserve_output(f"dropped_{round}_{i}.jpg")])
                    .spawn() for i in range(8)]
            for run in held:
                run.close()


Pipeline = export(SpawnPair)
