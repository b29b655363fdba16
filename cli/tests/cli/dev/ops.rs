//! What an operator meets running the real binary: tokens from `transflow token`, logs on a
//! pipe, slow and broken clients, and the leftovers of a killed `transflow dev` or
//! `transflow worker` swept at the next start.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use transflow_service::api::Auth;
use transflow_tests::deployment::Deployment;
use transflow_tests::dev_server::{DevServer, bake_into};
use transflow_tests::stack::announce;
use transflow_tests::{media, variant};

use super::{BINARY, JWT_SECRET, token};

/// Bounds every wait, so a broken test fails instead of hanging; none is meant to come near it.
const GUARD: Duration = Duration::from_secs(120);

fn cli(config: &Path, data: &Path, args: &[&str]) -> Output {
    Command::new(BINARY)
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output()
        .expect("transflow runs")
}

/// A data directory holding the never-ending fixture template and a config of `extra` after
/// the JWT secret; returns (temp dir, config file, data dir).
async fn prepared(extra: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("transflow.toml");
    std::fs::write(&config, format!("[auth]\njwt_secret = \"{JWT_SECRET}\"\n{extra}")).unwrap();
    let data = dir.path().join("data");
    bake_into(&data, &[test_components::SPIN_FOREVER]).await;
    (dir, config, data)
}

/// `POST /api/create-upload` for `file` with the never-ending template; returns the plan.
async fn create_upload(base: &str, file: &Path) -> Value {
    let body = json!({ "template_id": "fixture-spin-forever", "files": [announce(file, "video/mp4")] });
    let response = reqwest::Client::new()
        .post(format!("{base}/api/create-upload"))
        .bearer_auth(token())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    response.json().await.unwrap()
}

/// A connection to a signed upload URL, and the request line's path with its query.
async fn connect(url: &str) -> (TcpStream, String) {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (address, path) = rest.split_at(rest.find('/').expect("a path"));
    (TcpStream::connect(address).await.unwrap(), path.to_owned())
}

/// Everything the server sends until it closes the connection.
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    tokio::time::timeout(GUARD, stream.read_to_end(&mut answer))
        .await
        .expect("closed by the server")
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

/// Polls `check` every 50 ms until it holds.
async fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + GUARD;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "waited in vain for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The visible entries of a directory (the shared `.sweep.lock` aside).
fn entries(dir: &Path) -> Vec<PathBuf> {
    let Ok(read) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut found: Vec<PathBuf> = read
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    found.sort();
    found
}

/// Job directories (`…/p-*/job-*`) of processes under a work directory.
fn job_dirs(work: &Path) -> Vec<PathBuf> {
    entries(work).iter().filter(|p| p.is_dir()).flat_map(|p| entries(p)).collect()
}

