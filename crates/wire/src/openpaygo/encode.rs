//! The server side: minting the token for a device's next count.

use super::chain::{code_to_text, Width};
use super::{
    Format, Key, OpenPaygoError, StartingCode, COUNTER_SYNC_VALUE, DISABLE_PAYG_VALUE,
    MAX_EXTENDED_VALUE, MAX_STANDARD_VALUE,
};
use std::fmt;

/// What an accepted token tells the device to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenType {
    /// Add the value (days, before the device's time divider) to the remaining credit.
    AddTime,
    /// Set the remaining credit to the value; 0 re-enables PAYG after DISABLE_PAYG.
    SetTime,
    /// Unlock for ever (value 998).
    DisablePayg,
    /// Only bring the device's count up to date (value 999).
    CounterSync,
}

impl TokenType {
    /// The reference's name: `ADD_TIME`, `SET_TIME`, `DISABLE_PAYG`, `COUNTER_SYNC`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AddTime => "ADD_TIME",
            Self::SetTime => "SET_TIME",
            Self::DisablePayg => "DISABLE_PAYG",
            Self::CounterSync => "COUNTER_SYNC",
        }
    }

    /// The type a token at `count` carrying `value` has. The count's parity is the only
    /// type information in a token: even counts add time, odd counts set it, and at odd
    /// counts the reserved values 998 and 999 mean DISABLE_PAYG and COUNTER_SYNC.
    pub fn at(count: u32, value: u32) -> Self {
        match (count % 2 == 1, value) {
            (false, _) => Self::AddTime,
            (true, DISABLE_PAYG_VALUE) => Self::DisablePayg,
            (true, COUNTER_SYNC_VALUE) => Self::CounterSync,
            (true, _) => Self::SetTime,
        }
    }

    /// The count after `count` with this type's parity (one or two steps on).
    fn next_count(self, count: u32) -> Result<u32, OpenPaygoError> {
        let wants_odd = self != Self::AddTime;
        let step = if (count % 2 == 1) == wants_odd { 2 } else { 1 };
        count
            .checked_add(step)
            .ok_or(OpenPaygoError::CountOutOfRange(
                i64::from(count) + i64::from(step),
            ))
    }

    /// The value the token carries, checked against the type and format.
    fn value(self, value: Option<u32>, format: Format) -> Result<u32, OpenPaygoError> {
        match (self, value) {
            (Self::DisablePayg, None) => Ok(DISABLE_PAYG_VALUE),
            (Self::CounterSync, None) => Ok(COUNTER_SYNC_VALUE),
            (Self::DisablePayg | Self::CounterSync, Some(_)) => {
                Err(OpenPaygoError::ValueNotAllowed(self))
            }
            (Self::AddTime | Self::SetTime, None) => Err(OpenPaygoError::ValueRequired(self)),
            (Self::AddTime | Self::SetTime, Some(value)) => {
                let max = if format.extended {
                    MAX_EXTENDED_VALUE
                } else {
                    MAX_STANDARD_VALUE
                };
                if value > max {
                    return Err(OpenPaygoError::ValueTooLarge { value, max });
                }
                // An extended SET_TIME of 998 or 999 is the very token DISABLE_PAYG or
                // COUNTER_SYNC would be. The reference mints it anyway and its decoder calls
                // all three SET_TIME; ours reads the reserved types, so refuse the ambiguity
                // here rather than unlock a device for ever by accident.
                let kind = Self::at(1, value);
                if self == Self::SetTime && kind != Self::SetTime {
                    return Err(OpenPaygoError::ReservedValue(value, kind));
                }
                Ok(value)
            }
        }
    }
}

impl fmt::Display for TokenType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A minted token and the server's count after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generated {
    /// The count the token was minted at; the server stores it as the device's count.
    pub new_count: u32,
    /// The digits to give the user (a string: leading zeros matter).
    pub token: String,
}

/// Mints the token that follows `count` (the count the server last used for this device),
/// like the reference's `generate_token` with a value divider of 1. ADD_TIME and SET_TIME
/// need a `value`; DISABLE_PAYG and COUNTER_SYNC must have none.
pub fn generate(
    key: &Key,
    starting_code: StartingCode,
    count: u32,
    kind: TokenType,
    value: Option<u32>,
    format: Format,
) -> Result<Generated, OpenPaygoError> {
    let value = kind.value(value, format)?;
    let new_count = kind.next_count(count)?;
    let token = encode_at(key, starting_code, new_count, value, format)?;
    Ok(Generated { new_count, token })
}

/// The token carrying `value` at exactly `count`, whatever type that count's parity gives
/// it (see [`TokenType::at`]). [`generate`] is what a server wants; this is the primitive,
/// for tests and tools. Costs `count` hashes.
pub fn encode_at(
    key: &Key,
    starting_code: StartingCode,
    count: u32,
    value: u32,
    format: Format,
) -> Result<String, OpenPaygoError> {
    let width = Width::of(format);
    let modulus = width.modulus();
    if u64::from(value) >= modulus {
        return Err(OpenPaygoError::ValueTooLarge {
            value,
            max: (modulus - 1) as u32,
        });
    }
    // The value rides in the low digits as an offset from the starting code's own.
    let start = u64::from(starting_code.get());
    let base = (start % modulus + u64::from(value)) % modulus;
    let mut code = width.put_base(start, base);
    for _ in 0..count {
        code = width.next(key, code);
    }
    Ok(code_to_text(width.put_base(code, base), format))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_count_has_the_types_parity() {
        assert_eq!(TokenType::AddTime.next_count(1).unwrap(), 2);
        assert_eq!(TokenType::AddTime.next_count(2).unwrap(), 4);
        assert_eq!(TokenType::SetTime.next_count(1).unwrap(), 3);
        assert_eq!(TokenType::CounterSync.next_count(2).unwrap(), 3);
        assert!(TokenType::AddTime.next_count(u32::MAX).is_err());
    }

    #[test]
    fn values_are_checked_against_type_and_format() {
        let standard = Format::default();
        let extended = Format {
            extended: true,
            ..Format::default()
        };
        assert_eq!(TokenType::DisablePayg.value(None, standard), Ok(998));
        assert_eq!(
            TokenType::DisablePayg.value(Some(0), standard),
            Err(OpenPaygoError::ValueNotAllowed(TokenType::DisablePayg))
        );
        assert_eq!(
            TokenType::AddTime.value(None, standard),
            Err(OpenPaygoError::ValueRequired(TokenType::AddTime))
        );
        assert_eq!(
            TokenType::AddTime.value(Some(996), standard),
            Err(OpenPaygoError::ValueTooLarge {
                value: 996,
                max: 995
            })
        );
        assert_eq!(TokenType::AddTime.value(Some(999), extended), Ok(999));
        assert_eq!(TokenType::SetTime.value(Some(997), extended), Ok(997));
        assert_eq!(
            TokenType::SetTime.value(Some(998), extended),
            Err(OpenPaygoError::ReservedValue(998, TokenType::DisablePayg))
        );
        assert_eq!(
            TokenType::SetTime.value(Some(999_999), extended),
            Ok(999_999)
        );
    }
}
