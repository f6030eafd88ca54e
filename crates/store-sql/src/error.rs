//! Turning driver errors into [`StoreError`]s.
//!
//! The distinction that matters to callers is *Unavailable* (the database cannot take the
//! write now: unreachable, out of space, read-only, overloaded; retrying later or failing
//! over makes sense and `/readyz` should say so) versus *Backend* (the statement itself was
//! refused). Every path through the store rolls back on error, so in both cases nothing was
//! written.

use lienlock_store::StoreError;
use sqlx::error::{DatabaseError, ErrorKind};

/// "No space left on device" (Linux and the BSDs agree on the number).
const ENOSPC: i32 = 28;
/// "Read-only file system".
const EROFS: i32 = 30;

/// Why a backend cannot take a request: the three kinds callers treat differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unavailable {
    /// Unreachable, busy, shutting down: retry.
    Now,
    /// Out of space.
    Full,
    /// Refuses writes.
    ReadOnly,
}

/// Classifies any driver error.
pub(crate) fn classify(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Io(ref io) if io.raw_os_error() == Some(ENOSPC) => {
            StoreError::Full(e.to_string())
        }
        sqlx::Error::Io(ref io) if io.raw_os_error() == Some(EROFS) => {
            StoreError::ReadOnly(e.to_string())
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
        sqlx::Error::Database(db) => classify_db(db.as_ref()),
        other => StoreError::Backend(other.to_string()),
    }
}

fn classify_db(db: &dyn DatabaseError) -> StoreError {
    // Each backend knows its own codes; both are compiled in, so ask whichever matches.
    let found = if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        db.code().and_then(|c| crate::sqlite::unavailable(&c))
    } else if db
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .is_some()
    {
        db.code().and_then(|c| crate::postgres::unavailable(&c))
    } else {
        None
    };
    match found {
        Some((kind, why)) => {
            let text = format!("{why}: {}", db.message());
            match kind {
                Unavailable::Now => StoreError::Unavailable(text),
                Unavailable::Full => StoreError::Full(text),
                Unavailable::ReadOnly => StoreError::ReadOnly(text),
            }
        }
        None => StoreError::Backend(db.message().to_owned()),
    }
}

/// A failed schema migration at open. A connection or disk problem while migrating is
/// still *Unavailable*; the rest (a database migrated by a newer release, an edited
/// migration) needs an operator, so it is *Backend* with sqlx's explanation.
pub(crate) fn migrate_error(e: sqlx::migrate::MigrateError) -> StoreError {
    use sqlx::migrate::MigrateError;
    match e {
        MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _) => classify(e),
        other => StoreError::Backend(format!("migrating the schema: {other}")),
    }
}

/// Whether `e` is a unique-constraint violation (both drivers map their codes to this kind).
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.kind() == ErrorKind::UniqueViolation)
}

/// Whether `e` is a foreign-key violation: a row naming another lender's (or a missing)
/// parent.
pub(crate) fn is_fk_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.kind() == ErrorKind::ForeignKeyViolation)
}

/// A unique violation becomes `dup`; anything else is classified as usual. For inserts whose
/// only unique column is the primary key.
pub(crate) fn unique_as(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| {
        if is_unique_violation(&e) {
            StoreError::Duplicate(what)
        } else {
            classify(e)
        }
    }
}

/// A unique violation on `contracts`, by the index it hit: the one-active-contract-per-
/// device index is [`StoreError::ContractExists`], the reference index a duplicate
/// reference, anything else (the primary key) a duplicate id. PostgreSQL names the index;
/// SQLite names the columns in its message ("UNIQUE constraint failed: contracts.device_id").
pub(crate) fn contract_unique(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        if db.kind() == ErrorKind::UniqueViolation {
            let hit = db.constraint().unwrap_or(db.message());
            return if hit.contains("reference") {
                StoreError::Duplicate("contract reference")
            } else if hit == "contracts_active_device" || hit.ends_with(": contracts.device_id") {
                StoreError::ContractExists
            } else {
                StoreError::Duplicate("contract id")
            };
        }
    }
    classify(e)
}

/// Refuses counters that do not fit PostgreSQL's BIGINT (and SQLite's INTEGER) rather than
/// wrapping them into negative numbers.
pub(crate) fn to_i64(value: u64, field: &'static str) -> Result<i64, StoreError> {
    i64::try_from(value)
        .map_err(|_| StoreError::Backend(format!("{field} {value} exceeds the storable range")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_beyond_i64_are_refused() {
        assert_eq!(to_i64(i64::MAX as u64, "c").unwrap(), i64::MAX);
        assert!(matches!(
            to_i64(i64::MAX as u64 + 1, "c"),
            Err(StoreError::Backend(_))
        ));
    }

    #[test]
    fn pool_and_io_failures_are_unavailable() {
        assert!(matches!(
            classify(sqlx::Error::PoolTimedOut),
            StoreError::Unavailable(_)
        ));
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(matches!(
            classify(sqlx::Error::Io(io)),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            classify(sqlx::Error::RowNotFound),
            StoreError::Backend(_)
        ));
    }
}
