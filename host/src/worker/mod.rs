//! Turning a queued upload event into a finished assembly.
//!
//! [`Worker::process_message`] is the one function every entry point calls: the embedded worker
//! loop ([`run_loop`]), and later the Lambda handler and the long-running SQS worker. It is
//! idempotent, because queues deliver at least once: a finished assembly is never run again,
//! an assembly still waiting for files is left alone, and the lease in the status store makes
//! sure only one worker runs an assembly at a time while letting another take over once a
//! crashed worker's lease expires.

pub mod event;
mod notify;
pub mod run_loop;
pub mod setup;
pub(crate) mod status_writer;

use crate::assembly::{AssemblyState, AssemblyStatus, ErrorCode, ExpectedUpload, FileRecord};
use crate::backends::prefix_urls::PublicUrls;
use crate::backends::{BackendError, BlobSpec, BlobStore, JobQueue, StatusStore, TemplateRegistry};
use crate::engine::{LoadedTemplate, TemplateEngine};
use crate::media::MediaTools;
use crate::runner::{AssemblyRequest, Runner, UploadSource};
use event::{EventError, UploadKey, parse_event};
pub use notify::Notifier;
use status_writer::{StatusWriter, WriteOutcome};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The four backends, chosen by configuration.
#[derive(Debug, Clone)]
pub struct Backends {
    /// Uploads and results.
    pub blobs: Arc<dyn BlobStore>,
    /// Assembly status records.
    pub statuses: Arc<dyn StatusStore>,
    /// Upload events waiting for a worker.
    pub queue: Arc<dyn JobQueue>,
    /// Published templates.
    pub templates: Arc<dyn TemplateRegistry>,
}

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
    pub work_dir: crate::process_dir::ProcessDir,
    /// This worker's lease-holder name; unique per process.
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
    /// Another worker holds the assembly's lease. The message is kept, not acknowledged: the
    /// holder may have died with this very message in hand, and then only its redelivery,
    /// after the lease has lapsed, finishes the assembly.
    InProgressElsewhere {
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
        !matches!(self, Processed::InProgressElsewhere { .. })
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
    pub async fn process_message(
        &self,
        body: &str,
        receive_count: u32,
    ) -> Result<Vec<Processed>, ProcessError> {
        let uploads = parse_event(body)?;
        if uploads.is_empty() {
            return Ok(vec![Processed::Ignored("the event announces no new upload".into())]);
        }
        let mut outcomes = Vec::with_capacity(uploads.len());
        for upload in uploads {
            let outcome = self.process_upload(&upload).await;
            if let Err(error) = &outcome
                && receive_count >= self.settings.max_receive_count
            {
                self.give_up(&upload.assembly_id, receive_count, error).await;
            }
            outcomes.push(outcome?);
        }
        Ok(outcomes)
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

    async fn process_upload(&self, upload: &UploadKey) -> Result<Processed, ProcessError> {
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
        let statuses = &self.backends.statuses;
        let Some(_lease) =
            statuses.acquire_lease(&assembly_id, &self.worker_id, self.settings.lease_ttl).await?
        else {
            return Ok(Processed::InProgressElsewhere { assembly_id });
        };
        let outcome = self.run_leased(&assembly_id).await;
        if let Err(error) = statuses.release_lease(&assembly_id, &self.worker_id).await {
            tracing::warn!(%assembly_id, %error, "could not release the lease; it will expire");
        }
        outcome
    }

    /// Whether every announced upload is in the blob store with its declared size, marking
    /// the ones that are as received.
    async fn all_uploads_present(&self, status: &AssemblyStatus) -> Result<bool, ProcessError> {
        let prefix = UploadKey::assembly_prefix(&status.branch, &status.assembly_id);
        let present = self.backends.blobs.list(&prefix).await?;
        let arrived = |expected: &ExpectedUpload| {
            present.iter().any(|blob| {
                blob.key == format!("{prefix}{}/{}", expected.upload_id, expected.name)
                    && blob.size == expected.size
            })
        };
        Ok(!status.expected_uploads.is_empty() && status.expected_uploads.iter().all(arrived))
    }

    /// Runs an assembly this worker holds the lease of.
    async fn run_leased(&self, assembly_id: &str) -> Result<Processed, ProcessError> {
        let statuses = self.backends.statuses.clone();
        let Some(record) = statuses.get(assembly_id).await? else {
            return Ok(Processed::Ignored(format!("assembly {assembly_id} was deleted")));
        };
        if record.value.phase().is_final() {
            return Ok(Processed::AlreadyFinished { assembly_id: assembly_id.into() });
        }
        let mut writer = StatusWriter::at(statuses.clone(), record.clone());
        let job_dir = self.work_dir.join(format!("job-{}-{:08x}", &assembly_id[..16], rand::random::<u32>()));
        let outcome = self.run_in(&mut writer, record.value, &job_dir).await;
        if let Err(error) = tokio::fs::remove_dir_all(&job_dir).await
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(assembly_id, %error, "could not remove the job directory");
        }
        let status = outcome?;
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
        let results_dir = job_dir.join("results");
        let runner =
            Runner::new(self.engine.clone(), self.tools.clone(), job_dir.join("work"), results_dir.clone());
        let updates = writer.progress_channel();
        let _lease = LeaseKeeper::start(self, &status.assembly_id);
        let run = runner.run_identified(request, status.clone(), &hashed, |update| {
            updates.send_replace(Some(update.clone()));
        });
        // A cancel (or another worker finishing first) drops the run, which kills its tools.
        let mut finished = tokio::select! {
            finished = run => finished,
            ended = writer.ended_elsewhere() => return Ok(ended),
        };
        drop(updates);
        writer.flush().await;
        if finished.error.is_none() {
            self.store_results(&mut finished, &results_dir).await?;
        }
        self.link_uploads(&mut finished).await?;
        Ok(finished)
    }

    /// Copies each result from the job's results directory to
    /// `outputs/{branch}/{assembly_id}/{step}/{name}` and points its URLs there. Each upload
    /// declares the size and MD5 recorded when the result was kept, so the store refuses bytes
    /// that differ from the record; that fails the assembly, naming the step, rather than
    /// completing it with a result its record does not describe.
    async fn store_results(
        &self,
        status: &mut AssemblyStatus,
        results_dir: &std::path::Path,
    ) -> Result<(), ProcessError> {
        let local = results_dir.join(&status.branch).join(&status.assembly_id);
        let mut mismatch = None;
        'steps: for (step, records) in status.results.iter_mut() {
            for record in records {
                let key = format!("outputs/{}/{}/{step}/{}", status.branch, status.assembly_id, record.name);
                let spec = BlobSpec {
                    size: Some(record.size),
                    md5: Some(record.md5hash.clone()),
                    content_type: record.mime.clone(),
                    ..BlobSpec::default()
                };
                match self.backends.blobs.put_file(&key, &local.join(step).join(&record.name), &spec).await {
                    Ok(_) => {}
                    Err(BackendError::Rejected(reason)) => {
                        let name = &record.name;
                        let message = format!(
                            "step `{step}`: result `{name}` differs from its record and was not stored: {reason}"
                        );
                        mismatch = Some((step.clone(), message));
                        break 'steps;
                    }
                    Err(error) => return Err(error.into()),
                }
                link(record, self.file_url(&key).await?);
            }
        }
        if let Some((step, message)) = mismatch {
            status.fail(ErrorCode::InternalError, Some(&step), message);
        }
        Ok(())
    }

    /// Points each upload's URLs at its original. `uploads[i]` is the file of
    /// `expected_uploads[i]`: the job stages them in that order.
    async fn link_uploads(&self, status: &mut AssemblyStatus) -> Result<(), ProcessError> {
        let prefix = UploadKey::assembly_prefix(&status.branch, &status.assembly_id);
        for (record, expected) in status.uploads.iter_mut().zip(&status.expected_uploads) {
            let key = format!("{prefix}{}/{}", expected.upload_id, expected.name);
            link(record, self.file_url(&key).await?);
        }
        Ok(())
    }

    /// A URL of a stored file, valid for `result_url_ttl`: prefix-signed under the public base
    /// when one is configured, so relative references beneath the file's directory work too;
    /// else the blob store's own URL of this one object.
    async fn file_url(&self, key: &str) -> Result<String, BackendError> {
        let ttl = self.settings.result_url_ttl;
        match &self.settings.public_urls {
            Some(urls) => urls.url(key, SystemTime::now() + ttl),
            None => self.backends.blobs.download_url(key, ttl).await,
        }
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

/// Sets a file's `url`, and its `ssl_url` when that URL is https.
fn link(record: &mut FileRecord, url: String) {
    record.ssl_url = url.starts_with("https://").then(|| url.clone());
    record.url = Some(url);
}

/// Renews a lease in the background while a job runs; dropping it stops the renewals.
struct LeaseKeeper(tokio::task::JoinHandle<()>);

impl LeaseKeeper {
    fn start(worker: &Worker, assembly_id: &str) -> LeaseKeeper {
        let statuses = worker.backends.statuses.clone();
        let (assembly_id, owner, ttl) =
            (assembly_id.to_owned(), worker.worker_id.clone(), worker.settings.lease_ttl);
        LeaseKeeper(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(ttl / 3);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                if let Err(error) = statuses.renew_lease(&assembly_id, &owner, ttl).await {
                    tracing::warn!(%assembly_id, %error, "lease renewal failed");
                }
            }
        }))
    }
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssl_url_is_set_only_for_https_urls() {
        let mut record = FileRecord {
            id: "r".into(),
            name: "a.jpg".into(),
            basename: "a".into(),
            ext: "jpg".into(),
            size: 1,
            mime: "image/jpeg".into(),
            md5hash: String::new(),
            meta: None,
            original_id: None,
            step: None,
            url: None,
            ssl_url: Some("https://stale".into()),
        };
        link(&mut record, "http://127.0.0.1:8080/r/T/outputs/main/a/s/a.jpg".into());
        assert_eq!(
            (record.url.as_deref(), record.ssl_url.as_deref()),
            (Some("http://127.0.0.1:8080/r/T/outputs/main/a/s/a.jpg"), None)
        );
        link(&mut record, "https://media.example.com/r/T/outputs/main/a/s/a.jpg".into());
        assert_eq!(record.ssl_url, record.url);
        assert!(record.ssl_url.is_some_and(|url| url.starts_with("https://")));
    }
}
