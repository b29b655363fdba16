//! How ffmpeg and ffprobe are confined.
//!
//! Templates choose the arguments and users choose the media, so a tool process is treated as
//! hostile. The defence that must hold everywhere, AWS Lambda included (no user namespaces
//! there), is ours: every tool starts through `transflow-confine`, a small exec helper that
//! restricts itself and then execs the tool:
//! - **Landlock** (where the kernel has it): read-only access to the system directories a tool
//!   needs and to the job's workspace; write access only to the current step's output
//!   directory; execute access only to the tool; no TCP; no signals outside its own domain.
//! - **seccomp**: no sockets, `ptrace`, `process_vm_*`, mounts, namespaces or further `execve`.
//! - **rlimits**: file size (the step's remaining output budget), no core dumps.
//!
//! Where bubblewrap works, it stacks underneath: fresh namespaces with no network and a file
//! system holding only `/usr` (read-only), the tool, the helper and the workspace (read-only
//! but for the step's output directory). Every tool also runs with a cleared environment
//! (never the host's credentials), no stdin and its own process group.
//!
//! The status field `sandbox` names the layers in force ([`Sandbox::name`]), and
//! [`SandboxSettings::require`] lets an operator refuse to run tools without some of them.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::process::Command;
use transflow_confine::{Layers, Plan};

/// Where the workspace appears inside the bubblewrap sandbox.
const SANDBOX_WORKSPACE: &str = "/ws";

/// The file name of the exec helper.
pub const CONFINE_BINARY: &str = "transflow-confine";

/// What tools may read besides the workspace: shared libraries and their loader's cache, fonts
/// and their configuration (`drawtext`, `subtitles`). Missing paths are skipped by the helper.
const SYSTEM_READ_PATHS: &[&str] = &[
    "/usr",
    "/lib",
    "/lib64",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/fonts",
    "/var/cache/fontconfig",
];

/// How an operator wants tools confined (`[tools]` in `transflow.toml`).
#[derive(Debug, Clone)]
pub struct SandboxSettings {
    /// The exec helper; found beside the running binary or on `PATH` when absent.
    pub confine: Option<PathBuf>,
    /// Stack bubblewrap underneath where it works.
    pub bubblewrap: bool,
    /// Layers that must be in force; starting fails when one is missing.
    pub require: Layers,
}

impl Default for SandboxSettings {
    /// The helper found beside the program, bubblewrap where it works, nothing required.
    fn default() -> Self {
        SandboxSettings { confine: None, bubblewrap: true, require: Layers::default() }
    }
}

/// The sandbox cannot be set up as required.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The helper binary is missing.
    #[error(
        "`{CONFINE_BINARY}` was not found beside this program or on PATH; build it (`cargo build -p \
         transflow-confine`) or set `tools.confine` in transflow.toml"
    )]
    HelperMissing,
    /// The helper does not run.
    #[error("`{path}` --probe failed: {reason}")]
    HelperBroken {
        /// The helper binary that was run.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A required layer is not available on this machine.
    #[error(
        "tools.require asks for `{required}` but this machine provides only `{available}`; lower \
         `tools.require` or run on a kernel with Landlock and seccomp"
    )]
    RequirementUnmet {
        /// What the configuration requires.
        required: String,
        /// What is in force.
        available: String,
    },
}

/// How tools are isolated on this machine; found once per process by [`Sandbox::detect`].
#[derive(Debug, Clone)]
pub struct Sandbox {
    helper: PathBuf,
    /// The layers the helper applies here (Landlock, seccomp).
    layers: Layers,
    /// bubblewrap at this path, when it works here.
    bubblewrap: Option<PathBuf>,
    /// Tool processes started so far, shared by clones: a plain count that tests and
    /// benchmarks read to check how many tools a job starts.
    started: Arc<AtomicU64>,
}

