//! SQLite's check-in views in memory: what `Store::checkin_view` reads for a phone, loaded
//! for every enrollment in force by the warm pass at start and kept up to date by the
//! check-in writer, so that a check-in reads nothing from the database.
//!
//! Why: every check-in read its device with a hand-off to the reader thread and back and a
//! few B-tree pages (about a sixth of a check-in's CPU on two cores, docs/benchmarks.md,
//! fifteenth round). The views are decoded once, not at every check-in.
//!
//! Why it stays exact. One process owns a SQLite file (docs/deployment.md), so every change
//! to what a view holds passes through one of this process's connections:
//!
//! - **The pool's connections** (every write but the check-in's plain ones): SQLite's
//!   update hook names each `devices` row a statement changes, and each `lenders` change.
//!   Migration 0011's triggers make every change to a device's commands, notices or unlock
//!   codes touch its `devices` row too, so the hook names it. At commit (the commit hook,
//!   which runs while the connection still holds SQLite's write lock) those phones' views
//!   are dropped; a lender's change drops them all. A rolled-back transaction drops nothing.
//! - **The check-in writer** (`sqlite_writer`), in its batch's turn at the write lock: a
//!   kept phone's common check-in is appended to the check-in log and its view takes it
//!   (`Views::append`); a row write that landed replaces the device in its view if the
//!   view is still the one the write was read from (same device, same version); any other
//!   outcome drops the view.
//! - **Views are filled only under SQLite's write lock** (`sqlite_views_keeper`: the warm
//!   pass at start, then the reloading of dropped views): no other connection can be
//!   between a change and its commit then, so a view read under the lock is either before
//!   a commit (whose hook then drops it) or after it. Every row whose view was dropped (or
//!   that was inserted) is queued for the keeper to read again; until it has, its phone's
//!   check-ins read the file, as before. The check-in reader fills none (`sqlite_reader`
//!   says why).
//!
//! A row write is still checked against the device's version in the database, and one
//! that finds the device changed drops the view, so the check-in's retry reads the
//! database. A check-in appended to the check-in log (`sqlite_unmerged`) is checked
//! against its view alone: that is why views change only in turns at the write lock
//! (`write_turn`), and why nothing but this process may write the file while it runs.

use lienlock_domain::{DeviceState, Imei, LenderId};
use lienlock_store::{CheckinView, Device, Lender};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// The most views kept: about 0.5 KB each (docs/deployment.md), 2 GB at most. Phones past
/// it are read from the database at each check-in, as before.
pub(crate) const MAX_VIEWS: usize = 4_000_000;

/// The most rows queued to be read again (8 bytes each). Past it (a scheduler pass that
/// changed more phones than this since the keeper last looked), the keeper runs the warm
/// pass again instead.
const MAX_DROPPED: usize = 262_144;

/// A phone's view, its lender shared with the lender's other phones.
#[derive(Debug)]
struct Entry {
    rowid: i64,
    device: Device,
    lender: Arc<Lender>,
    codes_through: u32,
    undelivered_from: Option<u64>,
    has_pending: bool,
}

#[derive(Debug, Default)]
struct State {
    /// By the enrollment's first IMEI: what a check-in names. Boxed: a map's table is up
    /// to twice as long as its entries, and those slots are then a pointer each, not a view
    /// (about 950 bytes a phone unboxed, 530 boxed: docs/benchmarks.md, fifteenth round).
    by_imei: HashMap<Imei, Box<Entry>>,
    /// `devices.rowid` to first IMEI: what the update hook names.
    imei_of: HashMap<i64, Imei>,
    lenders: HashMap<LenderId, Arc<Lender>>,
    /// `devices` rows changed or written stale since the keeper last looked: their views
    /// are to be read again (`sqlite_views_keeper`). Unordered, may repeat.
    dropped: Vec<i64>,
    /// Whether the keeper must run the warm pass again: every view was dropped (a lender
    /// changed), or more rows than [`MAX_DROPPED`] were.
    rewarm: bool,
}

