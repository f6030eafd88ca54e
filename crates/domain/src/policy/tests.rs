//! Table tests for the policy engine, and the fixture the property tests share.

use super::*;
use crate::contract::{ContractState, ContractTerms, ScheduleSpec, TermsSpec};
use crate::ids::{DisputeId, NoticeId, PaymentId};
use crate::ledger::LedgerEntry;
use crate::money::Currency;
use crate::profile::RestrictionLevel as L;
use crate::text::BoundedText;
use crate::time::Timestamp;
use crate::zone;
use jiff::civil::{date, Date};
use jiff::tz::TimeZone;

/// One contract and everything the engine reads about it, owned, for tests.
#[derive(Clone, Debug)]
pub(super) struct World {
    pub state: ContractState,
    pub terms: ContractTerms,
    pub entries: Vec<LedgerEntry>,
    pub notices: Vec<Notice>,
    pub disputes: Vec<Dispute>,
    pub tamper: Vec<TamperFact>,
    pub applied: AppliedLevel,
    pub now: Timestamp,
    pub device_zone: TimeZone,
    pub settings: PolicySettings,
    pub profile: &'static ComplianceProfile,
}

impl World {
    /// 12 monthly installments of KES 1000.00 from 2026-01-10, lender and device in Nairobi,
    /// default profile and settings, nothing paid, at noon on the first due date.
    pub fn new() -> Self {
        Self::with_schedule(
            "Africa/Nairobi",
            ScheduleSpec::Monthly {
                first_due: date(2026, 1, 10),
                day_of_month: 10,
                count: 12,
            },
        )
    }

    pub fn with_schedule(zone_name: &str, schedule: ScheduleSpec) -> Self {
        let terms = ContractTerms::new(TermsSpec {
            currency: Currency::parse("KES").unwrap(),
            financed: 1_100_000,
            down_payment: 200_000,
            fees: 100_000,
            schedule,
            time_zone: zone_name.into(),
        })
        .unwrap();
        let device_zone = terms.time_zone().clone();
        let first = terms.installments()[0].due;
        let mut w = World {
            state: ContractState::Active,
            terms,
            entries: vec![],
            notices: vec![],
            disputes: vec![],
            tamper: vec![],
            applied: AppliedLevel::NONE,
            now: Timestamp::from_millis(0),
            device_zone,
            settings: DEFAULT_PROFILE.defaults,
            profile: &DEFAULT_PROFILE,
        };
        w.now = w.local(first, "12:00");
        w
    }

    pub fn input(&self) -> PolicyInput<'_> {
        PolicyInput {
            state: self.state,
            terms: &self.terms,
            entries: &self.entries,
            notices: &self.notices,
            disputes: &self.disputes,
            tamper: &self.tamper,
            applied: self.applied,
            now: self.now,
            device_zone: &self.device_zone,
            settings: &self.settings,
            profile: self.profile,
        }
    }

    pub fn eval(&self) -> PolicyDecision {
        evaluate(&self.input())
    }

    pub fn explain(&self) -> String {
        explain(&self.input(), &self.eval())
    }

    /// `hh:mm` on `d` in the device's zone.
    pub fn local(&self, d: Date, hm: &str) -> Timestamp {
        let (h, m) = hm.split_once(':').unwrap();
        let minute = h.parse::<u16>().unwrap() * 60 + m.parse::<u16>().unwrap();
        zone::at_minute(d, minute, &self.device_zone).unwrap()
    }

    /// `hh:mm` local, `days` days overdue on the first installment.
    pub fn day(&self, days: i64, hm: &str) -> Timestamp {
        let d = self.terms.installments()[0]
            .due
            .checked_add(jiff::Span::new().days(days))
            .unwrap();
        self.local(d, hm)
    }

    pub fn pay(&mut self, amount: i64) -> PaymentId {
        let id = PaymentId::new();
        self.entries
            .push(LedgerEntry::payment(id, self.now, amount));
        id
    }

    pub fn notice(&mut self, kind: NoticeKind, created: Timestamp, delivered: Option<Timestamp>) {
        self.notices.push(Notice {
            id: NoticeId::new(),
            kind,
            created_at: created,
            delivered_at: delivered,
        });
    }

    pub fn dispute(
        &mut self,
        opened: Timestamp,
        closed: Option<Timestamp>,
        unlock: Option<Timestamp>,
    ) {
        self.disputes.push(Dispute {
            id: DisputeId::new(),
            opened_by: DisputeOpener::Borrower,
            reason: BoundedText::parse("I paid: receipt QJK12345").unwrap(),
            opened_at: opened,
            closed_at: closed,
            temporary_unlock_until: unlock,
        });
    }

    pub fn applied(&mut self, level: L, since: Timestamp) {
        self.applied = AppliedLevel { level, since };
    }

    /// Applies a decision as the server would: queue the notice (acknowledged by the device
    /// `ack_after_ms` later) and record a level change.
    pub fn apply(&mut self, d: &PolicyDecision, ack_after_ms: i64) {
        if let Some(kind) = d.notice_to_send {
            let now = self.now;
            self.notice(kind, now, Some(now.plus_millis(ack_after_ms)));
        }
        if d.level != self.applied.level {
            self.applied = AppliedLevel {
                level: d.level,
                since: self.now,
            };
        }
    }
}

