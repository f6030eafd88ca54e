//! Where the agent keeps what, under its data directory.
//!
//! ```text
//! DATA/
//!   persistent/        survives a factory reset (hardware keystore / FRP storage on a phone)
//!     identity.key     Ed25519 seed, 64 hex characters, 0600
//!     provisioning.json  {"server_url", "server_key" (hex), "imei"}
//!     counter          last check-in counter used, decimal
//!     released         the signed release lease (envelope JSON), present once released
//!     trusted_time.json  time anchor (server time + monotonic reading), floor, and clock
//!                      set-back incidents not yet reported (see `trusted`)
//!     codes.json       unlock codes taken: highest counter, grants, wrong-code lockout
//!     codes_reconciled.json  the highest code counter the server acknowledged
//!     tamper.json      tamper signals not yet delivered, SIM hashes (see `tamper`)
//!     server_keys.json the server keys trusted after a rotation (see `keyring`)
//!   user/              wiped by a factory reset
//!     lease.json       the last accepted lease envelope, re-verified on every load
//!     install.json     the check-in counter when this partition was begun
//!   platform.json      the simulated phone's SIM and integrity (see `platform`)
//! ```

use std::path::{Path, PathBuf};

/// The paths of every file the agent uses. Public so tools and tests can inspect (or
/// deliberately damage) individual files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// The layout under a data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            root: data_dir.into(),
        }
    }

    /// The data directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The partition that survives a factory reset.
    pub fn persistent_dir(&self) -> PathBuf {
        self.root.join("persistent")
    }

    /// The partition a factory reset wipes.
    pub fn user_dir(&self) -> PathBuf {
        self.root.join("user")
    }

    /// The device's Ed25519 identity seed.
    pub fn identity(&self) -> PathBuf {
        self.persistent_dir().join("identity.key")
    }

    /// Server URL, pinned server key and IMEI.
    pub fn provisioning(&self) -> PathBuf {
        self.persistent_dir().join("provisioning.json")
    }

    /// The last check-in counter used.
    pub fn counter(&self) -> PathBuf {
        self.persistent_dir().join("counter")
    }

    /// Trusted time's anchor, floor and unreported clock set-backs. In the persistent
    /// partition, so a factory reset cannot reset the floor.
    pub fn trusted_time(&self) -> PathBuf {
        self.persistent_dir().join("trusted_time.json")
    }

    /// Unlock codes taken and the wrong-code lockout (written only when a code is entered).
    pub fn codes(&self) -> PathBuf {
        self.persistent_dir().join("codes.json")
    }

    /// The highest code counter a check-in's answer acknowledged (written only by
    /// check-ins).
    pub fn codes_reconciled(&self) -> PathBuf {
        self.persistent_dir().join("codes_reconciled.json")
    }

    /// The release lease; its presence (once verified) frees the device for ever.
    pub fn released(&self) -> PathBuf {
        self.persistent_dir().join("released")
    }

    /// The last accepted lease envelope.
    pub fn lease(&self) -> PathBuf {
        self.user_dir().join("lease.json")
    }

    /// The check-in MAC key and the server key it belongs to (40 bytes; see `mac_key`).
    pub fn checkin_mac_key(&self) -> PathBuf {
        self.user_dir().join("checkin_mac_key")
    }

    /// When the user partition was begun, as a check-in counter (see `user`).
    pub fn install(&self) -> PathBuf {
        self.user_dir().join("install.json")
    }

    /// Tamper signals on their way to the server, and what they are judged against.
    pub fn tamper(&self) -> PathBuf {
        self.persistent_dir().join("tamper.json")
    }

    /// The server keys trusted once a rotation reached the device; absent, the
    /// provisioned key.
    pub fn server_keys(&self) -> PathBuf {
        self.persistent_dir().join("server_keys.json")
    }

    /// The simulated platform's state (SIM card, root, debugger): not part of either
    /// partition, it stands for the phone itself.
    pub fn platform(&self) -> PathBuf {
        self.root.join("platform.json")
    }
}
