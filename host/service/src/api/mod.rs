//! The HTTP API (axum): create-upload, status, cancel, templates, prefix-signed file URLs, the
//! embedded blob endpoints and the upload page. [`app`] builds the router from its state and
//! [`server::serve`] serves it, so tests serve it on a loopback port exactly as `transflow dev`
//! does.
//!
//! Errors are JSON `{"error": CODE, "message": …}` with a fitting HTTP status, unknown paths and
//! methods included.

mod assemblies;
pub mod auth;
mod blobs;
mod page;
mod results;
pub mod server;

use crate::backends::OpenedBackends;
use crate::config::{Config, LimitsConfig};
use crate::retention::Retention;
use crate::webhook::WebhookPolicy;
use crate::worker::Notifier;
use axum::Router;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use std::sync::Arc;
use std::time::Duration;
use transflow_local::LocalBlobStore;
use transflow_store::backends::BackendError;
use transflow_store::backends::Backends;
use transflow_store::prefix_urls::PrefixSigner;

pub use auth::Auth;

/// What the handlers share.
#[derive(Debug)]
pub struct ApiState {
    /// Where assemblies, uploads and templates live; the routes read and write nothing else.
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
        opened: OpenedBackends,
        auth: Auth,
        public_url: Option<String>,
        notifier: Notifier,
    ) -> ApiState {
        ApiState {
            backends: opened.backends,
            local_blobs: opened.local_blobs,
            file_tokens: config.server.file_tokens(),
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
        // After every route: it applies to the routes added before it.
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(no_route)
        .with_state(state)
}

async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(
        "NO_ROUTE",
        format!("nothing answers {method} {}; the API is under /api/", uri.path()),
    )
}

/// axum adds the `Allow` header to this answer.
async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        format!("{} does not take {method}; the `Allow` header lists the methods it takes", uri.path()),
    )
}

