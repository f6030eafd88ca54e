//! The policy engine: one pure function from a contract's facts to what the device should
//! show, what notice to queue, and when to look again.
//!
//! [`evaluate`] reads no clock and does no I/O, and it allocates nothing: the scheduler runs
//! it for every contract whose `next_evaluation` has come, possibly millions per pass. The
//! plain-language explanation is a separate function, [`explain`](super::explain), for the
//! few decisions a person looks at.
//!
//! # When to look again
//!
//! `next_evaluation` is the earliest moment at which the decision (level, phase, notice,
//! release) could change *if the facts stay as they are*; new facts (a payment, a reversal,
//! a dispute opened or closed, a notice acknowledged) wake the contract through the service,
//! not through this time. It used to be "at least every local midnight and at most a day
//! away", which made every active contract of a lender come due at 00:00 together: with a
//! million contracts that is the *midnight wave*, most of an hour of scheduler work in which
//! a payment's unlock waits behind contracts for which nothing changed. Now only contracts
//! whose decision can change with the date wake at midnight:
//!
//! - overdue (days overdue, thresholds, overdue reminders move every day), or with the next
//!   installment inside the due-soon window (`reminders.max()` days, 0 with no reminders):
//!   the next local midnight in the lender's zone;
//! - otherwise (current, next installment further away): the local midnight that starts the
//!   day the window opens, `next_due.due - window` days, when the phase becomes due-soon and
//!   the first reminder can go out. Nothing before it depends on the date: without arrears
//!   the level is none, no lock notice or overdue reminder can be due, and every reminder day
//!   lies inside the window. The contract becomes overdue only the day after the due date,
//!   after that;
//! - and whatever clock-time event comes first: the end of a notice period, the moment the
//!   second notice is due, the next graduated step, the end of quiet hours holding a lock,
//!   the end of a temporary unlock.
//!
//! There is no daily cap: every change that time alone can bring is one of the moments
//! above, which the property test `nothing_changes_before_next_evaluation` checks. New
//! settings are new input too, so whoever changes them must pull the contracts they apply
//! to in: the store does for a lender's policy change (`Store::set_lender_policy`); a
//! contract's overrides are set when it is created, and evaluated at once.

use super::decision::{Holds, NoticeWait, Phase, PolicyDecision, PolicyInput};
use super::facts::{dispute_facts, tamper_facts, Effective, NoticeFacts, TamperFacts, DAY_MS};
use super::notice::NoticeKind;
use crate::contract::ContractState;
use crate::ledger::Standing;
use crate::profile::RestrictionLevel;
use crate::time::Timestamp;
use crate::zone;
use jiff::tz::TimeZone;

const SECOND_MS: i64 = 1_000;

/// Collects candidate wake-up times; keeps the earliest one after `now`.
struct Wake {
    now: Timestamp,
    next: Option<Timestamp>,
}

impl Wake {
    fn at(&mut self, t: Timestamp) {
        if t <= self.now {
            return;
        }
        match self.next {
            Some(n) if n <= t => {}
            _ => self.next = Some(t),
        }
    }
}

