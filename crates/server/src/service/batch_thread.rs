//! A thread of its own that works through jobs in batches: the check-in verifier
//! (`verifier`) and the lease signer (`signer`), whose cryptography costs far less per job
//! done many at once.
//!
//! The thread takes whatever has queued while it handled the last batch. Under light load
//! that is one job, handed over at once. Under a steady load it would mostly be one or two
//! as well: a thread busy a quarter of the time finds little queued, and a batch of one
//! costs a whole signature check or a whole signature. So when the jobs of the last
//! stretch arrived fast enough that at least two more are due within [`LINGER`], the
//! thread waits that long before taking what has queued (docs/benchmarks.md, eighth
//! round). A phone then waits at most `LINGER` more, and only when the node is busy.
//!
//! The thread starts on first use, on whatever runtime is serving, and ends when every
//! handle is gone.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
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

/// How long the thread waits for more jobs after the first, when they are coming fast.
const LINGER: Duration = Duration::from_millis(1);

/// The stretch over which the arrival rate is counted.
const WINDOW: Duration = Duration::from_millis(100);

/// Jobs counted over the last whole [`WINDOW`], to tell whether more are about to come.
#[derive(Debug)]
struct Arrivals {
    since: Instant,
    counted: usize,
    /// Jobs a second over the last whole window.
    per_sec: f64,
}

impl Arrivals {
    fn new(now: Instant) -> Self {
        Self {
            since: now,
            counted: 0,
            per_sec: 0.0,
        }
    }

    fn record(&mut self, jobs: usize, now: Instant) {
        self.counted += jobs;
        let elapsed = now.duration_since(self.since);
        if elapsed >= WINDOW {
            self.per_sec = self.counted as f64 / elapsed.as_secs_f64();
            self.since = now;
            self.counted = 0;
        }
    }

    /// Whether at least two more jobs are due within `LINGER`, by the last whole window's
    /// rate, or by the current one's once it has run past a window: after a lull the
    /// last busy window's rate is stale, and the first job of a quiet spell is not held.
    fn busy(&self, now: Instant) -> bool {
        let elapsed = now.duration_since(self.since);
        let per_sec = if elapsed >= WINDOW {
            self.counted as f64 / elapsed.as_secs_f64()
        } else {
            self.per_sec
        };
        per_sec * LINGER.as_secs_f64() >= 2.0
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

    #[test]
    fn lingers_only_once_a_window_showed_jobs_coming_fast() {
        let start = Instant::now();
        let mut a = Arrivals::new(start);
        assert!(!a.busy(start), "nothing counted yet");
        // 300 jobs in the first 100 ms: 3,000 a second, three due within a millisecond.
        a.record(299, start + Duration::from_millis(50));
        assert!(
            !a.busy(start + Duration::from_millis(50)),
            "the window is not over"
        );
        a.record(1, start + WINDOW);
        assert!(a.busy(start + WINDOW));
        // Then 10 in the next 100 ms: 100 a second.
        a.record(10, start + 2 * WINDOW);
        assert!(!a.busy(start + 2 * WINDOW));
        // 2,000 a second is exactly two within a millisecond.
        a.record(200, start + 3 * WINDOW);
        assert!(a.busy(start + 3 * WINDOW));
        // A lull: the first job after it is not held for the rate before it.
        assert!(!a.busy(start + 3 * WINDOW + Duration::from_secs(10)));
    }

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
