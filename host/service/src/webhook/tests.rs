//! Deliveries against a scripted receiver on 127.0.0.1, and refusals that never reach the network.

use super::*;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const BODY: &[u8] = br#"{"ok":"ASSEMBLY_COMPLETED","assembly_id":"0123abcd"}"#;
const TOLERANCE: Duration = Duration::from_secs(300);
/// A guard so a broken test fails instead of hanging; no test is meant to come near it.
const GUARD: Duration = Duration::from_secs(60);

/// A request as the receiver saw it.
struct Received {
    headers: HeaderMap,
    body: Vec<u8>,
}

/// Serves one connection per scripted answer (a status line, optionally followed by header
/// lines; an empty answer means never answer and wait for the client to hang up), records
/// each request, then stops.
async fn receiver(script: &[&'static str]) -> (String, JoinHandle<Vec<Received>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("address"));
    let script = script.to_vec();
    let server = tokio::spawn(async move {
        let mut received = Vec::new();
        for answer in script {
            let (mut stream, _) = listener.accept().await.expect("accept");
            received.push(read_request(&mut stream).await);
            if answer.is_empty() {
                // Ends when the client gives up and closes the connection.
                while stream.read(&mut [0u8; 64]).await.is_ok_and(|n| n > 0) {}
                continue;
            }
            let response = format!("HTTP/1.1 {answer}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            stream.write_all(response.as_bytes()).await.expect("write");
            stream.shutdown().await.expect("shutdown");
        }
        received
    });
    (url, server)
}

/// Reads one HTTP/1.1 request with a `content-length` body.
async fn read_request(stream: &mut TcpStream) -> Received {
    let mut data = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "connection closed inside the request head");
        data.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&data[..head_end]).expect("ASCII head");
    let mut headers = HeaderMap::new();
    for line in head.split("\r\n").skip(1).filter(|line| !line.is_empty()) {
        let (name, value) = line.split_once(':').expect("header line");
        headers.append(
            HeaderName::from_bytes(name.trim().as_bytes()).expect("header name"),
            HeaderValue::from_str(value.trim()).expect("header value"),
        );
    }
    let length: usize = headers
        .get("content-length")
        .map(|v| v.to_str().expect("text").parse().expect("number"))
        .unwrap_or(0);
    while data.len() < head_end + length {
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "connection closed inside the body");
        data.extend_from_slice(&chunk[..n]);
    }
    Received { headers, body: data[head_end..head_end + length].to_vec() }
}

/// Loopback allowed, millisecond backoffs.
fn test_policy() -> WebhookPolicy {
    WebhookPolicy {
        allow_loopback: true,
        timeout: Duration::from_secs(10),
        retry_window: Duration::from_secs(30),
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        max_attempts: 5,
        ..WebhookPolicy::default()
    }
}

async fn deliver(policy: WebhookPolicy, url: &str, secret: Option<&WebhookSecret>) -> (WebhookOutcome, u32) {
    let sender = WebhookSender::new(policy).expect("sender");
    let mut seen = 0;
    let outcome = tokio::time::timeout(
        GUARD,
        sender.deliver(url, secret, "0123abcd:completed", BODY, |a| {
            seen += 1;
            assert_eq!(a.attempt, seen, "attempts are reported in order as they end");
        }),
    )
    .await
    .expect("delivery ended");
    (outcome, seen)
}

async fn requests(server: JoinHandle<Vec<Received>>) -> Vec<Received> {
    tokio::time::timeout(GUARD, server).await.expect("receiver ended").expect("receiver ran")
}

#[tokio::test]
async fn retries_after_500s_then_delivers() {
    let (url, server) = receiver(&["500 Internal Server Error", "503 Service Unavailable", "200 OK"]).await;
    let secret = WebhookSecret::generate();
    let (outcome, seen) = deliver(test_policy(), &url, Some(&secret)).await;

    assert!(outcome.delivered, "{outcome:?}");
    assert_eq!(outcome.refused, None);
    assert_eq!(seen, 3);
    let codes: Vec<_> = outcome.attempts.iter().map(|a| a.response_code).collect();
    assert_eq!(codes, [Some(500), Some(503), Some(200)]);
    assert_eq!(outcome.attempts[0].error.as_deref(), Some("the receiver answered 500 Internal Server Error"));
    assert_eq!(outcome.attempts[2].error, None);
    for attempt in &outcome.attempts {
        time::OffsetDateTime::parse(&attempt.at, &Rfc3339).expect("RFC 3339 time");
    }

    let received = requests(server).await;
    assert_eq!(received.len(), 3);
    for request in &received {
        assert_eq!(request.body, BODY);
        assert_eq!(request.headers[HEADER_ID], "0123abcd:completed", "the id is the same on every retry");
        assert_eq!(request.headers["content-type"], "application/json");
        assert_eq!(secret.verify(&request.headers, &request.body, TOLERANCE), Ok(()));
    }
}

