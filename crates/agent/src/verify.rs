//! Checking a lease envelope against what this device pins, and keeping envelopes on disk
//! in a form that is checked again on every load.

use crate::atomic;
use crate::error::LeaseRefusal;
use lienlock_domain::Imei;
use lienlock_wire::{Lease, LeaseEnvelope, ServerPublicKey};
use std::io;
use std::path::Path;

/// A lease that opened with a trusted server key and names this device, with the exact
/// bytes the server signed (what sequence ties are compared on), the envelope that carried
/// it and the key that signed it.
#[derive(Clone, Debug)]
pub(crate) struct VerifiedLease {
    pub lease: Lease,
    pub bytes: Vec<u8>,
    pub envelope: LeaseEnvelope,
    pub signer: ServerPublicKey,
}

/// What a lease must match to be for this device from this device's server.
#[derive(Clone, Debug)]
pub(crate) struct Verifier {
    /// The server keys trusted now (see `keyring`): the current one, and the next while a
    /// rotation is announced.
    pub server_keys: Vec<ServerPublicKey>,
    pub imei: Imei,
    pub device_key: [u8; 32],
}

impl Verifier {
    /// Signature first (nothing unsigned is even looked at), then the device identity.
    pub fn verify(&self, envelope: &LeaseEnvelope) -> Result<VerifiedLease, LeaseRefusal> {
        let (lease, bytes, signer) = envelope
            .open_trusted(&self.server_keys)
            .map_err(LeaseRefusal::BadEnvelope)?;
        if lease.imei != self.imei {
            return Err(LeaseRefusal::OtherDevice { field: "imei" });
        }
        if lease.device_key != self.device_key {
            return Err(LeaseRefusal::OtherDevice {
                field: "device_key",
            });
        }
        Ok(VerifiedLease {
            lease,
            bytes,
            envelope: stripped(envelope),
            signer,
        })
    }

    /// Loads an envelope file and verifies it again. Anything short of a genuine lease for
    /// this device (missing, unreadable, not JSON, tampered, another key) is `None`: a
    /// damaged file must never count as a valid lease, and the safe reading of "no lease" is
    /// to lock until the server says otherwise.
    pub fn load(&self, path: &Path) -> Option<VerifiedLease> {
        let bytes = match atomic::read(path) {
            Ok(Some(b)) => b,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read lease file; ignoring it");
                return None;
            }
        };
        let envelope: LeaseEnvelope = match serde_json::from_slice(&bytes) {
            Ok(env) => env,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "lease file is not an envelope; ignoring it");
                return None;
            }
        };
        match self.verify(&envelope) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "lease file does not verify; ignoring it");
                None
            }
        }
    }
}

/// Writes an envelope atomically. Only the signed parts are kept: the readable `view` is
/// unsigned and would just be something to be fooled by.
pub(crate) fn store(path: &Path, envelope: &LeaseEnvelope) -> io::Result<()> {
    let json = serde_json::to_vec(&stripped(envelope))
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    atomic::write(path, &json)
}

fn stripped(envelope: &LeaseEnvelope) -> LeaseEnvelope {
    LeaseEnvelope {
        view: None,
        // Kept in its own file (`mac_key`), not beside every lease held.
        mac_key: None,
        ..envelope.clone()
    }
}
