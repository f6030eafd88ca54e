//! Facts the engine (and the explanation) derive from the input: the settings in force,
//! what the lock notices say, and what the disputes say.

use super::decision::PolicyInput;
use super::notice::{Dispute, Notice, NoticeKind};
use super::profiles::ComplianceProfile;
use super::settings::{PolicySettings, QuietHours, ReminderDays};
use super::tamper::{paid_after, TamperAction};
use crate::ledger::Standing;
use crate::time::Timestamp;
use crate::zone;

pub(super) const HOUR_MS: i64 = 3_600_000;
pub(super) const DAY_MS: i64 = 24 * HOUR_MS;

/// The settings in force: the lender's, raised to the profile's floors wherever they are
/// looser, so a policy saved before a profile tightened still cannot lock early.
#[derive(Clone, Copy, Debug)]
pub(super) struct Effective {
    pub grace: u16,
    pub banner: u16,
    pub apps: u16,
    pub full: u16,
    pub notice_after: u16,
    pub notice_ms: i64,
    pub second_after_ms: i64,
    pub second_before_ms: i64,
    pub step_ms: i64,
    pub quiet: QuietHours,
    pub required_quiet: QuietHours,
    pub reminders: ReminderDays,
    pub overdue_every: u16,
}

impl Effective {
    pub(super) fn new(s: &PolicySettings, p: &ComplianceProfile) -> Self {
        let hours = |a: u32, b: u32| i64::from(a.max(b)) * HOUR_MS;
        let apps = s
            .restricted_apps_after_days
            .max(p.min_restricted_apps_after_days);
        Effective {
            grace: s.grace_days.max(p.min_grace_days),
            banner: s.banner_after_days.max(p.min_banner_after_days),
            apps,
            full: s
                .full_lock_after_days
                .max(p.min_full_lock_after_days)
                .max(apps),
            notice_after: s
                .lock_notice_after_days
                .max(p.min_lock_notice_after_days)
                .max(1),
            notice_ms: hours(
                s.notice_min_hours_before_lock,
                p.min_notice_hours_before_lock,
            ),
            second_after_ms: hours(s.second_notice_after_hours, p.min_second_notice_after_hours),
            second_before_ms: hours(
                s.second_notice_min_hours_before_lock,
                p.min_second_notice_hours_before_lock,
            ),
            step_ms: hours(s.min_hours_per_level, p.min_hours_per_level),
            quiet: s.quiet_hours,
            required_quiet: p.required_quiet_hours,
            reminders: s.reminder_days_before,
            overdue_every: s.overdue_reminder_every_days,
        }
    }

    /// Whether `minute` (device-local) is inside the lender's or the profile's quiet hours.
    pub(super) fn is_quiet(&self, minute: u16) -> bool {
        self.quiet.contains(minute) || self.required_quiet.contains(minute)
    }
}

/// What the notices say about the current arrears.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct NoticeFacts {
    /// Any notice was queued since today's start (lender zone): one reminder a day at most.
    pub any_today: bool,
    pub first: LockNoticeFacts,
    pub second: LockNoticeFacts,
}

#[derive(Clone, Copy, Debug, Default)]
pub(super) struct LockNoticeFacts {
    /// Queued within the current arrears' notice window.
    pub created: bool,
    /// Earliest acknowledged delivery of such a notice.
    pub delivered: Option<Timestamp>,
}

impl NoticeFacts {
    /// The facts for `input`, whose standing today is `standing`, where lock notices are
    /// due from `notice_after` days overdue.
    pub(super) fn for_input(
        input: &PolicyInput<'_>,
        standing: &Standing,
        notice_after: u16,
    ) -> Self {
        if input.notices.is_empty() {
            // Most contracts have no notices; skip the time-zone arithmetic.
            return Self::default();
        }
        let zone = input.terms.time_zone();
        let today_start = zone::start_of_day(standing.as_of, zone).unwrap_or(input.now);
        let window_start = if standing.is_overdue() {
            standing
                .oldest_unpaid
                .and_then(|u| {
                    u.due
                        .checked_add(jiff::Span::new().try_days(i64::from(notice_after)).ok()?)
                        .ok()
                })
                .and_then(|d| zone::start_of_day(d, zone))
        } else {
            None
        };
        Self::scan(input.notices, input.now, today_start, window_start)
    }

