//! The worker loop over a [`JobQueue`]: receive, process with bounded concurrency, keep the
//! message hidden while its job runs, acknowledge when done, and on shutdown hand unfinished
//! jobs back at once instead of waiting for their visibility timeouts. Beside it runs the
//! retention sweep ([`crate::retention`]).

use super::event::parse_event;
use super::{Processed, Worker};
use crate::retention::{Retention, sweep_periodically};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// Tunables of the loop.
#[derive(Debug, Clone)]
pub struct LoopSettings {
    /// Jobs run at once.
    pub concurrency: usize,
    /// How long a received message stays hidden; renewed every third of it while its job runs.
    pub visibility: Duration,
    /// Long-poll wait of one receive.
    pub poll_wait: Duration,
    /// How often the dead-letter queue's message count is read, so the assemblies of new dead
    /// letters record the failure (see [`sweep_dead_letters`]).
    pub dead_letter_sweep: Duration,
    /// Upload expiry and retention, enforced by a sweep beside the loop.
    pub retention: Retention,
}

impl Default for LoopSettings {
    fn default() -> LoopSettings {
        LoopSettings {
            concurrency: 2,
            visibility: Duration::from_secs(60),
            poll_wait: Duration::from_secs(1),
            dead_letter_sweep: Duration::from_secs(10),
            retention: Retention::from_config(&crate::config::Config::default()),
        }
    }
}

impl LoopSettings {
    /// The loop of `[worker]`.
    pub fn from_config(config: &crate::config::Config) -> LoopSettings {
        LoopSettings {
            concurrency: config.worker.concurrency,
            visibility: Duration::from_secs(config.worker.visibility_secs.max(3)),
            retention: Retention::from_config(config),
            ..LoopSettings::default()
        }
    }
}

/// Runs until `shutdown` turns true; then stops in-flight jobs, releases their leases and
/// makes their messages visible again.
pub async fn run_loop(worker: Arc<Worker>, settings: LoopSettings, mut shutdown: watch::Receiver<bool>) {
    let sweeps = tokio::spawn(sweep_periodically(
        worker.backends.clone(),
        worker.notifier.clone(),
        settings.retention,
        shutdown.clone(),
    ));
    let slots = Arc::new(Semaphore::new(settings.concurrency.max(1)));
    let mut jobs = JoinSet::new();
    let mut dead_letters = DeadLetterWatch::default();
    let mut next_sweep = tokio::time::Instant::now();
    while !*shutdown.borrow() {
        if tokio::time::Instant::now() >= next_sweep {
            sweep_dead_letters(&worker, &mut dead_letters).await;
            next_sweep = tokio::time::Instant::now() + settings.dead_letter_sweep;
        }
        while jobs.try_join_next().is_some() {}
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            _ = shutdown.changed() => break,
        };
        let received = tokio::select! {
            received = worker.backends.queue.receive(1, settings.visibility, settings.poll_wait) => received,
            _ = shutdown.changed() => break,
        };
        // One message per receive, so the slot taken above goes to its job.
        let delivery = match received {
            Ok(deliveries) => deliveries.into_iter().next(),
            Err(error) => {
                tracing::error!(%error, "receiving from the queue failed; retrying");
                tokio::time::sleep(settings.poll_wait).await;
                None
            }
        };
        if let Some(delivery) = delivery {
            let (worker, settings, shutdown) = (worker.clone(), settings.clone(), shutdown.clone());
            jobs.spawn(async move {
                let _slot = permit;
                handle_delivery(&worker, &settings, delivery, shutdown).await;
            });
        }
    }
    while jobs.join_next().await.is_some() {}
    let _ = sweeps.await;
}

