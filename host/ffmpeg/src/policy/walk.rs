//! The walk over the arguments, mirroring ffmpeg's command-line parser (`split_commandline` in
//! `cmdutils.c`): an argument that does not start with `-` (or is `-` alone) is an output file;
//! `-i` ends an input's group of options; every other option is looked up without its `:`
//! specifier and takes exactly one value unless it is a flag. Options gather into the group of
//! the next input or output, so where an option stands decides what it means (`-f` is a demuxer
//! before an input and a muxer before an output) and whether it is allowed there.

use super::dict::parse_dict;
use super::graph::{self, FilterCall};
use super::paths::{self, Patterns};
use super::tables::{self, Context, Suffix};
use super::values::ValueType;
use super::{CheckedArgs, FilterRule, Kind, OptionRule, Policy, Refusal, WorkspaceView};

/// Options every command starts with; the caller adds `-progress` and the log level.
pub(super) const HOST_PREFIX: [&str; 3] = ["-hide_banner", "-nostdin", "-y"];
pub(super) const MAX_ARGS: usize = 1000;
pub(super) const MAX_ARG_BYTES: usize = 16384;

/// How a refusal of an unlisted item tells the operator what to do.
const EXTEND: &str = "an operator can allow it in the policy extensions of transflow.toml";

/// Validates `args` against `policy` and builds the command to run.
pub(super) fn check(
    policy: &Policy,
    args: &[String],
    ws: &dyn WorkspaceView,
) -> Result<CheckedArgs, Refusal> {
    check_limits(args)?;
    let mut walk = Walk::new(policy, ws);
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if !is_option(arg) {
            walk.output(arg)?;
            continue;
        }
        let (base, rule) = find_option(policy, arg)?;
        let value = match rule.kind {
            Kind::Flag => None,
            _ => {
                let value =
                    args.next().ok_or_else(|| Refusal::new(arg, format!("option `{arg}` needs a value")))?;
                // No option takes `-i` as its value; refusing it keeps an input from ever
                // passing as a "value" should ffmpeg and this table disagree.
                if value == "-i" {
                    return Err(Refusal::new(value, format!("`-i` cannot be the value of `{arg}`")));
                }
                Some(value.as_str())
            }
        };
        walk.option(arg, base, rule, value)?;
    }
    walk.finish()
}

/// Size limits and NUL bytes, checked before anything is parsed (a NUL would cut the argument
/// short where ffmpeg reads it, so what it sees would not be what we checked).
fn check_limits(args: &[String]) -> Result<(), Refusal> {
    if args.len() > MAX_ARGS {
        let count = format!("{} arguments", args.len());
        return Err(Refusal::new(&count, format!("at most {MAX_ARGS} arguments are allowed")));
    }
    for arg in args {
        if arg.len() > MAX_ARG_BYTES {
            return Err(Refusal::new(arg, format!("arguments may be at most {MAX_ARG_BYTES} bytes long")));
        }
        if arg.contains('\0') {
            return Err(Refusal::new(arg, "NUL bytes are not allowed"));
        }
    }
    Ok(())
}

/// Whether ffmpeg reads `arg`, met where an option may stand, as an option; `-` alone is stdout.
fn is_option(arg: &str) -> bool {
    arg.len() > 1 && arg.starts_with('-')
}

