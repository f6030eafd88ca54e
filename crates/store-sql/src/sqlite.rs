//! The SQLite backend: one file, for a single server node.

use crate::error::{classify, migrate_error, Unavailable};
use crate::sqlite_checkpointer::Checkpointer;
use lienlock_domain::Imei;
use lienlock_store::{StoreError, StoreResult};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// A [`lienlock_store::Store`] in a SQLite database file. Cheap to clone (a pool handle).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
    /// Stops the checkpointer when the last clone of the store is dropped.
    _checkpointer: Option<Arc<Checkpointer>>,
    /// Wake-up hints: one process serves a SQLite file, so an in-process channel.
    wakes: crate::wakes::LocalWakes,
    /// Plain device writes' own thread and connection (`sqlite_writer`).
    writer: Option<crate::sqlite_writer::Writer>,
    /// The check-in's read, on a thread of its own (`sqlite_reader`).
    readers: Option<Arc<crate::sqlite_reader::Readers>>,
    /// Check-in views in memory (`sqlite_views`).
    pub(crate) views: Arc<crate::sqlite_views::Views>,
    /// Turns at the file's write lock (`write_turn`), alive while the store is.
    _gate: Option<Arc<crate::write_turn::Gate>>,
    /// The database file, for the views' warm pass.
    pub(crate) path: Option<std::path::PathBuf>,
}

/// Opens (creating if missing) the SQLite database at `path` and brings its schema up to
/// date.
pub async fn open_sqlite(path: &Path) -> Result<SqliteStore, StoreError> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        // WAL: readers never wait for the writer, and a commit is one sequential append.
        .journal_mode(SqliteJournalMode::Wal)
        // FULL, not the NORMAL usually paired with WAL. Under NORMAL the WAL is synced only at
        // checkpoints, so a power cut can lose the last commits even though they were
        // acknowledged. Here an acknowledged write can be an unlock after a payment or a
        // release at the end of a loan: losing it would relock a phone its owner has paid
        // for at the next check-in. One fsync per commit is affordable at the scale one
        // SQLite node serves; larger deployments use PostgreSQL.
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        // SQLite has one writer at a time; wait for it rather than failing at once.
        .busy_timeout(Duration::from_secs(5))
        // A backstop only: the checkpointer thread does this work (`sqlite_checkpointer`).
        .pragma("wal_autocheckpoint", BACKSTOP_CHECKPOINT_PAGES)
        .pragma("journal_size_limit", WAL_SIZE_LIMIT)
        .pragma("cache_size", CACHE_SIZE);
    let views = crate::sqlite_views::for_file(path);
    let gate = crate::write_turn::gate(path);
    let pool = SqlitePoolOptions::new()
        // More connections add concurrent readers (WAL; writes are serialized anyway).
        // Eight, not four: a check-in makes several short reads, and with four the
        // checkpointer and the group commit's writer could leave two for every request in
        // flight. Measured, it made no difference to check-in throughput on two cores
        // (docs/benchmarks.md), and costs only idle connections.
        .max_connections(8)
        // No ping before handing out an idle connection (sqlx's default): a connection to
        // a file has no peer to lose, and the ping is a round trip to the connection's
        // worker thread, as costly as the query it precedes (docs/benchmarks.md).
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(5))
        .after_release(|conn, _| Box::pin(still_in_step(conn)))
        .after_connect({
            let views = views.clone();
            move |conn, _| Box::pin(crate::sqlite_views::watch(conn, views.clone()))
        })
        .connect_with(options)
        .await
        .map_err(classify)?;
    MIGRATOR.run(&pool).await.map_err(migrate_error)?;
    let applied = crate::sqlite_unmerged::recover(&pool).await?;
    if applied > 0 {
        tracing::info!(applied, "check-ins not merged before the last stop applied");
    }
    let checkpointer = Checkpointer::start(path)
        .map_err(|e| StoreError::Unavailable(format!("starting the SQLite checkpointer: {e}")))?;
    let writer = crate::sqlite_writer::Writer::new(path, checkpointer.nudge(), views.clone());
    Ok(SqliteStore {
        pool,
        _checkpointer: Some(Arc::new(checkpointer)),
        wakes: Default::default(),
        writer: Some(writer),
        readers: Some(Arc::new(crate::sqlite_reader::Readers::new(path))),
        views,
        _gate: Some(gate),
        path: Some(path.to_owned()),
    })
}

