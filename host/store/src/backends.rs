//! Where assemblies live between steps of their life: blobs (uploads and results), status
//! records, the job queue and the template registry.
//!
//! Each is a trait with an embedded implementation (`transflow-local`) and an AWS one
//! (`transflow-aws`); the suite in [`crate::contract`] checks both. The traits promise only
//! what S3, DynamoDB and SQS can also deliver: blobs are whole objects
//! streamed in and out (no appends, no renames), status records are single items updated by
//! compare-and-set on a version number, the queue is at-least-once with visibility timeouts and
//! a dead-letter after N receives, and the registry is objects plus a pointer per template.

use crate::assembly::AssemblyStatus;
use crate::template::TemplateDescription;
use async_trait::async_trait;
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::io::AsyncRead;

/// A failure in a backend. Messages name the key or id involved and never carry secrets.
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

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The blob, record, message or template does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// A compare-and-set lost: someone else changed the record first.
    #[error("{0} was changed concurrently")]
    Conflict(String),
    /// What the caller sent does not match what it declared (size, md5) or is malformed.
    #[error("{0}")]
    Rejected(String),
    /// The body handed to the store could not be read, so nothing was stored: for an upload,
    /// the client went away or sent a body its headers do not frame. Not a fault of the store.
    #[error("the body of `{key}` could not be read: {source}")]
    Body {
        /// The key being written.
        key: String,
        /// Why reading stopped.
        #[source]
        source: std::io::Error,
    },
    /// The store itself failed (disk, database, network).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Why it failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl BackendError {
    /// Wraps a store failure with what was being done.
    pub fn io(
        context: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> BackendError {
        BackendError::Io { context: context.into(), source: source.into() }
    }
}

/// Whole seconds since the Unix epoch (0 before it).
pub fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Result of a backend call.
pub type BackendResult<T> = Result<T, BackendError>;

/// A readable byte stream handed to or from a blob store.
pub type ByteStream = Pin<Box<dyn AsyncRead + Send>>;

/// Facts about a stored blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobInfo {
    /// The object key, `/`-separated.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Content type it was stored with.
    pub content_type: String,
    /// User metadata (assembly id, template id, user, branch for uploads).
    pub metadata: BTreeMap<String, String>,
}

/// What a writer declares about a blob before sending it; the store refuses a body that does
/// not match (S3 does the same with `Content-Length` and `Content-MD5`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobSpec {
    /// Exact size in bytes.
    pub size: Option<u64>,
    /// Lower-case hex MD5 of the content.
    pub md5: Option<String>,
    /// Content type to record.
    pub content_type: String,
    /// User metadata to record.
    pub metadata: BTreeMap<String, String>,
}

/// Digests computed while a blob was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    /// Bytes written.
    pub size: u64,
    /// Lower-case hex MD5.
    pub md5: String,
    /// Lower-case hex SHA-256.
    pub sha256: String,
}

impl StoredBlob {
    /// Refuses a body that does not match its declaration.
    pub fn check_against(&self, key: &str, spec: &BlobSpec) -> BackendResult<()> {
        if let Some(size) = spec.size.filter(|&size| size != self.size) {
            return Err(BackendError::Rejected(format!(
                "the body of `{key}` has {} bytes; {size} were declared",
                self.size
            )));
        }
        if let Some(md5) = spec.md5.as_deref().filter(|md5| !md5.eq_ignore_ascii_case(&self.md5)) {
            return Err(BackendError::Rejected(format!(
                "the body of `{key}` has MD5 {}; {md5} was declared",
                self.md5
            )));
        }
        Ok(())
    }
}

/// Size, MD5 and SHA-256 of a body, computed as it streams past.
#[derive(Default)]
pub struct Digests {
    size: u64,
    md5: Md5,
    sha256: Sha256,
}

impl Digests {
    /// Adds the next bytes of the body.
    pub fn update(&mut self, bytes: &[u8]) {
        self.size += bytes.len() as u64;
        self.md5.update(bytes);
        self.sha256.update(bytes);
    }

    /// Bytes seen so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The digests of the whole body.
    pub fn finish(self) -> StoredBlob {
        StoredBlob {
            size: self.size,
            md5: hex::encode(self.md5.finalize()),
            sha256: hex::encode(self.sha256.finalize()),
        }
    }
}

/// Where and how a client uploads one file, without credentials of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadTarget {
    /// Signed URL.
    pub url: String,
    /// HTTP method (`PUT`).
    pub method: String,
    /// Headers the client must send exactly.
    pub headers: BTreeMap<String, String>,
    /// When the URL stops working (RFC 3339).
    pub expires_at: String,
}

