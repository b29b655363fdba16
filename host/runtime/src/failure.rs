//! What a failed step becomes in the status: every trap, guest error and host failure mapped to
//! a documented error code and a message a user can act on. The trap markers themselves are in
//! [`crate::traps`].

use crate::bindings::{GuestError, StepError};
use crate::traps::{HostFault, HostcallBudgetExhausted, MemoryLimitExceeded, StepTimedOut};
use transflow_store::assembly::ErrorCode;

/// A step ended in failure.
#[derive(Debug)]
pub(crate) struct StepFailure {
    /// The documented error code.
    pub(crate) code: ErrorCode,
    /// What went wrong, as the status shows it.
    pub(crate) message: String,
}

/// A host I/O failure while running a step.
pub(crate) fn internal(error: impl std::fmt::Display) -> StepFailure {
    StepFailure { code: ErrorCode::InternalError, message: format!("host I/O failed: {error}") }
}

/// Maps a trap (or instantiation failure) to an error code, using the guest's stderr for panics.
pub(crate) fn classify_trap(
    trap: &wasmtime::Error,
    guest_stderr: &str,
    limits: &crate::limits::JobLimits,
    timeout: impl Fn() -> StepFailure,
) -> StepFailure {
    let failure = |code, message: String| StepFailure { code, message };
    if trap.is::<StepTimedOut>() {
        return timeout();
    }
    if let Some(memory) = trap.downcast_ref::<MemoryLimitExceeded>() {
        return failure(ErrorCode::MemoryLimit, format!("{memory}; the template ran out of memory"));
    }
    if let Some(budget) = trap.downcast_ref::<HostcallBudgetExhausted>() {
        return failure(ErrorCode::ResourceLimit, budget.to_string());
    }
    if trap.is::<wasmtime::component::ResourceTableError>() {
        return failure(
            ErrorCode::ResourceLimit,
            format!("the template opened more than {} handles", limits.resource_handles),
        );
    }
    if let Some(fault) = trap.downcast_ref::<HostFault>() {
        return failure(ErrorCode::InternalError, fault.0.clone());
    }
    if let Some(io) = trap.downcast_ref::<std::io::Error>() {
        return failure(ErrorCode::InternalError, format!("host I/O failed: {io}"));
    }
    let detail = last_stderr_message(guest_stderr).unwrap_or_else(|| trap.to_string());
    failure(ErrorCode::TemplateTrapped, format!("the template crashed: {detail}"))
}

/// The last meaningful line a crashing guest wrote. A Rust panic prints its message after the
/// `panicked at` line and then a `note:` about backtraces; a JavaScript one (StarlingMonkey)
/// prints the exception, then `Stack:` with indented frames, then a line about `abort()`.
/// None of those trailers says anything about the cause.
fn last_stderr_message(stderr: &str) -> Option<String> {
    const TRAILERS: [&str; 3] = ["note:", "Stack:", "Redirecting call to abort()"];
    stderr
        .lines()
        .rev()
        .filter(|l| !l.starts_with([' ', '\t']))
        .map(str::trim)
        .find(|l| !l.is_empty() && !TRAILERS.iter().any(|t| l.starts_with(t)) && !l.contains("panicked at"))
        .map(str::to_owned)
}

pub(crate) fn classify_step_error(error: StepError) -> StepFailure {
    let (code, message) = match error {
        StepError::Host(GuestError::ToolFailed(failure)) => {
            let on = failure.input.map_or(String::new(), |input| format!(" on `{input}`"));
            let exit = failure.exit_code.map_or("was killed".to_owned(), |c| format!("exited with code {c}"));
            (ErrorCode::FfmpegFailed, format!("{}{on} {exit}: {}", failure.tool, failure.stderr_tail.trim()))
        }
        StepError::Host(GuestError::ArgumentRefused(refused)) => (
            ErrorCode::ArgumentRefused,
            format!("ffmpeg argument `{}` was refused: {}", refused.argument, refused.reason),
        ),
        StepError::Host(GuestError::BadInput(bad)) => {
            (ErrorCode::InputInvalid, format!("input `{}` cannot be processed: {}", bad.input, bad.reason))
        }
        StepError::Host(GuestError::LimitExceeded(message)) => (ErrorCode::ResourceLimit, message),
        StepError::Host(GuestError::NotFound(message) | GuestError::InvalidRequest(message)) => {
            (ErrorCode::StepFailed, message)
        }
        StepError::InvalidField(field) => (
            ErrorCode::InvalidField,
            format!(
                "field `{}` is {}; expected {}",
                field.field,
                quoted_prefix(&field.value),
                field.expected
            ),
        ),
        StepError::Failed(message) => (ErrorCode::StepFailed, message),
    };
    StepFailure { code, message }
}

/// Bytes of a bad field value quoted in its error: enough to recognise it, never a 4 KB echo.
const QUOTED_VALUE_BYTES: usize = 40;

