//! The helper against the real kernel: Landlock and seccomp are exercised, not mocked.
//!
//! Tests that need both layers print a reason and pass without checking when `--probe` says
//! this machine lacks one; those that need ffmpeg, python3 or a working bubblewrap do the same
//! when it is missing.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use transflow_confine::{Layers, Plan, Probe};

const HELPER: &str = env!("CARGO_BIN_EXE_transflow-confine");

/// What dynamically linked system tools need: shared libraries, the loader's cache and Debian's
/// alternatives (library symlinks go through it).
const SYSTEM: &[&str] = &["/usr", "/lib", "/lib64", "/bin", "/etc/ld.so.cache", "/etc/alternatives"];

fn probe() -> Probe {
    let output = Command::new(HELPER).arg("--probe").output().unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap().parse().unwrap()
}

/// Whether both layers apply here; prints why a test skips otherwise.
fn fully_confined(test: &str) -> bool {
    let probe = probe();
    let full = probe.layers == Layers::ALL;
    if !full {
        eprintln!("skipping {test}: this kernel supports only `{probe}`");
    }
    full
}

/// A plan running `program` with the system and `read` readable and `write` writable.
fn plan(program: &str, read: &[&Path], write: &[&Path]) -> Plan {
    let mut all: Vec<PathBuf> = SYSTEM.iter().map(PathBuf::from).collect();
    all.extend(read.iter().map(|path| path.to_path_buf()));
    Plan {
        read: all,
        write: write.iter().map(|dir| dir.to_path_buf()).collect(),
        program: program.into(),
        ..Plan::default()
    }
}

