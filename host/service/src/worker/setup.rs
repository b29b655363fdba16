//! Building a [`Worker`] from the configuration, for any backends: the embedded stack, the
//! Lambda function and the long-running SQS worker all start the same way.

use super::{Notifier, Worker, WorkerSettings};
use crate::config::Config;
use crate::webhook::{WebhookPolicy, WebhookSecret, WebhookSender};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use transflow_ffmpeg::MediaTools;
use transflow_runtime::engine::{EngineSettings, TemplateEngine};
use transflow_runtime::limits::JobLimits;
use transflow_store::backends::Backends;
use transflow_store::process_dir::ProcessDir;

/// Starting a worker failed.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A backend could not be opened.
    #[error(transparent)]
    Backend(#[from] transflow_store::backends::BackendError),
    /// The engine could not be built.
    #[error(transparent)]
    Engine(#[from] transflow_runtime::engine::EngineError),
    /// ffmpeg or ffprobe is missing, or cannot be confined as required.
    #[error("{0}")]
    Tools(String),
    /// A secret file could not be read or written, or a configured secret is malformed.
    #[error("{0}")]
    Secret(String),
    /// The work directory could not be set up.
    #[error("cannot set up the work directory {}: {source}", path.display())]
    WorkDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Where a worker keeps files on its own disk.
#[derive(Debug, Clone)]
pub struct WorkerDirs {
    /// Job workspaces and staged files, deleted after each job. The worker writes in its own
    /// [`ProcessDir`] under it, and removes those of processes that died mid-job when it starts.
    pub work: PathBuf,
    /// Compiled components by sha256, kept across jobs (and across restarts).
    pub cache: PathBuf,
    /// The key authenticating cached components across restarts (see
    /// [`EngineSettings::cache_key_file`]); `None` keeps it in memory (Lambda).
    pub cache_key: Option<PathBuf>,
}

/// A worker on `backends` configured by `config`; `notify_secret` signs deliveries to the
/// `notify_url` of assemblies (none: they are not sent).
pub async fn worker(
    config: &Config,
    backends: Backends,
    dirs: WorkerDirs,
    notify_secret: Option<WebhookSecret>,
) -> Result<Worker, SetupError> {
    let limits = JobLimits {
        step_timeout: Duration::from_secs(config.limits.step_timeout_secs),
        ..JobLimits::default()
    };
    let tool_settings = config.tools.settings().map_err(SetupError::Tools)?;
    let tools =
        Arc::new(MediaTools::detect(&tool_settings).await.map_err(|e| SetupError::Tools(e.to_string()))?);
    // Each job runs up to one step per CPU-budget slot at once, and loading a template takes
    // one more instance for `describe()`.
    let per_job = tools.cpu_budget().size() + 1;
    let max_instances = u32::try_from(config.worker.concurrency * per_job).unwrap_or(u32::MAX).max(4);
    let engine = Arc::new(TemplateEngine::new(EngineSettings {
        cache_dir: dirs.cache,
        cache_key_file: dirs.cache_key,
        max_instances,
        limits,
    })?);
    engine.check_cache_outside(&dirs.work)?;
    let work = dirs.work.clone();
    let work_dir = tokio::task::spawn_blocking(move || ProcessDir::claim(&work))
        .await
        .map_err(std::io::Error::other)
        .and_then(|claimed| claimed)
        .map_err(|source| SetupError::WorkDir { path: dirs.work.clone(), source })?;
    let notifier = notifier(config, &backends, notify_secret)?;
    if config.server.public_url.is_some() != config.server.signing_key.is_some() {
        tracing::warn!(
            "result and upload URLs are pre-signed per object (multi-file results do not play from them): \
             set both `server.public_url` and `server.signing_key` for URLs through the server's /r/ route"
        );
    }
    Ok(Worker {
        settings: WorkerSettings {
            lease_ttl: config.worker.lease(),
            public_urls: config.server.public_urls(),
            max_receive_count: backends.queue.max_receive_count(),
            ..WorkerSettings::default()
        },
        backends,
        engine,
        tools,
        work_dir,
        worker_id: format!("{}-{}-{:08x}", hostname(), std::process::id(), rand::random::<u32>()),
        notifier,
    })
}

/// The webhook sender `config` describes, for assemblies stored in `backends`; `notify_secret`
/// signs deliveries to their `notify_url` (none: those are not sent).
pub fn notifier(
    config: &Config,
    backends: &Backends,
    notify_secret: Option<WebhookSecret>,
) -> Result<Notifier, SetupError> {
    let mut template_secrets = BTreeMap::new();
    for (name, text) in &config.webhook.secrets {
        let secret = text
            .parse::<WebhookSecret>()
            .map_err(|e| SetupError::Secret(format!("webhook.secrets.{name}: {e}")))?;
        template_secrets.insert(name.clone(), secret);
    }
    let sender = WebhookSender::new(webhook_policy(config)).map_err(|e| SetupError::Secret(e.to_string()))?;
    Ok(Notifier::new(
        sender,
        notify_secret,
        template_secrets,
        backends.statuses.clone(),
        backends.templates.clone(),
    ))
}

/// Where webhooks may go and how they are retried, from `[webhook]`.
pub fn webhook_policy(config: &Config) -> WebhookPolicy {
    WebhookPolicy {
        allow_private: config.webhook.allow_private,
        allow_loopback: config.webhook.allow_loopback,
        timeout: Duration::from_secs(config.webhook.timeout_secs),
        retry_window: Duration::from_secs(config.webhook.retry_window_secs),
        max_attempts: config.webhook.max_attempts,
        ..WebhookPolicy::default()
    }
}

/// The configured `webhook.secret`, if any.
pub fn configured_notify_secret(config: &Config) -> Result<Option<WebhookSecret>, SetupError> {
    config
        .webhook
        .secret
        .as_deref()
        .map(|text| {
            text.parse::<WebhookSecret>().map_err(|e| SetupError::Secret(format!("webhook.secret: {e}")))
        })
        .transpose()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map_or_else(|_| "worker".into(), |h| h.trim().to_owned())
}
