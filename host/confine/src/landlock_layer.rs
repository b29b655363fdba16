//! The Landlock layer: which files the tool may read, write and execute.
//!
//! The ruleset handles every access right of the newest ABI this crate knows ([`ABI`]); the
//! `landlock` crate drops, best effort, what the running kernel lacks. Only these are granted:
//! - `--read` paths: read files, list directories (recursively);
//! - `--write` directories: also write, truncate, create and remove regular files and
//!   directories, rename within them (`REFER`); never execute, symlinks, sockets, fifos or
//!   devices, and no device ioctls;
//! - the program and its ELF interpreter (see [`crate::elf`]): read and execute, nothing else
//!   anywhere is executable;
//! - [`DEVICES`], always, because ffmpeg and libc open them on their own.
//!
//! Network rights are handled with no rule (no TCP or UDP bind/connect at all, ABI 4 and 10)
//! and both scopes are set (no abstract unix sockets or signals out of the sandbox, ABI 6).
//! Paths that do not exist are skipped, as system layouts differ (`/lib64`); a missing
//! `--write` directory or program is an error.

use crate::Error;
use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus, Scope,
};
use std::io;
use std::path::Path;
use transflow_confine::Plan;

/// The newest ABI whose rights are requested.
const NEWEST: ABI = ABI::V10;

/// The oldest kernel ABI counted as the `landlock` layer: ABI 3 is the first to control
/// truncation, without which a read-only input could still be emptied with `truncate(2)`.
pub const MIN_ABI: u32 = 3;

/// Devices every tool may use: `/dev/null` read-write (ffmpeg's `-f null /dev/null` opens it
/// with `O_TRUNC`), the others read-only.
pub const DEVICES: &[(&str, bool)] =
    &[("/dev/null", true), ("/dev/zero", false), ("/dev/random", false), ("/dev/urandom", false)];

/// Restricts this process (and what it execs) to `plan`; `interpreter` is the program's ELF
/// interpreter. Returns how much of the ruleset the kernel enforces.
pub fn apply(plan: &Plan, interpreter: Option<&Path>) -> Result<RulesetStatus, Error> {
    let read = AccessFs::ReadFile | AccessFs::ReadDir;
    let write = read
        | AccessFs::WriteFile
        | AccessFs::Truncate
        | AccessFs::RemoveFile
        | AccessFs::RemoveDir
        | AccessFs::MakeReg
        | AccessFs::MakeDir
        | AccessFs::Refer;
    let execute = AccessFs::ReadFile | AccessFs::Execute;

    let mut rules = Vec::new();
    let mut grant = |path: &Path, access: BitFlags<AccessFs>, required: bool| -> Result<(), Error> {
        let metadata = match std::fs::metadata(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound && !required => return Ok(()),
            other => other.map_err(|source| Error::Path { path: path.to_owned(), source })?,
        };
        // File rules may only carry file rights; keeping them exact keeps the ruleset "fully
        // enforced" rather than silently trimmed.
        let access = if metadata.is_dir() { access } else { access & AccessFs::from_file(NEWEST) };
        let fd = PathFd::new(path).map_err(|e| Error::Landlock(e.to_string()))?;
        rules.push(PathBeneath::new(fd, access));
        Ok(())
    };
    for path in &plan.read {
        grant(path, read, false)?;
    }
    for dir in &plan.write {
        if !std::fs::metadata(dir).map_err(|source| Error::Path { path: dir.clone(), source })?.is_dir() {
            return Err(Error::NotADirectory(dir.clone()));
        }
        grant(dir, write, true)?;
    }
    grant(&plan.program, execute, true)?;
    if let Some(interpreter) = interpreter {
        grant(interpreter, execute, false)?;
    }
    for &(device, writable) in DEVICES {
        let access = if writable { read | AccessFs::WriteFile | AccessFs::Truncate } else { read };
        grant(Path::new(device), access, false)?;
    }

    let landlock = |e: landlock::RulesetError| Error::Landlock(e.to_string());
    let mut ruleset = Ruleset::default()
        .handle_access(AccessFs::from_all(NEWEST))
        .and_then(|r| r.handle_access(AccessNet::from_all(NEWEST)))
        .and_then(|r| r.scope(Scope::from_all(NEWEST)))
        .and_then(Ruleset::create)
        .map_err(landlock)?;
    for rule in rules {
        ruleset = ruleset.add_rule(rule).map_err(landlock)?;
    }
    Ok(ruleset.restrict_self().map_err(landlock)?.ruleset)
}
