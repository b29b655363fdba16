//! Assemblies: create-upload, status, cancel, and the template list.

use super::{ApiError, ApiState};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;
use transflow_store::assembly::{
    AssemblyState, AssemblyStatus, ErrorCode, ExpectedUpload, Phase, UserRef, assembly_id, file_id,
    now_rfc3339, upload_scope,
};
use transflow_store::backends::{BackendError, BlobSpec, Created, UploadTarget};
use transflow_store::keys::{UploadKey, outputs_prefix};

/// `POST /api/create-upload` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUpload {
    /// The published template to run; an id with no published version is refused.
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
    /// The file's name as the user has it: the last segment of its upload key, 1–255 bytes
    /// without `/`, `\` or control characters.
    pub name: String,
    /// Exact size in bytes.
    pub size: u64,
    /// Content type; it must be allowed by `limits.allowed_types` and is signed into the
    /// upload target, so the upload must send it.
    pub mime: String,
    /// Lower-case hex MD5 of the content.
    pub md5: String,
}

/// `POST /api/create-upload` response.
#[derive(Debug, Serialize)]
pub struct UploadPlan {
    /// The assembly's deterministic id.
    pub assembly_id: String,
    /// Where to poll, relative to this server.
    pub status_url: String,
    /// Where to poll, absolute (Transloadit's name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assembly_url: Option<String>,
    /// [`UploadPlan::assembly_url`] when this server is reached over https.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assembly_ssl_url: Option<String>,
    /// The attempt the targets belong to.
    pub attempt: u32,
    /// One target per announced file, in the order of the request; empty when the assembly
    /// is running or has completed.
    pub uploads: Vec<PlannedUpload>,
    /// The status, when the assembly exists already and is past uploading.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<AssemblyStatus>,
}

/// Where one file goes.
#[derive(Debug, Serialize)]
pub struct PlannedUpload {
    /// Upload id: derived from the assembly, the attempt and the file, so announcing the same
    /// files again within an attempt gives the same targets.
    pub upload_id: String,
    /// The announced file's name, for people reading the plan: clients pair targets with files
    /// by position, since two files may share a name.
    pub name: String,
    /// The signed request to make.
    #[serde(flatten)]
    pub target: UploadTarget,
}

/// Writes that lose a compare-and-set to a concurrent create-upload of the same assembly are
/// retried this often before the client is asked to try again.
const CREATE_ATTEMPTS: usize = 5;

