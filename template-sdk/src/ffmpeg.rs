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
}
