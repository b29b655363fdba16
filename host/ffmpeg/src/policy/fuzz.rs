//! A property test over the policy, in place of a cargo-fuzz target (which needs nightly):
//! commands are composed from real and hostile option names, filter-graph pieces (filters,
//! parameters, `:`, `,`, `;`, labels, quotes, backslashes), codec-dictionary pieces and paths
//! (absolute, `..`, globs, `%d`, protocols), and every command the policy ACCEPTS is checked
//! against an oracle that shares no code with it:
//!
//! - the argv is the host prefix, then the guest's arguments unchanged, with
//!   `-protocol_whitelist file -format_whitelist …` right before every `-i`;
//! - every input is a readable file of the fake workspace with no `%` or glob characters, and
//!   every output lies under `out/step/` without `..`;
//! - no value names a file outside the positions where ffmpeg opens files: after removing quotes
//!   and escapes once, twice and three times (more than ffmpeg ever does), and splitting at every
//!   separator any level uses, no piece of a non-file value is absolute, climbs with `..`, starts
//!   with a protocol or a workspace directory, or holds glob braces; only text ffmpeg never opens
//!   (metadata, drawtext's text) is exempt;
//! - nothing refused by design is accepted, checking panics never, and twice gives the same.
//!
//! `TRANSFLOW_FUZZ_CASES` sets the number of cases (a few hundred by default, for CI); proptest
//! keeps failing cases in `fuzz.proptest-regressions` beside this file and replays them first.

use super::tests::{READABLE, check_ffmpeg_args, workspace};
use super::{ALLOWED_DEMUXERS, CheckedArgs};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};

/// Options the generator uses: name, plausible values (empty for a flag), and what the oracle
/// makes of the value. Host-owned, refused and unknown names are here too: the policy must
/// refuse them.
const OPTIONS: &[(&str, &[&str], Role)] = &[
    (
        "-f",
        &["mp4", "mov", "hls", "image2", "mpegts", "null", "tee", "lavfi", "concat", "data", "segment"],
        Role::Plain,
    ),
    ("-c:v", &["libx264", "copy", "libx265", "h264_vaapi", "mjpeg"], Role::Plain),
    ("-c", &["copy", "aac"], Role::Plain),
    ("-ss", &["1.5", "00:00:01.5", "-1"], Role::Plain),
    ("-t", &["1", "2.5"], Role::Plain),
    ("-map", &["0:v:0", "0:a?", "[v0]", "-0:s", "[a/b]", "0"], Role::Plain),
    ("-vf", &[], Role::Graph),
    ("-af", &[], Role::Graph),
    ("-filter_complex", &[], Role::Graph),
    ("-lavfi", &[], Role::Graph),
    ("-filter:v", &[], Role::Graph),
    ("-x264-params", &["keyint=48:min-keyint=48", "scenecut=0"], Role::Plain),
    ("-x264-params:v:0", &["keyint=48"], Role::Plain),
    ("-x265-params", &["keyint=48:no-scenecut=1"], Role::Plain),
    ("-x264opts", &["keyint=48:no-scenecut"], Role::Plain),
    ("-metadata", &["title=x", "comment=see /etc/passwd", "a/b=c"], Role::Text),
    ("-metadata:s:a:0", &["language=eng"], Role::Text),
    (
        "-var_stream_map",
        &["v:0,a:0 v:1,a:1", "v:0,name:low", "v:0,name:../../x", "v:0,agroup:a/b"],
        Role::Plain,
    ),
    ("-hls_segment_filename", &["out/step/v%v/seg_%03d.ts", "out/step/%d.ts"], Role::Output),
    ("-segment_list", &["out/step/list.m3u8"], Role::Output),
    ("-passlogfile", &["out/step/log"], Role::Output),
    ("-master_pl_name", &["master.m3u8", "../m.m3u8", "a/m.m3u8"], Role::Name),
    ("-hls_fmp4_init_filename", &["init.mp4"], Role::Name),
    ("-pattern_type", &["sequence", "none", "glob", "glob_sequence"], Role::Plain),
    ("-force_key_frames", &["expr:gte(t,n_forced*2)", "source", "1,2,chapters-0.1"], Role::Plain),
    ("-pass", &["1", "2"], Role::Plain),
    ("-preset", &["veryfast", "slow"], Role::Plain),
    ("-b:v", &["128k", "0"], Role::Plain),
    ("-frames:v", &["1", "8"], Role::Plain),
    ("-an", &[], Role::Flag),
    ("-shortest", &[], Role::Flag),
    ("-noautorotate", &[], Role::Flag),
    // Refused: host-owned, by design, unknown, malformed.
    ("-progress", &["pipe:1"], Role::Plain),
    ("-y", &[], Role::Flag),
    ("-filter_script", &["in/a/clip.mp4"], Role::Plain),
    ("-/vf", &["in/a/clip.mp4"], Role::Plain),
    ("-dump_attachment", &["out/step/x"], Role::Plain),
    ("-hls_key_info_file", &["in/a/clip.mp4"], Role::Plain),
    ("-attach", &["in/a/font.ttf"], Role::Plain),
    ("-protocol_whitelist", &["file,http"], Role::Plain),
    ("-stats", &[], Role::Flag),
    ("-vstats_file", &["out/step/x"], Role::Plain),
    ("-i:0", &["in/a/clip.mp4"], Role::Plain),
    ("-c:/x", &["libx264"], Role::Plain),
    ("--", &[], Role::Flag),
];

