//! What appears on a device's timeline.

use serde::{Deserialize, Serialize};

/// One kind of timeline entry. Stored by name; names are part of the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The lender enrolled the device.
    Enrolled,
    /// The device's agent registered its identity key for the first time.
    KeyRegistered,
    /// A different key registered for this device; held until approved.
    KeyChangeRequested,
    /// The lender approved a new key.
    KeyApproved,
    /// A command was accepted for a later time.
    CommandScheduled,
    /// The device was locked.
    Locked,
    /// The device was unlocked.
    Unlocked,
    /// The device was released for ever.
    Released,
    /// A scheduled command came due but no longer applied.
    CommandSuperseded,
    /// A scheduled command was dropped because the device was released.
    CommandCancelled,
    /// A check-in repeated or went back on its counter; refused.
    ReplayRefused,
    /// An installment contract was attached to the device.
    ContractCreated,
    /// A payment was recorded against the device's contract.
    PaymentRecorded,
    /// A payment was reversed (chargeback, bounced transfer).
    PaymentReversed,
    /// A reminder or lock notice was queued for the device.
    NoticeQueued,
    /// The device acknowledged notices at a check-in.
    NoticeDelivered,
    /// The policy engine changed the automatic restriction level.
    RestrictionChanged,
    /// The contract was paid off.
    ContractPaidOff,
    /// A dispute was opened.
    DisputeOpened,
    /// Support granted a temporary unlock.
    TemporaryUnlock,
    /// A dispute was closed.
    DisputeClosed,
    /// The device reported tampering it saw (a clock set back), at a check-in. Written for
    /// the reports of agents that send version 2 check-ins; version 3 sends tamper
    /// signals, recorded as [`EventKind::Tamper`].
    TamperReported,
    /// An offline unlock code was issued (with a payment, or by staff).
    CodeIssued,
    /// The device reported, at a check-in, that it took an offline unlock code.
    CodeRedeemed,
    /// Someone looked the device's IMEI up in the public check (a buyer, perhaps: the
    /// phone may be for sale).
    ImeiChecked,
    /// A tamper signal (a changed SIM, a clock set back, root or a debugger, a burst of
    /// wrong codes, a factory reset), recorded once however often the device repeats it;
    /// the detail starts with the signal's kind (`sim_changed: ...`).
    Tamper,
    /// A call from Android's Device Lock Controller (a check-in, a provisioning report, a
    /// paused provisioning, a country check, a new push token, the end of the program);
    /// the detail starts with what happened (`checkin: ready_for_provision`).
    Android,
}

impl EventKind {
    /// The stable name used in storage and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Enrolled => "enrolled",
            EventKind::KeyRegistered => "key_registered",
            EventKind::KeyChangeRequested => "key_change_requested",
            EventKind::KeyApproved => "key_approved",
            EventKind::CommandScheduled => "command_scheduled",
            EventKind::Locked => "locked",
            EventKind::Unlocked => "unlocked",
            EventKind::Released => "released",
            EventKind::CommandSuperseded => "command_superseded",
            EventKind::CommandCancelled => "command_cancelled",
            EventKind::ReplayRefused => "replay_refused",
            EventKind::ContractCreated => "contract_created",
            EventKind::PaymentRecorded => "payment_recorded",
            EventKind::PaymentReversed => "payment_reversed",
            EventKind::NoticeQueued => "notice_queued",
            EventKind::NoticeDelivered => "notice_delivered",
            EventKind::RestrictionChanged => "restriction_changed",
            EventKind::ContractPaidOff => "contract_paid_off",
            EventKind::DisputeOpened => "dispute_opened",
            EventKind::TemporaryUnlock => "temporary_unlock",
            EventKind::DisputeClosed => "dispute_closed",
            EventKind::TamperReported => "tamper_reported",
            EventKind::CodeIssued => "code_issued",
            EventKind::CodeRedeemed => "code_redeemed",
            EventKind::ImeiChecked => "imei_checked",
            EventKind::Tamper => "tamper",
            EventKind::Android => "android",
        }
    }

    /// Reads [`Self::as_str`] back.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Every kind.
    pub const ALL: [EventKind; 27] = [
        EventKind::Enrolled,
        EventKind::KeyRegistered,
        EventKind::KeyChangeRequested,
        EventKind::KeyApproved,
        EventKind::CommandScheduled,
        EventKind::Locked,
        EventKind::Unlocked,
        EventKind::Released,
        EventKind::CommandSuperseded,
        EventKind::CommandCancelled,
        EventKind::ReplayRefused,
        EventKind::ContractCreated,
        EventKind::PaymentRecorded,
        EventKind::PaymentReversed,
        EventKind::NoticeQueued,
        EventKind::NoticeDelivered,
        EventKind::RestrictionChanged,
        EventKind::ContractPaidOff,
        EventKind::DisputeOpened,
        EventKind::TemporaryUnlock,
        EventKind::DisputeClosed,
        EventKind::TamperReported,
        EventKind::CodeIssued,
        EventKind::CodeRedeemed,
        EventKind::ImeiChecked,
        EventKind::Tamper,
        EventKind::Android,
    ];

    /// The timeline entry recorded when a command takes effect.
    pub fn for_applied(command: crate::CommandKind) -> Self {
        match command {
            crate::CommandKind::Lock => EventKind::Locked,
            crate::CommandKind::Unlock => EventKind::Unlocked,
            crate::CommandKind::Release => EventKind::Released,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in [
            EventKind::Enrolled,
            EventKind::ReplayRefused,
            EventKind::KeyApproved,
            EventKind::Tamper,
        ] {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
        }
    }
}
