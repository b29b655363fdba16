//! `ffmpeg`: runs ffmpeg and ffprobe for the guest after the argument policy has passed every
//! argument, and turns tool failures into errors that name the tool, exit code and input.

use crate::bindings::transflow::template::ffmpeg::{Host, RunOptions};
use crate::bindings::transflow::template::types::{BadInput, ToolFailure};
use crate::bindings::{GuestError, WitMediaMeta};
use crate::engine::StepTimedOut;
use crate::job::{InputRecord, JobState, StepScope};
use crate::workspace::{StepView, Workspace};
use transflow_ffmpeg::tools::bytes_under;
use transflow_ffmpeg::{OutputBudget, ToolError};

type GuestResult<T> = wasmtime::Result<Result<T, GuestError>>;

impl Host for JobState {
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
        let scope: &StepScope = scope;
        let on_progress = |seconds: f64| {
            if let Some(total) = duration.filter(|d| *d > 0.0) {
                let done = (seconds / total).clamp(0.0, 1.0) as f32;
                scope.report_progress(start + (end - start) * done, None);
            }
        };
        let step_dir = Workspace::step_dir(&scope.step);
        // The sandbox grants writes beneath this directory, so it must exist even when the
        // template reserved nothing.
        let step_path = scope.workspace.root().join(&step_dir);
        fs_err::create_dir_all(&step_path)?;
        let written_before = bytes_under(&step_path);
        let budget = OutputBudget {
            dir: &step_dir,
            max_bytes: scope.limits.output_bytes.saturating_sub(written_before),
        };
        let root = scope.workspace.root();
        let outcome = scope.tools.run_ffmpeg(root, budget, &checked.args, scope.deadline, on_progress).await;
        if let Err(error) = outcome {
            return tool_error(scope, error, &checked.inputs);
        }
        scope.report_progress(end, None);
        // The budget is polled while ffmpeg runs; a burst between two polls is caught here.
        let written = bytes_under(&step_path);
        if written > scope.limits.output_bytes {
            let limit = scope.limits.output_bytes;
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
fn unusable_input(scope: &StepScope, path: &str) -> Option<GuestError> {
    let input = scope.inputs.iter().find(|i| i.path == path)?;
    let reason = input.problem.clone()?;
    Some(GuestError::BadInput(BadInput { input: input.name.clone(), reason }))
}

/// Maps a tool failure to the guest's error; a deadline or a host fault traps instead, so the
/// template cannot swallow it.
fn tool_error<T>(scope: &StepScope, error: ToolError, inputs: &[String]) -> GuestResult<T> {
    match error {
        ToolError::TimedOut { .. } => Err(wasmtime::Error::new(StepTimedOut)),
        ToolError::Spawn { .. } => Err(wasmtime::Error::new(crate::runner::HostFault(error.to_string()))),
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