/// What the oracle expects of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// No value.
    Flag,
    /// An input file.
    Input,
    /// A written file: under `out/step/`.
    Output,
    /// A bare file name.
    Name,
    /// A filter graph, read by the oracle's own parse.
    Graph,
    /// Text ffmpeg never opens.
    Text,
    /// Anything else: must name no file at all.
    Plain,
}

const PATHS: &[&str] = &[
    "/etc/passwd",
    "../secret",
    "in/../../secret",
    "in/a/clip.mp4",
    "in/b/clip.mp4",
    "in/a/font.ttf",
    "in/a/look.cube",
    "in/a/subs.ass",
    "in/{..,x}/clip.mp4",
    "in/a/*.mp4",
    "in/seq/%03d.png",
    "in/seq/001.png",
    "out/step/x.mp4",
    "out/step/%v/i.m3u8",
    "out/step/v%v/seg_%03d.ts",
    "out/step/../x.mp4",
    "out/other/x.mp4",
    "out/step/{..,x}/a",
    "file:in/a/clip.mp4",
    "concat:in/a/clip.mp4|/etc/passwd",
    "pipe:1",
    "-",
    "~/x",
    "tmp/x",
    "C:x",
];

const GOOD_INPUTS: &[&str] = &["in/a/clip.mp4", "in/b/clip.mp4", "in/a/song.mp3"];
const GOOD_OUTPUTS: &[&str] = &["out/step/x.mp4", "out/step/clip_%02d.jpg", "out/step/v%v/index.m3u8"];

/// Filters with plausible arguments, and hostile ones.
const FILTERS: &[(&str, &[&str])] = &[
    ("scale", &["320:-2", "w='min(iw,640)':h=-2", "-2:720:flags=bicubic", "w=in/a/clip.mp4"]),
    ("fps", &["1/2.5", "fps=30000/1001"]),
    (
        "drawtext",
        &[
            "text='/etc/passwd'",
            "fontfile=in/a/font.ttf:text=hi",
            "textfile=in/a/font.ttf",
            "in/a/font.ttf:hi",
            "textfile=/etc/passwd",
        ],
    ),
    ("lut3d", &["in/a/look.cube", "file=in/a/look.cube", "file='/etc/passwd'", r"\/etc\/passwd"]),
    ("ass", &["in/a/subs.ass", "f=in/a/subs.ass", "in/{..,x}/clip.mp4"]),
    ("psnr", &["stats_file=out/step/p.log", "f=in/a/clip.mp4", "out/step/p.log"]),
    ("ssim", &["out/step/s.log", "stats_file=out/step/%d.log"]),
    ("paletteuse", &["dither=bayer", "debug_kdtree=in/a/clip.mp4"]),
    ("palettegen", &["max_colors=64"]),
    ("overlay", &["x=W-w-10:y=10", "10:10"]),
    ("split", &["2", "outputs=3"]),
    ("format", &["yuv420p", "pix_fmts=yuv420p|rgb24"]),
    ("null", &[""]),
    ("select", &[r"'eq(n\,0)'", "expr=gte(t\\,1)"]),
    ("volume", &["0.5", "volume=2"]),
    ("aformat", &["channel_layouts=mono"]),
    ("showwavespic", &["s=1200x240:colors=#3b82f6"]),
    ("hstack", &["inputs=2"]),
    ("scale@x", &["80:60"]),
    ("sendcmd", &["c='0 curves plot /tmp/x'"]),
    ("movie", &["filename='/etc/passwd':f=mov", "in/a/clip.mp4"]),
    ("subtitles", &["in/a/subs.ass"]),
    ("curves", &["plot=/tmp/x"]),
    ("zmq", &[""]),
];

