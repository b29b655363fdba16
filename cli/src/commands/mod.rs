//! One module per subcommand.

mod bake;
mod run;

use crate::cli::{Cli, Command};
use crate::settings::Paths;
use anyhow::Result;
use std::process::ExitCode;
use std::sync::Arc;
use transflow_host::{EngineSettings, JobLimits, TemplateEngine};

/// Runs the parsed command.
pub async fn execute(cli: Cli) -> Result<ExitCode> {
    let paths = Paths::under(&cli.data_dir);
    match cli.command {
        Command::Bake(args) => bake::bake(&paths, args).await,
        Command::Run(args) => run::run(&paths, args).await,
    }
}

/// The engine for this process, caching compiled components under the data directory.
fn engine(paths: &Paths, limits: JobLimits) -> Result<Arc<TemplateEngine>> {
    let settings = EngineSettings { cache_dir: paths.cache.clone(), max_instances: 16, limits };
    Ok(Arc::new(TemplateEngine::new(settings)?))
}
