//! The HTTP API (axum): create-upload, status, cancel, templates, prefix-signed file URLs, the
//! embedded blob endpoints and the upload page. [`app`] builds the router from its state, so tests serve it on a
//! loopback port exactly as `transflow dev` does.
//!
//! Errors are JSON `{"error": CODE, "message": …}` with a fitting HTTP status.

mod assemblies;
pub mod auth;
mod blobs;
mod page;
mod results;

use crate::backends::BackendError;
use crate::backends::local::LocalBlobStore;
use crate::backends::prefix_urls::PrefixSigner;
use crate::config::{Config, LimitsConfig};
use crate::retention::Retention;
use crate::webhook::WebhookPolicy;
use crate::worker::{Backends, Notifier};
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use std::sync::Arc;
use std::time::Duration;

pub use auth::Auth;

/// What the handlers share.
#[derive(Debug)]
pub struct ApiState {
    /// Storage.
    pub backends: Backends,
    /// The embedded blob store, whose signed URLs this server answers; `None` when blobs live
    /// elsewhere (S3 answers its own URLs).
    pub local_blobs: Option<Arc<LocalBlobStore>>,
    /// Checks the tokens of `/r/…` file URLs; `None` when this server has no signing key
    /// (`transflow serve` without `server.signing_key`), and then the route answers 404.
    pub file_tokens: Option<PrefixSigner>,
    /// How requests authenticate.
    pub auth: Auth,
    /// Upload limits.
    pub limits: LimitsConfig,
    /// How long uploads wait and what is kept.
    pub retention: Retention,
    /// The branch new assemblies belong to.
    pub branch: String,
    /// Upload URL lifetime.
    pub upload_url_ttl: Duration,
    /// Where clients reach this server (`assembly_url` starts with it); `None` leaves the
    /// status without absolute URLs.
    pub public_url: Option<String>,
    /// Where `notify_url`s may point; checked at create-upload.
    pub webhook_policy: WebhookPolicy,
    /// Sends the webhook of an assembly the API ends (a cancel).
    pub notifier: Notifier,
}

impl ApiState {
    /// The API as `config` sets it up over `backends`; `public_url` is where clients reach it.
    /// File URLs (`/r/…`) are answered when `server.signing_key` is set.
    pub fn new(
        config: &Config,
        backends: Backends,
        auth: Auth,
        local_blobs: Option<Arc<LocalBlobStore>>,
        public_url: Option<String>,
        notifier: Notifier,
    ) -> ApiState {
        ApiState {
            backends,
            local_blobs,
            file_tokens: PrefixSigner::from_config(&config.server),
            auth,
            limits: config.limits.clone(),
            retention: Retention::from_config(config),
            branch: config.branch.clone(),
            upload_url_ttl: Duration::from_secs(config.limits.upload_url_ttl_secs),
            public_url: public_url.map(|url| url.trim_end_matches('/').to_owned()),
            webhook_policy: crate::worker::setup::webhook_policy(config),
            notifier,
        }
    }
}

/// The router.
pub fn app(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/", get(page::index))
        .route("/api/create-upload", post(assemblies::create_upload))
        .route("/api/status/{assembly_id}", get(assemblies::status))
        .route("/api/assemblies/{assembly_id}", delete(assemblies::cancel))
        .route("/api/templates", get(assemblies::templates))
        .route("/blobs/{*key}", put(blobs::upload).get(blobs::download))
        .route("/r/{*file}", get(results::file).head(results::file))
        .with_state(state)
}

/// An error response.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine-readable code.
    pub code: &'static str,
    /// What was wrong and what to do.
    pub message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into() }
    }

    fn unauthorized(message: &str) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
    }

    fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    fn not_found(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, message)
    }
}

impl From<BackendError> for ApiError {
    fn from(error: BackendError) -> ApiError {
        match error {
            BackendError::NotFound(what) => ApiError::not_found("NOT_FOUND", format!("{what} not found")),
            BackendError::Rejected(message) => ApiError::bad_request("REJECTED", message),
            BackendError::Conflict(what) => ApiError::new(
                StatusCode::CONFLICT,
                "CONFLICT",
                format!("{what} was changed concurrently; try again"),
            ),
            BackendError::Io { .. } => {
                tracing::error!(%error, "backend failure");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "BACKEND_UNAVAILABLE",
                    "storage failed; try again later",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.code, "message": self.message });
        (self.status, axum::Json(body)).into_response()
    }
}