const GRAPH_NOISE: &[&str] = &[
    ":",
    ",",
    ";",
    "=",
    "[x]",
    "[0:v]",
    "[in]",
    "'",
    "\\",
    "\\:",
    "\\'",
    "\\,",
    " ",
    "sws_flags=bicubic;",
    "sws_flags=",
    "@",
    "]",
    "[",
    "%{pts}",
    "iw/2",
    "/etc/passwd",
    "in/a/clip.mp4",
    "..",
    "text=",
    "textfile=",
    "file=",
    "stats_file=",
    "debug_kdtree=",
];

const DICT_KEYS: &[&str] =
    &["keyint", "min-keyint", "stats", "dump_yuv", "csv", "scenecut", "st'ats'", "s\\tats", "qpfile", "pass"];

fn pick(list: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::sample::select(list).prop_map(str::to_owned)
}

/// A hostile value: a path, or a codec dictionary with quotes and escapes mixed in.
fn hostile_value() -> impl Strategy<Value = String> {
    let pair = (
        pick(DICT_KEYS),
        prop::sample::select(&["=", "='", "=\\"][..]),
        prop_oneof![pick(PATHS), Just("48".to_owned())],
        prop::sample::select(&["", "'"][..]),
    )
        .prop_map(|(k, eq, v, close)| format!("{k}{eq}{v}{close}"));
    prop_oneof![
        3 => pick(PATHS),
        2 => prop::collection::vec(pair, 1..4).prop_map(|pairs| pairs.join(":")),
        1 => (pick(PATHS), pick(GRAPH_NOISE), pick(PATHS)).prop_map(|(a, b, c)| format!("{a}{b}{c}")),
    ]
}

/// A filter graph: chains of plausible filters, with noise inserted at random places.
fn graph() -> impl Strategy<Value = String> {
    let filter = prop::sample::select(FILTERS).prop_flat_map(|(name, args)| {
        prop::sample::select(args)
            .prop_map(move |args| if args.is_empty() { name.to_owned() } else { format!("{name}={args}") })
    });
    let separator = prop::sample::select(&[",", ";", "[a];[a]", ",[b]"][..]);
    let filters = prop::collection::vec((filter, separator), 1..4).prop_map(|parts| {
        let mut graph = String::new();
        for (index, (filter, separator)) in parts.iter().enumerate() {
            if index > 0 {
                graph.push_str(separator);
            }
            graph.push_str(filter);
        }
        graph
    });
    let noise = prop_oneof![
        2 => Just(Vec::new()),
        1 => prop::collection::vec((any::<prop::sample::Index>(), pick(GRAPH_NOISE)), 1..3),
    ];
    (filters, noise).prop_map(|(mut graph, noise)| {
        for (at, piece) in noise {
            let mut index = at.index(graph.len() + 1);
            while !graph.is_char_boundary(index) {
                index -= 1;
            }
            graph.insert_str(index, &piece);
        }
        graph
    })
}

/// An option with a plausible value most of the time and a hostile one otherwise.
fn option() -> impl Strategy<Value = Vec<String>> {
    (
        prop::sample::select(OPTIONS),
        any::<prop::sample::Index>(),
        hostile_value(),
        graph(),
        prop::bool::weighted(0.85),
    )
        .prop_map(|((name, values, role), at, hostile, graph, plausible)| match role {
            Role::Flag => vec![name.to_owned()],
            Role::Graph => vec![name.to_owned(), graph],
            _ if plausible && !values.is_empty() => vec![name.to_owned(), at.get(values).to_string()],
            _ => vec![name.to_owned(), hostile],
        })
}

/// A file argument: mostly a good one.
fn file(good: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![4 => pick(good), 1 => pick(PATHS)]
}

/// A command shaped like a real one (input options, `-i`, output options, output), sometimes
/// twice, sometimes with a stray value; any piece may be hostile.
fn command() -> impl Strategy<Value = Vec<String>> {
    let group = (
        prop::collection::vec(option(), 0..3),
        file(GOOD_INPUTS),
        prop::collection::vec(option(), 0..4),
        file(GOOD_OUTPUTS),
        prop::option::weighted(0.1, hostile_value()),
    )
        .prop_map(|(input_options, input, output_options, output, stray)| {
            let mut args: Vec<String> = input_options.concat();
            args.extend(["-i".to_owned(), input]);
            args.extend(output_options.concat());
            args.extend(stray);
            args.push(output);
            args
        });
    prop::collection::vec(group, 1..3).prop_map(|groups| groups.concat())
}