#[tokio::test]
async fn token_prints_a_jwt_that_dev_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // No secret configured: the token is signed with the one `transflow dev` uses.
    let config = dir.path().join("transflow.toml");
    std::fs::write(&config, "").unwrap();
    let printed = cli(&config, &data, &["token", "--user", "alice", "--ttl", "10m"]);
    assert!(printed.status.success(), "{}", String::from_utf8_lossy(&printed.stderr));
    let token = String::from_utf8(printed.stdout).unwrap().trim().to_owned();
    assert!(String::from_utf8_lossy(&printed.stderr).contains("user `alice`"));

    let server = DevServer::start(BINARY, &config, &data);
    let templates = |token: &str| {
        reqwest::Client::new().get(format!("{}/api/templates", server.base)).bearer_auth(token).send()
    };
    assert_eq!(templates(&token).await.unwrap().status(), 200);
    assert_eq!(templates("not.a.token").await.unwrap().status(), 401);
    drop(server);

    // A configured secret signs it, naming the user in `sub`.
    let configured = dir.path().join("configured.toml");
    std::fs::write(&configured, format!("[auth]\njwt_secret = \"{JWT_SECRET}\"\n")).unwrap();
    let printed = cli(&configured, &data, &["token", "--user", "bob"]);
    let token = String::from_utf8(printed.stdout).unwrap();
    let mut headers = axum::http::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {}", token.trim()).parse().unwrap());
    let auth = Auth::jwt(JWT_SECRET.as_bytes(), "sub");
    assert_eq!(auth.user(&headers).unwrap(), "bob");

    let refused = cli(&configured, &data, &["token", "--user", "bob", "--ttl", "5x"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("`5x` is not a duration"));
    let disabled = dir.path().join("disabled.toml");
    std::fs::write(&disabled, "[auth]\ndisabled = true\n").unwrap();
    let refused = cli(&disabled, &data, &["token", "--user", "bob"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("authentication is disabled"));
}

#[tokio::test]
async fn slow_and_broken_clients_are_cut_off_and_logged_as_client_errors_in_json() {
    let (_dir, config, data) =
        prepared("[server]\nheader_read_timeout_secs = 1\nbody_idle_timeout_secs = 1\n").await;
    let mut server = DevServer::start_with(BINARY, &config, &data, |command| {
        command.env_remove("TRANSFLOW_LOG").env("RUST_LOG", "info").stderr(std::process::Stdio::piped());
    });
    let stderr = server.stderr().expect("piped stderr");
    let logged =
        std::thread::spawn(move || BufReader::new(stderr).lines().map_while(Result::ok).collect::<Vec<_>>());

    // Headers that never end.
    let address = server.base.strip_prefix("http://").unwrap().to_owned();
    let mut slowloris = TcpStream::connect(&address).await.unwrap();
    slowloris.write_all(b"GET /api/templates HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
    let answer = read_until_closed(&mut slowloris).await;
    assert!(!answer.contains(" 200 "), "{answer}");

    // An upload that stops half-way, and one that hangs up half-way.
    let clip = media().clip.clone();
    let plan = create_upload(&server.base, &clip).await;
    let bytes = std::fs::read(&clip).unwrap();
    let (mut stalled, path) = connect(plan["uploads"][0]["url"].as_str().unwrap()).await;
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Type: video/mp4\r\nContent-Length: {}\r\n\r\n",
        bytes.len()
    );
    stalled.write_all(head.as_bytes()).await.unwrap();
    stalled.write_all(&bytes[..bytes.len() / 2]).await.unwrap();
    let answer = read_until_closed(&mut stalled).await;
    assert!(answer.starts_with("HTTP/1.1 408") && answer.contains("BODY_STALLED"), "{answer}");
    let (mut gone, _) = connect(plan["uploads"][0]["url"].as_str().unwrap()).await;
    gone.write_all(head.as_bytes()).await.unwrap();
    gone.write_all(&bytes[..bytes.len() / 2]).await.unwrap();
    gone.shutdown().await.unwrap();
    let answer = read_until_closed(&mut gone).await;
    assert!(answer.starts_with("HTTP/1.1 400") && answer.contains("BODY_UNREADABLE"), "{answer}");

    assert!(server.terminate(Duration::from_secs(30)).is_some_and(|s| s.success()), "a graceful stop");
    let lines = logged.join().unwrap();
    let logs: Vec<Value> = lines.iter().filter_map(|line| serde_json::from_str(line).ok()).collect();
    assert!(lines.iter().all(|line| !line.contains('\u{1b}')), "no colour codes: {lines:#?}");
    let serving = logs.iter().find(|l| l["fields"]["message"] == "serving HTTP").expect("a JSON line");
    assert_eq!(serving["level"], "INFO");
    assert_eq!(serving["fields"]["header_read_timeout"], "1s");
    let client_errors: Vec<&Value> = logs
        .iter()
        .filter(|l| l["fields"]["message"].as_str().is_some_and(|m| m.starts_with("client error")))
        .collect();
    assert_eq!(client_errors.len(), 2, "{lines:#?}");
    assert!(client_errors.iter().all(|l| l["level"] == "INFO"), "{lines:#?}");
    assert!(logs.iter().all(|l| l["level"] != "ERROR"), "{lines:#?}");
}

#[tokio::test]
async fn a_restart_sweeps_what_a_killed_dev_server_left() {
    let (dir, config, data) =
        prepared("[worker]\nlease_secs = 3\nvisibility_secs = 3\nconcurrency = 1\n").await;
    let server = DevServer::start(BINARY, &config, &data);
    let client = reqwest::Client::new();

    // A job that never ends…
    let clip = media().clip.clone();
    let plan = create_upload(&server.base, &clip).await;
    let put = client.put(plan["uploads"][0]["url"].as_str().unwrap()).header("content-type", "video/mp4");
    assert_eq!(put.body(std::fs::read(&clip).unwrap()).send().await.unwrap().status(), 200);
    let work = data.join("work");
    wait_until("the job's directory", || !job_dirs(&work).is_empty()).await;

    // …and an upload half sent.
    let other = variant(&clip, dir.path(), "partial");
    let plan = create_upload(&server.base, &other).await;
    let bytes = std::fs::read(&other).unwrap();
    let (mut partial, path) = connect(plan["uploads"][0]["url"].as_str().unwrap()).await;
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Type: video/mp4\r\nContent-Length: {}\r\n\r\n",
        bytes.len()
    );
    partial.write_all(head.as_bytes()).await.unwrap();
    partial.write_all(&bytes[..bytes.len() / 2]).await.unwrap();
    let tmp = data.join("blobs/tmp");
    let partial_bytes = || job_dirs(&tmp).iter().map(|p| p.metadata().map_or(0, |m| m.len())).sum::<u64>();
    wait_until("the partial body on disk", || partial_bytes() > 0).await;

    server.kill();
    let left: Vec<PathBuf> = entries(&work).into_iter().chain(entries(&tmp)).collect();
    assert!(!job_dirs(&work).is_empty() && partial_bytes() > 0, "the crash left files: {left:?}");

    let restarted = DevServer::start(BINARY, &config, &data);
    let still_there: Vec<&PathBuf> = left.iter().filter(|p| p.exists()).collect();
    assert!(still_there.is_empty(), "swept at start-up: {still_there:?}");
    assert!(restarted.terminate(Duration::from_secs(30)).is_some_and(|s| s.success()), "a graceful stop");
    drop(partial);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqs_worker_leaves_no_job_directories_after_sigkill_or_sigterm() {
    let deployment = Deployment::new(BINARY, "").await;
    deployment.publish(Path::new(test_components::SPIN_FOREVER));
    let api = deployment.serve_api().await;
    let data = deployment.dir.path().join("worker-data");
    let work = data.join("work");
    let start_worker = || {
        tokio::process::Command::new(BINARY)
            .arg("--config")
            .arg(&deployment.config_path)
            .arg("--data-dir")
            .arg(&data)
            .arg("worker")
            .envs(deployment.moto.env())
            .kill_on_drop(true)
            .spawn()
            .expect("transflow worker starts")
    };

    let mut first = start_worker();
    deployment.upload(&api, "fixture-spin-forever", &media().clip).await;
    wait_until("the first worker's job directory", || !job_dirs(&work).is_empty()).await;
    first.kill().await.unwrap();
    let killed = entries(&work);
    assert!(!job_dirs(&work).is_empty(), "SIGKILL left the job directory: {killed:?}");

    // The next worker sweeps them as it starts, and picks the job up once the lease lapses.
    let mut second = start_worker();
    wait_until("the dead worker's directory swept", || {
        let now = entries(&work);
        killed.iter().all(|p| !now.contains(p)) && now.iter().any(|p| p.is_dir())
    })
    .await;
    wait_until("the second worker's job directory", || !job_dirs(&work).is_empty()).await;
    let pid = second.id().unwrap().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let exited = tokio::time::timeout(Duration::from_secs(60), second.wait()).await;
    assert!(exited.expect("the worker stops").unwrap().success(), "a graceful stop");
    assert_eq!(entries(&work), Vec::<PathBuf>::new(), "SIGTERM leaves nothing behind");
}
