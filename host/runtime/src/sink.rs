//! Where results go when their step ends: a [`ResultSink`] stores each one and says what it
//! stored.
//!
//! The runner opens each emitted file once, checks that it is the file that was emitted, and
//! hands the open file to the sink, which hashes the bytes while it stores them: nothing is
//! read twice, and the size and MD5 in the status describe the stored bytes, not the
//! workspace file. [`DirectorySink`] keeps read-only copies in a local directory
//! (`transflow run`); the service's blob-store sink streams results into the blob store (the
//! worker), where they get the URLs the status gives files.

use async_trait::async_trait;
use md5::{Digest, Md5};
use std::fs::{File, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::workspace::{Copied, copy_to_new_via};

/// One result to store.
#[derive(Debug)]
pub struct ResultFile<'a> {
    /// The assembly's branch.
    pub branch: &'a str,
    /// The assembly.
    pub assembly_id: &'a str,
    /// The step that emitted it.
    pub step: &'a str,
    /// Its path below the step's output directory, as emitted (`clip/master.m3u8`).
    pub name: &'a str,
    /// The file, opened once and checked to be the one emitted: read from here, never by path.
    pub file: File,
    /// Its size when it was emitted; a sink refuses to store any other number of bytes.
    pub size: u64,
    /// Its MIME type, for stores that keep one.
    pub mime: &'a str,
}

/// What a sink stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResult {
    /// Bytes stored.
    pub size: u64,
    /// Lower-case hex MD5 of the stored bytes, computed as they were stored.
    pub md5: String,
    /// Where the stored result can be fetched.
    pub url: String,
}

/// Why a sink did not store a result.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The bytes did not match what was emitted (their size), so nothing was stored.
    #[error("{0}")]
    Refused(String),
    /// This host could not read the result or write its copy.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The store behind the sink failed; storing it again later may work.
    #[error(transparent)]
    Unavailable(Box<dyn std::error::Error + Send + Sync>),
}

/// Stores an assembly's results as its steps end.
///
/// Object-safe (through `async_trait`, like the store's backend traits) so a
/// [`Runner`](crate::runner::Runner) holds any sink as `Arc<dyn ResultSink>` and neither it nor
/// the code that builds it takes a type parameter; one boxed future per result is nothing next
/// to copying the file.
#[async_trait]
pub trait ResultSink: Send + Sync + std::fmt::Debug {
    /// Makes way for the results of a run of an assembly, before its first step.
    async fn prepare(&self, branch: &str, assembly_id: &str) -> Result<(), SinkError>;

    /// Stores `result`, hashing it on the way, and says what was stored and where.
    async fn keep(&self, result: ResultFile<'_>) -> Result<StoredResult, SinkError>;
}

/// A local directory of read-only result files under `{root}/{branch}/{assembly_id}/{step}/`,
/// with `file://` URLs: the sink of `transflow run`.
#[derive(Debug, Clone)]
pub struct DirectorySink {
    root: PathBuf,
}

impl DirectorySink {
    /// Results kept under `root`.
    pub fn new(root: PathBuf) -> DirectorySink {
        DirectorySink { root }
    }

    /// Where the results of an assembly are kept.
    pub fn assembly_dir(&self, branch: &str, assembly_id: &str) -> PathBuf {
        self.root.join(branch).join(assembly_id)
    }
}

#[async_trait]
impl ResultSink for DirectorySink {
    /// Removes what an earlier run of the assembly kept: each result is then a new file.
    async fn prepare(&self, branch: &str, assembly_id: &str) -> Result<(), SinkError> {
        match tokio::fs::remove_dir_all(self.assembly_dir(branch, assembly_id)).await {
            Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error.into()),
            _ => Ok(()),
        }
    }

    async fn keep(&self, result: ResultFile<'_>) -> Result<StoredResult, SinkError> {
        let target = self.assembly_dir(result.branch, result.assembly_id).join(result.step).join(result.name);
        let (source, emitted_size) = (result.file, result.size);
        tokio::task::spawn_blocking(move || keep_copy(&source, &target, emitted_size))
            .await
            .map_err(io::Error::other)?
    }
}

/// Copies `source` into a new read-only file at `target` and returns its size, MD5 and URL.
///
/// A copy rather than a hard link: the workspace stays writable by the job's tools, and the
/// kept result must not change with it. Without a reflink the bytes are hashed as they are
/// written, so the MD5 is of exactly the bytes stored. With a reflink no bytes move: the copy
/// is then read once to hash it, and that MD5 still describes the kept bytes because `target`
/// is a new inode of its own: a later write to the workspace file un-shares the blocks it
/// touches (copy-on-write) and never reaches `target`, and nothing else writes beneath the
/// results directory (tools write only in the workspace). So the bytes hashed are the bytes
/// kept, and the workspace file is read at most once either way.
fn keep_copy(source: &File, target: &Path, emitted_size: u64) -> Result<StoredResult, SinkError> {
    fs_err::create_dir_all(target.parent().expect("a result has a step directory"))?;
    let (md5, size) = match copy_to_new_via(source, target, |source, copy| md5_copy(&mut &*source, copy))? {
        Copied::Written(hashed) => hashed,
        Copied::Reflinked => md5_copy(&mut fs_err::File::open(target)?, &mut io::sink())?,
    };
    if size != emitted_size {
        fs_err::remove_file(target)?;
        return Err(SinkError::Refused(format!("{size} bytes were read; {emitted_size} were emitted")));
    }
    fs_err::set_permissions(target, Permissions::from_mode(0o444))?;
    let url = file_url(&fs_err::canonicalize(target)?);
    Ok(StoredResult { size, md5, url })
}

