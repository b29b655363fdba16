//! Runs one assembly: places and probes the uploads, runs each step in a fresh instance in
//! dependency order, collects results and turns every failure into an error code and a message
//! that names the step.

use crate::bindings::{GuestError, StepError};
use crate::capabilities::{FfmpegScope, LogScope, StatusScope, WorkspaceScope};
use crate::engine::{LoadedTemplate, TemplateEngine};
use crate::job::{EmittedOutput, InputRecord, JobState, ProgressReporter, StepScope};
use crate::traps::{HostFault, HostcallBudgetExhausted, MemoryLimitExceeded, StepTimedOut};
use crate::workspace::{FileIdentity, Workspace, copy_to_new};
use md5::{Digest, Md5};
use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use transflow_ffmpeg::{MediaTools, mime};
use transflow_store::assembly::{
    AssemblyState, AssemblyStatus, ErrorCode, FileRecord, assembly_id, file_id, now_rfc3339, rfc3339,
    upload_scope,
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

/// Runs assemblies on one engine with one set of tools.
#[derive(Debug, Clone)]
pub struct Runner {
    engine: Arc<TemplateEngine>,
    tools: Arc<MediaTools>,
    work_dir: PathBuf,
    outputs_dir: PathBuf,
}

/// A step ended in failure.
#[derive(Debug)]
struct StepFailure {
    code: ErrorCode,
    message: String,
}

impl Runner {
    /// A runner whose job workspaces live under `work_dir` and whose results are kept under
    /// `outputs_dir/{branch}/{assembly_id}/{step}/`.
    pub fn new(
        engine: Arc<TemplateEngine>,
        tools: Arc<MediaTools>,
        work_dir: PathBuf,
        outputs_dir: PathBuf,
    ) -> Runner {
        Runner { engine, tools, work_dir, outputs_dir }
    }

    /// Where the results of an assembly go.
    pub fn assembly_outputs(&self, branch: &str, assembly_id: &str) -> PathBuf {
        self.outputs_dir.join(branch).join(assembly_id)
    }

    /// Runs the assembly to its end; `on_update` sees every status change (progress included).
    /// The returned status is completed or carries an error code; this never panics on bad input.
    pub async fn run(
        &self,
        request: AssemblyRequest,
        on_update: impl FnMut(&AssemblyStatus),
    ) -> AssemblyStatus {
        let mut status = new_status(&request, &self.tools);
        let hashed = match hash_uploads(&request.uploads).await {
            Ok(hashed) => hashed,
            Err(message) => {
                status.fail(ErrorCode::InputInvalid, None, message);
                return status;
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
    /// uploads were checked on arrival), starting from its stored `status`.
    pub async fn run_identified(
        &self,
        request: AssemblyRequest,
        mut status: AssemblyStatus,
        hashed: &[(String, u64)],
        mut on_update: impl FnMut(&AssemblyStatus),
    ) -> AssemblyStatus {
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
                return status;
            }
        };
        let outcome = self.execute(&request, &workspace, hashed, &mut status, &mut on_update).await;
        if let Err(failure) = outcome {
            let step = status.current_step.take();
            status.fail(failure.code, step.as_deref(), failure.message);
        }
        status.current_step = None;
        finish_timing(&mut status);
        if let Ok(workspace) = Arc::try_unwrap(workspace)
            && let Err(error) = workspace.remove()
        {
            tracing::warn!(assembly_id = %status.assembly_id, %error, "could not remove the job workspace");
        }
        on_update(&status);
        status
    }

    async fn execute(
        &self,
        request: &AssemblyRequest,
        workspace: &Arc<Workspace>,
        hashed: &[(String, u64)],
        status: &mut AssemblyStatus,
        on_update: &mut impl FnMut(&AssemblyStatus),
    ) -> Result<(), StepFailure> {
        let originals = self.place_uploads(request, workspace, hashed, status).await?;
        let outputs = self.assembly_outputs(&request.branch, &status.assembly_id);
        if outputs.exists() {
            fs_err::remove_dir_all(&outputs).map_err(internal)?;
        }
        let steps = request.template.description.steps.clone();
        let mut produced: BTreeMap<String, Vec<InputRecord>> = BTreeMap::new();
        for (index, step) in steps.iter().enumerate() {
            status.current_step = Some(step.name.clone());
            status.message = format!("Running step `{}`", step.name);
            on_update(status);
            let inputs = step_inputs(step, &originals, &produced);
            let emitted = self
                .run_step(request, workspace, status, step, inputs, index, steps.len(), &mut *on_update)
                .await
                .map_err(|failure| StepFailure {
                    message: format!("step `{}`: {}", step.name, failure.message),
                    ..failure
                })?;
            let mut records = Vec::with_capacity(emitted.len());
            let mut next_inputs = Vec::with_capacity(emitted.len());
            for output in emitted {
                let record = keep_result(workspace, &outputs, &step.name, &output).map_err(|error| {
                    let code = match error {
                        KeepError::Changed { .. } => ErrorCode::StepFailed,
                        KeepError::Io { .. } => ErrorCode::InternalError,
                    };
                    StepFailure { code, message: format!("step `{}`: {error}", step.name) }
                })?;
                next_inputs.push(input_from_result(&step.name, &output, &record));
                records.push(record);
            }
            status.results.insert(step.name.clone(), records);
            produced.insert(step.name.clone(), next_inputs);
            status.progress = 100.0 * (index + 1) as f32 / steps.len() as f32;
            status.updated_at = now_rfc3339();
            on_update(status);
        }
        status.ok = Some(AssemblyState::AssemblyCompleted);
        status.message = "The assembly was successfully completed.".into();
        status.progress = 100.0;
        status.bytes_usage = status.uploads.iter().map(|u| u.size).sum::<u64>()
            + status.results.values().flatten().map(|r| r.size).sum::<u64>();
        Ok(())
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
            let (meta, problem) = if *size == 0 {
                (None, Some("empty file".to_owned()))
            } else {
                match self.tools.probe(workspace.root(), &path).await {
                    Ok(Some(meta)) => (Some(meta), None),
                    Ok(None) => (None, Some("not a media file: it has no audio or video stream".to_owned())),
                    Err(error) => (None, Some(format!("not a media file: {}", probe_reason(&error)))),
                }
            };
            let name = upload.name.clone();
            let (basename, ext) = split_name(&name);
            let head = read_head(&workspace.root().join(&path)).map_err(internal)?;
            let has_video = meta.as_ref().is_some_and(|m| m.video_codec.is_some());
            let mime = mime::detect(meta.as_ref().and_then(|m| m.format.as_deref()), has_video, &head, &ext);
            status.uploads.push(FileRecord {
                id: id.clone(),
                name: name.clone(),
                basename: basename.clone(),
                ext: ext.clone(),
                size: *size,
                mime: mime.clone(),
                md5hash: md5.clone(),
                meta: meta.clone(),
                original_id: None,
                step: None,
                url: None,
                ssl_url: None,
            });
            inputs.push(InputRecord {
                id: id.clone(),
                path,
                name,
                basename,
                ext,
                mime,
                size: *size,
                from_step: ORIGINAL.into(),
                original_id: id,
                meta,
                problem,
            });
        }
        Ok(inputs)
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_step(
        &self,
        request: &AssemblyRequest,
        workspace: &Arc<Workspace>,
        status: &mut AssemblyStatus,
        step: &StepDescription,
        inputs: Vec<InputRecord>,
        index: usize,
        step_count: usize,
        on_update: &mut impl FnMut(&AssemblyStatus),
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
                status.assembly_id.clone(),
                inputs,
                fields,
                self.tools.clone(),
                &limits,
            ),
            status: StatusScope::new(progress),
            log: LogScope::new(status.assembly_id.clone(), step.name.clone()),
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
                    let fraction = progress_rx.borrow_and_update().fraction;
                    status.progress = 100.0 * (index as f32 + fraction) / step_count as f32;
                    status.updated_at = now_rfc3339();
                    on_update(status);
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
            Ok(Ok(())) => Ok(store.into_data().into_scope().map(StepScope::into_emitted).unwrap_or_default()),
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

/// A kept result as an input of the steps that use its step; its size is the kept file's.
fn input_from_result(step: &str, output: &EmittedOutput, kept: &FileRecord) -> InputRecord {
    let (basename, ext) = split_name(output.name.rsplit('/').next().unwrap_or(&output.name));
    InputRecord {
        id: output.id.clone(),
        path: output.path.clone(),
        name: output.name.clone(),
        basename,
        ext,
        mime: output.mime.clone(),
        size: kept.size,
        from_step: step.to_owned(),
        original_id: output.original_id.clone(),
        meta: output.meta.clone(),
        problem: (kept.size == 0).then(|| "empty file".to_owned()),
    }
}

/// Why a result could not be kept.
#[derive(Debug, thiserror::Error)]
enum KeepError {
    /// The file was rewritten (or replaced) after `emit` probed it: what was recorded about it
    /// would not describe what is kept.
    #[error("result `{name}` changed after it was emitted; emit a file only once it is complete")]
    Changed {
        /// The result's name.
        name: String,
    },
    /// The host could not copy or read it.
    #[error("host I/O failed while keeping result `{name}`: {source}")]
    Io {
        /// The result's name.
        name: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Copies a result out of the workspace into the assembly's outputs and records it. The copy
/// is made from the file opened once and checked to be the one emitted, into a file that must
/// not exist yet (so nothing is ever copied onto itself), and the recorded size and MD5 are
/// read back from the kept copy: the record describes the bytes stored, not the workspace file.
/// A copy rather than a hard link: the workspace stays writable by the job's tools, and the
/// kept result must not change with it. Where the filesystem shares blocks the copy is a
/// reflink and costs no data writes.
fn keep_result(
    workspace: &Workspace,
    outputs: &Path,
    step: &str,
    output: &EmittedOutput,
) -> Result<FileRecord, KeepError> {
    let io = |source| KeepError::Io { name: output.name.clone(), source };
    // Non-blocking, so a FIFO swapped in for the file cannot stall the host at `open`; the
    // identity check below then refuses it.
    let source = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(workspace.root().join(&output.path))
        .map_err(io)?;
    if FileIdentity::of(&source.metadata().map_err(io)?) != output.identity {
        return Err(KeepError::Changed { name: output.name.clone() });
    }
    let target = outputs.join(step).join(&output.name);
    fs_err::create_dir_all(target.parent().expect("has a parent")).map_err(io)?;
    copy_to_new(&source, &target).map_err(io)?;
    fs_err::set_permissions(&target, std::fs::Permissions::from_mode(0o444)).map_err(io)?;
    let (md5, size) = md5_file(&target).map_err(io)?;
    let file_name = output.name.rsplit('/').next().unwrap_or(&output.name);
    let (basename, ext) = split_name(file_name);
    let url = url_for(&fs_err::canonicalize(&target).map_err(io)?);
    Ok(FileRecord {
        id: output.id.clone(),
        name: output.name.clone(),
        basename,
        ext,
        size,
        mime: output.mime.clone(),
        md5hash: md5,
        meta: output.meta.clone(),
        original_id: Some(output.original_id.clone()),
        step: Some(step.to_owned()),
        url: Some(url),
        ssl_url: None,
    })
}

fn url_for(path: &Path) -> String {
    let encoded: String = path
        .to_string_lossy()
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("file://{encoded}")
}

/// `clip.final.MP4` → (`clip.final`, `mp4`).
fn split_name(name: &str) -> (String, String) {
    match name.rsplit_once('.') {
        Some((base, ext)) if !base.is_empty() => (base.to_owned(), ext.to_ascii_lowercase()),
        _ => (name.to_owned(), String::new()),
    }
}

fn read_head(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(16);
    std::fs::File::open(path)?.take(16).read_to_end(&mut head)?;
    Ok(head)
}

/// Streams a file through MD5 (1 MiB at a time; never the whole file in memory).
pub fn md5_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut file = fs_err::File::open(path)?;
    let mut hasher = Md5::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        total += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), total))
}

async fn hash_uploads(uploads: &[UploadSource]) -> Result<Vec<(String, u64)>, String> {
    if uploads.is_empty() {
        return Err("no files to process: give at least one".into());
    }
    let paths: Vec<PathBuf> = uploads.iter().map(|u| u.path.clone()).collect();
    tokio::task::spawn_blocking(move || {
        paths
            .iter()
            .map(|path| md5_file(path).map_err(|e| format!("cannot read {}: {e}", path.display())))
            .collect()
    })
    .await
    .map_err(|e| format!("hashing failed: {e}"))?
}

fn probe_reason(error: &transflow_ffmpeg::ToolError) -> String {
    match error {
        transflow_ffmpeg::ToolError::Failed { stderr_tail, .. } => {
            stderr_tail.lines().last().unwrap_or("ffprobe could not read it").to_owned()
        }
        other => other.to_string(),
    }
}

fn internal(error: std::io::Error) -> StepFailure {
    StepFailure { code: ErrorCode::InternalError, message: format!("host I/O failed: {error}") }
}

/// Maps a trap (or instantiation failure) to an error code, using the guest's stderr for panics.
fn classify_trap(
    trap: &wasmtime::Error,
    guest_stderr: &str,
    limits: &crate::limits::JobLimits,
    timeout: impl Fn() -> StepFailure,
) -> StepFailure {
    let failure = |code, message: String| StepFailure { code, message };
    if trap.is::<StepTimedOut>() {
        return timeout();
    }
    if let Some(memory) = trap.downcast_ref::<MemoryLimitExceeded>() {
        return failure(ErrorCode::MemoryLimit, format!("{memory}; the template ran out of memory"));
    }
    if let Some(budget) = trap.downcast_ref::<HostcallBudgetExhausted>() {
        return failure(ErrorCode::ResourceLimit, budget.to_string());
    }
    if trap.is::<wasmtime::component::ResourceTableError>() {
        return failure(
            ErrorCode::ResourceLimit,
            format!("the template opened more than {} handles", limits.resource_handles),
        );
    }
    if let Some(fault) = trap.downcast_ref::<HostFault>() {
        return failure(ErrorCode::InternalError, fault.0.clone());
    }
    if let Some(io) = trap.downcast_ref::<std::io::Error>() {
        return failure(ErrorCode::InternalError, format!("host I/O failed: {io}"));
    }
    let detail = last_stderr_message(guest_stderr).unwrap_or_else(|| trap.to_string());
    failure(ErrorCode::TemplateTrapped, format!("the template crashed: {detail}"))
}

/// The last meaningful line a crashing guest wrote. A Rust panic prints its message after the
/// `panicked at` line and then a `note:` about backtraces; a JavaScript one (StarlingMonkey)
/// prints the exception, then `Stack:` with indented frames, then a line about `abort()`.
/// None of those trailers says anything about the cause.
fn last_stderr_message(stderr: &str) -> Option<String> {
    const TRAILERS: [&str; 3] = ["note:", "Stack:", "Redirecting call to abort()"];
    stderr
        .lines()
        .rev()
        .filter(|l| !l.starts_with([' ', '\t']))
        .map(str::trim)
        .find(|l| !l.is_empty() && !TRAILERS.iter().any(|t| l.starts_with(t)) && !l.contains("panicked at"))
        .map(str::to_owned)
}

fn classify_step_error(error: StepError) -> StepFailure {
    let (code, message) = match error {
        StepError::Host(GuestError::ToolFailed(failure)) => {
            let on = failure.input.map_or(String::new(), |input| format!(" on `{input}`"));
            let exit = failure.exit_code.map_or("was killed".to_owned(), |c| format!("exited with code {c}"));
            (ErrorCode::FfmpegFailed, format!("{}{on} {exit}: {}", failure.tool, failure.stderr_tail.trim()))
        }
        StepError::Host(GuestError::ArgumentRefused(refused)) => (
            ErrorCode::ArgumentRefused,
            format!("ffmpeg argument `{}` was refused: {}", refused.argument, refused.reason),
        ),
        StepError::Host(GuestError::BadInput(bad)) => {
            (ErrorCode::InputInvalid, format!("input `{}` cannot be processed: {}", bad.input, bad.reason))
        }
        StepError::Host(GuestError::LimitExceeded(message)) => (ErrorCode::ResourceLimit, message),
        StepError::Host(GuestError::NotFound(message) | GuestError::InvalidRequest(message)) => {
            (ErrorCode::StepFailed, message)
        }
        StepError::InvalidField(field) => (
            ErrorCode::InvalidField,
            format!(
                "field `{}` is {}; expected {}",
                field.field,
                quoted_prefix(&field.value),
                field.expected
            ),
        ),
        StepError::Failed(message) => (ErrorCode::StepFailed, message),
    };
    StepFailure { code, message }
}

/// Bytes of a bad field value quoted in its error: enough to recognise it, never a 4 KB echo.
const QUOTED_VALUE_BYTES: usize = 40;

/// `value` in backticks, cut to [`QUOTED_VALUE_BYTES`] on a character boundary with its full
/// length noted when longer.
fn quoted_prefix(value: &str) -> String {
    if value.len() <= QUOTED_VALUE_BYTES {
        return format!("`{value}`");
    }
    let end = (0..=QUOTED_VALUE_BYTES).rev().find(|&i| value.is_char_boundary(i)).unwrap_or(0);
    format!("`{}…` ({} bytes)", &value[..end], value.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::transflow::template::types::{BadInput, RefusedArgument, ToolFailure};

    #[test]
    fn a_crash_is_described_by_its_cause_not_its_trailers() {
        let rust = "thread '<unnamed>' panicked at src/lib.rs:9:5:\nindex out of bounds\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(last_stderr_message(rust).as_deref(), Some("index out of bounds"));
        let javascript = "TypeError: raw failure in only\nStack:\n  runStep@initializer.js:1496:17\n\nRedirecting call to abort() to mozalloc_abort\n";
        assert_eq!(last_stderr_message(javascript).as_deref(), Some("TypeError: raw failure in only"));
        assert_eq!(last_stderr_message("\n  \n"), None);
    }

    /// The table in `traps`: each marker becomes its documented code and message.
    #[test]
    fn trap_markers_become_their_documented_codes() {
        let limits = crate::limits::JobLimits::default();
        let timeout = || StepFailure { code: ErrorCode::StepTimeout, message: "late".into() };
        let classify = |trap: wasmtime::Error| {
            let failure = classify_trap(&trap, "", &limits, timeout);
            (failure.code, failure.message)
        };
        assert_eq!(classify(wasmtime::Error::new(StepTimedOut)), (ErrorCode::StepTimeout, "late".into()));
        let memory = MemoryLimitExceeded { requested: 2048, limit: 1024 };
        assert_eq!(
            classify(wasmtime::Error::new(memory)),
            (
                ErrorCode::MemoryLimit,
                "the template tried to grow its memory to 2048 bytes; the limit is 1024 bytes; the template \
                 ran out of memory"
                    .into()
            )
        );
        assert_eq!(
            classify(wasmtime::Error::new(HostcallBudgetExhausted(20))),
            (ErrorCode::ResourceLimit, "the template made more than 20 host calls in one step".into())
        );
        assert_eq!(
            classify(wasmtime::Error::new(HostFault("ffmpeg is gone".into()))),
            (ErrorCode::InternalError, "ffmpeg is gone".into())
        );
        let io = std::io::Error::other("disk on fire");
        assert_eq!(
            classify(wasmtime::Error::new(io)),
            (ErrorCode::InternalError, "host I/O failed: disk on fire".into())
        );
    }

    #[test]
    fn step_errors_map_to_documented_codes() {
        let tool = classify_step_error(StepError::Host(GuestError::ToolFailed(ToolFailure {
            tool: "ffmpeg".into(),
            exit_code: Some(1),
            stderr_tail: "in/x/a.mp4: Invalid data found when processing input".into(),
            input: Some("a.mp4".into()),
        })));
        assert_eq!(tool.code, ErrorCode::FfmpegFailed);
        assert_eq!(
            tool.message,
            "ffmpeg on `a.mp4` exited with code 1: in/x/a.mp4: Invalid data found when processing input"
        );
        let refused = classify_step_error(StepError::Host(GuestError::ArgumentRefused(RefusedArgument {
            argument: "/etc/passwd".into(),
            reason: "absolute paths are not allowed".into(),
        })));
        assert_eq!(refused.code, ErrorCode::ArgumentRefused);
        let bad = classify_step_error(StepError::Host(GuestError::BadInput(BadInput {
            input: "x.mp4".into(),
            reason: "empty file".into(),
        })));
        assert_eq!(
            (bad.code, bad.message.as_str()),
            (ErrorCode::InputInvalid, "input `x.mp4` cannot be processed: empty file")
        );
        assert_eq!(classify_step_error(StepError::Failed("nope".into())).code, ErrorCode::StepFailed);
    }

    #[test]
    fn a_bad_field_value_is_quoted_by_a_short_prefix() {
        let invalid = |value: &str| {
            classify_step_error(StepError::InvalidField(
                crate::bindings::exports::transflow::template::pipeline::InvalidField {
                    field: "count".into(),
                    value: value.into(),
                    expected: "an integer from 1 to 20".into(),
                },
            ))
        };
        let short = invalid("x");
        assert_eq!(short.code, ErrorCode::InvalidField);
        assert_eq!(short.message, "field `count` is `x`; expected an integer from 1 to 20");
        let long = invalid(&"é".repeat(2048));
        assert_eq!(
            long.message,
            format!("field `count` is `{}…` (4096 bytes); expected an integer from 1 to 20", "é".repeat(20))
        );
    }

    #[test]
    fn names_split_into_base_and_extension() {
        assert_eq!(split_name("clip.final.MP4"), ("clip.final".into(), "mp4".into()));
        assert_eq!(split_name("README"), ("README".into(), String::new()));
        assert_eq!(split_name(".env"), (".env".into(), String::new()));
    }

    #[test]
    fn urls_are_percent_encoded() {
        assert_eq!(url_for(Path::new("/a b/c#d.mp4")), "file:///a%20b/c%23d.mp4");
    }
}
