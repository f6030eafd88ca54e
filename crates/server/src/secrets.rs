//! The server's two secrets, kept in files with owner-only permissions: the lease-signing
//! key and the secret API keys are MACed with. Created on first start when missing; every
//! node of a multi-node deployment must be given the same files.
//!
//! The lease-signing key rotates (docs/security.md, "Rotating the lease-signing key"): next
//! to the key file `K` may lie `K.next`, the key being rolled out (every lease the current
//! key signs announces it), and `K.old`, the key a promotion replaced (kept to lead devices
//! that missed the announcement). `lienlock ctl keys rotate` writes `K.next`; `lienlock ctl
//! keys promote` moves `K` to `K.old` and `K.next` to `K`. Instead of a file, each of the
//! three may come from an environment variable holding its 64 hex characters:
//! `LIENLOCK_SIGNING_KEY`, `LIENLOCK_SIGNING_KEY_NEXT`, `LIENLOCK_SIGNING_KEY_OLD` (the
//! variable wins over the file; with it set, no file is created).

use crate::apikey::ServerSecret;
use anyhow::{bail, Context};
use lienlock_wire::ServerKey;
use std::io::Write;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The environment variable that holds the current lease-signing key, instead of its file.
pub const SIGNING_KEY_ENV: &str = "LIENLOCK_SIGNING_KEY";
/// The environment variable that holds the next lease-signing key, instead of `K.next`.
pub const NEXT_SIGNING_KEY_ENV: &str = "LIENLOCK_SIGNING_KEY_NEXT";
/// The environment variable that holds the previous lease-signing key, instead of `K.old`.
pub const OLD_SIGNING_KEY_ENV: &str = "LIENLOCK_SIGNING_KEY_OLD";

/// Where the next key lies, beside the key file `path`.
pub fn next_key_path(path: &Path) -> PathBuf {
    with_suffix(path, ".next")
}

/// Where the previous key lies, beside the key file `path`.
pub fn old_key_path(path: &Path) -> PathBuf {
    with_suffix(path, ".old")
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Reads a 32-byte secret stored as 64 hex characters, or creates one with `make`.
fn load_or_create(path: &Path, make: impl FnOnce() -> [u8; 32]) -> anyhow::Result<[u8; 32]> {
    if let Some(secret) = load(path)? {
        return Ok(secret);
    }
    let secret = make();
    write_new(path, &secret)?;
    Ok(secret)
}

/// Reads a 32-byte secret stored as 64 hex characters, if the file exists; refuses a file
/// others may read or that another user owns.
pub fn load(path: &Path) -> anyhow::Result<Option<[u8; 32]>> {
    if !path.exists() {
        return Ok(None);
    }
    check_permissions(path)?;
    let text = Zeroizing::new(
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
    );
    Ok(Some(parse_hex(&text).with_context(|| {
        format!("{} must hold 64 hex characters", path.display())
    })?))
}

fn parse_hex(text: &str) -> anyhow::Result<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut out).map_err(|_| anyhow::anyhow!("not 64 hex"))?;
    Ok(out)
}

/// Writes a new secret file with mode `0600`; refuses to replace an existing file.
pub fn write_new(path: &Path, secret: &[u8; 32]) -> anyhow::Result<()> {
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
    Ok(())
}

/// Refuses a secret file others can read, or one another user owns: a leaked signing key
/// forges unlocks for every device, so this is worth failing start-up over.
pub fn check_permissions(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let meta = std::fs::metadata(path)?;
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            bail!(
                "{} is readable by others (mode {:o}); run chmod 600 on it",
                path.display(),
                mode & 0o777
            );
        }
        // The process's own user, from its /proc entry (no system call without `unsafe`);
        // where that cannot be read the check is skipped.
        if let Ok(me) = std::fs::metadata("/proc/self").map(|m| m.uid()) {
            if meta.uid() != me {
                bail!(
                    "{} is owned by user {}, not by the server's user {me}; chown it",
                    path.display(),
                    meta.uid()
                );
            }
        }
    }
    Ok(())
}

/// The lease-signing key from `path` (created if missing), with the next and previous keys
/// of a rotation when they are present (see the module docs). Reads the environment.
pub fn signing_key(path: &Path) -> anyhow::Result<ServerKey> {
    signing_key_from(path, |name| std::env::var(name).ok())
}

