//! The worker's [`ResultSink`]: each result streams from the job's workspace into the blob
//! store at `outputs/{branch}/{assembly_id}/{step}/{name}` and gets the URL the status gives
//! stored files.
//!
//! The store hashes the body as it writes it ([`BlobStore::put`] returns the size and MD5 it
//! computed, [`StoredBlob`](transflow_store::backends::StoredBlob)), so a result is read once,
//! from the workspace, and the record describes the bytes stored. The size emitted is declared,
//! so the store refuses other bytes and stores nothing.

use super::WorkerSettings;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use transflow_runtime::sink::{ResultFile, ResultSink, SinkError, StoredResult};
use transflow_store::backends::{BackendError, BlobSpec, BlobStore};
use transflow_store::keys::output_key;
use transflow_store::prefix_urls::PublicUrls;

/// Results into a blob store, with the URLs the worker gives stored files.
#[derive(Debug, Clone)]
pub struct BlobStoreSink {
    blobs: Arc<dyn BlobStore>,
    url_ttl: Duration,
    public_urls: Option<PublicUrls>,
}

impl BlobStoreSink {
    /// Results into `blobs`, linked as `settings` say (`public_urls`, `result_url_ttl`).
    pub fn new(blobs: Arc<dyn BlobStore>, settings: &WorkerSettings) -> BlobStoreSink {
        BlobStoreSink { blobs, url_ttl: settings.result_url_ttl, public_urls: settings.public_urls.clone() }
    }

    /// A URL of the stored file `key`, valid for `result_url_ttl`: prefix-signed under the
    /// public base when one is configured, so relative references beneath the file's directory
    /// work too; else the blob store's own URL of this one object.
    pub async fn url(&self, key: &str) -> Result<String, BackendError> {
        match &self.public_urls {
            Some(urls) => urls.url(key, SystemTime::now() + self.url_ttl),
            None => self.blobs.download_url(key, self.url_ttl).await,
        }
    }
}

#[async_trait]
impl ResultSink for BlobStoreSink {
    /// Nothing to clear: starting a new attempt removes the partial results of the one before
    /// (create-upload), and another run of the same attempt writes each key anew.
    async fn prepare(&self, _branch: &str, _assembly_id: &str) -> Result<(), SinkError> {
        Ok(())
    }

    async fn keep(&self, result: ResultFile<'_>) -> Result<StoredResult, SinkError> {
        let key = output_key(result.branch, result.assembly_id, result.step, result.name);
        let spec =
            BlobSpec { size: Some(result.size), content_type: result.mime.to_owned(), ..BlobSpec::default() };
        let body = Box::pin(tokio::fs::File::from_std(result.file));
        let stored = self.blobs.put(&key, body, &spec).await.map_err(|error| match error {
            BackendError::Rejected(reason) => SinkError::Refused(reason),
            BackendError::Body { source, .. } => SinkError::Io(source),
            other => SinkError::Unavailable(Box::new(other)),
        })?;
        let url = self.url(&key).await.map_err(|error| SinkError::Unavailable(Box::new(error)))?;
        Ok(StoredResult { size: stored.size, md5: stored.md5, url })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use transflow_local::LocalBlobStore;
    use transflow_store::backends::Digests;

    const AID: &str = "f50ea2cbed5208ace1069f28ff46e252347659e10ee93334a49807a29e533461";

    fn md5_hex(bytes: &[u8]) -> String {
        let mut digests = Digests::default();
        digests.update(bytes);
        digests.finish().md5
    }

    /// A local blob store under `dir`, a sink on it, and a workspace file with `bytes`.
    fn scene(
        dir: &std::path::Path,
        bytes: &[u8],
    ) -> (Arc<LocalBlobStore>, BlobStoreSink, std::path::PathBuf) {
        let blobs =
            Arc::new(LocalBlobStore::new(dir.join("blobs"), "http://127.0.0.1:9/blobs", b"key").unwrap());
        let sink = BlobStoreSink::new(blobs.clone(), &WorkerSettings::default());
        let source = dir.join("clip.ts");
        std::fs::write(&source, bytes).unwrap();
        (blobs, sink, source)
    }

    fn result<'a>(source: &std::path::Path, size: u64) -> ResultFile<'a> {
        ResultFile {
            branch: "main",
            assembly_id: AID,
            step: "encode",
            name: "v1.0/clip.ts",
            file: std::fs::File::open(source).unwrap(),
            size,
            mime: "video/mp2t",
        }
    }

    #[tokio::test]
    async fn a_result_is_stored_under_its_output_key_with_the_md5_of_the_stored_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let bytes: Vec<u8> = (0..(3 << 20) + 17).map(|i: u32| (i % 253) as u8).collect();
        let (blobs, sink, source) = scene(dir.path(), &bytes);
        let stored = sink.keep(result(&source, bytes.len() as u64)).await.unwrap();

        let key = format!("outputs/main/{AID}/encode/v1.0/clip.ts");
        let (info, mut body) = blobs.open(&key).await.unwrap();
        let mut kept = Vec::new();
        body.read_to_end(&mut kept).await.unwrap();
        assert_eq!((stored.size, stored.md5.as_str()), (kept.len() as u64, md5_hex(&kept).as_str()));
        assert_eq!(kept, bytes);
        assert_eq!(info.content_type, "video/mp2t");
        assert!(stored.url.starts_with(&format!("http://127.0.0.1:9/blobs/{key}?")), "{}", stored.url);
    }

    #[tokio::test]
    async fn bytes_that_differ_from_the_emitted_size_are_refused_and_not_stored() {
        let dir = tempfile::tempdir().unwrap();
        let (blobs, sink, source) = scene(dir.path(), b"twelve bytes");
        let error = sink.keep(result(&source, 11)).await.unwrap_err();
        let SinkError::Refused(reason) = &error else { panic!("expected a refusal, got {error:?}") };
        assert!(reason.contains(&format!("outputs/main/{AID}/encode/v1.0/clip.ts")), "{reason}");
        assert!(blobs.list("outputs/").await.unwrap().is_empty());
    }
}
