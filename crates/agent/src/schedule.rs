//! When to check in next: the server's wish, bounded, and backoff after failures.

use lienlock_domain::Timestamp;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::Duration;

/// Timing of [`crate::Agent::run`]. The defaults suit a phone; tests shorten them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunPolicy {
    /// Shortest wait between successful check-ins, whatever `next_checkin_at` says, so a
    /// server (or a bug) asking for "now" cannot make the device spin.
    pub min_interval: Duration,
    /// Longest wait between successful check-ins, so a far-off `next_checkin_at` cannot
    /// leave a lender's lock or unlock unheard for long.
    pub max_interval: Duration,
    /// First retry delay after a failed check-in.
    pub backoff_base: Duration,
    /// Longest retry delay.
    pub backoff_cap: Duration,
    /// Longest sleep without re-evaluating enforcement. Sleeping uses the monotonic clock,
    /// which may stand still while the phone is suspended; waking regularly notices that a
    /// lease ran out meanwhile.
    pub reevaluate_every: Duration,
    /// Hold a push connection to the server and check in at once when it sends a hint
    /// (server-sent events, falling back to long polls where a network cuts streams).
    /// Without it the device hears of a change only at its next scheduled check-in.
    pub push: bool,
}

impl Default for RunPolicy {
    fn default() -> Self {
        Self {
            min_interval: Duration::from_secs(1),
            max_interval: Duration::from_secs(60 * 60),
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(5 * 60),
            reevaluate_every: Duration::from_secs(30),
            push: true,
        }
    }
}

impl RunPolicy {
    /// The wait until `next_checkin_at`, seen from `now`, within the policy's bounds.
    pub fn checkin_delay(&self, next_checkin_at: Timestamp, now: Timestamp) -> Duration {
        let wanted = millis_between(now, next_checkin_at);
        wanted.clamp(self.min_interval, self.max_interval.max(self.min_interval))
    }
}

