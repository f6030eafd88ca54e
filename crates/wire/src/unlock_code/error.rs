//! Why an unlock code was not minted or not accepted.
//!
//! The variants fall into three groups, and a device must treat them differently:
//! input it could not read ([`CodeError::WrongLength`], [`CodeError::BadCharacter`],
//! [`CodeError::Typo`]), a well-formed code that is not valid ([`CodeError::BadTag`], the only
//! one that is a guess), and a genuine code that may not be used now
//! ([`CodeError::Reused`]). [`CodeError::counts_toward_lockout`] says which is which.

use jiff::civil::Date;

/// An unlock code that could not be minted or was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// The text does not hold the right number of digits (spaces and dashes aside).
    #[error("an unlock code has {expected} digits, got {got}")]
    WrongLength {
        /// Digits a code has.
        expected: usize,
        /// Digits found.
        got: usize,
    },
    /// The text holds something other than digits, spaces and dashes.
    #[error("an unlock code holds only digits, spaces and dashes, not {0:?}")]
    BadCharacter(char),
    /// The check digit does not match: a digit was mistyped or two were swapped.
    #[error("the code has a typo: check the digits and enter it again")]
    Typo,
    /// A code of a format version this device does not know.
    #[error("unlock code version {0} is not supported")]
    UnsupportedVersion(u8),
    /// A kind this version reserves.
    #[error("unlock code kind {0} is reserved")]
    ReservedKind(u8),
    /// Well formed, but not minted for this device: a wrong guess.
    #[error("this code is not valid for this device")]
    BadTag,
    /// A genuine code of this device whose counter is not above the highest it accepted.
    #[error("this code (number {counter}) was already used or replaced by a newer one")]
    Reused {
        /// The code's counter.
        counter: u32,
    },
    /// Codes count from 1, and the device's counter has no code above it.
    #[error("code counter {0} is out of range (1 to 4294967295)")]
    CounterOutOfRange(u32),
    /// The paid-until date falls outside the dates the format carries.
    #[error("paid-until date {date} is outside {first} to {last}")]
    DateOutOfRange {
        /// The date asked for.
        date: Date,
        /// First date a code carries.
        first: Date,
        /// Last date a code carries.
        last: Date,
    },
}

impl CodeError {
    /// Whether a device should count this refusal as a wrong guess, toward its lockout.
    ///
    /// Only [`CodeError::BadTag`] does: it is the one refusal that came from checking the
    /// tag. The others are decided before the tag is looked at (so they tell an attacker
    /// nothing about the key and bring no code closer to acceptance), or are a genuine code
    /// entered again. Counting them would only lock out a borrower who mistyped.
    pub fn counts_toward_lockout(&self) -> bool {
        matches!(self, Self::BadTag)
    }
}