pub(super) async fn create_upload(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    request: Result<Json<CreateUpload>, JsonRejection>,
) -> Result<(StatusCode, Json<UploadPlan>), ApiError> {
    let user = state.auth.user(&headers)?;
    let Json(request) = request.map_err(|e| ApiError::bad_request("INVALID_REQUEST", e.body_text()))?;
    check_request(&state, &request).await?;
    let Some(template) = state.backends.templates.current(&request.template_id).await? else {
        return Err(ApiError::not_found(
            "TEMPLATE_NOT_FOUND",
            format!("no template `{}`; GET /api/templates lists them", request.template_id),
        ));
    };
    let md5s: Vec<String> = request.files.iter().map(|f| f.md5.to_ascii_lowercase()).collect();
    let id = assembly_id(&md5s, &request.template_id, &user, &state.branch, &request.fields);
    let mut fresh = AssemblyStatus::new(
        id.clone(),
        request.template_id.clone(),
        template.sha256.clone(),
        state.branch.clone(),
        user.clone(),
        request.fields.clone(),
    );
    fresh.notify_url = request.notify_url.clone();
    (fresh.assembly_url, fresh.assembly_ssl_url) = assembly_urls(&state, &id);
    let announced = announcement(&request.files);
    let mut stored = None;
    for _ in 0..CREATE_ATTEMPTS {
        fresh.expected_uploads = expected_uploads(&id, fresh.attempt, &announced);
        fresh.bytes_expected = announced.iter().map(|(_, file)| file.size).sum();
        let existing = match state.backends.statuses.create(&fresh).await? {
            Created::New => {
                stored = Some(fresh.clone());
                break;
            }
            Created::Existing(existing) => *existing,
        };
        let now = SystemTime::now();
        let current = existing.value;
        let renew = match current.phase() {
            Phase::Executing | Phase::Completed => {
                let plan = UploadPlan::of(&current, Vec::new());
                return Ok((StatusCode::OK, Json(UploadPlan { status: Some(current), ..plan })));
            }
            Phase::Uploading if !state.retention.is_expired(&current, now) => {
                !same_announcement(&current, &fresh)
            }
            Phase::Uploading | Phase::Failed | Phase::Canceled => true,
        };
        if !renew {
            stored = Some(current);
            break;
        }
        let ended = state.retention.as_seen(current.clone(), now);
        let mut next = ended.next_attempt(fresh.clone());
        next.expected_uploads = expected_uploads(&id, next.attempt, &announced);
        match state.backends.statuses.update(&next, existing.version).await {
            Ok(_) => {
                remove_attempt_files(&state, &current).await?;
                stored = Some(next);
                break;
            }
            Err(BackendError::Conflict(_)) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    let Some(stored) = stored else {
        return Err(ApiError::new(StatusCode::CONFLICT, "CONFLICT", "the assembly kept changing; try again"));
    };
    let uploads = plan_uploads(&state, &stored, &announced, &user).await?;
    Ok((StatusCode::CREATED, Json(UploadPlan::of(&stored, uploads))))
}

impl UploadPlan {
    /// The plan for `status`'s attempt with these targets, without the status itself.
    fn of(status: &AssemblyStatus, uploads: Vec<PlannedUpload>) -> UploadPlan {
        UploadPlan {
            assembly_id: status.assembly_id.clone(),
            status_url: status_path(&status.assembly_id),
            assembly_url: status.assembly_url.clone(),
            assembly_ssl_url: status.assembly_ssl_url.clone(),
            attempt: status.attempt,
            uploads,
            status: None,
        }
    }
}

fn status_path(id: &str) -> String {
    format!("/api/status/{id}")
}

/// The absolute status URL, and the same when it is https (Transloadit's `ssl_url` pair).
fn assembly_urls(state: &ApiState, id: &str) -> (Option<String>, Option<String>) {
    let Some(base) = &state.public_url else { return (None, None) };
    let url = format!("{base}{}", status_path(id));
    let ssl = url.starts_with("https://").then(|| url.clone());
    (Some(url), ssl)
}

/// The announced files with their position in the request, in MD5 order: upload ids follow
/// the content, not the order the client happened to list the files in.
fn announcement(files: &[AnnouncedFile]) -> Vec<(usize, AnnouncedFile)> {
    let mut ordered: Vec<(usize, AnnouncedFile)> = files.iter().cloned().enumerate().collect();
    ordered.sort_by(|(_, a), (_, b)| {
        (a.md5.to_ascii_lowercase(), &a.name, a.size, &a.mime).cmp(&(
            b.md5.to_ascii_lowercase(),
            &b.name,
            b.size,
            &b.mime,
        ))
    });
    ordered
}

fn expected_uploads(id: &str, attempt: u32, announced: &[(usize, AnnouncedFile)]) -> Vec<ExpectedUpload> {
    announced
        .iter()
        .enumerate()
        .map(|(index, (_, file))| ExpectedUpload {
            upload_id: file_id(id, &upload_scope(attempt, index), &file.name),
            name: file.name.clone(),
            size: file.size,
            md5: file.md5.to_ascii_lowercase(),
            mime: file.mime.clone(),
            received: false,
        })
        .collect()
}

/// Whether a stored attempt still waiting for uploads was announced exactly like `fresh`:
/// then the client is retrying and gets the same targets. Anything else (a corrected size or
/// type, another notify URL) is a new announcement and starts a new attempt, whose upload
/// ids differ, so the old targets stop counting.
fn same_announcement(stored: &AssemblyStatus, fresh: &AssemblyStatus) -> bool {
    let declared = |status: &AssemblyStatus| {
        status
            .expected_uploads
            .iter()
            .map(|e| (e.name.clone(), e.size, e.md5.clone(), e.mime.clone()))
            .collect::<Vec<_>>()
    };
    declared(stored) == declared(fresh) && stored.notify_url == fresh.notify_url
}

/// Removes what an ended or replaced attempt left: its uploads (by upload id, so the new
/// attempt's are never touched) and any partial results.
async fn remove_attempt_files(state: &ApiState, ended: &AssemblyStatus) -> Result<(), ApiError> {
    let prefix = UploadKey::assembly_prefix(&ended.branch, &ended.assembly_id);
    for expected in &ended.expected_uploads {
        state.backends.blobs.delete_prefix(&format!("{prefix}{}/", expected.upload_id)).await?;
    }
    state.backends.blobs.delete_prefix(&outputs_prefix(&ended.branch, &ended.assembly_id)).await?;
    Ok(())
}

/// One signed target per announced file, in the order of the request.
async fn plan_uploads(
    state: &ApiState,
    stored: &AssemblyStatus,
    announced: &[(usize, AnnouncedFile)],
    user: &str,
) -> Result<Vec<PlannedUpload>, ApiError> {
    let mut planned: Vec<(usize, PlannedUpload)> = Vec::with_capacity(announced.len());
    for ((position, _), expected) in announced.iter().zip(&stored.expected_uploads) {
        let key = UploadKey {
            branch: stored.branch.clone(),
            assembly_id: stored.assembly_id.clone(),
            upload_id: expected.upload_id.clone(),
            name: expected.name.clone(),
        }
        .key();
        let spec = BlobSpec {
            size: Some(expected.size),
            md5: Some(expected.md5.clone()),
            content_type: expected.mime.clone(),
            metadata: BTreeMap::from([
                ("assembly-id".to_owned(), stored.assembly_id.clone()),
                ("template-id".to_owned(), stored.template_id.clone()),
                ("user".to_owned(), user.to_owned()),
                ("branch".to_owned(), stored.branch.clone()),
            ]),
        };
        let target = state.backends.blobs.presign_put(&key, &spec, state.upload_url_ttl).await?;
        let upload =
            PlannedUpload { upload_id: expected.upload_id.clone(), name: expected.name.clone(), target };
        planned.push((*position, upload));
    }
    planned.sort_by_key(|(position, _)| *position);
    Ok(planned.into_iter().map(|(_, upload)| upload).collect())
}

async fn check_request(state: &ApiState, request: &CreateUpload) -> Result<(), ApiError> {
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
            || name.contains(['/', '\\'])
            || name.chars().any(char::is_control)
        {
            return bad(format!(
                "file name {:?} must be 1–255 bytes without `/`, `\\` or control characters",
                name
            ));
        }
        if file.mime.chars().any(char::is_control) {
            return bad(format!("`{name}`: the type {:?} has control characters", file.mime));
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
    if request.fields.len() > 64 || request.fields.iter().any(|(k, v)| k.len() > 64 || v.len() > 4096) {
        return bad("at most 64 fields, names up to 64 bytes, values up to 4096 bytes".into());
    }
    if let Some(url) = &request.notify_url {
        state
            .webhook_policy
            .check_target(url)
            .await
            .map_err(|reason| ApiError::bad_request("INVALID_NOTIFY_URL", format!("notify_url: {reason}")))?;
    }
    Ok(())
}

/// Whether `assembly_id` can name an assembly: 64 lower-case hex digits. Others are not looked up.
fn valid_id(assembly_id: &str) -> bool {
    assembly_id.len() == 64 && assembly_id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The 404 of an assembly the caller does not own or that does not exist: the two look the
/// same, so ids of others' assemblies leak nothing.
fn not_found(assembly_id: &str) -> ApiError {
    ApiError::not_found("ASSEMBLY_NOT_FOUND", format!("no assembly {assembly_id}"))
}

/// The assembly if `user` owns it; 404 otherwise.
async fn owned(
    state: &ApiState,
    user: &str,
    assembly_id: &str,
) -> Result<transflow_store::backends::Versioned<AssemblyStatus>, ApiError> {
    if !valid_id(assembly_id) {
        return Err(not_found(assembly_id));
    }
    match state.backends.statuses.get(assembly_id).await? {
        Some(record) if record.value.user.user_id == user => Ok(record),
        _ => Err(not_found(assembly_id)),
    }
}

/// What the status route reads of a stored document before answering with it as it is.
#[derive(Deserialize)]
struct StoredHead {
    user: UserRef,
    ok: Option<AssemblyState>,
    error: Option<ErrorCode>,
}

/// `GET /api/status/{id}`: the stored document, byte for byte what serializing the decoded
/// status gives (the store writes it with the same serializer), so the route decodes only its
/// owner and phase. An attempt still waiting for its uploads is the exception: it may have
/// expired meanwhile, and then reads as [`Retention::as_seen`](crate::retention::Retention)
/// makes it.
pub(super) async fn status(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(assembly_id): Path<String>,
) -> Result<Response, ApiError> {
    let user = state.auth.user(&headers)?;
    if !valid_id(&assembly_id) {
        return Err(not_found(&assembly_id));
    }
    let Some(json) = state.backends.statuses.get_json(&assembly_id).await? else {
        return Err(not_found(&assembly_id));
    };
    let undecodable =
        |e: serde_json::Error| BackendError::io(format!("decoding the status of assembly {assembly_id}"), e);
    let head: StoredHead = serde_json::from_str(&json).map_err(undecodable)?;
    if head.user.user_id != user {
        return Err(not_found(&assembly_id));
    }
    if Phase::of(head.error, head.ok) == Phase::Uploading {
        let status = serde_json::from_str(&json).map_err(undecodable)?;
        return Ok(Json(state.retention.as_seen(status, SystemTime::now())).into_response());
    }
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], json).into_response())
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
        let seen = state.retention.as_seen(record.value.clone(), SystemTime::now());
        if seen.phase().is_final() {
            return Ok(Json(seen));
        }
        let mut canceled = record.value.clone();
        canceled.ok = Some(AssemblyState::AssemblyCanceled);
        canceled.message = "The assembly was canceled by its owner.".into();
        canceled.stop_running_steps(time::OffsetDateTime::now_utc());
        canceled.updated_at = now_rfc3339();
        match state.backends.statuses.update(&canceled, record.version).await {
            Ok(_) => {
                state.notifier.assembly_ended(&canceled);
                return Ok(Json(canceled));
            }
            Err(transflow_store::backends::BackendError::Conflict(_)) => {
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
    /// The id create-upload takes as `template_id`.
    pub id: String,
    /// What it does.
    pub description: String,
    /// Current version (sha256).
    pub version: String,
    /// Step names in order.
    pub steps: Vec<String>,
    /// Fields it reads.
    pub fields: Vec<transflow_store::template::FieldDescription>,
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
