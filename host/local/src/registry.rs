//! Template versions in a directory.
//!
//! ```text
//! {root}/{id}/{sha256}.wasm    the component, never changed once written
//! {root}/{id}/{sha256}.json    its TemplateVersion
//! {root}/{id}/pointer.json     {"current": sha256, "previous": [sha256, …]}
//! ```
//!
//! The pointer is the only mutable file and is replaced by an atomic rename, so a worker
//! reading it mid-publish sees the old or the new version, never a mix. Within a process,
//! pointer updates are serialized; two processes publishing the same id at the same instant
//! may lose one pointer update (the versions themselves are never lost) — S3 has the same
//! last-writer-wins behaviour.

use async_trait::async_trait;
use std::path::{Path, PathBuf};
use tokio::sync::Mutex;
use transflow_store::backends::{
    BackendError, BackendResult, TemplateRegistry, TemplateSummary, TemplateVersion,
};
use transflow_store::blob_registry::{Pointer, check_bytes, check_sha256};
use transflow_store::template::check_name;

/// The local template registry.
#[derive(Debug)]
pub struct DirTemplateRegistry {
    root: PathBuf,
    pointer_updates: Mutex<()>,
}

impl DirTemplateRegistry {
    /// The registry in `root` (created on first publish).
    pub fn new(root: impl Into<PathBuf>) -> DirTemplateRegistry {
        DirTemplateRegistry { root: root.into(), pointer_updates: Mutex::new(()) }
    }

    fn template_dir(&self, id: &str) -> BackendResult<PathBuf> {
        check_name("template id", id).map_err(BackendError::Rejected)?;
        Ok(self.root.join(id))
    }

    async fn pointer(&self, id: &str) -> BackendResult<Option<Pointer>> {
        let path = self.template_dir(id)?.join("pointer.json");
        read_json(&path).await
    }

    async fn version(&self, id: &str, sha256: &str) -> BackendResult<TemplateVersion> {
        check_sha256(sha256)?;
        let path = self.template_dir(id)?.join(format!("{sha256}.json"));
        read_json(&path)
            .await?
            .ok_or_else(|| BackendError::NotFound(format!("version {sha256} of template `{id}`")))
    }

    async fn versions(&self, id: &str) -> BackendResult<Vec<TemplateVersion>> {
        let dir = self.template_dir(id)?;
        let mut entries = tokio::fs::read_dir(&dir).await.map_err(|e| io_error(&dir, e))?;
        let mut versions = Vec::new();
        while let Some(entry) = entries.next_entry().await.map_err(|e| io_error(&dir, e))? {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(sha256) = name.strip_suffix(".json").filter(|s| check_sha256(s).is_ok()) {
                versions.push(self.version(id, sha256).await?);
            }
        }
        versions.sort_by(|a, b| a.published_at.cmp(&b.published_at).then_with(|| a.sha256.cmp(&b.sha256)));
        Ok(versions)
    }

    async fn write_pointer(&self, id: &str, pointer: &Pointer) -> BackendResult<()> {
        let path = self.template_dir(id)?.join("pointer.json");
        write_atomically(&path, &serde_json::to_vec_pretty(pointer).map_err(|e| io_error(&path, e))?).await
    }
}

#[async_trait]
impl TemplateRegistry for DirTemplateRegistry {
    async fn publish(&self, bytes: &[u8], version: TemplateVersion) -> BackendResult<()> {
        let dir = self.template_dir(&version.id)?;
        check_bytes(bytes, &version)?;
        let actual = version.sha256.clone();
        tokio::fs::create_dir_all(&dir).await.map_err(|e| io_error(&dir, e))?;
        let wasm = dir.join(format!("{actual}.wasm"));
        if tokio::fs::metadata(&wasm).await.is_err() {
            write_atomically(&wasm, bytes).await?;
        }
        let json = serde_json::to_vec_pretty(&version).map_err(|e| io_error(&wasm, e))?;
        let manifest = dir.join(format!("{actual}.json"));
        if read_json::<TemplateVersion>(&manifest).await?.is_none() {
            write_atomically(&manifest, &json).await?;
        }
        let _guard = self.pointer_updates.lock().await;
        let mut pointer = self.pointer(&version.id).await?.unwrap_or_default();
        if pointer.advance(&actual) {
            self.write_pointer(&version.id, &pointer).await?;
        }
        Ok(())
    }

    async fn current(&self, id: &str) -> BackendResult<Option<TemplateVersion>> {
        match self.pointer(id).await? {
            Some(pointer) => Ok(Some(self.version(id, &pointer.current).await?)),
            None => Ok(None),
        }
    }

