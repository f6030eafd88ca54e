//! Any text as a payment statement for `lienlock ctl payments import`. Its row parser
//! (`Columns::from_header` / `Columns::payment` / `parse_amount` in
//! crates/cli/src/import/csv.rs) is private to the binary, so this drives the public pieces
//! it is made of, the same way: the CSV reader, then per row the currency, the amount in
//! it, the RFC 3339 time and the IMEI. Never a panic; an amount that reads renders back
//! to itself and has the sign and value its digits say.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lienlock_domain::csv::{parse, strip_bom};
use lienlock_domain::{Currency, Imei, Money};
use lienlock_fuzz_seeds::minor_of;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(records) = parse(strip_bom(text), 1_000_000) else {
        return;
    };
    let Some((header, rows)) = records.split_first() else {
        return;
    };
    let column = |name: &str| {
        header
            .fields
            .iter()
            .position(|c| c.trim().eq_ignore_ascii_case(name))
    };
    let (amount_at, currency_at) = (column("amount"), column("currency"));
    let (received_at, imei_at) = (column("received_at"), column("imei"));
    for row in rows {
        let cell = |at: Option<usize>| at.and_then(|i| row.fields.get(i)).map(|s| s.trim());
        let currency = cell(currency_at).and_then(|c| Currency::parse(c).ok());
        if let (Some(currency), Some(amount)) = (currency, cell(amount_at)) {
            if let Ok(money) = Money::parse(currency, amount) {
                let shown = money.to_string();
                let (code, plain) = shown.split_once(' ').expect("code, then amount");
                assert_eq!(code, currency.code());
                assert_eq!(Money::parse(currency, plain), Ok(money));
                let exp = u32::from(currency.minor_units());
                assert_eq!(minor_of(amount, exp), Some(i128::from(money.minor())));
            }
        }
        if let Some(time) = cell(received_at) {
            let _ = time.parse::<jiff::Timestamp>();
        }
        if let Some(imei) = cell(imei_at) {
            if let Ok(i) = Imei::parse(imei) {
                assert_eq!(i.as_str(), imei);
            }
        }
    }
});
