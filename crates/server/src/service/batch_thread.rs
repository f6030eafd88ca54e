//! A thread of its own that works through jobs in batches: the check-in verifier
//! (`verifier`) and the lease signer (`signer`), whose cryptography costs far less per job
//! done many at once.
//!
//! Nothing waits to fill a batch: the thread takes whatever has queued while it handled
//! the last one, so under light load a batch is one job and latency does not grow. The
//! thread starts on first use, on whatever runtime is serving, and ends when every
//! handle is gone.

use std::sync::{Arc, OnceLock};
use tokio::sync::mpsc;

/// Jobs queued for the thread at most; past it, callers wait to enqueue.
const QUEUE: usize = 1024;

/// Cheap to clone: every clone sends to the same thread.
#[derive(Debug)]
pub(crate) struct BatchThread<J> {
    tx: Arc<OnceLock<Option<mpsc::Sender<J>>>>,
}

impl<J> Default for BatchThread<J> {
    fn default() -> Self {
        Self {
            tx: Default::default(),
        }
    }
}

impl<J> Clone for BatchThread<J> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
        }
    }
}

impl<J: Send + 'static> BatchThread<J> {
    /// The queue of the thread named `name`, which hands batches of at most `max` jobs to
    /// `handle`; started on first use. `None` if no thread could be started: the caller
    /// does the job itself.
    pub(crate) fn sender(
        &self,
        name: &str,
        max: usize,
        handle: fn(Vec<J>),
    ) -> Option<&mpsc::Sender<J>> {
        self.tx
            .get_or_init(|| {
                let (tx, rx) = mpsc::channel(QUEUE);
                std::thread::Builder::new()
                    .name(name.into())
                    .spawn(move || run(rx, max, handle))
                    .ok()
                    .map(|_| tx)
            })
            .as_ref()
    }
}

/// The thread: takes what has queued (up to `max`), hands it over as one batch, again,
/// until every sender is gone.
fn run<J>(mut rx: mpsc::Receiver<J>, max: usize, handle: fn(Vec<J>)) {
    while let Some(first) = rx.blocking_recv() {
        let mut jobs = vec![first];
        while jobs.len() < max {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        handle(jobs);
    }
}
