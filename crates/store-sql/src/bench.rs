//! Bulk loading of SQLite databases for benchmarks (feature `bench`, for `lienlock bench`;
//! nothing in the server calls it).
//!
//! The store writes one row per transaction, and each commit waits for an fsync
//! (`synchronous = FULL`): right for a server, far too slow to fill a database with a
//! million contracts. [`BulkLoader`] writes the same rows with the same statements and the
//! same encodings as the store (the column lists are taken from the store's own `INSERT`s),
//! many rows per statement and many statements per transaction, with syncing off. What it
//! writes therefore reads back through the [`lienlock_store::Store`] API exactly as if the
//! store had written it; a benchmark should still read a sample back to prove that.

use crate::error::{classify, to_i64};
use crate::rows::{arrears_columns, entry_kind_columns, terms_json};
use crate::sql;
use lienlock_domain::{Imei, Timestamp};
use lienlock_store::{
    ContractRecord, Device, DisputeRecord, NoticeRecord, PaymentRecord, StoreError, StoreResult,
};
use sqlx::query::Query;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous,
};
use sqlx::{Connection, Sqlite};
use std::path::Path;

/// Rows of one table per `INSERT` statement. Fewer statements is what makes the load fast
/// (each statement is a round trip to the driver's worker thread); 200 rows of the widest
/// table (25 columns) stay far below SQLite's 32,766 parameters.
const ROWS_PER_STATEMENT: usize = 200;

/// Rows for one transaction. Parents before children: a contract's device must be in this
/// batch or an earlier one, and so on.
#[derive(Debug, Default)]
pub struct Batch {
    /// Devices.
    pub devices: Vec<Device>,
    /// Contracts of those (or earlier) devices.
    pub contracts: Vec<ContractRecord>,
    /// Ledger entries of those contracts; a reversal after the payment it reverses.
    pub payments: Vec<PaymentRecord>,
    /// Notices already queued (and perhaps delivered).
    pub notices: Vec<NoticeRecord>,
    /// Disputes.
    pub disputes: Vec<DisputeRecord>,
}

impl Batch {
    /// Whether the batch holds no row.
    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
            && self.contracts.is_empty()
            && self.payments.is_empty()
            && self.notices.is_empty()
            && self.disputes.is_empty()
    }

    /// Empties the batch, keeping its capacity for the next one.
    pub fn clear(&mut self) {
        self.devices.clear();
        self.contracts.clear();
        self.payments.clear();
        self.notices.clear();
        self.disputes.clear();
    }
}

/// One connection that fills a SQLite database with few, large transactions.
#[derive(Debug)]
pub struct BulkLoader {
    conn: SqliteConnection,
}

type Q<'q> = Query<'q, Sqlite, SqliteArguments<'q>>;

impl BulkLoader {
    /// Opens the database at `path` (creating it and applying the store's migrations, so the
    /// schema is exactly the store's) for loading.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        let store = crate::open_sqlite(path).await?;
        store.close().await;
        let options = SqliteConnectOptions::new()
            .filename(path)
            // A half-built benchmark database is thrown away and rebuilt, so nothing here
            // needs to survive a crash: no journal (every page would otherwise be written
            // twice, to the log and back) and no syncing. `finish` turns the log back on.
            .journal_mode(SqliteJournalMode::Off)
            .synchronous(SqliteSynchronous::Off)
            // Still check every foreign key: a row the store could not have written should
            // fail the load, not the benchmark.
            .foreign_keys(true)
            // 256 MiB of page cache keeps the indexes being filled in memory.
            .pragma("cache_size", "-262144");
        // Leaving WAL mode needs the file alone, and a store closed just before can take a
        // moment longer to let go of it (seen under load: its connections finish closing
        // on their own threads): try again for up to two seconds before giving up.
        let mut tries = 0;
        let conn = loop {
            match SqliteConnection::connect_with(&options)
                .await
                .map_err(classify)
            {
                Err(StoreError::Unavailable(_)) if tries < 40 => {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                other => break other?,
            }
        };
        Ok(Self { conn })
    }

