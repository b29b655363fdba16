//! The one argument policy every guest-supplied ffmpeg argument passes before ffmpeg starts.
//!
//! Templates and the media they process are untrusted. ffmpeg runs with its working directory set
//! to the job workspace and guests name files by workspace-relative paths. The policy walks the
//! arguments the way ffmpeg's own command-line parser does (option, option value or output file),
//! refuses options the host owns or that reach outside the workspace, checks every path-like value,
//! parses filter graphs to find the filters that open files, and pins every input to the `file`
//! protocol and a whitelist of demuxers.
//!
//! Where the sandbox cannot hide the host's file system (see `sandbox.rs`) this policy is the
//! defence, so it errs towards refusing: a refused command costs a template author a clear message,
//! an accepted one may cost the host its files.

/// What the policy needs to know about the job's workspace.
pub trait WorkspaceView {
    /// True when `relative` (already checked to be a safe relative path) names an existing regular
    /// file inside the workspace (resolving symlinks must stay inside the workspace; the implementer
    /// handles that).
    fn is_readable_file(&self, relative: &str) -> bool;
    /// True when `relative` lies under the directory the current step may write (e.g. `out/<step>/`).
    fn is_writable_output(&self, relative: &str) -> bool;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("argument `{argument}` refused: {reason}")]
pub struct Refusal {
    pub argument: String,
    pub reason: String,
}

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

/// Demuxers allowed for inputs (used for `-f` before `-i` and injected as `-format_whitelist`).
///
/// None of them opens other files by names found in the media (playlists like `hls`, `concat`,
/// `dash` or `sdp` do, and `lavfi` runs filters), except `image2`, which reads the numbered
/// siblings of a sequence, and `mov`, whose external references stay off because the options that
/// enable them are refused.
pub const ALLOWED_DEMUXERS: &[&str] = &[
    "mov",
    "mp4",
    "m4a",
    "3gp",
    "3g2",
    "mj2",
    "matroska",
    "webm",
    "avi",
    "flv",
    "mpegts",
    "mpeg",
    "mp3",
    "wav",
    "ogg",
    "flac",
    "aac",
    "asf",
    "gif",
    "image2",
    "png_pipe",
    "jpeg_pipe",
    "webp_pipe",
    "bmp_pipe",
    "tiff_pipe",
    "mjpeg",
    "h264",
    "hevc",
    "rawvideo",
    "s16le",
    "f32le",
    "aiff",
    "amr",
    "m4v",
    "ivf",
    "wv",
    "ape",
    "dv",
    "mxf",
    "nut",
    "yuv4mpegpipe",
    "w64",
    "caf",
    "ac3",
    "eac3",
    "dts",
    "truehd",
    "srt",
    "ass",
    "webvtt",
];

/// Muxers allowed for outputs (`-f` before an output, `-segment_format`). Each writes the named
/// output, and segmenting ones also files named from it or from options this policy checks. Left
/// out on purpose: `tee` and `fifo` (they open further outputs named inside their argument),
/// network muxers (`rtp`, `rtsp`, `sap`), devices (`alsa`, `fbdev`, `sdl`, ...) and `webm_chunk`
/// (its `-header` file is not checked).
const ALLOWED_MUXERS: &[&str] = &[
    "mp4",
    "mov",
    "ipod",
    "ismv",
    "3gp",
    "3g2",
    "psp",
    "f4v",
    "matroska",
    "webm",
    "avi",
    "flv",
    "mpegts",
    "mpeg",
    "vob",
    "dvd",
    "mp3",
    "mp2",
    "wav",
    "w64",
    "ogg",
    "oga",
    "ogv",
    "opus",
    "spx",
    "flac",
    "adts",
    "latm",
    "ac3",
    "eac3",
    "dts",
    "truehd",
    "aiff",
    "caf",
    "amr",
    "wv",
    "mxf",
    "nut",
    "yuv4mpegpipe",
    "gif",
    "apng",
    "webp",
    "image2",
    "mjpeg",
    "h264",
    "hevc",
    "obu",
    "ivf",
    "m4v",
    "rawvideo",
    "s16le",
    "f32le",
    "hls",
    "dash",
    "segment",
    "ssegment",
    "stream_segment",
    "null",
    "srt",
    "ass",
    "webvtt",
    "ffmetadata",
    "md5",
    "framemd5",
    "crc",
    "framecrc",
    "hash",
    "framehash",
];

/// ffmpeg's protocols (rule: a value that starts with `NAME:` for one of these is a URL to ffmpeg).
const PROTOCOLS: &[&str] = &[
    "async",
    "bluray",
    "cache",
    "concat",
    "concatf",
    "crypto",
    "data",
    "fd",
    "ffrtmpcrypt",
    "ffrtmphttp",
    "file",
    "ftp",
    "gopher",
    "gophers",
    "hls",
    "http",
    "httpproxy",
    "https",
    "icecast",
    "ipfs",
    "ipns",
    "librtmp",
    "md5",
    "mmsh",
    "mmst",
    "pipe",
    "prompeg",
    "rist",
    "rtmp",
    "rtmpe",
    "rtmps",
    "rtmpt",
    "rtmpte",
    "rtmpts",
    "rtp",
    "sctp",
    "srt",
    "srtp",
    "subfile",
    "tcp",
    "tee",
    "tls",
    "udp",
    "udplite",
    "unix",
    "zmq",
    "smb",
    "sftp",
    "libssh",
    "libsmbclient",
    "amqp",
];

/// Options every command starts with; the caller adds `-progress` and the log level.
const HOST_PREFIX: [&str; 3] = ["-hide_banner", "-nostdin", "-y"];
const MAX_ARGS: usize = 1000;
const MAX_ARG_BYTES: usize = 16384;
/// How much of a refused argument a refusal repeats.
const SHOWN_CHARS: usize = 200;

