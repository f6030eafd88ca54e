//! Property tests: the promises to borrowers hold for any contract, payments, notices,
//! disputes, settings (even settings that were never checked against the profile), zones
//! and times.

use super::tests::World;
use super::*;
use crate::contract::{ContractState, ScheduleSpec};
use crate::ids::PaymentId;
use crate::ledger::LedgerEntry;
use crate::profile::RestrictionLevel as L;
use crate::time::Timestamp;
use crate::zone;
use jiff::civil::date;
use proptest::prelude::*;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
const ZONES: [&str; 6] = [
    "Africa/Nairobi",
    "Asia/Kolkata",
    "America/Sao_Paulo",
    "Europe/Berlin",
    "America/New_York",
    "UTC",
];
const LEVELS: [L; 5] = [
    L::None,
    L::Reminder,
    L::PersistentBanner,
    L::RestrictedApps,
    L::FullLock,
];
const KINDS: [NoticeKind; 4] = [
    NoticeKind::DueReminder,
    NoticeKind::OverdueReminder,
    NoticeKind::LockNotice,
    NoticeKind::SecondLockNotice,
];

/// Settings drawn at random, deliberately *not* validated: the engine must keep the
/// profile's promises whatever was saved.
fn any_settings() -> impl Strategy<Value = PolicySettings> {
    (
        (0u16..10, 1u16..40, 1u16..120, 0u16..60, 1u16..100, 0u16..8),
        (0u32..600, 0u32..600, 0u32..200, 0u32..48),
        (0u16..1440, 0u16..1440, any::<u32>()),
    )
        .prop_map(
            |(
                (grace, banner, apps, extra, notice_after, every),
                (nh, sa, sb, step),
                (qs, qe, rem),
            )| {
                PolicySettings {
                    reminder_days_before: ReminderDays::from_bits(rem),
                    overdue_reminder_every_days: every,
                    grace_days: grace,
                    banner_after_days: banner,
                    restricted_apps_after_days: apps,
                    full_lock_after_days: apps + extra,
                    lock_notice_after_days: notice_after,
                    notice_min_hours_before_lock: nh,
                    second_notice_after_hours: sa,
                    second_notice_min_hours_before_lock: sb,
                    min_hours_per_level: step,
                    quiet_hours: QuietHours::from_minutes(qs, qe),
                    offline: OfflinePolicy::DEFAULT,
                    tamper: TamperPolicy::NOTIFY,
                }
            },
        )
}

#[derive(Clone, Debug)]
struct Scenario {
    /// Mostly active; sometimes paid off, cancelled or written off.
    state: usize,
    rbi: bool,
    settings: Option<PolicySettings>,
    lender_zone: usize,
    device_zone: usize,
    weekly: bool,
    payments: Vec<i64>,
    reversal: Option<usize>,
    now_offset: i64,
    /// (kind, created this long before now, acknowledged this long after creation)
    notices: Vec<(usize, i64, Option<i64>)>,
    /// (opened this long before now, closed this long after opening, unlock length)
    disputes: Vec<(i64, Option<i64>, Option<i64>)>,
    applied: (usize, i64),
}

fn any_scenario() -> impl Strategy<Value = Scenario> {
    (
        (
            any::<bool>(),
            prop::option::of(any_settings()),
            0..ZONES.len(),
            0..ZONES.len(),
            any::<bool>(),
        ),
        (
            prop::collection::vec(1i64..500_000, 0..4),
            prop::option::of(0usize..4),
            -10 * DAY..220 * DAY,
        ),
        // Mostly lock notices, mostly recent, mostly acknowledged: otherwise locks are rare.
        prop::collection::vec(
            (
                prop_oneof![3 => Just(2usize), 2 => Just(3usize), 1 => 0..2usize],
                prop_oneof![2 => 0..40 * DAY, 1 => 0..140 * DAY],
                prop::option::weighted(0.8, 0..5 * DAY),
            ),
            0..6,
        ),
        prop::collection::vec(
            (
                0..20 * DAY,
                prop::option::of(0..20 * DAY),
                prop::option::of(0..3 * DAY),
            ),
            0..2,
        ),
        (
            prop_oneof![1 => 0..LEVELS.len(), 1 => Just(2usize)],
            0..10 * DAY,
            0usize..16,
        ),
    )
        .prop_map(
            |(
                (rbi, settings, lender_zone, device_zone, weekly),
                (payments, reversal, now_offset),
                notices,
                disputes,
                (level, since, state),
            )| Scenario {
                state,
                rbi,
                settings,
                lender_zone,
                device_zone,
                weekly,
                payments,
                reversal,
                now_offset,
                notices,
                disputes,
                applied: (level, since),
            },
        )
}