fn utc(s: &str) -> Timestamp {
    zone::from_jiff(s.parse().unwrap())
}

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

#[test]
fn current_then_due_soon_with_reminders_3_1_and_0_days_before() {
    let mut w = World::new();
    let due = date(2026, 2, 10);
    w.pay(100_000);
    for (days_before, phase, reminder) in [
        (5, Phase::Current, false),
        (3, Phase::DueSoon, true),
        (2, Phase::DueSoon, false),
        (1, Phase::DueSoon, true),
        (0, Phase::DueSoon, true),
    ] {
        let d = due
            .checked_sub(jiff::Span::new().days(days_before))
            .unwrap();
        w.now = w.local(d, "09:00");
        let dec = w.eval();
        assert_eq!(dec.phase, phase, "{days_before} days before");
        assert_eq!(dec.level, L::None);
        assert_eq!(
            dec.notice_to_send,
            reminder.then_some(NoticeKind::DueReminder),
            "{days_before}"
        );
    }
    // A reminder already queued today is not queued again.
    let now = w.now;
    w.notice(NoticeKind::DueReminder, now.plus_millis(-HOUR), None);
    assert_eq!(w.eval().notice_to_send, None);
}

#[test]
fn an_installment_due_in_kolkata_is_overdue_from_1830_utc_the_day_before() {
    let mut w = World::with_schedule(
        "Asia/Kolkata",
        ScheduleSpec::Weekly {
            first_due: date(2026, 3, 10),
            count: 4,
        },
    );
    w.now = utc("2026-03-10T18:29:59Z");
    let before = w.eval();
    assert_eq!(before.phase, Phase::DueSoon);
    assert_eq!(before.standing.overdue_count, 0);
    assert_eq!(before.next_evaluation, Some(utc("2026-03-10T18:30:00Z")));
    w.now = utc("2026-03-10T18:30:00Z");
    let after = w.eval();
    assert_eq!(after.phase, Phase::Overdue);
    assert_eq!(after.standing.days_overdue, 1);
    assert_eq!(after.level, L::None, "within the grace days");
    assert_eq!(after.notice_to_send, Some(NoticeKind::OverdueReminder));
    assert_eq!(after.next_evaluation, Some(utc("2026-03-11T18:30:00Z")));
}

#[test]
fn berlin_days_are_23_and_25_hours_long_around_daylight_saving() {
    let mut w = World::with_schedule(
        "Europe/Berlin",
        ScheduleSpec::Explicit(vec![
            (date(2026, 3, 28), 600_000),
            (date(2026, 10, 24), 600_000),
        ]),
    );
    // Overdue from local midnight 2026-03-29 00:00 CET = 2026-03-28T23:00Z; the next local
    // midnight comes 23 hours later (02:00 does not exist that night).
    w.now = utc("2026-03-28T23:00:00Z");
    let d = w.eval();
    assert_eq!(d.standing.days_overdue, 1);
    assert_eq!(d.next_evaluation, Some(utc("2026-03-29T22:00:00Z")));
    // After the clocks go back the day is 25 hours, and so is the wait for the next local
    // midnight (no daily cap brings it forward: nothing changes in the extra hour).
    w.pay(600_000);
    w.now = utc("2026-10-24T22:00:00Z"); // 2026-10-25 00:00 CEST
    let d = w.eval();
    assert_eq!(d.standing.days_overdue, 1);
    assert_eq!(d.next_evaluation, Some(utc("2026-10-25T23:00:00Z")));
}

