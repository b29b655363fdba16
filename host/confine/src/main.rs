//! `transflow-confine [OPTIONS] -- PROGRAM [ARGS…]`: confine this process, then exec PROGRAM.
//!
//! The order matters: the program's ELF interpreter is read first (the helper can still read
//! anything), then Landlock restricts files, network and scopes ([`landlock_layer`]), rlimits are
//! set, and the seccomp filter goes last ([`seccomp_layer`]): from then on only the helper's own
//! `execve` of PROGRAM is allowed. The environment and working directory are passed on as
//! given (the host clears the environment).
//!
//! Without `--require`, every layer the kernel supports is applied (Landlock best effort across
//! ABI versions). A layer named by `--require` must be available in full (the `--probe`
//! definition), or nothing is executed.
//!
//! Exit codes: 125 for a usage or confinement error, 127 when PROGRAM cannot be executed,
//! otherwise PROGRAM's own; errors are one `transflow-confine: error: …` line on stderr.

mod elf;
mod landlock_layer;
mod seccomp_layer;
mod sys;

use landlock::RulesetStatus;
use std::convert::Infallible;
use std::ffi::{CString, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::ExitCode;
use sys::Limit;
use transflow_confine::{Invocation, Layers, ParseError, Plan, Probe, parse_args};

const USAGE: &str = "\
usage: transflow-confine [OPTIONS] -- PROGRAM [ARGS...]
       transflow-confine --probe

Confines itself, then executes PROGRAM (an absolute path) with ARGS, the environment and the
working directory it was given.

  --read PATH       read access to a file or directory tree (repeatable; missing paths skipped)
  --write DIR       read-write access beneath an existing directory (repeatable)
  --fsize BYTES     largest file PROGRAM may write (RLIMIT_FSIZE); core dumps are always off
  --nproc N         RLIMIT_NPROC
  --require LAYERS  comma list of `landlock`, `seccomp`: fail unless they apply in full
  --probe           print the layers this machine supports, e.g. `landlock+seccomp landlock_abi=7`

/dev/null (read-write), /dev/zero, /dev/random and /dev/urandom (read) are always allowed.
Exit status: 125 usage or confinement error, 127 PROGRAM not executable, else PROGRAM's.
";

/// Why the helper stops without running PROGRAM.
#[derive(Debug, thiserror::Error)]
enum Error {
    #[error(transparent)]
    Usage(#[from] ParseError),
    #[error("{}: {source}", path.display())]
    Path { path: PathBuf, source: io::Error },
    #[error("--write {}: not a directory", .0.display())]
    NotADirectory(PathBuf),
    #[error("landlock: {0}")]
    Landlock(String),
    #[error("seccomp: {0}")]
    Seccomp(#[from] seccompiler::Error),
    #[error("setting {limit:?} limit: {source}")]
    Limit { limit: Limit, source: io::Error },
    #[error("--require {0}: this kernel cannot apply it in full (see --probe)")]
    Unavailable(&'static str),
    #[error("cannot execute {}: {source}", path.display())]
    Exec { path: PathBuf, source: io::Error },
}

fn main() -> ExitCode {
    let error = match parse_args(std::env::args_os().skip(1)) {
        Ok(Invocation::Probe) => {
            println!("{}", probe());
            return ExitCode::SUCCESS;
        }
        Ok(Invocation::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Invocation::Run { plan, args }) => match run(&plan, args) {
            Err(error) => error,
        },
        Err(error) => error.into(),
    };
    eprintln!("transflow-confine: error: {error}");
    ExitCode::from(if matches!(error, Error::Exec { .. }) { 127 } else { 125 })
}

/// The layers this kernel supports in full.
fn probe() -> Probe {
    let landlock_abi = sys::landlock_abi();
    let landlock = landlock_abi.is_some_and(|abi| abi >= landlock_layer::MIN_ABI);
    Probe { layers: Layers { landlock, seccomp: sys::seccomp_errno_available() }, landlock_abi }
}

/// Confines this process per `plan` and execs the program; returns only on failure.
fn run(plan: &Plan, args: Vec<OsString>) -> Result<Infallible, Error> {
    let supported = probe().layers;
    if plan.require.landlock && !supported.landlock {
        return Err(Error::Unavailable("landlock"));
    }
    if plan.require.seccomp && !supported.seccomp {
        return Err(Error::Unavailable("seccomp"));
    }
    // Arguments from argv hold no NUL byte.
    let c_string = |arg: &std::ffi::OsStr| CString::new(arg.as_bytes()).expect("no NUL in argv");
    let path = c_string(plan.program.as_os_str());
    let argv: Vec<CString> = std::iter::once(plan.program.as_os_str())
        .chain(args.iter().map(OsString::as_os_str))
        .map(c_string)
        .collect();

    // A missing or unreadable program is reported like a failed exec (127).
    let interpreter = elf::interpreter(&plan.program)
        .map_err(|source| Error::Exec { path: plan.program.clone(), source })?;
    let status = landlock_layer::apply(plan, interpreter.as_deref())?;
    if plan.require.landlock && status == RulesetStatus::NotEnforced {
        return Err(Error::Unavailable("landlock"));
    }

    let limit = |limit: Limit, value: u64| {
        sys::set_rlimit(limit, value).map_err(|source| Error::Limit { limit, source })
    };
    limit(Limit::CoreSize, 0)?;
    if let Some(bytes) = plan.max_file_bytes {
        limit(Limit::FileSize, bytes)?;
    }
    if let Some(count) = plan.max_processes {
        limit(Limit::Processes, count)?;
    }

    if supported.seccomp {
        seccomp_layer::apply(path.as_ptr().addr() as u64)?;
    }
    Err(Error::Exec { path: plan.program.clone(), source: sys::exec(&path, &argv) })
}
