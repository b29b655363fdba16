//! The assembly model: deterministic ids, the Transloadit-shaped status document, its state
//! machine and its error codes.

mod error_code;
mod id;
mod status;

pub use error_code::ErrorCode;
pub use id::{assembly_id, file_id, upload_scope};
pub use status::{
    AssemblyState, AssemblyStatus, ExpectedUpload, FileRecord, Phase, PreviousAttempt, StepRecord, StepState,
    UserRef, now_rfc3339, rfc3339,
};
