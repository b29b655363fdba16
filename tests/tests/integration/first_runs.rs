//! Fast first runs (issue 14): a large component runs Winch's code at once and Cranelift's
//! once the background compile is done; small ones compile with Cranelift directly.

use std::time::Duration;
use test_components as components;
use transflow_runtime::{Compiler, EngineSettings, JobLimits, LoadSource, TemplateEngine};
use transflow_tests::{
    Harness, assert_completed, ffprobe, media, result_path, stream, typescript_thumbnails,
};

/// Generous for Cranelift's 11.5 MiB compile on a loaded 2-core machine; never reached when it works.
const SWAP_WITHIN: Duration = Duration::from_secs(600);

/// Runs the TypeScript thumbnails on `harness` and checks its three JPEGs.
async fn thumbnails_run(harness: &Harness, component: &str) {
    let run = harness.run(component, &[&media().clip], &[("count", "3"), ("width", "160")]).await;
    assert_completed(&run.status);
    let thumbs = &run.status.results["thumbnails"];
    assert_eq!(thumbs.len(), 3);
    for thumb in thumbs {
        let probe = ffprobe(&result_path(thumb.url.as_deref().unwrap()));
        assert_eq!(stream(&probe, "video")["codec_name"], "mjpeg");
    }
}

#[tokio::test]
async fn a_large_template_runs_winch_code_first_and_cranelift_code_after_the_swap() {
    let component = typescript_thumbnails();
    let component = component.to_str().unwrap();
    let harness = Harness::new().await;
    let bytes = std::fs::read(component).unwrap();
    let (template, source) = harness.engine.load(&bytes).await.unwrap();
    assert_eq!(source, LoadSource::Compiled);
    assert_eq!(template.compiler(), Compiler::Winch, "the first run must not wait for Cranelift");
    // A whole job on Winch's code, while Cranelift compiles beside it.
    thumbnails_run(&harness, component).await;

    let settled = tokio::time::timeout(SWAP_WITHIN, template.settled()).await.expect("the swap happens");
    assert_eq!(settled, Compiler::Cranelift);
    assert_eq!(harness.engine.load(&bytes).await.unwrap().0.compiler(), Compiler::Cranelift);
    thumbnails_run(&harness, component).await;

    // Cranelift's code was cached: another engine of this process starts with it.
    let restarted = TemplateEngine::new(EngineSettings {
        cache_dir: harness.dir().join("cache"),
        cache_key_file: None,
        max_instances: 2,
        limits: JobLimits::default(),
    })
    .unwrap();
    let (again, source) = restarted.load(&bytes).await.unwrap();
    assert_eq!((source, again.compiler()), (LoadSource::DiskCache, Compiler::Cranelift));
}

#[tokio::test]
async fn a_large_template_whose_cranelift_artifact_is_forged_gets_winch_code_not_the_forgery() {
    let bytes = std::fs::read(typescript_thumbnails()).unwrap();
    let harness = Harness::new().await;
    let (template, _) = harness.engine.load(&bytes).await.unwrap();
    tokio::time::timeout(SWAP_WITHIN, template.settled()).await.unwrap();
    let cache = harness.dir().join("cache");
    let artifacts: Vec<_> = std::fs::read_dir(&cache).unwrap().map(|entry| entry.unwrap().path()).collect();
    assert_eq!(artifacts.len(), 2, "Winch's and Cranelift's code: {artifacts:?}");
    let mut forgeries = Vec::new();
    for artifact in &artifacts {
        let mut forged = std::fs::read(artifact).unwrap();
        let middle = forged.len() / 2;
        forged[middle] ^= 0x01;
        std::fs::write(artifact, &forged).unwrap();
        forgeries.push(forged);
    }
    harness.engine.forget(&template.version);
    let (template, source) = harness.engine.load(&bytes).await.unwrap();
    assert_eq!(
        (source, template.compiler()),
        (LoadSource::Compiled, Compiler::Winch),
        "neither file is trusted"
    );
    assert_eq!(tokio::time::timeout(SWAP_WITHIN, template.settled()).await.unwrap(), Compiler::Cranelift);
    for (artifact, forged) in artifacts.iter().zip(&forgeries) {
        assert!(std::fs::read(artifact).unwrap() != *forged, "{} was compiled anew", artifact.display());
    }
}

#[tokio::test]
async fn a_small_template_compiles_with_cranelift_at_once() {
    let harness = Harness::new().await;
    let bytes = std::fs::read(components::VIDEO_THUMBNAILS).unwrap();
    assert!(bytes.len() < transflow_runtime::engine::BASELINE_FIRST_BYTES);
    let (template, source) = harness.engine.load(&bytes).await.unwrap();
    assert_eq!((source, template.compiler()), (LoadSource::Compiled, Compiler::Cranelift));
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(1), template.settled()).await.unwrap(),
        Compiler::Cranelift
    );
}
