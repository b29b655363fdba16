//! `transflow status ID`: an assembly's status from the embedded store, or with `--aws`
//! from the DynamoDB table.

use crate::cli::StatusArgs;
use anyhow::{Result, bail};
use std::process::ExitCode;
use transflow_service::backends::{BackendKind, open_status_store};
use transflow_service::config::Config;
use transflow_service::embedded::Layout;

/// Prints the status JSON; exit code 1 when the assembly failed.
pub async fn status(paths: &Layout, config: &Config, args: StatusArgs) -> Result<ExitCode> {
    let origin = match config.backend {
        BackendKind::Aws => format!("table {}", config.aws_names().table),
        BackendKind::Local if !paths.status_db.is_file() => bail!(
            "no status store at {}\nhint: assemblies are recorded by `transflow dev`; pass --aws for a deployment",
            paths.status_db.display()
        ),
        BackendKind::Local => paths.status_db.display().to_string(),
    };
    let store = open_status_store(config, paths).await?;
    let Some(record) = store.get(&args.assembly_id).await? else {
        bail!("no assembly {} in {origin}", args.assembly_id);
    };
    println!("{}", serde_json::to_string_pretty(&record.value)?);
    Ok(if record.value.error.is_some() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
