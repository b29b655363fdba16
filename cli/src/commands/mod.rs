//! One module per subcommand.

mod bake;
mod dev;
mod run;
mod status;

use crate::cli::{Cli, Command};
use anyhow::Result;
use std::process::ExitCode;
use std::sync::Arc;
use transflow_host::config::Config;
use transflow_host::embedded::Layout;
use transflow_host::{EngineSettings, JobLimits, TemplateEngine};

/// Runs the parsed command.
pub async fn execute(cli: Cli) -> Result<ExitCode> {
    let mut config = Config::load(&cli.config, std::env::vars())?;
    if let Some(data_dir) = cli.data_dir {
        config.data_dir = data_dir;
    }
    let paths = Layout::under(&config.data_dir);
    match cli.command {
        Command::Bake(args) => bake::bake(&paths, args).await,
        Command::Run(args) => run::run(&paths, args).await,
        Command::Dev(args) => dev::dev(&paths, config, args).await,
        Command::Status(args) => status::status(&paths, args).await,
    }
}

/// The engine for this process, caching compiled components under the data directory.
fn engine(paths: &Layout, limits: JobLimits) -> Result<Arc<TemplateEngine>> {
    let settings = EngineSettings { cache_dir: paths.cache.clone(), max_instances: 16, limits };
    Ok(Arc::new(TemplateEngine::new(settings)?))
}
