//! The embedded stack: every part of Transflow on one machine, from one data directory — the
//! API and page, the worker loop, webhooks — on local blobs, SQLite and a template directory.
//! `transflow dev` serves it; tests start it in-process on a loopback port.

use crate::api::server::{self, ServerTimeouts};
use crate::api::{ApiState, Auth, app};
use crate::backends::{BackendKind, OpenedBackends, local_signing_key, open_backends};
use crate::config::Config;
use crate::webhook::WebhookSecret;
use crate::worker::Worker;
use crate::worker::run_loop::{LoopSettings, run_loop};
use crate::worker::setup::{SetupError, WorkerDirs, configured_notify_secret};
use base64::Engine as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How long a stopping server waits for webhook deliveries still in flight.
const WEBHOOK_DRAIN: Duration = Duration::from_secs(10);

/// Where the embedded stack keeps things, under one data directory.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The template registry.
    pub templates: PathBuf,
    /// Compiled components, by sha256.
    pub cache: PathBuf,
    /// Job workspaces (deleted after each job).
    pub work: PathBuf,
    /// Results of `transflow run`: `{branch}/{assembly_id}/{step}/…`.
    pub outputs: PathBuf,
    /// The blob store (uploads and results of the stack).
    pub blobs: PathBuf,
    /// The SQLite status store.
    pub status_db: PathBuf,
    /// The SQLite job queue.
    pub queue_db: PathBuf,
    /// Generated secrets, mode 0600.
    pub secrets: PathBuf,
}

impl Layout {
    /// The key authenticating compiled components in [`Layout::cache`], among the secrets.
    pub fn cache_key(&self) -> PathBuf {
        self.secrets.join("cache.key")
    }

    /// The API token secret generated when `auth.jwt_secret` is not set, among the secrets.
    pub fn jwt_secret(&self) -> PathBuf {
        self.secrets.join("jwt.secret")
    }

    /// The layout under `data_dir`.
    pub fn under(data_dir: &Path) -> Layout {
        Layout {
            templates: data_dir.join("templates"),
            cache: data_dir.join("cache"),
            work: data_dir.join("work"),
            outputs: data_dir.join("outputs"),
            blobs: data_dir.join("blobs"),
            status_db: data_dir.join("status.sqlite"),
            queue_db: data_dir.join("queue.sqlite"),
            secrets: data_dir.join("secrets"),
        }
    }
}

/// A running-ready stack.
#[derive(Debug)]
pub struct Stack {
    /// The API's state (serve it with [`Stack::router`]).
    pub api: Arc<ApiState>,
    /// The worker the loop hands jobs to; tests call it directly.
    pub worker: Arc<Worker>,
    /// Loop tunables from the config.
    pub loop_settings: LoopSettings,
    /// A token for the `dev` user, when auth is on.
    pub dev_token: Option<String>,
    /// The HTTP server's timeouts from the config.
    pub server_timeouts: ServerTimeouts,
}

/// How the embedded stack authenticates requests (and `transflow token` signs): as `[auth]`
/// says, with a secret generated into the data directory the first time when none is configured.
pub fn auth(config: &Config, layout: &Layout) -> Result<Auth, SetupError> {
    Auth::from_config(&config.auth, || persisted_secret(&layout.jwt_secret(), || random_text(32)))
}

impl Stack {
    /// Opens every backend under `layout` with `config`; `public_url` is where clients reach
    /// the server (signed blob URLs start with it).
    pub async fn open(config: &Config, layout: &Layout, public_url: &str) -> Result<Stack, SetupError> {
        // This server answers the worker's prefix-signed URLs and the blob store's signed URLs:
        // they start with its public URL and are signed with its key, configured or generated.
        let mut config = config.clone();
        config.backend = BackendKind::Local;
        config.server.public_url = Some(public_url.to_owned());
        config.server.signing_key = Some(local_signing_key(&config, layout)?);
        let OpenedBackends { backends, local_blobs } = open_backends(&config, layout).await?;
        let auth = auth(&config, layout)?;
        let dev_token = auth.token_for("dev", Duration::from_secs(30 * 24 * 3600));

        let notify_secret = match configured_notify_secret(&config)? {
            Some(secret) => secret,
            None => {
                let text = persisted_secret(&layout.secrets.join("webhook.secret"), || {
                    WebhookSecret::generate().expose()
                })?;
                text.parse::<WebhookSecret>()
                    .map_err(|e| SetupError::Secret(format!("{}: {e}", layout.secrets.display())))?
            }
        };
        let dirs = WorkerDirs {
            work: layout.work.clone(),
            cache: layout.cache.clone(),
            cache_key: Some(layout.cache_key()),
        };
        let worker = Arc::new(
            crate::worker::setup::worker(&config, backends.clone(), dirs, Some(notify_secret)).await?,
        );
        let api = Arc::new(ApiState::new(
            &config,
            OpenedBackends { backends, local_blobs },
            auth,
            Some(public_url.to_owned()),
            worker.notifier.clone(),
        ));
        Ok(Stack {
            api,
            worker,
            loop_settings: LoopSettings::from_config(&config),
            dev_token,
            server_timeouts: ServerTimeouts::from_config(&config.server),
        })
    }

    /// The HTTP router.
    pub fn router(&self) -> axum::Router {
        app(self.api.clone())
    }

    /// Serves the API on `listener` and runs the worker until `shutdown` turns true; then stops
    /// taking requests and jobs, hands unfinished jobs back and gives webhooks in flight a few
    /// seconds before abandoning their remaining retries.
    pub async fn serve(self, listener: tokio::net::TcpListener, shutdown: watch::Receiver<bool>) {
        let worker =
            tokio::spawn(run_loop(self.worker.clone(), self.loop_settings.clone(), shutdown.clone()));
        let mut server_shutdown = shutdown.clone();
        server::serve(listener, self.router(), self.server_timeouts, async move {
            let _ = server_shutdown.wait_for(|stop| *stop).await;
        })
        .await;
        let _ = worker.await;
        let _ = tokio::time::timeout(WEBHOOK_DRAIN, self.worker.notifier.drain()).await;
    }
}

/// Reads a secret file, creating it (mode 0600) with `make()` the first time, so URLs and
/// tokens stay valid across restarts.
pub(crate) fn persisted_secret(path: &Path, make: impl FnOnce() -> String) -> Result<String, SetupError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let fail = |e: std::io::Error| SetupError::Secret(format!("secret file {}: {e}", path.display()));
    if let Ok(text) = std::fs::read_to_string(path) {
        return Ok(text.trim().to_owned());
    }
    if let Some(parent) = path.parent() {
        fs_err::create_dir_all(parent).map_err(fail)?;
    }
    let secret = make();
    let mut file =
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(fail)?;
    file.write_all(secret.as_bytes()).map_err(fail)?;
    Ok(secret)
}

pub(crate) fn random_text(bytes: usize) -> String {
    let random: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random)
}
