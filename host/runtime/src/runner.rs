//! Runs one assembly: places and probes the uploads, runs each step in a fresh instance in
//! dependency order, hands each result to the [`ResultSink`] and turns every failure into an
//! error code and a message that names the step.

use crate::capabilities::{FfmpegScope, LogScope, StatusScope, WorkspaceScope};
use crate::engine::{LoadedTemplate, TemplateEngine};
use crate::failure::{StepFailure, classify_step_error, classify_trap, internal};
use crate::job::{EmittedOutput, InputRecord, JobState, ProgressReporter, StepScope};
use crate::probe::probe_file;
use crate::sink::{ResultFile, ResultSink, SinkError, StoredResult, md5_copy};
use crate::workspace::{FileIdentity, Workspace};
use futures_util::stream::{FuturesUnordered, StreamExt};
use std::collections::BTreeMap;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use transflow_ffmpeg::MediaTools;
use transflow_store::assembly::{
    AssemblyState, AssemblyStatus, ErrorCode, FileRecord, StepRecord, StepState, assembly_id, file_id,
    now_rfc3339, rfc3339, upload_scope,
};
use transflow_store::template::{ORIGINAL, StepDescription};

/// Extra time the host allows past a step's deadline for wasm to notice it (epoch ticks) before
/// dropping the instance outright.
const DEADLINE_GRACE: Duration = Duration::from_secs(2);

/// A local file to process.
#[derive(Debug, Clone)]
pub struct UploadSource {
    /// The name the user gave it.
    pub name: String,
    /// Where it is.
    pub path: PathBuf,
}

/// One assembly to run.
#[derive(Debug, Clone)]
pub struct AssemblyRequest {
    /// The template.
    pub template: Arc<LoadedTemplate>,
    /// Files to process.
    pub uploads: Vec<UploadSource>,
    /// User fields.
    pub fields: BTreeMap<String, String>,
    /// Owner.
    pub user_id: String,
    /// Branch.
    pub branch: String,
}

/// Runs assemblies on one engine with one set of tools, keeping results in one sink.
#[derive(Debug, Clone)]
pub struct Runner {
    engine: Arc<TemplateEngine>,
    tools: Arc<MediaTools>,
    work_dir: PathBuf,
    results: Arc<dyn ResultSink>,
}

/// Why a run stopped before its last step.
#[derive(Debug)]
enum Halt {
    /// The assembly failed; its status says why.
    Failed(StepFailure),
    /// The run was given up; nothing final is recorded.
    Abandoned(RunAbandoned),
}

impl From<StepFailure> for Halt {
    fn from(failure: StepFailure) -> Halt {
        Halt::Failed(failure)
    }
}

/// A run given up because the store behind its [`ResultSink`] failed: not the assembly's
/// fault, so no final status is recorded, and running the assembly again later may succeed.
#[derive(Debug, thiserror::Error)]
#[error("{context}: {source}")]
pub struct RunAbandoned {
    /// What was being stored, naming the step and the result.
    pub context: String,
    /// Why the store failed.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl Runner {
    /// A runner whose job workspaces live under `work_dir` and whose results go to `results`.
    pub fn new(
        engine: Arc<TemplateEngine>,
        tools: Arc<MediaTools>,
        work_dir: PathBuf,
        results: Arc<dyn ResultSink>,
    ) -> Runner {
        Runner { engine, tools, work_dir, results }
    }

    /// Runs the assembly to its end; `on_update` sees every status change (progress included).
    /// The returned status is completed or carries an error code; this never panics on bad
    /// input. `Err` only when the result sink's store failed (see [`RunAbandoned`]).
    pub async fn run(
        &self,
        request: AssemblyRequest,
        on_update: impl FnMut(&AssemblyStatus),
    ) -> Result<AssemblyStatus, RunAbandoned> {
        let hashed = hash_uploads(&request.uploads).await;
        self.run_hashed(request, hashed, on_update).await
    }

