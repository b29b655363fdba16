//! The per-job workspace: a private directory holding the job's inputs and outputs.
//!
//! ```text
//! {root}/in/{upload_id}/{name}     copies of the uploads: files 0444, their directories 0555
//! {root}/out/{step}/{name…}        what each step writes; later steps read it
//! ```
//!
//! Guests and ffmpeg only ever see paths relative to the root. Every path that comes back from
//! a guest is checked here (or by [`transflow_ffmpeg::policy`]) before the host touches it, and
//! symlinks are resolved so nothing can point out of the root.
//!
//! Nothing the caller owns is ever linked in: an upload is a copy (a reflink where the
//! filesystem shares blocks, so the copy costs no data writes there), because a hard link would
//! share the caller's inode and a tool writing `in/…` would rewrite the caller's file. The
//! modes are the file-level half of that defence; the sandbox keeps tools from writing anywhere
//! but the step's output directory (and root ignores modes).
//!
//! Output names are bounded per step (see [`check_output_name`] and [`MAX_RESERVED_OUTPUTS`]):
//! every reservation creates directories, and unbounded names once let 300 calls create
//! 600,000 of them.

use std::collections::HashSet;
use std::fs::{File, Metadata, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use transflow_ffmpeg::policy::{self, WorkspaceView};

/// Longest output name, in bytes. With [`MAX_OUTPUT_COMPONENT`] it keeps every path far below
/// `PATH_MAX`, and it fits the longest name a template builds: `{stem}/v%v/seg_%03d.ts` with a
/// 64-byte SDK stem is 83 bytes.
pub const MAX_OUTPUT_NAME: usize = 200;
/// Most `/`-separated components in an output name, so one reservation creates at most three
/// directories. HLS needs three (`{stem}/v%v/seg_%03d.ts`).
pub const MAX_OUTPUT_DEPTH: usize = 4;
/// Longest component of an output name, in bytes: a 64-byte SDK stem plus a 36-byte suffix,
/// and, after ffmpeg expands its patterns (a few digits each), still far below `NAME_MAX` (255).
pub const MAX_OUTPUT_COMPONENT: usize = 100;
/// Most distinct outputs one step may reserve. Uploads are at most 10 by default and the
/// built-in templates reserve at most three names per input, so 256 leaves ample room while
/// capping what a step can make the host create at 768 directories.
pub const MAX_RESERVED_OUTPUTS: usize = 256;

/// How much of a guest-supplied name goes into an error message.
const SHOWN_NAME_BYTES: usize = 80;

/// A job's private directory.
#[derive(Debug)]
pub struct Workspace {
    root: PathBuf,
}

/// Why an output name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name breaks the naming rules (WIT `invalid-request`).
    #[error("{0}")]
    Invalid(String),
    /// The name is over a size bound (WIT `limit-exceeded`).
    #[error("{0}")]
    TooLarge(String),
}

