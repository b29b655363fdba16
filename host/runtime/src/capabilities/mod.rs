//! The host side of the world's imports (`wit/transflow.wit`), one module per WIT interface,
//! each with its own slice of the step's state, the way wasmtime-wasi gives each WASI interface
//! its own view:
//!
//! | Interface | Module | Slice | What the slice holds |
//! |---|---|---|---|
//! | `ffmpeg` | [`ffmpeg`] | [`FfmpegScope`] | the tools, the workspace and step its paths are checked against, the step's inputs, a progress reporter, the deadline and the output budget |
//! | `workspace` | [`workspace`] | [`WorkspaceScope`] | the workspace, the step's inputs, the assembly's fields, the tools that probe emitted files, the reservations and the emitted results |
//! | `status` | [`status`] | [`StatusScope`] | a progress reporter |
//! | `log` | [`log`] | [`LogScope`] | the assembly id and step that tag each line |
//! | `types` | here | none | records and no functions |
//!
//! The engine links each interface with its own `add_to_linker` and a getter,
//! [`JobState::metered`], that hands it its slice of the [`StepScope`] and nothing else. A
//! slice's fields are private to its module, so no capability reaches another's. What two
//! slices both need (the workspace, the inputs, the progress channel) each holds a handle to.
//!
//! Every host call starts with [`MeteredScope::charge`]: it spends one unit of the step's one
//! [`HostcallBudget`], shared by all interfaces, and traps with
//! [`HostcallBudgetExhausted`] once it is spent or with [`NoScope`] in `describe()`.
//!
//! [`JobState::metered`]: crate::job::JobState::metered
//! [`StepScope`]: crate::job::StepScope

mod ffmpeg;
mod log;
mod status;
mod workspace;

pub(crate) use ffmpeg::FfmpegScope;
pub(crate) use log::LogScope;
pub(crate) use status::StatusScope;
pub(crate) use workspace::WorkspaceScope;

use crate::bindings::{GuestError, WitMediaMeta, transflow::template::types};
use crate::traps::{HostcallBudgetExhausted, NoScope};
use std::marker::PhantomData;
use transflow_ffmpeg::MediaMeta;
use wasmtime::component::HasData;

/// The host calls a step may still make. One budget per store, shared by every interface, so a
/// guest gains nothing by spreading its calls over several.
#[derive(Debug)]
pub(crate) struct HostcallBudget {
    left: u64,
    limit: u64,
}

impl HostcallBudget {
    /// A budget of `limit` calls.
    pub(crate) fn new(limit: u64) -> HostcallBudget {
        HostcallBudget { left: limit, limit }
    }
}

/// What one host call of an interface sees: the shared budget and that interface's slice,
/// absent in `describe()`.
#[derive(Debug)]
pub(crate) struct MeteredScope<'a, S> {
    budget: &'a mut HostcallBudget,
    scope: Option<&'a mut S>,
}

impl<'a, S> MeteredScope<'a, S> {
    pub(crate) fn new(budget: &'a mut HostcallBudget, scope: Option<&'a mut S>) -> Self {
        MeteredScope { budget, scope }
    }

    /// The slice without charging a call, for what only releases what a charged call took.
    fn uncharged(&mut self) -> Option<&mut S> {
        self.scope.as_deref_mut()
    }

    /// The slice, charging one host call; traps when the budget is spent or in `describe()`.
    fn charge(&mut self) -> wasmtime::Result<&mut S> {
        if self.budget.left == 0 {
            return Err(wasmtime::Error::new(HostcallBudgetExhausted(self.budget.limit)));
        }
        self.budget.left -= 1;
        self.scope.as_deref_mut().ok_or_else(|| wasmtime::Error::new(NoScope))
    }
}

/// The [`HasData`] of an interface whose host calls see a [`MeteredScope`] of slice `S`.
pub(crate) struct Metered<S>(PhantomData<fn() -> S>);

impl<S: 'static> HasData for Metered<S> {
    type Data<'a> = MeteredScope<'a, S>;
}

/// The [`HasData`] of `types`: it declares records and no functions, so it needs no state; it is
/// linked because a guest imports its instance.
pub(crate) struct Types;

