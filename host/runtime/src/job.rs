//! What a store holds while a step runs: the deny-by-default WASI context, the limiter, the
//! host-call budget and the step's scope (workspace, inputs, fields, tools, progress).

use crate::limits::{JobLimiter, JobLimits};
use crate::probe::FileFacts;
use crate::workspace::{FileIdentity, Reservations, Workspace};
use std::sync::Arc;
use tokio::sync::watch;
use tokio::time::Instant;
use transflow_ffmpeg::{MediaMeta, MediaTools};
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// How much of a guest's stderr (panic messages) is kept.
const GUEST_STDERR_BYTES: usize = 16 * 1024;

/// A file a step may read, as the host knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct InputRecord {
    /// Upload id or result id.
    pub id: String,
    /// Workspace-relative path.
    pub path: String,
    /// File name.
    pub name: String,
    /// Name without extension.
    pub basename: String,
    /// Extension, lower case, no dot.
    pub ext: String,
    /// Detected MIME type.
    pub mime: String,
    /// Bytes.
    pub size: u64,
    /// Producing step or `:original`.
    pub from_step: String,
    /// The upload it derives from.
    pub original_id: String,
    /// Probe result.
    pub meta: Option<MediaMeta>,
    /// Why ffmpeg must not be run on it (empty, not media), if so.
    pub problem: Option<String>,
}

/// A file a step emitted as a result.
#[derive(Debug, Clone, PartialEq)]
pub struct EmittedOutput {
    /// Result id.
    pub id: String,
    /// Workspace-relative path of the file itself (symlinks resolved).
    pub path: String,
    /// The file when it was emitted, its size included: the host keeps it only if it has not
    /// changed since.
    pub identity: FileIdentity,
    /// Probed when emitted; the name is the path below the step directory, as emitted.
    pub facts: FileFacts,
    /// The upload it derives from.
    pub original_id: String,
}

/// Progress of the running step as the guest and ffmpeg report it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepProgress {
    /// 0.0–1.0, never decreasing.
    pub fraction: f32,
    /// Latest message.
    pub message: Option<String>,
}

/// Everything the capabilities need while one step runs.
#[derive(Debug)]
pub struct StepScope {
    /// The assembly, for log lines.
    pub assembly_id: String,
    /// The step running.
    pub step: String,
    /// The job's workspace.
    pub workspace: Arc<Workspace>,
    /// The step's inputs.
    pub inputs: Vec<InputRecord>,
    /// The assembly's user fields.
    pub fields: Vec<(String, String)>,
    /// ffmpeg and ffprobe.
    pub tools: Arc<MediaTools>,
    /// The job's limits.
    pub limits: JobLimits,
    /// When the step must be done.
    pub deadline: Instant,
    /// Where progress goes.
    pub progress: watch::Sender<StepProgress>,
    /// Output names reserved so far (bounded per step).
    pub reserved: Reservations,
    /// Results emitted so far.
    pub emitted: Vec<EmittedOutput>,
}

impl StepScope {
    /// Raises the step's progress to `fraction` (clamped; never lowered).
    pub fn report_progress(&self, fraction: f32, message: Option<String>) {
        let fraction = if fraction.is_finite() { fraction.clamp(0.0, 1.0) } else { 0.0 };
        self.progress.send_if_modified(|current| {
            let changed = fraction > current.fraction || (message.is_some() && message != current.message);
            current.fraction = current.fraction.max(fraction);
            if message.is_some() {
                current.message = message;
            }
            changed
        });
    }
}

/// The store's data.
pub struct JobState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: JobLimiter,
    stderr: MemoryOutputPipe,
    scope: Option<StepScope>,
    hostcalls_left: u64,
}

/// A guest used up its host-call budget.
#[derive(Debug, thiserror::Error)]
#[error("the template made more than {0} host calls in one step")]
pub struct HostcallBudgetExhausted(pub u64);

/// A guest called a host function from `describe()`, where none is available.
#[derive(Debug, thiserror::Error)]
#[error("describe() must not call host functions")]
pub struct NoScope;

impl JobState {
    /// State for calling `describe()`: no scope, so every Transflow host call traps.
    pub fn for_describe(limits: &JobLimits) -> JobState {
        Self::new(None, limits)
    }

    /// State for running one step.
    pub fn for_step(scope: StepScope) -> JobState {
        let limits = scope.limits.clone();
        Self::new(Some(scope), &limits)
    }

    fn new(scope: Option<StepScope>, limits: &JobLimits) -> JobState {
        let stderr = MemoryOutputPipe::new(GUEST_STDERR_BYTES);
        // Deny by default: no args, env, preopened directories, sockets or name lookups.
        let wasi = WasiCtx::builder()
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let mut table = ResourceTable::new();
        table.set_max_capacity(limits.resource_handles);
        JobState {
            wasi,
            table,
            limiter: JobLimiter::new(limits),
            stderr,
            scope,
            hostcalls_left: limits.hostcalls,
        }
    }

    /// The limiter the store enforces.
    pub fn limiter(&mut self) -> &mut JobLimiter {
        &mut self.limiter
    }

    /// What the guest wrote to stderr (a panic message, usually), lossily decoded.
    pub fn guest_stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents()).into_owned()
    }

    /// The step scope, charging one host call; traps when the budget is spent or in `describe()`.
    pub fn charge(&mut self) -> wasmtime::Result<&mut StepScope> {
        if self.hostcalls_left == 0 {
            let budget = self.scope.as_ref().map_or(0, |s| s.limits.hostcalls);
            return Err(wasmtime::Error::new(HostcallBudgetExhausted(budget)));
        }
        self.hostcalls_left -= 1;
        self.scope.as_mut().ok_or_else(|| wasmtime::Error::new(NoScope))
    }

    /// Takes the scope back after the step, with everything it emitted.
    pub fn into_scope(self) -> Option<StepScope> {
        self.scope
    }
}

impl WasiView for JobState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}
