//! `transflow templates publish|list|rollback` on the local registry or, with `--aws`, the
//! S3 one that deployed workers read at every job.

use crate::cli::TemplatesCommand;
use anyhow::{Context, Result};
use std::process::ExitCode;
use transflow_runtime::JobLimits;
use transflow_service::backends::open_template_registry;
use transflow_service::config::Config;
use transflow_service::embedded::Layout;

/// Runs one registry command.
pub async fn templates(paths: &Layout, config: &Config, command: TemplatesCommand) -> Result<ExitCode> {
    let registry = open_template_registry(config, paths).await;
    match command {
        TemplatesCommand::Publish(args) => {
            let bytes = fs_err::read(&args.wasm)?;
            let language = match args.language {
                Some(language) => language,
                None => super::bake::component_language(&bytes)
                    .with_context(|| format!("cannot read {}", args.wasm.display()))?
                    .with_context(|| {
                        format!(
                            "{} does not say which language it was written in\nhint: pass --language (rust, typescript, javascript, python, …)",
                            args.wasm.display()
                        )
                    })?
                    .to_owned(),
            };
            let engine = super::engine(paths, JobLimits::default())?;
            let version = super::bake::checked_version(&engine, &bytes, &language)
                .await
                .with_context(|| format!("the host rejects {}", args.wasm.display()))?;
            registry.publish(&bytes, version.clone()).await?;
            println!("published {} {}", version.id, version.sha256);
        }
        TemplatesCommand::List => {
            for summary in registry.list().await? {
                let current = &summary.current;
                println!(
                    "{}  current {}  {}  published {}  {} version(s)",
                    current.id,
                    &current.sha256[..12],
                    current.language,
                    current.published_at,
                    summary.versions.len()
                );
            }
        }
        TemplatesCommand::Rollback(args) => {
            let version = registry.rollback(&args.id, args.to.as_deref()).await?;
            println!("{} is now at {} (published {})", version.id, version.sha256, version.published_at);
        }
    }
    Ok(ExitCode::SUCCESS)
}
