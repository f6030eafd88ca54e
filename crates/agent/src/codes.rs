//! Offline unlock codes on the device: what a borrower types when the phone cannot reach
//! the server, the grants those codes give, and the lockout after wrong ones.
//!
//! Two files in the persistent partition, each with one writer, so the lock screen (or
//! `lienlock agent enter-code`) and the running agent never overwrite each other's work:
//!
//! - `codes.json`, written only when a code is entered: the highest counter taken, the
//!   grants (newest last), and the wrong-code count with its lockout;
//! - `codes_reconciled.json`, written only when a lease is taken: the highest counter the
//!   server has acknowledged, the larger of the codes the check-in reported and the lease's
//!   `codes_through`. That lease was cut by a server that knew about those codes and their
//!   payments, so it supersedes their grants, and codes up to it no longer work.
//!
//! Both survive a factory reset: a reset must neither let an old code work again nor
//! clear a lockout.

use crate::atomic;
use crate::layout::Layout;
use crate::trusted::Monotonic;
use lienlock_domain::{DeviceId, Timestamp};
use lienlock_wire::unlock_code::{CodeError, CodeKey, CodeKind, CodeState, UnlockCode};
use lienlock_wire::{DeviceReport, ReportKind};
use serde::{Deserialize, Serialize};
use std::io;
use std::time::Duration;

/// The first wait after a wrong code; each further wrong code doubles it.
pub const FIRST_LOCKOUT: Duration = Duration::from_secs(60);

/// The longest wait (512 minutes, reached at the tenth wrong code in a row).
pub const MAX_LOCKOUT: Duration = Duration::from_secs(512 * 60);

/// How far ahead of trusted time a grant may reach, whatever the code says: a lease never
/// lasts longer than 200 days, and a code is the offline form of one.
pub const MAX_GRANT: Duration = Duration::from_secs(366 * 24 * 3600);

/// Grants kept at most: only the newest one is in force, older ones wait only to be
/// reported to the server.
const MAX_GRANTS: usize = 16;

/// What one accepted code lets the device do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The code's counter.
    pub counter: u32,
    /// Run past an expired lease only, or also lift a lock.
    #[serde(with = "kind_text")]
    pub kind: CodeKind,
    /// Trusted time the grant ends at.
    pub until: Timestamp,
    /// Trusted time the code was entered.
    pub entered_at: Timestamp,
}

/// The wait after the last wrong code, on the monotonic clock: setting the wall clock
/// forward does not shorten it, and after a reboot (a new boot id) it starts again in full.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Lockout {
    boot_id: String,
    until_elapsed_ms: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Stored {
    /// The device the codes were for (kept so a code still works after a factory reset
    /// wiped the lease that names the device).
    device_id: Option<DeviceId>,
    /// The highest `LC1` counter taken (0: none).
    highest: u32,
    /// Codes taken, oldest first.
    grants: Vec<Grant>,
    /// Wrong codes since the last good one.
    failures: u32,
    lockout: Option<Lockout>,
    /// Trusted times of the latest wrong codes, oldest first, at most [`MAX_WRONG_KEPT`]:
    /// what a burst of wrong codes (a tamper signal) is judged on. Kept across good codes.
    #[serde(default)]
    wrong_at: Vec<Timestamp>,
}

/// Wrong-code times kept at most.
const MAX_WRONG_KEPT: usize = 16;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Reconciled {
    /// The highest counter the server has acknowledged.
    through: u32,
}

/// Why a typed code was not taken.
#[derive(Debug, thiserror::Error)]
pub enum CodeRefusal {
    /// Too many wrong codes: nothing is checked until the wait is over.
    #[error("too many wrong codes: try again in {} min", minutes_up(*retry_in))]
    LockedOut {
        /// How long until the next code is looked at.
        retry_in: Duration,
    },
    /// A well-formed code that is not this device's: counts toward the lockout.
    #[error("this code is not valid for this phone; the next one is looked at in {} min", minutes_up(*retry_in))]
    Wrong {
        /// The wait this wrong code started.
        retry_in: Duration,
    },
    /// Refused before its tag was checked (a typo, the wrong length) or a genuine code
    /// that was already used: costs nothing.
    #[error("{0}")]
    Invalid(CodeError),
    /// A genuine code whose date has passed.
    #[error("this code ran out at {until}: ask for a new one")]
    Expired {
        /// When it ended.
        until: Timestamp,
    },
    /// The phone never received a lease, so it does not know which device it is.
    #[error("this phone has not checked in yet: connect it once before entering codes")]
    NotEnrolled,
    /// The phone is released: there is nothing to unlock.
    #[error("this phone is paid off and free; it needs no code")]
    Released,
    /// The code was good but could not be recorded; it was not taken and can be entered
    /// again.
    #[error("cannot record the code: {0}")]
    NotStored(String),
}

