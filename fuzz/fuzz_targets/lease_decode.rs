//! Any bytes as a lease, in every version the agent reads (`LLLSE004` announcing the next
//! server key, `LLLSE003`, and `LLLSE002` without `amount_due`): never a panic. A lease in
//! a version still written re-encodes to exactly its bytes (the encoding is canonical); an
//! older one re-encodes in a current version to the same lease. Every bound the decoder
//! promises holds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lienlock_wire::codec::MAX_TEXT;
use lienlock_wire::{Lease, MAX_NOTICES};

fuzz_target!(|data: &[u8]| {
    let Ok(lease) = Lease::decode(data) else {
        return;
    };
    let again = lease.encode();
    if again[..8] == data[..8] {
        assert_eq!(again, data, "a lease in a written version is canonical");
    } else {
        assert_eq!(
            Lease::decode(&again).as_ref(),
            Ok(&lease),
            "an old version upgrades"
        );
    }
    assert!(lease.notices.len() <= MAX_NOTICES);
    let s = &lease.lock_screen;
    for text in [
        &s.lender_name,
        &s.support_phone,
        &s.support_url,
        &s.message,
        &s.amount_due,
    ] {
        assert!(text.len() <= MAX_TEXT);
    }
    for n in &lease.notices {
        assert!(n.kind.len() <= MAX_TEXT && n.message.len() <= MAX_TEXT);
    }
    // The profile never restricts what the protected capabilities guarantee.
    for c in lienlock_domain::Capability::ALL {
        if c.is_protected() {
            assert!(lease.profile.allows(c), "{c:?} restricted");
        }
    }
});
