//! Any text typed as an OpenPAYGO token on a device with any count (up to 1024: decoding
//! walks the chain from 0) and used-count mask, in each of the four formats, with a fixed
//! key and starting code. Never a panic. A token that is accepted is never the count-0
//! starting code, is within reach of the count, is exactly the token that count and value
//! encode to, was allowed by the state, and (unless a counter sync, which may be entered
//! again) leaves a state that no longer accepts it. The reference's list form of the
//! state decides the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lienlock_fuzz_seeds::{openpaygo_key, openpaygo_start, split_openpaygo_input};
use lienlock_wire::openpaygo::{
    decode, decode_with_state, encode_at, TokenType, UsedCounts, MAX_TOKEN_JUMP_COUNTER_SYNC,
};

fuzz_target!(|data: &[u8]| {
    let Some((format, max, mask, token)) = split_openpaygo_input(data) else {
        return;
    };
    let Ok(token) = std::str::from_utf8(token) else {
        return;
    };
    let (key, start) = (openpaygo_key(), openpaygo_start());
    let state = UsedCounts::from_parts(max, mask);
    let Ok(decoded) = decode_with_state(&key, start, state, token, format) else {
        return;
    };
    let listed = decode(&key, start, max, &state.to_list(), token, format);
    assert_eq!(
        listed.as_ref(),
        Ok(&decoded),
        "list and compact state agree"
    );
    let Some(kind) = decoded.kind.accepted() else {
        assert!(decoded.count.is_none() && decoded.used.is_none());
        return;
    };
    let (count, value) = (decoded.count.unwrap(), decoded.value.unwrap());
    let used = decoded.used.unwrap();
    assert_ne!(count, 0, "the starting code is never a token");
    assert!(u64::from(count) <= u64::from(max) + u64::from(MAX_TOKEN_JUMP_COUNTER_SYNC));
    assert_eq!(kind, TokenType::at(count, value));
    assert!(state.accepts(count, kind));
    assert_eq!(
        encode_at(&key, start, count, value, format).as_deref(),
        Ok(token)
    );
    assert_eq!(used.max(), max.max(count));
    if kind != TokenType::CounterSync {
        // A counter sync may be entered again; any other token works once.
        assert!(!used.accepts(count, kind), "a token works once");
    }
});
