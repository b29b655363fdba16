//! Assemblies: create-upload, status, cancel, and the template list.

use super::{ApiError, ApiState};
use crate::assembly::{
    AssemblyState, AssemblyStatus, ExpectedUpload, Phase, UserRef, assembly_id, file_id, now_rfc3339,
};
use crate::backends::{BlobSpec, Created, UploadTarget};
use crate::worker::event::UploadKey;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// `POST /api/create-upload` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUpload {
    /// Template id.
    pub template_id: String,
    /// The files that will be uploaded.
    pub files: Vec<AnnouncedFile>,
    /// User fields for the template.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// Where to POST the status when the assembly ends.
    #[serde(default)]
    pub notify_url: Option<String>,
}

/// A file the client will upload.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnnouncedFile {
    /// File name.
    pub name: String,
    /// Exact size in bytes.
    pub size: u64,
    /// Content type.
    pub mime: String,
    /// Lower-case hex MD5 of the content.
    pub md5: String,
}

/// `POST /api/create-upload` response.
#[derive(Debug, Serialize)]
pub struct UploadPlan {
    /// The assembly's deterministic id.
    pub assembly_id: String,
    /// Where to poll.
    pub status_url: String,
    /// One target per file, in the order of the request; empty when the assembly already ran.
    pub uploads: Vec<PlannedUpload>,
    /// The status, when the assembly exists already and is past uploading.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<AssemblyStatus>,
}

/// Where one file goes.
#[derive(Debug, Serialize)]
pub struct PlannedUpload {
    /// Upload id.
    pub upload_id: String,
    /// File name.
    pub name: String,
    /// The signed request to make.
    #[serde(flatten)]
    pub target: UploadTarget,
}

pub(super) async fn create_upload(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    request: Result<Json<CreateUpload>, JsonRejection>,
) -> Result<(StatusCode, Json<UploadPlan>), ApiError> {
    let user = state.auth.user(&headers)?;
    let Json(request) = request.map_err(|e| ApiError::bad_request("INVALID_REQUEST", e.body_text()))?;
    check_request(&state, &request)?;
    let Some(template) = state.backends.templates.current(&request.template_id).await? else {
        return Err(ApiError::not_found(
            "TEMPLATE_NOT_FOUND",
            format!("no template `{}`; GET /api/templates lists them", request.template_id),
        ));
    };
    // Upload ids depend on the files, not on the order the client listed them in.
    let mut files = request.files.clone();
    files.sort_by(|a, b| (&a.md5, &a.name).cmp(&(&b.md5, &b.name)));
    let md5s: Vec<String> = files.iter().map(|f| f.md5.to_ascii_lowercase()).collect();
    let id = assembly_id(&md5s, &request.template_id, &user, &state.branch);
    let expected: Vec<ExpectedUpload> = files
        .iter()
        .enumerate()
        .map(|(index, file)| ExpectedUpload {
            upload_id: file_id(&id, &index.to_string(), &file.name),
            name: file.name.clone(),
            size: file.size,
            md5: file.md5.to_ascii_lowercase(),
            mime: file.mime.clone(),
            received: false,
        })
        .collect();
    let status = new_status(&state, &request, &template.sha256, &user, &id, expected);
    let status_url = format!("/api/status/{id}");
    let stored = match state.backends.statuses.create(&status).await? {
        Created::New => status,
        Created::Existing(existing) if existing.value.phase() != Phase::Uploading => {
            let plan =
                UploadPlan { assembly_id: id, status_url, uploads: Vec::new(), status: Some(existing.value) };
            return Ok((StatusCode::OK, Json(plan)));
        }
        Created::Existing(existing) => existing.value,
    };
    let mut uploads = Vec::with_capacity(stored.expected_uploads.len());
    for expected in &stored.expected_uploads {
        let key = UploadKey {
            branch: stored.branch.clone(),
            assembly_id: id.clone(),
            upload_id: expected.upload_id.clone(),
            name: expected.name.clone(),
        }
        .key();
        let spec = BlobSpec {
            size: Some(expected.size),
            md5: Some(expected.md5.clone()),
            content_type: expected.mime.clone(),
            metadata: BTreeMap::from([
                ("assembly-id".to_owned(), id.clone()),
                ("template-id".to_owned(), stored.template_id.clone()),
                ("user".to_owned(), user.clone()),
                ("branch".to_owned(), stored.branch.clone()),
            ]),
        };
        let target = state.backends.blobs.presign_put(&key, &spec, state.upload_url_ttl).await?;
        uploads.push(PlannedUpload {
            upload_id: expected.upload_id.clone(),
            name: expected.name.clone(),
            target,
        });
    }
    Ok((StatusCode::CREATED, Json(UploadPlan { assembly_id: id, status_url, uploads, status: None })))
}