    /// Writes every row of `batch` in one transaction.
    pub async fn load(&mut self, batch: &Batch) -> StoreResult<()> {
        let mut tx = self.conn.begin().await.map_err(classify)?;
        insert_rows(&mut tx, sql::INSERT_DEVICE, &batch.devices, bind_device).await?;
        insert_rows(
            &mut tx,
            sql::INSERT_CONTRACT,
            &batch.contracts,
            bind_contract,
        )
        .await?;
        insert_rows(&mut tx, sql::INSERT_PAYMENT, &batch.payments, bind_payment).await?;
        insert_rows(&mut tx, sql::INSERT_NOTICE, &batch.notices, bind_notice).await?;
        insert_rows(&mut tx, sql::INSERT_DISPUTE, &batch.disputes, bind_dispute).await?;
        tx.commit().await.map_err(classify)
    }

    /// Puts the database back in write-ahead-log mode, empty, and closes, so the file alone
    /// is the whole database and can be copied.
    pub async fn finish(mut self) -> StoreResult<()> {
        // The store opens in WAL mode anyway; setting it here leaves the file as the store
        // left it after migrating.
        sqlx::query("PRAGMA journal_mode = WAL")
            .execute(&mut self.conn)
            .await
            .map_err(classify)?;
        truncate_wal(&mut self.conn).await?;
        self.conn.close().await.map_err(classify)
    }
}

/// Checkpoints the database at `path` and empties its write-ahead log, so that copying the
/// database file alone copies the whole database (a store that was open on it may have left
/// pages in the log).
pub async fn checkpoint(path: &Path) -> StoreResult<()> {
    let options = SqliteConnectOptions::new().filename(path);
    let mut conn = SqliteConnection::connect_with(&options)
        .await
        .map_err(classify)?;
    truncate_wal(&mut conn).await?;
    conn.close().await.map_err(classify)
}

async fn truncate_wal(conn: &mut SqliteConnection) -> StoreResult<()> {
    // Returns (busy, log frames, checkpointed frames); busy = 1 means a reader kept part of
    // the log, and the copy would then miss those pages.
    let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
        .fetch_one(&mut *conn)
        .await
        .map_err(classify)?;
    if busy != 0 {
        return Err(StoreError::Unavailable(
            "another connection kept the write-ahead log from being checkpointed".into(),
        ));
    }
    Ok(())
}

/// How many times each timeline event kind occurs, most frequent first: what a scheduler
/// pass did, without reading every device through the store.
pub async fn event_counts(path: &Path) -> StoreResult<Vec<(String, i64)>> {
    let options = SqliteConnectOptions::new().filename(path).read_only(true);
    let mut conn = SqliteConnection::connect_with(&options)
        .await
        .map_err(classify)?;
    let counts = sqlx::query_as(
        "SELECT kind, count(*) AS n FROM timeline_events GROUP BY kind ORDER BY n DESC, kind",
    )
    .fetch_all(&mut conn)
    .await
    .map_err(classify)?;
    conn.close().await.map_err(classify)?;
    Ok(counts)
}

/// When the contracts a pass evaluated (those updated at `at`) will be looked at next:
/// `[closed, within a day, within a week, later]`. Before the engine learned to sleep until
/// a decision can change, every active one came back within a day.
pub async fn next_evaluations(path: &Path, at: Timestamp) -> StoreResult<[i64; 4]> {
    const DAY: i64 = 86_400_000;
    let options = SqliteConnectOptions::new().filename(path).read_only(true);
    let mut conn = SqliteConnection::connect_with(&options)
        .await
        .map_err(classify)?;
    let row: (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT \
           COALESCE(SUM(next_evaluation_at IS NULL), 0), \
           COALESCE(SUM(next_evaluation_at <= $1 + $2), 0), \
           COALESCE(SUM(next_evaluation_at > $1 + $2 AND next_evaluation_at <= $1 + 7 * $2), 0), \
           COALESCE(SUM(next_evaluation_at > $1 + 7 * $2), 0) \
         FROM contracts WHERE updated_at = $1",
    )
    .bind(at.as_millis())
    .bind(DAY)
    .fetch_one(&mut conn)
    .await
    .map_err(classify)?;
    conn.close().await.map_err(classify)?;
    Ok([row.0, row.1, row.2, row.3])
}

