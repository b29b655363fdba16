//! Unit tests of the policy: the commands templates send pass with the host's options inserted,
//! and each hostile class is refused, naming the argument at fault.

use super::graph::{FilterArg, FilterCall, parse_filter_args, parse_graph};
use super::walk::{MAX_ARG_BYTES, MAX_ARGS};
use super::*;
use std::collections::HashSet;
use std::sync::LazyLock;

/// Readable: a fixed set of files; writable: anything under `out/step/`.
pub(super) struct FakeWorkspace {
    pub readable: HashSet<&'static str>,
}

impl WorkspaceView for FakeWorkspace {
    fn is_readable_file(&self, relative: &str) -> bool {
        self.readable.contains(relative)
    }
    fn is_writable_output(&self, relative: &str) -> bool {
        relative.starts_with("out/step/") && check_relative_path(relative).is_ok()
    }
}

/// The files of the fake workspace.
/// The built-in policy, built once per test binary.
static DEFAULT_POLICY: LazyLock<Policy> = LazyLock::new(Policy::default);

/// [`Policy::check_ffmpeg_args`] of the built-in policy.
pub(super) fn check_ffmpeg_args(args: &[String], ws: &dyn WorkspaceView) -> Result<CheckedArgs, Refusal> {
    DEFAULT_POLICY.check_ffmpeg_args(args, ws)
}

/// [`Policy::check_input_path`] of the built-in policy.
fn check_input_path(path: &str, ws: &dyn WorkspaceView) -> Result<(), Refusal> {
    DEFAULT_POLICY.check_input_path(path, ws)
}

pub(super) const READABLE: &[&str] = &[
    "in/a/clip.mp4",
    "in/b/clip.mp4",
    "in/a/song.mp3",
    "in/a/subs.ass",
    "in/a/logo.png",
    "in/a/font.ttf",
    "in/a/look.cube",
    "in/seq/001.png",
    "in/{..,x}/clip.mp4",
];

pub(super) fn workspace() -> FakeWorkspace {
    FakeWorkspace { readable: READABLE.iter().copied().collect() }
}

/// Splits a command like a shell would, but only on spaces and with only `"…"` quoting, so
/// that tests read like the commands templates send (`'` and `\` reach the policy as they are).
fn argv(command: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut current: Option<String> = None;
    let mut quoted = false;
    for c in command.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.get_or_insert_default();
            }
            ' ' if !quoted => args.extend(current.take()),
            _ => current.get_or_insert_default().push(c),
        }
    }
    args.extend(current);
    args
}

fn check(command: &str) -> Result<CheckedArgs, Refusal> {
    check_ffmpeg_args(&argv(command), &workspace())
}

#[track_caller]
fn assert_allowed(command: &str) -> CheckedArgs {
    check(command).unwrap_or_else(|refusal| panic!("`{command}` refused: {refusal}"))
}

/// Asserts that `command` is refused for `argument` with a reason containing `reason`.
#[track_caller]
fn assert_refused(command: &str, argument: &str, reason: &str) {
    match check(command) {
        Ok(checked) => panic!("`{command}` allowed: {:?}", checked.args),
        Err(refusal) => {
            assert_eq!(refusal.argument, argument, "{refusal}");
            assert!(refusal.reason.contains(reason), "{refusal} does not say {reason:?}");
        }
    }
}

/// The host prefix, then `command` with the whitelists before every `-i`.
fn expected_args(command: &str) -> Vec<String> {
    let safety = format!("-protocol_whitelist file -format_whitelist {} -i", ALLOWED_DEMUXERS.join(","));
    argv(&format!("-hide_banner -nostdin -y {}", command.replace("-i ", &format!("{safety} "))))
}

#[test]
fn the_built_in_tables_are_valid() {
    let policy = Policy::default();
    assert_eq!(policy.format_whitelist(), ALLOWED_DEMUXERS.join(","));
    for entry in filter_table::FILTERS {
        for positional in entry.positional {
            assert!(entry.params.iter().any(|(p, _)| p == positional), "{}: {positional}", entry.name);
        }
        assert!(!tables::REFUSED_FILTERS.iter().any(|(f, _)| *f == entry.name), "{}", entry.name);
    }
    for (name, ..) in tables::OPTIONS {
        assert!(
            !tables::HOST_OWNED_OPTIONS.contains(name)
                && !tables::REFUSED_OPTIONS.iter().any(|(o, _)| o == name)
        );
    }
    for (option, keys) in tables::CODEC_DICTS {
        assert!(policy.options.contains_key(*option), "{option}");
        for (key, _) in *keys {
            assert!(!tables::REFUSED_DICT_KEYS.contains(&key.replace('_', "-").as_str()), "{option} {key}");
        }
    }
}