/// Why `reserve-output` failed.
#[derive(Debug, thiserror::Error)]
pub enum ReserveError {
    /// The name was refused.
    #[error("output name `{name}`: {reason}")]
    Name {
        /// The name, shortened for messages.
        name: String,
        /// Why.
        reason: NameError,
    },
    /// The step already holds [`MAX_RESERVED_OUTPUTS`] names.
    #[error(
        "output name `{name}`: step `{step}` may reserve at most {MAX_RESERVED_OUTPUTS} outputs; \
         reserve one ffmpeg pattern (`frame_%03d.jpg`) rather than one name per file"
    )]
    TooMany {
        /// The step.
        step: String,
        /// The name, shortened for messages.
        name: String,
    },
    /// The host could not create the directories (not the template's fault).
    #[error("cannot create the directories of output `{name}`: {source}")]
    Io {
        /// The name, shortened for messages.
        name: String,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// Why a path cannot be emitted.
#[derive(Debug, thiserror::Error)]
pub enum EmitError {
    /// The path is not below the step's output directory.
    #[error("`{path}` is not an output of step `{step}`: emit paths under `out/{step}/`")]
    NotInStep {
        /// The path as given, shortened.
        path: String,
        /// The step.
        step: String,
    },
    /// The path is not spelled canonically or names a file the host will not keep.
    #[error("`{path}` cannot be emitted: {reason}")]
    Invalid {
        /// The path as given, shortened.
        path: String,
        /// Why.
        reason: String,
    },
    /// Nothing is there.
    #[error("`{path}` was not written")]
    Missing {
        /// The path as given, shortened.
        path: String,
    },
    /// The host could not look at the file.
    #[error("cannot inspect `{path}`: {source}")]
    Io {
        /// The path as given, shortened.
        path: String,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// The names one step has reserved, so [`MAX_RESERVED_OUTPUTS`] holds.
#[derive(Debug, Default)]
pub struct Reservations {
    names: HashSet<String>,
}

/// Which file a path names (device and inode) and how it looked (size, modification time):
/// two emits of one file are told apart from two files by the first half, a file changed after
/// it was emitted by the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileIdentity {
    /// Device of the filesystem.
    pub device: u64,
    /// Inode on that device.
    pub inode: u64,
    /// Bytes.
    pub size: u64,
    /// Last modification.
    pub modified: Option<SystemTime>,
}

impl FileIdentity {
    /// The identity in `metadata`.
    pub fn of(metadata: &Metadata) -> FileIdentity {
        FileIdentity {
            device: metadata.dev(),
            inode: metadata.ino(),
            size: metadata.len(),
            modified: metadata.modified().ok(),
        }
    }

    /// Whether both name the same file (whatever its content now).
    pub fn same_file(&self, other: &FileIdentity) -> bool {
        self.device == other.device && self.inode == other.inode
    }
}

/// A file of the current step that `emit` may record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepFile {
    /// Path below the step's directory, as the guest named it (`clip/v0/seg_000.ts`).
    pub name: String,
    /// Workspace-relative path of the file itself, symlinks resolved.
    pub path: String,
    /// The file, as found.
    pub identity: FileIdentity,
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

    /// Copies an upload into the workspace, read-only, and returns its relative path.
    pub fn add_upload(&self, upload_id: &str, name: &str, source: &Path) -> io::Result<String> {
        let relative = format!("in/{upload_id}/{}", safe_file_name(name));
        let target = self.root.join(&relative);
        let dir = target.parent().expect("has a parent");
        fs_err::create_dir_all(dir)?;
        copy_to_new(&fs_err::File::open(source)?.into_file(), &target)?;
        fs_err::set_permissions(&target, Permissions::from_mode(0o444))?;
        fs_err::set_permissions(dir, Permissions::from_mode(0o555))?;
        Ok(relative)
    }

    /// The directory `step` writes into, relative to the root.
    pub fn step_dir(step: &str) -> String {
        format!("out/{step}")
    }

    /// Checks an output name of `step` against the naming rules and the step's bounds, creates
    /// its directories and returns the relative path. Reserving a name again returns the same
    /// path and counts once.
    pub fn reserve_output(
        &self,
        step: &str,
        name: &str,
        reservations: &mut Reservations,
    ) -> Result<String, ReserveError> {
        check_output_name(name).map_err(|reason| ReserveError::Name { name: shown(name), reason })?;
        let relative = format!("{}/{name}", Self::step_dir(step));
        if reservations.names.contains(name) {
            return Ok(relative);
        }
        if reservations.names.len() >= MAX_RESERVED_OUTPUTS {
            return Err(ReserveError::TooMany { step: step.to_owned(), name: shown(name) });
        }
        let parent = self.root.join(&relative);
        let parent = parent.parent().expect("has a parent");
        fs_err::create_dir_all(parent).map_err(|source| ReserveError::Io { name: shown(name), source })?;
        reservations.names.insert(name.to_owned());
        Ok(relative)
    }

    /// Finds the file `path` names for `emit`: below `out/{step}/`, spelled canonically (no
    /// empty, `.` or `..` components, which would let one file be emitted under several
    /// spellings), a regular file once symlinks are resolved, and still inside the step's
    /// directory.
    pub fn step_file(&self, step: &str, path: &str) -> Result<StepFile, EmitError> {
        let prefix = format!("{}/", Self::step_dir(step));
        let Some(name) = path.strip_prefix(&prefix) else {
            return Err(EmitError::NotInStep { path: shown(path), step: step.to_owned() });
        };
        let invalid = |reason: String| EmitError::Invalid { path: shown(path), reason };
        check_emitted_name(name).map_err(invalid)?;
        let canonical = match std::fs::canonicalize(self.root.join(path)) {
            Ok(canonical) => canonical,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(EmitError::Missing { path: shown(path) });
            }
            Err(source) => return Err(EmitError::Io { path: shown(path), source }),
        };
        let step_root = self.root.join(Self::step_dir(step));
        let resolved = canonical
            .strip_prefix(&step_root)
            .ok()
            .and_then(Path::to_str)
            .ok_or_else(|| invalid(format!("it leads outside the outputs of step `{step}`")))?;
        // A symlink inside the step's directory is kept as the file it points to, which must
        // itself be a name the host accepts: later steps receive that path.
        check_emitted_name(resolved)
            .map_err(|reason| invalid(format!("it points to `{resolved}`: {reason}")))?;
        let metadata =
            std::fs::metadata(&canonical).map_err(|source| EmitError::Io { path: shown(path), source })?;
        if !metadata.is_file() {
            return Err(invalid("it is not a regular file".into()));
        }
        Ok(StepFile {
            name: name.to_owned(),
            path: format!("{prefix}{resolved}"),
            identity: FileIdentity::of(&metadata),
        })
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

    /// Deletes the workspace, read-only upload directories included.
    pub fn remove(self) -> io::Result<()> {
        transflow_store::process_dir::remove_tree(&self.root)
    }
}

/// Copies the open file `source` into a new file at `target`, never overwriting one: a reflink
/// where the filesystem can share blocks (btrfs, XFS), otherwise a byte copy (in the kernel,
/// through `copy_file_range`). Reading from the open file means the bytes copied are those of
/// the file that was opened (and checked), even if its path changes meanwhile.
pub fn copy_to_new(source: &File, target: &Path) -> io::Result<()> {
    copy_to_new_via(source, target, |source, copy| io::copy(&mut &*source, copy)).map(drop)
}

/// How [`copy_to_new_via`] made its copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Copied<T> {
    /// The copy shares the source's blocks; no bytes were read or written.
    Reflinked,
    /// The bytes went through the writer, which returned this.
    Written(T),
}

