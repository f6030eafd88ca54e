//! When to check in next: the server's wish, bounded, and backoff after failures.

use lienlock_domain::Timestamp;
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

/// Exponential backoff with jitter. The jitter spreads a fleet of devices that lost the
/// server at the same moment, so they do not all come back in the same second.
#[derive(Debug)]
pub(crate) struct Backoff {
    base: Duration,
    cap: Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(policy: &RunPolicy) -> Self {
        Self {
            base: policy.backoff_base,
            cap: policy.backoff_cap.max(policy.backoff_base),
            failures: 0,
        }
    }

    /// The delay before the next attempt: uniformly in [d/2, d] where d doubles with every
    /// failure up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let doubled = self.base.saturating_mul(1u32 << self.failures.min(20));
        let ceiling = doubled.min(self.cap);
        self.failures = self.failures.saturating_add(1);
        let half = ceiling / 2;
        half + half.mul_f64(rand::random::<f64>())
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
    fn backoff_grows_jittered_and_caps() {
        let p = RunPolicy::default();
        let mut b = Backoff::new(&p);
        let mut ceiling = p.backoff_base;
        for _ in 0..40 {
            let d = b.next_delay();
            assert!(
                d >= ceiling / 2 && d <= ceiling,
                "{d:?} not in [{:?}, {ceiling:?}]",
                ceiling / 2
            );
            ceiling = (ceiling * 2).min(p.backoff_cap);
        }
        b.reset();
        assert!(b.next_delay() <= p.backoff_base);
    }
}
