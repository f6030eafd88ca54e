//! How the console shows values: one place, so every page says the same thing.

use lienlock_domain::{Currency, LeaseState, Money, RestrictionLevel, Timestamp};
use lienlock_store::Device;

const DAY_MS: i64 = 86_400_000;

/// `2026-11-23 14:05 UTC`.
pub fn time(t: Timestamp) -> String {
    jiff::Timestamp::from_millisecond(t.as_millis())
        .map(|ts| ts.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|_| t.as_millis().to_string())
}

/// A time, or a dash.
pub fn maybe_time(t: Option<Timestamp>) -> String {
    t.map_or_else(|| "never".into(), time)
}

/// Minor units of a currency named by its code, as `KES 1500.00`.
pub fn money(code: &str, minor: i64) -> String {
    match Currency::parse(code) {
        Ok(c) => Money::new(c, minor).to_string(),
        Err(_) => format!("{code} {minor}"),
    }
}

/// A policy level in words, as the timeline writes it.
pub(crate) use crate::service::level_name as level;

/// What the phone does now, as its borrower experiences it: the lender's decision, an
/// unapproved key, and the policy engine's automatic level together.
pub struct Effective {
    /// Stable key for pages and scripts: `active`, `restricted`, `locked`, `released`.
    pub key: &'static str,
    /// In words.
    pub label: &'static str,
}

/// The phone's effective state.
pub fn effective(d: &Device) -> Effective {
    let e = |key, label| Effective { key, label };
    match LeaseState::derive(d.state, d.key_status) {
        LeaseState::Released => e("released", "Released"),
        LeaseState::Locked if d.state == lienlock_domain::DeviceState::Locked => {
            e("locked", "Locked by the lender")
        }
        LeaseState::Locked => e("locked", "Locked: new device key awaits approval"),
        LeaseState::Active => match d.policy_level {
            RestrictionLevel::FullLock => e("locked", "Locked: payment overdue"),
            RestrictionLevel::RestrictedApps => e("restricted", "Restricted: payment overdue"),
            RestrictionLevel::PersistentBanner | RestrictionLevel::Reminder => {
                e("active", "Active, reminder shown")
            }
            RestrictionLevel::None => e("active", "Active"),
        },
    }
}

/// `KES 1500.00, 12 days` or `nothing`.
pub fn overdue(d: &Device, now: Timestamp) -> String {
    match d.arrears {
        Some(a) => {
            let days = ((now.as_millis() - a.since.as_millis()) / DAY_MS).max(0);
            format!("{}, {days} days", a.amount)
        }
        None => "nothing".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_money_read_plainly() {
        assert_eq!(
            time(Timestamp::from_millis(1_767_225_601_000)),
            "2026-01-01 00:00 UTC"
        );
        assert_eq!(money("KES", 150_050), "KES 1500.50");
        assert_eq!(money("XXQ", 5), "XXQ 5");
        assert_eq!(maybe_time(None), "never");
    }
}
