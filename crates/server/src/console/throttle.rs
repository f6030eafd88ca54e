//! Brute-force throttling of console sign-in, in this node's memory.
//!
//! Failures are counted per e-mail address and per client address. After
//! [`FREE_FAILURES`] failures in a row, each further attempt on that key must wait: 30 s,
//! doubling per failure up to 15 minutes. A success clears its address's count. Guessing
//! one account's password from many machines is stopped by the address count; guessing
//! many accounts from one machine by the client count.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Failures allowed before waits start.
pub const FREE_FAILURES: u32 = 5;
/// The first wait.
const BASE: Duration = Duration::from_secs(30);
/// The longest wait.
const MAX_WAIT: Duration = Duration::from_secs(15 * 60);
/// Keys remembered at most; past it the oldest idle ones are forgotten.
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    last: Instant,
}

impl Record {
    fn wait(&self) -> Duration {
        if self.failures < FREE_FAILURES {
            return Duration::ZERO;
        }
        let doublings = (self.failures - FREE_FAILURES).min(10);
        (BASE * 2u32.pow(doublings)).min(MAX_WAIT)
    }
}

/// The counts.
#[derive(Debug, Default)]
pub struct SignInThrottle {
    keys: Mutex<HashMap<String, Record>>,
}

fn keys(email: &str, client: IpAddr) -> [String; 2] {
    [
        format!("e:{}", email.trim().to_lowercase()),
        format!("c:{client}"),
    ]
}

impl SignInThrottle {
    /// `Err(seconds)` while either key must still wait.
    pub fn check(&self, email: &str, client: IpAddr) -> Result<(), u64> {
        self.check_at(email, client, Instant::now())
    }

    fn check_at(&self, email: &str, client: IpAddr, now: Instant) -> Result<(), u64> {
        let map = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let mut wait = Duration::ZERO;
        for k in keys(email, client) {
            if let Some(r) = map.get(&k) {
                let until = r.last + r.wait();
                wait = wait.max(until.saturating_duration_since(now));
            }
        }
        if wait.is_zero() {
            Ok(())
        } else {
            Err(wait.as_secs().max(1))
        }
    }

    /// Counts a failed attempt.
    pub fn failed(&self, email: &str, client: IpAddr) {
        self.failed_at(email, client, Instant::now());
    }

    fn failed_at(&self, email: &str, client: IpAddr, now: Instant) {
        let mut map = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_KEYS {
            map.retain(|_, r| now.saturating_duration_since(r.last) < MAX_WAIT);
            if map.len() >= MAX_KEYS {
                map.clear();
            }
        }
        for k in keys(email, client) {
            let r = map.entry(k).or_insert(Record {
                failures: 0,
                last: now,
            });
            r.failures = r.failures.saturating_add(1);
            r.last = now;
        }
    }

    /// A success: the address starts afresh (the client's count stays, so one good
    /// account does not let a machine go on guessing others).
    pub fn succeeded(&self, email: &str) {
        let mut map = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&format!("e:{}", email.trim().to_lowercase()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn waits_start_after_five_failures_and_double() {
        let t = SignInThrottle::default();
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let now = Instant::now();
        for _ in 0..FREE_FAILURES - 1 {
            t.failed_at("a@x.example", ip, now);
        }
        assert_eq!(t.check_at("a@x.example", ip, now), Ok(()));
        t.failed_at("A@x.example ", ip, now);
        assert_eq!(t.check_at("a@x.example", ip, now), Err(30));
        // Another address from the same client waits too.
        assert_eq!(t.check_at("b@x.example", ip, now), Err(30));
        assert_eq!(t.check_at("a@x.example", ip, now + BASE), Ok(()));
        t.failed_at("a@x.example", ip, now + BASE);
        assert_eq!(t.check_at("a@x.example", ip, now + BASE), Err(60));
        // From elsewhere the address still waits.
        let other = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(t.check_at("a@x.example", other, now + BASE), Err(60));
        t.succeeded("a@x.example");
        assert_eq!(t.check_at("a@x.example", other, now + BASE), Ok(()));
    }

    #[test]
    fn the_wait_is_capped() {
        let r = Record {
            failures: 40,
            last: Instant::now(),
        };
        assert_eq!(r.wait(), MAX_WAIT);
    }
}
