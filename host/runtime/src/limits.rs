//! Per-job limits and the store limiter that enforces the memory ones.
//!
//! Templates are untrusted. Each limit closes one way a template could hurt the worker:
//! - `memory_bytes`: linear memory per instance, so a runaway allocation cannot take the
//!   machine's RAM from other jobs;
//! - `step_timeout`: wall clock per step (guest code and the ffmpeg runs it starts), enforced
//!   by epoch interruption inside wasm and by killing ffmpeg outside it;
//! - `hostcalls`: host calls per step, so a guest cannot spin on cheap host functions that
//!   epoch checks never see;
//! - `table_elements` / `resource_handles`: bounded tables and handle tables;
//! - `output_bytes` / `outputs`: what a step may write and emit;
//! - `tool_runs`: ffmpeg runs a step may hold handles to at once (`ffmpeg.spawn`), so a guest
//!   cannot start ffmpeg processes without bound.

use crate::traps::MemoryLimitExceeded;
use std::time::Duration;
use wasmtime::ResourceLimiter;

/// Limits for one job.
#[derive(Debug, Clone)]
pub struct JobLimits {
    /// Linear memory per instance, in bytes.
    pub memory_bytes: usize,
    /// Wall clock per step.
    pub step_timeout: Duration,
    /// Host calls per step.
    pub hostcalls: u64,
    /// Elements per wasm table.
    pub table_elements: usize,
    /// Entries in the WASI resource table.
    pub resource_handles: usize,
    /// Bytes a step may write under its output directory.
    pub output_bytes: u64,
    /// Results a step may emit.
    pub outputs: usize,
    /// `tool-run` handles a step may hold at once.
    pub tool_runs: usize,
}

impl Default for JobLimits {
    fn default() -> Self {
        JobLimits {
            memory_bytes: 256 << 20,
            step_timeout: Duration::from_secs(30 * 60),
            hostcalls: 100_000,
            table_elements: 100_000,
            resource_handles: 1_000,
            output_bytes: 20 << 30,
            outputs: 10_000,
            tool_runs: 8,
        }
    }
}

/// Enforces [`JobLimits`] on memories and tables. Growth past the limit traps with
/// [`MemoryLimitExceeded`] so the host can tell "out of memory" apart from other traps.
#[derive(Debug)]
pub struct JobLimiter {
    memory_bytes: usize,
    table_elements: usize,
}

impl JobLimiter {
    /// A limiter for these limits.
    pub fn new(limits: &JobLimits) -> Self {
        JobLimiter { memory_bytes: limits.memory_bytes, table_elements: limits.table_elements }
    }
}

impl ResourceLimiter for JobLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            return Err(wasmtime::Error::new(MemoryLimitExceeded {
                requested: desired,
                limit: self.memory_bytes,
            }));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= self.table_elements)
    }
}
