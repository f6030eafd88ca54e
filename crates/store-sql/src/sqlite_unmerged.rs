//! Check-ins appended to `checkin_log` and not yet merged into their `devices` rows (SQLite).
//!
//! A check-in of a phone whose view is kept (`sqlite_views`) and that changes nothing but
//! its counter, lease sequence and times is appended to the log by the check-in writer
//! instead of rewriting the phone's row; the row keeps its older version until the views'
//! keeper merges it (`sqlite_views_keeper`). Until then this map is what says the device
//! moved on. Why that stays safe (docs/architecture.md, "Check-in log"):
//!
//! - Every device read on SQLite is overlaid with the entry here when the entry's version
//!   is above the row's ([`overlay`]), so that a lender's write, made from such a read,
//!   carries the check-in's version, and a view is filled with it.
//! - Every writer of a device row first writes the entry into the row (settles it) in the
//!   same turn at the write lock (`write_turn`) and transaction as its own version-checked
//!   `UPDATE`. Appends happen in turns too, so none can come between the two; one made after
//!   the writer read the device makes that `UPDATE` stale.
//! - An entry is removed only once a merge has committed it into the row, and never when a
//!   commit fails: an entry ahead of the file is harmless (every field only grows), one
//!   missing would let a write put an older counter back.

use lienlock_domain::{DeviceId, Timestamp};
use lienlock_store::{Device, StoreResult};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// What a check-in appended changed in its device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The device's `devices.rowid`.
    pub(crate) rowid: i64,
    /// The version the check-in made.
    pub(crate) version: i64,
    pub(crate) last_counter: u64,
    pub(crate) lease_seq: u64,
    pub(crate) last_seen_at: Timestamp,
    pub(crate) updated_at: Timestamp,
}

impl Entry {
    /// The parameters of [`SETTLE`] and of a log record's insert: `?1` device id, `?2`
    /// version, `?3` counter, `?4` lease sequence, `?5` last seen, `?6` updated, `?7` rowid.
    pub(crate) fn values(
        &self,
        device: &str,
        rowid: Option<i64>,
    ) -> StoreResult<[rusqlite::types::Value; 7]> {
        let to_i64 = crate::error::to_i64;
        Ok([
            device.to_owned().into(),
            self.version.into(),
            to_i64(self.last_counter, "last_counter")?.into(),
            to_i64(self.lease_seq, "lease_seq")?.into(),
            self.last_seen_at.as_millis().into(),
            self.updated_at.as_millis().into(),
            rowid.into(),
        ])
    }

    /// The entry's columns on `device`, when the entry is ahead of it.
    pub(crate) fn apply(&self, device: &mut Device) {
        if self.version > device.version {
            device.version = self.version;
            device.last_counter = self.last_counter;
            device.lease_seq = self.lease_seq;
            device.last_seen_at = Some(self.last_seen_at);
            device.updated_at = self.updated_at;
        }
    }

    /// The entry `device` (a check-in's write, its version the one it read) makes, when it
    /// changes nothing of `from` (the view it was read from) but what a log record holds.
    pub(crate) fn of_checkin(rowid: i64, from: &Device, device: &Device) -> Option<Self> {
        let last_seen_at = device.last_seen_at?;
        let same_rest = Device {
            last_counter: from.last_counter,
            lease_seq: from.lease_seq,
            last_seen_at: from.last_seen_at,
            updated_at: from.updated_at,
            ..device.clone()
        } == *from;
        (same_rest && device.version == from.version).then(|| Self {
            rowid,
            version: device.version + 1,
            last_counter: device.last_counter,
            lease_seq: device.lease_seq,
            last_seen_at,
            updated_at: device.updated_at,
        })
    }
}

/// The entries of one database file, by device.
#[derive(Debug, Default)]
pub(crate) struct Unmerged(Mutex<HashMap<DeviceId, Entry>>);

impl Unmerged {
    fn map(&self) -> MutexGuard<'_, HashMap<DeviceId, Entry>> {
        // Nothing here is left half-changed by a panic (each call is one insert, read or
        // remove), and forgetting entries would be unsafe: the map is kept as it is.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records a check-in appended (in the check-in writer's turn, before its commit).
    pub(crate) fn record(&self, device: DeviceId, entry: Entry) {
        self.map().insert(device, entry);
    }

