//! Ed25519 keys on both ends of the protocol.

use crate::codec::WireError;
use crate::mac::{CheckinMacKey, WRAPPED_LEN};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use std::fmt;

/// Names a server signing key: the first 8 bytes of SHA-256 of its public key. Leases carry
/// it so a device can tell which of the keys it knows signed them (and, later, rotation).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId(pub [u8; 8]);

impl KeyId {
    /// The id of a public key.
    pub fn of(public: &VerifyingKey) -> Self {
        let digest = Sha256::digest(public.as_bytes());
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        Self(id)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// The server's lease-signing key. Its `Debug` never shows the secret.
///
/// While the key rotates it also carries its companions (see [`ServerKey::with_next`] and
/// [`ServerKey::with_previous`]): the *next* key, whose public half every lease it signs
/// announces, and the *previous* key, kept after a promotion to lead devices that still
/// trust only it to this one. [`ServerKey::for_device`] picks which key signs a device's
/// lease and which one the lease announces. Everything else (`sign`, `id`, `public`, the
/// unlock-code agreement) is this, the current, key.
#[derive(Clone)]
pub struct ServerKey {
    key: SigningKey,
    id: KeyId,
    rotation: Option<Box<Rotation>>,
}

#[derive(Clone, Default)]
struct Rotation {
    next: Option<ServerKey>,
    previous: Option<ServerKey>,
}

impl ServerKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        Self::from_secret(SigningKey::generate(&mut rand::rngs::OsRng).to_bytes())
    }

    /// From its 32-byte secret seed.
    pub fn from_secret(seed: [u8; 32]) -> Self {
        let key = SigningKey::from_bytes(&seed);
        let id = KeyId::of(&key.verifying_key());
        Self {
            key,
            id,
            rotation: None,
        }
    }

    /// This key with `next` as the key it will be replaced by: leases this key signs
    /// announce `next` (see [`ServerKey::for_device`]). A next key equal to this one is
    /// ignored.
    pub fn with_next(mut self, next: ServerKey) -> Self {
        if next.id != self.id {
            self.rotation.get_or_insert_with(Default::default).next = Some(next.bare());
        }
        self
    }

    /// This key with `previous` as the key it replaced: devices that still trust only
    /// `previous` get leases signed by it that announce this key. Equal keys are ignored.
    pub fn with_previous(mut self, previous: ServerKey) -> Self {
        if previous.id != self.id {
            self.rotation.get_or_insert_with(Default::default).previous = Some(previous.bare());
        }
        self
    }

    /// The next key, if one is being rolled out.
    pub fn next(&self) -> Option<&ServerKey> {
        self.rotation.as_ref().and_then(|r| r.next.as_ref())
    }

    /// The key this one replaced, while it is kept.
    pub fn previous(&self) -> Option<&ServerKey> {
        self.rotation.as_ref().and_then(|r| r.previous.as_ref())
    }

    /// Which key signs the lease of a device that trusts `trusted` (its newest trusted key,
    /// from its check-in; `None` for an agent too old to say), and which key that lease
    /// announces:
    ///
    /// - the device trusts only the previous key: the previous key signs, announcing this
    ///   one (and the device moves on at its next check-in);
    /// - otherwise (this key, the next one, an old agent, a key unknown here): this key
    ///   signs, announcing the next key if there is one, except to an old agent, which
    ///   could not read the announcement.
    pub fn for_device(&self, trusted: Option<KeyId>) -> (&ServerKey, Option<ServerPublicKey>) {
        let Some(trusted) = trusted else {
            return (self, None);
        };
        if let Some(prev) = self.previous().filter(|p| p.id == trusted) {
            return (prev, Some(self.public()));
        }
        (self, self.next().map(ServerKey::public))
    }

    /// The key alone, without companions.
    fn bare(&self) -> ServerKey {
        ServerKey {
            key: self.key.clone(),
            id: self.id,
            rotation: None,
        }
    }

    /// The 32-byte secret seed, for writing to a key file.
    pub fn secret(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The key's id.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The public half, which devices pin at provisioning.
    pub fn public(&self) -> ServerPublicKey {
        ServerPublicKey::new(self.key.verifying_key())
    }

    /// Signs canonical bytes.
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.key.sign(msg).to_bytes()
    }

    /// The key among those this server holds (this one, the next, the previous) with
    /// id `id`.
    fn held(&self, id: KeyId) -> Option<&ServerKey> {
        [Some(self), self.next(), self.previous()]
            .into_iter()
            .flatten()
            .find(|k| k.id == id)
    }