/// The allowed option `arg` names, with its base name (no `-`, no specifier), or why not.
fn find_option<'p>(policy: &'p Policy, arg: &str) -> Result<(&'p str, &'p OptionRule), Refusal> {
    let refuse = |reason: String| Refusal::new(arg, reason);
    let name = &arg[1..];
    if name.starts_with('/') {
        // ffmpeg 7's `-/OPTION FILE` reads the option's value from a file.
        return Err(refuse(format!("option `{arg}` reads its value from a file and is not allowed")));
    }
    if name == "-" {
        return Err(refuse("`--` is not allowed".into()));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(refuse(format!("`{arg}` is not an option; values must follow their option")));
    }
    let (base, specifier) = match name.split_once(':') {
        Some((base, specifier)) => (base, Some(specifier)),
        None => (name, None),
    };
    if tables::HOST_OWNED_OPTIONS.contains(&base) {
        return Err(refuse(format!("the host sets `{arg}` itself")));
    }
    if let Some((_, why)) = tables::REFUSED_OPTIONS.iter().find(|(refused, _)| *refused == base) {
        return Err(refuse(format!("option `{arg}` {why} and is not allowed")));
    }
    let (base, rule) = policy
        .options
        .get_key_value(base)
        .ok_or_else(|| refuse(format!("option `-{base}` is not in the allowlist; {EXTEND}")))?;
    match (rule.suffix, specifier) {
        (_, None) => {}
        (Suffix::Plain, Some(_)) => {
            return Err(refuse(format!("option `-{base}` takes no stream specifier")));
        }
        (Suffix::Stream, Some(specifier)) => {
            check_stream_specifier(specifier).map_err(refuse)?;
        }
        (Suffix::Metadata, Some(specifier)) => {
            check_metadata_specifier(specifier).map_err(refuse)?;
        }
    }
    Ok((base.as_str(), rule))
}

/// A stream specifier as ffmpeg reads it, limited to the common forms: `[p:N:][TYPE[:N]]` or
/// `N`, TYPE one of `v V a s d t`.
fn check_stream_specifier(specifier: &str) -> Result<(), String> {
    let bad = || format!("`{specifier}` is not a stream specifier (`v`, `a:0`, `1`, `p:1:v`, …)");
    let tokens: Vec<&str> = specifier.split(':').collect();
    let number =
        |token: &str| !token.is_empty() && token.len() <= 5 && token.bytes().all(|b| b.is_ascii_digit());
    let mut rest = &tokens[..];
    if let ["p", program, tail @ ..] = rest {
        if !number(program) {
            return Err(bad());
        }
        rest = tail;
    }
    if let [kind, tail @ ..] = rest
        && matches!(*kind, "v" | "V" | "a" | "s" | "d" | "t")
    {
        rest = tail;
    }
    match rest {
        [] if rest.len() < tokens.len() => Ok(()),
        [index] if number(index) => Ok(()),
        _ => Err(bad()),
    }
}

/// A metadata specifier: `g`, `s[:stream_specifier]`, `c:N` or `p:N`.
fn check_metadata_specifier(specifier: &str) -> Result<(), String> {
    let number =
        |token: &str| !token.is_empty() && token.len() <= 5 && token.bytes().all(|b| b.is_ascii_digit());
    let ok = match specifier.split_once(':') {
        None => matches!(specifier, "g" | "s"),
        Some(("s", stream)) => check_stream_specifier(stream).is_ok(),
        Some(("c" | "p", index)) => number(index),
        Some(_) => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("`{specifier}` is not a metadata specifier (`g`, `s:a:0`, `c:0`, `p:0`)"))
    }
}

/// An option waiting for the input or output it belongs to.
struct Pending<'p> {
    option: String,
    base: &'p str,
    value: Option<String>,
    rule: &'p OptionRule,
}

/// The walk's state, building the checked command as it goes.
struct Walk<'a> {
    policy: &'a Policy,
    ws: &'a dyn WorkspaceView,
    checked: CheckedArgs,
    /// Options since the last input or output: they apply to whichever comes next.
    group: Vec<Pending<'a>>,
}

/// Whether a group of options ends with an input or an output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    Input,
    Output,
}

impl<'a> Walk<'a> {
    fn new(policy: &'a Policy, ws: &'a dyn WorkspaceView) -> Self {
        let args = HOST_PREFIX.iter().map(|arg| arg.to_string()).collect();
        Walk {
            policy,
            ws,
            checked: CheckedArgs { args, inputs: Vec::new(), outputs: Vec::new() },
            group: Vec::new(),
        }
    }