/// The time from `from` to `to`, zero if `to` is not later.
pub(crate) fn millis_between(from: Timestamp, to: Timestamp) -> Duration {
    let ms = to.as_millis().saturating_sub(from.as_millis());
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// Exponential backoff with full jitter. A fleet of devices that lost the server at the
/// same moment (an outage, a shed burst) must not come back in the same second: each
/// delay is drawn uniformly from the whole window `[0, min(cap, base * 2^failures)]`, not
/// from its upper half, so the fleet's retries spread evenly over the window and the
/// window keeps widening while the server stays away. A server's `Retry-After` is a
/// floor: the draw is added to it (both capped), so nobody comes back early and those told
/// the same `Retry-After` still do not come back together.
#[derive(Debug)]
pub(crate) struct Backoff {
    base: Duration,
    cap: Duration,
    failures: u32,
    rng: StdRng,
}

impl Backoff {
    pub fn new(policy: &RunPolicy) -> Self {
        Self::with_rng(policy, StdRng::from_entropy())
    }

    /// With a given random source: tests seed it.
    pub fn with_rng(policy: &RunPolicy, rng: StdRng) -> Self {
        Self {
            base: policy.backoff_base,
            cap: policy.backoff_cap.max(policy.backoff_base),
            failures: 0,
            rng,
        }
    }

    /// The delay before the next attempt after a failure: uniform in `[0, w]` where `w`
    /// doubles with every failure up to the cap, plus the server's `retry_after` (capped
    /// too) when it gave one.
    pub fn next_delay(&mut self, retry_after: Option<Duration>) -> Duration {
        let window = self.window();
        self.failures = self.failures.saturating_add(1);
        let floor = retry_after.unwrap_or_default().min(self.cap);
        floor + window.mul_f64(self.rng.gen::<f64>())
    }

    /// The current window: `base * 2^failures`, at most the cap.
    fn window(&self) -> Duration {
        self.base
            .saturating_mul(1u32 << self.failures.min(20))
            .min(self.cap)
    }

    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkin_delay_is_bounded() {
        let p = RunPolicy::default();
        let now = Timestamp::from_millis(1_000_000);
        assert_eq!(
            p.checkin_delay(now.plus_secs(90), now),
            Duration::from_secs(90)
        );
        assert_eq!(
            p.checkin_delay(now.plus_secs(-5), now),
            Duration::from_secs(1)
        );
        assert_eq!(p.checkin_delay(now, now), Duration::from_secs(1));
        assert_eq!(
            p.checkin_delay(now.plus_secs(86_400 * 30), now),
            Duration::from_secs(3600)
        );
        assert_eq!(
            p.checkin_delay(
                Timestamp::from_millis(i64::MAX),
                Timestamp::from_millis(i64::MIN)
            ),
            Duration::from_secs(3600)
        );
    }

    #[test]
    fn backoff_grows_with_full_jitter_and_caps() {
        let p = RunPolicy::default();
        let mut b = Backoff::with_rng(&p, StdRng::seed_from_u64(7));
        let mut window = p.backoff_base;
        for _ in 0..40 {
            let d = b.next_delay(None);
            assert!(d <= window, "{d:?} beyond {window:?}");
            window = (window * 2).min(p.backoff_cap);
        }
        b.reset();
        assert!(b.next_delay(None) <= p.backoff_base);
    }

    #[test]
    fn retry_after_is_a_floor_and_is_capped() {
        let p = RunPolicy::default();
        let mut b = Backoff::with_rng(&p, StdRng::seed_from_u64(1));
        let d = b.next_delay(Some(Duration::from_secs(30)));
        assert!(
            d >= Duration::from_secs(30) && d <= Duration::from_secs(31),
            "{d:?}"
        );
        let d = b.next_delay(Some(Duration::from_secs(86_400)));
        assert!(d >= p.backoff_cap && d <= p.backoff_cap * 2, "{d:?}");
    }

    /// A fleet that failed together (say, 1,000 phones cut off by the same outage, each
    /// at its third failure) spreads its next attempts evenly over the whole window, even
    /// when the server told them all the same `Retry-After`: no tenth of the window gets
    /// more than a small excess over its share.
    #[test]
    fn a_fleet_spreads_across_the_window() {
        let p = RunPolicy::default();
        let fleet = 1000;
        for retry_after in [None, Some(Duration::from_secs(1))] {
            let mut bins = [0u32; 10];
            for phone in 0..fleet {
                let mut b = Backoff::with_rng(&p, StdRng::seed_from_u64(phone));
                b.next_delay(None);
                b.next_delay(None);
                // Third failure: the window is base * 4 = 4 s.
                let d = b.next_delay(retry_after) - retry_after.unwrap_or_default();
                let bin = (d.as_secs_f64() / 4.0 * 10.0) as usize;
                bins[bin.min(9)] += 1;
            }
            for (i, n) in bins.iter().enumerate() {
                assert!(
                    (60..=140).contains(n),
                    "tenth {i} of the window got {n} of {fleet} retries: {bins:?}"
                );
            }
        }
    }

    proptest::proptest! {
        /// Whatever the random source, failures and `Retry-After`: never earlier than the
        /// (capped) `Retry-After`, never later than it plus the window.
        #[test]
        fn delays_stay_in_their_window(
            seed: u64,
            failures in 0u32..64,
            base_ms in 1u64..5_000,
            cap_ms in 1u64..600_000,
            retry_after_ms in proptest::option::of(0u64..1_000_000),
        ) {
            let p = RunPolicy {
                backoff_base: Duration::from_millis(base_ms),
                backoff_cap: Duration::from_millis(cap_ms),
                ..RunPolicy::default()
            };
            let mut b = Backoff::with_rng(&p, StdRng::seed_from_u64(seed));
            for _ in 0..failures {
                b.next_delay(None);
            }
            let window = b.window();
            let cap = p.backoff_cap.max(p.backoff_base);
            let floor = Duration::from_millis(retry_after_ms.unwrap_or(0)).min(cap);
            let d = b.next_delay(retry_after_ms.map(Duration::from_millis));
            proptest::prop_assert!(d >= floor && d <= floor + window, "{:?}", d);
            proptest::prop_assert!(window <= cap);
        }
    }
}
