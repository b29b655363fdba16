//! [`BlobStore`] on one S3 bucket.
//!
//! Bodies stream through in parts of [`PART_SIZE`]: a small one becomes one `PutObject`, a
//! larger one a multipart upload, and each carries its `Content-MD5` so S3 itself refuses a part
//! damaged on the way. The declared size and MD5 are checked before the upload completes; a
//! mismatch aborts it, so a lying body never replaces an object, as with the local store.

use super::sdk_error;
use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream as S3Body;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};
use base64::Engine as _;
use md5::{Digest, Md5};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncRead, AsyncReadExt};
use transflow_store::assembly::rfc3339;
use transflow_store::backends::{
    BackendError, BackendResult, BlobInfo, BlobSpec, BlobStore, ByteStream, Digests, StoredBlob, UploadTarget,
};

/// Size of one multipart part (S3 allows 5 MiB to 5 GiB and 10,000 parts: 78 GiB at most).
const PART_SIZE: usize = 8 << 20;

/// Objects one `DeleteObjects` call may name.
const DELETE_BATCH: usize = 1000;

/// The media (or templates) bucket.
#[derive(Debug, Clone)]
pub struct S3BlobStore {
    client: Client,
    bucket: String,
}

impl S3BlobStore {
    /// A store on `bucket` (which `transflow deploy` creates).
    pub fn new(client: Client, bucket: &str) -> S3BlobStore {
        S3BlobStore { client, bucket: bucket.to_owned() }
    }

