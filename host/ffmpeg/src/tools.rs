//! Running ffmpeg and ffprobe: one place that starts tool processes, enforces their wall-clock
//! deadline and output budget, reads progress and keeps the tail of stderr.

use super::MediaMeta;
use super::policy::{ExtensionError, Policy, PolicyExtensions};
use super::sandbox::{Access, Sandbox, SandboxError, SandboxSettings, find_in_path};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Child;
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

/// How many lines of stderr a failure keeps.
const STDERR_TAIL_LINES: usize = 12;
/// How much of stderr is read at all; a tool that writes more is still drained, not stored.
const STDERR_KEEP_BYTES: usize = 64 * 1024;
/// ffprobe is quick on any sane file; a file that makes it slow is refused.
const PROBE_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a running ffmpeg's output directory is measured against its budget. ffmpeg can
/// write about a gigabyte a second to a fast disk, so a run overshoots by at most this much of
/// that before it is killed (and no single file can outgrow the budget: see `RLIMIT_FSIZE`).
const BUDGET_POLL: Duration = Duration::from_millis(100);

/// Limits every tool process runs under.
#[derive(Debug, Clone)]
pub struct ToolLimits {
    /// Largest file a tool may write (`RLIMIT_FSIZE`); a larger write kills it with SIGXFSZ.
    pub max_file_bytes: u64,
}

impl Default for ToolLimits {
    fn default() -> Self {
        ToolLimits { max_file_bytes: 8 << 30 }
    }
}

/// A tool failed. Converted into the WIT `error` for the guest and an error code for status.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The tool could not be started at all.
    #[error("could not start {tool}: {source}")]
    Spawn {
        /// `ffmpeg` or `ffprobe`.
        tool: &'static str,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The tool ran and exited with an error (or died by a signal).
    #[error("{tool} exited with {}: {stderr_tail}", exit_code.map_or("a signal".to_string(), |c| format!("code {c}")))]
    Failed {
        /// `ffmpeg` or `ffprobe`.
        tool: &'static str,
        /// Exit code, `None` for a signal.
        exit_code: Option<i32>,
        /// Last lines of stderr, workspace paths removed.
        stderr_tail: String,
    },
    /// The tool was still running at its deadline and was killed.
    #[error("{tool} was still running at its deadline and was stopped")]
    TimedOut {
        /// `ffmpeg` or `ffprobe`.
        tool: &'static str,
    },
    /// The tool tried to write a file larger than the cap and was killed by the kernel.
    #[error("{tool} tried to write a file larger than {max_bytes} bytes and was stopped")]
    FileTooLarge {
        /// `ffmpeg` or `ffprobe`.
        tool: &'static str,
        /// The largest file it could write, bytes (its `RLIMIT_FSIZE`).
        max_bytes: u64,
    },
    /// The tool's output directory outgrew the step's budget while it ran and it was killed.
    #[error("{tool} wrote more than the step's output limit of {max_bytes} bytes and was stopped")]
    OutputTooLarge {
        /// `ffmpeg`.
        tool: &'static str,
        /// The budget the run had.
        max_bytes: u64,
    },
}

/// Where to find the tools and how to confine them (`[tools]` in `transflow.toml`).
#[derive(Debug, Clone, Default)]
pub struct ToolSettings {
    /// ffmpeg; found on `PATH` when absent.
    pub ffmpeg: Option<PathBuf>,
    /// ffprobe; found on `PATH` when absent.
    pub ffprobe: Option<PathBuf>,
    /// How every tool process is confined.
    pub sandbox: SandboxSettings,
    /// Per-process limits.
    pub limits: ToolLimits,
    /// The operator's additions to the argument policy.
    pub policy: PolicyExtensions,
    /// How many ffmpeg runs this process lets run at once; one per core when absent (see
    /// [`CpuBudget`]).
    pub cpu_budget: Option<usize>,
}

