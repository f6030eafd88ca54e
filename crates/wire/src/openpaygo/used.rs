//! The device's replay state: the highest count it accepted and a 16-bit mask of the counts
//! below it that were used.

use super::{
    OpenPaygoError, TokenType, COUNTER_SYNC_VALUE, DISABLE_PAYG_VALUE, MAX_TOKEN_JUMP,
    MAX_UNUSED_OLDER_TOKENS,
};

/// Which counts a device has used. Bit `k` of the mask stands for count `max - 1 - k`; `max`
/// itself is always used. This is the state a device persists (six bytes), and the reason
/// an ADD_TIME token minted before another one can still be entered after it, once.
///
/// The reference keeps a list of counts instead, and forgets everything when given an empty
/// one; here the maximum is marked used by construction, so no list can lose it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UsedCounts {
    max: u32,
    mask: u16,
}

impl UsedCounts {
    /// A device whose highest count is `max` and that has used nothing below it.
    pub fn new(max: u32) -> Self {
        Self { max, mask: 0 }
    }

    /// The compact form back from storage.
    pub fn from_parts(max: u32, mask: u16) -> Self {
        Self { max, mask }
    }

    /// From the reference's form: the device's count and its list of used counts. The
    /// highest count is the larger of `last_count` and the list's maximum (so a stale
    /// `last_count` cannot reopen a used count); entries more than 16 below it are dropped,
    /// as they can never be accepted anyway. Entries may be negative (the reference marks
    /// counts below 1 used after an early SET_TIME).
    pub fn from_list(last_count: u32, used: &[i64]) -> Result<Self, OpenPaygoError> {
        let mut max = last_count;
        for &count in used {
            if count > i64::from(u32::MAX) {
                return Err(OpenPaygoError::CountOutOfRange(count));
            }
            if count > i64::from(max) {
                max = count as u32;
            }
        }
        let mut state = Self::new(max);
        let top = i64::from(max);
        for &count in used {
            if count < top && count >= top - i64::from(MAX_UNUSED_OLDER_TOKENS) {
                state.mask |= 1 << (top - 1 - count);
            }
        }
        Ok(state)
    }

    /// The reference's form: every used count from `max - 16` to `max`, ascending.
    pub fn to_list(&self) -> Vec<i64> {
        let top = i64::from(self.max);
        (0..MAX_UNUSED_OLDER_TOKENS)
            .rev()
            .filter(|k| self.mask & (1 << k) != 0)
            .map(|k| top - 1 - i64::from(k))
            .chain(std::iter::once(top))
            .collect()
    }

    /// The highest count accepted.
    pub fn max(&self) -> u32 {
        self.max
    }

    /// The used mask (bit `k` is count `max - 1 - k`).
    pub fn mask(&self) -> u16 {
        self.mask
    }

    /// Whether a token of `kind` at `count` may be accepted now:
    /// - never count 0 (the reference accepts it; see the module documentation);
    /// - a counter-sync token within 64 below the maximum or anywhere above it (it only
    ///   moves the count forward and marks counts used, so entering it again is harmless);
    /// - any token above the maximum;
    /// - an ADD_TIME token within 16 below the maximum that has not been used.
    pub fn accepts(&self, count: u32, kind: TokenType) -> bool {
        let (count, max) = (i64::from(count), i64::from(self.max));
        if count == 0 {
            return false;
        }
        match kind {
            TokenType::CounterSync => count > max - i64::from(MAX_TOKEN_JUMP),
            _ if count > max => true,
            TokenType::AddTime => {
                count > max - i64::from(MAX_UNUSED_OLDER_TOKENS) && !self.is_marked(count)
            }
            TokenType::SetTime | TokenType::DisablePayg => false,
        }
    }

    /// Records an accepted token. Moving the maximum up by `r` shifts the mask by `r` and
    /// marks the old maximum (bit `r - 1`); the counts skipped stay open. SET_TIME,
    /// DISABLE_PAYG and COUNTER_SYNC (and, as in the reference, any token carrying 998 or
    /// 999) close every older count: time set absolutely must not be topped up by an older
    /// ADD_TIME token entered late.
    pub fn record(&mut self, count: u32, kind: TokenType, value: u32) {
        if count > self.max {
            let r = count - self.max;
            self.mask = if r > MAX_UNUSED_OLDER_TOKENS {
                0
            } else {
                (((u32::from(self.mask) << r) | (1 << (r - 1))) & 0xffff) as u16
            };
            self.max = count;
        } else if count < self.max {
            let offset = self.max - 1 - count;
            if offset < MAX_UNUSED_OLDER_TOKENS {
                self.mask |= 1 << offset;
            }
        }
        if kind != TokenType::AddTime || value == DISABLE_PAYG_VALUE || value == COUNTER_SYNC_VALUE
        {
            self.mask = 0xffff;
        }
    }

