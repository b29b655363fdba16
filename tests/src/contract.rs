//! The backend contract suite of [`transflow_store::contract`], and what a worker on any
//! backends promises about concurrent deliveries.

use transflow_service::worker::{Processed, Worker};
use transflow_store::assembly::AssemblyState;
pub use transflow_store::contract::*;

/// One worker handed the same upload event twice at once (a second `PUT` of the upload, or a
/// redelivery) runs the assembly once: the second delivery finds the lease held by the first
/// run and keeps its message; once the run has ended, a later delivery finds it finished.
/// `event` announces the only upload of `assembly_id`, which is present and not yet run.
pub async fn one_run_per_assembly(worker: &Worker, event: &str, assembly_id: &str) {
    let (first, second) = tokio::join!(worker.process_message(event, 1), worker.process_message(event, 1));
    let outcomes: Vec<Processed> = [first.unwrap(), second.unwrap()].into_iter().flatten().collect();
    let completed = |o: &&Processed| matches!(o, Processed::Ran(s) if s.ok == Some(AssemblyState::AssemblyCompleted) && s.error.is_none());
    let kept = Processed::InProgressElsewhere { assembly_id: assembly_id.into() };
    assert_eq!(outcomes.iter().filter(completed).count(), 1, "one run completed: {outcomes:#?}");
    assert_eq!(outcomes.iter().filter(|o| **o == kept).count(), 1, "the other kept: {outcomes:#?}");
    let again = worker.process_message(event, 2).await.unwrap();
    assert_eq!(again, [Processed::AlreadyFinished { assembly_id: assembly_id.into() }]);
}
