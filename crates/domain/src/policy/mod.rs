//! The policy engine and what configures it.
//!
//! `(contract, payments, delivered notices, disputes, tamper signals, now, policy) ->
//! decision`: a pure function ([`evaluate`]) the scheduler runs whenever a contract's
//! `next_evaluation` comes, plus [`explain`] to put a decision into words. Lenders configure [`PolicySettings`] within
//! the floors of a [`ComplianceProfile`] they pick.

mod decision;
mod engine;
mod explain;
mod facts;
mod notice;
mod offline;
mod profiles;
mod settings;
mod tamper;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use decision::{AppliedLevel, Holds, NoticeWait, Phase, PolicyDecision, PolicyInput};
pub use engine::evaluate;
pub use explain::explain;
pub use notice::{Dispute, DisputeOpener, Notice, NoticeKind};
pub use offline::{OfflinePolicy, MAX_OFFLINE_LOCK_DAYS, MIN_OFFLINE_LOCK_DAYS};
pub use profiles::{ComplianceProfile, DEFAULT_PROFILE, IN_RBI_2026_DRAFT};
pub use settings::{
    PolicyError, PolicyOverrides, PolicySettings, QuietHours, ReminderDays, MAX_DAYS, MAX_HOURS,
};
pub use tamper::{TamperAction, TamperFact, TamperKind, TamperPolicy};