// ---- The oracle: its own reading of ffmpeg's syntax, no policy code. ----

/// Removes one level of `'…'` quoting and `\` escaping everywhere (a superset of what any one
/// ffmpeg level removes, since it ignores where tokens end).
fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            '\'' => {}
            other => out.push(other),
        }
    }
    out
}

/// Removes one level of quoting and escaping the way each ffmpeg level does: `\` escapes the
/// next character outside quotes, and inside `'…'` everything is literal.
fn unquote(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '\'' => quoted = !quoted,
            '\\' if !quoted => out.push(chars.next().unwrap_or('\\')),
            other => out.push(other),
        }
    }
    out
}

const ORACLE_PROTOCOLS: &[&str] =
    &["file", "pipe", "concat", "http", "https", "tcp", "udp", "subfile", "crypto", "data", "fd", "tee"];

/// Whether a piece of a value would name a file to someone who treated it as a path.
fn names_a_file(piece: &str) -> bool {
    let piece = piece.trim();
    let lower = piece.to_ascii_lowercase();
    piece.starts_with(['/', '~'])
        || piece.split('/').any(|component| component == "..")
        || piece.contains(['{', '}'])
        || piece.starts_with("in/")
        || piece.starts_with("out/")
        || piece.starts_with("tmp/")
        || ORACLE_PROTOCOLS
            .iter()
            .any(|p| lower.starts_with(&format!("{p}:")) || lower.starts_with(&format!("{p}+")))
        || lower.starts_with("subfile,")
}

/// Every piece of `value` at every depth of unescaping, split at every separator.
fn pieces(value: &str) -> Vec<String> {
    let mut views = vec![value.to_owned()];
    for unescape_once in [unescape, unquote] {
        let mut view = value.to_owned();
        for _ in 0..3 {
            view = unescape_once(&view);
            views.push(view.clone());
        }
    }
    let mut found = Vec::new();
    for view in views {
        for chunk in view.split(['[', ']', '=', ',', ';', '|', ' ', '\t']) {
            found.push(chunk.to_owned());
            found.extend(chunk.split(':').map(str::to_owned));
        }
    }
    found
}

fn check_plain(context: &str, value: &str) -> Result<(), String> {
    match pieces(value).into_iter().find(|piece| names_a_file(piece)) {
        Some(piece) => Err(format!("{context}: accepted `{value}` names a file through `{piece}`")),
        None => Ok(()),
    }
}

fn readable(path: &str) -> bool {
    READABLE.contains(&path) && !path.contains(['%', '*', '?', '[', ']', '{', '}'])
}

fn writable(path: &str) -> bool {
    path.starts_with("out/step/")
        && !path.split('/').any(|c| c == "..")
        && !path.contains(['{', '}', '*', '?', '\\'])
}

/// A filter as the oracle reads it: its name and its `[key=]value` arguments.
type OracleFilter = (String, Vec<(Option<String>, String)>);

/// The oracle's own graph reading: filters split at unquoted, unescaped `,` and `;`, labels
/// dropped, `name=args`, args split at unquoted, unescaped `:` into `[key=]value`, each unescaped.
fn oracle_filters(graph: &str) -> Vec<OracleFilter> {
    let split = |text: &str, separators: &[char]| -> Vec<String> {
        let mut parts = vec![String::new()];
        let mut chars = text.chars();
        let mut quoted = false;
        while let Some(c) = chars.next() {
            let current = parts.last_mut().expect("one part");
            match c {
                '\\' if !quoted => {
                    current.push(c);
                    current.extend(chars.next());
                }
                '\'' => {
                    quoted = !quoted;
                    current.push(c);
                }
                c if !quoted && separators.contains(&c) => parts.push(String::new()),
                c => current.push(c),
            }
        }
        parts
    };
    let graph = match graph.trim_start().strip_prefix("sws_flags=") {
        Some(rest) => rest.split_once(';').map_or("", |(_, after)| after),
        None => graph,
    };
    split(graph, &[',', ';'])
        .into_iter()
        .map(|filter| {
            let without_labels: String = {
                let mut out = String::new();
                let mut depth = 0;
                for c in filter.chars() {
                    match c {
                        '[' => depth += 1,
                        ']' if depth > 0 => depth -= 1,
                        c if depth == 0 => out.push(c),
                        _ => {}
                    }
                }
                out
            };
            let (name, args) = without_labels.split_once('=').unwrap_or((&without_labels, ""));
            let name = unquote(name).trim().split('@').next().unwrap_or_default().to_owned();
            let args = split(&unquote(args), &[':'])
                .into_iter()
                .filter(|arg| !arg.is_empty())
                .map(|arg| match arg.split_once('=') {
                    // ffmpeg's keys are letters, digits and `-_/.`; anything else is an unnamed value.
                    Some((key, value)) if is_key(key.trim()) => {
                        (Some(key.trim().to_owned()), unquote(value).trim().to_owned())
                    }
                    _ => (None, unquote(&arg).trim().to_owned()),
                })
                .collect();
            (name, args)
        })
        .collect()
}

