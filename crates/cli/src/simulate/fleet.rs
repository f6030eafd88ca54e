//! The enrolled phones running: one agent task each, all counting into one `RunStats`.

use anyhow::Context;
use lienlock_agent::{Agent, AgentConfig, Enforcement, RunPolicy, RunStats};
use lienlock_domain::{Imei, SystemClock};
use lienlock_wire::ServerPublicKey;
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::runtime::Runtime;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// How long stopping phones may take before the rest are aborted.
const STOP_BOUND: Duration = Duration::from_secs(10);

/// What every phone shares: the servers, the policy, the counters and the stop signal.
#[derive(Debug)]
pub struct Shared {
    /// Phone `i` uses `server_urls[i % len]` (several nodes without a balancer).
    pub server_urls: Vec<String>,
    pub server_key: ServerPublicKey,
    pub policy: RunPolicy,
    pub stats: Arc<RunStats>,
    /// Told of every enforcement change of phone `i`, from its agent's task.
    pub observer: Observer,
    /// Phones started per second at most (their first check-ins come as they start), so a
    /// large fleet does not open thousands of connections at once; `None`: all at once.
    pub start_per_sec: Option<u32>,
}

/// Called with a phone's index and its new enforcement.
pub type OnChange = dyn Fn(usize, &Enforcement) + Send + Sync;

/// A callback for each phone's enforcement changes.
#[derive(Clone, Default)]
pub struct Observer(pub Option<Arc<OnChange>>);

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Observer(..)"
        } else {
            "Observer(none)"
        })
    }
}

/// Phones running, on a runtime of their own: an agent writes its files (fsynced) from its
/// task, and on the main runtime's few threads that would stall the other phones and the
/// once-a-second line alike.
#[derive(Debug)]
pub struct Fleet {
    runtime: Option<Runtime>,
    tasks: JoinSet<()>,
    stop: watch::Sender<bool>,
    /// Agents inside `run_with` right now.
    running: Arc<AtomicI64>,
    /// Tasks that have ended, however.
    ended: Arc<AtomicUsize>,
    /// Agents that could not be opened: how many, and the first few reasons.
    open_errors: Arc<Mutex<(u64, Vec<String>)>>,
    size: usize,
}

/// Counts a task as running while it lives, and as ended once it is gone (aborted too).
struct Guard {
    running: Option<Arc<AtomicI64>>,
    ended: Arc<AtomicUsize>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(r) = &self.running {
            r.fetch_sub(1, Ordering::Relaxed);
        }
        self.ended.fetch_add(1, Ordering::Relaxed);
    }
}

impl Fleet {
    /// Opens an agent in `dir/<imei>` for each phone (off the runtime's threads, since
    /// opening writes files) and runs it until [`Fleet::stop`].
    pub fn start(imeis: &[Imei], dir: &Path, shared: &Shared) -> anyhow::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads((cores * 8).clamp(8, 64))
            .thread_name("simulated-phone")
            .enable_all()
            .build()
            .context("starting the phones' runtime")?;
        let (stop, stop_rx) = watch::channel(false);
        let running = Arc::new(AtomicI64::new(0));
        let ended = Arc::new(AtomicUsize::new(0));
        let open_errors: Arc<Mutex<(u64, Vec<String>)>> = Arc::default();
        let mut tasks = JoinSet::new();
        let urls = shared.server_urls.len().max(1);
        for (index, &imei) in imeis.iter().enumerate() {
            let config = AgentConfig {
                data_dir: dir.join(imei.as_str()),
                server_url: shared
                    .server_urls
                    .get(index % urls)
                    .cloned()
                    .unwrap_or_default(),
                server_key: shared.server_key,
                imei,
            };
            let start_after = shared
                .start_per_sec
                .map(|r| Duration::from_secs_f64(index as f64 / f64::from(r.max(1))));
            let observer = shared.observer.clone();
            let (policy, stats) = (shared.policy.clone(), shared.stats.clone());
            let (running, ended, errors) = (running.clone(), ended.clone(), open_errors.clone());
            let mut stop = stop_rx.clone();
            let phone = async move {
                let mut guard = Guard {
                    running: None,
                    ended,
                };
                if let Some(after) = start_after {
                    tokio::time::sleep(after).await;
                }
                // A phone whose turn to open comes after the stop is not opened at all.
                let stopped = stop.clone();
                let opened = tokio::task::spawn_blocking(move || {
                    if *stopped.borrow() {
                        return Ok(None);
                    }
                    Agent::open(config, Arc::new(SystemClock))
                        .map(Some)
                        .map_err(|e| e.to_string())
                })
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r);
                let mut agent = match opened {
                    Ok(Some(agent)) => agent,
                    Ok(None) => return,
                    Err(why) => {
                        if let Ok(mut e) = errors.lock() {
                            e.0 += 1;
                            if e.1.len() < super::enroll::SHOWN_REASONS {
                                e.1.push(format!("IMEI {imei}: {why}"));
                            }
                        }
                        return;
                    }
                };
                agent.set_stats(stats);
                running.fetch_add(1, Ordering::Relaxed);
                guard.running = Some(running);
                let shutdown = async move {
                    let _ = stop.wait_for(|s| *s).await;
                };
                agent
                    .run_with(policy, shutdown, |e| {
                        if let Some(f) = &observer.0 {
                            f(index, e);
                        }
                    })
                    .await;
            };
            tasks.spawn_on(phone, runtime.handle());
        }
        Ok(Self {
            runtime: Some(runtime),
            tasks,
            stop,
            running,
            ended,
            open_errors,
            size: imeis.len(),
        })
    }

    /// Agents running now.
    pub fn running(&self) -> i64 {
        self.running.load(Ordering::Relaxed)
    }

    /// True once every phone's task has ended (released, or never opened).
    pub fn all_ended(&self) -> bool {
        self.ended.load(Ordering::Relaxed) >= self.size
    }

    /// Tells every agent to stop and waits for them, [`STOP_BOUND`] at most; the rest are
    /// aborted. Returns how many agents could not be opened, and the first few reasons.
    pub async fn stop(mut self) -> (u64, Vec<String>) {
        self.stop.send_replace(true);
        let bound = Instant::now() + STOP_BOUND;
        // Bounded: every turn removes a task, or ends the loop.
        while !self.tasks.is_empty() {
            if tokio::time::timeout_at(bound, self.tasks.join_next())
                .await
                .is_err()
            {
                eprintln!(
                    "{} phones did not stop within {} s; aborting them",
                    self.tasks.len(),
                    STOP_BOUND.as_secs()
                );
                self.tasks.shutdown().await;
                break;
            }
        }
        let errors = self.open_errors.lock().map(|e| e.clone());
        errors.unwrap_or_default()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which an async context must not do.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
