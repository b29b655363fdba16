//! Writing one assembly's status while it runs: compare-and-set against the store, never
//! against the state machine, and noticing when someone else ended the assembly (a cancel).

use crate::assembly::AssemblyStatus;
use crate::backends::{BackendError, BackendResult, StatusStore, Versioned};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;

/// Progress is written at most this often; the watch channel keeps only the latest update.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(500);

/// Conflicts in a row before a write gives up (someone else is writing in a loop).
const MAX_CONFLICTS: u32 = 20;

/// What a write did.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOutcome {
    /// The status was stored.
    Written(AssemblyStatus),
    /// The stored assembly had ended meanwhile (canceled, or finished by another worker) or
    /// moved on to another attempt; the stored status is left as it is and returned.
    Superseded(AssemblyStatus),
}

/// The writer of one assembly's status.
pub struct StatusWriter {
    statuses: Arc<dyn StatusStore>,
    assembly_id: String,
    /// The last record read or written, with its version.
    known: Arc<Mutex<Option<Versioned<AssemblyStatus>>>>,
    progress: Option<JoinHandle<()>>,
    ended_elsewhere: watch::Receiver<Option<AssemblyStatus>>,
    ended_elsewhere_tx: Arc<watch::Sender<Option<AssemblyStatus>>>,
}

impl StatusWriter {
    /// A writer that reads the record on first use.
    pub fn new(statuses: Arc<dyn StatusStore>, assembly_id: &str) -> StatusWriter {
        let (tx, rx) = watch::channel(None);
        StatusWriter {
            statuses,
            assembly_id: assembly_id.to_owned(),
            known: Arc::new(Mutex::new(None)),
            progress: None,
            ended_elsewhere: rx,
            ended_elsewhere_tx: Arc::new(tx),
        }
    }

    /// A writer starting from a record just read.
    pub fn at(statuses: Arc<dyn StatusStore>, record: Versioned<AssemblyStatus>) -> StatusWriter {
        let writer = StatusWriter::new(statuses, &record.value.assembly_id.clone());
        *writer.known.try_lock().expect("not shared yet") = Some(record);
        writer
    }

    /// Writes `status` now.
    pub async fn write(&self, status: &AssemblyStatus) -> BackendResult<WriteOutcome> {
        self.write_with(Rule::StateMachine, |_| status.clone()).await
    }

    /// Applies `change` to the stored record; on a conflict it is applied again to the fresh
    /// record, so concurrent writers (two uploads arriving together) never lose each other's
    /// changes.
    pub async fn modify(&self, change: impl Fn(&mut AssemblyStatus)) -> BackendResult<WriteOutcome> {
        self.write_with(Rule::StateMachine, changed_by(change)).await
    }

    /// Like [`StatusWriter::modify`] for an ended assembly, keeping its phase (the webhook
    /// outcome is recorded after the end).
    pub async fn annotate(&self, change: impl Fn(&mut AssemblyStatus)) -> BackendResult<WriteOutcome> {
        self.write_with(Rule::SamePhase, changed_by(change)).await
    }

    async fn write_with(
        &self,
        rule: Rule,
        next: impl Fn(&AssemblyStatus) -> AssemblyStatus,
    ) -> BackendResult<WriteOutcome> {
        let outcome = write_checked(&*self.statuses, &self.assembly_id, &self.known, rule, next).await?;
        if let WriteOutcome::Superseded(current) = &outcome {
            self.ended_elsewhere_tx.send_replace(Some(current.clone()));
        }
        Ok(outcome)
    }

