//! What an operator may add to the allowlist from `transflow.toml`, and the rules that keep
//! additions from reopening what the built-in lists close.
//!
//! An extension names value types with the same closed set of words as the tables
//! ([`ValueType`]), none of which is a file, so an added option or parameter can never name one.
//! Extensions add entries; they do not redefine built-in ones (a built-in entry typed as a file
//! stays a file), and nothing refused by design (`sendcmd`, `tee`, `-filter_script`, host-owned
//! options, hardware devices, network options, …) can be added. Names that suggest a file
//! (`…file`, `…path`, `dump…`, `stats…`) are refused too: if such a parameter is needed, it
//! belongs in the built-in tables with a file type.
//!
//! ```toml
//! [options]
//! "tile-columns" = "integer"
//! [filters.vignette]
//! mode = "enum:forward|backward"
//! [codec_keys.x264-params]
//! chroma-qp-offset = "integer"
//! ```

use super::values::ValueType;
use super::{FilterRule, Kind, OptionRule, Policy};
use super::{filter_table, tables};
use std::collections::BTreeMap;

/// Operator additions to the allowlist (deserialised from `transflow.toml`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyExtensions {
    /// Options (name without `-`) and the type of their value; they take one value, may carry a
    /// stream specifier and may stand before inputs or outputs.
    pub options: BTreeMap<String, ValueType>,
    /// Filters and their parameters (named only) with types; a built-in filter gains the
    /// parameters, a new filter is allowed with exactly these.
    pub filters: BTreeMap<String, BTreeMap<String, ValueType>>,
    /// Codec dictionary options (`x264-params`, …) and further keys with their types.
    pub codec_keys: BTreeMap<String, BTreeMap<String, ValueType>>,
    /// Further muxers for outputs.
    pub muxers: Vec<String>,
    /// Further demuxers for inputs (also added to the `-format_whitelist` of every input).
    pub demuxers: Vec<String>,
    /// Further encoders for `-c` before an output.
    pub encoders: Vec<String>,
    /// Further decoders for `-c` before an input.
    pub decoders: Vec<String>,
}

/// Why an extension cannot be added. Each names the list and the entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtensionError {
    /// The name has characters ffmpeg would not read as one name.
    #[error("policy extension {list}: `{name}` is not a valid name (letters, digits, `_` and `-`)")]
    InvalidName { list: &'static str, name: String },
    /// The host sets this option itself.
    #[error("policy extension options: `-{name}` is set by the host and cannot be allowed")]
    HostOwned { name: String },
    /// Refused by design; the reason says why.
    #[error("policy extension {list}: `{name}` {why}; it cannot be allowed")]
    RefusedByDesign { list: &'static str, name: String, why: String },
    /// A built-in entry; extensions add, they do not redefine.
    #[error("policy extension {list}: `{name}` is built in; extensions may add entries, not redefine them")]
    BuiltIn { list: &'static str, name: String },
    /// The name suggests a file, which only built-in entries may name.
    #[error(
        "policy extension {list}: `{name}` looks like it names a file (`{hint}`); only built-in entries may \
         name files"
    )]
    FileLikeName { list: &'static str, name: String, hint: &'static str },
    /// Keys for a dictionary option the policy does not know.
    #[error("policy extension codec_keys: `{name}` is not a codec dictionary option (one of {known})")]
    UnknownDictionary { name: String, known: String },
}

/// A name ffmpeg reads as one option, parameter, key, format or codec name.
fn check_name(list: &'static str, name: &str) -> Result<(), ExtensionError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b));
    if valid { Ok(()) } else { Err(ExtensionError::InvalidName { list, name: name.to_owned() }) }
}

fn check_not_file_like(list: &'static str, name: &str) -> Result<(), ExtensionError> {
    let lower = name.to_ascii_lowercase();
    match tables::FILE_NAME_HINTS.iter().find(|hint| lower.contains(*hint)) {
        Some(hint) => Err(ExtensionError::FileLikeName { list, name: name.to_owned(), hint }),
        None => Ok(()),
    }
}

fn refused(list: &'static str, name: &str, why: impl Into<String>) -> ExtensionError {
    ExtensionError::RefusedByDesign { list, name: name.to_owned(), why: why.into() }
}

impl PolicyExtensions {
    /// Adds the extensions to `policy`, or says which entry may not be added.
    pub(super) fn apply(&self, policy: &mut Policy) -> Result<(), ExtensionError> {
        self.apply_options(policy)?;
        self.apply_filters(policy)?;
        self.apply_codec_keys(policy)?;
        self.apply_names(policy)
    }

