//! Safe stems for output names: what [`Input::stem`](crate::Input) returns.
//!
//! The algorithm is documented on [`safe_stem`]; the TypeScript and Python SDKs carry the same one.

/// The longest stem, in bytes (all of them ASCII).
pub const STEM_MAX: usize = 64;

/// How many bytes of a long stem are kept before the `-` and the 8 hex digits of the hash.
const LONG_KEEP: usize = STEM_MAX - 9;

/// Plain letters for U+00C0–U+017F, space-separated; `_` where there is none (`×`, `÷`).
const LATIN: &str = concat!(
    "A A A A A A AE C E E E E I I I I D N O O O O O _ O U U U U Y TH ss ",
    "a a a a a a ae c e e e e i i i i d n o o o o o _ o u u u u y th y ",
    "A a A a A a C c C c C c C c D d D d E e E e E e E e E e G g G g G g G g H h H h ",
    "I i I i I i I i I i IJ ij J j K k k L l L l L l L l L l N n N n N n n N n ",
    "O o O o O o OE oe R r R r R r S s S s S s S s T t T t T t U u U u U u U u U u U u ",
    "W w Y y Y Z z Z z Z z s",
);

/// The stem for output names made from `name` (usually an input's basename, see
/// [`Input::stem`](crate::Input)): ASCII letters, digits, `.`, `-` and `_` only, at most
/// [`STEM_MAX`] bytes, never empty, never starting with `.` or `-`.
///
/// An upload may be called anything: `50% off.mp4`, `concat:x.mp4`, `a\tb.mp4`, `../x.mp4`,
/// `-rf.mp4`, `日本語.mov`. Its basename is not fit for an output name: ffmpeg reads `%` as an
/// image-sequence pattern and `proto:` as a protocol, and the host refuses most other odd
/// characters. The stem is the basename made safe, the same way in the Rust, TypeScript and
/// Python SDKs (`template-sdk/src/stem_cases.json` holds the cases all three are tested on):
///
/// 1. Letters, digits, `.` and `-` are kept. Latin letters with accents (U+00C0–U+017F) become
///    their plain letters (`é` → `e`, `ß` → `ss`, `Ø` → `O`, `æ` → `ae`); combining accents
///    (U+0300–U+036F, as in decomposed names from macOS) are dropped.
/// 2. Anything else (`_`, spaces, `%`, `:`, `/`, `\`, control characters, `*?[]{}`, other
///    scripts, emoji…) is a separator; each run of separators becomes one `_`.
/// 3. `.`, `-` and `_` are trimmed from both ends: no hidden files, nothing read as an option.
/// 4. A stem longer than [`STEM_MAX`] bytes keeps its first 55 bytes (trimmed again) and gets
///    `-` and 8 hex digits of the name's FNV-1a hash, so long names that share a beginning
///    still differ.
/// 5. A stem left empty is `file`, or `file-` and the hash when the name was not empty.
///
/// So `50% off` → `50_off`, `concat:x` → `concat_x`, `vidéo 1` → `video_1`, `a\tb` → `a_b`.
/// The stem is stable (the same name always gives the same stem) and unchanged for names that
/// are already plain (`clip`, `take-2.final`).
///
/// ```
/// use transflow_sdk::safe_stem;
/// assert_eq!(safe_stem("50% off"), "50_off");
/// assert_eq!(safe_stem("concat:x"), "concat_x");
/// assert_eq!(safe_stem("vidéo 1"), "video_1");
/// assert_eq!(safe_stem(""), "file");
/// ```
pub fn safe_stem(name: &str) -> String {
    let mut stem = String::with_capacity(name.len());
    let mut separator = false;
    let mut utf8 = [0; 4];
    for c in name.chars() {
        let plain = match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '.' | '-' => Some(&*c.encode_utf8(&mut utf8)),
            '\u{300}'..='\u{36f}' => continue,
            '\u{c0}'..='\u{17f}' => latin(c),
            _ => None,
        };
        let Some(plain) = plain else {
            separator = true;
            continue;
        };
        if separator && !stem.is_empty() {
            stem.push('_');
        }
        separator = false;
        stem.push_str(plain);
    }
    let trimmed = stem.trim_matches(['.', '-', '_']);
    if trimmed.is_empty() {
        return if name.is_empty() { "file".into() } else { format!("file-{:08x}", fnv1a(name)) };
    }
    if trimmed.len() > STEM_MAX {
        let kept = trimmed[..LONG_KEEP].trim_end_matches(['.', '-', '_']);
        return format!("{kept}-{:08x}", fnv1a(name));
    }
    trimmed.to_owned()
}

/// The plain letters for `c` in U+00C0–U+017F, if it has any.
fn latin(c: char) -> Option<&'static str> {
    LATIN.split(' ').nth(c as usize - 0xc0).filter(|plain| *plain != "_")
}

/// 32-bit FNV-1a of the UTF-8 bytes of `name`.
fn fnv1a(name: &str) -> u32 {
    name.bytes().fold(0x811c_9dc5, |hash, byte| (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(name, stem)` pairs of `stem_cases.json`, shared with the TypeScript and Python SDKs.
    fn cases() -> Vec<(String, String)> {
        let json = include_str!("stem_cases.json");
        let mut strings = Vec::new();
        let mut chars = json.chars();
        while let Some(c) = chars.next() {
            if c == '"' {
                strings.push(json_string(&mut chars));
            }
        }
        assert!(strings.len() % 2 == 0, "stem_cases.json holds [name, stem] pairs");
        strings.chunks(2).map(|pair| (pair[0].clone(), pair[1].clone())).collect()
    }

    /// The rest of a JSON string whose opening quote was just read (escapes of the BMP only).
    fn json_string(chars: &mut std::str::Chars<'_>) -> String {
        let mut text = String::new();
        loop {
            match chars.next().expect("unterminated string in stem_cases.json") {
                '"' => return text,
                '\\' => text.push(match chars.next().unwrap() {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    'u' => {
                        let hex: String = chars.by_ref().take(4).collect();
                        char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).expect("no surrogates")
                    }
                    other => other,
                }),
                c => text.push(c),
            }
        }
    }

    #[test]
    fn every_shared_case_gives_its_stem() {
        let cases = cases();
        assert!(cases.len() >= 30, "{} cases", cases.len());
        for (name, expected) in &cases {
            assert_eq!(&safe_stem(name), expected, "stem of {name:?}");
        }
    }

    #[test]
    fn stems_are_safe_short_stable_and_idempotent() {
        for (name, _) in cases() {
            let stem = safe_stem(&name);
            assert!(!stem.is_empty() && stem.len() <= STEM_MAX, "{stem:?}");
            assert!(stem.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)), "{stem:?}");
            assert!(!stem.starts_with(['.', '-', '_']) && !stem.ends_with(['.', '-', '_']), "{stem:?}");
            assert_eq!(safe_stem(&name), stem, "stable");
            assert_eq!(safe_stem(&stem), stem, "a stem is its own stem");
        }
    }

    #[test]
    fn the_latin_table_covers_u00c0_to_u017f() {
        assert_eq!(LATIN.split(' ').count(), 0x180 - 0xc0);
        assert!(LATIN.split(' ').all(|p| p == "_" || p.bytes().all(|b| b.is_ascii_alphabetic())));
    }
}
