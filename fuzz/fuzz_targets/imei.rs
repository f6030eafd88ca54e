//! Any text as an IMEI (enrollment, imports, the public IMEI check, the wire reader).
//! Never a panic. An IMEI that parses is its 15 ASCII digits, renders back to exactly the
//! input, is what its first 14 digits complete to, survives JSON, and stops parsing when
//! its check digit changes. Fifteen digits are refused only for their check digit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lienlock_domain::{Imei, ImeiError};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let fifteen_digits = text.len() == 15 && text.bytes().all(|b| b.is_ascii_digit());
    match Imei::parse(text) {
        Ok(imei) => {
            assert!(fifteen_digits);
            assert_eq!(imei.as_str(), text);
            assert_eq!(imei.to_string(), text);
            assert_eq!(imei.as_bytes(), text.as_bytes());
            assert_eq!(Imei::from_body(&text[..14]), Ok(imei));
            assert_eq!(text.parse::<Imei>(), Ok(imei));
            let json = serde_json::to_string(&imei).expect("serializes");
            assert_eq!(serde_json::from_str::<Imei>(&json).ok(), Some(imei));
            let check = text.as_bytes()[14];
            for d in b'0'..=b'9' {
                if d != check {
                    let other = format!("{}{}", &text[..14], char::from(d));
                    assert_eq!(Imei::parse(&other), Err(ImeiError::CheckDigit));
                }
            }
        }
        Err(e) => {
            if fifteen_digits {
                assert_eq!(e, ImeiError::CheckDigit);
            }
            assert!(serde_json::from_value::<Imei>(serde_json::Value::from(text)).is_err());
        }
    }
    if let Ok(imei) = Imei::from_body(text) {
        assert!(imei.as_str().starts_with(text) && text.len() == 14);
        assert_eq!(Imei::parse(imei.as_str()), Ok(imei));
    }
});