impl HasData for Types {
    type Data<'a> = Types;
}

impl types::Host for Types {}

impl From<&MediaMeta> for WitMediaMeta {
    fn from(meta: &MediaMeta) -> Self {
        WitMediaMeta {
            format: meta.format.clone(),
            width: meta.width,
            height: meta.height,
            duration: meta.duration,
            framerate: meta.framerate,
            video_codec: meta.video_codec.clone(),
            audio_codec: meta.audio_codec.clone(),
            bitrate: meta.bitrate,
            video_bitrate: meta.video_bitrate,
            audio_bitrate: meta.audio_bitrate,
            sample_rate: meta.sample_rate,
            channels: meta.channels,
        }
    }
}

impl From<transflow_ffmpeg::policy::Refusal> for GuestError {
    fn from(refusal: transflow_ffmpeg::policy::Refusal) -> Self {
        GuestError::ArgumentRefused(types::RefusedArgument {
            argument: refusal.argument,
            reason: refusal.reason,
        })
    }
}

/// Cuts guest-supplied text to `max` bytes on a character boundary.
fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// A step to call the capabilities on without a guest: step `s` of assembly `a1` in a fresh
/// workspace holding two uploads, a one-second WAV tone made by real ffmpeg and an empty file.
#[cfg(test)]
mod fixture {
    use super::{FfmpegScope, LogScope, StatusScope, WorkspaceScope};
    use crate::job::{InputRecord, ProgressReporter, StepProgress, StepScope};
    use crate::limits::JobLimits;
    use crate::workspace::Workspace;
    use std::sync::Arc;
    use tokio::sync::watch;
    use transflow_ffmpeg::{MediaTools, SandboxSettings, ToolSettings};

    /// Where the tone lies in the workspace.
    pub(super) const TONE: &str = "in/u1/tone.wav";
    /// Where the empty upload lies.
    pub(super) const EMPTY: &str = "in/u2/empty.mp4";

    pub(super) struct StepFixture {
        _dir: tempfile::TempDir,
        pub(super) workspace: Arc<Workspace>,
        pub(super) tools: Arc<MediaTools>,
        pub(super) inputs: Arc<[InputRecord]>,
        pub(super) progress: ProgressReporter,
        pub(super) progress_seen: watch::Receiver<StepProgress>,
        pub(super) limits: JobLimits,
    }

    impl StepFixture {
        pub(super) async fn new() -> StepFixture {
            let dir = tempfile::tempdir().expect("temp dir");
            let tone = dir.path().join("tone.wav");
            let made = std::process::Command::new("ffmpeg")
                .args(["-nostdin", "-loglevel", "error", "-f", "lavfi", "-i"])
                .arg("sine=frequency=440:sample_rate=48000:duration=1")
                .arg(&tone)
                .status()
                .expect("ffmpeg installed");
            assert!(made.success(), "ffmpeg made the tone");
            let empty = dir.path().join("empty.mp4");
            std::fs::write(&empty, b"").unwrap();
            let workspace = Arc::new(Workspace::create(&dir.path().join("work"), "t").unwrap());
            assert_eq!(workspace.add_upload("u1", "tone.wav", &tone).unwrap(), TONE);
            assert_eq!(workspace.add_upload("u2", "empty.mp4", &empty).unwrap(), EMPTY);
            let settings = ToolSettings {
                sandbox: SandboxSettings { bubblewrap: false, ..SandboxSettings::default() },
                ..ToolSettings::default()
            };
            let tools =
                MediaTools::detect(&settings).await.expect("ffmpeg installed and transflow-confine built");
            let input =
                |id: &str, path: &str, name: &str, ext: &str, size, problem: Option<&str>| InputRecord {
                    id: id.into(),
                    path: path.into(),
                    name: name.into(),
                    basename: name.rsplit_once('.').unwrap().0.into(),
                    ext: ext.into(),
                    mime: String::new(),
                    size,
                    from_step: ":original".into(),
                    original_id: id.into(),
                    meta: None,
                    problem: problem.map(str::to_owned),
                };
            let tone_size = std::fs::metadata(&tone).unwrap().len();
            let inputs = vec![
                input("u1", TONE, "tone.wav", "wav", tone_size, None),
                input("u2", EMPTY, "empty.mp4", "mp4", 0, Some("empty file")),
            ];
            let (progress, progress_seen) = ProgressReporter::channel();
            StepFixture {
                _dir: dir,
                workspace,
                tools: Arc::new(tools),
                inputs: inputs.into(),
                progress,
                progress_seen,
                limits: JobLimits::default(),
            }
        }