    /// Uploads the parts of `body` one by one; returns the digests of the whole.
    async fn multipart(
        &self,
        key: &str,
        first: Vec<u8>,
        body: &mut ByteStream,
        spec: &BlobSpec,
        mut digests: Digests,
    ) -> BackendResult<StoredBlob> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type(&spec.content_type)
            .set_metadata(Some(metadata_of(spec)))
            .send()
            .await
            .map_err(|e| sdk_error(format!("starting the upload of `{key}`"), e))?;
        let upload_id = created.upload_id().unwrap_or_default().to_owned();
        let result = async {
            let mut parts = Vec::new();
            let mut part = first;
            loop {
                let number = i32::try_from(parts.len() + 1).unwrap_or(i32::MAX);
                let uploaded = self
                    .client
                    .upload_part()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(&upload_id)
                    .part_number(number)
                    .content_md5(base64_md5(&part))
                    .body(S3Body::from(part))
                    .send()
                    .await
                    .map_err(|e| sdk_error(format!("uploading part {number} of `{key}`"), e))?;
                parts.push(CompletedPart::builder().part_number(number).set_e_tag(uploaded.e_tag).build());
                part = read_part(body, key, spec, &mut digests).await?;
                if part.is_empty() {
                    break;
                }
            }
            let stored = std::mem::take(&mut digests).finish();
            stored.check_against(key, spec)?;
            self.client
                .complete_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(&upload_id)
                .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
                .send()
                .await
                .map_err(|e| sdk_error(format!("completing the upload of `{key}`"), e))?;
            Ok(stored)
        }
        .await;
        if result.is_err() {
            let aborted = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(&upload_id)
                .send()
                .await;
            if let Err(error) = aborted {
                tracing::warn!(key, error = %aws_sdk_s3::error::DisplayErrorContext(error), "could not abort a failed upload; the bucket's lifecycle rule removes it");
            }
        }
        result
    }

    async fn list_keys(&self, prefix: &str) -> BackendResult<Vec<(String, u64)>> {
        let mut pages =
            self.client.list_objects_v2().bucket(&self.bucket).prefix(prefix).into_paginator().send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk_error(format!("listing `{prefix}`"), e))?;
            for object in page.contents() {
                if let Some(key) = object.key() {
                    keys.push((key.to_owned(), object.size().unwrap_or(0).max(0) as u64));
                }
            }
        }
        Ok(keys)
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put(&self, key: &str, mut body: ByteStream, spec: &BlobSpec) -> BackendResult<StoredBlob> {
        let mut digests = Digests::default();
        let first = read_part(&mut body, key, spec, &mut digests).await?;
        if first.len() == PART_SIZE {
            return self.multipart(key, first, &mut body, spec, digests).await;
        }
        let stored = digests.finish();
        stored.check_against(key, spec)?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(&spec.content_type)
            .set_metadata(Some(metadata_of(spec)))
            .content_md5(base64_md5(&first))
            .body(S3Body::from(first))
            .send()
            .await
            .map_err(|e| sdk_error(format!("storing `{key}`"), e))?;
        Ok(stored)
    }

    async fn put_file(&self, key: &str, path: &Path, spec: &BlobSpec) -> BackendResult<StoredBlob> {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| BackendError::io(format!("opening {} for `{key}`", path.display()), e))?;
        self.put(key, Box::pin(file), spec).await
    }

    async fn get_to_file(&self, key: &str, path: &Path) -> BackendResult<u64> {
        let (_, mut body) = self.open(key).await?;
        let fail = |e: std::io::Error| BackendError::io(format!("downloading `{key}`"), e);
        let mut file = tokio::fs::File::create_new(path).await.map_err(fail)?;
        let copied = tokio::io::copy(&mut body, &mut file).await;
        match copied {
            Ok(size) => Ok(size),
            Err(error) => {
                drop(file);
                let _ = tokio::fs::remove_file(path).await;
                Err(fail(error))
            }
        }
    }

    async fn open(&self, key: &str) -> BackendResult<(BlobInfo, ByteStream)> {
        let object = match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(object) => object,
            Err(error) if error.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                return Err(BackendError::NotFound(format!("blob `{key}`")));
            }
            Err(error) => return Err(sdk_error(format!("reading `{key}`"), error)),
        };
        let info = BlobInfo {
            key: key.to_owned(),
            size: object.content_length().unwrap_or(0).max(0) as u64,
            content_type: object.content_type().unwrap_or("application/octet-stream").to_owned(),
            metadata: sorted(object.metadata()),
        };
        Ok((info, Box::pin(object.body.into_async_read())))
    }

    async fn open_range(&self, key: &str, start: u64, length: u64) -> BackendResult<ByteStream> {
        let last = (start + length).saturating_sub(1);
        let request =
            self.client.get_object().bucket(&self.bucket).key(key).range(format!("bytes={start}-{last}"));
        match request.send().await {
            Ok(object) => Ok(Box::pin(object.body.into_async_read())),
            Err(error) if error.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                Err(BackendError::NotFound(format!("blob `{key}`")))
            }
            Err(error) => Err(sdk_error(format!("reading `{key}`"), error)),
        }
    }

    async fn head(&self, key: &str) -> BackendResult<Option<BlobInfo>> {
        match self.client.head_object().bucket(&self.bucket).key(key).send().await {
            Ok(object) => Ok(Some(BlobInfo {
                key: key.to_owned(),
                size: object.content_length().unwrap_or(0).max(0) as u64,
                content_type: object.content_type().unwrap_or("application/octet-stream").to_owned(),
                metadata: sorted(object.metadata()),
            })),
            Err(error) if error.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            Err(error) => Err(sdk_error(format!("looking up `{key}`"), error)),
        }
    }

    async fn list(&self, prefix: &str) -> BackendResult<Vec<BlobInfo>> {
        Ok(self
            .list_keys(prefix)
            .await?
            .into_iter()
            .map(|(key, size)| BlobInfo { key, size, content_type: String::new(), metadata: BTreeMap::new() })
            .collect())
    }

    async fn delete_prefix(&self, prefix: &str) -> BackendResult<u64> {
        let keys = self.list_keys(prefix).await?;
        for batch in keys.chunks(DELETE_BATCH) {
            let objects = batch
                .iter()
                .map(|(key, _)| ObjectIdentifier::builder().key(key).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| BackendError::io(format!("deleting `{prefix}`"), e))?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| BackendError::io(format!("deleting `{prefix}`"), e))?;
            let deleted = self
                .client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| sdk_error(format!("deleting `{prefix}`"), e))?;
            if let Some(failed) = deleted.errors().first() {
                return Err(BackendError::io(
                    format!("deleting `{prefix}`"),
                    format!("`{}`: {}", failed.key().unwrap_or("?"), failed.message().unwrap_or("refused")),
                ));
            }
        }
        Ok(keys.len() as u64)
    }

    /// S3 checks the signed `Content-Length`, `Content-MD5`, `Content-Type` and `x-amz-meta-*`
    /// headers itself, so the URL admits exactly the declared body.
    async fn presign_put(
        &self,
        key: &str,
        spec: &BlobSpec,
        expires_in: Duration,
    ) -> BackendResult<UploadTarget> {
        let mut request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(&spec.content_type)
            .set_metadata(Some(metadata_of(spec)));
        if let Some(size) = spec.size {
            request = request.content_length(i64::try_from(size).unwrap_or(i64::MAX));
        }
        if let Some(md5) = &spec.md5 {
            let digest =
                hex::decode(md5).map_err(|_| BackendError::Rejected(format!("`{md5}` is not a hex MD5")))?;
            request = request.content_md5(base64::engine::general_purpose::STANDARD.encode(digest));
        }
        let presigned = request
            .presigned(presigning(expires_in)?)
            .await
            .map_err(|e| sdk_error(format!("signing an upload URL for `{key}`"), e))?;
        let headers = presigned
            .headers()
            // The client's HTTP library sends `Host` itself.
            .filter(|(name, _)| !name.eq_ignore_ascii_case("host"))
            .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned()))
            .collect();
        Ok(UploadTarget {
            url: presigned.uri().to_owned(),
            method: presigned.method().to_owned(),
            headers,
            expires_at: rfc3339(SystemTime::now() + expires_in),
        })
    }

    async fn download_url(&self, key: &str, expires_in: Duration) -> BackendResult<String> {
        let presigned = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(presigning(expires_in)?)
            .await
            .map_err(|e| sdk_error(format!("signing a download URL for `{key}`"), e))?;
        Ok(presigned.uri().to_owned())
    }
}