/// [`signing_key`] with the environment given.
pub fn signing_key_from(
    path: &Path,
    env: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<ServerKey> {
    let from_env = |name: &str| -> anyhow::Result<Option<ServerKey>> {
        match env(name).map(Zeroizing::new) {
            Some(text) => {
                let seed = parse_hex(&text)
                    .with_context(|| format!("{name} must hold 64 hex characters"))?;
                Ok(Some(ServerKey::from_secret(seed)))
            }
            None => Ok(None),
        }
    };
    let current = match from_env(SIGNING_KEY_ENV)? {
        Some(k) => k,
        None => {
            // A missing key file beside a next or old one is a promotion cut short, not a
            // first start: a fresh key would strand every device.
            if !path.exists() && (next_key_path(path).exists() || old_key_path(path).exists()) {
                bail!(
                    "{} is missing but {} or {} exists: a key promotion did not finish; \
                     rename the key that should be current to {}",
                    path.display(),
                    next_key_path(path).display(),
                    old_key_path(path).display(),
                    path.display()
                );
            }
            ServerKey::from_secret(load_or_create(path, || ServerKey::generate().secret())?)
        }
    };
    let companion = |name: &str, file: PathBuf| -> anyhow::Result<Option<ServerKey>> {
        match from_env(name)? {
            Some(k) => Ok(Some(k)),
            None => Ok(load(&file)?.map(ServerKey::from_secret)),
        }
    };
    let mut key = current;
    if let Some(next) = companion(NEXT_SIGNING_KEY_ENV, next_key_path(path))? {
        key = key.with_next(next);
    }
    if let Some(old) = companion(OLD_SIGNING_KEY_ENV, old_key_path(path))? {
        key = key.with_previous(old);
    }
    Ok(key)
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
        assert!(a.next().is_none() && a.previous().is_none());
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

    #[cfg(unix)]
    #[test]
    fn a_signing_key_file_with_mode_0644_is_refused_and_so_is_a_next_key_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("signing.key");
        signing_key(&p).unwrap();
        let mode = |p: &Path, m| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
        mode(&p, 0o644).unwrap();
        let e = signing_key(&p).unwrap_err().to_string();
        assert!(e.contains("mode 644") && e.contains("chmod 600"), "{e}");
        mode(&p, 0o600).unwrap();
        let next = next_key_path(&p);
        write_new(&next, &ServerKey::generate().secret()).unwrap();
        mode(&next, 0o640).unwrap();
        assert!(signing_key(&p)
            .unwrap_err()
            .to_string()
            .contains("chmod 600"));
    }

    #[test]
    fn next_and_old_files_and_the_environment_make_a_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("signing.key");
        let current = signing_key(&p).unwrap();
        let next = ServerKey::generate();
        let old = ServerKey::generate();
        write_new(&next_key_path(&p), &next.secret()).unwrap();
        write_new(&old_key_path(&p), &old.secret()).unwrap();
        let key = signing_key_from(&p, |_| None).unwrap();
        assert_eq!(key.id(), current.id());
        assert_eq!(key.next().map(ServerKey::id), Some(next.id()));
        assert_eq!(key.previous().map(ServerKey::id), Some(old.id()));
        // The environment wins, and its key never lands in a file.
        let env_key = ServerKey::generate();
        let hex = hex::encode(env_key.secret());
        let elsewhere = dir.path().join("none.key");
        let key = signing_key_from(&elsewhere, |name| {
            (name == SIGNING_KEY_ENV).then(|| hex.clone())
        })
        .unwrap();
        assert_eq!(key.id(), env_key.id());
        assert!(!elsewhere.exists());
        let bad = signing_key_from(&elsewhere, |name| {
            (name == SIGNING_KEY_ENV).then(|| "zz".into())
        })
        .unwrap_err();
        assert!(bad.to_string().contains(SIGNING_KEY_ENV), "{bad}");
        assert!(
            !format!("{key:?}").contains(&hex),
            "Debug never shows a secret"
        );
        // A promotion cut short (the key file gone, its successor beside it) is an error,
        // not a reason to make a fresh key.
        std::fs::rename(&p, old_key_path(&p).with_extension("moved")).unwrap();
        let e = signing_key_from(&p, |_| None).unwrap_err().to_string();
        assert!(e.contains("promotion did not finish"), "{e}");
        assert!(!p.exists());
    }
}