/// Gives `percent` % of the devices in the SQLite database at `path` arrears (and the rest
/// none), for `bench console`: the oldest overdue installment fell due at `today` (the first
/// instant of the lender's day) less 1 to `max_days` days, KES 1,000 overdue per 30 days.
/// Which devices, and how many days, follow from the row number through a multiplicative
/// hash: every 10,000 consecutive rows hold exactly the share, spread over the table, and
/// the same database gets the same arrears every time. Returns how many devices owe.
pub async fn set_arrears(
    path: &Path,
    percent: f64,
    today: Timestamp,
    max_days: i64,
) -> StoreResult<u64> {
    const DAY: i64 = 86_400_000;
    // 2654435761 is odd and 5761 (its value mod 10,000) is prime to 10,000, so
    // `rowid * K % 10000` runs through every residue once per 10,000 rows.
    let sql = "UPDATE devices SET \
         arrears_since = CASE WHEN rowid * 2654435761 % 10000 < $1 \
           THEN $2 - (1 + rowid * 2654435761 / 10000 % $3) * $4 END, \
         arrears_currency = CASE WHEN rowid * 2654435761 % 10000 < $1 THEN 'KES' END, \
         arrears_amount = CASE WHEN rowid * 2654435761 % 10000 < $1 \
           THEN 100000 * (1 + (rowid * 2654435761 / 10000 % $3) / 30) ELSE 0 END";
    let mut conn = bulk_connection(path).await?;
    sqlx::query(sql)
        .bind((percent * 100.0).round() as i64)
        .bind(today.as_millis())
        .bind(max_days)
        .bind(DAY)
        .execute(&mut conn)
        .await
        .map_err(classify)?;
    let (n,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM devices WHERE arrears_since IS NOT NULL")
            .fetch_one(&mut conn)
            .await
            .map_err(classify)?;
    close_bulk(conn).await?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Puts `percent` % of the devices in the SQLite database at `path` in the state `locked`
/// (locked by the lender), chosen as in [`set_arrears`] but with another multiplier, so
/// the device list's state filter has a selective state to find. Returns how many.
pub async fn set_locked(path: &Path, percent: f64) -> StoreResult<u64> {
    let mut conn = bulk_connection(path).await?;
    let done = sqlx::query(
        "UPDATE devices SET state = 'locked' \
         WHERE state = 'active' AND rowid * 2246822519 % 10000 < $1",
    )
    .bind((percent * 100.0).round() as i64)
    .execute(&mut conn)
    .await
    .map_err(classify)?;
    close_bulk(conn).await?;
    Ok(done.rows_affected())
}

/// One connection for a set-based update of a whole benchmark table. The copy it runs on
/// is thrown away afterwards, so, as in [`BulkLoader`], no journal and no syncing: a
/// million rows through the write-ahead log would write every page twice.
async fn bulk_connection(path: &Path) -> StoreResult<SqliteConnection> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .journal_mode(SqliteJournalMode::Off)
        .synchronous(SqliteSynchronous::Off)
        .pragma("cache_size", "-262144");
    SqliteConnection::connect_with(&options)
        .await
        .map_err(classify)
}

/// Leaves the database in write-ahead-log mode, as the store opens it, and closes.
async fn close_bulk(mut conn: SqliteConnection) -> StoreResult<()> {
    sqlx::query("PRAGMA journal_mode = WAL")
        .execute(&mut conn)
        .await
        .map_err(classify)?;
    conn.close().await.map_err(classify)
}

/// The id of the device halfway down one lender's device list (SQLite), for a cursor deep
/// in it: in id order, only `state` when given; with `overdue` (`(after, at_most)` on
/// `arrears_since`, as `OverdueRange`) the devices in that range in `(arrears_since, id)`
/// order. `None` when the list is empty.
pub async fn middle_device(
    path: &Path,
    state: Option<&str>,
    overdue: Option<(Option<Timestamp>, Timestamp)>,
) -> StoreResult<Option<String>> {
    let mut filter = String::from("1 = 1");
    if state.is_some() {
        filter.push_str(" AND state = $1");
    }
    let order = match overdue {
        Some((after, at_most)) => {
            filter.push_str(&format!(
                " AND arrears_since IS NOT NULL AND arrears_since <= {}",
                at_most.as_millis()
            ));
            if let Some(after) = after {
                filter.push_str(&format!(" AND arrears_since > {}", after.as_millis()));
            }
            "arrears_since, id"
        }
        None => "id",
    };
    let sql = format!(
        "SELECT id FROM devices WHERE {filter} ORDER BY {order} LIMIT 1 \
         OFFSET (SELECT count(*) / 2 FROM devices WHERE {filter})"
    );
    let options = SqliteConnectOptions::new().filename(path).read_only(true);
    let mut conn = SqliteConnection::connect_with(&options)
        .await
        .map_err(classify)?;
    let mut q = sqlx::query_as(&sql);
    if let Some(state) = state {
        q = q.bind(state);
    }
    let id: Option<(String,)> = q.fetch_optional(&mut conn).await.map_err(classify)?;
    conn.close().await.map_err(classify)?;
    Ok(id.map(|r| r.0))
}

/// `insert` (one of the store's single-row `INSERT ... VALUES ($1, ...)` statements) for
/// `rows` rows: the same column list, `rows` groups of placeholders. Anything after the
/// first group (an `ON CONFLICT` clause) is dropped: a clash while loading is an error.
///
/// The placeholders are anonymous (`?`), bound in order. The driver asks SQLite for every
/// placeholder's name, and SQLite finds a numbered one (`$n`) by walking the list of all
/// names: with thousands per statement that walk took two thirds of the load time.
fn multi_row(insert: &str, rows: usize) -> StoreResult<String> {
    let bad = || StoreError::Backend(format!("not a single-row INSERT: {insert}"));
    let (head, tail) = insert.split_once(" VALUES (").ok_or_else(bad)?;
    let group = tail.split_once(')').ok_or_else(bad)?.0;
    let columns = group.split(',').count();
    let one = format!("({})", vec!["?"; columns].join(", "));
    Ok(format!("{head} VALUES {}", vec![one; rows].join(", ")))
}

/// Inserts `rows` with `insert`, [`ROWS_PER_STATEMENT`] at a time.
async fn insert_rows<T>(
    conn: &mut SqliteConnection,
    insert: &str,
    rows: &[T],
    bind: for<'q> fn(Q<'q>, &T) -> StoreResult<Q<'q>>,
) -> StoreResult<()> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        // Only two texts per table (a full chunk and the last one), each prepared once and
        // kept in the connection's statement cache.
        let text = multi_row(insert, chunk.len())?;
        let mut q = sqlx::query(&text);
        for row in chunk {
            q = bind(q, row)?;
        }
        q.execute(&mut *conn).await.map_err(classify)?;
    }
    Ok(())
}

