//! What `bench scheduler` prints: one line per run, the medians over runs, and the profile.

use super::counting::Tally;
use std::time::Duration;

/// One timed run: a fresh copy of the database, passes until nothing is due.
#[derive(Debug)]
pub struct Run {
    /// `due_contracts(now, limit)` on the freshly opened store.
    pub query_first: Duration,
    /// The same query again, statement prepared and pages cached.
    pub query_again: Duration,
    /// Contracts evaluated and time taken, per `evaluate_due_contracts` call.
    pub passes: Vec<(usize, Duration)>,
    /// Contracts still due after the last pass (0 unless something went wrong).
    pub left: usize,
}

impl Run {
    /// All passes together.
    pub fn total(&self) -> Duration {
        self.passes.iter().map(|p| p.1).sum()
    }

    /// Contracts evaluated.
    pub fn evaluated(&self) -> usize {
        self.passes.iter().map(|p| p.0).sum()
    }

    /// Pass time per evaluated contract.
    pub fn per_contract(&self) -> Duration {
        self.total() / self.evaluated().max(1) as u32
    }

    /// One line for run `n` (from 1), then the passes.
    pub fn print(&self, n: usize) {
        println!(
            "run {n}: {} contracts evaluated in {} passes, {:.3} s ({:.0} us per contract); \
             due_contracts: {:.2} ms first, {:.2} ms again{}",
            self.evaluated(),
            self.passes.len(),
            self.total().as_secs_f64(),
            micros(self.per_contract()),
            millis(self.query_first),
            millis(self.query_again),
            if self.left > 0 {
                format!("; {} STILL DUE", self.left)
            } else {
                String::new()
            }
        );
        let each: Vec<String> = self
            .passes
            .iter()
            .map(|(n, t)| format!("{n}:{:.0}", millis(*t)))
            .collect();
        println!("  passes (contracts:ms): {}", each.join(" "));
    }
}

/// Median, min and max.
pub fn spread(mut v: Vec<Duration>) -> (Duration, Duration, Duration) {
    v.sort();
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

/// The summary over runs, and whether the target was met.
pub fn summary(runs: &[Run], target: Duration) {
    let (med, min, max) = spread(runs.iter().map(Run::total).collect());
    let (pc, pc_min, pc_max) = spread(runs.iter().map(Run::per_contract).collect());
    let (q, q_min, q_max) = spread(runs.iter().map(|r| r.query_first).collect());
    let (qa, qa_min, qa_max) = spread(runs.iter().map(|r| r.query_again).collect());
    println!(
        "all passes: median {:.3} s (min {:.3}, max {:.3}) over {} runs",
        med.as_secs_f64(),
        min.as_secs_f64(),
        max.as_secs_f64(),
        runs.len()
    );
    println!(
        "per due contract: median {:.0} us (min {:.0}, max {:.0})",
        micros(pc),
        micros(pc_min),
        micros(pc_max)
    );
    println!(
        "due_contracts query: first median {:.2} ms (min {:.2}, max {:.2}); again median \
         {:.2} ms (min {:.2}, max {:.2})",
        millis(q),
        millis(q_min),
        millis(q_max),
        millis(qa),
        millis(qa_min),
        millis(qa_max)
    );
    let verdict = if med < target { "MET" } else { "MISSED" };
    println!(
        "target: all due contracts in under {:.0} s: {verdict} (median {:.3} s)",
        target.as_secs_f64(),
        med.as_secs_f64()
    );
}

/// Store calls per evaluated contract and where the pass time went.
pub fn profile(tally: &Tally, run: &Run) {
    let total = run.total();
    let evaluated = run.evaluated().max(1) as f64;
    let in_store: Duration = tally.values().map(|v| v.1).sum();
    let calls: u64 = tally.values().map(|v| v.0).sum();
    println!(
        "profile: {} contracts, {:.3} s in passes, {calls} store calls ({:.2} per contract)",
        run.evaluated(),
        total.as_secs_f64(),
        calls as f64 / evaluated
    );
    println!(
        "  {:<28} {:>8} {:>9} {:>10} {:>9} {:>7}",
        "store method", "calls", "per ctr", "total ms", "us/call", "share"
    );
    let mut rows: Vec<_> = tally.iter().collect();
    rows.sort_by_key(|row| std::cmp::Reverse(row.1 .1));
    for (name, (n, t)) in rows {
        println!(
            "  {name:<28} {n:>8} {:>9.2} {:>10.1} {:>9.1} {:>6.1}%",
            *n as f64 / evaluated,
            millis(*t),
            micros(*t) / *n as f64,
            share(*t, total)
        );
    }
    let outside = total.saturating_sub(in_store);
    println!(
        "  {:<28} {:>8} {:>9} {:>10.1} {:>9} {:>6.1}%",
        "outside the store",
        "",
        "",
        millis(outside),
        "",
        share(outside, total)
    );
    println!("  (outside the store: the policy engine, its explanation, the service's own work)");
}

fn share(part: Duration, whole: Duration) -> f64 {
    100.0 * part.as_secs_f64() / whole.as_secs_f64().max(1e-9)
}

/// Milliseconds as a float.
pub fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Microseconds as a float.
pub fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
