//! Any key, device, counter state and text as an `LC1` unlock code: never a panic, and a
//! code that decodes is always new to the device (its counter is above the state's).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lienlock_domain::DeviceId;
use lienlock_wire::unlock_code::{CodeKey, CodeState, UnlockCode};

fuzz_target!(|data: &[u8]| {
    if data.len() < 52 {
        return;
    }
    let (head, text) = data.split_at(52);
    let key = CodeKey::from_bytes(head[..32].try_into().unwrap());
    let device = DeviceId::from_bytes(head[32..48].try_into().unwrap());
    let state = CodeState::new(u32::from_be_bytes(head[48..52].try_into().unwrap()));
    let text = String::from_utf8_lossy(text);
    if let Ok(code) = UnlockCode::decode(&text, &key, &device, state) {
        assert!(code.counter > state.highest_counter());
    }
});
