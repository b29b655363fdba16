//! AWS worker figures against moto on loopback (`cargo bench --bench aws`; scripts/bench.sh):
//!
//! - **worker start**: `bootstrap` spawned → its answer to a first batch (process start,
//!   config, AWS clients, the queue's redrive policy, engine, ffmpeg probe, one handled
//!   event), next to spawning `ffmpeg -version` as the floor of any process start;
//! - **template ready**: a fresh worker's first pointer read, `.wasm` fetch and load from the
//!   local compiled cache (the part of a first job that is not ffmpeg);
//! - **hot swap**: a publish → the end of the first assembly that ran on the new version, with
//!   the default pointer cache, and how much of it was the assembly's own processing.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};
use transflow_runtime::LoadSource;
use transflow_tests::deployment::{Deployment, another_version};
use transflow_tests::lambda_runtime_api::RuntimeApi;
use transflow_tests::stack::publish_component;
use transflow_tests::{media, variant};

const BINARY: &str = env!("CARGO_BIN_EXE_transflow");
const BOOTSTRAP: &str = env!("CARGO_BIN_EXE_bootstrap");
const RUNS: usize = 10;
const SWAPS: usize = 5;

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let deployment = Deployment::new(BINARY, "").await;
    let component = Path::new(test_components::VIDEO_THUMBNAILS);
    deployment.publish(component);
    worker_start(&deployment).await;
    template_ready(&deployment).await;
    hot_swap(&deployment, component).await;
}

async fn worker_start(deployment: &Deployment) {
    let test_event = serde_json::json!({ "Records": [{
        "messageId": "bench", "body": r#"{"Service":"Amazon S3","Event":"s3:TestEvent"}"#,
    }]});
    let mut starts = Vec::new();
    let mut floors = Vec::new();
    for _ in 0..RUNS {
        let mut runtime = RuntimeApi::start().await;
        runtime.invoke(test_event.clone(), Duration::from_secs(60)).await;
        let started = Instant::now();
        let mut bootstrap =
            deployment.bootstrap(BOOTSTRAP, &runtime.address).env("TRANSFLOW_LOG", "warn").spawn().unwrap();
        runtime.answer(Duration::from_secs(60)).await.expect("bootstrap answers");
        starts.push(millis(started.elapsed()));
        bootstrap.kill().await.unwrap();

        let started = Instant::now();
        let status = std::process::Command::new("ffmpeg").arg("-version").output().unwrap().status;
        assert!(status.success());
        floors.push(millis(started.elapsed()));
    }
    let (start, floor) = (median(starts), median(floors));
    println!("worker start (bootstrap spawn → first batch answered), median of {RUNS}: {start:.1} ms");
    println!("  floor: spawn `ffmpeg -version` → exit: {floor:.1} ms (ratio {:.1})", start / floor);
}

async fn template_ready(deployment: &Deployment) {
    let mut samples = Vec::new();
    for run in 0..RUNS {
        // Each worker starts with an empty memory cache but the shared on-disk compiled cache.
        let worker = deployment.worker("bench-ready").await;
        let started = Instant::now();
        let version = worker.backends.templates.current("video-thumbnails").await.unwrap().unwrap();
        let bytes = worker.backends.templates.fetch("video-thumbnails", &version.sha256).await.unwrap();
        let (_, source) = worker.engine.load(&bytes).await.unwrap();
        if run > 0 {
            samples.push(millis(started.elapsed()));
            assert!(matches!(source, LoadSource::DiskCache), "later workers load compiled code from disk");
        }
    }
    println!(
        "template ready (pointer + .wasm from S3, compiled code from disk), median of {}: {:.1} ms",
        RUNS - 1,
        median(samples)
    );
}

async fn hot_swap(deployment: &Deployment, component: &Path) {
    let api = deployment.serve_api().await;
    let worker = deployment.worker("bench-swap").await;
    // The operator checks each version in an engine of its own, as `transflow templates
    // publish` does, so the worker still compiles it after the swap. The check is part of
    // the measured publish.
    let checker = deployment.worker("bench-operator").await;
    let operator = deployment.clients.templates(&deployment.config);
    let mut latencies = Vec::new();
    let mut processing = Vec::new();
    let mut assemblies = 0;
    for swap in 0..SWAPS {
        let bytes = another_version(component, &format!("swap-{swap}-{:?}", SystemTime::now()));
        let published = Instant::now();
        let version = publish_component(&checker.engine, operator.as_ref(), &bytes).await;
        loop {
            // Each upload is other bytes, so another assembly (ids are content-derived).
            let clip = variant(&media().clip, deployment.dir.path(), &format!("clip-{assemblies}"));
            let id = deployment.upload(&api, "video-thumbnails", &clip).await;
            deployment.deliver(&worker, &deployment.receive_for(&id, 300).await).await;
            assemblies += 1;
            let status = deployment.status(&id).await;
            if status.template_version == version.sha256 {
                latencies.push(millis(published.elapsed()));
                processing.push(status.execution_duration.unwrap_or_default() * 1000.0);
                break;
            }
            assert!(published.elapsed() < Duration::from_secs(120), "the new version never arrived");
        }
    }
    println!(
        "hot swap (publish → first assembly done on the new version, pointer cache 2 s), median of {SWAPS}: \
         {:.0} ms, of which the assembly's own run {:.0} ms; {assemblies} assemblies in all",
        median(latencies),
        median(processing)
    );
}
