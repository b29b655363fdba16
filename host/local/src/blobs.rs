//! Blobs in a local directory, with signed, expiring URLs standing in for S3's pre-signed ones.
//!
//! ```text
//! {root}/objects/{key}   the bytes
//! {root}/meta/{key}      content type and user metadata (JSON)
//! {root}/tmp/p-{pid}-…/   bodies being written, per process; renamed into place once checked
//! ```
//!
//! A body is streamed to `tmp/` while its MD5 and SHA-256 are computed; only when the size and
//! MD5 match what was declared is it renamed over the key, so a failed or lying upload never
//! replaces anything. Keys are `/`-separated like S3 keys and checked so none can leave `root`.
//!
//! Each process writes its partial bodies in its own [`ProcessDir`], so opening a store removes
//! what a process killed mid-upload left in `tmp/` without touching the uploads of another
//! process still running on the same directory.

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use transflow_store::assembly::rfc3339;
use transflow_store::backends::{
    BackendError, BackendResult, BlobInfo, BlobSpec, BlobStore, ByteStream, Digests, StoredBlob,
    UploadTarget, unix_seconds,
};
use transflow_store::prefix_urls::encode_key;
use transflow_store::process_dir::ProcessDir;

/// Query parameter names of a signed URL.
const EXPIRES: &str = "expires";
const SPEC: &str = "spec";
const SIGNATURE: &str = "signature";

/// Streaming buffer: large enough that hashing, not syscalls, dominates.
const CHUNK: usize = 1 << 20;

/// A directory of blobs that signs its own upload and download URLs.
pub struct LocalBlobStore {
    root: PathBuf,
    /// This process's directory of bodies being written, under `{root}/tmp/`.
    tmp: ProcessDir,
    /// Base of the URLs the HTTP server serves blobs under, e.g. `http://127.0.0.1:8080/blobs`.
    base_url: String,
    signing_key: Vec<u8>,
}

impl std::fmt::Debug for LocalBlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalBlobStore").field("root", &self.root).field("base_url", &self.base_url).finish()
    }
}

/// What a verified upload URL allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedUpload {
    /// What the body must be.
    pub spec: BlobSpec,
}

/// Why a signed URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadUrlError {
    /// A parameter is missing or unreadable.
    #[error("the URL is not a valid signed URL: {0}")]
    Malformed(String),
    /// The signature does not match: the URL was altered or signed with another key.
    #[error("the URL signature does not match")]
    BadSignature,
    /// The URL's time is up.
    #[error("the URL expired")]
    Expired,
}

/// The signed part of a URL: method, key, expiry and (for uploads) the spec.
#[derive(Serialize, Deserialize)]
struct SignedSpec {
    #[serde(rename = "s", skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    #[serde(rename = "m", skip_serializing_if = "Option::is_none")]
    md5: Option<String>,
    #[serde(rename = "t")]
    content_type: String,
    #[serde(rename = "x", default, skip_serializing_if = "BTreeMap::is_empty")]
    metadata: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize)]
struct StoredMeta {
    content_type: String,
    metadata: BTreeMap<String, String>,
}

impl LocalBlobStore {
    /// A store under `root` whose URLs start with `base_url` and are signed with `signing_key`.
    /// Partial bodies left by processes that died are removed.
    pub fn new(
        root: impl Into<PathBuf>,
        base_url: impl Into<String>,
        signing_key: &[u8],
    ) -> BackendResult<Self> {
        let root = root.into();
        let fail = |e| BackendError::io("cannot create the blob store", e);
        for dir in ["objects", "meta"] {
            fs_err::create_dir_all(root.join(dir)).map_err(fail)?;
        }
        let tmp = ProcessDir::claim(&root.join("tmp")).map_err(fail)?;
        let base_url = base_url.into().trim_end_matches('/').to_owned();
        Ok(LocalBlobStore { root, tmp, base_url, signing_key: signing_key.to_vec() })
    }

    /// The file holding `key`, for the host (e.g. to hand an upload to a job without a copy).
    pub fn path_of(&self, key: &str) -> BackendResult<PathBuf> {
        Ok(self.root.join("objects").join(checked_key(key)?))
    }