    /// Whether `count` (at most the maximum) is used; counts below the window count as used.
    fn is_marked(&self, count: i64) -> bool {
        let offset = i64::from(self.max) - 1 - count;
        match offset {
            -1 => true,
            0..=15 => self.mask & (1 << offset) != 0,
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TokenType::*;

    #[test]
    fn list_form_round_trips() {
        let state = UsedCounts::from_list(20, &[20, 18, 4, 3, -100]).unwrap();
        assert_eq!(state.max(), 20);
        assert_eq!(state.to_list(), vec![4, 18, 20]);
        assert_eq!(UsedCounts::from_list(20, &state.to_list()).unwrap(), state);
        // An empty list still has the device's count used.
        assert_eq!(UsedCounts::from_list(5, &[]).unwrap().to_list(), vec![5]);
        // A list ahead of a stale count wins.
        assert_eq!(UsedCounts::from_list(2, &[9]).unwrap().max(), 9);
        assert!(UsedCounts::from_list(2, &[1 << 40]).is_err());
    }

    #[test]
    fn set_time_on_a_young_device_marks_negative_counts() {
        let mut state = UsedCounts::new(1);
        state.record(3, SetTime, 5);
        assert_eq!(state.to_list(), (-13..=3).collect::<Vec<_>>());
        assert_eq!(UsedCounts::from_list(3, &state.to_list()).unwrap(), state);
    }

    #[test]
    fn advancing_keeps_older_marks_and_the_old_maximum() {
        let mut state = UsedCounts::new(10);
        state.record(12, AddTime, 1);
        assert_eq!(state.to_list(), vec![10, 12]);
        state.record(18, AddTime, 1);
        assert_eq!(state.to_list(), vec![10, 12, 18]);
        // An older unused ADD_TIME count, once.
        assert!(state.accepts(14, AddTime));
        state.record(14, AddTime, 1);
        assert!(!state.accepts(14, AddTime));
        assert_eq!(state.to_list(), vec![10, 12, 14, 18]);
        // A jump past the window forgets the mask.
        state.record(40, AddTime, 1);
        assert_eq!(state.to_list(), vec![40]);
        state.record(56, AddTime, 1);
        assert_eq!(state.to_list(), vec![40, 56]);
        state.record(57, AddTime, 1);
        assert_eq!(state.to_list(), vec![56, 57]);
    }

    #[test]
    fn acceptance_rules() {
        let state = UsedCounts::from_list(30, &[30, 28]).unwrap();
        assert!(!state.accepts(30, AddTime));
        assert!(!state.accepts(28, AddTime));
        assert!(state.accepts(26, AddTime));
        assert!(state.accepts(16, AddTime));
        assert!(!state.accepts(14, AddTime));
        assert!(!state.accepts(29, SetTime));
        assert!(state.accepts(31, SetTime));
        assert!(state.accepts(29, CounterSync));
        assert!(UsedCounts::new(100).accepts(37, CounterSync));
        assert!(!UsedCounts::new(100).accepts(36, CounterSync));
        assert!(!UsedCounts::new(0).accepts(0, AddTime));
        assert!(!UsedCounts::new(0).accepts(0, CounterSync));
    }

    #[test]
    fn non_add_time_tokens_close_every_older_count() {
        for (kind, value) in [
            (SetTime, 3),
            (DisablePayg, 998),
            (CounterSync, 999),
            (AddTime, 999),
        ] {
            let mut state = UsedCounts::new(30);
            state.record(33, kind, value);
            assert_eq!(state.mask(), 0xffff, "{kind}");
        }
        // A counter sync below the maximum leaves the maximum alone.
        let mut state = UsedCounts::new(30);
        state.record(25, CounterSync, 999);
        assert_eq!((state.max(), state.mask()), (30, 0xffff));
    }
}
