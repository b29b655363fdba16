//! Assembly status records in a SQLite file: the embedded stand-in for a DynamoDB table.
//!
//! One row per assembly. The status document is stored whole, as JSON; the columns beside it
//! are what queries need (branch, creation time) and the lease. The lease is kept apart from
//! the document's version, so renewing a lease never makes its holder's next status write
//! conflict. Every read-then-write runs in one `BEGIN IMMEDIATE` transaction, which holds the
//! file's write lock from the start: two processes sharing the file cannot interleave.

use super::sqlite::{Db, millis, now_millis, time_from_millis};
use crate::assembly::AssemblyStatus;
use crate::backends::{BackendError, BackendResult, Created, Lease, StatusStore, Versioned};
use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::path::Path;
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS assemblies (
    assembly_id      TEXT PRIMARY KEY,
    branch           TEXT NOT NULL,
    created_at       INTEGER NOT NULL, -- unix millis, from the document's created_at
    status           TEXT NOT NULL,    -- AssemblyStatus as JSON
    version          INTEGER NOT NULL,
    lease_owner      TEXT,
    lease_expires_at INTEGER           -- unix millis
);
CREATE INDEX IF NOT EXISTS assemblies_by_branch ON assemblies (branch, created_at, assembly_id);
";

/// Status records in a SQLite file, safe to share between tasks and between processes.
#[derive(Debug)]
pub struct SqliteStatusStore {
    db: Db,
}

impl SqliteStatusStore {
    /// Opens the store at `path`, creating the file (and its directories) on first use, so
    /// `transflow dev` needs no setup step. Blocks briefly; call it at startup.
    pub fn open(path: &Path) -> BackendResult<SqliteStatusStore> {
        Ok(SqliteStatusStore { db: Db::open(path, SCHEMA)? })
    }
}

/// A status document with the columns derived from it, ready to bind.
struct Record {
    id: String,
    branch: String,
    created_at: i64,
    json: String,
}

impl Record {
    fn new(status: &AssemblyStatus) -> BackendResult<Record> {
        let id = &status.assembly_id;
        // Ordering by the instant, not the string: RFC 3339 strings with and without
        // fractional seconds do not sort as the times they name.
        let created = OffsetDateTime::parse(&status.created_at, &Rfc3339).map_err(|e| {
            BackendError::Rejected(format!(
                "assembly {id}: created_at {:?} is not an RFC 3339 time ({e}); set it with now_rfc3339()",
                status.created_at
            ))
        })?;
        let json = serde_json::to_string(status)
            .map_err(|e| BackendError::io(format!("encoding the status of assembly {id}"), e))?;
        Ok(Record {
            id: id.clone(),
            branch: status.branch.clone(),
            created_at: created.unix_timestamp() * 1000 + i64::from(created.millisecond()),
            json,
        })
    }
}

fn decode(id: &str, json: &str) -> BackendResult<AssemblyStatus> {
    serde_json::from_str(json)
        .map_err(|e| BackendError::io(format!("decoding the status of assembly {id}"), e))
}

/// The stored document and version of `id`, if any.
fn read(conn: &Connection, id: &str) -> rusqlite::Result<Option<(String, u64)>> {
    conn.query_row("SELECT status, version FROM assemblies WHERE assembly_id = ?1", [id], |row| {
        Ok((row.get(0)?, row.get(1)?))
    })
    .optional()
}

/// How a conditional write to one row went.
enum Outcome {
    Written,
    /// The row exists but its condition did not hold.
    Refused,
    Missing,
}

/// Tells a refused conditional write from one whose row does not exist.
fn outcome(conn: &Connection, changed: usize, id: &str) -> rusqlite::Result<Outcome> {
    if changed > 0 {
        return Ok(Outcome::Written);
    }
    let exists =
        conn.query_row("SELECT 1 FROM assemblies WHERE assembly_id = ?1", [id], |_| Ok(())).optional()?;
    Ok(if exists.is_some() { Outcome::Refused } else { Outcome::Missing })
}