/// Whether `key` reads as an option name in a filter's arguments.
fn is_key(key: &str) -> bool {
    !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || "-_/.".contains(c))
}

/// Filters and parameters where ffmpeg reads, writes or ignores as text; position `n` is the
/// n-th unnamed argument.
const READ_PARAMS: &[(&str, &str, usize)] = &[
    ("lut3d", "file", 0),
    ("ass", "filename", 0),
    ("ass", "f", 9),
    ("drawtext", "fontfile", 0),
    ("drawtext", "textfile", 2),
];
const WRITE_PARAMS: &[(&str, &str, usize)] =
    &[("psnr", "stats_file", 0), ("psnr", "f", 9), ("ssim", "stats_file", 0), ("ssim", "f", 9)];
const TEXT_PARAMS: &[(&str, &str, usize)] = &[("drawtext", "text", 1)];
const REFUSED_BY_DESIGN: &[&str] = &["sendcmd", "asendcmd", "zmq", "azmq", "movie", "amovie", "subtitles"];

fn check_graph(graph: &str) -> Result<(), String> {
    for (name, args) in oracle_filters(graph) {
        if REFUSED_BY_DESIGN.contains(&name.as_str()) {
            return Err(format!("accepted filter `{name}` in `{graph}`"));
        }
        for (index, (key, value)) in args.iter().enumerate() {
            let role_of = |table: &[(&str, &str, usize)]| {
                table.iter().any(|(f, p, position)| {
                    *f == name && (key.as_deref() == Some(*p) || (key.is_none() && index == *position))
                })
            };
            let context = format!("filter `{name}` in `{graph}`");
            if role_of(READ_PARAMS) {
                if !readable(value) {
                    return Err(format!("{context}: reads `{value}`"));
                }
            } else if role_of(WRITE_PARAMS) {
                if !writable(value) || value.contains('%') {
                    return Err(format!("{context}: writes `{value}`"));
                }
            } else if !role_of(TEXT_PARAMS) {
                check_plain(&context, value)?;
                if let Some(key) = key {
                    check_plain(&context, key)?;
                }
            }
        }
    }
    Ok(())
}

/// Checks an accepted command against the oracle.
fn check_accepted(args: &[String], checked: &CheckedArgs) -> Result<(), String> {
    let whitelist = ALLOWED_DEMUXERS.join(",");
    let mut expected: Vec<String> = ["-hide_banner", "-nostdin", "-y"].map(String::from).to_vec();
    for arg in args {
        if arg == "-i" {
            expected
                .extend(["-protocol_whitelist", "file", "-format_whitelist", &whitelist].map(String::from));
        }
        expected.push(arg.clone());
    }
    if checked.args != expected {
        return Err(format!("argv changed or safety options missing: {:?}", checked.args));
    }
    let mut inputs = Vec::new();
    let mut outputs = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let role = match OPTIONS.iter().find(|(name, ..)| name == arg) {
            Some(&(_, _, role)) => Some(role),
            None if arg == "-i" => Some(Role::Input),
            None => None,
        };
        let Some(role) = role else {
            if arg.starts_with('-') && arg.len() > 1 {
                return Err(format!("accepted an option the oracle does not know: `{arg}`"));
            }
            if !writable(arg) {
                return Err(format!("output `{arg}` outside out/step/"));
            }
            outputs.push(arg.clone());
            continue;
        };
        if role == Role::Flag {
            continue;
        }
        let value = rest.next().ok_or("an option without its value was accepted")?;
        let context = format!("`{arg} {value}`");
        match role {
            Role::Input => {
                if !readable(value) {
                    return Err(format!("{context}: input is not a plain readable file"));
                }
                inputs.push(value.clone());
            }
            Role::Output => {
                if !writable(value) {
                    return Err(format!("{context}: writes outside out/step/"));
                }
            }
            Role::Name => {
                if value.contains('/') || value.contains("..") {
                    return Err(format!("{context}: a file name with a directory"));
                }
            }
            Role::Graph => check_graph(value)?,
            Role::Text | Role::Flag => {}
            Role::Plain => {
                let refused = ["tee", "fifo", "lavfi", "concat", "hls", "glob", "glob_sequence", "data"];
                let value_check =
                    if matches!(arg.as_str(), "-f" | "-pattern_type") && refused.contains(&value.as_str()) {
                        // `hls` is an allowed muxer; only the demuxer is refused.
                        if value == "hls" { Ok(()) } else { Err(format!("{context}: refused by design")) }
                    } else {
                        check_plain(&context, value)
                    };
                value_check?;
            }
        }
    }
    if checked.inputs != inputs || checked.outputs != outputs {
        return Err(format!(
            "inputs {:?} / outputs {:?} differ from the oracle's",
            checked.inputs, checked.outputs
        ));
    }
    Ok(())
}

