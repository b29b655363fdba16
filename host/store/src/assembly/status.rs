//! The assembly status document, shaped like Transloadit's so existing clients can poll it.

use super::ErrorCode;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use transflow_ffmpeg::MediaMeta;

/// Where an assembly is in its life. Serialized into the status `ok` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AssemblyState {
    /// Waiting for uploads.
    AssemblyUploading,
    /// Steps are running.
    AssemblyExecuting,
    /// Every step finished; results are ready.
    AssemblyCompleted,
    /// Canceled by its owner.
    AssemblyCanceled,
}

impl AssemblyState {
    /// The state as it appears in status JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            AssemblyState::AssemblyUploading => "ASSEMBLY_UPLOADING",
            AssemblyState::AssemblyExecuting => "ASSEMBLY_EXECUTING",
            AssemblyState::AssemblyCompleted => "ASSEMBLY_COMPLETED",
            AssemblyState::AssemblyCanceled => "ASSEMBLY_CANCELED",
        }
    }
}

/// The owner of an assembly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRef {
    /// The user id from the request (or `local` for `transflow run`).
    pub user_id: String,
}

/// An upload or a result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Upload id, or result id.
    pub id: String,
    /// File name.
    pub name: String,
    /// Name without extension.
    pub basename: String,
    /// Lower-case extension without the dot.
    pub ext: String,
    /// Size in bytes.
    pub size: u64,
    /// MIME type detected from the content.
    pub mime: String,
    /// Lower-case hex MD5 of the content.
    pub md5hash: String,
    /// What ffprobe found; `null` when it is not media.
    pub meta: Option<MediaMeta>,
    /// For results: the upload the result derives from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_id: Option<String>,
    /// For results: the step that made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// Where the file can be fetched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The same over https (Transloadit's meaning), when the file is served over https.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl_url: Option<String>,
}

impl FileRecord {
    /// Points the record at `url`, and its `ssl_url` too when that URL is https.
    pub fn link(&mut self, url: String) {
        self.ssl_url = url.starts_with("https://").then(|| url.clone());
        self.url = Some(url);
    }
}

/// A file announced by create-upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectedUpload {
    /// Upload id (part of the object key).
    pub upload_id: String,
    /// File name as the client gave it.
    pub name: String,
    /// Declared size in bytes.
    pub size: u64,
    /// Declared lower-case hex MD5.
    pub md5: String,
    /// Declared content type.
    pub mime: String,
    /// Whether the upload has arrived and matched its declaration.
    pub received: bool,
}

/// How the attempt before the current one ended; kept so a re-run does not hide why it was
/// needed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousAttempt {
    /// Its attempt number.
    pub attempt: u32,
    /// `ASSEMBLY_CANCELED`, or the error code it failed with.
    pub outcome: String,
    /// Its status message.
    pub message: String,
    /// The step that failed, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_step: Option<String>,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// When it ended (RFC 3339).
    pub ended_at: String,
}

/// Where one step is in its run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    /// Its instance runs now.
    Running,
    /// It ended and its results are kept.
    Completed,
    /// It failed; the assembly's `error` and `message` say why.
    Failed,
    /// It was stopped because a step running beside it failed.
    Stopped,
}

/// How one step ran: Transflow's addition to the Transloadit shape, since several steps may run
/// at once and `current_step` can name only one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Where it is.
    pub state: StepState,
    /// When its instance started (RFC 3339).
    pub started_at: String,
    /// When it ended (RFC 3339), once it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    /// Seconds from start to end, once it has ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    /// Its own progress in percent (0–100); 100 once completed.
    pub progress: f32,
}

impl StepRecord {
    /// A step starting `now`.
    pub fn started(now: time::OffsetDateTime) -> StepRecord {
        StepRecord {
            state: StepState::Running,
            started_at: rfc3339(now.into()),
            ended_at: None,
            duration: None,
            progress: 0.0,
        }
    }

    /// Ends the step in `state` at `now`, with its duration in seconds (to the millisecond).
    pub fn end(&mut self, state: StepState, now: time::OffsetDateTime) {
        self.state = state;
        self.ended_at = Some(rfc3339(now.into()));
        let started =
            time::OffsetDateTime::parse(&self.started_at, &time::format_description::well_known::Rfc3339);
        self.duration =
            started.ok().map(|started| ((now - started).as_seconds_f64() * 1000.0).round() / 1000.0);
    }
}

