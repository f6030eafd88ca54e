//! JSON envelopes: canonical bytes in base64 beside their signature.

use crate::batch::{verify_devices, DeviceSignature};
use crate::checkin::CheckIn;
use crate::codec::{b64, unb64, WireError};
use crate::keys::{verify_device, DeviceKey, ServerKey, ServerPublicKey};
use crate::lease::{Lease, LeaseNotice, LockScreen};
use crate::mac::CheckinMacKey;
use crate::merkle::{self, Proof};
use lienlock_domain::{Capability, LeaseState, RestrictionLevel};
use serde::{Deserialize, Serialize};

/// `POST /device/v1/checkin` body.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedCheckIn {
    /// Base64 of [`CheckIn::encode`].
    pub body: String,
    /// Base64 of the 64-byte Ed25519 signature of those bytes by the device key; for a
    /// version 5 body, of the 32-byte HMAC-SHA256 tag under the device's check-in MAC key.
    pub signature: String,
    /// Asks for the device's check-in MAC key in the answer (`mac_key`). Not covered by
    /// the signature: whoever sets it gets only a key wrapped for the device alone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub want_mac_key: bool,
}

impl SignedCheckIn {
    /// Encodes and signs a check-in.
    pub fn seal(checkin: &CheckIn, key: &DeviceKey) -> Self {
        let bytes = checkin.encode();
        Self {
            signature: b64(&key.sign(&bytes)),
            body: b64(&bytes),
            want_mac_key: false,
        }
    }

    /// Encodes a version 5 check-in and authenticates it with the device's MAC key for the
    /// server key it names.
    pub fn seal_mac(checkin: &CheckIn, key: &CheckinMacKey) -> Self {
        debug_assert!(checkin.version.is_mac(), "a MAC goes with a version 5 body");
        let bytes = checkin.encode();
        Self {
            signature: b64(&key.tag(&bytes)),
            body: b64(&bytes),
            want_mac_key: false,
        }
    }

    /// Decodes the check-in and verifies it was signed by the key it names.
    pub fn open(&self) -> Result<CheckIn, WireError> {
        self.decode()?.verify()
    }

    /// Decodes the check-in without verifying it yet: for a verifier that checks many at
    /// once ([`verify_checkins`]).
    pub fn decode(&self) -> Result<UnverifiedCheckIn, WireError> {
        let bytes = unb64(&self.body, "body")?;
        let signature = unb64(&self.signature, "signature")?;
        let checkin = CheckIn::decode(&bytes)?;
        Ok(UnverifiedCheckIn {
            checkin,
            bytes,
            signature,
        })
    }
}

/// A check-in decoded but not verified. Its [`CheckIn`] is reachable only through its
/// signature: [`UnverifiedCheckIn::verify`], or [`verify_checkins`] for many at once.
#[derive(Clone, Debug)]
pub struct UnverifiedCheckIn {
    checkin: CheckIn,
    bytes: Vec<u8>,
    signature: Vec<u8>,
}

impl UnverifiedCheckIn {
    /// Verifies the signature with the key the check-in names. A version 5 check-in is
    /// refused here: it carries a MAC, not a signature ([`UnverifiedCheckIn::verify_mac`]).
    pub fn verify(self) -> Result<CheckIn, WireError> {
        if self.is_mac() {
            return Err(WireError::BadSignature);
        }
        verify_device(&self.checkin.device_key, &self.bytes, &self.signature)?;
        Ok(self.checkin)
    }

    /// Whether the check-in is authenticated by a MAC (version 5).
    pub fn is_mac(&self) -> bool {
        self.checkin.version.is_mac()
    }

    /// Checks a version 5 check-in's MAC with the key `server` derives for its device key
    /// under the server key it names. `BadSignature` for a wrong tag, a key this server
    /// does not hold, or a check-in that is not version 5.
    pub fn verify_mac(self, server: &ServerKey) -> Result<CheckIn, WireError> {
        let key = self
            .checkin
            .server_key_id
            .filter(|_| self.is_mac())
            .and_then(|named| server.checkin_mac_key(named, &self.checkin.device_key))
            .ok_or(WireError::BadSignature)?;
        if !key.verifies(&self.bytes, &self.signature) {
            return Err(WireError::BadSignature);
        }
        Ok(self.checkin)
    }

