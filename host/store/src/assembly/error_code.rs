//! The documented error codes an assembly can end with.

use serde::{Deserialize, Serialize};

/// Why an assembly failed. Serialized as `SCREAMING_SNAKE_CASE` in the status `error` field;
/// the status `message` names the step and says what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// No template with that id (or file) exists.
    TemplateNotFound,
    /// The template is not a component of the `transflow:template` world, its `describe()`
    /// failed, or its steps do not form a valid graph.
    TemplateInvalid,
    /// An input is empty, corrupt or not media.
    InputInvalid,
    /// A user field has a value the template rejects.
    InvalidField,
    /// The template passed ffmpeg an argument the host's policy refuses.
    ArgumentRefused,
    /// ffmpeg or ffprobe ran and failed.
    FfmpegFailed,
    /// The template's step failed by its own logic.
    StepFailed,
    /// A step ran past its wall-clock limit.
    StepTimeout,
    /// A step used more memory than its limit.
    MemoryLimit,
    /// A step exceeded another per-job limit: host calls, handles, output size or count.
    ResourceLimit,
    /// The template trapped (a panic or an invalid operation).
    TemplateTrapped,
    /// The host failed; not the template's or the input's fault.
    InternalError,
    /// The announced uploads did not all arrive in time; announcing the files again starts a
    /// new attempt.
    UploadExpired,
    /// Processing failed on every delivery of the job (a storage outage, or a worker that
    /// crashed each time); the job was set aside in the dead-letter queue.
    RetriesExhausted,
}

impl ErrorCode {
    /// The code as it appears in status JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::TemplateNotFound => "TEMPLATE_NOT_FOUND",
            ErrorCode::TemplateInvalid => "TEMPLATE_INVALID",
            ErrorCode::InputInvalid => "INPUT_INVALID",
            ErrorCode::InvalidField => "INVALID_FIELD",
            ErrorCode::ArgumentRefused => "ARGUMENT_REFUSED",
            ErrorCode::FfmpegFailed => "FFMPEG_FAILED",
            ErrorCode::StepFailed => "STEP_FAILED",
            ErrorCode::StepTimeout => "STEP_TIMEOUT",
            ErrorCode::MemoryLimit => "MEMORY_LIMIT",
            ErrorCode::ResourceLimit => "RESOURCE_LIMIT",
            ErrorCode::TemplateTrapped => "TEMPLATE_TRAPPED",
            ErrorCode::InternalError => "INTERNAL_ERROR",
            ErrorCode::UploadExpired => "UPLOAD_EXPIRED",
            ErrorCode::RetriesExhausted => "RETRIES_EXHAUSTED",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn serde_matches_as_str() {
        for code in [ErrorCode::TemplateNotFound, ErrorCode::FfmpegFailed, ErrorCode::UploadExpired] {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }
}