/// The status JSON of one assembly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssemblyStatus {
    /// Deterministic id, see [`crate::assembly::assembly_id`].
    pub assembly_id: String,
    /// Where the status can be polled, absolute; absent for `transflow run`, which has no
    /// server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assembly_url: Option<String>,
    /// [`AssemblyStatus::assembly_url`] when the server is reached over https.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assembly_ssl_url: Option<String>,
    /// 1 for the first run; a failed, canceled or expired assembly announced again runs as the
    /// next attempt under the same id.
    #[serde(default = "first_attempt")]
    pub attempt: u32,
    /// How the previous attempt ended, from the second attempt on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_attempt: Option<PreviousAttempt>,
    /// The state while things go well; absent once `error` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ok: Option<AssemblyState>,
    /// The error code once the assembly failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorCode>,
    /// A sentence for people: what happened and, on failure, which step and what to do.
    pub message: String,
    /// The step that failed, when one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_step: Option<String>,
    /// Template id.
    pub template_id: String,
    /// Template version: the sha256 of its component.
    pub template_version: String,
    /// Branch the assembly belongs to.
    pub branch: String,
    /// Owner.
    pub user: UserRef,
    /// The assembly's user fields.
    pub fields: BTreeMap<String, String>,
    /// The files create-upload announced, each marked once it has arrived; the assembly runs
    /// when all have. Empty for `transflow run`, which has its files at hand.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expected_uploads: Vec<ExpectedUpload>,
    /// Uploaded files.
    pub uploads: Vec<FileRecord>,
    /// Results by step name.
    pub results: BTreeMap<String, Vec<FileRecord>>,
    /// Bytes the uploads will have.
    pub bytes_expected: u64,
    /// Bytes received so far.
    pub bytes_received: u64,
    /// Bytes of uploads and results together.
    pub bytes_usage: u64,
    /// Overall progress in percent (0–100).
    pub progress: f32,
    /// A step running now: the first of [`AssemblyStatus::current_steps`] in the template's
    /// order (the only one when steps run one at a time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_step: Option<String>,
    /// Every step running now, in the template's order: independent steps run side by side.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub current_steps: Vec<String>,
    /// Each step that has started, by name: state, start, end, duration and progress.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub steps: BTreeMap<String, StepRecord>,
    /// How ffmpeg was isolated: `bubblewrap` or `none`.
    pub sandbox: String,
    /// When execution started (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_start: Option<String>,
    /// Seconds from the attempt's creation until its run started, all uploads present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_duration: Option<f64>,
    /// Seconds from execution start to the end (or to now, while running).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_duration: Option<f64>,
    /// Where the status is posted when the assembly ends (besides the template's webhook).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_url: Option<String>,
    /// How the webhook delivery went, once attempted.
    #[serde(default, flatten, skip_serializing_if = "Option::is_none")]
    pub notify: Option<crate::notify::NotifyRecord>,
    /// When this attempt was created (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

fn first_attempt() -> u32 {
    1
}

impl AssemblyStatus {
    /// A new assembly's first attempt, waiting for its uploads; callers set what they know more.
    pub fn new(
        assembly_id: String,
        template_id: String,
        template_version: String,
        branch: String,
        user_id: String,
        fields: BTreeMap<String, String>,
    ) -> AssemblyStatus {
        let now = now_rfc3339();
        AssemblyStatus {
            assembly_id,
            assembly_url: None,
            assembly_ssl_url: None,
            attempt: first_attempt(),
            previous_attempt: None,
            ok: Some(AssemblyState::AssemblyUploading),
            error: None,
            message: "Waiting for the uploads".into(),
            failed_step: None,
            template_id,
            template_version,
            branch,
            user: UserRef { user_id },
            fields,
            expected_uploads: Vec::new(),
            uploads: Vec::new(),
            results: BTreeMap::new(),
            bytes_expected: 0,
            bytes_received: 0,
            bytes_usage: 0,
            progress: 0.0,
            current_step: None,
            current_steps: Vec::new(),
            steps: BTreeMap::new(),
            sandbox: String::new(),
            execution_start: None,
            upload_duration: None,
            execution_duration: None,
            notify_url: None,
            notify: None,
            created_at: now.clone(),
            updated_at: now,
        }
    }

    /// The next attempt of this ended assembly: a fresh status that remembers how this one
    /// ended. `next` is the new attempt as create-upload builds it.
    pub fn next_attempt(&self, mut next: AssemblyStatus) -> AssemblyStatus {
        let outcome = match (self.error, self.ok) {
            (Some(code), _) => code.as_str().to_owned(),
            (None, Some(state)) => state.as_str().to_owned(),
            (None, None) => String::new(),
        };
        next.attempt = self.attempt + 1;
        next.previous_attempt = Some(PreviousAttempt {
            attempt: self.attempt,
            outcome,
            message: self.message.clone(),
            failed_step: self.failed_step.clone(),
            created_at: self.created_at.clone(),
            ended_at: self.updated_at.clone(),
        });
        next
    }

    /// Whether the assembly has ended (completed, canceled or failed).
    pub fn is_finished(&self) -> bool {
        self.phase().is_final()
    }

    /// Where the assembly is in its life; see [`Phase::may_become`].
    pub fn phase(&self) -> Phase {
        Phase::of(self.error, self.ok)
    }