    /// The check-in MAC key of `device_key` under the held key `named` (`crate::mac`);
    /// `None` when this server holds no key by that id (it has been retired, or never
    /// was this server's).
    pub fn checkin_mac_key(&self, named: KeyId, device_key: &[u8; 32]) -> Option<CheckinMacKey> {
        let key = self.held(named)?;
        Some(CheckinMacKey::derive(key.key.as_bytes(), device_key))
    }

    /// The check-in MAC key of `device_key`, wrapped so that only that device can read it
    /// (`crate::mac`), under the key the device names as the newest it trusts (this key
    /// when it names none). One X25519 agreement. `None` for a device key that is not a
    /// usable point, and for a named key this server does not hold: the device uses a MAC
    /// key only while it names that key's server key, so one wrapped under another would
    /// be asked for again at every signed check-in, an agreement wasted each time.
    pub fn wrapped_mac_key(
        &self,
        named: Option<KeyId>,
        device_key: &[u8; 32],
    ) -> Option<[u8; WRAPPED_LEN]> {
        let key = match named {
            Some(id) => self.held(id)?,
            None => self,
        };
        let shared = key.agree_with_device(device_key)?;
        let mac = CheckinMacKey::derive(key.key.as_bytes(), device_key);
        Some(mac.wrap(key.id, &shared, device_key))
    }

    /// The secret this server shares with the device holding `device_key` (see
    /// [`SharedSecret`]). `None` for a key that is not a usable Ed25519 point.
    pub fn agree_with_device(&self, device_key: &[u8; 32]) -> Option<SharedSecret> {
        agree(&self.key, &VerifyingKey::from_bytes(device_key).ok()?)
    }
}

impl fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServerKey({}, secret hidden", self.id)?;
        if let Some(next) = self.next() {
            write!(f, ", next {}", next.id)?;
        }
        if let Some(prev) = self.previous() {
            write!(f, ", previous {}", prev.id)?;
        }
        f.write_str(")")
    }
}

/// A server public key as pinned by a device.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ServerPublicKey {
    key: VerifyingKey,
    id: KeyId,
}

impl ServerPublicKey {
    fn new(key: VerifyingKey) -> Self {
        Self {
            id: KeyId::of(&key),
            key,
        }
    }

    /// From 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, WireError> {
        VerifyingKey::from_bytes(bytes)
            .map(Self::new)
            .map_err(|_| WireError::Invalid {
                field: "server_key",
                why: "not an Ed25519 public key".into(),
            })
    }

    /// From 64 hex characters, as printed by `lienlock serve` and given to provisioning.
    pub fn from_hex(s: &str) -> Result<Self, WireError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut bytes).map_err(|_| WireError::Invalid {
            field: "server_key",
            why: "expected 64 hex characters".into(),
        })?;
        Self::from_bytes(&bytes)
    }

    /// 64 hex characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.key.as_bytes())
    }

    /// The 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The key's id.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// Checks a signature over canonical bytes (strict: rejects malleable signatures).
    pub fn verify(&self, msg: &[u8], signature: &[u8]) -> Result<(), WireError> {
        let sig = Signature::from_slice(signature).map_err(|_| WireError::BadSignature)?;
        self.key
            .verify_strict(msg, &sig)
            .map_err(|_| WireError::BadSignature)
    }
}

impl fmt::Debug for ServerPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServerPublicKey({})", self.id)
    }
}

/// A device's identity key. Lives in the persistent partition; its `Debug` hides the secret.
#[derive(Clone)]
pub struct DeviceKey(SigningKey);

impl DeviceKey {
    /// A fresh random key, made on the device's first start.
    pub fn generate() -> Self {
        Self(SigningKey::generate(&mut rand::rngs::OsRng))
    }

    /// From its 32-byte secret seed.
    pub fn from_secret(seed: [u8; 32]) -> Self {
        Self(SigningKey::from_bytes(&seed))
    }

    /// The 32-byte seed, for the persistent partition.
    pub fn secret(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The public key the server binds to the enrollment.
    pub fn public(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }

    /// Signs canonical bytes.
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.0.sign(msg).to_bytes()
    }

    /// The check-in MAC key a server wrapped for this device ([`ServerKey::wrapped_mac_key`])
    /// under `server`, which must be the key the wrapping names. `None` when it names
    /// another key or is not [`WRAPPED_LEN`] bytes. A key damaged on the way unwraps to a
    /// wrong key, which the server then refuses, and the agent asks for another.
    pub fn unwrap_mac_key(
        &self,
        server: &ServerPublicKey,
        wrapped: &[u8],
    ) -> Option<CheckinMacKey> {
        let wrapped: &[u8; WRAPPED_LEN] = wrapped.try_into().ok()?;
        if wrapped[..8] != server.id().0 {
            return None;
        }
        let shared = self.agree_with_server(server)?;
        Some(CheckinMacKey::unwrap(wrapped, &shared, &self.public()))
    }