/// What one tool run may touch.
#[derive(Debug, Clone, Copy)]
pub struct Access<'a> {
    /// The job's workspace (absolute), the tool's working directory; readable.
    pub workspace: &'a Path,
    /// The one directory the tool may write, relative to the workspace (`out/{step}`).
    pub writable: Option<&'a str>,
    /// Largest file the tool may write, bytes (its `RLIMIT_FSIZE`).
    pub max_file_bytes: u64,
}

impl Sandbox {
    /// Finds the helper, asks it which layers this kernel supports, and checks that bubblewrap
    /// (when wanted) works here: the helper's `--probe` runs inside bubblewrap with the
    /// arguments a run of `tool` gets, and bubblewrap stacks only when the helper inside it
    /// still applies every layer it applies outside; otherwise the helper runs alone.
    ///
    /// No tool is started (a tool start costs tens of milliseconds of library loading; the
    /// helper's probe one). Only this machine decides the layers: the check runs once, in a
    /// scratch workspace, before any template or media is seen.
    pub async fn detect(settings: &SandboxSettings, tool: &Path) -> Result<Sandbox, SandboxError> {
        let helper = match &settings.confine {
            Some(path) => path.clone(),
            None => find_helper().ok_or(SandboxError::HelperMissing)?,
        };
        let bwrap = if settings.bubblewrap { find_in_path("bwrap") } else { None };
        let outside = probe_layers(Command::new(&helper));
        let inside = async {
            match &bwrap {
                Some(bwrap) => probe_in_bubblewrap(bwrap, &helper, tool).await,
                None => None,
            }
        };
        let (outside, inside) = tokio::join!(outside, inside);
        let layers = outside.map_err(|reason| SandboxError::HelperBroken { path: helper.clone(), reason })?;
        let bubblewrap = bwrap.filter(|_| inside.is_some_and(|inside| inside.contains(layers)));
        if !layers.contains(settings.require) {
            return Err(SandboxError::RequirementUnmet {
                required: settings.require.to_string(),
                available: layers.to_string(),
            });
        }
        Ok(Sandbox { helper, layers, bubblewrap, started: Arc::default() })
    }

    /// The layers in force, as the assembly status names them: `bubblewrap+landlock+seccomp`,
    /// `landlock+seccomp`, `seccomp`, …, or `none`.
    pub fn name(&self) -> String {
        match (&self.bubblewrap, self.layers.is_empty()) {
            (Some(_), true) => "bubblewrap".into(),
            (Some(_), false) => format!("bubblewrap+{}", self.layers),
            (None, _) => self.layers.to_string(),
        }
    }

    /// Whether no layer confines tools beyond a cleared environment.
    pub fn is_none(&self) -> bool {
        self.bubblewrap.is_none() && self.layers.is_empty()
    }

    /// A command that runs `program` confined to `access`. Arguments are appended by the caller.
    pub fn command(&self, program: &Path, access: Access<'_>) -> Command {
        let inside = |relative: &str| match &self.bubblewrap {
            Some(_) => Path::new(SANDBOX_WORKSPACE).join(relative),
            None => access.workspace.join(relative),
        };
        // The helper itself grants the tool (and its ELF interpreter) read and execute, so a tool
        // outside `/usr` needs no rule here: its directory stays closed.
        let mut read: Vec<PathBuf> = SYSTEM_READ_PATHS.iter().map(PathBuf::from).collect();
        read.push(inside(""));
        let plan = Plan {
            read,
            write: access.writable.map(inside).into_iter().collect(),
            program: program.to_owned(),
            max_file_bytes: Some(access.max_file_bytes),
            max_processes: None,
            require: self.layers,
        };
        let mut command = match &self.bubblewrap {
            Some(bwrap) => {
                let mut command = Command::new(bwrap);
                command.args(bubblewrap_args(&self.helper, program, access));
                command.arg(&self.helper);
                command
            }
            None => {
                let mut command = Command::new(&self.helper);
                command.current_dir(access.workspace);
                command
            }
        };
        command.args(plan.to_args());
        command.env_clear().stdin(Stdio::null()).kill_on_drop(true).process_group(0);
        self.started.fetch_add(1, Ordering::Relaxed);
        command
    }

