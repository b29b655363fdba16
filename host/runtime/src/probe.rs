//! One probe of a file's facts — its name split into base and extension, its first bytes, what
//! ffprobe finds and the MIME type those give — for uploads when they are placed and for
//! results when they are emitted, so every file is described by the same rules. A result that
//! is a still image is described from its header instead, as ffprobe would describe it: one
//! process fewer per thumbnail (see [`probe_result`]).
//!
//! The facts are probed once and then moved into each shape the file takes: the status record
//! ([`FileFacts::record`]) and the input of the steps that read it ([`FileFacts::input`]); an
//! emitted result carries them in [`EmittedOutput`](crate::job::EmittedOutput) until it is kept.

use crate::job::InputRecord;
use std::io::Read;
use std::path::Path;
use transflow_ffmpeg::{MediaMeta, MediaTools, ToolError, mime};
use transflow_store::assembly::FileRecord;

/// Bytes at a file's start that MIME detection looks at (the longest signature is 8).
const HEAD_BYTES: u64 = 16;
/// Bytes of a result read for a still image's header; ffmpeg writes the dimensions within the
/// first few hundred, and a header further in is left to ffprobe.
const IMAGE_HEADER_BYTES: u64 = 64 * 1024;

/// What the host knows about a file from its name and its content.
#[derive(Debug, Clone, PartialEq)]
pub struct FileFacts {
    /// An upload's name, or a result's path below its step directory (`clip/master.m3u8`).
    pub name: String,
    /// The last component of the name without its extension.
    pub basename: String,
    /// The last component's extension, lower case, without the dot; empty when it has none.
    pub ext: String,
    /// From the content: ffprobe's format, else the first bytes; the extension only last.
    pub mime: String,
    /// What ffprobe found; `None` when the file is empty or not media.
    pub meta: Option<MediaMeta>,
}

/// A probed file.
#[derive(Debug, Clone, PartialEq)]
pub struct Probed {
    /// Its facts.
    pub facts: FileFacts,
    /// Why ffmpeg must not be run on it (empty, or not media), if so.
    pub problem: Option<String>,
}

/// Probes the file at `path` (relative to the workspace `root`), known to the assembly as
/// `name`, that has `size` bytes. An empty file is not given to ffprobe: there is nothing to
/// find. Failing to read its first bytes is a host fault; ffprobe failing is a fact about the
/// file (its `problem`).
pub async fn probe_file(
    tools: &MediaTools,
    root: &Path,
    path: &str,
    name: &str,
    size: u64,
) -> std::io::Result<Probed> {
    let (meta, problem) = if size == 0 {
        (None, Some("empty file".to_owned()))
    } else {
        match tools.probe(root, path).await {
            Ok(Some(meta)) => (Some(meta), None),
            Ok(None) => (None, Some("not a media file: it has no audio or video stream".to_owned())),
            Err(error) => (None, Some(format!("not a media file: {}", probe_reason(&error)))),
        }
    };
    let head = read_start(&root.join(path), HEAD_BYTES)?;
    Ok(Probed { facts: FileFacts::of(name, meta, &head), problem })
}

/// Probes a result at `path` like [`probe_file`], except that a still image (JPEG, PNG, WebP)
/// is described from its header without starting ffprobe. Only results take this path: they
/// were written by ffmpeg, while an upload is anyone's bytes that ffprobe must vouch for.
pub async fn probe_result(
    tools: &MediaTools,
    root: &Path,
    path: &str,
    name: &str,
    size: u64,
) -> std::io::Result<Probed> {
    let (_, ext) = split_name(name);
    let header = read_start(&root.join(path), IMAGE_HEADER_BYTES)?;
    match MediaMeta::of_still_image(&header, size, &ext) {
        Some(meta) => Ok(Probed { facts: FileFacts::of(name, Some(meta), &header), problem: None }),
        None => probe_file(tools, root, path, name, size).await,
    }
}

impl FileFacts {
    /// The facts of a file named `name` that starts with `head` and in which ffprobe found
    /// `meta`.
    fn of(name: &str, meta: Option<MediaMeta>, head: &[u8]) -> FileFacts {
        let (basename, ext) = split_name(name);
        let has_video = meta.as_ref().is_some_and(|m| m.video_codec.is_some());
        let mime = mime::detect(meta.as_ref().and_then(|m| m.format.as_deref()), has_video, head, &ext);
        FileFacts { name: name.to_owned(), basename, ext, mime, meta }
    }

