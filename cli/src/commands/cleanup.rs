//! `transflow cleanup --branch B`: a branch's objects and status records leave AWS; buckets,
//! tables and other branches stay.

use crate::cli::CleanupArgs;
use anyhow::Result;
use std::process::ExitCode;
use transflow_host::backends::aws::AwsClients;
use transflow_host::backends::delete_branch;
use transflow_host::config::Config;

/// Deletes and reports counts.
pub async fn cleanup(config: &Config, args: CleanupArgs) -> Result<ExitCode> {
    let clients = AwsClients::connect(&config.aws).await;
    let deleted =
        delete_branch(clients.blobs(config).as_ref(), clients.statuses(config).as_ref(), &args.branch)
            .await?;
    println!(
        "branch {}: deleted {} upload(s), {} output(s), {} status record(s)",
        args.branch, deleted.uploads, deleted.outputs, deleted.statuses
    );
    Ok(ExitCode::SUCCESS)
}
