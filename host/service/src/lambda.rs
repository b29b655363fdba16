//! The Lambda worker's handler: an SQS batch in, the messages to retry out.
//!
//! [`handle_batch`] is a plain async function over our own lenient event types, so it is
//! tested directly with built events; the `bootstrap` binary only wires it to
//! `lambda_runtime`. With `ReportBatchItemFailures` on the event source mapping, Lambda deletes
//! every message not listed in the response and makes the listed ones visible again after
//! their visibility timeout, counting another receive.

use crate::worker::run_loop::log_processed;
use crate::worker::{ProcessError, Processed, Worker};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime};

/// Time kept back from the invocation deadline to stop a job's tools, report the batch and
/// let Lambda freeze the sandbox cleanly.
pub const STOP_MARGIN: Duration = Duration::from_secs(10);

/// An SQS event as Lambda delivers it; unknown fields are ignored.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SqsEvent {
    /// The messages of the batch.
    #[serde(rename = "Records", default)]
    pub records: Vec<SqsRecord>,
}

/// One message of a batch.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SqsRecord {
    /// The id to name in a batch item failure.
    #[serde(default)]
    pub message_id: String,
    /// The message: an S3 event for Transflow.
    #[serde(default)]
    pub body: String,
    /// System attributes; only the receive count matters here.
    #[serde(default)]
    pub attributes: SqsRecordAttributes,
}

/// The system attributes of a message.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SqsRecordAttributes {
    /// How often the message has been received, this time included (a decimal string).
    #[serde(rename = "ApproximateReceiveCount", default)]
    pub approximate_receive_count: Option<String>,
}

/// The handler's answer: the messages Lambda should hand out again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SqsBatchResponse {
    /// Messages to retry.
    #[serde(rename = "batchItemFailures")]
    pub batch_item_failures: Vec<BatchItemFailure>,
}

/// A message to retry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchItemFailure {
    /// Its message id.
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

/// Processes a batch in order until `deadline` (less [`STOP_MARGIN`]).
///
/// A message is retried only when retrying can help: a backend failed, time ran out, or
/// another worker holds the assembly (and may have died holding it). A job
/// still running at the deadline is dropped, which kills its ffmpeg; its lease is left to
/// expire rather than released, so the assembly stays claimed while this sandbox is frozen and
/// a later delivery resumes it from the start. Messages that are not upload events are
/// logged and dropped: no retry can make them parse.
pub async fn handle_batch(worker: &Worker, event: SqsEvent, deadline: SystemTime) -> SqsBatchResponse {
    let stop_at = deadline.checked_sub(STOP_MARGIN).unwrap_or(deadline);
    let mut failures = Vec::new();
    for record in event.records {
        let remaining = stop_at.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO);
        let receive_count =
            record.attributes.approximate_receive_count.as_deref().and_then(|c| c.parse().ok()).unwrap_or(1);
        let outcome = if remaining.is_zero() {
            None
        } else {
            tokio::time::timeout(remaining, worker.process_message(&record.body, receive_count)).await.ok()
        };
        let retry = match outcome {
            Some(Ok(processed)) => {
                for item in &processed {
                    log_processed(item, &record.message_id);
                }
                !processed.iter().all(Processed::is_settled)
            }
            Some(Err(ProcessError::Event(error))) => {
                tracing::error!(message_id = %record.message_id, %error, "not an upload event; dropped");
                false
            }
            Some(Err(error)) => {
                tracing::warn!(message_id = %record.message_id, receive_count, %error, "job failed; it will be retried");
                true
            }
            None => {
                tracing::warn!(message_id = %record.message_id, "the invocation ran out of time; the job will be retried");
                true
            }
        };
        if retry {
            failures.push(BatchItemFailure { item_identifier: record.message_id });
        }
    }
    SqsBatchResponse { batch_item_failures: failures }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_sqs_events_parse_leniently_and_responses_have_lambdas_shape() {
        let event: SqsEvent = serde_json::from_str(
            r#"{"Records":[{"messageId":"m-1","receiptHandle":"r","body":"{}","attributes":
            {"ApproximateReceiveCount":"3","SentTimestamp":"1"},"eventSource":"aws:sqs","extra":1}]}"#,
        )
        .unwrap();
        assert_eq!(event.records[0].message_id, "m-1");
        assert_eq!(event.records[0].attributes.approximate_receive_count.as_deref(), Some("3"));
        let empty: SqsEvent = serde_json::from_str("{}").unwrap();
        assert!(empty.records.is_empty());
        let response = SqsBatchResponse {
            batch_item_failures: vec![BatchItemFailure { item_identifier: "m-1".into() }],
        };
        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            serde_json::json!({"batchItemFailures": [{"itemIdentifier": "m-1"}]})
        );
    }
}
