//! Counters a fleet of agents in one process can share (the simulator and benchmarks read
//! them); a phone runs without.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// What [`crate::Agent::run_with`] has done so far, summed over every agent given the same
/// `Arc<RunStats>` with [`crate::Agent::set_stats`].
#[derive(Debug, Default)]
pub struct RunStats {
    /// Check-ins answered with a lease the agent took.
    pub checkins: AtomicU64,
    /// Check-ins that failed (network, server error, refused lease).
    pub failures: AtomicU64,
    /// Wake-up hints received over the push channel.
    pub hints: AtomicU64,
    /// Agents whose push channel is connected right now.
    pub push_connected: AtomicI64,
    /// Agents whose enforcement is locked right now.
    pub locked: AtomicI64,
}

impl RunStats {
    /// A snapshot, for printing.
    pub fn snapshot(&self) -> RunSnapshot {
        RunSnapshot {
            checkins: self.checkins.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            hints: self.hints.load(Ordering::Relaxed),
            push_connected: self.push_connected.load(Ordering::Relaxed),
            locked: self.locked.load(Ordering::Relaxed),
        }
    }
}

/// [`RunStats`] at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunSnapshot {
    /// See [`RunStats::checkins`].
    pub checkins: u64,
    /// See [`RunStats::failures`].
    pub failures: u64,
    /// See [`RunStats::hints`].
    pub hints: u64,
    /// See [`RunStats::push_connected`].
    pub push_connected: i64,
    /// See [`RunStats::locked`].
    pub locked: i64,
}
