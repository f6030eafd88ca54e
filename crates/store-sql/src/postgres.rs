//! The PostgreSQL backend: any number of server nodes sharing one database.

use crate::error::{classify, migrate_error, Unavailable};
use lienlock_domain::Imei;
use lienlock_store::{StoreError, StoreResult};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A [`lienlock_store::Store`] in a PostgreSQL database. Cheap to clone (a pool handle).
#[derive(Clone, Debug)]
pub struct PgStore {
    pub(crate) pool: PgPool,
    /// The connection holding (or trying for) the scheduler's advisory lock: its own, not
    /// the pool's, because the lock belongs to the session and must end with it.
    scheduler: Arc<tokio::sync::Mutex<Leader>>,
    /// Check-in reads, many to a statement.
    reader: crate::postgres_reader::Reader,
}

/// This node's claim on the scheduler.
#[derive(Debug, Default)]
struct Leader {
    conn: Option<PgConnection>,
    held: bool,
}

/// The advisory lock key of the scheduler ("lienlock" in ASCII, as a number).
const SCHEDULER_LOCK: i64 = 0x6c69_656e_6c6f_636b;

/// Connects to the PostgreSQL database at `url` (`postgres://user:pass@host:port/db`) and
/// brings its schema up to date. Concurrent callers are safe: sqlx holds an advisory lock
/// while migrating.
pub async fn connect_postgres(url: &str) -> Result<PgStore, StoreError> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::Backend(format!("invalid PostgreSQL URL: {e}")))?;
    let pool = PgPoolOptions::new()
        .max_connections(10)
        // A dead or overloaded database must surface as Unavailable within seconds (and turn
        // `/readyz` red), not hold requests until a client gives up. With the database
        // down, the pool keeps trying to connect until this runs out, even when each try
        // is refused at once: every request then takes all of it (5 s measured before it
        // was 2; the outage drill). Two seconds still waits out a busy pool: at 5,000
        // check-ins a second the p99 was 153 ms (docs/benchmarks.md).
        .acquire_timeout(Duration::from_secs(2))
        .connect_with(options)
        .await
        .map_err(classify)?;
    MIGRATOR.run(&pool).await.map_err(migrate_error)?;
    Ok(PgStore {
        pool,
        scheduler: Arc::default(),
        reader: Default::default(),
    })
}

/// See [`lienlock_store::Store::scheduler_turn`]. While held, each call checks that the
/// session is still alive (a dead one has lost the lock to the server already); a broken
/// connection is dropped and the next call starts over.
async fn scheduler_turn(store: &PgStore) -> StoreResult<bool> {
    use sqlx::Connection;
    let mut leader = store.scheduler.lock().await;
    if leader.conn.is_none() {
        let options = store.pool.connect_options();
        let conn = PgConnection::connect_with(&options)
            .await
            .map_err(classify)?;
        *leader = Leader {
            conn: Some(conn),
            held: false,
        };
    }
    let held = leader.held;
    let Some(conn) = leader.conn.as_mut() else {
        return Ok(false);
    };
    let result = if held {
        sqlx::query_scalar::<_, i32>("SELECT 1")
            .fetch_one(&mut *conn)
            .await
            .map(|_| true)
    } else {
        sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock($1)")
            .bind(SCHEDULER_LOCK)
            .fetch_one(&mut *conn)
            .await
    };
    match result {
        Ok(now_held) => {
            leader.held = now_held;
            Ok(now_held)
        }
        Err(e) => {
            // The session (and with it any lock) is gone; the next call reconnects.
            *leader = Leader::default();
            Err(classify(e))
        }
    }
}

/// SQLSTATEs that mean "cannot take the request now" rather than "bad statement".
pub(crate) fn unavailable(sqlstate: &str) -> Option<(Unavailable, &'static str)> {
    use Unavailable::{Full, Now, ReadOnly};
    Some(match sqlstate {
        "25006" => (ReadOnly, "database is read-only (a standby?)"), // read_only_sql_transaction
        "53100" => (Full, "database disk is full"),
        "53300" => (Now, "too many connections"),
        "57P01" | "57P02" | "57P03" => (Now, "database is shutting down or starting up"),
        s if s.starts_with("08") => (Now, "connection failure"),
        s if s.starts_with("53") => (Now, "database is out of resources"),
        s if s.starts_with("58") => (Now, "database system or I/O error"),
        _ => return None,
    })
}

/// Serializes enrollments that share an IMEI. PostgreSQL runs them concurrently in READ
/// COMMITTED, so two transactions could each insert a device whose IMEI equals the other's
/// second IMEI, each check before the other commits, and both succeed; the unique indexes
/// only cover imei/imei and imei2/imei2. A transaction-scoped advisory lock per IMEI (a
/// 15-digit number, so it is its own key) makes the later one wait and then see the earlier
/// one's row. Locks are taken in ascending order so two enrollments cannot deadlock.
async fn lock_imeis(conn: &mut PgConnection, imeis: &[&Imei]) -> StoreResult<()> {
    let mut keys: Vec<i64> = imeis
        .iter()
        .map(|imei| {
            imei.as_bytes()
                .iter()
                .fold(0i64, |n, d| n * 10 + i64::from(d - b'0'))
        })
        .collect();
    keys.sort_unstable();
    keys.dedup();
    for key in keys {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(key)
            .execute(&mut *conn)
            .await
            .map_err(classify)?;
    }
    Ok(())
}

/// Locks the devices a batch of saves will write, in id order, so two nodes' batches
/// (and single saves, which lock one device) always queue in one order and cannot
/// deadlock. Held until the transaction ends.
async fn lock_devices(conn: &mut sqlx::PgConnection, ids: &[String]) -> StoreResult<()> {
    sqlx::query("SELECT id FROM devices WHERE id = ANY($1) ORDER BY id FOR UPDATE")
        .bind(ids)
        .execute(&mut *conn)
        .await
        .map_err(classify)?;
    Ok(())
}

async fn notify(store: &PgStore, devices: &[lienlock_domain::DeviceId]) -> StoreResult<()> {
    crate::wakes::pg_notify(&store.pool, devices).await
}

async fn listen(store: &PgStore) -> StoreResult<lienlock_store::WakeReceiver> {
    crate::wakes::pg_listen(&store.pool).await
}

/// Every batch takes the general path: one round trip per statement to the server.
async fn save_devices(
    store: &PgStore,
    writes: &[lienlock_store::DeviceWrite],
) -> StoreResult<Vec<StoreResult<()>>> {
    batch::save_devices(&store.pool, writes).await
}

/// Through the check-in reader, many reads to a statement; a phone it does not find by
/// its first IMEI is read by the general statement.
async fn direct_checkin_row(
    store: &PgStore,
    imei: &Imei,
) -> Option<StoreResult<Option<crate::rows::CheckinRow>>> {
    match store.reader.checkin_row(&store.pool, *imei).await {
        Ok(None) => None,
        found => Some(found),
    }
}

/// Nodes sharing a database cannot keep views in memory: any of them may change a device.
fn cached_checkin_view(_: &PgStore, _: &Imei) -> Option<(lienlock_store::CheckinView, bool)> {
    None
}

/// Nodes sharing a database keep no views (above).
async fn warm_checkin_views(_: &PgStore) -> StoreResult<usize> {
    Ok(0)
}

crate::store_impl::impl_store!(
    store: PgStore,
    db: sqlx::Postgres,
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
    store: PgStore,
    db: sqlx::Postgres,
    claim: crate::store_webhooks::CLAIM_POSTGRES,
);
