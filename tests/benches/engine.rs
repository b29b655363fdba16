//! Engine figures for BENCHMARKS.md: first compile of each built-in template, load of a cached
//! precompiled template, the first run of `video-thumbnails-ts` on an empty cache against a
//! warm-cache one (issue 14), and warm instantiation from the in-memory `InstancePre` for
//! `video-thumbnails` and its TypeScript twin against instantiating an empty component.
//!
//! `cargo bench -p transflow-tests --bench engine`. Prints medians and the issue 14 table rows
//! (`| figure | baseline | subject | ratio | goal |`, pairs alternated); asserts nothing about
//! time. The TypeScript component is built with the SDK's `transflow-template-build` unless it
//! is up to date. `ENGINE_BENCH_EXTRA=name=path.wasm,…` adds components to the first-compile
//! list, e.g. a Python template made by `transflow new template --lang python` and `bake`.

use std::time::{Duration, Instant};
use test_components as components;
use transflow_runtime::job::JobState;
use transflow_runtime::{Compiler, EngineSettings, JobLimits, LoadSource, LoadedTemplate, TemplateEngine};

const TEMPLATES: &[(&str, &str)] = &[
    ("video-thumbnails", components::VIDEO_THUMBNAILS),
    ("video-encode", components::VIDEO_ENCODE),
    ("hls", components::HLS),
    ("audio-encode", components::AUDIO_ENCODE),
    ("image-resize", components::IMAGE_RESIZE),
];

/// Alternated pairs per issue 14 figure.
const PAIRS: usize = 5;
/// Instantiations whose median is one sample of the warm-instantiation figures.
const INSTANTIATIONS: usize = 500;

fn engine(cache: &std::path::Path) -> TemplateEngine {
    let settings = EngineSettings {
        cache_dir: cache.to_path_buf(),
        cache_key_file: None,
        max_instances: 64,
        limits: JobLimits::default(),
    };
    TemplateEngine::new(settings).expect("engine")
}

fn median<T: PartialOrd + Copy>(mut samples: Vec<T>) -> T {
    samples.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    samples[samples.len() / 2]
}

fn row(figure: &str, baseline: f64, subject: f64, unit: &str, goal: &str) {
    println!(
        "| {figure} | {baseline:.3} {unit} | {subject:.3} {unit} | {:.3} | {goal} |",
        subject / baseline
    );
}

#[tokio::main]
async fn main() {
    let cache = tempfile::tempdir().expect("temp dir");
    let engine = engine(cache.path());
    println!("pooling allocator: {}", engine.is_pooling());
    let typescript =
        std::fs::read(transflow_tests::typescript_thumbnails()).expect("video-thumbnails-ts built");
    let extra = std::env::var("ENGINE_BENCH_EXTRA").unwrap_or_default();
    let extra = extra
        .split(',')
        .filter(|item| !item.is_empty())
        .map(|item| item.split_once('=').expect("ENGINE_BENCH_EXTRA holds name=path.wasm items"));
    let mut components: Vec<(&str, Vec<u8>)> = TEMPLATES
        .iter()
        .copied()
        .chain(extra)
        .map(|(name, path)| (name, std::fs::read(path).expect("component built")))
        .collect();
    components.push(("video-thumbnails-ts", typescript.clone()));
    println!("first compile (cold cache; Winch for components of 1 MiB or more):");
    for (name, bytes) in &components {
        let started = Instant::now();
        let (template, source) = engine.load(bytes).await.expect("loads");
        assert_eq!(source, LoadSource::Compiled);
        let first = started.elapsed();
        let compiler = template.settled().await;
        assert_eq!(compiler, Compiler::Cranelift);
        println!(
            "  {name:<19} {:>5} KiB  {:>8.1} ms  (Cranelift's code after {:.1} ms)",
            bytes.len() / 1024,
            first.as_secs_f64() * 1e3,
            started.elapsed().as_secs_f64() * 1e3,
        );
    }

    let twins = components.iter().filter(|(name, _)| name.starts_with("video-thumbnails"));
    for (name, bytes) in twins {
        println!("{name}:");
        println!(
            "  cached precompiled load, median of 20: {:.3} ms",
            cached_load(&engine, bytes).await * 1e3
        );
    }

    println!("\n## issue 14 rows ({PAIRS} alternated pairs, medians)\n");
    println!("| figure | baseline | subject | ratio | goal |");
    println!("|---|---|---|---|---|");
    first_runs(&typescript).await;
    let (rust, _) = engine.load(&components[0].1).await.expect("loads");
    let (ts, _) = engine.load(&typescript).await.expect("loads");
    let empty = EmptyComponent::new();
    for (figure, template, goal) in [
        ("warm instantiation, video-thumbnails (Rust) ÷ an empty component", &rust, "≤ 5 µs"),
        ("warm instantiation, video-thumbnails-ts ÷ an empty component", &ts, "≤ 15 µs"),
    ] {
        let (mut baseline, mut subject) = (Vec::new(), Vec::new());
        for _ in 0..PAIRS {
            baseline.push(empty.instantiation().await * 1e6);
            subject.push(warm_instantiation(&engine, template).await * 1e6);
        }
        row(figure, median(baseline), median(subject), "µs", goal);
    }
}

