//! Templates in other languages through the real CLI: the TypeScript bindings check, `bake` with
//! componentize-js, runs with real ffmpeg next to the Rust twin, failing steps, spawned ffmpeg
//! runs in both SDKs, and `transflow new template` in Rust, TypeScript and Python
//! (componentize-py).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;
use transflow_tests::{duration, ffprobe, media, result_path, stream};

use crate::BINARY;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// `transflow` from the repository root with its data under `data`, ready to run.
fn command(data: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(BINARY);
    command
        .current_dir(repo())
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env("RUST_LOG", "warn")
        // Standalone Rust templates share the workspace's build of their dependencies.
        .env("CARGO_TARGET_DIR", repo().join("target"));
    command
}

/// Runs `transflow` from the repository root with its data under `data`.
fn transflow(data: &Path, args: &[&str]) -> Output {
    command(data, args).output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn bake(data: &Path, args: &[&str]) -> String {
    let output = transflow(data, &[&["bake"], args].concat());
    assert!(output.status.success(), "bake failed:\n{}", stderr(&output));
    stderr(&output)
}

/// Runs one assembly of `template` on the shared clip and returns its final status.
fn run(data: &Path, template: &str, fields: &[&str]) -> (bool, Value) {
    run_with(data, &["--template", template], fields)
}

/// `run` with more options, such as `--step-timeout`.
fn run_with(data: &Path, options: &[&str], fields: &[&str]) -> (bool, Value) {
    let output = transflow(data, &run_args(options, fields));
    let status = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("no status JSON ({e}):\n{}", stderr(&output)));
    (output.status.success(), status)
}

/// `transflow run`'s arguments for one assembly on the shared clip.
fn run_args<'a>(options: &[&'a str], fields: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["run"];
    args.extend(options);
    for field in fields {
        args.extend(["--field", field]);
    }
    args.push(media().clip.to_str().unwrap());
    args
}

/// `(name, width, height)` of every result of `step`, measured by ffprobe on the file itself.
fn probed_results(status: &Value, step: &str) -> Vec<(String, u64, u64)> {
    status["results"][step]
        .as_array()
        .unwrap_or_else(|| panic!("no results for `{step}` in {status}"))
        .iter()
        .map(|result| {
            let url = result["url"].as_str().unwrap();
            let probe = ffprobe(Path::new(url.strip_prefix("file://").unwrap()));
            let video = stream(&probe, "video");
            let name = result["name"].as_str().unwrap().to_owned();
            (name, video["width"].as_u64().unwrap(), video["height"].as_u64().unwrap())
        })
        .collect()
}