impl State {
    /// Drops the view of the `devices` row `rowid`, if kept, and queues it to be read again.
    fn forget(&mut self, rowid: i64) {
        if let Some(imei) = self.imei_of.remove(&rowid) {
            self.by_imei.remove(&imei);
        }
        self.dropped(rowid);
    }

    fn dropped(&mut self, rowid: i64) {
        if self.dropped.len() < MAX_DROPPED {
            self.dropped.push(rowid);
        } else {
            self.rewarm = true;
        }
    }

    /// No views, and the keeper told to load them all again.
    fn cleared() -> Self {
        Self {
            rewarm: true,
            ..Self::default()
        }
    }
}

/// The check-in views of one database file.
#[derive(Debug, Default)]
pub(crate) struct Views {
    state: Mutex<State>,
    /// Check-ins appended and not yet merged (`sqlite_unmerged`): every view and device
    /// read is brought up to them.
    pub(crate) unmerged: crate::sqlite_unmerged::Unmerged,
    /// Set when the store closes: the keeper's thread ends (`sqlite_views_keeper`).
    stopped: AtomicBool,
    /// The keeper's thread, once started.
    pub(crate) keeper: Mutex<Option<std::thread::JoinHandle<()>>>,
}

static VIEWS: crate::per_file::PerFile<Views> = crate::per_file::PerFile::new();

/// The views of the file at `path`, made if none are alive (a second store of one file
/// shares the first's).
pub(crate) fn for_file(path: &std::path::Path) -> Arc<Views> {
    VIEWS.get_or_make(path, Views::default)
}

/// The views of the file at `path`, if a store of it is open.
pub(crate) fn of_file(path: &std::path::Path) -> Option<Arc<Views>> {
    VIEWS.get(path)
}

