//! A 64-byte signature and any message, checked against a fixed pinned server key: never a
//! panic, and nothing verifies but the exact lease encodings the fixtures signed with their
//! own (deterministic Ed25519) signatures: no forgery, no second signature for a message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lienlock_fuzz_seeds::{other_server_key, server_key, signed_lease_bytes};
use lienlock_wire::{ServerKey, ServerPublicKey};
use std::sync::OnceLock;

struct Fixed {
    key: ServerKey,
    pinned: ServerPublicKey,
    other: ServerPublicKey,
    signed: Vec<Vec<u8>>,
}

fn fixed() -> &'static Fixed {
    static FIXED: OnceLock<Fixed> = OnceLock::new();
    FIXED.get_or_init(|| Fixed {
        key: server_key(),
        pinned: server_key().public(),
        other: other_server_key().public(),
        signed: signed_lease_bytes(),
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixed();
    let (signature, message) = data.split_at(data.len().min(64));
    if f.pinned.verify(message, signature).is_ok() {
        assert!(
            f.signed.iter().any(|s| s == message),
            "an unsigned message verified"
        );
        assert_eq!(
            signature,
            f.key.sign(message),
            "a second signature verified"
        );
    }
    assert!(f.other.verify(message, signature).is_err());
});
