//! The one argument policy every guest-supplied ffmpeg argument passes before ffmpeg starts.
//!
//! Templates and the media they process are untrusted. ffmpeg runs with its working directory set
//! to the job workspace and guests name files by workspace-relative paths. Where the sandbox
//! cannot hide the host's file system (see `sandbox.rs`) this policy is the defence.
//!
//! # An allowlist of typed values
//!
//! An earlier policy refused known-bad options and filters and let everything else through after
//! looking for paths in it. Hostile templates kept finding values it read differently from ffmpeg:
//! a path behind quotes or backslashes that ffmpeg removes later (`-x264-params stats='/x'`), a
//! file argument without `=` inside a filter's own command language (`sendcmd`), a name that a
//! muxer turns into directories (`-var_stream_map name:../x`), an input name the `image2` demuxer
//! globs (`{..,x}`), a debugging parameter that overwrites an input (`paletteuse=debug_kdtree=`).
//! Each was "free text" to the policy and a file to ffmpeg.
//!
//! So this policy accepts only what it knows. Every option, format, codec, filter, filter
//! parameter and codec-dictionary key a template may use is listed in `tables.rs` (filters in
//! `filter_table.rs`) with the type of its value ([`ValueType`]): numbers, durations, sizes, words from fixed lists, expressions, text.
//! Files are separate kinds that only built-in entries have: a workspace input (an existing,
//! readable, literal file name), a reserved output of the current step, or a bare file name
//! written next to an output. A file can therefore only appear where ffmpeg opens one, and there
//! it is resolved against the workspace; everywhere else the type's charset leaves no room for a
//! path or a URL. Anything not listed is refused with a [`Refusal`] that names it.
//!
//! To type values the policy must see them as ffmpeg does, so it mirrors ffmpeg's parsers rather
//! than matching patterns: the command line (`walk.rs`: options, values, per-input and per-output
//! groups, stream specifiers), filter graphs (`graph.rs`: `av_get_token`, labels, `sws_flags=`,
//! a second unescaping of filter arguments), codec dictionaries (`dict.rs`: `av_dict_parse_string`),
//! and the structured values (`-map`, `-var_stream_map`, `-force_key_frames`). Items that carry a
//! language of their own with file arguments (`sendcmd`, `zmq`, `tee`, `fifo`, image2 globbing,
//! `-filter_script`, `-/option`) are refused by design, as are filters that open a further input
//! with any demuxer, bypassing the whitelists below (`movie`, and `subtitles`, which probes a
//! playlist disguised as subtitles and follows it to host files), and options the host owns.
//!
//! Operators may extend the lists from `transflow.toml` ([`PolicyExtensions`]), with the same
//! closed set of value types: an extension can add options, filters, parameters, codec keys and
//! formats, but never a file-typed value, never a redefinition of a built-in entry, and never an
//! item refused by design.
//!
//! Every input is pinned to the `file` protocol and the allowed demuxers by options inserted just
//! before its `-i`, and the host puts its own options (`-hide_banner -nostdin -y`) first.

mod dict;
mod extensions;
mod filter_table;
mod graph;
mod paths;
mod tables;
mod values;
mod walk;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};

pub use extensions::{ExtensionError, PolicyExtensions};
pub use paths::check_relative_path;
pub use tables::ALLOWED_DEMUXERS;
pub use values::{UnknownType, ValueType};

use dict::DictSyntax;
use tables::{Context, Suffix};

/// What the policy needs to know about the job's workspace.
pub trait WorkspaceView {
    /// True when `relative` (already checked to be a safe relative path) names an existing regular
    /// file inside the workspace (resolving symlinks must stay inside the workspace; the implementer
    /// handles that).
    fn is_readable_file(&self, relative: &str) -> bool;
    /// True when `relative` lies under the directory the current step may write (e.g. `out/<step>/`).
    fn is_writable_output(&self, relative: &str) -> bool;
}

