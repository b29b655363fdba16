//! Assembly status records in a SQLite file: the embedded stand-in for a DynamoDB table.
//!
//! One row per assembly. The status document is stored whole, as JSON; the columns beside it
//! are what queries need (branch, creation time) and the lease. The lease is kept apart from
//! the document's version, so renewing a lease never makes its holder's next status write
//! conflict. Every read-then-write runs in one `BEGIN IMMEDIATE` transaction, which holds the
//! file's write lock from the start: two processes sharing the file cannot interleave.

use super::sqlite::{Db, millis, now_millis, time_from_millis};
use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::path::Path;
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use transflow_store::assembly::AssemblyStatus;
use transflow_store::backends::{BackendError, BackendResult, Created, Lease, StatusStore, Versioned};

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
    conn.prepare_cached("SELECT status, version FROM assemblies WHERE assembly_id = ?1")?
        .query_row([id], |row| Ok((row.get(0)?, row.get(1)?)))
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
            Some((json, version)) => {
                Ok(Created::Existing(Box::new(Versioned { value: decode(&id, &json)?, version })))
            }
        }
    }

    async fn get(&self, assembly_id: &str) -> BackendResult<Option<Versioned<AssemblyStatus>>> {
        let id = assembly_id.to_owned();
        let found =
            self.db.read(format!("reading the status of assembly {id}"), move |conn| read(conn, &id)).await?;
        found.map(|(json, version)| Ok(Versioned { value: decode(assembly_id, &json)?, version })).transpose()
    }

    /// The document as stored: it was written by `serde_json::to_string`, as the trait asks.
    async fn get_json(&self, assembly_id: &str) -> BackendResult<Option<String>> {
        let id = assembly_id.to_owned();
        self.db
            .read(format!("reading the status of assembly {id}"), move |conn| {
                conn.prepare_cached("SELECT status FROM assemblies WHERE assembly_id = ?1")?
                    .query_row([&id], |row| row.get(0))
                    .optional()
            })
            .await
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
                       AND (lease_owner IS NULL OR lease_expires_at <= ?4)",
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
            .read(format!("listing the assemblies of branch {branch}"), move |conn| {
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
