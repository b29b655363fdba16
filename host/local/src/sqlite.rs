//! What the SQLite-backed stores share: opening a database file the same way every time, writes
//! on tokio's blocking pool rather than on the runtime's workers, and a pool of read connections.
//!
//! Every file is opened in WAL mode, so readers never wait for a writer, with `synchronous =
//! NORMAL` (a committed write survives a crash of the process; only a power cut can lose the
//! last few) and a busy timeout, so a second connection to the same file — another handle or
//! another process — waits for the write lock instead of failing at once.

use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::Semaphore;
use transflow_store::backends::{BackendError, BackendResult};

/// How long a connection waits for another one's write lock before reporting the file busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Read connections a [`Db`] opens at most. A read holds one only while its statement runs on
/// a runtime thread, so about one per runtime thread is ever in use.
const MAX_READERS: usize = 8;

/// A SQLite file shared by the tasks of one store: one connection that writes, and a pool of
/// read-only ones.
///
/// A single writer behind a mutex is enough: SQLite serialises writers to a file anyway, and
/// statements here are short. Its mutex is only ever locked on the blocking pool. Reads never
/// wait for it: in WAL mode each read connection sees the last committed state while a write
/// is in progress.
pub(super) struct Db {
    writer: Arc<Mutex<Connection>>,
    readers: Readers,
    path: PathBuf,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("path", &self.path).finish()
    }
}

/// Read-only connections, opened when first needed and kept for the next read.
struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// One permit per connection that may exist, idle or in use.
    permits: Semaphore,
}

impl Readers {
    /// An idle connection, or a new one (the caller holds one of the [`MAX_READERS`] permits).
    fn take(&self) -> rusqlite::Result<Connection> {
        if let Some(conn) = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop() {
            return Ok(conn);
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        Ok(conn)
    }

    fn give_back(&self, conn: Connection) {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner).push(conn);
    }
}

impl Db {
    /// Opens (creating it and its parent directories if needed) the database at `path` and
    /// runs `schema`, which must be idempotent (`CREATE … IF NOT EXISTS`).
    ///
    /// This blocks; stores are opened once, at startup.
    pub(super) fn open(path: &Path, schema: &str) -> BackendResult<Db> {
        if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| BackendError::io(format!("creating directory {}", parent.display()), e))?;
        }
        let conn = Connection::open(path)
            .and_then(|conn| {
                // The busy timeout comes first: switching to WAL itself needs a lock.
                conn.busy_timeout(BUSY_TIMEOUT)?;
                conn.pragma_update(None, "journal_mode", "WAL")?;
                conn.pragma_update(None, "synchronous", "NORMAL")?;
                conn.execute_batch(schema)?;
                Ok(conn)
            })
            .map_err(|e| BackendError::io(format!("opening SQLite database {}", path.display()), e))?;
        let readers = Readers {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(MAX_READERS),
        };
        Ok(Db { writer: Arc::new(Mutex::new(conn)), readers, path: path.to_owned() })
    }

    /// Runs `f` with the writing connection on the blocking pool; a SQLite error becomes
    /// [`BackendError::Io`] saying it happened while `context`.
    ///
    /// If the caller stops waiting, `f` still runs to the end, so a transaction is either
    /// committed or rolled back, never left half done.
    pub(super) async fn call<T, F>(&self, context: String, f: F) -> BackendResult<T>
    where
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let conn = Arc::clone(&self.writer);
        let joined = tokio::task::spawn_blocking(move || {
            // A panic inside `f` dropped its transaction, which rolled it back, so the
            // connection is still consistent and the poison can be ignored.
            let mut conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut conn)
        })
        .await;
        match joined {
            Ok(result) => result.map_err(|e| BackendError::io(context, e)),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(BackendError::io(context, e)),
        }
    }

    /// Runs the read `f` with a read connection, on the calling thread: a read of a few rows by
    /// key takes microseconds, less than handing it to the blocking pool and back would.
    ///
    /// A WAL reader waits for nobody, except while another connection recovers the log after
    /// a crash or holds the file exclusively (nothing here does); only then would this thread
    /// sleep, for up to the busy timeout.
    pub(super) async fn read<T, F>(&self, context: String, f: F) -> BackendResult<T>
    where
        F: FnOnce(&Connection) -> rusqlite::Result<T>,
    {
        let _permit = self.readers.permits.acquire().await.expect("the semaphore is never closed");
        let conn = self.readers.take().map_err(|e| BackendError::io(context.clone(), e))?;
        let result = f(&conn);
        self.readers.give_back(conn);
        result.map_err(|e| BackendError::io(context, e))
    }
}

