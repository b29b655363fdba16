//! `bootstrap`: the Lambda worker, the entry point of the container image.
//!
//! Configuration comes from `TRANSFLOW_*` variables (set by `transflow deploy`) over an
//! optional `transflow.toml`; everything written goes under `/tmp`, the only writable place in
//! Lambda. The worker, its engine and its compiled-template cache live as long as the sandbox,
//! so warm invocations skip all of it. The handler itself is
//! [`transflow_service::lambda::handle_batch`].

use lambda_runtime::{Error, LambdaEvent, service_fn};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use transflow_service::backends::{BackendKind, open_backends};
use transflow_service::config::Config;
use transflow_service::embedded::Layout;
use transflow_service::lambda::{SqsBatchResponse, SqsEvent, handle_batch};
use transflow_service::worker::Worker;
use transflow_service::worker::setup::{WorkerDirs, configured_notify_secret};

/// The longest a response waits for webhook deliveries of the batch; retries beyond it are
/// lost when the sandbox is frozen.
const WEBHOOK_DRAIN: Duration = Duration::from_secs(30);

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TRANSFLOW_LOG").unwrap_or_else(|_| "info".into()),
        )
        .with_current_span(false)
        .without_time()
        .init();
    let worker = Arc::new(start().await?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let worker = worker.clone();
        async move { Ok::<_, Error>(invoke(&worker, event).await) }
    }))
    .await
}

async fn start() -> Result<Worker, Error> {
    let config_path =
        std::env::var_os("TRANSFLOW_CONFIG").map_or_else(|| PathBuf::from("transflow.toml"), PathBuf::from);
    let mut config = Config::load(&config_path, std::env::vars())?;
    config.backend = BackendKind::Aws;
    let data_dir =
        std::env::var_os("TRANSFLOW_DATA_DIR").map_or_else(|| PathBuf::from("/tmp/transflow"), PathBuf::from);
    let backends = open_backends(&config, &Layout::under(&data_dir)).await?.backends;
    // A new Lambda environment starts with an empty /tmp: the cache key can live in memory.
    let dirs = WorkerDirs { work: data_dir.join("work"), cache: data_dir.join("cache"), cache_key: None };
    Ok(transflow_service::worker::setup::worker(&config, backends, dirs, configured_notify_secret(&config)?)
        .await?)
}

async fn invoke(worker: &Worker, event: LambdaEvent<SqsEvent>) -> SqsBatchResponse {
    let deadline = event.context.deadline();
    let response = handle_batch(worker, event.payload, deadline).await;
    let remaining = deadline.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO);
    let _ = tokio::time::timeout(remaining.min(WEBHOOK_DRAIN) / 2, worker.notifier.drain()).await;
    response
}
