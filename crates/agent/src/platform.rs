//! What the agent learns from the platform it runs on, as opposed to what it decides.
//!
//! The agent decides enforcement and hands it to the platform layer to apply (device
//! policy, lock screen; see [`crate::Enforcement`]). In the other direction the platform
//! tells the agent a few things it cannot see for itself: which SIM card is in the phone,
//! and whether the phone's integrity checks see it rooted or a debugger attached. On a real
//! phone these come from the telephony service and from the platform's integrity API; here
//! they are simulated ([`SimulatedPlatform`]), so tests and `lienlock agent platform` can
//! swap a SIM or root a phone.
//!
//! Nothing read here leaves the device: the SIM identity is hashed with a device-local salt
//! at once and only "the SIM changed" is ever reported (see `tamper`).

use crate::atomic;
use serde::{Deserialize, Serialize};
use std::fmt::Debug;
use std::io;
use std::path::PathBuf;

/// What the platform's integrity checks see.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Integrity {
    /// The phone is rooted (or its boot chain is unlocked).
    pub rooted: bool,
    /// A debugger is attached to the agent or the lock screen (or USB debugging is on).
    pub debugger: bool,
}

impl Integrity {
    /// As a bit set: 1 rooted, 2 debugger (the tamper signal's value).
    pub fn bits(self) -> u8 {
        u8::from(self.rooted) | u8::from(self.debugger) << 1
    }
}

/// The platform facts the agent reads. Implementations must be cheap: the run loop asks at
/// every wake.
pub trait Platform: Send + Sync + Debug {
    /// The identity of the SIM card in the phone (its ICCID, or the IMSI), `None` without a
    /// SIM or when it cannot be read. The agent hashes it at once and keeps only that.
    fn sim_identity(&self) -> Option<String>;
    /// What the integrity checks see now.
    fn integrity(&self) -> Integrity;
}

/// What `platform.json` holds: the simulated phone's SIM and integrity.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimulatedState {
    /// The SIM card's identity (an ICCID, say); `None` without a SIM.
    pub sim: Option<String>,
    /// Rooted and debugger flags.
    #[serde(flatten)]
    pub integrity: Integrity,
}

/// The simulated platform: reads `platform.json` in the agent's data directory (beside the
/// two partitions: it stands for the phone's hardware and system, not its storage), which
/// `lienlock agent platform` and tests write. A missing or unreadable file is a phone with
/// no SIM and nothing detected.
#[derive(Clone, Debug)]
pub struct SimulatedPlatform {
    path: PathBuf,
}

impl SimulatedPlatform {
    /// The platform whose state is in `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The state now.
    pub fn state(&self) -> SimulatedState {
        atomic::read(&self.path)
            .ok()
            .flatten()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Replaces the state (atomically), as inserting a SIM or rooting the phone would.
    pub fn set(&self, state: &SimulatedState) -> io::Result<()> {
        let json = serde_json::to_vec_pretty(state).map_err(io::Error::other)?;
        if let Some(dir) = self.path.parent() {
            atomic::create_dir(dir)?;
        }
        atomic::write(&self.path, &json)
    }
}

impl Platform for SimulatedPlatform {
    fn sim_identity(&self) -> Option<String> {
        self.state().sim.filter(|s| !s.trim().is_empty())
    }

    fn integrity(&self) -> Integrity {
        self.state().integrity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_simulated_platform_reads_what_was_set_and_defaults_to_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = SimulatedPlatform::new(dir.path().join("platform.json"));
        assert_eq!(p.sim_identity(), None);
        assert_eq!(p.integrity(), Integrity::default());
        p.set(&SimulatedState {
            sim: Some("8925401234567890123".into()),
            integrity: Integrity {
                rooted: true,
                debugger: false,
            },
        })
        .unwrap();
        assert_eq!(p.sim_identity().as_deref(), Some("8925401234567890123"));
        assert_eq!(p.integrity().bits(), 1);
        std::fs::write(dir.path().join("platform.json"), b"{not json").unwrap();
        assert_eq!(p.sim_identity(), None);
    }
}
