//! A durable job queue in a SQLite file that behaves like an SQS standard queue with a
//! dead-letter queue, so the worker loop is written once against SQS's semantics.
//!
//! - A received message stays in the table, hidden until its visibility timeout lapses; it is
//!   deleted only when acknowledged. A worker that dies therefore loses nothing: the message
//!   comes back (at-least-once delivery).
//! - Every delivery carries a fresh random receipt; only the latest one works, so a worker
//!   whose message timed out and went to someone else cannot acknowledge or extend it.
//! - Like SQS redrive, a message that has already been received the maximum number of times
//!   is moved to the dead-letter table by the next receive instead of being delivered again.
//! - Receiving is one `BEGIN IMMEDIATE` transaction (select and hide together), so two
//!   receivers — tasks, or processes sharing the file — never get the same message at once.

use super::sqlite::{Db, millis, now_millis};
use async_trait::async_trait;
use rusqlite::{TransactionBehavior, params};
use std::path::Path;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;
use transflow_store::backends::{BackendError, BackendResult, DeadLetter, Delivery, JobQueue};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS messages (
    seq           INTEGER PRIMARY KEY, -- send order
    message_id    TEXT NOT NULL UNIQUE,
    body          TEXT NOT NULL,
    visible_at    INTEGER NOT NULL,    -- unix millis
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt       TEXT UNIQUE          -- of the outstanding delivery, if any
);
CREATE INDEX IF NOT EXISTS messages_by_visibility ON messages (visible_at);
CREATE TABLE IF NOT EXISTS dead_letters (
    seq           INTEGER PRIMARY KEY, -- order they were set aside
    message_id    TEXT NOT NULL UNIQUE,
    body          TEXT NOT NULL,
    receive_count INTEGER NOT NULL,
    dead_at       INTEGER NOT NULL     -- unix millis
);
";

/// The longest a receive waits for a message, as on SQS; callers poll again after it.
const MAX_WAIT: Duration = Duration::from_secs(20);

/// How often a waiting receive looks again: sends from other processes cannot wake it, and
/// hidden messages reappear without any send.
const POLL: Duration = Duration::from_millis(50);

/// A job queue in a SQLite file, safe to share between tasks and between processes.
#[derive(Debug)]
pub struct SqliteJobQueue {
    db: Db,
    /// Deliveries beyond this many send a message to the dead-letter table.
    max_receive_count: u32,
    /// Wakes this process's waiting receivers when it sends or releases a message.
    arrived: Notify,
}

impl SqliteJobQueue {
    /// Opens the queue at `path`, creating the file (and its directories) on first use; a
    /// message is set aside after `max_receive_count` deliveries without an acknowledgement.
    /// Blocks briefly; call it at startup.
    pub fn open(path: &Path, max_receive_count: u32) -> BackendResult<SqliteJobQueue> {
        if max_receive_count == 0 {
            return Err(BackendError::Rejected(
                "max_receive_count must be at least 1, or no message could ever be delivered".into(),
            ));
        }
        Ok(SqliteJobQueue { db: Db::open(path, SCHEMA)?, max_receive_count, arrived: Notify::new() })
    }

