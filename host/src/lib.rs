//! The Transflow runtime.
//!
//! Templates are WebAssembly components (`wit/transflow.wit`) that describe a pipeline and run
//! its steps; this crate hosts them. It owns everything that must be trusted: the wasmtime
//! engine and its per-job limits ([`engine`], [`limits`]), the host side of each capability
//! ([`capabilities`]), ffmpeg and ffprobe as sandboxed subprocesses behind one argument policy
//! ([`media`]), the per-job workspace ([`workspace`]), the assembly model ([`assembly`]) and the
//! runner that ties them together ([`runner`]). Around the runner: storage behind traits
//! ([`backends`]), the queue worker ([`worker`]), webhooks ([`webhook`]), the HTTP API
//! ([`api`]), configuration ([`config`]), the embedded stack of `transflow dev` ([`embedded`]),
//! the Lambda worker's handler ([`lambda`]) and per-process scratch directories that a crash
//! cannot leave behind for good ([`process_dir`]).

pub mod api;
pub mod assembly;
pub mod backends;
pub mod bindings;
mod capabilities;
pub mod config;
pub mod embedded;
pub mod engine;
pub mod job;
pub mod lambda;
pub mod limits;
pub mod media;
pub mod process_dir;
pub mod retention;
pub mod runner;
pub mod template;
pub mod webhook;
pub mod worker;
pub mod workspace;

pub use engine::{EngineError, EngineSettings, LoadSource, LoadedTemplate, TemplateEngine};
pub use limits::JobLimits;
pub use media::{MediaTools, ToolLimits, ToolSettings};
pub use runner::{AssemblyRequest, Runner, UploadSource};
