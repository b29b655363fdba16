//! The value types of the allowlist and their checks.
//!
//! Every option value and filter or codec-dictionary parameter the policy accepts has one of
//! these types, and each type accepts only what ffmpeg reads as that kind of value: numbers,
//! durations, sizes, words from fixed lists, expressions in ffmpeg's expression charset, or text.
//! None of them is a file: files are separate kinds ([`super::walk`]) that the host resolves
//! against the workspace. A type is written as a short word (`"integer"`, `"enum:a|b"`,
//! `"list:color"`) in the built-in tables and in `transflow.toml` alike.

use std::fmt;
use std::str::FromStr;

/// The type of a non-file value. Its textual form (see [`FromStr`]) is how tables and operators
/// name it; none of the forms denotes a file, so no extension can turn a file into free text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub enum ValueType {
    /// `integer`: an optionally signed decimal integer (`-1`, `48`).
    Integer,
    /// `number`: a decimal number (`0.5`, `-2`, `1e-3`).
    Number,
    /// `bitrate`: a number with an optional `k`, `M` or `G` suffix (`128k`, `2.5M`).
    Bitrate,
    /// `rational`: a number or a ratio (`30000/1001`, `16:9`).
    Rational,
    /// `duration`: seconds (`1.5`, `500ms`) or `[HH:]MM:SS[.frac]`, optionally negative.
    Duration,
    /// `size`: `WIDTHxHEIGHT` or one of ffmpeg's size names (`hd720`).
    Size,
    /// `rate`: a frame rate as a rational or one of ffmpeg's rate names (`ntsc`).
    Rate,
    /// `boolean`: `0`, `1`, `true`, `false`, `yes`, `no`, `on`, `off` or `auto`.
    Boolean,
    /// `expression`: ffmpeg's expression language (`min(iw,640)`, `gte(t,n_forced*2)`): names,
    /// numbers, operators, parentheses, commas and spaces; nothing that reads as a path.
    Expression,
    /// `word`: a name such as a preset or profile: letters, digits, `_`, `-`, `+` and inner `.`.
    Word,
    /// `text`: printable text without control characters (metadata, drawtext's `text`).
    Text,
    /// `color`: a color name or `#RRGGBB[AA]` / `0xRRGGBB[AA]`, optionally `@alpha`.
    Color,
    /// `pixel_format`: a pixel format name (`yuv420p`).
    PixelFormat,
    /// `sample_format`: a sample format name (`fltp`).
    SampleFormat,
    /// `channel_layout`: a channel layout (`mono`, `5.1(side)`, `FL+FR`).
    ChannelLayout,
    /// `int:a|b`: an integer or one of the named constants.
    IntegerOr(Vec<String>),
    /// `number:a|b`: a number or one of the named constants.
    NumberOr(Vec<String>),
    /// `enum:a|b`: exactly one of the words.
    Enum(Vec<String>),
    /// `flags:a|b`: `+`/`-` combinations of the words (`+faststart`, `a+b`), or an integer.
    Flags(Vec<String>),
    /// `list:TYPE`: `|`-separated values of TYPE (`mono|stereo`).
    List(Box<ValueType>),
}

/// Why a type name could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a value type; use one of integer, number, bitrate, rational, duration, size, rate, \
         boolean, expression, word, text, color, pixel_format, sample_format, channel_layout, \
         int:A|B, number:A|B, enum:A|B, flags:A|B or list:TYPE"
)]
pub struct UnknownType(pub String);

impl FromStr for ValueType {
    type Err = UnknownType;

