"""Running ffmpeg on the host."""

from typing import Iterable, Optional

from wit_world.imports import ffmpeg

from .errors import StepError, host


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

    def spawn(self) -> "SpawnedRun":
        """Starts ffmpeg and returns at once, so the step can start more runs (or emit, or probe)
        while this one goes on; ``SpawnedRun.join`` waits for it. A refused argument or an
        unusable input raises here, before anything starts. The host bounds how many runs a step
        holds at once (8 by default): join runs before spawning more, e.g. a few inputs at a
        time."""
        return SpawnedRun(host(lambda: ffmpeg.spawn(self._args, self._options)))


class SpawnedRun:
    """An ffmpeg run started by ``FfmpegRun.spawn``. Join it, or ``close`` it (or leave its
    ``with`` block, or drop its last reference) to kill it unjoined; the end of the step kills it
    too. ``join`` and ``close`` release the host's handle at once, so the step can spawn again."""

    def __init__(self, handle: ffmpeg.ToolRun) -> None:
        self._handle: Optional[ffmpeg.ToolRun] = handle

    def join(self) -> None:
        """Waits for the run to end: the outcome ``run`` would have had, so a failure raises a
        ``StepError`` with the tool's stderr tail. A run joins once."""
        handle = self._handle
        if handle is None:
            raise StepError.failed("this ffmpeg run was already joined or closed")
        self._handle = None
        try:
            host(handle.wait)
        finally:
            handle.__exit__(None, None, None)

    def close(self) -> None:
        """Kills the run if it is still going and releases its handle; nothing once joined."""
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.__exit__(None, None, None)

    def __enter__(self) -> "SpawnedRun":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def join_all(runs: Iterable[SpawnedRun]) -> None:
    """Joins every run in order and raises the first failure. The runs after a failed one are
    closed unjoined, which kills them: the step is failing, so their work would be wasted."""
    pending = list(runs)
    try:
        while pending:
            pending.pop(0).join()
    finally:
        for unjoined in pending:
            unjoined.close()