    /// Hands out up to `max` visible messages, hidden for `visibility` from now, setting aside
    /// those received too often; does not wait.
    async fn take(&self, max: usize, visibility: Duration) -> BackendResult<Vec<Delivery>> {
        let max_receive_count = self.max_receive_count;
        self.db
            .call("receiving messages".into(), move |conn| {
                // Most polls find nothing: look first without taking the write lock.
                let any_visible: bool = conn.query_row(
                    "SELECT EXISTS (SELECT 1 FROM messages WHERE visible_at <= ?1)",
                    [now_millis()],
                    |row| row.get(0),
                )?;
                if !any_visible {
                    return Ok(Vec::new());
                }
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let now = now_millis();
                let hidden_until = now.saturating_add(millis(visibility));
                let mut deliveries = Vec::new();
                // Messages set aside leave room for the next ones; `after` keeps one call from
                // seeing a message twice (with a zero visibility it would still be visible).
                let mut after = 0_i64;
                while deliveries.len() < max {
                    let wanted = i64::try_from(max - deliveries.len()).unwrap_or(i64::MAX);
                    let batch = tx
                        .prepare_cached(
                            "SELECT seq, message_id, body, receive_count FROM messages
                             WHERE visible_at <= ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
                        )?
                        .query_map(params![now, after, wanted], |row| {
                            Ok((row.get::<_, i64>(0)?, row.get(1)?, row.get(2)?, row.get::<_, u32>(3)?))
                        })?
                        .collect::<rusqlite::Result<Vec<(i64, String, String, u32)>>>()?;
                    let Some(last) = batch.last() else { break };
                    after = last.0;
                    for (seq, message_id, body, receive_count) in batch {
                        if receive_count >= max_receive_count {
                            tx.execute(
                                "INSERT INTO dead_letters (message_id, body, receive_count, dead_at)
                                 VALUES (?1, ?2, ?3, ?4)",
                                params![message_id, body, receive_count, now],
                            )?;
                            tx.execute("DELETE FROM messages WHERE seq = ?1", [seq])?;
                            continue;
                        }
                        let receipt = random_hex();
                        tx.execute(
                            "UPDATE messages
                             SET visible_at = ?2, receive_count = receive_count + 1, receipt = ?3
                             WHERE seq = ?1",
                            params![seq, hidden_until, receipt],
                        )?;
                        let receive_count = receive_count + 1;
                        deliveries.push(Delivery { receipt, message_id, body, receive_count });
                    }
                }
                tx.commit()?;
                Ok(deliveries)
            })
            .await
    }
}

/// 128 random bits as 32 lower-case hex digits: message ids and receipts.
fn random_hex() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// The error for a receipt that is not the latest delivery of any message.
fn stale(receipt: &str) -> BackendError {
    BackendError::NotFound(format!(
        "the delivery with receipt {receipt} (acknowledged, released or delivered again since?)"
    ))
}

#[async_trait]
impl JobQueue for SqliteJobQueue {
    async fn send(&self, body: &str) -> BackendResult<String> {
        let message_id = random_hex();
        let (id, body) = (message_id.clone(), body.to_owned());
        self.db
            .call(format!("sending message {message_id}"), move |conn| {
                conn.execute(
                    "INSERT INTO messages (message_id, body, visible_at) VALUES (?1, ?2, ?3)",
                    params![id, body, now_millis()],
                )
            })
            .await?;
        self.arrived.notify_waiters();
        Ok(message_id)
    }

