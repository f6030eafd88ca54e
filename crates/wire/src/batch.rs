//! Verifying many device signatures at once.
//!
//! One Ed25519 verification is a double scalar multiplication; a batch of them is one
//! multiscalar multiplication over all their points, which costs well under half as much
//! per signature once a batch holds a few dozen (docs/benchmarks.md, fourth round). A
//! server receiving thousands of check-ins a second has that many waiting at once.
//!
//! The answer for each signature is the one [`verify_device`] gives it alone, with one
//! documented exception below. Before the batch, each signature passes the checks
//! `verify_strict` makes besides the equation: the key is a point and not of small order,
//! `s` is reduced, and `R` is canonically encoded and not of small order (the batch would
//! otherwise accept the encodings and points `verify_strict` refuses). A signature failing
//! one of them gets its own error and stays out of the batch. When the batch equation
//! fails, at least one signature in it is bad and the batch cannot say which, so each is
//! verified alone: a bad signature costs its batch the time of verifying one by one, never
//! a wrong answer.
//!
//! The exception: the batch equation holds, with overwhelming probability, exactly when
//! every signature's own equation holds up to a point of small order. `verify_strict`
//! wants equality, so a signature off by such a point can pass in a batch and fail alone.
//! Only the holder of the key can make one (it needs a valid signature's secret scalar),
//! so it cannot forge anyone else's check-in; it only lets a key's holder sign one message
//! in two ways, which signing it once already allowed.

use crate::codec::WireError;
use crate::keys::{device_public_key, verify_device};
use curve25519_dalek::edwards::CompressedEdwardsY;
use curve25519_dalek::Scalar;
use ed25519_dalek::{Signature, VerifyingKey};
use std::sync::OnceLock;

/// One signature to check: the public key the message names, the exact bytes that were
/// signed, and the signature as received.
#[derive(Clone, Copy, Debug)]
pub struct DeviceSignature<'a> {
    /// The device key carried in the message.
    pub public: &'a [u8; 32],
    /// The bytes the signature covers.
    pub msg: &'a [u8],
    /// The signature, 64 bytes when well formed.
    pub signature: &'a [u8],
}