    /// Marks the announced upload `upload_id` received with `size` bytes, once; when it was
    /// the last one missing, the message says the run is next. Returns whether anything changed.
    pub fn mark_received(&mut self, upload_id: &str, size: u64) -> bool {
        let Some(expected) =
            self.expected_uploads.iter_mut().find(|e| e.upload_id == upload_id && !e.received)
        else {
            return false;
        };
        expected.received = true;
        self.bytes_received += size;
        if self.phase() == Phase::Uploading && self.expected_uploads.iter().all(|e| e.received) {
            self.message = "All uploads have arrived; waiting for a worker".into();
        }
        true
    }

    /// No step runs any more (the assembly was canceled, or a step beside them failed): the
    /// current steps are cleared and each step still running is marked stopped, ended `now`.
    pub fn stop_running_steps(&mut self, now: time::OffsetDateTime) {
        self.current_step = None;
        self.current_steps.clear();
        for step in self.steps.values_mut().filter(|step| step.state == StepState::Running) {
            step.end(StepState::Stopped, now);
        }
    }

    /// Marks the assembly failed in `step` with `code` and a message for people.
    pub fn fail(&mut self, code: ErrorCode, step: Option<&str>, message: String) {
        self.ok = None;
        self.error = Some(code);
        self.failed_step = step.map(str::to_owned);
        self.message = message;
    }
}

/// The state machine: `Uploading → Executing → Completed`, with `Failed` and `Canceled`
/// reachable from both live phases. Ended phases are final, so a redelivered job or a late
/// progress write can never move an assembly backwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// `ASSEMBLY_UPLOADING`.
    Uploading,
    /// `ASSEMBLY_EXECUTING`.
    Executing,
    /// `ASSEMBLY_COMPLETED`.
    Completed,
    /// `ASSEMBLY_CANCELED`.
    Canceled,
    /// An error code is set.
    Failed,
}

impl Phase {
    /// The phase of a status whose `error` and `ok` fields are these: readers that decode only
    /// those fields of a stored document tell its phase the same way.
    pub fn of(error: Option<ErrorCode>, ok: Option<AssemblyState>) -> Phase {
        match (error, ok) {
            (Some(_), _) => Phase::Failed,
            (None, Some(AssemblyState::AssemblyCompleted)) => Phase::Completed,
            (None, Some(AssemblyState::AssemblyCanceled)) => Phase::Canceled,
            (None, Some(AssemblyState::AssemblyExecuting)) => Phase::Executing,
            (None, Some(AssemblyState::AssemblyUploading) | None) => Phase::Uploading,
        }
    }

    /// Whether an assembly in this phase may be written in phase `next`.
    pub fn may_become(self, next: Phase) -> bool {
        use Phase::*;
        match self {
            Uploading => true,
            Executing => next != Uploading,
            Completed | Canceled | Failed => false,
        }
    }

    /// Whether the assembly has ended.
    pub fn is_final(self) -> bool {
        matches!(self, Phase::Completed | Phase::Canceled | Phase::Failed)
    }
}

/// Now, as RFC 3339 in UTC.
pub fn now_rfc3339() -> String {
    rfc3339(std::time::SystemTime::now())
}

/// `time` as RFC 3339 in UTC, as statuses and upload targets report times.
pub fn rfc3339(time: std::time::SystemTime) -> String {
    time::OffsetDateTime::from(time)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| String::from("1970-01-01T00:00:00Z"))
}

#[cfg(test)]
mod tests {
    use super::FileRecord;
    use super::Phase::{self, *};

    #[test]
    fn ssl_url_is_set_only_for_https_urls() {
        let mut record = FileRecord {
            id: "r".into(),
            name: "a.jpg".into(),
            basename: "a".into(),
            ext: "jpg".into(),
            size: 1,
            mime: "image/jpeg".into(),
            md5hash: String::new(),
            meta: None,
            original_id: None,
            step: None,
            url: None,
            ssl_url: Some("https://stale".into()),
        };
        record.link("http://127.0.0.1:8080/r/T/outputs/main/a/s/a.jpg".into());
        assert_eq!(
            (record.url.as_deref(), record.ssl_url.as_deref()),
            (Some("http://127.0.0.1:8080/r/T/outputs/main/a/s/a.jpg"), None)
        );
        record.link("https://media.example.com/r/T/outputs/main/a/s/a.jpg".into());
        assert_eq!(record.ssl_url, record.url);
        assert!(record.ssl_url.as_deref().is_some_and(|url| url.starts_with("https://")));
        record.link("file:///tmp/outputs/main/a/s/a.jpg".into());
        assert_eq!(record.ssl_url, None);
    }

    #[test]
    fn phases_never_regress() {
        let all = [Uploading, Executing, Completed, Canceled, Failed];
        let allowed = |from: Phase| all.into_iter().filter(|to| from.may_become(*to)).collect::<Vec<_>>();
        assert_eq!(allowed(Uploading), all);
        assert_eq!(allowed(Executing), [Executing, Completed, Canceled, Failed]);
        for ended in [Completed, Canceled, Failed] {
            assert!(allowed(ended).is_empty(), "{ended:?} is final");
            assert!(ended.is_final());
        }
    }
}