/// Uploads and results.
#[async_trait]
pub trait BlobStore: Send + Sync + std::fmt::Debug {
    /// Streams `body` into `key`, checking it against `spec`; on any mismatch or failure nothing
    /// is left at `key` (a previous object there stays as it was).
    async fn put(&self, key: &str, body: ByteStream, spec: &BlobSpec) -> BackendResult<StoredBlob>;
    /// Stores a local file at `key` (multipart on S3).
    async fn put_file(&self, key: &str, path: &Path, spec: &BlobSpec) -> BackendResult<StoredBlob>;
    /// Streams `key` into a new local file at `path`; returns its size.
    async fn get_to_file(&self, key: &str, path: &Path) -> BackendResult<u64>;
    /// Opens `key` for streaming.
    async fn open(&self, key: &str) -> BackendResult<(BlobInfo, ByteStream)>;
    /// Opens `length` bytes of `key` from byte `start` for streaming (an HTTP `Range`); the
    /// caller keeps the range non-empty and inside the blob, whose size it learnt from
    /// [`head`](BlobStore::head).
    async fn open_range(&self, key: &str, start: u64, length: u64) -> BackendResult<ByteStream>;
    /// Facts about `key`, if it exists.
    async fn head(&self, key: &str) -> BackendResult<Option<BlobInfo>>;
    /// Every blob whose key starts with `prefix`, in key order. Listings carry keys and sizes;
    /// content types and metadata come only from [`head`](BlobStore::head) (as on S3).
    async fn list(&self, prefix: &str) -> BackendResult<Vec<BlobInfo>>;
    /// Deletes every blob whose key starts with `prefix`; returns how many went.
    async fn delete_prefix(&self, prefix: &str) -> BackendResult<u64>;
    /// A URL a client can `PUT` exactly this blob to until `expires_in` passes.
    /// The URL signs the declared size, MD5, content type and metadata, so the store refuses
    /// any other body.
    async fn presign_put(
        &self,
        key: &str,
        spec: &BlobSpec,
        expires_in: Duration,
    ) -> BackendResult<UploadTarget>;
    /// A URL to fetch `key` from (signed where the store needs it).
    async fn download_url(&self, key: &str, expires_in: Duration) -> BackendResult<String>;
}

/// A status record and the version a compare-and-set must name to replace it.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    /// The record as stored at `version`.
    pub value: T,
    /// Incremented by every successful write.
    pub version: u64,
}

/// What [`StatusStore::create`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Created {
    /// The record is new, at version 1.
    New,
    /// A record with that id already existed; here it is, untouched (boxed: a status is large).
    Existing(Box<Versioned<AssemblyStatus>>),
}

/// A claim on an assembly by one run of it: only that run executes the assembly, until the
/// claim expires.
///
/// The holder is a run, not a worker: a worker handed the same upload event twice (a second
/// `PUT` of one upload, or a redelivery) starts two runs, and the second must find the
/// assembly taken, or both would execute it and the loser would rewrite results after the
/// winner's final status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The assembly the run has claimed.
    pub assembly_id: String,
    /// The run holding it: a token unique to that run (the worker id and a random run id).
    pub owner: String,
    /// When it lapses unless renewed.
    pub expires_at: SystemTime,
}

/// Assembly status records.
#[async_trait]
pub trait StatusStore: Send + Sync + std::fmt::Debug {
    /// Stores `status` unless a record with its id exists (DynamoDB `attribute_not_exists`).
    async fn create(&self, status: &AssemblyStatus) -> BackendResult<Created>;
    /// The record, if any.
    async fn get(&self, assembly_id: &str) -> BackendResult<Option<Versioned<AssemblyStatus>>>;
    /// The record's document as JSON, exactly as `serde_json::to_string` writes the status
    /// [`StatusStore::get`] returns, for readers that pass it on unchanged (the status route).
    /// Stores that keep the document as that text return it without decoding it.
    async fn get_json(&self, assembly_id: &str) -> BackendResult<Option<String>> {
        let Some(record) = self.get(assembly_id).await? else { return Ok(None) };
        serde_json::to_string(&record.value)
            .map(Some)
            .map_err(|e| BackendError::io(format!("encoding the status of assembly {assembly_id}"), e))
    }
    /// Replaces the record if it is still at `expected_version`; returns the new version, or
    /// [`BackendError::Conflict`].
    async fn update(&self, status: &AssemblyStatus, expected_version: u64) -> BackendResult<u64>;
    /// Takes the assembly's lease for the run `owner` if it is free or expired; `None` while
    /// any live holder has it, `owner` included: a lease is taken once per run and then only
    /// renewed (see [`Lease`]).
    async fn acquire_lease(
        &self,
        assembly_id: &str,
        owner: &str,
        ttl: Duration,
    ) -> BackendResult<Option<Lease>>;
    /// Extends a lease the run `owner` holds, even a little past its expiry as long as nobody
    /// took it meanwhile; [`BackendError::Conflict`] if it was lost.
    async fn renew_lease(&self, assembly_id: &str, owner: &str, ttl: Duration) -> BackendResult<Lease>;
    /// Gives a lease back so another run may take the assembly at once; does nothing when
    /// `owner` no longer holds it.
    async fn release_lease(&self, assembly_id: &str, owner: &str) -> BackendResult<()>;
    /// Records of a branch, most recently created first, at most `limit`.
    async fn list_branch(&self, branch: &str, limit: usize) -> BackendResult<Vec<AssemblyStatus>>;
    /// Deletes every record of a branch; returns how many went.
    async fn delete_branch(&self, branch: &str) -> BackendResult<u64>;
}

