//! `transflow dev`: the API, the upload page, the worker and webhooks in one process on
//! embedded defaults, until Ctrl-C or SIGTERM.

use crate::cli::DevArgs;
use anyhow::{Context, Result};
use std::net::SocketAddr;
use std::process::ExitCode;
use transflow_service::config::Config;
use transflow_service::embedded::{Layout, Stack};

/// Serves until a shutdown signal; then hands unfinished jobs back to the queue.
pub async fn dev(paths: &Layout, config: Config, args: DevArgs) -> Result<ExitCode> {
    let mut listen: SocketAddr = config.server.listen.parse().with_context(|| {
        format!("server.listen `{}` is not an address like 127.0.0.1:8080", config.server.listen)
    })?;
    if let Some(port) = args.port {
        listen.set_port(port);
    }
    let listener =
        tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let bound = listener.local_addr()?;
    let public_url = config.server.public_url.clone().unwrap_or_else(|| format!("http://{bound}"));
    let stack = Stack::open(&config, paths, &public_url).await?;

    // Before the URL is printed: whoever reads it may send SIGTERM at once.
    let stopped =
        super::shutdown_signal("shutting down: finishing requests, handing running jobs back to the queue");
    let templates = stack.api.backends.templates.list().await?;
    if templates.is_empty() {
        eprintln!("warning: no templates in {}; run `transflow bake` first", paths.templates.display());
    }
    println!("Transflow dev server on {public_url}");
    match &stack.dev_token {
        Some(token) => {
            println!("  page:   {public_url}/#token={token}");
            println!("  token:  {token}");
        }
        None => println!("  page:   {public_url}/   (auth disabled)"),
    }
    if config.webhook.secret.is_none() {
        println!(
            "  webhooks are signed with the secret in {}",
            paths.secrets.join("webhook.secret").display()
        );
    }
    println!(
        "  templates: {}",
        templates.iter().map(|t| t.current.id.as_str()).collect::<Vec<_>>().join(", ")
    );
    println!("  data: {}", config.data_dir.display());

    stack.serve(listener, stopped).await;
    Ok(ExitCode::SUCCESS)
}