impl SqliteStore {
    /// Stops the checkpointer and closes every connection, waiting until they are closed,
    /// and gives up this handle: for handing the file to something that needs it alone (a
    /// bulk loader, a copy). Merely dropping the store closes them too, but later, in the
    /// background; and while a handle to a closed pool lived, the file was seen still held
    /// (a connection that needed it alone was refused as locked).
    pub async fn close(self) {
        if let Some(c) = &self._checkpointer {
            c.stop().await;
        }
        if let Some(w) = &self.writer {
            w.close().await;
        }
        if let Some(r) = &self.readers {
            r.close();
        }
        if let Some(keeper) = self.views.stop() {
            let _ = tokio::task::spawn_blocking(move || keeper.join()).await;
        }
        self.pool.close().await;
    }
}

/// Whether a connection going back to the pool may be used again: not when sqlx still
/// counts it inside a transaction once its rollback has run.
///
/// Some errors (`SQLITE_FULL` above all, a commit or a statement that found the disk full)
/// make SQLite roll the whole transaction back by itself. sqlx does not see that: it still
/// counts the connection one transaction deep, its `ROLLBACK` then fails ("no transaction
/// is active") and leaves the count as it was, and the next `begin` on that connection
/// opens a `SAVEPOINT` instead of a transaction. A failed write there rolls back only to
/// the savepoint and leaves the transaction open, holding SQLite's write lock: every other
/// writer then waited its five seconds and failed, until the process restarted (a full
/// disk wedged the whole node even after space returned). Closed instead, the connection
/// takes whatever it held with it, and the pool opens a fresh one.
async fn still_in_step(conn: &mut sqlx::SqliteConnection) -> Result<bool, sqlx::Error> {
    use sqlx::Connection;
    // Most connections come back out of any transaction: nothing to wait for.
    if !conn.is_in_transaction() {
        return Ok(true);
    }
    // A dropped transaction's rollback is queued on the connection's worker, which takes
    // commands in order: after this round trip it has run.
    conn.ping().await?;
    if conn.is_in_transaction() {
        tracing::warn!("closing a SQLite connection whose transaction SQLite rolled back itself");
        return Ok(false);
    }
    Ok(true)
}

/// Every connection's page cache, in SQLite's `cache_size` form (negative: KiB): 32 MiB
/// instead of SQLite's 2 MiB. A check-in reads and writes a random device of a fleet
/// whose table outgrows the default many times over (a million phones: about 1.5 GB);
/// every miss is a read system call. The pool's connections, the check-in readers
/// (`sqlite_reader`) and the writer thread (`sqlite_writer`) all use it.
pub(crate) const CACHE_SIZE: &str = "-32768";

/// A rusqlite connection to the existing database at `path` that never creates the file
/// (one moved away or deleted under a running node is not replaced by an empty one) and
/// never waits for a lock (rusqlite's default is 5 s): for the threads that must not
/// block on one, the check-in readers (`sqlite_reader`) and the checkpointer
/// (`sqlite_checkpointer`). The check-in writer (`sqlite_writer`) opens through it too,
/// for the first half, and then sets its own wait. Read-write even for reading: a
/// read-only connection cannot create the shared-memory index a WAL database needs if it
/// is missing.
pub(crate) fn open_existing_no_wait(path: &Path) -> rusqlite::Result<rusqlite::Connection> {
    use rusqlite::OpenFlags;
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = rusqlite::Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::ZERO)?;
    Ok(conn)
}

/// Log pages (of 4 KiB) after which a committing connection checkpoints by itself
/// (SQLite's default is 1,000). The checkpointer thread does that work
/// (`sqlite_checkpointer`); this bounds the log when it cannot keep up, or when a steady
/// stream of commits leaves the log no quiet moment to restart from its beginning (at
/// 9,000 check-ins a second it peaked near 15,000 pages, 60 MB). Every connection that
/// writes uses it, the check-in writer's included: below the peak, commits would again
/// pay for checkpoints the thread is about to make.
pub(crate) const BACKSTOP_CHECKPOINT_PAGES: &str = "20000";

