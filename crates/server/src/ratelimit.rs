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
#[derive(Debug)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
    burst: f64,
    refill: Duration,
}

impl Default for RateLimiter {
    /// The public endpoints' limit: [`BURST`] at once, one more every [`REFILL`].
    fn default() -> Self {
        Self::new(BURST, REFILL)
    }
}

impl RateLimiter {
    /// `burst` requests at once per client, then one every `refill`.
    pub fn new(burst: f64, refill: Duration) -> Self {
        Self {
            buckets: Mutex::default(),
            burst: burst.max(1.0),
            refill,
        }
    }

    /// `per_sec` requests a second per client, with ten seconds' worth at once.
    pub fn per_second(per_sec: u32) -> Self {
        let per_sec = per_sec.max(1);
        Self::new(
            f64::from(per_sec) * 10.0,
            Duration::from_secs_f64(1.0 / f64::from(per_sec)),
        )
    }

    /// Takes a token for `client`; `Err(seconds to wait)` when it has none.
    pub fn take(&self, client: IpAddr) -> Result<(), u64> {
        self.take_at(client, Instant::now())
    }

    fn take_at(&self, client: IpAddr, now: Instant) -> Result<(), u64> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_CLIENTS && !buckets.contains_key(&client) {
            let (burst, refill) = (self.burst, self.refill);
            buckets.retain(|_, (tokens, at)| refilled(*tokens, *at, now, burst, refill) < burst);
            if buckets.len() >= MAX_CLIENTS {
                buckets.clear();
            }
        }
        let (tokens, at) = buckets.entry(client).or_insert((self.burst, now));
        let available = refilled(*tokens, *at, now, self.burst, self.refill);
        if available < 1.0 {
            let wait = (1.0 - available) * self.refill.as_secs_f64();
            return Err((wait.ceil() as u64).max(1));
        }
        *tokens = available - 1.0;
        *at = now;
        Ok(())
    }
}

fn refilled(tokens: f64, at: Instant, now: Instant, burst: f64, refill: Duration) -> f64 {
    let earned = now.duration_since(at).as_secs_f64() / refill.as_secs_f64();
    (tokens + earned).min(burst)
}

/// Passes a device-endpoint request while its address has budget left; 429 with
/// `Retry-After` otherwise. Checked before the body is read or any signature verified, so
/// a flood costs the server a map lookup per request. Off unless the server is configured
/// with a rate (`lienlock serve` is, by default): one carrier NAT can put thousands of
/// phones behind one address, so the rate is generous and per address, not per phone.
#[derive(Debug, Clone, Copy)]
pub struct DeviceRate;

impl axum::extract::FromRequestParts<crate::app::AppState> for DeviceRate {
    type Rejection = crate::error::ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &crate::app::AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(limiter) = &state.device_limiter else {
            return Ok(DeviceRate);
        };
        let crate::extract::Client(ip) = crate::extract::Client::from_request_parts(parts, state)
            .await
            .unwrap_or_else(|never| match never {});
        limiter
            .take(ip)
            .map(|()| DeviceRate)
            .map_err(crate::error::ApiError::RateLimited)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configured_rate_allows_ten_seconds_at_once() {
        let limiter = RateLimiter::per_second(5);
        let a: IpAddr = "192.0.2.9".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..50 {
            limiter.take_at(a, t0).unwrap();
        }
        assert_eq!(limiter.take_at(a, t0), Err(1));
        assert!(limiter.take_at(a, t0 + Duration::from_millis(200)).is_ok());
    }

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