/// The decision for `input`. Pure, deterministic, allocation-free; never panics.
///
/// The rules, in order:
/// 1. Cancelled or written off: nothing enforced. Paid off (by state or by the ledger):
///    release for ever.
/// 2. Nothing overdue: no restriction for arrears, whatever was in force before (a payment
///    that cures the arrears lifts everything at once; a tamper signal, 4a, is cured by any
///    standing payment received after it).
/// 3. Otherwise the days overdue pick a level: none during the grace days, then reminder,
///    persistent banner, restricted apps, full lock at their thresholds (profile floors
///    applied).
/// 4. Restricted apps and full lock need a lock notice *acknowledged by the device* at least
///    the notice period earlier (and, where required, a second one), queued no earlier than
///    the day the current arrears reached the lock-notice threshold; else the level stays at
///    the banner. (4a) A tamper signal the lender restricts for (and the profile allows),
///    not cured by a standing payment received since, raises the target to the profile's
///    tamper cap (at most restricted apps, whatever the arrears); restricted apps need a
///    tamper notice acknowledged at least the notice period earlier, else the banner.
/// 5. A temporary unlock caps the level at a reminder. An open dispute stops any increase
///    beyond a reminder (a level already in force stays until support grants an unlock).
/// 6. Increases are graduated: one level at a time, each held for the minimum hours.
/// 7. No restricted-apps or full-lock level *starts* inside quiet hours (device-local); a
///    device already at that level stays there.
/// 8. Look again at the earliest moment the decision could change with these facts (see
///    [`PolicyDecision::next_evaluation`]): the next local midnight while overdue or inside the
///    due-soon window, else the midnight the window opens; sooner if a notice period, the
///    second notice, a graduated step, quiet hours or a temporary unlock ends first. Never
///    sooner than a second from `now`.
pub fn evaluate(input: &PolicyInput<'_>) -> PolicyDecision {
    use RestrictionLevel as L;
    let now = input.now;
    let zone = input.terms.time_zone();
    let today = zone::local(now, zone).date();
    let standing = Standing::compute(input.terms.installments(), input.entries, today);
    let mut decision = PolicyDecision {
        phase: Phase::Current,
        level: L::None,
        notice_to_send: None,
        release: false,
        next_evaluation: None,
        standing,
        holds: Holds::default(),
        lock_ready: false,
    };
    match input.state {
        ContractState::Cancelled | ContractState::WrittenOff => {
            decision.phase = Phase::Closed;
            return decision;
        }
        ContractState::PaidOff => {
            decision.phase = Phase::PaidOff;
            decision.release = true;
            return decision;
        }
        ContractState::Active if standing.paid_off => {
            decision.phase = Phase::PaidOff;
            decision.release = true;
            return decision;
        }
        ContractState::Active => {}
    }

    let eff = Effective::new(input.settings, input.profile);
    let mut wake = Wake { now, next: None };
    let overdue = standing.is_overdue();
    let days_to_next_due = standing
        .next_due
        .map(|n| zone::day_number(n.due).saturating_sub(zone::day_number(today)));
    let due_soon_window = i32::from(eff.reminders.max().unwrap_or(0));

    // The calendar. Overdue, days overdue, thresholds and overdue reminders change every
    // time the lender's day turns, and so do the days left inside the due-soon window. Before
    // the window opens nothing depends on the date (no level, no notice, phase current), so
    // the next day that matters is the one the window opens on. (Not overdue and not paid
    // off means there is a next installment; without one, fall back to daily.)
    let calendar_day = match (standing.next_due, days_to_next_due) {
        (Some(next), Some(k)) if !overdue && k > due_soon_window => next
            .due
            .checked_sub(jiff::Span::new().days(i64::from(due_soon_window))),
        _ => today.tomorrow(),
    };
    if let Some(t) = calendar_day.ok().and_then(|d| zone::start_of_day(d, zone)) {
        wake.at(t);
    }

    let days = standing.days_overdue;
    let reached = |threshold: u16| overdue && days >= i32::from(threshold);
    let notices = NoticeFacts::for_input(input, &standing, eff.notice_after);
    let (dispute_open, unlock_until) = dispute_facts(input.disputes, now);

    // 3. The level the days alone give.
    let mut target = if !overdue || days <= i32::from(eff.grace) {
        L::None
    } else if reached(eff.full) {
        L::FullLock
    } else if reached(eff.apps) {
        L::RestrictedApps
    } else if reached(eff.banner) {
        L::PersistentBanner
    } else {
        L::Reminder
    };

    // 4. Lock notices.
    let lock_by_days = reached(eff.apps);
    let notice_wait = if lock_by_days {
        lock_notice_wait(&notices, &eff, now, &mut wake)
    } else {
        None
    };
    let lock_ready = lock_by_days && notice_wait.is_none();
    if target >= L::RestrictedApps && !lock_ready {
        target = L::PersistentBanner;
    }
    // 4a. Tamper signals.
    let tamper = tamper_facts(input);
    let tamper_wait = match tamper_target(&tamper, input, &eff, &mut wake) {
        Some((level, wait)) => {
            target = target.max(level);
            wait
        }
        None => None,
    };
    let mut holds = Holds {
        notice: notice_wait,
        tamper_notice: tamper_wait,
        ..Holds::default()
    };

    // 5. Temporary unlocks and disputes.
    let applied = input.applied.level;
    let mut level = target;
    if let Some(until) = unlock_until {
        wake.at(until);
        holds.temporary_unlock_until = Some(until);
        level = level.min(L::Reminder);
    }
    if level > applied && dispute_open {
        let capped = level.min(L::Reminder).max(applied);
        if capped < level {
            holds.dispute = true;
            level = capped;
        }
    }

    // 6. Graduated escalation.
    if level > applied {
        if applied >= L::Reminder {
            let ready = input.applied.since.plus_millis(eff.step_ms);
            if now < ready {
                holds.next_step_at = Some(ready);
                wake.at(ready);
                level = applied;
            }
        }
        let step = next_level(applied);
        if level > step {
            level = step;
            // The server applies `step` now; the next one may follow a step period later.
            let at = now.plus_millis(eff.step_ms);
            holds.next_step_at = Some(at);
            wake.at(at);
        }
    }

    // 7. Quiet hours.
    if level >= L::RestrictedApps && level > applied {
        let local = zone::local(now, input.device_zone);
        let minute = minute_of_day(local.time());
        if eff.is_quiet(minute) {
            level = applied.max(L::PersistentBanner);
            holds.quiet_hours = true;
            // The next step waits for the morning, not for the step period.
            holds.next_step_at = None;
            holds.quiet_hours_until = quiet_end(local, &eff, input.device_zone);
            if let Some(t) = holds.quiet_hours_until {
                wake.at(t);
            }
        }
    }

    // Notices to queue. Lock notices wait while a dispute is open or an unlock is in force:
    // warning someone who says they paid, or whom support just unlocked, helps nobody.
    let hold_lock_notices = dispute_open || unlock_until.is_some();
    let mut notice = None;
    if overdue {
        if !hold_lock_notices && reached(eff.notice_after) && !notices.first.created {
            notice = Some(NoticeKind::LockNotice);
        } else if let (false, true, Some(t1), false) = (
            hold_lock_notices,
            eff.second_after_ms > 0,
            notices.first.delivered,
            notices.second.created,
        ) {
            let at = t1.plus_millis(eff.second_after_ms);
            if now >= at {
                notice = Some(NoticeKind::SecondLockNotice);
            } else {
                wake.at(at);
            }
        }
        let every = i32::from(eff.overdue_every);
        if notice.is_none() && !notices.any_today && every > 0 && (days - 1) % every == 0 {
            notice = Some(NoticeKind::OverdueReminder);
        }
    }
    if !overdue && !notices.any_today && days_to_next_due.is_some_and(|k| eff.reminders.contains(k))
    {
        notice = Some(NoticeKind::DueReminder);
    }
    // The tamper notice goes before any reminder, after the arrears' lock notices.
    let tamper_notice_due = tamper.open_since.is_some()
        && !tamper.notice.created
        && input.profile.tamper_cap() >= L::RestrictedApps
        && !hold_lock_notices;
    if tamper_notice_due && !notice.is_some_and(|k| k.is_lock_notice()) {
        notice = Some(NoticeKind::TamperNotice);
    }

    decision.phase = if overdue {
        if level >= L::RestrictedApps {
            Phase::Locked
        } else if lock_ready {
            Phase::LockEligible
        } else if reached(eff.notice_after) {
            Phase::LockNoticeDue
        } else {
            Phase::Overdue
        }
    } else if level >= L::RestrictedApps {
        // Restricted for a tamper signal while the account is current.
        Phase::Locked
    } else if days_to_next_due.is_some_and(|k| (0..=due_soon_window).contains(&k)) {
        Phase::DueSoon
    } else {
        Phase::Current
    };
    decision.level = level;
    decision.notice_to_send = notice;
    decision.holds = holds;
    decision.lock_ready = lock_ready;
    // No wake-up at all happens only when the calendar is at the edge of the supported range
    // (year 9999); an active contract is still looked at again, a day later. The one-second
    // floor keeps a contract from being evaluated in a tight loop.
    let next = wake.next.unwrap_or(now.plus_millis(DAY_MS));
    decision.next_evaluation = Some(next.max(now.plus_millis(SECOND_MS)));
    decision
}

