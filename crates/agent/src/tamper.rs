//! Tamper signals on the device: noticing them, keeping them until the server has them.
//!
//! The agent notices a changed SIM card, a clock set back, root or a debugger (from the
//! platform), and a burst of wrong unlock codes. Each becomes a signal with a number
//! (`seq`), its kind, when it was first seen (wall clock and trusted time) and a
//! kind-specific value, kept in `persistent/tamper.json` (a factory reset must not clear a
//! signal that is on its way) and sent with every check-in until a lease answering one of
//! them is taken. At most one signal per kind waits at a time: a second occurrence before
//! the first was delivered only raises its value. The server records each `(key, seq)`
//! once, so sending one again after a lost answer adds nothing.
//!
//! What is kept of the SIM is a salted SHA-256 of the first SIM identity the device saw
//! (the salt random and local), and of the last one a signal was raised for, so one swap
//! gives one signal and swapping back and forth gives one per swap. The identity itself is
//! never stored or sent, and the server learns only "the SIM changed".

use crate::atomic;
use crate::layout::Layout;
use crate::platform::Integrity;
use lienlock_domain::policy::TamperKind;
use lienlock_domain::Timestamp;
use lienlock_wire::{TamperSignal, MAX_SIGNALS};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io;
use std::time::Duration;

/// Wrong codes within [`WRONG_CODES_WINDOW`] that make a signal.
pub const WRONG_CODES_SIGNAL: usize = 5;

/// The window the wrong codes of one signal fall in. With the lockout (1, 2, 4, 8 minutes
/// between tries) five wrong codes take at least a quarter of an hour; a borrower mistyping
/// a code from a receipt twice is not a signal.
pub const WRONG_CODES_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// A signal waiting for the server, as kept on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingSignal {
    /// What was seen.
    pub kind: TamperKind,
    /// Its number, from 1.
    pub seq: u32,
    /// Wall clock when first seen.
    pub seen_wall: Timestamp,
    /// Trusted time when first seen.
    pub seen_trusted: Timestamp,
    /// Kind-specific value (see [`TamperSignal::value`]).
    pub value: i64,
}

impl PendingSignal {
    fn to_wire(self) -> TamperSignal {
        TamperSignal {
            kind: self.kind,
            seq: self.seq,
            seen_wall: self.seen_wall,
            seen_trusted: self.seen_trusted,
            value: self.value,
        }
    }
}

/// What `persistent/tamper.json` holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
struct Stored {
    /// Random, made on first use: the SIM hashes are this device's alone.
    salt: Option<String>,
    /// Salted hash of the first SIM identity seen.
    sim_first: Option<String>,
    /// Salted hash of the SIM the last `sim_changed` was raised for.
    sim_flagged: Option<String>,
    /// Integrity bits already signalled (cleared when the condition ends).
    integrity_flagged: u8,
    /// Trusted time of the newest wrong code already counted into a signal.
    wrong_codes_through: Option<Timestamp>,
    /// The last `seq` used.
    last_seq: u32,
    /// Signals not yet acknowledged, by `seq`, at most one per kind.
    pending: Vec<PendingSignal>,
}

/// The device's tamper state (see the module docs). One writer: the running agent.
#[derive(Debug, Default)]
pub(crate) struct Tamper {
    stored: Stored,
}

