//! Why an OpenPAYGO input was refused. A token that is well formed but wrong is not an error:
//! [`crate::openpaygo::decode`] reports it as `Invalid` or `AlreadyUsed`, as a device would.

use super::TokenType;

/// Malformed input to the OpenPAYGO codec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenPaygoError {
    /// The secret key is not 32 hexadecimal digits.
    #[error("the key must be 32 hexadecimal digits (16 bytes), got {0}")]
    BadKey(String),
    /// The starting code has more than 9 digits (or is not a number).
    #[error("the starting code must be a number of at most 9 digits, got {0:?}")]
    BadStartingCode(String),
    /// The token has the wrong number of digits for its format.
    #[error("the token must have {expected} digits for this format, got {got}")]
    TokenLength {
        /// Digits the format calls for.
        expected: usize,
        /// Characters received.
        got: usize,
    },
    /// The token holds a character its format does not use.
    #[error("the token holds {found:?}; this format uses only the digits {allowed}")]
    TokenDigit {
        /// The offending character.
        found: char,
        /// The allowed digits.
        allowed: &'static str,
    },
    /// ADD_TIME and SET_TIME need a value.
    #[error("{0} tokens need a value")]
    ValueRequired(TokenType),
    /// DISABLE_PAYG and COUNTER_SYNC carry a fixed value of their own.
    #[error("{0} tokens take no value (they carry a fixed one)")]
    ValueNotAllowed(TokenType),
    /// The value does not fit the format.
    #[error("the value {value} is above the largest this format carries ({max})")]
    ValueTooLarge {
        /// The value asked for.
        value: u32,
        /// The largest allowed.
        max: u32,
    },
    /// An extended SET_TIME token of 998 or 999 would decode as DISABLE_PAYG or COUNTER_SYNC.
    #[error("an extended SET_TIME token cannot carry {0}: it would read as {1}")]
    ReservedValue(u32, TokenType),
    /// The count would leave the range of counts this codec handles.
    #[error("count {0} is out of range")]
    CountOutOfRange(i64),
}
