//! Free text that people type (reasons, names, models): trimmed, non-empty and bounded, so
//! nothing unbounded reaches storage, the timeline or a lock screen.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Text of 1 to `MAX` characters after trimming, without control characters.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BoundedText<const MAX: usize>(String);

/// Why text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// Only white space, or nothing.
    #[error("must not be empty")]
    Empty,
    /// Longer than allowed.
    #[error("must be at most {max} characters, got {len}")]
    TooLong {
        /// The limit.
        max: usize,
        /// What was given.
        len: usize,
    },
    /// Contains control characters (they could garble a lock screen or a log line).
    #[error("must not contain control characters")]
    Control,
}

impl<const MAX: usize> BoundedText<MAX> {
    /// Checks and trims `s`.
    pub fn parse(s: &str) -> Result<Self, TextError> {
        let t = s.trim();
        if t.is_empty() {
            return Err(TextError::Empty);
        }
        let len = t.chars().count();
        if len > MAX {
            return Err(TextError::TooLong { max: MAX, len });
        }
        if t.chars().any(char::is_control) {
            return Err(TextError::Control);
        }
        Ok(Self(t.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<const MAX: usize> TryFrom<String> for BoundedText<MAX> {
    type Error = TextError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl<const MAX: usize> From<BoundedText<MAX>> for String {
    fn from(t: BoundedText<MAX>) -> Self {
        t.0
    }
}

impl<const MAX: usize> fmt::Display for BoundedText<MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<const MAX: usize> fmt::Debug for BoundedText<MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_bounds() {
        assert_eq!(BoundedText::<5>::parse("  abc ").unwrap().as_str(), "abc");
        assert_eq!(BoundedText::<5>::parse("   "), Err(TextError::Empty));
        assert_eq!(
            BoundedText::<2>::parse("abc"),
            Err(TextError::TooLong { max: 2, len: 3 })
        );
        assert_eq!(BoundedText::<9>::parse("a\u{1b}b"), Err(TextError::Control));
    }
}
