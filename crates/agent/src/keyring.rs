//! The server keys the device trusts, and how it learns a new one.
//!
//! A device is provisioned with one server key. When the server's lease-signing key rotates,
//! leases signed by the key the device trusts announce the next one (lease version 4); the
//! device then trusts both. The first lease it takes that the next key signed makes that key
//! its *current* key, and it stops trusting the old one: from then on a lease signed by the
//! old key is refused, which is what makes a rotation after a compromise worth doing.
//!
//! Kept in `persistent/server_keys.json`, so a factory reset does not send a phone back to
//! a key it has left. A key is only ever learned from a lease signed by a key already
//! trusted, never from anything unsigned (the JSON `key_id`, the `view`, the server-key
//! endpoint).

use crate::atomic;
use crate::layout::Layout;
use lienlock_wire::{KeyId, ServerPublicKey};
use serde::{Deserialize, Serialize};
use std::io;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    current: String,
    next: Option<String>,
}

/// The trusted server keys: the current one and, during a rotation, the next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Keyring {
    current: ServerPublicKey,
    next: Option<ServerPublicKey>,
}

impl Keyring {
    /// Loads the keyring; without a file, the key the device was provisioned with. A
    /// damaged file is an error (a guess could strand the device or trust a dropped key).
    pub(crate) fn load(layout: &Layout, provisioned: ServerPublicKey) -> io::Result<Self> {
        let Some(bytes) = atomic::read(&layout.server_keys())? else {
            return Ok(Self {
                current: provisioned,
                next: None,
            });
        };
        let stored: Stored = serde_json::from_slice(&bytes).map_err(io::Error::other)?;
        let key = |hex: &str| ServerPublicKey::from_hex(hex).map_err(io::Error::other);
        Ok(Self {
            current: key(&stored.current)?,
            next: stored.next.as_deref().map(key).transpose()?,
        })
    }

    /// Every key a lease may be signed by, current first.
    pub(crate) fn trusted(&self) -> Vec<ServerPublicKey> {
        std::iter::once(self.current).chain(self.next).collect()
    }

    /// Whether `key` is trusted.
    pub(crate) fn trusts(&self, key: &ServerPublicKey) -> bool {
        self.current == *key || self.next.as_ref() == Some(key)
    }

    /// The current key: the one the device's held lease is signed by (or was provisioned
    /// with).
    pub(crate) fn current(&self) -> ServerPublicKey {
        self.current
    }

    /// The newest key trusted: the next key once announced, else the current one. Check-ins
    /// name it, so the server signs with a key the device will take.
    pub(crate) fn newest(&self) -> KeyId {
        self.next.unwrap_or(self.current).id()
    }

    /// Takes note of a stored lease signed by `signer` (a trusted key) and announcing
    /// `announced`: a lease from the next key makes it current (the old key is no longer
    /// trusted); the announcement of the current key's lease is the next key (none clears
    /// an earlier one: the server no longer rotates to it). Persists a change first.
    pub(crate) fn learn(
        &mut self,
        layout: &Layout,
        signer: ServerPublicKey,
        announced: Option<ServerPublicKey>,
    ) -> io::Result<bool> {
        let mut next = *self;
        if next.next == Some(signer) {
            next.current = signer;
        }
        if next.current == signer {
            next.next = announced.filter(|k| *k != signer);
        }
        if next == *self {
            return Ok(false);
        }
        let stored = Stored {
            current: next.current.to_hex(),
            next: next.next.map(|k| k.to_hex()),
        };
        let json = serde_json::to_vec_pretty(&stored).map_err(io::Error::other)?;
        atomic::write(&layout.server_keys(), &json)?;
        if next.current != self.current {
            tracing::info!(key = %next.current.id(), "now trusting the server's new key only");
        }
        if let Some(k) = next.next.filter(|k| Some(*k) != self.next) {
            tracing::info!(key = %k.id(), "learned the server's next key");
        }
        *self = next;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lienlock_wire::ServerKey;

    #[test]
    fn learns_the_next_key_then_moves_to_it_and_drops_the_old() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        atomic::create_dir(&layout.persistent_dir()).unwrap();
        let (k1, k2, k3) = (
            ServerKey::generate().public(),
            ServerKey::generate().public(),
            ServerKey::generate().public(),
        );
        let mut ring = Keyring::load(&layout, k1).unwrap();
        assert_eq!(ring.trusted(), [k1]);
        assert!(!ring.learn(&layout, k1, None).unwrap());
        assert!(ring.learn(&layout, k1, Some(k2)).unwrap());
        assert_eq!(ring.trusted(), [k1, k2]);
        assert_eq!(ring.newest(), k2.id());
        // Persisted: a restart (or a factory reset) keeps it.
        assert_eq!(Keyring::load(&layout, k1).unwrap(), ring);
        // A lease from the next key makes it current; the old one is dropped.
        assert!(ring.learn(&layout, k2, None).unwrap());
        assert_eq!(ring.trusted(), [k2]);
        assert!(!ring.trusts(&k1));
        // The current key's lease announcing nothing clears a next key announced before.
        ring.learn(&layout, k2, Some(k3)).unwrap();
        ring.learn(&layout, k2, None).unwrap();
        assert_eq!(ring.trusted(), [k2]);
        std::fs::write(layout.server_keys(), b"{").unwrap();
        assert!(Keyring::load(&layout, k1).is_err());
    }
}
