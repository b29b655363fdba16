//! A [`TemplateRegistry`] on any [`BlobStore`]: the S3 registry of deployed projects.
//!
//! ```text
//! templates/{id}/{sha256}.wasm    the component, never changed once written
//! templates/{id}/{sha256}.json    its TemplateVersion
//! templates/{id}/pointer.json     {"current": sha256, "previous": [sha256, …]}
//! ```
//!
//! Only `.wasm` bytes are ever fetched: workers compile them locally and keep the compiled
//! code on their own disk by sha256, so nothing executable is trusted from the bucket.
//! Workers read the pointer at every job, through a cache of a few seconds, which is what lets
//! a publish reach running workers without a redeploy. Pointer writes are last-writer-wins
//! (as in the directory registry); the versions themselves are never lost.

use crate::backends::{
    BackendError, BackendResult, BlobSpec, BlobStore, TemplateRegistry, TemplateSummary, TemplateVersion,
};
use crate::template::check_name;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;

/// Which version of a template is current, and the ones before it for rollback.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Pointer {
    pub current: String,
    pub previous: Vec<String>,
}

impl Pointer {
    /// Makes `sha256` current; false when it already was.
    pub fn advance(&mut self, sha256: &str) -> bool {
        if self.current == sha256 {
            return false;
        }
        if !self.current.is_empty() {
            self.previous.push(std::mem::replace(&mut self.current, sha256.to_owned()));
        } else {
            self.current = sha256.to_owned();
        }
        true
    }

    /// The version a rollback goes to: `to`, or the one current before this one.
    pub fn roll_back(&mut self, id: &str, to: Option<&str>) -> BackendResult<String> {
        let target = match to {
            Some(sha256) => {
                self.previous.push(std::mem::take(&mut self.current));
                sha256.to_owned()
            }
            None => self.previous.pop().ok_or_else(|| {
                BackendError::Rejected(format!("template `{id}` has no earlier version to roll back to"))
            })?,
        };
        self.current = target.clone();
        Ok(target)
    }
}

/// Refuses anything but 64 lower-case hex digits, so a version never names another path.
pub fn check_sha256(text: &str) -> BackendResult<()> {
    if text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        Err(BackendError::Rejected(format!("`{text}` is not a template version (64 lower-case hex digits)")))
    }
}

/// Refuses bytes that are not the declared version.
pub fn check_bytes(bytes: &[u8], version: &TemplateVersion) -> BackendResult<()> {
    if hex::encode(Sha256::digest(bytes)) != version.sha256 || bytes.len() as u64 != version.size {
        return Err(BackendError::Rejected(format!(
            "template `{}`: the bytes do not match the declared sha256 and size",
            version.id
        )));
    }
    Ok(())
}

/// Templates stored as blobs under `templates/`.
#[derive(Debug)]
pub struct BlobTemplateRegistry {
    blobs: Arc<dyn BlobStore>,
    pointer_ttl: Duration,
    pointers: Mutex<HashMap<String, (Instant, Option<TemplateVersion>)>>,
}

impl BlobTemplateRegistry {
    /// A registry in `blobs`; [`current`](TemplateRegistry::current) answers from memory for
    /// `pointer_ttl` after reading a pointer.
    pub fn new(blobs: Arc<dyn BlobStore>, pointer_ttl: Duration) -> BlobTemplateRegistry {
        BlobTemplateRegistry { blobs, pointer_ttl, pointers: Mutex::new(HashMap::new()) }
    }

    fn key(id: &str, name: &str) -> BackendResult<String> {
        check_name("template id", id).map_err(BackendError::Rejected)?;
        Ok(format!("templates/{id}/{name}"))
    }

    async fn read(&self, key: &str) -> BackendResult<Option<Vec<u8>>> {
        let (_, mut body) = match self.blobs.open(key).await {
            Ok(found) => found,
            Err(BackendError::NotFound(_)) => return Ok(None),
            Err(error) => return Err(error),
        };
        let mut bytes = Vec::new();
        body.read_to_end(&mut bytes).await.map_err(|e| BackendError::io(format!("reading `{key}`"), e))?;
        Ok(Some(bytes))
    }

