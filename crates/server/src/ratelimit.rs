//! A per-client token bucket for the public endpoints, kept in this node's memory.
//!
//! Each client address may make [`BURST`] requests at once and then one every
//! [`REFILL`]. Behind a load balancer every client shares the balancer's address unless the
//! balancer is the one limiting; see docs/deployment.md.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Requests a client may make at once.
pub const BURST: f64 = 10.0;

/// Time to earn one more request.
pub const REFILL: Duration = Duration::from_secs(3);

/// Clients remembered at most; past it the full (idle) buckets are forgotten, and if that
/// is not enough, all of them: memory stays bounded, and the worst case is a fresh burst.
const MAX_CLIENTS: usize = 100_000;

/// The buckets.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl RateLimiter {
    /// Takes a token for `client`; `Err(seconds to wait)` when it has none.
    pub fn take(&self, client: IpAddr) -> Result<(), u64> {
        self.take_at(client, Instant::now())
    }

    fn take_at(&self, client: IpAddr, now: Instant) -> Result<(), u64> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_CLIENTS && !buckets.contains_key(&client) {
            buckets.retain(|_, (tokens, at)| refilled(*tokens, *at, now) < BURST);
            if buckets.len() >= MAX_CLIENTS {
                buckets.clear();
            }
        }
        let (tokens, at) = buckets.entry(client).or_insert((BURST, now));
        let available = refilled(*tokens, *at, now);
        if available < 1.0 {
            let wait = (1.0 - available) * REFILL.as_secs_f64();
            return Err(wait.ceil() as u64);
        }
        *tokens = available - 1.0;
        *at = now;
        Ok(())
    }
}

fn refilled(tokens: f64, at: Instant, now: Instant) -> f64 {
    let earned = now.duration_since(at).as_secs_f64() / REFILL.as_secs_f64();
    (tokens + earned).min(BURST)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_per_refill_per_client() {
        let limiter = RateLimiter::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..10 {
            limiter.take_at(a, t0).unwrap();
        }
        assert_eq!(limiter.take_at(a, t0), Err(3));
        assert!(
            limiter.take_at(b, t0).is_ok(),
            "another client has its own bucket"
        );
        let later = t0 + REFILL;
        assert!(limiter.take_at(a, later).is_ok());
        assert!(limiter.take_at(a, later).is_err());
    }
}