/// A monthly contract in Kolkata (UTC+5:30), 12 installments from 2026-03-10, default
/// profile and settings (reminders 3, 1 and 0 days before).
fn kolkata_monthly() -> World {
    World::with_schedule(
        "Asia/Kolkata",
        ScheduleSpec::Monthly {
            first_due: date(2026, 3, 10),
            day_of_month: 10,
            count: 12,
        },
    )
}

#[test]
fn a_current_contract_sleeps_until_its_due_soon_window_opens() {
    let mut w = kolkata_monthly();
    assert_eq!(
        w.settings.reminder_days_before,
        ReminderDays::new(&[3, 1, 0]).unwrap()
    );
    // 20 days before the due date: nothing changes until local midnight starting 2026-03-07,
    // 3 days before it (18:30 UTC the day before), not at every midnight in between.
    w.now = w.local(date(2026, 2, 18), "10:00");
    let d = w.eval();
    assert_eq!(
        (d.phase, d.level, d.notice_to_send),
        (Phase::Current, L::None, None)
    );
    let window_opens = utc("2026-03-06T18:30:00Z");
    assert_eq!(d.next_evaluation, Some(window_opens));
    // A second before it: still current, still asleep until then. (Closer than a second, the
    // one-second floor would put the next evaluation just after it.)
    w.now = window_opens.plus_millis(-1000);
    let d = w.eval();
    assert_eq!((d.phase, d.notice_to_send), (Phase::Current, None));
    assert_eq!(d.next_evaluation, Some(window_opens));
    // At it: due soon, and the 3-day reminder goes out.
    w.now = window_opens;
    let d = w.eval();
    assert_eq!(
        (d.phase, d.notice_to_send),
        (Phase::DueSoon, Some(NoticeKind::DueReminder))
    );
    let now = w.now;
    w.notice(NoticeKind::DueReminder, now, Some(now));
    // Inside the window: every local midnight (2 days before has no reminder, but 1 does).
    w.now = w.local(date(2026, 3, 7), "09:00");
    let d = w.eval();
    assert_eq!((d.phase, d.notice_to_send), (Phase::DueSoon, None));
    assert_eq!(d.next_evaluation, Some(utc("2026-03-07T18:30:00Z")));
    w.now = w.local(date(2026, 3, 8), "09:00");
    assert_eq!(w.eval().next_evaluation, Some(utc("2026-03-08T18:30:00Z")));
    // On the due date, midnight makes it overdue.
    w.now = w.local(date(2026, 3, 10), "20:00");
    let d = w.eval();
    assert_eq!(d.phase, Phase::DueSoon);
    assert_eq!(d.next_evaluation, Some(utc("2026-03-10T18:30:00Z")));
    // Overdue: every local midnight.
    w.now = w.local(date(2026, 3, 12), "09:00");
    let d = w.eval();
    assert_eq!((d.phase, d.standing.days_overdue), (Phase::Overdue, 2));
    assert_eq!(d.next_evaluation, Some(utc("2026-03-12T18:30:00Z")));
    // Paying it puts the contract back to sleep until the next window: 2026-04-07 local.
    let amount = w.terms.installments()[0].amount;
    w.pay(amount);
    let d = w.eval();
    assert_eq!((d.phase, d.level), (Phase::Current, L::None));
    assert_eq!(d.next_evaluation, Some(utc("2026-04-06T18:30:00Z")));
}

#[test]
fn without_reminders_a_current_contract_sleeps_until_its_due_date() {
    let mut w = kolkata_monthly();
    w.settings.reminder_days_before = ReminderDays::NONE;
    w.now = w.local(date(2026, 2, 18), "10:00");
    let due_date_starts = utc("2026-03-09T18:30:00Z");
    assert_eq!(w.eval().next_evaluation, Some(due_date_starts));
    // The due date itself is the (one-day) due-soon window.
    w.now = due_date_starts;
    let d = w.eval();
    assert_eq!((d.phase, d.notice_to_send), (Phase::DueSoon, None));
    assert_eq!(d.next_evaluation, Some(utc("2026-03-10T18:30:00Z")));
}