    fn apply_options(&self, policy: &mut Policy) -> Result<(), ExtensionError> {
        const LIST: &str = "options";
        for (name, value_type) in &self.options {
            check_name(LIST, name)?;
            let base = name.strip_prefix("no").unwrap_or(name);
            if tables::HOST_OWNED_OPTIONS.contains(&name.as_str())
                || tables::HOST_OWNED_OPTIONS.contains(&base)
            {
                return Err(ExtensionError::HostOwned { name: name.clone() });
            }
            if let Some((_, why)) = tables::REFUSED_OPTIONS.iter().find(|(refused, _)| refused == name) {
                return Err(refused(LIST, name, *why));
            }
            if policy.options.contains_key(name) {
                return Err(ExtensionError::BuiltIn { list: LIST, name: name.clone() });
            }
            check_not_file_like(LIST, name)?;
            let rule = OptionRule {
                kind: Kind::Value(value_type.clone()),
                context: tables::Context::Both,
                suffix: tables::Suffix::Stream,
            };
            policy.options.insert(name.clone(), rule);
        }
        Ok(())
    }

    fn apply_filters(&self, policy: &mut Policy) -> Result<(), ExtensionError> {
        const LIST: &str = "filters";
        for (filter, params) in &self.filters {
            check_name(LIST, filter)?;
            if let Some((_, why)) = tables::REFUSED_FILTERS.iter().find(|(refused, _)| refused == filter) {
                return Err(refused(LIST, filter, *why));
            }
            let rule = policy.filters.entry(filter.clone()).or_insert_with(|| FilterRule {
                positional: Vec::new(),
                params: filter_table::COMMON_FILTER_PARAMS
                    .iter()
                    .map(|&(param, type_name)| {
                        (param.to_owned(), Kind::parse(type_name).expect("built-in table"))
                    })
                    .collect(),
            });
            for (param, value_type) in params {
                const PARAMS: &str = "filter parameters";
                let qualified = format!("{filter}={param}");
                check_name(PARAMS, param)?;
                let refused_param =
                    tables::REFUSED_FILTER_PARAMS.iter().find(|(f, p, _)| f == filter && p == param);
                if let Some((_, _, why)) = refused_param {
                    return Err(refused(PARAMS, &qualified, *why));
                }
                if rule.params.contains_key(param) {
                    return Err(ExtensionError::BuiltIn { list: PARAMS, name: qualified });
                }
                check_not_file_like(PARAMS, param)?;
                rule.params.insert(param.clone(), Kind::Value(value_type.clone()));
            }
        }
        Ok(())
    }

    fn apply_codec_keys(&self, policy: &mut Policy) -> Result<(), ExtensionError> {
        const LIST: &str = "codec_keys";
        for (option, keys) in &self.codec_keys {
            let Some(rule) = policy.dicts.get_mut(option) else {
                let known = tables::CODEC_DICTS.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ");
                return Err(ExtensionError::UnknownDictionary { name: option.clone(), known });
            };
            for (key, value_type) in keys {
                let qualified = format!("{option} {key}");
                check_name(LIST, key)?;
                if tables::REFUSED_DICT_KEYS.contains(&key.replace('_', "-").as_str()) {
                    return Err(refused(LIST, &qualified, "names a file the encoder reads or writes"));
                }
                if rule.keys.contains_key(key) {
                    return Err(ExtensionError::BuiltIn { list: LIST, name: qualified });
                }
                check_not_file_like(LIST, key)?;
                rule.keys.insert(key.clone(), value_type.clone());
            }
        }
        Ok(())
    }

    fn apply_names(&self, policy: &mut Policy) -> Result<(), ExtensionError> {
        let format_refusal = |list: &'static str, name: &str| {
            tables::REFUSED_FORMATS
                .iter()
                .find(|(refused, _)| *refused == name)
                .map(|(_, why)| refused(list, name, *why))
        };
        let codec_refusal = |list: &'static str, name: &str| {
            tables::HARDWARE_CODEC_SUFFIXES
                .iter()
                .any(|suffix| name.ends_with(suffix))
                .then(|| refused(list, name, "uses host hardware devices"))
        };
        for name in &self.demuxers {
            check_name("demuxers", name)?;
            if !policy.demuxers.contains(name) {
                if let Some(error) = format_refusal("demuxers", name) {
                    return Err(error);
                }
                policy.demuxers.push(name.clone());
            }
        }
        for name in &self.muxers {
            check_name("muxers", name)?;
            if !policy.muxers.contains(name) {
                if let Some(error) = format_refusal("muxers", name) {
                    return Err(error);
                }
                policy.muxers.insert(name.clone());
            }
        }
        for (list, names, allowed) in [
            ("encoders", &self.encoders, &mut policy.encoders),
            ("decoders", &self.decoders, &mut policy.decoders),
        ] {
            for name in names {
                check_name(list, name)?;
                if let Some(error) = codec_refusal(list, name) {
                    return Err(error);
                }
                allowed.insert(name.clone());
            }
        }
        Ok(())
    }
}
