//! Notices sent to a device and disputes opened about a contract: the two kinds of record,
//! besides payments, that the policy engine reads.

use crate::ids::{DisputeId, NoticeId};
use crate::text::BoundedText;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// What a notice tells the borrower.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// An installment is due soon (or today).
    DueReminder,
    /// Something is overdue.
    OverdueReminder,
    /// The first warning that the device will be restricted.
    LockNotice,
    /// The second warning, where the profile requires one.
    SecondLockNotice,
    /// The warning that a tamper signal the lender restricts for will restrict the device
    /// unless a payment comes (or the lender lifts it). Gates a tamper restriction as the
    /// lock notice gates one for arrears.
    TamperNotice,
}

impl NoticeKind {
    /// The stable name used in storage, JSON and leases.
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::DueReminder => "due_reminder",
            NoticeKind::OverdueReminder => "overdue_reminder",
            NoticeKind::LockNotice => "lock_notice",
            NoticeKind::SecondLockNotice => "second_lock_notice",
            NoticeKind::TamperNotice => "tamper_notice",
        }
    }

    /// Reads [`Self::as_str`] back.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "due_reminder" => NoticeKind::DueReminder,
            "overdue_reminder" => NoticeKind::OverdueReminder,
            "lock_notice" => NoticeKind::LockNotice,
            "second_lock_notice" => NoticeKind::SecondLockNotice,
            "tamper_notice" => NoticeKind::TamperNotice,
            _ => return None,
        })
    }

    /// Whether this notice warns of a lock (and so gates one).
    pub fn is_lock_notice(self) -> bool {
        matches!(
            self,
            NoticeKind::LockNotice | NoticeKind::SecondLockNotice | NoticeKind::TamperNotice
        )
    }
}

/// A notice queued for a device.
///
/// It counts as delivered only once the device has acknowledged it at a check-in: a notice
/// the server merely sent may never have been seen, and locking on the strength of it would
/// be the "no warning" complaint all over again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// The notice.
    pub id: NoticeId,
    /// What it says.
    pub kind: NoticeKind,
    /// When the server queued it.
    pub created_at: Timestamp,
    /// When the device acknowledged it (server time at that check-in); `None` until then.
    pub delivered_at: Option<Timestamp>,
}

/// Who opened a dispute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisputeOpener {
    /// The borrower, from the device.
    Borrower,
    /// The lender's support staff.
    Support,
}

impl DisputeOpener {
    /// The stable name used in storage and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            DisputeOpener::Borrower => "borrower",
            DisputeOpener::Support => "support",
        }
    }

    /// Reads [`Self::as_str`] back.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "borrower" => DisputeOpener::Borrower,
            "support" => DisputeOpener::Support,
            _ => return None,
        })
    }
}

/// A dispute ("I paid: receipt reference ..."). While open, no automatic restriction
/// starts or escalates; support may also grant a temporary unlock until a set time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dispute {
    /// The dispute.
    pub id: DisputeId,
    /// Who opened it.
    pub opened_by: DisputeOpener,
    /// What the borrower or support wrote (a receipt reference, say).
    pub reason: BoundedText<500>,
    /// When it was opened.
    pub opened_at: Timestamp,
    /// When support closed it; `None` while open.
    pub closed_at: Option<Timestamp>,
    /// A temporary unlock granted by support: no restriction above a reminder until then,
    /// even if the dispute is closed sooner (a promise made to the borrower is kept).
    pub temporary_unlock_until: Option<Timestamp>,
}

impl Dispute {
    /// Whether the dispute is open at `now`.
    pub fn is_open_at(&self, now: Timestamp) -> bool {
        self.opened_at <= now && !matches!(self.closed_at, Some(c) if c <= now)
    }

    /// The end of a temporary unlock in force at `now`, if any.
    pub fn unlock_in_force_at(&self, now: Timestamp) -> Option<Timestamp> {
        self.temporary_unlock_until
            .filter(|until| self.opened_at <= now && *until > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in [
            NoticeKind::DueReminder,
            NoticeKind::OverdueReminder,
            NoticeKind::LockNotice,
            NoticeKind::SecondLockNotice,
            NoticeKind::TamperNotice,
        ] {
            assert_eq!(NoticeKind::parse(k.as_str()), Some(k));
        }
        for o in [DisputeOpener::Borrower, DisputeOpener::Support] {
            assert_eq!(DisputeOpener::parse(o.as_str()), Some(o));
        }
    }

    #[test]
    fn open_and_unlock_windows() {
        let t = Timestamp::from_millis;
        let d = Dispute {
            id: DisputeId::new(),
            opened_by: DisputeOpener::Borrower,
            reason: BoundedText::parse("I paid: M-Pesa QJK12345").unwrap(),
            opened_at: t(100),
            closed_at: Some(t(200)),
            temporary_unlock_until: Some(t(300)),
        };
        assert!(!d.is_open_at(t(99)));
        assert!(d.is_open_at(t(100)) && d.is_open_at(t(199)));
        assert!(!d.is_open_at(t(200)));
        assert_eq!(d.unlock_in_force_at(t(250)), Some(t(300)));
        assert_eq!(d.unlock_in_force_at(t(300)), None);
    }
}