fn build(s: &Scenario) -> World {
    let schedule = if s.weekly {
        ScheduleSpec::Weekly {
            first_due: date(2026, 1, 10),
            count: 26,
        }
    } else {
        ScheduleSpec::Monthly {
            first_due: date(2026, 1, 31),
            day_of_month: 31,
            count: 12,
        }
    };
    let mut w = World::with_schedule(ZONES[s.lender_zone], schedule);
    w.device_zone = zone::lookup(ZONES[s.device_zone]).unwrap();
    w.profile = if s.rbi {
        &IN_RBI_2026_DRAFT
    } else {
        &DEFAULT_PROFILE
    };
    w.settings = s.settings.unwrap_or(w.profile.defaults);
    w.now = w.day(0, "00:00").plus_millis(s.now_offset);
    for a in &s.payments {
        w.pay(*a);
    }
    if let Some(i) = s.reversal {
        if let Some(p) = w.entries.get(i).copied() {
            let now = w.now;
            w.entries
                .push(LedgerEntry::reversal(PaymentId::new(), now, p.amount, p.id));
        }
    }
    let now = w.now;
    for (kind, back, ack) in &s.notices {
        let created = now.plus_millis(-back);
        w.notice(KINDS[*kind], created, ack.map(|a| created.plus_millis(a)));
    }
    for (back, closed, unlock) in &s.disputes {
        let opened = now.plus_millis(-back);
        w.dispute(
            opened,
            closed.map(|c| opened.plus_millis(c)),
            unlock.map(|u| opened.plus_millis(u)),
        );
    }
    w.applied(LEVELS[s.applied.0], now.plus_millis(-s.applied.1));
    w.state = match s.state {
        13 => ContractState::PaidOff,
        14 => ContractState::Cancelled,
        15 => ContractState::WrittenOff,
        _ => ContractState::Active,
    };
    w
}

fn next_level(l: L) -> L {
    match l {
        L::None => L::Reminder,
        L::Reminder => L::PersistentBanner,
        L::PersistentBanner => L::RestrictedApps,
        L::RestrictedApps | L::FullLock => L::FullLock,
    }
}

/// Whether `kind` was queued in the current arrears' notice window and acknowledged at least
/// `hours` before now.
fn delivered_early_enough(w: &World, d: &PolicyDecision, kind: NoticeKind, hours: u32) -> bool {
    let Some(oldest) = d.standing.oldest_unpaid else {
        return false;
    };
    let after = w
        .settings
        .lock_notice_after_days
        .max(w.profile.min_lock_notice_after_days)
        .max(1);
    let window_day = oldest
        .due
        .checked_add(jiff::Span::new().days(i64::from(after)))
        .unwrap();
    let window = zone::start_of_day(window_day, w.terms.time_zone()).unwrap();
    let latest = w.now.plus_millis(-i64::from(hours) * HOUR);
    w.notices.iter().any(|n| {
        n.kind == kind
            && n.created_at >= window
            && n.created_at <= w.now
            && n.delivered_at
                .is_some_and(|at| at.max(n.created_at) <= latest)
    })
}

