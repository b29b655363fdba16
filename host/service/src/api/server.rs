//! The HTTP server of `transflow dev` and `transflow serve`: the router on hyper, with the
//! timeouts `axum::serve` does not set.
//!
//! Without them a client keeps a connection (a socket and a task) for as long as it likes, by
//! sending a request's headers a byte at a time (slowloris) or by stopping in the middle of an
//! upload. Two limits close such connections:
//! - the **header read timeout**: the whole request head must arrive within it (hyper's
//!   HTTP/1 `header_read_timeout`; it also ends a keep-alive connection left idle that long);
//! - the **body idle timeout**: a request body that sends nothing for that long fails with
//!   [`BodyStalled`]; the upload answers 408 and the connection is closed.
//!
//! Only HTTP/1 is spoken: HTTP/2 without TLS (prior knowledge) has no header timeout in hyper,
//! and browsers speak HTTP/2 only over TLS, which a proxy in front terminates.

use crate::config::ServerConfig;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use futures_util::StreamExt;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// The server's timeouts, from `[server]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerTimeouts {
    /// Longest wait for a complete request head (and for the next request on an idle
    /// keep-alive connection).
    pub header_read: Duration,
    /// Longest silence inside a request body.
    pub body_idle: Duration,
}

impl ServerTimeouts {
    /// The timeouts `[server]` configures.
    pub fn from_config(config: &ServerConfig) -> ServerTimeouts {
        ServerTimeouts {
            header_read: Duration::from_secs(config.header_read_timeout_secs),
            body_idle: Duration::from_secs(config.body_idle_timeout_secs),
        }
    }
}

