//! Any key, starting code, device state and text as an OpenPAYGO token entry: never a
//! panic. The count is kept below 100,000 because decoding walks the chain from 0.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lienlock_wire::openpaygo::{decode_with_state, Format, Key, StartingCode, UsedCounts};

fuzz_target!(|data: &[u8]| {
    if data.len() < 25 {
        return;
    }
    let (head, token) = data.split_at(25);
    let key = Key::from_bytes(head[..16].try_into().unwrap());
    let start = u32::from_be_bytes(head[16..20].try_into().unwrap());
    let count = u32::from_be_bytes(head[20..24].try_into().unwrap()) % 100_000;
    let format = Format {
        restricted_digits: head[24] & 1 == 1,
        extended: head[24] & 2 == 2,
    };
    let Ok(start) = StartingCode::new(start) else {
        return;
    };
    let token = String::from_utf8_lossy(token);
    let _ = decode_with_state(&key, start, UsedCounts::new(count), &token, format);
});
