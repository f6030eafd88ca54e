//! Throwaway databases for tests of this crate and of crates built on it (enable the
//! `testing` feature in `[dev-dependencies]`).
//!
//! Every [`TestDb`] is a fresh, empty, migrated database: a SQLite file in a temporary
//! directory, or a PostgreSQL database created for it on the server named by
//! `LIENLOCK_TEST_POSTGRES_URL` and dropped again when the `TestDb` is dropped. Tests are
//! written once, take a [`Backend`], and run against both with
//! [`backend_tests!`](crate::backend_tests).

use lienlock_store::Store;
use sqlx::Connection;
use std::path::PathBuf;
use std::sync::Arc;

/// The environment variable naming a PostgreSQL server for tests, as an admin URL such as
/// `postgres://postgres:postgres@127.0.0.1:5432/postgres`. Its user must be allowed to
/// create databases.
pub const POSTGRES_URL_ENV: &str = "LIENLOCK_TEST_POSTGRES_URL";

/// Which database a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file.
    Sqlite,
    /// A PostgreSQL database.
    Postgres,
}

/// A fresh database for one test, removed when dropped.
#[derive(Debug)]
pub struct TestDb {
    url: String,
    place: Place,
}

#[derive(Debug)]
enum Place {
    /// The directory is deleted with the struct.
    Sqlite {
        path: PathBuf,
        _dir: tempfile::TempDir,
    },
    /// Dropped on the server by `Drop`.
    Postgres { admin_url: String, name: String },
}

impl TestDb {
    /// A new empty database, or `None` when the PostgreSQL case cannot run on this machine
    /// (`LIENLOCK_TEST_POSTGRES_URL` unset outside CI; a line says it was skipped).
    ///
    /// # Panics
    /// When PostgreSQL is required but missing: the variable is unset while `CI=true`, or set
    /// but the server cannot be reached or refuses to create a database. A configured
    /// database that does not work is a failure, never a silent skip.
    pub async fn new(backend: Backend) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("creating a temporary directory");
                let path = dir.path().join("lienlock.db");
                Some(TestDb {
                    url: format!("sqlite://{}", path.display()),
                    place: Place::Sqlite { path, _dir: dir },
                })
            }
            Backend::Postgres => Self::new_postgres().await,
        }
    }

    async fn new_postgres() -> Option<TestDb> {
        let admin_url = match std::env::var(POSTGRES_URL_ENV) {
            Ok(url) if !url.is_empty() => url,
            _ if std::env::var("CI").as_deref() == Ok("true") => panic!(
                "{POSTGRES_URL_ENV} is not set, and PostgreSQL is required in CI \
                 (e.g. postgres://postgres:postgres@127.0.0.1:5432/postgres)"
            ),
            _ => {
                eprintln!("skipping the PostgreSQL case: {POSTGRES_URL_ENV} is not set");
                return None;
            }
        };
        let name = format!("lienlock_t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("{POSTGRES_URL_ENV} is set but unusable: {e}"));
        sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("creating test database {name}: {e}"));
        let _ = admin.close().await;
        Some(TestDb {
            url: with_database(&admin_url, &name),
            place: Place::Postgres { admin_url, name },
        })
    }

    /// The database string for [`crate::open`] (and for a server's configuration).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        match self.place {
            Place::Sqlite { .. } => Backend::Sqlite,
            Place::Postgres { .. } => Backend::Postgres,
        }
    }

    /// A store on this database (migrated on first open). Each call opens a new pool.
    ///
    /// # Panics
    /// If the database cannot be opened.
    pub async fn store(&self) -> Arc<dyn Store> {
        crate::open(&self.url)
            .await
            .unwrap_or_else(|e| panic!("opening the test database: {e}"))
    }

    /// Runs SQL directly, bypassing the store: for tests that damage rows on purpose.
    ///
    /// # Panics
    /// If the SQL fails.
    pub async fn exec_raw(&self, sql: &str) {
        self.try_exec_raw(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// [`Self::exec_raw`], returning the database's error instead of panicking: for tests
    /// that expect the database itself to refuse.
    pub async fn try_exec_raw(&self, sql: &str) -> Result<(), String> {
        let result = match &self.place {
            Place::Sqlite { path, .. } => {
                let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
                let mut conn = sqlx::SqliteConnection::connect_with(&options)
                    .await
                    .unwrap();
                sqlx::raw_sql(sql).execute(&mut conn).await.map(drop)
            }
            Place::Postgres { .. } => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
                sqlx::raw_sql(sql).execute(&mut conn).await.map(drop)
            }
        };
        result.map_err(|e| e.to_string())
    }
}

impl Drop for TestDb {
    /// Drops the PostgreSQL database, best effort. `Drop` cannot be async and may run inside
    /// (or outside) a runtime, so the work runs on its own thread with its own small
    /// runtime; waiting for it keeps databases from piling up. `WITH (FORCE)` ends any
    /// connection a store's pool still holds.
    fn drop(&mut self) {
        let Place::Postgres { admin_url, name } = &self.place else {
            return;
        };
        let (admin_url, name) = (admin_url.clone(), name.clone());
        let dropper = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&admin_url).await.ok()?;
                let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                let dropped = sqlx::raw_sql(&sql).execute(&mut admin).await;
                if let Err(e) = dropped {
                    eprintln!("could not drop test database {name}: {e}");
                }
                admin.close().await.ok()
            })
        });
        let _ = dropper.join();
    }
}

/// `admin_url` with its database (path) replaced by `name`, keeping any `?query`.
fn with_database(admin_url: &str, name: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (admin_url, None),
    };
    let host_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[host_start..]
        .find('/')
        .map_or(base.len(), |i| host_start + i);
    let mut url = format!("{}/{name}", &base[..path_start]);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

/// Runs each named `async fn(Backend)` as two `#[tokio::test]`s, `NAME::sqlite` and
/// `NAME::postgres`. The function should start with
/// `let Some(db) = TestDb::new(backend).await else { return };` so the PostgreSQL case is
/// skipped where no server is configured. The calling crate needs `tokio` with the `macros`
/// and `rt` features.
///
/// ```ignore
/// async fn enrolls(backend: Backend) { /* ... */ }
/// lienlock_store_sql::backend_tests!(enrolls, lists);
/// ```
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name($crate::testing::Backend::Sqlite).await
            }

            #[tokio::test]
            async fn postgres() {
                super::$name($crate::testing::Backend::Postgres).await
            }
        }
    )+};
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_of_an_admin_url() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/postgres", "t"),
            "postgres://u:p@h:5432/t"
        );
        assert_eq!(with_database("postgres://h", "t"), "postgres://h/t");
        assert_eq!(
            with_database("postgresql://h/db?sslmode=disable", "t"),
            "postgresql://h/t?sslmode=disable"
        );
    }
}
