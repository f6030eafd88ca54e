//! The check-in MAC key (docs/protocol.md, section 2a), kept in the user partition.
//!
//! A phone holding one authenticates its check-ins with an HMAC instead of a signature,
//! which costs the server a hundredth as much. Losing it costs nothing: the next check-in
//! is signed and asks for another. So it lives where a factory reset wipes it, and a file
//! that cannot be read is the same as none.

use crate::atomic;
use crate::layout::Layout;
use lienlock_wire::{CheckinMacKey, DeviceKey, KeyId, LeaseEnvelope, ServerPublicKey};
use std::io;

/// The key, and the server key it belongs to: used only while that is the key the
/// device names in its check-ins.
#[derive(Debug, Clone)]
pub(crate) struct MacKey {
    pub(crate) server_key: KeyId,
    pub(crate) key: CheckinMacKey,
}

impl MacKey {
    /// The stored key, if there is a readable one.
    pub(crate) fn load(layout: &Layout) -> Option<Self> {
        let bytes = match atomic::read(&layout.checkin_mac_key()) {
            Ok(Some(b)) => b,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the check-in MAC key; signing instead");
                return None;
            }
        };
        let bytes: [u8; 40] = bytes.try_into().ok()?;
        Some(Self {
            server_key: KeyId(bytes[..8].try_into().expect("8 bytes")),
            key: CheckinMacKey::from_bytes(bytes[8..].try_into().expect("32 bytes")),
        })
    }

    /// The key an answer carried (`mac_key`), unwrapped with the trusted server key it
    /// names; `None` when it carried none or one this device cannot read.
    pub(crate) fn from_answer(
        envelope: &LeaseEnvelope,
        device: &DeviceKey,
        trusted: &[ServerPublicKey],
    ) -> Option<Self> {
        let wrapped = lienlock_wire::codec::unb64(envelope.mac_key.as_deref()?, "mac_key").ok()?;
        // Only the key the wrapping names unwraps it (checked before any agreement).
        trusted.iter().find_map(|server| {
            Some(Self {
                server_key: server.id(),
                key: device.unwrap_mac_key(server, &wrapped)?,
            })
        })
    }

    /// Writes it (owner-only, atomically).
    pub(crate) fn store(&self, layout: &Layout) -> io::Result<()> {
        let mut bytes = self.server_key.0.to_vec();
        bytes.extend_from_slice(&self.key.to_bytes());
        atomic::write(&layout.checkin_mac_key(), &bytes)
    }

    /// Removes the stored key.
    pub(crate) fn forget(layout: &Layout) -> io::Result<()> {
        match std::fs::remove_file(layout.checkin_mac_key()) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}
