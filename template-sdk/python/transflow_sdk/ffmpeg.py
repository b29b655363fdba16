"""Running ffmpeg on the host."""

from typing import Iterable

from wit_world.imports import ffmpeg

from .errors import host


class FfmpegRun:
    """An ffmpeg command being built. The host validates every argument before it starts ffmpeg."""

    def __init__(self, args: Iterable[str]) -> None:
        self._args = [str(a) for a in args]
        self._options = ffmpeg.RunOptions(0.0, 1.0, None)

    def progress(self, start: float, end: float) -> "FfmpegRun":
        """Maps this run's progress onto ``[start, end]`` of the step (default: the whole step)."""
        self._options.progress_start = start
        self._options.progress_end = end
        return self

    def duration(self, seconds: float) -> "FfmpegRun":
        """The expected output duration in seconds, when it differs from the first input's."""
        self._options.duration = seconds
        return self

    def run(self) -> None:
        """Runs ffmpeg and waits for it; a failure raises a ``StepError`` with the tool's stderr tail."""
        host(lambda: ffmpeg.run(self._args, self._options))
