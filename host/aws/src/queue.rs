//! [`JobQueue`] on an SQS standard queue whose redrive policy names its dead-letter queue.
//!
//! The queue URL is all a worker is given: the dead-letter queue and the maximum receive count
//! are read from the queue's own redrive policy, so the worker's "last attempt" is the same
//! number SQS uses to set a message aside.

use super::sdk_error;
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, Message, MessageSystemAttributeName, QueueAttributeName,
};
use std::time::Duration;
use transflow_store::backends::{BackendError, BackendResult, DeadLetter, Delivery, JobQueue};

/// SQS's longest long-poll and visibility timeout.
const MAX_WAIT: Duration = Duration::from_secs(20);
const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 3600);

/// How long a peek at the dead-letter queue hides each message from the rest of the same peek
/// (it is made visible again when the peek ends, or after this if the peeker dies first).
const PEEK_VISIBILITY: i32 = 30;

/// The counters that together are every message of a queue.
const COUNTERS: [QueueAttributeName; 3] = [
    QueueAttributeName::ApproximateNumberOfMessages,
    QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
    QueueAttributeName::ApproximateNumberOfMessagesDelayed,
];

/// At most this many dead letters are read by one [`JobQueue::dead_letters`] call.
const PEEK_LIMIT: usize = 100;

/// An SQS queue and its dead-letter queue.
#[derive(Debug, Clone)]
pub struct SqsJobQueue {
    client: Client,
    url: String,
    dead_letter_url: Option<String>,
    max_receive_count: u32,
}

impl SqsJobQueue {
    /// The URL of the queue called `name` in the client's account and region.
    pub async fn url_of(client: &Client, name: &str) -> BackendResult<String> {
        let found = client.get_queue_url().queue_name(name).send().await;
        match found {
            Ok(found) => Ok(found.queue_url.unwrap_or_default()),
            Err(error) if error.as_service_error().is_some_and(|e| e.is_queue_does_not_exist()) => {
                Err(BackendError::NotFound(format!("queue `{name}` (run `transflow deploy` first)")))
            }
            Err(error) => Err(sdk_error(format!("looking up queue `{name}`"), error)),
        }
    }

    /// Opens the queue at `url`, finding its dead-letter queue from its redrive policy.
    pub async fn open(client: Client, url: &str) -> BackendResult<SqsJobQueue> {
        let attributes = client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::RedrivePolicy)
            .send()
            .await
            .map_err(|e| sdk_error(format!("reading the attributes of {url}"), e))?;
        let policy = attributes.attributes().and_then(|a| a.get(&QueueAttributeName::RedrivePolicy));
        let (dead_letter_url, max_receive_count) = match policy.map(|p| RedrivePolicy::parse(p)) {
            Some(Ok(policy)) => {
                let name = policy.target_arn.rsplit(':').next().unwrap_or_default();
                (Some(SqsJobQueue::url_of(&client, name).await?), policy.max_receive_count)
            }
            Some(Err(error)) => {
                return Err(BackendError::Rejected(format!(
                    "the redrive policy of {url} is unreadable: {error}"
                )));
            }
            None => {
                tracing::warn!(url, "the queue has no dead-letter queue: failing jobs are retried forever");
                (None, u32::MAX)
            }
        };
        Ok(SqsJobQueue { client, url: url.to_owned(), dead_letter_url, max_receive_count })
    }
}

/// The parts of a queue's `RedrivePolicy` attribute a worker needs.
#[derive(Debug, PartialEq, Eq)]
struct RedrivePolicy {
    target_arn: String,
    max_receive_count: u32,
}

impl RedrivePolicy {
    /// SQS returns `maxReceiveCount` as a number or as a string, depending on how it was set.
    fn parse(json: &str) -> Result<RedrivePolicy, String> {
        let value: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
        let target_arn = value["deadLetterTargetArn"].as_str().ok_or("no deadLetterTargetArn")?.to_owned();
        let count = &value["maxReceiveCount"];
        let max_receive_count = count
            .as_u64()
            .or_else(|| count.as_str().and_then(|text| text.parse().ok()))
            .and_then(|count| u32::try_from(count).ok())
            .filter(|&count| count > 0)
            .ok_or("no positive maxReceiveCount")?;
        Ok(RedrivePolicy { target_arn, max_receive_count })
    }
}

