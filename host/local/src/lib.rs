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