        pub(super) fn ffmpeg(&self) -> FfmpegScope {
            FfmpegScope::new(
                self.tools.clone(),
                self.workspace.clone(),
                "s".into(),
                self.inputs.clone(),
                self.progress.clone(),
                tokio::time::Instant::now() + self.limits.step_timeout,
                &self.limits,
            )
        }

        pub(super) fn workspace(&self) -> WorkspaceScope {
            WorkspaceScope::new(
                self.workspace.clone(),
                "s".into(),
                "a1".into(),
                self.inputs.clone(),
                vec![("height".into(), "360".into())],
                self.tools.clone(),
                &self.limits,
            )
        }

        /// Every slice, as the runner assembles them.
        pub(super) fn scope(&self) -> StepScope {
            StepScope {
                ffmpeg: self.ffmpeg(),
                workspace: self.workspace(),
                status: StatusScope::new(self.progress.clone()),
                log: LogScope::new("a1".into(), "s".into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::StepFixture;
    use crate::bindings::transflow::template::{ffmpeg, log, status, workspace};
    use crate::job::JobState;
    use crate::limits::JobLimits;
    use crate::traps::{HostcallBudgetExhausted, NoScope};

    #[tokio::test]
    async fn every_interface_spends_the_one_step_budget() {
        let step = StepFixture::new().await;
        let limits = JobLimits { hostcalls: 4, ..JobLimits::default() };
        let mut state = JobState::for_step(step.scope(), &limits);
        log::Host::write(&mut state.metered(|s| &mut s.log), log::Level::Info, "one".into()).await.unwrap();
        status::Host::progress(&mut state.metered(|s| &mut s.status), 0.1, None).await.unwrap();
        workspace::Host::fields(&mut state.metered(|s| &mut s.workspace)).await.unwrap();
        // Refused before any tool starts, and charged all the same.
        let refused = ffmpeg::Host::probe(&mut state.metered(|s| &mut s.ffmpeg), "/etc/passwd".into()).await;
        assert!(matches!(refused, Ok(Err(crate::bindings::GuestError::ArgumentRefused(_)))), "{refused:?}");

        let trap = workspace::Host::inputs(&mut state.metered(|s| &mut s.workspace)).await.unwrap_err();
        assert!(trap.is::<HostcallBudgetExhausted>(), "{trap:?}");
        assert_eq!(trap.to_string(), "the template made more than 4 host calls in one step");
        let trap =
            status::Host::progress(&mut state.metered(|s| &mut s.status), 0.2, None).await.unwrap_err();
        assert!(trap.is::<HostcallBudgetExhausted>(), "every interface is out once the budget is spent");
    }

    #[tokio::test]
    async fn host_calls_from_describe_trap_with_no_scope() {
        let mut state = JobState::for_describe(&JobLimits::default());
        let tone = super::fixture::TONE.to_owned();
        let by_ffmpeg = ffmpeg::Host::probe(&mut state.metered(|s| &mut s.ffmpeg), tone).await.map(drop);
        let by_workspace = workspace::Host::inputs(&mut state.metered(|s| &mut s.workspace)).await.map(drop);
        let by_status = status::Host::progress(&mut state.metered(|s| &mut s.status), 0.5, None).await;
        let by_log =
            log::Host::write(&mut state.metered(|s| &mut s.log), log::Level::Info, "hi".into()).await;
        for trap in [by_ffmpeg, by_workspace, by_status, by_log].map(Result::unwrap_err) {
            assert!(trap.is::<NoScope>(), "{trap:?}");
            assert_eq!(trap.to_string(), "describe() must not call host functions");
        }
    }
}