    /// [`Runner::run`] with the uploads' digests already made by [`hash_uploads`], so a caller
    /// can hash them while it loads the template and checks the sandbox.
    pub async fn run_hashed(
        &self,
        request: AssemblyRequest,
        hashed: Result<Vec<(String, u64)>, String>,
        on_update: impl FnMut(&AssemblyStatus),
    ) -> Result<AssemblyStatus, RunAbandoned> {
        let mut status = new_status(&request, &self.tools);
        let hashed = match hashed {
            Ok(hashed) => hashed,
            Err(message) => {
                status.fail(ErrorCode::InputInvalid, None, message);
                return Ok(status);
            }
        };
        let md5s: Vec<String> = hashed.iter().map(|(md5, _)| md5.clone()).collect();
        status.assembly_id = assembly_id(
            &md5s,
            &request.template.description.id,
            &request.user_id,
            &request.branch,
            &request.fields,
        );
        status.bytes_expected = hashed.iter().map(|(_, size)| size).sum();
        status.bytes_received = status.bytes_expected;
        self.run_identified(request, status, &hashed, on_update).await
    }

    /// Runs an assembly whose id and upload digests are already known (a worker's job, whose
    /// uploads were checked on arrival), starting from its stored `status`. When the run is
    /// abandoned, `on_update` has not seen a final status.
    pub async fn run_identified(
        &self,
        request: AssemblyRequest,
        mut status: AssemblyStatus,
        hashed: &[(String, u64)],
        mut on_update: impl FnMut(&AssemblyStatus),
    ) -> Result<AssemblyStatus, RunAbandoned> {
        status.ok = Some(AssemblyState::AssemblyExecuting);
        status.template_version = request.template.version.clone();
        status.sandbox = self.tools.sandbox().name();
        if self.tools.sandbox().is_none() {
            tracing::warn!(assembly_id = %status.assembly_id, "this assembly's tools run unconfined (sandbox: none)");
        }
        let started = time::OffsetDateTime::now_utc();
        status.execution_start = Some(rfc3339(started.into()));
        status.upload_duration = parse_rfc3339(&status.created_at).map(|created| seconds(started - created));
        status.uploads.clear();
        status.results.clear();
        on_update(&status);

        let workspace = match Workspace::create(&self.work_dir, &status.assembly_id[..16]) {
            Ok(workspace) => Arc::new(workspace),
            Err(e) => {
                status.fail(ErrorCode::InternalError, None, format!("cannot create the job workspace: {e}"));
                return Ok(status);
            }
        };
        let outcome = self.execute(&request, &workspace, hashed, &mut status, &mut on_update).await;
        let abandoned = match outcome {
            Ok(()) => None,
            Err(Halt::Failed(failure)) => {
                let step = status.current_step.take();
                status.fail(failure.code, step.as_deref(), failure.message);
                None
            }
            Err(Halt::Abandoned(abandoned)) => Some(abandoned),
        };
        status.current_step = None;
        finish_timing(&mut status);
        if let Ok(workspace) = Arc::try_unwrap(workspace)
            && let Err(error) = workspace.remove()
        {
            tracing::warn!(assembly_id = %status.assembly_id, %error, "could not remove the job workspace");
        }
        if let Some(abandoned) = abandoned {
            return Err(abandoned);
        }
        on_update(&status);
        Ok(status)
    }

    async fn execute(
        &self,
        request: &AssemblyRequest,
        workspace: &Arc<Workspace>,
        hashed: &[(String, u64)],
        status: &mut AssemblyStatus,
        on_update: &mut impl FnMut(&AssemblyStatus),
    ) -> Result<(), Halt> {
        let originals = self.place_uploads(request, workspace, hashed, status).await?;
        self.results.prepare(&request.branch, &status.assembly_id).await.map_err(|error| match error {
            SinkError::Unavailable(source) => {
                Halt::Abandoned(RunAbandoned { context: "preparing the result store".into(), source })
            }
            other => internal(other).into(),
        })?;
        self.run_steps(request, workspace, &originals, status, on_update).await?;
        status.ok = Some(AssemblyState::AssemblyCompleted);
        status.message = "The assembly was successfully completed.".into();
        status.progress = 100.0;
        status.bytes_usage = status.uploads.iter().map(|u| u.size).sum::<u64>()
            + status.results.values().flatten().map(|r| r.size).sum::<u64>();
        Ok(())
    }