/// Now, in milliseconds since the Unix epoch: the unit every stored deadline is in.
pub(super) fn now_millis() -> i64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

/// A duration in milliseconds, saturating (a deadline that far out never arrives anyway).
pub(super) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// The instant `millis` milliseconds after the Unix epoch.
pub(super) fn time_from_millis(millis: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(millis).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::{OptionalExtension, TransactionBehavior};
    use std::sync::mpsc;
    use tokio::task::JoinSet;

    const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL);";
    /// Bounds every wait, so a broken test fails instead of hanging; never reached when the
    /// store behaves.
    const GUARD: Duration = Duration::from_secs(30);

    fn value(conn: &Connection) -> rusqlite::Result<Option<i64>> {
        conn.prepare_cached("SELECT v FROM kv WHERE k = 'a'")?.query_row([], |row| row.get(0)).optional()
    }

    /// A database at `path` holding `a = 1`.
    async fn seeded(path: &Path) -> Db {
        let db = Db::open(path, SCHEMA).unwrap();
        db.call("seeding".into(), |conn| conn.execute("INSERT INTO kv VALUES ('a', 1)", [])).await.unwrap();
        db
    }

    #[tokio::test]
    async fn files_are_in_wal_mode_and_read_connections_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.sqlite");
        let db = seeded(&path).await;
        let mode: String = Connection::open(&path)
            .unwrap()
            .pragma_query_value(None, "journal_mode", |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let refused =
            db.read("writing".into(), |conn| conn.execute("UPDATE kv SET v = 2", [])).await.unwrap_err();
        assert!(format!("{refused:?}").contains("readonly"), "{refused:?}");
        assert_eq!(db.read("reading".into(), value).await.unwrap(), Some(1));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_go_on_while_a_write_is_in_progress() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(seeded(&dir.path().join("kv.sqlite")).await);
        let (started, has_started) = mpsc::channel();
        let (finish, may_finish) = mpsc::channel::<()>();
        let writer = Arc::clone(&db);
        let writing = tokio::spawn(async move {
            writer
                .call("writing".into(), move |conn| {
                    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                    tx.execute("UPDATE kv SET v = 2", [])?;
                    started.send(()).unwrap();
                    may_finish.recv_timeout(GUARD).expect("the test lets the write finish");
                    tx.commit()
                })
                .await
        });
        tokio::task::spawn_blocking(move || has_started.recv_timeout(GUARD)).await.unwrap().unwrap();

        // The writer holds its connection and the file's write lock: reads, many at once, see
        // the last committed state without waiting for it.
        let mut reads = JoinSet::new();
        for _ in 0..2 * MAX_READERS {
            let db = Arc::clone(&db);
            reads.spawn(async move { db.read("reading".into(), value).await });
        }
        let seen =
            tokio::time::timeout(GUARD, reads.join_all()).await.expect("reads do not wait for the write");
        assert!(seen.iter().all(|read| matches!(read, Ok(Some(1)))), "{seen:?}");

        finish.send(()).unwrap();
        writing.await.unwrap().unwrap();
        assert_eq!(db.read("reading".into(), value).await.unwrap(), Some(2));
    }
}