    fn signature(&self) -> DeviceSignature<'_> {
        DeviceSignature {
            public: &self.checkin.device_key,
            msg: &self.bytes,
            signature: &self.signature,
        }
    }
}

/// Verifies check-ins together ([`crate::batch`]): one answer each, in order, the one
/// [`UnverifiedCheckIn::verify`] gives it: a version 5 check-in (a MAC, not a signature)
/// is refused, as alone.
pub fn verify_checkins(batch: Vec<UnverifiedCheckIn>) -> Vec<Result<CheckIn, WireError>> {
    let items: Vec<DeviceSignature<'_>> = batch
        .iter()
        .filter(|u| !u.is_mac())
        .map(UnverifiedCheckIn::signature)
        .collect();
    let mut answers = verify_devices(&items).into_iter();
    batch
        .into_iter()
        .map(|u| {
            if u.is_mac() {
                return Err(WireError::BadSignature);
            }
            let answer = answers.next().expect("one answer per signed check-in");
            answer.map(|()| u.checkin)
        })
        .collect()
}

/// The server's answer to a check-in.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LeaseEnvelope {
    /// Hex id of the signing key.
    pub key_id: String,
    /// Base64 of [`Lease::encode`].
    pub lease: String,
    /// Base64 of the 64-byte Ed25519 signature by the server key: of the lease bytes, or
    /// with a `proof`, of the root that proof leads to (docs/protocol.md, section 3b).
    pub signature: String,
    /// Base64 of the lease's path to a signed root, when it was signed in a batch; absent
    /// when the signature covers the lease bytes themselves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<String>,
    /// The lease decoded, for people reading the JSON: only in answers to version 2 and 3
    /// check-ins. Not signed; agents ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view: Option<LeaseView>,
    /// Base64 of the device's check-in MAC key, wrapped for it (40 bytes: the server key's
    /// id, then the key; docs/protocol.md, section 2a): only in answer to a signed
    /// check-in that asked (`want_mac_key`). Not signed; a damaged one only makes the
    /// device's next check-in be refused and signed again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_key: Option<String>,
}

/// A readable copy of a lease (unsigned, informational).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseView {
    /// Device id.
    pub device_id: String,
    /// IMEI.
    pub imei: String,
    /// Sequence number.
    pub sequence: u64,
    /// State.
    pub state: LeaseState,
    /// Issued at, epoch ms.
    pub issued_at: i64,
    /// Valid until, epoch ms.
    pub valid_until: i64,
    /// Next check-in, epoch ms.
    pub next_checkin_at: i64,
    /// Restriction level.
    pub restriction_level: RestrictionLevel,
    /// Restricted capabilities.
    pub restricts: Vec<Capability>,
    /// Lock-screen content.
    pub lock_screen: LockScreen,
    /// Notices to show.
    #[serde(default)]
    pub notices: Vec<LeaseNotice>,
}

impl From<&Lease> for LeaseView {
    fn from(lease: &Lease) -> Self {
        Self {
            device_id: lease.device_id.to_string(),
            imei: lease.imei.to_string(),
            sequence: lease.sequence,
            state: lease.state,
            issued_at: lease.issued_at.as_millis(),
            valid_until: lease.valid_until.as_millis(),
            next_checkin_at: lease.next_checkin_at.as_millis(),
            restriction_level: lease.profile.level(),
            restricts: lease.profile.restricts(),
            lock_screen: lease.lock_screen.clone(),
            notices: lease.notices.clone(),
        }
    }
}

impl LeaseEnvelope {
    /// Encodes and signs a lease.
    pub fn seal(lease: &Lease, key: &ServerKey) -> Self {
        UnsignedLease::new(lease).sign(key)
    }

