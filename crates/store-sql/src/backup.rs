//! Online backups of the SQLite database, taken while a server is using it.
//!
//! `VACUUM INTO` reads the database in one read transaction, so the copy is the database as
//! of one commit (WAL readers never block the writer, and the writer never blocks them), and
//! it writes a compact file with no WAL beside it. The copy is written under a temporary
//! name, synced, and then linked to its final name, which fails if that name exists: a
//! backup never replaces an earlier one, and a half-written file never carries the final name.

use crate::error::classify;
use lienlock_store::StoreError;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Copies the SQLite database named by `database` (`sqlite://PATH` or a path) to the new
/// file `to`, consistently, while other connections keep reading and writing it. The file
/// is made readable by its owner only.
///
/// # Errors
/// [`StoreError::Backend`] when `to` exists already, `database` is not a SQLite database
/// that exists, or the copy cannot be written; the temporary file is removed.
pub async fn backup_sqlite(database: &str, to: &Path) -> Result<(), StoreError> {
    let path = database.strip_prefix("sqlite://").unwrap_or(database);
    if path.is_empty() || database.starts_with("postgres") {
        return Err(StoreError::Backend("not a SQLite database".into()));
    }
    if to.exists() {
        return Err(StoreError::Backend(format!(
            "{} exists already; a backup never overwrites a file",
            to.display()
        )));
    }
    let tmp = partial_name(to)?;
    let copied = vacuum_into(Path::new(path), &tmp).await;
    let finished = copied.and_then(|()| finish(&tmp, to));
    // The temporary name goes whatever happened: after success it is a second link.
    let _ = std::fs::remove_file(&tmp);
    finished
}

/// A name beside `to` that no other backup uses.
fn partial_name(to: &Path) -> Result<PathBuf, StoreError> {
    let name = to
        .file_name()
        .ok_or_else(|| StoreError::Backend(format!("{} names no file", to.display())))?;
    let mut partial = std::ffi::OsString::from(".");
    partial.push(name);
    partial.push(format!(".partial-{}", uuid::Uuid::new_v4().simple()));
    Ok(to.with_file_name(partial))
}

async fn vacuum_into(db: &Path, tmp: &Path) -> Result<(), StoreError> {
    if !db.is_file() {
        return Err(StoreError::Backend(format!(
            "no SQLite database at {}",
            db.display()
        )));
    }
    let tmp = tmp
        .to_str()
        .ok_or_else(|| StoreError::Backend("the backup path is not UTF-8".into()))?;
    let mut conn = SqliteConnectOptions::new()
        .filename(db)
        .create_if_missing(false)
        // The server may hold the write lock for a moment; VACUUM INTO only reads.
        .busy_timeout(Duration::from_secs(30))
        .connect()
        .await
        .map_err(classify)?;
    let done = sqlx::query("VACUUM INTO ?")
        .bind(tmp)
        .execute(&mut conn)
        .await
        .map_err(classify);
    let _ = conn.close().await;
    done.map(drop)
}

/// Owner-only, synced, then linked to `to` (which fails if `to` appeared meanwhile), and the
/// directory synced so the new name survives a crash.
fn finish(tmp: &Path, to: &Path) -> Result<(), StoreError> {
    let io = |what: &str, e: std::io::Error| StoreError::Backend(format!("{what}: {e}"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| io("restricting the backup file", e))?;
    }
    std::fs::File::open(tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| io("syncing the backup file", e))?;
    std::fs::hard_link(tmp, to).map_err(|e| io(&format!("naming {}", to.display()), e))?;
    if let Some(dir) = to.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io("syncing the backup directory", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn copies_a_live_database_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("live.db");
        let store = crate::open_sqlite(&db).await.unwrap();
        sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(&store.pool)
            .await
            .unwrap();
        sqlx::query("INSERT INTO t VALUES (42)")
            .execute(&store.pool)
            .await
            .unwrap();
        let to = dir.path().join("copy.db");
        backup_sqlite(&format!("sqlite://{}", db.display()), &to)
            .await
            .unwrap();
        let copy = crate::open_sqlite(&to).await.unwrap();
        let (x,): (i64,) = sqlx::query_as("SELECT x FROM t")
            .fetch_one(&copy.pool)
            .await
            .unwrap();
        assert_eq!(x, 42);
        let again = backup_sqlite(db.to_str().unwrap(), &to).await;
        assert!(matches!(again, Err(StoreError::Backend(m)) if m.contains("exists")));
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.contains("partial"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&to).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(backup_sqlite(
            dir.path().join("none.db").to_str().unwrap(),
            &dir.path().join("x.db")
        )
        .await
        .is_err());
    }
}
