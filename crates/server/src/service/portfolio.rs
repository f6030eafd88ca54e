//! The console's portfolio dashboard: counts the store aggregates, and the lock figures
//! computed here from the timeline (a pure function, tested without a database).
//!
//! A device counts as locked while the lender has locked it or the policy engine holds it
//! at restricted apps or full lock: that is what its borrower experiences. Days are UTC.

use super::{Service, ServiceError};
use lienlock_domain::{DeviceId, EventKind, LenderCtx, RestrictionLevel, Timestamp};
use lienlock_store::{DailyPayments, PortfolioCounts, TimelineEvent};
use std::collections::HashMap;

const DAY_MS: i64 = 86_400_000;

/// How far back the lock figures look.
pub const WINDOW_DAYS: i64 = 90;

/// How many days of payments the chart shows.
pub const CHART_DAYS: i64 = 30;

/// Most timeline entries read for one dashboard; past it the figures cover the newest
/// part of the window only, and say so.
const EVENT_LIMIT: u32 = 200_000;

/// Everything the dashboard shows.
#[derive(Debug, Clone)]
pub struct Portfolio {
    /// Devices by state, policy restriction and arrears.
    pub counts: PortfolioCounts,
    /// Lock figures.
    pub locks: LockFigures,
    /// Payments per day and currency over the last [`CHART_DAYS`] days, oldest first.
    pub daily: Vec<DailyPayments>,
    /// The first day of the chart (days since the epoch, UTC).
    pub first_day: i64,
    /// When computed.
    pub at: Timestamp,
}

/// What the timeline says about locks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LockFigures {
    /// Devices that became locked since the start of today (UTC).
    pub locks_today: u64,
    /// Devices that stopped being locked since the start of today (UTC).
    pub unlocks_today: u64,
    /// Locks in the window.
    pub locks: u64,
    /// Of those, how many ended after a payment (the borrower paid and got the phone back).
    pub cured: u64,
    /// Time from the payment to the unlock it brought, for each cured lock, in ms.
    pub payment_to_unlock_ms: Vec<i64>,
    /// The event limit was reached: older parts of the window are missing.
    pub truncated: bool,
}

impl LockFigures {
    /// Share of locks cured by a payment, in percent.
    pub fn cure_rate(&self) -> Option<f64> {
        (self.locks > 0).then(|| 100.0 * self.cured as f64 / self.locks as f64)
    }

    /// Median and 95th percentile of payment-to-unlock, in ms (nearest rank).
    pub fn payment_to_unlock(&self) -> Option<(i64, i64)> {
        let mut v = self.payment_to_unlock_ms.clone();
        if v.is_empty() {
            return None;
        }
        v.sort_unstable();
        let rank = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
        Some((rank(0.5), rank(0.95)))
    }
}

/// The timeline kinds the figures read.
pub const LOCK_EVENT_KINDS: [EventKind; 5] = [
    EventKind::Locked,
    EventKind::Unlocked,
    EventKind::Released,
    EventKind::RestrictionChanged,
    EventKind::PaymentRecorded,
];

/// Whether a restriction level's name (as the engine writes it on the timeline) locks.
fn locking_level(name: &str) -> bool {
    let name = name.trim();
    [RestrictionLevel::RestrictedApps, RestrictionLevel::FullLock]
        .into_iter()
        .any(|l| super::evaluate::level_name(l) == name)
}

/// `from → to: why`, as the policy engine writes a restriction change: the target level.
fn restriction_target(detail: &str) -> Option<bool> {
    let (_, rest) = detail.split_once('→')?;
    let to = rest.split_once(':').map_or(rest, |(to, _)| to);
    Some(locking_level(to))
}

#[derive(Default)]
struct DeviceTrack {
    lender: bool,
    policy: bool,
    locked_at: Option<Timestamp>,
    paid_at: Option<Timestamp>,
}

/// The lock figures from a lender's timeline entries (oldest first), as of `now`.
pub fn lock_figures(events: &[TimelineEvent], now: Timestamp, truncated: bool) -> LockFigures {
    let today = Timestamp::from_millis(now.as_millis().div_euclid(DAY_MS) * DAY_MS);
    let mut tracks: HashMap<DeviceId, DeviceTrack> = HashMap::new();
    let mut out = LockFigures {
        truncated,
        ..Default::default()
    };
    for e in events {
        let t = tracks.entry(e.device_id).or_default();
        let was = t.lender || t.policy;
        match e.kind {
            EventKind::Locked => t.lender = true,
            EventKind::Unlocked => t.lender = false,
            EventKind::Released => {
                t.lender = false;
                t.policy = false;
            }
            EventKind::RestrictionChanged => {
                if let Some(locks) = e.detail.as_deref().and_then(restriction_target) {
                    t.policy = locks;
                }
            }
            EventKind::PaymentRecorded => {
                if was {
                    t.paid_at = Some(e.at);
                }
                continue;
            }
            _ => continue,
        }
        let is = t.lender || t.policy;
        if !was && is {
            t.locked_at = Some(e.at);
            t.paid_at = None;
            out.locks += 1;
            if e.at >= today {
                out.locks_today += 1;
            }
        } else if was && !is {
            // An unlock of a lock that began before the window is still an unlock today,
            // but only a lock seen starting is judged cured or not.
            if e.at >= today {
                out.unlocks_today += 1;
            }
            if t.locked_at.take().is_some() {
                if let Some(paid) = t.paid_at.take() {
                    out.cured += 1;
                    out.payment_to_unlock_ms
                        .push(e.at.as_millis() - paid.as_millis());
                }
            }
        }
    }
    out
}

