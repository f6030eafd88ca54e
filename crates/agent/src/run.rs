//! The agent's main loop: check in, report enforcement, sleep, repeat.

use crate::agent::Agent;
use crate::enforcement::Enforcement;
use crate::schedule::{millis_between, Backoff, RunPolicy};
use std::future::Future;
use tokio::time::Instant;

/// Why [`Agent::run`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunExit {
    /// The device was released; [`Enforcement::Free`] was reported and nothing more will
    /// ever be enforced, so there is nothing left to do.
    Released,
    /// The shutdown future completed.
    Shutdown,
}

impl Agent {
    /// Runs with [`RunPolicy::default`]. See [`Agent::run_with`].
    pub async fn run<F, C>(&mut self, shutdown: F, on_change: C) -> RunExit
    where
        F: Future,
        C: FnMut(&Enforcement),
    {
        self.run_with(RunPolicy::default(), shutdown, on_change)
            .await
    }

    /// Checks in, reports every change of enforcement to `on_change` (the first report is
    /// the state found on disk, before any network, so an expired lease locks at once; a
    /// renewal counts as a change, since it moves `valid_until`),
    /// then sleeps until the next check-in the server asked for, or until the held lease
    /// runs out, whichever is first, and repeats. Failed check-ins (network, server errors,
    /// refused leases) are logged and retried with jittered exponential backoff; enforcement
    /// keeps being re-evaluated meanwhile, so a device offline past its lease locks.
    ///
    /// Sleeping uses `tokio::time` (real time); every decision uses the agent's clock.
    /// Returns when released or when `shutdown` completes, which also cancels a check-in in
    /// flight (its counter is already persisted, so nothing is reused).
    pub async fn run_with<F, C>(
        &mut self,
        policy: RunPolicy,
        shutdown: F,
        mut on_change: C,
    ) -> RunExit
    where
        F: Future,
        C: FnMut(&Enforcement),
    {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut reported = None;
        let mut backoff = Backoff::new(&policy);
        let mut next_checkin = Instant::now();
        loop {
            self.observe_time();
            // A code typed on the lock screen is written by another process; a code in
            // force changes enforcement at once, without waiting for a check-in.
            self.reload_codes();
            if self.report(&mut reported, &mut on_change) {
                return RunExit::Released;
            }
            if Instant::now() >= next_checkin {
                let result = tokio::select! {
                    biased;
                    _ = &mut shutdown => return RunExit::Shutdown,
                    result = self.check_in() => result,
                };
                let delay = match result {
                    Ok(outcome) => {
                        backoff.reset();
                        tracing::debug!(counter = outcome.counter, lease = ?outcome.lease, "checked in");
                        match self.held_lease() {
                            Some(lease) => {
                                policy.checkin_delay(lease.next_checkin_at, self.trusted_now())
                            }
                            None => policy.min_interval,
                        }
                    }
                    Err(e) => {
                        let delay = backoff.next_delay();
                        tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "check-in failed");
                        delay
                    }
                };
                next_checkin = Instant::now() + delay;
                continue;
            }
            let wake = self.next_wake(next_checkin, &policy);
            tokio::select! {
                biased;
                _ = &mut shutdown => return RunExit::Shutdown,
                () = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    /// Reports enforcement if it changed; true when the device is free (the loop's end).
    fn report(
        &self,
        reported: &mut Option<Enforcement>,
        on_change: &mut impl FnMut(&Enforcement),
    ) -> bool {
        let now = self.enforcement();
        if reported.as_ref() != Some(&now) {
            tracing::info!(enforcement = ?now, "enforcement changed");
            on_change(&now);
        }
        let free = now == Enforcement::Free;
        *reported = Some(now);
        free
    }

    /// The earliest of: the next check-in, the held lease running out, and the periodic
    /// re-evaluation.
    fn next_wake(&self, next_checkin: Instant, policy: &RunPolicy) -> Instant {
        let now = Instant::now();
        let mut wake = next_checkin.min(now + policy.reevaluate_every);
        if let Some(until) = self.enforcement().expires_at() {
            wake = wake.min(now + millis_between(self.trusted_now(), until));
        }
        wake
    }
}