// The binders below bind in the column order of the store's INSERTs, with the encodings of
// `store_writes`, `store_contracts` and `store_notices`.

fn key(k: &Option<[u8; 32]>) -> Option<Vec<u8>> {
    k.map(|k| k.to_vec())
}

/// The device columns bound onto `$q`, for either backend's query type.
macro_rules! bind_device_columns {
    ($q:expr, $d:expr) => {{
        let d: &Device = $d;
        let (amount, currency, since) = arrears_columns(d.arrears.as_ref());
        $q.bind(d.id.to_string())
            .bind(d.lender_id.to_string())
            .bind(d.imei.as_str().to_owned())
            .bind(d.imei2.as_ref().map(|i: &Imei| i.as_str().to_owned()))
            .bind(d.serial.clone())
            .bind(d.model.clone())
            .bind(d.state.as_str())
            .bind(d.key_status.as_str())
            .bind(key(&d.device_key))
            .bind(key(&d.pending_key))
            .bind(to_i64(d.last_counter, "last_counter")?)
            .bind(to_i64(d.pending_counter, "pending_counter")?)
            .bind(key(&d.retired_key))
            .bind(to_i64(d.retired_counter, "retired_counter")?)
            .bind(to_i64(d.lease_seq, "lease_seq")?)
            .bind(d.last_seen_at.map(Timestamp::as_millis))
            .bind(d.enrolled_at.as_millis())
            .bind(d.updated_at.as_millis())
            .bind(d.version)
            .bind(i64::from(d.policy_level.code()))
            .bind(to_i64(d.notice_seq, "notice_seq")?)
            .bind(d.policy_level_since.as_millis())
            .bind(amount)
            .bind(currency)
            .bind(since)
    }};
}

