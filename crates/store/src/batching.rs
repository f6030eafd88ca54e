//! When a thread that serves jobs in batches should wait for more before taking them: the
//! service's verifying and signing threads, and the SQLite store's check-in reader.
//!
//! Such a thread takes whatever queued while it handled the last batch. Under light load
//! that is one job, handed over at once. Under a steady load it would mostly be one or two
//! as well: a thread busy a quarter of the time finds little queued, and a batch of one
//! pays the whole of what batching shares (a signature check, a page cache filled again).
//! So when the jobs of the last stretch arrived fast enough that at least two more are due
//! within [`LINGER`], the thread waits that long before taking what has queued
//! (docs/benchmarks.md, eighth and tenth rounds). A job then waits at most `LINGER` more,
//! and only when the node is busy.

use std::time::{Duration, Instant};

/// How long a thread waits for more jobs after the first, when they are coming fast.
pub const LINGER: Duration = Duration::from_millis(1);

/// The stretch over which the arrival rate is counted.
const WINDOW: Duration = Duration::from_millis(100);

/// Jobs counted over the last whole window, to tell whether more are about to come.
#[derive(Debug)]
pub struct Arrivals {
    since: Instant,
    counted: usize,
    /// Jobs a second over the last whole window.
    per_sec: f64,
}

impl Arrivals {
    pub fn new(now: Instant) -> Self {
        Self {
            since: now,
            counted: 0,
            per_sec: 0.0,
        }
    }

    /// Counts a batch of `jobs` taken at `now`.
    pub fn record(&mut self, jobs: usize, now: Instant) {
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
    pub fn busy(&self, now: Instant) -> bool {
        let elapsed = now.duration_since(self.since);
        let per_sec = if elapsed >= WINDOW {
            self.counted as f64 / elapsed.as_secs_f64()
        } else {
            self.per_sec
        };
        per_sec * LINGER.as_secs_f64() >= 2.0
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
}
