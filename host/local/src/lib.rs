//! The embedded backends: a directory of blobs, SQLite files for status and the queue, and a
//! directory of template versions. They run on a laptop, in tests and in `transflow dev`.

#[cfg(test)]
mod blob_registry_tests;
mod blobs;
mod queue;
mod registry;
mod sqlite;
mod status;

pub use blobs::{LocalBlobStore, SignedUpload, UploadUrlError};
pub use queue::SqliteJobQueue;
pub use registry::DirTemplateRegistry;
pub use status::SqliteStatusStore;

use std::path::PathBuf;
use std::sync::Arc;
use transflow_store::backends::{BackendResult, Backends};

/// Where the embedded backends keep their files, and how their blob URLs look.
#[derive(Debug, Clone)]
pub struct LocalSettings {
    /// The blob store's directory (uploads, results, partial uploads under `tmp/`).
    pub blobs: PathBuf,
    /// The SQLite file of status records.
    pub status_db: PathBuf,
    /// The SQLite file of the job queue.
    pub queue_db: PathBuf,
    /// The template registry's directory.
    pub templates: PathBuf,
    /// Where clients reach the blob routes (`{public_url}/blobs`): signed URLs start with it.
    pub blob_url_base: String,
    /// The key signing blob URLs.
    pub signing_key: Vec<u8>,
    /// Deliveries of a job before it is dead-lettered.
    pub max_receive_count: u32,
}

/// The four embedded backends, and the blob store itself, whose signed URLs the API answers.
pub fn open(settings: &LocalSettings) -> BackendResult<(Backends, Arc<LocalBlobStore>)> {
    let blobs = Arc::new(LocalBlobStore::new(
        &settings.blobs,
        settings.blob_url_base.as_str(),
        &settings.signing_key,
    )?);
    let backends = Backends {
        blobs: blobs.clone(),
        statuses: Arc::new(SqliteStatusStore::open(&settings.status_db)?),
        queue: Arc::new(SqliteJobQueue::open(&settings.queue_db, settings.max_receive_count)?),
        templates: Arc::new(DirTemplateRegistry::new(&settings.templates)),
    };
    Ok((backends, blobs))
}