    /// Checks an upload URL's query string for `key` and returns what the body must be.
    pub fn verify_upload(
        &self,
        key: &str,
        query: &str,
        now: SystemTime,
    ) -> Result<SignedUpload, UploadUrlError> {
        let params = parse_query(query);
        let spec_text = params.get(SPEC).ok_or_else(|| UploadUrlError::Malformed(format!("no `{SPEC}`")))?;
        self.verify("PUT", key, &params, spec_text, now)?;
        let json = URL_SAFE_NO_PAD.decode(spec_text).map_err(|e| UploadUrlError::Malformed(e.to_string()))?;
        let signed: SignedSpec =
            serde_json::from_slice(&json).map_err(|e| UploadUrlError::Malformed(e.to_string()))?;
        Ok(SignedUpload {
            spec: BlobSpec {
                size: signed.size,
                md5: signed.md5,
                content_type: signed.content_type,
                metadata: signed.metadata,
            },
        })
    }

    /// Checks a download URL's query string for `key`.
    pub fn verify_download(&self, key: &str, query: &str, now: SystemTime) -> Result<(), UploadUrlError> {
        self.verify("GET", key, &parse_query(query), "", now)
    }

    fn verify(
        &self,
        method: &str,
        key: &str,
        params: &BTreeMap<String, String>,
        spec: &str,
        now: SystemTime,
    ) -> Result<(), UploadUrlError> {
        let expires =
            params.get(EXPIRES).ok_or_else(|| UploadUrlError::Malformed(format!("no `{EXPIRES}`")))?;
        let signature =
            params.get(SIGNATURE).ok_or_else(|| UploadUrlError::Malformed(format!("no `{SIGNATURE}`")))?;
        let signature = hex::decode(signature).map_err(|_| UploadUrlError::BadSignature)?;
        // The signature is checked before the expiry so a forged URL never learns anything.
        self.mac(method, key, expires, spec)
            .verify_slice(&signature)
            .map_err(|_| UploadUrlError::BadSignature)?;
        let expires: u64 =
            expires.parse().map_err(|_| UploadUrlError::Malformed(format!("bad `{EXPIRES}`")))?;
        if unix_seconds(now) > expires {
            return Err(UploadUrlError::Expired);
        }
        Ok(())
    }