    /// `wait` is capped at 20 seconds, as on SQS. A receive dropped by its caller may still
    /// take messages; they come back when `visibility` lapses, as with any lost delivery.
    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> BackendResult<Vec<Delivery>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let deadline = Instant::now() + wait.min(MAX_WAIT);
        loop {
            // Listen before looking, so a send landing between the look and the wait still
            // wakes this receiver.
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            let deliveries = self.take(max, visibility).await?;
            if !deliveries.is_empty() || Instant::now() >= deadline {
                return Ok(deliveries);
            }
            // Woken or timed out, either way look again.
            let _ = tokio::time::timeout_at(deadline.min(Instant::now() + POLL), arrived).await;
        }
    }

    async fn ack(&self, receipt: &str) -> BackendResult<()> {
        let owned = receipt.to_owned();
        let deleted = self
            .db
            .call("acknowledging a message".into(), move |conn| {
                conn.execute("DELETE FROM messages WHERE receipt = ?1", [owned])
            })
            .await?;
        if deleted == 0 {
            return Err(stale(receipt));
        }
        Ok(())
    }

    async fn extend(&self, receipt: &str, visibility: Duration) -> BackendResult<()> {
        let owned = receipt.to_owned();
        let changed = self
            .db
            .call("extending a message's visibility".into(), move |conn| {
                conn.execute(
                    "UPDATE messages SET visible_at = ?2 WHERE receipt = ?1",
                    params![owned, now_millis().saturating_add(millis(visibility))],
                )
            })
            .await?;
        if changed == 0 {
            return Err(stale(receipt));
        }
        Ok(())
    }

    /// The receipt stops working: the message is no longer the releaser's.
    async fn release(&self, receipt: &str) -> BackendResult<()> {
        let owned = receipt.to_owned();
        let changed = self
            .db
            .call("releasing a message".into(), move |conn| {
                conn.execute(
                    "UPDATE messages SET visible_at = ?2, receipt = NULL WHERE receipt = ?1",
                    params![owned, now_millis()],
                )
            })
            .await?;
        if changed == 0 {
            return Err(stale(receipt));
        }
        self.arrived.notify_waiters();
        Ok(())
    }

    async fn dead_letter_count(&self) -> BackendResult<u64> {
        self.db
            .call("counting dead letters".into(), |conn| {
                conn.query_row("SELECT COUNT(*) FROM dead_letters", [], |row| row.get(0))
            })
            .await
    }

    /// Oldest first.
    async fn dead_letters(&self) -> BackendResult<Vec<DeadLetter>> {
        self.db
            .call("listing dead letters".into(), |conn| {
                conn.prepare_cached("SELECT message_id, body, receive_count FROM dead_letters ORDER BY seq")?
                    .query_map([], |row| {
                        Ok(DeadLetter {
                            message_id: row.get(0)?,
                            body: row.get(1)?,
                            receive_count: row.get(2)?,
                        })
                    })?
                    .collect()
            })
            .await
    }

    fn max_receive_count(&self) -> u32 {
        self.max_receive_count
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::Arc;

    const LONG: Duration = Duration::from_secs(30);
    const SHORT: Duration = Duration::from_millis(100);
    const NO_WAIT: Duration = Duration::ZERO;

    fn open(dir: &tempfile::TempDir, max_receive_count: u32) -> SqliteJobQueue {
        SqliteJobQueue::open(&dir.path().join("state/queue.sqlite"), max_receive_count)
            .expect("open the queue")
    }

    fn is_not_found(result: BackendResult<()>) -> bool {
        matches!(result, Err(BackendError::NotFound(_)))
    }

    #[tokio::test]
    async fn send_receive_ack() {
        let dir = tempfile::tempdir().unwrap();
        let queue = open(&dir, 5);
        let first = queue.send("job 1").await.unwrap();
        let second = queue.send("job 2").await.unwrap();
        assert_eq!(first.len(), 32);
        assert_ne!(first, second);

        let got = queue.receive(10, LONG, NO_WAIT).await.unwrap();
        let summary =
            got.iter().map(|d| (d.message_id.as_str(), d.body.as_str(), d.receive_count)).collect::<Vec<_>>();
        assert_eq!(summary, [(first.as_str(), "job 1", 1), (second.as_str(), "job 2", 1)]);
        // Hidden while their visibility lasts.
        assert!(queue.receive(10, LONG, NO_WAIT).await.unwrap().is_empty());

        for delivery in &got {
            queue.ack(&delivery.receipt).await.unwrap();
        }
        assert!(is_not_found(queue.ack(&got[0].receipt).await));
        assert!(queue.receive(10, LONG, NO_WAIT).await.unwrap().is_empty());
        assert!(queue.dead_letters().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn receive_respects_max() {
        let dir = tempfile::tempdir().unwrap();
        let queue = open(&dir, 5);
        for n in 0..3 {
            queue.send(&format!("job {n}")).await.unwrap();
        }
        let bodies = |ds: Vec<Delivery>| ds.into_iter().map(|d| d.body).collect::<Vec<_>>();
        assert_eq!(bodies(queue.receive(2, LONG, NO_WAIT).await.unwrap()), ["job 0", "job 1"]);
        assert_eq!(bodies(queue.receive(2, LONG, NO_WAIT).await.unwrap()), ["job 2"]);
        assert!(queue.receive(0, LONG, NO_WAIT).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_delivery_reappears_when_its_visibility_lapses() {
        let dir = tempfile::tempdir().unwrap();
        let queue = open(&dir, 5);
        let id = queue.send("job").await.unwrap();
        let first = queue.receive(1, SHORT, NO_WAIT).await.unwrap().remove(0);
        tokio::time::sleep(SHORT * 2).await;

        let second = queue.receive(1, LONG, NO_WAIT).await.unwrap().remove(0);
        assert_eq!((second.message_id.as_str(), second.receive_count), (id.as_str(), 2));
        assert_ne!(second.receipt, first.receipt);

        // The first receipt went stale with the second delivery.
        assert!(is_not_found(queue.ack(&first.receipt).await));
        assert!(is_not_found(queue.extend(&first.receipt, LONG).await));
        assert!(is_not_found(queue.release(&first.receipt).await));
        queue.ack(&second.receipt).await.unwrap();
    }

    #[tokio::test]
    async fn release_makes_a_delivery_visible_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let queue = open(&dir, 5);
        let id = queue.send("job").await.unwrap();
        let first = queue.receive(1, LONG, NO_WAIT).await.unwrap().remove(0);
        queue.release(&first.receipt).await.unwrap();
        assert!(is_not_found(queue.ack(&first.receipt).await));

        let second = queue.receive(1, LONG, NO_WAIT).await.unwrap().remove(0);
        assert_eq!((second.message_id.as_str(), second.receive_count), (id.as_str(), 2));
    }

    #[tokio::test]
    async fn extend_keeps_a_delivery_hidden() {
        let dir = tempfile::tempdir().unwrap();
        let queue = open(&dir, 5);
        queue.send("job").await.unwrap();
        let delivery = queue.receive(1, SHORT, NO_WAIT).await.unwrap().remove(0);
        queue.extend(&delivery.receipt, LONG).await.unwrap();
        tokio::time::sleep(SHORT * 2).await;

        assert!(queue.receive(1, LONG, NO_WAIT).await.unwrap().is_empty());
        // Extending keeps the receipt.
        queue.ack(&delivery.receipt).await.unwrap();
    }

    #[tokio::test]
    async fn a_message_received_too_often_is_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let queue = open(&dir, 2);
        let id = queue.send("poison").await.unwrap();
        let mut last_receipt = String::new();
        for count in 1..=2 {
            let delivery = queue.receive(1, LONG, NO_WAIT).await.unwrap().remove(0);
            assert_eq!(delivery.receive_count, count);
            queue.release(&delivery.receipt).await.unwrap();
            last_receipt = delivery.receipt;
        }
        let later = queue.send("fine").await.unwrap();

        // The third receive moves the poison message aside and delivers the next one instead.
        let got = queue.receive(10, LONG, NO_WAIT).await.unwrap();
        assert_eq!(got.iter().map(|d| d.message_id.as_str()).collect::<Vec<_>>(), [later.as_str()]);
        assert_eq!(
            queue.dead_letters().await.unwrap(),
            [DeadLetter { message_id: id, body: "poison".into(), receive_count: 2 }]
        );
        assert!(is_not_found(queue.ack(&last_receipt).await));
        assert!(queue.receive(10, LONG, NO_WAIT).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn the_third_receive_of_max_two_returns_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let queue = open(&dir, 2);
        queue.send("poison").await.unwrap();
        for _ in 0..2 {
            let delivery = queue.receive(1, LONG, NO_WAIT).await.unwrap().remove(0);
            queue.release(&delivery.receipt).await.unwrap();
        }
        assert!(queue.receive(1, LONG, NO_WAIT).await.unwrap().is_empty());
        assert_eq!(queue.dead_letters().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn messages_survive_reopening_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let (poison, receipt, waiting) = {
            let queue = open(&dir, 1);
            let poison = queue.send("poison").await.unwrap();
            let delivery = queue.receive(1, LONG, NO_WAIT).await.unwrap().remove(0);
            queue.release(&delivery.receipt).await.unwrap();
            assert!(queue.receive(1, LONG, NO_WAIT).await.unwrap().is_empty());

            queue.send("in flight").await.unwrap();
            let receipt = queue.receive(1, LONG, NO_WAIT).await.unwrap().remove(0).receipt;
            let waiting = queue.send("waiting").await.unwrap();
            (poison, receipt, waiting)
        };

        let queue = open(&dir, 1);
        // The message in flight stays hidden and its receipt still works.
        let got = queue.receive(10, LONG, NO_WAIT).await.unwrap();
        assert_eq!(got.iter().map(|d| d.message_id.as_str()).collect::<Vec<_>>(), [waiting.as_str()]);
        queue.ack(&receipt).await.unwrap();
        queue.ack(&got[0].receipt).await.unwrap();
        let dead = queue.dead_letters().await.unwrap();
        assert_eq!(dead.iter().map(|d| d.message_id.as_str()).collect::<Vec<_>>(), [poison.as_str()]);
        assert!(queue.receive(10, LONG, NO_WAIT).await.unwrap().is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_receivers_never_share_a_message() {
        let dir = tempfile::tempdir().unwrap();
        let sender = open(&dir, 5);
        let mut sent = HashSet::new();
        for n in 0..50 {
            sent.insert(sender.send(&format!("job {n}")).await.unwrap());
        }

        // Two handles on the file, as two processes would have.
        let receivers = (0..2).map(|_| {
            let queue = open(&dir, 5);
            tokio::spawn(async move {
                let mut ids = Vec::new();
                loop {
                    let got = queue.receive(3, LONG, Duration::from_millis(100)).await.unwrap();
                    if got.is_empty() {
                        return ids;
                    }
                    for delivery in got {
                        queue.ack(&delivery.receipt).await.unwrap();
                        ids.push(delivery.message_id);
                    }
                }
            })
        });
        let mut received = Vec::new();
        for receiver in receivers.collect::<Vec<_>>() {
            received.extend(receiver.await.unwrap());
        }
        let unique = received.iter().cloned().collect::<HashSet<_>>();
        assert_eq!(unique.len(), received.len(), "a message was delivered twice");
        assert_eq!(unique, sent);
    }

    #[tokio::test]
    async fn a_waiting_receive_wakes_for_a_send() {
        let dir = tempfile::tempdir().unwrap();
        let queue = Arc::new(open(&dir, 5));
        let sender = {
            let queue = Arc::clone(&queue);
            tokio::spawn(async move {
                tokio::time::sleep(SHORT).await;
                queue.send("late").await.unwrap()
            })
        };
        let got = queue.receive(1, LONG, Duration::from_secs(5)).await.unwrap();
        let id = sender.await.unwrap();
        assert_eq!(got.iter().map(|d| d.message_id.as_str()).collect::<Vec<_>>(), [id.as_str()]);
    }

    #[tokio::test]
    async fn a_waiting_receive_sees_a_send_from_another_handle() {
        let dir = tempfile::tempdir().unwrap();
        let queue = open(&dir, 5);
        let other = open(&dir, 5);
        let sender = tokio::spawn(async move {
            tokio::time::sleep(SHORT).await;
            other.send("from elsewhere").await.unwrap()
        });
        let got = queue.receive(1, LONG, Duration::from_secs(5)).await.unwrap();
        let id = sender.await.unwrap();
        assert_eq!(got.iter().map(|d| d.message_id.as_str()).collect::<Vec<_>>(), [id.as_str()]);
    }

    #[tokio::test]
    async fn max_receive_count_zero_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let error = SqliteJobQueue::open(&dir.path().join("queue.sqlite"), 0).unwrap_err();
        assert!(matches!(error, BackendError::Rejected(_)), "{error:?}");
    }
}