/// Streams `reader` into `writer` through MD5, 128 KiB at a time (never the whole file in
/// memory; a thumbnail does not pay for zeroing a bigger buffer); returns the lower-case hex
/// MD5 and the number of bytes.
pub fn md5_copy(reader: &mut impl Read, writer: &mut impl Write) -> io::Result<(String, u64)> {
    let mut hasher = Md5::new();
    let mut buffer = vec![0u8; 128 << 10];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        writer.write_all(&buffer[..n])?;
        total += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), total))
}

fn file_url(path: &Path) -> String {
    let encoded: String = path
        .to_string_lossy()
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("file://{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn md5_hex(bytes: &[u8]) -> String {
        hex::encode(Md5::digest(bytes))
    }

    /// A workspace file with `bytes` and a sink beside it.
    fn scene(bytes: &[u8]) -> (tempfile::TempDir, PathBuf, DirectorySink) {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("work/out/s/clip.ts");
        std::fs::create_dir_all(source.parent().unwrap()).unwrap();
        std::fs::write(&source, bytes).unwrap();
        let sink = DirectorySink::new(dir.path().join("outputs"));
        (dir, source, sink)
    }

    fn result<'a>(source: &Path, name: &'a str, size: u64) -> ResultFile<'a> {
        ResultFile {
            branch: "main",
            assembly_id: "a1",
            step: "s",
            name,
            file: File::open(source).unwrap(),
            size,
            mime: "video/mp2t",
        }
    }

    #[tokio::test]
    async fn a_kept_result_is_a_read_only_copy_described_by_its_own_md5() {
        let bytes: Vec<u8> = (0..3 << 20).map(|i: u32| (i % 251) as u8).collect();
        let (_dir, source, sink) = scene(&bytes);
        sink.prepare("main", "a1").await.unwrap();
        let stored = sink.keep(result(&source, "v1.0/clip.ts", bytes.len() as u64)).await.unwrap();

        let kept_path = sink.assembly_dir("main", "a1").join("s/v1.0/clip.ts");
        let kept = std::fs::read(&kept_path).unwrap();
        assert_eq!((stored.size, stored.md5.as_str()), (bytes.len() as u64, md5_hex(&kept).as_str()));
        assert_eq!(kept, bytes);
        assert_eq!(stored.url, file_url(&std::fs::canonicalize(&kept_path).unwrap()));
        let metadata = std::fs::metadata(&kept_path).unwrap();
        assert_eq!(metadata.mode() & 0o777, 0o444);
        assert_ne!(metadata.ino(), std::fs::metadata(&source).unwrap().ino());

        // The workspace file changing afterwards leaves the kept copy as it was recorded.
        std::fs::write(&source, b"rewritten").unwrap();
        assert_eq!(md5_hex(&std::fs::read(&kept_path).unwrap()), stored.md5);

        // A second keep of the same name is refused (new files only) and changes nothing;
        // a new run of the assembly makes way for it.
        let again = sink.keep(result(&source, "v1.0/clip.ts", 9)).await.unwrap_err();
        assert!(matches!(&again, SinkError::Io(e) if e.kind() == io::ErrorKind::AlreadyExists), "{again}");
        assert_eq!(md5_hex(&std::fs::read(&kept_path).unwrap()), stored.md5);
        sink.prepare("main", "a1").await.unwrap();
        assert!(!kept_path.exists());
        assert_eq!(sink.keep(result(&source, "v1.0/clip.ts", 9)).await.unwrap().md5, md5_hex(b"rewritten"));
    }

    #[tokio::test]
    async fn bytes_that_differ_from_the_emitted_size_are_refused_and_not_kept() {
        let (_dir, source, sink) = scene(b"twelve bytes");
        let error = sink.keep(result(&source, "clip.ts", 11)).await.unwrap_err();
        assert!(matches!(&error, SinkError::Refused(_)), "{error:?}");
        assert_eq!(error.to_string(), "12 bytes were read; 11 were emitted");
        assert!(!sink.assembly_dir("main", "a1").join("s/clip.ts").exists());
    }

    #[test]
    fn urls_are_percent_encoded() {
        assert_eq!(file_url(Path::new("/a b/c#d.mp4")), "file:///a%20b/c%23d.mp4");
    }
}
