//! Hostile templates end with a clear error inside their limits, and the same host then runs
//! a normal job fine.

use std::time::Duration;
use test_components as components;
use transflow_host::JobLimits;
use transflow_tests::{Harness, assert_completed, media};

async fn fails_then_host_still_works(limits: JobLimits, component: &str, code: &str, step: &str) -> String {
    let harness = Harness::with_limits(limits).await;
    let run = harness.run(component, &[&media().clip], &[]).await;
    assert_eq!(run.status.error.map(|c| c.as_str()), Some(code), "{:?}", run.status);
    assert_eq!(run.status.failed_step.as_deref(), Some(step));
    assert!(run.status.message.starts_with(&format!("step `{step}`")), "{}", run.status.message);
    let next = harness.run(components::VIDEO_THUMBNAILS, &[&media().clip], &[("count", "2")]).await;
    assert_completed(&next.status);
    run.status.message
}

#[tokio::test]
async fn a_panicking_template_traps_with_its_message() {
    let message =
        fails_then_host_still_works(JobLimits::default(), components::TRAP_STEP, "TEMPLATE_TRAPPED", "boom")
            .await;
    assert!(message.contains("this template always panics"), "{message}");
}

#[tokio::test]
async fn an_endless_loop_is_stopped_at_the_step_deadline() {
    let limits = JobLimits { step_timeout: Duration::from_secs(2), ..JobLimits::default() };
    let message = fails_then_host_still_works(limits, components::SPIN_FOREVER, "STEP_TIMEOUT", "spin").await;
    assert!(message.contains("time limit of 2 s"), "{message}");
}

#[tokio::test]
async fn unbounded_allocation_hits_the_memory_limit() {
    let limits = JobLimits { memory_bytes: 64 << 20, ..JobLimits::default() };
    let message =
        fails_then_host_still_works(limits, components::EXHAUST_MEMORY, "MEMORY_LIMIT", "hog").await;
    assert!(message.contains("67108864"), "{message}");
}

#[tokio::test]
async fn a_host_call_flood_exhausts_the_budget() {
    // The memory hog reports progress on every allocation: with a tiny budget the budget runs
    // out long before memory does.
    let limits = JobLimits { hostcalls: 20, memory_bytes: 1 << 30, ..JobLimits::default() };
    let message =
        fails_then_host_still_works(limits, components::EXHAUST_MEMORY, "RESOURCE_LIMIT", "hog").await;
    assert!(message.contains("more than 20 host calls"), "{message}");
}