    fn option(
        &mut self,
        option: &str,
        base: &'a str,
        rule: &'a OptionRule,
        value: Option<&str>,
    ) -> Result<(), Refusal> {
        if rule.kind == Kind::Input {
            let path = value.unwrap_or_default();
            return self.input(option, path);
        }
        if let Some(value) = value {
            check_value(self.policy, base, &rule.kind, value, self.ws)
                .map_err(|reason| Refusal::new(value, reason))?;
        }
        self.checked.args.push(option.to_owned());
        self.checked.args.extend(value.map(str::to_owned));
        if rule.context != Context::Global {
            self.group.push(Pending {
                option: option.to_owned(),
                base,
                value: value.map(str::to_owned),
                rule,
            });
        }
        Ok(())
    }

    /// An `-i`: its group of options, its path, then the whitelists inserted just before it so
    /// that they win over anything the guest set for this input.
    fn input(&mut self, option: &str, path: &str) -> Result<(), Refusal> {
        self.end_group(Group::Input, path)?;
        paths::check_input(path, self.ws).map_err(|reason| Refusal::new(path, reason))?;
        let safety =
            ["-protocol_whitelist", "file", "-format_whitelist", self.policy.format_whitelist.as_str()];
        self.checked.args.extend(safety.map(String::from));
        self.checked.args.extend([option.to_owned(), path.to_owned()]);
        self.checked.inputs.push(path.to_owned());
        Ok(())
    }

    /// A positional argument, which ffmpeg opens as an output file.
    fn output(&mut self, path: &str) -> Result<(), Refusal> {
        self.end_group(Group::Output, path)?;
        paths::check_output(path, self.ws, Patterns::Sequence)
            .map_err(|reason| Refusal::new(path, reason))?;
        self.checked.args.push(path.to_owned());
        self.checked.outputs.push(path.to_owned());
        Ok(())
    }

    /// Options left after the last file are ignored by ffmpeg, but are checked as output
    /// options anyway rather than trusted.
    fn finish(mut self) -> Result<CheckedArgs, Refusal> {
        self.end_group(Group::Output, "the end of the command")?;
        Ok(self.checked)
    }