/// The contract columns bound onto `$q`, for either backend's query type.
macro_rules! bind_contract_columns {
    ($q:expr, $c:expr) => {{
        let c: &ContractRecord = $c;
        if !c.state.is_active() && c.next_evaluation_at.is_some() {
            return Err(StoreError::Backend(format!(
                "contract {} is closed but has a next evaluation time",
                c.id
            )));
        }
        $q.bind(c.id.to_string())
            .bind(c.lender_id.to_string())
            .bind(c.device_id.to_string())
            .bind(c.reference.clone())
            .bind(c.terms.currency().code().to_owned())
            .bind(terms_json(&c.terms)?)
            .bind(c.policy.clone())
            .bind(c.state.as_str())
            .bind(c.created_at.as_millis())
            .bind(c.updated_at.as_millis())
            .bind(c.next_evaluation_at.map(Timestamp::as_millis))
            .bind(c.version)
            .bind(c.wake_seq)
    }};
}

fn bind_device<'q>(q: Q<'q>, d: &Device) -> StoreResult<Q<'q>> {
    Ok(bind_device_columns!(q, d))
}

fn bind_contract<'q>(q: Q<'q>, c: &ContractRecord) -> StoreResult<Q<'q>> {
    Ok(bind_contract_columns!(q, c))
}

fn bind_payment<'q>(q: Q<'q>, p: &PaymentRecord) -> StoreResult<Q<'q>> {
    if p.amount <= 0 {
        return Err(StoreError::Backend(format!(
            "payment amount {} is not positive",
            p.amount
        )));
    }
    let (kind, reverses) = entry_kind_columns(&p.kind);
    Ok(q.bind(p.id.to_string())
        .bind(p.lender_id.to_string())
        .bind(p.contract_id.map(|c| c.to_string()))
        .bind(kind)
        .bind(reverses)
        .bind(p.amount)
        .bind(p.currency.code().to_owned())
        .bind(p.received_at.as_millis())
        .bind(p.recorded_at.as_millis())
        .bind(p.channel.clone())
        .bind(p.external_ref.clone())
        .bind(p.payer_hint.clone())
        .bind(p.idempotency_key.clone())
        .bind(p.request_hash.to_vec())
        .bind(p.assigned_at.map(Timestamp::as_millis)))
}

fn bind_notice<'q>(q: Q<'q>, n: &NoticeRecord) -> StoreResult<Q<'q>> {
    Ok(q.bind(n.id.to_string())
        .bind(n.lender_id.to_string())
        .bind(n.device_id.to_string())
        .bind(n.contract_id.map(|c| c.to_string()))
        .bind(to_i64(n.seq, "notice seq")?)
        .bind(n.kind.clone())
        .bind(n.message.clone())
        .bind(n.created_at.as_millis())
        .bind(n.delivered_at.map(Timestamp::as_millis)))
}

fn bind_dispute<'q>(q: Q<'q>, d: &DisputeRecord) -> StoreResult<Q<'q>> {
    Ok(q.bind(d.id.to_string())
        .bind(d.lender_id.to_string())
        .bind(d.device_id.to_string())
        .bind(d.contract_id.map(|c| c.to_string()))
        .bind(d.opened_by.to_text())
        .bind(d.reason.clone())
        .bind(d.opened_at.as_millis())
        .bind(d.temporary_unlock_until.map(Timestamp::as_millis))
        .bind(d.closed_at.map(Timestamp::as_millis))
        .bind(d.closed_by.as_ref().map(|a| a.to_text()))
        .bind(d.resolution.clone()))
}