/// The language recorded with the current version of `id` in the local registry.
fn recorded_language(data: &Path, id: &str) -> String {
    let output = transflow(data, &["templates", "list"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let listing = String::from_utf8_lossy(&output.stdout).into_owned();
    let line = listing.lines().find(|l| l.split_whitespace().next() == Some(id));
    let line = line.unwrap_or_else(|| panic!("{id} not in\n{listing}"));
    ["typescript", "javascript", "python", "rust"]
        .into_iter()
        .find(|language| line.contains(language))
        .unwrap_or_else(|| panic!("no language in `{line}`"))
        .to_owned()
}

#[test]
fn the_committed_bindings_match_the_wit_and_a_stale_copy_is_caught() {
    let sdk = repo().join("template-sdk/typescript");
    let check = Command::new("node").arg(sdk.join("bin/bindings.mjs")).arg("--check").output().unwrap();
    assert!(check.status.success(), "{}", stderr(&check));

    // The same check on a copy whose WIT gained a line: the declarations no longer match.
    let copy = tempfile::tempdir().unwrap();
    let copied_sdk = copy.path().join("template-sdk/typescript");
    std::fs::create_dir_all(copied_sdk.join("bin")).unwrap();
    std::fs::copy(sdk.join("bin/bindings.mjs"), copied_sdk.join("bin/bindings.mjs")).unwrap();
    std::os::unix::fs::symlink(sdk.join("node_modules"), copied_sdk.join("node_modules")).unwrap();
    std::os::unix::fs::symlink(sdk.join("generated"), copied_sdk.join("generated")).unwrap();
    std::fs::create_dir(copy.path().join("wit")).unwrap();
    let wit = std::fs::read_to_string(repo().join("wit/transflow.wit")).unwrap();
    let changed = wit.replacen("    progress: func(", "    /// Also a percentage.\n    progress: func(", 1);
    assert_ne!(wit, changed);
    std::fs::write(copy.path().join("wit/transflow.wit"), changed).unwrap();
    let stale =
        Command::new("node").arg(copied_sdk.join("bin/bindings.mjs")).arg("--check").output().unwrap();
    assert!(!stale.status.success());
    assert!(stderr(&stale).contains("transflow-template-status.d.ts"), "{}", stderr(&stale));
}

#[test]
fn the_typescript_and_python_sdks_make_the_rust_sdks_stems() {
    let sdk = repo().join("template-sdk");
    let typescript = Command::new("node")
        .arg("--test")
        .arg("src/stem.test.mjs")
        .current_dir(sdk.join("typescript"))
        .output()
        .unwrap();
    assert!(typescript.status.success(), "{}", String::from_utf8_lossy(&typescript.stdout));
    let python = Command::new("python3").arg(sdk.join("python/transflow_sdk/test_stem.py")).output().unwrap();
    assert!(python.status.success(), "{}", stderr(&python));
}

#[test]
fn the_typescript_thumbnails_are_the_rust_thumbnails() {
    let data = tempfile::tempdir().unwrap();
    let baked = bake(data.path(), &["video-thumbnails", "video-thumbnails-ts"]);
    assert!(baked.contains("video-thumbnails-ts v"), "{baked}");
    assert_eq!(recorded_language(data.path(), "video-thumbnails-ts"), "typescript");
    assert_eq!(recorded_language(data.path(), "video-thumbnails"), "rust");

    for fields in [&[][..], &["count=5", "width=240"][..]] {
        let (rust_ok, rust) = run(data.path(), "video-thumbnails", fields);
        let (ts_ok, typescript) = run(data.path(), "video-thumbnails-ts", fields);
        assert!(rust_ok && ts_ok, "{rust}\n{typescript}");
        assert_eq!(typescript["ok"], "ASSEMBLY_COMPLETED");
        let expected = probed_results(&rust, "thumbnails");
        assert_eq!(probed_results(&typescript, "thumbnails"), expected, "fields {fields:?}");
        // The same ffmpeg arguments, so the same bytes: the same frames were picked.
        let md5s = |status: &Value| -> Vec<Value> {
            status["results"]["thumbnails"].as_array().unwrap().iter().map(|r| r["md5hash"].clone()).collect()
        };
        assert_eq!(md5s(&typescript), md5s(&rust), "fields {fields:?}");
        let count = if fields.is_empty() { 8 } else { 5 };
        assert_eq!(expected.len(), count);
    }

    // A second bake of an unchanged template keeps its version.
    let version =
        |output: &str| output.lines().find(|l| l.contains("video-thumbnails-ts v")).unwrap().to_owned();
    let again = bake(data.path(), &["video-thumbnails-ts"]);
    assert!(again.contains("is up to date"), "{again}");
    assert_eq!(version(&again), version(&baked));
}

#[test]
fn a_failing_or_hostile_typescript_step_gives_a_status_naming_the_step() {
    let data = tempfile::tempdir().unwrap();
    bake(data.path(), &["--templates", "tests/components/typescript"]);
    assert_eq!(recorded_language(data.path(), "raw-throw"), "javascript");

    let cases = [
        ("fail=throw", "STEP_FAILED", "step `explode`: the frame counter went wrong at 1"),
        ("fail=value", "STEP_FAILED", "step `explode`: a plain string"),
        ("fail=async", "STEP_FAILED", "step `explode`: runStep returned a Promise"),
        ("fail=host", "ARGUMENT_REFUSED", "step `explode`: ffmpeg argument `/etc/passwd` was refused"),
        ("fail=nope", "INVALID_FIELD", "step `explode`: field `fail` is `nope`; expected one of throw"),
        ("fail=loop", "STEP_TIMEOUT", "step `explode`: ran past its time limit of 3 s"),
        ("fail=memory", "MEMORY_LIMIT", "step `explode`: the template tried to grow its memory"),
    ];
    for (field, code, message) in cases {
        // Only the endless loop should meet the time limit.
        let timeout = if field == "fail=loop" { "3" } else { "120" };
        let options = ["--template", "step-errors", "--step-timeout", timeout];
        let (ok, status) = run_with(data.path(), &options, &[field]);
        assert!(!ok, "{status}");
        assert_eq!(status["error"], code, "{field}: {status}");
        let text = status["message"].as_str().unwrap();
        assert!(text.starts_with(message), "{field}: `{text}` should start with `{message}`");
        // The step before the failing one finished and kept its result.
        assert_eq!(probed_results(&status, "poster").len(), 1);
    }

    // Without the SDK's helpers a thrown Error crashes the component; the status still names
    // the step and quotes the exception.
    let (ok, status) = run(data.path(), "raw-throw", &[]);
    assert!(!ok);
    assert_eq!(status["error"], "TEMPLATE_TRAPPED", "{status}");
    let text = status["message"].as_str().unwrap();
    assert!(text.starts_with("step `only`: the template crashed:"), "{text}");
    assert!(text.contains("TypeError: raw failure in only"), "{text}");
}

#[test]
fn new_templates_bake_and_run_as_they_are() {
    let work = tempfile::tempdir().unwrap();
    let templates = work.path().join("templates");
    let templates_arg = templates.to_str().unwrap();
    let data = work.path().join("data");
    let checkout = repo();
    for (name, language) in [("poster-rs", "rust"), ("poster-ts", "typescript"), ("poster-py", "python")] {
        let output = transflow(
            &data,
            &["new", "template", name, "--lang", language, "--dir", templates_arg, "--transflow"]
                .into_iter()
                .chain([checkout.to_str().unwrap()])
                .collect::<Vec<_>>(),
        );
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let again = transflow(&data, &["new", "template", "poster-ts", "--dir", templates_arg]);
    assert!(!again.status.success());
    assert!(stderr(&again).contains("already exists"), "{}", stderr(&again));

    bake(&data, &["--templates", templates_arg]);
    for name in ["poster-rs", "poster-ts", "poster-py"] {
        let (ok, status) = run(&data, name, &["width=320"]);
        assert!(ok, "{status}");
        assert_eq!(probed_results(&status, "poster"), [("clip.jpg".to_owned(), 320, 180)], "{name}");
    }
    assert_eq!(recorded_language(&data, "poster-ts"), "typescript");
    assert_eq!(recorded_language(&data, "poster-py"), "python");

    // A Python step that raises fails with its message, naming the step.
    let app = templates.join("poster-py/app.py");
    let source = std::fs::read_to_string(&app).unwrap();
    std::fs::write(&app, source.replace("input.media()", "raise ValueError(f'no poster for {input.name}')"))
        .unwrap();
    bake(&data, &["--templates", templates_arg, "poster-py"]);
    let (ok, status) = run(&data, "poster-py", &[]);
    assert!(!ok);
    assert_eq!(status["error"], "STEP_FAILED", "{status}");
    assert_eq!(status["message"], "step `poster`: no poster for clip.mp4");

    // A type error stops the bake before anything is published.
    let entry = templates.join("poster-ts/src/index.ts");
    let source = std::fs::read_to_string(&entry).unwrap();
    std::fs::write(&entry, source.replace("ctx.fieldIn('width', 640,", "ctx.fieldIn('width', '640',"))
        .unwrap();
    let broken = transflow(&data, &["bake", "--templates", templates_arg, "poster-ts"]);
    assert!(!broken.status.success());
    let message = stderr(&broken);
    assert!(
        message.contains("TS2345") && message.contains("template `poster-ts` did not build"),
        "{message}"
    );
}

/// Processes whose command line holds `text` (zombies have none).
fn processes_with(text: &str) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    entries
        .flatten()
        .filter(|entry| {
            std::fs::read(entry.path().join("cmdline"))
                .is_ok_and(|line| line.windows(text.len()).any(|w| w == text.as_bytes()))
        })
        .count()
}

/// Runs `template` (a `spawn-pair` fixture) with its ffmpeg runs tagged by a marker of this
/// test's own, and watches /proc while the assembly runs: returns the final status and whether
/// the `wide` and the `narrow` run were ever alive at the same moment.
fn run_watching_the_pair(data: &Path, template: &str) -> (bool, Value, bool) {
    let marker = format!("spawned-{template}-{}", std::process::id());
    let field = format!("marker={marker}");
    let (wide, narrow) = (format!("{marker}-wide"), format!("{marker}-narrow"));
    let status_file = data.join(format!("{template}.status.json"));
    // Two slots of the CPU budget, so both runs may go at once whatever the machine's cores.
    let options = ["--template", template, "--cpu-budget", "2"];
    let mut child = command(data, &run_args(&options, &[&field]))
        .stdout(std::fs::File::create(&status_file).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut together = false;
    // At most five minutes: the first run of a fresh component compiles it.
    for _ in 0..15_000 {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        together |= processes_with(&wide) > 0 && processes_with(&narrow) > 0;
        std::thread::sleep(Duration::from_millis(20));
    }
    if child.try_wait().unwrap().is_none() {
        child.kill().unwrap();
        panic!("`transflow run --template {template}` did not end within five minutes");
    }
    let ok = child.wait().unwrap().success();
    let status = serde_json::from_slice(&std::fs::read(&status_file).unwrap()).expect("a status JSON");
    (ok, status, together)
}

/// A `spawn-pair` fixture (`tests/components/{language}/spawn-pair`, whose comment says what it
/// does): both spawned runs go on at once and give their results, their handles are released
/// (it spawns past the host's bound of 8 afterwards), and a failing run fails the step with an
/// error naming it, without waiting for the run after it, which would never end.
fn spawned_runs_of(language: &str, template: &str) {
    let data = tempfile::tempdir().unwrap();
    bake(data.path(), &["--templates", &format!("tests/components/{language}"), "spawn-pair"]);

    let (ok, status, together) = run_watching_the_pair(data.path(), template);
    assert!(ok, "{status}");
    assert_eq!(status["ok"], "ASSEMBLY_COMPLETED");
    let sizes = [("wide.mp4".to_owned(), 320, 180), ("narrow.mp4".to_owned(), 160, 90)];
    assert_eq!(probed_results(&status, "pair"), sizes);
    for result in status["results"]["pair"].as_array().unwrap() {
        let seconds = duration(&ffprobe(&result_path(result["url"].as_str().unwrap())));
        assert!((seconds - 2.0).abs() < 0.2, "{}: {seconds} s", result["name"]);
    }
    assert!(together, "the two spawned ffmpeg runs were never alive at the same moment");

    // A minute, not the default, so a `joinAll` that waited for the endless run would show as
    // STEP_TIMEOUT rather than hold the test up.
    let (ok, status) =
        run_with(data.path(), &["--template", template, "--step-timeout", "60"], &["fail=first"]);
    assert!(!ok, "{status}");
    assert_eq!(status["error"], "FFMPEG_FAILED", "{status}");
    let text = status["message"].as_str().unwrap();
    assert!(text.starts_with("step `pair`: ffmpeg on `clip.mp4` exited with code"), "{text}");
    assert!(text.contains("matches no streams"), "{text}");
}

#[test]
fn a_typescript_step_spawns_two_ffmpeg_runs_at_once_and_joins_them() {
    spawned_runs_of("typescript", "spawn-pair-ts");
}

#[test]
fn a_python_step_spawns_two_ffmpeg_runs_at_once_and_joins_them() {
    spawned_runs_of("python", "spawn-pair-py");
}
