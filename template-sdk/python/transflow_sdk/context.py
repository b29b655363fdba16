"""The step context: inputs, outputs, fields, progress and logging for the step being run."""

import re
from typing import Iterable, Optional, Sequence

from wit_world.imports import ffmpeg, log, status, types, workspace

from .errors import StepError, host
from .ffmpeg import FfmpegRun
from .stem import safe_stem

_INTEGER = re.compile(r"[+-]?\d+")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


class Input:
    """A file the current step reads: an upload or a result of a step it uses."""

    def __init__(self, file: types.InputFile) -> None:
        self.id = file.id
        #: Workspace-relative path to put in ffmpeg arguments.
        self.path = file.path
        self.name = file.name
        self.basename = file.basename
        self.ext = file.ext
        self.mime = file.mime
        self.size = file.size
        self.from_step = file.from_step
        self.original_id = file.original_id
        self.meta: Optional[types.MediaMeta] = file.meta
        #: The stem to build this input's output names from: its ``basename`` made safe for the
        #: host and ffmpeg (``50% off.mp4`` → ``50_off``, ``concat:x.mp4`` → ``concat_x``,
        #: ``vidéo 1.mov`` → ``video_1``). Use it, not ``name`` or ``basename``, in every name
        #: given to ``reserve_output``: ``ctx.reserve_output(f"{input.stem}_%02d.jpg")``. ASCII
        #: letters, digits, ``.``, ``-`` and ``_`` only, at most ``STEM_MAX`` bytes, never empty;
        #: the same name always gives the same stem, the same as the Rust and TypeScript SDKs
        #: give. See ``safe_stem``.
        self.stem = safe_stem(file.basename)

    def media(self) -> types.MediaMeta:
        """The probed metadata, or an ``INPUT_INVALID`` error naming this input when ffprobe could
        not read it (corrupt, empty or not media): call it first when a step only makes sense on
        media."""
        if self.meta is None:
            raise self.invalid("ffprobe could not read it as media (corrupt, empty or not a media file)")
        return self.meta

    def invalid(self, reason: str) -> StepError:
        """An ``INPUT_INVALID`` error naming this input, for media the step cannot use (no video
        stream, no duration…): the user must change the file, not retry. ``reason`` says why."""
        return StepError.host(types.Error_BadInput(types.BadInput(self.name, reason)))

    def duration(self) -> Optional[float]:
        """Duration in seconds, when the input is timed media."""
        return self.meta.duration if self.meta else None

    def dimensions(self) -> Optional[tuple[int, int]]:
        """``(width, height)`` of the first video stream, when there is one."""
        if self.meta is None or self.meta.width is None or self.meta.height is None:
            return None
        return (self.meta.width, self.meta.height)

    def has_audio(self) -> bool:
        """Whether the input has an audio stream."""
        return self.meta is not None and self.meta.audio_codec is not None

    def has_video(self) -> bool:
        """Whether the input has a video (or image) stream."""
        return self.meta is not None and self.meta.video_codec is not None


class Context:
    """The step being run. Every method calls the host; none of them moves media bytes."""

    def __init__(self, step: str) -> None:
        #: The name of the step being run.
        self.step = step

    def inputs(self) -> list[Input]:
        """The step's inputs: uploads for ``:original``, results of the steps it uses."""
        return [Input(file) for file in workspace.inputs()]

    def reserve_output(self, name: str) -> str:
        """Reserves an output and returns the path to give ffmpeg. ``name`` may hold
        sub-directories and ffmpeg patterns such as ``thumb_%02d.jpg``. Build it from
        ``input.stem``, never from an input's raw ``name`` or ``basename``."""
        return host(lambda: workspace.reserve_output(name))

    def emit(self, path: str, original_id: Optional[str] = None) -> types.EmittedFile:
        """Records a file this step wrote as a result, derived from upload ``original_id`` (by
        default the first input's)."""
        return host(lambda: workspace.emit(path, original_id))

    def emit_pending(self, original_id: Optional[str] = None) -> list[types.EmittedFile]:
        """Emits every file this step wrote and has not emitted yet, in name order."""
        return [self.emit(path, original_id) for path in host(workspace.pending_outputs)]

    def ffmpeg(self, args: Iterable[str]) -> FfmpegRun:
        """Starts an ffmpeg command; add options with ``progress``/``duration``, then ``run`` it."""
        return FfmpegRun(args)

    def probe(self, path: str) -> types.MediaMeta:
        """Probes a workspace file with ffprobe."""
        return host(lambda: ffmpeg.probe(path))

    def probe_json(self, path: str) -> str:
        """ffprobe's full JSON (``-show_format -show_streams``) for a workspace file."""
        return host(lambda: ffmpeg.probe_json(path))

    def progress(self, fraction: float, message: Optional[str] = None) -> None:
        """Reports how much of this step is done (0.0–1.0)."""
        status.progress(fraction, message)

    def log(self, level: log.Level, message: str) -> None:
        """Writes a log line kept with the assembly."""
        log.write(level, message)

    def info(self, message: str) -> None:
        """Writes an info log line."""
        self.log(log.Level.INFO, message)

    def warn(self, message: str) -> None:
        """Writes a warning log line."""
        self.log(log.Level.WARN, message)

    def field(self, name: str) -> Optional[str]:
        """The raw value of a user field."""
        return next((value for key, value in workspace.fields() if key == name), None)

    def field_in(self, name: str, default: float, low: float, high: float) -> float:
        """A number field from ``low`` to ``high``, or ``default`` when absent. When the default
        and both bounds are ``int``, only an integer is accepted and an ``int`` returned."""
        raw = self.field(name)
        if raw is None:
            return default
        integer = all(isinstance(v, int) for v in (default, low, high))
        text = raw.strip()
        if (_INTEGER if integer else _NUMBER).fullmatch(text):
            value = int(text) if integer else float(text)
            if low <= value <= high:
                return value
        kind = "an integer" if integer else "a number"
        raise StepError.invalid_field(name, raw, f"{kind} from {low} to {high}")

    def field_choice(self, name: str, default: str, choices: Sequence[str]) -> str:
        """One of ``choices`` (case-insensitive, returned as listed), or ``default`` when absent."""
        raw = self.field(name)
        if raw is None:
            return default
        wanted = raw.strip().lower()
        for choice in choices:
            if choice.lower() == wanted:
                return choice
        raise StepError.invalid_field(name, raw, f"one of {', '.join(choices)}")

    def field_bool(self, name: str, default: bool) -> bool:
        """A yes/no field (``true``/``false``, ``yes``/``no``, ``1``/``0``, ``on``/``off``), or
        ``default`` when absent."""
        raw = self.field(name)
        if raw is None:
            return default
        value = raw.strip().lower()
        if value in ("true", "yes", "1", "on"):
            return True
        if value in ("false", "no", "0", "off"):
            return False
        raise StepError.invalid_field(name, raw, "true or false")