/// ffmpeg's boolean options, which take no value and also have a `-noNAME` form. Every other
/// option takes exactly one value. This table decides which argument ffmpeg reads as a value and
/// which as an output file, so it lists every boolean of ffmpeg 5 to 8 that means the same in all
/// of them, including ones refused further on.
const FLAG_OPTIONS: &[&str] = &[
    "y",
    "n",
    "an",
    "vn",
    "sn",
    "dn",
    "shortest",
    "copyts",
    "start_at_zero",
    "accurate_seek",
    "re",
    "hide_banner",
    "stdin",
    "benchmark",
    "benchmark_all",
    "ignore_unknown",
    "copy_unknown",
    "recast_media",
    "bitexact",
    "xerror",
    "copyinkf",
    "fix_sub_duration",
    "find_stream_info",
    "force_fps",
    "auto_conversion_filters",
    "print_graphs",
    "stats",
    "report",
    "dump",
    "hex",
    "debug_ts",
    "vstats",
    "psnr",
    "qphist",
];

/// Booleans in ffmpeg 7 that earlier versions read with a value (ffmpeg 5.1 takes
/// `-autorotate X` as `autorotate=X`), or whose parsing we could not confirm for every version. Read
/// the wrong way, the argument after them would escape the output checks, so only their `-noNAME`
/// form, which every version parses alike, is accepted.
const VERSION_DEPENDENT_FLAGS: &[&str] =
    &["autorotate", "autoscale", "display_hflip", "display_vflip", "fix_sub_duration_heartbeat"];

/// Options the host sets itself (logging, progress, overwriting, whitelists, limits).
const HOST_OWNED_OPTIONS: &[&str] = &[
    "progress",
    "stats",
    "stats_period",
    "loglevel",
    "v",
    "report",
    "protocol_whitelist",
    "protocol_blacklist",
    "format_whitelist",
    "codec_whitelist",
    "safe",
    "stdin",
    "y",
    "n",
    "hide_banner",
    "filter_threads",
    "filter_complex_threads",
    "timelimit",
];

const READS_HOST_FILES: &str = "reads or writes host files";
const USES_HARDWARE: &str = "uses host hardware devices";
const USES_NETWORK: &str = "configures network access or decryption";
const WRITES_DEBUG: &str = "writes debugging output";

/// Options refused outright, with why. `enable_drefs` and `use_absolute_path` let the `mov`
/// demuxer follow references inside untrusted media to any file on the host.
const REFUSED_OPTIONS: &[(&str, &str)] = &[
    ("filter_script", READS_HOST_FILES),
    ("filter_complex_script", READS_HOST_FILES),
    ("attach", READS_HOST_FILES),
    ("dump_attachment", READS_HOST_FILES),
    ("vstats", READS_HOST_FILES),
    ("vstats_file", READS_HOST_FILES),
    ("sdp_file", READS_HOST_FILES),
    ("pre", READS_HOST_FILES),
    ("fpre", READS_HOST_FILES),
    ("vpre", READS_HOST_FILES),
    ("apre", READS_HOST_FILES),
    ("spre", READS_HOST_FILES),
    ("stats_enc_pre", READS_HOST_FILES),
    ("stats_enc_post", READS_HOST_FILES),
    ("stats_mux_pre", READS_HOST_FILES),
    ("print_graphs_file", READS_HOST_FILES),
    ("hls_key_info_file", READS_HOST_FILES),
    ("enable_drefs", READS_HOST_FILES),
    ("use_absolute_path", READS_HOST_FILES),
    ("init_hw_device", USES_HARDWARE),
    ("filter_hw_device", USES_HARDWARE),
    ("hwaccel", USES_HARDWARE),
    ("hwaccel_device", USES_HARDWARE),
    ("hwaccel_output_format", USES_HARDWARE),
    ("vaapi_device", USES_HARDWARE),
    ("qsv_device", USES_HARDWARE),
    ("sources", USES_HARDWARE),
    ("sinks", USES_HARDWARE),
    ("cookies", USES_NETWORK),
    ("headers", USES_NETWORK),
    ("user_agent", USES_NETWORK),
    ("http_proxy", USES_NETWORK),
    ("key", USES_NETWORK),
    ("iv", USES_NETWORK),
    ("decryption_key", USES_NETWORK),
    ("cryptokey", USES_NETWORK),
    ("dump", WRITES_DEBUG),
    ("debug_ts", WRITES_DEBUG),
];

/// Filters refused outright: they load code or models, talk to the network, or read files through
/// options we cannot confine.
const REFUSED_FILTERS: &[&str] = &[
    "zmq",
    "azmq",
    "ladspa",
    "lv2",
    "frei0r",
    "frei0r_src",
    "sr",
    "derain",
    "ocr",
    "coreimage",
    "coreimagesrc",
    "openclsrc",
    "program_opencl",
    "asr",
];

/// How a filter uses the file one of its options names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Reads an existing workspace file.
    Read,
    /// Writes a file, which must lie where the step may write.
    Write,
    /// Reads a directory (fonts); only its path can be checked.
    Dir,
}

/// A filter with options that name files.
struct FileFilter {
    names: &'static [&'static str],
    /// The filter's options in the order ffmpeg gives them unnamed arguments, as far as we know it;
    /// an unnamed argument past the end of this list is refused, since it could be a file option.
    positional: &'static [&'static str],
    /// The options (aliases included) that name files.
    files: &'static [(&'static str, Access)],
}

