//! The per-device code key: what the server mints codes with and the device checks them with.

use hmac::{Hmac, Mac};
use lienlock_domain::DeviceId;
use sha2::Sha256;
use std::fmt;

/// Domain label of the key derivation, so a code key is never another HMAC's output.
const DERIVE_LABEL: &[u8] = b"lienlock-code-key-v1";

/// A device's 32-byte unlock-code key. Its `Debug` never shows the bytes.
///
/// Both ends derive it from the secret they share ([`crate::SharedSecret`]: X25519 between
/// the server's signing key and the device's identity key) and the device id, so it is
/// never sent, provisioned or stored: the server recomputes it when it mints a code, the
/// device when a code is typed.
#[derive(Clone, PartialEq, Eq)]
pub struct CodeKey([u8; 32]);

impl CodeKey {
    /// `HMAC-SHA256(secret, "lienlock-code-key-v1" || device id bytes)`: one key per device
    /// from the secret its server and it share.
    pub fn derive(secret: &[u8; 32], device_id: &DeviceId) -> Self {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(secret).expect("HMAC-SHA256 takes a key of any length");
        mac.update(DERIVE_LABEL);
        mac.update(&device_id.to_bytes());
        Self(mac.finalize().into_bytes().into())
    }

    /// The key of `device_id`, from the secret its server and it share.
    pub fn agreed(shared: &crate::SharedSecret, device_id: &DeviceId) -> Self {
        Self::derive(shared.as_bytes(), device_id)
    }

    /// From the 32 raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// An HMAC-SHA256 instance keyed with this key.
    pub(super) fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC-SHA256 takes a key of any length")
    }
}

impl fmt::Debug for CodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeKey(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_key() {
        let key = CodeKey::from_bytes([0xab; 32]);
        assert_eq!(format!("{key:?}"), "CodeKey(..)");
    }

    #[test]
    fn each_device_gets_its_own_key() {
        let secret = [7u8; 32];
        let a = DeviceId::new();
        let b = DeviceId::new();
        assert_eq!(CodeKey::derive(&secret, &a), CodeKey::derive(&secret, &a));
        assert_ne!(CodeKey::derive(&secret, &a), CodeKey::derive(&secret, &b));
        assert_ne!(
            CodeKey::derive(&secret, &a),
            CodeKey::derive(&[8u8; 32], &a)
        );
    }
}