/// Devices and contracts bulk-loaded into PostgreSQL, for `bench checkin` on the production
/// backend: the same column lists and encodings as the store and as [`BulkLoader`], many
/// rows per statement, one transaction per [`PgBulkLoader::load`]. (Ledgers, notices and
/// disputes are not loaded: the check-in path does not read them.)
#[derive(Debug)]
pub struct PgBulkLoader {
    conn: sqlx::PgConnection,
}

type PgQ<'q> = Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

impl PgBulkLoader {
    /// Connects to the database at `url`, applying the store's migrations first. Refuses a
    /// database that already holds devices: the fleet's ids and IMEIs are the same on every
    /// load, so a second load would fail on its first row.
    pub async fn open(url: &str) -> StoreResult<Self> {
        let store = crate::connect_postgres(url).await?;
        drop(store);
        let mut conn = sqlx::PgConnection::connect(url).await.map_err(classify)?;
        let held: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM devices)")
            .fetch_one(&mut conn)
            .await
            .map_err(classify)?;
        if held {
            return Err(StoreError::Backend(
                "the database already holds devices; the fleet is loaded into an empty one \
                 (create a database, start the node on it, and name it here)"
                    .into(),
            ));
        }
        Ok(Self { conn })
    }

    /// Writes the batch's devices and contracts in one transaction (its other rows are
    /// refused rather than silently dropped).
    pub async fn load(&mut self, batch: &Batch) -> StoreResult<()> {
        if !(batch.payments.is_empty() && batch.notices.is_empty() && batch.disputes.is_empty()) {
            return Err(StoreError::Backend(
                "the PostgreSQL loader writes devices and contracts only".into(),
            ));
        }
        let mut tx = self.conn.begin().await.map_err(classify)?;
        for chunk in batch.devices.chunks(ROWS_PER_STATEMENT) {
            let text = numbered_rows(sql::INSERT_DEVICE, chunk.len())?;
            let mut q: PgQ<'_> = sqlx::query(&text);
            for d in chunk {
                q = bind_device_columns!(q, d);
            }
            q.execute(&mut *tx).await.map_err(classify)?;
        }
        for chunk in batch.contracts.chunks(ROWS_PER_STATEMENT) {
            let text = numbered_rows(sql::INSERT_CONTRACT, chunk.len())?;
            let mut q: PgQ<'_> = sqlx::query(&text);
            for c in chunk {
                q = bind_contract_columns!(q, c);
            }
            q.execute(&mut *tx).await.map_err(classify)?;
        }
        tx.commit().await.map_err(classify)
    }

    /// Updates the planner's statistics (a freshly filled table has none) and closes.
    pub async fn finish(mut self) -> StoreResult<()> {
        sqlx::query("ANALYZE")
            .execute(&mut self.conn)
            .await
            .map_err(classify)?;
        self.conn.close().await.map_err(classify)
    }
}

/// [`multi_row`] for PostgreSQL, which numbers its placeholders (`$1`, `$2`, ...).
fn numbered_rows(insert: &str, rows: usize) -> StoreResult<String> {
    let bad = || StoreError::Backend(format!("not a single-row INSERT: {insert}"));
    let (head, tail) = insert.split_once(" VALUES (").ok_or_else(bad)?;
    let group = tail.split_once(')').ok_or_else(bad)?.0;
    let columns = group.split(',').count();
    let groups: Vec<String> = (0..rows)
        .map(|r| {
            let marks: Vec<String> = (1..=columns)
                .map(|c| format!("${}", r * columns + c))
                .collect();
            format!("({})", marks.join(", "))
        })
        .collect();
    Ok(format!("{head} VALUES {}", groups.join(", ")))
}