    /// Runs the steps as a graph: each starts once every step it uses has ended, up to
    /// [`Runner::parallel_steps`] at once, in the template's order when more are ready. Steps
    /// run as futures of this one task, so dropping the run (a cancel, a lost lease, shutdown)
    /// drops every step at once and with it their tool processes (killed on drop); a failing
    /// step drops its siblings the same way before the failure is recorded. What the status
    /// records (results by step name, current steps in the template's order) does not depend on
    /// which step ends first.
    async fn run_steps(
        &self,
        request: &AssemblyRequest,
        workspace: &Arc<Workspace>,
        originals: &[InputRecord],
        status: &mut AssemblyStatus,
        on_update: &mut impl FnMut(&AssemblyStatus),
    ) -> Result<(), Halt> {
        let steps = &request.template.description.steps;
        // Indexes of the steps each step uses (`:original` is always there).
        let waits_on: Vec<Vec<usize>> = steps
            .iter()
            .map(|step| {
                step.uses.iter().filter_map(|used| steps.iter().position(|s| &s.name == used)).collect()
            })
            .collect();
        let limit = self.parallel_steps();
        let assembly_id = status.assembly_id.clone();
        let mut progress: Vec<Option<f32>> = vec![None; steps.len()];
        let mut ended = vec![false; steps.len()];
        let mut produced: BTreeMap<String, Vec<InputRecord>> = BTreeMap::new();
        let (reporter, mut reports) = tokio::sync::mpsc::unbounded_channel::<(usize, f32)>();
        let mut running = FuturesUnordered::new();
        loop {
            let mut started = false;
            for (index, step) in steps.iter().enumerate() {
                if running.len() >= limit {
                    break;
                }
                if progress[index].is_some() || !waits_on[index].iter().all(|&used| ended[used]) {
                    continue;
                }
                progress[index] = Some(0.0);
                started = true;
                status.steps.insert(step.name.clone(), StepRecord::started(time::OffsetDateTime::now_utc()));
                let inputs = step_inputs(step, originals, &produced);
                let reporter = reporter.clone();
                let report = move |fraction| {
                    let _ = reporter.send((index, fraction));
                };
                running.push(self.run_and_keep(request, workspace, &assembly_id, index, inputs, report));
            }
            if running.is_empty() {
                return Ok(());
            }
            if started {
                note_current_steps(status, steps, &progress, &ended);
                on_update(status);
            }
            let event = tokio::select! {
                outcome = running.next() => StepEvent::Ended(outcome.expect("a step is running")),
                report = reports.recv() => StepEvent::Progress(report.expect("the runner holds a sender")),
            };
            let now = time::OffsetDateTime::now_utc();
            match event {
                StepEvent::Progress((index, fraction)) => {
                    if ended[index] {
                        continue;
                    }
                    progress[index] = Some(fraction);
                    if let Some(record) = status.steps.get_mut(&steps[index].name) {
                        record.progress = 100.0 * fraction;
                    }
                }
                StepEvent::Ended((index, Ok((records, next_inputs)))) => {
                    let name = &steps[index].name;
                    ended[index] = true;
                    progress[index] = Some(1.0);
                    if let Some(record) = status.steps.get_mut(name) {
                        record.progress = 100.0;
                        record.end(StepState::Completed, now);
                    }
                    status.results.insert(name.clone(), records);
                    produced.insert(name.clone(), next_inputs);
                    note_current_steps(status, steps, &progress, &ended);
                }
                StepEvent::Ended((index, Err(halt))) => {
                    // Dropping the siblings kills their tools before anything is recorded.
                    drop(running);
                    let name = &steps[index].name;
                    if let Some(record) = status.steps.get_mut(name) {
                        record.end(StepState::Failed, now);
                    }
                    status.stop_running_steps(now);
                    status.current_step = Some(name.clone());
                    return Err(halt);
                }
            }
            status.progress = 100.0 * progress.iter().flatten().sum::<f32>() / steps.len() as f32;
            status.updated_at = now_rfc3339();
            on_update(status);
        }
    }

    /// How many steps of one assembly run at once: as many as the CPU budget has slots (a step
    /// mostly waits for its tool runs, which wait for slots), and never more than the engine
    /// has instances.
    fn parallel_steps(&self) -> usize {
        let instances = usize::try_from(self.engine.max_instances()).unwrap_or(usize::MAX);
        self.tools.cpu_budget().size().min(instances).max(1)
    }

