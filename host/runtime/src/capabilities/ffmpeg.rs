//! `ffmpeg`: runs ffmpeg and ffprobe for the guest after the argument policy has passed every
//! argument, and turns tool failures into errors that name the tool, exit code and input.
//!
//! `run` waits for its ffmpeg; `spawn` starts the same run on a task of its own and hands the
//! guest a `tool-run` handle to wait on later. Both go through [`CheckedRun`], so a spawned run
//! meets the same policy, sandbox, output budget, deadline, progress and error mapping. The
//! scope owns the tasks: dropping a handle, or the scope at the end of the step, aborts its
//! task, and aborting drops the child process, which the sandbox spawns with `kill_on_drop`.

use super::MeteredScope;
use crate::bindings::transflow::template::ffmpeg::{Host, HostToolRun, RunOptions, ToolRun};
use crate::bindings::transflow::template::types::{BadInput, ToolFailure};
use crate::bindings::{GuestError, WitMediaMeta};
use crate::job::{InputRecord, ProgressReporter};
use crate::limits::JobLimits;
use crate::traps::{HostFault, StepTimedOut};
use crate::workspace::{StepView, Workspace};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use transflow_ffmpeg::tools::bytes_under;
use transflow_ffmpeg::{MediaTools, OutputBudget, ToolError};
use wasmtime::component::Resource;

type GuestResult<T> = wasmtime::Result<Result<T, GuestError>>;

/// What `ffmpeg` sees of a step: the tools; the workspace and the step, which the argument
/// policy checks paths against; the step's inputs, to refuse an unusable one before any tool
/// sees it and to name the one a failure is about; where a run's progress goes; the deadline
/// tools are killed at and the bytes the step may write; and the runs `spawn` started whose
/// handles the guest still holds, at most `max_runs` of them.
#[derive(Debug)]
pub(crate) struct FfmpegScope {
    tools: Arc<MediaTools>,
    workspace: Arc<Workspace>,
    step: String,
    inputs: Arc<[InputRecord]>,
    progress: ProgressReporter,
    deadline: Instant,
    output_bytes: u64,
    runs: HashMap<u32, SpawnedRun>,
    next_run: u32,
    max_runs: usize,
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
        FfmpegScope {
            tools,
            workspace,
            step,
            inputs,
            progress,
            deadline,
            output_bytes: limits.output_bytes,
            runs: HashMap::new(),
            next_run: 0,
            max_runs: limits.tool_runs,
        }
    }

    /// Kills the runs the guest started and never waited for, and returns once their tasks
    /// are gone, so no ffmpeg writes into the step's outputs after the step has ended.
    pub(crate) async fn stop_runs(&mut self) {
        for (_, mut run) in self.runs.drain() {
            if let Some(task) = run.task.take() {
                task.abort();
                // The task's outcome is moot: the guest stopped caring about it.
                let _ = task.await;
            }
        }
    }

    /// Checks a run against the policy and the step's inputs and gathers what it needs to run
    /// without the scope; the refusal is the guest's error.
    fn check(
        &self,
        args: &[String],
        options: &RunOptions,
    ) -> wasmtime::Result<Result<CheckedRun, GuestError>> {
        let view = StepView { workspace: &self.workspace, step: &self.step };
        let checked = match self.tools.policy().check_ffmpeg_args(args, &view) {
            Ok(checked) => checked,
            Err(refusal) => return Ok(Err(refusal.into())),
        };
        for input in &checked.inputs {
            if let Some(bad) = unusable_input(self, input) {
                return Ok(Err(bad));
            }
        }
        let duration = options.duration.or_else(|| {
            let first = checked.inputs.first()?;
            self.inputs.iter().find(|i| &i.path == first)?.meta.as_ref()?.duration
        });
        let step_dir = Workspace::step_dir(&self.step);
        // The sandbox grants writes beneath this directory, so it must exist even when the
        // template reserved nothing.
        fs_err::create_dir_all(self.workspace.root().join(&step_dir))?;
        Ok(Ok(CheckedRun {
            tools: self.tools.clone(),
            root: self.workspace.root().to_path_buf(),
            step_dir,
            output_bytes: self.output_bytes,
            args: checked.args,
            inputs: checked.inputs,
            deadline: self.deadline,
            progress: self.progress.clone(),
            duration,
            span: (options.progress_start.clamp(0.0, 1.0), options.progress_end.clamp(0.0, 1.0)),
        }))
    }

    /// The guest's view of a run's outcome: a tool failure mapped by [`tool_error`], or the
    /// output budget, checked again once the run is over.
    fn finish(&self, outcome: Result<(), ToolError>, inputs: &[String]) -> GuestResult<()> {
        if let Err(error) = outcome {
            return tool_error(self, error, inputs);
        }
        // The budget is polled while ffmpeg runs; a burst between two polls, or two runs
        // writing at once, is caught here.
        let written = bytes_under(&self.workspace.root().join(Workspace::step_dir(&self.step)));
        if written > self.output_bytes {
            let limit = self.output_bytes;
            return Ok(Err(GuestError::LimitExceeded(format!(
                "step `{}` wrote {written} bytes; the limit is {limit} bytes",
                self.step
            ))));
        }
        Ok(Ok(()))
    }
}