/// The lender-local midnight on which the calendar can next change `d` (computed here
/// independently of the engine), and the next local midnight.
fn calendar_wake(w: &World, d: &PolicyDecision) -> (Timestamp, Timestamp) {
    let tz = w.terms.time_zone();
    let today = zone::local(w.now, tz).date();
    let tomorrow = today.tomorrow().unwrap();
    let window = i32::from(w.settings.reminder_days_before.max().unwrap_or(0));
    let day = match d.standing.next_due {
        Some(n) if !d.standing.is_overdue() && (n.due - today).get_days() > window => n
            .due
            .checked_sub(jiff::Span::new().days(i64::from(window)))
            .unwrap(),
        _ => tomorrow,
    };
    (
        zone::start_of_day(day, tz).unwrap(),
        zone::start_of_day(tomorrow, tz).unwrap(),
    )
}

/// The world as the server knows it at `w.now`: acknowledgements, dispute closures and
/// anything else dated after now have not happened yet (each would wake the contract when it
/// does, so it is a new fact, not something the engine must foresee).
fn as_known_now(w: &mut World) {
    let now = w.now;
    w.notices.retain(|n| n.created_at <= now);
    for n in &mut w.notices {
        if n.delivered_at.is_some_and(|at| at > now) {
            n.delivered_at = None;
        }
    }
    w.disputes.retain(|x| x.opened_at <= now);
    for x in &mut w.disputes {
        if x.closed_at.is_some_and(|at| at > now) {
            x.closed_at = None;
        }
    }
}

/// Evaluates `w` now, applies the decision as the server would, then evaluates again, with
/// the same facts, at the instants `picks` (fractions of the gap) point to between now and
/// `next_evaluation`, and at the first and last millisecond of the gap: the decision must not
/// change. Returns the gap in milliseconds if the case applied (an active contract, no
/// notice queued, a gap not shortened to the one-second floor).
fn check_quiet_gap(w: &mut World, picks: &[f64]) -> Result<Option<i64>, TestCaseError> {
    let now = w.now;
    let d = w.eval();
    let active = w.state == ContractState::Active && !d.standing.paid_off;
    // A queued notice is a new fact: the server looks again a second later anyway.
    if !active || d.notice_to_send.is_some() {
        return Ok(None);
    }
    let next = d
        .next_evaluation
        .expect("active contracts are evaluated again");
    let gap = next.as_millis() - now.as_millis();
    // Floored: something may change within the second, by design (no tight loops).
    if gap <= 1000 {
        return Ok(None);
    }
    w.apply(&d, 0);
    let mut instants: Vec<i64> = picks
        .iter()
        .map(|f| 1 + ((gap - 1) as f64 * f) as i64)
        .collect();
    instants.extend([1, gap - 1]);
    for offset in instants {
        let t = now.plus_millis(offset);
        prop_assert!(t > now && t < next);
        w.now = t;
        let e = w.eval();
        let at = zone::local(t, w.terms.time_zone());
        prop_assert_eq!(e.level, d.level, "level at {} ({}), next {}", t, at, next);
        prop_assert_eq!(e.phase, d.phase, "phase at {} ({}), next {}", t, at, next);
        prop_assert_eq!(e.release, d.release);
        prop_assert_eq!(
            e.notice_to_send,
            None,
            "notice at {} ({}), next {}",
            t,
            at,
            next
        );
        prop_assert_eq!(e.lock_ready, d.lock_ready);
        prop_assert_eq!(e.holds, d.holds, "holds at {} ({})", t, at);
        // No earlier wake-up: nothing seen at `t` can be due before `next`. (It may be later:
        // a wake-up counted from the evaluation, such as the next graduated step while quiet
        // hours hold it, moves with `t`; so does the one-second floor.)
        let later = e.next_evaluation.expect("still active");
        prop_assert!(later >= next, "next {} at {}, was {}", later, t, next);
    }
    w.now = now;
    Ok(Some(gap))
}