impl Tamper {
    /// Loads `tamper.json`. A damaged file is an error, not a fresh start: a fresh start
    /// would take the next SIM for the first one and forget signals on their way.
    pub(crate) fn load(layout: &Layout) -> io::Result<Self> {
        let stored = match atomic::read(&layout.tamper())? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(io::Error::other)?,
            None => Stored::default(),
        };
        Ok(Self { stored })
    }

    /// Signals waiting for the server, by `seq`.
    pub(crate) fn pending(&self) -> &[PendingSignal] {
        &self.stored.pending
    }

    /// What the next check-in carries.
    pub(crate) fn to_wire(&self) -> Vec<TamperSignal> {
        self.stored
            .pending
            .iter()
            .take(MAX_SIGNALS)
            .map(|p| p.to_wire())
            .collect()
    }

    /// Records a signal of `kind` first seen now, or, while one of that kind waits, raises
    /// its value to `value` if larger. Returns the new signal.
    pub(crate) fn raise(
        &mut self,
        layout: &Layout,
        kind: TamperKind,
        (wall, trusted): (Timestamp, Timestamp),
        value: i64,
    ) -> io::Result<Option<PendingSignal>> {
        if let Some(p) = self.stored.pending.iter_mut().find(|p| p.kind == kind) {
            if value > p.value {
                p.value = value;
                self.save(layout)?;
            }
            return Ok(None);
        }
        let seq = self.stored.last_seq.saturating_add(1);
        let signal = PendingSignal {
            kind,
            seq,
            seen_wall: wall,
            seen_trusted: trusted,
            value,
        };
        self.stored.last_seq = seq;
        self.stored.pending.push(signal);
        self.save(layout)?;
        tracing::warn!(kind = kind.as_str(), seq, "tamper signal");
        Ok(Some(signal))
    }

    /// Raises the value of the waiting signal of `kind` to `value`, if one waits and the
    /// value is larger (an open clock-set-back incident whose lag grew).
    pub(crate) fn bump(&mut self, layout: &Layout, kind: TamperKind, value: i64) -> io::Result<()> {
        match self.stored.pending.iter_mut().find(|p| p.kind == kind) {
            Some(p) if value > p.value => {
                p.value = value;
                self.save(layout)
            }
            _ => Ok(()),
        }
    }

    /// Compares the SIM in the phone (`None`: none) with the first one seen.
    pub(crate) fn observe_sim(
        &mut self,
        layout: &Layout,
        sim: Option<&str>,
        at: (Timestamp, Timestamp),
    ) -> io::Result<Option<PendingSignal>> {
        let Some(sim) = sim else {
            return Ok(None); // no SIM (or unreadable): nothing to compare
        };
        let hash = self.sim_hash(layout, sim)?;
        match &self.stored.sim_first {
            None => {
                self.stored.sim_first = Some(hash);
                self.save(layout)?;
                Ok(None)
            }
            Some(first) if *first == hash => {
                if self.stored.sim_flagged.take().is_some() {
                    self.save(layout)?;
                }
                Ok(None)
            }
            Some(_) if self.stored.sim_flagged.as_deref() == Some(hash.as_str()) => Ok(None),
            Some(_) => {
                self.stored.sim_flagged = Some(hash);
                self.raise(layout, TamperKind::SimChanged, at, 0)
            }
        }
    }

    /// Signals root or a debugger when a condition starts (each bit once while it lasts).
    pub(crate) fn observe_integrity(
        &mut self,
        layout: &Layout,
        integrity: Integrity,
        at: (Timestamp, Timestamp),
    ) -> io::Result<Option<PendingSignal>> {
        let bits = integrity.bits();
        let new = bits & !self.stored.integrity_flagged;
        if bits == self.stored.integrity_flagged {
            return Ok(None);
        }
        self.stored.integrity_flagged = bits;
        if new == 0 {
            self.save(layout)?;
            return Ok(None);
        }
        let raised = self.raise(layout, TamperKind::DebugOrRoot, at, i64::from(bits))?;
        self.save(layout)?;
        Ok(raised)
    }

    /// Signals a burst of wrong codes: [`WRONG_CODES_SIGNAL`] of `wrong_at` (trusted times
    /// of wrong codes, any order), newer than those already counted, within
    /// [`WRONG_CODES_WINDOW`] of the newest.
    pub(crate) fn observe_wrong_codes(
        &mut self,
        layout: &Layout,
        wrong_at: &[Timestamp],
        at: (Timestamp, Timestamp),
    ) -> io::Result<Option<PendingSignal>> {
        let through = self.stored.wrong_codes_through;
        let mut fresh: Vec<Timestamp> = wrong_at
            .iter()
            .copied()
            .filter(|t| through.is_none_or(|th| *t > th))
            .collect();
        let Some(newest) = fresh.iter().copied().max() else {
            return Ok(None);
        };
        let window = i64::try_from(WRONG_CODES_WINDOW.as_millis()).unwrap_or(i64::MAX);
        fresh.retain(|t| newest.as_millis() - t.as_millis() < window);
        if fresh.len() < WRONG_CODES_SIGNAL {
            return Ok(None);
        }
        self.stored.wrong_codes_through = Some(newest);
        let count = i64::try_from(fresh.len()).unwrap_or(i64::MAX);
        let raised = self.raise(layout, TamperKind::WrongCodes, at, count)?;
        self.save(layout)?;
        Ok(raised)
    }

    /// Forgets the signals up to `seq`, once a lease answering a check-in that carried them
    /// was taken. Signals raised since stay.
    pub(crate) fn acknowledged(&mut self, layout: &Layout, seq: u32) -> io::Result<()> {
        let before = self.stored.pending.len();
        self.stored.pending.retain(|p| p.seq > seq);
        if self.stored.pending.len() != before {
            self.save(layout)?;
        }
        Ok(())
    }

    fn sim_hash(&mut self, layout: &Layout, sim: &str) -> io::Result<String> {
        let salt = match &self.stored.salt {
            Some(s) => s.clone(),
            None => {
                let s = hex::encode(rand::random::<[u8; 16]>());
                self.stored.salt = Some(s.clone());
                self.save(layout)?;
                s
            }
        };
        let mut h = Sha256::new();
        h.update(b"lienlock-sim-v1");
        h.update(salt.as_bytes());
        h.update(sim.trim().as_bytes());
        Ok(hex::encode(h.finalize()))
    }

    fn save(&self, layout: &Layout) -> io::Result<()> {
        let json = serde_json::to_vec(&self.stored).map_err(io::Error::other)?;
        atomic::write(&layout.tamper(), &json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    fn at(ms: i64) -> (Timestamp, Timestamp) {
        (Timestamp::from_millis(ms), Timestamp::from_millis(ms + 7))
    }

    fn setup() -> (tempfile::TempDir, Layout, Tamper) {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        atomic::create_dir(&layout.persistent_dir()).unwrap();
        let t = Tamper::load(&layout).unwrap();
        (dir, layout, t)
    }

    #[test]
    fn a_sim_swap_is_one_signal_and_only_a_salted_hash_is_kept() {
        let (_dir, layout, mut t) = setup();
        let first = "8925401234567890123";
        assert!(t
            .observe_sim(&layout, Some(first), at(1))
            .unwrap()
            .is_none());
        assert!(
            t.observe_sim(&layout, None, at(2)).unwrap().is_none(),
            "no SIM"
        );
        let other = "8925409999999999999";
        let s = t.observe_sim(&layout, Some(other), at(3)).unwrap().unwrap();
        assert_eq!(
            (s.kind, s.seq, s.seen_wall),
            (TamperKind::SimChanged, 1, at(3).0)
        );
        assert_eq!(s.seen_trusted, at(3).1);
        assert!(t
            .observe_sim(&layout, Some(other), at(4))
            .unwrap()
            .is_none());
        assert_eq!(t.pending().len(), 1);
        // The file holds neither identity.
        let file = std::fs::read_to_string(layout.tamper()).unwrap();
        assert!(!file.contains(first) && !file.contains(other), "{file}");
        // Back to the first SIM, then a swap again: a new signal once the first was
        // delivered (until then the waiting one stands for both).
        t.acknowledged(&layout, 1).unwrap();
        assert!(t
            .observe_sim(&layout, Some(first), at(5))
            .unwrap()
            .is_none());
        let again = t.observe_sim(&layout, Some(other), at(6)).unwrap().unwrap();
        assert_eq!(again.seq, 2);
        // Kept across a restart.
        let reloaded = Tamper::load(&layout).unwrap();
        assert_eq!(reloaded.pending(), t.pending());
        assert!(Tamper::load(&layout)
            .unwrap()
            .observe_sim(&layout, Some(other), at(7))
            .unwrap()
            .is_none());
    }

    #[test]
    fn root_or_debugging_is_signalled_when_it_starts() {
        let (_dir, layout, mut t) = setup();
        let rooted = Integrity {
            rooted: true,
            debugger: false,
        };
        let s = t
            .observe_integrity(&layout, rooted, at(1))
            .unwrap()
            .unwrap();
        assert_eq!((s.kind, s.value), (TamperKind::DebugOrRoot, 1));
        assert!(t
            .observe_integrity(&layout, rooted, at(2))
            .unwrap()
            .is_none());
        // A debugger on top raises the waiting signal's value, no second signal.
        let both = Integrity {
            rooted: true,
            debugger: true,
        };
        assert!(t.observe_integrity(&layout, both, at(3)).unwrap().is_none());
        assert_eq!(t.pending()[0].value, 3);
        t.acknowledged(&layout, 1).unwrap();
        assert!(t.observe_integrity(&layout, both, at(4)).unwrap().is_none());
        assert!(t
            .observe_integrity(&layout, Integrity::default(), at(5))
            .unwrap()
            .is_none());
        assert!(t
            .observe_integrity(&layout, rooted, at(6))
            .unwrap()
            .is_some());
    }

    #[test]
    fn five_wrong_codes_within_a_day_are_one_signal() {
        let (_dir, layout, mut t) = setup();
        let ts = |h: i64| Timestamp::from_millis(h * HOUR);
        // Four within a day, then a fifth 30 hours later: no burst.
        let spread = [ts(0), ts(1), ts(2), ts(3), ts(33)];
        assert!(t
            .observe_wrong_codes(&layout, &spread, at(1))
            .unwrap()
            .is_none());
        let burst = [ts(33), ts(34), ts(35), ts(36), ts(37)];
        let s = t
            .observe_wrong_codes(&layout, &burst, at(2))
            .unwrap()
            .unwrap();
        assert_eq!((s.kind, s.value), (TamperKind::WrongCodes, 5));
        // The same wrong codes are not counted again.
        assert!(t
            .observe_wrong_codes(&layout, &burst, at(3))
            .unwrap()
            .is_none());
    }

    #[test]
    fn at_most_one_waiting_signal_per_kind_and_acknowledged_ones_go() {
        let (_dir, layout, mut t) = setup();
        let first = t
            .raise(&layout, TamperKind::ClockSetBack, at(1), 10)
            .unwrap()
            .unwrap();
        assert!(t
            .raise(&layout, TamperKind::ClockSetBack, at(2), 50)
            .unwrap()
            .is_none());
        assert_eq!(t.pending()[0].value, 50);
        assert_eq!(
            t.pending()[0].seen_wall,
            first.seen_wall,
            "first seen stays"
        );
        t.raise(&layout, TamperKind::WrongCodes, at(3), 5).unwrap();
        assert_eq!(t.to_wire().len(), 2);
        t.acknowledged(&layout, first.seq).unwrap();
        assert_eq!(t.pending().len(), 1);
        assert_eq!(t.pending()[0].kind, TamperKind::WrongCodes);
        std::fs::write(layout.tamper(), b"{damaged").unwrap();
        assert!(
            Tamper::load(&layout).is_err(),
            "damage is not a fresh start"
        );
    }
}
