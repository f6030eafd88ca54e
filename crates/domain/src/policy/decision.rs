//! What the policy engine reads ([`PolicyInput`]) and what it decides ([`PolicyDecision`]).

use super::notice::{Dispute, Notice, NoticeKind};
use super::profiles::ComplianceProfile;
use super::settings::PolicySettings;
use super::tamper::TamperFact;
use crate::contract::{ContractState, ContractTerms};
use crate::ledger::{LedgerEntry, Standing};
use crate::profile::RestrictionLevel;
use crate::time::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

/// The automatic restriction the device is under now, as last applied by the server from a
/// decision, and since when. A lender's manual lock is not part of it: manual commands are
/// outside the engine, which only governs automatic restrictions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedLevel {
    /// The level in force.
    pub level: RestrictionLevel,
    /// When it came into force (for graduated escalation).
    pub since: Timestamp,
}

impl AppliedLevel {
    /// No automatic restriction.
    pub const NONE: AppliedLevel = AppliedLevel {
        level: RestrictionLevel::None,
        since: Timestamp::from_millis(0),
    };
}

/// Everything the engine reads. Borrowed, so building one costs nothing.
#[derive(Clone, Copy, Debug)]
pub struct PolicyInput<'a> {
    /// The contract's state.
    pub state: ContractState,
    /// The contract's terms and schedule (with the lender's time zone for due dates).
    pub terms: &'a ContractTerms,
    /// The payments ledger, in append order.
    pub entries: &'a [LedgerEntry],
    /// Notices queued for the device, delivered or not, any order.
    pub notices: &'a [Notice],
    /// Disputes, open or closed, any order.
    pub disputes: &'a [Dispute],
    /// Tamper signals recorded for the device during the contract, any order.
    pub tamper: &'a [TamperFact],
    /// The automatic restriction currently in force.
    pub applied: AppliedLevel,
    /// The time of evaluation.
    pub now: Timestamp,
    /// The device's time zone, for quiet hours.
    pub device_zone: &'a TimeZone,
    /// The settings for this contract (the lender's, with the contract's overrides).
    pub settings: &'a PolicySettings,
    /// The lender's compliance profile; its floors apply even if the settings are looser.
    pub profile: &'a ComplianceProfile,
}

/// Where a contract stands, in one word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Nothing overdue, nothing due soon.
    Current,
    /// An installment is due within the reminder window.
    DueSoon,
    /// Something is overdue; no lock is in prospect yet.
    Overdue,
    /// Overdue long enough for lock notices; the notice period is running (or the notice
    /// has not been delivered yet), or the lock's day has not come.
    LockNoticeDue,
    /// A lock is permitted (days and notices) but held: quiet hours, a dispute, a temporary
    /// unlock, or the graduated pace.
    LockEligible,
    /// Apps are restricted or the device is fully locked.
    Locked,
    /// Everything is paid; the device is released for good.
    PaidOff,
    /// Cancelled or written off: nothing is enforced.
    Closed,
}

impl Phase {
    /// The stable name used in storage and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Current => "current",
            Phase::DueSoon => "due_soon",
            Phase::Overdue => "overdue",
            Phase::LockNoticeDue => "lock_notice_due",
            Phase::LockEligible => "lock_eligible",
            Phase::Locked => "locked",
            Phase::PaidOff => "paid_off",
            Phase::Closed => "closed",
        }
    }

    /// Reads [`Self::as_str`] back.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Phase::Current,
            Phase::DueSoon,
            Phase::Overdue,
            Phase::LockNoticeDue,
            Phase::LockEligible,
            Phase::Locked,
            Phase::PaidOff,
            Phase::Closed,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

/// Why a lock that the days overdue would allow is not yet allowed by the notices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "wait")]
pub enum NoticeWait {
    /// The notice has not been queued yet.
    NotSent {
        /// Which notice.
        kind: NoticeKind,
    },
    /// Queued, but the device has not acknowledged it.
    NotDelivered {
        /// Which notice.
        kind: NoticeKind,
    },
    /// Delivered; the notice period runs until `until`.
    Period {
        /// Which notice.
        kind: NoticeKind,
        /// The end of its notice period.
        until: Timestamp,
    },
}

/// What held the level below what the days overdue alone would give.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holds {
    /// A lock notice still stands between the device and a lock.
    pub notice: Option<NoticeWait>,
    /// An open dispute stopped an escalation.
    pub dispute: bool,
    /// A temporary unlock is in force until then.
    pub temporary_unlock_until: Option<Timestamp>,
    /// Quiet hours stopped a lock from starting.
    pub quiet_hours: bool,
    /// When those quiet hours end (`None` if the quiet hours cover the whole day).
    pub quiet_hours_until: Option<Timestamp>,
    /// Graduated escalation: the next level may start at this time.
    pub next_step_at: Option<Timestamp>,
    /// A tamper signal the lender restricts for is held at the banner until its tamper
    /// notice has been acknowledged and its period has run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tamper_notice: Option<NoticeWait>,
}

/// What the engine decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyDecision {
    /// Where the contract stands.
    pub phase: Phase,
    /// The automatic restriction the device should be under now.
    pub level: RestrictionLevel,
    /// A notice the server must queue for delivery now (then evaluate again).
    pub notice_to_send: Option<NoticeKind>,
    /// Paid off: release the device for ever.
    pub release: bool,
    /// The earliest time the decision (level, phase, notice, release) could change without
    /// new input (a payment or reversal, a delivered notice, a dispute opened or closed, which
    /// the service wakes the contract for): at least one second after `now`; `None` when only
    /// new input can change it (paid off, closed).
    ///
    /// Not "at least daily": a contract that is current with its next installment outside
    /// the due-soon window sleeps until the lender-local midnight that opens the window
    /// (`reminder_days_before`'s largest day before the due date). Only overdue contracts and
    /// those inside the window wake at every local midnight, so a portfolio of mostly current
    /// contracts no longer comes due all at once at 00:00 (the "midnight wave"). Changed
    /// settings are new input as well: a sleeping contract sees them when woken.
    pub next_evaluation: Option<Timestamp>,
    /// Payments against the schedule, as of today in the lender's zone.
    pub standing: Standing,
    /// What held the level back.
    pub holds: Holds,
    /// Days overdue and delivered notices permit a lock (it may still be held).
    pub lock_ready: bool,
}