const FILE_FILTERS: &[FileFilter] = &[
    FileFilter {
        names: &["movie", "amovie"],
        positional: &["filename", "format_name"],
        files: &[("filename", Access::Read)],
    },
    FileFilter {
        names: &["subtitles", "ass"],
        positional: &["filename"],
        files: &[("filename", Access::Read), ("f", Access::Read), ("fontsdir", Access::Dir)],
    },
    FileFilter {
        names: &["drawtext"],
        positional: &["fontfile", "text", "textfile"],
        files: &[("fontfile", Access::Read), ("textfile", Access::Read)],
    },
    FileFilter { names: &["lut3d", "lut1d"], positional: &["file"], files: &[("file", Access::Read)] },
    FileFilter {
        names: &["sendcmd", "asendcmd"],
        positional: &["commands", "filename"],
        files: &[("filename", Access::Read), ("f", Access::Read)],
    },
    FileFilter { names: &["cover_rect"], positional: &["cover"], files: &[("cover", Access::Read)] },
    FileFilter { names: &["find_rect"], positional: &["object"], files: &[("object", Access::Read)] },
    FileFilter {
        names: &["removelogo"],
        positional: &["filename"],
        files: &[("filename", Access::Read), ("f", Access::Read), ("m", Access::Read)],
    },
    FileFilter { names: &["vidstabdetect"], positional: &["result"], files: &[("result", Access::Write)] },
    FileFilter { names: &["vidstabtransform"], positional: &["input"], files: &[("input", Access::Read)] },
    FileFilter {
        names: &["signature"],
        positional: &["detectmode", "nb_inputs", "filename"],
        files: &[("filename", Access::Write)],
    },
    FileFilter {
        names: &["psnr", "ssim", "ssim360", "xpsnr", "vmafmotion"],
        positional: &["stats_file"],
        files: &[("stats_file", Access::Write), ("f", Access::Write)],
    },
    // ffmpeg 5 gives libvmaf's first unnamed argument to `model_path`, ffmpeg 6+ to `log_path`;
    // checking it as a write keeps it inside the step's output either way.
    FileFilter {
        names: &["libvmaf"],
        positional: &["log_path"],
        files: &[("log_path", Access::Write), ("model_path", Access::Read)],
    },
    FileFilter { names: &["deshake"], positional: &[], files: &[("filename", Access::Write)] },
    FileFilter {
        names: &["metadata", "ametadata"],
        positional: &["mode", "key", "value", "function", "expr", "file"],
        files: &[("file", Access::Write)],
    },
    FileFilter {
        names: &["curves"],
        positional: &["preset"],
        files: &[("psfile", Access::Read), ("plot", Access::Write)],
    },
    FileFilter {
        names: &["selectivecolor"],
        positional: &["correction_method"],
        files: &[("psfile", Access::Read)],
    },
    FileFilter {
        names: &["showcqt"],
        positional: &["size"],
        files: &[("fontfile", Access::Read), ("axisfile", Access::Read)],
    },
    FileFilter {
        names: &["qrencode", "qrencodesrc", "flite"],
        positional: &[],
        files: &[("textfile", Access::Read)],
    },
    FileFilter {
        names: &["fsync"],
        positional: &["file"],
        files: &[("file", Access::Read), ("f", Access::Read)],
    },
    FileFilter {
        names: &["arnndn"],
        positional: &["model"],
        files: &[("model", Access::Read), ("m", Access::Read)],
    },
    FileFilter { names: &["sofalizer"], positional: &["sofa"], files: &[("sofa", Access::Read)] },
    FileFilter {
        names: &["firequalizer"],
        positional: &["gain", "gain_entry"],
        files: &[("dumpfile", Access::Write)],
    },
    FileFilter { names: &["libplacebo"], positional: &[], files: &[("custom_shader_path", Access::Read)] },
    FileFilter { names: &["drawvg"], positional: &[], files: &[("file", Access::Read)] },
    FileFilter {
        names: &["whisper"],
        positional: &[],
        files: &[("model", Access::Read), ("vad_model", Access::Read), ("destination", Access::Write)],
    },
];

/// Validates a guest's ffmpeg arguments and returns the argv to run, or why it is refused.
pub fn check_ffmpeg_args(args: &[String], ws: &dyn WorkspaceView) -> Result<CheckedArgs, Refusal> {
    check_limits(args)?;
    let mut walk = Walk::new(ws);
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if !is_option(arg) {
            walk.output(arg)?;
            continue;
        }
        match classify_option(arg)? {
            OptionKind::Flag => walk.checked.args.push(arg.clone()),
            OptionKind::Takes(kind) => {
                let value =
                    args.next().ok_or_else(|| Refusal::new(arg, format!("option `{arg}` needs a value")))?;
                walk.option(arg, kind, value)?;
            }
        }
    }
    walk.finish()
}

/// For ffprobe/probe calls: validate one path the guest names. Same rules as an `-i` value.
pub fn check_input_path(path: &str, ws: &dyn WorkspaceView) -> Result<(), Refusal> {
    check_relative_path(path)?;
    if input_exists(path, ws) {
        Ok(())
    } else {
        Err(Refusal::new(path, format!("input `{path}` is not a file in the workspace")))
    }
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

/// How ffmpeg parses an option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OptionKind {
    Flag,
    Takes(ValueKind),
}

/// How the policy checks an option's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValueKind {
    /// `-i`: a workspace file, pinned to the `file` protocol and the allowed demuxers.
    Input,
    /// `-f`: a demuxer or muxer, depending on whether an input or an output follows.
    Format,
    /// A filter graph, parsed to find filters that open files.
    FilterGraph,
    /// Free text such as metadata, where paths and URLs are normal words.
    FreeText,
    /// A muxer option naming a file written relative to the workspace.
    OutputPath,
    /// A muxer option naming the muxer that writes segments.
    Muxer,
    /// Any other value: it must not embed absolute paths, `..` or URLs.
    Generic,
}

/// Decides how ffmpeg will parse `option` and refuses options the guest may not use.
fn classify_option(option: &str) -> Result<OptionKind, Refusal> {
    let name = &option[1..];
    if name.starts_with('/') {
        // ffmpeg 7's `-/OPTION FILE` reads the option's value from a file.
        return Err(Refusal::new(option, format!("option `{option}` {READS_HOST_FILES} and is not allowed")));
    }
    if name == "-" {
        return Err(Refusal::new(option, "`--` is not allowed"));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(Refusal::new(
            option,
            format!("`{option}` is not an option; values must follow their option"),
        ));
    }
    // `-c:v` is `-c` for video streams; ffmpeg looks options up without the stream specifier.
    let base = name.split(':').next().unwrap_or(name);
    let negated = base.strip_prefix("no").filter(|flag| is_flag(flag));
    let base = negated.unwrap_or(base);
    if HOST_OWNED_OPTIONS.contains(&base) {
        return Err(Refusal::new(option, format!("the host sets `{option}` itself")));
    }
    if let Some((_, why)) = REFUSED_OPTIONS.iter().find(|(refused, _)| *refused == base) {
        return Err(Refusal::new(option, format!("option `{option}` {why} and is not allowed")));
    }
    if VERSION_DEPENDENT_FLAGS.contains(&base) && negated.is_none() {
        return Err(Refusal::new(
            option,
            format!("ffmpeg versions read `{option}` differently; use `-no{base}` or leave it out"),
        ));
    }
    if is_flag(base) {
        return Ok(OptionKind::Flag);
    }
    Ok(OptionKind::Takes(value_kind(base)))
}