/// Every promise, checked on one decision.
fn check(w: &World, d: &PolicyDecision) -> Result<(), TestCaseError> {
    let (s, p) = (&w.settings, w.profile);
    let now = w.now;
    let active = w.state == ContractState::Active && !d.standing.paid_off;
    // Next evaluation: after now, while there is anything left to decide, and no later than
    // the lender-local midnight the calendar can next change something on.
    if active {
        let t = d
            .next_evaluation
            .expect("active contracts are evaluated again");
        let (midnight, tomorrow) = calendar_wake(w, d);
        prop_assert!(t >= now.plus_millis(1000), "{t} vs {now}");
        prop_assert!(
            t <= midnight.max(now.plus_millis(1000)),
            "{t} after {midnight}"
        );
        if midnight > tomorrow {
            // A long sleep is only for a contract with nothing going on.
            prop_assert_eq!(d.phase, Phase::Current);
            prop_assert_eq!(d.level, L::None);
            prop_assert_eq!(d.notice_to_send, None);
        }
    } else {
        prop_assert_eq!(d.next_evaluation, None);
        prop_assert_eq!(d.level, L::None);
    }
    prop_assert_eq!(d.release, d.phase == Phase::PaidOff);
    // Nothing overdue: no restriction at all.
    if !d.standing.is_overdue() {
        prop_assert_eq!(d.level, L::None);
    }
    // A lock needs the days and the delivered notices (profile floors included).
    if d.level >= L::RestrictedApps {
        let days = d.standing.days_overdue;
        let apps = s
            .restricted_apps_after_days
            .max(p.min_restricted_apps_after_days);
        prop_assert!(days >= i32::from(apps), "locked at {days} days");
        let hours = s
            .notice_min_hours_before_lock
            .max(p.min_notice_hours_before_lock);
        prop_assert!(delivered_early_enough(w, d, NoticeKind::LockNotice, hours));
        let second = s
            .second_notice_after_hours
            .max(p.min_second_notice_after_hours);
        if second > 0 {
            let hours = s
                .second_notice_min_hours_before_lock
                .max(p.min_second_notice_hours_before_lock);
            prop_assert!(delivered_early_enough(
                w,
                d,
                NoticeKind::SecondLockNotice,
                hours
            ));
        }
        prop_assert_eq!(d.phase, Phase::Locked);
    }
    if d.level == L::FullLock {
        let full = s.full_lock_after_days.max(p.min_full_lock_after_days);
        prop_assert!(d.standing.days_overdue >= i32::from(full));
    }
    // No lock starts inside quiet hours (device-local).
    if d.level >= L::RestrictedApps && d.level > w.applied.level {
        let local = zone::local(now, &w.device_zone);
        let minute =
            u16::try_from(local.hour()).unwrap() * 60 + u16::try_from(local.minute()).unwrap();
        prop_assert!(!s.quiet_hours.contains(minute) && !p.required_quiet_hours.contains(minute));
    }
    // Disputes and temporary unlocks.
    if w.disputes.iter().any(|x| x.is_open_at(now)) {
        prop_assert!(d.level <= w.applied.level.max(L::Reminder));
        prop_assert!(!d.notice_to_send.is_some_and(NoticeKind::is_lock_notice));
    }
    if w.disputes
        .iter()
        .any(|x| x.unlock_in_force_at(now).is_some())
    {
        prop_assert!(d.level <= L::Reminder);
    }
    // Graduated: never more than one level up at a time.
    prop_assert!(d.level <= next_level(w.applied.level));
    prop_assert!(!explain(&w.input(), d).is_empty());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// Every promise holds for any single evaluation.
    #[test]
    fn every_decision_keeps_the_promises(s in any_scenario()) {
        let w = build(&s);
        check(&w, &w.eval())?;
    }

    /// Paying everything overdue lifts every restriction at once, whatever was in force.
    #[test]
    fn paying_everything_overdue_never_leaves_a_restriction(s in any_scenario()) {
        let mut w = build(&s);
        let owed = w.eval().standing.overdue_amount;
        if owed > 0 {
            w.pay(owed);
        }
        let d = w.eval();
        prop_assert_eq!(d.level, L::None);
        prop_assert!(!d.standing.is_overdue());
        prop_assert!(d.phase != Phase::Locked && d.phase != Phase::LockEligible);
    }

    /// A reversal of a payment puts the standing back where it was without the payment.
    #[test]
    fn a_reversal_reopens_arrears(s in any_scenario(), extra in 1i64..2_000_000) {
        let mut w = build(&s);
        let before = w.eval();
        let p = w.pay(extra);
        let now = w.now;
        w.entries.push(LedgerEntry::reversal(PaymentId::new(), now, extra, p));
        let after = w.eval();
        prop_assert_eq!(after.standing, before.standing);
        prop_assert_eq!(after.level, before.level);
    }

    /// Nothing changes before `next_evaluation`: with the same facts, any evaluation between
    /// now and then gives the same decision. This is what lets the scheduler sleep a current
    /// contract until its due-soon window opens instead of waking it every midnight.
    #[test]
    fn nothing_changes_before_next_evaluation(
        s in any_scenario(),
        picks in prop::collection::vec(0.0..1.0f64, 4),
    ) {
        let mut w = build(&s);
        as_known_now(&mut w);
        check_quiet_gap(&mut w, &picks)?;
    }

    /// Evaluation is deterministic: the same input gives the same decision.
    #[test]
    fn evaluation_is_deterministic(s in any_scenario()) {
        let w = build(&s);
        prop_assert_eq!(w.eval(), w.eval());
    }
}

