//! Opening the backends `transflow.toml` names. Every process opens them here: the embedded
//! stack, `transflow serve`, both workers and the operator commands, so they agree on where
//! data lives.

use crate::config::Config;
use crate::embedded::{Layout, persisted_secret, random_text};
use crate::worker::setup::SetupError;
use serde::Deserialize;
use std::sync::Arc;
use transflow_local::{DirTemplateRegistry, LocalBlobStore, LocalSettings, SqliteStatusStore};
use transflow_store::backends::{Backends, StatusStore, TemplateRegistry};

/// Which backends a process uses: `backend = "local" | "aws"` (the CLI's `--aws` sets `aws`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// Files, SQLite and a template directory under the data directory.
    #[default]
    Local,
    /// S3, DynamoDB and SQS as `[aws]` names them.
    Aws,
}

/// The four backends, and the local blob store itself when the backends are local: the API
/// serves its signed upload and download URLs.
#[derive(Debug, Clone)]
pub struct OpenedBackends {
    /// The four backends, for the worker and the API alike.
    pub backends: Backends,
    /// The local blob store, for the `/blobs/` routes; `None` on AWS.
    pub local_blobs: Option<Arc<LocalBlobStore>>,
}

/// Opens the four backends `config.backend` names. Local ones live under `layout`; their
/// blob URLs start with `server.public_url` (else `http://{server.listen}`) and are signed with
/// `server.signing_key` (else a key generated once into the data directory).
pub async fn open_backends(config: &Config, layout: &Layout) -> Result<OpenedBackends, SetupError> {
    match config.backend {
        BackendKind::Aws => {
            let backends = config
                .aws_clients()
                .await
                .open(&config.aws_settings(), config.aws.queue_url.as_deref())
                .await?;
            Ok(OpenedBackends { backends, local_blobs: None })
        }
        BackendKind::Local => {
            let public_url = config
                .server
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{}", config.server.listen));
            let (backends, local_blobs) = transflow_local::open(&LocalSettings {
                blobs: layout.blobs.clone(),
                status_db: layout.status_db.clone(),
                queue_db: layout.queue_db.clone(),
                templates: layout.templates.clone(),
                blob_url_base: format!("{public_url}/blobs"),
                signing_key: local_signing_key(config, layout)?.into_bytes(),
                max_receive_count: config.worker.max_receive_count,
            })?;
            Ok(OpenedBackends { backends, local_blobs: Some(local_blobs) })
        }
    }
}

/// Only the status store, for commands that read records and must not create the rest.
pub async fn open_status_store(config: &Config, layout: &Layout) -> Result<Arc<dyn StatusStore>, SetupError> {
    Ok(match config.backend {
        BackendKind::Aws => config.aws_clients().await.statuses(&config.aws_settings()),
        BackendKind::Local => Arc::new(SqliteStatusStore::open(&layout.status_db)?),
    })
}

/// Only the template registry, for the commands that publish and list templates.
pub async fn open_template_registry(config: &Config, layout: &Layout) -> Arc<dyn TemplateRegistry> {
    match config.backend {
        BackendKind::Aws => config.aws_clients().await.templates(&config.aws_settings()),
        BackendKind::Local => Arc::new(DirTemplateRegistry::new(&layout.templates)),
    }
}

/// The key signing local blob URLs and `/r/…` file URLs: `server.signing_key`, else one
/// generated into the data directory the first time, so URLs stay valid across restarts.
pub fn local_signing_key(config: &Config, layout: &Layout) -> Result<String, SetupError> {
    match &config.server.signing_key {
        Some(key) => Ok(key.clone()),
        None => persisted_secret(&layout.secrets.join("signing.key"), || random_text(32)),
    }
}