    fn mac(&self, method: &str, key: &str, expires: &str, spec: &str) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.signing_key).expect("HMAC takes keys of any length");
        mac.update(format!("{method}\n{key}\n{expires}\n{spec}").as_bytes());
        mac
    }

    fn signed_url(&self, method: &str, key: &str, expires_in: Duration, spec: Option<&str>) -> (String, u64) {
        let expires = unix_seconds(SystemTime::now()) + expires_in.as_secs().max(1);
        let expires_text = expires.to_string();
        let signature =
            hex::encode(self.mac(method, key, &expires_text, spec.unwrap_or("")).finalize().into_bytes());
        let spec_param = spec.map_or(String::new(), |s| format!("&{SPEC}={s}"));
        let url = format!(
            "{}/{}?{EXPIRES}={expires_text}{spec_param}&{SIGNATURE}={signature}",
            self.base_url,
            encode_key(key)
        );
        (url, expires)
    }

    async fn write_checked(
        &self,
        key: &str,
        mut body: ByteStream,
        spec: &BlobSpec,
    ) -> BackendResult<StoredBlob> {
        let relative = checked_key(key)?;
        let temporary = self.tmp.join(format!("{:032x}", rand::random::<u128>()));
        let result = async {
            let mut file = tokio::fs::File::create(&temporary).await.map_err(|e| io_error(key, e))?;
            let mut digests = Digests::default();
            let mut buffer = vec![0u8; CHUNK];
            loop {
                let n = body
                    .read(&mut buffer)
                    .await
                    .map_err(|source| BackendError::Body { key: key.to_owned(), source })?;
                if n == 0 {
                    break;
                }
                digests.update(&buffer[..n]);
                if spec.size.is_some_and(|expected| digests.size() > expected) {
                    return Err(BackendError::Rejected(format!(
                        "the body of `{key}` is larger than the declared {} bytes",
                        spec.size.unwrap_or_default()
                    )));
                }
                file.write_all(&buffer[..n]).await.map_err(|e| io_error(key, e))?;
            }
            file.sync_all().await.map_err(|e| io_error(key, e))?;
            let stored = digests.finish();
            stored.check_against(key, spec)?;
            self.commit(&relative, &temporary, spec).await?;
            Ok(stored)
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&temporary).await;
        }
        result
    }

    /// Writes the metadata, then renames the body into place: a reader never sees an object
    /// without its metadata.
    async fn commit(&self, relative: &Path, temporary: &Path, spec: &BlobSpec) -> BackendResult<()> {
        let key = relative.to_string_lossy();
        let object = self.root.join("objects").join(relative);
        let meta = self.root.join("meta").join(relative);
        for path in [&object, &meta] {
            let parent = path.parent().expect("keys have a file name");
            tokio::fs::create_dir_all(parent).await.map_err(|e| io_error(&key, e))?;
        }
        let stored = StoredMeta { content_type: spec.content_type.clone(), metadata: spec.metadata.clone() };
        let meta_temporary = temporary.with_extension("meta");
        let json = serde_json::to_vec(&stored).map_err(|e| io_error(&key, e))?;
        tokio::fs::write(&meta_temporary, json).await.map_err(|e| io_error(&key, e))?;
        tokio::fs::rename(&meta_temporary, &meta).await.map_err(|e| io_error(&key, e))?;
        tokio::fs::rename(temporary, &object).await.map_err(|e| io_error(&key, e))
    }

    async fn info(&self, key: &str, object: &Path) -> BackendResult<Option<BlobInfo>> {
        let size = match tokio::fs::metadata(object).await {
            Ok(metadata) if metadata.is_file() => metadata.len(),
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(key, e)),
        };
        let meta_path = self.root.join("meta").join(checked_key(key)?);
        let meta = match tokio::fs::read(&meta_path).await {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| io_error(key, e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                StoredMeta { content_type: "application/octet-stream".into(), metadata: BTreeMap::new() }
            }
            Err(e) => return Err(io_error(key, e)),
        };
        Ok(Some(BlobInfo {
            key: key.to_owned(),
            size,
            content_type: meta.content_type,
            metadata: meta.metadata,
        }))
    }
}

#[async_trait]
impl BlobStore for LocalBlobStore {
    async fn put(&self, key: &str, body: ByteStream, spec: &BlobSpec) -> BackendResult<StoredBlob> {
        self.write_checked(key, body, spec).await
    }

    async fn put_file(&self, key: &str, path: &Path, spec: &BlobSpec) -> BackendResult<StoredBlob> {
        let file = tokio::fs::File::open(path).await.map_err(|e| io_error(key, e))?;
        self.write_checked(key, Box::pin(file), spec).await
    }

