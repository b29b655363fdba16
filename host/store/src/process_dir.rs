//! Scratch directories owned by one process, and the sweep of those whose process died.
//!
//! Job workspaces and partial uploads live under directories that several processes may share:
//! two `transflow dev` on one data directory, `transflow run` beside them. A process killed with
//! SIGKILL cannot clean up after itself, and a sweep that removed everything it found would
//! delete the files of a process still running. So each process writes only under its own
//! `{parent}/p-{pid}-{random}/` and holds an exclusive `flock` on `{parent}/p-{pid}-{random}.lock`
//! for as long as it lives. The kernel releases that lock when the process ends, however it
//! ends, so whoever can take it knows the owner is gone and may delete its directory.
//!
//! Claiming a directory and sweeping both hold `{parent}/.sweep.lock`: a sweep therefore never
//! sees a directory whose owner has not locked it yet. Anything else under the parent (the files
//! of older versions, say) is left alone.

use std::fs::{File, Permissions};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Serialises claims and sweeps under one parent.
const SWEEP_LOCK: &str = ".sweep.lock";
/// Names of per-process directories (and, with [`LOCK_SUFFIX`], of their locks) start with it.
const PREFIX: &str = "p-";
const LOCK_SUFFIX: &str = ".lock";

/// A directory this process owns until it is dropped (removed then) or the process ends (removed
/// by the next process that claims a directory under the same parent).
#[derive(Debug)]
pub struct ProcessDir {
    path: PathBuf,
    lock_path: PathBuf,
    /// Holds the lock for as long as this value lives.
    _lock: File,
}

impl ProcessDir {
    /// Removes the directories under `parent` whose owners have died, then creates and locks a
    /// new one for this process. Blocking: call it at start-up, or from `spawn_blocking`.
    pub fn claim(parent: &Path) -> io::Result<ProcessDir> {
        fs_err::create_dir_all(parent)?;
        let sweep_lock = File::options().create(true).append(true).open(parent.join(SWEEP_LOCK))?;
        sweep_lock.lock()?;
        let swept = sweep(parent)?;
        if swept > 0 {
            tracing::info!(parent = %parent.display(), swept, "removed what processes that died left behind");
        }
        let name = format!("{PREFIX}{}-{:08x}", std::process::id(), rand::random::<u32>());
        let lock_path = parent.join(format!("{name}{LOCK_SUFFIX}"));
        let lock = File::create_new(&lock_path)?;
        lock.try_lock().map_err(io::Error::other)?;
        let path = parent.join(&name);
        fs_err::create_dir(&path)?;
        Ok(ProcessDir { path, lock_path, _lock: lock })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl std::ops::Deref for ProcessDir {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.path
    }
}

impl Drop for ProcessDir {
    fn drop(&mut self) {
        // The lock is still held here, so no sweep touches the directory while it goes.
        if let Err(error) = remove_tree(&self.path)
            && error.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.path.display(), %error, "could not remove a scratch directory");
        }
        let _ = std::fs::remove_file(&self.lock_path);
    }
}

/// Removes every per-process directory under `parent` whose lock nobody holds; returns how many.
fn sweep(parent: &Path) -> io::Result<usize> {
    let mut owners = std::collections::BTreeSet::new();
    for entry in fs_err::read_dir(parent)? {
        let name = entry?.file_name();
        if let Some(name) = name.to_str().filter(|name| name.starts_with(PREFIX)) {
            owners.insert(name.strip_suffix(LOCK_SUFFIX).unwrap_or(name).to_owned());
        }
    }
    let mut swept = 0;
    for owner in owners {
        let dir = parent.join(&owner);
        let lock_path = parent.join(format!("{owner}{LOCK_SUFFIX}"));
        // A directory without its lock file outlived a sweep that stopped half-way: its owner
        // is as gone as one whose lock is free.
        let lock = match File::options().append(true).open(&lock_path) {
            Ok(lock) => Some(lock),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        if let Some(lock) = &lock
            && lock.try_lock().is_err()
        {
            continue;
        }
        match remove_tree(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        if lock.is_some() {
            fs_err::remove_file(&lock_path)?;
        }
        swept += 1;
    }
    Ok(swept)
}

/// Deletes a directory tree, first giving the owner write access to each directory in it:
/// workspaces keep uploads in read-only directories, whose files cannot be unlinked otherwise.
pub fn remove_tree(path: &Path) -> io::Result<()> {
    let metadata = std::fs::symlink_metadata(path)?;
    if !metadata.is_dir() {
        return std::fs::remove_file(path);
    }
    if metadata.permissions().mode() & 0o700 != 0o700 {
        std::fs::set_permissions(path, Permissions::from_mode(metadata.permissions().mode() | 0o700))?;
    }
    for entry in fs_err::read_dir(path)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            remove_tree(&entry.path())?;
        } else {
            fs_err::remove_file(entry.path())?;
        }
    }
    fs_err::remove_dir(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_live_directory_survives_a_sweep_and_a_dead_one_does_not() {
        let parent = tempfile::tempdir().unwrap();
        let live = ProcessDir::claim(parent.path()).unwrap();
        std::fs::write(live.join("partial"), b"in use").unwrap();

        // A process that died: its lock file exists but nobody holds it, and its workspace has a
        // read-only directory, as workspaces do.
        let dead = parent.path().join("p-1-deadbeef");
        std::fs::create_dir_all(dead.join("in/0")).unwrap();
        std::fs::write(dead.join("in/0/clip.mp4"), b"left behind").unwrap();
        std::fs::set_permissions(dead.join("in/0"), Permissions::from_mode(0o555)).unwrap();
        std::fs::write(parent.path().join("p-1-deadbeef.lock"), b"").unwrap();
        // Not ours to judge: left alone.
        std::fs::create_dir(parent.path().join("job-from-an-older-version")).unwrap();

        let second = ProcessDir::claim(parent.path()).unwrap();
        assert!(!dead.exists(), "the dead process's directory is swept");
        assert!(!parent.path().join("p-1-deadbeef.lock").exists());
        assert_eq!(std::fs::read(live.join("partial")).unwrap(), b"in use", "the live one is kept");
        assert!(parent.path().join("job-from-an-older-version").exists());
        assert_ne!(live.path(), second.path());

        drop(live);
        drop(second);
        assert_eq!(names(parent.path()), [".sweep.lock", "job-from-an-older-version"], "dropped ones go");
    }
}
