//! Any text typed as an `LC1` unlock code on a device whose highest accepted counter is any
//! value, checked with a fixed key and device as the agent does (`CodeState::redeem`).
//! Never a panic. A code that is taken is new to the device (its counter within the 32
//! above the highest), is exactly what the server would mint for that counter (so nothing
//! but a genuine code is taken), moves the state to its counter, and is refused if
//! entered again (as reused). A reuse names a counter the device already passed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lienlock_fuzz_seeds::{code_key, device_id, split_unlock_code_input};
use lienlock_wire::unlock_code::{CodeError, CodeState, UnlockCode, COUNTER_WINDOW};

fn digits(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((highest, text)) = split_unlock_code_input(data) else {
        return;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let (key, device) = (code_key(), device_id());
    let before = CodeState::new(highest);
    let mut state = before;
    let decoded = UnlockCode::decode(text, &key, &device, before);
    let redeemed = state.redeem(text, &key, &device);
    assert_eq!(decoded, redeemed, "decode and redeem agree");
    match redeemed {
        Ok(code) => {
            assert!(code.counter > highest);
            assert!(u64::from(code.counter) <= u64::from(highest) + u64::from(COUNTER_WINDOW));
            assert_eq!(state.highest_counter(), code.counter);
            let minted = code.encode(&key, &device).expect("a taken code re-encodes");
            assert_eq!(
                digits(&minted),
                digits(text),
                "only genuine codes are taken"
            );
            // Entered again: recognised as used, unless no counter is left a window above
            // it for its low bits to stand for (the last 32 of 2^32), where it is refused
            // all the same.
            let again = state.redeem(text, &key, &device);
            if u64::from(code.counter) + u64::from(COUNTER_WINDOW) <= u64::from(u32::MAX) {
                assert_eq!(
                    again,
                    Err(CodeError::Reused {
                        counter: code.counter
                    })
                );
            } else {
                assert!(again.is_err());
            }
        }
        Err(e) => {
            assert_eq!(state, before, "a refusal leaves the state alone");
            if let CodeError::Reused { counter } = e {
                assert!(counter > 0 && counter <= highest);
            }
        }
    }
});
