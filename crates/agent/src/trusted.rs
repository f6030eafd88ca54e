//! Trusted time: the server's time at the last check-in plus the monotonic time elapsed
//! since, never moving backwards, kept across restarts.
//!
//! A borrower who sets the phone's clock back must not stretch a lease, and one who sets it
//! forward only shortens their own. So the agent does not read the wall clock while it can
//! avoid it: at every accepted lease it anchors the lease's `issued_at` (server time) to a
//! reading of a monotonic clock that counts since boot and keeps counting in suspend
//! (Android's `elapsedRealtime`, Linux's `CLOCK_BOOTTIME`), and afterwards trusted time is
//! that anchor plus the elapsed time. The anchor is persisted with the boot it belongs to.
//! After a reboot the elapsed time is lost, and the wall clock is all there is; it is then
//! held to the *floor*, the highest trusted time ever handed out, persisted as time passes,
//! so a reboot followed by a clock set back gains at most [`FLOOR_EVERY`].
//!
//! Whenever the wall clock is found more than [`SET_BACK_TOLERANCE`] behind trusted time, a
//! *clock set back* incident opens (how far back, when); the agent turns it into a tamper
//! signal (see `tamper`), which is kept until a check-in has carried it to the server.

use crate::atomic;
use crate::layout::Layout;
use lienlock_domain::{Clock, Timestamp};
use serde::{Deserialize, Serialize};
use std::fmt::Debug;
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// How far the wall clock may lag trusted time before it counts as set back: a phone's
/// clock drifts, and network time corrects it in small steps.
pub const SET_BACK_TOLERANCE: Duration = Duration::from_secs(120);

/// How much trusted time may pass before the floor is written again.
pub const FLOOR_EVERY: Duration = Duration::from_secs(60);

/// A clock that counts from some start (a boot) and never goes backwards until the next.
pub trait Monotonic: Send + Sync + Debug {
    /// Identifies the span `elapsed` counts in (the current boot). A different id means the
    /// elapsed time is not comparable with readings taken under the old one.
    fn boot_id(&self) -> String;
    /// Time since the start of the span.
    fn elapsed(&self) -> Duration;
}

/// The machine's own: Linux's boot id and time since boot (`/proc/uptime`, which counts in
/// suspend). Where those cannot be read, the span is this process: a fresh random id and
/// the time since the agent started, which is still monotonic, just lost at restart.
#[derive(Debug)]
pub struct SystemMonotonic {
    /// Read once: a process never outlives its boot.
    boot_id: String,
    started: std::time::Instant,
}

impl SystemMonotonic {
    /// The system's monotonic clock.
    pub fn new() -> Self {
        let boot_id = match std::fs::read_to_string("/proc/sys/kernel/random/boot_id") {
            Ok(id) if uptime().is_some() => format!("boot-{}", id.trim()),
            _ => format!(
                "process-{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos())
            ),
        };
        Self {
            boot_id,
            started: std::time::Instant::now(),
        }
    }
}

impl Default for SystemMonotonic {
    fn default() -> Self {
        Self::new()
    }
}

impl Monotonic for SystemMonotonic {
    fn boot_id(&self) -> String {
        self.boot_id.clone()
    }

    fn elapsed(&self) -> Duration {
        if self.boot_id.starts_with("boot-") {
            if let Some(up) = uptime() {
                return up;
            }
        }
        self.started.elapsed()
    }
}

/// Seconds since boot from `/proc/uptime` (first field, two decimals).
fn uptime() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/uptime").ok()?;
    let secs: f64 = text.split_whitespace().next()?.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

/// An injected [`Clock`] used as its own monotonic source, for simulations in which one
/// clock drives everything (the server's and the agents' time move together). It cannot
/// tell a clock set back from time passing, so tamper tests use a separate [`Monotonic`].
#[derive(Debug)]
pub struct ClockMonotonic(pub Arc<dyn Clock>);

impl Monotonic for ClockMonotonic {
    fn boot_id(&self) -> String {
        "injected-clock".into()
    }

    fn elapsed(&self) -> Duration {
        Duration::from_millis(u64::try_from(self.0.now().as_millis()).unwrap_or(0))
    }
}

/// A clock set back, as the agent saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockSetBack {
    /// Trusted time when it was first seen.
    pub detected_at: Timestamp,
    /// The largest lag of the wall clock behind trusted time seen during the incident, ms.
    pub by_ms: i64,
}

/// What [`TrustedTime::observe`] saw of the wall clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SetBack {
    /// A new incident opened.
    Opened(ClockSetBack),
    /// The open incident's lag grew to this many milliseconds.
    Grew(i64),
}

/// What is kept in `persistent/trusted_time.json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Stored {
    /// Server time at the last accepted lease, and the monotonic reading then.
    anchor: Option<Anchor>,
    /// The highest trusted time handed out (as last written).
    floor: Option<Timestamp>,
    /// Incidents an older agent kept for its check-ins (before tamper signals); the agent
    /// moves them into its tamper signals once and empties this.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    unreported: Vec<ClockSetBack>,
    /// Whether the wall clock is behind right now (an incident is open).
    open: bool,
    /// The largest lag seen during the open incident, ms.
    #[serde(default)]
    open_lag: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Anchor {
    server_time: Timestamp,
    boot_id: String,
    elapsed_ms: u64,
}

