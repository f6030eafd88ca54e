//! Any bytes as a check-in, a lease or a dispute request: never a panic, and whatever
//! decodes encodes back to the same bytes (the encodings are canonical).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lienlock_wire::{CheckIn, DisputeRequest, Lease};

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = CheckIn::decode(data) {
        assert_eq!(c.encode(), data);
    }
    if let Ok(l) = Lease::decode(data) {
        assert_eq!(l.encode(), data);
    }
    let _ = DisputeRequest::decode(data);
});
