//! The `transflow` and `bootstrap` binaries as processes, in one test binary so the whole
//! workspace links once for them and their tests share the harness's threads.

mod aws;
mod deploy;
mod dev;
mod languages;

/// The CLI under test, built by cargo for this test binary.
const BINARY: &str = env!("CARGO_BIN_EXE_transflow");