fn check_request(state: &ApiState, request: &CreateUpload) -> Result<(), ApiError> {
    let limits = &state.limits;
    let bad = |message: String| Err(ApiError::bad_request("INVALID_REQUEST", message));
    if request.files.is_empty() {
        return bad("`files` is empty: announce at least one file".into());
    }
    if request.files.len() > limits.max_files {
        return bad(format!(
            "{} files announced; at most {} are allowed",
            request.files.len(),
            limits.max_files
        ));
    }
    for file in &request.files {
        let name = &file.name;
        if name.is_empty()
            || name.len() > 255
            || name == "."
            || name == ".."
            || name.contains(['/', '\\', '\0'])
        {
            return bad(format!("file name `{name}` must be 1–255 bytes without `/`, `\\` or NUL"));
        }
        if file.size == 0 {
            return bad(format!("`{name}` is empty"));
        }
        if file.size > limits.max_file_size {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "FILE_TOO_LARGE",
                format!("`{name}` has {} bytes; the limit is {}", file.size, limits.max_file_size),
            ));
        }
        if !limits.allows_type(&file.mime) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "TYPE_NOT_ALLOWED",
                format!("`{name}` is `{}`; allowed: {}", file.mime, limits.allowed_types.join(", ")),
            ));
        }
        if file.md5.len() != 32 || !file.md5.bytes().all(|b| b.is_ascii_hexdigit()) {
            return bad(format!("`{name}`: md5 must be 32 hex digits"));
        }
    }
    if let Some(url) = &request.notify_url {
        let parsed = url::Url::parse(url)
            .map_err(|e| ApiError::bad_request("INVALID_REQUEST", format!("notify_url: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return bad("notify_url must be an http or https URL".into());
        }
    }
    if request.fields.len() > 64 || request.fields.iter().any(|(k, v)| k.len() > 64 || v.len() > 4096) {
        return bad("at most 64 fields, names up to 64 bytes, values up to 4096 bytes".into());
    }
    Ok(())
}

fn new_status(
    state: &ApiState,
    request: &CreateUpload,
    version: &str,
    user: &str,
    id: &str,
    expected: Vec<ExpectedUpload>,
) -> AssemblyStatus {
    let now = now_rfc3339();
    AssemblyStatus {
        assembly_id: id.to_owned(),
        ok: Some(AssemblyState::AssemblyUploading),
        error: None,
        message: "Waiting for the uploads".into(),
        failed_step: None,
        template_id: request.template_id.clone(),
        template_version: version.to_owned(),
        branch: state.branch.clone(),
        user: UserRef { user_id: user.to_owned() },
        fields: request.fields.clone(),
        bytes_expected: expected.iter().map(|e| e.size).sum(),
        expected_uploads: expected,
        uploads: Vec::new(),
        results: BTreeMap::new(),
        bytes_received: 0,
        bytes_usage: 0,
        progress: 0.0,
        current_step: None,
        sandbox: String::new(),
        execution_start: None,
        execution_duration: None,
        notify_url: request.notify_url.clone(),
        notify: None,
        created_at: now.clone(),
        updated_at: now,
    }
}

/// The assembly if `user` owns it; 404 otherwise, so ids of others' assemblies leak nothing.
async fn owned(
    state: &ApiState,
    user: &str,
    assembly_id: &str,
) -> Result<crate::backends::Versioned<AssemblyStatus>, ApiError> {
    let missing = || ApiError::not_found("ASSEMBLY_NOT_FOUND", format!("no assembly {assembly_id}"));
    let valid_id =
        assembly_id.len() == 64 && assembly_id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !valid_id {
        return Err(missing());
    }
    match state.backends.statuses.get(assembly_id).await? {
        Some(record) if record.value.user.user_id == user => Ok(record),
        _ => Err(missing()),
    }
}

pub(super) async fn status(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(assembly_id): Path<String>,
) -> Result<Json<AssemblyStatus>, ApiError> {
    let user = state.auth.user(&headers)?;
    Ok(Json(owned(&state, &user, &assembly_id).await?.value))
}

pub(super) async fn cancel(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(assembly_id): Path<String>,
) -> Result<Json<AssemblyStatus>, ApiError> {
    let user = state.auth.user(&headers)?;
    let mut record = owned(&state, &user, &assembly_id).await?;
    // A few tries: a running worker writes progress concurrently.
    for _ in 0..10 {
        if record.value.phase().is_final() {
            return Ok(Json(record.value));
        }
        let mut canceled = record.value.clone();
        canceled.ok = Some(AssemblyState::AssemblyCanceled);
        canceled.message = "The assembly was canceled by its owner.".into();
        canceled.current_step = None;
        canceled.updated_at = now_rfc3339();
        match state.backends.statuses.update(&canceled, record.version).await {
            Ok(_) => return Ok(Json(canceled)),
            Err(crate::backends::BackendError::Conflict(_)) => {
                record = owned(&state, &user, &assembly_id).await?
            }
            Err(error) => return Err(error.into()),
        }
    }
    Err(ApiError::new(StatusCode::CONFLICT, "CONFLICT", "the assembly kept changing; try again"))
}

/// One entry of `GET /api/templates`.
#[derive(Debug, Serialize)]
pub struct TemplateListing {
    /// Template id.
    pub id: String,
    /// What it does.
    pub description: String,
    /// Current version (sha256).
    pub version: String,
    /// Step names in order.
    pub steps: Vec<String>,
    /// Fields it reads.
    pub fields: Vec<crate::template::FieldDescription>,
}

pub(super) async fn templates(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
) -> Result<Json<Vec<TemplateListing>>, ApiError> {
    state.auth.user(&headers)?;
    let listed = state.backends.templates.list().await?;
    Ok(Json(
        listed
            .into_iter()
            .map(|summary| {
                let description = summary.current.description;
                TemplateListing {
                    id: summary.current.id,
                    description: description.description,
                    version: summary.current.sha256,
                    steps: description.steps.into_iter().map(|s| s.name).collect(),
                    fields: description.fields,
                }
            })
            .collect(),
    ))
}