impl Views {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock left at worst a view missing or extra for a row
        // the panicking code was changing; dropping them all is always safe.
        self.state.lock().unwrap_or_else(|poisoned| {
            let mut s = poisoned.into_inner();
            *s = State::cleared();
            self.state.clear_poison();
            s
        })
    }

    /// The phone's view and whether it has pending commands (not part of the view).
    pub(crate) fn get(&self, imei: &Imei) -> Option<(CheckinView, bool)> {
        let s = self.state();
        let e = s.by_imei.get(imei)?;
        let view = CheckinView {
            device: e.device.clone(),
            lender: Lender::clone(&e.lender),
            codes_through: e.codes_through,
            pending_commands: Vec::new(),
            undelivered_from: e.undelivered_from,
        };
        Some((view, e.has_pending))
    }

    /// Keeps `view`, read from the database at `devices.rowid` `rowid` by the keeper,
    /// whose connection holds SQLite's write lock (see the module's comment).
    pub(crate) fn fill(&self, rowid: i64, view: &CheckinView, has_pending: bool) {
        if view.device.state == DeviceState::Released {
            return;
        }
        // Over the check-ins not yet merged into the row (`sqlite_unmerged`): a view that
        // took the row alone would let the next check-in append from an older counter.
        let mut device = view.device.clone();
        if let Some(entry) = self.unmerged.get(device.id) {
            entry.apply(&mut device);
        }
        let mut s = self.state();
        let imei = device.imei;
        if s.by_imei.len() >= MAX_VIEWS && !s.by_imei.contains_key(&imei) {
            return;
        }
        let lender = match s.lenders.get(&view.lender.id) {
            Some(l) if **l == view.lender => l.clone(),
            _ => {
                let l = Arc::new(view.lender.clone());
                s.lenders.insert(view.lender.id, l.clone());
                l
            }
        };
        s.imei_of.insert(rowid, imei);
        let old = s.by_imei.insert(
            imei,
            Box::new(Entry {
                rowid,
                device,
                lender,
                codes_through: view.codes_through,
                undelivered_from: view.undelivered_from,
                has_pending,
            }),
        );
        if let Some(old) = old.filter(|o| o.rowid != rowid) {
            s.imei_of.remove(&old.rowid);
        }
    }

    /// Drops the views of these `devices` rows (a commit changed or inserted them), and
    /// queues them to be read again.
    pub(crate) fn forget_rows(&self, rowids: &[i64]) {
        let mut s = self.state();
        for &rowid in rowids {
            s.forget(rowid);
        }
    }

    /// Drops every view (a lender changed), to be loaded again by a warm pass.
    pub(crate) fn forget_all(&self) {
        *self.state() = State::cleared();
    }

    /// Up to `n` distinct queued rows, taken off the queue; and whether a warm pass is
    /// due instead (which empties the queue).
    pub(crate) fn take_dropped(&self, n: usize) -> (Vec<i64>, bool) {
        let mut s = self.state();
        if s.rewarm {
            s.rewarm = false;
            s.dropped = Vec::new();
            return (Vec::new(), true);
        }
        let mut taken = std::collections::HashSet::with_capacity(n.min(s.dropped.len()));
        while taken.len() < n {
            let Some(rowid) = s.dropped.pop() else { break };
            taken.insert(rowid);
        }
        (taken.into_iter().collect(), false)
    }

    /// Queues rows again (a reload that failed).
    pub(crate) fn requeue(&self, rowids: &[i64]) {
        let mut s = self.state();
        for &rowid in rowids {
            s.dropped(rowid);
        }
    }

    /// Forgets the queue: a warm pass is starting, and reads every row after it.
    pub(crate) fn warm_pass_starts(&self) {
        let mut s = self.state();
        s.dropped = Vec::new();
        s.rewarm = false;
    }

    /// Ends the keeper's thread (the store is closing); returns it to be waited for.
    pub(crate) fn stop(&self) -> Option<std::thread::JoinHandle<()>> {
        self.stopped.store(true, Ordering::Release);
        self.keeper
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// A check-in writer's write of `device` (as read, before its version was bumped):
    /// `landed` when it is now in the database. A view still the one the write was read
    /// from takes the written device; any other is dropped.
    pub(crate) fn written(&self, device: &Device, landed: bool) {
        let mut s = self.state();
        let key = device.imei;
        let Some(e) = s.by_imei.get_mut(&key) else {
            return;
        };
        if e.device.id != device.id {
            return;
        }
        if landed && e.device.version == device.version && device.state != DeviceState::Released {
            // What the writer's statement writes; the rest of the row it leaves as read.
            e.device = Device {
                id: e.device.id,
                lender_id: e.device.lender_id,
                imei: e.device.imei,
                imei2: e.device.imei2,
                enrolled_at: e.device.enrolled_at,
                version: e.device.version + 1,
                ..device.clone()
            };
            return;
        }
        // By the IMEI it was found by, not through `imei_of`: the view's rowid is what is
        // in doubt.
        let rowid = e.rowid;
        s.by_imei.remove(&key);
        s.imei_of.remove(&rowid);
        s.dropped(rowid);
    }

    /// Appends `device`, a check-in's write read from its kept view, if it changes nothing
    /// but what a `checkin_log` record holds: the view takes it, at the version it makes,
    /// and so does the unmerged map. Called by the check-in writer in its turn at the
    /// write lock, before the record's commit (an entry ahead of the file is harmless:
    /// `sqlite_unmerged`).
    pub(crate) fn append(&self, device: &Device) -> Option<crate::sqlite_unmerged::Entry> {
        let mut s = self.state();
        let e = s.by_imei.get_mut(&device.imei)?;
        if e.device.id != device.id {
            return None;
        }
        let entry = crate::sqlite_unmerged::Entry::of_checkin(e.rowid, &e.device, device)?;
        e.device = Device {
            version: entry.version,
            ..device.clone()
        };
        drop(s);
        self.unmerged.record(device.id, entry);
        Some(entry)
    }

    /// The `devices.rowid` of `device`'s row, when its view is kept.
    pub(crate) fn rowid(&self, device: &Device) -> Option<i64> {
        let s = self.state();
        let e = s.by_imei.get(&device.imei)?;
        (e.device.id == device.id).then_some(e.rowid)
    }

    /// How many views are kept.
    pub(crate) fn len(&self) -> usize {
        self.state().by_imei.len()
    }
}