/// An ffmpeg run the policy passed, owning all it needs, so `run` can await it in place and
/// `spawn` can move it onto a task.
struct CheckedRun {
    tools: Arc<MediaTools>,
    root: PathBuf,
    step_dir: String,
    output_bytes: u64,
    args: Vec<String>,
    inputs: Vec<String>,
    deadline: Instant,
    progress: ProgressReporter,
    duration: Option<f64>,
    span: (f32, f32),
}

impl CheckedRun {
    /// Runs ffmpeg within what the step has left of its output budget, mapping its progress
    /// onto the run's span of the step.
    async fn execute(self) -> Result<(), ToolError> {
        let CheckedRun {
            tools, root, step_dir, output_bytes, args, deadline, progress, duration, span, ..
        } = self;
        let (start, end) = span;
        let on_progress = |seconds: f64| {
            if let Some(total) = duration.filter(|d| *d > 0.0) {
                let done = (seconds / total).clamp(0.0, 1.0) as f32;
                progress.report(start + (end - start) * done, None);
            }
        };
        let written_before = bytes_under(&root.join(&step_dir));
        let budget = OutputBudget { dir: &step_dir, max_bytes: output_bytes.saturating_sub(written_before) };
        tools.run_ffmpeg(&root, budget, &args, deadline, on_progress).await?;
        progress.report(end, None);
        Ok(())
    }
}

/// A run `spawn` started: its task, taken by the first `wait`, and the inputs a failure may be
/// blamed on. Dropping it aborts the task, which kills the run.
#[derive(Debug)]
struct SpawnedRun {
    task: Option<JoinHandle<Result<(), ToolError>>>,
    inputs: Vec<String>,
}

impl Drop for SpawnedRun {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl Host for MeteredScope<'_, FfmpegScope> {
    async fn run(&mut self, args: Vec<String>, options: RunOptions) -> GuestResult<()> {
        let scope = self.charge()?;
        let run = match scope.check(&args, &options)? {
            Ok(run) => run,
            Err(refused) => return Ok(Err(refused)),
        };
        let inputs = run.inputs.clone();
        let outcome = run.execute().await;
        scope.finish(outcome, &inputs)
    }

