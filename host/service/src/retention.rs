//! How long an assembly may wait for its uploads, and how long the uploads of assemblies that
//! did not complete are kept.
//!
//! Expiry is decided from the status alone, so every reader agrees without a sweep having
//! run: create-upload starts a new attempt over an expired one, the status route shows it as
//! `UPLOAD_EXPIRED`, and the upload route refuses its targets. The [`sweep`] then makes it
//! durable and removes what is no longer wanted: partial uploads of expired attempts, uploads
//! of failed or canceled assemblies past their retention, and uploads no status expects (an
//! earlier attempt's, or an assembly whose record is gone). It walks the uploads, not the
//! status records, because uploads are what costs storage; both stores list keys in pages.

use crate::worker::Notifier;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};
use transflow_store::assembly::{AssemblyStatus, ErrorCode, Phase};
use transflow_store::backends::Backends;
use transflow_store::backends::{BackendResult, BlobStore};
use transflow_store::keys::{UPLOADS_PREFIX, UploadKey};
use transflow_store::status_writer::{StatusWriter, WriteOutcome};

/// The `[retention]` settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// How long an attempt may wait for its uploads.
    pub upload_expiry: Duration,
    /// How long the uploads of a failed or canceled assembly are kept after it ended.
    pub failed_uploads: Duration,
    /// Time between two sweeps of a worker; zero turns them off.
    pub sweep_interval: Duration,
}

impl Retention {
    /// The settings of `[retention]`.
    pub fn from_config(config: &crate::config::Config) -> Retention {
        let retention = &config.retention;
        Retention {
            upload_expiry: Duration::from_secs(retention.upload_expiry_secs),
            failed_uploads: Duration::from_secs(retention.failed_uploads_secs),
            sweep_interval: Duration::from_secs(retention.sweep_interval_secs),
        }
    }

    /// Whether `status` is an attempt still waiting for uploads past its expiry at `now`.
    pub fn is_expired(&self, status: &AssemblyStatus, now: SystemTime) -> bool {
        status.phase() == Phase::Uploading && older_than(&status.created_at, self.upload_expiry, now)
    }

    /// `status` as it stands at `now`: an expired attempt reads as failed with
    /// `UPLOAD_EXPIRED`, whether or not a sweep has recorded it yet.
    pub fn as_seen(&self, mut status: AssemblyStatus, now: SystemTime) -> AssemblyStatus {
        if self.is_expired(&status, now) {
            expire(&mut status, self.upload_expiry);
        }
        status
    }
}

/// Marks an attempt failed because its uploads did not all arrive within `expiry`.
pub fn expire(status: &mut AssemblyStatus, expiry: Duration) {
    let message = format!(
        "The uploads did not all arrive within {} s; announce the files again to start a new attempt.",
        expiry.as_secs()
    );
    status.current_step = None;
    status.fail(ErrorCode::UploadExpired, None, message);
}

/// Whether RFC 3339 `time` lies more than `age` before `now` (an unreadable time never does).
fn older_than(time: &str, age: Duration, now: SystemTime) -> bool {
    let Ok(time) = time::OffsetDateTime::parse(time, &time::format_description::well_known::Rfc3339) else {
        return false;
    };
    SystemTime::from(time) + age < now
}

/// What one [`sweep`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Attempts recorded as `UPLOAD_EXPIRED`.
    pub expired: u64,
    /// Uploaded objects removed.
    pub removed_uploads: u64,
}

/// Expires overdue attempts that hold uploads and removes the uploads nobody keeps (see the
/// module documentation). Safe to run in several workers at once: status changes are
/// compare-and-set, and an upload is removed only when the status read *after* listing it
/// says so, so the uploads of an attempt started meanwhile are never touched.
pub async fn sweep(
    backends: &Backends,
    notifier: &Notifier,
    retention: &Retention,
    now: SystemTime,
) -> BackendResult<SweepReport> {
    let mut by_assembly: BTreeMap<String, BTreeSet<UploadKey>> = BTreeMap::new();
    for blob in backends.blobs.list(&format!("{UPLOADS_PREFIX}/")).await? {
        if let Ok(upload) = UploadKey::parse(&blob.key) {
            by_assembly.entry(upload.assembly_id.clone()).or_default().insert(upload);
        }
    }
    let mut report = SweepReport::default();
    for (assembly_id, listed) in by_assembly {
        let keep = match backends.statuses.get(&assembly_id).await? {
            None => BTreeSet::new(),
            Some(record) => {
                let status = record.value;
                if retention.is_expired(&status, now) {
                    if let Some(expired) = record_expiry(backends, retention, &status).await? {
                        report.expired += 1;
                        notifier.assembly_ended(&expired);
                    }
                    BTreeSet::new()
                } else if status.phase() == Phase::Failed || status.phase() == Phase::Canceled {
                    if older_than(&status.updated_at, retention.failed_uploads, now) {
                        BTreeSet::new()
                    } else {
                        expected_ids(&status)
                    }
                } else {
                    expected_ids(&status)
                }
            }
        };
        for upload in listed.iter().filter(|upload| !keep.contains(&upload.upload_id)) {
            report.removed_uploads += remove_upload(&*backends.blobs, upload).await?;
        }
    }
    Ok(report)
}