/// One step of a simulated life: a device check-in this long after the evaluation (else the
/// scheduler's wake-up comes first), how long the device takes to acknowledge a notice, and
/// a payment (made when the step's evaluation comes).
type Step = (Option<i64>, i64, Option<i64>);

fn any_steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        (
            prop::option::weighted(0.3, 0i64..30 * HOUR),
            0i64..12 * HOUR,
            prop::option::weighted(0.05, 1i64..150_000),
        ),
        50..250,
    )
}

/// What a simulated life went through, for the guard test.
#[derive(Clone, Copy, Debug, Default)]
struct Life {
    lock_starts: usize,
    /// Sleeps of more than a day between evaluations.
    long_sleeps: usize,
    /// Evaluations before `next_evaluation` with nothing new, checked to change nothing.
    early_checks: usize,
}

/// A whole life: the server evaluates when told to, or earlier when the device checks in;
/// it is woken by every payment and every acknowledged notice, as the service is; it applies
/// every decision and looks again a second after queuing a notice. Every decision keeps
/// every promise, and an evaluation before `next_evaluation` with no new fact changes
/// nothing.
fn live(s: &Scenario, steps: &[Step]) -> Result<Life, TestCaseError> {
    let mut w = build(s);
    w.notices.clear();
    w.disputes.clear();
    w.applied = AppliedLevel::NONE;
    w.now = w.day(-5, "12:00");
    let mut life = Life::default();
    // The last decision, if nothing has happened since that could change it.
    let mut quiet: Option<PolicyDecision> = None;
    for &(checkin, ack, payment) in steps {
        let d = w.eval();
        check(&w, &d)?;
        if let Some(q) = quiet {
            if w.now < q.next_evaluation.unwrap() {
                life.early_checks += 1;
                prop_assert_eq!(d.level, q.level, "at {}", w.now);
                prop_assert_eq!(d.phase, q.phase, "at {}", w.now);
                prop_assert_eq!(d.release, q.release);
                prop_assert_eq!(d.notice_to_send, None, "at {}", w.now);
            }
        }
        let before = w.applied.level;
        w.apply(&d, ack);
        life.lock_starts += usize::from(d.level > before && d.level >= L::RestrictedApps);
        let Some(next) = d.next_evaluation else {
            break; // paid off or closed: nothing left to decide
        };
        let now = w.now;
        let mut at = if d.notice_to_send.is_some() {
            now.plus_millis(1000)
        } else {
            next
        };
        if let Some(early) = checkin {
            at = at.min(now.plus_millis(early.max(1000)));
        }
        // The device acknowledging a notice wakes the contract.
        let acked = w
            .notices
            .iter()
            .filter_map(|n| n.delivered_at)
            .filter(|t| *t > now)
            .min();
        let woken_by_ack = acked.is_some_and(|t| t <= at);
        if let Some(t) = acked {
            at = at.min(t);
        }
        prop_assert!(at > now);
        life.long_sleeps += usize::from(at.as_millis() - now.as_millis() > DAY);
        quiet = (d.notice_to_send.is_none() && !woken_by_ack && payment.is_none()).then_some(d);
        w.now = at;
        if let Some(amount) = payment {
            w.pay(amount);
        }
    }
    Ok(life)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// A simulated life keeps every promise (see [`live`]); a lock never starts without the
    /// days, the notices and daylight.
    #[test]
    fn a_simulated_life_keeps_the_promises(s in any_scenario(), steps in any_steps()) {
        live(&s, &steps)?;
    }
}

