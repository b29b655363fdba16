//! Steps as a graph: independent steps run side by side, a step waits for the steps it uses,
//! a failure or a dropped run stops every step (their ffmpeg processes included), the status
//! lists the running steps coherently, and one CPU budget bounds the ffmpeg runs of every
//! caller. Overlap is shown by ordering (a start before another's end), never by durations.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use transflow_ffmpeg::{MediaTools, OutputBudget, ToolSettings};
use transflow_runtime::JobLimits;
use transflow_store::assembly::{AssemblyStatus, ErrorCode, StepState};
use transflow_tests::{Harness, assert_completed, ffprobe, lavfi, result_path, stream};

/// A harness whose budget lets two ffmpeg runs go at once, whatever the machine's cores.
async fn harness() -> Harness {
    let limits = JobLimits { step_timeout: Duration::from_secs(120), ..JobLimits::default() };
    Harness::with_tools(limits, ToolSettings { cpu_budget: Some(2), ..ToolSettings::default() }).await
}

/// A 1 s clip: each `-re` copy of it takes a second.
fn short_clip(dir: &Path) -> PathBuf {
    lavfi(
        dir,
        "short.mp4",
        "testsrc2=size=160x120:rate=10:duration=1",
        &["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"],
    )
}

fn at(text: &str) -> OffsetDateTime {
    OffsetDateTime::parse(text, &Rfc3339).unwrap_or_else(|e| panic!("`{text}` is not RFC 3339: {e}"))
}

/// `(started, ended)` of a step in a final status.
fn span(status: &AssemblyStatus, step: &str) -> (OffsetDateTime, OffsetDateTime) {
    let record = &status.steps[step];
    (at(&record.started_at), at(record.ended_at.as_deref().expect("the step ended")))
}

/// A text no other test's processes carry.
fn marker(test: &str) -> String {
    format!("h3-{test}-{}-{}", std::process::id(), OffsetDateTime::now_utc().unix_timestamp_nanos())
}

/// Processes whose command line holds `marker`: the test's own ffmpeg runs (zombies have none).
fn processes_with(marker: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|line| line.windows(marker.len()).any(|w| w == marker.as_bytes()))
        })
        .collect()
}