    /// Runs step `index` and keeps its results: their records for the status, and the inputs
    /// they become for the steps that use this one. A failure names the step.
    async fn run_and_keep(
        &self,
        request: &AssemblyRequest,
        workspace: &Arc<Workspace>,
        assembly_id: &str,
        index: usize,
        inputs: Vec<InputRecord>,
        on_progress: impl FnMut(f32),
    ) -> (usize, Result<(Vec<FileRecord>, Vec<InputRecord>), Halt>) {
        let step = &request.template.description.steps[index];
        let emitted = match self.run_step(request, workspace, assembly_id, step, inputs, on_progress).await {
            Ok(emitted) => emitted,
            Err(failure) => {
                let message = format!("step `{}`: {}", step.name, failure.message);
                return (index, Err(StepFailure { message, ..failure }.into()));
            }
        };
        let mut records = Vec::with_capacity(emitted.len());
        let mut next_inputs = Vec::with_capacity(emitted.len());
        for output in emitted {
            let stored =
                match self.keep_result(workspace, &request.branch, assembly_id, &step.name, &output).await {
                    Ok(stored) => stored,
                    Err(error) => return (index, Err(error.halt(&step.name))),
                };
            // The record and the next steps' input describe the stored bytes.
            let problem = (stored.size == 0).then(|| "empty file".to_owned());
            let EmittedOutput { id, path, facts, original_id, .. } = output;
            let input = facts.clone().input(
                id.clone(),
                path,
                stored.size,
                step.name.clone(),
                original_id.clone(),
                problem,
            );
            let mut record = facts.record(id, stored.size, stored.md5);
            record.original_id = Some(original_id);
            record.step = Some(step.name.clone());
            record.link(stored.url);
            next_inputs.push(input);
            records.push(record);
        }
        (index, Ok((records, next_inputs)))
    }

    /// Copies the uploads into the workspace (read-only) and probes them; an unreadable upload
    /// is recorded with its problem so the step that feeds it to ffmpeg fails naming it.
    async fn place_uploads(
        &self,
        request: &AssemblyRequest,
        workspace: &Workspace,
        hashed: &[(String, u64)],
        status: &mut AssemblyStatus,
    ) -> Result<Vec<InputRecord>, StepFailure> {
        let mut inputs = Vec::with_capacity(request.uploads.len());
        for (index, (upload, (md5, size))) in request.uploads.iter().zip(hashed).enumerate() {
            // An announced upload keeps the id create-upload gave it (the worker passes the
            // uploads in announcement order); `transflow run` derives one.
            let id = match status.expected_uploads.get(index) {
                Some(expected) => expected.upload_id.clone(),
                None => file_id(&status.assembly_id, &upload_scope(status.attempt, index), &upload.name),
            };
            let path = workspace.add_upload(&id, &upload.name, &upload.path).map_err(internal)?;
            let probed = probe_file(&self.tools, workspace.root(), &path, &upload.name, *size)
                .await
                .map_err(internal)?;
            status.uploads.push(probed.facts.clone().record(id.clone(), *size, md5.clone()));
            inputs.push(probed.facts.input(id.clone(), path, *size, ORIGINAL.into(), id, probed.problem));
        }
        Ok(inputs)
    }

    /// Hands a result to the sink from the file opened once and checked to be the one emitted,
    /// so what is stored is what `emit` probed (a file rewritten or replaced since is refused).
    async fn keep_result(
        &self,
        workspace: &Workspace,
        branch: &str,
        assembly_id: &str,
        step: &str,
        output: &EmittedOutput,
    ) -> Result<StoredResult, KeepError> {
        let name = output.facts.name.clone();
        let io = |source| KeepError::Io { name: name.clone(), source };
        // Non-blocking, so a FIFO swapped in for the file cannot stall the host at `open`; the
        // identity check below then refuses it.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(workspace.root().join(&output.path))
            .map_err(io)?;
        if FileIdentity::of(&file.metadata().map_err(io)?) != output.identity {
            return Err(KeepError::Changed { name });
        }
        let result = ResultFile {
            branch,
            assembly_id,
            step,
            name: &output.facts.name,
            file,
            size: output.identity.size,
            mime: &output.facts.mime,
        };
        self.results.keep(result).await.map_err(|error| match error {
            SinkError::Refused(reason) => KeepError::Refused { name, reason },
            SinkError::Io(source) => KeepError::Io { name, source },
            SinkError::Unavailable(source) => KeepError::Unavailable { name, source },
        })
    }