/// Puts the devices with these IMEIs, in the database at `database` (a SQLite path or a
/// PostgreSQL URL), where the policy engine leaves a borrower after weeks of arrears and a
/// delivered lock notice: fully locked by the policy, the contract not due for evaluation
/// again until a payment wakes it. For `bench unlock-latency`, which needs a fleet the
/// engine locked without waiting out the notice periods in real time. Returns how many
/// devices it changed.
pub async fn lock_by_policy(database: &str, imeis: &[Imei]) -> StoreResult<u64> {
    // The same two updates on either backend's connection type.
    macro_rules! lock_all {
        ($conn:expr) => {{
            let mut conn = $conn;
            let mut n = 0;
            for chunk in imeis.chunks(LOCK_CHUNK) {
                let (devices, contracts) = lock_statements(chunk.len());
                n += bind_imeis(sqlx::query(&devices).bind(FULL_LOCK), chunk)
                    .execute(&mut conn)
                    .await
                    .map_err(classify)?
                    .rows_affected();
                bind_imeis(sqlx::query(&contracts).bind(NEVER), chunk)
                    .execute(&mut conn)
                    .await
                    .map_err(classify)?;
            }
            conn.close().await.map_err(classify)?;
            Ok(n)
        }};
    }
    if database.starts_with("postgres://") || database.starts_with("postgresql://") {
        lock_all!(sqlx::PgConnection::connect(database)
            .await
            .map_err(classify)?)
    } else {
        let path = database.strip_prefix("sqlite://").unwrap_or(database);
        let options = SqliteConnectOptions::new()
            .filename(path)
            .busy_timeout(std::time::Duration::from_secs(10));
        lock_all!(SqliteConnection::connect_with(&options)
            .await
            .map_err(classify)?)
    }
}

/// IMEIs per statement in [`lock_by_policy`].
const LOCK_CHUNK: usize = 500;
/// The policy level of a full lock, as stored.
const FULL_LOCK: i64 = 4;
/// Far in the future: only a payment's wake-up brings these contracts back.
const NEVER: i64 = 4_102_444_800_000;

/// The two updates for `n` IMEIs (`$1` is the value, `$2..` the IMEIs).
fn lock_statements(n: usize) -> (String, String) {
    let list = (0..n)
        .map(|i| format!("${}", i + 2))
        .collect::<Vec<_>>()
        .join(",");
    (
        format!("UPDATE devices SET policy_level = $1 WHERE imei IN ({list})"),
        format!(
            "UPDATE contracts SET next_evaluation_at = $1, woken_at = NULL \
             WHERE device_id IN (SELECT id FROM devices WHERE imei IN ({list}))"
        ),
    )
}

fn bind_imeis<'q, DB: sqlx::Database>(
    mut q: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>,
    imeis: &'q [Imei],
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
where
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    for imei in imeis {
        q = q.bind(imei.as_str());
    }
    q
}

/// Creates a fresh, empty database on the PostgreSQL server of `admin_url` and returns its
/// URL, for a benchmark that must not touch anything else.
pub async fn fresh_postgres_database(admin_url: &str) -> StoreResult<String> {
    let name = format!("lienlock_bench_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .map_err(classify)?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .map_err(classify)?;
    conn.close().await.map_err(classify)?;
    let (base, _) = admin_url
        .rsplit_once('/')
        .ok_or_else(|| StoreError::Backend("the PostgreSQL URL names no database".into()))?;
    Ok(format!("{base}/{name}"))
}

/// Drops a database [`fresh_postgres_database`] made.
pub async fn drop_postgres_database(admin_url: &str, url: &str) -> StoreResult<()> {
    let name = url.rsplit('/').next().unwrap_or_default();
    if !name.starts_with("lienlock_bench_") {
        return Err(StoreError::Backend(format!(
            "{name} is not a benchmark database"
        )));
    }
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .map_err(classify)?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .map_err(classify)?;
    conn.close().await.map_err(classify)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_row_keeps_the_column_list_and_repeats_the_placeholders() {
        let text = multi_row(
            "INSERT INTO t (a, b) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            3,
        );
        assert_eq!(
            text.unwrap(),
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?), (?, ?)"
        );
        assert!(multi_row("UPDATE t SET a = $1", 2).is_err());
    }

    #[test]
    fn every_store_insert_splits() {
        for insert in [
            sql::INSERT_DEVICE,
            sql::INSERT_CONTRACT,
            sql::INSERT_PAYMENT,
            sql::INSERT_NOTICE,
            sql::INSERT_DISPUTE,
        ] {
            let one = multi_row(insert, 1).unwrap();
            let (head, _) = insert.split_once(" VALUES (").unwrap();
            assert!(one.starts_with(head), "{one}");
            assert!(!one.contains("ON CONFLICT"), "{one}");
        }
    }
}