/// The tools cannot be used as configured.
#[derive(Debug, thiserror::Error)]
pub enum ToolSetupError {
    /// ffmpeg or ffprobe is missing.
    #[error(
        "{0} was not found on PATH; install it (Debian: `apt-get install ffmpeg`) or set `tools.{0}` in \
         transflow.toml"
    )]
    Missing(&'static str),
    /// The sandbox cannot be set up.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// An extension of the argument policy is not allowed.
    #[error(transparent)]
    Policy(#[from] ExtensionError),
}

/// What a step's ffmpeg run may write: its output directory and the bytes left of its budget.
#[derive(Debug, Clone, Copy)]
pub struct OutputBudget<'a> {
    /// The step's output directory, relative to the workspace.
    pub dir: &'a str,
    /// Bytes the directory may hold when the run ends.
    pub max_bytes: u64,
}

/// How many ffmpeg runs may be in flight at once in one process: every step of every assembly
/// a worker runs (and every run a step starts) shares one budget, so running steps and
/// assemblies side by side never puts more encoders on the machine than it has cores.
///
/// A permit is one run, and one run is worth one core: ffmpeg keeps its own thread defaults
/// (`-threads` is left to the template). Measured on 2 loaded cores, three alternated rounds:
/// two 720p x264 encodes side by side took 18.8–19.1 s with their default threads and
/// 19.2–22.5 s with `-threads 1` each; two thumbnail runs 2.8–3.0 s against 1.9–3.8 s (noise
/// either way). Capping threads did not speed up side-by-side encodes, and a run alone uses
/// every core with them, so a cap would only slow single runs. The budget bounds the number of
/// runs, which is what overcommits memory and the scheduler; short ffprobe runs stay outside it,
/// as they would otherwise queue behind long encodes.
#[derive(Debug, Clone)]
pub struct CpuBudget {
    permits: Arc<Semaphore>,
    size: usize,
}

impl CpuBudget {
    /// A budget of `size` runs at once (at least one).
    pub fn new(size: usize) -> CpuBudget {
        let size = size.max(1);
        CpuBudget { permits: Arc::new(Semaphore::new(size)), size }
    }

    /// One run per core this process may use.
    pub fn per_core() -> CpuBudget {
        CpuBudget::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// How many runs may be in flight at once.
    pub fn size(&self) -> usize {
        self.size
    }

    /// How many more runs could start now.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }

    /// Waits for a free slot; the run holds it until the permit is dropped.
    async fn acquire(&self) -> SemaphorePermit<'_> {
        self.permits.acquire().await.expect("the budget's semaphore is never closed")
    }
}

/// ffmpeg and ffprobe on this machine, with the sandbox they run in and the CPU budget every
/// ffmpeg run of this process shares (clones share it too).
#[derive(Debug, Clone)]
pub struct MediaTools {
    ffmpeg: PathBuf,
    ffprobe: PathBuf,
    sandbox: Sandbox,
    limits: ToolLimits,
    policy: Policy,
    budget: CpuBudget,
}