/// Why the policy refused a command: the argument at fault and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("argument `{argument}` refused: {reason}")]
pub struct Refusal {
    /// The argument, shortened and with control characters escaped.
    pub argument: String,
    /// Why, in words a template author can act on.
    pub reason: String,
}

/// How much of a refused argument a refusal repeats.
const SHOWN_CHARS: usize = 200;

impl Refusal {
    /// A refusal of `argument`, shortened and with control characters escaped so that the message
    /// stays readable however hostile the argument.
    fn new(argument: &str, reason: impl Into<String>) -> Self {
        let mut shown = String::new();
        for c in argument.chars().take(SHOWN_CHARS) {
            if c.is_control() {
                shown.extend(c.escape_default());
            } else {
                shown.push(c);
            }
        }
        if argument.chars().nth(SHOWN_CHARS).is_some() {
            shown.push('…');
        }
        Refusal { argument: shown, reason: reason.into() }
    }
}

/// The validated command: guest args with the host's safety options inserted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedArgs {
    /// Full argv for ffmpeg (without program name): host prefix options + guest args with
    /// per-input safety options inserted before each `-i`.
    pub args: Vec<String>,
    /// Workspace-relative inputs (values of `-i`) in order.
    pub inputs: Vec<String>,
    /// Workspace-relative output paths (positional args) in order.
    pub outputs: Vec<String>,
}

/// How the policy reads an allowed option's value or a filter parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// No value (`-an`).
    Flag,
    /// A typed value that names nothing.
    Value(ValueType),
    /// `-i`: a workspace input file, pinned to the `file` protocol and the allowed demuxers.
    Input,
    /// A file a filter reads (`drawtext=fontfile=`): an existing workspace file.
    InputFile,
    /// A file written as named (`-segment_list`, `psnr=stats_file=`): a reserved output.
    OutputFile,
    /// A reserved output that may hold `%d`/`%v` patterns (`-hls_segment_filename`).
    OutputPattern,
    /// A bare file name written next to the output (`-master_pl_name`).
    FileName,
    /// `-f` (and `-segment_format`): a demuxer before an input, a muxer before an output.
    Format,
    /// `-c` and friends: a decoder before an input, an encoder (or `copy`) before an output.
    Codec,
    /// A filter graph, parsed and checked filter by filter.
    FilterGraph,
    /// A codec dictionary, parsed and checked key by key.
    Dict,
    /// `-map`: `[label]` or `[-]N[:stream_specifier][?]`.
    Map,
    /// `-metadata`: `key=text`.
    Metadata,
    /// `-var_stream_map`: variant streams whose names become directories.
    VarStreamMap,
    /// `-force_key_frames`: `expr:EXPRESSION`, `source` or a list of times.
    ForceKeyFrames,
    /// `-pass`: 1, 2 or 3; needs `-passlogfile` in the same output.
    Pass,
    /// `scale=flags=`: libswscale flags.
    SwsFlags,
}

impl Kind {
    /// Reads a kind from the tables: a [`ValueType`] or one of the built-in-only kinds.
    fn parse(name: &str) -> Result<Kind, UnknownType> {
        Ok(match name {
            "flag" => Kind::Flag,
            "input" => Kind::Input,
            "input_file" => Kind::InputFile,
            "output_file" => Kind::OutputFile,
            "output_pattern" => Kind::OutputPattern,
            "file_name" => Kind::FileName,
            "format" => Kind::Format,
            "codec" => Kind::Codec,
            "filter_graph" => Kind::FilterGraph,
            "dict" => Kind::Dict,
            "map" => Kind::Map,
            "metadata" => Kind::Metadata,
            "var_stream_map" => Kind::VarStreamMap,
            "force_key_frames" => Kind::ForceKeyFrames,
            "pass" => Kind::Pass,
            "sws_flags" => Kind::SwsFlags,
            other => Kind::Value(other.parse()?),
        })
    }
}

/// An allowed option.
#[derive(Debug, Clone)]
struct OptionRule {
    kind: Kind,
    context: Context,
    suffix: Suffix,
}

