//! `transflow-confine`: an exec helper that confines itself and then execs ffmpeg or ffprobe.
//!
//! Tools run on untrusted media with template-chosen arguments, so the host treats each tool
//! process as hostile. bubblewrap needs user namespaces, which AWS Lambda does not have; this
//! helper needs none. It applies, in order, then `execve`s the tool:
//! - **Landlock** (best effort across ABI versions): read-only access to the `--read` paths,
//!   read-write access beneath the `--write` directories, execute access only to the program
//!   and its ELF interpreter, no TCP bind/connect, no abstract unix sockets or signals out of
//!   the sandbox;
//! - **rlimits**: `--fsize`, no core dumps, optional `--nproc`;
//! - **seccomp**: no sockets, ptrace, mounts, namespaces, further `execve`, io_uring, bpf, ….
//!
//! Inside bubblewrap it works the same; paths are then given as the process sees them.
//!
//! This library is the helper's contract with the host: [`Plan`] builds the helper's argv
//! ([`Plan::to_args`]) and [`parse_args`] reads it back (the binary's own parser), and
//! [`Layers`] / [`Probe`] name the layers a machine supports (the `--probe` line). The
//! confinement itself lives in the binary (`src/main.rs` and the modules it declares) behind the
//! default `confine` feature, so a host that depends on this crate with
//! `default-features = false` compiles neither landlock nor seccompiler.

mod layers;
mod plan;

pub use layers::{Layers, Probe};
pub use plan::{Invocation, Plan, parse_args};

/// The helper's arguments or `--probe` line cannot be understood.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    /// An option the helper does not know (or `--probe` mixed with others).
    #[error("unknown option {0:?} (see `--help`)")]
    UnknownOption(std::ffi::OsString),
    /// An option that takes a value came last.
    #[error("{0} needs a value")]
    MissingValue(&'static str),
    /// A path that must be absolute (the helper may run with any working directory).
    #[error("{option} needs an absolute path, got {path:?}")]
    NotAbsolute {
        /// The option (or `PROGRAM`).
        option: &'static str,
        /// What was given.
        path: std::path::PathBuf,
    },
    /// A number that does not parse.
    #[error("{option} needs a non-negative integer, got {value:?}")]
    NotANumber {
        /// The option.
        option: &'static str,
        /// What was given.
        value: std::ffi::OsString,
    },
    /// A layer name other than `landlock` and `seccomp`.
    #[error("unknown layer {0:?} (expected `landlock`, `seccomp` or `none`)")]
    UnknownLayer(String),
    /// No `-- PROGRAM` at the end.
    #[error("missing `-- PROGRAM [ARGS…]`")]
    MissingProgram,
    /// A `--probe` line that names no layers.
    #[error("empty probe line")]
    EmptyProbe,
}
