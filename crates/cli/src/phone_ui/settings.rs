//! The phone's own settings (today: its language), in `settings.json` at the top of the
//! phone's data directory: a setting of the device, not of the lease, so it lives outside
//! the agent's partitions, and a factory reset of the user partition does not touch it.

use super::i18n::Lang;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What `settings.json` holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// The language the phone's screens use.
    pub language: Lang,
}

impl Default for Settings {
    fn default() -> Self {
        Self { language: Lang::En }
    }
}

/// Where the settings of the phone in `data_dir` live.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("settings.json")
}

/// Reads the settings; a missing or unreadable file gives the defaults (a setting is not
/// worth refusing to show the phone's screen over).
pub fn load(path: &Path) -> Settings {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "settings.json is damaged; using the defaults");
            Settings::default()
        }),
        Err(_) => Settings::default(),
    }
}

/// Writes the settings whole, through a temporary file and a rename, so a crash leaves the
/// old file or the new one.
pub fn save(path: &Path, s: &Settings) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let json = serde_json::to_vec_pretty(s).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, json)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let p = path(dir.path());
        assert_eq!(load(&p), Settings::default());
        save(&p, &Settings { language: Lang::Sw }).unwrap();
        assert_eq!(load(&p).language, Lang::Sw);
        assert!(std::fs::read_to_string(&p).unwrap().contains("\"sw\""));
        std::fs::write(&p, b"{").unwrap();
        assert_eq!(load(&p), Settings::default());
    }
}