fn is_flag(name: &str) -> bool {
    FLAG_OPTIONS.contains(&name) || VERSION_DEPENDENT_FLAGS.contains(&name)
}

/// How to check the value of the value-taking option `base` (its name without `-` and stream
/// specifier).
fn value_kind(base: &str) -> ValueKind {
    match base {
        "i" => ValueKind::Input,
        "f" => ValueKind::Format,
        "vf" | "af" | "filter" | "filter_complex" | "lavfi" => ValueKind::FilterGraph,
        "var_stream_map" | "force_key_frames" => ValueKind::FreeText,
        _ if base.starts_with("metadata") => ValueKind::FreeText,
        "hls_segment_filename"
        | "hls_subtitle_path"
        | "segment_list"
        | "segment_header_filename"
        | "passlogfile" => ValueKind::OutputPath,
        "segment_format" => ValueKind::Muxer,
        _ => ValueKind::Generic,
    }
}

/// The walk over the arguments, building the checked command as it goes.
struct Walk<'a> {
    ws: &'a dyn WorkspaceView,
    checked: CheckedArgs,
    /// `-f` values seen since the last input or output: they apply to whichever comes next.
    formats: Vec<String>,
}

impl<'a> Walk<'a> {
    fn new(ws: &'a dyn WorkspaceView) -> Self {
        let args = HOST_PREFIX.iter().map(|arg| arg.to_string()).collect();
        Walk {
            ws,
            checked: CheckedArgs { args, inputs: Vec::new(), outputs: Vec::new() },
            formats: Vec::new(),
        }
    }

    fn option(&mut self, option: &str, kind: ValueKind, value: &str) -> Result<(), Refusal> {
        // No option takes `-i` as its value; if ffmpeg ever parsed an option differently from
        // our tables, this keeps an input from slipping past the whitelists as a "value".
        if value == "-i" {
            return Err(Refusal::new(value, format!("`-i` cannot be the value of `{option}`")));
        }
        let refuse = |reason: String| Refusal::new(value, reason);
        match kind {
            ValueKind::Input => return self.input(option, value),
            ValueKind::Format => self.formats.push(value.to_owned()),
            ValueKind::FilterGraph => check_filter_graph(value, self.ws).map_err(refuse)?,
            ValueKind::FreeText => check_no_newline(value).map_err(refuse)?,
            ValueKind::OutputPath => check_output_path(value, self.ws).map_err(refuse)?,
            ValueKind::Muxer => check_muxer(value).map_err(refuse)?,
            ValueKind::Generic => check_value(value).map_err(refuse)?,
        }
        self.checked.args.extend([option.to_owned(), value.to_owned()]);
        Ok(())
    }

    /// An `-i`: its `-f`, its path, then the whitelists inserted just before it so that they win
    /// over anything the guest set for this input.
    fn input(&mut self, option: &str, path: &str) -> Result<(), Refusal> {
        for format in self.formats.drain(..) {
            check_demuxer(&format).map_err(|reason| Refusal::new(&format, reason))?;
        }
        check_input_path(path, self.ws)?;
        let whitelist = ALLOWED_DEMUXERS.join(",");
        let safety = ["-protocol_whitelist", "file", "-format_whitelist", whitelist.as_str()];
        self.checked.args.extend(safety.map(String::from));
        self.checked.args.extend([option.to_owned(), path.to_owned()]);
        self.checked.inputs.push(path.to_owned());
        Ok(())
    }

    /// A positional argument, which ffmpeg opens as an output file.
    fn output(&mut self, path: &str) -> Result<(), Refusal> {
        self.check_output_formats()?;
        check_output_path(path, self.ws).map_err(|reason| Refusal::new(path, reason))?;
        self.checked.args.push(path.to_owned());
        self.checked.outputs.push(path.to_owned());
        Ok(())
    }

    /// `-f` options left after the last file are ignored by ffmpeg, but are checked as output
    /// formats anyway rather than trusted.
    fn finish(mut self) -> Result<CheckedArgs, Refusal> {
        self.check_output_formats()?;
        Ok(self.checked)
    }

    fn check_output_formats(&mut self) -> Result<(), Refusal> {
        for format in self.formats.drain(..) {
            check_muxer(&format).map_err(|reason| Refusal::new(&format, reason))?;
        }
        Ok(())
    }
}

fn check_demuxer(format: &str) -> Result<(), String> {
    if ALLOWED_DEMUXERS.contains(&format) {
        Ok(())
    } else {
        Err(format!("input format `{format}` is not allowed"))
    }
}

fn check_muxer(format: &str) -> Result<(), String> {
    if ALLOWED_MUXERS.contains(&format) {
        Ok(())
    } else {
        Err(format!("output format `{format}` is not allowed"))
    }
}

/// The checks every path the guest names must pass, whether it is read or written: relative,
/// inside the workspace, and a plain file name rather than a URL or a stream. Existence and
/// writability are the caller's to check.
pub fn check_relative_path(path: &str) -> Result<(), Refusal> {
    check_path(path).map_err(|reason| Refusal::new(path, reason))
}

/// [`check_relative_path`], giving only the reason.
fn check_path(path: &str) -> Result<(), String> {
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
    if has_parent_component(path) {
        return Err("`..` is not allowed in paths".into());
    }
    Ok(())
}

/// Absolute in any way a user might mean it: `/x`, `~/x` or a Windows drive like `C:x`.
fn is_absolute(path: &str) -> bool {
    let bytes = path.as_bytes();
    path.starts_with(['/', '~']) || (bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':')
}