/// What one pool connection's open transaction changed, for its commit hook.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    rows: Vec<i64>,
    lenders: bool,
}

/// Installs the hooks of the module's comment on a pool connection.
pub(crate) async fn watch(
    conn: &mut sqlx::SqliteConnection,
    views: Arc<Views>,
) -> Result<(), sqlx::Error> {
    use sqlx::sqlite::SqliteOperation;
    let pending = Arc::new(Mutex::new(Pending::default()));
    let mut handle = conn.lock_handle().await?;
    let p = pending.clone();
    handle.set_update_hook(move |change| {
        let mut p = lock(&p);
        match change.table {
            "devices" => p.rows.push(change.rowid),
            // A lender's name, lock screen or policy is in each of its phones' views.
            "lenders" if change.operation != SqliteOperation::Insert => p.lenders = true,
            _ => {}
        }
    });
    let p = pending.clone();
    handle.set_commit_hook(move || {
        let mut p = lock(&p);
        if p.lenders {
            views.forget_all();
        } else if !p.rows.is_empty() {
            views.forget_rows(&p.rows);
        }
        *p = Pending::default();
        true
    });
    handle.set_rollback_hook(move || *lock(&pending) = Pending::default());
    Ok(())
}

fn lock(p: &Mutex<Pending>) -> MutexGuard<'_, Pending> {
    p.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
pub(crate) mod tests {
    use crate::sqlite::{open_sqlite, SqliteStore};
    use lienlock_domain::{
        DeviceId, DeviceState, EventKind, Imei, KeyStatus, LenderCtx, Principal, RestrictionLevel,
        Role, Timestamp,
    };
    use lienlock_store::{
        Actor, Device, DeviceWrite, NoticeRecord, Store, StoreError, TimelineEvent,
    };

    pub(crate) async fn enrolled(store: &SqliteStore, imei: &str) -> Device {
        let t = Timestamp::from_millis(1);
        let (lender, key) = crate::sqlite::tests::lender(1);
        store.create_lender(&lender, &key).await.unwrap();
        let ctx = LenderCtx {
            lender_id: lender.id,
            role: Role::Admin,
            principal: Principal::ApiKey(key.id),
        };
        let d = Device {
            id: DeviceId::new(),
            lender_id: lender.id,
            imei: Imei::parse(imei).unwrap(),
            imei2: None,
            serial: None,
            model: None,
            state: DeviceState::Active,
            key_status: KeyStatus::Unregistered,
            device_key: None,
            pending_key: None,
            last_counter: 0,
            pending_counter: 0,
            retired_key: None,
            retired_counter: 0,
            lease_seq: 0,
            policy_level: RestrictionLevel::None,
            policy_level_since: t,
            notice_seq: 0,
            arrears: None,
            last_seen_at: None,
            enrolled_at: t,
            updated_at: t,
            version: 0,
        };
        let e = TimelineEvent::new(&d, t, EventKind::Enrolled, Actor::Operator);
        store.enroll_device(&ctx, &d, &e).await.unwrap();
        d
    }

    /// The warm pass alone, without the keeper's thread (which would fill views again
    /// while the test looks for them gone).
    pub(crate) async fn warm(store: &SqliteStore) -> usize {
        let (path, views) = (store.path.clone().unwrap(), store.views.clone());
        tokio::task::spawn_blocking(move || crate::sqlite_views_keeper::warm(&path, &views))
            .await
            .unwrap()
            .unwrap()
    }

    /// One turn of the keeper's reloading.
    pub(crate) async fn reload(store: &SqliteStore) -> usize {
        let (path, views) = (store.path.clone().unwrap(), store.views.clone());
        tokio::task::spawn_blocking(move || {
            let conn = crate::sqlite::open_existing_no_wait(&path).unwrap();
            let gate = crate::write_turn::gate(&path);
            crate::sqlite_views_keeper::reload(&conn, &views, &gate).unwrap()
        })
        .await
        .unwrap()
    }