/// A load of `video-thumbnails-ts` and one instantiation on a fresh engine, with an empty cache
/// (subject) and with the cache a previous engine of this process left (baseline), alternated.
/// Each subject's background compile is awaited before the next measurement so it does not
/// load the machine during it; its duration is what a first run cost before Winch.
async fn first_runs(typescript: &[u8]) {
    let warm_cache = tempfile::tempdir().expect("temp dir");
    let (template, _) = engine(warm_cache.path()).load(typescript).await.expect("loads");
    template.settled().await;
    let (mut warm, mut cold, mut cranelift) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..PAIRS {
        let (seconds, template) = first_run(warm_cache.path(), typescript).await;
        assert_eq!(template.compiler(), Compiler::Cranelift);
        warm.push(seconds);

        let empty_cache = tempfile::tempdir().expect("temp dir");
        let started = Instant::now();
        let (seconds, template) = first_run(empty_cache.path(), typescript).await;
        assert_eq!(template.compiler(), Compiler::Winch);
        cold.push(seconds);
        template.settled().await;
        cranelift.push(started.elapsed().as_secs_f64());
    }
    row(
        "first run of video-thumbnails-ts, empty cache ÷ warm cache (load + instantiate)",
        median(warm),
        median(cold),
        "s",
        "≤ 2 s",
    );
    println!(
        "\n(before issue 14 the first run waited for Cranelift: {:.2} s here, median)\n",
        median(cranelift)
    );
}

async fn first_run(cache: &std::path::Path, bytes: &[u8]) -> (f64, std::sync::Arc<LoadedTemplate>) {
    let started = Instant::now();
    let engine = engine(cache);
    let (template, _) = engine.load(bytes).await.expect("loads");
    let limits = JobLimits::default();
    let deadline = Instant::now() + Duration::from_secs(60);
    engine.instantiate(&template, JobState::for_describe(&limits), deadline).await.expect("instantiates");
    (started.elapsed().as_secs_f64(), template)
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

/// Median seconds to instantiate a loaded template into a fresh store, with a fresh job state.
async fn warm_instantiation(engine: &TemplateEngine, template: &LoadedTemplate) -> f64 {
    let limits = JobLimits::default();
    let mut instantiations = Vec::new();
    for _ in 0..INSTANTIATIONS {
        let deadline = Instant::now() + Duration::from_secs(60);
        let started = Instant::now();
        let instance = engine
            .instantiate(template, JobState::for_describe(&limits), deadline)
            .await
            .expect("instantiates");
        instantiations.push(started.elapsed());
        drop(instance);
    }
    median(instantiations).as_secs_f64()
}

/// The floor of the warm-instantiation figures: wasmtime's own cost for a component with
/// nothing in it, on a pooling, async engine like the one templates run on.
struct EmptyComponent {
    engine: wasmtime::Engine,
    pre: wasmtime::component::InstancePre<()>,
}

impl EmptyComponent {
    fn new() -> EmptyComponent {
        let mut config = wasmtime::Config::new();
        config.allocation_strategy(wasmtime::InstanceAllocationStrategy::pooling());
        let engine = wasmtime::Engine::new(&config).expect("engine");
        let component = wasmtime::component::Component::new(&engine, b"\0asm\x0d\0\x01\0").expect("compiles");
        let pre = wasmtime::component::Linker::new(&engine).instantiate_pre(&component).expect("links");
        EmptyComponent { engine, pre }
    }

    async fn instantiation(&self) -> f64 {
        let mut instantiations = Vec::new();
        for _ in 0..INSTANTIATIONS {
            let started = Instant::now();
            let mut store = wasmtime::Store::new(&self.engine, ());
            let instance = self.pre.instantiate_async(&mut store).await.expect("instantiates");
            instantiations.push(started.elapsed());
            drop((instance, store));
        }
        median(instantiations).as_secs_f64()
    }
}
