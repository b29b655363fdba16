//! Running ffmpeg on the host.

use crate::__bindings::transflow::template::{ffmpeg, types};
use crate::Error;

/// What ffprobe says about a media file.
pub type MediaMeta = types::MediaMeta;

/// An ffmpeg command being built. The host validates every argument before it starts ffmpeg.
#[derive(Debug, Clone)]
pub struct FfmpegRun {
    args: Vec<String>,
    options: ffmpeg::RunOptions,
}

impl FfmpegRun {
    pub(crate) fn new<I, S>(args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        FfmpegRun {
            args: args.into_iter().map(|a| a.as_ref().to_owned()).collect(),
            options: ffmpeg::RunOptions { progress_start: 0.0, progress_end: 1.0, duration: None },
        }
    }

    /// Maps this run's progress onto `[start, end]` of the step (default: the whole step).
    pub fn progress(mut self, start: f32, end: f32) -> Self {
        self.options.progress_start = start;
        self.options.progress_end = end;
        self
    }

    /// The expected output duration in seconds, when it differs from the first input's.
    pub fn duration(mut self, seconds: f64) -> Self {
        self.options.duration = Some(seconds);
        self
    }

    /// Runs ffmpeg and waits for it.
    pub fn run(self) -> Result<(), Error> {
        ffmpeg::run(&self.args, self.options)
    }

    /// Starts ffmpeg and returns at once, so the step can start more runs (or emit, or
    /// probe) while this one goes on; [`SpawnedRun::join`] waits for it. A refused argument or
    /// an unusable input fails here, before anything starts. The host bounds how many handles
    /// a step holds at once (8 by default): join runs and let their handles drop before
    /// spawning more, e.g. a few inputs at a time.
    pub fn spawn(self) -> Result<SpawnedRun, Error> {
        ffmpeg::spawn(&self.args, self.options).map(SpawnedRun)
    }
}

/// An ffmpeg run started by [`FfmpegRun::spawn`]. Dropping it before it is joined kills the
/// run, as does the end of the step.
#[derive(Debug)]
#[must_use = "dropping a spawned run kills it; join it"]
pub struct SpawnedRun(ffmpeg::ToolRun);

impl SpawnedRun {
    /// Waits for the run to end; the outcome [`FfmpegRun::run`] would have had.
    pub fn join(self) -> Result<(), Error> {
        self.0.wait()
    }
}

/// Joins every run in order and returns the first failure. The runs after a failed one are
/// dropped unjoined, which kills them: the step is failing, so their work would be wasted.
pub fn join_all(runs: impl IntoIterator<Item = SpawnedRun>) -> Result<(), Error> {
    runs.into_iter().try_for_each(SpawnedRun::join)
}
