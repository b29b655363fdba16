//! Path rules: which strings may name a workspace input, a reserved output or a bare file name.
//!
//! ffmpeg opens paths in several ways, and each rule here closes one of them: a `NAME:` prefix
//! selects a protocol (`concat:`, `pipe:`, `subfile,…:`), `..` and absolute paths leave the
//! workspace, and the `image2` demuxer expands `%d` sequences and, by default, glob patterns
//! (`%*`, `{a,b}` with brace expansion) in input names. Inputs are therefore literal names of
//! existing files, and patterns are allowed only in outputs, where they expand under the step's
//! reserved directory.

use super::tables::PROTOCOLS;
use super::{Refusal, WorkspaceView};

/// The characters of a glob pattern (`glob(3)` with `GLOB_BRACE`).
const GLOB_CHARACTERS: &[char] = &['*', '?', '[', ']', '{', '}'];

/// The checks every path the guest names must pass, whether it is read or written: relative,
/// inside the workspace, and a plain file name rather than a URL or a stream. Existence and
/// writability are the caller's to check.
pub fn check_relative_path(path: &str) -> Result<(), Refusal> {
    check_path(path).map_err(|reason| Refusal::new(path, reason))
}

/// [`check_relative_path`], giving only the reason.
pub(super) fn check_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("empty paths are not allowed".into());
    }
    if path == "-" {
        return Err("stdin/stdout are not allowed".into());
    }
    if path.chars().any(char::is_control) {
        return Err("control characters are not allowed in paths".into());
    }
    if path.contains('\\') {
        return Err("backslashes are not allowed in paths".into());
    }
    if is_absolute(path) {
        return Err("absolute paths are not allowed".into());
    }
    if has_protocol(path) {
        return Err("URLs and protocol prefixes are not allowed".into());
    }
    if path.split('/').any(|component| component == "..") {
        return Err("`..` is not allowed in paths".into());
    }
    Ok(())
}

/// Absolute in any way a user might mean it: `/x`, `~/x` or a Windows drive like `C:x`.
fn is_absolute(path: &str) -> bool {
    let bytes = path.as_bytes();
    path.starts_with(['/', '~']) || (bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':')
}

/// Whether ffmpeg would open `value` through a protocol other than a plain relative file: any
/// `scheme://` URL, or `NAME:` (also `NAME+…:`, ffmpeg's nested schemes) for a known protocol, or
/// `subfile,…:`.
fn has_protocol(value: &str) -> bool {
    let scheme_len =
        value.bytes().take_while(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')).count();
    let (scheme, rest) = value.split_at(scheme_len);
    if rest.starts_with("://") && scheme.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return true;
    }
    if rest.starts_with(':') && !scheme.is_empty() {
        let scheme = scheme.to_ascii_lowercase();
        let outer = scheme.split('+').next().unwrap_or_default();
        if PROTOCOLS.contains(&scheme.as_str()) || PROTOCOLS.contains(&outer) {
            return true;
        }
    }
    value.get(..8).is_some_and(|start| start.eq_ignore_ascii_case("subfile,")) && value.contains(':')
}

/// A file ffmpeg (or a filter) reads: a literal relative name of an existing workspace file.
/// `%` and glob characters are refused because the `image2` demuxer would expand them.
pub(super) fn check_input(path: &str, ws: &dyn WorkspaceView) -> Result<(), String> {
    check_path(path)?;
    if path.contains('%') || path.contains(GLOB_CHARACTERS) {
        return Err(format!(
            "input `{path}` must name one file: `%` sequences and glob characters (*?[]{{}}) are not allowed"
        ));
    }
    if ws.is_readable_file(path) {
        Ok(())
    } else {
        Err(format!("input `{path}` is not a file in the workspace"))
    }
}

/// Which `%` sequences an output path may contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Patterns {
    /// None: the path is written as it is (filter statistics files, `-segment_list`).
    Literal,
    /// `%d`, `%0Nd`, `%%` (image sequences, segments) and `%v` (HLS variant streams).
    Sequence,
}

/// A path ffmpeg writes: safe, where the step may write, and with only the `%` sequences that
/// the muxers expand into numbers or checked variant names.
pub(super) fn check_output(path: &str, ws: &dyn WorkspaceView, patterns: Patterns) -> Result<(), String> {
    check_path(path)?;
    if path.contains(GLOB_CHARACTERS) {
        return Err("glob characters (*?[]{}) are not allowed in output paths".into());
    }
    match patterns {
        Patterns::Literal if path.contains('%') => {
            return Err("`%` is not allowed in this path: it is written literally".into());
        }
        Patterns::Sequence if !sequence_patterns_only(path) => {
            return Err("outputs may use only the `%d`, `%0Nd`, `%v` and `%%` patterns".into());
        }
        _ => {}
    }
    if ws.is_writable_output(path) {
        Ok(())
    } else {
        Err("outputs must be paths from workspace.reserve-output".into())
    }
}

/// Whether every `%` in `path` starts `%d`, `%0Nd` (N at most two digits), `%v` or `%%`.
fn sequence_patterns_only(path: &str) -> bool {
    let mut rest = path;
    while let Some(at) = rest.find('%') {
        let spec = &rest[at + 1..];
        let width = spec.bytes().take_while(u8::is_ascii_digit).count();
        let after = match spec.as_bytes().get(width) {
            Some(b'd') if width <= 2 => width + 1,
            Some(b'v' | b'%') if width == 0 => 1,
            _ => return false,
        };
        rest = &spec[after..];
    }
    true
}

/// A bare file name a muxer writes next to its output (`-master_pl_name`,
/// `-hls_fmp4_init_filename`): letters, digits, `_`, `-` and `.`, no directory and no `..`.
pub(super) fn check_file_name(name: &str) -> Result<(), String> {
    let safe = !name.is_empty()
        && name.len() <= 120
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
        && !name.starts_with(['.', '-'])
        && !name.contains("..");
    if safe {
        Ok(())
    } else {
        Err(format!(
            "`{name}` must be a bare file name (letters, digits, `_`, `-`, `.`): it is written next to the output"
        ))
    }
}
