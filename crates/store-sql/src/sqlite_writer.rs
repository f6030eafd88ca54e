//! SQLite's writer for plain device writes: a thread of its own with a connection of its
//! own, which runs a whole batch (begin, one prepared `UPDATE` per row, commit) without
//! leaving the thread.
//!
//! Every check-in writes its device row, and SQLite takes one writer at a time, so the
//! group commit's batches are the serial stage that bounds a node's check-ins per second.
//! Through sqlx, each statement of a batch is a hand-off to the connection's worker thread
//! and back (begin, the write-lock touch, the update, its indexed columns, commit); with
//! both cores busy serving requests, every hand-off waits for the scheduler, and batches
//! took about 0.3 ms a row (docs/benchmarks.md, "Signed check-ins per second"). Here a
//! batch is one hand-off each way.
//!
//! Only plain writes come here: a device row and nothing else (no events, commands,
//! contract or notices), which is what a check-in of a phone in good standing writes.
//! Anything else takes the general path (`store_batch`). A kept phone's check-in that
//! changes no more than its counter, lease sequence and times is appended to the check-in
//! log instead of rewriting the row (`sqlite_unmerged`). Each write is still checked
//! against the version that was read, and the pool's pragmas apply (`synchronous = FULL`:
//! nothing is answered before it is durable) but one, below.

use crate::error::Unavailable;
use crate::rows::{indexed_columns, IndexedColumns};
use crate::sqlite_checkpointer::Nudge;
use crate::sqlite_views::Views;
use crate::thread_slot::{Stopped, ThreadSlot};
use crate::write_turn::Gate;
use lienlock_domain::Timestamp;
use lienlock_store::{Device, DeviceWrite, StoreError, StoreResult};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::path::Path;
use std::sync::{mpsc, Arc};
use tokio::sync::oneshot;

/// One row's new non-indexed columns, checked against `version`, where `$find` finds the
/// row; returns the row's indexed columns (which it leaves alone) so the writer can tell
/// whether they changed.
macro_rules! update_one {
    ($find:literal) => {
        concat!(
            "UPDATE devices SET model = ?4, key_status = ?5, device_key = ?6, \
             pending_key = ?7, last_counter = ?8, pending_counter = ?9, lease_seq = ?10, \
             last_seen_at = ?11, updated_at = ?12, retired_key = ?13, retired_counter = ?14, \
             notice_seq = ?15, policy_level_since = ?16, version = version + 1 WHERE ",
            $find,
            " AND lender_id = ?2 AND version = ?3 \
             RETURNING state, arrears_amount, arrears_currency, arrears_since, serial, \
             policy_level"
        )
    };
}

/// [`update_one`] by `id`. `?17` is NULL here: it is named so that both statements take
/// the same parameters.
const UPDATE_ONE: &str = update_one!("id = ?1 AND ?17 IS NULL");

/// [`update_one`] by `rowid` (`?17`), the row's when its check-in view is kept
/// (`sqlite_views`): no descent of the `id` index. With the views, those descents and
/// their page reads were a fifth of this thread's time, and this thread is the stage every
/// check-in passes through one at a time (docs/benchmarks.md, fifteenth round). The `id`
/// is still checked, so a `rowid` that is not that device's row finds nothing (stale, read
/// again).
const UPDATE_ONE_AT: &str = update_one!("rowid = ?17 AND id = ?1");

/// The indexed columns, when one of them changed (see `sql::SET_INDEXED_COLUMNS_HEAD` for
/// why they are written apart).
const SET_INDEXED_ONE: &str = "UPDATE devices SET state = ?2, arrears_amount = ?3, \
     arrears_currency = ?4, arrears_since = ?5, serial = ?6, policy_level = ?7 WHERE id = ?1";

/// A check-in appended to `checkin_log` (`sqlite_unmerged`), with `Entry::values`'
/// parameters.
const APPEND: &str = "INSERT INTO checkin_log (device_id, version, last_counter, lease_seq, \
     last_seen_at, updated_at, device_rowid) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

/// What one plain write stores, converted before it is sent.
struct Row {
    /// The row's `rowid`, when its view says it.
    rowid: Option<i64>,
    /// The write: appended instead, when its view is kept and it changes no more than a
    /// log record holds (`Views::append`); else what its view takes once it lands.
    device: Device,
    id: String,
    lender_id: String,
    version: i64,
    model: Option<String>,
    key_status: &'static str,
    device_key: Option<Vec<u8>>,
    pending_key: Option<Vec<u8>>,
    counters: [i64; 5],
    last_seen_at: Option<i64>,
    updated_at: i64,
    retired_key: Option<Vec<u8>>,
    policy_level_since: i64,
    indexed: IndexedColumns,
}