    fn from_str(name: &str) -> Result<Self, UnknownType> {
        let unknown = || UnknownType(name.to_owned());
        let words = |list: &str| -> Result<Vec<String>, UnknownType> {
            let words: Vec<String> = list.split('|').map(str::to_owned).collect();
            let valid = |w: &String| {
                !w.is_empty() && w.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b))
            };
            if words.iter().all(valid) { Ok(words) } else { Err(unknown()) }
        };
        if let Some((kind, rest)) = name.split_once(':') {
            return match kind {
                "int" => Ok(ValueType::IntegerOr(words(rest)?)),
                "number" => Ok(ValueType::NumberOr(words(rest)?)),
                "enum" => Ok(ValueType::Enum(words(rest)?)),
                "flags" => Ok(ValueType::Flags(words(rest)?)),
                "list" => match rest.parse()? {
                    ValueType::List(_) => Err(unknown()),
                    inner => Ok(ValueType::List(Box::new(inner))),
                },
                _ => Err(unknown()),
            };
        }
        Ok(match name {
            "integer" => ValueType::Integer,
            "number" => ValueType::Number,
            "bitrate" => ValueType::Bitrate,
            "rational" => ValueType::Rational,
            "duration" => ValueType::Duration,
            "size" => ValueType::Size,
            "rate" => ValueType::Rate,
            "boolean" => ValueType::Boolean,
            "expression" => ValueType::Expression,
            "word" => ValueType::Word,
            "text" => ValueType::Text,
            "color" => ValueType::Color,
            "pixel_format" => ValueType::PixelFormat,
            "sample_format" => ValueType::SampleFormat,
            "channel_layout" => ValueType::ChannelLayout,
            _ => return Err(unknown()),
        })
    }
}

impl TryFrom<String> for ValueType {
    type Error = UnknownType;

    fn try_from(name: String) -> Result<Self, UnknownType> {
        name.parse()
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let simple = match self {
            ValueType::Integer => "integer",
            ValueType::Number => "number",
            ValueType::Bitrate => "bitrate",
            ValueType::Rational => "rational",
            ValueType::Duration => "duration",
            ValueType::Size => "size",
            ValueType::Rate => "rate",
            ValueType::Boolean => "boolean",
            ValueType::Expression => "expression",
            ValueType::Word => "word",
            ValueType::Text => "text",
            ValueType::Color => "color",
            ValueType::PixelFormat => "pixel_format",
            ValueType::SampleFormat => "sample_format",
            ValueType::ChannelLayout => "channel_layout",
            ValueType::IntegerOr(words) => return write!(f, "int:{}", words.join("|")),
            ValueType::NumberOr(words) => return write!(f, "number:{}", words.join("|")),
            ValueType::Enum(words) => return write!(f, "enum:{}", words.join("|")),
            ValueType::Flags(words) => return write!(f, "flags:{}", words.join("|")),
            ValueType::List(inner) => return write!(f, "list:{inner}"),
        };
        f.write_str(simple)
    }
}

/// ffmpeg's frame size abbreviations (`av_parse_video_size`).
const SIZE_NAMES: &[&str] = &[
    "ntsc",
    "pal",
    "qntsc",
    "qpal",
    "sntsc",
    "spal",
    "film",
    "ntsc-film",
    "sqcif",
    "qcif",
    "cif",
    "4cif",
    "16cif",
    "qqvga",
    "qvga",
    "vga",
    "svga",
    "xga",
    "uxga",
    "qxga",
    "sxga",
    "qsxga",
    "hsxga",
    "wvga",
    "wxga",
    "wsxga",
    "wuxga",
    "woxga",
    "wqsxga",
    "wquxga",
    "whsxga",
    "whuxga",
    "cga",
    "ega",
    "hd480",
    "hd720",
    "hd1080",
    "2k",
    "2kflat",
    "2kscope",
    "4k",
    "4kflat",
    "4kscope",
    "nhd",
    "hqvga",
    "wqvga",
    "fwqvga",
    "hvga",
    "qhd",
    "2kdci",
    "4kdci",
    "uhd2160",
    "uhd4320",
];

/// ffmpeg's frame rate abbreviations (`av_parse_video_rate`).
const RATE_NAMES: &[&str] = &["ntsc", "pal", "qntsc", "qpal", "sntsc", "spal", "film", "ntsc-film"];