    /// Verifies the signature with the pinned key, then decodes the signed bytes. The `view`
    /// and `key_id` fields are never trusted: the key id inside the signed bytes must match
    /// the pinned key.
    pub fn open(&self, pinned: &ServerPublicKey) -> Result<(Lease, Vec<u8>), WireError> {
        self.open_trusted(std::slice::from_ref(pinned))
            .map(|(lease, bytes, _)| (lease, bytes))
    }

    /// [`LeaseEnvelope::open`] for a device that trusts several keys (while the server's key
    /// rotates): the signature must verify with one of `trusted`, and the key id inside the
    /// signed bytes must be that key's. Returns the key that signed.
    pub fn open_trusted(
        &self,
        trusted: &[ServerPublicKey],
    ) -> Result<(Lease, Vec<u8>, ServerPublicKey), WireError> {
        let bytes = unb64(&self.lease, "lease")?;
        let sig = unb64(&self.signature, "signature")?;
        // Signed alone, the signature covers the lease bytes; in a batch, the root their
        // path leads to.
        let root;
        let signed: &[u8] = match &self.proof {
            None => &bytes,
            Some(proof) => {
                let proof = Proof::decode(&unb64(proof, "proof")?)?;
                root = merkle::signed_message(&proof.root(merkle::leaf(&bytes)));
                &root
            }
        };
        let signer = trusted
            .iter()
            .find(|k| k.verify(signed, &sig).is_ok())
            .ok_or(WireError::BadSignature)?;
        let lease = Lease::decode(&bytes)?;
        if lease.key_id != signer.id() {
            return Err(WireError::UnknownKey(lease.key_id.to_string()));
        }
        Ok((lease, bytes, *signer))
    }
}

/// A lease encoded and ready to be signed, alone ([`UnsignedLease::sign`]) or with others
/// ([`sign_batch`]).
#[derive(Clone, Debug)]
pub struct UnsignedLease {
    bytes: Vec<u8>,
    view: Option<LeaseView>,
}

impl UnsignedLease {
    /// Encodes `lease`, and its readable copy: what answers to version 2 and 3 check-ins
    /// carry.
    pub fn new(lease: &Lease) -> Self {
        Self {
            bytes: lease.encode(),
            view: Some(LeaseView::from(lease)),
        }
    }

    /// Encodes `lease` without the readable copy: answers to version 4 check-ins leave it
    /// out. No agent reads it, and it was about a third of an answer's bytes, built,
    /// serialised and sent with every check-in.
    pub fn bare(lease: &Lease) -> Self {
        Self {
            bytes: lease.encode(),
            view: None,
        }
    }

    /// Signs the lease bytes themselves: what an agent that sent a version 2 or 3 check-in
    /// can read.
    pub fn sign(self, key: &ServerKey) -> LeaseEnvelope {
        let signature = key.sign(&self.bytes);
        self.envelope(key, &signature, None)
    }

    fn envelope(
        self,
        key: &ServerKey,
        signature: &[u8; 64],
        proof: Option<String>,
    ) -> LeaseEnvelope {
        LeaseEnvelope {
            key_id: key.id().to_string(),
            signature: b64(signature),
            lease: b64(&self.bytes),
            proof,
            view: self.view,
            mac_key: None,
        }
    }
}

