//! One integration-test binary (one link of wasmtime) with a module per concern.

mod describe;
mod embedded;
mod hostile;
mod ids;
mod inputs;
mod policy;
mod templates;
