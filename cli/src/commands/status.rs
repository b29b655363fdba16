//! `transflow status ID`: an assembly's status from the embedded store.

use crate::cli::StatusArgs;
use anyhow::{Result, bail};
use std::process::ExitCode;
use transflow_host::backends::StatusStore;
use transflow_host::backends::local::SqliteStatusStore;
use transflow_host::embedded::Layout;

/// Prints the status JSON; exit code 1 when the assembly failed.
pub async fn status(paths: &Layout, args: StatusArgs) -> Result<ExitCode> {
    if !paths.status_db.is_file() {
        bail!(
            "no status store at {}\nhint: assemblies are recorded by `transflow dev`",
            paths.status_db.display()
        );
    }
    let store = SqliteStatusStore::open(&paths.status_db)?;
    let Some(record) = store.get(&args.assembly_id).await? else {
        bail!("no assembly {} in {}", args.assembly_id, paths.status_db.display());
    };
    println!("{}", serde_json::to_string_pretty(&record.value)?);
    Ok(if record.value.error.is_some() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
