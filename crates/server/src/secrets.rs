//! The server's two secrets, kept in files with owner-only permissions: the lease-signing
//! key and the secret API keys are MACed with. Created on first start when missing; every
//! node of a multi-node deployment must be given the same files.

use crate::apikey::ServerSecret;
use anyhow::{bail, Context};
use lienlock_wire::ServerKey;
use std::io::Write;
use std::path::Path;
use zeroize::Zeroizing;

/// Reads a 32-byte secret stored as 64 hex characters, or creates one with `make`.
fn load_or_create(path: &Path, make: impl FnOnce() -> [u8; 32]) -> anyhow::Result<[u8; 32]> {
    if path.exists() {
        check_permissions(path)?;
        let text = Zeroizing::new(
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        );
        let mut out = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut out)
            .with_context(|| format!("{} must hold 64 hex characters", path.display()))?;
        return Ok(out);
    }
    let secret = make();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(Zeroizing::new(hex::encode(secret)).as_bytes())?;
    f.sync_all()?;
    Ok(secret)
}

/// Refuses a secret file others can read: a leaked signing key forges unlocks for every
/// device, so this is worth failing start-up over.
fn check_permissions(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            bail!(
                "{} is readable by others (mode {:o}); run chmod 600 on it",
                path.display(),
                mode & 0o777
            );
        }
    }
    Ok(())
}

/// The lease-signing key from `path`, created if missing.
pub fn signing_key(path: &Path) -> anyhow::Result<ServerKey> {
    let seed = load_or_create(path, || ServerKey::generate().secret())?;
    Ok(ServerKey::from_secret(seed))
}

/// The API-key MAC secret from `path`, created if missing.
pub fn server_secret(path: &Path) -> anyhow::Result<ServerSecret> {
    let bytes = load_or_create(path, || *ServerSecret::generate().bytes())?;
    Ok(ServerSecret::new(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("signing.key");
        let a = signing_key(&p).unwrap();
        let b = signing_key(&p).unwrap();
        assert_eq!(a.id(), b.id());
    }

    #[cfg(unix)]
    #[test]
    fn world_readable_secret_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("secret");
        server_secret(&p).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(server_secret(&p)
            .unwrap_err()
            .to_string()
            .contains("chmod 600"));
    }
}