    /// A channel for progress updates, written in the background at most every
    /// [`PROGRESS_INTERVAL`] until every sender is dropped; then call [`StatusWriter::flush`].
    pub fn progress_channel(&mut self) -> watch::Sender<Option<AssemblyStatus>> {
        let (tx, mut rx) = watch::channel(None::<AssemblyStatus>);
        let (statuses, id, known) = (self.statuses.clone(), self.assembly_id.clone(), self.known.clone());
        let ended = self.ended_elsewhere_tx.clone();
        self.progress = Some(tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                // The end is written by `finish`, after results are stored; a progress write
                // of it would make that final write look like a regression.
                let Some(status) = rx.borrow_and_update().clone().filter(|s| !s.phase().is_final()) else {
                    continue;
                };
                match write_checked(&*statuses, &id, &known, Rule::StateMachine, |_| status.clone()).await {
                    Ok(WriteOutcome::Written(_)) => {}
                    Ok(WriteOutcome::Superseded(current)) => {
                        ended.send_replace(Some(current));
                        return;
                    }
                    Err(error) => tracing::warn!(assembly_id = %id, %error, "progress not recorded"),
                }
                tokio::time::sleep(PROGRESS_INTERVAL).await;
            }
        }));
        tx
    }

    /// Resolves with the stored status once a write found that the assembly ended elsewhere.
    pub async fn ended_elsewhere(&self) -> AssemblyStatus {
        let mut rx = self.ended_elsewhere.clone();
        loop {
            if let Some(status) = rx.borrow_and_update().clone() {
                return status;
            }
            if rx.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }

    /// Waits for the background progress writes to drain.
    pub async fn flush(&mut self) {
        if let Some(progress) = self.progress.take() {
            let _ = progress.await;
        }
    }

    /// Writes the final status, unless the assembly ended elsewhere first.
    pub async fn finish(&mut self, status: AssemblyStatus) -> BackendResult<WriteOutcome> {
        self.flush().await;
        self.write(&status).await
    }
}

impl Drop for StatusWriter {
    fn drop(&mut self) {
        if let Some(progress) = self.progress.take() {
            progress.abort();
        }
    }
}

/// The next status as `change` applied to a copy of the current one.
fn changed_by(change: impl Fn(&mut AssemblyStatus)) -> impl Fn(&AssemblyStatus) -> AssemblyStatus {
    move |current| {
        let mut next = current.clone();
        change(&mut next);
        next
    }
}

/// Which writes are allowed over the stored record.
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// Only moves the state machine allows.
    StateMachine,
    /// Only writes that keep the stored phase.
    SamePhase,
}

/// Compare-and-set `status` over the last known record, refusing what `rule` forbids.
async fn write_checked(
    statuses: &dyn StatusStore,
    assembly_id: &str,
    known: &Mutex<Option<Versioned<AssemblyStatus>>>,
    rule: Rule,
    next_from: impl Fn(&AssemblyStatus) -> AssemblyStatus,
) -> BackendResult<WriteOutcome> {
    let mut known = known.lock().await;
    for _ in 0..MAX_CONFLICTS {
        let current = match known.take() {
            Some(current) => current,
            None => statuses
                .get(assembly_id)
                .await?
                .ok_or_else(|| BackendError::NotFound(format!("assembly {assembly_id}")))?,
        };
        let mut next = next_from(&current.value);
        // A write belongs to one attempt: a run still finishing after a re-run began must not
        // overwrite the new attempt.
        let allowed = current.value.attempt == next.attempt
            && match rule {
                Rule::StateMachine => current.value.phase().may_become(next.phase()),
                Rule::SamePhase => current.value.phase() == next.phase(),
            };
        if !allowed {
            let stored = current.value.clone();
            *known = Some(current);
            return Ok(WriteOutcome::Superseded(stored));
        }
        next.updated_at = crate::assembly::now_rfc3339();
        match statuses.update(&next, current.version).await {
            Ok(version) => {
                *known = Some(Versioned { value: next.clone(), version });
                return Ok(WriteOutcome::Written(next));
            }
            // Someone else wrote: read again and re-check the state machine.
            Err(BackendError::Conflict(_)) => continue,
            Err(error) => {
                *known = Some(current);
                return Err(error);
            }
        }
    }
    Err(BackendError::Conflict(format!("assembly {assembly_id} (after {MAX_CONFLICTS} attempts)")))
}