/// What SQLite cuts the write-ahead log file back to, in bytes, when a commit starts the
/// log again from its beginning (`journal_size_limit`). SQLite's default keeps the file at
/// its largest for ever, and a peak (a burst the checkpointer could not keep up with, a
/// long read holding a checkpoint back) can leave gigabytes. 128 MiB is above the log's
/// size in steady service (near 60 MB at 9,000 check-ins a second), so a log within it is
/// reused as before and one past it is cut back once. Every connection that writes uses it.
pub(crate) const WAL_SIZE_LIMIT: &str = "134217728";

/// SQLite result codes that mean "cannot write now" rather than "bad statement". `code` is
/// the extended result code as text; its low byte is the primary code.
pub(crate) fn unavailable(code: &str) -> Option<(Unavailable, &'static str)> {
    use Unavailable::{Full, Now, ReadOnly};
    let primary = code.parse::<i32>().ok()? & 0xff;
    Some(match primary {
        5 => (
            Now,
            "database is busy (another writer held the lock too long)",
        ), // SQLITE_BUSY
        8 => (ReadOnly, "database is read-only"), // SQLITE_READONLY
        10 => (Now, "disk I/O error"),            // SQLITE_IOERR
        13 => (Full, "database or disk is full"), // SQLITE_FULL
        14 => (Now, "cannot open the database file"), // SQLITE_CANTOPEN
        _ => return None,
    })
}

/// Nothing to do: `enroll_device` inserts before it checks, and the insert takes SQLite's
/// single write lock, which already serializes every enrollment.
async fn lock_imeis(_: &mut SqliteConnection, _: &[&Imei]) -> StoreResult<()> {
    Ok(())
}

/// Takes SQLite's single write lock before a batch of saves reads what it will check
/// (a deferred transaction that reads first and writes later can fail at once when
/// another writer commits in between): a write that changes nothing.
async fn lock_devices(conn: &mut SqliteConnection, ids: &[String]) -> StoreResult<()> {
    if let Some(first) = ids.first() {
        sqlx::query(crate::sql::TOUCH_DEVICE)
            .bind(first)
            .execute(&mut *conn)
            .await
            .map_err(classify)?;
    }
    Ok(())
}

async fn notify(store: &SqliteStore, devices: &[lienlock_domain::DeviceId]) -> StoreResult<()> {
    store.wakes.notify(devices);
    Ok(())
}

async fn listen(store: &SqliteStore) -> StoreResult<lienlock_store::WakeReceiver> {
    Ok(store.wakes.listen())
}

/// One process serves a SQLite file, so its scheduler always has the turn.
async fn scheduler_turn(_: &SqliteStore) -> StoreResult<bool> {
    Ok(true)
}

/// Plain writes (a device row and nothing else: most check-ins) go to the writer thread
/// (`sqlite_writer`), the rest down the general path, each in a transaction of its own.
/// Should the writer's batch fail for anything but an unavailable database, its writes
/// take the general path too, where each meets its own error.
async fn save_devices(
    store: &SqliteStore,
    writes: &[lienlock_store::DeviceWrite],
) -> StoreResult<Vec<StoreResult<()>>> {
    let Some(writer) = &store.writer else {
        return batch::save_devices(&store.pool, writes).await;
    };
    let (plain, other): (Vec<usize>, Vec<usize>) =
        (0..writes.len()).partition(|&i| crate::sqlite_writer::is_plain(&writes[i]));
    // The scheduler's batches (contracts, notices, events) have no plain write: straight
    // down the general path, with no copy of its writes.
    if plain.is_empty() {
        return batch::save_devices(&store.pool, writes).await;
    }
    let mut results: Vec<Option<StoreResult<()>>> = (0..writes.len()).map(|_| None).collect();
    let mut general = other;
    let batch: Vec<_> = plain.iter().map(|&i| &writes[i]).collect();
    match writer.write(&batch).await {
        Ok(landed) => {
            for (i, r) in plain.iter().zip(landed) {
                results[*i] = Some(r);
            }
        }
        Err(e) if e.is_unavailable() => {
            for &i in &plain {
                results[i] = Some(Err(e.clone()));
            }
        }
        Err(_) => general.extend(plain),
    }
    if !general.is_empty() {
        general.sort_unstable();
        // Rare (a check-in that registered a key beside plain ones): a copy of these few.
        let batch: Vec<_> = general.iter().map(|&i| writes[i].clone()).collect();
        match batch::save_devices(&store.pool, &batch).await {
            Ok(landed) => {
                for (i, r) in general.iter().zip(landed) {
                    results[*i] = Some(r);
                }
            }
            // Nothing of this transaction landed; the writer's may have.
            Err(e) => {
                for &i in &general {
                    results[i] = Some(Err(e.clone()));
                }
            }
        }
    }
    // Every slot was filled above; an empty one would be a bug, reported as stale (the
    // caller reads again) rather than as a write that landed.
    Ok(results
        .into_iter()
        .map(|r| r.unwrap_or(Err(StoreError::Stale)))
        .collect())
}