fn has_parent_component(path: &str) -> bool {
    path.split('/').any(|component| component == "..")
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

/// A path that must be readable: safe, and an existing workspace file (or the first frame of an
/// image-sequence pattern).
fn input_exists(path: &str, ws: &dyn WorkspaceView) -> bool {
    ws.is_readable_file(path) || first_frame_names(path).iter().any(|frame| ws.is_readable_file(frame))
}

/// The files an image-sequence pattern like `in/x/%03d.png` starts with (numbers 0 and 1, padded
/// as ffmpeg pads them), or none when `pattern` has no `%d`.
fn first_frame_names(pattern: &str) -> Vec<String> {
    let mut prefix = String::new();
    let mut rest = pattern;
    while let Some(at) = rest.find('%') {
        prefix.push_str(&rest[..at]);
        let spec = &rest[at + 1..];
        if let Some(after) = spec.strip_prefix('%') {
            prefix.push('%');
            rest = after;
            continue;
        }
        let digits = spec.bytes().take_while(u8::is_ascii_digit).count();
        if spec.as_bytes().get(digits) != Some(&b'd') {
            return Vec::new();
        }
        let width = match spec[..digits].parse::<usize>() {
            Ok(width) if width <= 32 => width,
            Err(_) if digits == 0 => 0,
            _ => return Vec::new(),
        };
        let suffix = spec[digits + 1..].replace("%%", "%");
        return (0..2).map(|number| format!("{prefix}{number:0width$}{suffix}")).collect();
    }
    Vec::new()
}

/// A path ffmpeg writes: safe, and where the step may write.
fn check_output_path(path: &str, ws: &dyn WorkspaceView) -> Result<(), String> {
    check_path(path)?;
    if ws.is_writable_output(path) {
        Ok(())
    } else {
        Err("outputs must be paths from workspace.reserve-output".into())
    }
}

/// A value that is not itself a path but may embed one, here or in a nested `key=value|…` list
/// (dictionary options, encoder parameters such as `-x264-params stats=/tmp/x`).
fn check_embedded_paths(value: &str) -> Result<(), String> {
    for part in value.split(['=', '|']).map(str::trim_start) {
        if part.starts_with('/') {
            return Err("absolute paths are not allowed".into());
        }
        if has_protocol(part) {
            return Err("URLs and protocol prefixes are not allowed".into());
        }
        if has_parent_component(part) {
            return Err("`..` is not allowed in paths".into());
        }
    }
    Ok(())
}

fn check_no_newline(value: &str) -> Result<(), String> {
    if value.contains(['\n', '\r']) {
        Err("newlines are not allowed in option values".into())
    } else {
        Ok(())
    }
}

/// The value of an option this policy does not know in detail.
fn check_value(value: &str) -> Result<(), String> {
    check_no_newline(value)?;
    check_embedded_paths(value)
}

/// One filter of a parsed graph: its name (with any `@instance`) and argument text, unescaped
/// once as ffmpeg's graph parser does.
#[derive(Debug, PartialEq, Eq)]
struct FilterCall {
    name: String,
    args: Option<String>,
}

/// One argument of a filter, unescaped a second time as ffmpeg's option parser does.
#[derive(Debug, PartialEq, Eq)]
struct FilterArg {
    key: Option<String>,
    value: String,
}

/// Parses and checks a filter graph (`-vf`, `-af`, `-filter`, `-filter_complex`, `-lavfi`).
fn check_filter_graph(graph: &str, ws: &dyn WorkspaceView) -> Result<(), String> {
    for filter in parse_graph(graph)? {
        check_filter(&filter, ws)?;
    }
    Ok(())
}

const WHITESPACE: &[u8] = b" \n\t\r";

fn skip_whitespace(input: &[u8]) -> &[u8] {
    let skipped = input.iter().take_while(|&b| WHITESPACE.contains(b)).count();
    &input[skipped..]
}

/// ffmpeg's `av_get_token`: reads up to an unquoted, unescaped byte of `terminators`, removing
/// `\` escapes and `'…'` quotes and trimming unprotected whitespace at both ends. Mirroring it
/// exactly is what makes `movie=\/etc\/passwd` and `movie='/etc/passwd'` visible as `/etc/passwd`.
fn get_token<'a>(input: &'a [u8], terminators: &[u8]) -> (String, &'a [u8]) {
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
    (String::from_utf8_lossy(&token).into_owned(), rest)
}

/// Splits a graph into filters the way libavfilter's graph parser does: an optional leading
/// `sws_flags=…;`, then chains separated by `;` of filters separated by `,`, each
/// `[in]…name=args[out]…`. Anything it cannot parse is refused (ffmpeg would fail on it too).
fn parse_graph(graph: &str) -> Result<Vec<FilterCall>, String> {
    let mut rest = skip_whitespace(graph.as_bytes());
    if let Some(flags) = rest.strip_prefix(b"sws_flags=") {
        let end = flags.iter().position(|&b| b == b';').ok_or("`sws_flags=` must end with `;`")?;
        // ffmpeg appends these to every `scale` filter's arguments.
        check_embedded_paths(&String::from_utf8_lossy(&flags[..end]))?;
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
                Some(args)
            }
            None => None,
        };
        rest = skip_whitespace(skip_labels(rest)?);
        filters.push(FilterCall { name, args });
        match rest.split_first() {
            None => return Ok(filters),
            Some((b',' | b';', after)) => rest = after,
            Some(_) => {
                let unparsed = String::from_utf8_lossy(rest);
                return Err(format!("the filter graph cannot be parsed near `{unparsed}`"));
            }
        }
    }
}

/// Skips link labels like `[0:v]` or `[out]`, and the whitespace after each.
fn skip_labels(mut rest: &[u8]) -> Result<&[u8], String> {
    while let Some(after_open) = rest.strip_prefix(b"[") {
        let (label, after_label) = get_token(after_open, b"]");
        let after_close = after_label.strip_prefix(b"]").ok_or("a `[` in the filter graph is not closed")?;
        if label.is_empty() {
            return Err("the filter graph has an empty `[]` label".into());
        }
        rest = skip_whitespace(after_close);
    }
    Ok(rest)
}

