//! Turns at SQLite's write lock, taken in order within the process.
//!
//! SQLite lets one connection write at a time and is not fair about who is next: a
//! connection that finds the lock taken sleeps in its busy handler (1, 2, 5 ... 100 ms) and
//! tries again, while one that asks the moment the lock is freed gets it. The check-in
//! writer thread asks again the moment it commits, whenever check-ins are queued, so under
//! a steady stream of check-ins a lender's payment or a scheduler pass could wait its whole
//! five-second busy timeout and fail (it did, in the conformance test that races them).
//!
//! So every writer of a SQLite file in this process first takes a turn here, a
//! first-come-first-served lock (tokio's `Mutex` queues its waiters), and holds it until
//! its transaction ends: the pool's write transactions, the check-in writer's batches, and
//! the check-in views' keeper. Then SQLite's own lock is free whenever a writer with a turn
//! asks for it, and nobody sleeps in a busy handler behind another of this process's
//! writers. PostgreSQL orders its row locks itself: no turns there.

use crate::per_file::PerFile;
use std::path::Path;
use std::sync::Arc;

/// The turns at one database file's write lock.
pub(crate) type Gate = tokio::sync::Mutex<()>;

/// A turn, held until dropped.
pub(crate) type Turn = tokio::sync::OwnedMutexGuard<()>;

static GATES: PerFile<Gate> = PerFile::new();

/// The gate of the file at `path`, made if none is alive. Whoever holds it keeps it
/// alive (the store does, for as long as it is open).
pub(crate) fn gate(path: &Path) -> Arc<Gate> {
    GATES.get_or_make(path, || Gate::new(()))
}

/// A pool whose writes take turns.
pub(crate) trait Turns {
    /// The gate of the pool's database, if its writes take turns.
    fn gate(&self) -> Option<Arc<Gate>>;
}

impl Turns for sqlx::SqlitePool {
    fn gate(&self) -> Option<Arc<Gate>> {
        GATES.get(self.connect_options().get_filename())
    }
}

impl Turns for sqlx::PgPool {
    fn gate(&self) -> Option<Arc<Gate>> {
        None
    }
}

/// Waits for a turn at `pool`'s write lock; hold it until the transaction (or the single
/// writing statement) is done.
pub(crate) async fn take(pool: &impl Turns) -> Option<Turn> {
    Some(pool.gate()?.lock_owned().await)
}

/// [`take`] for a thread outside the async runtime (the check-in writer, the views'
/// keeper).
pub(crate) fn take_blocking(gate: &Arc<Gate>) -> Turn {
    gate.clone().blocking_lock_owned()
}
