//! lienlock's storage on SQLite (one node, one file) and PostgreSQL (any number of nodes).
//!
//! Both backends run the same SQL through one implementation (see `store_impl`), apply their
//! own append-only migrations at open, and pass the same conformance suite
//! (`tests/conformance/`). Choose one with [`open`]:
//!
//! * `postgres://…` or `postgresql://…` → [`connect_postgres`];
//! * `sqlite://PATH` or a plain path → [`open_sqlite`].
//!
//! Storage conventions: ids are UUIDv7 text (text order is creation order), times are epoch
//! milliseconds, enums are stored by their stable names, `u64` counters are stored as `i64`
//! and values above `i64::MAX` are refused, the restriction profile and contract terms are
//! JSON text, and a device's policy restriction level is its wire code.

mod backup;
#[cfg(feature = "bench")]
pub mod bench;
mod error;
mod per_file;
mod postgres;
mod postgres_reader;
mod rows;
mod sql;
mod sqlite;
mod sqlite_checkpointer;
mod sqlite_reader;
mod sqlite_unmerged;
mod sqlite_views;
mod sqlite_views_keeper;
mod sqlite_writer;
mod store_android;
mod store_audit;
mod store_batch;
mod store_codes;
mod store_console;
mod store_contracts;
mod store_facts;
mod store_impl;
mod store_notices;
mod store_tamper;
mod store_webhooks;
mod store_writes;
#[cfg(feature = "testing")]
pub mod testing;
mod thread_slot;
mod wakes;
mod write_turn;

pub use backup::backup_sqlite;
pub use postgres::{connect_postgres, PgStore};
pub use sqlite::{open_sqlite, SqliteStore};

use lienlock_store::{Store, StoreError, WebhookStore};
use std::path::Path;

/// Counts the timeline events of device writes once they are committed, by kind (the
/// operator's "locks", "unlocks" and "releases" per node). A write retried after a
/// version conflict is counted only when it commits.
fn count_committed<'a>(writes: impl IntoIterator<Item = &'a lienlock_store::DeviceWrite>) {
    for w in writes {
        for e in &w.events {
            metrics::counter!("lienlock_device_changes_total", "kind" => e.kind.as_str())
                .increment(1);
        }
    }
}
use std::sync::Arc;

/// Gauge: the check-in views a SQLite node keeps in memory (`sqlite_views`), about 0.5 KB
/// each.
const CHECKIN_VIEWS_KEPT: &str = "lienlock_checkin_views";

/// Opens the store named by `database`: a PostgreSQL URL (`postgres://` or `postgresql://`),
/// `sqlite://PATH`, or a plain file path for SQLite.
pub async fn open(database: &str) -> Result<Arc<dyn Store>, StoreError> {
    Ok(open_with_webhooks(database).await?.0)
}

/// [`open`], with the same store's webhook endpoints and deliveries (one pool serves both).
pub async fn open_with_webhooks(
    database: &str,
) -> Result<(Arc<dyn Store>, Arc<dyn WebhookStore>), StoreError> {
    if database.starts_with("postgres://") || database.starts_with("postgresql://") {
        let store = Arc::new(connect_postgres(database).await?);
        return Ok((store.clone(), store));
    }
    let path = database.strip_prefix("sqlite://").unwrap_or(database);
    if path.is_empty() {
        return Err(StoreError::Backend("no SQLite database path given".into()));
    }
    let store = Arc::new(open_sqlite(Path::new(path)).await?);
    Ok((store.clone(), store))
}
