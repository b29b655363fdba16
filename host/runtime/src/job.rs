//! What a store holds while a step runs: the deny-by-default WASI context, the limiter, the
//! host-call budget and the step's scope, one slice per WIT interface (see
//! [`crate::capabilities`]).

use crate::capabilities::{FfmpegScope, HostcallBudget, LogScope, MeteredScope, StatusScope, WorkspaceScope};
use crate::limits::{JobLimiter, JobLimits};
use crate::probe::FileFacts;
use crate::workspace::FileIdentity;
use tokio::sync::watch;
use transflow_ffmpeg::MediaMeta;
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

/// Where a step's progress goes. `status` reports through it and so does `ffmpeg` while a run
/// lasts, each holding its own clone; the runner watches the other end.
#[derive(Debug, Clone)]
pub struct ProgressReporter(watch::Sender<StepProgress>);

impl ProgressReporter {
    /// A reporter and the receiver that sees what it reports.
    pub fn channel() -> (ProgressReporter, watch::Receiver<StepProgress>) {
        let (sender, receiver) = watch::channel(StepProgress::default());
        (ProgressReporter(sender), receiver)
    }

    /// Raises the step's progress to `fraction` (clamped; never lowered).
    pub fn report(&self, fraction: f32, message: Option<String>) {
        let fraction = if fraction.is_finite() { fraction.clamp(0.0, 1.0) } else { 0.0 };
        self.0.send_if_modified(|current| {
            let changed = fraction > current.fraction || (message.is_some() && message != current.message);
            current.fraction = current.fraction.max(fraction);
            if message.is_some() {
                current.message = message;
            }
            changed
        });
    }
}

/// The capabilities' state while one step runs, one slice per WIT interface. The runner builds
/// it and takes it back after the step; the linker hands each interface its own slice only.
#[derive(Debug)]
pub(crate) struct StepScope {
    pub(crate) ffmpeg: FfmpegScope,
    pub(crate) workspace: WorkspaceScope,
    pub(crate) status: StatusScope,
    pub(crate) log: LogScope,
}

impl StepScope {
    /// The results the step emitted, in the order it emitted them, once the ffmpeg runs it
    /// spawned and never waited for are killed, so none writes to a result after this.
    pub(crate) async fn into_emitted(mut self) -> Vec<EmittedOutput> {
        self.ffmpeg.stop_runs().await;
        self.workspace.into_emitted()
    }
}

/// The store's data.
pub struct JobState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: JobLimiter,
    stderr: MemoryOutputPipe,
    budget: HostcallBudget,
    scope: Option<StepScope>,
}

impl JobState {
    /// State for calling `describe()`: no scope, so every Transflow host call traps.
    pub fn for_describe(limits: &JobLimits) -> JobState {
        Self::new(None, limits)
    }

    /// State for running one step.
    pub(crate) fn for_step(scope: StepScope, limits: &JobLimits) -> JobState {
        Self::new(Some(scope), limits)
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
            budget: HostcallBudget::new(limits.hostcalls),
            scope,
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

    /// One interface's slice of the step's scope (none in `describe()`), behind the host-call
    /// budget every interface shares: the getter the linker gives that interface.
    pub(crate) fn metered<S>(&mut self, slice: fn(&mut StepScope) -> &mut S) -> MeteredScope<'_, S> {
        MeteredScope::new(&mut self.budget, self.scope.as_mut().map(slice))
    }

    /// Takes the scope back after the step, with everything it emitted.
    pub(crate) fn into_scope(self) -> Option<StepScope> {
        self.scope
    }
}

impl WasiView for JobState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}
