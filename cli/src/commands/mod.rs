//! One module per subcommand.

mod bake;
mod cleanup;
mod deploy;
mod dev;
mod new;
mod run;
mod serve;
mod status;
mod templates;
mod token;
mod worker;

use crate::cli::{Cli, Command};
use anyhow::Result;
use std::process::ExitCode;
use std::sync::Arc;
use transflow_runtime::{EngineSettings, JobLimits, TemplateEngine};
use transflow_service::backends::BackendKind;
use transflow_service::config::Config;
use transflow_service::embedded::Layout;

/// Runs the parsed command.
pub async fn execute(cli: Cli) -> Result<ExitCode> {
    let mut config = Config::load(&cli.config, std::env::vars())?;
    if let Some(data_dir) = cli.data_dir {
        config.data_dir = data_dir;
    }
    if cli.aws {
        config.backend = BackendKind::Aws;
    }
    let paths = Layout::under(&config.data_dir);
    match cli.command {
        Command::Bake(args) => bake::bake(&paths, &config, args).await,
        Command::New(command) => new::new(command),
        Command::Run(args) => run::run(&paths, &config, args).await,
        Command::Dev(args) => dev::dev(&paths, config, args).await,
        Command::Status(args) => status::status(&paths, &config, args).await,
        Command::Templates(command) => templates::templates(&paths, &config, command).await,
        Command::Serve(args) => serve::serve(&config, args).await,
        Command::Worker(args) => worker::worker(&paths, &config, args).await,
        Command::Token(args) => token::token(&paths, &config, args),
        Command::Cleanup(args) => cleanup::cleanup(&config, args).await,
        Command::Deploy(args) => deploy::run(&config, args).await,
    }
}

/// A channel that turns true at the first SIGTERM or SIGINT, after printing `message`. The
/// handlers are in place when it returns, so a signal sent after that is never the default
/// (an abrupt exit).
fn shutdown_signal(message: &'static str) -> tokio::sync::watch::Receiver<bool> {
    use tokio::signal::unix::{SignalKind, signal};
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let (Ok(mut interrupt), Ok(mut terminate)) =
        (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
    else {
        return stopped;
    };
    tokio::spawn(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        eprintln!("{message}");
        let _ = stop.send(true);
    });
    stopped
}

/// The engine for this process, caching compiled components under the data directory.
fn engine(paths: &Layout, limits: JobLimits) -> Result<Arc<TemplateEngine>> {
    let settings = EngineSettings {
        cache_dir: paths.cache.clone(),
        cache_key_file: Some(paths.cache_key()),
        max_instances: 16,
        limits,
    };
    let engine = TemplateEngine::new(settings)?;
    engine.check_cache_outside(&paths.work)?;
    Ok(Arc::new(engine))
}
