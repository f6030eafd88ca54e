//! The offline policy: how long a phone may go without reaching the server before it locks,
//! and how long before that it warns its user.

use super::PolicyError;
use serde::{Deserialize, Serialize};

/// Fewest days a lender may set: shorter would lock phones for a weekend without signal.
pub const MIN_OFFLINE_LOCK_DAYS: u16 = 3;
/// Most days a lender may set.
pub const MAX_OFFLINE_LOCK_DAYS: u16 = 200;

/// "Lock after N days without a check-in", folded into every active lease's `valid_until`
/// (so a server outage can never lock a paid-up phone before the lease it holds runs out),
/// with a warning on the phone `warn_days_before` days before that moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfflinePolicy {
    /// Days an active lease lasts from its issue: the phone locks after this many days
    /// without a successful check-in. 3 to 200.
    pub lock_after_days: u16,
    /// Days before that lock from which the phone shows a warning ("connect, or enter a
    /// code from your receipt"). Less than `lock_after_days`; 0 for no warning.
    pub warn_days_before: u16,
}

impl OfflinePolicy {
    /// A week without a check-in locks; the warning shows for the last two days.
    pub const DEFAULT: OfflinePolicy = OfflinePolicy {
        lock_after_days: 7,
        warn_days_before: 2,
    };

    /// Checks the ranges.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if !(MIN_OFFLINE_LOCK_DAYS..=MAX_OFFLINE_LOCK_DAYS).contains(&self.lock_after_days) {
            return Err(PolicyError::Invalid {
                field: "offline.lock_after_days",
                reason: "from 3 to 200 days",
            });
        }
        if self.warn_days_before >= self.lock_after_days {
            return Err(PolicyError::Invalid {
                field: "offline.warn_days_before",
                reason: "must be less than lock_after_days",
            });
        }
        Ok(())
    }

    /// How long an active lease lasts, in seconds.
    pub fn lease_secs(&self) -> i64 {
        i64::from(self.lock_after_days) * 86_400
    }

    /// How long before the lease's end the warning starts, in seconds.
    pub fn warn_secs(&self) -> i64 {
        i64::from(self.warn_days_before) * 86_400
    }
}

impl Default for OfflinePolicy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_checked() {
        assert!(OfflinePolicy::DEFAULT.validate().is_ok());
        for (lock, warn, ok) in [
            (3, 0, true),
            (200, 199, true),
            (2, 0, false),
            (201, 0, false),
            (7, 7, false),
            (7, 8, false),
        ] {
            let p = OfflinePolicy {
                lock_after_days: lock,
                warn_days_before: warn,
            };
            assert_eq!(p.validate().is_ok(), ok, "{p:?}");
        }
    }

    #[test]
    fn settings_saved_before_the_field_existed_get_the_default() {
        let mut json = serde_json::to_value(super::super::DEFAULT_PROFILE.defaults).unwrap();
        json.as_object_mut().unwrap().remove("offline");
        let s: super::super::PolicySettings = serde_json::from_value(json).unwrap();
        assert_eq!(s.offline, OfflinePolicy::DEFAULT);
    }
}
