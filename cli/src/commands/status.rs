//! `transflow status ID`: an assembly's status from the embedded store, or with `--aws`
//! from the DynamoDB table.

use crate::cli::StatusArgs;
use anyhow::{Result, bail};
use std::process::ExitCode;
use std::sync::Arc;
use transflow_host::backends::StatusStore;
use transflow_host::backends::aws::AwsClients;
use transflow_host::backends::local::SqliteStatusStore;
use transflow_host::config::Config;
use transflow_host::embedded::Layout;

/// Prints the status JSON; exit code 1 when the assembly failed.
pub async fn status(paths: &Layout, config: &Config, aws: bool, args: StatusArgs) -> Result<ExitCode> {
    let (store, origin): (Arc<dyn StatusStore>, String) = if aws {
        let table = config.aws_names().table;
        (AwsClients::connect(&config.aws).await.statuses(config), format!("table {table}"))
    } else {
        if !paths.status_db.is_file() {
            bail!(
                "no status store at {}\nhint: assemblies are recorded by `transflow dev`; pass --aws for a deployment",
                paths.status_db.display()
            );
        }
        (Arc::new(SqliteStatusStore::open(&paths.status_db)?), paths.status_db.display().to_string())
    };
    let Some(record) = store.get(&args.assembly_id).await? else {
        bail!("no assembly {} in {origin}", args.assembly_id);
    };
    println!("{}", serde_json::to_string_pretty(&record.value)?);
    Ok(if record.value.error.is_some() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
