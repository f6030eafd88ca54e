//! SQLite's check-in read: a thread of its own with a connection of its own, which reads
//! whatever check-ins queued while it worked in one read transaction.
//!
//! Every check-in reads its device (`Store::checkin_view`). Through sqlx that read is a
//! hand-off to a connection's worker thread and back, besides the pool's bookkeeping; with
//! both cores busy, the wake-ups were a tenth of the node's CPU (docs/benchmarks.md,
//! "Signed check-ins per second").
//!
//! Why a thread: the read blocks whichever thread makes it for some twenty microseconds
//! (a few B-tree pages, about three of them fetched from the kernel's page cache with a
//! `pread` each: SQLite empties a connection's page cache whenever another connection has
//! committed, and the check-in writer commits every millisecond or so). Made on a tokio
//! worker, one of a two-core node's two, it held up every connection that worker serves.
//! On a thread of its own the workers go on serving meanwhile; offered a steady 10,000
//! check-ins a second, the node kept up in eight alternated runs of eight, against three
//! of eight with the read on the workers (docs/benchmarks.md, tenth round).
//!
//! Why batches: one read transaction a batch instead of one a read takes the log's read
//! lock once, and when check-ins come fast the thread waits a moment for more
//! (`lienlock_store::batching`): futex calls fell from 2.0 to 1.1 % of the node's
//! profile. Sharing the transaction's page cache did not lower the page fetches
//! measurably (3.3 a check-in before, 3.6 after).
//!
//! The transaction begins after the batch is taken off the queue, so each read sees every
//! commit acknowledged before it was asked for. The thread never waits for a lock: a
//! reader in WAL mode takes none that a writer holds, and the connection has no busy
//! timeout, so a `SQLITE_BUSY` (a log being reset) returns at once. A read that fails here
//! for any reason answers `None`, and the caller makes it through sqlx, which waits as
//! every other query does.
//!
//! It keeps none of the views it reads (`sqlite_views`): keeping one needs SQLite's write
//! lock, and a reader that took the lock whenever it was free, even a few reads every
//! 50 ms, won it over the pool's writers, whose busy handler sleeps between tries, until
//! one of them failed after its five seconds (a lender's write among them). Only
//! phones whose views are not kept come here.

use crate::rows::CheckinRow;
use crate::sql;
use crate::thread_slot::ThreadSlot;
use lienlock_domain::Imei;
use lienlock_store::batching::{Arrivals, LINGER};
use rusqlite::{Connection, OptionalExtension};
use std::path::Path;
use std::sync::mpsc;
use std::time::Instant;
use tokio::sync::oneshot;

/// The most reads one transaction carries: its snapshot keeps the checkpointer from
/// copying the log past it while it lasts, and the pages all reads share are in its cache
/// well before this many.
const MAX_BATCH: usize = 64;

/// `None`: read it through sqlx.
type Answer = Option<Option<CheckinRow>>;
type Job = (Imei, oneshot::Sender<Answer>);

/// The check-in reader of one database file.
#[derive(Debug)]
pub(crate) struct Readers {
    thread: ThreadSlot<Job>,
}

impl Readers {
    pub(crate) fn new(path: &Path) -> Self {
        let path = path.to_owned();
        Self {
            thread: ThreadSlot::new("sqlite-reader", move |rx| run(&path, rx)),
        }
    }

    /// `sql::CHECKIN_VIEW`'s row for `imei`; `None` when the read could not be made here
    /// (closed, or any error), and the caller should make it through sqlx.
    pub(crate) async fn checkin_row(&self, imei: Imei) -> Answer {
        let (done, answer) = oneshot::channel();
        self.thread.send((imei, done)).ok()?;
        answer.await.ok()?
    }

    /// Stops the thread (reads already queued are answered first) and opens nothing from
    /// now on.
    pub(crate) fn close(&self) {
        if let Some(handle) = self.thread.close() {
            // It only reads, never waiting for a lock: the batch in hand takes microseconds.
            let _ = handle.join();
        }
    }
}

/// The thread: one connection, opened on the first read and again after one fails.
fn run(path: &Path, jobs: mpsc::Receiver<Job>) {
    let mut conn: Option<Connection> = None;
    let mut arrivals = Arrivals::new(Instant::now());
    while let Ok(first) = jobs.recv() {
        if arrivals.busy(Instant::now()) {
            std::thread::sleep(LINGER);
        }
        let batch: Vec<Job> = std::iter::once(first)
            .chain(jobs.try_iter().take(MAX_BATCH - 1))
            .collect();
        arrivals.record(batch.len(), Instant::now());
        if conn.is_none() {
            conn = open(path);
        }
        let Some(c) = &conn else {
            for (_, done) in batch {
                let _ = done.send(None);
            }
            continue;
        };
        if !read_batch(c, batch) {
            // Not trusted again: the next batch opens a fresh connection.
            conn = None;
        }
    }
}

/// Answers every job of `batch` inside one read transaction; `false` when the connection
/// failed (each read that got no row then answers `None`).
fn read_batch(conn: &Connection, batch: Vec<Job>) -> bool {
    if conn.execute_batch("BEGIN").is_err() {
        for (_, done) in batch {
            let _ = done.send(None);
        }
        return false;
    }
    for (imei, done) in batch {
        // Answered at once: that check-in goes on while the batch's others are read.
        let _ = done.send(read(conn, imei.as_str()));
    }
    // A read transaction has nothing to commit: this ends its snapshot.
    conn.execute_batch("COMMIT").is_ok()
}

fn read(conn: &Connection, imei: &str) -> Answer {
    // Nearly every phone checks in with the first IMEI of an enrollment in force, which
    // one index probe finds (see `sql::CHECKIN_VIEW_ACTIVE_IMEI`); the rest take the
    // general statement.
    let read = |statement: &str| {
        conn.prepare_cached(statement)
            .and_then(|mut s| s.query_row([imei], CheckinRow::from_sqlite).optional())
    };
    match read(sql::CHECKIN_VIEW_ACTIVE_IMEI).ok()? {
        Some(row) => Some(Some(row)),
        None => read(sql::CHECKIN_VIEW).ok(),
    }
}

fn open(path: &Path) -> Option<Connection> {
    // Never waiting: see the module's comment for why.
    let conn = crate::sqlite::open_existing_no_wait(path).ok()?;
    conn.pragma_update(None, "cache_size", crate::sqlite::CACHE_SIZE)
        .ok()?;
    Some(conn)
}