#[test]
fn a_long_sleep_ends_at_local_midnight_across_daylight_saving_changes() {
    // Berlin: evaluated in winter time (UTC+1), the window for 2026-04-02 opens on
    // 2026-03-30 00:00 summer time (UTC+2): 22:00 UTC, not 23:00 as 24-hour days would give.
    let mut w = World::with_schedule(
        "Europe/Berlin",
        ScheduleSpec::Explicit(vec![
            (date(2026, 4, 2), 600_000),
            (date(2026, 5, 2), 600_000),
        ]),
    );
    w.now = utc("2026-03-10T11:00:00Z");
    let d = w.eval();
    assert_eq!(d.phase, Phase::Current);
    assert_eq!(d.next_evaluation, Some(utc("2026-03-29T22:00:00Z")));
    // São Paulo skipped 2018-11-04 00:00-01:00: a window opening that day opens at 01:00.
    let mut w = World::with_schedule(
        "America/Sao_Paulo",
        ScheduleSpec::Weekly {
            first_due: date(2018, 11, 7),
            count: 2,
        },
    );
    w.now = utc("2018-10-20T15:00:00Z");
    assert_eq!(w.eval().next_evaluation, Some(utc("2018-11-04T03:00:00Z")));
    w.now = utc("2018-11-04T02:59:59Z");
    assert_eq!(w.eval().phase, Phase::Current);
    w.now = utc("2018-11-04T03:00:00Z");
    let d = w.eval();
    assert_eq!(
        (d.phase, d.notice_to_send),
        (Phase::DueSoon, Some(NoticeKind::DueReminder))
    );
}

#[test]
fn clock_time_holds_still_wake_a_sleeping_contract() {
    // A temporary unlock that outlives the arrears it was granted for: its end is registered
    // even while the contract is current, since the explanation (and the holds) change then.
    let mut w = kolkata_monthly();
    w.now = w.local(date(2026, 2, 18), "10:00");
    let now = w.now;
    w.dispute(
        now.plus_millis(-HOUR),
        None,
        Some(now.plus_millis(6 * HOUR)),
    );
    let d = w.eval();
    assert_eq!(
        d.holds.temporary_unlock_until,
        Some(now.plus_millis(6 * HOUR))
    );
    assert_eq!(d.next_evaluation, Some(now.plus_millis(6 * HOUR)));
}

#[test]
fn a_due_date_followed_by_a_midnight_gap_is_overdue_when_the_day_exists() {
    // São Paulo skipped 2018-11-04 00:00-01:00; the day after the due date began at 01:00.
    let mut w = World::with_schedule(
        "America/Sao_Paulo",
        ScheduleSpec::Weekly {
            first_due: date(2018, 11, 3),
            count: 2,
        },
    );
    w.now = utc("2018-11-04T02:59:59Z");
    assert_eq!(w.eval().standing.overdue_count, 0);
    assert_eq!(w.eval().next_evaluation, Some(utc("2018-11-04T03:00:00Z")));
    w.now = utc("2018-11-04T03:00:00Z");
    assert_eq!(w.eval().standing.days_overdue, 1);
}

