//! Shared helpers for the integration tests: generated media, ffprobe, and a host harness that
//! runs a component on files and returns the final status.

pub mod browser;
pub mod contract;
pub mod deployment;
pub mod dev_server;
pub mod lambda_runtime_api;
pub mod moto;
pub mod stack;

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use transflow_ffmpeg::SandboxSettings;
use transflow_ffmpeg::{MediaTools, ToolSettings};
use transflow_runtime::{
    AssemblyRequest, DirectorySink, EngineSettings, JobLimits, Runner, TemplateEngine, UploadSource,
};
use transflow_store::assembly::AssemblyStatus;

/// Media generated once per test binary with ffmpeg's lavfi sources.
#[derive(Debug)]
pub struct Media {
    _dir: tempfile::TempDir,
    /// 4 s, 640×360, 25 fps, H.264 + AAC sine.
    pub clip: PathBuf,
    /// 3 s, 48 kHz stereo WAV sine.
    pub audio: PathBuf,
    /// 1600×900 PNG test card.
    pub image: PathBuf,
    /// The clip cut to its first 3 KiB: a corrupt MP4.
    pub corrupt: PathBuf,
    /// An empty file named like a video.
    pub empty: PathBuf,
    /// A text file named like a video.
    pub text: PathBuf,
}

/// The shared media, generated on first use.
pub fn media() -> &'static Media {
    static MEDIA: OnceLock<Media> = OnceLock::new();
    MEDIA.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = |name: &str| dir.path().join(name);
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=25:duration=4",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000:duration=4",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
            path("clip.mp4").to_str().unwrap(),
        ]);
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=330:sample_rate=48000:duration=3",
            "-ac",
            "2",
            path("tone.wav").to_str().unwrap(),
        ]);
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=1600x900",
            "-frames:v",
            "1",
            path("card.png").to_str().unwrap(),
        ]);
        let clip = std::fs::read(path("clip.mp4")).unwrap();
        std::fs::write(path("corrupt.mp4"), &clip[..3072.min(clip.len())]).unwrap();
        std::fs::write(path("empty.mp4"), b"").unwrap();
        std::fs::write(path("notes.mp4"), b"these are meeting notes, not a video\n".repeat(50)).unwrap();
        Media {
            clip: path("clip.mp4"),
            audio: path("tone.wav"),
            image: path("card.png"),
            corrupt: path("corrupt.mp4"),
            empty: path("empty.mp4"),
            text: path("notes.mp4"),
            _dir: dir,
        }
    })
}

fn ffmpeg(args: &[&str]) {
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
        .args(args)
        .status()
        .expect("ffmpeg is installed (scripts/setup.sh)");
    assert!(status.success(), "ffmpeg {args:?} failed");
}

/// `dir/name` made by ffmpeg from the lavfi graph `graph` with output `options` (codec, muxer):
/// media of whatever size, length or content a test needs beyond the shared [`media`].
pub fn lavfi(dir: &Path, name: &str, graph: &str, options: &[&str]) -> PathBuf {
    let path = dir.join(name);
    ffmpeg(&[&["-f", "lavfi", "-i", graph], options, &[path.to_str().expect("UTF-8 path")]].concat());
    path
}

/// A copy of `source` in `dir` with `tag` in its metadata: the same media, other bytes, so
/// another assembly id.
pub fn variant(source: &Path, dir: &Path, tag: &str) -> PathBuf {
    let path = dir.join(format!("{tag}.mp4"));
    let input = source.to_str().expect("UTF-8 path");
    ffmpeg(&[
        "-i",
        input,
        "-c",
        "copy",
        "-metadata",
        &format!("comment={tag}"),
        path.to_str().expect("UTF-8 path"),
    ]);
    path
}

