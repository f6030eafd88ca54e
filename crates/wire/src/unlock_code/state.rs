//! The device's replay state: the highest counter it accepted. A code is taken only with a
//! counter above it, so no code works twice and an older code never works after a newer one.

use super::{CodeError, CodeKey, UnlockCode, COUNTER_WINDOW};
use lienlock_domain::DeviceId;

/// What a device remembers about the codes it took: one number, kept in its persistent
/// partition (a factory reset must not rewind it, or old codes would work again).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CodeState {
    highest_counter: u32,
}

impl CodeState {
    /// A device that has accepted codes up to `highest_counter` (0: none yet).
    pub const fn new(highest_counter: u32) -> Self {
        Self { highest_counter }
    }

    /// The highest counter accepted, 0 when none.
    pub const fn highest_counter(self) -> u32 {
        self.highest_counter
    }

    /// The counter a code carrying `low` (its counter mod [`COUNTER_WINDOW`]) stands for:
    /// the one counter in `highest + 1 ..= highest + COUNTER_WINDOW` with those low bits.
    /// `None` past `u32::MAX`.
    pub(super) fn ahead(self, low: u8) -> Option<u32> {
        let next = u64::from(self.highest_counter) + 1;
        let window = u64::from(COUNTER_WINDOW);
        let step = (u64::from(low) + window - next % window) % window;
        u32::try_from(next + step).ok()
    }

    /// Takes a decoded code: its counter must be above the highest accepted, which it then
    /// becomes. Anything else is [`CodeError::Reused`] and leaves the state as it was.
    pub fn accept(&mut self, code: &UnlockCode) -> Result<(), CodeError> {
        if code.counter <= self.highest_counter {
            return Err(CodeError::Reused {
                counter: code.counter,
            });
        }
        self.highest_counter = code.counter;
        Ok(())
    }

    /// What a device does with an entered code: [`UnlockCode::decode`] against this state,
    /// then [`Self::accept`]. On success the caller persists the new state before acting
    /// on the code, so a crash cannot let the same code work twice.
    pub fn redeem(
        &mut self,
        text: &str,
        key: &CodeKey,
        device_id: &DeviceId,
    ) -> Result<UnlockCode, CodeError> {
        let code = UnlockCode::decode(text, key, device_id, *self)?;
        self.accept(&code)?;
        Ok(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ahead_lands_in_the_window_with_the_right_low_bits() {
        for highest in [0u32, 1, 30, 31, 32, 33, 1000, u32::MAX - 40] {
            let state = CodeState::new(highest);
            for low in 0..32u8 {
                let c = state.ahead(low).unwrap();
                assert!(
                    c > highest && c <= highest + COUNTER_WINDOW,
                    "{highest} {low}"
                );
                assert_eq!(c % COUNTER_WINDOW, u32::from(low));
            }
        }
    }

    #[test]
    fn ahead_stops_at_the_last_counter() {
        let state = CodeState::new(u32::MAX - 1);
        assert_eq!(state.ahead((u32::MAX % 32) as u8), Some(u32::MAX));
        assert_eq!(state.ahead(((u32::MAX - 1) % 32) as u8), None);
        assert_eq!(CodeState::new(u32::MAX).ahead(0), None);
    }
}