/// The agent's trusted time (see the module docs).
#[derive(Debug)]
pub(crate) struct TrustedTime {
    wall: Arc<dyn Clock>,
    mono: Arc<dyn Monotonic>,
    stored: Stored,
}

impl TrustedTime {
    /// Loads the persisted state; a missing or unreadable file starts empty (the held
    /// lease's `issued_at` remains a floor in the caller).
    pub(crate) fn load(layout: &Layout, wall: Arc<dyn Clock>, mono: Arc<dyn Monotonic>) -> Self {
        let stored = atomic::read(&layout.trusted_time())
            .ok()
            .flatten()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        Self { wall, mono, stored }
    }

    /// Swaps the monotonic source (the state stays: a source with another boot id simply
    /// does not match the anchor).
    pub(crate) fn set_monotonic(&mut self, mono: Arc<dyn Monotonic>) {
        self.mono = mono;
    }

    /// The monotonic clock it counts with.
    pub(crate) fn mono(&self) -> &dyn Monotonic {
        self.mono.as_ref()
    }

    /// Trusted time now: the anchor plus elapsed time within the anchor's boot, else the
    /// wall clock; never below the floor.
    pub(crate) fn now(&self) -> Timestamp {
        let base = match &self.stored.anchor {
            Some(a) if a.boot_id == self.mono.boot_id() => {
                let now = duration_ms(self.mono.elapsed());
                a.server_time
                    .plus_millis(now.saturating_sub(a.elapsed_ms) as i64)
            }
            _ => self.wall.now(),
        };
        match self.stored.floor {
            Some(f) => base.max(f),
            None => base,
        }
    }

    /// Anchors `server_time` (a freshly accepted lease's `issued_at`) to the monotonic
    /// clock. Never moves trusted time backwards: an anchor older than trusted time now
    /// only raises the floor.
    pub(crate) fn anchor(&mut self, layout: &Layout, server_time: Timestamp) -> io::Result<()> {
        let now = self.now();
        let anchored = server_time.max(now);
        self.stored.anchor = Some(Anchor {
            server_time: anchored,
            boot_id: self.mono.boot_id(),
            elapsed_ms: duration_ms(self.mono.elapsed()),
        });
        self.stored.floor = Some(anchored);
        self.save(layout)
    }

    /// The wall clock, as the platform tells it (a claim: decisions use trusted time).
    pub(crate) fn wall_now(&self) -> Timestamp {
        self.wall.now()
    }

    /// Looks at the wall clock: opens a clock-set-back incident when it lags trusted time
    /// by more than [`SET_BACK_TOLERANCE`] (or notes that the open one's lag grew), and
    /// persists the floor when it has moved on by [`FLOOR_EVERY`].
    pub(crate) fn observe(&mut self, layout: &Layout) -> io::Result<Option<SetBack>> {
        let trusted = self.now();
        let lag = trusted.as_millis() - self.wall.now().as_millis();
        let mut changed = false;
        let mut seen = None;
        if lag > duration_ms(SET_BACK_TOLERANCE) as i64 {
            if !self.stored.open {
                self.stored.open = true;
                self.stored.open_lag = lag;
                seen = Some(SetBack::Opened(ClockSetBack {
                    detected_at: trusted,
                    by_ms: lag,
                }));
                changed = true;
            } else if lag > self.stored.open_lag {
                self.stored.open_lag = lag;
                seen = Some(SetBack::Grew(lag));
                changed = true;
            }
        } else if self.stored.open {
            self.stored.open = false;
            self.stored.open_lag = 0;
            changed = true;
        }
        let stale = self
            .stored
            .floor
            .is_none_or(|f| trusted.as_millis() - f.as_millis() >= duration_ms(FLOOR_EVERY) as i64);
        if stale {
            self.stored.floor = Some(trusted);
            changed = true;
        }
        if changed {
            self.save(layout)?;
        }
        Ok(seen)
    }

    /// Incidents an older agent left for its check-ins, to be moved into tamper signals.
    pub(crate) fn legacy_incidents(&self) -> &[ClockSetBack] {
        &self.stored.unreported
    }

    /// Forgets [`Self::legacy_incidents`], once they were moved.
    pub(crate) fn clear_legacy(&mut self, layout: &Layout) -> io::Result<()> {
        if self.stored.unreported.is_empty() {
            return Ok(());
        }
        self.stored.unreported.clear();
        self.save(layout)
    }

    fn save(&self, layout: &Layout) -> io::Result<()> {
        let json = serde_json::to_vec(&self.stored).map_err(io::Error::other)?;
        atomic::write(&layout.trusted_time(), &json)
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_clock_is_monotonic_within_its_boot() {
        let m = SystemMonotonic::new();
        let id = m.boot_id();
        let a = m.elapsed();
        std::thread::sleep(Duration::from_millis(20));
        let b = m.elapsed();
        assert!(b >= a, "{a:?} then {b:?}");
        assert_eq!(m.boot_id(), id);
        // Two handles in one boot agree on the boot (so a restarted agent keeps its anchor).
        assert_eq!(
            SystemMonotonic::new().boot_id() == id,
            id.starts_with("boot-")
        );
    }
}