/// Sweeps at start-up and then every [`Retention::sweep_interval`] until `shutdown` turns
/// true; a failed sweep is logged and tried again at the next interval.
pub async fn sweep_periodically(
    backends: Backends,
    notifier: Notifier,
    retention: Retention,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    if retention.sweep_interval.is_zero() {
        return;
    }
    while !*shutdown.borrow() {
        match sweep(&backends, &notifier, &retention, SystemTime::now()).await {
            Ok(report) if report == SweepReport::default() => {}
            Ok(report) => tracing::info!(
                expired = report.expired,
                removed_uploads = report.removed_uploads,
                "retention sweep"
            ),
            Err(error) => tracing::warn!(%error, "retention sweep failed; trying again later"),
        }
        tokio::select! {
            _ = tokio::time::sleep(retention.sweep_interval) => {}
            changed = shutdown.changed() => if changed.is_err() { return },
        }
    }
}

fn expected_ids(status: &AssemblyStatus) -> BTreeSet<String> {
    status.expected_uploads.iter().map(|expected| expected.upload_id.clone()).collect()
}

/// Records the expiry of `seen`'s attempt unless the stored record moved on meanwhile (a new
/// attempt, or the last upload arrived); returns the stored expired status.
async fn record_expiry(
    backends: &Backends,
    retention: &Retention,
    seen: &AssemblyStatus,
) -> BackendResult<Option<AssemblyStatus>> {
    let writer = StatusWriter::new(backends.statuses.clone(), &seen.assembly_id);
    let outcome = writer
        .modify(|stored| {
            if stored.attempt == seen.attempt && stored.phase() == Phase::Uploading {
                expire(stored, retention.upload_expiry);
            }
        })
        .await?;
    Ok(match outcome {
        WriteOutcome::Written(stored) if stored.error == Some(ErrorCode::UploadExpired) => Some(stored),
        _ => None,
    })
}

/// Removes one upload (its `{upload_id}/` prefix); returns how many objects went.
async fn remove_upload(blobs: &dyn BlobStore, upload: &UploadKey) -> BackendResult<u64> {
    let prefix =
        format!("{}{}/", UploadKey::assembly_prefix(&upload.branch, &upload.assembly_id), upload.upload_id);
    blobs.delete_prefix(&prefix).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn uploading(created_at: &str) -> AssemblyStatus {
        let mut status = AssemblyStatus::new(
            "a".repeat(64),
            "t".into(),
            "v".into(),
            "main".into(),
            "u".into(),
            BTreeMap::new(),
        );
        status.created_at = created_at.into();
        status
    }

    #[test]
    fn an_attempt_expires_once_it_waited_longer_than_the_expiry() {
        let retention = Retention {
            upload_expiry: Duration::from_secs(3600),
            failed_uploads: Duration::from_secs(60),
            sweep_interval: Duration::from_secs(60),
        };
        let created = time::macros::datetime!(2026-11-30 12:00 UTC);
        let status = uploading("2026-11-30T12:00:00Z");
        let at = |minutes: i64| SystemTime::from(created + time::Duration::minutes(minutes));
        assert!(!retention.is_expired(&status, at(59)));
        assert!(retention.is_expired(&status, at(61)));
        let seen = retention.as_seen(status.clone(), at(61));
        assert_eq!(seen.error, Some(ErrorCode::UploadExpired));
        assert!(seen.message.contains("within 3600 s"), "{}", seen.message);
        assert_eq!(retention.as_seen(status.clone(), at(59)), status);

        let mut running = status;
        running.ok = Some(transflow_store::assembly::AssemblyState::AssemblyExecuting);
        assert!(!retention.is_expired(&running, at(600)), "only uploading attempts expire");
    }
}
