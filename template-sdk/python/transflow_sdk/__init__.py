"""Write Transflow templates in Python.

A template is a WebAssembly component that describes a pipeline of steps and runs them one at a
time inside the Transflow host; componentize-py compiles it, CPython included, to the same
``transflow:template`` world a Rust template fits. It never reads media bytes itself: it asks
the host for its inputs (workspace paths), reserves output paths, runs ffmpeg on the host with
those paths, and emits the files it made as results. The names follow the Rust SDK.

.. code-block:: python

    from transflow_sdk import ORIGINAL, Context, StepInfo, Template, TemplateInfo, export

    class Poster(Template):
        def describe(self) -> TemplateInfo:
            return TemplateInfo("poster", "One JPEG frame from the middle of each video").step(
                StepInfo("poster", "the middle frame").uses(ORIGINAL)
            )

        def run_step(self, step: str, ctx: Context) -> None:
            for input in ctx.inputs():
                at = (input.duration() or 0.0) / 2
                out = ctx.reserve_output(f"{input.stem}.jpg")
                ctx.ffmpeg(["-ss", f"{at:.3f}", "-i", input.path, "-frames:v", "1", out]).run()
                ctx.emit(out, input.original_id)

    Pipeline = export(Poster)

Output names are built from ``input.stem``, never from the raw ``name`` or ``basename``: an
upload may be called ``50% off.mp4`` or ``concat:x.mp4``, which ffmpeg would read as an image
pattern or a protocol. The stem is that name made safe (``50_off``, ``concat_x``; see
``safe_stem``), so every upload name the API accepts gives results.

The bindings componentize-py generates from ``wit/`` at build time (``wit_world``) stay behind
this module; its own types are the API.
"""

from .context import Context, Input
from .describe import ORIGINAL, StepInfo, TemplateInfo, Webhook
from .errors import StepError
from .ffmpeg import FfmpegRun, SpawnedRun, join_all
from .stem import STEM_MAX, safe_stem
from .template import Template, export

__all__ = [
    "ORIGINAL",
    "STEM_MAX",
    "Context",
    "FfmpegRun",
    "Input",
    "SpawnedRun",
    "StepError",
    "StepInfo",
    "Template",
    "TemplateInfo",
    "Webhook",
    "export",
    "join_all",
    "safe_stem",
]
