//! What everything in this process that opens one SQLite file shares: its writers' turns
//! (`write_turn`) and its check-in views (`sqlite_views`), found by the file's path as given
//! to `open_sqlite`. The pool knows that path, so code that holds only the pool (the
//! statements shared with PostgreSQL) finds them too; two stores of one file (a test
//! reopening it) share them, as they share the file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

/// One `T` per open file, alive while something holds it (the store does).
pub(crate) struct PerFile<T>(OnceLock<Mutex<HashMap<PathBuf, Weak<T>>>>);

impl<T> PerFile<T> {
    pub(crate) const fn new() -> Self {
        Self(OnceLock::new())
    }

    fn map(&self) -> MutexGuard<'_, HashMap<PathBuf, Weak<T>>> {
        self.0
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The file's `T`, made by `make` if none is alive.
    pub(crate) fn get_or_make(&self, path: &Path, make: impl FnOnce() -> T) -> Arc<T> {
        let mut map = self.map();
        if let Some(t) = map.get(path).and_then(Weak::upgrade) {
            return t;
        }
        map.retain(|_, t| t.strong_count() > 0);
        let t = Arc::new(make());
        map.insert(path.to_owned(), Arc::downgrade(&t));
        t
    }

    /// The file's `T`, if one is alive.
    pub(crate) fn get(&self, path: &Path) -> Option<Arc<T>> {
        self.map().get(path).and_then(Weak::upgrade)
    }
}
