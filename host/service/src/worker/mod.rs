//! Turning a queued upload event into a finished assembly.
//!
//! [`Worker::process_message`] is the one function every entry point calls: the worker loop of
//! `transflow dev` and `transflow worker` ([`run_loop`]) and the Lambda handler
//! ([`crate::lambda`]). It is
//! idempotent, because queues deliver at least once: a finished assembly is never run again,
//! an assembly still waiting for files is left alone, and the lease in the status store makes
//! sure only one run executes an assembly at a time — two deliveries of one event to the same
//! worker are two runs — while letting another take over once a crashed run's lease expires.

pub mod event;
mod notify;
pub mod run_loop;
pub mod setup;
pub mod sink;

use event::{EventError, parse_event};
pub use notify::Notifier;
use sink::BlobStoreSink;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;
use transflow_ffmpeg::MediaTools;
use transflow_runtime::engine::{LoadedTemplate, TemplateEngine};
use transflow_runtime::runner::{AssemblyRequest, Runner, UploadSource};
use transflow_store::assembly::{AssemblyState, AssemblyStatus, ErrorCode, ExpectedUpload};
use transflow_store::backends::Backends;
use transflow_store::backends::{BackendError, BackendResult, Lease, StatusStore};
use transflow_store::keys::UploadKey;
use transflow_store::prefix_urls::PublicUrls;
use transflow_store::status_writer::{StatusWriter, WriteOutcome};

/// Tunables of a worker.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// How long a lease lasts without renewal; a crashed worker's assemblies become free after it.
    pub lease_ttl: Duration,
    /// How long result and upload URLs in the status stay valid.
    pub result_url_ttl: Duration,
    /// Where a server answers prefix-signed `/r/…` URLs; `None` leaves URLs to the blob store
    /// (pre-signed S3 GETs, under which a multi-file result's relative references fail).
    pub public_urls: Option<PublicUrls>,
    /// Deliveries of one message before it goes to the dead-letter queue; the last one records
    /// its error in the status.
    pub max_receive_count: u32,
}

impl Default for WorkerSettings {
    fn default() -> WorkerSettings {
        WorkerSettings {
            lease_ttl: Duration::from_secs(60),
            result_url_ttl: Duration::from_secs(7 * 24 * 3600),
            public_urls: None,
            max_receive_count: 5,
        }
    }
}

/// Everything [`Worker::process_message`] needs; shared by all concurrent jobs of a process.
#[derive(Debug)]
pub struct Worker {
    /// Storage.
    pub backends: Backends,
    /// The template engine.
    pub engine: Arc<TemplateEngine>,
    /// ffmpeg and ffprobe.
    pub tools: Arc<MediaTools>,
    /// Job workspaces and staged files, deleted after each job.
    pub work_dir: transflow_store::process_dir::ProcessDir,
    /// This worker's name, unique per process; each run's lease holder is this and a random
    /// run id.
    pub worker_id: String,
    /// Tunables.
    pub settings: WorkerSettings,
    /// Sends webhooks once assemblies end.
    pub notifier: Notifier,
}

/// What a message led to.
#[derive(Debug, Clone, PartialEq)]
pub enum Processed {
    /// Nothing to do: a test event, or an object nobody announced. Says why.
    Ignored(String),
    /// Files of the assembly are still missing; the event of the last one will run it.
    Waiting {
        /// Assembly id.
        assembly_id: String,
    },
    /// Another run (on this worker or another) holds the assembly's lease, or took it over
    /// from this run. The message is kept, not acknowledged: the holder may have died with
    /// this very message in hand, and then only its redelivery, after the lease has lapsed,
    /// finishes the assembly.
    InProgressElsewhere {
        /// Assembly id.
        assembly_id: String,
    },
    /// The worker was asked to stop: the run was dropped (its tools killed) and its lease given
    /// back, so the message should be made visible again at once.
    Interrupted {
        /// Assembly id.
        assembly_id: String,
    },
    /// The assembly had already ended (a redelivery); nothing was run.
    AlreadyFinished {
        /// Assembly id.
        assembly_id: String,
    },
    /// The assembly ran; its final status (completed, or failed with an error code).
    Ran(Box<AssemblyStatus>),
}

