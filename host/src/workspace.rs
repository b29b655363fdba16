//! The per-job workspace: a private directory holding the job's inputs and outputs.
//!
//! ```text
//! {root}/in/{upload_id}/{name}     uploads, read-only by convention
//! {root}/out/{step}/{name…}        what each step writes; later steps read it
//! ```
//!
//! Guests and ffmpeg only ever see paths relative to the root. Every path that comes back from
//! a guest is checked here (or by [`crate::media::policy`]) before the host touches it, and
//! symlinks are resolved so nothing can point out of the root.

use crate::media::policy::{self, WorkspaceView};
use std::io;
use std::path::{Path, PathBuf};

/// A job's private directory.
#[derive(Debug)]
pub struct Workspace {
    root: PathBuf,
}

impl Workspace {
    /// Creates a fresh, empty workspace under `parent`.
    pub fn create(parent: &Path, label: &str) -> io::Result<Workspace> {
        fs_err::create_dir_all(parent)?;
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let root = parent.join(format!("{label}-{nanos:x}-{}", std::process::id()));
        fs_err::create_dir(&root)?;
        Ok(Workspace { root: fs_err::canonicalize(&root)? })
    }

    /// The absolute root, for the host only.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Places an upload in the workspace (hard link when possible, else copy) and returns its
    /// relative path.
    pub fn add_upload(&self, upload_id: &str, name: &str, source: &Path) -> io::Result<String> {
        let relative = format!("in/{upload_id}/{}", safe_file_name(name));
        let target = self.root.join(&relative);
        fs_err::create_dir_all(target.parent().expect("has a parent"))?;
        if std::fs::hard_link(source, &target).is_err() {
            fs_err::copy(source, &target)?;
        }
        Ok(relative)
    }

    /// The directory `step` writes into, relative to the root.
    pub fn step_dir(step: &str) -> String {
        format!("out/{step}")
    }

    /// Checks an output name of `step`, creates its directories and returns the relative path.
    pub fn reserve_output(&self, step: &str, name: &str) -> Result<String, policy::Refusal> {
        policy::check_relative_path(name)?;
        let relative = format!("{}/{name}", Self::step_dir(step));
        let parent = self.root.join(&relative);
        let parent = parent.parent().expect("has a parent");
        fs_err::create_dir_all(parent).map_err(|e| policy::Refusal {
            argument: name.to_owned(),
            reason: format!("cannot create it: {e}"),
        })?;
        Ok(relative)
    }

    /// Absolute path of a relative path that must name a regular file inside the root.
    pub fn resolve_file(&self, relative: &str) -> Option<PathBuf> {
        policy::check_relative_path(relative).ok()?;
        let resolved = std::fs::canonicalize(self.root.join(relative)).ok()?;
        (resolved.starts_with(&self.root) && resolved.is_file()).then_some(resolved)
    }

    /// Every regular file under `dir` (relative), as relative paths in name order.
    pub fn files_under(&self, dir: &str) -> io::Result<Vec<String>> {
        let mut found = Vec::new();
        let mut pending = vec![self.root.join(dir)];
        while let Some(current) = pending.pop() {
            let entries = match std::fs::read_dir(&current) {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for entry in entries {
                let entry = entry?;
                let kind = entry.file_type()?;
                if kind.is_dir() {
                    pending.push(entry.path());
                } else if kind.is_file() {
                    let relative = entry.path().strip_prefix(&self.root).expect("under root").to_owned();
                    found.push(relative.to_string_lossy().into_owned());
                }
            }
        }
        found.sort();
        Ok(found)
    }

    /// Total bytes of the files under `dir` (relative).
    pub fn bytes_under(&self, dir: &str) -> io::Result<u64> {
        self.files_under(dir)?.iter().map(|f| std::fs::metadata(self.root.join(f)).map(|m| m.len())).sum()
    }

    /// Deletes the workspace.
    pub fn remove(self) -> io::Result<()> {
        fs_err::remove_dir_all(&self.root)
    }
}

/// The policy's view of this workspace while `step` runs.
#[derive(Debug)]
pub struct StepView<'a> {
    /// The workspace.
    pub workspace: &'a Workspace,
    /// The step running.
    pub step: &'a str,
}

impl WorkspaceView for StepView<'_> {
    fn is_readable_file(&self, relative: &str) -> bool {
        self.workspace.resolve_file(relative).is_some()
    }

    fn is_writable_output(&self, relative: &str) -> bool {
        let prefix = format!("{}/", Workspace::step_dir(self.step));
        relative.starts_with(&prefix) && policy::check_relative_path(relative).is_ok()
    }
}

/// A file name safe to put in a path and an ffmpeg argument: ASCII letters, digits, `.`, `_`
/// and `-`, not starting with `.` or `-`, at most 120 bytes; the extension is kept.
pub fn safe_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let mut safe: String = base
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' })
        .collect();
    while safe.starts_with(['.', '-']) {
        safe.replace_range(..1, "_");
    }
    if safe.len() > 120 {
        let ext = safe.rsplit_once('.').map(|(_, e)| e.to_owned()).filter(|e| e.len() <= 10);
        safe.truncate(100);
        if let Some(ext) = ext {
            safe = format!("{safe}.{ext}");
        }
    }
    if safe.is_empty() { "file".to_owned() } else { safe }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_names_are_cleaned() {
        assert_eq!(safe_file_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_file_name("-i evil.mp4"), "_i_evil.mp4");
        assert_eq!(safe_file_name(".hidden"), "_hidden");
        assert_eq!(safe_file_name("vidéo 1.mov"), "vid_o_1.mov");
        assert_eq!(safe_file_name(""), "file");
        assert!(safe_file_name(&format!("{}.mp4", "a".repeat(300))).ends_with(".mp4"));
    }

    #[test]
    fn reserve_and_resolve_stay_inside() {
        let parent = tempfile::tempdir().unwrap();
        let ws = Workspace::create(parent.path(), "t").unwrap();
        let out = ws.reserve_output("thumbs", "a/b_%02d.jpg").unwrap();
        assert_eq!(out, "out/thumbs/a/b_%02d.jpg");
        assert!(ws.root().join("out/thumbs/a").is_dir());
        assert!(ws.reserve_output("thumbs", "../x").is_err());
        assert!(ws.reserve_output("thumbs", "/x").is_err());
        std::fs::write(ws.root().join("out/thumbs/a/b_01.jpg"), b"x").unwrap();
        assert!(ws.resolve_file("out/thumbs/a/b_01.jpg").is_some());
        std::os::unix::fs::symlink("/etc/passwd", ws.root().join("out/thumbs/link")).unwrap();
        assert!(ws.resolve_file("out/thumbs/link").is_none());
        assert_eq!(ws.files_under("out/thumbs").unwrap(), vec!["out/thumbs/a/b_01.jpg"]);
    }
}