    async fn get_to_file(&self, key: &str, path: &Path) -> BackendResult<u64> {
        let source = self.path_of(key)?;
        match tokio::fs::copy(&source, path).await {
            Ok(size) => Ok(size),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(BackendError::NotFound(format!("blob `{key}`")))
            }
            Err(e) => Err(io_error(key, e)),
        }
    }

    async fn open(&self, key: &str) -> BackendResult<(BlobInfo, ByteStream)> {
        let object = self.path_of(key)?;
        let info =
            self.info(key, &object).await?.ok_or_else(|| BackendError::NotFound(format!("blob `{key}`")))?;
        let file = tokio::fs::File::open(&object).await.map_err(|e| io_error(key, e))?;
        Ok((info, Box::pin(file)))
    }

    async fn open_range(&self, key: &str, start: u64, length: u64) -> BackendResult<ByteStream> {
        let object = self.path_of(key)?;
        let mut file = match tokio::fs::File::open(&object).await {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(BackendError::NotFound(format!("blob `{key}`")));
            }
            Err(e) => return Err(io_error(key, e)),
        };
        file.seek(std::io::SeekFrom::Start(start)).await.map_err(|e| io_error(key, e))?;
        Ok(Box::pin(file.take(length)))
    }

    async fn head(&self, key: &str) -> BackendResult<Option<BlobInfo>> {
        let object = self.path_of(key)?;
        self.info(key, &object).await
    }

    async fn list(&self, prefix: &str) -> BackendResult<Vec<BlobInfo>> {
        let objects = self.root.join("objects");
        // Walk only the deepest directory the prefix names in full.
        let start = prefix.rsplit_once('/').map_or("", |(dir, _)| dir);
        let start_dir = if start.is_empty() { objects.clone() } else { objects.join(checked_key(start)?) };
        let mut keys = Vec::new();
        let mut pending = vec![start_dir];
        while let Some(dir) = pending.pop() {
            let mut entries = match tokio::fs::read_dir(&dir).await {
                Ok(entries) => entries,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                    ) =>
                {
                    continue;
                }
                Err(e) => return Err(io_error(prefix, e)),
            };
            while let Some(entry) = entries.next_entry().await.map_err(|e| io_error(prefix, e))? {
                let path = entry.path();
                let file_type = entry.file_type().await.map_err(|e| io_error(prefix, e))?;
                if file_type.is_dir() {
                    pending.push(path);
                } else if let Ok(relative) = path.strip_prefix(&objects) {
                    let key = relative.to_string_lossy().into_owned();
                    if key.starts_with(prefix) {
                        keys.push(key);
                    }
                }
            }
        }
        keys.sort();
        let mut infos = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some(info) = self.info(&key, &objects.join(&key)).await? {
                infos.push(info);
            }
        }
        Ok(infos)
    }

    async fn delete_prefix(&self, prefix: &str) -> BackendResult<u64> {
        let mut deleted = 0;
        for info in self.list(prefix).await? {
            let relative = checked_key(&info.key)?;
            for tree in ["objects", "meta"] {
                match tokio::fs::remove_file(self.root.join(tree).join(&relative)).await {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_error(&info.key, e)),
                }
                remove_empty_parents(&self.root.join(tree), &relative).await;
            }
            deleted += 1;
        }
        Ok(deleted)
    }

    async fn presign_put(
        &self,
        key: &str,
        spec: &BlobSpec,
        expires_in: Duration,
    ) -> BackendResult<UploadTarget> {
        checked_key(key)?;
        let signed = SignedSpec {
            size: spec.size,
            md5: spec.md5.clone(),
            content_type: spec.content_type.clone(),
            metadata: spec.metadata.clone(),
        };
        let json = serde_json::to_vec(&signed).map_err(|e| io_error(key, e))?;
        let (url, expires) = self.signed_url("PUT", key, expires_in, Some(&URL_SAFE_NO_PAD.encode(json)));
        let mut headers = BTreeMap::from([("content-type".to_owned(), spec.content_type.clone())]);
        if let Some(size) = spec.size {
            headers.insert("content-length".into(), size.to_string());
        }
        Ok(UploadTarget {
            url,
            method: "PUT".into(),
            headers,
            expires_at: rfc3339(UNIX_EPOCH + Duration::from_secs(expires)),
        })
    }

    async fn download_url(&self, key: &str, expires_in: Duration) -> BackendResult<String> {
        checked_key(key)?;
        Ok(self.signed_url("GET", key, expires_in, None).0)
    }
}

/// A key as a relative path that stays under the store's root.
fn checked_key(key: &str) -> BackendResult<PathBuf> {
    let refuse = |why: &str| Err(BackendError::Rejected(format!("blob key `{key}` {why}")));
    if key.is_empty() || key.len() > 1024 {
        return refuse("must have 1 to 1024 bytes");
    }
    if key.contains('\0') || key.contains('\\') {
        return refuse("must not contain NUL or backslash");
    }
    for segment in key.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return refuse("must not have empty, `.` or `..` segments");
        }
        if segment.len() > 255 {
            return refuse("has a segment longer than 255 bytes");
        }
    }
    Ok(PathBuf::from(key))
}

fn parse_query(query: &str) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(query.trim_start_matches('?').as_bytes()).into_owned().collect()
}

async fn remove_empty_parents(tree: &Path, relative: &Path) {
    let mut dir = relative.parent();
    while let Some(current) = dir.filter(|d| !d.as_os_str().is_empty()) {
        // `remove_dir` fails on a non-empty directory, which is where the walk stops.
        if tokio::fs::remove_dir(tree.join(current)).await.is_err() {
            break;
        }
        dir = current.parent();
    }
}