impl Processed {
    /// Whether the message is done with and may be acknowledged.
    pub fn is_settled(&self) -> bool {
        !matches!(self, Processed::InProgressElsewhere { .. } | Processed::Interrupted { .. })
    }
}

/// A message that could not be processed now; the queue will deliver it again.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The message is not an upload event.
    #[error(transparent)]
    Event(#[from] EventError),
    /// A backend failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl Worker {
    /// Processes one queue message (an S3-shaped event); `receive_count` is how often the queue
    /// has delivered it, so the last allowed attempt can record its failure in the status.
    ///
    /// Dropping the future stops its run at once and leaves the lease to expire rather than
    /// giving it back: the Lambda handler at its deadline, whose frozen sandbox may still hold
    /// the assembly's files.
    pub async fn process_message(
        &self,
        body: &str,
        receive_count: u32,
    ) -> Result<Vec<Processed>, ProcessError> {
        // Never stops: the sender lives as long as the call.
        let (_never, stop) = watch::channel(false);
        self.process_message_until(body, receive_count, stop).await
    }

    /// [`Worker::process_message`] until `stop` turns true; then the run in progress is dropped
    /// (its tools killed), its lease given back so another worker may take the assembly at
    /// once, and its outcome is [`Processed::Interrupted`].
    pub async fn process_message_until(
        &self,
        body: &str,
        receive_count: u32,
        stop: watch::Receiver<bool>,
    ) -> Result<Vec<Processed>, ProcessError> {
        let uploads = parse_event(body)?;
        if uploads.is_empty() {
            return Ok(vec![Processed::Ignored("the event announces no new upload".into())]);
        }
        let mut outcomes = Vec::with_capacity(uploads.len());
        for upload in uploads {
            let outcome = if *stop.borrow() {
                Ok(Processed::Interrupted { assembly_id: upload.assembly_id.clone() })
            } else {
                self.process_upload(&upload, stop.clone()).await
            };
            if let Err(error) = &outcome {
                if receive_count >= self.settings.max_receive_count {
                    self.give_up(&upload.assembly_id, receive_count, error).await;
                } else {
                    self.note_retry(&upload.assembly_id, receive_count, error).await;
                }
            }
            outcomes.push(outcome?);
        }
        Ok(outcomes)
    }

    /// Says in the status that a delivery failed and the queue will deliver it again, so a
    /// client polling meanwhile reads why nothing moves (not that its uploads are awaited).
    async fn note_retry(&self, assembly_id: &str, attempt: u32, error: &ProcessError) {
        let max = self.settings.max_receive_count;
        let message = format!("processing failed on attempt {attempt} of {max} and will be retried: {error}");
        let writer = StatusWriter::new(self.backends.statuses.clone(), assembly_id);
        let result = writer
            .modify(|status| {
                if !status.phase().is_final() {
                    status.message = message.clone();
                }
            })
            .await;
        if let Err(error) = result {
            tracing::warn!(assembly_id, %error, "could not record the retry in the status");
        }
    }

    /// Records that an assembly's job failed on every delivery (the queue sets it aside next).
    pub async fn give_up(&self, assembly_id: &str, attempts: u32, error: &(dyn std::fmt::Display + Sync)) {
        let message = format!("processing failed {attempts} times and was given up: {error}");
        let writer = StatusWriter::new(self.backends.statuses.clone(), assembly_id);
        let result = writer
            .modify(|status| {
                status.fail(
                    ErrorCode::RetriesExhausted,
                    status.current_step.clone().as_deref(),
                    message.clone(),
                );
            })
            .await;
        if let Err(error) = result {
            tracing::error!(assembly_id, %error, "could not record the abandoned job in its status");
        }
    }

    async fn process_upload(
        &self,
        upload: &UploadKey,
        stop: watch::Receiver<bool>,
    ) -> Result<Processed, ProcessError> {
        let assembly_id = upload.assembly_id.clone();
        let Some(record) = self.backends.statuses.get(&assembly_id).await? else {
            return Ok(Processed::Ignored(format!(
                "no assembly {assembly_id}: the upload was not announced"
            )));
        };
        if record.value.phase().is_final() {
            return Ok(Processed::AlreadyFinished { assembly_id });
        }
        if !self.all_uploads_present(&record.value).await? {
            return Ok(Processed::Waiting { assembly_id });
        }
        let Some(lease) = RunLease::acquire(self, &assembly_id).await? else {
            return Ok(Processed::InProgressElsewhere { assembly_id });
        };
        let outcome = self.run_leased(&lease, stop).await;
        lease.release().await;
        outcome
    }

    /// Whether every announced upload is in the blob store with its declared size. Those not
    /// yet marked received get marked, with their bytes counted (on AWS nothing else sees them
    /// arrive: S3 takes the `PUT`), and the message says so once the last one is.
    async fn all_uploads_present(&self, status: &AssemblyStatus) -> Result<bool, ProcessError> {
        let prefix = UploadKey::assembly_prefix(&status.branch, &status.assembly_id);
        let present = self.backends.blobs.list(&prefix).await?;
        let arrived = |expected: &ExpectedUpload| {
            present.iter().any(|blob| {
                blob.key == format!("{prefix}{}/{}", expected.upload_id, expected.name)
                    && blob.size == expected.size
            })
        };
        if status.expected_uploads.iter().any(|expected| !expected.received && arrived(expected)) {
            let writer = StatusWriter::new(self.backends.statuses.clone(), &status.assembly_id);
            writer
                .modify(|status| {
                    let arrivals: Vec<(String, u64)> = status
                        .expected_uploads
                        .iter()
                        .filter(|expected| arrived(expected))
                        .map(|expected| (expected.upload_id.clone(), expected.size))
                        .collect();
                    for (upload_id, size) in arrivals {
                        status.mark_received(&upload_id, size);
                    }
                })
                .await?;
        }
        Ok(!status.expected_uploads.is_empty() && status.expected_uploads.iter().all(arrived))
    }

    /// Runs an assembly under the lease of this run, until it ends, the lease is lost (then
    /// another run holds the assembly, and this one writes nothing more) or `stop` turns true.
    async fn run_leased(
        &self,
        lease: &RunLease,
        stop: watch::Receiver<bool>,
    ) -> Result<Processed, ProcessError> {
        let assembly_id = lease.assembly_id.as_str();
        let statuses = self.backends.statuses.clone();
        let Some(record) = statuses.get(assembly_id).await? else {
            return Ok(Processed::Ignored(format!("assembly {assembly_id} was deleted")));
        };
        if record.value.phase().is_final() {
            return Ok(Processed::AlreadyFinished { assembly_id: assembly_id.into() });
        }
        let mut writer = StatusWriter::at(statuses.clone(), record.clone());
        let job_dir = self.work_dir.join(format!("job-{}-{:08x}", &assembly_id[..16], rand::random::<u32>()));
        // Dropping the run kills its tools and stops its status and result writes.
        let outcome = tokio::select! {
            outcome = self.run_in(&mut writer, record.value, &job_dir) => Ok(outcome),
            () = lease.lost() => Err(Processed::InProgressElsewhere { assembly_id: assembly_id.into() }),
            () = stopped(stop) => Err(Processed::Interrupted { assembly_id: assembly_id.into() }),
        };
        if let Err(error) = tokio::fs::remove_dir_all(&job_dir).await
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(assembly_id, %error, "could not remove the job directory");
        }
        let status = match outcome {
            Ok(outcome) => outcome?,
            Err(cut_short) => return Ok(cut_short),
        };
        if lease.is_lost() {
            return Ok(Processed::InProgressElsewhere { assembly_id: assembly_id.into() });
        }
        match writer.finish(status).await? {
            WriteOutcome::Written(status) => {
                self.notifier.assembly_ended(&status);
                Ok(Processed::Ran(Box::new(status)))
            }
            WriteOutcome::Superseded(current) => {
                tracing::info!(assembly_id, phase = ?current.phase(), "the assembly ended elsewhere (canceled?)");
                Ok(Processed::AlreadyFinished { assembly_id: assembly_id.into() })
            }
        }
    }

    async fn run_in(
        &self,
        writer: &mut StatusWriter,
        mut status: AssemblyStatus,
        job_dir: &std::path::Path,
    ) -> Result<AssemblyStatus, ProcessError> {
        let template = match self.template(&status.template_id).await? {
            Ok(template) => template,
            Err((code, message)) => {
                status.fail(code, None, message);
                return Ok(status);
            }
        };
        status.message = "Fetching the uploads".into();
        status.ok = Some(AssemblyState::AssemblyExecuting);
        if let WriteOutcome::Superseded(current) = writer.write(&status).await? {
            return Ok(current);
        }

        let inputs_dir = job_dir.join("inputs");
        let mut uploads = Vec::with_capacity(status.expected_uploads.len());
        for (index, expected) in status.expected_uploads.iter().enumerate() {
            let key = UploadKey::assembly_prefix(&status.branch, &status.assembly_id)
                + &format!("{}/{}", expected.upload_id, expected.name);
            let path = inputs_dir.join(index.to_string()).join(&expected.name);
            tokio::fs::create_dir_all(path.parent().expect("has a parent"))
                .await
                .map_err(|e| BackendError::io("cannot stage an upload", e))?;
            self.backends.blobs.get_to_file(&key, &path).await?;
            uploads.push(UploadSource { name: expected.name.clone(), path });
        }
        let hashed: Vec<(String, u64)> =
            status.expected_uploads.iter().map(|e| (e.md5.clone(), e.size)).collect();
        let request = AssemblyRequest {
            template,
            uploads,
            fields: status.fields.clone(),
            user_id: status.user.user_id.clone(),
            branch: status.branch.clone(),
        };
        let sink = Arc::new(BlobStoreSink::new(self.backends.blobs.clone(), &self.settings));
        let runner = Runner::new(self.engine.clone(), self.tools.clone(), job_dir.join("work"), sink.clone());
        let updates = writer.progress_channel();
        let run = runner.run_identified(request, status.clone(), &hashed, |update| {
            updates.send_replace(Some(update.clone()));
        });
        // A cancel (or another worker finishing first) drops the run, which kills its tools.
        let finished = tokio::select! {
            finished = run => finished,
            ended = writer.ended_elsewhere() => return Ok(ended),
        };
        drop(updates);
        writer.flush().await;
        // A store that failed while keeping a result leaves the job to the queue's next delivery.
        let mut finished =
            finished.map_err(|abandoned| BackendError::io(abandoned.context, abandoned.source))?;
        self.link_uploads(&sink, &mut finished).await?;
        Ok(finished)
    }

    /// Points each upload's URLs at its original. `uploads[i]` is the file of
    /// `expected_uploads[i]`: the job stages them in that order.
    async fn link_uploads(
        &self,
        sink: &BlobStoreSink,
        status: &mut AssemblyStatus,
    ) -> Result<(), ProcessError> {
        let prefix = UploadKey::assembly_prefix(&status.branch, &status.assembly_id);
        for (record, expected) in status.uploads.iter_mut().zip(&status.expected_uploads) {
            let key = format!("{prefix}{}/{}", expected.upload_id, expected.name);
            record.link(sink.url(&key).await?);
        }
        Ok(())
    }

    /// The current version of a template, loaded; `Err` is the error to record in status.
    async fn template(
        &self,
        template_id: &str,
    ) -> Result<Result<Arc<LoadedTemplate>, (ErrorCode, String)>, ProcessError> {
        let Some(version) = self.backends.templates.current(template_id).await? else {
            return Ok(Err((
                ErrorCode::TemplateNotFound,
                format!("no template `{template_id}` is published"),
            )));
        };
        if let Some(loaded) = self.engine.loaded(&version.sha256) {
            return Ok(Ok(loaded));
        }
        let bytes = self.backends.templates.fetch(template_id, &version.sha256).await?;
        Ok(self.engine.load(&bytes).await.map(|(loaded, _)| loaded).map_err(|error| {
            (
                ErrorCode::TemplateInvalid,
                format!("template `{template_id}` version {} cannot be used: {error}", version.sha256),
            )
        }))
    }
}

