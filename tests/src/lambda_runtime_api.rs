//! A Lambda Runtime API on a loopback port, to run the real `bootstrap` binary the way Lambda
//! does: the runtime long-polls `invocation/next`, handles the event and posts its response.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::{get, post};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{Mutex, mpsc};

/// What the runtime answered to one invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// `POST …/response`.
    Response(Value),
    /// `POST …/error`, or `POST /runtime/init/error` (request id `init`).
    Error(Value),
}

struct Shared {
    events: Mutex<mpsc::Receiver<(String, Value, Duration)>>,
    answers: mpsc::Sender<(String, Answer)>,
}

/// The emulator; dropping it stops the server.
#[derive(Debug)]
pub struct RuntimeApi {
    /// `127.0.0.1:PORT`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    events: mpsc::Sender<(String, Value, Duration)>,
    answers: mpsc::Receiver<(String, Answer)>,
    server: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    /// Starts serving on a free loopback port.
    pub async fn start() -> RuntimeApi {
        let (events, pending) = mpsc::channel(16);
        let (answered, answers) = mpsc::channel(16);
        let shared = Arc::new(Shared { events: Mutex::new(pending), answers: answered });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let address = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        RuntimeApi { address, events, answers, server }
    }

    /// Queues an invocation that must finish within `timeout`; returns its request id.
    pub async fn invoke(&self, event: Value, timeout: Duration) -> String {
        let request_id = format!("req-{:016x}", rand_u64());
        self.events.send((request_id.clone(), event, timeout)).await.expect("server running");
        request_id
    }

    /// The next answer, waiting at most `limit`.
    pub async fn answer(&mut self, limit: Duration) -> Option<(String, Answer)> {
        tokio::time::timeout(limit, self.answers.recv()).await.ok().flatten()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn next(State(shared): State<Arc<Shared>>) -> (StatusCode, HeaderMap, String) {
    let Some((request_id, event, timeout)) = shared.events.lock().await.recv().await else {
        return (StatusCode::GONE, HeaderMap::new(), String::new());
    };
    let deadline = SystemTime::now() + timeout;
    let deadline_ms = deadline.duration_since(UNIX_EPOCH).unwrap().as_millis();
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        headers.insert(name, HeaderValue::from_str(&value).unwrap());
    };
    set("lambda-runtime-aws-request-id", request_id);
    set("lambda-runtime-deadline-ms", deadline_ms.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:worker".into(),
    );
    set("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000".into());
    (StatusCode::OK, headers, event.to_string())
}

async fn response(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: String) -> StatusCode {
    answer(&shared, id, Answer::Response(parse(&body))).await
}

async fn error(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: String) -> StatusCode {
    answer(&shared, id, Answer::Error(parse(&body))).await
}

async fn init_error(State(shared): State<Arc<Shared>>, body: String) -> StatusCode {
    answer(&shared, "init".into(), Answer::Error(parse(&body))).await
}

async fn answer(shared: &Shared, id: String, answer: Answer) -> StatusCode {
    let _ = shared.answers.send((id, answer)).await;
    StatusCode::ACCEPTED
}

fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_owned()))
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(SystemTime::now())
}
