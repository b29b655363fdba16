//! The webhook sender: when an assembly ends, its status JSON is POSTed to the template's
//! webhook or the assembly's `notify_url`.
//!
//! Three concerns apart:
//! - [`signing`](WebhookSecret): Standard Webhooks signatures, so receivers can trust and
//!   deduplicate what we send, with the standard's own libraries;
//! - [`policy`](WebhookPolicy): which addresses a user-supplied URL may reach (no SSRF into our
//!   network or the cloud metadata endpoint) and the retry schedule;
//! - [`NotifyRecord`]: what the assembly status says about the delivery, defined beside the
//!   status in [`transflow_store::notify`] and re-exported here.
//!
//! This module does the delivery itself: one signed POST per attempt, retried with backoff
//! while the failure looks temporary.
//!
//! How long a delivery can last is bounded by the policy alone: at most `max_attempts` attempts,
//! all inside `retry_window` from the start. A receiver slower than `timeout` has failed that
//! attempt (it gets the same message again, with the same `webhook-id`); an attempt still
//! running when the window closes is cut off, and no retry starts that could not begin before
//! it closes.

mod policy;
mod signing;
#[cfg(test)]
mod tests;

pub use policy::WebhookPolicy;
pub use signing::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, SecretError, VerifyError, WebhookSecret};
pub use transflow_store::notify::{NotifyRecord, NotifyStatus, WebhookAttempt, WebhookOutcome};

use policy::{AddressRules, Refused, VettingResolver};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};

use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;
use time::format_description::BorrowedFormatItem;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, PrimitiveDateTime};
use tokio::time::Instant;
use url::Url;

/// The sender could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The HTTP client could not be built (for instance, TLS could not be initialised).
    #[error("could not build the webhook HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

/// Delivers webhooks under one [`WebhookPolicy`].
///
/// Holds one HTTP client for all deliveries (connection pools and TLS setup are shared). The
/// client follows no redirects (a redirect could point anywhere, past the address check),
/// ignores proxy settings from the environment (a proxy would resolve names where we cannot
/// check them), and resolves names through a resolver that refuses disallowed addresses.
#[derive(Debug, Clone)]
pub struct WebhookSender {
    client: reqwest::Client,
    policy: WebhookPolicy,
}

