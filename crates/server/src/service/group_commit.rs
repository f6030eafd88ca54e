//! Group commit of check-in writes.
//!
//! Every check-in writes its device row (the counter that stops replays, the new lease
//! sequence) and must not answer before that write is durable. With a transaction each,
//! check-ins queue one by one for the database's single writer (SQLite) or pay a commit
//! round trip each (PostgreSQL), and every commit repeats the same fixed statements (begin,
//! the write lock, commit and its log flush). Here concurrent check-ins hand their writes to
//! one task that commits whatever has queued in one transaction (`Store::save_devices`),
//! each write still version-checked on its own: a write whose device changed since it was
//! read fails alone with `Stale`, and the check-in is redone from a fresh read, exactly as
//! with a transaction of its own. Nobody is answered before the batch holding their write
//! has committed, so durability and replay protection are unchanged. Under light load a
//! batch is one write, so latency does not grow. docs/benchmarks.md has what it gained
//! (little on its own: the per-row cost of the update dominates) and what it did not.

use lienlock_store::{DeviceWrite, Store, StoreError, StoreResult};
use std::sync::{Arc, OnceLock};
use tokio::sync::{mpsc, oneshot};

/// Writes one commit takes at most: bounds a transaction's size and a waiter's latency.
const MAX_BATCH: usize = 256;

/// Writes queued for the committer at most; past it, check-ins wait to enqueue
/// (backpressure, never an unbounded queue).
const QUEUE: usize = 1024;

type Job = (DeviceWrite, oneshot::Sender<StoreResult<()>>);

/// Shared by every clone of the service: one committer per store.
#[derive(Debug, Clone)]
pub(crate) struct GroupCommit {
    store: Arc<dyn Store>,
    tx: Arc<OnceLock<mpsc::Sender<Job>>>,
}

impl GroupCommit {
    pub(crate) fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            tx: Default::default(),
        }
    }

    /// Saves `write` in the next group commit; returns once it is durable (or refused).
    pub(crate) async fn save(&self, write: DeviceWrite) -> StoreResult<()> {
        let store = &self.store;
        // Started on first use, so the task lives on the runtime that serves the requests.
        let sender = self.tx.get_or_init(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            tokio::spawn(run(store.clone(), rx));
            tx
        });
        let (done, answer) = oneshot::channel();
        if let Err(mpsc::error::SendError((write, _))) = sender.send((write, done)).await {
            // The committer is gone (its runtime shut down): write on our own.
            return store.save_device(&write).await;
        }
        // A dropped answer means the committer panicked, and whether the write landed is
        // unknown. `Stale` makes the caller read the device again, where a write that did
        // land is seen (its counter then refuses a replay).
        answer.await.unwrap_or(Err(StoreError::Stale))
    }
}

async fn run(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Job>) {
    let mut jobs: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        // Sorted by device, as `save_devices` asks, so two nodes' batches on one
        // PostgreSQL database take row locks in the same order.
        jobs.sort_by_key(|(w, _)| w.device.id);
        let (writes, waiters): (Vec<DeviceWrite>, Vec<_>) = jobs.drain(..).unzip();
        match store.save_devices(&writes).await {
            Ok(results) => {
                for (done, result) in waiters.into_iter().zip(results) {
                    let _ = done.send(result);
                }
            }
            Err(e) => {
                // The transaction failed as a whole: nothing landed, each caller hears why.
                for done in waiters {
                    let _ = done.send(Err(e.clone()));
                }
            }
        }
    }
}
