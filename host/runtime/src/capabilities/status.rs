//! `status`: step progress.

use crate::bindings::transflow::template::status::Host;
use crate::job::JobState;

impl Host for JobState {
    async fn progress(&mut self, fraction: f32, message: Option<String>) -> wasmtime::Result<()> {
        let scope = self.charge()?;
        scope.report_progress(fraction, message.map(|m| super::truncate(m, 200)));
        Ok(())
    }
}