/// Checks one filter: refused filters, file-loading option names, the files named by file
/// filters, and finally every argument value for embedded paths and URLs, whatever the filter.
fn check_filter(filter: &FilterCall, ws: &dyn WorkspaceView) -> Result<(), String> {
    let name = filter.name.split('@').next().unwrap_or_default();
    if name.is_empty() {
        return Err("a filter name is missing in the filter graph".into());
    }
    if REFUSED_FILTERS.contains(&name) || name.starts_with("dnn_") {
        return Err(format!("filter `{name}` is not allowed"));
    }
    let args = parse_filter_args(name, filter.args.as_deref().unwrap_or_default())?;
    if let Some(key) = args.iter().filter_map(|arg| arg.key.as_deref()).find(|key| key.starts_with('/')) {
        // ffmpeg 7 reads the value of `/OPTION=FILE` from FILE.
        return Err(format!("filter option `{key}` loads a file and is not allowed"));
    }
    if let Some(spec) = FILE_FILTERS.iter().find(|spec| spec.names.contains(&name)) {
        let options = resolve_options(name, spec, &args)?;
        check_filter_files(name, spec, &options, ws)?;
        if matches!(name, "movie" | "amovie") {
            check_movie_format(name, &options)?;
        }
    }
    args.iter().try_for_each(|arg| check_embedded_paths(&arg.value))
}

/// Splits a filter's argument text into `key=value` and unnamed arguments, as ffmpeg's filter
/// option parser does (`:` separated, each value unescaped with `av_get_token`).
fn parse_filter_args(filter: &str, args: &str) -> Result<Vec<FilterArg>, String> {
    let mut parsed: Vec<FilterArg> = Vec::new();
    let mut rest = args.as_bytes();
    while !rest.is_empty() {
        let (key, after_key) = match parse_key(rest) {
            Some((key, after_key)) => (Some(key), after_key),
            None => (None, rest),
        };
        if key.is_none() && parsed.iter().any(|arg| arg.key.is_some()) {
            // ffmpeg 7 rejects this; ffmpeg 5 hands the value to the filter's first option.
            return Err(format!("filter `{filter}`: unnamed arguments must come before named ones"));
        }
        let (value, after_value) = get_token(after_key, b":");
        parsed.push(FilterArg { key, value });
        rest = after_value.strip_prefix(b":").unwrap_or(after_value);
    }
    Ok(parsed)
}

/// ffmpeg's `get_key`: optional whitespace, a run of key characters, optional whitespace, `=`.
fn parse_key(input: &[u8]) -> Option<(String, &[u8])> {
    let start = skip_whitespace(input);
    let len = start.iter().take_while(|&&b| b.is_ascii_alphanumeric() || b"-_/.".contains(&b)).count();
    let after_equals = skip_whitespace(&start[len..]).strip_prefix(b"=")?;
    Some((String::from_utf8_lossy(&start[..len]).into_owned(), after_equals))
}

/// Names each argument of a file filter by the option it sets, refusing unnamed arguments whose
/// option we cannot be sure of.
fn resolve_options<'a>(
    filter: &str,
    spec: &FileFilter,
    args: &'a [FilterArg],
) -> Result<Vec<(&'a str, &'a str)>, String> {
    args.iter()
        .enumerate()
        .map(|(index, arg)| {
            let option = match &arg.key {
                Some(key) => key.as_str(),
                // Unnamed arguments come first, so `index` is their position.
                None => spec.positional.get(index).copied().ok_or_else(|| {
                    format!("filter `{filter}` needs named arguments (`key=value`) here: they may name files")
                })?,
            };
            Ok((option, arg.value.as_str()))
        })
        .collect()
}

/// Every file a file filter names must be a workspace file it may read or a path it may write.
fn check_filter_files(
    filter: &str,
    spec: &FileFilter,
    options: &[(&str, &str)],
    ws: &dyn WorkspaceView,
) -> Result<(), String> {
    for (option, value) in options {
        let Some((_, access)) = spec.files.iter().find(|(file_option, _)| file_option == option) else {
            continue;
        };
        let safe = check_path(value).is_ok();
        let allowed = match access {
            Access::Read => safe && input_exists(value, ws),
            Access::Dir => safe,
            Access::Write => safe && ws.is_writable_output(value),
        };
        if !allowed {
            return Err(match access {
                Access::Read | Access::Dir => {
                    format!("filter `{filter}` may only read files in the workspace")
                }
                Access::Write => {
                    format!("filter `{filter}` may only write to paths from workspace.reserve-output")
                }
            });
        }
    }
    Ok(())
}