/// [`copy_to_new`] with the byte copy made by `write(source, new file)`, for a caller that
/// wants to see the bytes on their way (to hash them). A failed write removes the new file.
pub fn copy_to_new_via<T>(
    source: &File,
    target: &Path,
    write: impl FnOnce(&File, &mut File) -> io::Result<T>,
) -> io::Result<Copied<T>> {
    match reflink_copy::reflink_file_to_path(source, target) {
        Ok(()) => return Ok(Copied::Reflinked),
        // The reflink failed before creating anything for these; a copy would fail the same way.
        Err(e) if matches!(e.kind(), io::ErrorKind::AlreadyExists | io::ErrorKind::PermissionDenied) => {
            return Err(e);
        }
        // Unsupported by the filesystem, or across filesystems.
        Err(_) => {}
    }
    let mut copy = OpenOptions::new().write(true).create_new(true).open(target)?;
    match write(source, &mut copy) {
        Ok(written) => Ok(Copied::Written(written)),
        Err(error) => {
            drop(copy);
            let _ = std::fs::remove_file(target);
            Err(error)
        }
    }
}

/// The rules for a `reserve-output` name, also applied to every output path ffmpeg is given:
///
/// - at most [`MAX_OUTPUT_NAME`] bytes, [`MAX_OUTPUT_DEPTH`] components and
///   [`MAX_OUTPUT_COMPONENT`] bytes per component (else [`NameError::TooLarge`]);
/// - components separated by `/`, none empty, `.` or `..`, none starting with `.` or `-`;
/// - ASCII letters, digits, `.`, `_` and `-`, and `%` only in ffmpeg's pattern forms `%d`,
///   `%0Nd` (N from 1 to 9), `%v` and `%%`. So no glob characters (`*?[]{}`), no spaces,
///   no `:` (protocols), no backslashes, nothing outside ASCII.
///
/// The total length is checked first, so a huge name costs nothing to refuse; then every
/// component's spelling, so a bad name is refused as bad whatever its size; then depth and
/// component lengths.
pub fn check_output_name(name: &str) -> Result<(), NameError> {
    if name.len() > MAX_OUTPUT_NAME {
        return Err(NameError::TooLarge(format!(
            "it has {} bytes; output names have at most {MAX_OUTPUT_NAME}",
            name.len()
        )));
    }
    for component in name.split('/') {
        check_component(component, Percent::Pattern).map_err(NameError::Invalid)?;
    }
    let depth = name.split('/').count();
    if depth > MAX_OUTPUT_DEPTH {
        return Err(NameError::TooLarge(format!(
            "it has {depth} path components; output names have at most {MAX_OUTPUT_DEPTH}"
        )));
    }
    if let Some(long) = name.split('/').find(|c| c.len() > MAX_OUTPUT_COMPONENT) {
        return Err(NameError::TooLarge(format!(
            "component `{}` has {} bytes; each has at most {MAX_OUTPUT_COMPONENT}",
            shown(long),
            long.len()
        )));
    }
    Ok(())
}

