//! What the assembly status records about its webhook, and the delivery report it is made from.

use serde::{Deserialize, Serialize};

/// One attempt to deliver a webhook, as reported to the caller and kept in the outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookAttempt {
    /// 1 for the first attempt.
    pub attempt: u32,
    /// When the attempt started, RFC 3339 UTC.
    pub at: String,
    /// The receiver's HTTP status, when it answered at all.
    pub response_code: Option<u16>,
    /// Why the attempt did not succeed; `None` on success. Never contains the secret, the
    /// request headers or the URL (whose query may hold a token).
    pub error: Option<String>,
}

/// How a delivery ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookOutcome {
    /// The receiver answered 2xx.
    pub delivered: bool,
    /// Every attempt made, in order.
    pub attempts: Vec<WebhookAttempt>,
    /// Why the policy refused the URL, when it did; nothing was sent after the refusal. Usually
    /// that is before the first attempt; a host whose name starts resolving to a disallowed
    /// address between retries is refused then, and the earlier attempts stay in `attempts`.
    pub refused: Option<String>,
}

/// How the notification ended, as the status JSON shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifyStatus {
    /// The receiver answered 2xx.
    Delivered,
    /// Every attempt failed, or the failure was permanent.
    Failed,
    /// The policy refused the URL; nothing was sent.
    Refused,
}

/// The webhook fields of an assembly status, so users can see whether their receiver got the
/// notification and, if not, why, without access to our logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyRecord {
    /// `delivered`, `failed` or `refused`.
    pub notify_status: NotifyStatus,
    /// The HTTP status of the last answer, if the receiver answered at all.
    pub notify_response_code: Option<u16>,
    /// Attempts made.
    pub notify_attempts: u32,
    /// Why the notification did not get through: the refusal, or the last attempt's error.
    pub notify_last_error: Option<String>,
}

impl NotifyRecord {
    /// Summarises the delivery of `outcome`. The URL is not repeated here: the status names
    /// its `notify_url` itself, and a template's webhook URL may carry a token in its query.
    pub fn new(outcome: &WebhookOutcome) -> Self {
        let last = outcome.attempts.last();
        let notify_status = if outcome.refused.is_some() {
            NotifyStatus::Refused
        } else if outcome.delivered {
            NotifyStatus::Delivered
        } else {
            NotifyStatus::Failed
        };
        NotifyRecord {
            notify_status,
            notify_response_code: last.and_then(|attempt| attempt.response_code),
            notify_attempts: u32::try_from(outcome.attempts.len()).unwrap_or(u32::MAX),
            notify_last_error: outcome
                .refused
                .clone()
                .or_else(|| last.and_then(|attempt| attempt.error.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::WebhookAttempt;

    fn attempt(n: u32, code: Option<u16>, error: Option<&str>) -> WebhookAttempt {
        WebhookAttempt {
            attempt: n,
            at: "2026-01-01T00:00:00Z".to_owned(),
            response_code: code,
            error: error.map(str::to_owned),
        }
    }

    #[test]
    fn summarises_outcomes() {
        let delivered = WebhookOutcome {
            delivered: true,
            attempts: vec![
                attempt(1, Some(503), Some("the receiver answered 503")),
                attempt(2, Some(200), None),
            ],
            refused: None,
        };
        let record = NotifyRecord::new(&delivered);
        assert_eq!(
            serde_json::to_value(&record).expect("json"),
            serde_json::json!({
                "notify_status": "delivered",
                "notify_response_code": 200,
                "notify_attempts": 2,
                "notify_last_error": null,
            })
        );

        let failed = WebhookOutcome {
            delivered: false,
            attempts: vec![attempt(1, None, Some("connection refused"))],
            refused: None,
        };
        let record = NotifyRecord::new(&failed);
        assert_eq!(record.notify_status, NotifyStatus::Failed);
        assert_eq!(record.notify_response_code, None);
        assert_eq!(record.notify_last_error.as_deref(), Some("connection refused"));

        let refused =
            WebhookOutcome { delivered: false, attempts: vec![], refused: Some("private".to_owned()) };
        let record = NotifyRecord::new(&refused);
        assert_eq!(record.notify_status, NotifyStatus::Refused);
        assert_eq!(record.notify_attempts, 0);
        assert_eq!(record.notify_last_error.as_deref(), Some("private"));
        assert_eq!(serde_json::to_value(record.notify_status).expect("json"), "refused");
    }
}