fn io_error(key: &str, error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> BackendError {
    BackendError::io(format!("blob `{key}`"), error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::{Digest, Md5};

    const KEY: &[u8] = b"test signing key";

    fn store() -> (tempfile::TempDir, LocalBlobStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::new(dir.path(), "http://127.0.0.1:9/blobs", KEY).unwrap();
        (dir, store)
    }

    fn body(bytes: &'static [u8]) -> ByteStream {
        Box::pin(bytes)
    }

    fn spec_for(bytes: &[u8]) -> BlobSpec {
        BlobSpec {
            size: Some(bytes.len() as u64),
            md5: Some(hex::encode(Md5::digest(bytes))),
            content_type: "video/mp4".into(),
            metadata: BTreeMap::from([("assembly_id".into(), "abc".into())]),
        }
    }

    fn query_of(url: &str) -> &str {
        url.split_once('?').unwrap().1
    }

    #[tokio::test]
    async fn a_checked_body_is_stored_with_digests_and_metadata() {
        let (_dir, store) = store();
        let stored =
            store.put("uploads/main/a b/clip.mp4", body(b"hello"), &spec_for(b"hello")).await.unwrap();
        assert_eq!(stored.size, 5);
        assert_eq!(stored.md5, "5d41402abc4b2a76b9719d911017c592");
        assert_eq!(stored.sha256, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        let info = store.head("uploads/main/a b/clip.mp4").await.unwrap().unwrap();
        assert_eq!((info.size, info.content_type.as_str()), (5, "video/mp4"));
        assert_eq!(info.metadata["assembly_id"], "abc");
        let (_, mut stream) = store.open("uploads/main/a b/clip.mp4").await.unwrap();
        let mut read = String::new();
        stream.read_to_string(&mut read).await.unwrap();
        assert_eq!(read, "hello");
    }

    #[tokio::test]
    async fn wrong_size_or_md5_stores_nothing() {
        let (_dir, store) = store();
        let mut spec = spec_for(b"hello");
        spec.size = Some(4);
        let error = store.put("k/too-long", body(b"hello"), &spec).await.unwrap_err();
        assert!(error.to_string().contains("larger than the declared 4 bytes"), "{error}");
        spec.size = Some(6);
        assert!(
            store
                .put("k/too-short", body(b"hello"), &spec)
                .await
                .unwrap_err()
                .to_string()
                .contains("5 bytes; 6")
        );
        let mut spec = spec_for(b"hello");
        spec.md5 = Some("0".repeat(32));
        assert!(store.put("k/bad-md5", body(b"hello"), &spec).await.unwrap_err().to_string().contains("MD5"));
        assert!(store.list("").await.unwrap().is_empty());
        assert_eq!(std::fs::read_dir(store.tmp.path()).unwrap().count(), 0, "temporary files are removed");
    }

    #[tokio::test]
    async fn a_failed_overwrite_keeps_the_previous_object() {
        let (_dir, store) = store();
        store.put("k/x", body(b"first"), &spec_for(b"first")).await.unwrap();
        let mut spec = spec_for(b"second");
        spec.md5 = Some("0".repeat(32));
        store.put("k/x", body(b"second"), &spec).await.unwrap_err();
        assert_eq!(store.head("k/x").await.unwrap().unwrap().size, 5);
    }

    #[tokio::test]
    async fn keys_cannot_escape_the_root() {
        let (_dir, store) = store();
        for key in ["../x", "a/../../x", "/etc/passwd", "a//b", "", "a\\b", "a/./b"] {
            assert!(
                matches!(
                    store.put(key, body(b"x"), &BlobSpec::default()).await,
                    Err(BackendError::Rejected(_))
                ),
                "{key}"
            );
        }
    }

    #[tokio::test]
    async fn list_and_delete_by_prefix_leave_other_prefixes() {
        let (_dir, store) = store();
        for key in ["uploads/a/1/x.mp4", "uploads/a/2/y.mp4", "uploads/ab/1/z.mp4", "outputs/a/1/t.jpg"] {
            store.put(key, body(b"data"), &BlobSpec::default()).await.unwrap();
        }
        let keys = |infos: Vec<BlobInfo>| infos.into_iter().map(|i| i.key).collect::<Vec<_>>();
        assert_eq!(keys(store.list("uploads/a/").await.unwrap()), ["uploads/a/1/x.mp4", "uploads/a/2/y.mp4"]);
        assert_eq!(keys(store.list("uploads/a").await.unwrap()).len(), 3);
        assert_eq!(store.delete_prefix("uploads/a/").await.unwrap(), 2);
        assert_eq!(keys(store.list("").await.unwrap()), ["outputs/a/1/t.jpg", "uploads/ab/1/z.mp4"]);
    }

    #[tokio::test]
    async fn files_round_trip_through_put_file_and_get_to_file() {
        let (dir, store) = store();
        let source = dir.path().join("source.bin");
        let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&source, &bytes).unwrap();
        let stored =
            store.put_file("outputs/main/a/step/out.bin", &source, &BlobSpec::default()).await.unwrap();
        assert_eq!(stored.md5, hex::encode(Md5::digest(&bytes)));
        let copy = dir.path().join("copy.bin");
        assert_eq!(store.get_to_file("outputs/main/a/step/out.bin", &copy).await.unwrap(), 3_000_000);
        assert_eq!(std::fs::read(&copy).unwrap(), bytes);
        assert!(matches!(store.get_to_file("missing/key", &copy).await, Err(BackendError::NotFound(_))));
    }

    #[tokio::test]
    async fn upload_urls_verify_and_reject_tampering_and_expiry() {
        let (_dir, store) = store();
        let spec = spec_for(b"hello");
        let target =
            store.presign_put("uploads/main/a b/clip.mp4", &spec, Duration::from_secs(60)).await.unwrap();
        assert!(
            target.url.starts_with("http://127.0.0.1:9/blobs/uploads/main/a%20b/clip.mp4?"),
            "{}",
            target.url
        );
        assert_eq!(target.headers["content-type"], "video/mp4");
        let query = query_of(&target.url);
        let now = SystemTime::now();
        let signed = store.verify_upload("uploads/main/a b/clip.mp4", query, now).unwrap();
        assert_eq!(signed.spec, spec);

        assert_eq!(
            store.verify_upload("uploads/main/a b/other.mp4", query, now),
            Err(UploadUrlError::BadSignature)
        );
        let later = now + Duration::from_secs(120);
        assert_eq!(
            store.verify_upload("uploads/main/a b/clip.mp4", query, later),
            Err(UploadUrlError::Expired)
        );
        let stretched = query.replacen("expires=", "expires=9", 1);
        assert_eq!(
            store.verify_upload("uploads/main/a b/clip.mp4", &stretched, now),
            Err(UploadUrlError::BadSignature)
        );
        let other_key = LocalBlobStore::new(_dir.path(), "http://127.0.0.1:9/blobs", b"another key").unwrap();
        assert_eq!(
            other_key.verify_upload("uploads/main/a b/clip.mp4", query, now),
            Err(UploadUrlError::BadSignature)
        );
        assert!(matches!(store.verify_upload("k", "expires=1", now), Err(UploadUrlError::Malformed(_))));
    }

    #[tokio::test]
    async fn download_urls_are_method_bound() {
        let (_dir, store) = store();
        let url = store.download_url("outputs/main/a/thumbs/1.jpg", Duration::from_secs(60)).await.unwrap();
        let now = SystemTime::now();
        store.verify_download("outputs/main/a/thumbs/1.jpg", query_of(&url), now).unwrap();
        assert_eq!(
            store.verify_download("outputs/main/a/thumbs/2.jpg", query_of(&url), now),
            Err(UploadUrlError::BadSignature)
        );
        // A GET signature cannot be replayed as an upload.
        let put_query = format!("{}&spec=e30", query_of(&url));
        assert_eq!(
            store.verify_upload("outputs/main/a/thumbs/1.jpg", &put_query, now),
            Err(UploadUrlError::BadSignature)
        );
    }
}
