//! The step context: inputs, outputs, progress and logging for the step being run.

use crate::__bindings::transflow::template::{log, status, types, workspace};
use crate::{Error, FfmpegRun, MediaMeta};

/// A file the current step reads: an upload or a result of a step it uses.
pub type Input = types::InputFile;

/// Severity of a log line.
pub type LogLevel = log::Level;

/// The step being run. Every method calls the host; none of them moves media bytes.
#[derive(Debug)]
pub struct Context {
    step: String,
}

impl Context {
    #[doc(hidden)]
    pub fn for_step(step: &str) -> Self {
        Context { step: step.to_owned() }
    }

    /// The name of the step being run.
    pub fn step(&self) -> &str {
        &self.step
    }

    /// The step's inputs: uploads for `:original`, results of the steps it uses.
    pub fn inputs(&self) -> Vec<Input> {
        workspace::inputs()
    }

    /// Reserves an output and returns the path to give ffmpeg. `name` may hold
    /// sub-directories and ffmpeg patterns such as `thumb_%02d.jpg`. Build it from
    /// [`Input::stem`](types::InputFile::stem), never from an input's raw `name` or `basename`.
    pub fn reserve_output(&self, name: &str) -> Result<String, Error> {
        workspace::reserve_output(name)
    }

    /// Records a file this step wrote as a result, derived from upload `original_id`
    /// (by default the first input's).
    pub fn emit(&self, path: &str, original_id: Option<&str>) -> Result<types::EmittedFile, Error> {
        workspace::emit(path, original_id)
    }

    /// Emits every file this step wrote and has not emitted yet, in name order.
    pub fn emit_pending(&self, original_id: Option<&str>) -> Result<Vec<types::EmittedFile>, Error> {
        workspace::pending_outputs()?.iter().map(|path| workspace::emit(path, original_id)).collect()
    }

    /// Starts an ffmpeg command; add options with [`FfmpegRun::progress`] and [`FfmpegRun::run`] it.
    pub fn ffmpeg<I, S>(&self, args: I) -> FfmpegRun
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        FfmpegRun::new(args)
    }

    /// Probes a workspace file with ffprobe.
    pub fn probe(&self, path: &str) -> Result<MediaMeta, Error> {
        crate::__bindings::transflow::template::ffmpeg::probe(path)
    }

    /// ffprobe's full JSON (`-show_format -show_streams`) for a workspace file.
    pub fn probe_json(&self, path: &str) -> Result<String, Error> {
        crate::__bindings::transflow::template::ffmpeg::probe_json(path)
    }

    /// Reports how much of this step is done (0.0–1.0).
    pub fn progress(&self, fraction: f32, message: Option<&str>) {
        status::progress(fraction, message);
    }

    /// Writes a log line kept with the assembly.
    pub fn log(&self, level: LogLevel, message: &str) {
        log::write(level, message);
    }

    /// Writes an info log line.
    pub fn info(&self, message: &str) {
        self.log(LogLevel::Info, message);
    }

    /// Writes a warning log line.
    pub fn warn(&self, message: &str) {
        self.log(LogLevel::Warn, message);
    }
}

impl types::InputFile {
    /// The stem to build this input's output names from: its `basename` made safe for the host
    /// and ffmpeg (`50% off.mp4` → `50_off`, `concat:x.mp4` → `concat_x`, `vidéo 1.mov` →
    /// `video_1`). Use it, not `name` or `basename`, in every name given to
    /// [`Context::reserve_output`]: `ctx.reserve_output(&format!("{}_%02d.jpg", input.stem()))`.
    /// ASCII letters, digits, `.`, `-` and `_` only, at most [`STEM_MAX`](crate::STEM_MAX) bytes,
    /// never empty; the same name always gives the same stem. See [`safe_stem`](crate::safe_stem).
    pub fn stem(&self) -> String {
        crate::safe_stem(&self.basename)
    }

    /// The probed metadata, or an `INPUT_INVALID` error naming this input when ffprobe could not
    /// read it (corrupt, empty or not media): call it first when a step only makes sense on media.
    pub fn media(&self) -> Result<&MediaMeta, crate::StepError> {
        self.meta.as_ref().ok_or_else(|| {
            self.invalid("ffprobe could not read it as media (corrupt, empty or not a media file)")
        })
    }

    /// An `INPUT_INVALID` error naming this input, for media the step cannot use (no video
    /// stream, no duration…): the user must change the file, not retry. `reason` says why.
    pub fn invalid(&self, reason: impl Into<String>) -> crate::StepError {
        crate::StepError::Host(Error::BadInput(types::BadInput {
            input: self.name.clone(),
            reason: reason.into(),
        }))
    }

    /// Duration in seconds, when the input is timed media.
    pub fn duration(&self) -> Option<f64> {
        self.meta.as_ref().and_then(|m| m.duration)
    }

    /// `(width, height)` of the first video stream, when there is one.
    pub fn dimensions(&self) -> Option<(u32, u32)> {
        let meta = self.meta.as_ref()?;
        Some((meta.width?, meta.height?))
    }

    /// Whether the input has an audio stream.
    pub fn has_audio(&self) -> bool {
        self.meta.as_ref().is_some_and(|m| m.audio_codec.is_some())
    }

    /// Whether the input has a video (or image) stream.
    pub fn has_video(&self) -> bool {
        self.meta.as_ref().is_some_and(|m| m.video_codec.is_some())
    }
}
