//! ffmpeg and ffprobe as sandboxed host subprocesses, the one argument policy every
//! guest-supplied argument passes, and what we learn from probing.

pub mod meta;
pub mod mime;
pub mod policy;
pub mod sandbox;
pub mod tools;

pub use meta::MediaMeta;
pub use sandbox::{Access, Sandbox, SandboxError, SandboxSettings};
pub use tools::{CpuBudget, MediaTools, OutputBudget, ToolError, ToolLimits, ToolSettings, ToolSetupError};
