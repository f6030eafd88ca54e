//! IMEI: the 15-digit identity of a phone's radio, the key lenders enroll by.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A syntactically valid IMEI: exactly 15 ASCII digits whose last digit is the Luhn check digit.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Imei([u8; 15]);

/// Why a string is not an IMEI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImeiError {
    /// Not 15 characters long.
    #[error("an IMEI has 15 digits, this has {0} characters")]
    Length(usize),
    /// Something other than 0-9.
    #[error("an IMEI has only digits 0-9")]
    NotDigits,
    /// The Luhn check digit does not match.
    #[error("the IMEI check digit is wrong (mistyped?)")]
    CheckDigit,
}

impl Imei {
    /// Parses an IMEI, accepting nothing but 15 digits with a correct Luhn check digit.
    pub fn parse(s: &str) -> Result<Self, ImeiError> {
        let chars = s.chars().count();
        if chars != 15 {
            return Err(ImeiError::Length(chars));
        }
        let bytes = s.as_bytes();
        if !bytes.iter().all(u8::is_ascii_digit) {
            return Err(ImeiError::NotDigits);
        }
        let mut digits = [0u8; 15];
        digits.copy_from_slice(bytes);
        if luhn_check_digit(&digits[..14]) != digits[14] - b'0' {
            return Err(ImeiError::CheckDigit);
        }
        Ok(Self(digits))
    }

    /// Completes 14 digits (TAC + serial) with their check digit. Used to make test and demo IMEIs.
    pub fn from_body(body: &str) -> Result<Self, ImeiError> {
        let b = body.as_bytes();
        if b.len() != 14 {
            return Err(ImeiError::Length(body.chars().count() + 1));
        }
        if !b.iter().all(u8::is_ascii_digit) {
            return Err(ImeiError::NotDigits);
        }
        let check = luhn_check_digit(b);
        Self::parse(&format!("{body}{check}"))
    }

    /// The 15 digits as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored, so this cannot fail.
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    /// The 15 ASCII digit bytes, as they appear in signed wire messages.
    pub fn as_bytes(&self) -> &[u8; 15] {
        &self.0
    }
}

/// Luhn check digit of ASCII digits (the rightmost digit of `body` is doubled).
fn luhn_check_digit(body: &[u8]) -> u8 {
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(d - b'0');
            if i % 2 == 0 {
                let dd = d * 2;
                if dd > 9 {
                    dd - 9
                } else {
                    dd
                }
            } else {
                d
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

impl fmt::Display for Imei {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Imei {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Imei({})", self.as_str())
    }
}

impl TryFrom<String> for Imei {
    type Error = ImeiError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Imei> for String {
    fn from(i: Imei) -> Self {
        i.as_str().to_owned()
    }
}

impl std::str::FromStr for Imei {
    type Err = ImeiError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_known_good_imeis() {
        // Examples from the GSMA IMEI allocation guidelines and common test handsets.
        for s in ["490154203237518", "356938035643809", "352099001761481"] {
            assert_eq!(Imei::parse(s).unwrap().as_str(), s);
        }
    }

    #[test]
    fn refuses_bad_check_digit_length_and_letters() {
        assert_eq!(Imei::parse("490154203237519"), Err(ImeiError::CheckDigit));
        assert_eq!(Imei::parse("49015420323751"), Err(ImeiError::Length(14)));
        assert_eq!(Imei::parse("4901542032375180"), Err(ImeiError::Length(16)));
        assert_eq!(Imei::parse("49015420323751a"), Err(ImeiError::NotDigits));
        assert_eq!(Imei::parse("49015420323751٣"), Err(ImeiError::NotDigits));
    }

    #[test]
    fn json_refuses_invalid_imei() {
        let e = serde_json::from_str::<Imei>("\"490154203237519\"").unwrap_err();
        assert!(e.to_string().contains("check digit"));
    }

    proptest! {
        #[test]
        fn every_completed_body_parses(body in "[0-9]{14}") {
            let imei = Imei::from_body(&body).unwrap();
            prop_assert!(imei.as_str().starts_with(&body));
        }

        #[test]
        fn any_single_digit_change_is_caught(body in "[0-9]{14}", pos in 0usize..15, delta in 1u8..10) {
            let good = Imei::from_body(&body).unwrap();
            let mut bytes = *good.as_bytes();
            bytes[pos] = b'0' + (bytes[pos] - b'0' + delta) % 10;
            let s = String::from_utf8(bytes.to_vec()).unwrap();
            prop_assert_eq!(Imei::parse(&s), Err(ImeiError::CheckDigit));
        }
    }
}