/// What became of one write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// Appended to `checkin_log`; its view already holds it.
    Appended,
    /// Its row rewritten, at the version that was read.
    Written,
    /// Its row had changed since it was read: nothing written.
    Stale,
}

type Answer = StoreResult<Vec<Outcome>>;
type Job = (Vec<Row>, oneshot::Sender<Answer>);

/// Whether `write` is plain: its device row and nothing else.
pub(crate) fn is_plain(write: &DeviceWrite) -> bool {
    write.new_commands.is_empty()
        && write.resolved_commands.is_empty()
        && write.events.is_empty()
        && write.contract.is_none()
        && write.new_notices.is_empty()
        && write.notices_delivered.is_none()
}

/// Converts a plain write; an out-of-range counter is refused before anything is sent.
fn row(write: &DeviceWrite, rowid: Option<i64>) -> StoreResult<Row> {
    let d = &write.device;
    let to_i64 = crate::error::to_i64;
    Ok(Row {
        rowid,
        device: d.clone(),
        id: d.id.to_string(),
        lender_id: d.lender_id.to_string(),
        version: d.version,
        model: d.model.clone(),
        key_status: d.key_status.as_str(),
        device_key: d.device_key.map(|k| k.to_vec()),
        pending_key: d.pending_key.map(|k| k.to_vec()),
        counters: [
            to_i64(d.last_counter, "last_counter")?,
            to_i64(d.pending_counter, "pending_counter")?,
            to_i64(d.lease_seq, "lease_seq")?,
            to_i64(d.retired_counter, "retired_counter")?,
            to_i64(d.notice_seq, "notice_seq")?,
        ],
        last_seen_at: d.last_seen_at.map(Timestamp::as_millis),
        updated_at: d.updated_at.as_millis(),
        retired_key: d.retired_key.map(|k| k.to_vec()),
        policy_level_since: d.policy_level_since.as_millis(),
        indexed: indexed_columns(d),
    })
}

/// The writer of one database file. Cheap to clone; the thread starts on first use and
/// ends (closing its connection) when the last clone is dropped or [`Writer::close`] runs.
#[derive(Clone, Debug)]
pub(crate) struct Writer(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    thread: ThreadSlot<Job>,
    /// The check-in views its writes bring up to date or drop (`sqlite_views`).
    views: Arc<Views>,
}

impl Writer {
    pub(crate) fn new(path: &Path, checkpoint: Nudge, views: Arc<Views>) -> Self {
        let path = path.to_owned();
        let gate = crate::write_turn::gate(&path);
        let kept = views.clone();
        // The checkpointer is told after every commit, so the log is copied off this thread.
        Self(Arc::new(Inner {
            thread: ThreadSlot::new("sqlite-writer", move |rx| {
                run(&path, &checkpoint, &gate, &kept, rx)
            }),
            views,
        }))
    }

    /// Writes `writes` (plain, of distinct devices) in one transaction; says per write
    /// whether it landed (`false`: its device changed since it was read). `Err`: nothing
    /// landed. A write refused before anything is sent fails alone.
    pub(crate) async fn write(&self, writes: &[&DeviceWrite]) -> StoreResult<Vec<StoreResult<()>>> {
        let mut results = Vec::with_capacity(writes.len());
        let mut rows = Vec::with_capacity(writes.len());
        for w in writes {
            match row(w, self.0.views.rowid(&w.device)) {
                Ok(r) => {
                    rows.push(r);
                    results.push(Ok(()));
                }
                Err(e) => results.push(Err(e)),
            }
        }
        if rows.is_empty() {
            return Ok(results);
        }
        let (done, answer) = oneshot::channel();
        self.send((rows, done))?;
        // A dropped answer means the thread died mid-batch: whether the batch committed is
        // unknown, so nobody may be told it did.
        let landed = match answer.await.map_err(|_| stopped()).and_then(|a| a) {
            Ok(landed) => landed,
            Err(e) => {
                // Whatever the batch did or did not commit, no view of it is kept.
                for (w, r) in writes.iter().zip(&results) {
                    if r.is_ok() {
                        self.0.views.written(&w.device, false);
                    }
                }
                return Err(e);
            }
        };
        // The thread brought the views up to date, in its turn.
        let mut landed = landed.into_iter();
        for r in results.iter_mut() {
            if r.is_err() {
                continue;
            }
            if let Some(Outcome::Stale) | None = landed.next() {
                *r = Err(StoreError::Stale);
            }
        }
        Ok(results)
    }