#[test]
fn the_default_path_from_reminder_to_full_lock_and_back() {
    let mut w = World::new();
    // Day 2: grace, nothing shown; an overdue reminder went out on day 1.
    w.now = w.day(2, "10:00");
    let d = w.eval();
    assert_eq!((d.phase, d.level), (Phase::Overdue, L::None));
    // Day 5: reminder level.
    w.now = w.day(5, "10:00");
    assert_eq!(w.eval().level, L::Reminder);
    w.applied(L::Reminder, w.now);
    // Day 7: banner.
    w.now = w.day(7, "10:00");
    let d = w.eval();
    assert_eq!(d.level, L::PersistentBanner);
    w.applied(L::PersistentBanner, w.now);
    // Day 14: the lock notice is queued.
    w.now = w.day(14, "10:00");
    let d = w.eval();
    assert_eq!(d.phase, Phase::LockNoticeDue);
    assert_eq!(d.notice_to_send, Some(NoticeKind::LockNotice));
    let queued = w.now;
    w.notice(NoticeKind::LockNotice, queued, None);
    assert_eq!(w.eval().notice_to_send, None, "queued once");
    // Day 20: apps could be restricted, but the device never acknowledged the notice.
    w.now = w.day(20, "10:00");
    let d = w.eval();
    assert_eq!(
        (d.phase, d.level),
        (Phase::LockNoticeDue, L::PersistentBanner)
    );
    assert_eq!(
        d.holds.notice,
        Some(NoticeWait::NotDelivered {
            kind: NoticeKind::LockNotice
        })
    );
    assert!(w
        .explain()
        .contains("no lock until the device acknowledges the lock notice"));
    // Acknowledged 22 hours ago: the 48-hour notice period still runs.
    w.notices[0].delivered_at = Some(w.now.plus_millis(-22 * HOUR));
    let d = w.eval();
    assert_eq!(d.level, L::PersistentBanner);
    assert_eq!(
        d.holds.notice,
        Some(NoticeWait::Period {
            kind: NoticeKind::LockNotice,
            until: w.now.plus_millis(26 * HOUR)
        })
    );
    // Acknowledged 5 days ago: apps restricted.
    w.notices[0].delivered_at = Some(w.now.plus_millis(-5 * DAY));
    let d = w.eval();
    assert_eq!((d.phase, d.level), (Phase::Locked, L::RestrictedApps));
    // But not at 02:00 device time: quiet hours until 08:00.
    w.now = w.day(20, "02:00");
    let d = w.eval();
    assert_eq!(
        (d.phase, d.level),
        (Phase::LockEligible, L::PersistentBanner)
    );
    assert!(d.holds.quiet_hours);
    assert_eq!(d.holds.quiet_hours_until, Some(w.day(20, "08:00")));
    assert_eq!(d.next_evaluation, Some(w.day(20, "08:00")));
    let text = w.explain();
    assert!(
        text.starts_with("1 installment overdue (KES 1000.00), 20 days; lock notice delivered"),
        "{text}"
    );
    assert!(
        text.contains("locks after quiet hours end at 08:00"),
        "{text}"
    );
    // A device already restricted stays restricted through the night.
    w.applied(L::RestrictedApps, w.day(19, "10:00"));
    assert_eq!(w.eval().level, L::RestrictedApps);
    // Day 30: full lock.
    w.now = w.day(30, "10:00");
    let d = w.eval();
    assert_eq!((d.phase, d.level), (Phase::Locked, L::FullLock));
    w.applied(L::FullLock, w.now);
    // Paying what is overdue lifts everything at once, even at night.
    w.now = w.day(30, "23:00");
    w.pay(100_000);
    let d = w.eval();
    assert_eq!(d.level, L::None);
    assert_eq!(d.phase, Phase::DueSoon);
    assert!(!d.release);
    // Paying everything releases the device; nothing is left to evaluate.
    w.pay(1_100_000);
    let d = w.eval();
    assert_eq!(
        (d.phase, d.level, d.release),
        (Phase::PaidOff, L::None, true)
    );
    assert_eq!(d.next_evaluation, None);
    assert!(w.explain().contains("released for good"));
}

#[test]
fn a_lock_notice_from_cured_arrears_does_not_count_for_new_ones() {
    let mut w = World::new();
    // Installment 1 ran 20 days late, with a notice; then it was paid.
    let old = w.day(15, "10:00");
    w.notice(NoticeKind::LockNotice, old, Some(old));
    w.pay(100_000);
    // Installment 2 (due 2026-02-10) is now 25 days overdue.
    w.now = w.local(date(2026, 3, 7), "10:00");
    w.applied(L::PersistentBanner, w.now.plus_millis(-10 * DAY));
    let d = w.eval();
    assert_eq!(d.standing.days_overdue, 25);
    assert_eq!(d.level, L::PersistentBanner);
    assert_eq!(d.notice_to_send, Some(NoticeKind::LockNotice));
}

#[test]
fn a_reversal_reopens_arrears_and_restrictions() {
    let mut w = World::new();
    let p = w.pay(100_000);
    w.now = w.day(25, "10:00");
    w.applied(L::PersistentBanner, w.day(10, "10:00"));
    assert_eq!(w.eval().level, L::None);
    let now = w.now;
    w.entries
        .push(LedgerEntry::reversal(PaymentId::new(), now, 100_000, p));
    let d = w.eval();
    assert_eq!(d.standing.days_overdue, 25);
    assert_eq!(d.level, L::PersistentBanner);
}

