//! Standing: how a contract's payments cover its installments on a given date.

use super::LedgerEntry;
use crate::contract::Installment;
use crate::zone::day_number;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

/// One installment that still needs money, and how much.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DueInstallment {
    /// The installment's number (1 for the first).
    pub number: u32,
    /// Its due date in the lender's time zone.
    pub due: Date,
    /// Minor units still unpaid on it.
    pub remaining: i64,
}

/// A contract's standing on a date.
///
/// Money is applied to installments oldest first, whatever the order it arrived in: the net
/// total paid (payments less reversals) fills installment 1, then 2, and so on. A partial
/// payment therefore reduces the oldest arrears; an overpayment is carried forward to the
/// next installments; and a reversal takes money back from the newest installment it had
/// reached, which can make an earlier installment overdue again.
///
/// An installment is overdue from the day after its due date (both in the lender's zone).
///
/// `Standing` is `Copy` and computing it allocates nothing, so the policy engine can build
/// one per contract per pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Standing {
    /// The date this standing is for.
    pub as_of: Date,
    /// The sum of all installments.
    pub total_due: i64,
    /// Payments less reversals (never below zero).
    pub total_paid: i64,
    /// Paid beyond everything due by `as_of`: money carried forward to later installments,
    /// including any [`surplus`](Self::surplus).
    pub credit: i64,
    /// Paid beyond the whole contract (to refund or apply as the lender decides).
    pub surplus: i64,
    /// Installments due before `as_of` and not fully paid.
    pub overdue_count: u32,
    /// What is unpaid on those installments.
    pub overdue_amount: i64,
    /// The oldest installment not fully paid, due or not.
    pub oldest_unpaid: Option<DueInstallment>,
    /// Days since the oldest overdue installment's due date (1 on the day after it), or 0
    /// when nothing is overdue.
    pub days_overdue: i32,
    /// The first installment due on or after `as_of` that is not fully paid.
    pub next_due: Option<DueInstallment>,
    /// Every installment is fully paid.
    pub paid_off: bool,
}

impl Standing {
    /// The standing of `installments` (in due-date order, as a schedule builds them) under
    /// ledger `entries` on `as_of`. O(installments + entries), no allocation.
    ///
    /// Entries should have passed [`Ledger::validate`](super::Ledger::validate); if they have
    /// not, sums saturate and a negative net is treated as nothing paid, so this never panics.
    pub fn compute(installments: &[Installment], entries: &[LedgerEntry], as_of: Date) -> Self {
        let total_paid = entries
            .iter()
            .fold(0i64, |a, e| a.saturating_add(e.signed_amount()))
            .max(0);
        let mut left = total_paid;
        let mut s = Standing {
            as_of,
            total_due: 0,
            total_paid,
            credit: 0,
            surplus: 0,
            overdue_count: 0,
            overdue_amount: 0,
            oldest_unpaid: None,
            days_overdue: 0,
            next_due: None,
            paid_off: false,
        };
        for inst in installments {
            let amount = inst.amount.max(0);
            s.total_due = s.total_due.saturating_add(amount);
            let paid = amount.min(left);
            left -= paid;
            let remaining = amount - paid;
            // Comparing dates is cheap; day numbers are only needed once, for the oldest.
            let is_due = inst.due < as_of;
            if !is_due {
                s.credit = s.credit.saturating_add(paid);
            }
            if remaining == 0 {
                continue;
            }
            let unpaid = DueInstallment {
                number: inst.number,
                due: inst.due,
                remaining,
            };
            if s.oldest_unpaid.is_none() {
                s.oldest_unpaid = Some(unpaid);
                if is_due {
                    s.days_overdue = day_number(as_of).saturating_sub(day_number(inst.due));
                }
            }
            if is_due {
                s.overdue_count = s.overdue_count.saturating_add(1);
                s.overdue_amount = s.overdue_amount.saturating_add(remaining);
            } else if s.next_due.is_none() {
                s.next_due = Some(unpaid);
            }
        }
        s.surplus = left;
        s.credit = s.credit.saturating_add(left);
        s.paid_off = s.oldest_unpaid.is_none();
        s
    }