fn minutes_up(d: Duration) -> u64 {
    d.as_secs().div_ceil(60).max(1)
}

/// The wait after the `failures`-th wrong code in a row (from 1).
pub fn lockout_after(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(9);
    (FIRST_LOCKOUT * (1u32 << doublings)).min(MAX_LOCKOUT)
}

/// The device's code state, as loaded from its two files.
#[derive(Debug, Default)]
pub(crate) struct Codes {
    stored: Stored,
    reconciled: Reconciled,
}

impl Codes {
    /// Loads both files. An unreadable `codes.json` is an error, not a default: a default
    /// would forget the highest counter (an old code would work again) and the lockout.
    pub(crate) fn load(layout: &Layout) -> io::Result<Self> {
        let stored = match atomic::read(&layout.codes())? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(io::Error::other)?,
            None => Stored::default(),
        };
        // Losing this one only means reporting codes again, which the server ignores.
        let reconciled = atomic::read(&layout.codes_reconciled())
            .ok()
            .flatten()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Ok(Self { stored, reconciled })
    }

    /// The grant in force at `now`: the newest code's, if the server has not yet answered
    /// a check-in reporting it and it has not ended. A newer code replaces an older one,
    /// as a newer lease does.
    pub(crate) fn grant(&self, now: Timestamp) -> Option<Grant> {
        self.stored
            .grants
            .last()
            .filter(|g| g.counter > self.reconciled.through && g.until > now)
            .copied()
    }

    /// Reports for the next check-in: every code taken that the server has not
    /// acknowledged, oldest first, at most `room`.
    pub(crate) fn reports(&self, room: usize) -> Vec<DeviceReport> {
        self.stored
            .grants
            .iter()
            .filter(|g| g.counter > self.reconciled.through)
            .take(room)
            .map(|g| DeviceReport {
                kind: ReportKind::CodeRedeemed,
                at: g.entered_at,
                value: i64::from(g.counter),
            })
            .collect()
    }

    /// Records that a lease the server cut knowing of codes up to `through` was taken.
    pub(crate) fn reconciled(&mut self, layout: &Layout, through: u32) -> io::Result<()> {
        if through <= self.reconciled.through {
            return Ok(());
        }
        let next = Reconciled { through };
        let json = serde_json::to_vec(&next).map_err(io::Error::other)?;
        atomic::write(&layout.codes_reconciled(), &json)?;
        self.reconciled = next;
        Ok(())
    }

    /// The device id codes are checked against when no lease names it.
    pub(crate) fn device_id(&self) -> Option<DeviceId> {
        self.stored.device_id
    }

    /// How long until a code is looked at again, if a lockout is running. After a reboot
    /// the wait restarts in full (elapsed time from another boot means nothing), and that
    /// restart is persisted.
    pub(crate) fn lockout_left(
        &mut self,
        layout: &Layout,
        mono: &dyn Monotonic,
    ) -> io::Result<Option<Duration>> {
        let Some(lockout) = &self.stored.lockout else {
            return Ok(None);
        };
        let elapsed = millis(mono.elapsed());
        if lockout.boot_id != mono.boot_id() {
            let wait = lockout_after(self.stored.failures);
            self.stored.lockout = Some(Lockout {
                boot_id: mono.boot_id(),
                until_elapsed_ms: elapsed.saturating_add(millis(wait)),
            });
            self.save(layout)?;
            return Ok(Some(wait));
        }
        let left = lockout.until_elapsed_ms.saturating_sub(elapsed);
        Ok((left > 0).then(|| Duration::from_millis(left)))
    }

    /// Trusted times of the latest wrong codes, oldest first.
    pub(crate) fn wrong_at(&self) -> &[Timestamp] {
        &self.stored.wrong_at
    }

    /// Counts a wrong code entered at trusted time `now` and starts its wait (persisted
    /// before the caller answers).
    pub(crate) fn wrong(
        &mut self,
        layout: &Layout,
        mono: &dyn Monotonic,
        now: Timestamp,
    ) -> io::Result<Duration> {
        self.stored.wrong_at.push(now);
        if self.stored.wrong_at.len() > MAX_WRONG_KEPT {
            self.stored.wrong_at.remove(0);
        }
        self.stored.failures = self.stored.failures.saturating_add(1);
        let wait = lockout_after(self.stored.failures);
        self.stored.lockout = Some(Lockout {
            boot_id: mono.boot_id(),
            until_elapsed_ms: millis(mono.elapsed()).saturating_add(millis(wait)),
        });
        self.save(layout)?;
        Ok(wait)
    }

    /// Checks `text` as an `LC1` code of `device_id` under each of `keys` (one per server
    /// key trusted: while the server's key rotates, a code may come from either) and, if it
    /// is good and still useful at `now`, takes it: the counter, the grant and a cleared
    /// lockout are persisted before this returns, so no crash lets the code work twice.
    pub(crate) fn redeem(
        &mut self,
        layout: &Layout,
        text: &str,
        keys: &[CodeKey],
        device_id: DeviceId,
        now: Timestamp,
    ) -> Result<Result<Grant, CodeError>, CodeRefusal> {
        // A lease's `codes_through` voids every code up to it, entered or not.
        let base = self.stored.highest.max(self.reconciled.through);
        let mut wrong = None;
        let mut taken = None;
        for key in keys {
            let mut state = CodeState::new(base);
            match state.redeem(text, key, &device_id) {
                Ok(code) => {
                    taken = Some((code, state));
                    break;
                }
                // Not this key's: perhaps the other's.
                Err(e) if e.counts_toward_lockout() => wrong = Some(e),
                Err(e) => return Ok(Err(e)),
            }
        }
        let (code, state): (UnlockCode, CodeState) = match (taken, wrong) {
            (Some(t), _) => t,
            (None, Some(e)) => return Ok(Err(e)),
            (None, None) => return Err(CodeRefusal::NotEnrolled),
        };
        let cap = now.plus_millis(millis(MAX_GRANT) as i64);
        let until = code.runs_until().min(cap);
        if until <= now {
            return Err(CodeRefusal::Expired { until });
        }
        let grant = Grant {
            counter: code.counter,
            kind: code.kind,
            until,
            entered_at: now,
        };
        let mut next = self.stored.clone();
        next.device_id = Some(device_id);
        next.highest = state.highest_counter();
        let through = self.reconciled.through;
        next.grants.retain(|g| g.counter > through);
        next.grants.push(grant);
        if next.grants.len() > MAX_GRANTS {
            let extra = next.grants.len() - MAX_GRANTS;
            next.grants.drain(..extra);
        }
        next.failures = 0;
        next.lockout = None;
        write(layout, &next).map_err(|e| CodeRefusal::NotStored(e.to_string()))?;
        self.stored = next;
        Ok(Ok(grant))
    }

    fn save(&self, layout: &Layout) -> io::Result<()> {
        write(layout, &self.stored)
    }
}

fn write(layout: &Layout, stored: &Stored) -> io::Result<()> {
    let json = serde_json::to_vec(stored).map_err(io::Error::other)?;
    atomic::write(&layout.codes(), &json)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `CodeKind` as `"extend_until"` / `"unlock"` in the file.
mod kind_text {
    use lienlock_wire::unlock_code::CodeKind;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(kind: &CodeKind, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(kind.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<CodeKind, D::Error> {
        let text = String::deserialize(d)?;
        CodeKind::ALL
            .into_iter()
            .find(|k| k.as_str() == text)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown code kind {text:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lockout_starts_at_a_minute_and_doubles_to_512() {
        let minutes: Vec<u64> = (1..=12).map(|n| lockout_after(n).as_secs() / 60).collect();
        assert_eq!(minutes, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 512, 512]);
        assert_eq!(lockout_after(u32::MAX), MAX_LOCKOUT);
    }
}
