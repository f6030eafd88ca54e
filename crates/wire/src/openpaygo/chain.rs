//! The code function and the token's text: the parts standard and extended tokens share,
//! parameterised by [`Width`].

use super::siphash::siphash24;
use super::{Format, Key, OpenPaygoError};

/// Standard (9-digit, 30-bit) or extended (12-digit, 40-bit) codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Width {
    Standard,
    Extended,
}

impl Width {
    pub(crate) fn of(format: Format) -> Self {
        if format.extended {
            Self::Extended
        } else {
            Self::Standard
        }
    }

    /// One more than the largest value the low digits (the "base") carry.
    pub(crate) fn modulus(self) -> u64 {
        match self {
            Self::Standard => 1_000,
            Self::Extended => 1_000_000,
        }
    }

    /// Bits a code has; the restricted-digit form writes two per digit.
    fn bits(self) -> u32 {
        match self {
            Self::Standard => 30,
            Self::Extended => 40,
        }
    }

    /// The next code of the chain.
    pub(crate) fn next(self, key: &Key, code: u64) -> u64 {
        let hash = match self {
            // The 32-bit code big-endian, twice: the reference pads it to SipHash's 8-byte
            // block that way. Standard codes never exceed 999 999 999, so fit 32 bits.
            Self::Standard => {
                let half = (code as u32).to_be_bytes();
                let mut block = [0u8; 8];
                block[..4].copy_from_slice(&half);
                block[4..].copy_from_slice(&half);
                siphash24(key.as_bytes(), &block)
            }
            Self::Extended => siphash24(key.as_bytes(), &code.to_be_bytes()),
        };
        hash_to_code(hash, self)
    }

    /// `code` with its low digits replaced by `base`.
    pub(crate) fn put_base(self, code: u64, base: u64) -> u64 {
        code - code % self.modulus() + base
    }
}

/// Folds a SipHash output into a code of at most 9 (standard) or 12 (extended) digits.
pub(crate) fn hash_to_code(hash: u64, width: Width) -> u64 {
    match width {
        Width::Standard => {
            // XOR the halves, then keep the top 30 bits of the 32 (the reference drops the
            // two lowest bits, whatever its documentation says); fold the values above
            // 999 999 999 down so the result has 9 digits.
            let folded = ((hash >> 32) ^ (hash & 0xffff_ffff)) >> 2;
            if folded > 999_999_999 {
                folded - 73_741_825
            } else {
                folded
            }
        }
        Width::Extended => {
            let top = hash >> 24;
            if top > 999_999_999_999 {
                top - 99_511_627_777
            } else {
                top
            }
        }
    }
}

/// Writes a code as its token text: zero-padded decimal, or two bits per digit 1-4.
pub(crate) fn code_to_text(code: u64, format: Format) -> String {
    let width = Width::of(format);
    if format.restricted_digits {
        let bits = width.bits();
        (0..bits / 2)
            .map(|i| {
                let pair = (code >> (bits - 2 - 2 * i)) & 0b11;
                char::from(b'1' + pair as u8)
            })
            .collect()
    } else {
        format!("{code:0len$}", len = format.token_len())
    }
}

/// Reads a token's text back into its code, refusing a wrong length or digit.
pub(crate) fn text_to_code(token: &str, format: Format) -> Result<u64, OpenPaygoError> {
    let (lowest, highest, allowed) = if format.restricted_digits {
        (b'1', b'4', "1 to 4")
    } else {
        (b'0', b'9', "0 to 9")
    };
    if let Some(found) = token
        .chars()
        .find(|c| !c.is_ascii() || !(lowest..=highest).contains(&(*c as u8)))
    {
        return Err(OpenPaygoError::TokenDigit { found, allowed });
    }
    if token.len() != format.token_len() {
        return Err(OpenPaygoError::TokenLength {
            expected: format.token_len(),
            got: token.len(),
        });
    }
    let code = token.bytes().fold(0u64, |acc, digit| {
        if format.restricted_digits {
            (acc << 2) | u64::from(digit - b'1')
        } else {
            acc * 10 + u64::from(digit - b'0')
        }
    });
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Format; 4] = [
        Format {
            restricted_digits: false,
            extended: false,
        },
        Format {
            restricted_digits: false,
            extended: true,
        },
        Format {
            restricted_digits: true,
            extended: false,
        },
        Format {
            restricted_digits: true,
            extended: true,
        },
    ];

    #[test]
    fn text_round_trips_and_keeps_leading_zeros() {
        for format in ALL {
            for code in [0, 7, 999_999_999] {
                let text = code_to_text(code, format);
                assert_eq!(text.len(), format.token_len());
                assert_eq!(text_to_code(&text, format).unwrap(), code);
            }
        }
        let standard = ALL[0];
        assert_eq!(code_to_text(7, standard), "000000007");
        assert_eq!(code_to_text(0, ALL[2]), "111111111111111");
    }

    #[test]
    fn text_refuses_wrong_digits_and_lengths() {
        let standard = ALL[0];
        let restricted = ALL[2];
        assert!(matches!(
            text_to_code("12345678", standard),
            Err(OpenPaygoError::TokenLength {
                expected: 9,
                got: 8
            })
        ));
        assert!(matches!(
            text_to_code("12345678a", standard),
            Err(OpenPaygoError::TokenDigit { found: 'a', .. })
        ));
        assert!(matches!(
            text_to_code("123451234512345", restricted),
            Err(OpenPaygoError::TokenDigit { found: '5', .. })
        ));
        assert!(text_to_code("-12345678", standard).is_err());
        assert!(text_to_code("１２３４５６７８９", standard).is_err());
    }

    #[test]
    fn codes_stay_within_their_digits() {
        assert_eq!(hash_to_code(u64::MAX, Width::Standard), 0);
        assert!(hash_to_code(0xffff_fffc, Width::Standard) <= 999_999_999);
        assert!(hash_to_code(u64::MAX - 1, Width::Extended) <= 999_999_999_999);
        assert!(hash_to_code(u64::MAX, Width::Extended) <= 999_999_999_999);
    }
}
