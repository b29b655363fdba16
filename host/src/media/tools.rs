//! Running ffmpeg and ffprobe: one place that starts tool processes, enforces their wall-clock
//! deadline and file-size cap, reads progress and keeps the tail of stderr.

use super::MediaMeta;
use super::sandbox::{Sandbox, find_in_path};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::Instant;

/// How many lines of stderr a failure keeps.
const STDERR_TAIL_LINES: usize = 12;
/// How much of stderr is read at all; a tool that writes more is still drained, not stored.
const STDERR_KEEP_BYTES: usize = 64 * 1024;
/// ffprobe is quick on any sane file; a file that makes it slow is refused.
const PROBE_TIMEOUT: Duration = Duration::from_secs(60);

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
        /// The cap.
        max_bytes: u64,
    },
}

/// ffmpeg and ffprobe on this machine, with the sandbox they run in.
#[derive(Debug, Clone)]
pub struct MediaTools {
    ffmpeg: PathBuf,
    ffprobe: PathBuf,
    sandbox: Sandbox,
    limits: ToolLimits,
}

impl MediaTools {
    /// Finds ffmpeg and ffprobe (explicit paths or `PATH`) and the best sandbox that works here.
    pub async fn detect(
        ffmpeg: Option<PathBuf>,
        ffprobe: Option<PathBuf>,
        use_sandbox: bool,
        limits: ToolLimits,
    ) -> Result<MediaTools, String> {
        let locate = |explicit: Option<PathBuf>, name: &str| {
            explicit.or_else(|| find_in_path(name)).ok_or_else(|| {
                format!("{name} was not found on PATH; install it (Debian: `apt-get install ffmpeg`) or set its path in transflow.toml")
            })
        };
        let ffmpeg = locate(ffmpeg, "ffmpeg")?;
        let ffprobe = locate(ffprobe, "ffprobe")?;
        let sandbox = if use_sandbox { Sandbox::detect(&ffmpeg).await } else { Sandbox::None };
        Ok(MediaTools { ffmpeg, ffprobe, sandbox, limits })
    }

    /// The sandbox tools run in.
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// Runs ffmpeg with already-checked `args` in `workspace`, killing it at `deadline`.
    /// `on_progress` receives the output time reached, in seconds, as ffmpeg reports it.
    pub async fn run_ffmpeg(
        &self,
        workspace: &Path,
        args: &[String],
        deadline: Instant,
        mut on_progress: impl FnMut(f64) + Send,
    ) -> Result<(), ToolError> {
        let mut command = self.command(&self.ffmpeg, workspace);
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
        let waited = tokio::time::timeout_at(deadline, async {
            progress.await;
            child.wait().await
        })
        .await;
        let status = match waited {
            Ok(status) => status.map_err(|source| ToolError::Spawn { tool: "ffmpeg", source })?,
            Err(_) => return Err(kill_timed_out(&mut child, "ffmpeg").await),
        };
        let stderr = stderr.await.unwrap_or_default();
        self.check_exit("ffmpeg", status, &stderr, workspace)
    }

    /// Probes `relative` inside `workspace` with ffprobe and returns its JSON.
    pub async fn probe_json(&self, workspace: &Path, relative: &str) -> Result<String, ToolError> {
        let mut command = self.command(&self.ffprobe, workspace);
        command
            .args(["-v", "error", "-hide_banner", "-print_format", "json", "-show_format", "-show_streams"])
            .args([
                "-protocol_whitelist",
                "file",
                "-format_whitelist",
                &super::policy::ALLOWED_DEMUXERS.join(","),
            ])
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
            Err(_) => return Err(kill_timed_out(&mut child, "ffprobe").await),
        };
        let stderr = stderr.await.unwrap_or_default();
        self.check_exit("ffprobe", status, &stderr, workspace)?;
        Ok(json)
    }

    /// Probes a file and reads its metadata; `Ok(None)` when ffprobe reads it but finds no media.
    pub async fn probe(&self, workspace: &Path, relative: &str) -> Result<Option<MediaMeta>, ToolError> {
        let json = self.probe_json(workspace, relative).await?;
        Ok(MediaMeta::from_ffprobe_json(&json))
    }

    fn command(&self, program: &Path, workspace: &Path) -> Command {
        let mut command = self.sandbox.command(program, workspace);
        let max_file_bytes = self.limits.max_file_bytes;
        // SAFETY: the closure runs in the forked child before exec and only calls setrlimit,
        // which is async-signal-safe; it allocates nothing and touches no locks.
        #[allow(unsafe_code)]
        unsafe {
            command.pre_exec(move || {
                set_rlimit(libc::RLIMIT_FSIZE, max_file_bytes)?;
                set_rlimit(libc::RLIMIT_CORE, 0)
            });
        }
        command
    }

    fn check_exit(
        &self,
        tool: &'static str,
        status: std::process::ExitStatus,
        stderr: &str,
        workspace: &Path,
    ) -> Result<(), ToolError> {
        use std::os::unix::process::ExitStatusExt;
        if status.success() {
            return Ok(());
        }
        if status.signal() == Some(libc::SIGXFSZ) {
            return Err(ToolError::FileTooLarge { tool, max_bytes: self.limits.max_file_bytes });
        }
        let prefix = self.sandbox.workspace_prefix(workspace);
        Err(ToolError::Failed { tool, exit_code: status.code(), stderr_tail: stderr_tail(stderr, &prefix) })
    }
}

fn set_rlimit(resource: libc::__rlimit_resource_t, value: u64) -> std::io::Result<()> {
    let limit = libc::rlimit { rlim_cur: value, rlim_max: value };
    // SAFETY: setrlimit reads the struct we pass and nothing else.
    #[allow(unsafe_code)]
    let result = unsafe { libc::setrlimit(resource, &limit) };
    if result == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

/// Kills the tool's whole process group and reports the timeout.
async fn kill_timed_out(child: &mut Child, tool: &'static str) -> ToolError {
    if let Some(pid) = child.id() {
        // SAFETY: killpg only sends a signal to the group we created for this child.
        #[allow(unsafe_code)]
        unsafe {
            libc::killpg(pid as libc::pid_t, libc::SIGKILL);
        }
    }
    let _ = child.kill().await;
    ToolError::TimedOut { tool }
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