    async fn fetch(&self, id: &str, sha256: &str) -> BackendResult<Vec<u8>> {
        check_sha256(sha256)?;
        let path = self.template_dir(id)?.join(format!("{sha256}.wasm"));
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(BackendError::NotFound(format!("version {sha256} of template `{id}`")))
            }
            Err(e) => Err(io_error(&path, e)),
        }
    }

    async fn list(&self) -> BackendResult<Vec<TemplateSummary>> {
        let mut ids = Vec::new();
        match tokio::fs::read_dir(&self.root).await {
            Ok(mut entries) => {
                while let Some(entry) = entries.next_entry().await.map_err(|e| io_error(&self.root, e))? {
                    ids.push(entry.file_name().to_string_lossy().into_owned());
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(&self.root, e)),
        }
        ids.sort();
        let mut summaries = Vec::with_capacity(ids.len());
        for id in ids.iter().filter(|id| check_name("template id", id).is_ok()) {
            if let Some(current) = self.current(id).await? {
                let versions = self.versions(id).await?.into_iter().map(|v| v.sha256).collect();
                summaries.push(TemplateSummary { current, versions });
            }
        }
        Ok(summaries)
    }

    async fn rollback(&self, id: &str, to: Option<&str>) -> BackendResult<TemplateVersion> {
        let _guard = self.pointer_updates.lock().await;
        let mut pointer =
            self.pointer(id).await?.ok_or_else(|| BackendError::NotFound(format!("template `{id}`")))?;
        let target = self.version(id, &pointer.roll_back(id, to)?).await?;
        self.write_pointer(id, &pointer).await?;
        Ok(target)
    }
}

async fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> BackendResult<Option<T>> {
    match tokio::fs::read(path).await {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| io_error(path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(path, e)),
    }
}

async fn write_atomically(path: &Path, bytes: &[u8]) -> BackendResult<()> {
    let temporary = path.with_extension(format!("tmp{:016x}", rand::random::<u64>()));
    tokio::fs::write(&temporary, bytes).await.map_err(|e| io_error(path, e))?;
    tokio::fs::rename(&temporary, path).await.map_err(|e| io_error(path, e))
}

fn io_error(path: &Path, error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> BackendError {
    BackendError::io(format!("template registry file {}", path.display()), error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob_registry_tests::version_of;

    #[tokio::test]
    async fn publish_moves_the_pointer_and_rollback_moves_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let registry = DirTemplateRegistry::new(dir.path());
        assert_eq!(registry.current("thumbs").await.unwrap(), None);
        let v1 = version_of("thumbs", b"v1", "2026-01-01T00:00:00Z");
        let v2 = version_of("thumbs", b"v2", "2026-01-02T00:00:00Z");
        registry.publish(b"v1", v1.clone()).await.unwrap();
        registry.publish(b"v2", v2.clone()).await.unwrap();
        assert_eq!(registry.current("thumbs").await.unwrap(), Some(v2.clone()));
        assert_eq!(registry.fetch("thumbs", &v1.sha256).await.unwrap(), b"v1");

        assert_eq!(registry.rollback("thumbs", None).await.unwrap(), v1);
        assert_eq!(registry.current("thumbs").await.unwrap(), Some(v1.clone()));
        let error = registry.rollback("thumbs", None).await.unwrap_err();
        assert!(error.to_string().contains("no earlier version"), "{error}");
        assert_eq!(registry.rollback("thumbs", Some(&v2.sha256)).await.unwrap(), v2);
        assert_eq!(registry.rollback("thumbs", None).await.unwrap(), v1);

        let listed = registry.list().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].current, v1);
        assert_eq!(listed[0].versions, [v1.sha256.clone(), v2.sha256.clone()]);
    }

    #[tokio::test]
    async fn republishing_the_current_version_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let registry = DirTemplateRegistry::new(dir.path());
        let v1 = version_of("hls", b"v1", "2026-01-01T00:00:00Z");
        registry.publish(b"v1", v1.clone()).await.unwrap();
        registry.publish(b"v1", v1.clone()).await.unwrap();
        assert!(registry.rollback("hls", None).await.is_err(), "no phantom history");
    }

    #[tokio::test]
    async fn bad_ids_versions_and_bytes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let registry = DirTemplateRegistry::new(dir.path());
        assert!(matches!(registry.current("../etc").await, Err(BackendError::Rejected(_))));
        assert!(matches!(registry.fetch("thumbs", "../../x").await, Err(BackendError::Rejected(_))));
        assert!(matches!(registry.fetch("thumbs", &"a".repeat(64)).await, Err(BackendError::NotFound(_))));
        let lying = version_of("thumbs", b"other bytes", "2026-01-01T00:00:00Z");
        assert!(matches!(registry.publish(b"v1", lying).await, Err(BackendError::Rejected(_))));
        assert!(matches!(
            registry.rollback("thumbs", Some(&"b".repeat(64))).await,
            Err(BackendError::NotFound(_))
        ));
    }
}
