//! The agent's main loop: check in, report enforcement, sleep, repeat.

use crate::agent::Agent;
use crate::enforcement::Enforcement;
use crate::push::{PushChannel, PushEvent};
use crate::schedule::{millis_between, Backoff, RunPolicy};
use crate::stats::RunStats;
use lienlock_domain::Timestamp;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// What an [`AgentJob`] returns: a future borrowing the agent for as long as it runs.
pub type JobFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Work handed to a running agent from outside its loop (a lock-screen app: "refresh",
/// a typed code, "I already paid"). The loop owns the agent, so rather than sharing it the
/// app sends the work, which gets the agent between two wakes; the loop then reports any
/// change the work made at once. The work sends its own answer back (a oneshot channel).
pub type AgentJob = Box<dyn for<'a> FnOnce(&'a mut Agent) -> JobFuture<'a> + Send>;

/// The next job, or never when there is no job channel or it is closed.
async fn next_job(jobs: &mut Option<&mut mpsc::Receiver<AgentJob>>) -> AgentJob {
    match jobs {
        Some(rx) => match rx.recv().await {
            Some(job) => job,
            None => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

/// The next push event, or never when there is no push channel.
async fn next_push(push: &mut Option<PushChannel>, now: Timestamp) -> PushEvent {
    match push {
        Some(p) => p.next(now).await,
        None => std::future::pending().await,
    }
}

/// This agent's share of the [`RunStats`] gauges, kept so it can be taken back.
struct Gauges {
    stats: Option<Arc<RunStats>>,
    connected: bool,
    locked: bool,
}

impl Gauges {
    fn new(stats: Option<Arc<RunStats>>) -> Self {
        Self {
            stats,
            connected: false,
            locked: false,
        }
    }

    fn count(&self, ok: bool) {
        if let Some(s) = &self.stats {
            let c = if ok { &s.checkins } else { &s.failures };
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn event(&mut self, event: PushEvent, connected: bool) {
        if let Some(s) = &self.stats {
            if event == PushEvent::Hint {
                s.hints.fetch_add(1, Ordering::Relaxed);
            }
            if connected != self.connected {
                s.push_connected
                    .fetch_add(if connected { 1 } else { -1 }, Ordering::Relaxed);
            }
        }
        self.connected = connected;
    }

    fn locked(&mut self, locked: bool) {
        if let Some(s) = &self.stats {
            if locked != self.locked {
                s.locked
                    .fetch_add(if locked { 1 } else { -1 }, Ordering::Relaxed);
            }
        }
        self.locked = locked;
    }

    fn finish(&mut self) {
        self.locked(false);
        if let Some(s) = &self.stats {
            if self.connected {
                s.push_connected.fetch_sub(1, Ordering::Relaxed);
            }
        }
        self.connected = false;
    }
}

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
    /// With [`RunPolicy::push`] (the default) it also holds the push channel while it
    /// sleeps, and checks in at once on a hint and after every (re)connection.
    ///
    /// Sleeping uses `tokio::time` (real time); every decision uses the agent's clock.
    /// Returns when released or when `shutdown` completes, which also cancels a check-in in
    /// flight (its counter is already persisted, so nothing is reused).
    pub async fn run_with<F, C>(&mut self, policy: RunPolicy, shutdown: F, on_change: C) -> RunExit
    where
        F: Future,
        C: FnMut(&Enforcement),
    {
        self.run_loop(policy, shutdown, on_change, None).await
    }

    /// [`Agent::run_with`], also doing the [`AgentJob`]s that arrive on `jobs` while it
    /// sleeps, each followed at once by a report of any change. The receiver is borrowed so
    /// that the caller can go on serving jobs itself after the loop returns (a released
    /// phone still answers its screen).
    pub async fn run_with_jobs<F, C>(
        &mut self,
        policy: RunPolicy,
        shutdown: F,
        on_change: C,
        jobs: &mut mpsc::Receiver<AgentJob>,
    ) -> RunExit
    where
        F: Future,
        C: FnMut(&Enforcement),
    {
        self.run_loop(policy, shutdown, on_change, Some(jobs)).await
    }

    async fn run_loop<F, C>(
        &mut self,
        policy: RunPolicy,
        shutdown: F,
        mut on_change: C,
        mut jobs: Option<&mut mpsc::Receiver<AgentJob>>,
    ) -> RunExit
    where
        F: Future,
        C: FnMut(&Enforcement),
    {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut reported = None;
        let mut backoff = Backoff::new(&policy);
        let mut next_checkin = Instant::now();
        let mut push = policy.push.then(|| {
            PushChannel::new(
                self.client.clone(),
                self.key.clone(),
                self.provisioning.imei,
                &policy,
            )
        });
        let mut gauges = Gauges::new(self.stats.clone());
        let exit = loop {
            // The clock, the SIM, root and debuggers, wrong codes. A code typed on the lock
            // screen is written by another process, and read here too: a code in force
            // changes enforcement at once, without waiting for a check-in.
            self.observe_device();
            if self.report(&mut reported, &mut on_change) {
                gauges.locked(false);
                break RunExit::Released;
            }
            gauges.locked(reported.as_ref().is_some_and(Enforcement::is_locked));
            if Instant::now() >= next_checkin {
                let result = tokio::select! {
                    biased;
                    _ = &mut shutdown => break RunExit::Shutdown,
                    result = self.check_in() => result,
                };
                gauges.count(result.is_ok());
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
                        let delay = backoff.next_delay(e.retry_after());
                        tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "check-in failed");
                        delay
                    }
                };
                next_checkin = Instant::now() + delay;
                continue;
            }
            let wake = self.next_wake(next_checkin, &policy);
            let now = self.trusted_now();
            let mut job = None;
            tokio::select! {
                biased;
                _ = &mut shutdown => break RunExit::Shutdown,
                () = tokio::time::sleep_until(wake) => {}
                j = next_job(&mut jobs) => job = Some(j),
                event = next_push(&mut push, now) => {
                    match event {
                        // Check in at once: for the change hinted at, or after a
                        // (re)connection, for anything missed while disconnected.
                        PushEvent::Connected | PushEvent::Hint => next_checkin = Instant::now(),
                        PushEvent::Lost => {}
                        PushEvent::Unsupported => push = None,
                    }
                    gauges.event(event, push.as_ref().is_some_and(PushChannel::is_connected));
                }
            }
            if let Some(job) = job {
                tokio::select! {
                    biased;
                    _ = &mut shutdown => break RunExit::Shutdown,
                    () = job(self) => {}
                }
            }
        };
        gauges.finish();
        exit
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AgentConfig;
    use crate::enforcement::LockReason;
    use lienlock_domain::{Imei, SystemClock};
    use lienlock_wire::ServerKey;
    use std::time::Duration;
    use tokio::sync::oneshot;

    /// Boxes a closure as a job; the bound is what lets the closure borrow the agent.
    fn job<F>(f: F) -> AgentJob
    where
        F: for<'a> FnOnce(&'a mut Agent) -> JobFuture<'a> + Send + 'static,
    {
        Box::new(f)
    }

    #[tokio::test]
    async fn jobs_get_the_agent_while_it_runs() {
        let dir = tempfile::tempdir().unwrap();
        let imei = Imei::from_body("49015420323751").unwrap();
        let mut agent = Agent::open(
            AgentConfig {
                data_dir: dir.path().into(),
                // Nothing listens there: check-ins fail and back off, the loop goes on.
                server_url: "http://127.0.0.1:9".into(),
                server_key: ServerKey::generate().public(),
                imei,
            },
            Arc::new(SystemClock),
        )
        .unwrap();
        let policy = RunPolicy {
            push: false,
            ..RunPolicy::default()
        };
        let (tx, mut rx) = mpsc::channel(4);
        let (stop, stopped) = oneshot::channel::<()>();
        let mut reports = Vec::new();
        let outside = async move {
            let (answer, answered) = oneshot::channel();
            let work = job(move |a| {
                Box::pin(async move {
                    let refused = a.enter_code("1234-5678").is_err();
                    let _ = answer.send((a.imei(), refused));
                })
            });
            tx.send(work).await.unwrap();
            let got = tokio::time::timeout(Duration::from_secs(10), answered)
                .await
                .unwrap()
                .unwrap();
            // A closed channel neither stops the loop nor makes it spin.
            drop(tx);
            tokio::time::sleep(Duration::from_millis(50)).await;
            stop.send(()).unwrap();
            got
        };
        let (exit, got) = tokio::join!(
            agent.run_with_jobs(policy, stopped, |e| reports.push(e.clone()), &mut rx),
            outside
        );
        assert_eq!(exit, RunExit::Shutdown);
        assert_eq!(got, (imei, true));
        assert!(matches!(
            reports.first(),
            Some(Enforcement::Locked {
                why: LockReason::NoLease,
                ..
            })
        ));
        assert_eq!(reports.len(), 1, "nothing changed: {reports:?}");
    }
}
