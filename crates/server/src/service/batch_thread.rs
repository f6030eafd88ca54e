//! A thread of its own that works through jobs in batches: the check-in verifier
//! (`verifier`) and the lease signer (`signer`), whose cryptography costs far less per job
//! done many at once.
//!
//! The thread takes whatever has queued while it handled the last batch, after waiting
//! [`LINGER`] for more when jobs are coming fast (`lienlock_store::batching` says when and
//! why): a batch of one costs a whole signature check or a whole signature.
//!
//! The thread starts on first use, on whatever runtime is serving, and ends when every
//! handle is gone.

use lienlock_store::batching::{Arrivals, LINGER};
use std::sync::{Arc, OnceLock};
use std::time::Instant;
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

/// The thread: takes what has queued (up to `max`, after [`LINGER`] when busy), hands it
/// over as one batch, again, until every sender is gone.
fn run<J>(mut rx: mpsc::Receiver<J>, max: usize, handle: fn(Vec<J>)) {
    let mut arrivals = Arrivals::new(Instant::now());
    while let Some(first) = rx.blocking_recv() {
        let mut jobs = vec![first];
        take_queued(&mut rx, &mut jobs, max);
        if jobs.len() < max && arrivals.busy(Instant::now()) {
            std::thread::sleep(LINGER);
            take_queued(&mut rx, &mut jobs, max);
        }
        arrivals.record(jobs.len(), Instant::now());
        handle(jobs);
    }
}

fn take_queued<J>(rx: &mut mpsc::Receiver<J>, jobs: &mut Vec<J>, max: usize) {
    while jobs.len() < max {
        match rx.try_recv() {
            Ok(job) => jobs.push(job),
            Err(_) => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Batch sizes the thread of [`steady_jobs_are_batched`] handed over.
    static SIZES: std::sync::Mutex<Vec<usize>> = std::sync::Mutex::new(Vec::new());

    fn note_size(jobs: Vec<u32>) {
        SIZES.lock().unwrap().push(jobs.len());
    }

    /// Jobs arriving steadily at about 10,000 a second, one at a time, to a handler that
    /// takes no time: without the linger nearly every batch would be one job.
    #[test]
    fn steady_jobs_are_batched() {
        let thread = BatchThread::<u32>::default();
        let tx = thread.sender("batch-test", 64, note_size).unwrap().clone();
        // The j-th job is due at j × 100 µs: a sleep that overshoots (a busy machine) is
        // caught up at once, so the rate holds whatever the scheduler does.
        let start = Instant::now();
        let mut sent = 0u32;
        while start.elapsed() < Duration::from_millis(400) {
            tx.blocking_send(sent).unwrap();
            sent += 1;
            let due = start + Duration::from_micros(100) * sent;
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        drop((tx, thread));
        let deadline = Instant::now() + Duration::from_secs(10);
        while SIZES.lock().unwrap().iter().sum::<usize>() < sent as usize {
            assert!(Instant::now() < deadline, "jobs were lost");
            std::thread::sleep(Duration::from_millis(5));
        }
        let sizes = SIZES.lock().unwrap();
        // The batches after the first quarter of the jobs (the first window, before the
        // rate is known).
        let mut counted = 0;
        let first = sizes
            .iter()
            .position(|n| {
                counted += n;
                counted >= sent as usize / 4
            })
            .unwrap();
        let later = &sizes[first + 1..];
        let mean = later.iter().sum::<usize>() as f64 / later.len() as f64;
        assert!(
            mean >= 2.0,
            "batches of {mean:.2} jobs on average: {later:?}"
        );
    }

    #[test]
    fn a_batch_takes_what_has_queued_up_to_its_most() {
        let (tx, mut rx) = mpsc::channel(QUEUE);
        for i in 0..10 {
            tx.try_send(i).unwrap();
        }
        let mut jobs = vec![];
        take_queued(&mut rx, &mut jobs, 4);
        assert_eq!(jobs, [0, 1, 2, 3]);
        take_queued(&mut rx, &mut jobs, 64);
        assert_eq!(jobs, (0..10).collect::<Vec<_>>());
    }
}