#[test]
fn the_property_scenarios_reach_every_phase() {
    // Guards the generators: if they stopped producing locks, the properties above would
    // pass vacuously.
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut seen = std::collections::HashSet::new();
    let (mut lock_starts, mut quiet_holds, mut dispute_holds) = (0, 0, 0);
    for _ in 0..3000 {
        let s = any_scenario().new_tree(&mut runner).unwrap().current();
        let w = build(&s);
        let d = w.eval();
        seen.insert(d.phase);
        lock_starts += usize::from(d.level > w.applied.level && d.level >= L::RestrictedApps);
        quiet_holds += usize::from(d.holds.quiet_hours);
        dispute_holds += usize::from(d.holds.dispute);
    }
    eprintln!(
        "{lock_starts} lock starts, {quiet_holds} quiet holds, {dispute_holds} dispute holds"
    );
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
        assert!(seen.contains(&p), "no scenario reached {p:?}");
    }
    assert!(lock_starts >= 30, "only {lock_starts} lock starts");
    assert!(quiet_holds >= 10, "only {quiet_holds} quiet-hour holds");
    assert!(dispute_holds >= 10, "only {dispute_holds} dispute holds");
}

#[test]
fn the_quiet_gap_property_sees_long_gaps_and_lives_still_lock() {
    // Guards `nothing_changes_before_next_evaluation` and the simulated life against passing
    // vacuously: many cases must have a gap to check, many of them longer than a day (the
    // sleeps this change introduced), and simulated lives must still reach locks.
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut checked, mut long, mut overdue_gaps) = (0, 0, 0);
    let cases = 3000;
    for _ in 0..cases {
        let s = any_scenario().new_tree(&mut runner).unwrap().current();
        let mut w = build(&s);
        as_known_now(&mut w);
        let overdue = w.eval().standing.is_overdue();
        if let Some(gap) = check_quiet_gap(&mut w, &[0.25, 0.5, 0.75]).unwrap() {
            checked += 1;
            long += usize::from(gap > DAY);
            overdue_gaps += usize::from(overdue);
        }
    }
    let lives = 200;
    let mut life = Life::default();
    let (mut lives_locked, mut lives_slept) = (0, 0);
    for _ in 0..lives {
        let s = any_scenario().new_tree(&mut runner).unwrap().current();
        let steps = any_steps().new_tree(&mut runner).unwrap().current();
        let l = live(&s, &steps).unwrap();
        lives_locked += usize::from(l.lock_starts > 0);
        lives_slept += usize::from(l.long_sleeps > 0);
        life.lock_starts += l.lock_starts;
        life.long_sleeps += l.long_sleeps;
        life.early_checks += l.early_checks;
    }
    eprintln!(
        "{checked}/{cases} gaps checked, {long} longer than a day, {overdue_gaps} overdue; \
         {lives} lives: {lives_locked} locked, {lives_slept} slept over a day; {life:?}"
    );
    assert!(checked >= cases / 2, "only {checked} gaps checked");
    assert!(long >= cases / 10, "only {long} gaps longer than a day");
    assert!(
        overdue_gaps >= cases / 10,
        "only {overdue_gaps} overdue gaps"
    );
    assert!(
        lives_locked >= lives / 10,
        "only {lives_locked} lives locked"
    );
    assert!(
        lives_slept >= lives / 4,
        "only {lives_slept} lives slept over a day"
    );
    assert!(
        life.early_checks >= 1000,
        "only {} early checks",
        life.early_checks
    );
}