    /// The secret this device shares with the server it pinned (see [`SharedSecret`]).
    pub fn agree_with_server(&self, server: &ServerPublicKey) -> Option<SharedSecret> {
        agree(&self.0, &server.key)
    }
}

/// A secret only the server and one device know, never sent anywhere: X25519 between the
/// Montgomery forms of the server's lease-signing key and the device's identity key (the
/// conversion libsodium's `crypto_sign_ed25519_*_to_curve25519` performs). Unlock-code keys
/// are derived from it, so no code key is ever provisioned or stored. Its `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct SharedSecret([u8; 32]);

impl SharedSecret {
    /// The 32 bytes, as input to a key derivation (never use them as a key directly).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedSecret(..)")
    }
}

/// `clamp(our scalar) · their Montgomery point`. An all-zero result means the peer's key is
/// of small order: it would give a secret anyone can compute, so it is refused.
fn agree(ours: &SigningKey, theirs: &VerifyingKey) -> Option<SharedSecret> {
    let shared = theirs
        .to_montgomery()
        .mul_clamped(ours.to_scalar_bytes())
        .to_bytes();
    (shared != [0u8; 32]).then_some(SharedSecret(shared))
}

impl fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DeviceKey({}, secret hidden)",
            hex::encode(self.public())
        )
    }
}

/// The device key a message carries, as a point; refused as the message's `device_key`.
pub(crate) fn device_public_key(public: &[u8; 32]) -> Result<VerifyingKey, WireError> {
    VerifyingKey::from_bytes(public).map_err(|_| WireError::Invalid {
        field: "device_key",
        why: "not an Ed25519 public key".into(),
    })
}

/// Checks a device signature against the public key carried in its message.
pub fn verify_device(public: &[u8; 32], msg: &[u8], signature: &[u8]) -> Result<(), WireError> {
    let key = device_public_key(public)?;
    let sig = Signature::from_slice(signature).map_err(|_| WireError::BadSignature)?;
    key.verify_strict(msg, &sig)
        .map_err(|_| WireError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_and_device_agree_and_no_one_else_does() {
        let server = ServerKey::generate();
        let device = DeviceKey::generate();
        let other = DeviceKey::generate();
        let on_server = server.agree_with_device(&device.public()).unwrap();
        let on_device = device.agree_with_server(&server.public()).unwrap();
        assert_eq!(on_server, on_device);
        assert_ne!(
            on_server,
            server.agree_with_device(&other.public()).unwrap()
        );
        assert_ne!(
            on_device,
            device
                .agree_with_server(&ServerKey::generate().public())
                .unwrap()
        );
        assert_eq!(format!("{on_server:?}"), "SharedSecret(..)");
    }

    #[test]
    fn a_rotating_key_signs_with_what_the_device_trusts_and_announces_the_next() {
        let old = ServerKey::generate();
        let current = ServerKey::generate();
        let next = ServerKey::generate();
        let key = current
            .clone()
            .with_next(next.clone())
            .with_previous(old.clone());
        let debug = format!("{key:?}");
        assert!(debug.contains(&next.id().to_string()) && debug.contains("secret hidden"));
        assert!(!debug.contains(&hex::encode(current.secret())));
        // A device on the current key (or one that already learned the next) gets the
        // current key's signature and the next key's announcement.
        for trusted in [current.id(), next.id()] {
            let (signer, announced) = key.for_device(Some(trusted));
            assert_eq!(signer.id(), current.id());
            assert_eq!(announced, Some(next.public()));
        }
        // One that missed the promotion is led through by the old key.
        let (signer, announced) = key.for_device(Some(old.id()));
        assert_eq!(signer.id(), old.id());
        assert_eq!(announced, Some(current.public()));
        // An agent too old to say what it trusts gets no announcement it could not read.
        let (signer, announced) = key.for_device(None);
        assert_eq!((signer.id(), announced), (current.id(), None));
        // Without a rotation nothing is announced.
        assert_eq!(current.for_device(Some(current.id())).1, None);
        assert!(current.clone().with_next(current.clone()).next().is_none());
    }

    #[test]
    fn a_small_order_device_key_is_refused() {
        // The identity point (y = 1): a valid encoding of a point of order 1.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(ServerKey::generate().agree_with_device(&identity).is_none());
    }
}
