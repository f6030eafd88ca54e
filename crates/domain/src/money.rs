//! Money: an ISO 4217 currency and a signed count of its minor units (cents, paise, ...).
//!
//! Amounts are integers so installments can sum *exactly* to what is owed; floating point
//! would lose cents. Every operation is checked: an overflow is an error, never a wrap or a
//! panic, because amounts come from lenders' input and imported files.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Currencies lienlock knows, with their ISO 4217 minor-unit exponent (how many decimal
/// digits the minor unit has). A code outside this list is refused rather than guessed: a
/// wrong exponent would misstate every amount by a factor of 10 or 100.
const KNOWN: &[(&str, u8)] = &[
    ("AED", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("BDT", 2),
    ("BHD", 3),
    ("BRL", 2),
    ("BWP", 2),
    ("CAD", 2),
    ("CDF", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("EGP", 2),
    ("ETB", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("GHS", 2),
    ("GNF", 0),
    ("IDR", 2),
    ("INR", 2),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("LKR", 2),
    ("MAD", 2),
    ("MWK", 2),
    ("MXN", 2),
    ("MYR", 2),
    ("MZN", 2),
    ("NGN", 2),
    ("NPR", 2),
    ("OMR", 3),
    ("PEN", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("RWF", 0),
    ("SAR", 2),
    ("SLE", 2),
    ("THB", 2),
    ("TND", 3),
    ("TRY", 2),
    ("TZS", 2),
    ("UGX", 0),
    ("USD", 2),
    ("VND", 0),
    ("XAF", 0),
    ("XOF", 0),
    ("ZAR", 2),
    ("ZMW", 2),
];

/// Why a currency or an amount was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Not three ASCII uppercase letters.
    #[error("a currency code is three uppercase letters (ISO 4217), got {0:?}")]
    InvalidCode(String),
    /// Well-formed, but not a currency lienlock knows the minor unit of.
    #[error("unknown currency {0}")]
    UnknownCurrency(String),
    /// Arithmetic left the range of `i64` minor units.
    #[error("amount out of range")]
    Overflow,
    /// Two amounts in different currencies were combined.
    #[error("currency mismatch: {0} and {1}")]
    CurrencyMismatch(Currency, Currency),
    /// A decimal amount that could not be read, or has more decimals than the currency.
    #[error("invalid amount {0:?}")]
    InvalidAmount(String),
}

/// An ISO 4217 currency code lienlock knows the minor unit of.
///
/// Stored as the three ASCII bytes so the type is `Copy` and comparing costs nothing.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    /// Reads a code such as `"KES"`. Lowercase is refused, not fixed up: codes are an
    /// identifier and should arrive in their canonical form.
    pub fn parse(code: &str) -> Result<Self, MoneyError> {
        let bytes: [u8; 3] = code
            .as_bytes()
            .try_into()
            .map_err(|_| MoneyError::InvalidCode(code.to_owned()))?;
        if !bytes.iter().all(u8::is_ascii_uppercase) {
            return Err(MoneyError::InvalidCode(code.to_owned()));
        }
        if KNOWN.iter().any(|(k, _)| k.as_bytes() == bytes) {
            Ok(Self(bytes))
        } else {
            Err(MoneyError::UnknownCurrency(code.to_owned()))
        }
    }

    /// The three-letter code.
    pub fn code(&self) -> &str {
        // Only ASCII uppercase letters get in (see `parse`), so this cannot fail; the
        // fallback keeps the function total without a panic path.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }

    /// How many decimal digits the minor unit has: 2 for KES (cents), 0 for JPY.
    pub fn minor_units(self) -> u8 {
        KNOWN
            .iter()
            .find(|(k, _)| k.as_bytes() == self.0)
            .map_or(2, |(_, e)| *e)
    }

    /// Every currency lienlock knows, in code order.
    pub fn all() -> impl Iterator<Item = Currency> {
        KNOWN.iter().filter_map(|(k, _)| Currency::parse(k).ok())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.code())
    }
}

impl std::str::FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Currency {
    type Error = MoneyError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> Self {
        c.code().to_owned()
    }
}

/// An amount of money: a currency and a signed number of its minor units.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    currency: Currency,
    minor: i64,
}

impl Money {
    /// `minor` minor units of `currency` (1234 KES minor units are KES 12.34).
    pub const fn new(currency: Currency, minor: i64) -> Self {
        Self { currency, minor }
    }

    /// Nothing, in `currency`.
    pub const fn zero(currency: Currency) -> Self {
        Self::new(currency, 0)
    }

    /// The currency.
    pub const fn currency(&self) -> Currency {
        self.currency
    }

    /// The amount in minor units.
    pub const fn minor(&self) -> i64 {
        self.minor
    }

    /// Reads a decimal amount such as `"1250.50"` or `"-3"` in `currency`. More decimals
    /// than the currency has are refused (`"1.005"` KES), not rounded: silently rounding
    /// someone's money is worse than asking again.
    pub fn parse(currency: Currency, s: &str) -> Result<Self, MoneyError> {
        let bad = || MoneyError::InvalidAmount(s.to_owned());
        let (negative, digits) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let exp = usize::from(currency.minor_units());
        let all_digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty()
            || !all_digits(whole)
            || !all_digits(frac)
            || frac.len() > exp
            || (digits.contains('.') && frac.is_empty())
        {
            return Err(bad());
        }
        let mut minor: i64 = 0;
        let padded = frac.bytes().chain(std::iter::repeat(b'0')).take(exp);
        for b in whole.bytes().chain(padded) {
            minor = minor
                .checked_mul(10)
                .and_then(|m| m.checked_add(i64::from(b - b'0')))
                .ok_or(MoneyError::Overflow)?;
        }
        Ok(Self::new(currency, if negative { -minor } else { minor }))
    }

    /// The sum, refused on a currency mismatch or overflow.
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        add_minor(self.minor, other.minor).map(|m| Money::new(self.currency, m))
    }

    /// The difference, refused on a currency mismatch or overflow.
    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        self.minor
            .checked_sub(other.minor)
            .map(|m| Money::new(self.currency, m))
            .ok_or(MoneyError::Overflow)
    }

    /// This amount `n` times, refused on overflow.
    pub fn checked_mul(self, n: i64) -> Result<Money, MoneyError> {
        self.minor
            .checked_mul(n)
            .map(|m| Money::new(self.currency, m))
            .ok_or(MoneyError::Overflow)
    }

    /// The amount for people to read: as [`Display`](fmt::Display), with a comma between
    /// each group of three digits of the whole part (`KES 1,250.50`, `JPY 1,500`,
    /// `KES -1,000.00`). The same in every locale; [`Money::parse`] does not take it back.
    pub fn grouped(&self) -> String {
        let plain = self.to_string();
        let (code, amount) = plain.split_once(' ').unwrap_or(("", &plain));
        let (sign, digits) = match amount.strip_prefix('-') {
            Some(rest) => ("-", rest),
            None => ("", amount),
        };
        let (whole, frac) = match digits.split_once('.') {
            Some((w, f)) => (w, Some(f)),
            None => (digits, None),
        };
        let mut out = String::with_capacity(plain.len() + whole.len() / 3);
        out.push_str(code);
        out.push(' ');
        out.push_str(sign);
        for (i, c) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        if let Some(frac) = frac {
            out.push('.');
            out.push_str(frac);
        }
        out
    }

    fn same_currency(self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch(self.currency, other.currency))
        }
    }
}

