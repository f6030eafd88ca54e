//! Tamper signals and the lender's policy for them.
//!
//! A device reports what enforcement needs to know about attempts on it, and nothing about
//! its user: that its SIM card is not the one it was enrolled with, that its clock was set
//! back, that it is rooted or being debugged, that wrong unlock codes were typed in a burst.
//! The server adds one it can see for itself: a factory reset. Each signal goes on the
//! device's timeline once; what else happens is the lender's choice per kind, within its
//! compliance profile: `notify` (the timeline entry only) or `restrict`.
//!
//! A `restrict` signal does not lock by itself. It enters the policy engine as a fact
//! ([`TamperFact`]) and raises the level the engine aims for to at most restricted apps
//! (never a full lock: a signal is a suspicion, not a default), capped by the profile's
//! [`max_tamper_level`](super::ComplianceProfile::max_tamper_level). Everything that guards
//! an automatic lock guards this one too: a tamper notice the device acknowledged at least
//! the notice hours before, one level at a time, never starting in quiet hours, held by an
//! open dispute, capped by a temporary unlock. Emergency calls, the network and the
//! lender's app stay open as in every restriction.
//!
//! A signal stops counting ("is cured") as soon as a payment received after it stands (is
//! not reversed): the borrower always has a way out that needs nobody's attention, which
//! the lock screen names. The lender lifts it with a temporary unlock (support, through a
//! dispute) or by setting the kind back to `notify`.

use crate::ledger::{EntryKind, LedgerEntry};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// What a tamper signal says. Names are stored, and are part of the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TamperKind {
    /// The SIM card differs from the one the device first saw (it keeps only a salted hash
    /// of that one, and reports only that it changed).
    SimChanged,
    /// The wall clock was set back behind the device's trusted time.
    ClockSetBack,
    /// The platform reports the device rooted or a debugger attached.
    DebugOrRoot,
    /// Several wrong offline unlock codes were typed within a short window.
    WrongCodes,
    /// The device came back from a factory reset (seen by the server, not reported).
    FactoryReset,
}

impl TamperKind {
    /// Every kind.
    pub const ALL: [TamperKind; 5] = [
        TamperKind::SimChanged,
        TamperKind::ClockSetBack,
        TamperKind::DebugOrRoot,
        TamperKind::WrongCodes,
        TamperKind::FactoryReset,
    ];

    /// The stable name used in storage, JSON and timeline texts.
    pub fn as_str(self) -> &'static str {
        match self {
            TamperKind::SimChanged => "sim_changed",
            TamperKind::ClockSetBack => "clock_set_back",
            TamperKind::DebugOrRoot => "debug_or_root",
            TamperKind::WrongCodes => "wrong_codes",
            TamperKind::FactoryReset => "factory_reset",
        }
    }

    /// Reads [`Self::as_str`] back.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// What the lender wants done about one kind of signal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TamperAction {
    /// A timeline entry (which integrations can follow), nothing on the device.
    #[default]
    Notify,
    /// Also restrict the device, through the policy engine and within the profile.
    Restrict,
}

/// The lender's action per kind of signal; `notify` for every kind unless set. Part of
/// [`PolicySettings`](super::PolicySettings), set with the rest of the policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TamperPolicy {
    /// See [`TamperKind::SimChanged`].
    pub sim_changed: TamperAction,
    /// See [`TamperKind::ClockSetBack`].
    pub clock_set_back: TamperAction,
    /// See [`TamperKind::DebugOrRoot`].
    pub debug_or_root: TamperAction,
    /// See [`TamperKind::WrongCodes`].
    pub wrong_codes: TamperAction,
    /// See [`TamperKind::FactoryReset`].
    pub factory_reset: TamperAction,
}

impl TamperPolicy {
    /// Notify only, for every kind.
    pub const NOTIFY: TamperPolicy = TamperPolicy {
        sim_changed: TamperAction::Notify,
        clock_set_back: TamperAction::Notify,
        debug_or_root: TamperAction::Notify,
        wrong_codes: TamperAction::Notify,
        factory_reset: TamperAction::Notify,
    };

    /// The action for `kind`.
    pub fn action(&self, kind: TamperKind) -> TamperAction {
        match kind {
            TamperKind::SimChanged => self.sim_changed,
            TamperKind::ClockSetBack => self.clock_set_back,
            TamperKind::DebugOrRoot => self.debug_or_root,
            TamperKind::WrongCodes => self.wrong_codes,
            TamperKind::FactoryReset => self.factory_reset,
        }
    }

    /// Sets the action for `kind`.
    pub fn set(&mut self, kind: TamperKind, action: TamperAction) {
        let slot = match kind {
            TamperKind::SimChanged => &mut self.sim_changed,
            TamperKind::ClockSetBack => &mut self.clock_set_back,
            TamperKind::DebugOrRoot => &mut self.debug_or_root,
            TamperKind::WrongCodes => &mut self.wrong_codes,
            TamperKind::FactoryReset => &mut self.factory_reset,
        };
        *slot = action;
    }

    /// The first kind set to `restrict`, if any.
    pub fn first_restricting(&self) -> Option<TamperKind> {
        TamperKind::ALL
            .into_iter()
            .find(|k| self.action(*k) == TamperAction::Restrict)
    }
}

/// A tamper signal as the engine reads it: what, and when the server recorded it (server
/// time; the device's own times are only claims).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TamperFact {
    /// What was signalled.
    pub kind: TamperKind,
    /// When the server recorded it.
    pub recorded_at: Timestamp,
}

/// Whether a payment received after `t` (and by `now`) still stands: not wholly reversed.
pub(super) fn paid_after(entries: &[LedgerEntry], t: Timestamp, now: Timestamp) -> bool {
    entries.iter().any(|p| {
        p.kind == EntryKind::Payment
            && p.received_at > t
            && p.received_at <= now
            && p.amount
                > entries
                    .iter()
                    .filter(|r| r.kind == EntryKind::Reversal { of: p.id })
                    .map(|r| r.amount)
                    .sum::<i64>()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_notify_is_the_default() {
        for k in TamperKind::ALL {
            assert_eq!(TamperKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(TamperPolicy::default(), TamperPolicy::NOTIFY);
        let p: TamperPolicy = serde_json::from_str(r#"{"sim_changed":"restrict"}"#).unwrap();
        assert_eq!(p.action(TamperKind::SimChanged), TamperAction::Restrict);
        assert_eq!(p.action(TamperKind::FactoryReset), TamperAction::Notify);
        assert_eq!(p.first_restricting(), Some(TamperKind::SimChanged));
        assert!(serde_json::from_str::<TamperPolicy>(r#"{"sim":"restrict"}"#).is_err());
        assert!(serde_json::from_str::<TamperPolicy>(r#"{"sim_changed":"lock"}"#).is_err());
    }
}
