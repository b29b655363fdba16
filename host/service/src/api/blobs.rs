//! The embedded store's signed URLs: `PUT /blobs/{key}` receives an upload (the local twin of
//! a pre-signed S3 PUT followed by S3 → SQS), `GET /blobs/{key}` serves one object (the twin of
//! a pre-signed S3 GET, [`BlobStore::download_url`]).

use super::{ApiError, ApiState};
use crate::worker::event::object_created;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use std::sync::Arc;
use std::time::SystemTime;
use tokio_util::io::StreamReader;
use transflow_local::{LocalBlobStore, UploadUrlError};
use transflow_store::backends::{BackendError, BlobStore};
use transflow_store::keys::UploadKey;
use transflow_store::status_writer::StatusWriter;

/// Bucket name the embedded store's events carry.
const LOCAL_BUCKET: &str = "local";

fn local(state: &ApiState) -> Result<&LocalBlobStore, ApiError> {
    state
        .local_blobs
        .as_deref()
        .ok_or_else(|| ApiError::not_found("NOT_FOUND", "this server does not serve blobs"))
}

fn refused(error: UploadUrlError) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "URL_REFUSED", error.to_string())
}

pub(super) async fn upload(
    state: State<Arc<ApiState>>,
    key: Path<String>,
    query: RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match receive_upload(state, key, query, headers, body).await {
        Ok(status) => status.into_response(),
        Err(error) => {
            // A refusal may come before the body was read; closing the connection keeps the
            // unread rest from being taken for the next request (and tells the client to stop).
            let mut response = error.into_response();
            response.headers_mut().insert(header::CONNECTION, header::HeaderValue::from_static("close"));
            response
        }
    }
}

async fn receive_upload(
    State(state): State<Arc<ApiState>>,
    Path(key): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let store = local(&state)?;
    let signed =
        store.verify_upload(&key, query.as_deref().unwrap_or(""), SystemTime::now()).map_err(refused)?;
    let sent_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if sent_type != signed.spec.content_type {
        return Err(ApiError::bad_request(
            "CONTENT_TYPE_MISMATCH",
            format!("send `Content-Type: {}` as signed (got `{sent_type}`)", signed.spec.content_type),
        ));
    }
    let declared_length =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if let (Some(length), Some(size)) = (declared_length, signed.spec.size)
        && length != size
    {
        return Err(ApiError::bad_request(
            "SIZE_MISMATCH",
            format!("Content-Length is {length}; {size} bytes were signed"),
        ));
    }
    let upload = UploadKey::parse(&key).ok();
    if let Some(upload) = &upload {
        refuse_if_not_uploading(&state, upload).await?;
    }
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    let stored = match store.put(&key, Box::pin(StreamReader::new(stream)), &signed.spec).await {
        Ok(stored) => stored,
        Err(BackendError::Rejected(message)) => {
            return Err(ApiError::bad_request("UPLOAD_REJECTED", message));
        }
        Err(error) => return Err(error.into()),
    };
    if let Some(upload) = upload {
        record_arrival(&state, &upload, stored.size).await?;
        state.backends.queue.send(&object_created(LOCAL_BUCKET, &key, stored.size)).await?;
    }
    Ok(StatusCode::OK)
}

/// Uploads are accepted only while the assembly's current attempt waits for them: the
/// targets of an earlier attempt or of an expired one stop working.
async fn refuse_if_not_uploading(state: &ApiState, upload: &UploadKey) -> Result<(), ApiError> {
    match state.backends.statuses.get(&upload.assembly_id).await? {
        Some(record) => {
            let status = state.retention.as_seen(record.value, SystemTime::now());
            if status.phase() != transflow_store::assembly::Phase::Uploading {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "ASSEMBLY_NOT_UPLOADING",
                    "the assembly no longer takes uploads",
                ));
            }
            if !status.expected_uploads.iter().any(|e| e.upload_id == upload.upload_id) {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "UPLOAD_SUPERSEDED",
                    "this upload target belongs to an earlier announcement; use the targets of the latest create-upload",
                ));
            }
            Ok(())
        }
        None => Err(ApiError::not_found("ASSEMBLY_NOT_FOUND", format!("no assembly {}", upload.assembly_id))),
    }
}

/// Marks the upload received and counts its bytes.
async fn record_arrival(state: &ApiState, upload: &UploadKey, size: u64) -> Result<(), ApiError> {
    let writer = StatusWriter::new(state.backends.statuses.clone(), &upload.assembly_id);
    writer
        .modify(|status| {
            status.mark_received(&upload.upload_id, size);
        })
        .await?;
    Ok(())
}

pub(super) async fn download(
    State(state): State<Arc<ApiState>>,
    Path(key): Path<String>,
    RawQuery(query): RawQuery,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let store = local(&state)?;
    store.verify_download(&key, query.as_deref().unwrap_or(""), SystemTime::now()).map_err(refused)?;
    super::results::send_blob(store, &key, &method, &headers).await
}