/// Reads up to [`PART_SIZE`] bytes, adding them to `digests` and refusing a body that grows
/// past its declared size before more of it is sent.
async fn read_part(
    body: &mut (impl AsyncRead + Unpin + ?Sized),
    key: &str,
    spec: &BlobSpec,
    digests: &mut Digests,
) -> BackendResult<Vec<u8>> {
    let mut part = Vec::with_capacity(PART_SIZE.min(spec.size.unwrap_or(PART_SIZE as u64) as usize));
    let read = body
        .take(PART_SIZE as u64)
        .read_to_end(&mut part)
        .await
        .map_err(|e| BackendError::io(format!("reading the body of `{key}`"), e))?;
    digests.update(&part[..read]);
    if let Some(declared) = spec.size.filter(|&declared| digests.size() > declared) {
        return Err(BackendError::Rejected(format!(
            "the body of `{key}` is larger than the declared {declared} bytes"
        )));
    }
    Ok(part)
}

fn presigning(expires_in: Duration) -> BackendResult<PresigningConfig> {
    PresigningConfig::expires_in(expires_in)
        .map_err(|e| BackendError::Rejected(format!("a URL cannot be valid for {expires_in:?}: {e}")))
}

fn base64_md5(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Md5::digest(bytes))
}

fn metadata_of(spec: &BlobSpec) -> HashMap<String, String> {
    spec.metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn sorted(metadata: Option<&HashMap<String, String>>) -> BTreeMap<String, String> {
    metadata.into_iter().flatten().map(|(k, v)| (k.clone(), v.clone())).collect()
}