#[test]
fn accepted_commands_name_only_typed_files() {
    let cases = std::env::var("TRANSFLOW_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(400);
    let config = Config {
        cases,
        source_file: Some(file!()),
        // Relative to the package directory, where `cargo test` runs the tests.
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "src/media/policy/fuzz.proptest-regressions",
        ))),
        ..Config::default()
    };
    let ws = workspace();
    let (tried, accepted) = (std::cell::Cell::new(0u64), std::cell::Cell::new(0u64));
    let mut runner = TestRunner::new(config);
    let outcome = runner.run(&command(), |args| {
        tried.set(tried.get() + 1);
        let first = check_ffmpeg_args(&args, &ws);
        prop_assert_eq!(&first, &check_ffmpeg_args(&args, &ws), "checking is not deterministic");
        if let Ok(checked) = first {
            accepted.set(accepted.get() + 1);
            if let Err(problem) = check_accepted(&args, &checked) {
                return Err(TestCaseError::fail(format!("{problem}\nargs: {args:?}")));
            }
        }
        Ok(())
    });
    eprintln!("policy fuzz: {} cases, {} accepted", tried.get(), accepted.get());
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}

/// The oracle is only worth its cases if it sees the escapes that an earlier policy let through:
/// fed each of them as if accepted, it must object.
#[test]
fn the_oracle_flags_the_known_escapes() {
    let whitelist = ALLOWED_DEMUXERS.join(",");
    for command in [
        "-i in/a/clip.mp4 -x264-params stats='/abs/file' out/step/x.mp4",
        r"-i in/a/clip.mp4 -x264-params stats=\/abs\/file out/step/x.mp4",
        "-i in/a/clip.mp4 -x265-params csv='/abs/file' out/step/x.mp4",
        "-i in/a/clip.mp4 -var_stream_map v:0,name:../../x out/step/%v/i.m3u8",
        "-i in/a/clip.mp4 -vf sendcmd=c='0_curves_plot_/abs/file',null out/step/x.mp4",
        "-pattern_type glob -i in/a/clip.mp4 out/step/x.mp4",
        "-i in/{..,x}/clip.mp4 out/step/x.mp4",
        "-i in/a/clip.mp4 -filter_complex paletteuse=debug_kdtree=in/a/clip.mp4 out/step/x.mp4",
        "-i in/a/clip.mp4 -x264-params dump_yuv=in/a/clip.mp4 out/step/x.mp4",
        "-i in/a/clip.mp4 in/a/clip.mp4",
    ] {
        let args: Vec<String> = command.split(' ').map(String::from).collect();
        let mut full: Vec<String> = ["-hide_banner", "-nostdin", "-y"].map(String::from).to_vec();
        let (mut inputs, mut outputs) = (Vec::new(), Vec::new());
        for (index, arg) in args.iter().enumerate() {
            if arg == "-i" {
                full.extend(
                    ["-protocol_whitelist", "file", "-format_whitelist", &whitelist].map(String::from),
                );
                inputs.push(args[index + 1].clone());
            }
            full.push(arg.clone());
        }
        outputs.push(args.last().cloned().unwrap_or_default());
        let pretend = CheckedArgs { args: full, inputs, outputs };
        assert!(check_accepted(&args, &pretend).is_err(), "the oracle lets `{command}` pass");
    }
}