/// Signs `leases` together with `key` (docs/protocol.md, section 3b): one signature over
/// the root of their hash tree, each envelope carrying its lease's path to it. Empty in,
/// empty out.
pub fn sign_batch(leases: Vec<UnsignedLease>, key: &ServerKey) -> Vec<LeaseEnvelope> {
    if leases.is_empty() {
        return Vec::new();
    }
    let leaves: Vec<[u8; 32]> = leases.iter().map(|l| merkle::leaf(&l.bytes)).collect();
    let (root, proofs) = merkle::tree(&leaves);
    let signature = key.sign(&merkle::signed_message(&root));
    leases
        .into_iter()
        .zip(proofs)
        .map(|(lease, proof)| lease.envelope(key, &signature, Some(b64(&proof.encode()))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyId;
    use crate::lease::tests::sample;

    fn signed() -> (ServerKey, LeaseEnvelope, Lease) {
        let key = ServerKey::generate();
        let mut lease = sample();
        lease.key_id = key.id();
        (key.clone(), LeaseEnvelope::seal(&lease, &key), lease)
    }

    #[test]
    fn opens_with_pinned_key() {
        let (key, env, lease) = signed();
        assert_eq!(env.open(&key.public()).unwrap().0, lease);
    }

    #[test]
    fn refuses_other_key_and_tampering() {
        let (_, env, _) = signed();
        let other = ServerKey::generate();
        assert_eq!(
            env.open(&other.public()).unwrap_err(),
            WireError::BadSignature
        );

        let (key, mut env, _) = signed();
        let mut bytes = unb64(&env.lease, "lease").unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        env.lease = b64(&bytes);
        assert_eq!(
            env.open(&key.public()).unwrap_err(),
            WireError::BadSignature
        );

        let (key, mut env, _) = signed();
        let mut sig = unb64(&env.signature, "signature").unwrap();
        sig[0] ^= 1;
        env.signature = b64(&sig);
        assert_eq!(
            env.open(&key.public()).unwrap_err(),
            WireError::BadSignature
        );
    }

    #[test]
    fn several_trusted_keys_each_open_their_own_leases() {
        let (key, env, lease) = signed();
        let other = ServerKey::generate();
        let (opened, _, signer) = env.open_trusted(&[other.public(), key.public()]).unwrap();
        assert_eq!((opened, signer), (lease, key.public()));
        assert_eq!(
            env.open_trusted(&[other.public()]).unwrap_err(),
            WireError::BadSignature
        );
        assert_eq!(env.open_trusted(&[]).unwrap_err(), WireError::BadSignature);
    }

    /// Five leases of five devices signed as one batch.
    fn batch() -> (ServerKey, Vec<LeaseEnvelope>, Vec<Lease>) {
        let key = ServerKey::generate();
        let leases: Vec<Lease> = (1..=5u64)
            .map(|n| {
                let mut lease = sample();
                lease.key_id = key.id();
                lease.sequence = n;
                lease.in_reply_to = 100 + n;
                lease
            })
            .collect();
        let envelopes = sign_batch(leases.iter().map(UnsignedLease::new).collect(), &key);
        (key, envelopes, leases)
    }

    #[test]
    fn leases_signed_in_a_batch_each_open_alone() {
        let (key, envelopes, leases) = batch();
        assert_eq!(envelopes.len(), 5);
        for (env, lease) in envelopes.iter().zip(&leases) {
            assert!(env.proof.is_some());
            // Through JSON, as an agent gets it.
            let env: LeaseEnvelope =
                serde_json::from_str(&serde_json::to_string(env).unwrap()).unwrap();
            assert_eq!(&env.open(&key.public()).unwrap().0, lease);
            assert_eq!(
                env.open(&ServerKey::generate().public()).unwrap_err(),
                WireError::BadSignature
            );
        }
        // One signature for all of them.
        assert!(envelopes
            .iter()
            .all(|e| e.signature == envelopes[0].signature));
        assert!(sign_batch(Vec::new(), &key).is_empty());
    }

    #[test]
    fn a_batch_signature_covers_nothing_but_its_own_leases() {
        let (key, envelopes, _) = batch();
        let pinned = key.public();
        // Another lease of the batch under this lease's path.
        let mut swapped = envelopes[0].clone();
        swapped.lease = envelopes[1].lease.clone();
        assert_eq!(swapped.open(&pinned).unwrap_err(), WireError::BadSignature);
        // A lease changed by one bit.
        let mut changed = envelopes[2].clone();
        let mut bytes = unb64(&changed.lease, "lease").unwrap();
        bytes[90] ^= 1;
        changed.lease = b64(&bytes);
        assert_eq!(changed.open(&pinned).unwrap_err(), WireError::BadSignature);
        // The path dropped: the root's signature is no lease's.
        let mut bare = envelopes[3].clone();
        bare.proof = None;
        assert_eq!(bare.open(&pinned).unwrap_err(), WireError::BadSignature);
        // A path shortened by a step, or an empty path beside a lone lease's signature.
        let mut short = envelopes[4].clone();
        let steps = unb64(short.proof.as_deref().unwrap(), "proof").unwrap();
        short.proof = Some(b64(&steps[33..]));
        assert_eq!(short.open(&pinned).unwrap_err(), WireError::BadSignature);
        let (key, mut alone, _) = signed();
        alone.proof = Some(String::new());
        assert_eq!(
            alone.open(&key.public()).unwrap_err(),
            WireError::BadSignature
        );
        // A path that is not one.
        let mut garbled = envelopes[0].clone();
        garbled.proof = Some(b64(&[2u8; 33]));
        assert!(matches!(
            garbled.open(&pinned),
            Err(WireError::Invalid { field: "proof", .. })
        ));
    }

    #[test]
    fn lease_naming_another_key_id_is_refused_even_if_signed() {
        let key = ServerKey::generate();
        let lease = sample(); // key_id is not this key's
        let env = LeaseEnvelope::seal(&lease, &key);
        assert!(matches!(
            env.open(&key.public()),
            Err(WireError::UnknownKey(_))
        ));
    }

    #[test]
    fn checkin_signature_is_checked_against_named_key() {
        let key = DeviceKey::generate();
        let c = CheckIn {
            version: crate::CheckInVersion::V3,
            imei: lienlock_domain::Imei::parse("490154203237518").unwrap(),
            device_key: key.public(),
            counter: 1,
            device_time: lienlock_domain::Timestamp::from_millis(5),
            held_lease_seq: 0,
            notice_ack: 0,
            server_key_id: None,
            user_since: 0,
            reports: Vec::new(),
            signals: Vec::new(),
        };
        let sealed = SignedCheckIn::seal(&c, &key);
        assert_eq!(sealed.open().unwrap(), c);

        let impostor = DeviceKey::generate();
        let forged = SignedCheckIn {
            body: sealed.body.clone(),
            signature: SignedCheckIn::seal(&c, &impostor).signature,
            want_mac_key: false,
        };
        assert_eq!(forged.open().unwrap_err(), WireError::BadSignature);
    }

    fn v5(key: &DeviceKey, server: KeyId) -> CheckIn {
        CheckIn {
            version: crate::CheckInVersion::V5,
            imei: lienlock_domain::Imei::parse("490154203237518").unwrap(),
            device_key: key.public(),
            counter: 9,
            device_time: lienlock_domain::Timestamp::from_millis(5),
            held_lease_seq: 3,
            notice_ack: 0,
            server_key_id: Some(server),
            user_since: 0,
            reports: Vec::new(),
            signals: Vec::new(),
        }
    }

    /// The device unwraps the key the server wrapped for it, and the server takes the
    /// check-ins it authenticates, from that device key and under that server key only.
    #[test]
    fn a_mac_key_handed_out_authenticates_that_devices_check_ins_alone() {
        let server = ServerKey::generate();
        let device = DeviceKey::generate();
        let wrapped = server
            .wrapped_mac_key(Some(server.id()), &device.public())
            .unwrap();
        let mac = device
            .unwrap_mac_key(&server.public(), &wrapped)
            .expect("wrapped for this device");
        let c = v5(&device, server.id());
        let sealed = SignedCheckIn::seal_mac(&c, &mac);
        assert_eq!(sealed.decode().unwrap().verify_mac(&server).unwrap(), c);
        // A MAC is not a signature, nor a signature a MAC.
        assert_eq!(sealed.open().unwrap_err(), WireError::BadSignature);
        let mut signed_v4 = c.clone();
        signed_v4.version = crate::CheckInVersion::V4;
        let sig = SignedCheckIn::seal(&signed_v4, &device);
        assert_eq!(
            sig.decode().unwrap().verify_mac(&server).unwrap_err(),
            WireError::BadSignature
        );
        // Batched with signed ones, it is refused in its own place.
        let batch = vec![
            sig.decode().unwrap(),
            sealed.decode().unwrap(),
            sig.decode().unwrap(),
        ];
        let answers = verify_checkins(batch);
        assert!(answers[0].is_ok() && answers[2].is_ok());
        assert_eq!(answers[1].clone().unwrap_err(), WireError::BadSignature);

        // Another device cannot read the key, nor use its own key for this device.
        let other = DeviceKey::generate();
        let theirs = other.unwrap_mac_key(&server.public(), &wrapped).unwrap();
        assert_ne!(theirs, mac);
        let forged = SignedCheckIn::seal_mac(&c, &theirs);
        assert_eq!(
            forged.decode().unwrap().verify_mac(&server).unwrap_err(),
            WireError::BadSignature
        );
        // A tampered body, a truncated tag.
        let mut changed = c.clone();
        changed.counter += 1;
        let mut moved = SignedCheckIn::seal_mac(&changed, &mac);
        moved.signature = sealed.signature.clone();
        assert_eq!(
            moved.decode().unwrap().verify_mac(&server).unwrap_err(),
            WireError::BadSignature
        );
        let mut short = sealed.clone();
        short.signature = b64(&unb64(&sealed.signature, "s").unwrap()[..16]);
        assert_eq!(
            short.decode().unwrap().verify_mac(&server).unwrap_err(),
            WireError::BadSignature
        );
        // Another server (or one that retired the key) holds no such key.
        assert_eq!(
            sealed
                .decode()
                .unwrap()
                .verify_mac(&ServerKey::generate())
                .unwrap_err(),
            WireError::BadSignature
        );
    }

    /// Through a rotation: the key named by the device is used while the server holds it,
    /// and a wrapping names the key it belongs to.
    #[test]
    fn mac_keys_follow_the_key_the_device_names() {
        let old = ServerKey::generate();
        let new = ServerKey::generate();
        let device = DeviceKey::generate();
        let rotating = old.clone().with_next(new.clone());
        let promoted = new.clone().with_previous(old.clone());
        let under_old = rotating
            .wrapped_mac_key(Some(old.id()), &device.public())
            .unwrap();
        let under_new = rotating
            .wrapped_mac_key(Some(new.id()), &device.public())
            .unwrap();
        assert_eq!(under_old[..8], old.id().0);
        assert_eq!(under_new[..8], new.id().0);
        // Unwrapped with the key it names, and only with it.
        assert!(device.unwrap_mac_key(&new.public(), &under_old).is_none());
        let mac_old = device.unwrap_mac_key(&old.public(), &under_old).unwrap();
        let mac_new = device.unwrap_mac_key(&new.public(), &under_new).unwrap();
        // Both servers of the rotation check both keys' MACs; a server without the old key
        // refuses its MACs.
        for server in [&rotating, &promoted] {
            for (named, mac) in [(old.id(), &mac_old), (new.id(), &mac_new)] {
                let sealed = SignedCheckIn::seal_mac(&v5(&device, named), mac);
                assert!(sealed.decode().unwrap().verify_mac(server).is_ok());
            }
        }
        let sealed = SignedCheckIn::seal_mac(&v5(&device, old.id()), &mac_old);
        assert!(sealed.decode().unwrap().verify_mac(&new).is_err());
        // A key unknown to the server: none (the device could not use one under another).
        let unknown = KeyId([7; 8]);
        assert!(rotating
            .wrapped_mac_key(Some(unknown), &device.public())
            .is_none());
        // A device naming no key: under the server's current one.
        assert_eq!(
            rotating.wrapped_mac_key(None, &device.public()).unwrap()[..8],
            old.id().0
        );
        // Not a device key at all.
        assert!(old.wrapped_mac_key(None, &[0u8; 32]).is_none());
    }

    #[test]
    fn want_mac_key_is_left_out_of_the_json_unless_asked() {
        let key = DeviceKey::generate();
        let mut sealed = SignedCheckIn::seal(&v5(&key, KeyId([1; 8])), &key);
        assert!(!serde_json::to_string(&sealed)
            .unwrap()
            .contains("want_mac_key"));
        sealed.want_mac_key = true;
        let json = serde_json::to_string(&sealed).unwrap();
        let back: SignedCheckIn = serde_json::from_str(&json).unwrap();
        assert!(back.want_mac_key);
    }
}