/// What [`delete_branch`] removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BranchDeleted {
    /// Objects under `uploads/{branch}/`.
    pub uploads: u64,
    /// Objects under `outputs/{branch}/`.
    pub outputs: u64,
    /// Status records.
    pub statuses: u64,
}

/// Deletes a branch's uploads, outputs and status records, and nothing else: branch names are
/// single path segments, so `uploads/{branch}/` never matches another branch's prefix.
pub async fn delete_branch(
    blobs: &dyn BlobStore,
    statuses: &dyn StatusStore,
    branch: &str,
) -> BackendResult<BranchDeleted> {
    crate::template::check_name("branch", branch).map_err(BackendError::Rejected)?;
    let [uploads, outputs] = crate::keys::branch_prefixes(branch);
    Ok(BranchDeleted {
        uploads: blobs.delete_prefix(&uploads).await?,
        outputs: blobs.delete_prefix(&outputs).await?,
        statuses: statuses.delete_branch(branch).await?,
    })
}

/// One delivery of a queued job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Opaque handle for [`JobQueue::ack`], [`JobQueue::extend`] and [`JobQueue::release`]; it
    /// changes with every delivery (an SQS receipt handle).
    pub receipt: String,
    /// Stable message id.
    pub message_id: String,
    /// The job, as sent.
    pub body: String,
    /// How many times the message has been delivered, this one included.
    pub receive_count: u32,
}

/// A message that was delivered too often without being acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Stable message id.
    pub message_id: String,
    /// The job, as sent.
    pub body: String,
    /// Deliveries before it was set aside.
    pub receive_count: u32,
}

/// An at-least-once job queue with visibility timeouts and a dead-letter queue.
#[async_trait]
pub trait JobQueue: Send + Sync + std::fmt::Debug {
    /// Enqueues a job; returns its message id.
    async fn send(&self, body: &str) -> BackendResult<String>;
    /// Up to `max` visible jobs, hidden from other receivers for `visibility`; waits up to
    /// `wait` for one to arrive (long polling). Messages delivered more than the queue's
    /// maximum receive count move to the dead-letter queue instead.
    async fn receive(&self, max: usize, visibility: Duration, wait: Duration)
    -> BackendResult<Vec<Delivery>>;
    /// Deletes a delivered job: it is done.
    async fn ack(&self, receipt: &str) -> BackendResult<()>;
    /// Keeps a delivered job hidden for `visibility` from now (a long job still running).
    async fn extend(&self, receipt: &str, visibility: Duration) -> BackendResult<()>;
    /// Makes a delivered job visible again now (shutdown, or a retry wanted at once).
    async fn release(&self, receipt: &str) -> BackendResult<()>;
    /// How many messages the dead-letter queue holds (approximate on SQS). Cheap, and unlike
    /// [`dead_letters`](JobQueue::dead_letters) it leaves the messages untouched.
    async fn dead_letter_count(&self) -> BackendResult<u64>;
    /// The dead-letter queue's contents, left in it and, once this returns, visible: an
    /// operator can still inspect, redrive or purge them.
    async fn dead_letters(&self) -> BackendResult<Vec<DeadLetter>>;
    /// Deliveries after which a message moves to the dead-letter queue.
    fn max_receive_count(&self) -> u32;
}

/// One published version of a template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateVersion {
    /// The id assemblies ask for (`describe()`'s id).
    pub id: String,
    /// Lower-case hex SHA-256 of the component's bytes: the version's name and its cache key.
    pub sha256: String,
    /// Component size in bytes.
    pub size: u64,
    /// Language it was written in (`rust`, `typescript`, `python`, …), as its producers
    /// section or the publisher says.
    pub language: String,
    /// When it was published (RFC 3339).
    pub published_at: String,
    /// What `describe()` returned.
    pub description: TemplateDescription,
}

/// A template id with its versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateSummary {
    /// The version new assemblies run: the one the pointer names.
    pub current: TemplateVersion,
    /// Every published sha256, oldest first.
    pub versions: Vec<String>,
}

/// Published templates: immutable `.wasm` objects by sha256 plus a current pointer per id.
///
/// Workers ask for the [`current`](TemplateRegistry::current) version at every job (a cheap
/// pointer read) and [`fetch`](TemplateRegistry::fetch) bytes only for a sha256 they have not
/// compiled yet; that is what makes a publish take effect without a redeploy.
#[async_trait]
pub trait TemplateRegistry: Send + Sync + std::fmt::Debug {
    /// Stores a component (checked by the caller) and makes it the current version of its id.
    async fn publish(&self, bytes: &[u8], version: TemplateVersion) -> BackendResult<()>;
    /// The current version of `id`.
    async fn current(&self, id: &str) -> BackendResult<Option<TemplateVersion>>;
    /// The component bytes of one version.
    async fn fetch(&self, id: &str, sha256: &str) -> BackendResult<Vec<u8>>;
    /// Every template id, in id order.
    async fn list(&self) -> BackendResult<Vec<TemplateSummary>>;
    /// Points `id` back at `to`, or at the version current before the present one.
    async fn rollback(&self, id: &str, to: Option<&str>) -> BackendResult<TemplateVersion>;
}
