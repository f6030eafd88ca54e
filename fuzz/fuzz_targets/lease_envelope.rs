//! Any bytes as the JSON lease envelope a device receives (from the server, or from its own
//! lease file), opened with a fixed pinned key, and with that key among several trusted
//! ones (as during a key rotation), as the agent does. Never a panic. What opens is exactly
//! a lease the fixtures signed (alone, or in a batch with a path to the signed root),
//! decoded from the signed bytes, naming the key that signed
//! it; nothing opens under a key that signed nothing; the unsigned `key_id` and `view`
//! fields change nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lienlock_fuzz_seeds::{other_server_key, server_key, signed_lease_bytes};
use lienlock_wire::{Lease, LeaseEnvelope, ServerPublicKey};
use std::sync::OnceLock;

struct Fixed {
    pinned: ServerPublicKey,
    other: ServerPublicKey,
    signed: Vec<Vec<u8>>,
}

fn fixed() -> &'static Fixed {
    static FIXED: OnceLock<Fixed> = OnceLock::new();
    FIXED.get_or_init(|| Fixed {
        pinned: server_key().public(),
        other: other_server_key().public(),
        signed: signed_lease_bytes(),
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixed();
    let Ok(envelope) = serde_json::from_slice::<LeaseEnvelope>(data) else {
        return;
    };
    let opened = envelope.open(&f.pinned);
    if let Ok((lease, bytes)) = &opened {
        assert!(f.signed.contains(bytes), "an unsigned lease opened");
        assert_eq!(lease.key_id, f.pinned.id());
        assert_eq!(Lease::decode(bytes).as_ref(), Ok(lease));
        let without_view = LeaseEnvelope {
            view: None,
            key_id: String::new(),
            ..envelope.clone()
        };
        assert_eq!(
            without_view.open(&f.pinned).as_ref(),
            Ok(&(lease.clone(), bytes.clone()))
        );
    }
    assert!(
        envelope.open(&f.other).is_err(),
        "the other key signed nothing"
    );
    let trusted = envelope.open_trusted(&[f.other, f.pinned]);
    match (&opened, trusted) {
        (Ok(one), Ok((lease, bytes, signer))) => {
            assert_eq!(signer, f.pinned);
            assert_eq!(one, &(lease, bytes));
        }
        (Err(_), Err(_)) => {}
        (one, several) => panic!("pinned alone: {one:?}; among several: {several:?}"),
    }
});