impl MediaTools {
    /// Finds ffmpeg and ffprobe (explicit paths or `PATH`) and sets up their sandbox; logs the
    /// layers in force, warning when there are none.
    pub async fn detect(settings: &ToolSettings) -> Result<MediaTools, ToolSetupError> {
        let locate = |explicit: &Option<PathBuf>, name: &'static str| {
            explicit.clone().or_else(|| find_in_path(name)).ok_or(ToolSetupError::Missing(name))
        };
        let ffmpeg = locate(&settings.ffmpeg, "ffmpeg")?;
        let ffprobe = locate(&settings.ffprobe, "ffprobe")?;
        let policy = Policy::new(&settings.policy)?;
        let sandbox = Sandbox::detect(&settings.sandbox, &ffmpeg).await?;
        if sandbox.is_none() {
            tracing::warn!("ffmpeg runs unconfined: this kernel offers neither Landlock nor seccomp");
        } else {
            tracing::info!(sandbox = %sandbox.name(), "ffmpeg and ffprobe are confined");
        }
        let budget = settings.cpu_budget.map_or_else(CpuBudget::per_core, CpuBudget::new);
        Ok(MediaTools { ffmpeg, ffprobe, sandbox, limits: settings.limits.clone(), policy, budget })
    }

    /// The budget every ffmpeg run of this process (and of its clones) waits for.
    pub fn cpu_budget(&self) -> &CpuBudget {
        &self.budget
    }

    /// The sandbox tools run in.
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// The policy every guest-supplied argument passes.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Runs ffmpeg with already-checked `args` in `workspace`, writing only into `budget.dir`,
    /// killing it at `deadline` or as soon as that directory holds more than `budget.max_bytes`.
    /// `on_progress` receives the output time reached, in seconds, as ffmpeg reports it. The run
    /// first waits for a slot of the [`CpuBudget`] (the deadline counts while it waits).
    pub async fn run_ffmpeg(
        &self,
        workspace: &Path,
        budget: OutputBudget<'_>,
        args: &[String],
        deadline: Instant,
        mut on_progress: impl FnMut(f64) + Send,
    ) -> Result<(), ToolError> {
        let access = Access {
            workspace,
            writable: Some(budget.dir),
            max_file_bytes: self.limits.max_file_bytes.min(budget.max_bytes),
        };
        let Ok(_slot) = tokio::time::timeout_at(deadline, self.budget.acquire()).await else {
            return Err(ToolError::TimedOut { tool: "ffmpeg" });
        };
        let mut command = self.sandbox.command(&self.ffmpeg, access);
        command.args(["-loglevel", "error", "-nostats", "-progress", "pipe:1"]).args(args);
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|source| ToolError::Spawn { tool: "ffmpeg", source })?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = tokio::spawn(read_stderr(child.stderr.take().expect("stderr is piped")));
        let progress = async {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(seconds) = parse_progress_line(&line) {
                    on_progress(seconds);
                }
            }
        };
        let finished = async {
            progress.await;
            child.wait().await
        };
        let outcome = tokio::select! {
            waited = tokio::time::timeout_at(deadline, finished) => waited.map_err(|_| Stop::Deadline),
            () = watch_budget(workspace.join(budget.dir), budget.max_bytes) => Err(Stop::OverBudget),
        };
        let status = match outcome {
            Ok(status) => status.map_err(|source| ToolError::Spawn { tool: "ffmpeg", source })?,
            Err(Stop::Deadline) => {
                kill_group(&mut child).await;
                return Err(ToolError::TimedOut { tool: "ffmpeg" });
            }
            Err(Stop::OverBudget) => {
                kill_group(&mut child).await;
                return Err(ToolError::OutputTooLarge { tool: "ffmpeg", max_bytes: budget.max_bytes });
            }
        };
        let stderr = stderr.await.unwrap_or_default();
        self.check_exit("ffmpeg", status, &stderr, workspace, access.max_file_bytes)
    }

    /// Probes `relative` inside `workspace` with ffprobe and returns its JSON.
    pub async fn probe_json(&self, workspace: &Path, relative: &str) -> Result<String, ToolError> {
        let access = Access { workspace, writable: None, max_file_bytes: 0 };
        let mut command = self.sandbox.command(&self.ffprobe, access);
        command
            .args(["-v", "error", "-hide_banner", "-print_format", "json", "-show_format", "-show_streams"])
            .args(["-protocol_whitelist", "file", "-format_whitelist", self.policy.format_whitelist()])
            .args(["-i", relative]);
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|source| ToolError::Spawn { tool: "ffprobe", source })?;
        let mut stdout = child.stdout.take().expect("stdout is piped");
        let stderr = tokio::spawn(read_stderr(child.stderr.take().expect("stderr is piped")));
        let mut json = String::new();
        let waited = tokio::time::timeout(PROBE_TIMEOUT, async {
            let _ = stdout.read_to_string(&mut json).await;
            child.wait().await
        })
        .await;
        let status = match waited {
            Ok(status) => status.map_err(|source| ToolError::Spawn { tool: "ffprobe", source })?,
            Err(_) => {
                kill_group(&mut child).await;
                return Err(ToolError::TimedOut { tool: "ffprobe" });
            }
        };
        let stderr = stderr.await.unwrap_or_default();
        self.check_exit("ffprobe", status, &stderr, workspace, 0)?;
        Ok(json)
    }

    /// Probes a file and reads its metadata; `Ok(None)` when ffprobe reads it but finds no media.
    pub async fn probe(&self, workspace: &Path, relative: &str) -> Result<Option<MediaMeta>, ToolError> {
        let json = self.probe_json(workspace, relative).await?;
        Ok(MediaMeta::from_ffprobe_json(&json))
    }

    fn check_exit(
        &self,
        tool: &'static str,
        status: std::process::ExitStatus,
        stderr: &str,
        workspace: &Path,
        max_file_bytes: u64,
    ) -> Result<(), ToolError> {
        use std::os::unix::process::ExitStatusExt;
        if status.success() {
            return Ok(());
        }
        // ffmpeg catches SIGXFSZ and exits with 128 + the signal; other tools die by it.
        if status.signal() == Some(libc::SIGXFSZ) || status.code() == Some(128 + libc::SIGXFSZ) {
            return Err(ToolError::FileTooLarge { tool, max_bytes: max_file_bytes });
        }
        let prefix = self.sandbox.workspace_prefix(workspace);
        Err(ToolError::Failed { tool, exit_code: status.code(), stderr_tail: stderr_tail(stderr, &prefix) })
    }
}