/// The phone's check-in view kept in memory (`sqlite_views`), if it is.
fn cached_checkin_view(
    store: &SqliteStore,
    imei: &Imei,
) -> Option<(lienlock_store::CheckinView, bool)> {
    store.views.get(imei)
}

/// The check-in's read on the reader thread (`sqlite_reader`); `None` sends it through
/// the pool.
async fn direct_checkin_row(
    store: &SqliteStore,
    imei: &Imei,
) -> Option<StoreResult<Option<crate::rows::CheckinRow>>> {
    store.readers.as_ref()?.checkin_row(*imei).await.map(Ok)
}

/// The warm pass of `sqlite_views_keeper`, on a blocking thread; then its thread that reads
/// dropped views again starts, until the store closes. A store without a reader thread
/// (closed, or a test's) keeps no views.
async fn warm_checkin_views(store: &SqliteStore) -> StoreResult<usize> {
    let (Some(_), Some(path)) = (&store.readers, store.path.clone()) else {
        return Ok(0);
    };
    let views = store.views.clone();
    tokio::task::spawn_blocking(move || {
        let kept = crate::sqlite_views_keeper::warm(&path, &views);
        // Even when the pass failed part way (its views kept so far take check-ins into
        // the log, which the keeper merges): the keeper then runs the pass again.
        if kept.is_err() {
            views.forget_all();
        }
        crate::sqlite_views_keeper::start(&path, &views);
        kept
    })
    .await
    .map_err(|e| StoreError::Backend(format!("the warm pass: {e}")))?
}

crate::store_impl::impl_store!(
    store: SqliteStore,
    db: sqlx::Sqlite,
    lock_imeis: lock_imeis,
    lock_devices: lock_devices,
    save_devices: save_devices,
    direct_checkin_row: direct_checkin_row,
    cached_checkin_view: cached_checkin_view,
    warm_checkin_views: warm_checkin_views,
    notify: notify,
    listen: listen,
    scheduler_turn: scheduler_turn,
);

