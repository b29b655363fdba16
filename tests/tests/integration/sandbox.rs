//! The OS layer holds on its own. ffmpeg is started through the host's sandbox with arguments
//! that no policy has checked, and still cannot read host files, write outside its step's
//! output directory, touch the job's inputs or open sockets: with bubblewrap, and without it
//! (as on AWS Lambda, where user namespaces do not exist). The argument policy is tested
//! elsewhere; here it is deliberately bypassed.

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;
use transflow_ffmpeg::{MediaTools, ToolSettings};
use transflow_ffmpeg::{OutputBudget, SandboxSettings};
use transflow_tests::{ffmpeg_builds, media};

/// A workspace with one input, a step output directory, and a host directory beside it
/// holding a secret clip and an empty victim directory.
struct Scene {
    _dir: tempfile::TempDir,
    workspace: PathBuf,
    secret: PathBuf,
    victim: PathBuf,
}

const INPUT: &str = "in/u1/clip.mp4";
const STEP_DIR: &str = "out/step";

impl Scene {
    fn new() -> Scene {
        let dir = tempfile::tempdir().unwrap();
        let workspace = dir.path().join("ws");
        std::fs::create_dir_all(workspace.join("in/u1")).unwrap();
        std::fs::create_dir_all(workspace.join(STEP_DIR)).unwrap();
        std::fs::copy(&media().clip, workspace.join(INPUT)).unwrap();
        let secret = dir.path().join("secret.mp4");
        std::fs::copy(&media().clip, &secret).unwrap();
        let victim = dir.path().join("victim");
        std::fs::create_dir(&victim).unwrap();
        Scene { _dir: dir, workspace, secret, victim }
    }

    async fn ffmpeg(&self, tools: &MediaTools, args: &[&str]) -> Result<(), String> {
        self.ffmpeg_within(tools, 1 << 30, args).await
    }

    async fn ffmpeg_within(&self, tools: &MediaTools, max_bytes: u64, args: &[&str]) -> Result<(), String> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let budget = OutputBudget { dir: STEP_DIR, max_bytes };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        tools.run_ffmpeg(&self.workspace, budget, &args, deadline, |_| {}).await.map_err(|e| e.to_string())
    }

    fn victim_entries(&self) -> usize {
        std::fs::read_dir(&self.victim).unwrap().count()
    }
}

/// The tools as configured; `None` (with the reason printed) where this kernel lacks Landlock,
/// since then only bubblewrap and the policy stand between ffmpeg and the host.
async fn confined_tools(settings: &ToolSettings, bubblewrap: bool) -> Option<MediaTools> {
    let tools = MediaTools::detect(settings).await.expect("ffmpeg installed and transflow-confine built");
    let name = tools.sandbox().name();
    if !name.contains("landlock") || !name.contains("seccomp") {
        eprintln!("skipped: this kernel gives `{name}`, without Landlock and seccomp");
        return None;
    }
    if bubblewrap && !name.starts_with("bubblewrap") {
        eprintln!("skipped: bubblewrap does not work here (`{name}`)");
        return None;
    }
    Some(tools)
}

/// Runs `check` with bubblewrap and without, on each ffmpeg build.
async fn each_stack(check: impl AsyncFn(&MediaTools, Scene)) {
    for bubblewrap in [true, false] {
        for (_, settings) in ffmpeg_builds(bubblewrap) {
            if let Some(tools) = confined_tools(&settings, bubblewrap).await {
                check(&tools, Scene::new()).await;
            }
        }
    }
}

#[tokio::test]
async fn writes_only_land_in_the_step_output_directory() {
    each_stack(async |tools, scene| {
        let ok = scene.ffmpeg(tools, &["-i", INPUT, "-t", "1", "-c", "copy", "out/step/ok.mp4"]).await;
        assert_eq!(ok, Ok(()), "{}", tools.sandbox().name());
        assert!(scene.workspace.join("out/step/ok.mp4").metadata().unwrap().len() > 0);
        let absolute = scene.victim.join("x.mp4");
        for target in [absolute.to_str().unwrap(), "../victim/x.mp4", "out/x.mp4", "x.mp4"] {
            let written = scene.ffmpeg(tools, &["-i", INPUT, "-t", "1", "-c", "copy", target]).await;
            assert!(written.is_err(), "{target} was written under {}", tools.sandbox().name());
        }
        assert_eq!(scene.victim_entries(), 0);
        assert!(!scene.workspace.join("out/x.mp4").exists() && !scene.workspace.join("x.mp4").exists());
    })
    .await;
}