/// Tamper signals over a scenario: (kind, recorded this long before now), which kinds the
/// lender restricts for (a bit each), a tamper notice (queued this long before now,
/// acknowledged this long after), and whether the scenario's payments (made now, so after
/// every signal, which they would cure) are moved to before the signals instead.
type Tampering = (Vec<(usize, i64)>, u8, Option<(i64, Option<i64>)>, bool);

fn any_tampering() -> impl Strategy<Value = Tampering> {
    (
        prop::collection::vec(
            (
                0..TamperKind::ALL.len(),
                prop_oneof![2 => 6 * DAY..30 * DAY, 1 => 1..6 * DAY],
            ),
            0..4,
        ),
        any::<u8>(),
        prop::option::weighted(0.7, (0..6 * DAY, prop::option::weighted(0.8, 0..2 * DAY))),
        prop::bool::weighted(0.7),
    )
}

fn with_tampering(s: &Scenario, t: &Tampering) -> World {
    let mut w = build(s);
    let now = w.now;
    if t.3 {
        for e in &mut w.entries {
            e.received_at = now.plus_millis(-31 * DAY);
        }
    }
    for (k, back) in &t.0 {
        w.tamper.push(TamperFact {
            kind: TamperKind::ALL[*k],
            recorded_at: now.plus_millis(-back),
        });
    }
    for (i, kind) in TamperKind::ALL.into_iter().enumerate() {
        if t.1 & (1 << i) != 0 {
            w.settings.tamper.set(kind, TamperAction::Restrict);
        }
    }
    if let Some((back, ack)) = t.2 {
        let created = now.plus_millis(-back);
        w.notice(
            NoticeKind::TamperNotice,
            created,
            ack.map(|a| created.plus_millis(a)),
        );
    }
    w
}