    /// Runs one step in a fresh instance; `on_progress` sees its progress (0–1) as it rises.
    async fn run_step(
        &self,
        request: &AssemblyRequest,
        workspace: &Arc<Workspace>,
        assembly_id: &str,
        step: &StepDescription,
        inputs: Vec<InputRecord>,
        mut on_progress: impl FnMut(f32),
    ) -> Result<Vec<EmittedOutput>, StepFailure> {
        let limits = self.engine.limits().clone();
        let deadline = tokio::time::Instant::now() + limits.step_timeout;
        let (progress, mut progress_rx) = ProgressReporter::channel();
        let inputs: Arc<[InputRecord]> = inputs.into();
        let fields = request.fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let scope = StepScope {
            ffmpeg: FfmpegScope::new(
                self.tools.clone(),
                workspace.clone(),
                step.name.clone(),
                inputs.clone(),
                progress.clone(),
                deadline,
                &limits,
            ),
            workspace: WorkspaceScope::new(
                workspace.clone(),
                step.name.clone(),
                assembly_id.to_owned(),
                inputs,
                fields,
                self.tools.clone(),
                &limits,
            ),
            status: StatusScope::new(progress),
            log: LogScope::new(assembly_id.to_owned(), step.name.clone()),
        };
        let state = JobState::for_step(scope, &limits);
        let engine = self.engine.clone();
        let template = request.template.clone();
        let name = step.name.clone();
        let call = async move {
            let (mut store, instance) = engine.instantiate(&template, state, deadline.into_std()).await?;
            let result = instance.transflow_template_pipeline().call_run_step(&mut store, &name).await;
            Ok::<_, wasmtime::Error>((store, result))
        };
        let mut call = std::pin::pin!(tokio::time::timeout_at(deadline + DEADLINE_GRACE, call));
        let mut watching = true;
        let outcome = loop {
            tokio::select! {
                outcome = &mut call => break outcome,
                changed = progress_rx.changed(), if watching => {
                    if changed.is_err() {
                        watching = false;
                        continue;
                    }
                    on_progress(progress_rx.borrow_and_update().fraction);
                }
            }
        };
        let timeout = || StepFailure {
            code: ErrorCode::StepTimeout,
            message: format!(
                "ran past its time limit of {} s and was stopped",
                limits.step_timeout.as_secs()
            ),
        };
        let (store, result) = match outcome {
            Err(_) => return Err(timeout()),
            Ok(Err(trap)) => return Err(classify_trap(&trap, "", &limits, timeout)),
            Ok(Ok(pair)) => pair,
        };
        let guest_stderr = store.data().guest_stderr();
        match result {
            Err(trap) => Err(classify_trap(&trap, &guest_stderr, &limits, timeout)),
            Ok(Err(error)) => Err(classify_step_error(error)),
            Ok(Ok(())) => match store.into_data().into_scope() {
                Some(scope) => Ok(scope.into_emitted().await),
                None => Ok(Vec::new()),
            },
        }
    }
}

fn new_status(request: &AssemblyRequest, tools: &MediaTools) -> AssemblyStatus {
    let mut status = AssemblyStatus::new(
        String::new(),
        request.template.description.id.clone(),
        request.template.version.clone(),
        request.branch.clone(),
        request.user_id.clone(),
        request.fields.clone(),
    );
    status.ok = Some(AssemblyState::AssemblyExecuting);
    status.message = "Processing the uploads".into();
    status.sandbox = tools.sandbox().name();
    status.execution_start = Some(now_rfc3339());
    status
}

fn finish_timing(status: &mut AssemblyStatus) {
    let now = time::OffsetDateTime::now_utc();
    if let Some(started) = status.execution_start.as_deref().and_then(parse_rfc3339) {
        status.execution_duration = Some(seconds(now - started));
    }
    status.updated_at = now_rfc3339();
}

fn parse_rfc3339(text: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}

/// A duration in seconds, rounded to milliseconds as the status reports them.
fn seconds(duration: time::Duration) -> f64 {
    (duration.as_seconds_f64() * 1000.0).round() / 1000.0
}

/// What the runner waits for while steps run.
enum StepEvent<T> {
    /// A step ended, with its index.
    Ended(T),
    /// A step's progress rose: its index and its fraction done.
    Progress((usize, f32)),
}

/// Lists the steps started and not ended as the current ones, in the template's order.
fn note_current_steps(
    status: &mut AssemblyStatus,
    steps: &[StepDescription],
    progress: &[Option<f32>],
    ended: &[bool],
) {
    status.current_steps = steps
        .iter()
        .zip(progress.iter().zip(ended))
        .filter(|(_, (progress, ended))| progress.is_some() && !**ended)
        .map(|(step, _)| step.name.clone())
        .collect();
    status.current_step = status.current_steps.first().cloned();
    if !status.current_steps.is_empty() {
        status.message = match status.current_steps.as_slice() {
            [one] => format!("Running step `{one}`"),
            many => format!(
                "Running steps {}",
                many.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
            ),
        };
    }
}

