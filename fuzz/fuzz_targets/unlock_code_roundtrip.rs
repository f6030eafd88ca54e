//! `LC1` codes minted for any kind, counter and date under any key and device: the device
//! takes each one exactly when it is new (its counter within the window above the
//! highest taken), whichever way it is typed (dashes, spaces or neither), and refuses it as
//! reused, never as a guess, once it has passed it.
#![no_main]

use jiff::civil::Date;
use jiff::SignedDuration;
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use lienlock_domain::DeviceId;
use lienlock_wire::unlock_code::{
    CodeError, CodeKey, CodeKind, CodeState, UnlockCode, COUNTER_WINDOW, FIRST_DATE,
};

fn run(u: &mut Unstructured) -> Result<()> {
    let kind = CodeKind::ALL[usize::from(u.arbitrary::<bool>()?)];
    let counter = u.arbitrary::<u32>()?.max(1);
    let days = u.arbitrary::<u16>()? % 16_384;
    let below = u.int_in_range(1..=COUNTER_WINDOW)?.min(counter);
    let passed = u.int_in_range(0..=COUNTER_WINDOW - 1)?;
    let key = CodeKey::from_bytes(u.arbitrary()?);
    let device = DeviceId::from_bytes(u.arbitrary()?);
    let paid_until: Date = FIRST_DATE
        .checked_add(SignedDuration::from_hours(24 * i64::from(days)))
        .expect("in range");
    let code = UnlockCode {
        kind,
        counter,
        paid_until,
    };
    let text = code.encode(&key, &device).expect("every field is in range");
    assert_eq!(text.len(), 24);

    let plain = text.replace('-', "");
    let spaced = format!(" {} ", text.replace('-', " "));
    for typed in [&text, &plain, &spaced] {
        let state = CodeState::new(counter - below);
        assert_eq!(UnlockCode::decode(typed, &key, &device, state), Ok(code));
    }
    let mut state = CodeState::new(counter - below);
    assert_eq!(state.redeem(&text, &key, &device), Ok(code));
    assert_eq!(state.highest_counter(), counter);

    // Passed: at or above the counter. Within a window of it the device recognises the
    // code as its own, already used (when the counter a window up, which the code's low
    // bits now stand for, exists at all).
    let highest = counter.saturating_add(passed);
    let refusal = UnlockCode::decode(&text, &key, &device, CodeState::new(highest));
    if u64::from(counter) + u64::from(COUNTER_WINDOW) <= u64::from(u32::MAX) {
        assert_eq!(refusal, Err(CodeError::Reused { counter }));
    } else {
        assert!(refusal.is_err());
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