/// `value` in backticks, cut to [`QUOTED_VALUE_BYTES`] on a character boundary with its full
/// length noted when longer.
fn quoted_prefix(value: &str) -> String {
    if value.len() <= QUOTED_VALUE_BYTES {
        return format!("`{value}`");
    }
    let end = (0..=QUOTED_VALUE_BYTES).rev().find(|&i| value.is_char_boundary(i)).unwrap_or(0);
    format!("`{}…` ({} bytes)", &value[..end], value.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::transflow::template::types::{BadInput, RefusedArgument, ToolFailure};

    #[test]
    fn a_crash_is_described_by_its_cause_not_its_trailers() {
        let rust = "thread '<unnamed>' panicked at src/lib.rs:9:5:\nindex out of bounds\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(last_stderr_message(rust).as_deref(), Some("index out of bounds"));
        let javascript = "TypeError: raw failure in only\nStack:\n  runStep@initializer.js:1496:17\n\nRedirecting call to abort() to mozalloc_abort\n";
        assert_eq!(last_stderr_message(javascript).as_deref(), Some("TypeError: raw failure in only"));
        assert_eq!(last_stderr_message("\n  \n"), None);
    }

    /// The table in `traps`: each marker becomes its documented code and message.
    #[test]
    fn trap_markers_become_their_documented_codes() {
        let limits = crate::limits::JobLimits::default();
        let timeout = || StepFailure { code: ErrorCode::StepTimeout, message: "late".into() };
        let classify = |trap: wasmtime::Error| {
            let failure = classify_trap(&trap, "", &limits, timeout);
            (failure.code, failure.message)
        };
        assert_eq!(classify(wasmtime::Error::new(StepTimedOut)), (ErrorCode::StepTimeout, "late".into()));
        let memory = MemoryLimitExceeded { requested: 2048, limit: 1024 };
        assert_eq!(
            classify(wasmtime::Error::new(memory)),
            (
                ErrorCode::MemoryLimit,
                "the template tried to grow its memory to 2048 bytes; the limit is 1024 bytes; the template \
                 ran out of memory"
                    .into()
            )
        );
        assert_eq!(
            classify(wasmtime::Error::new(HostcallBudgetExhausted(20))),
            (ErrorCode::ResourceLimit, "the template made more than 20 host calls in one step".into())
        );
        assert_eq!(
            classify(wasmtime::Error::new(HostFault("ffmpeg is gone".into()))),
            (ErrorCode::InternalError, "ffmpeg is gone".into())
        );
        let io = std::io::Error::other("disk on fire");
        assert_eq!(
            classify(wasmtime::Error::new(io)),
            (ErrorCode::InternalError, "host I/O failed: disk on fire".into())
        );
    }

    #[test]
    fn step_errors_map_to_documented_codes() {
        let tool = classify_step_error(StepError::Host(GuestError::ToolFailed(ToolFailure {
            tool: "ffmpeg".into(),
            exit_code: Some(1),
            stderr_tail: "in/x/a.mp4: Invalid data found when processing input".into(),
            input: Some("a.mp4".into()),
        })));
        assert_eq!(tool.code, ErrorCode::FfmpegFailed);
        assert_eq!(
            tool.message,
            "ffmpeg on `a.mp4` exited with code 1: in/x/a.mp4: Invalid data found when processing input"
        );
        let refused = classify_step_error(StepError::Host(GuestError::ArgumentRefused(RefusedArgument {
            argument: "/etc/passwd".into(),
            reason: "absolute paths are not allowed".into(),
        })));
        assert_eq!(refused.code, ErrorCode::ArgumentRefused);
        let bad = classify_step_error(StepError::Host(GuestError::BadInput(BadInput {
            input: "x.mp4".into(),
            reason: "empty file".into(),
        })));
        assert_eq!(
            (bad.code, bad.message.as_str()),
            (ErrorCode::InputInvalid, "input `x.mp4` cannot be processed: empty file")
        );
        assert_eq!(classify_step_error(StepError::Failed("nope".into())).code, ErrorCode::StepFailed);
    }

    #[test]
    fn a_bad_field_value_is_quoted_by_a_short_prefix() {
        let invalid = |value: &str| {
            classify_step_error(StepError::InvalidField(
                crate::bindings::exports::transflow::template::pipeline::InvalidField {
                    field: "count".into(),
                    value: value.into(),
                    expected: "an integer from 1 to 20".into(),
                },
            ))
        };
        let short = invalid("x");
        assert_eq!(short.code, ErrorCode::InvalidField);
        assert_eq!(short.message, "field `count` is `x`; expected an integer from 1 to 20");
        let long = invalid(&"é".repeat(2048));
        assert_eq!(
            long.message,
            format!("field `count` is `{}…` (4096 bytes); expected an integer from 1 to 20", "é".repeat(20))
        );
    }
}