/// What still stands between the days overdue and a lock, if anything; registers the
/// moments a notice period ends as wake-ups.
fn lock_notice_wait(
    notices: &NoticeFacts,
    eff: &Effective,
    now: Timestamp,
    wake: &mut Wake,
) -> Option<NoticeWait> {
    let kind = NoticeKind::LockNotice;
    let Some(t1) = notices.first.delivered else {
        return Some(if notices.first.created {
            NoticeWait::NotDelivered { kind }
        } else {
            NoticeWait::NotSent { kind }
        });
    };
    let mut wait = None;
    let ready = t1.plus_millis(eff.notice_ms);
    if now < ready {
        wake.at(ready);
        wait = Some(NoticeWait::Period { kind, until: ready });
    }
    if eff.second_after_ms > 0 {
        let kind = NoticeKind::SecondLockNotice;
        let second = match notices.second.delivered {
            None if notices.second.created => Some(NoticeWait::NotDelivered { kind }),
            None => {
                wake.at(t1.plus_millis(eff.second_after_ms));
                Some(NoticeWait::NotSent { kind })
            }
            Some(t2) => {
                let ready = t2.plus_millis(eff.second_before_ms);
                wake.at(ready);
                (now < ready).then_some(NoticeWait::Period { kind, until: ready })
            }
        };
        wait = wait.or(second);
    }
    wait
}

