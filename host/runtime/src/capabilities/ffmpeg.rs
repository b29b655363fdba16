//! `ffmpeg`: runs ffmpeg and ffprobe for the guest after the argument policy has passed every
//! argument, and turns tool failures into errors that name the tool, exit code and input.

use super::MeteredScope;
use crate::bindings::transflow::template::ffmpeg::{Host, RunOptions};
use crate::bindings::transflow::template::types::{BadInput, ToolFailure};
use crate::bindings::{GuestError, WitMediaMeta};
use crate::job::{InputRecord, ProgressReporter};
use crate::limits::JobLimits;
use crate::traps::{HostFault, StepTimedOut};
use crate::workspace::{StepView, Workspace};
use std::sync::Arc;
use tokio::time::Instant;
use transflow_ffmpeg::tools::bytes_under;
use transflow_ffmpeg::{MediaTools, OutputBudget, ToolError};

type GuestResult<T> = wasmtime::Result<Result<T, GuestError>>;

/// What `ffmpeg` sees of a step: the tools; the workspace and the step, which the argument
/// policy checks paths against; the step's inputs, to refuse an unusable one before any tool
/// sees it and to name the one a failure is about; where a run's progress goes; the deadline
/// tools are killed at and the bytes the step may write.
#[derive(Debug)]
pub(crate) struct FfmpegScope {
    tools: Arc<MediaTools>,
    workspace: Arc<Workspace>,
    step: String,
    inputs: Arc<[InputRecord]>,
    progress: ProgressReporter,
    deadline: Instant,
    output_bytes: u64,
}

impl FfmpegScope {
    pub(crate) fn new(
        tools: Arc<MediaTools>,
        workspace: Arc<Workspace>,
        step: String,
        inputs: Arc<[InputRecord]>,
        progress: ProgressReporter,
        deadline: Instant,
        limits: &JobLimits,
    ) -> FfmpegScope {
        FfmpegScope { tools, workspace, step, inputs, progress, deadline, output_bytes: limits.output_bytes }
    }
}

impl Host for MeteredScope<'_, FfmpegScope> {
    async fn run(&mut self, args: Vec<String>, options: RunOptions) -> GuestResult<()> {
        let scope = self.charge()?;
        let view = StepView { workspace: &scope.workspace, step: &scope.step };
        let checked = match scope.tools.policy().check_ffmpeg_args(&args, &view) {
            Ok(checked) => checked,
            Err(refusal) => return Ok(Err(refusal.into())),
        };
        for input in &checked.inputs {
            if let Some(bad) = unusable_input(scope, input) {
                return Ok(Err(bad));
            }
        }
        let duration = options.duration.or_else(|| {
            let first = checked.inputs.first()?;
            scope.inputs.iter().find(|i| &i.path == first)?.meta.as_ref()?.duration
        });
        let (start, end) = (options.progress_start.clamp(0.0, 1.0), options.progress_end.clamp(0.0, 1.0));
        let scope: &FfmpegScope = scope;
        let on_progress = |seconds: f64| {
            if let Some(total) = duration.filter(|d| *d > 0.0) {
                let done = (seconds / total).clamp(0.0, 1.0) as f32;
                scope.progress.report(start + (end - start) * done, None);
            }
        };
        let step_dir = Workspace::step_dir(&scope.step);
        // The sandbox grants writes beneath this directory, so it must exist even when the
        // template reserved nothing.
        let step_path = scope.workspace.root().join(&step_dir);
        fs_err::create_dir_all(&step_path)?;
        let written_before = bytes_under(&step_path);
        let budget =
            OutputBudget { dir: &step_dir, max_bytes: scope.output_bytes.saturating_sub(written_before) };
        let root = scope.workspace.root();
        let outcome = scope.tools.run_ffmpeg(root, budget, &checked.args, scope.deadline, on_progress).await;
        if let Err(error) = outcome {
            return tool_error(scope, error, &checked.inputs);
        }
        scope.progress.report(end, None);
        // The budget is polled while ffmpeg runs; a burst between two polls is caught here.
        let written = bytes_under(&step_path);
        if written > scope.output_bytes {
            let limit = scope.output_bytes;
            return Ok(Err(GuestError::LimitExceeded(format!(
                "step `{}` wrote {written} bytes; the limit is {limit} bytes",
                scope.step
            ))));
        }
        Ok(Ok(()))
    }

    async fn probe(&mut self, path: String) -> GuestResult<WitMediaMeta> {
        let scope = self.charge()?;
        let view = StepView { workspace: &scope.workspace, step: &scope.step };
        if let Err(refusal) = scope.tools.policy().check_input_path(&path, &view) {
            return Ok(Err(refusal.into()));
        }
        if let Some(bad) = unusable_input(scope, &path) {
            return Ok(Err(bad));
        }
        match scope.tools.probe(scope.workspace.root(), &path).await {
            Ok(Some(meta)) => Ok(Ok(WitMediaMeta::from(&meta))),
            Ok(None) => {
                Ok(Err(GuestError::BadInput(BadInput { input: path, reason: "not a media file".into() })))
            }
            Err(error) => tool_error(scope, error, &[path]),
        }
    }

    async fn probe_json(&mut self, path: String) -> GuestResult<String> {
        let scope = self.charge()?;
        let view = StepView { workspace: &scope.workspace, step: &scope.step };
        if let Err(refusal) = scope.tools.policy().check_input_path(&path, &view) {
            return Ok(Err(refusal.into()));
        }
        match scope.tools.probe_json(scope.workspace.root(), &path).await {
            Ok(json) => Ok(Ok(json)),
            Err(error) => tool_error(scope, error, &[path]),
        }
    }
}

