//! Any text as `CODE amount` (a currency code and a decimal amount, as lenders type them in
//! contracts and statements): `Currency::parse` and `Money::parse`. Never a panic; a
//! currency renders back to its code; an amount renders back to itself (plain and grouped),
//! has exactly the value its digits say in minor units, and checked arithmetic on it never
//! panics and undoes itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lienlock_domain::{Currency, Money};
use lienlock_fuzz_seeds::minor_of;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (code, amount) = text.split_once(' ').unwrap_or((text, ""));
    let Ok(currency) = Currency::parse(code) else {
        return;
    };
    assert_eq!(currency.code(), code);
    assert_eq!(currency.to_string(), code);
    assert!(currency.minor_units() <= 3);
    let Ok(money) = Money::parse(currency, amount) else {
        return;
    };
    let exp = u32::from(currency.minor_units());
    assert_eq!(minor_of(amount, exp), Some(i128::from(money.minor())));
    let shown = money.to_string();
    let (shown_code, plain) = shown.split_once(' ').expect("code, then amount");
    assert_eq!(shown_code, code);
    assert_eq!(Money::parse(currency, plain), Ok(money));
    assert_eq!(money.grouped().replace(',', ""), shown);
    if let Ok(sum) = money.checked_add(money) {
        assert_eq!(sum.checked_sub(money), Ok(money));
        assert_eq!(money.checked_mul(2), Ok(sum));
    }
    if let Ok(zero) = money.checked_sub(money) {
        assert_eq!(zero, Money::zero(currency));
    }
});
