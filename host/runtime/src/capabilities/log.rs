//! `log`: template log lines, tagged with the assembly and step, through `tracing`.

use crate::bindings::transflow::template::log::{Host, Level};
use crate::job::JobState;

/// Longest log line kept; the rest is cut so a guest cannot flood the host's logs.
const MAX_LINE: usize = 4096;

impl Host for JobState {
    async fn write(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let scope = self.charge()?;
        let message = super::truncate(message, MAX_LINE);
        let (assembly_id, step) = (scope.assembly_id.as_str(), scope.step.as_str());
        match level {
            Level::Debug => tracing::debug!(target: "template", assembly_id, step, "{message}"),
            Level::Info => tracing::info!(target: "template", assembly_id, step, "{message}"),
            Level::Warn => tracing::warn!(target: "template", assembly_id, step, "{message}"),
            Level::Error => tracing::error!(target: "template", assembly_id, step, "{message}"),
        }
        Ok(())
    }
}
