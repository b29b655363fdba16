//! A filter-graph parser that mirrors libavfilter's (`graphparser.c`, `av_get_token`,
//! `av_opt_get_key_value`), so that the policy sees each filter and each argument exactly as
//! ffmpeg will: after the graph level has removed one layer of `'…'` quotes and `\` escapes, and
//! the option level a second one. `movie=\/etc\/passwd`, `'/etc/passwd'` and `a\:b` are read
//! here as ffmpeg reads them.

/// ffmpeg's `WHITESPACES`.
const WHITESPACE: &[u8] = b" \n\t\r";

/// One filter of a parsed graph: its name (an `@instance` suffix removed) and its argument
/// text, unescaped once as ffmpeg's graph parser does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FilterCall {
    pub name: String,
    pub args: Option<String>,
}

/// One argument of a filter, unescaped a second time as ffmpeg's option parser does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FilterArg {
    pub key: Option<String>,
    pub value: String,
}

/// What a graph may start with: scaler flags ffmpeg appends to every `scale` filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Graph {
    /// The text between `sws_flags=` and the first `;`, when present.
    pub sws_flags: Option<String>,
    pub filters: Vec<FilterCall>,
}

fn skip_whitespace(input: &[u8]) -> &[u8] {
    let skipped = input.iter().take_while(|&b| WHITESPACE.contains(b)).count();
    &input[skipped..]
}

/// ffmpeg's `av_get_token`: reads up to an unquoted, unescaped byte of `terminators`, removing
/// `\` escapes and `'…'` quotes and trimming unprotected whitespace at both ends.
pub(super) fn get_token<'a>(input: &'a [u8], terminators: &[u8]) -> (Vec<u8>, &'a [u8]) {
    let mut rest = skip_whitespace(input);
    let mut token = Vec::new();
    // Escaped or quoted bytes up to here are kept even if they are whitespace.
    let mut protected = 0;
    while let Some((&byte, after)) = rest.split_first() {
        if terminators.contains(&byte) {
            break;
        }
        rest = after;
        match byte {
            b'\\' if !rest.is_empty() => {
                token.push(rest[0]);
                rest = &rest[1..];
                protected = token.len();
            }
            b'\'' => match rest.iter().position(|&b| b == b'\'') {
                Some(close) => {
                    token.extend_from_slice(&rest[..close]);
                    rest = &rest[close + 1..];
                    protected = token.len();
                }
                None => {
                    token.extend_from_slice(rest);
                    rest = &[];
                }
            },
            _ => token.push(byte),
        }
    }
    while token.len() > protected && token.last().is_some_and(|b| WHITESPACE.contains(b)) {
        token.pop();
    }
    (token, rest)
}

/// Bytes back to text; the arguments were UTF-8 and unescaping only removes ASCII bytes, so a
/// lossy conversion changes nothing ffmpeg would see that the checks rely on.
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Splits a graph into filters the way `avfilter_graph_parse2` does: an optional leading
/// `sws_flags=…;`, then chains separated by `;` of filters separated by `,`, each
/// `[in]…name=args[out]…`. Anything it cannot parse is refused (ffmpeg would fail on it too).
pub(super) fn parse_graph(graph: &str) -> Result<Graph, String> {
    let mut rest = skip_whitespace(graph.as_bytes());
    let mut sws_flags = None;
    if let Some(flags) = rest.strip_prefix(b"sws_flags=") {
        let end = flags.iter().position(|&b| b == b';').ok_or("`sws_flags=` must end with `;`")?;
        sws_flags = Some(text(&flags[..end]));
        rest = &flags[end + 1..];
    }
    let mut filters = Vec::new();
    loop {
        rest = skip_labels(skip_whitespace(rest))?;
        let (name, after_name) = get_token(rest, b"=,;[");
        rest = after_name;
        let args = match rest.strip_prefix(b"=") {
            Some(after_equals) => {
                let (args, after_args) = get_token(after_equals, b"[],;");
                rest = after_args;
                Some(text(&args))
            }
            None => None,
        };
        rest = skip_whitespace(skip_labels(rest)?);
        filters.push(FilterCall { name: text(&name), args });
        match rest.split_first() {
            None => return Ok(Graph { sws_flags, filters }),
            Some((b',' | b';', after)) => rest = after,
            Some(_) => {
                return Err(format!("the filter graph cannot be parsed near `{}`", text(rest)));
            }
        }
    }
}

/// Skips link labels like `[0:v]` or `[out]`, and the whitespace after each. Labels only name
/// links, but they are kept to a plain charset so that none reads as anything else.
fn skip_labels(mut rest: &[u8]) -> Result<&[u8], String> {
    while let Some(after_open) = rest.strip_prefix(b"[") {
        let (label, after_label) = get_token(after_open, b"]");
        let after_close = after_label.strip_prefix(b"]").ok_or("a `[` in the filter graph is not closed")?;
        if label.is_empty() {
            return Err("the filter graph has an empty `[]` label".into());
        }
        check_label(&text(&label))?;
        rest = skip_whitespace(after_close);
    }
    Ok(rest)
}

/// A link label (`[v1]`, `[0:a:0]`), in a graph or as a `-map` value.
pub(super) fn check_label(label: &str) -> Result<(), String> {
    if !label.is_empty()
        && label.len() <= 64
        && label.bytes().all(|b| b.is_ascii_alphanumeric() || b"_:".contains(&b))
    {
        Ok(())
    } else {
        Err(format!("link label `{label}` may contain only letters, digits, `_` and `:`"))
    }
}

/// Splits a filter's argument text into `key=value` and unnamed arguments, as libavfilter's
/// `process_options` does (`:`-separated, keys read by `get_key`, each value unescaped with
/// `av_get_token`). Unnamed arguments after a named one are refused, as ffmpeg refuses them.
pub(super) fn parse_filter_args(filter: &str, args: &str) -> Result<Vec<FilterArg>, String> {
    let mut parsed: Vec<FilterArg> = Vec::new();
    let mut rest = args.as_bytes();
    while !rest.is_empty() {
        let (key, after_key) = match parse_key(rest) {
            Some((key, after_key)) => (Some(key), after_key),
            None => (None, rest),
        };
        if key.is_none() && parsed.iter().any(|arg| arg.key.is_some()) {
            return Err(format!("filter `{filter}`: unnamed arguments must come before named ones"));
        }
        let (value, after_value) = get_token(after_key, b":");
        parsed.push(FilterArg { key, value: text(&value) });
        rest = after_value.strip_prefix(b":").unwrap_or(after_value);
    }
    Ok(parsed)
}

/// ffmpeg's `get_key`: optional whitespace, a run of key characters, optional whitespace, `=`.
fn parse_key(input: &[u8]) -> Option<(String, &[u8])> {
    let start = skip_whitespace(input);
    let len = start.iter().take_while(|&&b| b.is_ascii_alphanumeric() || b"-_/.".contains(&b)).count();
    let after_equals = skip_whitespace(&start[len..]).strip_prefix(b"=")?;
    Some((text(&start[..len]), after_equals))
}