    /// Checks what only the end of a group decides: whether each option may stand there, and
    /// the values whose meaning depends on it (formats and codecs).
    fn end_group(&mut self, group: Group, file: &str) -> Result<(), Refusal> {
        let pending = std::mem::take(&mut self.group);
        for Pending { option, value, rule, .. } in &pending {
            let misplaced = match (rule.context, group) {
                (Context::Output, Group::Input) => Some("an output; put it after the inputs"),
                (Context::Input, Group::Output) => Some("an input; put it before its `-i`"),
                _ => None,
            };
            if let Some(belongs) = misplaced {
                return Err(Refusal::new(
                    option,
                    format!("option `{option}` applies to {belongs} (it precedes `{file}`)"),
                ));
            }
            let Some(value) = value else { continue };
            let refuse = |reason: String| Refusal::new(value, reason);
            match (&rule.kind, group) {
                (Kind::Format, Group::Input) => self.check_demuxer(value).map_err(refuse)?,
                (Kind::Format, Group::Output) => self.check_muxer(value).map_err(refuse)?,
                (Kind::Codec, Group::Input) => self.check_decoder(value).map_err(refuse)?,
                (Kind::Codec, Group::Output) => self.check_encoder(value).map_err(refuse)?,
                (Kind::Pass, Group::Output) if !pending.iter().any(|p| p.base == "passlogfile") => {
                    return Err(Refusal::new(
                        option,
                        format!(
                            "`{option}` needs `-passlogfile` naming a reserved output in the same output"
                        ),
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn check_demuxer(&self, format: &str) -> Result<(), String> {
        if self.policy.demuxers.iter().any(|d| d == format) {
            return Ok(());
        }
        Err(match refused_format(format) {
            Some(why) => format!("input format `{format}` is not allowed: it {why}"),
            None => format!("input format `{format}` is not allowed; {EXTEND}"),
        })
    }

    fn check_muxer(&self, format: &str) -> Result<(), String> {
        if self.policy.muxers.contains(format) {
            return Ok(());
        }
        Err(match refused_format(format) {
            Some(why) => format!("output format `{format}` is not allowed: it {why}"),
            None => format!("output format `{format}` is not allowed; {EXTEND}"),
        })
    }

    fn check_decoder(&self, codec: &str) -> Result<(), String> {
        if self.policy.decoders.contains(codec) {
            Ok(())
        } else {
            Err(format!("decoder `{codec}` is not allowed; {}", codec_hint(codec)))
        }
    }

    fn check_encoder(&self, codec: &str) -> Result<(), String> {
        if codec == "copy" || self.policy.encoders.contains(codec) {
            Ok(())
        } else {
            Err(format!("encoder `{codec}` is not allowed; {}", codec_hint(codec)))
        }
    }
}

/// Why a format is refused by design, if it is.
fn refused_format(format: &str) -> Option<&'static str> {
    tables::REFUSED_FORMATS.iter().find(|(name, _)| *name == format).map(|(_, why)| *why)
}

/// The end of a codec refusal: hardware codecs are refused by design, others can be added.
fn codec_hint(codec: &str) -> &'static str {
    if tables::HARDWARE_CODEC_SUFFIXES.iter().any(|suffix| codec.ends_with(suffix)) {
        "it uses host hardware devices"
    } else {
        EXTEND
    }
}

/// Checks a value by its kind; the error is the reason alone. `option` is the option's or the
/// filter parameter's base name.
fn check_value(
    policy: &Policy,
    option: &str,
    kind: &Kind,
    value: &str,
    ws: &dyn WorkspaceView,
) -> Result<(), String> {
    match kind {
        Kind::Flag => Ok(()),
        Kind::OutputPattern => paths::check_output(value, ws, Patterns::Sequence),
        Kind::FileName => paths::check_file_name(value),
        Kind::Format | Kind::Codec => check_name(value),
        Kind::FilterGraph => check_graph(policy, value, ws),
        Kind::Dict => check_dict(policy, option, value),
        Kind::Map => check_map(value),
        Kind::Metadata => check_metadata(value),
        Kind::VarStreamMap => check_var_stream_map(value),
        Kind::ForceKeyFrames => check_force_key_frames(value),
        Kind::Pass => ValueType::Enum(vec!["1".into(), "2".into(), "3".into()]).check(value),
        Kind::Value(_) | Kind::Input | Kind::InputFile | Kind::OutputFile | Kind::SwsFlags => {
            check_filter_value(kind, value, ws)
        }
    }
}

fn sws_flags() -> ValueType {
    ValueType::Flags(tables::SWS_FLAGS.iter().map(|flag| flag.to_string()).collect())
}

/// A format or codec name, before its group says which list it must be in.
fn check_name(name: &str) -> Result<(), String> {
    if !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b))
    {
        Ok(())
    } else {
        Err(format!("`{name}` is not a format or codec name"))
    }
}

/// `-map`: `[label]` (a filter graph output) or `[-]INPUT[:stream_specifier][?]`.
fn check_map(value: &str) -> Result<(), String> {
    if let Some(label) = value.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')) {
        return graph::check_label(label);
    }
    let body = value.strip_prefix('-').unwrap_or(value);
    let body = body.strip_suffix('?').unwrap_or(body);
    let (input, specifier) = match body.split_once(':') {
        Some((input, specifier)) => (input, Some(specifier)),
        None => (body, None),
    };
    let input_ok = !input.is_empty() && input.len() <= 4 && input.bytes().all(|b| b.is_ascii_digit());
    if input_ok && specifier.is_none_or(|s| check_stream_specifier(s).is_ok()) {
        Ok(())
    } else {
        Err(format!("`{value}` is not a map (`0:v:0`, `0:a?`, `-0:s`, `[label]`)"))
    }
}

/// `-metadata`: `key=value`, the key a plain name and the value text.
fn check_metadata(value: &str) -> Result<(), String> {
    let (key, text) = value.split_once('=').ok_or("metadata must be `key=value`")?;
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)) {
        return Err(format!("metadata key `{key}` may contain only letters, digits, `_`, `.` and `-`"));
    }
    ValueType::Text.check(text)
}

