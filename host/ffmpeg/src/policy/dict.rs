//! Codec dictionaries (`-x264-params`, `-x265-params`, …) parsed with ffmpeg's own rules, so that
//! each key and value is checked as the encoder will receive it.
//!
//! A dictionary option is set with `av_dict_parse_string(…, "=", ":", 0)`: the key is an
//! `av_get_token` up to `=` (so it may itself contain `:`), the value one up to `:`, each with
//! `'…'` quotes and `\` escapes removed. `stats='/abs/file'` and `stats=\/abs\/file` are
//! therefore the key `stats` with the value `/abs/file`. `-x264opts` is older: libx264 splits it
//! with `sscanf` and no unescaping at all, so quotes and backslashes, which the two readings would
//! see differently, are refused in it.

use super::graph::get_token;

/// How an encoder reads its dictionary option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DictSyntax {
    /// `av_dict_parse_string(…, "=", ":", 0)` (every `AV_OPT_TYPE_DICT` option).
    AvDict,
    /// libx264's `-x264opts`: `key[=value]` separated by `:`, read with `sscanf`; a bare key
    /// means `key=1`.
    X264Opts,
}

/// Parses `text` into `(key, value)` pairs as the encoder will.
pub(super) fn parse_dict(text: &str, syntax: DictSyntax) -> Result<Vec<(String, String)>, String> {
    match syntax {
        DictSyntax::AvDict => parse_av_dict(text),
        DictSyntax::X264Opts => parse_x264opts(text),
    }
}

fn parse_av_dict(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    let mut rest = text.as_bytes();
    while !rest.is_empty() {
        let (key, after_key) = get_token(rest, b"=");
        let after_equals = after_key.strip_prefix(b"=");
        let (value, after_value) = match after_equals {
            Some(after_equals) => get_token(after_equals, b":"),
            None => (Vec::new(), after_key),
        };
        if key.is_empty() || value.is_empty() {
            return Err("entries must be `key=value` separated by `:`".into());
        }
        pairs
            .push((String::from_utf8_lossy(&key).into_owned(), String::from_utf8_lossy(&value).into_owned()));
        // ffmpeg skips the one separator byte after each pair, whatever it is.
        rest = after_value.get(1..).unwrap_or_default();
    }
    Ok(pairs)
}

fn parse_x264opts(text: &str) -> Result<Vec<(String, String)>, String> {
    if text.contains(['\'', '\\', '"']) {
        return Err("quotes and backslashes are not allowed in `-x264opts`; use `-x264-params`".into());
    }
    text.split(':')
        .map(|entry| {
            let (key, value) = entry.split_once('=').unwrap_or((entry, "1"));
            if key.is_empty() || value.is_empty() {
                Err("entries must be `key[=value]` separated by `:`".to_string())
            } else {
                Ok((key.to_owned(), value.to_owned()))
            }
        })
        .collect()
}