impl fmt::Display for Money {
    /// `KES 1250.50`, `JPY 500`, `KES -3.00`: code first, no thousands separators, so the
    /// text reads the same in every locale and parses back with [`Money::parse`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exp = u32::from(self.currency.minor_units());
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        if exp == 0 {
            return write!(f, "{} {sign}{abs}", self.currency);
        }
        let scale = 10u64.pow(exp);
        let width = exp as usize;
        write!(
            f,
            "{} {sign}{}.{:0width$}",
            self.currency,
            abs / scale,
            abs % scale
        )
    }
}

/// `a + b` in minor units, or [`MoneyError::Overflow`].
pub fn add_minor(a: i64, b: i64) -> Result<i64, MoneyError> {
    a.checked_add(b).ok_or(MoneyError::Overflow)
}

/// The sum of minor-unit amounts, or [`MoneyError::Overflow`].
pub fn sum_minor(amounts: impl IntoIterator<Item = i64>) -> Result<i64, MoneyError> {
    amounts.into_iter().try_fold(0i64, add_minor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn kes() -> Currency {
        Currency::parse("KES").unwrap()
    }

    #[test]
    fn currency_codes_are_checked() {
        assert_eq!(kes().code(), "KES");
        assert_eq!(kes().minor_units(), 2);
        assert_eq!(Currency::parse("JPY").unwrap().minor_units(), 0);
        assert_eq!(Currency::parse("UGX").unwrap().minor_units(), 0);
        assert_eq!(Currency::parse("XOF").unwrap().minor_units(), 0);
        assert_eq!(Currency::parse("TZS").unwrap().minor_units(), 2);
        assert_eq!(Currency::parse("KWD").unwrap().minor_units(), 3);
        assert!(matches!(
            Currency::parse("kes"),
            Err(MoneyError::InvalidCode(_))
        ));
        assert!(matches!(
            Currency::parse("KESS"),
            Err(MoneyError::InvalidCode(_))
        ));
        assert!(matches!(
            Currency::parse("É"),
            Err(MoneyError::InvalidCode(_))
        ));
        assert!(matches!(
            Currency::parse("ZZZ"),
            Err(MoneyError::UnknownCurrency(_))
        ));
        assert_eq!(Currency::all().count(), KNOWN.len());
    }

    #[test]
    fn currency_json_is_its_code() {
        assert_eq!(serde_json::to_string(&kes()).unwrap(), r#""KES""#);
        assert_eq!(
            serde_json::from_str::<Currency>(r#""INR""#).unwrap().code(),
            "INR"
        );
        assert!(serde_json::from_str::<Currency>(r#""QQQ""#).is_err());
    }

    #[test]
    fn display_and_parse() {
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(Money::new(kes(), 125050).to_string(), "KES 1250.50");
        assert_eq!(Money::new(kes(), -5).to_string(), "KES -0.05");
        assert_eq!(Money::new(jpy, 500).to_string(), "JPY 500");
        assert_eq!(Money::parse(kes(), "1250.5").unwrap().minor(), 125050);
        assert_eq!(Money::parse(kes(), "-3").unwrap().minor(), -300);
        assert_eq!(Money::parse(jpy, "500").unwrap().minor(), 500);
        for bad in ["", "1.005", "1.", ".5", "1e3", "--1", "1,000", " 1"] {
            assert!(Money::parse(kes(), bad).is_err(), "{bad}");
        }
        assert!(Money::parse(jpy, "5.0").is_err());
        assert_eq!(
            Money::parse(kes(), "99999999999999999999"),
            Err(MoneyError::Overflow)
        );
    }

    #[test]
    fn grouped_for_people() {
        let jpy = Currency::parse("JPY").unwrap();
        let kwd = Currency::parse("KWD").unwrap();
        assert_eq!(Money::new(kes(), 150_000).grouped(), "KES 1,500.00");
        assert_eq!(Money::new(kes(), 99_999).grouped(), "KES 999.99");
        assert_eq!(Money::new(kes(), 5).grouped(), "KES 0.05");
        assert_eq!(Money::new(kes(), -100_000).grouped(), "KES -1,000.00");
        assert_eq!(
            Money::new(kes(), 12_345_678_900).grouped(),
            "KES 123,456,789.00"
        );
        assert_eq!(Money::new(jpy, 1_500).grouped(), "JPY 1,500");
        assert_eq!(Money::new(jpy, 100).grouped(), "JPY 100");
        assert_eq!(Money::new(kwd, 1_234_567).grouped(), "KWD 1,234.567");
        assert_eq!(
            Money::new(jpy, i64::MIN).grouped(),
            "JPY -9,223,372,036,854,775,808"
        );
    }

    #[test]
    fn arithmetic_is_checked() {
        let max = Money::new(kes(), i64::MAX);
        assert_eq!(
            max.checked_add(Money::new(kes(), 1)),
            Err(MoneyError::Overflow)
        );
        assert_eq!(max.checked_mul(2), Err(MoneyError::Overflow));
        assert_eq!(
            Money::new(kes(), i64::MIN).checked_sub(Money::new(kes(), 1)),
            Err(MoneyError::Overflow)
        );
        let usd = Money::new(Currency::parse("USD").unwrap(), 1);
        assert!(matches!(
            usd.checked_add(Money::new(kes(), 1)),
            Err(MoneyError::CurrencyMismatch(..))
        ));
        assert_eq!(sum_minor([i64::MAX, 1]), Err(MoneyError::Overflow));
        assert_eq!(sum_minor([1, 2, 3]), Ok(6));
    }

    proptest! {
        #[test]
        fn display_parses_back(minor in any::<i64>(), pick in 0usize..KNOWN.len()) {
            let c = Currency::parse(KNOWN[pick].0).unwrap();
            let m = Money::new(c, minor);
            let text = m.to_string();
            let amount = text.split_once(' ').unwrap().1;
            // i64::MIN has no positive counterpart; its text overflows on the way back.
            if minor != i64::MIN {
                prop_assert_eq!(Money::parse(c, amount), Ok(m));
            }
        }

        #[test]
        fn grouped_is_display_with_commas(minor in any::<i64>(), pick in 0usize..KNOWN.len()) {
            let m = Money::new(Currency::parse(KNOWN[pick].0).unwrap(), minor);
            let grouped = m.grouped();
            prop_assert_eq!(grouped.replace(',', ""), m.to_string());
            // Every group after a comma is three digits, and no group is empty.
            let whole = grouped.split_once(' ').unwrap().1.trim_start_matches('-');
            let whole = whole.split('.').next().unwrap();
            let groups: Vec<&str> = whole.split(',').collect();
            prop_assert!((1..=3).contains(&groups[0].len()));
            prop_assert!(groups[1..].iter().all(|g| g.len() == 3));
        }

        #[test]
        fn parse_never_panics(s in ".{0,30}") {
            let _ = Money::parse(kes(), &s);
            let _ = Currency::parse(&s);
        }
    }
}