/// A request body sent nothing for the body idle timeout.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the request body sent nothing for {0:?}")]
pub struct BodyStalled(pub Duration);

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, lets the
/// requests in progress finish and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    timeouts: ServerTimeouts,
    shutdown: impl Future<Output = ()>,
) {
    if let Ok(address) = listener.local_addr() {
        tracing::info!(
            %address,
            header_read_timeout = ?timeouts.header_read,
            body_idle_timeout = ?timeouts.body_idle,
            "serving HTTP"
        );
    }
    let router = router.layer(axum::middleware::from_fn_with_state(timeouts.body_idle, limit_body_idle));
    let mut builder = Builder::new(TokioExecutor::new()).http1_only();
    builder.http1().timer(TokioTimer::new()).header_read_timeout(timeouts.header_read);
    let (closing, closing_seen) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    wait_after_accept_error(error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        while connections.try_join_next().is_some() {}
        let (builder, service, mut closing_seen) =
            (builder.clone(), TowerToHyperService::new(router.clone()), closing_seen.clone());
        connections.spawn(async move {
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = async { let _ = closing_seen.wait_for(|closing| *closing).await; } => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = result {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let _ = closing.send(true);
    while connections.join_next().await.is_some() {}
}

/// Errors about one connection (it was reset before we took it) are nothing to wait for;
/// others (out of file descriptors) would spin the loop, so they pause it.
async fn wait_after_accept_error(error: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(error.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    tracing::warn!(%error, "accepting a connection failed; pausing for a second");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Gives every request body the idle timeout.
async fn limit_body_idle(State(idle): State<Duration>, request: Request, next: Next) -> Response {
    next.run(request.map(|body| idle_limited(body, idle))).await
}

/// `body`, failing with [`BodyStalled`] once it sends nothing for `idle`.
fn idle_limited(body: Body, idle: Duration) -> Body {
    let chunks = futures_util::stream::unfold(Some(body.into_data_stream()), move |body| async move {
        let mut body = body?;
        match tokio::time::timeout(idle, body.next()).await {
            Ok(Some(chunk)) => Some((chunk, Some(body))),
            Ok(None) => None,
            Err(_) => Some((Err(axum::Error::new(BodyStalled(idle))), None)),
        }
    });
    Body::from_stream(chunks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::put;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    /// Bounds every wait, so a broken test fails instead of hanging; never reached when the
    /// server behaves.
    const GUARD: Duration = Duration::from_secs(30);

    /// Counts the bytes of a PUT body; a stalled body answers 408 with the error.
    async fn count(body: Body) -> (axum::http::StatusCode, String) {
        let mut stream = body.into_data_stream();
        let mut total = 0;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => total += bytes.len(),
                Err(error) => return (axum::http::StatusCode::REQUEST_TIMEOUT, error.to_string()),
            }
        }
        (axum::http::StatusCode::OK, total.to_string())
    }

    async fn server(timeouts: ServerTimeouts) -> (String, watch::Sender<bool>, tokio::task::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let (stop, mut stopped) = watch::channel(false);
        let router = Router::new().route("/count", put(count));
        let served = tokio::spawn(serve(listener, router, timeouts, async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        }));
        (address, stop, served)
    }

    /// Everything the server sends until it closes the connection.
    async fn read_until_closed(stream: &mut TcpStream) -> String {
        let mut received = Vec::new();
        tokio::time::timeout(GUARD, stream.read_to_end(&mut received))
            .await
            .expect("the server closed the connection")
            .expect("readable");
        String::from_utf8_lossy(&received).into_owned()
    }

    const SHORT: ServerTimeouts =
        ServerTimeouts { header_read: Duration::from_secs(1), body_idle: Duration::from_secs(1) };

    #[tokio::test]
    async fn a_request_head_that_never_ends_is_closed() {
        let (address, _stop, _served) = server(SHORT).await;
        let mut slow = TcpStream::connect(&address).await.unwrap();
        slow.write_all(b"PUT /count HTTP/1.1\r\nHost: x\r\nX-Slow: a").await.unwrap();
        // Nothing more is sent; the server hangs up by itself.
        let answer = read_until_closed(&mut slow).await;
        assert!(!answer.starts_with("HTTP/1.1 2"), "{answer}");
    }

    #[tokio::test]
    async fn a_body_that_stops_mid_way_fails_and_is_closed() {
        let (address, _stop, _served) = server(SHORT).await;
        let mut stalled = TcpStream::connect(&address).await.unwrap();
        stalled.write_all(b"PUT /count HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n").await.unwrap();
        stalled.write_all(&[7u8; 400]).await.unwrap();
        let answer = read_until_closed(&mut stalled).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("the request body sent nothing for 1s"), "{answer}");

        // A body that keeps coming is not cut, however slow the whole.
        let mut steady = TcpStream::connect(&address).await.unwrap();
        steady
            .write_all(b"PUT /count HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        for byte in b"abc" {
            tokio::time::sleep(Duration::from_millis(300)).await;
            steady.write_all(&[*byte]).await.unwrap();
        }
        let answer = read_until_closed(&mut steady).await;
        assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("\r\n\r\n3"), "{answer}");
    }

    #[tokio::test]
    async fn shutdown_lets_the_request_in_progress_finish() {
        let (address, stop, served) = server(ServerTimeouts { body_idle: GUARD, ..SHORT }).await;
        let mut client = TcpStream::connect(&address).await.unwrap();
        let head = "PUT /count HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n";
        client.write_all(head.as_bytes()).await.unwrap();
        // `100 Continue` comes once the handler reads the body: the request is being served.
        let mut interim = [0u8; 25];
        tokio::time::timeout(GUARD, client.read_exact(&mut interim)).await.expect("100 Continue").unwrap();
        assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
        stop.send(true).unwrap();
        client.write_all(b"ab").await.unwrap();
        client.write_all(b"cd").await.unwrap();
        let answer = read_until_closed(&mut client).await;
        assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("\r\n\r\n4"), "{answer}");
        tokio::time::timeout(GUARD, served).await.expect("the server stopped").unwrap();
        assert!(TcpStream::connect(&address).await.is_err(), "no longer listening");
    }
}
