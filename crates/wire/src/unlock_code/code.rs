//! The code's meaning ([`UnlockCode`]) and the two directions: minting on the server,
//! checking on the device.

use super::digits::{from_text, to_text};
use super::layout::{date_of, days_of, tag, tag_input, Fields, VERSION};
use super::{CodeError, CodeKey, CodeState, COUNTER_WINDOW};
use hmac::Mac;
use jiff::civil::Date;
use lienlock_domain::DeviceId;
use std::fmt;

/// What a code lets the device do. There is deliberately no release: a device is freed for
/// good only by a signed lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodeKind {
    /// Run normally until the date: the offline form of a lease renewed by a payment.
    ExtendUntil,
    /// Lift a lender's lock until the date.
    Unlock,
}

impl CodeKind {
    /// Every kind, in code order.
    pub const ALL: [Self; 2] = [Self::ExtendUntil, Self::Unlock];

    /// The 2-bit field value (2 and 3 are reserved).
    pub const fn code(self) -> u8 {
        match self {
            Self::ExtendUntil => 0,
            Self::Unlock => 1,
        }
    }

    /// The kind a field value names, if any.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Self::ExtendUntil),
            1 => Some(Self::Unlock),
            _ => None,
        }
    }

    /// A stable lowercase name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ExtendUntil => "extend_until",
            Self::Unlock => "unlock",
        }
    }
}

impl fmt::Display for CodeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unlock code's meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UnlockCode {
    /// What the code does.
    pub kind: CodeKind,
    /// The device's code number, from 1, strictly increasing per device. The code carries
    /// only its low [`super::COUNTER_BITS`] bits; the tag covers all 32.
    pub counter: u32,
    /// The absolute date the code is good until, [`super::FIRST_DATE`] to
    /// [`super::LAST_DATE`]. Which instant of that day it ends at is the device's rule.
    pub paid_until: Date,
}

impl UnlockCode {
    /// The instant the code's grant ends: the start of the day after `paid_until`, UTC. A
    /// date is the borrower's whole day wherever they are, give or take the zone offset,
    /// and both ends must compute the same instant without knowing the zone.
    pub fn runs_until(&self) -> lienlock_domain::Timestamp {
        end_of_day_utc(self.paid_until)
    }

    /// Mints the code for `device_id` under its key: 20 digits in dashed groups of four.
    ///
    /// The device restores the counter from its low bits, so it takes a code only while
    /// `counter` is at most [`COUNTER_WINDOW`] above the highest it accepted: the server
    /// must not have more than that many codes outstanding.
    pub fn encode(&self, key: &CodeKey, device_id: &DeviceId) -> Result<String, CodeError> {
        if self.counter == 0 {
            return Err(CodeError::CounterOutOfRange(0));
        }
        let days = days_of(self.paid_until)?;
        let fields = Fields {
            version: VERSION,
            kind: self.kind.code(),
            counter_low: (self.counter % COUNTER_WINDOW) as u8,
            days,
            tag: tag(key, &tag_input(device_id, self.kind, self.counter, days)),
        };
        Ok(to_text(fields.pack()))
    }

    /// Checks an entered code for `device_id`, whose replay state is `state`. The counter is
    /// restored as the one above `state`'s highest with the code's low bits, so a code that
    /// decodes is always new to the device; [`CodeState::redeem`] also records it.
    ///
    /// Checks run cheapest and least telling first: characters and length, the check digit
    /// ([`CodeError::Typo`]), version and kind, then the tag ([`CodeError::BadTag`]). A code
    /// whose tag fits the counter one window *below* (the same low bits, already passed) is
    /// a genuine code entered again: [`CodeError::Reused`], not a guess.
    pub fn decode(
        text: &str,
        key: &CodeKey,
        device_id: &DeviceId,
        state: CodeState,
    ) -> Result<Self, CodeError> {
        let fields = Fields::unpack(from_text(text)?);
        if fields.version != VERSION {
            return Err(CodeError::UnsupportedVersion(fields.version));
        }
        let kind = CodeKind::from_code(fields.kind).ok_or(CodeError::ReservedKind(fields.kind))?;
        let counter = state.ahead(fields.counter_low).ok_or(CodeError::BadTag)?;
        let matches = |counter: u32| {
            let mut mac = key.mac();
            mac.update(&tag_input(device_id, kind, counter, fields.days));
            // Constant-time comparison of the tag's 5 bytes with the digest's first 5.
            mac.verify_truncated_left(&fields.tag.to_be_bytes()[3..])
                .is_ok()
        };
        if matches(counter) {
            return Ok(Self {
                kind,
                counter,
                paid_until: date_of(fields.days),
            });
        }
        match counter.checked_sub(COUNTER_WINDOW) {
            Some(older) if older > 0 && matches(older) => Err(CodeError::Reused { counter: older }),
            _ => Err(CodeError::BadTag),
        }
    }
}

/// The start of the day after `date`, UTC, in milliseconds. Dates a code carries (2024 to
/// 2068) are far from the ends of `jiff`'s range, so this cannot fail for them; a date
/// that could would saturate.
pub fn end_of_day_utc(date: Date) -> lienlock_domain::Timestamp {
    let millis = date
        .tomorrow()
        .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC))
        .map_or(i64::MAX, |z| z.timestamp().as_millisecond());
    lienlock_domain::Timestamp::from_millis(millis)
}