/// `movie` opens its file without the host's whitelists, so left to probe it could pick a
/// playlist demuxer (`hls`, `concat`, `sdp`) from untrusted file content and read host files or
/// the network. It must name one of the allowed input formats instead, and may not pass demuxer
/// options of its own.
fn check_movie_format(filter: &str, options: &[(&str, &str)]) -> Result<(), String> {
    if options.iter().any(|(option, _)| *option == "format_opts") {
        return Err(format!("filter `{filter}` may not set `format_opts`"));
    }
    let format = options
        .iter()
        .find(|(option, _)| matches!(*option, "format_name" | "f"))
        .map(|(_, format)| *format)
        .ok_or_else(|| {
            format!("filter `{filter}` must name its input format with `f=` (an allowed input format)")
        })?;
    check_demuxer(format)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// Readable: a fixed set of files; writable: anything under `out/step/`.
    struct FakeWorkspace {
        readable: HashSet<&'static str>,
    }

    impl WorkspaceView for FakeWorkspace {
        fn is_readable_file(&self, relative: &str) -> bool {
            self.readable.contains(relative)
        }
        fn is_writable_output(&self, relative: &str) -> bool {
            relative.starts_with("out/step/")
        }
    }

    fn workspace() -> FakeWorkspace {
        let readable = ["in/a/clip.mp4", "in/b/clip.mp4", "in/a/song.mp3", "in/a/subs.srt", "in/a/logo.png"];
        let readable = readable.into_iter().chain(["in/a/font.ttf", "in/seq/001.png"]).collect();
        FakeWorkspace { readable }
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
    fn argv_splits_like_the_tests_expect() {
        assert_eq!(argv(r#"-a "b c" "" d"#), ["-a", "b c", "", "d"]);
    }

    #[test]
    fn thumbnail_command_is_allowed_with_the_host_options_inserted() {
        let command =
            "-ss 1.5 -i in/a/clip.mp4 -vf fps=1/2.5,scale=320:-2 -frames:v 8 -q:v 3 out/step/clip_%02d.jpg";
        let checked = assert_allowed(command);
        assert_eq!(checked.args, expected_args(command));
        assert_eq!(
            checked.args[..6],
            ["-hide_banner", "-nostdin", "-y", "-ss", "1.5", "-protocol_whitelist"]
        );
        assert_eq!(checked.inputs, ["in/a/clip.mp4"]);
        assert_eq!(checked.outputs, ["out/step/clip_%02d.jpg"]);
    }

    #[test]
    fn h264_encode_is_allowed() {
        let command = "-i in/a/clip.mp4 -map 0:v:0 -map 0:a:0? -c:v libx264 -preset veryfast -crf 23 \
                       -vf scale=-2:720 -c:a aac -b:a 128k -movflags +faststart out/step/clip.mp4";
        let checked = assert_allowed(command);
        assert_eq!(checked.args, expected_args(command));
        assert_eq!(checked.outputs, ["out/step/clip.mp4"]);
    }

    #[test]
    fn hls_ladder_is_allowed() {
        let checked = assert_allowed(
            r#"-i in/a/clip.mp4 -filter_complex "[0:v]split=2[a][b];[a]scale=-2:720[v1];[b]scale=-2:360[v2]" \
               -map [v1] -map 0:a:0 -map [v2] -map 0:a:0 -c:v libx264 -c:a aac -f hls -hls_time 4 \
               -hls_playlist_type vod -var_stream_map "v:0,a:0 v:1,a:1" -master_pl_name master.m3u8 \
               -hls_segment_filename out/step/v%v/seg_%03d.ts -force_key_frames expr:gte(t,n_forced*2) \
               out/step/v%v/index.m3u8"#
                .replace("\\\n", " ")
                .as_str(),
        );
        assert_eq!(checked.inputs, ["in/a/clip.mp4"]);
        assert_eq!(checked.outputs, ["out/step/v%v/index.m3u8"]);
        assert!(checked.args.contains(&"v:0,a:0 v:1,a:1".to_string()));
    }

    #[test]
    fn waveform_is_allowed() {
        let command = "-i in/a/song.mp3 -filter_complex showwavespic=s=1200x240:colors=#3b82f6 -frames:v 1 \
                       out/step/wave.png";
        assert_eq!(assert_allowed(command).args, expected_args(command));
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
    fn image_sequence_inputs_are_found_by_their_first_frame() {
        let checked = assert_allowed("-f image2 -i in/seq/%03d.png out/step/seq.mp4");
        assert_eq!(checked.inputs, ["in/seq/%03d.png"]);
        assert_refused("-i in/other/%03d.png out/step/x.mp4", "in/other/%03d.png", "is not a file");
        assert_eq!(first_frame_names("a/%d_%%.png"), ["a/0_%.png", "a/1_%.png"]);
        assert_eq!(first_frame_names("a/100%%/x%2d.png"), ["a/100%/x00.png", "a/100%/x01.png"]);
        assert!(first_frame_names("a/%s.png").is_empty());
        assert!(first_frame_names("a/%999d.png").is_empty());
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
        assert_eq!(check_input_path("in/seq/%03d.png", &ws), Ok(()));
        let refusal = check_input_path("/etc/passwd", &ws).unwrap_err();
        assert_eq!(refusal.to_string(), "argument `/etc/passwd` refused: absolute paths are not allowed");
        assert!(check_input_path("http://x/a.mp4", &ws).is_err());
        assert!(check_input_path("out/step/missing.mp4", &ws).is_err());
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
    }

    #[test]
    fn output_formats_must_be_allowed_muxers() {
        assert_refused("-i in/a/clip.mp4 -f tee out/step/a.mp4|/tmp/b.mp4", "tee", "output format `tee`");
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
            "-i in/a/clip.mp4 in/a.mp4",
            "in/a.mp4",
            "outputs must be paths from workspace.reserve-output",
        );
        assert_refused("-i in/a/clip.mp4 out/step/../x.mp4", "out/step/../x.mp4", "`..`");
        assert_refused("-i in/a/clip.mp4 -", "-", "stdin/stdout are not allowed");
        assert_refused("-i in/a/clip.mp4 tcp://1.2.3.4:5", "tcp://1.2.3.4:5", "URLs");
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
            "-/vf",
            "-/filter_complex",
        ] {
            let reason = format!("option `{option}` reads or writes host files and is not allowed");
            assert_refused(&format!("{option} x"), option, &reason);
        }
        for option in ["-init_hw_device", "-hwaccel", "-hwaccel_device", "-filter_hw_device"] {
            assert_refused(&format!("{option} x"), option, "uses host hardware devices");
        }
        for option in ["-cookies", "-headers", "-user_agent", "-http_proxy", "-decryption_key"] {
            assert_refused(&format!("{option} x"), option, "configures network access or decryption");
        }
        assert_refused("-vstats", "-vstats", "reads or writes host files");
        assert_refused("-dump", "-dump", "writes debugging output");
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
        // A stream specifier does not hide an option's meaning.
        assert_refused("-i:0 /etc/passwd", "/etc/passwd", "absolute paths");
    }

    #[test]
    fn version_dependent_flags_are_accepted_only_negated() {
        assert_refused("-autorotate -i in/a/clip.mp4", "-autorotate", "use `-noautorotate` or leave it out");
        assert_refused("-autoscale:v 0 x", "-autoscale:v", "ffmpeg versions read `-autoscale:v` differently");
        let checked = assert_allowed("-noautorotate -i in/a/clip.mp4 -noautoscale out/step/x.mp4");
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
        assert_allowed("-i in/a/clip.mp4 -pass 1 -passlogfile out/step/log out/step/x.mp4");
    }

    #[test]
    fn generic_values_may_not_embed_paths_or_urls() {
        assert_refused("-x264-params stats=/tmp/x out/step/x.mp4", "stats=/tmp/x", "absolute paths");
        assert_refused("-x265-params a=1:csv=../x.csv out/step/x.mp4", "a=1:csv=../x.csv", "`..`");
        assert_refused("-hls_base_url https://cdn/ out/step/x.m3u8", "https://cdn/", "URLs");
        assert_refused("-segment_list x\ny out/step/x", r"x\ny", "control characters");
        assert_refused("-map 0\n out/step/x", r"0\n", "newlines are not allowed");
        assert_allowed(
            "-i in/a/clip.mp4 -x264-params keyint=48:min-keyint=48:scenecut=0 -aspect 16:9 -ss 00:00:01.5 \
             -r 30000/1001 out/step/x.mp4",
        );
    }

    #[test]
    fn free_text_options_take_urls_and_slashes() {
        let metadata = r#"-metadata "comment=see https://example.com/a/../b" -metadata:s:a:0 title=/x"#;
        assert_allowed(&format!("-i in/a/clip.mp4 {metadata} out/step/x.mp4"));
        assert_refused("-metadata title=a\nb out/step/x.mp4", r"title=a\nb", "newlines");
    }

    #[test]
    fn file_filters_may_only_read_workspace_files() {
        for graph in [
            "movie=/etc/passwd",
            "movie='/etc/passwd'",
            r"movie=\/etc\/passwd",
            r"movie=\'/etc/passwd\'",
            "movie=filename=/etc/passwd:f=mov",
        ] {
            assert_refused(
                &format!("-vf {graph}"),
                graph,
                "filter `movie` may only read files in the workspace",
            );
        }
        let graph = "movie=../x[m];[0:v][m]overlay";
        assert_refused(&format!("-filter_complex {graph}"), graph, "filter `movie` may only read files");
        assert_refused(
            "-vf subtitles=/etc/passwd",
            "subtitles=/etc/passwd",
            "filter `subtitles` may only read",
        );
        let graph = "subtitles=filename=../../x.srt";
        assert_refused(
            &format!("-vf {graph}"),
            graph,
            "filter `subtitles` may only read files in the workspace",
        );
        let graph = "drawtext=textfile=/etc/passwd:text=x";
        assert_refused(&format!("-vf {graph}"), graph, "filter `drawtext` may only read files");
        assert_refused(
            "-vf lut3d=in/a/missing.cube",
            "lut3d=in/a/missing.cube",
            "filter `lut3d` may only read",
        );
        assert_refused("-vf ass=f=in/nope.ass", "ass=f=in/nope.ass", "filter `ass` may only read");
        assert_refused("-vf psnr=f=in/a/log.txt", "psnr=f=in/a/log.txt", "filter `psnr` may only write");
        assert_refused("-vf deshake=4:4", "deshake=4:4", "filter `deshake` needs named arguments");
        assert_allowed("-i in/a/clip.mp4 -vf subtitles=in/a/subs.srt out/step/x.mp4");
        assert_allowed(
            r"-i in/a/clip.mp4 -vf drawtext=fontfile=in/a/font.ttf:text='Time\:%{pts}' \
              -lavfi ssim=stats_file=out/step/ssim.log out/step/x.mp4"
                .replace("\\\n", " ")
                .as_str(),
        );
    }

    #[test]
    fn movie_must_name_an_allowed_format() {
        let command =
            "-i in/a/clip.mp4 -filter_complex movie=in/a/logo.png:f=png_pipe[l];[0:v][l]overlay o.mp4";
        assert_allowed(&command.replace("o.mp4", "out/step/x.mp4"));
        assert_allowed("-filter_complex amovie=in/a/song.mp3:mp3 out/step/x.wav");
        let graph = "movie=in/a/logo.png[l];[0:v][l]overlay";
        assert_refused(
            &format!("-filter_complex {graph}"),
            graph,
            "filter `movie` must name its input format",
        );
        let graph = "movie=in/a/clip.mp4:f=hls";
        assert_refused(&format!("-filter_complex {graph}"), graph, "input format `hls` is not allowed");
        let graph = "movie=in/a/clip.mp4:f=mov:format_opts=enable_drefs=1";
        assert_refused(
            &format!("-filter_complex {graph}"),
            graph,
            "filter `movie` may not set `format_opts`",
        );
    }

    #[test]
    fn dangerous_filters_are_refused() {
        for (graph, name) in [
            ("zmq", "zmq"),
            ("azmq", "azmq"),
            ("ladspa=f=x", "ladspa"),
            ("dnn_processing=model=x", "dnn_processing"),
            ("frei0r=x", "frei0r"),
            ("sr", "sr"),
            ("[in]zmq@z[out]", "zmq"),
        ] {
            assert_refused(&format!("-vf {graph}"), graph, &format!("filter `{name}` is not allowed"));
        }
        let graph = "drawtext=/text=in/a/subs.srt";
        assert_refused(
            &format!("-vf {graph}"),
            graph,
            "filter option `/text` loads a file and is not allowed",
        );
    }

    #[test]
    fn every_filter_argument_is_checked_for_paths_and_urls() {
        assert_refused("-vf drawtext=text=/etc", "drawtext=text=/etc", "absolute paths");
        let graph = "sendcmd=c='0 drawtext reinit textfile=/etc/passwd'";
        assert_refused(&format!(r#"-vf "{graph}""#), graph, "absolute paths");
        assert_refused(r"-vf foo='http\://x'", r"foo='http\://x'", "URLs and protocol prefixes");
        assert_refused("-vf libvmaf=model='path=/m.json'", "libvmaf=model='path=/m.json'", "absolute paths");
        assert_refused("-vf sws_flags=flags=/x;scale=1:2", "sws_flags=flags=/x;scale=1:2", "absolute paths");
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
    }

    #[test]
    fn graph_parsing_unescapes_like_ffmpeg() {
        assert_eq!(
            parse_graph(r"[0:v]movie = 'a b'\:c [x];  amix@m").unwrap(),
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
}