/// Verifies every signature in `items`, returning one answer per item in the same order:
/// what [`verify_device`] returns for it (see the module's comment for the one
/// difference).
pub fn verify_devices(items: &[DeviceSignature<'_>]) -> Vec<Result<(), WireError>> {
    if items.len() < 2 {
        return items
            .iter()
            .map(|i| verify_device(i.public, i.msg, i.signature))
            .collect();
    }
    let mut answers: Vec<Result<(), WireError>> = Vec::with_capacity(items.len());
    let (mut keys, mut sigs, mut msgs, mut batched) = (vec![], vec![], vec![], vec![]);
    for (n, item) in items.iter().enumerate() {
        match precheck(item) {
            Ok((key, sig)) => {
                keys.push(key);
                sigs.push(sig);
                msgs.push(item.msg);
                batched.push(n);
                answers.push(Ok(()));
            }
            Err(e) => answers.push(Err(e)),
        }
    }
    // A batch of one gains nothing: it is verified alone below.
    let batch_holds = batched.len() > 1 && ed25519_dalek::verify_batch(&msgs, &sigs, &keys).is_ok();
    if !batch_holds {
        for n in batched {
            let i = &items[n];
            answers[n] = verify_device(i.public, i.msg, i.signature);
        }
    }
    answers
}

/// The checks `verify_strict` makes besides its equation, each refused as it would be.
fn precheck(item: &DeviceSignature<'_>) -> Result<(VerifyingKey, Signature), WireError> {
    let key = device_public_key(item.public)?;
    let sig = Signature::from_slice(item.signature).map_err(|_| WireError::BadSignature)?;
    let r = sig.r_bytes();
    let reduced_s = bool::from(Scalar::from_canonical_bytes(*sig.s_bytes()).is_some());
    if key.is_weak() || !reduced_s || !canonical_y(r) || small_order_encodings().contains(r) {
        return Err(WireError::BadSignature);
    }
    Ok((key, sig))
}

/// Whether a point's encoding has its `y` below the field's prime 2^255 - 19 (bit 255 is
/// the sign of `x`). The other encodings name the same points as smaller ones.
fn canonical_y(bytes: &[u8; 32]) -> bool {
    let top = bytes[31] & 0x7f == 0x7f && bytes[1..31].iter().all(|b| *b == 0xff);
    !(top && bytes[0] >= 0xed)
}

/// Every canonical-`y` encoding of a point of small order: the eight points' own, and
/// the two with `x = 0` again with the sign bit set (which decode to the same point; for
/// the other six, flipping the sign names another of the eight).
fn small_order_encodings() -> &'static [[u8; 32]] {
    static ENCODINGS: OnceLock<Vec<[u8; 32]>> = OnceLock::new();
    ENCODINGS.get_or_init(|| {
        let mut all: Vec<[u8; 32]> = curve25519_dalek::constants::EIGHT_TORSION
            .iter()
            .flat_map(|p| {
                let bytes = p.compress().to_bytes();
                let mut flipped = bytes;
                flipped[31] ^= 0x80;
                [bytes, flipped]
            })
            .filter(|b| {
                CompressedEdwardsY(*b)
                    .decompress()
                    .is_some_and(|p| p.is_small_order())
            })
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::DeviceKey;
    use proptest::prelude::*;

    fn signed(n: usize) -> Vec<([u8; 32], Vec<u8>, Vec<u8>)> {
        (0..n)
            .map(|i| {
                let key = DeviceKey::generate();
                let msg = format!("check-in {i}").into_bytes();
                (key.public(), msg.clone(), key.sign(&msg).to_vec())
            })
            .collect()
    }

    fn verify(items: &[([u8; 32], Vec<u8>, Vec<u8>)]) -> Vec<Result<(), WireError>> {
        let refs: Vec<DeviceSignature<'_>> = items
            .iter()
            .map(|(public, msg, signature)| DeviceSignature {
                public,
                msg,
                signature,
            })
            .collect();
        verify_devices(&refs)
    }

    fn alone(items: &[([u8; 32], Vec<u8>, Vec<u8>)]) -> Vec<Result<(), WireError>> {
        items
            .iter()
            .map(|(k, m, s)| verify_device(k, m, s))
            .collect()
    }

    #[test]
    fn a_good_batch_passes_and_one_bad_signature_is_found_alone() {
        let mut items = signed(12);
        assert!(verify(&items).iter().all(Result::is_ok));
        items[7].1.push(b'!');
        let answers = verify(&items);
        for (n, a) in answers.iter().enumerate() {
            assert_eq!(a.is_ok(), n != 7, "item {n}: {a:?}");
        }
        assert!(matches!(answers[7], Err(WireError::BadSignature)));
    }

    #[test]
    fn small_order_and_non_canonical_r_are_refused_as_verify_strict_refuses_them() {
        let encodings = small_order_encodings();
        assert_eq!(encodings.len(), 10);
        for r in encodings {
            let mut items = signed(3);
            items[1].2[..32].copy_from_slice(r);
            let answers = verify(&items);
            assert!(matches!(answers[1], Err(WireError::BadSignature)), "{r:?}");
            assert!(answers[0].is_ok() && answers[2].is_ok());
        }
        let mut y_above_p = [0xffu8; 32];
        y_above_p[0] = 0xee;
        y_above_p[31] = 0x7f;
        assert!(!canonical_y(&y_above_p));
        let mut items = signed(2);
        items[0].2[..32].copy_from_slice(&y_above_p);
        assert!(matches!(verify(&items)[0], Err(WireError::BadSignature)));
    }

    #[test]
    fn a_key_that_is_no_point_or_of_small_order_is_refused() {
        let mut items = signed(3);
        // y = 2 is not on the curve.
        let mut not_a_point = [0u8; 32];
        not_a_point[0] = 2;
        items[0].0 = not_a_point;
        // The identity: a point of small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        items[2].0 = identity;
        let answers = verify(&items);
        assert!(matches!(
            answers[0],
            Err(WireError::Invalid {
                field: "device_key",
                ..
            })
        ));
        assert!(answers[1].is_ok());
        assert!(matches!(answers[2], Err(WireError::BadSignature)));
        assert_eq!(answers, alone(&items));
    }

    /// Signatures that satisfy the batch's equation (and plain `verify`) but that
    /// `verify_strict` refuses: they must be refused here too, by the prechecks.
    #[test]
    fn what_only_the_batch_equation_would_accept_is_refused() {
        use curve25519_dalek::constants::ED25519_BASEPOINT_POINT as B;
        use ed25519_dalek::{Signer, SigningKey, Verifier};
        use sha2::{Digest, Sha512};
        let k = |r: &[u8], a: &[u8], m: &[u8]| {
            let h: [u8; 64] = Sha512::new()
                .chain_update(r)
                .chain_update(a)
                .chain_update(m)
                .finalize()
                .into();
            Scalar::from_bytes_mod_order_wide(&h)
        };
        let msg = b"check-in".to_vec();
        let identity = {
            let mut b = [0u8; 32];
            b[0] = 1;
            b
        };
        // R the identity: s = k·a makes [s]B = R + [k]A hold.
        let sk = SigningKey::generate(&mut rand::rngs::OsRng);
        let a = sk.verifying_key().to_bytes();
        let s = k(&identity, &a, &msg) * sk.to_scalar();
        let mut r_identity = [0u8; 64];
        r_identity[..32].copy_from_slice(&identity);
        r_identity[32..].copy_from_slice(s.as_bytes());
        let sig = Signature::from_bytes(&r_identity);
        assert!(sk.verifying_key().verify(&msg, &sig).is_ok());
        assert!(sk.verifying_key().verify_strict(&msg, &sig).is_err());
        // The key the identity: any s, with R = [s]B.
        let s = Scalar::from_bytes_mod_order([7; 32]);
        let mut weak_key = [0u8; 64];
        weak_key[..32].copy_from_slice(&(s * B).compress().to_bytes());
        weak_key[32..].copy_from_slice(s.as_bytes());
        let good = SigningKey::generate(&mut rand::rngs::OsRng);
        let items = vec![
            (a, msg.clone(), r_identity.to_vec()),
            (identity, msg.clone(), weak_key.to_vec()),
            (
                good.verifying_key().to_bytes(),
                msg.clone(),
                good.sign(&msg).to_bytes().to_vec(),
            ),
        ];
        // Without the prechecks the batch of the three holds.
        let keys: Vec<VerifyingKey> = items
            .iter()
            .map(|i| VerifyingKey::from_bytes(&i.0).unwrap())
            .collect();
        let sigs: Vec<Signature> = items
            .iter()
            .map(|i| Signature::from_slice(&i.2).unwrap())
            .collect();
        let msgs: Vec<&[u8]> = items.iter().map(|i| &i.1[..]).collect();
        assert!(ed25519_dalek::verify_batch(&msgs, &sigs, &keys).is_ok());
        let answers = verify(&items);
        assert!(matches!(answers[0], Err(WireError::BadSignature)));
        assert!(matches!(answers[1], Err(WireError::BadSignature)));
        assert!(answers[2].is_ok());
        assert_eq!(answers, alone(&items));
    }

    #[test]
    fn an_unreduced_s_is_refused() {
        let mut items = signed(2);
        // s at or above 2^255, far past the group's order (about 2^252).
        items[0].2[63] |= 0xf0;
        assert!(matches!(verify(&items)[0], Err(WireError::BadSignature)));
        assert!(verify(&items)[1].is_ok());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Whatever mix of good and damaged signatures arrives together, each gets the
        /// answer it gets alone.
        #[test]
        fn each_answer_is_the_answer_alone(
            damage in proptest::collection::vec(0u8..6, 1..10),
        ) {
            let mut items = signed(damage.len());
            let other = DeviceKey::generate().public();
            for (item, d) in items.iter_mut().zip(&damage) {
                match d {
                    1 => item.1[0] ^= 1,
                    2 => item.2[40] ^= 0x10,
                    3 => item.0 = other,
                    4 => item.2.truncate(63),
                    _ => {}
                }
            }
            prop_assert_eq!(verify(&items), alone(&items));
        }
    }
}