    /// Whether the phone's view is kept, and at which device version.
    pub(crate) fn kept(store: &SqliteStore, d: &Device) -> Option<i64> {
        store.views.get(&d.imei).map(|(v, _)| v.device.version)
    }

    /// The warm pass keeps the views; the check-in writer's write brings one up to date;
    /// a write by any other statement, even one that changes only a notice or the lender
    /// (raw SQL here, as no store method does), drops it; so does a stale write.
    #[tokio::test]
    async fn views_are_kept_brought_up_to_date_and_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_sqlite(&dir.path().join("v.db")).await.unwrap();
        let d = enrolled(&store, "490154203237518").await;
        // Another lender's phone, in the row after it, at the version `d` will have.
        let other = enrolled(&store, "353918050418322").await;
        let w = DeviceWrite::new(other.clone());
        store.save_devices(&[w]).await.unwrap().remove(0).unwrap();
        // A check-in's read keeps nothing; the warm pass keeps every phone in force.
        let v = store.checkin_view(&d.imei).await.unwrap().unwrap();
        assert_eq!(kept(&store, &d), None);
        assert_eq!(warm(&store).await, 2);
        assert_eq!(kept(&store, &d), Some(0));

        let mut w = DeviceWrite::new(v.device.clone());
        w.device.last_counter = 3;
        store.save_devices(&[w]).await.unwrap().remove(0).unwrap();
        assert_eq!(kept(&store, &d), Some(1), "the writer's write is kept");
        let v = store.checkin_view(&d.imei).await.unwrap().unwrap();
        assert_eq!(v.device.last_counter, 3);

        // The writer finds a kept phone's row by the rowid its view holds, and still
        // checks the id: a view naming another phone's row makes the write stale, not
        // misplaced.
        let rowid = store.views.rowid(&v.device).unwrap();
        store.views.state().by_imei.get_mut(&d.imei).unwrap().rowid = rowid + 1;
        let mut w = DeviceWrite::new(v.device.clone());
        w.device.last_counter = 4;
        assert!(matches!(
            store.save_devices(&[w]).await.unwrap().remove(0),
            Err(StoreError::Stale)
        ));
        assert_eq!(kept(&store, &d), None);
        let v = store.checkin_view(&d.imei).await.unwrap().unwrap();
        assert_eq!((v.device.last_counter, v.device.version), (3, 1));
        let untouched = store.device_unscoped(other.id).await.unwrap().unwrap();
        assert_eq!((untouched.last_counter, untouched.version), (0, 1));

        // A notice queued (with its device row, as every store method does)...
        warm(&store).await;
        assert!(kept(&store, &d).is_some());
        let mut w = DeviceWrite::new(v.device.clone());
        w.device.notice_seq = 1;
        w.new_notices.push(NoticeRecord {
            id: lienlock_domain::NoticeId::new(),
            lender_id: d.lender_id,
            device_id: d.id,
            contract_id: None,
            seq: 1,
            kind: "reminder".into(),
            message: "due".into(),
            created_at: Timestamp::from_millis(2),
            delivered_at: None,
        });
        store.save_device(&w).await.unwrap();
        assert_eq!(kept(&store, &d), None);
        warm(&store).await;
        let v = store.checkin_view(&d.imei).await.unwrap().unwrap();
        assert_eq!((v.undelivered_from, kept(&store, &d)), (Some(1), Some(2)));
        // ...and delivered by a statement that writes no device row: migration 0011's
        // trigger makes it write one.
        sqlx::query("UPDATE notices SET delivered_at = 3 WHERE device_id = ?")
            .bind(d.id.to_string())
            .execute(&store.pool)
            .await
            .unwrap();
        assert_eq!(kept(&store, &d), None);
        let v = store.checkin_view(&d.imei).await.unwrap().unwrap();
        assert_eq!(v.undelivered_from, None);