/// Plays the HLS master playlist at `url` with plain ffmpeg, as a player would: the master,
/// then each rendition's playlist and segments by their relative references. Every stream is
/// copied into an MPEG-TS file in `dir`; returns its probe.
pub async fn play_hls(url: &str, dir: &Path) -> Value {
    let path = dir.join("played.ts");
    let output = tokio::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", url])
        .args(["-map", "0", "-c", "copy", "-f", "mpegts"])
        .arg(&path)
        .output()
        .await
        .expect("ffmpeg is installed");
    assert!(
        output.status.success(),
        "ffmpeg could not play {url}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    ffprobe(&path)
}

/// The status code of a `GET` of `target` sent byte for byte over a new connection to
/// `address` (`127.0.0.1:PORT`): HTTP clients resolve `..` and `%2e%2e` segments before
/// sending, and the tests must send them as they are.
pub async fn raw_get_status(address: &str, target: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(address).await.expect("the server listens");
    let request = format!("GET {target} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut reply = Vec::new();
    socket.read_to_end(&mut reply).await.unwrap();
    let reply = String::from_utf8_lossy(&reply);
    reply
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {reply}"))
}

/// `ffprobe -show_format -show_streams` of a file, as JSON.
pub fn ffprobe(path: &Path) -> Value {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-print_format", "json", "-show_format", "-show_streams"])
        .arg(path)
        .output()
        .expect("ffprobe is installed");
    assert!(
        output.status.success(),
        "ffprobe {} failed: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The first stream of `kind` (`video`/`audio`) in a probe.
pub fn stream<'a>(probe: &'a Value, kind: &str) -> &'a Value {
    probe["streams"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["codec_type"] == kind))
        .unwrap_or_else(|| panic!("no {kind} stream in {probe}"))
}

/// Seconds of a probe's container duration.
pub fn duration(probe: &Value) -> f64 {
    probe["format"]["duration"].as_str().and_then(|d| d.parse().ok()).expect("duration")
}

/// The local path behind a result's `file://` URL.
pub fn result_path(url: &str) -> PathBuf {
    let path = url.strip_prefix("file://").expect("file URL");
    let mut decoded = Vec::new();
    let bytes = path.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            decoded.push(u8::from_str_radix(&path[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    PathBuf::from(String::from_utf8(decoded).unwrap())
}

/// The tool settings of each ffmpeg build the hostile tests run, by name, with or without
/// bubblewrap: the ffmpeg on `PATH` (Debian's) and, where `scripts/setup.sh` installed it, the
/// pinned static build the worker image ships (`tools/ffmpeg.lock`).
pub fn ffmpeg_builds(bubblewrap: bool) -> Vec<(String, ToolSettings)> {
    let sandbox = SandboxSettings { bubblewrap, ..SandboxSettings::default() };
    let mut builds =
        vec![("PATH".to_owned(), ToolSettings { sandbox: sandbox.clone(), ..ToolSettings::default() })];
    let pinned = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/ffmpeg-pinned");
    if pinned.join("ffmpeg").is_file() && pinned.join("ffprobe").is_file() {
        let settings = ToolSettings {
            ffmpeg: Some(pinned.join("ffmpeg")),
            ffprobe: Some(pinned.join("ffprobe")),
            sandbox,
            ..ToolSettings::default()
        };
        builds.push(("pinned".to_owned(), settings));
    } else {
        eprintln!("the pinned ffmpeg is not in {}; run scripts/setup.sh to test it too", pinned.display());
    }
    builds
}

/// The `video-thumbnails-ts` component (11.5 MiB, SpiderMonkey inside), built by the TypeScript
/// SDK unless it is up to date.
pub fn typescript_thumbnails() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is in the repository");
    let template = root.join("templates/video-thumbnails-ts");
    let status = Command::new("node")
        .arg(root.join("template-sdk/typescript/bin/build.mjs"))
        .arg(&template)
        .status()
        .expect("node runs the TypeScript SDK's build");
    assert!(status.success(), "building video-thumbnails-ts failed");
    template.join("dist/template.wasm")
}

/// A host with its own data directory, engine and tools.
#[derive(Debug)]
pub struct Harness {
    /// The engine (shared by every run of this harness).
    pub engine: Arc<TemplateEngine>,
    tools: Arc<MediaTools>,
    /// The runner, for tests that watch a run's every update or drop it midway.
    pub runner: Runner,
    dir: Arc<tempfile::TempDir>,
}

/// What a run observed besides its final status.
#[derive(Debug)]
pub struct Run {
    /// The final status.
    pub status: AssemblyStatus,
    /// Every progress value reported, in order.
    pub progress: Vec<f32>,
    /// Keeps the harness's directory, and so the result files, alive while the run is inspected.
    _dir: Arc<tempfile::TempDir>,
}

impl Harness {
    /// A harness with default limits.
    pub async fn new() -> Harness {
        Harness::with_limits(JobLimits::default()).await
    }

    /// A harness with these limits.
    pub async fn with_limits(limits: JobLimits) -> Harness {
        Harness::with_tools(limits, ToolSettings::default()).await
    }

    /// A harness with these limits and tool settings (e.g. without bubblewrap, as on Lambda).
    pub async fn with_tools(limits: JobLimits, tools: ToolSettings) -> Harness {
        let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
        let settings = EngineSettings {
            cache_dir: dir.path().join("cache"),
            cache_key_file: None,
            max_instances: 8,
            limits,
        };
        let engine = Arc::new(TemplateEngine::new(settings).expect("engine"));
        let tools = MediaTools::detect(&tools).await.expect("ffmpeg installed and transflow-confine built");
        let tools = Arc::new(tools);
        let results = Arc::new(DirectorySink::new(dir.path().join("outputs")));
        let runner = Runner::new(engine.clone(), tools.clone(), dir.path().join("work"), results);
        Harness { engine, tools, runner, dir }
    }

    /// How many ffmpeg and ffprobe processes this harness started, detection included.
    pub fn tools_started(&self) -> u64 {
        self.tools.sandbox().tools_started()
    }

    /// The harness's data directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `component` on `files` with `fields` as user `tester` on branch `test`.
    pub async fn run(&self, component: &str, files: &[&Path], fields: &[(&str, &str)]) -> Run {
        self.run_as("tester", component, files, fields).await
    }

    /// Runs as `user`.
    pub async fn run_as(&self, user: &str, component: &str, files: &[&Path], fields: &[(&str, &str)]) -> Run {
        let request = self.request(user, component, files, fields).await;
        let mut progress = Vec::new();
        let status = self
            .runner
            .run(request, |s| progress.push(s.progress))
            .await
            .expect("a local directory keeps results");
        Run { status, progress, _dir: self.dir.clone() }
    }

    /// The request to run `component` on `files` with `fields` as `user` on branch `test`.
    pub async fn request(
        &self,
        user: &str,
        component: &str,
        files: &[&Path],
        fields: &[(&str, &str)],
    ) -> AssemblyRequest {
        let bytes = std::fs::read(component).expect("component built");
        let (template, _) = self.engine.load(&bytes).await.expect("template loads");
        AssemblyRequest {
            template,
            uploads: files
                .iter()
                .map(|f| UploadSource {
                    name: f.file_name().unwrap().to_string_lossy().into(),
                    path: f.to_path_buf(),
                })
                .collect(),
            fields: fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
            user_id: user.into(),
            branch: "test".into(),
        }
    }
}

/// Asserts the assembly completed, printing the status otherwise.
pub fn assert_completed(status: &AssemblyStatus) {
    assert!(
        status.error.is_none() && status.is_finished(),
        "assembly did not complete: {}",
        serde_json::to_string_pretty(status).unwrap()
    );
}