#[tokio::test]
async fn the_inputs_cannot_be_overwritten() {
    each_stack(async |tools, scene| {
        let before = std::fs::read(scene.workspace.join(INPUT)).unwrap();
        let overwrite = ["-y", "-i", INPUT, "-t", "1", "-c", "copy", "-f", "mp4", INPUT];
        assert!(scene.ffmpeg(tools, &overwrite).await.is_err(), "{}", tools.sandbox().name());
        // The hls muxer logs a segment it cannot open and still exits 0: what counts is that
        // no segment appears beside the input.
        let hls = ["-i", INPUT, "-t", "1", "-c", "copy", "-f", "hls", "-hls_segment_filename"];
        let _ = scene.ffmpeg(tools, &[&hls[..], &["in/u1/seg_%d.ts", "out/step/index.m3u8"]].concat()).await;
        assert_eq!(std::fs::read(scene.workspace.join(INPUT)).unwrap(), before);
        assert_eq!(std::fs::read_dir(scene.workspace.join("in/u1")).unwrap().count(), 1);
    })
    .await;
}

#[tokio::test]
async fn host_files_outside_the_workspace_cannot_be_read() {
    each_stack(async |tools, scene| {
        let secret = scene.secret.to_str().unwrap();
        let read = scene.ffmpeg(tools, &["-i", secret, "-c", "copy", "out/step/leak.mp4"]).await;
        assert!(read.is_err(), "{secret} was read under {}", tools.sandbox().name());
        let glob =
            scene.ffmpeg(tools, &["-pattern_type", "glob", "-i", "../*.mp4", "-c", "copy", "out/step/g.mp4"]);
        assert!(glob.await.is_err());
        let leaked = scene.workspace.join("out/step");
        let bytes: u64 =
            std::fs::read_dir(&leaked).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
        assert_eq!(bytes, 0, "bytes of a host file reached the step's outputs");
    })
    .await;
}

#[tokio::test]
async fn sockets_are_refused() {
    each_stack(async |tools, scene| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("tcp://{}", listener.local_addr().unwrap());
        let connect = scene.ffmpeg(tools, &["-i", &url, "-c", "copy", "out/step/net.mp4"]).await;
        let error = connect.expect_err("ffmpeg connected out");
        assert!(!error.contains(&scene.workspace.display().to_string()), "a host path leaked: {error}");
        assert!(listener.accept().is_err(), "a connection reached the listener");
    })
    .await;
}

#[tokio::test]
async fn many_small_files_are_stopped_at_the_output_budget_while_ffmpeg_runs() {
    each_stack(async |tools, scene| {
        // Endless segments, each far below the budget: only the live measurement can stop them.
        let budget = 2 << 20;
        let flood =
            ["-stream_loop", "-1", "-i", INPUT, "-c", "copy", "-f", "segment", "-segment_time", "0.2"];
        let stopped =
            scene.ffmpeg_within(tools, budget, &[&flood[..], &["out/step/s%06d.ts"]].concat()).await;
        let error = stopped.expect_err("the flood ran to its deadline");
        assert!(error.contains("output limit of 2097152 bytes"), "{error}");
        let segments = std::fs::read_dir(scene.workspace.join(STEP_DIR)).unwrap().count();
        assert!(segments > 1, "{segments} segments: the budget was not reached by many files");
    })
    .await;
}

#[tokio::test]
async fn the_status_names_the_layers_in_force() {
    let settings = ToolSettings {
        sandbox: SandboxSettings { bubblewrap: false, ..SandboxSettings::default() },
        ..Default::default()
    };
    let tools = MediaTools::detect(&settings).await.unwrap();
    assert!(!tools.sandbox().name().starts_with("bubblewrap"), "{}", tools.sandbox().name());
    let required = ToolSettings {
        sandbox: SandboxSettings {
            require: "landlock+seccomp".parse().unwrap(),
            confine: settings.sandbox.confine.clone(),
            bubblewrap: false,
        },
        ..Default::default()
    };
    match MediaTools::detect(&required).await {
        Ok(tools) => assert_eq!(tools.sandbox().name(), "landlock+seccomp"),
        Err(error) => {
            let message = error.to_string();
            assert!(message.contains("tools.require") && message.contains("landlock+seccomp"), "{message}");
            eprintln!("this kernel lacks a required layer: {message}");
        }
    }
}

/// Finding out whether bubblewrap works starts no tool: the helper's own probe runs inside it.
/// So a tool that would fail its `-version` (here `false`) no longer decides the layers: only
/// whether bubblewrap and the helper work on this machine does.
#[tokio::test]
async fn detecting_the_sandbox_starts_no_tool() {
    let settings = ToolSettings { ffmpeg: Some("/usr/bin/false".into()), ..Default::default() };
    let tools = MediaTools::detect(&settings).await.expect("transflow-confine built");
    assert_eq!(tools.sandbox().tools_started(), 0);
    let bubblewrap_runs = std::process::Command::new("bwrap")
        .args(["--unshare-all", "--ro-bind", "/", "/", "/usr/bin/true"])
        .status()
        .is_ok_and(|status| status.success());
    if !bubblewrap_runs {
        eprintln!("skipped: bubblewrap does not run here");
        return;
    }
    let name = tools.sandbox().name();
    assert!(name.starts_with("bubblewrap"), "bubblewrap runs here, yet the sandbox is `{name}`");
}
