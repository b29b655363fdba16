//! [`BlobTemplateRegistry`](transflow_store::blob_registry::BlobTemplateRegistry) over local
//! blobs: the registry's own tests need a blob store, and the store crate has none.
use crate::LocalBlobStore;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use transflow_store::backends::{BackendError, BlobStore, TemplateRegistry, TemplateVersion};
use transflow_store::blob_registry::BlobTemplateRegistry;
use transflow_store::template::{StepDescription, TemplateDescription};

fn registry(ttl: Duration) -> (tempfile::TempDir, BlobTemplateRegistry) {
    let dir = tempfile::tempdir().unwrap();
    let blobs = Arc::new(LocalBlobStore::new(dir.path(), "http://127.0.0.1:1/blobs", b"key").unwrap());
    (dir, BlobTemplateRegistry::new(blobs, ttl))
}

/// A version of a one-step template whose component is `bytes`.
pub(crate) fn version_of(id: &str, bytes: &[u8], published_at: &str) -> TemplateVersion {
    TemplateVersion {
        id: id.into(),
        sha256: hex::encode(Sha256::digest(bytes)),
        size: bytes.len() as u64,
        language: "rust".into(),
        published_at: published_at.into(),
        description: TemplateDescription {
            id: id.into(),
            description: "test".into(),
            steps: vec![StepDescription {
                name: "s".into(),
                description: String::new(),
                uses: vec![":original".into()],
            }],
            fields: Vec::new(),
            webhook: None,
        },
    }
}

#[tokio::test]
async fn publish_list_and_roll_back() {
    let (_dir, registry) = registry(Duration::ZERO);
    let v1 = version_of("thumbs", b"one", "2026-01-01T00:00:00Z");
    let v2 = version_of("thumbs", b"two", "2026-01-02T00:00:00Z");
    registry.publish(b"one", v1.clone()).await.unwrap();
    registry.publish(b"two", v2.clone()).await.unwrap();
    assert_eq!(registry.current("thumbs").await.unwrap().unwrap().sha256, v2.sha256);
    assert_eq!(registry.fetch("thumbs", &v1.sha256).await.unwrap(), b"one");
    let listed = registry.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].versions, vec![v1.sha256.clone(), v2.sha256.clone()]);

    assert_eq!(registry.rollback("thumbs", None).await.unwrap().sha256, v1.sha256);
    assert_eq!(registry.current("thumbs").await.unwrap().unwrap().sha256, v1.sha256);
    assert!(matches!(registry.rollback("thumbs", None).await, Err(BackendError::Rejected(_))));
    assert_eq!(registry.rollback("thumbs", Some(&v2.sha256)).await.unwrap().sha256, v2.sha256);
    assert!(matches!(
        registry.rollback("thumbs", Some(&"0".repeat(64))).await,
        Err(BackendError::NotFound(_))
    ));
    assert!(registry.current("nothing").await.unwrap().is_none());
}

#[tokio::test]
async fn bytes_must_match_their_version_and_ids_their_names() {
    let (_dir, registry) = registry(Duration::ZERO);
    let v1 = version_of("thumbs", b"one", "2026-01-01T00:00:00Z");
    assert!(matches!(registry.publish(b"forged", v1).await, Err(BackendError::Rejected(_))));
    assert!(matches!(registry.fetch("../x", &"a".repeat(64)).await, Err(BackendError::Rejected(_))));
    assert!(matches!(registry.fetch("thumbs", "../../secret").await, Err(BackendError::Rejected(_))));
}

#[tokio::test]
async fn the_pointer_is_cached_for_its_ttl_only() {
    let dir = tempfile::tempdir().unwrap();
    let blobs: Arc<dyn BlobStore> =
        Arc::new(LocalBlobStore::new(dir.path(), "http://127.0.0.1:1/blobs", b"key").unwrap());
    let worker = BlobTemplateRegistry::new(blobs.clone(), Duration::from_secs(2));
    let operator = BlobTemplateRegistry::new(blobs, Duration::ZERO);
    let v1 = version_of("thumbs", b"one", "2026-01-01T00:00:00Z");
    let v2 = version_of("thumbs", b"two", "2026-01-02T00:00:00Z");
    operator.publish(b"one", v1.clone()).await.unwrap();
    assert_eq!(worker.current("thumbs").await.unwrap().unwrap().sha256, v1.sha256);
    operator.publish(b"two", v2.clone()).await.unwrap();
    assert_eq!(worker.current("thumbs").await.unwrap().unwrap().sha256, v1.sha256, "cached");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(worker.current("thumbs").await.unwrap().unwrap().sha256, v2.sha256, "re-read");
}
