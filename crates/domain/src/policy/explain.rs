//! Plain-language explanations of decisions, for the console, support and the borrower.
//!
//! Kept apart from [`evaluate`](super::evaluate) so the engine itself never builds a string:
//! only decisions someone looks at pay for their explanation.

use super::decision::{NoticeWait, Phase, PolicyDecision, PolicyInput};
use super::facts::{dispute_facts, tamper_facts, Effective, LockNoticeFacts, NoticeFacts};
use super::notice::NoticeKind;
use crate::contract::ContractState;
use crate::money::Money;
use crate::profile::RestrictionLevel;
use crate::time::Timestamp;
use crate::zone;

/// A sentence or two saying why `decision` is what it is, such as "2 installments overdue
/// (KES 3000.00), 38 days; lock notice delivered 3 days ago; locks after quiet hours end at
/// 08:00". Times are in the device's zone. `decision` must be `evaluate(input)`.
pub fn explain(input: &PolicyInput<'_>, decision: &PolicyDecision) -> String {
    let mut parts: Vec<String> = Vec::new();
    let s = &decision.standing;
    let money = |minor: i64| Money::new(input.terms.currency(), minor);
    match decision.phase {
        Phase::Closed => {
            let what = match input.state {
                ContractState::Cancelled => "cancelled",
                ContractState::WrittenOff => "written off",
                ContractState::Active | ContractState::PaidOff => "closed",
            };
            parts.push(format!("contract {what}; nothing is enforced"));
        }
        Phase::PaidOff => {
            parts.push(format!(
                "paid off: {} paid of {} owed",
                money(s.total_paid),
                money(s.total_due)
            ));
            if !s.paid_off {
                parts.push(format!(
                    "a later reversal left {} unpaid, but a release is final",
                    money(s.total_due.saturating_sub(s.total_paid))
                ));
            }
            parts.push("the device is released for good".into());
        }
        Phase::Current | Phase::DueSoon => {
            match s.next_due {
                Some(n) => {
                    let k = zone::day_number(n.due).saturating_sub(zone::day_number(s.as_of));
                    parts.push(format!(
                        "up to date; installment {} ({}) due {} ({})",
                        n.number,
                        money(n.remaining),
                        in_days(k),
                        n.due
                    ));
                }
                None => parts.push("up to date".into()),
            }
            if s.credit > 0 {
                parts.push(format!("{} paid ahead", money(s.credit)));
            }
        }
        Phase::Overdue | Phase::LockNoticeDue | Phase::LockEligible | Phase::Locked => {
            overdue_parts(input, decision, &mut parts);
        }
    }
    tamper_parts(input, decision, &mut parts);
    if let Some(kind) = decision.notice_to_send {
        parts.push(format!("{} queued now", notice_name(kind)));
    }
    let mut text = parts.join("; ");
    if let Some(first) = text.get(..1) {
        let upper = first.to_ascii_uppercase();
        text.replace_range(..1, &upper);
    }
    text
}

fn overdue_parts(input: &PolicyInput<'_>, decision: &PolicyDecision, parts: &mut Vec<String>) {
    use RestrictionLevel as L;
    let s = &decision.standing;
    let eff = Effective::new(input.settings, input.profile);
    let now = input.now;
    parts.push(format!(
        "{} overdue ({}), {}",
        plural(i64::from(s.overdue_count), "installment"),
        Money::new(input.terms.currency(), s.overdue_amount),
        plural(i64::from(s.days_overdue), "day")
    ));
    if s.days_overdue <= i32::from(eff.grace) {
        parts.push(format!(
            "within {} of grace",
            plural(i64::from(eff.grace), "day")
        ));
    }
    let facts = NoticeFacts::for_input(input, s, eff.notice_after);
    for (kind, f) in [
        (NoticeKind::LockNotice, facts.first),
        (NoticeKind::SecondLockNotice, facts.second),
    ] {
        if let Some(text) = notice_status(kind, f, now) {
            parts.push(text);
        }
    }
    match decision.level {
        L::None => {}
        L::Reminder => parts.push("reminder shown".into()),
        L::PersistentBanner => parts.push("persistent banner shown".into()),
        L::RestrictedApps => parts.push("apps restricted".into()),
        L::FullLock => parts.push("fully locked".into()),
    }
    let (dispute_open, _) = dispute_facts(input.disputes, now);
    let h = &decision.holds;
    if let Some(until) = h.temporary_unlock_until {
        parts.push(format!(
            "temporarily unlocked by support until {}",
            when(input, until)
        ));
    }
    if dispute_open {
        parts.push("dispute open: no new restriction starts while it is".into());
    }
    if h.quiet_hours {
        parts.push(match h.quiet_hours_until {
            Some(t) => format!("locks after quiet hours end at {}", when(input, t)),
            None => "quiet hours cover the whole day, so no lock starts".into(),
        });
    }
    match h.notice {
        Some(NoticeWait::NotSent { kind }) if decision.notice_to_send != Some(kind) => {
            parts.push(format!(
                "no lock until a {} is delivered",
                notice_name(kind)
            ));
        }
        Some(NoticeWait::NotSent { kind }) | Some(NoticeWait::NotDelivered { kind }) => {
            parts.push(format!(
                "no lock until the device acknowledges the {}",
                notice_name(kind)
            ));
        }
        Some(NoticeWait::Period { until, .. }) => {
            parts.push(format!("lock not before {}", when(input, until)));
        }
        None => {}
    }
    if let Some(at) = h.next_step_at {
        parts.push(format!("next level not before {}", when(input, at)));
    }
    let days = s.days_overdue;
    let upcoming = [
        (eff.banner, "persistent banner from day"),
        (eff.notice_after, "lock notice on day"),
        (eff.apps, "apps restricted from day"),
        (eff.full, "full lock from day"),
    ]
    .into_iter()
    .filter(|(d, _)| i32::from(*d) > days)
    .min_by_key(|(d, _)| *d);
    if let Some((day, what)) = upcoming {
        parts.push(format!("{what} {day}"));
    }
}

