//! OpenPAYGO tokens generated for any key, starting code, count (up to 1024), type, value
//! and format: generation either refuses or gives a token of the format's length that the
//! device, at the count it had, accepts, with the value it was made with, as exactly the
//! token of the count it is taken as (now and then an earlier count's token coincides).
//! Entered again, it is not taken as the same count.
#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use lienlock_fuzz_seeds::{format_of, OPENPAYGO_MAX_COUNT};
use lienlock_wire::openpaygo::{
    decode_with_state, encode_at, generate, Key, StartingCode, TokenType, UsedCounts,
    COUNTER_SYNC_VALUE, DISABLE_PAYG_VALUE,
};

fn run(u: &mut Unstructured) -> Result<()> {
    let format = format_of(u.arbitrary()?);
    let kind = [
        TokenType::AddTime,
        TokenType::SetTime,
        TokenType::DisablePayg,
        TokenType::CounterSync,
    ][usize::from(u.arbitrary::<u8>()? % 4)];
    let count = u.arbitrary::<u32>()? % (OPENPAYGO_MAX_COUNT + 1);
    let generated_value: Option<u32> = u.arbitrary()?;
    let key = Key::from_bytes(u.arbitrary()?);
    let Ok(start) = StartingCode::new(u.arbitrary::<u32>()? % (StartingCode::MAX + 1)) else {
        unreachable!("in range");
    };
    let mask: u16 = u.arbitrary()?;
    let Ok(generated) = generate(&key, start, count, kind, generated_value, format) else {
        return Ok(());
    };
    assert_eq!(generated.token.len(), format.token_len());
    assert!(generated.new_count > count && generated.new_count <= count + 2);
    let state = UsedCounts::from_parts(count, mask);
    let decoded = decode_with_state(&key, start, state, &generated.token, format)
        .expect("a generated token is well formed");
    let taken = decoded.count.expect("a fresh token is accepted");
    let value = decoded.value.expect("with its value");
    assert_eq!(
        encode_at(&key, start, taken, value, format).as_deref(),
        Ok(generated.token.as_str())
    );
    let made_with = value_made_with(kind, generated_value);
    assert_eq!(value, made_with);
    let taken_kind = decoded.kind.accepted().expect("accepted");
    if taken == generated.new_count {
        assert_eq!(taken_kind, kind);
    }
    // A counter sync may be entered again (it only brings the count up to date); any other
    // token works once.
    if taken_kind != TokenType::CounterSync {
        let used = decoded.used.expect("and a new state");
        let again = decode_with_state(&key, start, used, &generated.token, format)
            .expect("still well formed");
        assert_ne!(again.count, Some(taken), "a token works once");
    }
    Ok(())
}

/// The value a token carries: its own for ADD_TIME and SET_TIME, fixed for the others.
fn value_made_with(kind: TokenType, value: Option<u32>) -> u32 {
    match kind {
        TokenType::DisablePayg => DISABLE_PAYG_VALUE,
        TokenType::CounterSync => COUNTER_SYNC_VALUE,
        TokenType::AddTime | TokenType::SetTime => value.expect("generate required it"),
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
