//! `transflow serve`: the HTTP API of an AWS deployment. It signs S3 upload URLs and reads
//! status from DynamoDB; it never touches media, so one small instance serves many workers.

use crate::cli::ServeArgs;
use anyhow::{Context, Result, anyhow};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use transflow_host::api::server::{self, ServerTimeouts};
use transflow_host::api::{ApiState, Auth, app};
use transflow_host::backends::aws::AwsClients;
use transflow_host::config::Config;

/// Serves until SIGTERM or Ctrl-C.
pub async fn serve(config: &Config, args: ServeArgs) -> Result<ExitCode> {
    let auth = Auth::from_config(&config.auth, || {
        Err(anyhow!("`auth.jwt_secret` is required (or set `auth.disabled = true` on a trusted network)"))
    })?;
    let backends = AwsClients::connect(&config.aws).await.backends(config, None).await?;
    let state = ApiState {
        backends,
        local_blobs: None,
        auth,
        limits: config.limits.clone(),
        branch: config.branch.clone(),
        upload_url_ttl: Duration::from_secs(config.limits.upload_url_ttl_secs),
    };
    let listen = args.listen.as_deref().unwrap_or(&config.server.listen);
    let listener =
        tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    println!("Transflow API on http://{} (AWS backends)", listener.local_addr()?);
    let mut stopped = super::shutdown_signal("shutting down: finishing requests");
    server::serve(listener, app(Arc::new(state)), ServerTimeouts::from_config(&config.server), async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    })
    .await;
    Ok(ExitCode::SUCCESS)
}