#[async_trait]
impl StatusStore for SqliteStatusStore {
    async fn create(&self, status: &AssemblyStatus) -> BackendResult<Created> {
        let record = Record::new(status)?;
        let id = record.id.clone();
        let existing = self
            .db
            .call(format!("creating the status of assembly {id}"), move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let existing = read(&tx, &record.id)?;
                if existing.is_none() {
                    tx.execute(
                        "INSERT INTO assemblies (assembly_id, branch, created_at, status, version)
                         VALUES (?1, ?2, ?3, ?4, 1)",
                        params![record.id, record.branch, record.created_at, record.json],
                    )?;
                }
                tx.commit()?;
                Ok(existing)
            })
            .await?;
        match existing {
            None => Ok(Created::New),
            Some((json, version)) => Ok(Created::Existing(Versioned { value: decode(&id, &json)?, version })),
        }
    }

    async fn get(&self, assembly_id: &str) -> BackendResult<Option<Versioned<AssemblyStatus>>> {
        let id = assembly_id.to_owned();
        let found =
            self.db.call(format!("reading the status of assembly {id}"), move |conn| read(conn, &id)).await?;
        found.map(|(json, version)| Ok(Versioned { value: decode(assembly_id, &json)?, version })).transpose()
    }

    async fn update(&self, status: &AssemblyStatus, expected_version: u64) -> BackendResult<u64> {
        let record = Record::new(status)?;
        let id = record.id.clone();
        let outcome = self
            .db
            .call(format!("updating the status of assembly {id}"), move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                // The derived columns are rewritten too, so they always match the document.
                let changed = tx.execute(
                    "UPDATE assemblies SET branch = ?2, created_at = ?3, status = ?4, version = version + 1
                     WHERE assembly_id = ?1 AND version = ?5",
                    params![record.id, record.branch, record.created_at, record.json, expected_version],
                )?;
                let outcome = outcome(&tx, changed, &record.id)?;
                tx.commit()?;
                Ok(outcome)
            })
            .await?;
        match outcome {
            Outcome::Written => Ok(expected_version + 1),
            Outcome::Refused => {
                Err(BackendError::Conflict(format!("assembly {id} (expected at version {expected_version})")))
            }
            Outcome::Missing => Err(BackendError::NotFound(format!("assembly {id}"))),
        }
    }

    /// A lease can only be taken on an existing record: [`BackendError::NotFound`] otherwise.
    async fn acquire_lease(
        &self,
        assembly_id: &str,
        owner: &str,
        ttl: Duration,
    ) -> BackendResult<Option<Lease>> {
        let (id, holder) = (assembly_id.to_owned(), owner.to_owned());
        let (outcome, expires_at) = self
            .db
            .call(format!("taking the lease of assembly {id} for {holder}"), move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                // Read the clock once the write lock is held, so no other writer acts in between.
                let now = now_millis();
                let expires_at = now.saturating_add(millis(ttl));
                let changed = tx.execute(
                    "UPDATE assemblies SET lease_owner = ?2, lease_expires_at = ?3
                     WHERE assembly_id = ?1
                       AND (lease_owner IS NULL OR lease_owner = ?2 OR lease_expires_at <= ?4)",
                    params![id, holder, expires_at, now],
                )?;
                let outcome = outcome(&tx, changed, &id)?;
                tx.commit()?;
                Ok((outcome, expires_at))
            })
            .await?;
        match outcome {
            Outcome::Written => Ok(Some(Lease {
                assembly_id: assembly_id.to_owned(),
                owner: owner.to_owned(),
                expires_at: time_from_millis(expires_at),
            })),
            Outcome::Refused => Ok(None),
            Outcome::Missing => Err(BackendError::NotFound(format!("assembly {assembly_id}"))),
        }
    }

    /// Succeeds while `owner` is still the recorded holder, even a little past expiry: nobody
    /// else has taken the lease in the meantime, or the holder would have changed.
    async fn renew_lease(&self, assembly_id: &str, owner: &str, ttl: Duration) -> BackendResult<Lease> {
        let (id, holder) = (assembly_id.to_owned(), owner.to_owned());
        let (outcome, expires_at) = self
            .db
            .call(format!("renewing the lease of assembly {id} for {holder}"), move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let expires_at = now_millis().saturating_add(millis(ttl));
                let changed = tx.execute(
                    "UPDATE assemblies SET lease_expires_at = ?3 WHERE assembly_id = ?1 AND lease_owner = ?2",
                    params![id, holder, expires_at],
                )?;
                let outcome = outcome(&tx, changed, &id)?;
                tx.commit()?;
                Ok((outcome, expires_at))
            })
            .await?;
        match outcome {
            Outcome::Written => Ok(Lease {
                assembly_id: assembly_id.to_owned(),
                owner: owner.to_owned(),
                expires_at: time_from_millis(expires_at),
            }),
            Outcome::Refused => {
                Err(BackendError::Conflict(format!("the lease of assembly {assembly_id} held by {owner}")))
            }
            Outcome::Missing => Err(BackendError::NotFound(format!("assembly {assembly_id}"))),
        }
    }

    /// Does nothing when `owner` does not hold the lease (any more): there is nothing to give.
    async fn release_lease(&self, assembly_id: &str, owner: &str) -> BackendResult<()> {
        let (id, holder) = (assembly_id.to_owned(), owner.to_owned());
        self.db
            .call(format!("releasing the lease of assembly {id} held by {holder}"), move |conn| {
                conn.execute(
                    "UPDATE assemblies SET lease_owner = NULL, lease_expires_at = NULL
                     WHERE assembly_id = ?1 AND lease_owner = ?2",
                    params![id, holder],
                )
            })
            .await?;
        Ok(())
    }

    async fn list_branch(&self, branch: &str, limit: usize) -> BackendResult<Vec<AssemblyStatus>> {
        let branch = branch.to_owned();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .db
            .call(format!("listing the assemblies of branch {branch}"), move |conn| {
                let mut statement = conn.prepare_cached(
                    "SELECT assembly_id, status FROM assemblies WHERE branch = ?1
                     ORDER BY created_at DESC, assembly_id DESC LIMIT ?2",
                )?;
                let rows =
                    statement.query_map(params![branch, limit], |row| Ok((row.get(0)?, row.get(1)?)))?;
                rows.collect::<rusqlite::Result<Vec<(String, String)>>>()
            })
            .await?;
        rows.iter().map(|(id, json)| decode(id, json)).collect()
    }

    async fn delete_branch(&self, branch: &str) -> BackendResult<u64> {
        let branch = branch.to_owned();
        let deleted = self
            .db
            .call(format!("deleting the assemblies of branch {branch}"), move |conn| {
                conn.execute("DELETE FROM assemblies WHERE branch = ?1", [branch])
            })
            .await?;
        Ok(deleted as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assembly::now_rfc3339;

    /// A minimal status document, built from JSON so it keeps compiling as optional fields
    /// are added to [`AssemblyStatus`].
    fn status(id: &str, branch: &str, created_at: &str) -> AssemblyStatus {
        serde_json::from_value(serde_json::json!({
            "assembly_id": id,
            "ok": "ASSEMBLY_UPLOADING",
            "message": "Waiting for uploads",
            "template_id": "thumbnails",
            "template_version": "0".repeat(64),
            "branch": branch,
            "user": { "user_id": "u1" },
            "fields": {},
            "uploads": [],
            "results": {},
            "bytes_expected": 10,
            "bytes_received": 0,
            "bytes_usage": 0,
            "progress": 0.0,
            "sandbox": "none",
            "created_at": created_at,
            "updated_at": created_at,
        }))
        .expect("the fixture matches AssemblyStatus")
    }

    fn open(dir: &tempfile::TempDir) -> SqliteStatusStore {
        SqliteStatusStore::open(&dir.path().join("state/status.sqlite")).expect("open the store")
    }

    const LONG: Duration = Duration::from_secs(30);

    #[tokio::test]
    async fn create_keeps_the_first_record() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let first = status("a1", "main", &now_rfc3339());
        assert_eq!(store.create(&first).await.unwrap(), Created::New);

        let mut second = first.clone();
        second.message = "something else".into();
        let created = store.create(&second).await.unwrap();
        assert_eq!(created, Created::Existing(Versioned { value: first.clone(), version: 1 }));
        assert_eq!(store.get("a1").await.unwrap(), Some(Versioned { value: first, version: 1 }));
        assert_eq!(store.get("missing").await.unwrap(), None);
    }

    #[tokio::test]
    async fn update_is_compare_and_set() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let mut record = status("a1", "main", &now_rfc3339());
        store.create(&record).await.unwrap();

        record.progress = 50.0;
        assert_eq!(store.update(&record, 1).await.unwrap(), 2);
        assert_eq!(store.get("a1").await.unwrap(), Some(Versioned { value: record.clone(), version: 2 }));

        record.progress = 75.0;
        let stale = store.update(&record, 1).await.unwrap_err();
        assert!(matches!(stale, BackendError::Conflict(_)), "{stale:?}");
        assert_eq!(store.get("a1").await.unwrap().unwrap().value.progress, 50.0);

        let missing = store.update(&status("nope", "main", &now_rfc3339()), 1).await.unwrap_err();
        assert!(matches!(missing, BackendError::NotFound(_)), "{missing:?}");
    }

    #[tokio::test]
    async fn created_at_must_be_rfc3339() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let error = store.create(&status("a1", "main", "yesterday")).await.unwrap_err();
        assert!(matches!(error, BackendError::Rejected(_)), "{error:?}");
        assert_eq!(store.get("a1").await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_live_lease_is_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        store.create(&status("a1", "main", &now_rfc3339())).await.unwrap();

        let lease = store.acquire_lease("a1", "w1", LONG).await.unwrap().expect("the lease is free");
        assert_eq!((lease.assembly_id.as_str(), lease.owner.as_str()), ("a1", "w1"));
        assert!(lease.expires_at > std::time::SystemTime::now());
        assert_eq!(store.acquire_lease("a1", "w2", LONG).await.unwrap(), None);
        // The holder may take it again (a redelivered message for the same worker).
        assert!(store.acquire_lease("a1", "w1", LONG).await.unwrap().is_some());

        // Leases do not touch the document's version.
        assert_eq!(store.update(&status("a1", "main", &now_rfc3339()), 1).await.unwrap(), 2);

        let missing = store.acquire_lease("nope", "w1", LONG).await.unwrap_err();
        assert!(matches!(missing, BackendError::NotFound(_)), "{missing:?}");
    }

    #[tokio::test]
    async fn an_expired_lease_can_be_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        store.create(&status("a1", "main", &now_rfc3339())).await.unwrap();

        store.acquire_lease("a1", "w1", Duration::from_millis(50)).await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let lease = store.acquire_lease("a1", "w2", LONG).await.unwrap().expect("the old lease expired");
        assert_eq!(lease.owner, "w2");

        let lost = store.renew_lease("a1", "w1", LONG).await.unwrap_err();
        assert!(matches!(lost, BackendError::Conflict(_)), "{lost:?}");
    }

    #[tokio::test]
    async fn only_the_holder_renews() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        store.create(&status("a1", "main", &now_rfc3339())).await.unwrap();
        let first = store.acquire_lease("a1", "w1", Duration::from_secs(10)).await.unwrap().unwrap();

        let stranger = store.renew_lease("a1", "w2", LONG).await.unwrap_err();
        assert!(matches!(stranger, BackendError::Conflict(_)), "{stranger:?}");

        let renewed = store.renew_lease("a1", "w1", LONG).await.unwrap();
        assert_eq!(renewed.owner, "w1");
        assert!(renewed.expires_at > first.expires_at);
        let missing = store.renew_lease("nope", "w1", LONG).await.unwrap_err();
        assert!(matches!(missing, BackendError::NotFound(_)), "{missing:?}");
    }

    #[tokio::test]
    async fn a_released_lease_is_free_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        store.create(&status("a1", "main", &now_rfc3339())).await.unwrap();
        store.acquire_lease("a1", "w1", LONG).await.unwrap().unwrap();

        // Only the holder can give it back.
        store.release_lease("a1", "w2").await.unwrap();
        assert_eq!(store.acquire_lease("a1", "w2", LONG).await.unwrap(), None);

        store.release_lease("a1", "w1").await.unwrap();
        assert_eq!(store.acquire_lease("a1", "w2", LONG).await.unwrap().unwrap().owner, "w2");
        // Releasing what one no longer holds is a no-op.
        store.release_lease("a1", "w1").await.unwrap();
        assert_eq!(store.acquire_lease("a1", "w1", LONG).await.unwrap(), None);
    }

    #[tokio::test]
    async fn branches_are_listed_and_deleted_apart() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        // With and without fractional seconds: ordered as times, not as strings.
        for (id, created_at) in [
            ("m1", "2024-05-01T10:00:00Z"),
            ("m2", "2024-05-01T10:00:00.5Z"),
            ("m3", "2024-05-01T10:00:01Z"),
            ("m0", "2024-05-01T10:00:01Z"),
        ] {
            store.create(&status(id, "main", created_at)).await.unwrap();
        }
        store.create(&status("d1", "dev", "2024-05-02T00:00:00Z")).await.unwrap();

        let ids = |list: Vec<AssemblyStatus>| list.into_iter().map(|s| s.assembly_id).collect::<Vec<_>>();
        assert_eq!(ids(store.list_branch("main", 10).await.unwrap()), ["m3", "m0", "m2", "m1"]);
        assert_eq!(ids(store.list_branch("main", 2).await.unwrap()), ["m3", "m0"]);
        assert_eq!(ids(store.list_branch("dev", 10).await.unwrap()), ["d1"]);
        assert!(store.list_branch("other", 10).await.unwrap().is_empty());

        assert_eq!(store.delete_branch("main").await.unwrap(), 4);
        assert!(store.list_branch("main", 10).await.unwrap().is_empty());
        assert_eq!(store.get("m1").await.unwrap(), None);
        assert_eq!(ids(store.list_branch("dev", 10).await.unwrap()), ["d1"]);
        assert_eq!(store.delete_branch("main").await.unwrap(), 0);
    }

    #[tokio::test]
    async fn records_survive_reopening_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut record = status("a1", "main", &now_rfc3339());
        {
            let store = open(&dir);
            store.create(&record).await.unwrap();
            record.message = "Processing".into();
            store.update(&record, 1).await.unwrap();
            store.acquire_lease("a1", "w1", LONG).await.unwrap().unwrap();
        }
        let store = open(&dir);
        assert_eq!(store.get("a1").await.unwrap(), Some(Versioned { value: record, version: 2 }));
        assert_eq!(store.acquire_lease("a1", "w2", LONG).await.unwrap(), None);
    }

    #[tokio::test]
    async fn two_handles_on_one_file_see_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let (one, two) = (open(&dir), open(&dir));
        let record = status("a1", "main", &now_rfc3339());
        one.create(&record).await.unwrap();
        assert!(matches!(two.create(&record).await.unwrap(), Created::Existing(_)));
        assert!(one.acquire_lease("a1", "w1", LONG).await.unwrap().is_some());
        assert_eq!(two.acquire_lease("a1", "w2", LONG).await.unwrap(), None);
        assert_eq!(two.update(&record, 1).await.unwrap(), 2);
        assert!(matches!(one.update(&record, 1).await.unwrap_err(), BackendError::Conflict(_)));
    }
}