impl WebhookSender {
    /// Builds a sender that enforces `policy` on every delivery.
    pub fn new(policy: WebhookPolicy) -> Result<Self, WebhookError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(policy.timeout)
            .connect_timeout(policy.timeout)
            .dns_resolver(Arc::new(VettingResolver(AddressRules::from(&policy))))
            .user_agent(concat!("Transflow-Webhook/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(WebhookError::Client)?;
        Ok(WebhookSender { client, policy })
    }

    /// POSTs `body` (JSON) to `url` until the receiver accepts it, the failure is permanent,
    /// or the policy's attempts or retry window run out; it returns by the end of the window. `on_attempt` sees each attempt as it
    /// ends, so callers can record progress while retries are still pending.
    ///
    /// `message_id` is sent as `webhook-id` on every attempt: receivers deduplicate by it, so
    /// it must identify the event (for example the assembly id and its final state), not the
    /// attempt. The timestamp and signature are fresh for each attempt. Without a secret the
    /// request is sent unsigned.
    pub async fn deliver(
        &self,
        url: &str,
        secret: Option<&WebhookSecret>,
        message_id: &str,
        body: &[u8],
        mut on_attempt: impl FnMut(&WebhookAttempt),
    ) -> WebhookOutcome {
        let mut outcome = WebhookOutcome { delivered: false, attempts: Vec::new(), refused: None };
        let url = match AddressRules::from(&self.policy).check_url(url) {
            Ok(url) => url,
            Err(Refused(reason)) => {
                outcome.refused = Some(reason);
                return outcome;
            }
        };
        let started = Instant::now();
        for number in 1.. {
            let left = self.policy.retry_window.saturating_sub(started.elapsed());
            let timeout = match (number, left.is_zero()) {
                // A window of zero: the one attempt still gets its timeout.
                (1, true) => self.policy.timeout,
                // The wait before this retry overslept the end of the window.
                (_, true) => break,
                _ => self.policy.timeout.min(left),
            };
            let (attempt, verdict) = self.attempt(&url, secret, message_id, body, number, timeout).await;
            let retry_after = match verdict {
                // The resolver refused the host: nothing was sent, so there is no attempt to record.
                Verdict::Refused(reason) => {
                    outcome.refused = Some(reason);
                    break;
                }
                Verdict::Delivered => {
                    outcome.delivered = true;
                    None
                }
                Verdict::Permanent => None,
                Verdict::Retry { retry_after } => Some(retry_after),
            };
            on_attempt(&attempt);
            outcome.attempts.push(attempt);
            let Some(retry_after) = retry_after else { break };
            match next_delay(&self.policy, number, retry_after, started.elapsed()) {
                Some(delay) => tokio::time::sleep(delay).await,
                None => break,
            }
        }
        outcome
    }

    /// One signed POST, and what to do next.
    async fn attempt(
        &self,
        url: &Url,
        secret: Option<&WebhookSecret>,
        message_id: &str,
        body: &[u8],
        number: u32,
        timeout: Duration,
    ) -> (WebhookAttempt, Verdict) {
        let now = OffsetDateTime::now_utc();
        let timestamp = now.unix_timestamp();
        let mut request = self
            .client
            .post(url.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(HEADER_ID, message_id)
            .header(HEADER_TIMESTAMP, timestamp.to_string())
            .timeout(timeout)
            .body(body.to_vec());
        if let Some(secret) = secret {
            request = request.header(HEADER_SIGNATURE, secret.sign(message_id, timestamp, body));
        }
        let mut attempt = WebhookAttempt {
            attempt: number,
            // RFC 3339 formatting only fails for years outside 0..=9999.
            at: now.format(&Rfc3339).unwrap_or_else(|_| timestamp.to_string()),
            response_code: None,
            error: None,
        };

        let verdict = match request.send().await {
            Ok(response) => {
                let status = response.status();
                attempt.response_code = Some(status.as_u16());
                if status.is_success() {
                    Verdict::Delivered
                } else if status.is_server_error()
                    || status == StatusCode::REQUEST_TIMEOUT
                    || status == StatusCode::TOO_MANY_REQUESTS
                {
                    attempt.error = Some(format!("the receiver answered {status}"));
                    let retry_after = response
                        .headers()
                        .get(RETRY_AFTER)
                        .and_then(|value| value.to_str().ok())
                        .and_then(|value| parse_retry_after(value, OffsetDateTime::now_utc()));
                    Verdict::Retry { retry_after }
                } else if status.is_redirection() {
                    attempt.error =
                        Some(format!("the receiver answered {status}; redirects are not followed"));
                    Verdict::Permanent
                } else {
                    attempt.error = Some(format!("the receiver answered {status}"));
                    Verdict::Permanent
                }
            }
            Err(err) => {
                if let Some(Refused(reason)) = refusal(&err) {
                    return (attempt, Verdict::Refused(reason));
                }
                // A request that cannot be built (say, a message id that is not a valid header
                // value) will not build on a retry either.
                let verdict =
                    if err.is_builder() { Verdict::Permanent } else { Verdict::Retry { retry_after: None } };
                attempt.error = Some(describe(err, timeout));
                verdict
            }
        };
        (attempt, verdict)
    }
}

/// What one attempt means for the delivery.
enum Verdict {
    Delivered,
    /// Retrying cannot help: a 4xx other than 408/429, a redirect, or a malformed request.
    Permanent,
    /// Temporary: a network error, a timeout, 5xx, 408 or 429; perhaps with the receiver's
    /// own `Retry-After`.
    Retry {
        retry_after: Option<Duration>,
    },
    /// The resolver refused the host, so no connection was opened.
    Refused(String),
}

/// The wait before the next attempt, or `None` to give up: after `max_attempts`, once the retry
/// window is spent, or when the wait would end past the window: the receiver's `Retry-After`
/// (retrying earlier than it asked would be futile, and waiting longer is not allowed) or the
/// backoff, a random time up to `initial_backoff * 2^(attempts - 1)` ("full jitter", so
/// receivers recovering from an outage are not hit by synchronised retries), at most
/// `max_backoff`.
fn next_delay(
    policy: &WebhookPolicy,
    attempts_made: u32,
    retry_after: Option<Duration>,
    elapsed: Duration,
) -> Option<Duration> {
    if attempts_made >= policy.max_attempts {
        return None;
    }
    let remaining = policy.retry_window.checked_sub(elapsed).filter(|left| !left.is_zero())?;
    let wait = retry_after.unwrap_or_else(|| {
        let doubling = 2u32.saturating_pow(attempts_made.saturating_sub(1));
        let ceiling = policy.initial_backoff.saturating_mul(doubling).min(policy.max_backoff);
        rand::random_range(Duration::ZERO..=ceiling)
    });
    (wait < remaining).then_some(wait)
}

/// An HTTP-date in its preferred form (RFC 9110 §5.6.7, IMF-fixdate), the form senders must use.
const HTTP_DATE: &[BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);

/// Parses `Retry-After`: delay seconds, or an HTTP-date (a date in the past means now).
fn parse_retry_after(value: &str, now: OffsetDateTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = PrimitiveDateTime::parse(value, HTTP_DATE).ok()?.assume_utc();
    Some(Duration::try_from(date - now).unwrap_or(Duration::ZERO))
}

/// Finds the resolver's refusal inside a request error, if that is what stopped it.
fn refusal(err: &reqwest::Error) -> Option<Refused> {
    let mut source = err.source();
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<Refused>() {
            return Some(refused.clone());
        }
        source = cause.source();
    }
    None
}

/// A request error as a sentence: the error and its causes, without the URL.
fn describe(err: reqwest::Error, timeout: Duration) -> String {
    if err.is_timeout() {
        let timeout = Duration::from_millis(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX));
        return format!("the receiver did not answer within {timeout:?}");
    }
    // reqwest puts the URL in its message; the URL's query may carry a token.
    let err = err.without_url();
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod unit_tests {
    use super::*;

    fn policy() -> WebhookPolicy {
        WebhookPolicy {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(8),
            retry_window: Duration::from_secs(100),
            max_attempts: 10,
            ..WebhookPolicy::default()
        }
    }

    #[test]
    fn backoff_grows_with_full_jitter_up_to_the_cap() {
        let p = policy();
        for (attempts, ceiling) in [(1, 1), (2, 2), (3, 4), (4, 8), (5, 8), (9, 8)] {
            for _ in 0..50 {
                let delay = next_delay(&p, attempts, None, Duration::ZERO).expect("retry");
                assert!(delay <= Duration::from_secs(ceiling), "attempt {attempts}: {delay:?}");
            }
        }
        // A wait that would end past the window gives up instead.
        for _ in 0..50 {
            if let Some(delay) = next_delay(&p, 9, None, Duration::from_millis(99_990)) {
                assert!(delay < Duration::from_millis(10), "{delay:?}");
            }
        }
        // Huge attempt counts saturate instead of overflowing.
        let many = WebhookPolicy { max_attempts: u32::MAX, ..p };
        assert!(next_delay(&many, 1000, None, Duration::ZERO).is_some());
    }

    #[test]
    fn stops_at_max_attempts_or_end_of_window() {
        let p = policy();
        assert_eq!(next_delay(&p, 10, None, Duration::ZERO), None);
        assert_eq!(next_delay(&p, 10, Some(Duration::ZERO), Duration::ZERO), None);
        assert_eq!(next_delay(&p, 2, None, Duration::from_secs(100)), None);
        assert_eq!(next_delay(&p, 2, None, Duration::from_secs(101)), None);
    }

    #[test]
    fn retry_after_replaces_backoff_within_the_window() {
        let p = policy();
        assert_eq!(next_delay(&p, 1, Some(Duration::ZERO), Duration::ZERO), Some(Duration::ZERO));
        // Longer than any backoff would be, but inside the window: the receiver's word counts.
        assert_eq!(
            next_delay(&p, 1, Some(Duration::from_secs(60)), Duration::ZERO),
            Some(Duration::from_secs(60))
        );
        // Past the end of the window: give up rather than retry before the receiver is ready.
        assert_eq!(next_delay(&p, 1, Some(Duration::from_secs(60)), Duration::from_secs(50)), None);
    }

    #[test]
    fn parses_retry_after() {
        let now = time::macros::datetime!(2015-10-21 07:28:00 UTC);
        assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after(" 120 ", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:30:00 GMT", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("-5", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
