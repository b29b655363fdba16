//! The Transflow runtime: it runs a template's steps on one assembly's files.
//!
//! Templates are WebAssembly components (`wit/transflow.wit`) that describe a pipeline and run
//! its steps; this crate hosts them. It owns everything that must be trusted while a guest
//! runs: the wasmtime engine and its per-job limits ([`engine`], [`limits`]), the host side of
//! each WIT interface ([`capabilities`]), the store's state with each interface's slice of the
//! step ([`job`]), the markers the host traps a guest with ([`traps`]), the per-job workspace
//! ([`workspace`]), the checked description of a template ([`describe`]), the one probe of a
//! file's facts ([`probe`]), where results are kept ([`sink`]) and the runner that ties them
//! together ([`runner`]). ffmpeg itself is `transflow-ffmpeg`'s; the assembly model is
//! `transflow-store`'s.
//!
//! It depends on wasmtime and tokio, never on a web framework, an AWS SDK, SQLite or an HTTP
//! client: the runtime runs where the service runs and where `transflow run` runs alone.

pub mod bindings;
mod capabilities;
pub mod describe;
pub mod engine;
mod failure;
pub mod job;
pub mod limits;
pub mod probe;
pub mod runner;
pub mod sink;
pub mod traps;
pub mod workspace;

pub use engine::{Compiler, EngineError, EngineSettings, LoadSource, LoadedTemplate, TemplateEngine};
pub use limits::JobLimits;
pub use runner::{AssemblyRequest, RunAbandoned, Runner, UploadSource, hash_uploads};
pub use sink::{DirectorySink, ResultSink};