crate::store_webhooks::impl_webhooks!(
    store: SqliteStore,
    db: sqlx::Sqlite,
    claim: crate::store_webhooks::CLAIM_SQLITE,
);

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use lienlock_domain::{ApiKeyId, LenderId, RestrictionProfile, Role, Timestamp};
    use lienlock_store::{ApiKeyRecord, Lender, Store};

    /// A lender whose name is `name_len` letters long, and an admin key of it.
    pub(crate) fn lender(name_len: usize) -> (Lender, ApiKeyRecord) {
        let lender = Lender {
            id: LenderId::new(),
            name: "x".repeat(name_len),
            support_phone: String::new(),
            support_url: String::new(),
            lock_message: String::new(),
            lock_profile: RestrictionProfile::full_lock(),
            compliance_profile: "default".into(),
            policy: None,
            created_at: Timestamp::from_millis(0),
        };
        let key = ApiKeyRecord {
            id: ApiKeyId::new(),
            lender_id: lender.id,
            role: Role::Admin,
            label: String::new(),
            secret_hmac: [0; 32],
            created_at: Timestamp::from_millis(0),
            revoked_at: None,
        };
        (lender, key)
    }

    /// A store whose connections run `pragma` first, on an already migrated file.
    async fn store_with(path: &Path, pragma: (&'static str, &'static str)) -> SqliteStore {
        open_sqlite(path).await.unwrap().pool.close().await;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .pragma(pragma.0, pragma.1);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await;
        SqliteStore {
            pool: pool.unwrap(),
            _checkpointer: None,
            wakes: Default::default(),
            writer: None,
            readers: None,
            views: Default::default(),
            _gate: None,
            path: None,
        }
    }

    /// The check-in's read on the reader thread finds what the pool's finds (and is not
    /// quietly falling back to it), an unknown IMEI included; reads batched together each
    /// see every write acknowledged before them; after `close` it declines.
    #[tokio::test]
    async fn the_direct_checkin_read_matches_the_pools() {
        use lienlock_domain::{
            DeviceId, DeviceState, EventKind, KeyStatus, LenderCtx, Principal, RestrictionLevel,
        };
        use lienlock_store::{Actor, Device, TimelineEvent};
        let dir = tempfile::tempdir().unwrap();
        let store = open_sqlite(&dir.path().join("read.db")).await.unwrap();
        let (l, k) = lender(5);
        store.create_lender(&l, &k).await.unwrap();
        let ctx = LenderCtx {
            lender_id: l.id,
            role: Role::Admin,
            principal: Principal::ApiKey(k.id),
        };
        let imei = Imei::parse("490154203237518").unwrap();
        let d = Device {
            id: DeviceId::new(),
            lender_id: l.id,
            imei,
            imei2: None,
            serial: Some("R58N123".into()),
            model: Some("A15".into()),
            state: DeviceState::Active,
            key_status: KeyStatus::Bound,
            device_key: Some([7; 32]),
            pending_key: None,
            last_counter: 41,
            pending_counter: 0,
            retired_key: None,
            retired_counter: 0,
            lease_seq: 9,
            policy_level: RestrictionLevel::None,
            policy_level_since: Timestamp::from_millis(5),
            notice_seq: 0,
            arrears: None,
            last_seen_at: Some(Timestamp::from_millis(6)),
            enrolled_at: Timestamp::from_millis(1),
            updated_at: Timestamp::from_millis(6),
            version: 0,
        };
        let e = TimelineEvent::new(
            &d,
            Timestamp::from_millis(1),
            EventKind::Enrolled,
            Actor::Operator,
        );
        store.enroll_device(&ctx, &d, &e).await.unwrap();

        // Each of the enrollments below, in the order `enrolled_at` says.
        let enroll = |imei: &str, imei2: Option<&str>, state: DeviceState, at: i64| {
            let mut d = d.clone();
            d.id = DeviceId::new();
            d.imei = Imei::parse(imei).unwrap();
            d.imei2 = imei2.map(|i| Imei::parse(i).unwrap());
            d.serial = None;
            d.state = state;
            d.enrolled_at = Timestamp::from_millis(at);
            d
        };
        // A dual-SIM phone, found by its second IMEI (the general statement).
        let dual = enroll(
            "353918050418322",
            Some("353918050418330"),
            DeviceState::Active,
            2,
        );
        // An IMEI released by one enrollment and enrolled again: the one in force is found.
        let resold = [
            enroll("358240051111110", None, DeviceState::Released, 3),
            enroll("358240051111110", None, DeviceState::Active, 4),
        ];
        // An IMEI whose only enrollment was released (the general statement finds it).
        let freed = enroll("352099001761481", None, DeviceState::Released, 5);
        for x in [&dual, &resold[0], &resold[1], &freed] {
            let e = TimelineEvent::new(x, x.enrolled_at, EventKind::Enrolled, Actor::Operator);
            store.enroll_device(&ctx, x, &e).await.unwrap();
        }

        let readers = store.readers.clone().unwrap();
        for (imei, expected) in [
            (imei, &d),
            (dual.imei2.unwrap(), &dual),
            (dual.imei, &dual),
            (resold[1].imei, &resold[1]),
            (freed.imei, &freed),
        ] {
            let direct = readers.checkin_row(imei).await.expect("read directly");
            let (view, pending) = direct.expect("the device").decode().unwrap();
            assert!(!pending);
            assert_eq!(&view.device, expected, "{imei}");
            assert_eq!(view.lender, l);
            // The pool's general statement, which the direct read must agree with.
            let pooled: crate::rows::CheckinRow = sqlx::query_as(crate::sql::CHECKIN_VIEW)
                .bind(imei.as_str())
                .fetch_one(&store.pool)
                .await
                .unwrap();
            assert_eq!(view, pooled.decode().unwrap().0, "{imei}");
        }
        // The first statement is the one probe it is meant to be.
        let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(&format!(
            "EXPLAIN QUERY PLAN {}",
            crate::sql::CHECKIN_VIEW_ACTIVE_IMEI
        ))
        .bind(imei.as_str())
        .fetch_all(&store.pool)
        .await
        .unwrap();
        assert!(
            plan.iter()
                .any(|(.., step)| step.contains("USING INDEX devices_active_imei (imei=?)")),
            "{plan:?}"
        );
        // Reads queued together share a transaction: each must still see every write
        // acknowledged before it was asked for. Other reads keep the thread's queue full
        // while the device is written (through the writer thread) and read back in turn.
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let others: Vec<_> = (0..16)
            .map(|_| {
                let (readers, stop, other) = (readers.clone(), stop.clone(), dual.imei);
                tokio::spawn(async move {
                    let mut reads = 0u32;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let row = readers.checkin_row(other).await;
                        assert!(matches!(row, Some(Some(_))));
                        reads += 1;
                    }
                    reads
                })
            })
            .collect();
        let writes = async {
            let mut current = d.clone();
            for _ in 0..50 {
                current.last_counter += 1;
                store
                    .save_device(&lienlock_store::DeviceWrite::new(current.clone()))
                    .await
                    .unwrap();
                current.version += 1;
                let row = readers.checkin_row(imei).await.expect("read");
                let (view, _) = row.expect("the device").decode().unwrap();
                assert_eq!(view.device, current, "a read missed an acknowledged write");
                tokio::task::yield_now().await;
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        };
        writes.await;
        let mut reads = 0;
        for task in others {
            reads += task.await.unwrap();
        }
        assert!(
            reads > 50,
            "the reads meant to fill the queue hardly ran: {reads}"
        );

        let unknown = Imei::parse("356938035643809").unwrap();
        assert!(matches!(readers.checkin_row(unknown).await, Some(None)));
        readers.close();
        assert!(readers.checkin_row(imei).await.is_none());
    }

    #[tokio::test]
    async fn a_full_disk_is_unavailable_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("full.db");
        // The file may not grow past its current size: to SQLite, the disk is full.
        let store = store_with(&path, ("max_page_count", "1")).await;
        let (l, k) = lender(1 << 20);
        let e = store.create_lender(&l, &k).await.unwrap_err();
        assert!(
            matches!(&e, StoreError::Full(m) if m.contains("full")),
            "{e:?}"
        );
        assert_eq!(store.lender_by_id(l.id).await.unwrap(), None);
    }

    /// A full disk refuses new writes cleanly: what was acknowledged before stays, the
    /// file passes SQLite's integrity check, and writes work again once there is room.
    #[tokio::test]
    async fn a_full_disk_loses_nothing_and_recovers_when_space_returns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("full.db");
        let store = open_sqlite(&path).await.unwrap();
        let (kept, kept_key) = lender(10);
        store.create_lender(&kept, &kept_key).await.unwrap();
        store.close().await;
        let store = store_with(&path, ("max_page_count", "1")).await;
        let mut refused = 0;
        for _ in 0..20 {
            let (l, k) = lender(64 << 10);
            match store.create_lender(&l, &k).await {
                Ok(()) => {}
                Err(StoreError::Full(_)) => refused += 1,
                Err(e) => panic!("a full disk must read as Full, got {e:?}"),
            }
        }
        assert!(refused > 0, "the disk never filled");
        let integrity = || async {
            sqlx::query_scalar::<_, String>("PRAGMA integrity_check")
                .fetch_one(&store.pool)
                .await
                .unwrap()
        };
        assert_eq!(integrity().await, "ok");
        assert_eq!(
            store.lender_by_id(kept.id).await.unwrap().unwrap().name,
            kept.name
        );
        // Space returns.
        sqlx::query("PRAGMA max_page_count = 1073741823")
            .execute(&store.pool)
            .await
            .unwrap();
        let (l, k) = lender(64 << 10);
        store.create_lender(&l, &k).await.unwrap();
        assert_eq!(integrity().await, "ok");
        assert!(store.lender_by_id(l.id).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_read_only_database_is_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ro.db");
        let store = store_with(&path, ("query_only", "ON")).await;
        let (l, k) = lender(1);
        let e = store.create_lender(&l, &k).await.unwrap_err();
        assert!(
            matches!(&e, StoreError::ReadOnly(m) if m.contains("read-only")),
            "{e:?}"
        );
        // It answers reads, but `/readyz` asks for a write.
        let e = store.ping().await.unwrap_err();
        assert!(matches!(&e, StoreError::ReadOnly(_)), "{e:?}");
    }

    #[tokio::test]
    async fn a_missing_directory_is_reported_not_panicked() {
        let dir = tempfile::tempdir().unwrap();
        let e = open_sqlite(&dir.path().join("no/such/dir/x.db"))
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
    }
}
