//! What fills SQLite's check-in views (`sqlite_views`): the warm pass, which reads every
//! enrollment in force at start, and then a thread that reads again each phone whose view
//! a write dropped, and merges the check-in log into the rows (`sqlite_unmerged`).
//!
//! Why the reloading: every write of a phone other than its plain check-in (a payment's
//! evaluation, a notice queued or shown, a command, a key approved) drops its view, and a
//! scheduler pass touches many phones. Without it, a node's views thinned out day by day
//! until its next start, and each phone without one went back to the slower check-in
//! (docs/benchmarks.md, sixteenth round).
//!
//! Both read under SQLite's write lock (`BEGIN IMMEDIATE`), which is what makes a view read
//! exact (the module comment of `sqlite_views`), and in short turns that each leave the
//! lock free for at least as long as they held it: a connection that took the lock
//! whenever it was free starved the pool's writers, whose busy handler sleeps between
//! tries (docs/benchmarks.md, fifteenth round).

use crate::rows::CheckinRow;
use crate::sqlite_views::{Views, MAX_VIEWS};
use crate::write_turn::Gate;
use lienlock_store::{StoreError, StoreResult};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// Enrollments read per turn: each turn holds SQLite's write lock, a few milliseconds,
/// while every writer waits.
const CHUNK: usize = 250;

/// How often the keeper looks for dropped views when it found none.
const IDLE: Duration = Duration::from_millis(50);

/// After a failed turn (the lock not had in five seconds, a disk error), the rows go back
/// in the queue and the keeper waits this long.
const BACKOFF: Duration = Duration::from_secs(1);

/// Check-ins not yet merged (`sqlite_unmerged`) are merged into their rows this often, or
/// sooner once there are [`MERGE_AT`] of them: the more there are, the more of them share
/// a page, but the longer the log start has to apply after a crash and the more memory.
const MERGE_EVERY: Duration = Duration::from_secs(10);
const MERGE_AT: usize = 200_000;

/// Rows merged per turn.
const MERGE_CHUNK: usize = 1_000;

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn open(path: &Path) -> StoreResult<Connection> {
    let conn = crate::sqlite::open_existing_no_wait(path).map_err(backend)?;
    // SQLite's own busy handler, as the pool's: the keeper waits for the lock as they do.
    conn.busy_timeout(Duration::from_secs(5)).map_err(backend)?;
    // The pool's page cache: merges touch the whole table's pages every few seconds.
    conn.pragma_update(None, "cache_size", crate::sqlite::CACHE_SIZE)
        .map_err(backend)?;
    Ok(conn)
}

/// `work` in a transaction of its own under SQLite's write lock, taken in its turn
/// (`write_turn`); an error (the commit's too) rolls it back, so the lock is never left
/// held.
fn in_turn<T>(
    conn: &Connection,
    gate: &Arc<Gate>,
    work: impl FnOnce() -> rusqlite::Result<T>,
) -> StoreResult<T> {
    let _turn = crate::write_turn::take_blocking(gate);
    conn.execute_batch("BEGIN IMMEDIATE").map_err(backend)?;
    match work().and_then(|t| conn.execute_batch("COMMIT").map(|()| t)) {
        Ok(t) => Ok(t),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(backend(e))
        }
    }
}

/// Merges every check-in not yet merged into its row (`sqlite_unmerged`), in `rowid` order
/// and turns of [`MERGE_CHUNK`], each leaving the lock free as long as it held it; then
/// deletes the log's records the merge covered. Returns how many it merged.
pub(crate) fn merge(conn: &Connection, views: &Views, gate: &Arc<Gate>) -> StoreResult<usize> {
    // Taken in one turn: check-ins are appended in turns, recorded in the map before
    // their commit, so every record up to `upto` has its entry (or a later one) here.
    let (snapshot, upto) = {
        let _turn = crate::write_turn::take_blocking(gate);
        let upto: i64 = conn
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM checkin_log", [], |r| {
                r.get(0)
            })
            .map_err(backend)?;
        (views.unmerged.snapshot(), upto)
    };
    let mut all_merged = true;
    for chunk in snapshot.chunks(MERGE_CHUNK) {
        // The store is closing: the rest waits for the next start, which applies the log.
        if views.is_stopped() {
            all_merged = false;
            break;
        }
        let started = Instant::now();
        let values = chunk
            .iter()
            .map(|(device, e)| e.values(&device.to_string(), Some(e.rowid)))
            .collect::<StoreResult<Vec<_>>>()?;
        let done = in_turn(conn, gate, || {
            let mut settle = conn.prepare_cached(crate::sqlite_unmerged::SETTLE_AT)?;
            let mut at = conn.prepare_cached("SELECT version FROM devices WHERE id = ?1")?;
            let mut done = Vec::with_capacity(chunk.len());
            for ((device, e), values) in chunk.iter().zip(values) {
                let changed = settle.execute(rusqlite::params_from_iter(values))?;
                // Nothing changed: the row is already at or past the entry (a lender's
                // write settled it), or the rowid is not the device's, when the entry must
                // stay, or its check-in would be lost.
                let merged = changed == 1
                    || at
                        .query_row(params![device.to_string()], |r| r.get::<_, i64>(0))
                        .optional()?
                        .is_some_and(|v| v >= e.version);
                if merged {
                    done.push((*device, *e));
                } else {
                    tracing::error!(%device, "a check-in's log record does not fit its row");
                }
            }
            Ok(done)
        })?;
        all_merged &= done.len() == chunk.len();
        views.unmerged.merged(&done);
        std::thread::sleep(started.elapsed());
    }
    // A record whose entry could not be merged stays, for the next start to try.
    if all_merged {
        in_turn(conn, gate, || {
            conn.execute("DELETE FROM checkin_log WHERE seq <= ?1", params![upto])
        })?;
    }
    Ok(snapshot.len())
}