    /// The device's entry, if any.
    pub(crate) fn get(&self, device: DeviceId) -> Option<Entry> {
        self.map().get(&device).copied()
    }

    /// Every entry, in `rowid` order: what a merge writes.
    pub(crate) fn snapshot(&self) -> Vec<(DeviceId, Entry)> {
        let mut all: Vec<_> = self.map().iter().map(|(d, e)| (*d, *e)).collect();
        all.sort_unstable_by_key(|(_, e)| e.rowid);
        all
    }

    /// Removes the entries a merge committed, unless a later check-in replaced them.
    pub(crate) fn merged(&self, entries: &[(DeviceId, Entry)]) {
        let mut map = self.map();
        for (device, entry) in entries {
            if map.get(device) == Some(entry) {
                map.remove(device);
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.map().len()
    }

    /// `devices` read from the file, brought up to their entries.
    pub(crate) fn overlay<'a>(&self, devices: impl IntoIterator<Item = &'a mut Device>) {
        let map = self.map();
        if map.is_empty() {
            return;
        }
        for d in devices {
            if let Some(e) = map.get(&d.id) {
                e.apply(d);
            }
        }
    }
}

macro_rules! settle {
    ($find:literal) => {
        concat!(
            "UPDATE devices SET version = ?2, last_counter = ?3, lease_seq = ?4, \
             last_seen_at = ?5, updated_at = ?6 WHERE ",
            $find,
            " AND version < ?2"
        )
    };
}

/// `UPDATE` of a device row to an entry, where the row is behind it, with
/// [`Entry::values`]' parameters (`?7` NULL), found by its id.
pub(crate) const SETTLE: &str = settle!("id = ?1 AND ?7 IS NULL");

/// [`SETTLE`] by `rowid` (`?7`), the merge's: with the `OR` of one statement for both,
/// SQLite's planner took the `id` index, a descent of its own per row (docs/benchmarks.md,
/// seventeenth round).
pub(crate) const SETTLE_AT: &str = settle!("rowid = ?7 AND id = ?1");

/// A pool whose device reads are overlaid (SQLite's); PostgreSQL's never has entries.
pub(crate) trait Overlay {
    /// Brings `devices`, read through this pool, up to their unmerged check-ins.
    fn overlay<'a>(&self, devices: impl IntoIterator<Item = &'a mut Device>);
}

impl Overlay for sqlx::SqlitePool {
    fn overlay<'a>(&self, devices: impl IntoIterator<Item = &'a mut Device>) {
        if let Some(views) = crate::sqlite_views::of_file(self.connect_options().get_filename()) {
            views.unmerged.overlay(devices);
        }
    }
}

impl Overlay for sqlx::PgPool {
    fn overlay<'a>(&self, _: impl IntoIterator<Item = &'a mut Device>) {}
}

/// A backend whose device writes first settle unmerged check-ins (SQLite's); PostgreSQL
/// has none.
pub(crate) trait Settle: sqlx::Database {
    /// Settles `ids` inside `conn`'s transaction, which holds the turn at the write lock.
    fn settle<'a>(
        pool: &'a sqlx::Pool<Self>,
        conn: &'a mut Self::Connection,
        ids: &'a [DeviceId],
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = StoreResult<()>> + Send + 'a>>;
}

impl Settle for sqlx::Sqlite {
    fn settle<'a>(
        pool: &'a sqlx::SqlitePool,
        conn: &'a mut sqlx::SqliteConnection,
        ids: &'a [DeviceId],
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = StoreResult<()>> + Send + 'a>> {
        Box::pin(settle(pool, conn, ids))
    }
}

impl Settle for sqlx::Postgres {
    fn settle<'a>(
        _: &'a sqlx::PgPool,
        _: &'a mut sqlx::PgConnection,
        _: &'a [DeviceId],
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = StoreResult<()>> + Send + 'a>> {
        Box::pin(std::future::ready(Ok(())))
    }
}