#[test]
fn an_open_dispute_holds_locking_and_an_unlock_lifts_it() {
    let mut w = World::new();
    w.now = w.day(25, "10:00");
    let old = w.day(15, "10:00");
    w.notice(NoticeKind::LockNotice, old, Some(old));
    w.applied(L::PersistentBanner, w.day(7, "10:00"));
    assert_eq!(w.eval().level, L::RestrictedApps);
    let now = w.now;
    w.dispute(now.plus_millis(-HOUR), None, None);
    let d = w.eval();
    assert_eq!(d.level, L::PersistentBanner);
    assert!(d.holds.dispute);
    assert_eq!(d.phase, Phase::LockEligible);
    assert!(w.explain().contains("dispute open"), "{}", w.explain());
    // Already restricted: the dispute alone does not lift it...
    w.applied(L::RestrictedApps, w.day(21, "10:00"));
    w.now = w.day(30, "10:00");
    assert_eq!(
        w.eval().level,
        L::RestrictedApps,
        "no escalation to full lock"
    );
    // ...a temporary unlock by support does, until its end.
    let now = w.now;
    w.disputes[0].temporary_unlock_until = Some(now.plus_millis(6 * HOUR));
    let d = w.eval();
    assert_eq!(d.level, L::Reminder);
    assert_eq!(d.next_evaluation, Some(now.plus_millis(6 * HOUR)));
    assert!(w
        .explain()
        .contains("temporarily unlocked by support until 16:00"));
    // Closed dispute, unlock over: locking resumes, one level at a time.
    w.disputes[0].closed_at = Some(now.plus_millis(HOUR));
    w.applied(L::Reminder, now);
    w.now = now.plus_millis(30 * HOUR);
    assert_eq!(w.eval().level, L::PersistentBanner);
}

#[test]
fn no_lock_notice_is_queued_during_a_dispute() {
    let mut w = World::new();
    w.now = w.day(14, "10:00");
    assert_eq!(w.eval().notice_to_send, Some(NoticeKind::LockNotice));
    let now = w.now;
    w.dispute(now, None, None);
    assert_ne!(w.eval().notice_to_send, Some(NoticeKind::LockNotice));
}

#[test]
fn escalation_is_graduated_even_when_far_overdue() {
    let mut w = World::new();
    let old = w.day(14, "10:00");
    w.notice(NoticeKind::LockNotice, old, Some(old));
    w.now = w.day(31, "10:00");
    let mut seen = vec![w.applied.level];
    for _ in 0..10 {
        let d = w.eval();
        w.apply(&d, 0);
        if *seen.last().unwrap() != d.level {
            seen.push(d.level);
        }
        w.now = d.next_evaluation.unwrap();
    }
    assert_eq!(
        seen,
        [
            L::None,
            L::Reminder,
            L::PersistentBanner,
            L::RestrictedApps,
            L::FullLock
        ]
    );
}

#[test]
fn the_rbi_draft_needs_90_days_and_two_notices() {
    let mut w = World::new();
    w.profile = &IN_RBI_2026_DRAFT;
    w.settings = IN_RBI_2026_DRAFT.defaults;
    // Walk the timeline hour by hour; the device acknowledges notices 3 hours after they
    // are queued, and the server applies every decision.
    w.now = w.day(1, "00:00");
    let end = w.day(120, "00:00");
    let mut first = None;
    let mut second = None;
    let mut locked_at = None;
    while w.now < end {
        let d = w.eval();
        match d.notice_to_send {
            Some(NoticeKind::LockNotice) => first = Some(w.now),
            Some(NoticeKind::SecondLockNotice) => second = Some(w.now),
            _ => {}
        }
        if d.level >= L::RestrictedApps && locked_at.is_none() {
            locked_at = Some(w.now);
        }
        w.apply(&d, 3 * HOUR);
        w.now = w.now.plus_millis(HOUR);
    }
    let (first, second, locked_at) = (first.unwrap(), second.unwrap(), locked_at.unwrap());
    assert_eq!(
        first,
        w.day(60, "00:00"),
        "first notice at 60 days past due"
    );
    let first_ack = first.plus_millis(3 * HOUR);
    assert_eq!(second, first_ack.plus_millis(21 * DAY), "21 days later");
    let second_ack = second.plus_millis(3 * HOUR);
    assert!(locked_at >= second_ack.plus_millis(7 * DAY));
    assert!(locked_at >= w.day(90, "00:00"));
    assert_eq!(locked_at, w.day(90, "08:00"), "day 90, after quiet hours");
    assert_eq!(w.applied.level, L::FullLock);
}

