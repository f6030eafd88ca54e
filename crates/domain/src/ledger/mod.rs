//! The payments ledger: an append-only list of payments and reversals for one contract.
//!
//! Nothing is ever edited or deleted. A chargeback or a bounced transfer is a new
//! [`EntryKind::Reversal`] entry naming the payment it undoes, so the history of what the
//! borrower was told at each moment survives, and a reversal can re-open arrears.
//! [`Standing`] turns the ledger and a schedule into "what is paid, what is overdue".

mod standing;

pub use standing::{DueInstallment, Standing};

use crate::ids::PaymentId;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// What a ledger entry does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum EntryKind {
    /// Money received.
    Payment,
    /// Money taken back (chargeback, bounced transfer) from an earlier payment.
    Reversal {
        /// The payment being (partly) undone.
        of: PaymentId,
    },
}

/// One ledger entry. Amounts are always positive; the kind says which way the money moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// The entry's id (a reversal has its own id too).
    pub id: PaymentId,
    /// When the money arrived or was taken back, as the payment provider reported it.
    pub received_at: Timestamp,
    /// Minor units of the contract's currency; positive.
    pub amount: i64,
    /// Payment or reversal.
    #[serde(flatten)]
    pub kind: EntryKind,
}

impl LedgerEntry {
    /// A payment.
    pub fn payment(id: PaymentId, received_at: Timestamp, amount: i64) -> Self {
        Self {
            id,
            received_at,
            amount,
            kind: EntryKind::Payment,
        }
    }

    /// A reversal of (part of) payment `of`.
    pub fn reversal(id: PaymentId, received_at: Timestamp, amount: i64, of: PaymentId) -> Self {
        Self {
            id,
            received_at,
            amount,
            kind: EntryKind::Reversal { of },
        }
    }

    /// The entry's effect on what has been paid: positive for payments, negative for
    /// reversals.
    pub fn signed_amount(&self) -> i64 {
        match self.kind {
            EntryKind::Payment => self.amount,
            EntryKind::Reversal { .. } => self.amount.saturating_neg(),
        }
    }
}

/// Why a ledger (or an entry appended to it) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// Amounts are positive; direction comes from the kind.
    #[error("entry {id} has amount {amount}; amounts must be positive")]
    AmountNotPositive {
        /// The entry.
        id: PaymentId,
        /// What was given.
        amount: i64,
    },
    /// Two entries with one id.
    #[error("entry {0} appears twice")]
    DuplicateId(PaymentId),
    /// A reversal of a payment that is not earlier in the ledger.
    #[error("reversal {reversal} refers to {of}, which is not an earlier payment")]
    UnknownPayment {
        /// The reversal.
        reversal: PaymentId,
        /// What it names.
        of: PaymentId,
    },
    /// Reversals of one payment adding up to more than the payment.
    #[error("reversals of {of} add up to {reversed}, more than its {paid}")]
    ReversedTooMuch {
        /// The payment.
        of: PaymentId,
        /// Its amount.
        paid: i64,
        /// What its reversals add up to, including the refused one.
        reversed: i64,
    },
    /// The total left the range of minor units.
    #[error("ledger total out of range")]
    Overflow,
}

/// A validated, append-only ledger.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<LedgerEntry>", into = "Vec<LedgerEntry>")]
pub struct Ledger {
    entries: Vec<LedgerEntry>,
}

impl Ledger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// A ledger of `entries` in the order they were appended, if they are valid.
    pub fn from_entries(entries: Vec<LedgerEntry>) -> Result<Self, LedgerError> {
        Self::validate(&entries)?;
        Ok(Self { entries })
    }

    /// Checks entries in append order, in O(n): every amount positive, ids unique, every
    /// reversal naming an earlier *payment*, no payment reversed by more than it was, and
    /// the net total within range.
    pub fn validate(entries: &[LedgerEntry]) -> Result<(), LedgerError> {
        // id -> (amount paid, amount reversed so far); reversals are stored with paid = None.
        let mut seen: HashMap<PaymentId, (Option<i64>, i64)> =
            HashMap::with_capacity(entries.len());
        let mut net: i64 = 0;
        for e in entries {
            check_entry(e, |of| seen.get(&of).copied())?;
            if let EntryKind::Reversal { of } = e.kind {
                if let Some(slot) = seen.get_mut(&of) {
                    slot.1 = slot.1.saturating_add(e.amount);
                }
            }
            let paid = matches!(e.kind, EntryKind::Payment).then_some(e.amount);
            seen.insert(e.id, (paid, 0));
            net = net
                .checked_add(e.signed_amount())
                .ok_or(LedgerError::Overflow)?;
        }
        Ok(())
    }

    /// Appends `entry` if it is valid after the existing ones. O(n) in the ledger's length,
    /// which per contract is small.
    pub fn append(&mut self, entry: LedgerEntry) -> Result<(), LedgerError> {
        let lookup = |of: PaymentId| {
            let paid = self
                .entries
                .iter()
                .find(|e| e.id == of)
                .map(|e| match e.kind {
                    EntryKind::Payment => Some(e.amount),
                    EntryKind::Reversal { .. } => None,
                })?;
            let reversed = self
                .entries
                .iter()
                .filter(|e| e.kind == EntryKind::Reversal { of })
                .fold(0i64, |a, e| a.saturating_add(e.amount));
            Some((paid, reversed))
        };
        check_entry(&entry, lookup)?;
        self.net_paid()
            .checked_add(entry.signed_amount())
            .ok_or(LedgerError::Overflow)?;
        self.entries.push(entry);
        Ok(())
    }

    /// The entries in append order.
    pub fn entries(&self) -> &[LedgerEntry] {
        &self.entries
    }

    /// Payments less reversals.
    pub fn net_paid(&self) -> i64 {
        self.entries
            .iter()
            .fold(0i64, |a, e| a.saturating_add(e.signed_amount()))
    }
}