#[tokio::test]
async fn does_not_retry_a_400() {
    let (url, server) = receiver(&["400 Bad Request"]).await;
    // A name, not a literal: the connection goes through the vetting resolver.
    let url = url.replace("127.0.0.1", "localhost");
    let secret = WebhookSecret::generate();
    let (outcome, seen) = deliver(test_policy(), &url, Some(&secret)).await;

    assert!(!outcome.delivered);
    assert_eq!(seen, 1);
    assert_eq!(outcome.attempts.len(), 1);
    assert_eq!(outcome.attempts[0].response_code, Some(400));
    let record = NotifyRecord::new(&outcome);
    assert_eq!(record.notify_status, NotifyStatus::Failed);
    assert_eq!(record.notify_response_code, Some(400));
    assert_eq!(requests(server).await.len(), 1);
}

#[tokio::test]
async fn retries_a_429_after_its_retry_after() {
    let (url, server) = receiver(&["429 Too Many Requests\r\nretry-after: 0", "200 OK"]).await;
    // Backoff alone would wait up to an hour, so finishing at all shows `Retry-After: 0` was used.
    let policy = WebhookPolicy {
        initial_backoff: Duration::from_secs(3600),
        max_backoff: Duration::from_secs(3600),
        retry_window: Duration::from_secs(7200),
        ..test_policy()
    };
    let (outcome, seen) = deliver(policy, &url, None).await;

    assert!(outcome.delivered, "{outcome:?}");
    assert_eq!(seen, 2);
    assert_eq!(outcome.attempts[0].response_code, Some(429));
    let received = requests(server).await;
    assert_eq!(received.len(), 2);
    // Unsigned without a secret, but still identified and timestamped.
    assert!(received.iter().all(|r| !r.headers.contains_key(HEADER_SIGNATURE)));
    assert!(
        received
            .iter()
            .all(|r| r.headers.contains_key(HEADER_ID) && r.headers.contains_key(HEADER_TIMESTAMP))
    );
}

#[tokio::test]
async fn retries_after_a_timeout() {
    let (url, server) = receiver(&["", "204 No Content"]).await;
    let policy = WebhookPolicy { timeout: Duration::from_secs(1), ..test_policy() };
    let (outcome, _) = deliver(policy, &url, None).await;

    assert!(outcome.delivered, "{outcome:?}");
    assert_eq!(outcome.attempts.len(), 2);
    assert_eq!(outcome.attempts[0].response_code, None);
    assert_eq!(outcome.attempts[0].error.as_deref(), Some("the receiver did not answer within 1s"));
    assert_eq!(outcome.attempts[1].response_code, Some(204));
    assert_eq!(requests(server).await.len(), 2);
}

#[tokio::test]
async fn a_receiver_slower_than_the_timeout_gets_max_attempts_deliveries_and_no_more() {
    // Never answering within the timeout is all a slow receiver looks like from here.
    let (url, server) = receiver(&["", "", ""]).await;
    let policy = WebhookPolicy { timeout: Duration::from_millis(300), max_attempts: 3, ..test_policy() };
    let (outcome, seen) = deliver(policy, &url, None).await;

    assert!(!outcome.delivered);
    assert_eq!(seen, 3);
    for attempt in &outcome.attempts {
        assert_eq!(attempt.error.as_deref(), Some("the receiver did not answer within 300ms"));
    }
    let record = NotifyRecord::new(&outcome);
    assert_eq!((record.notify_status, record.notify_attempts), (NotifyStatus::Failed, 3));
    let received = requests(server).await;
    assert_eq!(received.len(), 3, "one delivery per attempt");
    assert!(received.iter().all(|r| r.headers[HEADER_ID] == "0123abcd:completed"), "all the same message");
}

