//! The code's text: 19 digits of number, a Damm check digit, grouped by four.
//!
//! Damm rather than Luhn (the IMEI's check) because Damm catches every single-digit error
//! *and* every swap of two adjacent digits; Luhn misses `09` ↔ `90`. Both are what happens
//! when a code is read out over the phone, and a caught typo does not count toward the
//! device's lockout, so catching more of them spares the borrower a wait.

use super::CodeError;

/// Digits of a code, check digit included.
pub const CODE_DIGITS: usize = 20;
/// Digits of the number before the check digit.
const NUMBER_DIGITS: usize = CODE_DIGITS - 1;
/// Digits per group in the displayed form.
const GROUP: usize = 4;

/// The Damm quasigroup of order 10 (Damm 2004; the table every implementation uses).
const DAMM: [[u8; 10]; 10] = [
    [0, 3, 1, 7, 5, 9, 8, 6, 4, 2],
    [7, 0, 9, 2, 1, 5, 4, 8, 6, 3],
    [4, 2, 0, 6, 8, 7, 1, 3, 5, 9],
    [1, 7, 5, 0, 9, 8, 3, 4, 2, 6],
    [6, 1, 2, 3, 0, 4, 5, 9, 7, 8],
    [3, 6, 7, 4, 2, 0, 9, 5, 8, 1],
    [5, 8, 6, 9, 7, 2, 0, 1, 3, 4],
    [8, 9, 4, 5, 3, 6, 2, 0, 1, 7],
    [9, 4, 3, 8, 6, 1, 7, 2, 0, 5],
    [2, 5, 8, 1, 4, 3, 6, 7, 9, 0],
];

/// The Damm check digit of `digits` (each 0 to 9). Appending it makes the whole run check
/// to 0.
pub(super) fn damm(digits: &[u8]) -> u8 {
    digits
        .iter()
        .fold(0, |interim, &d| DAMM[usize::from(interim)][usize::from(d)])
}

/// The number as 19 digits, its check digit, in groups of four joined by dashes.
pub(super) fn to_text(number: u64) -> String {
    let plain = format!("{number:0width$}", width = NUMBER_DIGITS);
    debug_assert_eq!(
        plain.len(),
        NUMBER_DIGITS,
        "the number has at most 19 digits"
    );
    let mut digits: Vec<u8> = plain.bytes().map(|b| b - b'0').collect();
    digits.push(damm(&digits));
    let mut text = String::with_capacity(CODE_DIGITS + CODE_DIGITS / GROUP);
    for (i, d) in digits.iter().enumerate() {
        if i > 0 && i % GROUP == 0 {
            text.push('-');
        }
        text.push(char::from(b'0' + d));
    }
    text
}

/// Reads a code as typed: digits, with any spaces (any Unicode white space, so a
/// non-breaking space pasted from a message passes) and dashes anywhere. Checks the length
/// and the check digit, and returns the 19-digit number.
pub(super) fn from_text(text: &str) -> Result<u64, CodeError> {
    let mut digits = [0u8; CODE_DIGITS];
    let mut count = 0usize;
    for c in text.chars() {
        if c == '-' || c.is_whitespace() {
            continue;
        }
        if !c.is_ascii_digit() {
            return Err(CodeError::BadCharacter(c));
        }
        if let Some(slot) = digits.get_mut(count) {
            *slot = c as u8 - b'0';
        }
        count += 1;
    }
    if count != CODE_DIGITS {
        return Err(CodeError::WrongLength {
            expected: CODE_DIGITS,
            got: count,
        });
    }
    if damm(&digits) != 0 {
        return Err(CodeError::Typo);
    }
    Ok(digits[..NUMBER_DIGITS]
        .iter()
        .fold(0u64, |n, &d| n * 10 + u64::from(d)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damm_matches_the_published_example() {
        // Damm's worked example: 572 gets 4, and 5724 checks to 0.
        assert_eq!(damm(&[5, 7, 2]), 4);
        assert_eq!(damm(&[5, 7, 2, 4]), 0);
    }

    #[test]
    fn text_round_trips_and_is_grouped() {
        for n in [0, 1, 4_611_686_018_427_387_903, 9_999_999_999_999_999_999] {
            let text = to_text(n);
            assert_eq!(text.len(), 24, "{text}");
            assert_eq!(text.split('-').count(), 5, "{text}");
            assert!(text.split('-').all(|g| g.len() == 4), "{text}");
            assert_eq!(from_text(&text), Ok(n));
        }
    }

    #[test]
    fn damm_catches_every_single_error_and_adjacent_swap() {
        let text: String = to_text(3_141_592_653_589_793_238).replace('-', "");
        let digits: Vec<u8> = text.bytes().map(|b| b - b'0').collect();
        for i in 0..digits.len() {
            for d in 0..10 {
                if d != digits[i] {
                    let mut typo = digits.clone();
                    typo[i] = d;
                    assert_ne!(damm(&typo), 0, "digit {i} -> {d}");
                }
            }
            if i + 1 < digits.len() && digits[i] != digits[i + 1] {
                let mut swapped = digits.clone();
                swapped.swap(i, i + 1);
                assert_ne!(damm(&swapped), 0, "swap at {i}");
            }
        }
    }

    #[test]
    fn parsing_tolerates_spaces_and_dashes_only() {
        let text = to_text(2_305_843_009_213_693_952);
        let plain = text.replace('-', "");
        for variant in [
            plain.clone(),
            text.replace('-', " "),
            format!("  {}  ", text.replace('-', " - ")),
            text.replace('-', "\u{a0}"),
            plain.chars().flat_map(|c| [c, '-']).collect(),
        ] {
            assert_eq!(from_text(&variant), from_text(&text), "{variant:?}");
        }
        assert_eq!(
            from_text(&format!("{plain}x")),
            Err(CodeError::BadCharacter('x'))
        );
        assert_eq!(
            from_text(&text.replace('-', ".")),
            Err(CodeError::BadCharacter('.'))
        );
        assert_eq!(
            from_text(&plain[1..]),
            Err(CodeError::WrongLength {
                expected: 20,
                got: 19
            })
        );
        assert_eq!(
            from_text(&format!("{plain}0")),
            Err(CodeError::WrongLength {
                expected: 20,
                got: 21
            })
        );
        assert_eq!(
            from_text(""),
            Err(CodeError::WrongLength {
                expected: 20,
                got: 0
            })
        );
    }
}
