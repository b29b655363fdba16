//! `status`: step progress.

use super::MeteredScope;
use crate::bindings::transflow::template::status::Host;
use crate::job::ProgressReporter;

/// What `status` sees of a step: where its progress goes.
#[derive(Debug)]
pub(crate) struct StatusScope {
    progress: ProgressReporter,
}

impl StatusScope {
    pub(crate) fn new(progress: ProgressReporter) -> StatusScope {
        StatusScope { progress }
    }
}

impl Host for MeteredScope<'_, StatusScope> {
    async fn progress(&mut self, fraction: f32, message: Option<String>) -> wasmtime::Result<()> {
        let scope = self.charge()?;
        scope.progress.report(fraction, message.map(|m| super::truncate(m, 200)));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::HostcallBudget;
    use super::*;

    #[tokio::test]
    async fn progress_is_clamped_never_lowered_and_keeps_its_message() {
        let (reporter, seen) = ProgressReporter::channel();
        let (mut budget, mut scope) = (HostcallBudget::new(10), StatusScope::new(reporter));
        let mut status = MeteredScope::new(&mut budget, Some(&mut scope));
        Host::progress(&mut status, 0.5, Some("half way".into())).await.unwrap();
        Host::progress(&mut status, 0.2, None).await.unwrap();
        Host::progress(&mut status, f32::NAN, None).await.unwrap();
        assert_eq!((seen.borrow().fraction, seen.borrow().message.as_deref()), (0.5, Some("half way")));
        Host::progress(&mut status, 7.0, Some("é".repeat(150))).await.unwrap();
        let message = seen.borrow().message.clone().unwrap();
        assert_eq!(seen.borrow().fraction, 1.0);
        assert_eq!(message, format!("{}…", "é".repeat(100)), "cut to 200 bytes");
    }
}