    async fn read_json<T: serde::de::DeserializeOwned>(&self, key: &str) -> BackendResult<Option<T>> {
        match self.read(key).await? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| BackendError::io(format!("decoding `{key}`"), e)),
            None => Ok(None),
        }
    }

    async fn write(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> BackendResult<()> {
        let spec = BlobSpec {
            size: Some(bytes.len() as u64),
            content_type: content_type.into(),
            ..BlobSpec::default()
        };
        self.blobs.put(key, Box::pin(std::io::Cursor::new(bytes)), &spec).await.map(drop)
    }

    async fn pointer(&self, id: &str) -> BackendResult<Option<Pointer>> {
        self.read_json(&Self::key(id, "pointer.json")?).await
    }

    async fn write_pointer(&self, id: &str, pointer: &Pointer) -> BackendResult<()> {
        let key = Self::key(id, "pointer.json")?;
        let json = serde_json::to_vec_pretty(pointer).map_err(|e| BackendError::io(key.clone(), e))?;
        self.write(&key, json, "application/json").await?;
        self.pointers.lock().expect("never poisoned").remove(id);
        Ok(())
    }

    async fn version(&self, id: &str, sha256: &str) -> BackendResult<TemplateVersion> {
        check_sha256(sha256)?;
        self.read_json(&Self::key(id, &format!("{sha256}.json"))?)
            .await?
            .ok_or_else(|| BackendError::NotFound(format!("version {sha256} of template `{id}`")))
    }
}

#[async_trait]
impl TemplateRegistry for BlobTemplateRegistry {
    async fn publish(&self, bytes: &[u8], version: TemplateVersion) -> BackendResult<()> {
        check_bytes(bytes, &version)?;
        let wasm = Self::key(&version.id, &format!("{}.wasm", version.sha256))?;
        if self.blobs.head(&wasm).await?.is_none() {
            self.write(&wasm, bytes.to_vec(), "application/wasm").await?;
        }
        let manifest = Self::key(&version.id, &format!("{}.json", version.sha256))?;
        if self.blobs.head(&manifest).await?.is_none() {
            let json =
                serde_json::to_vec_pretty(&version).map_err(|e| BackendError::io(manifest.clone(), e))?;
            self.write(&manifest, json, "application/json").await?;
        }
        let mut pointer = self.pointer(&version.id).await?.unwrap_or_default();
        if pointer.advance(&version.sha256) {
            self.write_pointer(&version.id, &pointer).await?;
        }
        Ok(())
    }

    async fn current(&self, id: &str) -> BackendResult<Option<TemplateVersion>> {
        if let Some((read_at, version)) = self.pointers.lock().expect("never poisoned").get(id)
            && read_at.elapsed() < self.pointer_ttl
        {
            return Ok(version.clone());
        }
        let version = match self.pointer(id).await? {
            Some(pointer) => Some(self.version(id, &pointer.current).await?),
            None => None,
        };
        self.pointers
            .lock()
            .expect("never poisoned")
            .insert(id.to_owned(), (Instant::now(), version.clone()));
        Ok(version)
    }

    async fn fetch(&self, id: &str, sha256: &str) -> BackendResult<Vec<u8>> {
        check_sha256(sha256)?;
        self.read(&Self::key(id, &format!("{sha256}.wasm"))?)
            .await?
            .ok_or_else(|| BackendError::NotFound(format!("version {sha256} of template `{id}`")))
    }

    async fn list(&self) -> BackendResult<Vec<TemplateSummary>> {
        let mut by_id: std::collections::BTreeMap<String, Vec<TemplateVersion>> = Default::default();
        for blob in self.blobs.list("templates/").await? {
            let Some((id, name)) = blob.key.strip_prefix("templates/").and_then(|rest| rest.split_once('/'))
            else {
                continue;
            };
            if let Some(sha256) = name.strip_suffix(".json").filter(|s| check_sha256(s).is_ok()) {
                let version = self.version(id, sha256).await?;
                by_id.entry(id.to_owned()).or_default().push(version);
            }
        }
        let mut summaries = Vec::with_capacity(by_id.len());
        for (id, mut versions) in by_id {
            let Some(pointer) = self.pointer(&id).await? else { continue };
            versions
                .sort_by(|a, b| a.published_at.cmp(&b.published_at).then_with(|| a.sha256.cmp(&b.sha256)));
            let current = self.version(&id, &pointer.current).await?;
            summaries.push(TemplateSummary {
                current,
                versions: versions.into_iter().map(|v| v.sha256).collect(),
            });
        }
        Ok(summaries)
    }

    async fn rollback(&self, id: &str, to: Option<&str>) -> BackendResult<TemplateVersion> {
        let mut pointer =
            self.pointer(id).await?.ok_or_else(|| BackendError::NotFound(format!("template `{id}`")))?;
        let target = pointer.roll_back(id, to)?;
        let version = self.version(id, &target).await?;
        self.write_pointer(id, &pointer).await?;
        Ok(version)
    }
}
