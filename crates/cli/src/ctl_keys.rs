//! `lienlock ctl keys`: rotating the server's lease-signing key (docs/security.md,
//! "Rotating the lease-signing key"). Works on the key files only; every server node reads
//! them at start, so each step is followed by a (rolling) restart of every node.

use crate::ServerArgs;
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use lienlock_server::secrets;
use lienlock_wire::ServerKey;
use std::path::Path;

/// Lease-signing key commands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Show the current key, and the next and previous keys if there are any.
    Show(KeysArgs),
    /// Make the next key (`<key file>.next`). Once the nodes restart, every lease the
    /// current key signs announces it, and devices learn it at their next check-in.
    Rotate(KeysArgs),
    /// Make the next key current, keeping the current one as the previous key
    /// (`<key file>.old`), which leads devices that missed the announcement through.
    Promote(PromoteArgs),
    /// Delete the previous key, once every device has checked in since the promotion.
    /// Devices that still trust only it can then no longer be reached.
    Retire(KeysArgs),
}

/// The key files, as `serve` finds them.
#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(flatten)]
    server: ServerArgs,
}

/// `ctl keys promote`.
#[derive(Debug, Args)]
pub struct PromoteArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Delete a previous key still kept from an earlier promotion (devices that trust only
    /// it are stranded).
    #[arg(long)]
    drop_old: bool,
}

fn describe(what: &str, key: &ServerKey) {
    println!(
        "{what}: key id {} public key {}",
        key.id(),
        key.public().to_hex()
    );
}

/// The signing key in the file at `path`, if there is one (never made up here).
pub(crate) fn load(path: &Path) -> anyhow::Result<Option<ServerKey>> {
    Ok(secrets::load(path)?.map(ServerKey::from_secret))
}

fn warn_env() {
    for name in [
        secrets::SIGNING_KEY_ENV,
        secrets::NEXT_SIGNING_KEY_ENV,
        secrets::OLD_SIGNING_KEY_ENV,
    ] {
        if std::env::var_os(name).is_some() {
            eprintln!("note: {name} is set; the server takes that key instead of the file");
        }
    }
}

/// Runs a key command.
pub async fn run(cmd: KeysCommand) -> anyhow::Result<()> {
    warn_env();
    match cmd {
        KeysCommand::Show(a) => {
            let path = a.server.resolve()?.signing_key_path();
            match load(&path)? {
                Some(k) => describe("current", &k),
                None => println!("no key at {} (`serve` creates one)", path.display()),
            }
            if let Some(k) = load(&secrets::next_key_path(&path))? {
                describe("next", &k);
            }
            if let Some(k) = load(&secrets::old_key_path(&path))? {
                describe("previous", &k);
            }
            Ok(())
        }
        KeysCommand::Rotate(a) => {
            let path = a.server.resolve()?.signing_key_path();
            let next = secrets::next_key_path(&path);
            if load(&path)?.is_none() {
                bail!("no current key at {}: nothing to rotate", path.display());
            }
            if next.exists() {
                bail!(
                    "{} exists: a rotation is already under way (promote it, or delete the \
                     file to start over)",
                    next.display()
                );
            }
            let key = ServerKey::generate();
            secrets::write_new(&next, &key.secret())?;
            describe("next", &key);
            println!(
                "written to {}; copy it to every node (mode 600) and restart them: leases \
                 announce it from then on. Promote once devices have checked in.",
                next.display()
            );
            Ok(())
        }
        KeysCommand::Promote(a) => {
            let path = a.server.resolve()?.signing_key_path();
            let (next, old) = (secrets::next_key_path(&path), secrets::old_key_path(&path));
            let Some(key) = load(&next)? else {
                bail!(
                    "no next key at {}: run `ctl keys rotate` first",
                    next.display()
                );
            };
            if load(&path)?.is_none() {
                bail!("no current key at {}", path.display());
            }
            if old.exists() {
                if !a.drop_old {
                    bail!(
                        "{} still holds the key before this one; `ctl keys retire` it first \
                         (or pass --drop-old)",
                        old.display()
                    );
                }
                std::fs::remove_file(&old)
                    .with_context(|| format!("removing {}", old.display()))?;
            }
            // Current to old first: a crash between the two renames leaves no key file,
            // which the server refuses to start on rather than making a fresh key.
            std::fs::rename(&path, &old)
                .with_context(|| format!("moving {} to {}", path.display(), old.display()))?;
            std::fs::rename(&next, &path)
                .with_context(|| format!("moving {} to {}", next.display(), path.display()))?;
            describe("current", &key);
            println!(
                "the previous key is kept in {}; restart every node. Devices that learned \
                 the key take its leases; the others get one signed by the previous key that \
                 leads them to it.",
                old.display()
            );
            Ok(())
        }
        KeysCommand::Retire(a) => {
            let path = a.server.resolve()?.signing_key_path();
            let old = secrets::old_key_path(&path);
            let Some(key) = load(&old)? else {
                bail!("no previous key at {}", old.display());
            };
            std::fs::remove_file(&old).with_context(|| format!("removing {}", old.display()))?;
            describe("retired", &key);
            println!("restart every node; devices that still trust only it are stranded");
            Ok(())
        }
    }
}
