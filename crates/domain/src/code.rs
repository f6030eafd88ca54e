//! Offline unlock codes as the rest of the system sees them: which format a device takes,
//! and what a code grants. The formats themselves live in the wire crate.

use crate::Standing;
use jiff::civil::Date;
use jiff::ToSpan;
use std::fmt;
use std::str::FromStr;

/// The longest a code issued today reaches: the longest a lease lasts.
pub const MAX_CODE_DAYS: i32 = 200;

/// Why no code goes with a payment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NoCode {
    /// The account is still behind after the payment: a code would keep a phone running
    /// offline that the policy may restrict online.
    #[error("the account is still {days} days overdue after this payment")]
    StillOverdue {
        /// Days overdue.
        days: i32,
    },
}

/// The paid-until date of a code issued on `today` for a contract standing as `standing`
/// (after the payment): the day before the earliest restriction the lender's policy could
/// apply if the next installment went unpaid (`restricted_after_days` past its due date),
/// so an offline borrower is held to exactly what an online one is. A paid-off contract
/// gets the longest code (its release comes with the next check-in). Never more than
/// [`MAX_CODE_DAYS`] ahead.
pub fn code_paid_until(
    standing: &Standing,
    restricted_after_days: u16,
    today: Date,
) -> Result<Date, NoCode> {
    if standing.days_overdue > 0 {
        return Err(NoCode::StillOverdue {
            days: standing.days_overdue,
        });
    }
    let cap = today.saturating_add(MAX_CODE_DAYS.days());
    let until = match (&standing.oldest_unpaid, standing.paid_off) {
        (Some(next), false) => next
            .due
            .saturating_add((i32::from(restricted_after_days) - 1).max(0).days()),
        _ => cap,
    };
    Ok(until.max(today).min(cap))
}

/// The code format a device is configured for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CodeFormat {
    /// lienlock's own 20-digit code: an absolute paid-until date and a 40-bit tag. The
    /// default for phones.
    #[default]
    Lc1,
    /// An OpenPAYGO Token (extended, 12 digits): for fleets that already run PAYG tooling.
    OpenPaygo,
}

impl CodeFormat {
    /// The stable name used in storage and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            CodeFormat::Lc1 => "lc1",
            CodeFormat::OpenPaygo => "openpaygo",
        }
    }
}

impl fmt::Display for CodeFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CodeFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "lc1" => Ok(CodeFormat::Lc1),
            "openpaygo" => Ok(CodeFormat::OpenPaygo),
            other => Err(format!(
                "unknown code format {other:?} (expected lc1 or openpaygo)"
            )),
        }
    }
}

/// What a code lets the device do until its date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CodeGrantKind {
    /// Keep running past an expired lease (the offline form of a renewed lease); does not
    /// lift a lender's lock.
    ExtendUntil,
    /// Also lift a lock (the payment cured the arrears that caused it).
    Unlock,
}

impl CodeGrantKind {
    /// The stable name used in storage and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            CodeGrantKind::ExtendUntil => "extend_until",
            CodeGrantKind::Unlock => "unlock",
        }
    }
}

impl FromStr for CodeGrantKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "extend_until" => Ok(CodeGrantKind::ExtendUntil),
            "unlock" => Ok(CodeGrantKind::Unlock),
            other => Err(format!(
                "unknown code kind {other:?} (expected unlock or extend_until)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::DueInstallment;
    use jiff::civil::date;

    fn standing(days_overdue: i32, next_due: Option<Date>, paid_off: bool) -> Standing {
        let next = next_due.map(|due| DueInstallment {
            number: 2,
            due,
            remaining: 100,
        });
        Standing {
            as_of: date(2026, 3, 1),
            total_due: 1000,
            total_paid: 500,
            credit: 0,
            surplus: 0,
            overdue_count: u32::from(days_overdue > 0),
            overdue_amount: 0,
            oldest_unpaid: next,
            days_overdue,
            next_due: next,
            paid_off,
        }
    }

    #[test]
    fn a_code_runs_to_the_day_before_the_policy_could_restrict() {
        let today = date(2026, 3, 1);
        let s = standing(0, Some(date(2026, 3, 31)), false);
        assert_eq!(code_paid_until(&s, 15, today), Ok(date(2026, 4, 14)));
        // A policy restricting on the first day overdue: the code ends on the due date.
        assert_eq!(code_paid_until(&s, 1, today), Ok(date(2026, 3, 31)));
        assert_eq!(code_paid_until(&s, 0, today), Ok(date(2026, 3, 31)));
    }

    #[test]
    fn overdue_gets_no_code_and_paid_off_or_far_dates_are_capped() {
        let today = date(2026, 3, 1);
        assert_eq!(
            code_paid_until(&standing(3, Some(date(2026, 2, 26)), false), 15, today),
            Err(NoCode::StillOverdue { days: 3 })
        );
        assert_eq!(
            code_paid_until(&standing(0, None, true), 15, today),
            Ok(date(2026, 9, 17))
        );
        assert_eq!(
            code_paid_until(&standing(0, Some(date(2027, 6, 1)), false), 15, today),
            Ok(date(2026, 9, 17))
        );
    }

    #[test]
    fn names_round_trip() {
        for f in [CodeFormat::Lc1, CodeFormat::OpenPaygo] {
            assert_eq!(f.as_str().parse::<CodeFormat>(), Ok(f));
        }
        for k in [CodeGrantKind::ExtendUntil, CodeGrantKind::Unlock] {
            assert_eq!(k.as_str().parse::<CodeGrantKind>(), Ok(k));
        }
        assert!("LC1".parse::<CodeFormat>().is_err());
    }
}
