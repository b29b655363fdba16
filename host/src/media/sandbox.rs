//! How ffmpeg and ffprobe are confined.
//!
//! Every tool runs with a cleared environment (never the host's credentials), cwd = the job's
//! workspace, no stdin, its own process group, and rlimits on file size and core dumps. Where
//! bubblewrap works (Linux with user namespaces) the tool also runs in fresh namespaces with no
//! network and a file system holding only the system's `/usr` (read-only) and the workspace, so
//! even a demuxer we did not think of cannot read host files. Lambda has no user namespaces;
//! there the argument policy and the protocol/format whitelists are the defence, and the
//! assembly status says `sandbox: "none"`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::process::Command;

/// Where the workspace appears inside the bubblewrap sandbox.
const SANDBOX_WORKSPACE: &str = "/ws";

/// How tools are isolated on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sandbox {
    /// bubblewrap at this path: no network, only `/usr` and the workspace visible.
    Bubblewrap(PathBuf),
    /// Cleared environment, rlimits and cwd only.
    None,
}

impl Sandbox {
    /// Finds bubblewrap and checks it can really create namespaces here by running `tool -version`
    /// inside it; falls back to [`Sandbox::None`] when it cannot.
    pub async fn detect(tool: &Path) -> Sandbox {
        let Some(bwrap) = find_in_path("bwrap") else { return Sandbox::None };
        let sandbox = Sandbox::Bubblewrap(bwrap);
        let Ok(dir) = std::env::current_dir() else { return Sandbox::None };
        let mut probe = sandbox.command(tool, &dir);
        probe.arg("-version").stdout(Stdio::null()).stderr(Stdio::null());
        match probe.status().await {
            Ok(status) if status.success() => sandbox,
            _ => Sandbox::None,
        }
    }

    /// The name reported in the assembly status.
    pub fn name(&self) -> &'static str {
        match self {
            Sandbox::Bubblewrap(_) => "bubblewrap",
            Sandbox::None => "none",
        }
    }

    /// A command that runs `program` confined to `workspace`. Arguments are appended by the caller.
    pub fn command(&self, program: &Path, workspace: &Path) -> Command {
        let mut command = match self {
            Sandbox::Bubblewrap(bwrap) => {
                let mut command = Command::new(bwrap);
                command.args(bubblewrap_args(program, workspace)).arg(program);
                command
            }
            Sandbox::None => {
                let mut command = Command::new(program);
                command.current_dir(workspace);
                command
            }
        };
        command.env_clear().stdin(Stdio::null()).kill_on_drop(true).process_group(0);
        command
    }

    /// The prefix under which the tool sees workspace paths, so error text can be cleaned of it.
    pub fn workspace_prefix<'a>(&self, workspace: &'a Path) -> std::borrow::Cow<'a, str> {
        match self {
            Sandbox::Bubblewrap(_) => SANDBOX_WORKSPACE.into(),
            Sandbox::None => workspace.to_string_lossy(),
        }
    }
}

fn bubblewrap_args(program: &Path, workspace: &Path) -> Vec<String> {
    let mut args: Vec<String> = ["--unshare-all", "--die-with-parent", "--new-session", "--clearenv"]
        .into_iter()
        .map(String::from)
        .collect();
    args.extend(["--ro-bind", "/usr", "/usr"].map(String::from));
    // Merged-/usr systems link /lib, /lib64 and /bin into /usr; others have real directories.
    for top in ["/lib", "/lib64", "/bin", "/sbin"] {
        match std::fs::read_link(top) {
            Ok(target) => {
                args.extend(["--symlink".into(), target.to_string_lossy().into_owned(), top.into()])
            }
            Err(_) if Path::new(top).is_dir() => args.extend(["--ro-bind".into(), top.into(), top.into()]),
            Err(_) => {}
        }
    }
    // Shared-library lookup on Debian goes through these.
    for etc in ["/etc/alternatives", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d"] {
        args.extend(["--ro-bind-try".into(), etc.into(), etc.into()]);
    }
    if let Some(dir) = program.parent().filter(|dir| !dir.starts_with("/usr")) {
        let dir = dir.to_string_lossy().into_owned();
        args.extend(["--ro-bind".into(), dir.clone(), dir]);
    }
    args.extend(["--dev".into(), "/dev".into(), "--tmpfs".into(), "/tmp".into()]);
    args.extend(["--bind".into(), workspace.to_string_lossy().into_owned(), SANDBOX_WORKSPACE.into()]);
    args.extend(["--chdir".into(), SANDBOX_WORKSPACE.into(), "--".into()]);
    args
}

/// Looks `name` up in `PATH` (read once here, never passed on to tools).
pub fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|candidate| candidate.is_file())
}
