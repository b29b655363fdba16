//! Engine figures for BENCHMARKS.md: first compile of each built-in template, load of a cached
//! precompiled template, and warm instantiation from the in-memory `InstancePre`, for
//! `video-thumbnails` and its TypeScript twin `video-thumbnails-ts` side by side.
//!
//! `cargo bench -p transflow-tests --bench engine`. Prints medians; asserts nothing. The
//! TypeScript component is built with the SDK's `transflow-template-build` unless it is up to date.

use std::path::Path;
use std::time::{Duration, Instant};
use test_components as components;
use transflow_runtime::job::JobState;
use transflow_runtime::{EngineSettings, JobLimits, LoadSource, TemplateEngine};

const TEMPLATES: &[(&str, &str)] = &[
    ("video-thumbnails", components::VIDEO_THUMBNAILS),
    ("video-encode", components::VIDEO_ENCODE),
    ("hls", components::HLS),
    ("audio-encode", components::AUDIO_ENCODE),
    ("image-resize", components::IMAGE_RESIZE),
];

fn engine(cache: &std::path::Path) -> TemplateEngine {
    let settings = EngineSettings {
        cache_dir: cache.to_path_buf(),
        cache_key_file: None,
        max_instances: 64,
        limits: JobLimits::default(),
    };
    TemplateEngine::new(settings).expect("engine")
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[tokio::main]
async fn main() {
    let cache = tempfile::tempdir().expect("temp dir");
    let engine = engine(cache.path());
    println!("pooling allocator: {}", engine.is_pooling());
    let mut components: Vec<(&str, Vec<u8>)> =
        TEMPLATES.iter().map(|(name, path)| (*name, std::fs::read(path).expect("component built"))).collect();
    components.push(("video-thumbnails-ts", typescript_thumbnails()));
    println!("first compile (cold cache):");
    for (name, bytes) in &components {
        let started = Instant::now();
        let (_, source) = engine.load(bytes).await.expect("loads");
        assert_eq!(source, LoadSource::Compiled);
        println!(
            "  {name:<19} {:>5} KiB  {:>8.1} ms",
            bytes.len() / 1024,
            started.elapsed().as_secs_f64() * 1e3
        );
    }

    let twins = components.iter().filter(|(name, _)| name.starts_with("video-thumbnails"));
    for (name, bytes) in twins {
        println!("{name}:");
        println!(
            "  cached precompiled load, median of 20: {:.3} ms",
            cached_load(&engine, bytes).await * 1e3
        );
        println!(
            "  warm instantiation (InstancePre), median of 500: {:.1} µs",
            warm_instantiation(&engine, bytes).await * 1e6
        );
    }
}

/// Seconds to load `bytes` from the on-disk cache after forgetting it in memory.
async fn cached_load(engine: &TemplateEngine, bytes: &[u8]) -> f64 {
    let mut loads = Vec::new();
    for _ in 0..20 {
        let (template, _) = engine.load(bytes).await.expect("loads");
        engine.forget(&template.version);
        let started = Instant::now();
        let (_, source) = engine.load(bytes).await.expect("loads");
        loads.push(started.elapsed());
        assert_eq!(source, LoadSource::DiskCache);
    }
    median(loads).as_secs_f64()
}

/// Seconds to instantiate a loaded template into a fresh store.
async fn warm_instantiation(engine: &TemplateEngine, bytes: &[u8]) -> f64 {
    let (template, _) = engine.load(bytes).await.expect("loads");
    let limits = JobLimits::default();
    let mut instantiations = Vec::new();
    for _ in 0..500 {
        let deadline = Instant::now() + Duration::from_secs(60);
        let started = Instant::now();
        let instance = engine
            .instantiate(&template, JobState::for_describe(&limits), deadline)
            .await
            .expect("instantiates");
        instantiations.push(started.elapsed());
        drop(instance);
    }
    median(instantiations).as_secs_f64()
}

/// The `video-thumbnails-ts` component, built by the TypeScript SDK unless it is up to date.
fn typescript_thumbnails() -> Vec<u8> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is in the repository");
    let template = root.join("templates/video-thumbnails-ts");
    let wasm = template.join("dist/template.wasm");
    let status = std::process::Command::new("node")
        .arg(root.join("template-sdk/typescript/bin/build.mjs"))
        .arg(&template)
        .status()
        .expect("node runs the TypeScript SDK's build");
    assert!(status.success(), "building video-thumbnails-ts failed");
    std::fs::read(wasm).expect("video-thumbnails-ts built")
}
