//! One integration-test binary (one link of wasmtime) with a module per concern.

mod contract;
mod describe;
mod embedded;
mod file_urls;
mod first_runs;
mod graph;
mod hostile;
mod ids;
mod inputs;
mod integrity;
mod lifecycle;
mod names;
mod policy;
mod s3_signatures;
mod sandbox;
mod templates;
