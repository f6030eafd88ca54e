//! LC1 unlock codes: what a borrower types on a phone that cannot check in, read out by
//! support or printed on a receipt. docs/protocol.md ("Unlock codes (`LC1`)") gives the
//! layout and a worked example; docs/security.md ("Unlock codes: guessing") the margin.
//!
//! A code is 20 digits in five groups of four (`2432-8464-4268-9638-7883`): a 63-bit number
//! of 19 digits, then a Damm check digit. The number carries the version, the kind, the
//! counter's low 5 bits, an absolute paid-until date, and a 40-bit HMAC-SHA256 tag keyed per
//! device over all of them, the device id and the *full* counter.
//!
//! What a code can do is deliberately limited: run or unlock the device until a date. There
//! is no release kind; a permanent release only ever comes from a signed lease.
//!
//! Refusals are not all alike, and a device must tell them apart: a typo (the check digit)
//! costs the borrower nothing, a wrong tag is a guess and counts toward the lockout, a
//! genuine code entered again is [`CodeError::Reused`]. See
//! [`CodeError::counts_toward_lockout`].

mod code;
mod digits;
mod error;
mod key;
mod layout;
mod state;

pub use code::{end_of_day_utc, CodeKind, UnlockCode};
pub use digits::CODE_DIGITS;
pub use error::CodeError;
pub use key::CodeKey;
pub use layout::{COUNTER_BITS, COUNTER_WINDOW, FIRST_DATE, LAST_DATE, TAG_BITS, VERSION};
pub use state::CodeState;