/// The files a step receives: uploads for `:original`, results of the steps it uses.
fn step_inputs(
    step: &StepDescription,
    originals: &[InputRecord],
    produced: &BTreeMap<String, Vec<InputRecord>>,
) -> Vec<InputRecord> {
    step.uses
        .iter()
        .flat_map(|used| {
            if used == ORIGINAL {
                originals.to_vec()
            } else {
                produced.get(used).cloned().unwrap_or_default()
            }
        })
        .collect()
}

/// Why a result was not kept.
#[derive(Debug, thiserror::Error)]
enum KeepError {
    /// The file was rewritten (or replaced) after `emit` probed it: what was recorded about it
    /// would not describe what is kept.
    #[error("result `{name}` changed after it was emitted; emit a file only once it is complete")]
    Changed {
        /// The result's name.
        name: String,
    },
    /// The sink read other bytes than were emitted and stored none of them.
    #[error("result `{name}` differs from its record and was not stored: {reason}")]
    Refused {
        /// The result's name.
        name: String,
        /// What differed.
        reason: String,
    },
    /// The host could not read or copy it.
    #[error("host I/O failed while keeping result `{name}`: {source}")]
    Io {
        /// The result's name.
        name: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The sink's store failed.
    #[error("result `{name}` could not be stored: {source}")]
    Unavailable {
        /// The result's name.
        name: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl KeepError {
    /// What a result not kept does to the run of `step`: a changed file is the template's
    /// fault, a refused or unreadable one the host's, and a failed store abandons the run.
    fn halt(self, step: &str) -> Halt {
        let code = match self {
            KeepError::Changed { .. } => ErrorCode::StepFailed,
            KeepError::Refused { .. } | KeepError::Io { .. } => ErrorCode::InternalError,
            KeepError::Unavailable { name, source } => {
                let context = format!("step `{step}`: storing result `{name}`");
                return Halt::Abandoned(RunAbandoned { context, source });
            }
        };
        Halt::Failed(StepFailure { code, message: format!("step `{step}`: {self}") })
    }
}

/// The MD5 and size of each upload, in order; a message naming the file that cannot be read.
pub async fn hash_uploads(uploads: &[UploadSource]) -> Result<Vec<(String, u64)>, String> {
    if uploads.is_empty() {
        return Err("no files to process: give at least one".into());
    }
    let paths: Vec<PathBuf> = uploads.iter().map(|u| u.path.clone()).collect();
    tokio::task::spawn_blocking(move || {
        paths
            .iter()
            .map(|path| {
                fs_err::File::open(path)
                    .and_then(|mut file| md5_copy(&mut file, &mut std::io::sink()))
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))
            })
            .collect()
    })
    .await
    .map_err(|e| format!("hashing failed: {e}"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_not_kept_fail_the_step_naming_it_or_abandon_the_run() {
        let failure = |error: KeepError| match error.halt("thumbs") {
            Halt::Failed(failure) => (failure.code, failure.message),
            Halt::Abandoned(abandoned) => panic!("abandoned: {abandoned}"),
        };
        let (code, message) = failure(KeepError::Refused {
            name: "a.jpg".into(),
            reason: "the body of `outputs/main/x/thumbs/a.jpg` has 12 bytes; 11 were declared".into(),
        });
        assert_eq!(code, ErrorCode::InternalError);
        assert_eq!(
            message,
            "step `thumbs`: result `a.jpg` differs from its record and was not stored: \
             the body of `outputs/main/x/thumbs/a.jpg` has 12 bytes; 11 were declared"
        );
        let (code, message) = failure(KeepError::Changed { name: "a.jpg".into() });
        assert_eq!(code, ErrorCode::StepFailed);
        assert!(
            message.starts_with("step `thumbs`: result `a.jpg` changed after it was emitted"),
            "{message}"
        );

        let unavailable =
            KeepError::Unavailable { name: "a.jpg".into(), source: "the bucket is unreachable".into() };
        let Halt::Abandoned(abandoned) = unavailable.halt("thumbs") else {
            panic!("the run must be abandoned")
        };
        assert_eq!(abandoned.to_string(), "step `thumbs`: storing result `a.jpg`: the bucket is unreachable");
    }
}
