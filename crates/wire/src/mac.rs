//! Check-ins authenticated by a MAC instead of a signature (docs/protocol.md, section 2a).
//!
//! Verifying a check-in's Ed25519 signature was the largest single cost of a check-in on
//! the server, 19.5 µs even in batches of 64 against 0.63 µs to derive a MAC key and check
//! an HMAC-SHA256 tag of the same bytes (`lienlock bench crypto`; docs/benchmarks.md,
//! eleventh round). So a phone that has checked in once
//! with a signature is handed a key to authenticate the next ones with:
//!
//! - The **check-in MAC key** of a device and a server key is HMAC-SHA256 keyed with that
//!   server key's secret seed over `"LLMACKEY"` and the device's public key. The server
//!   keeps nothing per device: it derives the key again from the check-in it is checking.
//! - It reaches the phone **wrapped**: XORed with HMAC-SHA256 keyed with the secret the
//!   phone and that server key share (X25519 of their Montgomery forms, [`SharedSecret`],
//!   the same one unlock codes come from) over `"LLMACWRP"`, the key id and the device
//!   key. Only the holder of the device's identity key can unwrap it, and the server pays
//!   for that agreement once per device and key, when it hands the key out.
//!
//! A MAC proves only that one of the two holders made the message, which is all a
//! check-in needs: the server is the one that checks it, and everything else about a
//! check-in (the counter's replay rule, the key's binding) is unchanged.

use crate::keys::{KeyId, SharedSecret};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;

type HmacSha256 = Hmac<Sha256>;

/// Length of a check-in MAC tag.
pub const TAG_LEN: usize = 32;

/// Length of a wrapped MAC key on the wire: the server key's id, then the wrapped key.
pub const WRAPPED_LEN: usize = 8 + 32;

/// The key a device authenticates its version 5 check-ins with, for one server key. Its
/// `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct CheckinMacKey([u8; 32]);

impl CheckinMacKey {
    /// The key of `device_key` under the server key whose secret seed is `seed`.
    pub(crate) fn derive(seed: &[u8; 32], device_key: &[u8; 32]) -> Self {
        Self(hmac(seed, &[b"LLMACKEY", device_key]))
    }

    /// A key as stored by the agent.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 bytes, for the agent to store.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }

    /// The tag of the exact bytes of a check-in.
    pub fn tag(&self, body: &[u8]) -> [u8; TAG_LEN] {
        hmac(&self.0, &[body])
    }

    /// Whether `tag` is the tag of `body`, compared in constant time.
    pub fn verifies(&self, body: &[u8], tag: &[u8]) -> bool {
        let mut mac = keyed(&self.0);
        mac.update(body);
        mac.verify_slice(tag).is_ok()
    }

    /// The key wrapped for the device holding `device_key`, which shares `shared` with the
    /// server key `key_id`: [`WRAPPED_LEN`] bytes.
    pub(crate) fn wrap(
        &self,
        key_id: KeyId,
        shared: &SharedSecret,
        device_key: &[u8; 32],
    ) -> [u8; WRAPPED_LEN] {
        let pad = pad(key_id, shared, device_key);
        let mut out = [0u8; WRAPPED_LEN];
        out[..8].copy_from_slice(&key_id.0);
        for (o, (k, p)) in out[8..].iter_mut().zip(self.0.iter().zip(pad)) {
            *o = k ^ p;
        }
        out
    }

    /// The key [`CheckinMacKey::wrap`] wrapped, given the same secret.
    pub(crate) fn unwrap(
        wrapped: &[u8; WRAPPED_LEN],
        shared: &SharedSecret,
        device_key: &[u8; 32],
    ) -> Self {
        let key_id = KeyId(wrapped[..8].try_into().expect("8 bytes"));
        let pad = pad(key_id, shared, device_key);
        let mut key = [0u8; 32];
        for (o, (w, p)) in key.iter_mut().zip(wrapped[8..].iter().zip(pad)) {
            *o = w ^ p;
        }
        Self(key)
    }
}

impl fmt::Debug for CheckinMacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CheckinMacKey(..)")
    }
}

/// What a MAC key is XORed with on its way to the device.
fn pad(key_id: KeyId, shared: &SharedSecret, device_key: &[u8; 32]) -> [u8; 32] {
    hmac(shared.as_bytes(), &[b"LLMACWRP", &key_id.0, device_key])
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = keyed(key);
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

fn keyed(key: &[u8]) -> HmacSha256 {
    <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC-SHA256 takes a key of any length")
}