#[async_trait]
impl JobQueue for SqsJobQueue {
    async fn send(&self, body: &str) -> BackendResult<String> {
        let sent = self
            .client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| sdk_error("sending a job", e))?;
        Ok(sent.message_id.unwrap_or_default())
    }

    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> BackendResult<Vec<Delivery>> {
        let received = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .visibility_timeout(seconds(visibility.min(MAX_VISIBILITY)))
            .wait_time_seconds(seconds(wait.min(MAX_WAIT)))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| sdk_error("receiving jobs", e))?;
        Ok(received.messages.unwrap_or_default().into_iter().map(delivery).collect())
    }

    async fn ack(&self, receipt: &str) -> BackendResult<()> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(|e| sdk_error("acknowledging a job", e))?;
        Ok(())
    }

    async fn extend(&self, receipt: &str, visibility: Duration) -> BackendResult<()> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(seconds(visibility.min(MAX_VISIBILITY)))
            .send()
            .await
            .map_err(|e| sdk_error("extending a job's visibility", e))?;
        Ok(())
    }

    async fn release(&self, receipt: &str) -> BackendResult<()> {
        self.extend(receipt, Duration::ZERO).await
    }

    /// The sum of the dead-letter queue's counters (visible, in flight, delayed).
    async fn dead_letter_count(&self) -> BackendResult<u64> {
        let Some(url) = &self.dead_letter_url else { return Ok(0) };
        let read = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .set_attribute_names(Some(COUNTERS.to_vec()))
            .send()
            .await
            .map_err(|e| sdk_error("reading the dead-letter queue's counters", e))?;
        let attributes = read.attributes.unwrap_or_default();
        Ok(COUNTERS.iter().filter_map(|name| attributes.get(name)?.parse::<u64>().ok()).sum())
    }

    /// Peeks at up to [`PEEK_LIMIT`] dead letters. Each receive hides what it returned, so the
    /// next receive returns other messages; once all are read, every one is made visible again.
    async fn dead_letters(&self) -> BackendResult<Vec<DeadLetter>> {
        let Some(url) = &self.dead_letter_url else { return Ok(Vec::new()) };
        let mut letters = Vec::new();
        let mut receipts = Vec::new();
        let peeked = self.peek(url, &mut letters, &mut receipts).await;
        let shown = self.make_visible(url, &receipts).await;
        peeked.and(shown)?;
        Ok(letters)
    }

    fn max_receive_count(&self) -> u32 {
        self.max_receive_count
    }
}

impl SqsJobQueue {
    /// Receives dead letters until none is left or [`PEEK_LIMIT`] were read, keeping their
    /// receipts for [`SqsJobQueue::make_visible`] even when a receive fails half-way.
    async fn peek(
        &self,
        url: &str,
        letters: &mut Vec<DeadLetter>,
        receipts: &mut Vec<String>,
    ) -> BackendResult<()> {
        while letters.len() < PEEK_LIMIT {
            let received = self
                .client
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .visibility_timeout(PEEK_VISIBILITY)
                .wait_time_seconds(0)
                .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
                .send()
                .await
                .map_err(|e| sdk_error("reading the dead-letter queue", e))?;
            let batch = received.messages.unwrap_or_default();
            if batch.is_empty() {
                break;
            }
            for message in batch.into_iter().map(delivery) {
                receipts.push(message.receipt);
                letters.push(DeadLetter {
                    message_id: message.message_id,
                    body: message.body,
                    receive_count: message.receive_count,
                });
            }
        }
        Ok(())
    }

    /// Ends the peek's hold on the messages at once, ten per call.
    async fn make_visible(&self, url: &str, receipts: &[String]) -> BackendResult<()> {
        for chunk in receipts.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(index, receipt)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(index.to_string())
                        .receipt_handle(receipt)
                        .visibility_timeout(0)
                        .build()
                        .map_err(|e| BackendError::io("making dead letters visible again", e))
                })
                .collect::<BackendResult<Vec<_>>>()?;
            let changed = self
                .client
                .change_message_visibility_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| sdk_error("making dead letters visible again", e))?;
            if let Some(failed) = changed.failed.first() {
                return Err(BackendError::io(
                    "making dead letters visible again",
                    format!(
                        "{} ({}); they reappear after {PEEK_VISIBILITY} s",
                        failed.code,
                        failed.message.as_deref().unwrap_or("no message")
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn delivery(message: Message) -> Delivery {
    let receive_count = message
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .and_then(|count| count.parse().ok())
        .unwrap_or(1);
    Delivery {
        receipt: message.receipt_handle.unwrap_or_default(),
        message_id: message.message_id.unwrap_or_default(),
        body: message.body.unwrap_or_default(),
        receive_count,
    }
}

fn seconds(duration: Duration) -> i32 {
    i32::try_from(duration.as_secs()).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redrive_policies_parse_with_numbers_or_strings() {
        let arn = "arn:aws:sqs:us-east-1:123456789012:jobs-dlq";
        for json in [
            format!(r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":5}}"#),
            format!(r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":"5"}}"#),
        ] {
            assert_eq!(
                RedrivePolicy::parse(&json).unwrap(),
                RedrivePolicy { target_arn: arn.into(), max_receive_count: 5 }
            );
        }
        assert!(RedrivePolicy::parse(r#"{"maxReceiveCount":5}"#).is_err());
        assert!(
            RedrivePolicy::parse(&format!(r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":0}}"#))
                .is_err()
        );
        assert!(RedrivePolicy::parse("not json").is_err());
    }
}
