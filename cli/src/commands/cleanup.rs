//! `transflow cleanup --branch B`: a branch's objects and status records leave AWS; buckets,
//! tables and other branches stay.

use crate::cli::CleanupArgs;
use anyhow::Result;
use std::process::ExitCode;
use transflow_service::config::Config;
use transflow_store::backends::delete_branch;

/// Deletes and reports counts.
pub async fn cleanup(config: &Config, args: CleanupArgs) -> Result<ExitCode> {
    let clients = config.aws_clients().await;
    let settings = config.aws_settings();
    let deleted =
        delete_branch(clients.blobs(&settings).as_ref(), clients.statuses(&settings).as_ref(), &args.branch)
            .await?;
    println!(
        "branch {}: deleted {} upload(s), {} output(s), {} status record(s)",
        args.branch, deleted.uploads, deleted.outputs, deleted.statuses
    );
    Ok(ExitCode::SUCCESS)
}