    /// The status record of this file (an upload's; the runner adds a result's step, origin
    /// and URL). `size` and `md5hash` describe the stored bytes.
    pub fn record(self, id: String, size: u64, md5hash: String) -> FileRecord {
        FileRecord {
            id,
            name: self.name,
            basename: self.basename,
            ext: self.ext,
            size,
            mime: self.mime,
            md5hash,
            meta: self.meta,
            original_id: None,
            step: None,
            url: None,
            ssl_url: None,
        }
    }

    /// This file as an input of a step: at workspace-relative `path`, made by `from_step`
    /// (`:original` for an upload) from the upload `original_id`.
    pub fn input(
        self,
        id: String,
        path: String,
        size: u64,
        from_step: String,
        original_id: String,
        problem: Option<String>,
    ) -> InputRecord {
        InputRecord {
            id,
            path,
            name: self.name,
            basename: self.basename,
            ext: self.ext,
            mime: self.mime,
            size,
            from_step,
            original_id,
            meta: self.meta,
            problem,
        }
    }
}

/// `v1.0/clip.final.MP4` → (`clip.final`, `mp4`): the last component of `name`, split at its
/// last dot, the extension lower-cased. A dot in a directory never starts an extension
/// (`v1.0/thumb` has none), nor does a leading dot (`.env` is a name, not an extension).
fn split_name(name: &str) -> (String, String) {
    let file = name.rsplit('/').next().unwrap_or(name);
    match file.rsplit_once('.') {
        Some((base, ext)) if !base.is_empty() => (base.to_owned(), ext.to_ascii_lowercase()),
        _ => (file.to_owned(), String::new()),
    }
}

/// The first `bytes` of the file at `path` (all of it when shorter).
fn read_start(path: &Path, bytes: u64) -> std::io::Result<Vec<u8>> {
    let mut start = Vec::new();
    std::fs::File::open(path)?.take(bytes).read_to_end(&mut start)?;
    Ok(start)
}

/// The line of ffprobe's complaint worth showing: its last.
fn probe_reason(error: &ToolError) -> String {
    match error {
        ToolError::Failed { stderr_tail, .. } => {
            stderr_tail.lines().last().unwrap_or("ffprobe could not read it").to_owned()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The facts of `name` with the content `head` and no media in it.
    fn facts(name: &str, head: &[u8]) -> (String, String, String) {
        let facts = FileFacts::of(name, None, head);
        (facts.basename, facts.ext, facts.mime)
    }

    fn triple(basename: &str, ext: &str, mime: &str) -> (String, String, String) {
        (basename.to_owned(), ext.to_owned(), mime.to_owned())
    }

    #[test]
    fn names_split_at_the_last_dot_of_their_last_component() {
        const BINARY: &[u8] = b"\x00\x01";
        const OCTETS: &str = "application/octet-stream";
        assert_eq!(facts("clip.final.MP4", BINARY), triple("clip.final", "mp4", "video/mp4"));
        assert_eq!(facts("README", BINARY), triple("README", "", OCTETS));
        // A dotfile is all name.
        assert_eq!(facts(".env", b"KEY=value"), triple(".env", "", OCTETS));
        assert_eq!(facts(".env.json", b"{}"), triple(".env", "json", "application/json"));
        // A dot in a directory is no extension.
        assert_eq!(facts("v1.0/thumb", BINARY), triple("thumb", "", OCTETS));
        assert_eq!(facts("v1.0/thumb.JPG", BINARY), triple("thumb", "jpg", "image/jpeg"));
        assert_eq!(
            facts("hls/clip/master.m3u8", b"#EXTM3U"),
            triple("master", "m3u8", "application/vnd.apple.mpegurl")
        );
        assert_eq!(facts("x.", BINARY), triple("x", "", OCTETS));
    }

    #[test]
    fn content_names_the_type_before_the_extension() {
        assert_eq!(facts("v1.0/thumb", b"\x89PNG\r\n\x1a\n"), triple("thumb", "", "image/png"));
        let meta = MediaMeta { format: Some("png_pipe".into()), ..MediaMeta::default() };
        let probed = FileFacts::of("still.MP4", Some(meta.clone()), b"");
        assert_eq!(
            (probed.ext.as_str(), probed.mime.as_str(), probed.meta),
            ("mp4", "image/png", Some(meta))
        );
    }
}
