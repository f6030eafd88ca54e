//! A phone of the tests' own: the real agent's loop, in this process, against a real server.

use lienlock_agent::{Agent, AgentConfig, Enforcement, RunPolicy, RunStats};
use lienlock_domain::{Imei, SystemClock};
use lienlock_wire::ServerPublicKey;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// The real agent with its data in `dir`, trusting the server key `server_key` (hex).
pub fn open_agent(dir: &Path, url: &str, server_key: &str, imei: Imei) -> Agent {
    Agent::open(
        AgentConfig {
            data_dir: dir.to_owned(),
            server_url: url.to_owned(),
            server_key: ServerPublicKey::from_hex(server_key).unwrap(),
            imei,
        },
        Arc::new(SystemClock),
    )
    .unwrap()
}

/// A phone running its agent loop in this process. `ever_locked` is set if its
/// enforcement is ever locked.
pub struct Phone {
    pub stats: Arc<RunStats>,
    pub ever_locked: Arc<AtomicBool>,
    _stop: oneshot::Sender<()>,
}

impl Phone {
    pub fn start(dir: &Path, url: &str, key: &str, imei: Imei) -> Self {
        let mut agent = open_agent(dir, url, key, imei);
        let stats = Arc::new(RunStats::default());
        agent.set_stats(stats.clone());
        let ever_locked = Arc::new(AtomicBool::new(false));
        let flag = ever_locked.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            // Short intervals so that the phone tries (and fails) many times during the
            // outage: the server asks for a check-in every second.
            let policy = RunPolicy {
                min_interval: Duration::from_millis(200),
                backoff_base: Duration::from_millis(200),
                backoff_cap: Duration::from_secs(2),
                ..RunPolicy::default()
            };
            agent
                .run_with(policy, stopped, move |e: &Enforcement| {
                    if e.is_locked() {
                        flag.store(true, Ordering::SeqCst);
                    }
                })
                .await;
        });
        Self {
            stats,
            ever_locked,
            _stop: stop,
        }
    }

    pub fn checkins(&self) -> u64 {
        self.stats.checkins.load(Ordering::Relaxed)
    }

    pub fn failures(&self) -> u64 {
        self.stats.failures.load(Ordering::Relaxed)
    }
}

/// Waits until every phone has checked in `times` times, at most `within`; then clears
/// their `ever_locked` (a phone enforces a lock until its first lease).
pub async fn until_all_checked_in(phones: &[Phone], times: u64, within: Duration) {
    let started = std::time::Instant::now();
    while phones.iter().any(|p| p.checkins() < times) {
        assert!(started.elapsed() < within, "the phones never checked in");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for phone in phones {
        phone.ever_locked.store(false, Ordering::SeqCst);
    }
}