/// `-var_stream_map`, read as the hls muxer reads it: variants separated by spaces or tabs, each
/// `,`-separated `key:value` entries. `name:` becomes part of paths through `%v`, so names (and
/// the group names, for good measure) are plain words.
fn check_var_stream_map(value: &str) -> Result<(), String> {
    let word = |text: &str| {
        !text.is_empty()
            && text.len() <= 64
            && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b))
    };
    let digits = |text: &str| !text.is_empty() && text.len() <= 4 && text.bytes().all(|b| b.is_ascii_digit());
    let mut variants = 0;
    for variant in value.split([' ', '\t']).filter(|v| !v.is_empty()) {
        variants += 1;
        for entry in variant.split(',').filter(|e| !e.is_empty()) {
            let valid = match entry.split_once(':') {
                Some(("v" | "a" | "s", index)) => digits(index),
                Some(("name" | "agroup" | "sgroup" | "ccgroup" | "language", name)) => word(name),
                Some(("default", answer)) => matches!(answer, "yes" | "no" | "YES" | "NO" | "1" | "0"),
                _ => false,
            };
            if !valid {
                return Err(format!(
                    "`{entry}` is not a variant stream entry (`v:N`, `a:N`, `s:N`, `agroup:`, `sgroup:`, \
                     `ccgroup:`, `language:`, `default:`, or `name:` with letters, digits, `_` and `-`)"
                ));
            }
        }
    }
    if variants == 0 { Err("the variant stream map is empty".into()) } else { Ok(()) }
}

/// `-force_key_frames`: `expr:EXPRESSION`, `source`, or a comma-separated list of times, each a
/// duration or `chapters[±duration]`.
fn check_force_key_frames(value: &str) -> Result<(), String> {
    if let Some(expression) = value.strip_prefix("expr:") {
        return ValueType::Expression.check(expression);
    }
    if matches!(value, "source" | "source_no_drop") {
        return Ok(());
    }
    for time in value.split(',') {
        let ok = match time.strip_prefix("chapters") {
            Some("") => true,
            Some(delta) => delta.starts_with(['+', '-']) && ValueType::Duration.check(&delta[1..]).is_ok(),
            None => ValueType::Duration.check(time).is_ok(),
        };
        if !ok {
            return Err(format!(
                "`{time}` is not a key frame time (`expr:…`, `source`, durations, `chapters`)"
            ));
        }
    }
    Ok(())
}

/// A codec dictionary, parsed as the encoder parses it; every key must be listed for the option
/// and its value must have the key's type.
fn check_dict(policy: &Policy, option: &str, value: &str) -> Result<(), String> {
    let rule = policy.dicts.get(option).ok_or_else(|| format!("`-{option}` has no allowed keys"))?;
    for (key, entry) in parse_dict(value, rule.syntax)? {
        let normalised = key.replace('_', "-");
        if tables::REFUSED_DICT_KEYS.contains(&normalised.as_str()) {
            return Err(format!("key `{key}` of `-{option}` names a file and is not allowed"));
        }
        let value_type = rule
            .keys
            .get(&key)
            .ok_or_else(|| format!("key `{key}` of `-{option}` is not in the allowlist; {EXTEND}"))?;
        value_type.check(&entry).map_err(|reason| format!("key `{key}` of `-{option}`: {reason}"))?;
    }
    Ok(())
}