#[test]
fn looser_settings_cannot_lock_early_under_the_rbi_profile() {
    let mut w = World::new();
    w.profile = &IN_RBI_2026_DRAFT;
    w.settings = DEFAULT_PROFILE.defaults; // never checked: the engine still applies the floors
    let early = w.day(20, "10:00");
    w.notice(NoticeKind::LockNotice, early, Some(early));
    w.notice(NoticeKind::SecondLockNotice, early, Some(early));
    w.applied(L::PersistentBanner, w.day(30, "10:00"));
    w.now = w.day(89, "12:00");
    assert!(w.eval().level < L::RestrictedApps);
    // Notices sent before 60 days past due are not the notices the profile requires.
    w.now = w.day(90, "12:00");
    let d = w.eval();
    assert_eq!(d.level, L::PersistentBanner);
    assert_eq!(d.notice_to_send, Some(NoticeKind::LockNotice));
    let (first, second) = (w.day(60, "10:00"), w.day(81, "10:00"));
    w.notice(NoticeKind::LockNotice, first, Some(first));
    w.notice(NoticeKind::SecondLockNotice, second, Some(second));
    w.now = w.day(88, "12:00");
    assert!(
        w.eval().level < L::RestrictedApps,
        "second notice + 7 days not yet over"
    );
    w.now = w.day(90, "12:00");
    assert_eq!(w.eval().level, L::RestrictedApps);
}

#[test]
fn closed_and_paid_off_contracts() {
    let mut w = World::new();
    w.now = w.day(40, "10:00");
    w.applied(L::FullLock, w.day(31, "10:00"));
    for state in [ContractState::Cancelled, ContractState::WrittenOff] {
        w.state = state;
        let d = w.eval();
        assert_eq!(
            (d.phase, d.level, d.release),
            (Phase::Closed, L::None, false)
        );
        assert_eq!(d.next_evaluation, None);
        assert!(w.explain().starts_with("Contract "), "{}", w.explain());
    }
    w.state = ContractState::PaidOff;
    let d = w.eval();
    assert_eq!((d.phase, d.release), (Phase::PaidOff, true));
    assert!(
        w.explain().contains("a later reversal left"),
        "{}",
        w.explain()
    );
}

#[test]
fn quiet_hours_follow_the_device_zone_not_the_lender_zone() {
    let mut w = World::new(); // lender in Nairobi (UTC+3)
    w.device_zone = zone::lookup("Asia/Kolkata").unwrap(); // UTC+5:30
    let old = w.day(14, "10:00");
    w.notice(NoticeKind::LockNotice, old, Some(old));
    w.applied(L::PersistentBanner, w.day(7, "10:00"));
    // 21:00 in Nairobi is 23:30 in Kolkata: quiet there.
    w.now = utc("2026-01-30T18:00:00Z");
    let d = w.eval();
    assert!(d.holds.quiet_hours);
    assert_eq!(d.holds.quiet_hours_until, Some(utc("2026-01-31T02:30:00Z")));
    // 16:00 in Nairobi is 18:30 in Kolkata: not quiet.
    w.now = utc("2026-01-30T13:00:00Z");
    assert_eq!(w.eval().level, L::RestrictedApps);
}

#[test]
fn explanations_read_plainly() {
    let mut w = World::new();
    w.now = w.local(date(2026, 1, 1), "09:00");
    assert_eq!(
        w.explain(),
        "Up to date; installment 1 (KES 1000.00) due in 9 days (2026-01-10)"
    );
    w.now = w.local(date(2026, 2, 18), "02:00");
    let delivered = w.now.plus_millis(-3 * DAY);
    w.notice(NoticeKind::LockNotice, w.day(14, "10:00"), Some(delivered));
    w.applied(L::PersistentBanner, w.day(7, "10:00"));
    assert_eq!(
        w.explain(),
        "2 installments overdue (KES 2000.00), 39 days; lock notice delivered 3 days ago; \
         persistent banner shown; locks after quiet hours end at 08:00"
    );
}

#[test]
fn phases_round_trip() {
    for p in [
        Phase::Current,
        Phase::DueSoon,
        Phase::Overdue,
        Phase::LockNoticeDue,
        Phase::LockEligible,
        Phase::Locked,
        Phase::PaidOff,
        Phase::Closed,
    ] {
        assert_eq!(Phase::parse(p.as_str()), Some(p));
    }
}