#[test]
fn argv_splits_like_the_tests_expect() {
    assert_eq!(argv(r#"-a "b c" "" d"#), ["-a", "b c", "", "d"]);
}

#[test]
fn thumbnail_command_is_allowed_with_the_host_options_inserted() {
    let command =
        "-ss 1.5 -i in/a/clip.mp4 -vf fps=1/2.500000,scale=320:-2 -frames:v 8 -q:v 3 out/step/clip_%02d.jpg";
    let checked = assert_allowed(command);
    assert_eq!(checked.args, expected_args(command));
    assert_eq!(checked.args[..6], ["-hide_banner", "-nostdin", "-y", "-ss", "1.5", "-protocol_whitelist"]);
    assert_eq!(checked.inputs, ["in/a/clip.mp4"]);
    assert_eq!(checked.outputs, ["out/step/clip_%02d.jpg"]);
}

/// Every command the built-in templates, the scaffolds and the test fixtures build.
#[test]
fn template_commands_are_allowed() {
    for command in [
        // audio-encode
        "-i in/a/song.mp3 -vn -c:a libmp3lame -b:a 192k out/step/song.mp3",
        "-i in/a/song.mp3 -vn -c:a aac -b:a 128k -movflags +faststart out/step/song.m4a",
        "-i in/a/song.mp3 -filter_complex [0:a:0]aformat=channel_layouts=mono,showwavespic=s=1200x240:colors=#3b82f6 \
         -frames:v 1 out/step/song_waveform.png",
        // image-resize
        "-i in/a/logo.png -vf scale=w='min(iw,1024)':h='min(ih,1024)':force_original_aspect_ratio=decrease \
         -frames:v 1 -c:v mjpeg -q:v 5 out/step/logo.jpg",
        "-i in/a/logo.png -vf scale=w='min(iw,16)':h='min(ih,8192)':force_original_aspect_ratio=decrease \
         -frames:v 1 -c:v libwebp -quality 85 out/step/logo.webp",
        "-i in/a/logo.png -vf scale=w='min(iw,1024)':h='min(ih,1024)':force_original_aspect_ratio=decrease \
         -frames:v 1 -c:v png out/step/logo.png",
        // video-encode, both formats, with and without audio
        "-i in/a/clip.mp4 -map 0:v:0 -vf scale=-2:720 -c:v libx264 -preset veryfast -crf 23 -pix_fmt yuv420p \
         -map 0:a:0 -c:a aac -b:a 128k -movflags +faststart out/step/clip.mp4",
        "-i in/a/clip.mp4 -map 0:v:0 -vf scale=-2:480 -c:v libvpx-vp9 -b:v 0 -crf 33 -deadline realtime \
         -cpu-used 8 -row-mt 1 -pix_fmt yuv420p -map 0:a:0 -c:a libopus -b:a 96k out/step/clip.webm",
        "-i in/a/clip.mp4 -map 0:v:0 -vf scale=-2:144 -c:v libx264 -preset slow -crf 35 -pix_fmt yuv420p -an \
         out/step/clip.mp4",
        // video-thumbnails (Rust and TypeScript), the scaffolds
        "-ss 0.625000 -i in/a/clip.mp4 -vf fps=1/1.250000,scale=320:-2 -frames:v 8 -q:v 3 out/step/clip_%02d.jpg",
        "-ss 2.500 -i in/a/clip.mp4 -vf scale=640:-2 -frames:v 1 out/step/clip.jpg",
        // fixtures: step-errors' poster, ffmpeg-args' ordinary run, hostile's disk-fill
        "-i in/a/clip.mp4 -frames:v 1 out/step/clip.jpg",
        "-i in/a/clip.mp4 -t 1 -c:v libx264 -preset ultrafast -an out/step/out.mp4",
        "-stream_loop -1 -i in/a/clip.mp4 -map 0 -c copy -f mpegts out/step/fill.ts",
    ] {
        assert_eq!(assert_allowed(command).args, expected_args(command), "{command}");
    }
}

#[test]
fn hls_ladder_is_allowed() {
    // As the hls template builds it: whitespace-free options, then whole arguments.
    let graph = "[0:v:0]split=3[s0][s1][s2];[s0]scale=-2:1080[v0];[s1]scale=-2:720[v1];[s2]scale=-2:480[v2]";
    let options = "-map [v0] -c:v:0 libx264 -b:v:0 5000k -map 0:a:0 -map [v1] -c:v:1 libx264 -b:v:1 2800k \
                   -map 0:a:0 -map [v2] -c:v:2 libx264 -b:v:2 1400k -map 0:a:0 -preset veryfast -pix_fmt yuv420p \
                   -g 50 -keyint_min 50 -sc_threshold 0 -c:a aac -b:a 128k";
    let args: Vec<String> = ["-i", "in/a/clip.mp4", "-filter_complex", graph]
        .into_iter()
        .chain(options.split_whitespace())
        .chain(["-f", "hls", "-hls_time", "4", "-hls_playlist_type", "vod"])
        .chain(["-hls_segment_filename", "out/step/clip/v%v/seg_%03d.ts", "-master_pl_name", "master.m3u8"])
        .chain(["-var_stream_map", "v:0,a:0 v:1,a:1 v:2,a:2", "out/step/clip/v%v/index.m3u8"])
        .map(String::from)
        .collect();
    let checked = check_ffmpeg_args(&args, &workspace()).unwrap();
    assert_eq!(checked.inputs, ["in/a/clip.mp4"]);
    assert_eq!(checked.outputs, ["out/step/clip/v%v/index.m3u8"]);
    assert_eq!(checked.args[7..], args[..]);
    assert!(checked.args.contains(&"v:0,a:0 v:1,a:1 v:2,a:2".to_string()));
    assert_allowed("-i in/a/clip.mp4 -f hls -var_stream_map v:0,name:low,agroup:aud out/step/%v/index.m3u8");
}

#[test]
fn whitelists_precede_every_input() {
    let command = "-f mov -i in/a/clip.mp4 -itsoffset -1 -i in/b/clip.mp4 \
                   -filter_complex [0:v][1:v]hstack out/step/both.mp4";
    let checked = assert_allowed(command);
    assert_eq!(checked.args, expected_args(command));
    assert_eq!(checked.args.iter().filter(|arg| *arg == "-protocol_whitelist").count(), 2);
    assert_eq!(checked.inputs, ["in/a/clip.mp4", "in/b/clip.mp4"]);
    assert_eq!(checked.outputs, ["out/step/both.mp4"]);
}

#[test]
fn inputs_are_literal_existing_files() {
    assert_refused("-f image2 -i in/seq/%03d.png out/step/seq.mp4", "in/seq/%03d.png", "must name one file");
    assert_refused("-i in/a/*.mp4 out/step/x.mp4", "in/a/*.mp4", "glob characters");
    // The file exists under that literal name, but ffmpeg's glob would expand the braces.
    assert_refused("-i in/{..,x}/clip.mp4 out/step/x.mp4", "in/{..,x}/clip.mp4", "glob characters");
    assert_allowed("-f image2 -pattern_type sequence -i in/seq/001.png out/step/x.mp4");
    assert_allowed("-pattern_type none -i in/seq/001.png out/step/x.mp4");
}

#[test]
fn image2_globbing_is_refused() {
    for pattern_type in ["glob", "glob_sequence"] {
        let command = format!("-pattern_type {pattern_type} -f image2 -i in/a/clip.mp4 out/step/x.ts");
        assert_refused(&command, pattern_type, "expected one of sequence, none");
    }
}

#[test]
fn inputs_outside_the_workspace_are_refused() {
    assert_refused("-i /etc/passwd out/step/x.mp4", "/etc/passwd", "absolute paths are not allowed");
    assert_refused("-i ../x out/step/x.mp4", "../x", "`..` is not allowed in paths");
    assert_refused("-i in/../../x out/step/x.mp4", "in/../../x", "`..` is not allowed in paths");
    assert_refused("-i ~/x.mp4 out/step/x.mp4", "~/x.mp4", "absolute paths");
    assert_refused("-i C:x.mp4 out/step/x.mp4", "C:x.mp4", "absolute paths");
    assert_refused(r"-i in\a.mp4 out/step/x.mp4", r"in\a.mp4", "backslashes");
    assert_refused("-i in/a\n.mp4 out/step/x.mp4", r"in/a\n.mp4", "control characters");
    assert_refused(r#"-i "" out/step/x.mp4"#, "", "empty paths");
    assert_refused(
        "-i in/missing.mp4 out/step/x.mp4",
        "in/missing.mp4",
        "input `in/missing.mp4` is not a file",
    );
    assert_refused("-i - out/step/x.mp4", "-", "stdin/stdout are not allowed");
}

#[test]
fn inputs_through_protocols_are_refused() {
    for url in [
        "http://example.com/a.mp4",
        "concat:in/a.mp4|in/b.mp4",
        "file:in/a.mp4",
        "FILE:in/a.mp4",
        "pipe:0",
        "crypto+file:in/a.mp4",
        "subfile,,start,0,end,9,,:in/a.mp4",
        "x-custom://host/a",
    ] {
        assert_refused(
            &format!("-i {url} out/step/x.mp4"),
            url,
            "URLs and protocol prefixes are not allowed",
        );
    }
}

#[test]
fn check_input_path_applies_the_input_rules() {
    let ws = workspace();
    assert_eq!(check_input_path("in/a/clip.mp4", &ws), Ok(()));
    let refusal = check_input_path("/etc/passwd", &ws).unwrap_err();
    assert_eq!(refusal.to_string(), "argument `/etc/passwd` refused: absolute paths are not allowed");
    assert!(check_input_path("http://x/a.mp4", &ws).is_err());
    assert!(check_input_path("out/step/missing.mp4", &ws).is_err());
    assert!(check_input_path("in/{..,x}/clip.mp4", &ws).is_err());
    assert!(Policy::default().check_input_path("in/seq/%03d.png", &ws).is_err());
}

#[test]
fn check_relative_path_checks_only_the_path() {
    assert_eq!(check_relative_path("out/step/v%v/seg_%03d.ts"), Ok(()));
    assert_eq!(check_relative_path("in/nowhere.mp4"), Ok(()));
    assert_eq!(check_relative_path("a/../b").unwrap_err().reason, "`..` is not allowed in paths");
}

#[test]
fn input_formats_must_be_allowed_demuxers() {
    assert_refused("-f lavfi -i testsrc out/step/x.mp4", "lavfi", "input format `lavfi` is not allowed");
    assert_refused("-f concat -i in/a/clip.mp4 out/step/x.mp4", "concat", "input format `concat`");
    assert_refused("-f hls -i in/a/clip.mp4 out/step/x.mp4", "hls", "input format `hls`");
    assert_refused("-f data -i in/a/clip.mp4 out/step/x.mkv", "data", "transflow.toml");
}

#[test]
fn output_formats_must_be_allowed_muxers() {
    assert_refused("-i in/a/clip.mp4 -f tee out/step/a.mp4|/tmp/b.mp4", "tee", "output format `tee`");
    assert_refused("-i in/a/clip.mp4 -f fifo out/step/a.mp4", "fifo", "output format `fifo`");
    assert_refused("-i in/a/clip.mp4 -f rtp out/step/x", "rtp", "output format `rtp`");
    let command = "-i in/a/clip.mp4 -f segment -segment_format tee out/step/%d.ts";
    assert_refused(command, "tee", "output format `tee`");
    assert_refused("-i in/a/clip.mp4 out/step/x.mp4 -f lavfi", "lavfi", "output format `lavfi`");
    assert_allowed("-i in/a/clip.mp4 -f null out/step/null");
}

#[test]
fn outputs_must_be_reserved_paths() {
    assert_refused("-i in/a/clip.mp4 /tmp/x.mp4", "/tmp/x.mp4", "absolute paths are not allowed");
    assert_refused(
        "-i in/a/clip.mp4 in/a/clip.mp4",
        "in/a/clip.mp4",
        "outputs must be paths from workspace.reserve-output",
    );
    assert_refused("-i in/a/clip.mp4 out/step/../x.mp4", "out/step/../x.mp4", "`..`");
    assert_refused("-i in/a/clip.mp4 -", "-", "stdin/stdout are not allowed");
    assert_refused("-i in/a/clip.mp4 tcp://1.2.3.4:5", "tcp://1.2.3.4:5", "URLs");
    assert_refused("-i in/a/clip.mp4 out/step/%s.mp4", "out/step/%s.mp4", "only the `%d`");
    assert_refused("-i in/a/clip.mp4 out/step/{a,b}.mp4", "out/step/{a,b}.mp4", "glob characters");
}

#[test]
fn host_owned_options_are_refused() {
    for option in
        ["-progress", "-loglevel", "-v", "-stats_period", "-protocol_whitelist", "-safe", "-timelimit"]
    {
        assert_refused(&format!("{option} x"), option, &format!("the host sets `{option}` itself"));
    }
    for flag in ["-y", "-n", "-nostdin", "-stdin", "-hide_banner", "-stats", "-nostats", "-report"] {
        assert_refused(flag, flag, "the host sets");
    }
    assert_refused("-protocol_whitelist:v x", "-protocol_whitelist:v", "the host sets");
    assert_allowed("-i in/a/clip.mp4 -threads 2 out/step/x.mp4");
}

#[test]
fn file_and_host_options_are_refused() {
    for option in [
        "-filter_script",
        "-filter_script:v",
        "-filter_complex_script",
        "-attach",
        "-dump_attachment:t",
        "-vstats_file",
        "-sdp_file",
        "-fpre",
        "-vpre",
        "-stats_enc_pre",
        "-enable_drefs",
        "-use_absolute_path",
        "-hls_key_info_file",
    ] {
        let reason = format!("option `{option}` reads or writes host files and is not allowed");
        assert_refused(&format!("{option} x"), option, &reason);
    }
    for option in ["-/vf", "-/filter_complex"] {
        assert_refused(&format!("{option} x"), option, "reads its value from a file");
    }
    for option in ["-init_hw_device", "-hwaccel", "-hwaccel_device", "-filter_hw_device"] {
        assert_refused(&format!("{option} x"), option, "uses host hardware devices");
    }
    for option in ["-cookies", "-headers", "-user_agent", "-http_proxy", "-decryption_key", "-hls_base_url"] {
        assert_refused(&format!("{option} x"), option, "configures network access or decryption");
    }
    assert_refused("-vstats", "-vstats", "reads or writes host files");
    assert_refused("-dump", "-dump", "writes debugging output");
    assert_refused("-i in/a/clip.mp4 -c:v h264_vaapi out/step/x.mp4", "h264_vaapi", "host hardware");
}

#[test]
fn unlisted_items_are_refused_with_how_to_extend() {
    assert_refused("-i in/a/clip.mp4 -foo 1 out/step/x.mp4", "-foo", "option `-foo` is not in the allowlist");
    assert_refused(
        "-i in/a/clip.mp4 -vf foo=1 out/step/x.mp4",
        "foo=1",
        "filter `foo` is not in the allowlist",
    );
    assert_refused("-i in/a/clip.mp4 -c:v libfoo out/step/x.mp4", "libfoo", "transflow.toml");
    assert_refused(
        "-i in/a/clip.mp4 -vf scale=w=1:foo=2 out/step/x.mp4",
        "scale=w=1:foo=2",
        "no parameter `foo`",
    );
}

#[test]
fn option_parsing_follows_ffmpeg() {
    // Flags take no value, so the next argument is an output.
    assert_refused("-i in/a/clip.mp4 -an in/x.mp4", "in/x.mp4", "reserve-output");
    // Everything else takes one value, negative numbers included.
    assert_allowed("-stream_loop -1 -i in/a/clip.mp4 -shortest -strict -2 out/step/x.mp4");
    assert_refused("-i in/a/clip.mp4 -c:v", "-c:v", "option `-c:v` needs a value");
    assert_refused("-i in/a/clip.mp4 -- -x.mp4", "--", "`--` is not allowed");
    assert_refused("-i in/a/clip.mp4 -1 in/x.mp4", "-1", "`-1` is not an option");
    assert_refused("-metadata -i /etc/passwd", "-i", "`-i` cannot be the value of `-metadata`");
    // A specifier does not hide an option's meaning, and only real specifiers are accepted.
    assert_refused("-i:0 /etc/passwd", "-i:0", "takes no stream specifier");
    assert_refused("-i in/a/clip.mp4 -c:/x libx264 out/step/x.mp4", "-c:/x", "not a stream specifier");
    assert_allowed("-i in/a/clip.mp4 -c:v:0 libx264 -b:a:1 96k -metadata:s:a:0 language=eng out/step/x.mp4");
    // Options belong to the next input or output.
    assert_refused("-map 0 -i in/a/clip.mp4 out/step/x.mp4", "-map", "applies to an output");
    assert_refused(
        "-i in/a/clip.mp4 -pattern_type none out/step/x.mp4",
        "-pattern_type",
        "applies to an input",
    );
}

#[test]
fn version_dependent_flags_are_accepted_only_negated() {
    assert_refused("-autorotate -i in/a/clip.mp4", "-autorotate", "not in the allowlist");
    let checked = assert_allowed("-noautorotate -i in/a/clip.mp4 out/step/x.mp4");
    assert_eq!(checked.outputs, ["out/step/x.mp4"]);
}

#[test]
fn muxer_paths_must_be_reserved() {
    let command = "-i in/a/clip.mp4 -hls_segment_filename /tmp/x_%03d.ts out/step/i.m3u8";
    assert_refused(command, "/tmp/x_%03d.ts", "absolute paths are not allowed");
    let command = "-i in/a/clip.mp4 -hls_segment_filename in/a/x_%03d.ts out/step/i.m3u8";
    assert_refused(command, "in/a/x_%03d.ts", "workspace.reserve-output");
    assert_refused(
        "-i in/a/clip.mp4 -pass 1 -passlogfile in/a/log out/step/x.mp4",
        "in/a/log",
        "reserve-output",
    );
    assert_refused("-i in/a/clip.mp4 -pass 1 out/step/x.mp4", "-pass", "needs `-passlogfile`");
    assert_allowed("-i in/a/clip.mp4 -pass 1 -passlogfile out/step/log out/step/x.mp4");
    assert_refused(
        "-i in/a/clip.mp4 -master_pl_name ../m.m3u8 out/step/i.m3u8",
        "../m.m3u8",
        "bare file name",
    );
    assert_refused(
        "-i in/a/clip.mp4 -segment_list in/a/l.txt out/step/%d.ts",
        "in/a/l.txt",
        "reserve-output",
    );
}

#[test]
fn var_stream_map_names_are_plain_words() {
    for map in
        ["v:0,name:../../../tmp/x", "v:0,name:a/b", "v:0,name:..", "v:0,agroup:a/b", "v:x", "v:0,foo:1"]
    {
        let command = format!("-i in/a/clip.mp4 -f hls -var_stream_map {map} out/step/%v/index.m3u8");
        assert_refused(&command, map, "variant stream entry");
    }
}

#[test]
fn codec_dictionaries_are_parsed_with_ffmpegs_quoting() {
    for (dict, key) in [
        ("stats='/abs/file'", "stats"),
        (r"stats=\/abs\/file", "stats"),
        ("keyint=48:stats=x", "stats"),
        ("dump_yuv=in/a/clip.mp4", "dump_yuv"),
        ("st'ats'=x", "stats"),
    ] {
        let command = format!("-i in/a/clip.mp4 -x264-params {dict} out/step/x.mp4");
        assert_refused(&command, dict, &format!("key `{key}` of `-x264-params` names a file"));
    }
    let command = "-i in/a/clip.mp4 -x265-params csv='/abs/file':csv-log-level=1 out/step/x.mp4";
    assert_refused(command, "csv='/abs/file':csv-log-level=1", "key `csv` of `-x265-params` names a file");
    assert_refused(
        "-i in/a/clip.mp4 -x264-params keyint=/x out/step/x.mp4",
        "keyint=/x",
        "not a valid integer",
    );
    assert_refused(
        "-i in/a/clip.mp4 -x264opts stats='x' out/step/x.mp4",
        "stats='x'",
        "quotes and backslashes",
    );
    assert_refused("-i in/a/clip.mp4 -x264-params:v:0 stats=x out/step/x.mp4", "stats=x", "names a file");
    assert_allowed(
        "-i in/a/clip.mp4 -x264-params keyint=48:min-keyint=48:scenecut=0:open-gop=0 -x264opts keyint=48:no-scenecut \
         -aspect 16:9 -ss 00:00:01.5 -r 30000/1001 out/step/x.mp4",
    );
}

#[test]
fn metadata_is_free_text_with_plain_keys() {
    let metadata = r#"-metadata "comment=see https://example.com/a/../b" -metadata:s:a:0 title=/x"#;
    assert_allowed(&format!("-i in/a/clip.mp4 {metadata} out/step/x.mp4"));
    assert_refused("-metadata title=a\nb out/step/x.mp4", r"title=a\nb", "text");
    assert_refused("-metadata a/b=c out/step/x.mp4", "a/b=c", "metadata key");
    assert_refused("-map 0\n out/step/x", r"0\n", "not a map");
}

#[test]
fn filter_files_must_be_workspace_files() {
    for graph in ["lut3d=/etc/passwd", "lut3d='/etc/passwd'", r"lut3d=\/etc\/passwd", "lut3d=file=../x.cube"]
    {
        assert_refused(&format!("-vf {graph}"), graph, "filter `lut3d` parameter `file`");
    }
    let graph = "drawtext=textfile=/etc/passwd:text=x";
    assert_refused(&format!("-vf {graph}"), graph, "filter `drawtext` parameter `textfile`: absolute paths");
    assert_refused(
        "-vf lut3d=in/a/missing.cube",
        "lut3d=in/a/missing.cube",
        "is not a file in the workspace",
    );
    assert_refused("-vf ass=f=in/nope.ass", "ass=f=in/nope.ass", "filter `ass` parameter `f`");
    assert_refused(
        "-vf psnr=f=in/a/log.txt",
        "psnr=f=in/a/log.txt",
        "filter `psnr` parameter `f`: outputs must be",
    );
    assert_refused("-vf psnr=f=out/step/%d.log", "psnr=f=out/step/%d.log", "written literally");
    assert_allowed("-i in/a/clip.mp4 -vf ass=in/a/subs.ass,lut3d=file=in/a/look.cube out/step/x.mp4");
    assert_allowed(
        r"-i in/a/clip.mp4 -vf drawtext=fontfile=in/a/font.ttf:text='Time\:%{pts}' -lavfi ssim=stats_file=out/step/ssim.log out/step/x.mp4",
    );
}

#[test]
fn filters_that_open_further_inputs_or_commands_are_refused() {
    for graph in [
        "movie=in/a/clip.mp4",
        "amovie=in/a/song.mp3",
        "subtitles=in/a/subs.ass",
        "movie=filename='/etc/passwd':f=mov",
    ] {
        let name = graph.split('=').next().unwrap();
        assert_refused(&format!("-vf {graph}"), graph, &format!("filter `{name}` is not allowed"));
    }
    let graph = "sendcmd=c='0 curves plot /abs/file',curves=all='0/0 1/1'";
    assert_refused(&format!(r#"-vf "{graph}""#), graph, "filter `sendcmd` is not allowed: it sends commands");
    for (graph, name) in [
        ("zmq", "zmq"),
        ("azmq", "azmq"),
        ("ladspa=f=x", "ladspa"),
        ("dnn_processing=model=x", "dnn_processing"),
        ("[in]zmq@z[out]", "zmq"),
    ] {
        assert_refused(&format!("-vf {graph}"), graph, &format!("filter `{name}` is not allowed"));
    }
    let graph = "drawtext=/text=in/a/subs.ass";
    assert_refused(&format!("-vf {graph}"), graph, "filter option `/text` loads a file and is not allowed");
}

#[test]
fn filter_parameters_that_write_files_are_refused() {
    let graph = "[0:v]palettegen[p];[0:v][p]paletteuse=debug_kdtree=in/a/clip.mp4";
    assert_refused(
        &format!("-filter_complex {graph}"),
        graph,
        "parameter `debug_kdtree` writes a file it names",
    );
    assert_allowed(
        "-i in/a/clip.mp4 -filter_complex [0:v]palettegen[p];[0:v][p]paletteuse=dither=bayer out/step/x.gif",
    );
}

#[test]
fn filter_values_are_typed() {
    assert_refused("-vf drawtext=text=a:x=/etc", "drawtext=text=a:x=/etc", "not a valid expression");
    assert_refused(r"-vf scale=w='http\://x'", r"scale=w='http\://x'", "not a valid expression");
    assert_refused("-vf scale=w=in/a/clip.mp4", "scale=w=in/a/clip.mp4", "not a valid expression");
    assert_refused("-vf sws_flags=flags=/x;scale=1:2", "sws_flags=flags=/x;scale=1:2", "`sws_flags`");
    assert_refused("-vf fps=1:round=/x", "fps=1:round=/x", "integer or one of");
    assert_refused("-vf scale=1:2:bicubic:0:x", "scale=1:2:bicubic:0:x", "takes at most 4 unnamed arguments");
    // Text is text wherever it is, even when it looks like a path.
    assert_allowed("-i in/a/clip.mp4 -vf drawtext=text='/etc/passwd' out/step/x.mp4");
}

#[test]
fn common_filter_graphs_pass() {
    for graph in [
        "scale=320:-2",
        "fps=1/2.5",
        r"select='eq(n\,0)'",
        "split=2[a][b];[a]scale=1280:-2[v1];[b]scale=640:-2[v2]",
        "sws_flags=bicubic;scale=640:-2",
        "[0:v] scale = 640:-2 , format=yuv420p [v]",
        "overlay=x=W-w-10:y=10",
        "volume=0.5,aresample=48000",
        "drawtext=text='a, b; c'",
        "scale@big=1280:720:enable='between(t,1,2)'",
        "null",
    ] {
        assert_allowed(&format!(r#"-i in/a/clip.mp4 -vf "{graph}" out/step/x.mp4"#));
    }
}

#[test]
fn malformed_filter_graphs_are_refused() {
    assert_refused("-vf scale=1:2,", "scale=1:2,", "a filter name is missing");
    assert_refused("-vf [in", "[in", "is not closed");
    assert_refused("-vf []scale", "[]scale", "empty `[]` label");
    assert_refused("-vf sws_flags=x", "sws_flags=x", "must end with `;`");
    assert_refused("-vf scale=1:2]x", "scale=1:2]x", "cannot be parsed near `]x`");
    let graph = "drawtext=text=a:in/a/font.ttf";
    assert_refused(&format!("-vf {graph}"), graph, "unnamed arguments must come before named ones");
    assert_refused("-vf [a/b]scale", "[a/b]scale", "link label `a/b`");
}

#[test]
fn graph_parsing_unescapes_like_ffmpeg() {
    let graph = parse_graph(r"[0:v]movie = 'a b'\:c [x];  amix@m").unwrap();
    assert_eq!(graph.sws_flags, None);
    assert_eq!(
        graph.filters,
        [
            FilterCall { name: "movie".into(), args: Some("a b:c".into()) },
            FilterCall { name: "amix@m".into(), args: None },
        ]
    );
    assert_eq!(
        parse_filter_args("f", r"in/a\:b:key = 'x\y' ").unwrap(),
        [
            FilterArg { key: None, value: "in/a:b".into() },
            FilterArg { key: Some("key".into()), value: r"x\y".into() },
        ]
    );
}

#[test]
fn limits_are_enforced() {
    let many = vec!["-an".to_string(); MAX_ARGS + 1];
    let refusal = check_ffmpeg_args(&many, &workspace()).unwrap_err();
    assert_eq!(refusal.argument, "1001 arguments");
    assert_eq!(refusal.reason, "at most 1000 arguments are allowed");
    let long = "a".repeat(MAX_ARG_BYTES + 1);
    let refusal = check(&format!("-metadata {long}")).unwrap_err();
    assert_eq!(refusal.reason, "arguments may be at most 16384 bytes long");
    assert_eq!(refusal.argument, format!("{}…", &long[..SHOWN_CHARS]));
    assert_refused("-metadata a\0b", r"a\u{0}b", "NUL bytes are not allowed");
}

#[test]
fn value_types_round_trip_and_check() {
    for name in ["integer", "bitrate", "duration", "int:a|b", "flags:x|y", "list:color", "enum:yes|no"] {
        assert_eq!(name.parse::<ValueType>().unwrap().to_string(), name);
    }
    assert!("input_file".parse::<ValueType>().is_err());
    assert!("list:list:integer".parse::<ValueType>().is_err());
    let duration: ValueType = "duration".parse().unwrap();
    for ok in ["1.5", "00:00:01.5", "-1", "500ms", "1:02"] {
        assert_eq!(duration.check(ok), Ok(()), "{ok}");
    }
    for bad in ["1e5", "/1", "00:00:01:00:00", "1.5.5"] {
        assert!(duration.check(bad).is_err(), "{bad}");
    }
    let expression = ValueType::Expression;
    for ok in ["min(iw,640)", "gte(t,n_forced*2)", "W-w-10", "1/2.5", ".5*PI", "1e-3"] {
        assert_eq!(expression.check(ok), Ok(()), "{ok}");
    }
    for bad in ["/etc/passwd", "a/../b", "clip.mp4", "x:y", "'a'", "a\\,b", "", "30000,/1001", "1 / 2"] {
        assert!(expression.check(bad).is_err(), "{bad}");
    }
    let flags: ValueType = "flags:faststart|frag_keyframe".parse().unwrap();
    assert_eq!(flags.check("+faststart-frag_keyframe"), Ok(()));
    assert!(flags.check("+faststart+x").is_err());
}

#[test]
fn extensions_add_typed_entries() {
    let extensions: PolicyExtensions = toml::from_str(
        r#"
        demuxers = ["ogg", "dsf"]
        encoders = ["libkvazaar"]
        [options]
        "tile-columns2" = "integer"
        [filters.vignette]
        extra = "number"
        [filters.negate2]
        strength = "number"
        [codec_keys.x264-params]
        chroma-qp-offset = "integer"
        "#,
    )
    .unwrap();
    let policy = Policy::new(&extensions).unwrap();
    assert!(policy.format_whitelist().ends_with(",dsf"));
    let ws = workspace();
    let args = argv(
        "-i in/a/clip.mp4 -vf vignette=extra=2,negate2=strength=1 -c:v libkvazaar -tile-columns2:v 2 \
         -x264-params chroma-qp-offset=-2 out/step/x.mp4",
    );
    policy.check_ffmpeg_args(&args, &ws).unwrap();
    assert!(check_ffmpeg_args(&args, &ws).is_err(), "the default policy is unchanged");
    let refusal = policy.check_ffmpeg_args(&argv("-i in/a/clip.mp4 -tile-columns2 x out/step/x.mp4"), &ws);
    assert!(refusal.unwrap_err().reason.contains("not a valid integer"));
}

#[test]
fn extensions_cannot_name_files_redefine_or_allow_refused_items() {
    let cases = [
        ("[options]\nprogress = \"text\"", "`-progress` is set by the host"),
        (
            "[options]\nfilter_script = \"text\"",
            "`filter_script` reads or writes host files; it cannot be allowed",
        ),
        ("[options]\nhls_segment_filename = \"text\"", "`hls_segment_filename` is built in"),
        ("[options]\npattern_type = \"word\"", "`pattern_type` is built in"),
        ("[options]\nsome_output_file = \"text\"", "`some_output_file` looks like it names a file"),
        ("[options]\n\"-x\" = \"text\"", "`-x` is not a valid name"),
        ("[filters.sendcmd]\nc = \"text\"", "`sendcmd` sends commands"),
        ("[filters.drawtext]\ntextfile = \"text\"", "`drawtext=textfile` is typed as a workspace file"),
        ("[filters.drawtext]\ntext = \"word\"", "`drawtext=text` is built in"),
        ("[filters.paletteuse]\ndebug_kdtree = \"text\"", "`paletteuse=debug_kdtree` writes a file"),
        ("[filters.curves]\nplot = \"text\"", "`curves=plot` writes a file"),
        ("[filters.newfilter]\nlogfile = \"text\"", "`logfile` looks like it names a file"),
        ("[codec_keys.x264-params]\ndump_yuv = \"text\"", "`x264-params dump_yuv` names a file"),
        ("[codec_keys.x264-params]\nkeyint = \"text\"", "`x264-params keyint` is built in"),
        ("[codec_keys.nope-params]\nkeyint = \"text\"", "`nope-params` is not a codec dictionary option"),
        ("muxers = [\"tee\"]", "`tee` writes to further outputs"),
        ("demuxers = [\"concat\"]", "`concat` opens the files a playlist names"),
        ("encoders = [\"h264_nvenc\"]", "`h264_nvenc` uses host hardware devices"),
    ];
    for (toml_text, message) in cases {
        let extensions: PolicyExtensions = toml::from_str(toml_text).unwrap();
        let error = Policy::new(&extensions).unwrap_err().to_string();
        assert!(error.contains(message), "{toml_text}: {error}");
    }
    for (toml_text, message) in [
        ("[options]\nx = \"input_file\"", "`input_file` is not a value type"),
        ("[options]\nx = \"filter_graph\"", "`filter_graph` is not a value type"),
        ("unknown = 1", "unknown field `unknown`"),
    ] {
        let error = toml::from_str::<PolicyExtensions>(toml_text).unwrap_err().to_string();
        assert!(error.contains(message), "{toml_text}: {error}");
    }
}