/// An error response.
#[derive(Debug)]
pub struct ApiError {
    /// The response's status: 4xx for the caller's mistakes, 5xx for ours.
    pub status: StatusCode,
    /// The body's `error`, upper-case and stable (`INVALID_REQUEST`), for clients to match on.
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
            BackendError::Body { key, source } => body_error(&key, &source),
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

/// A request body that could not be read is the client's doing (it went away, stalled, or sent
/// a body its headers do not frame), so it is logged below ERROR and answered with a 4xx, in
/// case the client is still there to read it.
fn body_error(key: &str, error: &std::io::Error) -> ApiError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = error.get_ref().map(|inner| inner as _);
    while let Some(current) = cause {
        if let Some(server::BodyStalled(idle)) = current.downcast_ref() {
            tracing::info!(key, "client error: the upload sent nothing for {idle:?}");
            return ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "BODY_STALLED",
                format!("the body sent nothing for {} s; upload it again", idle.as_secs()),
            );
        }
        cause = current.source();
    }
    tracing::info!(key, %error, "client error: the upload body could not be read");
    ApiError::bad_request(
        "BODY_UNREADABLE",
        format!(
            "the body could not be read ({error}); send it again, framed by Content-Length or by \
             Transfer-Encoding: chunked"
        ),
    )
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.code, "message": self.message });
        (self.status, axum::Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::server::{ServerTimeouts, serve};
    use super::*;
    use std::sync::Mutex;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use transflow_local::{DirTemplateRegistry, SqliteJobQueue, SqliteStatusStore};
    use transflow_store::backends::{BlobSpec, BlobStore};

    /// Bounds every wait, so a broken test fails instead of hanging.
    const GUARD: Duration = Duration::from_secs(30);

    /// The API on a loopback port with local blobs (no auth); returns its address and store.
    async fn served(dir: &std::path::Path) -> (String, Arc<LocalBlobStore>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let blobs = Arc::new(
            LocalBlobStore::new(dir.join("blobs"), format!("http://{address}/blobs"), b"key").unwrap(),
        );
        let backends = Backends {
            blobs: blobs.clone(),
            statuses: Arc::new(SqliteStatusStore::open(&dir.join("status.sqlite")).unwrap()),
            queue: Arc::new(SqliteJobQueue::open(&dir.join("queue.sqlite"), 5).unwrap()),
            templates: Arc::new(DirTemplateRegistry::new(dir.join("templates"))),
        };
        let public_url = Some(format!("http://{address}"));
        let state = ApiState::new(
            &Config::default(),
            OpenedBackends { backends, local_blobs: Some(blobs.clone()) },
            Auth::Disabled,
            public_url,
            Notifier::disabled(),
        );
        let timeouts = ServerTimeouts { header_read: GUARD, body_idle: Duration::from_secs(1) };
        tokio::spawn(serve(listener, app(Arc::new(state)), timeouts, std::future::pending()));
        (address, blobs)
    }

    /// Sends `request` (then, with `hang_up`, closes the sending side) and returns everything
    /// the server answers until it closes the connection.
    async fn exchange(address: &str, request: &[u8], hang_up: bool) -> String {
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream.write_all(request).await.unwrap();
        if hang_up {
            stream.shutdown().await.unwrap();
        }
        let mut answer = Vec::new();
        tokio::time::timeout(GUARD, stream.read_to_end(&mut answer)).await.expect("answered").unwrap();
        String::from_utf8_lossy(&answer).into_owned()
    }

    fn json_body(answer: &str) -> serde_json::Value {
        serde_json::from_str(answer.split_once("\r\n\r\n").expect("a head and a body").1).expect("JSON")
    }

    #[tokio::test]
    async fn unknown_paths_and_methods_answer_json_errors() {
        let dir = tempfile::tempdir().unwrap();
        let (address, _) = served(dir.path()).await;

        let answer = exchange(
            &address,
            b"GET /api/nothing-here HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            false,
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
        assert!(answer.to_ascii_lowercase().contains("content-type: application/json"), "{answer}");
        assert_eq!(json_body(&answer)["error"], "NO_ROUTE");

        let answer = exchange(
            &address,
            b"DELETE /api/templates HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            false,
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
        assert!(answer.to_ascii_lowercase().contains("\r\nallow: get,head\r\n"), "{answer}");
        let body = json_body(&answer);
        assert_eq!(body["error"], "METHOD_NOT_ALLOWED");
        assert_eq!(
            body["message"],
            "/api/templates does not take DELETE; the `Allow` header lists the methods it takes"
        );
    }

    /// Log lines written while a test runs on this thread (the server's tasks included: the
    /// test runtime has one thread).
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn bodies_cut_short_framed_twice_or_stalled_are_client_errors() {
        let logs = Captured::default();
        let writer = logs.clone();
        let _logging = tracing::subscriber::set_default(
            tracing_subscriber::fmt().with_ansi(false).with_writer(move || writer.clone()).finish(),
        );
        let dir = tempfile::tempdir().unwrap();
        let (address, blobs) = served(dir.path()).await;
        let spec = BlobSpec { size: Some(10), content_type: "video/mp4".into(), ..BlobSpec::default() };
        let target = blobs.presign_put("tests/clip.mp4", &spec, Duration::from_secs(600)).await.unwrap();
        let path = target.url.split_once(&address).unwrap().1.to_owned();
        let head = |framing: &str| {
            format!("PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Type: video/mp4\r\n{framing}\r\n").into_bytes()
        };

        // Both Content-Length and chunked: hyper decodes chunks, and the body is not chunked.
        let mut request = head("Content-Length: 10\r\nTransfer-Encoding: chunked\r\n");
        request.extend_from_slice(b"not chunks");
        let answer = exchange(&address, &request, false).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        assert_eq!(json_body(&answer)["error"], "BODY_UNREADABLE");

        // The client goes away after 4 of the 10 bytes.
        let mut request = head("Content-Length: 10\r\n");
        request.extend_from_slice(b"0123");
        let answer = exchange(&address, &request, true).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        assert_eq!(json_body(&answer)["error"], "BODY_UNREADABLE");

        // The client stops sending, and stays.
        let answer = exchange(&address, &request, false).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        let body = json_body(&answer);
        assert_eq!(body["error"], "BODY_STALLED");
        assert_eq!(body["message"], "the body sent nothing for 1 s; upload it again");

        assert!(blobs.head("tests/clip.mp4").await.unwrap().is_none(), "nothing was stored");
        let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        let client_errors: Vec<&str> = logs.lines().filter(|line| line.contains("client error")).collect();
        assert_eq!(client_errors.len(), 3, "{logs}");
        assert!(client_errors.iter().all(|line| line.contains(" INFO ")), "{logs}");
        assert!(!logs.contains("ERROR") && !logs.contains("BACKEND_UNAVAILABLE"), "{logs}");
    }
}