/// An allowed filter.
#[derive(Debug, Clone, Default)]
struct FilterRule {
    positional: Vec<String>,
    params: HashMap<String, Kind>,
}

/// An allowed codec dictionary option.
#[derive(Debug, Clone)]
struct DictRule {
    syntax: DictSyntax,
    keys: HashMap<String, ValueType>,
}

/// The policy: the built-in allowlist, plus what an operator added.
#[derive(Debug, Clone)]
pub struct Policy {
    options: HashMap<String, OptionRule>,
    filters: HashMap<String, FilterRule>,
    dicts: HashMap<String, DictRule>,
    demuxers: Vec<String>,
    muxers: HashSet<String>,
    encoders: HashSet<String>,
    decoders: HashSet<String>,
    format_whitelist: String,
}

impl Default for Policy {
    /// The built-in allowlist alone.
    fn default() -> Self {
        Policy::new(&PolicyExtensions::default()).expect("the built-in tables are valid")
    }
}

impl Policy {
    /// The built-in allowlist plus `extensions`, or the first extension that may not be added.
    pub fn new(extensions: &PolicyExtensions) -> Result<Policy, ExtensionError> {
        let mut policy = Policy::builtin();
        extensions.apply(&mut policy)?;
        policy.format_whitelist = policy.demuxers.join(",");
        Ok(policy)
    }

    /// The tables of `tables.rs`, read once. A malformed entry is a bug caught by the unit tests.
    fn builtin() -> Policy {
        let kind = |name: &str| Kind::parse(name).unwrap_or_else(|e| panic!("built-in table: {e}"));
        let options = tables::OPTIONS
            .iter()
            .map(|&(name, kind_name, context, suffix)| {
                (name.to_owned(), OptionRule { kind: kind(kind_name), context, suffix })
            })
            .collect();
        let filters = filter_table::FILTERS
            .iter()
            .map(|entry| {
                let params = entry.params.iter().chain(filter_table::COMMON_FILTER_PARAMS);
                let rule = FilterRule {
                    positional: entry.positional.iter().map(|p| p.to_string()).collect(),
                    params: params.map(|&(param, type_name)| (param.to_owned(), kind(type_name))).collect(),
                };
                (entry.name.to_owned(), rule)
            })
            .collect();
        let dicts = tables::CODEC_DICTS
            .iter()
            .map(|&(option, keys)| {
                let syntax = if option == "x264opts" { DictSyntax::X264Opts } else { DictSyntax::AvDict };
                let keys = keys
                    .iter()
                    .map(|&(key, type_name)| {
                        let value_type = type_name.parse().unwrap_or_else(|e| panic!("built-in table: {e}"));
                        (key.to_owned(), value_type)
                    })
                    .collect();
                (option.to_owned(), DictRule { syntax, keys })
            })
            .collect();
        let set = |list: &[&str]| list.iter().map(|name| name.to_string()).collect();
        Policy {
            options,
            filters,
            dicts,
            demuxers: ALLOWED_DEMUXERS.iter().map(|name| name.to_string()).collect(),
            muxers: set(tables::MUXERS),
            encoders: set(tables::ENCODERS),
            decoders: set(tables::DECODERS),
            format_whitelist: String::new(),
        }
    }

    /// Validates a guest's ffmpeg arguments and returns the argv to run, or why it is refused.
    pub fn check_ffmpeg_args(&self, args: &[String], ws: &dyn WorkspaceView) -> Result<CheckedArgs, Refusal> {
        walk::check(self, args, ws)
    }

    /// For ffprobe/probe calls: validate one path the guest names. Same rules as an `-i` value.
    pub fn check_input_path(&self, path: &str, ws: &dyn WorkspaceView) -> Result<(), Refusal> {
        paths::check_input(path, ws).map_err(|reason| Refusal::new(path, reason))
    }

    /// The demuxers inputs are pinned to, comma-separated (`-format_whitelist`), extensions
    /// included; ffprobe should be given the same list.
    pub fn format_whitelist(&self) -> &str {
        &self.format_whitelist
    }
}