/// The rules for the name of an emitted file (below the step's directory): the spelling rules
/// of [`check_output_name`], with `%` an ordinary character (what `%%` writes) rather than a
/// pattern, and without the size bounds (ffmpeg's expansions lengthen names; the names ffmpeg
/// may write are bounded when they are reserved or passed to it).
fn check_emitted_name(name: &str) -> Result<(), String> {
    name.split('/').try_for_each(|component| check_component(component, Percent::Literal))
}

/// What `%` means in a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Percent {
    /// An ffmpeg pattern form (reserved names).
    Pattern,
    /// A plain character (files as written).
    Literal,
}

fn check_component(component: &str, percent: Percent) -> Result<(), String> {
    if component.is_empty() {
        return Err("empty path components (`//`, or a `/` at either end) are not allowed".into());
    }
    if component == "." || component == ".." {
        return Err("`.` and `..` components are not allowed".into());
    }
    if component.starts_with(['.', '-']) {
        return Err(format!("component `{}` starts with `.` or `-`", shown(component)));
    }
    let bytes = component.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-' => at += 1,
            b'%' if percent == Percent::Literal => at += 1,
            b'%' => match pattern_length(&bytes[at..]) {
                Some(length) => at += length,
                None => {
                    return Err(format!(
                        "`%` in `{}` starts no ffmpeg pattern; use `%d`, `%0Nd` (N from 1 to 9), `%v` or `%%`",
                        shown(component)
                    ));
                }
            },
            _ => {
                let c = component[at..].chars().next().expect("at a character boundary");
                let glob = if "*?[]{}".contains(c) { " (glob characters never are)" } else { "" };
                return Err(format!(
                    "`{c}` is not allowed{glob}: names use ASCII letters, digits, `.`, `_`, `-`, `/` \
                     between components and `%` in ffmpeg patterns"
                ));
            }
        }
    }
    Ok(())
}

/// Length of the ffmpeg pattern at the start of `text` (which starts with `%`), if it is one.
fn pattern_length(text: &[u8]) -> Option<usize> {
    match text {
        [b'%', b'd' | b'v' | b'%', ..] => Some(2),
        [b'%', b'0', b'1'..=b'9', b'd', ..] => Some(4),
        _ => None,
    }
}

