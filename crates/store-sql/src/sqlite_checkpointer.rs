//! Copies SQLite's write-ahead log back into the database file, on a thread of its own
//! with a connection of its own, so that commits do not.
//!
//! SQLite checkpoints inside whichever commit pushes the log past `wal_autocheckpoint`
//! pages, so that commit pays for pages others wrote. Every check-in's write goes through
//! one writer thread (`sqlite_writer`), the serial stage of a loaded node: offered 9,000
//! check-ins a second, it was busy nine tenths of each second, two thirds of that in its
//! commits, the checkpoints inside them included (docs/benchmarks.md, seventh round). Here
//! the copying runs on whatever core has time to spare.
//!
//! A checkpoint here is `PASSIVE`: it never waits for, or blocks, a reader or the writer.
//! It runs when the writer says it committed, at most once every [`GAP`], and every
//! [`IDLE_EVERY`] besides, for what the pool's connections write. A log that grows past
//! the backstop anyway (the thread cannot keep up, or a steady stream of commits leaves
//! the log no quiet moment to restart from its beginning) is checkpointed by the commit
//! that passes it, as before (`sqlite::BACKSTOP_CHECKPOINT_PAGES`).

use rusqlite::Connection;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The least time between two checkpoints: a nudge during it waits for its end. Each
/// checkpoint ends with an `fsync` of the database file, and a page written again between
/// two is copied once: at 20 ms a check-in cost about a tenth more CPU than with SQLite's
/// own checkpoints, at 100 ms a little less (docs/benchmarks.md, seventh round).
const GAP: Duration = Duration::from_millis(100);

/// The longest time without a checkpoint while nothing nudges.
const IDLE_EVERY: Duration = Duration::from_millis(500);

/// The thread and how to reach it. Dropping it lets the thread end at its next wake-up;
/// [`Checkpointer::stop`] also waits for that.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    wake: SyncSender<()>,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// Tells the checkpointer that a commit added to the log. Cheap to clone and to call: it
/// never blocks, and nudges while one is pending count once.
#[derive(Clone, Debug)]
pub(crate) struct Nudge(SyncSender<()>);

impl Nudge {
    pub(crate) fn committed(&self) {
        let _ = self.0.try_send(());
    }
}

impl Checkpointer {
    /// Starts the thread for the database at `path`. It opens its connection at its
    /// first checkpoint, not now: a store opened briefly (a migration, a tool) and closed
    /// again never holds one more.
    pub(crate) fn start(path: &Path) -> std::io::Result<Self> {
        Self::start_with(path, IDLE_EVERY)
    }

    fn start_with(path: &Path, idle_every: Duration) -> std::io::Result<Self> {
        let (wake, woken) = mpsc::sync_channel(1);
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn({
                let (path, stop) = (path.to_owned(), stop.clone());
                move || run(&path, &woken, &stop, idle_every)
            })?;
        Ok(Self {
            wake,
            stop,
            thread: Mutex::new(Some(thread)),
        })
    }

    pub(crate) fn nudge(&self) -> Nudge {
        Nudge(self.wake.clone())
    }

    /// Ends the thread and waits until it is gone, with its connection.
    pub(crate) async fn stop(&self) {
        self.signal_stop();
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }

    fn signal_stop(&self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.wake.try_send(());
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.signal_stop();
    }
}

fn run(path: &Path, woken: &mpsc::Receiver<()>, stop: &AtomicBool, idle_every: Duration) {
    let mut conn: Option<Connection> = None;
    loop {
        match woken.recv_timeout(idle_every) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        if stop.load(Ordering::Acquire) {
            return;
        }
        if conn.is_none() {
            conn = open(path).ok();
        }
        if let Some(c) = &conn {
            // A failure (read-only, disk full, the file gone) is tried again on a fresh
            // connection next time; the backstop bounds the log meanwhile, and the
            // requests that write report the cause. "Busy" (another checkpoint running)
            // is a result row, not an error.
            if c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                .is_err()
            {
                conn = None;
            }
        }
        std::thread::sleep(GAP);
    }
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    // Never creating the file, never waiting: a PASSIVE checkpoint takes no lock it would
    // have to wait for.
    let conn = crate::sqlite::open_existing_no_wait(path)?;
    // FULL, as every connection: the checkpoint syncs the database file before the log
    // may be restarted over what it copied (under OFF it would not, and a power cut could
    // lose committed writes).
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database in WAL mode whose log holds `rows` rows the file does not yet have.
    fn logged_but_not_copied(path: &Path, rows: u32) -> Connection {
        let c = Connection::open(path).unwrap();
        c.pragma_update(None, "journal_mode", "WAL").unwrap();
        c.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        c.execute_batch("CREATE TABLE t (x BLOB)").unwrap();
        let tx = c.unchecked_transaction().unwrap();
        for _ in 0..rows {
            tx.execute("INSERT INTO t VALUES (zeroblob(1000))", [])
                .unwrap();
        }
        tx.commit().unwrap();
        c
    }

    fn file_len(path: &Path) -> u64 {
        std::fs::metadata(path).unwrap().len()
    }

    /// A fresh database whose log holds 2,000 rows of 1,000 bytes, the connection that
    /// wrote them (kept open, so the log stays), and the file's length before a checkpoint.
    fn fixture() -> (tempfile::TempDir, std::path::PathBuf, Connection, u64) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let writer = logged_but_not_copied(&path, 2_000);
        let before = file_len(&path);
        (dir, path, writer, before)
    }

    /// Waits (generously) until the file has grown by the log's rows.
    async fn copied(path: &Path, before: u64) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while file_len(path) <= before + 1_000_000 {
            assert!(
                std::time::Instant::now() < deadline,
                "the log was never copied"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// A nudge copies the log into the file (the idle period is an hour here, so nothing
    /// else could have), and `stop` ends the thread.
    #[tokio::test]
    async fn a_nudge_copies_the_log_into_the_file() {
        let (_dir, path, _writer, before) = fixture();
        let checkpointer = Checkpointer::start_with(&path, Duration::from_secs(3600)).unwrap();
        checkpointer.nudge().committed();
        copied(&path, before).await;
        checkpointer.stop().await;
        assert!(checkpointer.thread.lock().unwrap().is_none());
    }

    /// A database file that is not there is not created (nor is one replaced after it
    /// was moved away): the checkpointer only ever opens what exists.
    #[test]
    fn a_missing_file_is_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gone.db");
        assert!(open(&path).is_err());
        assert!(!path.exists());
    }

    /// With nothing nudging, the thread still checkpoints every idle period (for what the
    /// pool's connections write).
    #[tokio::test]
    async fn without_nudges_it_checkpoints_when_idle() {
        let (_dir, path, _writer, before) = fixture();
        let checkpointer = Checkpointer::start_with(&path, Duration::from_millis(50)).unwrap();
        copied(&path, before).await;
        checkpointer.stop().await;
    }
}
