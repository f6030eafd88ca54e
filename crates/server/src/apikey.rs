//! API keys: `llk_<key id, 32 hex>_<secret, 43 base64url>`.
//!
//! The secret is 256 random bits, shown once. The server stores only
//! HMAC-SHA256(server secret, key id || secret), so a stolen database does not yield usable
//! keys, and compares MACs in constant time. The key id in the clear lets the server find
//! the row without comparing against every key.

use base64::Engine;
use hmac::{Hmac, Mac};
use lienlock_domain::ApiKeyId;
use rand::RngCore;
use sha2::Sha256;
use std::fmt;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

const PREFIX: &str = "llk_";

/// The server secret that API-key MACs are keyed with. `Debug` never shows it.
#[derive(Clone)]
pub struct ServerSecret(Zeroizing<[u8; 32]>);

impl ServerSecret {
    /// From 32 bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// 32 fresh random bytes.
    pub fn generate() -> Self {
        let mut b = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut b);
        Self::new(b)
    }

    /// The bytes, for writing the secret file.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn mac(&self, id: ApiKeyId, secret: &[u8]) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.0.as_slice())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(&id.to_bytes());
        mac.update(secret);
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for ServerSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerSecret(hidden)")
    }
}

/// A freshly minted key: the string to hand over once, and the MAC to store.
#[derive(Debug)]
pub struct MintedKey {
    /// The key's id.
    pub id: ApiKeyId,
    /// The whole key string. Show once; never store or log.
    pub plaintext: Zeroizing<String>,
    /// What the store keeps.
    pub secret_hmac: [u8; 32],
}

/// Makes a new key.
pub fn mint(server: &ServerSecret) -> MintedKey {
    let id = ApiKeyId::new();
    let mut secret = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(secret.as_mut_slice());
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret.as_slice());
    MintedKey {
        id,
        plaintext: Zeroizing::new(format!("{PREFIX}{}_{encoded}", id.as_uuid().simple())),
        secret_hmac: server.mac(id, secret.as_slice()),
    }
}

/// A presented key split into its id and the MAC of its secret part.
#[derive(Debug)]
pub struct PresentedKey {
    /// Which key it claims to be.
    pub id: ApiKeyId,
    mac: [u8; 32],
}

/// Parses a presented key; `None` when it is not shaped like one of ours.
pub fn parse(server: &ServerSecret, presented: &str) -> Option<PresentedKey> {
    let rest = presented.strip_prefix(PREFIX)?;
    let (id_hex, secret_b64) = rest.split_once('_')?;
    if id_hex.len() != 32 || secret_b64.len() != 43 {
        return None;
    }
    let id = ApiKeyId::from_uuid(id_hex.parse().ok()?);
    let secret = Zeroizing::new(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(secret_b64)
            .ok()?,
    );
    Some(PresentedKey {
        id,
        mac: server.mac(id, &secret),
    })
}

impl PresentedKey {
    /// Constant-time comparison with the stored MAC.
    pub fn matches(&self, stored: &[u8; 32]) -> bool {
        self.mac.ct_eq(stored).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_key_verifies_and_others_do_not() {
        let s = ServerSecret::generate();
        let k = mint(&s);
        let p = parse(&s, &k.plaintext).unwrap();
        assert_eq!(p.id, k.id);
        assert!(p.matches(&k.secret_hmac));

        let other_server = ServerSecret::generate();
        assert!(!parse(&other_server, &k.plaintext)
            .unwrap()
            .matches(&k.secret_hmac));

        let mut tampered = k.plaintext.to_string();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(parse(&s, &tampered).is_none_or(|p| !p.matches(&k.secret_hmac)));
    }

    #[test]
    fn malformed_keys_are_refused() {
        let s = ServerSecret::generate();
        for bad in ["", "llk_", "llk_abc_def", "Bearer x", "llk_zz"] {
            assert!(parse(&s, bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn key_has_at_least_128_bits_of_secret() {
        let k = mint(&ServerSecret::generate());
        // The id is hex, so the first '_' after the prefix ends it; the base64url secret may
        // itself contain '_'.
        let (_, secret) = k.plaintext[PREFIX.len()..].split_once('_').unwrap();
        assert!(secret.len() * 6 >= 256);
        for _ in 0..200 {
            let k = mint(&ServerSecret::generate());
            assert!(parse(&ServerSecret::generate(), &k.plaintext).is_some());
        }
    }
}