async fn handle_delivery(
    worker: &Worker,
    settings: &LoopSettings,
    delivery: transflow_store::backends::Delivery,
    shutdown: watch::Receiver<bool>,
) {
    let queue = worker.backends.queue.clone();
    let keep_hidden = {
        let (queue, receipt, visibility) = (queue.clone(), delivery.receipt.clone(), settings.visibility);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(visibility / 3);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                if let Err(error) = queue.extend(&receipt, visibility).await {
                    tracing::warn!(%error, "could not extend the message's visibility");
                }
            }
        })
    };
    // On shutdown the run stops and gives its lease back itself: the lease is its own.
    let outcome = worker.process_message_until(&delivery.body, delivery.receive_count, shutdown).await;
    keep_hidden.abort();
    match outcome {
        Ok(processed) => {
            for item in &processed {
                log_processed(item, &delivery.message_id);
            }
            if processed.iter().any(|item| matches!(item, Processed::Interrupted { .. })) {
                if let Err(error) = queue.release(&delivery.receipt).await {
                    tracing::warn!(%error, "could not release the message; it reappears after its visibility timeout");
                }
                return;
            }
            if !processed.iter().all(Processed::is_settled) {
                // Seen again after its visibility timeout, by when a dead holder's lease lapsed.
                return;
            }
            if let Err(error) = queue.ack(&delivery.receipt).await {
                tracing::warn!(%error, message_id = %delivery.message_id, "could not acknowledge; it will be redelivered");
            }
        }
        Err(error) => {
            tracing::warn!(%error, message_id = %delivery.message_id, receive_count = delivery.receive_count, "job failed; the queue will redeliver it");
        }
    }
}

/// Logs what a message led to.
pub(crate) fn log_processed(processed: &Processed, message_id: &str) {
    match processed {
        Processed::Ignored(reason) => tracing::info!(message_id, reason, "message ignored"),
        Processed::Waiting { assembly_id } => {
            tracing::info!(message_id, assembly_id, "waiting for more uploads")
        }
        Processed::InProgressElsewhere { assembly_id } => {
            tracing::info!(
                message_id,
                assembly_id,
                "another worker holds the assembly; the message is kept for later"
            )
        }
        Processed::AlreadyFinished { assembly_id } => {
            tracing::info!(message_id, assembly_id, "already finished")
        }
        Processed::Interrupted { assembly_id } => {
            tracing::info!(message_id, assembly_id, "stopped for shutdown; the message is handed back")
        }
        Processed::Ran(status) => tracing::info!(
            message_id,
            assembly_id = %status.assembly_id,
            error = ?status.error,
            duration = status.execution_duration,
            "assembly ended"
        ),
    }
}

/// What the dead-letter check has seen.
#[derive(Debug, Default)]
struct DeadLetterWatch {
    /// The dead-letter queue's message count at the last look at its messages.
    count: Option<u64>,
    /// Dead letters whose assemblies were seen to, by message id.
    swept: HashSet<String>,
}

/// Records the failure in the status of every assembly whose job the queue set aside.
///
/// A job's last delivery records its own failure; this catches the jobs whose last delivery
/// died with its worker (a crash, a Lambda timeout), which the queue then moves aside without
/// anyone left to say so. It reads the dead-letter queue's message count, which costs one call
/// and leaves the messages alone, and looks at the messages only when the count changed.
/// Looking receives them, which takes them out of reach of the console and of a redrive while
/// they are in flight, so [`JobQueue::dead_letters`](transflow_store::backends::JobQueue::dead_letters)
/// makes them visible again as soon as it has read them. A count that changes and comes back
/// between two checks (a redrive out, a new dead letter in) hides a new letter until the next
/// change; the failure then shows in the status only once the count moves again.
async fn sweep_dead_letters(worker: &Worker, watch: &mut DeadLetterWatch) {
    let queue = &worker.backends.queue;
    let count = match queue.dead_letter_count().await {
        Ok(count) => count,
        Err(error) => return tracing::warn!(%error, "could not read the dead-letter queue's message count"),
    };
    if watch.count == Some(count) {
        return;
    }
    let dead = if count == 0 {
        Vec::new()
    } else {
        match queue.dead_letters().await {
            Ok(dead) => dead,
            Err(error) => return tracing::warn!(%error, "could not read the dead-letter queue"),
        }
    };
    watch.swept.retain(|id| dead.iter().any(|letter| &letter.message_id == id));
    for letter in dead {
        if watch.swept.contains(&letter.message_id) {
            continue;
        }
        for upload in parse_event(&letter.body).unwrap_or_default() {
            let finished = matches!(worker.backends.statuses.get(&upload.assembly_id).await, Ok(Some(record)) if record.value.is_finished());
            if !finished {
                let reason = "the job was moved to the dead-letter queue";
                worker.give_up(&upload.assembly_id, letter.receive_count, &reason).await;
            }
        }
        watch.swept.insert(letter.message_id);
    }
    watch.count = Some(count);
}