/// A current account, a SIM change the lender restricts for: reminder, banner, the tamper
/// notice, restricted apps only after it was acknowledged 48 hours earlier and never in
/// quiet hours, never a full lock; any standing payment since lifts it, a reversed one
/// does not.
#[test]
fn a_restrict_tamper_signal_restricts_a_current_account_within_the_promises() {
    let mut w = World::new();
    w.pay(100_000); // the first installment, due today: the account is current
    w.settings.tamper.sim_changed = TamperAction::Restrict;
    w.now = w.day(1, "10:00");
    w.tamper.push(TamperFact {
        kind: TamperKind::SimChanged,
        recorded_at: w.now,
    });
    let d = w.eval();
    assert_eq!(d.level, L::Reminder, "graduated: one level at a time");
    assert_eq!(d.notice_to_send, Some(NoticeKind::TamperNotice));
    assert!(
        w.explain().contains("tamper signal (sim_changed)"),
        "{}",
        w.explain()
    );
    w.apply(&d, HOUR);
    let mut first_restricted = None;
    for hour in 1..(6 * 24) {
        w.now = w.day(1, "10:00").plus_millis(hour * HOUR);
        let d = w.eval();
        assert!(
            d.level <= L::RestrictedApps,
            "never a full lock for a signal"
        );
        assert_eq!(d.notice_to_send, None, "the tamper notice goes once");
        if d.level >= L::RestrictedApps && first_restricted.is_none() {
            first_restricted = Some(w.now);
            assert_eq!(d.phase, Phase::Locked);
            let local = zone::local(w.now, &w.device_zone);
            assert!(
                (8..20).contains(&local.hour()),
                "not in quiet hours: {local}"
            );
        }
        w.apply(&d, HOUR);
    }
    let acked = w.notices[0].delivered_at.unwrap();
    let at = first_restricted.expect("restricted in the end");
    assert!(at >= acked.plus_millis(48 * HOUR), "notice period kept");
    assert!(w.explain().contains("apps restricted"), "{}", w.explain());

    // A payment that is reversed does not lift it; one that stands does.
    let p = w.pay(1);
    let now = w.now;
    w.entries
        .push(LedgerEntry::reversal(PaymentId::new(), now, 1, p));
    assert_eq!(w.eval().level, L::RestrictedApps);
    w.now = w.now.plus_millis(60_000);
    w.pay(500);
    let d = w.eval();
    assert_eq!((d.level, d.phase), (L::None, Phase::Current));
    assert_eq!(d.holds.tamper_notice, None);
}

/// `notify` (the default) changes nothing; a profile that forbids tamper restrictions
/// ignores a `restrict` saved anyway; an open dispute holds it, a temporary unlock caps it.
#[test]
fn tamper_signals_without_restrict_or_under_a_forbidding_profile_change_nothing() {
    let mut w = World::new();
    w.pay(100_000);
    w.now = w.day(1, "10:00");
    let before = w.eval();
    w.tamper.push(TamperFact {
        kind: TamperKind::FactoryReset,
        recorded_at: w.now,
    });
    assert_eq!(w.eval(), before, "notify: the timeline only");
    w.settings.tamper.factory_reset = TamperAction::Restrict;
    w.profile = &IN_RBI_2026_DRAFT;
    let rbi_before = {
        let mut v = w.clone();
        v.tamper.clear();
        v.eval()
    };
    assert_eq!(
        w.eval(),
        rbi_before,
        "the profile's cap applies at evaluation too"
    );

    w.profile = &DEFAULT_PROFILE;
    w.applied(L::PersistentBanner, w.now.plus_millis(-3 * DAY));
    let now = w.now;
    w.notice(NoticeKind::TamperNotice, now, Some(now));
    w.now = w.now.plus_millis(3 * DAY);
    w.dispute(w.now.plus_millis(-HOUR), None, None);
    let d = w.eval();
    assert_eq!(d.level, L::PersistentBanner, "an open dispute holds it");
    assert!(d.holds.dispute);
    w.disputes.clear();
    w.dispute(
        w.now.plus_millis(-HOUR),
        Some(w.now.plus_millis(-HOUR)),
        Some(w.now.plus_millis(DAY)),
    );
    assert_eq!(w.eval().level, L::Reminder, "a temporary unlock caps it");
}
