//! Engine figures for BENCHMARKS.md: first compile of each built-in template, load of a cached
//! precompiled template, and warm instantiation from the in-memory `InstancePre`.
//!
//! `cargo bench -p transflow-tests --bench engine`. Prints medians; asserts nothing.

use std::time::{Duration, Instant};
use test_components as components;
use transflow_host::job::JobState;
use transflow_host::{EngineSettings, JobLimits, LoadSource, TemplateEngine};

const TEMPLATES: &[(&str, &str)] = &[
    ("video-thumbnails", components::VIDEO_THUMBNAILS),
    ("video-encode", components::VIDEO_ENCODE),
    ("hls", components::HLS),
    ("audio-encode", components::AUDIO_ENCODE),
    ("image-resize", components::IMAGE_RESIZE),
];

fn engine(cache: &std::path::Path) -> TemplateEngine {
    let settings =
        EngineSettings { cache_dir: cache.to_path_buf(), max_instances: 64, limits: JobLimits::default() };
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
    println!("first compile (cold cache):");
    for (name, path) in TEMPLATES {
        let bytes = std::fs::read(path).expect("component built");
        let started = Instant::now();
        let (_, source) = engine.load(&bytes).await.expect("loads");
        assert_eq!(source, LoadSource::Compiled);
        println!(
            "  {name:<17} {:>5} KiB  {:>8.1} ms",
            bytes.len() / 1024,
            started.elapsed().as_secs_f64() * 1e3
        );
    }

    let bytes = std::fs::read(components::VIDEO_THUMBNAILS).expect("component built");
    let mut loads = Vec::new();
    for _ in 0..50 {
        let (template, _) = engine.load(&bytes).await.expect("loads");
        engine.forget(&template.version);
        let started = Instant::now();
        let (_, source) = engine.load(&bytes).await.expect("loads");
        loads.push(started.elapsed());
        assert_eq!(source, LoadSource::DiskCache);
    }
    println!(
        "cached precompiled load (video-thumbnails), median of 50: {:.3} ms",
        median(loads).as_secs_f64() * 1e3
    );

    let (template, _) = engine.load(&bytes).await.expect("loads");
    let limits = JobLimits::default();
    let mut instantiations = Vec::new();
    for _ in 0..2000 {
        let deadline = Instant::now() + Duration::from_secs(60);
        let started = Instant::now();
        let instance = engine
            .instantiate(&template, JobState::for_describe(&limits), deadline)
            .await
            .expect("instantiates");
        instantiations.push(started.elapsed());
        drop(instance);
    }
    println!(
        "warm instantiation (InstancePre), median of 2000: {:.1} µs",
        median(instantiations).as_secs_f64() * 1e6
    );
}