/// A guest-supplied name cut to [`SHOWN_NAME_BYTES`] for messages.
fn shown(name: &str) -> String {
    if name.len() <= SHOWN_NAME_BYTES {
        return name.to_owned();
    }
    let mut end = SHOWN_NAME_BYTES;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &name[..end])
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

    /// Under the step's directory and within the output-name rules: ffmpeg creates directories
    /// for some outputs itself (the hls muxer does), so an unreserved path must be bounded too.
    fn is_writable_output(&self, relative: &str) -> bool {
        let prefix = format!("{}/", Workspace::step_dir(self.step));
        relative.strip_prefix(&prefix).is_some_and(|name| check_output_name(name).is_ok())
            && policy::check_relative_path(relative).is_ok()
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

    fn workspace() -> (tempfile::TempDir, Workspace) {
        let parent = tempfile::tempdir().unwrap();
        let ws = Workspace::create(parent.path(), "t").unwrap();
        (parent, ws)
    }

    fn write(ws: &Workspace, relative: &str, bytes: &[u8]) {
        let path = ws.root().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

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
        let (_parent, ws) = workspace();
        let mut reserved = Reservations::default();
        let out = ws.reserve_output("thumbs", "a/b_%02d.jpg", &mut reserved).unwrap();
        assert_eq!(out, "out/thumbs/a/b_%02d.jpg");
        assert!(ws.root().join("out/thumbs/a").is_dir());
        assert!(ws.reserve_output("thumbs", "../x", &mut reserved).is_err());
        assert!(ws.reserve_output("thumbs", "/x", &mut reserved).is_err());
        write(&ws, "out/thumbs/a/b_01.jpg", b"x");
        assert!(ws.resolve_file("out/thumbs/a/b_01.jpg").is_some());
        std::os::unix::fs::symlink("/etc/passwd", ws.root().join("out/thumbs/link")).unwrap();
        assert!(ws.resolve_file("out/thumbs/link").is_none());
        assert_eq!(ws.files_under("out/thumbs").unwrap(), vec!["out/thumbs/a/b_01.jpg"]);
    }

    #[test]
    fn output_names_follow_the_rules() {
        for good in [
            "clip.mp4",
            "clip/v%v/seg_%03d.ts",
            "%v/index.m3u8",
            "thumb_%d.jpg",
            "rate_100%%.txt",
            "a/b/c/d.mp4",
            "take-2.final_cut.MOV",
        ] {
            assert_eq!(check_output_name(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "/abs.mp4",
            "a//b.mp4",
            "a/./b.mp4",
            "a/../b.mp4",
            "dir/",
            ".hidden",
            "-i.mp4",
            "a/-rf",
            "x*.jpg",
            "x?.jpg",
            "[ab].jpg",
            "{..,x}/y",
            "a b.mp4",
            "concat:x.mp4",
            "a\\b",
            "vidéo.mp4",
            "x%s.jpg",
            "x%3d.jpg",
            "x%010d.jpg",
            "x%00d.jpg",
            "x%",
        ] {
            assert!(matches!(check_output_name(bad), Err(NameError::Invalid(_))), "{bad}");
        }
        let too_large = [
            "a".repeat(MAX_OUTPUT_NAME + 1),
            "a/b/c/d/e.mp4".to_owned(),
            format!("{}.mp4", "a".repeat(MAX_OUTPUT_COMPONENT)),
        ];
        for name in too_large {
            assert!(matches!(check_output_name(&name), Err(NameError::TooLarge(_))), "{name}");
        }
        // A bad name is bad whatever its depth.
        let glob = "{..,x}/".repeat(12) + "etc/passwd";
        assert!(matches!(check_output_name(&glob), Err(NameError::Invalid(_))));
    }

    #[test]
    fn reservations_are_bounded_per_step_and_create_few_directories() {
        let (_parent, ws) = workspace();
        let mut reserved = Reservations::default();
        for i in 0..MAX_RESERVED_OUTPUTS {
            ws.reserve_output("flood", &format!("d{i}/e/f/x.mp4"), &mut reserved).unwrap();
        }
        // Reserving a name again is free; a new one is over the bound.
        ws.reserve_output("flood", "d0/e/f/x.mp4", &mut reserved).unwrap();
        let error = ws.reserve_output("flood", "one/more.mp4", &mut reserved).unwrap_err();
        assert!(matches!(error, ReserveError::TooMany { .. }), "{error}");
        assert!(error.to_string().contains("at most 256 outputs"), "{error}");
        let deep = ws.reserve_output("flood", &"a/".repeat(2000), &mut Reservations::default()).unwrap_err();
        assert!(matches!(deep, ReserveError::Name { reason: NameError::TooLarge(_), .. }), "{deep}");
        let mut directories = 0;
        let mut pending = vec![ws.root().to_owned()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let entry = entry.unwrap();
                if entry.file_type().unwrap().is_dir() {
                    directories += 1;
                    pending.push(entry.path());
                }
            }
        }
        // out/, out/flood/ and three per reservation.
        assert_eq!(directories, 2 + 3 * MAX_RESERVED_OUTPUTS);
        // Another step has bounds of its own.
        ws.reserve_output("other", "x.mp4", &mut Reservations::default()).unwrap();
    }

    #[test]
    fn policy_outputs_follow_the_name_rules() {
        let (_parent, ws) = workspace();
        let view = StepView { workspace: &ws, step: "s" };
        assert!(view.is_writable_output("out/s/x.mp4"));
        assert!(view.is_writable_output("out/s/%v/seg_%03d.ts"));
        assert!(!view.is_writable_output("out/other/x.mp4"));
        assert!(!view.is_writable_output("out/s/./x.mp4"));
        assert!(!view.is_writable_output("out/s/a/b/c/d/e/x.mp4"));
        assert!(!view.is_writable_output("out/s/*.mp4"));
    }

    #[test]
    fn uploads_are_read_only_copies() {
        let (parent, ws) = workspace();
        let source = parent.path().join("caller.mp4");
        std::fs::write(&source, b"the caller's bytes").unwrap();
        let relative = ws.add_upload("u1", "my clip.mp4", &source).unwrap();
        assert_eq!(relative, "in/u1/my_clip.mp4");
        let copy = ws.root().join(&relative);
        assert_eq!(std::fs::read(&copy).unwrap(), b"the caller's bytes");
        let (original, placed) = (std::fs::metadata(&source).unwrap(), std::fs::metadata(&copy).unwrap());
        assert_ne!(original.ino(), placed.ino(), "the upload must be a copy, not a link");
        assert_eq!(original.nlink(), 1);
        assert_eq!(mode(&copy), 0o444);
        assert_eq!(mode(&ws.root().join("in/u1")), 0o555);
        // Whatever happens to the workspace copy leaves the caller's file alone.
        std::fs::set_permissions(&copy, Permissions::from_mode(0o644)).unwrap();
        std::fs::write(&copy, b"overwritten").unwrap();
        assert_eq!(std::fs::read(&source).unwrap(), b"the caller's bytes");
        let root = ws.root().to_owned();
        ws.remove().unwrap();
        assert!(!root.exists());
    }

    #[test]
    fn copies_never_overwrite() {
        let (parent, _ws) = workspace();
        let (source, target) = (parent.path().join("a"), parent.path().join("b"));
        std::fs::write(&source, b"new").unwrap();
        std::fs::write(&target, b"old").unwrap();
        let error = copy_to_new(&File::open(&source).unwrap(), &target).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&target).unwrap(), b"old");
        // Onto itself, the case that once truncated a result to 0 bytes.
        let error = copy_to_new(&File::open(&source).unwrap(), &source).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&source).unwrap(), b"new");
    }

    #[test]
    fn emitted_paths_are_canonical_and_inside_the_step() {
        let (parent, ws) = workspace();
        write(&ws, "out/s/x.ts", b"segment");
        let file = ws.step_file("s", "out/s/x.ts").unwrap();
        assert_eq!((file.name.as_str(), file.path.as_str(), file.identity.size), ("x.ts", "out/s/x.ts", 7));
        for spelling in ["out/s/./x.ts", "out/s//x.ts", "out/s/a/../x.ts", "out/s/x.ts/"] {
            let error = ws.step_file("s", spelling).unwrap_err();
            assert!(matches!(error, EmitError::Invalid { .. }), "{spelling}: {error}");
        }
        assert!(matches!(ws.step_file("t", "out/s/x.ts"), Err(EmitError::NotInStep { .. })));
        assert!(matches!(ws.step_file("s", "out/s/y.ts"), Err(EmitError::Missing { .. })));
        // A symlink inside the step is the file it points to; one leaving the step is refused.
        std::os::unix::fs::symlink("x.ts", ws.root().join("out/s/alias.ts")).unwrap();
        let alias = ws.step_file("s", "out/s/alias.ts").unwrap();
        assert_eq!((alias.name.as_str(), alias.path.as_str()), ("alias.ts", "out/s/x.ts"));
        assert!(alias.identity.same_file(&file.identity));
        let outside = parent.path().join("secret");
        std::fs::write(&outside, b"secret").unwrap();
        std::os::unix::fs::symlink(&outside, ws.root().join("out/s/leak.ts")).unwrap();
        write(&ws, "out/other/y.ts", b"y");
        std::os::unix::fs::symlink("../other/y.ts", ws.root().join("out/s/sideways.ts")).unwrap();
        for escaping in ["out/s/leak.ts", "out/s/sideways.ts"] {
            let error = ws.step_file("s", escaping).unwrap_err();
            assert!(error.to_string().contains("outside the outputs of step `s`"), "{error}");
        }
        std::fs::create_dir(ws.root().join("out/s/dir")).unwrap();
        assert!(ws.step_file("s", "out/s/dir").unwrap_err().to_string().contains("not a regular file"));
        // A hard link is another name for the same file.
        std::fs::hard_link(ws.root().join("out/s/x.ts"), ws.root().join("out/s/twin.ts")).unwrap();
        let twin = ws.step_file("s", "out/s/twin.ts").unwrap();
        assert_eq!(twin.path, "out/s/twin.ts");
        assert!(twin.identity.same_file(&file.identity));
    }
}
