//! `log`: template log lines, tagged with the assembly and step, through `tracing`.

use super::MeteredScope;
use crate::bindings::transflow::template::log::{Host, Level};

/// Longest log line kept; the rest is cut so a guest cannot flood the host's logs.
const MAX_LINE: usize = 4096;

/// What `log` sees of a step: the assembly and step each line is tagged with.
#[derive(Debug)]
pub(crate) struct LogScope {
    assembly_id: String,
    step: String,
}

impl LogScope {
    pub(crate) fn new(assembly_id: String, step: String) -> LogScope {
        LogScope { assembly_id, step }
    }
}

impl Host for MeteredScope<'_, LogScope> {
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

#[cfg(test)]
mod tests {
    use super::super::HostcallBudget;
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Lines the subscriber writes, kept for the test to read.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn lines_are_tagged_with_the_assembly_and_step_and_cut() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let (mut budget, mut scope) = (HostcallBudget::new(10), LogScope::new("a1".into(), "s".into()));
        let mut log = MeteredScope::new(&mut budget, Some(&mut scope));
        Host::write(&mut log, Level::Warn, "x".repeat(MAX_LINE + 10)).await.unwrap();
        Host::write(&mut log, Level::Debug, "detail".into()).await.unwrap();

        let output = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = output.lines().collect();
        assert_eq!(lines.len(), 2, "{output}");
        for tag in ["\"target\":\"template\"", "\"assembly_id\":\"a1\"", "\"step\":\"s\""] {
            assert!(lines.iter().all(|line| line.contains(tag)), "{tag} in {output}");
        }
        assert!(lines[0].contains("\"level\":\"WARN\""), "{}", lines[0]);
        assert!(lines[0].contains(&format!("\"{}…\"", "x".repeat(MAX_LINE))), "cut to {MAX_LINE} bytes");
        assert!(lines[1].contains("\"level\":\"DEBUG\"") && lines[1].contains("\"message\":\"detail\""));
    }
}
