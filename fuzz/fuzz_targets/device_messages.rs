//! Any bytes as each device request the server decodes: the check-in (`LLCHK005` and
//! `LLCHK004`, and `LLCHK003` and `LLCHK002` from older agents), the dispute (`LLDSP001`) and the push subscription
//! (`LLSUB001`). Never a panic; whatever decodes re-encodes to exactly the same bytes (the
//! encodings are canonical, so no two byte strings carry the same request, and a signature
//! covers one meaning); the bounds hold.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lienlock_wire::codec::MAX_TEXT;
use lienlock_wire::{CheckIn, DisputeRequest, SubscribeRequest, MAX_REPORTS, MAX_SIGNALS};

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = CheckIn::decode(data) {
        assert_eq!(c.encode(), data);
        assert!(c.reports.len() <= MAX_REPORTS);
        assert!(c.signals.len() <= MAX_SIGNALS);
        assert!(c.signals.windows(2).all(|w| w[0].seq < w[1].seq));
    }
    if let Ok(d) = DisputeRequest::decode(data) {
        assert_eq!(d.encode(), data);
        assert!(d.reason.len() <= MAX_TEXT);
    }
    if let Ok(s) = SubscribeRequest::decode(data) {
        assert_eq!(s.encode(), data);
        assert_eq!(data.len(), SubscribeRequest::LEN);
    }
});