fn notice_status(kind: NoticeKind, f: LockNoticeFacts, now: Timestamp) -> Option<String> {
    let name = notice_name(kind);
    match (f.created, f.delivered) {
        (_, Some(at)) => Some(format!("{name} delivered {}", ago(now, at))),
        (true, None) => Some(format!("{name} sent, not yet acknowledged by the device")),
        (false, None) => None,
    }
}

fn notice_name(kind: NoticeKind) -> &'static str {
    match kind {
        NoticeKind::DueReminder => "due-date reminder",
        NoticeKind::OverdueReminder => "overdue reminder",
        NoticeKind::LockNotice => "lock notice",
        NoticeKind::SecondLockNotice => "second lock notice",
        NoticeKind::TamperNotice => "tamper notice",
    }
}

/// What open tamper signals do to the decision, if any counts.
fn tamper_parts(input: &PolicyInput<'_>, decision: &PolicyDecision, parts: &mut Vec<String>) {
    let facts = tamper_facts(input);
    let Some(since) = facts.open_since else {
        return;
    };
    let kinds: Vec<&str> = input
        .tamper
        .iter()
        .filter(|f| f.recorded_at >= since && f.recorded_at <= input.now)
        .filter(|f| input.settings.tamper.action(f.kind) == super::TamperAction::Restrict)
        .map(|f| f.kind.as_str())
        .collect();
    parts.push(format!(
        "tamper signal ({}) recorded {}: the lender restricts for it until a payment comes",
        kinds.join(", "),
        ago(input.now, since)
    ));
    if !decision.standing.is_overdue() {
        match decision.level {
            RestrictionLevel::None => {}
            RestrictionLevel::Reminder => parts.push("reminder shown".into()),
            RestrictionLevel::PersistentBanner => parts.push("persistent banner shown".into()),
            RestrictionLevel::RestrictedApps | RestrictionLevel::FullLock => {
                parts.push("apps restricted".into())
            }
        }
    }
    if let Some(text) = notice_status(NoticeKind::TamperNotice, facts.notice, input.now) {
        parts.push(text);
    }
    match decision.holds.tamper_notice {
        Some(NoticeWait::Period { until, .. }) => {
            parts.push(format!(
                "no restriction for it before {}",
                when(input, until)
            ));
        }
        Some(_) if decision.notice_to_send != Some(NoticeKind::TamperNotice) => parts
            .push("no restriction for it until the device acknowledges the tamper notice".into()),
        _ => {}
    }
}

fn plural(n: i64, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn in_days(k: i32) -> String {
    match k {
        0 => "today".into(),
        1 => "tomorrow".into(),
        k => format!("in {k} days"),
    }
}

/// "3 days ago", "5 hours ago", "12 minutes ago".
fn ago(now: Timestamp, then: Timestamp) -> String {
    let ms = now.as_millis().saturating_sub(then.as_millis()).max(0);
    let minutes = ms / 60_000;
    let hours = minutes / 60;
    let days = hours / 24;
    if days >= 2 {
        format!("{} ago", plural(days, "day"))
    } else if hours >= 1 {
        format!("{} ago", plural(hours, "hour"))
    } else {
        format!("{} ago", plural(minutes, "minute"))
    }
}

/// `t` in the device's zone: "08:00" today, "tomorrow 08:00", else "2026-05-10 08:00".
fn when(input: &PolicyInput<'_>, t: Timestamp) -> String {
    let local = zone::local(t, input.device_zone);
    let today = zone::local(input.now, input.device_zone).date();
    let hm = format!("{:02}:{:02}", local.hour(), local.minute());
    let days = zone::day_number(local.date()).saturating_sub(zone::day_number(today));
    match days {
        0 => hm,
        1 => format!("tomorrow {hm}"),
        _ => format!("{} {hm}", local.date()),
    }
}