impl Service {
    /// The caller's portfolio as the dashboard shows it.
    pub async fn portfolio(&self, ctx: &LenderCtx) -> Result<Portfolio, ServiceError> {
        let now = self.clock.now();
        let today = now.as_millis().div_euclid(DAY_MS);
        let first_day = today - (CHART_DAYS - 1);
        let since = Timestamp::from_millis(now.as_millis() - WINDOW_DAYS * DAY_MS);
        // Three independent reads, each a scan of an index: side by side they take as long
        // as the slowest (the store's pool has several readers), not as the sum.
        let (counts, daily, events) = tokio::join!(
            self.store.portfolio_counts(ctx, now),
            self.store
                .daily_payments(ctx, Timestamp::from_millis(first_day * DAY_MS), 0),
            self.store
                .lender_events_since(ctx, &LOCK_EVENT_KINDS, since, EVENT_LIMIT),
        );
        let (counts, daily, events) = (counts?, daily?, events?);
        let truncated = events.len() >= EVENT_LIMIT as usize;
        Ok(Portfolio {
            counts,
            locks: lock_figures(&events, now, truncated),
            daily,
            first_day,
            at: now,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lienlock_domain::{EventId, LenderId};
    use lienlock_store::Actor;

    fn ev(device: DeviceId, at_ms: i64, kind: EventKind, detail: Option<&str>) -> TimelineEvent {
        TimelineEvent {
            id: EventId::new(),
            seq: 0,
            device_id: device,
            lender_id: LenderId::new(),
            at: Timestamp::from_millis(at_ms),
            kind,
            actor: Actor::Scheduler,
            reason: None,
            detail: detail.map(str::to_owned),
        }
    }

    #[test]
    fn a_paid_lock_is_cured_and_timed() {
        let (a, b) = (DeviceId::new(), DeviceId::new());
        let day = 100 * DAY_MS;
        let events = vec![
            // a: policy lock, payment, unlock 2 s later.
            ev(
                a,
                day + 1_000,
                EventKind::RestrictionChanged,
                Some("persistent banner → full lock: 31 days overdue"),
            ),
            ev(a, day + 5_000, EventKind::PaymentRecorded, None),
            ev(
                a,
                day + 7_000,
                EventKind::RestrictionChanged,
                Some("full lock → none: paid up"),
            ),
            // b: the lender locks it, no payment, still locked.
            ev(b, day + 2_000, EventKind::Locked, None),
            // a payment on an unlocked device does not count.
            ev(b, day - 5_000, EventKind::PaymentRecorded, None),
        ];
        let mut sorted = events;
        sorted.sort_by_key(|e| e.at);
        let f = lock_figures(&sorted, Timestamp::from_millis(day + 10_000), false);
        assert_eq!(
            (f.locks, f.cured, f.locks_today, f.unlocks_today),
            (2, 1, 2, 1)
        );
        assert_eq!(f.payment_to_unlock_ms, vec![2_000]);
        assert_eq!(f.cure_rate(), Some(50.0));
        assert_eq!(f.payment_to_unlock(), Some((2_000, 2_000)));
    }

    #[test]
    fn a_lender_lock_under_a_policy_lock_is_one_lock() {
        let a = DeviceId::new();
        let events = vec![
            ev(a, 1, EventKind::Locked, None),
            ev(
                a,
                2,
                EventKind::RestrictionChanged,
                Some("none → full lock: overdue"),
            ),
            ev(a, 3, EventKind::Unlocked, None),
            ev(a, 4, EventKind::PaymentRecorded, None),
            ev(a, 5, EventKind::Released, None),
        ];
        let f = lock_figures(&events, Timestamp::from_millis(10), false);
        assert_eq!((f.locks, f.cured), (1, 1));
        assert_eq!(f.payment_to_unlock_ms, vec![1]);
    }

    #[test]
    fn an_unlock_without_a_seen_lock_is_counted_today_but_not_judged() {
        let a = DeviceId::new();
        let events = vec![ev(a, 5, EventKind::Unlocked, None)];
        let f = lock_figures(&events, Timestamp::from_millis(10), false);
        // Its lock began before the window: the tracker never saw it locked.
        assert_eq!((f.locks, f.unlocks_today, f.cured), (0, 0, 0));
        assert_eq!(f.cure_rate(), None);
        assert_eq!(f.payment_to_unlock(), None);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let f = LockFigures {
            payment_to_unlock_ms: (1..=100).rev().collect(),
            ..Default::default()
        };
        assert_eq!(f.payment_to_unlock(), Some((50, 95)));
    }
}
