//! OpenPAYGO Token: the open standard for short numeric codes that pay-as-you-go devices
//! accept offline. lienlock speaks it so PAYG hardware and lienlock devices can share a
//! server; docs/protocol.md ("OpenPAYGO Token") describes the layout this module implements.
//!
//! Byte-compatible with the reference implementation (the `openpaygo` Python package), with
//! three deliberate differences, each a fix of a reference defect:
//!
//! 1. A token at count 0 (the starting code with a value in its last digits) is never
//!    accepted: anyone who knows the starting code could otherwise mint time.
//! 2. The device's replay state is a maximum count plus a 16-count used mask that always
//!    counts the maximum as used ([`UsedCounts`]), so it cannot be lost by passing an empty
//!    list, as the reference allows.
//! 3. Extended tokens carry DISABLE_PAYG and COUNTER_SYNC like standard ones, and the
//!    counter-sync rules (look-ahead 100, re-entry allowed) apply only to a counter-sync token,
//!    not to any token whose value happens to be 999.
//!
//! The authentication is short (about 20 bits for a standard token), so a device must also
//! rate-limit wrong entries; that policy lives with the device, not in this codec.

mod chain;
mod decode;
mod encode;
mod error;
mod key;
mod siphash;
mod used;

pub use decode::{decode, decode_with_state, Decoded, DecodedKind};
pub use encode::{encode_at, generate, Generated, TokenType};
pub use error::OpenPaygoError;
pub use key::{Key, StartingCode};
pub use used::UsedCounts;

/// Largest ADD_TIME / SET_TIME value of a standard token (996 and 997 are reserved).
pub const MAX_STANDARD_VALUE: u32 = 995;
/// Largest ADD_TIME / SET_TIME value of an extended token.
pub const MAX_EXTENDED_VALUE: u32 = 999_999;
/// The value a DISABLE_PAYG token carries.
pub const DISABLE_PAYG_VALUE: u32 = 998;
/// The value a COUNTER_SYNC token carries.
pub const COUNTER_SYNC_VALUE: u32 = 999;
/// How far above the device's count a token may be.
pub const MAX_TOKEN_JUMP: u32 = 64;
/// How far above the device's count a counter-sync token may be.
pub const MAX_TOKEN_JUMP_COUNTER_SYNC: u32 = 100;
/// How many counts below the maximum an unused ADD_TIME token may still be entered.
pub const MAX_UNUSED_OLDER_TOKENS: u32 = 16;

/// How a token is written: the two flags both ends of a device's setup agree on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Format {
    /// Digits 1 to 4 only, two bits per digit, for four-key keypads.
    pub restricted_digits: bool,
    /// 12-digit tokens with a 6-digit value instead of 9 digits with 3.
    pub extended: bool,
}

impl Format {
    /// How many digits a token of this format has.
    pub fn token_len(self) -> usize {
        match (self.extended, self.restricted_digits) {
            (false, false) => 9,
            (true, false) => 12,
            (false, true) => 15,
            (true, true) => 20,
        }
    }
}
