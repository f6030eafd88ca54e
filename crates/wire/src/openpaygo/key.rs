//! The per-device secrets: the 128-bit key and the 9-digit starting code.

use super::chain::{hash_to_code, Width};
use super::siphash::siphash24;
use super::OpenPaygoError;
use std::fmt;
use std::str::FromStr;

/// A device's 128-bit OpenPAYGO secret. Its `Debug` never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Key([u8; 16]);

impl Key {
    /// From the 16 raw bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// From 32 hexadecimal digits (either case), the form the reference and PAYG servers use.
    pub fn parse_hex(text: &str) -> Result<Self, OpenPaygoError> {
        if text.len() != 32 {
            return Err(OpenPaygoError::BadKey(format!(
                "{} characters",
                text.chars().count()
            )));
        }
        let mut bytes = [0u8; 16];
        hex::decode_to_slice(text, &mut bytes)
            .map_err(|_| OpenPaygoError::BadKey("a character that is not a hex digit".into()))?;
        Ok(Self(bytes))
    }

    /// The key a lienlock server and phone use when the phone takes OpenPAYGO tokens: the
    /// first 16 bytes of `HMAC-SHA256(shared secret, "lienlock-openpaygo-key-v1" || device
    /// id bytes)`, so, like an `LC1` key, it is never sent or stored.
    pub fn agreed(shared: &crate::SharedSecret, device_id: &lienlock_domain::DeviceId) -> Self {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(shared.as_bytes())
            .expect("HMAC-SHA256 takes a key of any length");
        mac.update(b"lienlock-openpaygo-key-v1");
        mac.update(&device_id.to_bytes());
        let mut key = [0u8; 16];
        key.copy_from_slice(&mac.finalize().into_bytes()[..16]);
        Self(key)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The key as 32 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl FromStr for Key {
    type Err = OpenPaygoError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_hex(s)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(..)")
    }
}

/// The 9-digit code a device's token chain starts from (at most 999 999 999). It is a
/// secret too: with the reference decoder, knowing it is enough to mint a count-0 token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StartingCode(u32);

impl StartingCode {
    /// Largest starting code.
    pub const MAX: u32 = 999_999_999;

    /// Checks the range.
    pub fn new(code: u32) -> Result<Self, OpenPaygoError> {
        if code > Self::MAX {
            return Err(OpenPaygoError::BadStartingCode(code.to_string()));
        }
        Ok(Self(code))
    }

    /// The code the reference derives when a device has none configured: the code function
    /// of SipHash-2-4 of the key under itself.
    pub fn from_key(key: &Key) -> Self {
        let code = hash_to_code(siphash24(key.as_bytes(), key.as_bytes()), Width::Standard);
        // A standard code is at most 999 999 999 by construction.
        Self(code as u32)
    }

    /// The number.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl FromStr for StartingCode {
    type Err = OpenPaygoError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || OpenPaygoError::BadStartingCode(s.to_string());
        if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        Self::new(s.parse().map_err(|_| bad())?)
    }
}

impl fmt::Display for StartingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:09}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_needs_exactly_32_hex_digits() {
        let key = Key::parse_hex("BC41ec9530f6dac86b1a29ab82edc5fb").unwrap();
        assert_eq!(key.to_hex(), "bc41ec9530f6dac86b1a29ab82edc5fb");
        assert_eq!(format!("{key:?}"), "Key(..)");
        for bad in [
            "",
            "bc41",
            "bc41ec9530f6dac86b1a29ab82edc5fb00",
            "zc41ec9530f6dac86b1a29ab82edc5fb",
        ] {
            assert!(
                matches!(Key::parse_hex(bad), Err(OpenPaygoError::BadKey(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn starting_code_has_at_most_nine_digits() {
        assert_eq!("000000042".parse::<StartingCode>().unwrap().get(), 42);
        assert_eq!(StartingCode::new(42).unwrap().to_string(), "000000042");
        for bad in ["", "1000000000", "-1", "12a", "+5"] {
            assert!(bad.parse::<StartingCode>().is_err(), "{bad}");
        }
    }
}