/// The warm pass: keeps the view of every enrollment in force of the file at `path`, up to
/// [`MAX_VIEWS`]. Blocks; returns how many views are kept.
pub(crate) fn warm(path: &Path, views: &Views) -> StoreResult<usize> {
    warm_on(&open(path)?, views, &crate::write_turn::gate(path))
}

fn warm_on(conn: &Connection, views: &Views, gate: &Arc<Gate>) -> StoreResult<usize> {
    // Rows dropped from here on are queued for the keeper; those before, this pass reads.
    views.warm_pass_starts();
    let mut after = i64::MIN;
    while views.len() < MAX_VIEWS && !views.is_stopped() {
        let started = Instant::now();
        let read = in_turn(conn, gate, || {
            let mut s = conn.prepare_cached(crate::sql::CHECKIN_VIEWS_AFTER_ROWID)?;
            let rows = s.query_map(params![after, CHUNK as i64], |r| {
                Ok((r.get::<_, i64>(0)?, CheckinRow::from_sqlite_at(r, 1)?))
            })?;
            let mut n = 0;
            for row in rows {
                let (rowid, row) = row?;
                after = after.max(rowid);
                n += 1;
                // One that does not decode is left to be read, and reported, by its check-in.
                if let Ok((view, has_pending)) = row.decode() {
                    views.fill(rowid, &view, has_pending);
                }
            }
            Ok(n)
        })?;
        if read < CHUNK {
            break;
        }
        std::thread::sleep(started.elapsed());
    }
    Ok(views.len())
}

/// One turn of reloading: reads again up to [`CHUNK`] of the rows whose views were
/// dropped (none kept for a row no longer in force), or runs the warm pass when one is due.
/// Returns how many rows it read.
pub(crate) fn reload(conn: &Connection, views: &Views, gate: &Arc<Gate>) -> StoreResult<usize> {
    let (rows, rewarm) = views.take_dropped(CHUNK);
    if rewarm {
        return warm_on(conn, views, gate);
    }
    if rows.is_empty() {
        return Ok(0);
    }
    let read = in_turn(conn, gate, || {
        let mut s = conn.prepare_cached(crate::sql::CHECKIN_VIEW_AT_ROWID)?;
        for &rowid in &rows {
            let row = s
                .query_row(params![rowid], |r| CheckinRow::from_sqlite_at(r, 1))
                .optional()?;
            if let Some(Ok((view, has_pending))) = row.map(CheckinRow::decode) {
                views.fill(rowid, &view, has_pending);
            }
        }
        Ok(rows.len())
    });
    if read.is_err() {
        views.requeue(&rows);
    }
    read
}

/// Starts the keeper's thread for `views` (once; later calls do nothing). It ends when the
/// store closes (`Views::stop`) or is dropped.
pub(crate) fn start(path: &Path, views: &Arc<Views>) {
    let mut keeper = views
        .keeper
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if keeper.is_some() || views.is_stopped() {
        return;
    }
    let path = path.to_owned();
    let weak = Arc::downgrade(views);
    let spawned = std::thread::Builder::new()
        .name("sqlite-views".into())
        .spawn(move || keep(&path, &weak));
    match spawned {
        Ok(handle) => *keeper = Some(handle),
        // Slower check-ins (dropped views stay dropped), and a check-in log that grows
        // until the next start applies it.
        Err(e) => tracing::warn!(error = %e, "cannot start the check-in views' keeper"),
    }
}

fn keep(path: &Path, views: &Weak<Views>) {
    let gate = crate::write_turn::gate(path);
    let mut conn: Option<Connection> = None;
    let mut merged_at = Instant::now();
    loop {
        let Some(v) = views.upgrade().filter(|v| !v.is_stopped()) else {
            return;
        };
        let started = Instant::now();
        let unmerged = v.unmerged.len();
        let merge_now =
            unmerged >= MERGE_AT || (unmerged > 0 && merged_at.elapsed() >= MERGE_EVERY);
        let read = match conn.as_ref() {
            Some(c) if merge_now => merge(c, &v, &gate),
            Some(c) => reload(c, &v, &gate),
            None => open(path).map(|c| {
                conn = Some(c);
                0
            }),
        };
        if merge_now && read.is_ok() {
            merged_at = Instant::now();
        }
        metrics::gauge!(crate::CHECKIN_VIEWS_KEPT).set(v.len() as f64);
        drop(v);
        let pause = match read {
            Ok(0) => IDLE,
            // As long as the turn held the lock, so that writers get it at least half the
            // time (a warm pass, which paces itself, is followed by the idle pause).
            Ok(_) => started.elapsed().clamp(Duration::from_millis(1), IDLE),
            Err(e) => {
                tracing::warn!(error = %e, "the check-in views' keeper failed a turn");
                conn = None;
                BACKOFF
            }
        };
        std::thread::sleep(pause);
    }
}