/// Waits (at most a minute) until a process holding `marker` runs.
async fn until_running(marker: &str) {
    for _ in 0..1200 {
        if !processes_with(marker).is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no ffmpeg run with `{marker}` started within a minute");
}

/// Asserts every process holding `marker` is gone (a killed one may take a moment to die).
async fn assert_all_gone(marker: &str) {
    for _ in 0..200 {
        if processes_with(marker).is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("ffmpeg runs with `{marker}` still live: {:?}", processes_with(marker));
}

#[tokio::test]
async fn independent_steps_overlap_and_a_dependent_step_starts_after_both() {
    let harness = harness().await;
    let clip = short_clip(harness.dir());
    let request = harness.request("tester", test_components::STEP_GRAPH, &[&clip], &[]).await;
    let mut updates: Vec<AssemblyStatus> = Vec::new();
    let status = harness.runner.run(request, |s| updates.push(s.clone())).await.unwrap();
    assert_completed(&status);

    let (left, right, joined) = (span(&status, "left"), span(&status, "right"), span(&status, "joined"));
    assert!(left.0 < right.1 && right.0 < left.1, "left and right overlap: {:#?}", status.steps);
    assert!(joined.0 >= left.1 && joined.0 >= right.1, "joined waits for both: {:#?}", status.steps);
    for record in status.steps.values() {
        assert_eq!((record.state, record.progress), (StepState::Completed, 100.0), "{:#?}", status.steps);
    }
    for step in ["left", "right"] {
        let copy = result_path(status.results[step][0].url.as_deref().unwrap());
        assert_eq!(stream(&ffprobe(&copy), "video")["codec_name"], "h264");
    }
    let frames = &status.results["joined"];
    assert_eq!(frames.len(), 2, "one frame of each copy");
    for frame in frames {
        let probe = ffprobe(&result_path(frame.url.as_deref().unwrap()));
        assert_eq!(stream(&probe, "video")["width"], 160);
    }

    // The status is coherent at every update: the current step is the first current one, every
    // current step is running, progress never falls, and both independent steps were current
    // together.
    let mut last_progress = 0.0;
    for update in &updates {
        assert_eq!(update.current_step.as_ref(), update.current_steps.first(), "{update:#?}");
        for step in &update.current_steps {
            assert_eq!(update.steps[step].state, StepState::Running, "{update:#?}");
        }
        assert!(update.progress >= last_progress, "progress fell: {update:#?}");
        last_progress = update.progress;
    }
    assert!(
        updates.iter().any(|u| u.current_steps == ["left", "right"] && u.message.contains("`left`, `right`")),
        "left and right were current together"
    );
    assert!(updates.iter().any(|u| u.current_steps == ["joined"]));
    assert!(status.current_steps.is_empty() && status.current_step.is_none());
    assert_eq!(status.progress, 100.0);
}

#[tokio::test]
async fn a_failing_step_stops_the_step_beside_it_and_its_ffmpeg() {
    let harness = harness().await;
    let clip = short_clip(harness.dir());
    let marker = marker("fail");
    let fields = [("marker", marker.as_str()), ("endless", "right"), ("fail", "left")];
    let request = harness.request("tester", test_components::STEP_GRAPH, &[&clip], &fields).await;
    let seen_endless = Arc::new(Mutex::new(false));
    let watch = {
        let (seen, marker) = (seen_endless.clone(), marker.clone());
        // Both copies carry the marker: seeing one shows this test finds its own processes.
        tokio::spawn(async move {
            until_running(&marker).await;
            *seen.lock().unwrap() = true;
        })
    };
    let status = harness.runner.run(request, |_| {}).await.unwrap();
    watch.abort();
    assert!(*seen_endless.lock().unwrap(), "the steps' ffmpeg runs were seen");

    assert_eq!(status.error, Some(ErrorCode::StepFailed), "{status:#?}");
    assert_eq!(status.failed_step.as_deref(), Some("left"));
    assert!(status.message.starts_with("step `left`: step `left` was asked to fail"), "{}", status.message);
    assert_eq!(status.steps["left"].state, StepState::Failed);
    assert_eq!(status.steps["right"].state, StepState::Stopped, "{:#?}", status.steps);
    assert!(status.steps["right"].ended_at.is_some());
    assert!(!status.steps.contains_key("joined"), "a step whose input failed never starts");
    assert!(status.current_steps.is_empty() && status.current_step.is_none());
    assert_all_gone(&marker).await;
}

#[tokio::test]
async fn dropping_a_run_stops_every_step_and_its_ffmpeg() {
    let harness = harness().await;
    let clip = short_clip(harness.dir());
    let marker = marker("drop");
    let fields = [("marker", marker.as_str()), ("endless", "left")];
    let request = harness.request("tester", test_components::STEP_GRAPH, &[&clip], &fields).await;
    let current = Arc::new(Mutex::new(Vec::new()));
    let run = {
        let current = current.clone();
        harness.runner.run(request, move |s| *current.lock().unwrap() = s.current_steps.clone())
    };
    tokio::select! {
        ended = run => panic!("an endless step cannot end: {ended:#?}"),
        () = async {
            until_running(&marker).await;
            // `right` ends after a second; `joined` waits for the endless `left`.
            while *current.lock().unwrap() != ["left"] {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        } => {}
    }
    // The run was dropped when `select!` returned, as a cancel or a lost lease drops it.
    assert_all_gone(&marker).await;
}

#[tokio::test]
async fn one_cpu_budget_bounds_the_ffmpeg_runs_of_every_caller() {
    let dir = tempfile::tempdir().unwrap();
    let workspace = dir.path().join("ws");
    std::fs::create_dir_all(workspace.join("out")).unwrap();
    std::fs::copy(short_clip(dir.path()), workspace.join("in.mp4")).unwrap();
    let settings = ToolSettings { cpu_budget: Some(1), ..ToolSettings::default() };
    let tools = MediaTools::detect(&settings).await.expect("ffmpeg installed and transflow-confine built");
    assert_eq!((tools.cpu_budget().size(), tools.cpu_budget().available()), (1, 1));
    let events = Arc::new(Mutex::new(Vec::new()));
    let run = |name: &'static str| {
        let (tools, workspace, events) = (tools.clone(), workspace.clone(), events.clone());
        async move {
            let args: Vec<String> = ["-re", "-i", "in.mp4", "-c", "copy", &format!("out/{name}.mp4")]
                .iter()
                .map(|a| a.to_string())
                .collect();
            let budget = OutputBudget { dir: "out", max_bytes: 1 << 30 };
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            let seen = events.clone();
            let outcome = tools
                .run_ffmpeg(&workspace, budget, &args, deadline, move |_| {
                    seen.lock().unwrap().push(format!("{name} running"))
                })
                .await;
            events.lock().unwrap().push(format!("{name} ended"));
            outcome
        }
    };
    // Two callers sharing one process's tools (clones share the budget).
    let (a, b) = tokio::join!(run("a"), run("b"));
    a.unwrap();
    b.unwrap();
    let events = events.lock().unwrap().clone();
    let first_end = events.iter().position(|e| e.ends_with("ended")).unwrap();
    let first = &events[first_end][..1];
    assert!(
        events[..first_end].iter().all(|e| e.starts_with(first)),
        "the second run started only after the first ended: {events:?}"
    );
    assert_eq!(tools.cpu_budget().available(), 1, "every slot is given back");
}