/// The level open tamper signals aim for, and what holds it below restricted apps; `None`
/// when no signal counts. Registers the end of the tamper notice's period as a wake-up.
fn tamper_target(
    tamper: &TamperFacts,
    input: &PolicyInput<'_>,
    eff: &Effective,
    wake: &mut Wake,
) -> Option<(RestrictionLevel, Option<NoticeWait>)> {
    use RestrictionLevel as L;
    tamper.open_since?;
    let cap = input.profile.tamper_cap();
    if cap < L::RestrictedApps {
        return Some((cap, None));
    }
    let kind = NoticeKind::TamperNotice;
    let wait = match tamper.notice.delivered {
        None if tamper.notice.created => NoticeWait::NotDelivered { kind },
        None => NoticeWait::NotSent { kind },
        Some(at) => {
            let ready = at.plus_millis(eff.notice_ms);
            if input.now >= ready {
                return Some((cap, None));
            }
            wake.at(ready);
            NoticeWait::Period { kind, until: ready }
        }
    };
    Some((L::PersistentBanner, Some(wait)))
}

/// The next level up (full lock is the top).
fn next_level(level: RestrictionLevel) -> RestrictionLevel {
    use RestrictionLevel as L;
    match level {
        L::None => L::Reminder,
        L::Reminder => L::PersistentBanner,
        L::PersistentBanner => L::RestrictedApps,
        L::RestrictedApps | L::FullLock => L::FullLock,
    }
}

/// Minutes after local midnight.
pub(super) fn minute_of_day(t: jiff::civil::Time) -> u16 {
    // hour < 24 and minute < 60, so the sum is below 1440 and non-negative.
    u16::try_from(i32::from(t.hour()) * 60 + i32::from(t.minute())).unwrap_or(0)
}

/// When the quiet hours around `local` end: the first minute after it outside both the
/// lender's and the profile's windows. `None` if together they cover the whole day.
fn quiet_end(local: jiff::civil::DateTime, eff: &Effective, tz: &TimeZone) -> Option<Timestamp> {
    let mut minute = minute_of_day(local.time());
    let mut date = local.date();
    // Two windows can chain (one ends inside the other) at most twice before we are out.
    for _ in 0..4 {
        let end = if eff.quiet.contains(minute) {
            eff.quiet.end()
        } else if eff.required_quiet.contains(minute) {
            eff.required_quiet.end()
        } else {
            return zone::at_minute(date, minute, tz);
        };
        if end <= minute {
            date = date.tomorrow().ok()?;
        }
        minute = end;
    }
    None
}