/// Settles `ids` inside `conn`'s transaction (SQLite; see the module's comment), which
/// holds the turn at the write lock.
async fn settle(
    pool: &sqlx::SqlitePool,
    conn: &mut sqlx::SqliteConnection,
    ids: &[DeviceId],
) -> StoreResult<()> {
    let Some(views) = crate::sqlite_views::of_file(pool.connect_options().get_filename()) else {
        return Ok(());
    };
    for id in ids {
        let Some(e) = views.unmerged.get(*id) else {
            continue;
        };
        sqlx::query(SETTLE)
            .bind(id.to_string())
            .bind(e.version)
            .bind(crate::error::to_i64(e.last_counter, "last_counter")?)
            .bind(crate::error::to_i64(e.lease_seq, "lease_seq")?)
            .bind(e.last_seen_at.as_millis())
            .bind(e.updated_at.as_millis())
            // By id: the `rowid` is only the merge's shortcut.
            .bind(None::<i64>)
            .execute(&mut *conn)
            .await
            .map_err(crate::error::classify)?;
    }
    Ok(())
}

/// Applies every check-in `checkin_log` holds to its row (each device's latest, where the
/// row is behind it) and empties the log, in one transaction: at start, before anything
/// reads a device, so that the unmerged map can begin empty. Returns how many rows moved.
pub(crate) async fn recover(pool: &sqlx::SqlitePool) -> StoreResult<u64> {
    use crate::error::classify;
    // A read first: every open (a `ctl` command's too) would otherwise commit, and sync,
    // a write that does nothing.
    let any: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM checkin_log)")
        .fetch_one(pool)
        .await
        .map_err(classify)?;
    if !any {
        return Ok(0);
    }
    let _turn = crate::write_turn::take(pool).await;
    let mut tx = pool.begin().await.map_err(classify)?;
    // With `MAX()`, SQLite takes the bare columns from the row holding the maximum: each
    // device's latest record (versions rise record by record).
    let applied = sqlx::query(
        "UPDATE devices SET version = l.version, last_counter = l.last_counter, \
         lease_seq = l.lease_seq, last_seen_at = l.last_seen_at, updated_at = l.updated_at \
         FROM (SELECT device_id, MAX(version) AS version, last_counter, lease_seq, \
               last_seen_at, updated_at FROM checkin_log GROUP BY device_id) AS l \
         WHERE devices.id = l.device_id AND devices.version < l.version",
    )
    .execute(&mut *tx)
    .await
    .map_err(classify)?
    .rows_affected();
    sqlx::query("DELETE FROM checkin_log")
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
    tx.commit().await.map_err(classify)?;
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use crate::sqlite::{open_sqlite, SqliteStore};
    use crate::sqlite_views::tests::{enrolled, kept, reload, warm};
    use lienlock_domain::{EventKind, Timestamp};
    use lienlock_store::{Actor, Device, DeviceWrite, Store, StoreError, TimelineEvent};

    /// `(last_counter, version)` of the phone's row in the file, and the log's length.
    async fn in_file(store: &SqliteStore, d: &Device) -> ((i64, i64), i64) {
        let row = sqlx::query_as("SELECT last_counter, version FROM devices WHERE id = ?")
            .bind(d.id.to_string())
            .fetch_one(&store.pool)
            .await
            .unwrap();
        let log = sqlx::query_scalar("SELECT COUNT(*) FROM checkin_log")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        (row, log)
    }

    /// A check-in from the phone's kept view, counter `counter`.
    async fn check_in(store: &SqliteStore, d: &Device, counter: u64) -> Result<(), StoreError> {
        let v = store.checkin_view(&d.imei).await.unwrap().unwrap();
        let mut w = DeviceWrite::new(v.device);
        w.device.last_counter = counter;
        w.device.lease_seq += 1;
        w.device.last_seen_at = Some(Timestamp::from_millis(counter as i64));
        w.device.updated_at = Timestamp::from_millis(counter as i64);
        store.save_devices(&[w]).await.unwrap().remove(0)
    }

    /// A lender's write (with a timeline entry, so through the pool) of `device` as read.
    async fn lender_write(store: &SqliteStore, device: &Device) -> Result<(), StoreError> {
        let mut w = DeviceWrite::new(device.clone());
        w.device.model = Some(format!("v{}", device.version));
        w.events.push(TimelineEvent::new(
            device,
            Timestamp::from_millis(1),
            EventKind::Locked,
            Actor::Operator,
        ));
        store.save_device(&w).await
    }

    /// A check-in of a kept phone is appended to the log, not written to its row; every
    /// read sees it; a lender's write from an older read is stale, one from a fresh read
    /// settles the check-ins into the row first; a reopened file applies what was never
    /// merged; a merge writes the rest and empties the log.
    #[tokio::test]
    async fn checkins_are_appended_settled_recovered_and_merged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let store = open_sqlite(&path).await.unwrap();
        let d = enrolled(&store, "490154203237518").await;
        warm(&store).await;
        let before = store.device_unscoped(d.id).await.unwrap().unwrap();

        check_in(&store, &d, 5).await.unwrap();
        check_in(&store, &d, 6).await.unwrap();
        assert_eq!(
            in_file(&store, &d).await,
            ((0, 0), 2),
            "the row is untouched"
        );
        let now = store.device_unscoped(d.id).await.unwrap().unwrap();
        assert_eq!((now.last_counter, now.lease_seq, now.version), (6, 2, 2));
        assert_eq!(kept(&store, &d), Some(2));
        let listed = store.device_for_checkin(&d.imei).await.unwrap().unwrap();
        assert_eq!(listed, now);

        // From the read before the check-ins: stale, and nothing changes.
        assert!(matches!(
            lender_write(&store, &before).await,
            Err(StoreError::Stale)
        ));
        assert_eq!(in_file(&store, &d).await, ((0, 0), 2));
        // From a fresh read: the check-ins go into the row first, then the write.
        lender_write(&store, &now).await.unwrap();
        assert_eq!(in_file(&store, &d).await, ((6, 3), 2));
        let after = store.device_unscoped(d.id).await.unwrap().unwrap();
        assert_eq!((after.last_counter, after.version), (6, 3));
        assert_eq!(after.model.as_deref(), Some("v2"));

        // The lender's write dropped the view; once read again, check-ins append again.
        assert_eq!(kept(&store, &d), None);
        assert_eq!(reload(&store).await, 1);
        check_in(&store, &d, 7).await.unwrap();
        assert_eq!(in_file(&store, &d).await, ((6, 3), 3));

        // Never merged: a new store of the file applies the log before anything reads.
        store.close().await;
        let store = open_sqlite(&path).await.unwrap();
        assert_eq!(in_file(&store, &d).await, ((7, 4), 0));
        let v = store.device_unscoped(d.id).await.unwrap().unwrap();
        assert_eq!((v.last_counter, v.lease_seq, v.version), (7, 3, 4));

        // A merge writes the rows and empties the log.
        warm(&store).await;
        check_in(&store, &d, 8).await.unwrap();
        assert_eq!(in_file(&store, &d).await, ((7, 4), 1));
        let (path2, views) = (path.clone(), store.views.clone());
        let merged = tokio::task::spawn_blocking(move || {
            let conn = crate::sqlite::open_existing_no_wait(&path2).unwrap();
            let gate = crate::write_turn::gate(&path2);
            crate::sqlite_views_keeper::merge(&conn, &views, &gate).unwrap()
        })
        .await
        .unwrap();
        assert_eq!(merged, 1);
        assert_eq!(in_file(&store, &d).await, ((8, 5), 0));
        assert_eq!(store.views.unmerged.len(), 0);
        assert_eq!(kept(&store, &d), Some(5), "a merge keeps the view");
        // A stale check-in (the version before the last) is refused, and leaves the row.
        let mut w = DeviceWrite::new(v.clone());
        w.device.last_counter = 9;
        w.device.last_seen_at = Some(Timestamp::from_millis(9));
        assert!(matches!(
            store.save_devices(&[w]).await.unwrap().remove(0),
            Err(StoreError::Stale)
        ));
        assert_eq!(in_file(&store, &d).await, ((8, 5), 0));
        store.close().await;
    }

    /// Check-ins appended, lenders' writes settling them and merges, all racing: no
    /// check-in that landed is lost (each moved its phone's counter on by one), in the
    /// store's reads and in the file once merged.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn merges_racing_checkins_and_lenders_lose_nothing() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let store = open_sqlite(&path).await.unwrap();
        let mut phones = Vec::new();
        for n in 0..6u64 {
            let imei = lienlock_domain::Imei::from_body(&format!("35391805041{n:03}")).unwrap();
            phones.push(enrolled(&store, imei.as_str()).await);
        }
        assert_eq!(store.warm_checkin_views().await.unwrap(), 6);
        let done = Arc::new(AtomicBool::new(false));
        let merger = {
            let (path, views, done) = (path.clone(), store.views.clone(), done.clone());
            tokio::task::spawn_blocking(move || {
                let conn = crate::sqlite::open_existing_no_wait(&path).unwrap();
                conn.busy_timeout(std::time::Duration::from_secs(5))
                    .unwrap();
                let gate = crate::write_turn::gate(&path);
                let mut merged = 0;
                while !done.load(Ordering::SeqCst) {
                    merged += crate::sqlite_views_keeper::merge(&conn, &views, &gate).unwrap();
                }
                merged
            })
        };
        let checkins: Vec<_> = (0..4)
            .map(|t| {
                let (store, phones, done) = (store.clone(), phones.clone(), done.clone());
                tokio::spawn(async move {
                    let mut landed = vec![0u64; phones.len()];
                    let mut round = 0;
                    while !done.load(Ordering::SeqCst) {
                        round += 1;
                        let n = (t * 5 + round) % phones.len();
                        let v = store.checkin_view(&phones[n].imei).await.unwrap().unwrap();
                        let mut w = DeviceWrite::new(v.device);
                        w.device.last_counter += 1;
                        w.device.lease_seq += 1;
                        w.device.last_seen_at = Some(Timestamp::from_millis(round as i64));
                        match store.save_devices(&[w]).await.unwrap().remove(0) {
                            Ok(()) => landed[n] += 1,
                            Err(StoreError::Stale) => {}
                            Err(e) => panic!("unexpected {e:?}"),
                        }
                    }
                    landed
                })
            })
            .collect();
        for round in 0..60 {
            let p = &phones[round % phones.len()];
            loop {
                let d = store.device_unscoped(p.id).await.unwrap().unwrap();
                match lender_write(&store, &d).await {
                    Ok(()) => break,
                    Err(StoreError::Stale) => {}
                    Err(e) => panic!("unexpected {e:?}"),
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        done.store(true, Ordering::SeqCst);
        let mut landed = vec![0u64; phones.len()];
        for task in checkins {
            for (total, n) in landed.iter_mut().zip(task.await.unwrap()) {
                *total += n;
            }
        }
        assert!(merger.await.unwrap() > 0, "no merge ran");
        assert!(landed.iter().all(|&n| n > 0), "{landed:?}");
        for (p, n) in phones.iter().zip(&landed) {
            let d = store.device_unscoped(p.id).await.unwrap().unwrap();
            let file = in_file(&store, p).await;
            let log: Vec<(i64, i64, i64)> = sqlx::query_as("SELECT seq, version, last_counter FROM checkin_log WHERE device_id = ? ORDER BY seq DESC LIMIT 5").bind(p.id.to_string()).fetch_all(&store.pool).await.unwrap();
            let view = store
                .views
                .get(&p.imei)
                .map(|(v, _)| (v.device.version, v.device.last_counter));
            assert_eq!(
                (d.last_counter, d.lease_seq),
                (*n, *n),
                "{} dev v{} file {file:?} log {log:?} entry {:?} view {view:?}",
                p.imei,
                d.version,
                store.views.unmerged.get(p.id)
            );
        }
        // And in the file, once what is left is applied by a new store of it.
        store.close().await;
        let store = open_sqlite(&path).await.unwrap();
        for (p, n) in phones.iter().zip(&landed) {
            let (row, log) = in_file(&store, p).await;
            assert_eq!((row.0 as u64, log), (*n, 0), "{}", p.imei);
        }
        store.close().await;
    }
}