        // The lender's lock screen.
        warm(&store).await;
        assert!(kept(&store, &d).is_some());
        sqlx::query("UPDATE lenders SET lock_message = 'Call us' WHERE id = ?")
            .bind(d.lender_id.to_string())
            .execute(&store.pool)
            .await
            .unwrap();
        assert_eq!(kept(&store, &d), None);
        let v = store.checkin_view(&d.imei).await.unwrap().unwrap();
        assert_eq!(v.lender.lock_message, "Call us");

        // A write from an older read: refused, and the view is read again.
        warm(&store).await;
        assert!(kept(&store, &d).is_some());
        let mut stale = DeviceWrite::new(d.clone());
        stale.device.last_counter = 9;
        assert!(matches!(
            store.save_devices(&[stale]).await.unwrap().remove(0),
            Err(StoreError::Stale)
        ));
        assert_eq!(kept(&store, &d), None);

        // A transaction rolled back drops nothing.
        warm(&store).await;
        let mut tx = store.pool.begin().await.unwrap();
        sqlx::query("UPDATE devices SET model = 'X' WHERE id = ?")
            .bind(d.id.to_string())
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.rollback().await.unwrap();
        assert!(kept(&store, &d).is_some());
        assert_eq!(
            store
                .checkin_view(&d.imei)
                .await
                .unwrap()
                .unwrap()
                .device
                .model,
            None
        );

        // The warm pass keeps every enrollment in force.
        store.views.forget_all();
        assert_eq!(warm(&store).await, 2);
        assert!(kept(&store, &d).is_some());
        store.close().await;
    }

    /// Every view dropped is read again by the keeper, under the write lock, at what the
    /// file then holds: one turn reads the queued rows (a phone enrolled since is one);
    /// a lender's change has the next turn run the warm pass; the keeper's thread does it
    /// by itself, and ends when the store closes.
    #[tokio::test]
    async fn dropped_views_are_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_sqlite(&dir.path().join("r.db")).await.unwrap();
        let d = enrolled(&store, "490154203237518").await;
        assert_eq!(warm(&store).await, 1);
        assert_eq!(
            reload(&store).await,
            0,
            "nothing dropped since the warm pass"
        );

        // A change to the row and a phone enrolled.
        sqlx::query("UPDATE devices SET model = 'X' WHERE id = ?")
            .bind(d.id.to_string())
            .execute(&store.pool)
            .await
            .unwrap();
        let e = enrolled(&store, "353918050418322").await;
        assert_eq!((kept(&store, &d), kept(&store, &e)), (None, None));
        assert_eq!(reload(&store).await, 2);
        let (v, _) = store.views.get(&d.imei).unwrap();
        assert_eq!(v.device.model.as_deref(), Some("X"));
        assert_eq!(kept(&store, &e), Some(0));
        assert_eq!(reload(&store).await, 0, "each row read once");

        // A released phone is dropped and not kept again.
        sqlx::query("UPDATE devices SET state = 'released' WHERE id = ?")
            .bind(e.id.to_string())
            .execute(&store.pool)
            .await
            .unwrap();
        assert_eq!(reload(&store).await, 1);
        assert_eq!(kept(&store, &e), None);

        // A lender's change drops them all; the next turn is a warm pass.
        sqlx::query("UPDATE lenders SET lock_message = 'Call us'")
            .execute(&store.pool)
            .await
            .unwrap();
        assert_eq!(kept(&store, &d), None);
        assert_eq!(reload(&store).await, 1);
        let (v, _) = store.views.get(&d.imei).unwrap();
        assert_eq!(v.lender.lock_message, "Call us");

        // The thread, started by the store's warm pass.
        assert_eq!(store.warm_checkin_views().await.unwrap(), 1);
        sqlx::query("UPDATE devices SET model = 'Y' WHERE id = ?")
            .bind(d.id.to_string())
            .execute(&store.pool)
            .await
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let model = store.views.get(&d.imei).and_then(|(v, _)| v.device.model);
            if model.as_deref() == Some("Y") {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "never read again");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let views = store.views.clone();
        store.close().await;
        assert!(views.is_stopped() && views.keeper.lock().unwrap().is_none());
    }
}