    /// The prefix under which the tool sees workspace paths, so error text can be cleaned of it.
    pub fn workspace_prefix<'a>(&self, workspace: &'a Path) -> std::borrow::Cow<'a, str> {
        match self.bubblewrap {
            Some(_) => SANDBOX_WORKSPACE.into(),
            None => workspace.to_string_lossy(),
        }
    }

    /// How many tool processes were started through this sandbox (and its clones) so far.
    pub fn tools_started(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }
}

/// The helper beside the running binary (an installed `transflow`, the Lambda `bootstrap`), one
/// directory up (a cargo test binary in `target/*/deps/`), or on `PATH`.
fn find_helper() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    exe.ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join(CONFINE_BINARY))
        .find(|candidate| candidate.is_file())
        .or_else(|| find_in_path(CONFINE_BINARY))
}

/// Runs the helper's `--probe` (`command` starts the helper, possibly inside bubblewrap) and
/// reads the layers it names.
async fn probe_layers(mut command: Command) -> Result<Layers, String> {
    let output = command
        .arg("--probe")
        .env_clear()
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).trim().to_owned());
    }
    Layers::from_probe(&String::from_utf8_lossy(&output.stdout)).map_err(|e| e.to_string())
}

/// The layers the helper applies inside bubblewrap, set up as for a run of `tool` in a
/// scratch workspace; `None` when bubblewrap does not work here.
async fn probe_in_bubblewrap(bwrap: &Path, helper: &Path, tool: &Path) -> Option<Layers> {
    let scratch = tempfile::tempdir().ok()?;
    let access = Access { workspace: scratch.path(), writable: None, max_file_bytes: 0 };
    let mut command = Command::new(bwrap);
    command.args(bubblewrap_args(helper, tool, access)).arg(helper).stderr(Stdio::null());
    match probe_layers(command).await {
        Ok(layers) => Some(layers),
        Err(reason) => {
            tracing::info!(%reason, "bubblewrap does not work here; tools run in the helper's layers alone");
            None
        }
    }
}

/// bubblewrap's arguments: fresh namespaces, the system read-only, the workspace read-only but
/// for the step's output directory.
fn bubblewrap_args(helper: &Path, program: &Path, access: Access<'_>) -> Vec<String> {
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
    // Shared-library lookup on Debian and font configuration go through these.
    for etc in ["/etc/alternatives", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/fonts"]
    {
        args.extend(["--ro-bind-try".into(), etc.into(), etc.into()]);
    }
    // Before the helper's and the tool's binds: mounted after them, the tmpfs would hide a
    // helper that lives under /tmp (a checkout there) and bubblewrap would drop out.
    args.extend(["--dev".into(), "/dev".into(), "--tmpfs".into(), "/tmp".into()]);
    for outside_usr in [helper, program] {
        if !outside_usr.starts_with("/usr") {
            let path = outside_usr.to_string_lossy().into_owned();
            args.extend(["--ro-bind".into(), path.clone(), path]);
        }
    }
    let workspace = access.workspace.to_string_lossy().into_owned();
    args.extend(["--ro-bind".into(), workspace, SANDBOX_WORKSPACE.into()]);
    if let Some(writable) = access.writable {
        let outside = access.workspace.join(writable).to_string_lossy().into_owned();
        let inside = Path::new(SANDBOX_WORKSPACE).join(writable).to_string_lossy().into_owned();
        args.extend(["--bind".into(), outside, inside]);
    }
    args.extend(["--chdir".into(), SANDBOX_WORKSPACE.into(), "--".into()]);
    args
}

/// Looks `name` up in `PATH` (read once here, never passed on to tools).
pub fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|candidate| candidate.is_file())
}
