//! SQLite's check-in read, run on the calling thread.
//!
//! Every check-in reads its device (`Store::checkin_view`). Through sqlx that read is a
//! hand-off to a connection's worker thread and back, besides the pool's bookkeeping; with
//! both cores busy, the wake-ups were a tenth of the node's CPU (docs/benchmarks.md,
//! "Signed check-ins per second"). Here the statement runs where the check-in runs, on a
//! connection of a small pool of rusqlite connections kept for this one read.
//!
//! It blocks the calling thread for the read: a few B-tree pages, in the page cache of
//! a node whose file fits its memory, tens of microseconds. It never waits for a lock: a
//! reader in WAL mode takes none that a writer holds, and the connections have no busy
//! timeout, so a `SQLITE_BUSY` (a log being reset) returns at once. Any error sends the
//! caller to the sqlx path, which waits as every other query does.

use crate::rows::CheckinRow;
use crate::sql;
use rusqlite::{Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Idle connections kept at most: no more reads run at once than the runtime has threads;
/// eight leaves room for a larger machine's.
const KEEP: usize = 8;

/// The readers of one database file.
#[derive(Debug)]
pub(crate) struct Readers {
    path: PathBuf,
    /// `None` once closed: nothing is kept or opened after that.
    idle: Mutex<Option<Vec<Connection>>>,
}

impl Readers {
    pub(crate) fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            idle: Mutex::new(Some(Vec::new())),
        }
    }

    /// `sql::CHECKIN_VIEW`'s row for `imei`; `None` when the read could not be made here
    /// (closed, or any error), and the caller should make it through sqlx.
    pub(crate) fn checkin_row(&self, imei: &str) -> Option<Option<CheckinRow>> {
        let conn = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            idle.as_mut()?.pop()
        };
        let conn = match conn {
            Some(c) => c,
            None => open(&self.path)?,
        };
        // Nearly every phone checks in with the first IMEI of an enrollment in force, which
        // one index probe finds (see `sql::CHECKIN_VIEW_ACTIVE_IMEI`); the rest take the
        // general statement.
        let read = |statement: &str| {
            conn.prepare_cached(statement)
                .and_then(|mut s| s.query_row([imei], CheckinRow::from_sqlite).optional())
        };
        let row = match read(sql::CHECKIN_VIEW_ACTIVE_IMEI).ok()? {
            Some(row) => Some(row),
            None => read(sql::CHECKIN_VIEW).ok()?,
        };
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(idle) = idle.as_mut() {
            if idle.len() < KEEP {
                idle.push(conn);
            }
        }
        Some(row)
    }

    /// Closes every idle connection and keeps none from now on (one in use is closed when
    /// its read ends).
    pub(crate) fn close(&self) {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

fn open(path: &Path) -> Option<Connection> {
    // Never waiting: see the module's comment for why.
    let conn = crate::sqlite::open_existing_no_wait(path).ok()?;
    conn.pragma_update(None, "cache_size", crate::sqlite::CACHE_SIZE)
        .ok()?;
    Some(conn)
}