/// The earliest signal still counting against the device, computed here apart from the
/// engine: restricted for, and no payment after it that a reversal did not take back.
fn open_since(w: &World) -> Option<Timestamp> {
    use crate::ledger::EntryKind;
    w.tamper
        .iter()
        .filter(|f| f.recorded_at <= w.now)
        .filter(|f| w.settings.tamper.action(f.kind) == TamperAction::Restrict)
        .filter(|f| {
            !w.entries.iter().any(|p| {
                let reversed: i64 = w
                    .entries
                    .iter()
                    .filter(|r| r.kind == EntryKind::Reversal { of: p.id })
                    .map(|r| r.amount)
                    .sum();
                p.kind == EntryKind::Payment
                    && p.received_at > f.recorded_at
                    && p.received_at <= w.now
                    && p.amount > reversed
            })
        })
        .map(|f| f.recorded_at)
        .min()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// Tamper signals never break a promise: no full lock for a signal, no restriction for
    /// one under a profile that forbids it, restricted apps only after a tamper notice
    /// acknowledged the notice hours before (and never starting in quiet hours, never
    /// during a dispute, never above a reminder during a temporary unlock, one level at a
    /// time), and a standing payment after every signal leaves the decision as if there had
    /// been none.
    #[test]
    fn tamper_signals_keep_the_promises(s in any_scenario(), t in any_tampering(), pay in 1i64..5_000) {
        let w = with_tampering(&s, &t);
        let d = w.eval();
        let without = {
            let mut v = w.clone();
            v.tamper.clear();
            v.eval()
        };
        let (st, p, now) = (&w.settings, w.profile, w.now);
        let cap = p.tamper_cap();
        prop_assert!(d.level <= without.level.max(cap), "{:?} vs {:?}", d.level, without.level);
        prop_assert!(d.level <= next_level(w.applied.level));
        if d.level == L::FullLock {
            let full = st.full_lock_after_days.max(p.min_full_lock_after_days);
            prop_assert!(d.standing.days_overdue >= i32::from(full));
        }
        if cap == L::None {
            prop_assert_eq!(d, without);
        }
        if d.level >= L::RestrictedApps && without.level < L::RestrictedApps {
            let since = open_since(&w);
            prop_assert!(since.is_some());
            let hours = st.notice_min_hours_before_lock.max(p.min_notice_hours_before_lock);
            let latest = now.plus_millis(-i64::from(hours) * HOUR);
            prop_assert!(w.notices.iter().any(|n| n.kind == NoticeKind::TamperNotice
                && since.is_some_and(|t| n.created_at >= t)
                && n.created_at <= now
                && n.delivered_at.is_some_and(|a| a.max(n.created_at) <= latest)));
            prop_assert_eq!(d.phase, Phase::Locked);
        }
        if d.level >= L::RestrictedApps && d.level > w.applied.level {
            let local = zone::local(now, &w.device_zone);
            let minute =
                u16::try_from(local.hour()).unwrap() * 60 + u16::try_from(local.minute()).unwrap();
            prop_assert!(!st.quiet_hours.contains(minute) && !p.required_quiet_hours.contains(minute));
        }
        if w.disputes.iter().any(|x| x.is_open_at(now)) {
            prop_assert!(d.level <= w.applied.level.max(L::Reminder));
            prop_assert!(!d.notice_to_send.is_some_and(NoticeKind::is_lock_notice));
        }
        if w.disputes.iter().any(|x| x.unlock_in_force_at(now).is_some()) {
            prop_assert!(d.level <= L::Reminder);
        }
        if open_since(&w).is_none() {
            prop_assert_eq!(d.level, without.level);
        }
        prop_assert!(!explain(&w.input(), &d).is_empty());

        // A payment now, after every signal, cures them all.
        let mut paid = w.clone();
        paid.pay(pay);
        let mut plain = paid.clone();
        plain.tamper.clear();
        prop_assert_eq!(paid.eval().level, plain.eval().level);
        prop_assert_eq!(paid.eval().holds.tamper_notice, None);
    }

    /// With tamper signals too, nothing changes before `next_evaluation`.
    #[test]
    fn with_tamper_signals_nothing_changes_before_next_evaluation(
        s in any_scenario(),
        t in any_tampering(),
        picks in prop::collection::vec(0.0..1.0f64, 4),
    ) {
        let mut w = with_tampering(&s, &t);
        as_known_now(&mut w);
        check_quiet_gap(&mut w, &picks)?;
    }
}

#[test]
fn the_tamper_scenarios_reach_tamper_restrictions() {
    // Guards the property above against passing vacuously.
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut restricted, mut held) = (0, 0);
    for _ in 0..3000 {
        let s = any_scenario().new_tree(&mut runner).unwrap().current();
        let t = any_tampering().new_tree(&mut runner).unwrap().current();
        let w = with_tampering(&s, &t);
        let d = w.eval();
        let mut plain = w.clone();
        plain.tamper.clear();
        let without = plain.eval().level;
        restricted += usize::from(d.level >= L::RestrictedApps && without < L::RestrictedApps);
        held += usize::from(d.holds.tamper_notice.is_some());
    }
    eprintln!("{restricted} tamper restrictions, {held} held by the tamper notice");
    assert!(restricted >= 10, "only {restricted} tamper restrictions");
    assert!(held >= 100, "only {held} holds");
}