const BOOLEANS: &[&str] = &[
    "0", "1", "true", "false", "yes", "no", "y", "n", "on", "off", "enable", "enabled", "disable",
    "disabled", "auto",
];

impl ValueType {
    /// Checks `value` against the type; the error says what was expected.
    pub fn check(&self, value: &str) -> Result<(), String> {
        if self.accepts(value) {
            Ok(())
        } else {
            Err(format!("`{}` is not a valid {}", shorten(value), self.describe()))
        }
    }

    fn accepts(&self, value: &str) -> bool {
        match self {
            ValueType::Integer => is_integer(value),
            ValueType::Number => is_number(value),
            ValueType::Bitrate => is_bitrate(value),
            ValueType::Rational => is_rational(value),
            ValueType::Duration => is_duration(value),
            ValueType::Size => is_size(value),
            ValueType::Rate => is_rational(value) || RATE_NAMES.contains(&value),
            ValueType::Boolean => BOOLEANS.contains(&value.to_ascii_lowercase().as_str()),
            ValueType::Expression => is_expression(value),
            ValueType::Word => is_word(value),
            ValueType::Text => !value.chars().any(char::is_control),
            ValueType::Color => is_color(value),
            ValueType::PixelFormat | ValueType::SampleFormat => {
                is_name(value, |b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            }
            ValueType::ChannelLayout => {
                is_name(value, |b| b.is_ascii_alphanumeric() || b"()+._".contains(&b))
                    && !value.contains("..")
            }
            ValueType::IntegerOr(words) => is_integer(value) || words.iter().any(|w| w == value),
            ValueType::NumberOr(words) => is_number(value) || words.iter().any(|w| w == value),
            ValueType::Enum(words) => words.iter().any(|w| w == value),
            ValueType::Flags(words) => is_integer(value) || is_flags(value, words),
            ValueType::List(inner) => value.split('|').all(|item| inner.accepts(item)),
        }
    }

    /// What the type accepts, for refusal messages.
    fn describe(&self) -> String {
        match self {
            ValueType::IntegerOr(words) => format!("integer or one of {}", words.join(", ")),
            ValueType::NumberOr(words) => format!("number or one of {}", words.join(", ")),
            ValueType::Enum(words) => format!("value: expected one of {}", words.join(", ")),
            ValueType::Flags(words) => {
                format!("flags value: expected +/- combinations of {}", words.join(", "))
            }
            ValueType::List(inner) => format!("`|`-separated list of {}", inner.describe()),
            other => format!("{other}"),
        }
    }
}

/// At most 60 characters of `value` for a message (the whole argument is named separately).
fn shorten(value: &str) -> String {
    let mut shown: String = value.chars().take(60).collect();
    if value.chars().nth(60).is_some() {
        shown.push('…');
    }
    shown
}

fn is_name(value: &str, allowed: impl Fn(u8) -> bool) -> bool {
    !value.is_empty() && value.len() <= 64 && value.bytes().all(allowed)
}

fn digits(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit())
}

fn is_integer(value: &str) -> bool {
    let unsigned = value.strip_prefix(['-', '+']).unwrap_or(value);
    digits(unsigned) && unsigned.len() <= 20
}

fn is_number(value: &str) -> bool {
    let unsigned = value.strip_prefix(['-', '+']).unwrap_or(value);
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, Some(exponent)),
        None => (unsigned, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((whole, fraction)) => {
            (digits(whole) || whole.is_empty())
                && (digits(fraction) || fraction.is_empty())
                && mantissa.len() > 1
        }
        None => digits(mantissa),
    };
    mantissa_ok && exponent.is_none_or(|e| is_integer(e) && e.len() <= 4) && unsigned.len() <= 32
}

fn is_bitrate(value: &str) -> bool {
    let number = value.strip_suffix(['k', 'K', 'M', 'G']).unwrap_or(value);
    !number.starts_with(['-', '+']) && is_number(number)
}