/// Checks one entry given a way to find an earlier entry by id: `Some((Some(paid), reversed))`
/// for a payment, `Some((None, _))` for a reversal, `None` when absent.
fn check_entry(
    e: &LedgerEntry,
    earlier: impl Fn(PaymentId) -> Option<(Option<i64>, i64)>,
) -> Result<(), LedgerError> {
    if e.amount <= 0 {
        return Err(LedgerError::AmountNotPositive {
            id: e.id,
            amount: e.amount,
        });
    }
    if earlier(e.id).is_some() {
        return Err(LedgerError::DuplicateId(e.id));
    }
    if let EntryKind::Reversal { of } = e.kind {
        let Some((Some(paid), reversed)) = earlier(of) else {
            return Err(LedgerError::UnknownPayment { reversal: e.id, of });
        };
        let reversed = reversed.saturating_add(e.amount);
        if reversed > paid {
            return Err(LedgerError::ReversedTooMuch { of, paid, reversed });
        }
    }
    Ok(())
}

impl TryFrom<Vec<LedgerEntry>> for Ledger {
    type Error = LedgerError;
    fn try_from(entries: Vec<LedgerEntry>) -> Result<Self, Self::Error> {
        Self::from_entries(entries)
    }
}

impl From<Ledger> for Vec<LedgerEntry> {
    fn from(l: Ledger) -> Self {
        l.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[test]
    fn reversals_must_name_an_earlier_payment_and_not_exceed_it() {
        let p = PaymentId::new();
        let mut l = Ledger::new();
        l.append(LedgerEntry::payment(p, t(1), 100)).unwrap();
        l.append(LedgerEntry::reversal(PaymentId::new(), t(2), 60, p))
            .unwrap();
        assert_eq!(l.net_paid(), 40);
        let too_much = LedgerEntry::reversal(PaymentId::new(), t(3), 41, p);
        assert_eq!(
            l.append(too_much),
            Err(LedgerError::ReversedTooMuch {
                of: p,
                paid: 100,
                reversed: 101
            })
        );
        let ghost = PaymentId::new();
        let r = LedgerEntry::reversal(PaymentId::new(), t(3), 1, ghost);
        assert_eq!(
            l.append(r),
            Err(LedgerError::UnknownPayment {
                reversal: r.id,
                of: ghost
            })
        );
        // A reversal of a reversal is refused: only payments can be reversed.
        let first_reversal = l.entries()[1].id;
        assert!(matches!(
            l.append(LedgerEntry::reversal(
                PaymentId::new(),
                t(4),
                1,
                first_reversal
            )),
            Err(LedgerError::UnknownPayment { .. })
        ));
        assert_eq!(
            l.append(LedgerEntry::payment(p, t(5), 1)),
            Err(LedgerError::DuplicateId(p))
        );
        assert!(matches!(
            l.append(LedgerEntry::payment(PaymentId::new(), t(5), 0)),
            Err(LedgerError::AmountNotPositive { .. })
        ));
        assert_eq!(l.entries().len(), 2, "refused entries are not appended");
    }

    #[test]
    fn a_reversal_before_its_payment_is_refused() {
        let p = PaymentId::new();
        let entries = vec![
            LedgerEntry::reversal(PaymentId::new(), t(1), 10, p),
            LedgerEntry::payment(p, t(2), 10),
        ];
        assert!(matches!(
            Ledger::validate(&entries),
            Err(LedgerError::UnknownPayment { .. })
        ));
    }

    #[test]
    fn totals_out_of_range_are_refused() {
        let entries = vec![
            LedgerEntry::payment(PaymentId::new(), t(1), i64::MAX),
            LedgerEntry::payment(PaymentId::new(), t(2), 1),
        ];
        assert_eq!(Ledger::validate(&entries), Err(LedgerError::Overflow));
    }

    #[test]
    fn json_shape() {
        let p = PaymentId::from_uuid(uuid::Uuid::nil());
        let e = LedgerEntry::reversal(p, t(5), 7, p);
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"id":"00000000-0000-0000-0000-000000000000","received_at":5,"amount":7,"kind":"reversal","of":"00000000-0000-0000-0000-000000000000"}"#
        );
        let back: LedgerEntry = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        assert_eq!(back, e);
    }

    proptest! {
        /// Appending one by one accepts exactly what `validate` accepts for the whole list.
        #[test]
        fn append_agrees_with_validate(
            ops in proptest::collection::vec((any::<bool>(), 0usize..8, -5i64..200), 0..30)
        ) {
            let ids: Vec<PaymentId> = (0..8).map(|_| PaymentId::new()).collect();
            let mut ledger = Ledger::new();
            let mut all = Vec::new();
            for (i, (is_payment, target, amount)) in ops.into_iter().enumerate() {
                let id = PaymentId::new();
                let id = if is_payment && target == 0 { ids[i % 8] } else { id };
                let entry = if is_payment {
                    LedgerEntry::payment(id, t(i as i64), amount)
                } else {
                    let of = ledger.entries().get(target).map_or(ids[target], |e| e.id);
                    LedgerEntry::reversal(id, t(i as i64), amount, of)
                };
                let mut candidate = all.clone();
                candidate.push(entry);
                let whole = Ledger::validate(&candidate);
                let one = ledger.append(entry);
                prop_assert_eq!(whole.is_ok(), one.is_ok());
                if one.is_ok() {
                    all = candidate;
                }
                prop_assert!(ledger.net_paid() >= 0);
            }
        }
    }
}