/// Why a running tool was stopped early.
enum Stop {
    Deadline,
    OverBudget,
}

/// Returns once the files under `dir` hold more than `max_bytes`; never returns otherwise.
async fn watch_budget(dir: PathBuf, max_bytes: u64) {
    let mut ticks = tokio::time::interval(BUDGET_POLL);
    loop {
        ticks.tick().await;
        let dir = dir.clone();
        let used = tokio::task::spawn_blocking(move || bytes_under(&dir)).await.unwrap_or(0);
        if used > max_bytes {
            return;
        }
    }
}

/// Total length of the regular files under `dir`, counted without following symlinks.
pub fn bytes_under(dir: &Path) -> u64 {
    let mut total = 0;
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else { continue };
        for entry in entries.flatten() {
            match entry.metadata() {
                Ok(meta) if meta.is_dir() => pending.push(entry.path()),
                Ok(meta) if meta.is_file() => total += meta.len(),
                _ => {}
            }
        }
    }
    total
}

/// Kills the tool's whole process group (the helper execs the tool, so the group is the tool's).
async fn kill_group(child: &mut Child) {
    if let Some(pid) = child.id() {
        // SAFETY: killpg only sends a signal to the group we created for this child.
        #[allow(unsafe_code)]
        unsafe {
            libc::killpg(pid as libc::pid_t, libc::SIGKILL);
        }
    }
    let _ = child.kill().await;
}

async fn read_stderr(mut stderr: tokio::process::ChildStderr) -> String {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    while let Ok(n) = stderr.read(&mut buf).await {
        if n == 0 {
            break;
        }
        kept.extend_from_slice(&buf[..n]);
        if kept.len() > STDERR_KEEP_BYTES {
            kept.drain(..kept.len() - STDERR_KEEP_BYTES);
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

/// The last lines of stderr with the workspace prefix removed, so no host path reaches a user.
fn stderr_tail(stderr: &str, workspace_prefix: &str) -> String {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..].join("\n");
    let prefix = format!("{}/", workspace_prefix.trim_end_matches('/'));
    tail.replace(&prefix, "")
}

/// ffmpeg's `-progress` output is `key=value` lines; `out_time_us` is the output time reached.
fn parse_progress_line(line: &str) -> Option<f64> {
    let micros = line.strip_prefix("out_time_us=")?.trim().parse::<i64>().ok()?;
    (micros >= 0).then(|| micros as f64 / 1_000_000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines() {
        assert_eq!(parse_progress_line("out_time_us=2500000"), Some(2.5));
        assert_eq!(parse_progress_line("out_time_us=N/A"), None);
        assert_eq!(parse_progress_line("out_time_us=-9223372036854775807"), None);
        assert_eq!(parse_progress_line("frame=10"), None);
    }

    #[test]
    fn stderr_tail_hides_workspace_paths() {
        let stderr = "a\n\n/srv/jobs/x/in/u1/clip.mp4: Invalid data found when processing input\n";
        assert_eq!(
            stderr_tail(stderr, "/srv/jobs/x"),
            "a\nin/u1/clip.mp4: Invalid data found when processing input"
        );
    }
}
