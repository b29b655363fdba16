//! What the SQLite-backed stores share: opening a database file the same way every time, and
//! running its blocking calls on tokio's blocking pool rather than on the runtime's workers.
//!
//! Every file is opened in WAL mode, so readers never wait for a writer, with `synchronous =
//! NORMAL` (a committed write survives a crash of the process; only a power cut can lose the
//! last few) and a busy timeout, so a second connection to the same file — another handle or
//! another process — waits for the write lock instead of failing at once.

use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use transflow_store::backends::{BackendError, BackendResult};

/// How long a connection waits for another one's write lock before reporting the file busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// One connection to a SQLite file, shared by the tasks of one store.
///
/// A single connection behind a mutex is enough: SQLite serialises writers to a file anyway,
/// and statements here are short. The mutex is only ever locked on the blocking pool.
pub(super) struct Db {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("path", &self.path).finish()
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
        Ok(Db { conn: Arc::new(Mutex::new(conn)), path: path.to_owned() })
    }

    /// Runs `f` with the connection on the blocking pool; a SQLite error becomes
    /// [`BackendError::Io`] saying it happened while `context`.
    ///
    /// If the caller stops waiting, `f` still runs to the end, so a transaction is either
    /// committed or rolled back, never left half done.
    pub(super) async fn call<T, F>(&self, context: String, f: F) -> BackendResult<T>
    where
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
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