#[tokio::test]
async fn an_attempt_still_running_when_the_window_closes_is_cut_off() {
    let (url, server) = receiver(&["", ""]).await;
    let policy = WebhookPolicy {
        timeout: Duration::from_secs(2),
        retry_window: Duration::from_millis(2500),
        max_attempts: 10,
        ..test_policy()
    };
    let (outcome, _) = deliver(policy, &url, None).await;

    // The first attempt times out after 2 s; the retry gets what is left of the 2.5 s window,
    // and once that is spent no further attempt starts.
    let errors: Vec<_> = outcome.attempts.iter().map(|a| a.error.clone().unwrap_or_default()).collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0], "the receiver did not answer within 2s");
    let cut = errors[1].strip_prefix("the receiver did not answer within ").expect("a timeout");
    let cut_ms: u64 = cut.strip_suffix("ms").and_then(|ms| ms.parse().ok()).expect("under a second");
    assert!(cut_ms < 1000, "{cut}");
    assert_eq!(requests(server).await.len(), 2);
}

#[tokio::test]
async fn a_malformed_message_id_is_not_retried() {
    let (url, server) = receiver(&[]).await;
    let sender = WebhookSender::new(test_policy()).expect("sender");
    let outcome = sender.deliver(&url, None, "line\nbreak", BODY, |_| {}).await;

    assert!(!outcome.delivered);
    assert_eq!(outcome.attempts.len(), 1);
    assert!(
        outcome.attempts[0].error.as_deref().is_some_and(|e| e.starts_with("builder error")),
        "{outcome:?}"
    );
    assert!(requests(server).await.is_empty());
}

#[tokio::test]
async fn stops_when_the_attempts_run_out() {
    let (url, server) = receiver(&["502 Bad Gateway", "408 Request Timeout"]).await;
    let policy = WebhookPolicy { max_attempts: 2, ..test_policy() };
    let (outcome, _) = deliver(policy, &url, None).await;

    assert!(!outcome.delivered);
    assert_eq!(outcome.attempts.len(), 2);
    assert_eq!(outcome.attempts[1].response_code, Some(408));
    assert_eq!(requests(server).await.len(), 2);
}

#[tokio::test]
async fn refuses_disallowed_targets_without_sending() {
    let strict = WebhookPolicy::default();
    let (url, server) = receiver(&[]).await;
    let localhost = url.replace("127.0.0.1", "localhost");
    for target in [
        url.as_str(),
        // A name rather than a literal: refused by the client's resolver before connecting.
        localhost.as_str(),
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/",
        "http://10.0.0.1/",
        "http://[::ffff:10.0.0.1]/",
        "ftp://example.com/hook",
        "not a url",
    ] {
        let (outcome, seen) = deliver(strict.clone(), target, None).await;
        let reason = outcome.refused.clone().unwrap_or_default();
        assert!(!reason.is_empty(), "{target}: {outcome:?}");
        assert!(!outcome.delivered);
        assert_eq!((outcome.attempts.len(), seen), (0, 0), "{target}");
        assert_eq!(NotifyRecord::new(&outcome).notify_status, NotifyStatus::Refused);
        if target == localhost {
            // Refused by the client's resolver; localhost may resolve to ::1 first.
            assert!(reason.starts_with("webhook host localhost resolves to "), "{reason}");
            assert!(
                reason.ends_with("a loopback address; webhooks may only go to public addresses"),
                "{reason}"
            );
        }
    }
    // Metadata stays closed even to a policy that opens everything else.
    let open = WebhookPolicy { allow_private: true, ..test_policy() };
    let (outcome, _) = deliver(open, "http://169.254.169.254/", None).await;
    assert!(outcome.refused.expect("refused").contains("link-local"));
    assert!(requests(server).await.is_empty());
}

#[tokio::test]
async fn secrets_stay_out_of_errors_and_records() {
    // A port with nothing listening: every attempt is a connection error.
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        listener.local_addr().expect("address").port()
    };
    let url = format!("http://127.0.0.1:{port}/hook?token=hunter2");
    let secret = WebhookSecret::generate();
    let policy = WebhookPolicy { max_attempts: 2, ..test_policy() };
    let (outcome, seen) = deliver(policy, &url, Some(&secret)).await;

    assert!(!outcome.delivered);
    assert_eq!(seen, 2, "network errors are retried");
    let exposed = secret.expose();
    let key = exposed.trim_start_matches("whsec_");
    let record = NotifyRecord::new(&outcome);
    let everything = format!("{outcome:?} {} {secret:?}", serde_json::to_string(&record).expect("json"));
    for attempt in &outcome.attempts {
        assert_eq!(attempt.response_code, None);
        assert!(attempt.error.as_deref().is_some_and(|e| !e.is_empty()), "{attempt:?}");
    }
    for leak in [key, "hunter2", "v1,", HEADER_SIGNATURE, HEADER_TIMESTAMP] {
        assert!(!everything.contains(leak), "{leak} leaked: {everything}");
    }
}