/// Resolves once `stop` turns true; never if its sender goes away first.
async fn stopped(mut stop: watch::Receiver<bool>) {
    if stop.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The lease one run holds on its assembly, renewed in the background while the run lasts.
///
/// It is lost when a renewal finds another holder (or no record), or when renewals keep
/// failing until it expires: from then on another run may hold the assembly, so this one must
/// stop and write nothing more. Dropping it stops the renewals and leaves the lease to expire;
/// [`RunLease::release`] gives it back at once.
struct RunLease {
    statuses: Arc<dyn StatusStore>,
    assembly_id: String,
    holder: String,
    lost: watch::Receiver<bool>,
    renewals: tokio::task::JoinHandle<()>,
}

impl RunLease {
    /// Takes the lease of `assembly_id` for a new run on `worker`, named by the worker's id and
    /// a random run id; `None` while another run holds it.
    async fn acquire(worker: &Worker, assembly_id: &str) -> BackendResult<Option<RunLease>> {
        let holder = format!("{}/run-{:016x}", worker.worker_id, rand::random::<u64>());
        let (statuses, ttl) = (worker.backends.statuses.clone(), worker.settings.lease_ttl);
        let Some(lease) = statuses.acquire_lease(assembly_id, &holder, ttl).await? else {
            return Ok(None);
        };
        let (lost_tx, lost) = watch::channel(false);
        let renewals = tokio::spawn(keep_renewed(statuses.clone(), lease, ttl, lost_tx));
        Ok(Some(RunLease { statuses, assembly_id: assembly_id.to_owned(), holder, lost, renewals }))
    }

    fn is_lost(&self) -> bool {
        *self.lost.borrow()
    }

    /// Resolves once the lease is lost (or its renewals stopped for any other reason, which is
    /// treated the same way).
    async fn lost(&self) {
        let _ = self.lost.clone().wait_for(|lost| *lost).await;
    }

    /// Gives the lease back, if this run still holds it, so another run may take the assembly
    /// at once.
    async fn release(self) {
        self.renewals.abort();
        if let Err(error) = self.statuses.release_lease(&self.assembly_id, &self.holder).await {
            tracing::warn!(assembly_id = %self.assembly_id, %error, "could not release the lease; it will expire");
        }
    }
}

impl Drop for RunLease {
    fn drop(&mut self) {
        self.renewals.abort();
    }
}

/// Renews `lease` every third of `ttl` until it is lost, then says so on `lost`.
async fn keep_renewed(
    statuses: Arc<dyn StatusStore>,
    lease: Lease,
    ttl: Duration,
    lost: watch::Sender<bool>,
) {
    let assembly_id = lease.assembly_id.as_str();
    let mut expires_at = lease.expires_at;
    loop {
        let left = expires_at.duration_since(SystemTime::now()).unwrap_or_default();
        if left.is_zero() {
            tracing::warn!(assembly_id, "the lease expired before it could be renewed; the run stops");
            break;
        }
        tokio::time::sleep((ttl / 3).min(left)).await;
        match statuses.renew_lease(assembly_id, &lease.owner, ttl).await {
            Ok(renewed) => expires_at = renewed.expires_at,
            Err(BackendError::Conflict(_) | BackendError::NotFound(_)) => {
                tracing::warn!(assembly_id, "another run took the lease; this one stops");
                break;
            }
            Err(error) => tracing::warn!(assembly_id, %error, "lease renewal failed"),
        }
    }
    lost.send_replace(true);
}
