//! `transflow worker`: the long-running SQS worker of an AWS deployment, for hosts without
//! Lambda's 15-minute limit. It runs the same loop as `transflow dev`'s worker; SIGTERM stops
//! taking jobs and hands running ones back (lease released, message visible again).

use crate::cli::WorkerArgs;
use anyhow::Result;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use transflow_service::backends::{BackendKind, open_backends};
use transflow_service::config::Config;
use transflow_service::embedded::Layout;
use transflow_service::worker::run_loop::{LoopSettings, run_loop};
use transflow_service::worker::setup::{WorkerDirs, configured_notify_secret};

/// How long a stopping worker waits for webhook deliveries still in flight.
const WEBHOOK_DRAIN: Duration = Duration::from_secs(10);

/// Runs until SIGTERM or Ctrl-C.
pub async fn worker(paths: &Layout, config: &Config, args: WorkerArgs) -> Result<ExitCode> {
    let started = std::time::Instant::now();
    let mut config = config.clone();
    config.backend = BackendKind::Aws;
    if args.queue_url.is_some() {
        config.aws.queue_url = args.queue_url;
    }
    let config = &config;
    let backends = open_backends(config, paths).await?.backends;
    let dirs = WorkerDirs {
        work: paths.work.clone(),
        cache: paths.cache.clone(),
        cache_key: Some(paths.cache_key()),
    };
    let worker = Arc::new(
        transflow_service::worker::setup::worker(config, backends, dirs, configured_notify_secret(config)?)
            .await?,
    );
    eprintln!(
        "worker {} ready in {} ms (max receive count {})",
        worker.worker_id,
        started.elapsed().as_millis(),
        worker.settings.max_receive_count
    );
    let stopped = super::shutdown_signal("stopping: handing running jobs back to the queue");
    run_loop(worker.clone(), LoopSettings::from_config(config), stopped).await;
    let _ = tokio::time::timeout(WEBHOOK_DRAIN, worker.notifier.drain()).await;
    Ok(ExitCode::SUCCESS)
}