    /// What each installment has received, oldest first, as `(installment, paid)`. Lazy, so
    /// nothing is allocated unless the caller collects it.
    pub fn paid_per_installment<'a>(
        &self,
        installments: &'a [Installment],
    ) -> impl Iterator<Item = (&'a Installment, i64)> + 'a {
        let mut left = self.total_paid;
        installments.iter().map(move |inst| {
            let paid = inst.amount.max(0).min(left);
            left -= paid;
            (inst, paid)
        })
    }

    /// Whether anything is overdue.
    pub fn is_overdue(&self) -> bool {
        self.overdue_count > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::ScheduleSpec;
    use crate::ids::PaymentId;
    use crate::time::Timestamp;
    use jiff::civil::date;
    use proptest::prelude::*;

    fn three_monthly() -> Vec<Installment> {
        ScheduleSpec::Monthly {
            first_due: date(2026, 1, 10),
            day_of_month: 10,
            count: 3,
        }
        .installments(3000)
        .unwrap()
    }

    fn pay(amount: i64) -> LedgerEntry {
        LedgerEntry::payment(PaymentId::new(), Timestamp::from_millis(0), amount)
    }

    #[test]
    fn nothing_paid_becomes_overdue_the_day_after_the_due_date() {
        let inst = three_monthly();
        let on_due = Standing::compute(&inst, &[], date(2026, 1, 10));
        assert_eq!(on_due.overdue_count, 0);
        assert_eq!(on_due.next_due.unwrap().number, 1);
        let day_after = Standing::compute(&inst, &[], date(2026, 1, 11));
        assert_eq!(day_after.overdue_count, 1);
        assert_eq!(day_after.days_overdue, 1);
        assert_eq!(day_after.overdue_amount, 1000);
        assert_eq!(day_after.next_due.unwrap().number, 2);
        let later = Standing::compute(&inst, &[], date(2026, 2, 18));
        assert_eq!(
            (
                later.overdue_count,
                later.days_overdue,
                later.overdue_amount
            ),
            (2, 39, 2000)
        );
    }

    #[test]
    fn partial_payments_go_to_the_oldest_installment() {
        let inst = three_monthly();
        let s = Standing::compute(&inst, &[pay(1500)], date(2026, 2, 18));
        assert_eq!(s.overdue_count, 1);
        assert_eq!(s.overdue_amount, 500);
        assert_eq!(
            s.oldest_unpaid,
            Some(DueInstallment {
                number: 2,
                due: date(2026, 2, 10),
                remaining: 500
            })
        );
        assert_eq!(s.days_overdue, 8);
        let paid: Vec<i64> = s.paid_per_installment(&inst).map(|(_, p)| p).collect();
        assert_eq!(paid, [1000, 500, 0]);
    }

    #[test]
    fn overpayment_is_carried_forward_and_surplus_kept() {
        let inst = three_monthly();
        let s = Standing::compute(&inst, &[pay(1700)], date(2026, 1, 20));
        assert_eq!(s.overdue_count, 0);
        assert_eq!(s.credit, 700);
        assert_eq!(s.next_due.unwrap().remaining, 300);
        let s = Standing::compute(&inst, &[pay(3100)], date(2026, 1, 20));
        assert!(s.paid_off);
        assert_eq!((s.surplus, s.credit), (100, 2100));
        assert_eq!(s.next_due, None);
    }

    #[test]
    fn a_reversal_reopens_arrears() {
        let inst = three_monthly();
        let p = pay(2000);
        let s = Standing::compute(&inst, &[p], date(2026, 2, 18));
        assert!(!s.is_overdue());
        let r = LedgerEntry::reversal(PaymentId::new(), Timestamp::from_millis(1), 2000, p.id);
        let s = Standing::compute(&inst, &[p, r], date(2026, 2, 18));
        assert_eq!((s.overdue_count, s.days_overdue), (2, 39));
    }

    #[test]
    fn invalid_ledgers_do_not_panic() {
        let inst = three_monthly();
        let ghost = LedgerEntry::reversal(
            PaymentId::new(),
            Timestamp::from_millis(0),
            i64::MAX,
            PaymentId::new(),
        );
        let s = Standing::compute(
            &inst,
            &[pay(i64::MAX), pay(i64::MAX), ghost, ghost],
            date(2026, 5, 1),
        );
        assert!(s.total_paid >= 0);
        let s = Standing::compute(&[], &[], date(2026, 5, 1));
        assert!(s.paid_off);
    }

    proptest! {
        /// Whatever is paid, paid + unpaid = due, per installment and in total, and the
        /// overdue count and amount agree with the per-installment view.
        #[test]
        fn allocation_adds_up(payments in proptest::collection::vec(1i64..2000, 0..6), day in 0i64..200) {
            let inst = three_monthly();
            let entries: Vec<_> = payments.iter().map(|a| pay(*a)).collect();
            let as_of = date(2026, 1, 1).checked_add(jiff::Span::new().days(day)).unwrap();
            let s = Standing::compute(&inst, &entries, as_of);
            let per: Vec<_> = s.paid_per_installment(&inst).collect();
            let allocated: i64 = per.iter().map(|(_, p)| p).sum();
            prop_assert_eq!(allocated + s.surplus, s.total_paid);
            let overdue: Vec<_> = per.iter().filter(|(i, p)| i.due < as_of && *p < i.amount).collect();
            prop_assert_eq!(overdue.len() as u32, s.overdue_count);
            prop_assert_eq!(overdue.iter().map(|(i, p)| i.amount - p).sum::<i64>(), s.overdue_amount);
            prop_assert_eq!(s.paid_off, s.total_paid >= s.total_due);
            // Oldest first: no installment has money while an older one lacks it.
            for w in per.windows(2) {
                prop_assert!(w[1].1 == 0 || w[0].1 == w[0].0.amount);
            }
        }
    }
}
