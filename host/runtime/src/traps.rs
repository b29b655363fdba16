//! Trap markers: the errors the host stops a guest with, so the runner can tell why a step
//! ended (`classify_trap` in [`crate::runner`]) instead of blaming the template for everything.
//! A trap cannot be caught by the guest, which is why limits and host faults trap rather than
//! return a WIT `error` the template could ignore.
//!
//! | Marker | Raised by | Error code |
//! |---|---|---|
//! | [`StepTimedOut`] | the engine's epoch callback once the step's deadline passes inside wasm; `ffmpeg` when a tool is killed at the deadline | `STEP_TIMEOUT` |
//! | [`MemoryLimitExceeded`] | the store limiter ([`crate::limits::JobLimiter`]) when linear memory would grow past the limit | `MEMORY_LIMIT` |
//! | [`HostcallBudgetExhausted`] | every host call, charging the step's budget ([`crate::capabilities`]) | `RESOURCE_LIMIT` |
//! | [`NoScope`] | every host call made from `describe()`, where no step runs | none: loading fails with `EngineError::Describe` |
//! | [`HostFault`] | `ffmpeg` when a tool cannot be started; `workspace` when the host cannot create an output directory or inspect an emitted file | `INTERNAL_ERROR` |
//!
//! Two foreign errors are classified too: wasmtime's `ResourceTableError` (the guest opened more
//! WASI handles than the table allows) becomes `RESOURCE_LIMIT`, and a `std::io::Error` a
//! capability passes on with `?` (host I/O in the workspace) becomes `INTERNAL_ERROR`. Any other
//! trap is the template's own crash: `TEMPLATE_TRAPPED`.

/// A step ran past its wall-clock deadline.
#[derive(Debug, thiserror::Error)]
#[error("the step ran past its time limit")]
pub struct StepTimedOut;

/// The guest asked for more linear memory than its limit allows.
#[derive(Debug, thiserror::Error)]
#[error("the template tried to grow its memory to {requested} bytes; the limit is {limit} bytes")]
pub struct MemoryLimitExceeded {
    /// Bytes asked for.
    pub requested: usize,
    /// The limit.
    pub limit: usize,
}

/// A guest used up its host-call budget; the value is the budget.
#[derive(Debug, thiserror::Error)]
#[error("the template made more than {0} host calls in one step")]
pub struct HostcallBudgetExhausted(pub u64);

/// A guest called a host function from `describe()`, where none is available.
#[derive(Debug, thiserror::Error)]
#[error("describe() must not call host functions")]
pub struct NoScope;

/// A host-side failure during a host call (not the template's fault), with the message the
/// status shows.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HostFault(pub String);