    /// Reads the notices once. Lock notices count only if queued on or after `window_start`:
    /// the start of the day the *current* arrears (counted from the oldest unpaid
    /// installment) became old enough for a lock notice. A warning about arrears that were
    /// since cured is not a warning about these, and a notice sent earlier than the profile
    /// allows (say, before 60 days past due) is not the notice the profile requires.
    pub(super) fn scan(
        notices: &[Notice],
        now: Timestamp,
        today_start: Timestamp,
        window_start: Option<Timestamp>,
    ) -> Self {
        let mut f = NoticeFacts::default();
        for n in notices.iter().filter(|n| n.created_at <= now) {
            f.any_today |= n.created_at >= today_start;
            let slot = match n.kind {
                NoticeKind::LockNotice => &mut f.first,
                NoticeKind::SecondLockNotice => &mut f.second,
                // Tamper notices are about the signals, not the arrears (see `tamper_facts`).
                NoticeKind::DueReminder
                | NoticeKind::OverdueReminder
                | NoticeKind::TamperNotice => continue,
            };
            // Nothing overdue, or queued before the window: does not count.
            if !matches!(window_start, Some(start) if n.created_at >= start) {
                continue;
            }
            slot.created = true;
            // Acknowledged after `now` has not happened yet; acknowledged "before" it was
            // created is bad data, taken as delivered when created.
            if let Some(at) = n.delivered_at.map(|d| d.max(n.created_at)) {
                if at <= now {
                    slot.delivered = Some(slot.delivered.map_or(at, |e| e.min(at)));
                }
            }
        }
        f
    }
}

/// What the tamper signals say at `now`.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct TamperFacts {
    /// When the earliest signal still counting against the device was recorded: set to
    /// `restrict`, allowed by the profile, and not cured by a standing payment since.
    pub open_since: Option<Timestamp>,
    /// The tamper notices queued since then.
    pub notice: LockNoticeFacts,
}

/// Reads the tamper signals and tamper notices once.
pub(super) fn tamper_facts(input: &PolicyInput<'_>) -> TamperFacts {
    let now = input.now;
    let mut facts = TamperFacts::default();
    if input.tamper.is_empty()
        || input.profile.tamper_cap() == crate::profile::RestrictionLevel::None
    {
        return facts;
    }
    for f in input.tamper {
        if f.recorded_at > now
            || input.settings.tamper.action(f.kind) != TamperAction::Restrict
            || paid_after(input.entries, f.recorded_at, now)
        {
            continue;
        }
        facts.open_since = Some(
            facts
                .open_since
                .map_or(f.recorded_at, |t| t.min(f.recorded_at)),
        );
    }
    let Some(since) = facts.open_since else {
        return facts;
    };
    // Only a notice given about these signals counts: one from before them warned of
    // nothing that is happening now.
    for n in input.notices.iter().filter(|n| {
        n.kind == NoticeKind::TamperNotice && n.created_at >= since && n.created_at <= now
    }) {
        facts.notice.created = true;
        if let Some(at) = n.delivered_at.map(|d| d.max(n.created_at)) {
            if at <= now {
                let slot = &mut facts.notice.delivered;
                *slot = Some(slot.map_or(at, |e| e.min(at)));
            }
        }
    }
    facts
}

/// Whether a dispute is open at `now`, and the latest end of a temporary unlock in force.
pub(super) fn dispute_facts(disputes: &[Dispute], now: Timestamp) -> (bool, Option<Timestamp>) {
    let mut open = false;
    let mut unlock_until: Option<Timestamp> = None;
    for d in disputes {
        open |= d.is_open_at(now);
        if let Some(until) = d.unlock_in_force_at(now) {
            unlock_until = Some(unlock_until.map_or(until, |u| u.max(until)));
        }
    }
    (open, unlock_until)
}