    fn send(&self, job: Job) -> StoreResult<()> {
        self.0
            .thread
            .send(job)
            .map_err(|Stopped(why)| StoreError::Unavailable(why))
    }

    /// Stops the thread and waits until its connection is closed.
    pub(crate) async fn close(&self) {
        if let Some(handle) = self.0.thread.close() {
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the SQLite writer thread stopped".into())
}

/// The thread: one connection, opened on the first batch and again after it fails. Each
/// batch waits for its turn at the write lock (`write_turn`): this thread would otherwise
/// take SQLite's lock again the moment it commits, ahead of the pool's writers.
fn run(
    path: &Path,
    checkpoint: &Nudge,
    gate: &Arc<Gate>,
    views: &Views,
    jobs: mpsc::Receiver<Job>,
) {
    let mut conn: Option<Connection> = None;
    for (rows, done) in jobs {
        let turn = crate::write_turn::take_blocking(gate);
        let answer = match conn.as_mut() {
            Some(c) => write(c, &rows, views),
            None => open(path).and_then(|mut c| {
                let answer = write(&mut c, &rows, views);
                conn = Some(c);
                answer
            }),
        };
        // The views follow the batch before the turn ends: a check-in appended in the next
        // turn from a view the batch left behind would give the device two rows of one
        // version (`sqlite_unmerged`).
        for (i, r) in rows.iter().enumerate() {
            match answer.as_ref().map(|outcomes| outcomes.get(i)) {
                Ok(Some(Outcome::Appended)) => {}
                Ok(Some(Outcome::Written)) => views.written(&r.device, true),
                _ => views.written(&r.device, false),
            }
        }
        drop(turn);
        if answer.is_err() {
            // A connection that failed (a disk error, a full disk) is not trusted again:
            // the next batch opens a fresh one.
            conn = None;
        } else {
            checkpoint.committed();
        }
        let _ = done.send(answer);
    }
}

fn open(path: &Path) -> StoreResult<Connection> {
    // Never creates the file: a database moved away or deleted under a running node is
    // not replaced by an empty one, whose missing table would then fail every batch. It
    // then waits for the lock as the pool's connections do.
    let conn = crate::sqlite::open_existing_no_wait(path).map_err(classify)?;
    // SQLite's own busy handler, as on the pool's connections. One that tried every
    // 100 µs made the check-in writer win the lock from the pool's writers, whose handler
    // sleeps longer between tries, and starved them under load (a lender's write then
    // failed after its five seconds).
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(classify)?;
    // As the pool's connections (`open_sqlite`): the file is already in WAL mode, and the
    // checkpointer thread copies the log, so that this thread's commits (the serial stage
    // of every check-in) do not; the threshold is only its backstop.
    for (name, value) in [
        ("synchronous", "FULL"),
        ("foreign_keys", "ON"),
        ("cache_size", crate::sqlite::CACHE_SIZE),
        (
            "wal_autocheckpoint",
            crate::sqlite::BACKSTOP_CHECKPOINT_PAGES,
        ),
        ("journal_size_limit", crate::sqlite::WAL_SIZE_LIMIT),
    ] {
        conn.pragma_update(None, name, value).map_err(classify)?;
    }
    Ok(conn)
}

/// One batch, in this thread's turn at the write lock: each write appended to `checkin_log`
/// when its view takes it, else its row settled (`sqlite_unmerged`) and rewritten.
fn write(conn: &mut Connection, rows: &[Row], views: &Views) -> Answer {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(classify)?;
    let mut landed = Vec::with_capacity(rows.len());
    {
        let mut by_id = tx.prepare_cached(UPDATE_ONE).map_err(classify)?;
        let mut at_rowid = tx.prepare_cached(UPDATE_ONE_AT).map_err(classify)?;
        let mut set_indexed = tx.prepare_cached(SET_INDEXED_ONE).map_err(classify)?;
        let mut append = tx.prepare_cached(APPEND).map_err(classify)?;
        let mut settle = tx
            .prepare_cached(crate::sqlite_unmerged::SETTLE)
            .map_err(classify)?;
        for r in rows {
            if let Some(e) = r.rowid.and_then(|_| views.append(&r.device)) {
                let values = e.values(&r.id, Some(e.rowid))?;
                append
                    .execute(rusqlite::params_from_iter(values))
                    .map_err(classify)?;
                landed.push(Outcome::Appended);
                continue;
            }
            if let Some(e) = views.unmerged.get(r.device.id) {
                let values = e.values(&r.id, None)?;
                settle
                    .execute(rusqlite::params_from_iter(values))
                    .map_err(classify)?;
            }
            let [last, pending, lease_seq, retired, notice_seq] = r.counters;
            let update = match r.rowid {
                Some(_) => &mut at_rowid,
                None => &mut by_id,
            };
            let stored: Option<IndexedColumns> = update
                .query_row(
                    params![
                        r.id,
                        r.lender_id,
                        r.version,
                        r.model,
                        r.key_status,
                        r.device_key,
                        r.pending_key,
                        last,
                        pending,
                        lease_seq,
                        r.last_seen_at,
                        r.updated_at,
                        r.retired_key,
                        retired,
                        notice_seq,
                        r.policy_level_since,
                        r.rowid,
                    ],
                    |x| {
                        Ok((
                            x.get(0)?,
                            x.get(1)?,
                            x.get(2)?,
                            x.get(3)?,
                            x.get(4)?,
                            x.get(5)?,
                        ))
                    },
                )
                .optional()
                .map_err(classify)?;
            if let Some(stored) = &stored {
                if *stored != r.indexed {
                    let (state, amount, currency, since, serial, level) = &r.indexed;
                    set_indexed
                        .execute(params![r.id, state, amount, currency, since, serial, level])
                        .map_err(classify)?;
                }
            }
            landed.push(match stored {
                Some(_) => Outcome::Written,
                None => Outcome::Stale,
            });
        }
    }
    tx.commit().map_err(classify)?;
    Ok(landed)
}

/// As `crate::error::classify` for sqlx's errors: the codes that mean "cannot write now"
/// are *Unavailable*, *Full* or *ReadOnly*; anything else is *Backend*.
fn classify(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, message) = &e {
        if let Some((kind, why)) = crate::sqlite::unavailable(&f.extended_code.to_string()) {
            let text = format!("{why}: {}", message.as_deref().unwrap_or("(no detail)"));
            return match kind {
                Unavailable::Now => StoreError::Unavailable(text),
                Unavailable::Full => StoreError::Full(text),
                Unavailable::ReadOnly => StoreError::ReadOnly(text),
            };
        }
    }
    StoreError::Backend(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The thread's connection to a database file that is not there fails, and leaves no
    /// file behind (the batch then answers *Unavailable* or *Backend*, and the next one
    /// tries again).
    #[test]
    fn a_missing_file_is_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gone.db");
        assert!(open(&path).is_err());
        assert!(!path.exists(), "the writer created the database file");
    }

    /// Once closed, the writer starts no thread and opens nothing: the file may be in a
    /// bulk loader's hands.
    #[tokio::test]
    async fn a_closed_writer_stays_closed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        crate::sqlite::open_sqlite(&path)
            .await
            .unwrap()
            .close()
            .await;
        let checkpointer = crate::sqlite_checkpointer::Checkpointer::start(&path).unwrap();
        let writer = Writer::new(&path, checkpointer.nudge(), Default::default());
        writer.close().await;
        let (done, _answer) = oneshot::channel();
        assert!(matches!(
            writer.send((Vec::new(), done)),
            Err(StoreError::Unavailable(_))
        ));
        assert!(writer.0.thread.is_closed(), "a thread started");
    }

    /// The writer starts the log again more often than any other connection, so it is the
    /// one that cuts a log grown past the limit back (as the pool's connections would).
    #[tokio::test]
    async fn the_writer_and_the_pool_bound_the_log_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.db");
        let store = crate::sqlite::open_sqlite(&path).await.unwrap();
        let limit: i64 = crate::sqlite::WAL_SIZE_LIMIT.parse().unwrap();
        let pooled: i64 = sqlx::query_scalar("PRAGMA journal_size_limit")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        let writer: i64 = open(&path)
            .unwrap()
            .query_row("PRAGMA journal_size_limit", [], |r| r.get(0))
            .unwrap();
        assert_eq!((pooled, writer), (limit, limit));
        store.close().await;
    }
}
