//! `transflow serve`: the HTTP API of an AWS deployment. It signs S3 upload URLs and reads
//! status from DynamoDB. Uploads go straight to S3; with `server.signing_key` it also streams
//! results and originals from S3 behind prefix-signed `/r/…` URLs, the only media it touches.

use crate::cli::ServeArgs;
use anyhow::{Context, Result, anyhow};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use transflow_service::api::server::{self, ServerTimeouts};
use transflow_service::api::{ApiState, Auth, app};
use transflow_service::backends::{BackendKind, open_backends};
use transflow_service::config::Config;
use transflow_service::embedded::Layout;
use transflow_service::worker::setup::{configured_notify_secret, notifier};

/// Serves until SIGTERM or Ctrl-C.
pub async fn serve(config: &Config, args: ServeArgs) -> Result<ExitCode> {
    let auth = Auth::from_config(&config.auth, || {
        Err(anyhow!("`auth.jwt_secret` is required (or set `auth.disabled = true` on a trusted network)"))
    })?;
    let mut config = config.clone();
    config.backend = BackendKind::Aws;
    let config = &config;
    let opened = open_backends(config, &Layout::under(&config.data_dir)).await?;
    let listen = args.listen.as_deref().unwrap_or(&config.server.listen);
    let listener =
        tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr()?;
    let public_url = config.server.public_url.clone().unwrap_or_else(|| format!("http://{address}"));
    let notifier = notifier(config, &opened.backends, configured_notify_secret(config)?)?;
    let state = ApiState::new(config, opened, auth, Some(public_url.clone()), notifier.clone());
    println!("Transflow API on http://{address} (AWS backends)");
    if state.file_tokens.is_none() {
        println!("  file URLs (/r/…): off; set `server.signing_key` (and give the workers the same)");
    }
    let mut stopped = super::shutdown_signal("shutting down: finishing requests");
    server::serve(listener, app(Arc::new(state)), ServerTimeouts::from_config(&config.server), async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    })
    .await;
    // Webhooks of assemblies canceled here: give them a moment, as `transflow dev` does.
    let _ = tokio::time::timeout(Duration::from_secs(10), notifier.drain()).await;
    Ok(ExitCode::SUCCESS)
}