/// The error for an input the host knows is empty or not media, before any tool sees it.
fn unusable_input(scope: &FfmpegScope, path: &str) -> Option<GuestError> {
    let input = scope.inputs.iter().find(|i| i.path == path)?;
    let reason = input.problem.clone()?;
    Some(GuestError::BadInput(BadInput { input: input.name.clone(), reason }))
}

/// Maps a tool failure to the guest's error; a deadline or a host fault traps instead, so the
/// template cannot swallow it.
fn tool_error<T>(scope: &FfmpegScope, error: ToolError, inputs: &[String]) -> GuestResult<T> {
    match error {
        ToolError::TimedOut { .. } => Err(wasmtime::Error::new(StepTimedOut)),
        ToolError::Spawn { .. } => Err(wasmtime::Error::new(HostFault(error.to_string()))),
        ToolError::FileTooLarge { .. } | ToolError::OutputTooLarge { .. } => {
            Ok(Err(GuestError::LimitExceeded(error.to_string())))
        }
        ToolError::Failed { tool, exit_code, stderr_tail } => {
            let input = blamed_input(&scope.inputs, inputs, &stderr_tail);
            Ok(Err(GuestError::ToolFailed(ToolFailure { tool: tool.into(), exit_code, stderr_tail, input })))
        }
    }
}

/// The input a failure is about: the only one, or the one stderr names.
fn blamed_input(known: &[InputRecord], used: &[String], stderr: &str) -> Option<String> {
    let name_of = |path: &String| {
        known.iter().find(|i| &i.path == path).map_or_else(|| path.clone(), |i| i.name.clone())
    };
    match used {
        [only] => Some(name_of(only)),
        _ => used.iter().find(|path| stderr.contains(path.as_str())).map(name_of),
    }
}

#[cfg(test)]
mod tests {
    use super::super::HostcallBudget;
    use super::super::fixture::{EMPTY, StepFixture, TONE};
    use super::*;

    #[tokio::test]
    async fn probe_reads_a_workspace_file_with_ffprobe() {
        let step = StepFixture::new().await;
        let (mut budget, mut scope) = (HostcallBudget::new(10), step.ffmpeg());
        let mut ffmpeg = MeteredScope::new(&mut budget, Some(&mut scope));
        let meta = Host::probe(&mut ffmpeg, TONE.into()).await.unwrap().unwrap();
        assert_eq!(meta.audio_codec.as_deref(), Some("pcm_s16le"));
        assert_eq!((meta.sample_rate, meta.channels), (Some(48_000), Some(1)));
        assert_eq!(meta.video_codec, None);
        let json = Host::probe_json(&mut ffmpeg, TONE.into()).await.unwrap().unwrap();
        assert!(json.contains("\"codec_name\": \"pcm_s16le\""), "{json}");
    }

    #[tokio::test]
    async fn paths_outside_the_workspace_and_unusable_inputs_are_refused_before_any_tool() {
        let step = StepFixture::new().await;
        let (mut budget, mut scope) = (HostcallBudget::new(10), step.ffmpeg());
        let mut ffmpeg = MeteredScope::new(&mut budget, Some(&mut scope));
        match Host::probe(&mut ffmpeg, "/etc/passwd".into()).await.unwrap() {
            Err(GuestError::ArgumentRefused(refused)) => assert_eq!(refused.argument, "/etc/passwd"),
            other => panic!("{other:?}"),
        }
        match Host::probe(&mut ffmpeg, EMPTY.into()).await.unwrap() {
            Err(GuestError::BadInput(bad)) => {
                assert_eq!((bad.input.as_str(), bad.reason.as_str()), ("empty.mp4", "empty file"));
            }
            other => panic!("{other:?}"),
        }
        let options = RunOptions { progress_start: 0.0, progress_end: 1.0, duration: None };
        let args = ["-i", EMPTY, "out/s/x.wav"].map(String::from).to_vec();
        match Host::run(&mut ffmpeg, args, options).await.unwrap() {
            Err(GuestError::BadInput(bad)) => assert_eq!(bad.input, "empty.mp4"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn run_writes_into_the_step_and_reports_progress_to_its_end() {
        let step = StepFixture::new().await;
        let (mut budget, mut scope) = (HostcallBudget::new(10), step.ffmpeg());
        let mut ffmpeg = MeteredScope::new(&mut budget, Some(&mut scope));
        let options = RunOptions { progress_start: 0.25, progress_end: 0.5, duration: Some(1.0) };
        let args = ["-i", TONE, "-c:a", "flac", "out/s/tone.flac"].map(String::from).to_vec();
        Host::run(&mut ffmpeg, args, options).await.unwrap().unwrap();
        let written = step.workspace.root().join("out/s/tone.flac");
        assert!(std::fs::metadata(&written).unwrap().len() > 0);
        assert_eq!(step.progress_seen.borrow().fraction, 0.5);
    }
}