/// A filter graph: every filter allowed, every argument a listed parameter of its type.
fn check_graph(policy: &Policy, value: &str, ws: &dyn WorkspaceView) -> Result<(), String> {
    let parsed = graph::parse_graph(value)?;
    if let Some(flags) = &parsed.sws_flags {
        sws_flags().check(flags).map_err(|reason| format!("`sws_flags`: {reason}"))?;
    }
    for filter in &parsed.filters {
        check_filter(policy, filter, parsed.sws_flags.as_deref(), ws)?;
    }
    Ok(())
}

fn check_filter(
    policy: &Policy,
    filter: &FilterCall,
    sws_flags: Option<&str>,
    ws: &dyn WorkspaceView,
) -> Result<(), String> {
    let (name, instance) = match filter.name.split_once('@') {
        Some((name, instance)) => (name, Some(instance)),
        None => (filter.name.as_str(), None),
    };
    if name.is_empty() {
        return Err("a filter name is missing in the filter graph".into());
    }
    if instance.is_some_and(|i| i.is_empty() || !i.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')) {
        return Err(format!(
            "filter instance name in `{}` may contain only letters, digits and `_`",
            filter.name
        ));
    }
    if let Some((_, why)) = tables::REFUSED_FILTERS.iter().find(|(refused, _)| *refused == name) {
        return Err(format!("filter `{name}` is not allowed: it {why}"));
    }
    let rule = policy
        .filters
        .get(name)
        .ok_or_else(|| format!("filter `{name}` is not in the allowlist; {EXTEND}"))?;
    let args = filter.args.as_deref().unwrap_or_default();
    check_filter_args(name, rule, args, ws)?;
    // ffmpeg appends a graph's `sws_flags` to the arguments of `scale`; checking both readings
    // keeps the result the same whether or not it does so for this instance.
    if name == "scale"
        && let Some(flags) = sws_flags
    {
        let appended =
            if args.is_empty() { format!("flags={flags}") } else { format!("{args}:flags={flags}") };
        check_filter_args(name, rule, &appended, ws)?;
    }
    Ok(())
}

fn check_filter_args(
    name: &str,
    rule: &FilterRule,
    args: &str,
    ws: &dyn WorkspaceView,
) -> Result<(), String> {
    for (index, arg) in graph::parse_filter_args(name, args)?.into_iter().enumerate() {
        let param = match &arg.key {
            Some(key) => key.as_str(),
            // Unnamed arguments come first, so `index` is their position.
            None => rule.positional.get(index).map(String::as_str).ok_or_else(|| {
                format!(
                    "filter `{name}` takes at most {} unnamed arguments; name the others (`key=value`)",
                    rule.positional.len()
                )
            })?,
        };
        if param.starts_with('/') {
            // ffmpeg 7 reads the value of `/OPTION=FILE` from FILE.
            return Err(format!("filter option `{param}` loads a file and is not allowed"));
        }
        let kind = rule.params.get(param).ok_or_else(|| {
            match tables::REFUSED_FILTER_PARAMS.iter().find(|(filter, p, _)| *filter == name && *p == param) {
                Some((_, _, why)) => format!("filter `{name}` parameter `{param}` {why} and is not allowed"),
                None => format!("filter `{name}` has no parameter `{param}` in the allowlist; {EXTEND}"),
            }
        })?;
        check_filter_value(kind, &arg.value, ws)
            .map_err(|reason| format!("filter `{name}` parameter `{param}`: {reason}"))?;
    }
    Ok(())
}

/// The kinds a filter parameter can have (options share them).
fn check_filter_value(kind: &Kind, value: &str, ws: &dyn WorkspaceView) -> Result<(), String> {
    match kind {
        Kind::Value(value_type) => value_type.check(value),
        Kind::Input | Kind::InputFile => paths::check_input(value, ws),
        Kind::OutputFile => paths::check_output(value, ws, Patterns::Literal),
        Kind::SwsFlags => sws_flags().check(value),
        other => Err(format!("a filter parameter cannot be of kind {other:?}")),
    }
}
