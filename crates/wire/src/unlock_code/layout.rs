//! The 63-bit number inside a code and the tag that authenticates it.
//!
//! ```text
//! bit 62..61  version        2 bits   1 for LC1
//! bit 60..59  kind           2 bits   0 ExtendUntil, 1 Unlock, 2 and 3 reserved
//! bit 58..54  counter low    5 bits   the counter mod 32
//! bit 53..40  paid until    14 bits   days since 2024-01-01
//! bit 39..0   tag           40 bits   HMAC-SHA256 truncated, over the full counter
//! ```
//!
//! Nineteen decimal digits hold any number below 10^19 > 2^63, so the version field read as
//! `number >> 61` is 0 to 4, and 4 (a number of 2^63 or more) is left to a future format.

use super::{CodeError, CodeKey, CodeKind};
use hmac::Mac;
use jiff::civil::{date, Date};
use jiff::SignedDuration;
use lienlock_domain::DeviceId;

/// The version field of LC1 codes.
pub const VERSION: u8 = 1;
/// Bits of the truncated tag.
pub const TAG_BITS: u32 = 40;
/// Low bits of the counter a code carries; the device restores the rest.
pub const COUNTER_BITS: u32 = 5;
/// How far past the device's highest accepted counter a code may be: the server may have
/// this many codes outstanding that the device has not seen.
pub const COUNTER_WINDOW: u32 = 1 << COUNTER_BITS;
/// Day 0 of the paid-until field.
pub const FIRST_DATE: Date = date(2024, 1, 1);
/// Day 16 383, the last the 14-bit field reaches.
pub const LAST_DATE: Date = date(2068, 11, 8);

const DATE_BITS: u32 = 14;
const TAG_SHIFT: u32 = 0;
const DATE_SHIFT: u32 = TAG_SHIFT + TAG_BITS;
const COUNTER_SHIFT: u32 = DATE_SHIFT + DATE_BITS;
const KIND_SHIFT: u32 = COUNTER_SHIFT + COUNTER_BITS;
const VERSION_SHIFT: u32 = KIND_SHIFT + 2;

/// Domain label of the tag, so a tag is never another HMAC's output under the same key.
const TAG_LABEL: &[u8] = b"lienlock-unlock-code-v1";

/// A code's fields as they sit in the number (the counter reduced to its low bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Fields {
    pub version: u8,
    pub kind: u8,
    pub counter_low: u8,
    pub days: u16,
    pub tag: u64,
}

impl Fields {
    pub(super) fn pack(self) -> u64 {
        (u64::from(self.version) << VERSION_SHIFT)
            | (u64::from(self.kind) << KIND_SHIFT)
            | (u64::from(self.counter_low) << COUNTER_SHIFT)
            | (u64::from(self.days) << DATE_SHIFT)
            | self.tag
    }

    /// Splits a number below 10^19; the version comes out as 0 to 4.
    pub(super) fn unpack(number: u64) -> Self {
        let field = |shift: u32, bits: u32| (number >> shift) & ((1u64 << bits) - 1);
        Self {
            version: (number >> VERSION_SHIFT) as u8,
            kind: field(KIND_SHIFT, 2) as u8,
            counter_low: field(COUNTER_SHIFT, COUNTER_BITS) as u8,
            days: field(DATE_SHIFT, DATE_BITS) as u16,
            tag: field(TAG_SHIFT, TAG_BITS),
        }
    }
}

/// Days since [`FIRST_DATE`], or why the date does not fit.
pub(super) fn days_of(paid_until: Date) -> Result<u16, CodeError> {
    if paid_until < FIRST_DATE || paid_until > LAST_DATE {
        return Err(CodeError::DateOutOfRange {
            date: paid_until,
            first: FIRST_DATE,
            last: LAST_DATE,
        });
    }
    // Civil dates are exactly 24 hours apart, and the range check keeps this in 0..16384.
    Ok((paid_until.duration_since(FIRST_DATE).as_hours() / 24) as u16)
}

/// The date `days` after [`FIRST_DATE`] (any 14-bit value is in range).
pub(super) fn date_of(days: u16) -> Date {
    FIRST_DATE
        .checked_add(SignedDuration::from_hours(24 * i64::from(days)))
        .expect("2024-01-01 plus at most 16 383 days is a valid date")
}

/// The bytes the tag covers: the label, the device id, version, kind, the full counter and
/// the day number. Every field has a fixed width, so no two inputs share their bytes.
pub(super) fn tag_input(device_id: &DeviceId, kind: CodeKind, counter: u32, days: u16) -> Vec<u8> {
    let mut input = Vec::with_capacity(TAG_LABEL.len() + 16 + 1 + 1 + 4 + 2);
    input.extend_from_slice(TAG_LABEL);
    input.extend_from_slice(&device_id.to_bytes());
    input.push(VERSION);
    input.push(kind.code());
    input.extend_from_slice(&counter.to_be_bytes());
    input.extend_from_slice(&days.to_be_bytes());
    input
}

/// The first 40 bits of `HMAC-SHA256(key, tag_input(..))`, big-endian.
pub(super) fn tag(key: &CodeKey, input: &[u8]) -> u64 {
    let mut mac = key.mac();
    mac.update(input);
    let digest = mac.finalize().into_bytes();
    digest[..(TAG_BITS / 8) as usize]
        .iter()
        .fold(0u64, |t, &b| (t << 8) | u64::from(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_fill_63_bits_without_overlap() {
        assert_eq!(VERSION_SHIFT + 2, 63);
        let all = Fields {
            version: 3,
            kind: 3,
            counter_low: 31,
            days: 16_383,
            tag: (1 << 40) - 1,
        };
        assert_eq!(all.pack(), (1u64 << 63) - 1);
        assert_eq!(Fields::unpack(all.pack()), all);
        let some = Fields {
            version: 1,
            kind: 1,
            counter_low: 7,
            days: 820,
            tag: 0x12_3456_789a,
        };
        assert_eq!(Fields::unpack(some.pack()), some);
        // 10^19 - 1 is the largest 19-digit number: its version field reads 4.
        assert_eq!(Fields::unpack(9_999_999_999_999_999_999).version, 4);
    }

    #[test]
    fn the_date_field_spans_first_to_last_date() {
        assert_eq!(days_of(FIRST_DATE), Ok(0));
        assert_eq!(days_of(LAST_DATE), Ok(16_383));
        assert_eq!(date_of(16_383), LAST_DATE);
        assert_eq!(
            date_of(days_of(date(2026, 3, 31)).unwrap()),
            date(2026, 3, 31)
        );
        assert!(days_of(date(2023, 12, 31)).is_err());
        assert!(days_of(date(2068, 11, 9)).is_err());
    }
}
