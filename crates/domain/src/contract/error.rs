//! Why contract terms were refused.

use crate::money::MoneyError;

/// Why a [`TermsSpec`](super::TermsSpec) cannot become a contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContractError {
    /// The financed amount must be positive.
    #[error("the financed amount must be positive, got {0}")]
    FinancedNotPositive(i64),
    /// The down payment cannot be negative.
    #[error("the down payment cannot be negative, got {0}")]
    NegativeDownPayment(i64),
    /// Fees cannot be negative.
    #[error("fees cannot be negative, got {0}")]
    NegativeFees(i64),
    /// The number of installments is outside 1..=520.
    #[error("a schedule has 1 to {max} installments, got {count}")]
    Count {
        /// What was given.
        count: usize,
        /// The limit ([`MAX_INSTALLMENTS`](super::MAX_INSTALLMENTS)).
        max: usize,
    },
    /// A monthly day outside 1..=31.
    #[error("the day of the month must be 1 to 31, got {0}")]
    DayOfMonth(u8),
    /// The amount owed cannot give every installment at least one minor unit.
    #[error("{owed} minor units cannot be split into {count} non-zero installments")]
    TooSmallToSplit {
        /// The amount owed.
        owed: i64,
        /// The number of installments.
        count: usize,
    },
    /// An explicit schedule whose dates do not strictly increase.
    #[error("explicit installment {index} is not due after the one before it")]
    NotIncreasing {
        /// Zero-based position in the list.
        index: usize,
    },
    /// An explicit installment of zero or less.
    #[error("explicit installment {index} must be positive, got {amount}")]
    AmountNotPositive {
        /// Zero-based position in the list.
        index: usize,
        /// What was given.
        amount: i64,
    },
    /// An explicit schedule that does not add up to the amount owed.
    #[error("the installments add up to {sum}, but {owed} is owed")]
    SumMismatch {
        /// What the installments add up to.
        sum: i64,
        /// Financed amount plus fees.
        owed: i64,
    },
    /// A due date beyond the calendar's range (year 9999).
    #[error("a due date falls outside the supported calendar")]
    DateOutOfRange,
    /// An amount outside the range of minor units.
    #[error(transparent)]
    Money(#[from] MoneyError),
    /// The lender's time zone is not an IANA name lienlock knows.
    #[error("unknown time zone {0:?}")]
    UnknownTimeZone(String),
}