fn run(plan: &Plan, args: &[&str]) -> Output {
    Command::new(HELPER).args(plan.to_args()).args(args).output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A workspace: `in/input.txt` (read-only), `out/` (writable), `other/` (neither).
struct Workspace {
    _dir: tempfile::TempDir,
    input_dir: PathBuf,
    input: PathBuf,
    out: PathBuf,
    other: PathBuf,
}

fn workspace() -> Workspace {
    let dir = tempfile::tempdir().unwrap();
    let (input_dir, out, other) = (dir.path().join("in"), dir.path().join("out"), dir.path().join("other"));
    for sub in [&input_dir, &out, &other] {
        fs::create_dir(sub).unwrap();
    }
    let input = input_dir.join("input.txt");
    fs::write(&input, "precious\n").unwrap();
    fs::write(other.join("secret.txt"), "secret\n").unwrap();
    Workspace { _dir: dir, input_dir, input, out, other }
}

fn path(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn probe_names_the_layers_and_require_agrees() {
    let probe = probe();
    eprintln!("--probe: {probe}");
    assert!(probe.layers.seccomp, "seccomp filters are available on every supported kernel");
    assert_eq!(probe.layers.landlock, probe.landlock_abi.is_some_and(|abi| abi >= 3));
    let lsm = fs::read_to_string("/sys/kernel/security/lsm").unwrap_or_default();
    if lsm.split(',').any(|name| name == "landlock") {
        assert!(probe.landlock_abi.is_some(), "landlock is enabled ({lsm}) but not probed");
    }
    // What the probe names can be required; what it does not name cannot.
    let ok = run(&Plan { require: probe.layers, ..plan("/bin/true", &[], &[]) }, &[]);
    assert!(ok.status.success(), "{ok:?}");
    if !probe.layers.landlock {
        let refused = run(&Plan { require: Layers::ALL, ..plan("/bin/true", &[], &[]) }, &[]);
        assert_eq!(refused.status.code(), Some(125), "{refused:?}");
        assert!(stderr(&refused).contains("--require landlock"), "{refused:?}");
    }
}

#[test]
fn usage_errors_exit_125_without_running_anything() {
    let ws = workspace();
    let marker = ws.out.join("marker");
    let touch_marker = |helper_args: &[&str]| {
        let output = Command::new(HELPER).args(helper_args).arg(path(&marker)).output().unwrap();
        assert_eq!(output.status.code(), Some(125), "{helper_args:?}: {output:?}");
        assert!(stderr(&output).starts_with("transflow-confine: error: "), "{output:?}");
        assert!(!marker.exists(), "{helper_args:?} ran the program");
    };
    touch_marker(&["--bogus", "--", "/usr/bin/touch"]);
    touch_marker(&["--read", "relative", "--", "/usr/bin/touch"]);
    touch_marker(&["--fsize", "lots", "--", "/usr/bin/touch"]);
    touch_marker(&["--require", "apparmor", "--", "/usr/bin/touch"]);
    touch_marker(&["--", "touch"]);
    touch_marker(&["--write", "/nonexistent/out", "--", "/usr/bin/touch"]);
    touch_marker(&["--write", path(&ws.input), "--", "/usr/bin/touch"]);
    touch_marker(&["--read", "/usr"]);

    let missing = Command::new(HELPER).args(["--", "/nonexistent/ffmpeg"]).output().unwrap();
    assert_eq!(missing.status.code(), Some(127), "{missing:?}");
    assert!(stderr(&missing).contains("cannot execute /nonexistent/ffmpeg"), "{missing:?}");
}

#[test]
fn reads_only_the_read_set() {
    if !fully_confined("reads_only_the_read_set") {
        return;
    }
    let ws = workspace();
    let cat = plan("/bin/cat", &[&ws.input_dir], &[]);
    let inside = run(&cat, &[path(&ws.input)]);
    assert!(inside.status.success(), "{inside:?}");
    assert_eq!(inside.stdout, b"precious\n");
    let outside = run(&cat, &[path(&ws.other.join("secret.txt"))]);
    assert!(!outside.status.success(), "{outside:?}");
    assert!(stderr(&outside).contains("Permission denied"), "{outside:?}");
    assert!(outside.stdout.is_empty());
}

#[test]
fn writes_only_beneath_the_write_dir() {
    if !fully_confined("writes_only_beneath_the_write_dir") {
        return;
    }
    let ws = workspace();
    let tool = |program: &str, args: &[&str]| run(&plan(program, &[&ws.input_dir], &[&ws.out]), args);
    let denied = |output: Output| {
        assert!(!output.status.success(), "{output:?}");
        assert!(stderr(&output).contains("Permission denied"), "{output:?}");
    };

    // Each step is its own run: a confined shell cannot start other programs.
    let (sub, created, moved) = (ws.out.join("sub"), ws.out.join("sub/new.txt"), ws.out.join("moved"));
    assert!(tool("/bin/mkdir", &[path(&sub)]).status.success());
    assert!(tool("/bin/sh", &["-c", &format!("echo hi > {}", path(&created))]).status.success());
    assert!(tool("/bin/mv", &[path(&created), path(&moved)]).status.success());
    assert_eq!(fs::read_to_string(&moved).unwrap(), "hi\n");
    assert!(tool("/bin/rm", &["-r", path(&sub), path(&moved)]).status.success());
    assert!(!sub.exists() && !moved.exists());

    denied(tool("/usr/bin/touch", &[path(&ws.input_dir.join("new"))]));
    denied(tool("/usr/bin/touch", &[path(&ws.other.join("new"))]));
    denied(tool("/bin/sh", &["-c", &format!("echo overwritten > {}", path(&ws.input))]));
    denied(tool("/usr/bin/truncate", &["-s", "0", path(&ws.input)]));
    denied(tool("/bin/rm", &["-f", path(&ws.input)]));
    denied(tool("/bin/mv", &[path(&ws.input), path(&ws.out.join("stolen"))]));
    // No symlinks or fifos even in the writable directory.
    denied(tool("/bin/ln", &["-s", path(&ws.other.join("secret.txt")), path(&ws.out.join("link"))]));
    denied(tool("/usr/bin/mkfifo", &[path(&ws.out.join("fifo"))]));
    // A hard link would make the input writable through the output directory (Landlock refuses
    // a link that gains rights, with EXDEV).
    let hard = tool("/bin/ln", &[path(&ws.input), path(&ws.out.join("hard"))]);
    assert!(!hard.status.success() && !ws.out.join("hard").exists(), "{hard:?}");
    assert_eq!(fs::read_to_string(&ws.input).unwrap(), "precious\n");
    assert!(!ws.input_dir.join("new").exists() && !ws.other.join("new").exists());
}

#[test]
fn only_the_first_exec_works() {
    if !fully_confined("only_the_first_exec_works") {
        return;
    }
    let sh = plan("/bin/sh", &[], &[]);
    let first = run(&sh, &["-c", "echo first"]);
    assert!(first.status.success(), "{first:?}");
    assert_eq!(first.stdout, b"first\n");
    // Another program, and the same program again (which Landlock alone would allow): seccomp
    // refuses both before Landlock is asked.
    for script in ["/bin/true", "exec /bin/sh -c true"] {
        let again = run(&sh, &["-c", script]);
        assert!(!again.status.success(), "{script}: {again:?}");
        assert!(stderr(&again).contains("Operation not permitted"), "{script}: {again:?}");
    }
}

#[test]
fn limits_file_size_and_core_dumps_and_allows_dev_null() {
    if !fully_confined("limits_file_size_and_core_dumps_and_allows_dev_null") {
        return;
    }
    let ws = workspace();
    let big = ws.out.join("big");
    let sh = Plan { max_file_bytes: Some(1000), ..plan("/bin/sh", &[], &[&ws.out]) };
    // Shell builtins only: a confined shell cannot start other programs.
    let script = format!(
        "ulimit -c; echo discarded > /dev/null; : < /dev/urandom; printf '%5000s' x > {}",
        path(&big)
    );
    let output = run(&sh, &["-c", &script]);
    assert_eq!(String::from_utf8_lossy(&output.stdout), "0\n", "{output:?}");
    assert!(!output.status.success(), "the write past --fsize must fail: {output:?}");
    assert_eq!(fs::metadata(&big).unwrap().len(), 1000);
}

#[test]
fn python_gets_no_sockets_no_namespaces_but_threads() {
    if !fully_confined("python_gets_no_sockets_no_namespaces_but_threads") {
        return;
    }
    let python = "/usr/bin/python3";
    if !Path::new(python).exists() {
        eprintln!("skipping python_gets_no_sockets_no_namespaces_but_threads: no {python}");
        return;
    }
    let script = r#"
import ctypes, os, platform, socket, threading
def denied(call):
    try:
        call()
        return "allowed"
    except PermissionError:
        return "denied"
print("socket", denied(socket.socket))
print("unix", denied(lambda: socket.socket(socket.AF_UNIX)))
libc = ctypes.CDLL(None, use_errno=True)
print("unshare", libc.unshare(0x10000000), ctypes.get_errno())
if platform.machine() == "x86_64":
    print("x32-socket", libc.syscall(0x40000000 | 41, 2, 1, 0), ctypes.get_errno())
else:
    print("x32-socket -1 1")
seen = []
thread = threading.Thread(target=lambda: seen.append(threading.get_ident()))
thread.start(); thread.join()
print("thread", len(seen))
pid = os.fork()
if pid == 0:
    os._exit(7)
print("fork", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
"#;
    let output = run(&plan(python, &[], &[]), &["-c", script]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "socket denied\nunix denied\nunshare -1 1\nx32-socket -1 1\nthread 1\nfork 7\n",
        "{}",
        stderr(&output)
    );
}

/// `ffmpeg` on `PATH`, if any.
fn ffmpeg() -> Option<PathBuf> {
    let found =
        std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join("ffmpeg")).find(|p| p.is_file());
    if found.is_none() {
        eprintln!("skipping: ffmpeg is not on PATH");
    }
    found
}

#[test]
fn ffmpeg_runs_and_encodes_into_the_write_dir() {
    if !fully_confined("ffmpeg_runs_and_encodes_into_the_write_dir") {
        return;
    }
    let Some(ffmpeg) = ffmpeg() else { return };
    let ws = workspace();
    let bin_dir = ffmpeg.parent().unwrap();
    let ffmpeg_plan = plan(path(&ffmpeg), &[bin_dir, &ws.input_dir], &[&ws.out]);
    let version = run(&ffmpeg_plan, &["-version"]);
    assert!(version.status.success(), "{version:?}");
    assert!(version.stdout.starts_with(b"ffmpeg version"), "{version:?}");
    let out = ws.out.join("out.mp4");
    let encode = run(
        &Plan { max_file_bytes: Some(50 << 20), ..ffmpeg_plan },
        &["-nostdin", "-hide_banner", "-f", "lavfi", "-i", "testsrc=d=1:s=160x120", "-y", path(&out)],
    );
    assert!(encode.status.success(), "{}", stderr(&encode));
    assert!(fs::metadata(&out).unwrap().len() > 1000);
}

/// Whether bubblewrap is on PATH and can create namespaces here.
fn bwrap_works() -> bool {
    let works = Command::new("bwrap")
        .args([
            "--ro-bind",
            "/",
            "/",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
            "--unshare-all",
            "--die-with-parent",
            "true",
        ])
        .output()
        .is_ok_and(|output| output.status.success());
    if !works {
        eprintln!("skipping: bwrap is missing or cannot create namespaces here");
    }
    works
}

#[test]
fn confines_inside_bubblewrap() {
    if !fully_confined("confines_inside_bubblewrap") || !bwrap_works() {
        return;
    }
    let ws = workspace();
    let in_bwrap = |plan: &Plan, args: &[&str]| {
        Command::new("bwrap")
            .args(["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"])
            .args([
                "--bind",
                path(&ws.out),
                path(&ws.out),
                "--ro-bind",
                path(&ws.input_dir),
                path(&ws.input_dir),
            ])
            .args(["--ro-bind", path(&ws.other), path(&ws.other)])
            // After the tmpfs, which would hide a helper built under /tmp.
            .args(["--ro-bind", HELPER, HELPER])
            .args(["--unshare-all", "--die-with-parent", HELPER])
            .args(plan.to_args())
            .args(args)
            .output()
            .unwrap()
    };
    let cat = plan("/bin/cat", &[&ws.input_dir], &[&ws.out]);
    let inside = in_bwrap(&cat, &[path(&ws.input)]);
    assert_eq!(inside.stdout, b"precious\n", "{inside:?}");
    let outside = in_bwrap(&cat, &[path(&ws.other.join("secret.txt"))]);
    assert!(stderr(&outside).contains("Permission denied"), "{outside:?}");
    let sh = plan("/bin/sh", &[], &[&ws.out]);
    let wrote = in_bwrap(&sh, &["-c", &format!("echo hi > {}/new", path(&ws.out))]);
    assert!(wrote.status.success(), "{wrote:?}");
    assert_eq!(fs::read_to_string(ws.out.join("new")).unwrap(), "hi\n");
    let exec = in_bwrap(&sh, &["-c", "/bin/true"]);
    assert!(stderr(&exec).contains("Operation not permitted"), "{exec:?}");
}