fn is_rational(value: &str) -> bool {
    match value.split_once(['/', ':']) {
        Some((numerator, denominator)) => is_number(numerator) && is_number(denominator),
        None => is_number(value),
    }
}

fn is_duration(value: &str) -> bool {
    let unsigned = value.strip_prefix('-').unwrap_or(value);
    if unsigned.contains(':') {
        let (clock, fraction) = match unsigned.split_once('.') {
            Some((clock, fraction)) => (clock, Some(fraction)),
            None => (unsigned, None),
        };
        let parts: Vec<&str> = clock.split(':').collect();
        let fields_ok = (2..=3).contains(&parts.len())
            && parts.iter().enumerate().all(|(i, p)| digits(p) && (i == 0 || p.len() <= 2));
        return fields_ok && fraction.is_none_or(digits);
    }
    let number = ["ms", "us", "s"].iter().find_map(|unit| unsigned.strip_suffix(unit)).unwrap_or(unsigned);
    !number.starts_with(['-', '+']) && !number.contains(['e', 'E']) && is_number(number)
}

fn is_size(value: &str) -> bool {
    match value.split_once('x') {
        Some((width, height)) => digits(width) && digits(height) && width.len() <= 6 && height.len() <= 6,
        None => SIZE_NAMES.contains(&value),
    }
}

fn is_word(value: &str) -> bool {
    is_name(value, |b| b.is_ascii_alphanumeric() || b"_-+.".contains(&b))
        && value.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && !value.contains("..")
}

fn is_color(value: &str) -> bool {
    let (color, alpha) = match value.split_once('@') {
        Some((color, alpha)) => (color, Some(alpha)),
        None => (value, None),
    };
    let hex =
        color.strip_prefix('#').or_else(|| color.strip_prefix("0x")).or_else(|| color.strip_prefix("0X"));
    let color_ok = match hex {
        Some(hex) => matches!(hex.len(), 6 | 8) && hex.bytes().all(|b| b.is_ascii_hexdigit()),
        None => is_name(color, |b| b.is_ascii_alphabetic()),
    };
    let alpha_ok = alpha.is_none_or(|alpha| {
        is_number(alpha)
            || alpha
                .strip_prefix("0x")
                .is_some_and(|h| h.len() == 2 && h.bytes().all(|b| b.is_ascii_hexdigit()))
    });
    color_ok && alpha_ok
}

fn is_flags(value: &str, words: &[String]) -> bool {
    let body = value.strip_prefix(['+', '-']).unwrap_or(value);
    !body.is_empty() && body.split(['+', '-']).all(|word| words.iter().any(|w| w == word))
}

/// ffmpeg's expression language, tightened so that no expression reads as a path or a URL:
/// only names, numbers, operators, parentheses, commas and spaces; no `..`; a `.` only inside a
/// number; and a `/` (division) only right after an operand (a name, a number or `)`), so that
/// no part of an expression starts with `/`.
fn is_expression(value: &str) -> bool {
    const SYMBOLS: &[u8] = b"_.+-*/^()<>=!&|, ";
    let bytes = value.as_bytes();
    if value.trim().is_empty() || value.contains("..") {
        return false;
    }
    bytes.iter().enumerate().all(|(i, &b)| {
        let before = i.checked_sub(1).map(|j| bytes[j]);
        let after = bytes.get(i + 1).copied();
        match b {
            b'.' => {
                // A decimal point: no name may touch it, and a digit must be next to it.
                let name_before = before.is_some_and(|c| c.is_ascii_alphabetic() || c == b'_');
                let digit_near =
                    before.is_some_and(|c| c.is_ascii_digit()) || after.is_some_and(|c| c.is_ascii_digit());
                !name_before && digit_near && !after.is_some_and(|c| c.is_ascii_alphabetic())
            }
            b'/' => before.is_some_and(|c| c.is_ascii_alphanumeric() || b"_.)".contains(&c)),
            _ => b.is_ascii_alphanumeric() || SYMBOLS.contains(&b),
        }
    })
}
