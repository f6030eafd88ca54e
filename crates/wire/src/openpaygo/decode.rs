//! The device side: checking an entered token against the key, the starting code and the
//! device's replay state.

use super::chain::{text_to_code, Width};
use super::{
    Format, Key, OpenPaygoError, StartingCode, TokenType, UsedCounts, COUNTER_SYNC_VALUE,
    MAX_TOKEN_JUMP, MAX_TOKEN_JUMP_COUNTER_SYNC,
};
use std::fmt;

/// What a device makes of an entered token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DecodedKind {
    /// Accepted: add the value.
    AddTime,
    /// Accepted: set the credit to the value.
    SetTime,
    /// Accepted: unlock for ever.
    DisablePayg,
    /// Accepted: the count was brought up to date.
    CounterSync,
    /// Not a token of this device within reach of its count (a typo, or a guess: the
    /// device should count it toward its lockout).
    Invalid,
    /// A genuine token of this device that may not be entered now: already used, or too
    /// old to be entered after the tokens that followed it.
    AlreadyUsed,
}

impl DecodedKind {
    /// The reference's name (`ADD_TIME`, ..., `INVALID`, `ALREADY_USED`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AddTime => "ADD_TIME",
            Self::SetTime => "SET_TIME",
            Self::DisablePayg => "DISABLE_PAYG",
            Self::CounterSync => "COUNTER_SYNC",
            Self::Invalid => "INVALID",
            Self::AlreadyUsed => "ALREADY_USED",
        }
    }

    /// The token type, when the token was accepted.
    pub fn accepted(self) -> Option<TokenType> {
        match self {
            Self::AddTime => Some(TokenType::AddTime),
            Self::SetTime => Some(TokenType::SetTime),
            Self::DisablePayg => Some(TokenType::DisablePayg),
            Self::CounterSync => Some(TokenType::CounterSync),
            Self::Invalid | Self::AlreadyUsed => None,
        }
    }
}

impl From<TokenType> for DecodedKind {
    fn from(kind: TokenType) -> Self {
        match kind {
            TokenType::AddTime => Self::AddTime,
            TokenType::SetTime => Self::SetTime,
            TokenType::DisablePayg => Self::DisablePayg,
            TokenType::CounterSync => Self::CounterSync,
        }
    }
}

impl fmt::Display for DecodedKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of [`decode`]; `value`, `count` and `used` are set only when accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// What the token does, or why it was refused.
    pub kind: DecodedKind,
    /// The value the token carries (998 for DISABLE_PAYG, 999 for COUNTER_SYNC).
    pub value: Option<u32>,
    /// The token's own count. It can be below the device's maximum (a late ADD_TIME or
    /// counter sync), so the device's new count is the larger of the two.
    pub count: Option<u32>,
    /// The device's replay state after accepting the token, to be persisted.
    pub used: Option<UsedCounts>,
}

impl Decoded {
    fn refused(kind: DecodedKind) -> Self {
        Self {
            kind,
            value: None,
            count: None,
            used: None,
        }
    }
}

/// Checks `token` as the reference's `decode_token` does (value divider 1), for a device
/// whose count is `last_count` and whose used counts are `used_counts` (the reference's list
/// form, negative entries allowed; see [`UsedCounts::from_list`]). Malformed text is an
/// error; a well-formed wrong token is [`DecodedKind::Invalid`].
pub fn decode(
    key: &Key,
    starting_code: StartingCode,
    last_count: u32,
    used_counts: &[i64],
    token: &str,
    format: Format,
) -> Result<Decoded, OpenPaygoError> {
    let state = UsedCounts::from_list(last_count, used_counts)?;
    decode_with_state(key, starting_code, state, token, format)
}

/// [`decode`] with the device's state in its compact form.
pub fn decode_with_state(
    key: &Key,
    starting_code: StartingCode,
    state: UsedCounts,
    token: &str,
    format: Format,
) -> Result<Decoded, OpenPaygoError> {
    let entered = text_to_code(token, format)?;
    let width = Width::of(format);
    let modulus = width.modulus();
    let start = u64::from(starting_code.get());
    // The low digits give the value away before any hashing: it is the offset of the
    // token's low digits from the starting code's.
    let base = entered % modulus;
    let value = ((base + modulus - start % modulus) % modulus) as u32;
    let max = u64::from(state.max());
    let reach = if value == COUNTER_SYNC_VALUE {
        MAX_TOKEN_JUMP_COUNTER_SYNC
    } else {
        MAX_TOKEN_JUMP
    };
    let last_try = max + u64::from(reach);
    let mut code = width.put_base(start, base);
    let mut genuine = false;
    for count in 0..=last_try {
        // Count 0 is the starting code itself: never a token (the reference accepts it).
        if count > 0 && width.put_base(code, base) == entered {
            let Ok(count) = u32::try_from(count) else {
                break;
            };
            let kind = TokenType::at(count, value);
            // Only a counter-sync token may reach past the ordinary look-ahead; the
            // reference lets any token whose value is 999 do so.
            let window = if kind == TokenType::CounterSync {
                MAX_TOKEN_JUMP_COUNTER_SYNC
            } else {
                MAX_TOKEN_JUMP
            };
            if u64::from(count) <= max + u64::from(window) {
                if state.accepts(count, kind) {
                    let mut used = state;
                    used.record(count, kind, value);
                    return Ok(Decoded {
                        kind: kind.into(),
                        value: Some(value),
                        count: Some(count),
                        used: Some(used),
                    });
                }
                genuine = true;
            }
        }
        if count < last_try {
            code = width.next(key, code);
        }
    }
    Ok(Decoded::refused(if genuine {
        DecodedKind::AlreadyUsed
    } else {
        DecodedKind::Invalid
    }))
}