    async fn spawn(&mut self, args: Vec<String>, options: RunOptions) -> GuestResult<Resource<ToolRun>> {
        let scope = self.charge()?;
        if scope.runs.len() >= scope.max_runs {
            return Ok(Err(GuestError::LimitExceeded(format!(
                "step `{}` holds {} tool runs, the most it may; wait for one and drop its handle first",
                scope.step, scope.max_runs
            ))));
        }
        let run = match scope.check(&args, &options)? {
            Ok(run) => run,
            Err(refused) => return Ok(Err(refused)),
        };
        let inputs = run.inputs.clone();
        let task = tokio::spawn(run.execute());
        let id = scope.next_run;
        scope.next_run = scope.next_run.wrapping_add(1);
        scope.runs.insert(id, SpawnedRun { task: Some(task), inputs });
        Ok(Ok(Resource::new_own(id)))
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

impl HostToolRun for MeteredScope<'_, FfmpegScope> {
    async fn wait(&mut self, handle: Resource<ToolRun>) -> GuestResult<()> {
        let scope = self.charge()?;
        let run = scope.runs.get_mut(&handle.rep()).ok_or_else(|| unknown_handle(&handle))?;
        let Some(task) = run.task.take() else {
            return Ok(Err(GuestError::InvalidRequest("this tool run was already waited for".into())));
        };
        let inputs = std::mem::take(&mut run.inputs);
        let outcome =
            task.await.map_err(|e| HostFault(format!("a spawned ffmpeg run's task failed: {e}")))?;
        scope.finish(outcome, &inputs)
    }

    /// Not charged: a drop only ends what a charged `spawn` began.
    async fn drop(&mut self, handle: Resource<ToolRun>) -> wasmtime::Result<()> {
        if let Some(scope) = self.uncharged() {
            scope.runs.remove(&handle.rep()).ok_or_else(|| unknown_handle(&handle))?;
        }
        Ok(())
    }
}

/// wasmtime hands the host only handles it gave out and the guest still owns, so an unknown
/// one is a host bug.
fn unknown_handle(handle: &Resource<ToolRun>) -> wasmtime::Error {
    wasmtime::Error::new(HostFault(format!("tool-run handle {} is not this step's", handle.rep())))
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

    /// ffmpeg processes working in `root`: without bubblewrap a tool's working directory is
    /// the workspace, which no other test shares.
    fn tools_running_in(root: &std::path::Path) -> usize {
        let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
        entries
            .filter_map(|entry| std::fs::read_link(entry.ok()?.path().join("cwd")).ok())
            .filter(|cwd| cwd == root)
            .count()
    }

    /// Polls until no tool runs in `root`, for at most ten seconds: a kill lands at once, but
    /// the process leaves the table only when it is reaped.
    async fn assert_no_tools_in(root: &std::path::Path) {
        for _ in 0..100 {
            if tools_running_in(root) == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("{} tool processes still run in {}", tools_running_in(root), root.display());
    }

    /// An ffmpeg run that reads the tone in a loop at its own pace, so it lasts until killed.
    fn endless(output: &str) -> Vec<String> {
        ["-re", "-stream_loop", "-1", "-i", TONE, output].map(String::from).to_vec()
    }

    fn whole_step() -> RunOptions {
        RunOptions { progress_start: 0.0, progress_end: 1.0, duration: None }
    }

    #[tokio::test]
    async fn spawned_runs_go_on_together_and_wait_gives_each_outcome() {
        let step = StepFixture::new().await;
        let (mut budget, mut scope) = (HostcallBudget::new(10), step.ffmpeg());
        let mut ffmpeg = MeteredScope::new(&mut budget, Some(&mut scope));
        let flac = ["-i", TONE, "-c:a", "flac", "out/s/tone.flac"].map(String::from).to_vec();
        let failing = ["-i", TONE, "-map", "0:v", "out/s/bad.wav"].map(String::from).to_vec();
        let first = Host::spawn(&mut ffmpeg, flac, whole_step()).await.unwrap().unwrap();
        let second = Host::spawn(&mut ffmpeg, failing, whole_step()).await.unwrap().unwrap();
        let endless_run =
            Host::spawn(&mut ffmpeg, endless("out/s/long.wav"), whole_step()).await.unwrap().unwrap();
        let root = step.workspace.root().to_path_buf();
        wait_for_tools(&root).await;

        match HostToolRun::wait(&mut ffmpeg, Resource::new_borrow(second.rep())).await.unwrap() {
            Err(GuestError::ToolFailed(failure)) => {
                assert_eq!((failure.tool.as_str(), failure.input.as_deref()), ("ffmpeg", Some("tone.wav")));
            }
            other => panic!("{other:?}"),
        }
        HostToolRun::wait(&mut ffmpeg, Resource::new_borrow(first.rep())).await.unwrap().unwrap();
        assert!(std::fs::metadata(root.join("out/s/tone.flac")).unwrap().len() > 0);
        match HostToolRun::wait(&mut ffmpeg, Resource::new_borrow(first.rep())).await.unwrap() {
            Err(GuestError::InvalidRequest(message)) => {
                assert!(message.contains("already waited"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        for handle in [first, second, endless_run] {
            HostToolRun::drop(&mut ffmpeg, handle).await.unwrap();
        }
        assert_no_tools_in(&root).await;
        assert_eq!(budget.left, 10 - 6, "spawn and wait are charged, drop is not");
    }

    #[tokio::test]
    async fn a_step_holds_a_bounded_number_of_runs_and_refused_spawns_start_nothing() {
        let step = StepFixture::new().await;
        let limits = JobLimits { tool_runs: 2, ..JobLimits::default() };
        let mut scope = FfmpegScope::new(
            step.tools.clone(),
            step.workspace.clone(),
            "s".into(),
            step.inputs.clone(),
            step.progress.clone(),
            Instant::now() + limits.step_timeout,
            &limits,
        );
        let mut budget = HostcallBudget::new(10);
        let mut ffmpeg = MeteredScope::new(&mut budget, Some(&mut scope));
        let refused = Host::spawn(
            &mut ffmpeg,
            ["-i", "/etc/passwd", "out/s/x.wav"].map(String::from).to_vec(),
            whole_step(),
        );
        assert!(matches!(refused.await.unwrap(), Err(GuestError::ArgumentRefused(_))));
        let one = Host::spawn(&mut ffmpeg, endless("out/s/one.wav"), whole_step()).await.unwrap().unwrap();
        let _two = Host::spawn(&mut ffmpeg, endless("out/s/two.wav"), whole_step()).await.unwrap().unwrap();
        match Host::spawn(&mut ffmpeg, endless("out/s/three.wav"), whole_step()).await.unwrap() {
            Err(GuestError::LimitExceeded(message)) => {
                assert_eq!(
                    message,
                    "step `s` holds 2 tool runs, the most it may; wait for one and drop its handle first"
                );
            }
            other => panic!("{other:?}"),
        }
        HostToolRun::drop(&mut ffmpeg, one).await.unwrap();
        let _three =
            Host::spawn(&mut ffmpeg, endless("out/s/three.wav"), whole_step()).await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn the_end_of_the_step_kills_the_runs_it_never_waited_for() {
        let step = StepFixture::new().await;
        let root = step.workspace.root().to_path_buf();
        // Ended by the runner on success: every run is gone once `stop_runs` returns.
        let (mut budget, mut scope) = (HostcallBudget::new(10), step.ffmpeg());
        let mut ffmpeg = MeteredScope::new(&mut budget, Some(&mut scope));
        let _kept = Host::spawn(&mut ffmpeg, endless("out/s/a.wav"), whole_step()).await.unwrap().unwrap();
        wait_for_tools(&root).await;
        scope.stop_runs().await;
        assert_no_tools_in(&root).await;
        // Dropped with its store on failure, trap or cancellation.
        let (mut budget, mut scope) = (HostcallBudget::new(10), step.ffmpeg());
        let mut ffmpeg = MeteredScope::new(&mut budget, Some(&mut scope));
        let _kept = Host::spawn(&mut ffmpeg, endless("out/s/b.wav"), whole_step()).await.unwrap().unwrap();
        wait_for_tools(&root).await;
        drop(scope);
        assert_no_tools_in(&root).await;
    }

    /// Polls until a tool runs in `root`, for at most ten seconds.
    async fn wait_for_tools(root: &std::path::Path) {
        for _ in 0..100 {
            if tools_running_in(root) > 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("no tool started in {}", root.display());
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
