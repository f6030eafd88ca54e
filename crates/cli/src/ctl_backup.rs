//! `lienlock ctl backup`: everything a server needs to come back, copied into one new
//! directory while the server keeps serving: the database (an online, consistent SQLite
//! copy, or a `pg_dump` archive for PostgreSQL) and the secret files (the lease-signing key
//! and its rotation companions, the API-key MAC secret). Without the signing key the phones
//! refuse every lease a restored server signs; without the secret every API key stops
//! working. docs/deployment.md has the restore procedure.

use crate::ServerArgs;
use anyhow::{bail, Context};
use clap::Args;
use lienlock_server::secrets;
use std::io::Write;
use std::path::{Path, PathBuf};

/// `ctl backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// The directory to write, created if missing. Files already in it are never
    /// overwritten: a name that exists fails the backup.
    #[arg(long)]
    to: PathBuf,
}

/// The database file's name in a backup of a SQLite server (as in a data directory, so a
/// restore is a copy).
pub const SQLITE_FILE: &str = "lienlock.db";
/// The archive's name in a backup of a PostgreSQL server (`pg_restore` reads it).
pub const PG_DUMP_FILE: &str = "lienlock.pgdump";

/// Runs `ctl backup`.
pub async fn run(a: BackupArgs) -> anyhow::Result<()> {
    let config = a.server.resolve()?;
    create_private_dir(&a.to)?;
    // Secrets first: they change only at a key rotation, and a copy of them next to a
    // database that needs them is the point.
    let key = config.signing_key_path();
    let mut copied = Vec::new();
    for (what, path, env) in [
        ("signing key", key.clone(), Some(secrets::SIGNING_KEY_ENV)),
        (
            "next signing key",
            secrets::next_key_path(&key),
            Some(secrets::NEXT_SIGNING_KEY_ENV),
        ),
        (
            "previous signing key",
            secrets::old_key_path(&key),
            Some(secrets::OLD_SIGNING_KEY_ENV),
        ),
        ("server secret", config.secret_path(), None),
    ] {
        if let Some(var) = env.filter(|v| std::env::var_os(v).is_some()) {
            println!("{what}: from {var}, not a file; keep that value with this backup");
            continue;
        }
        if !path.exists() {
            if what == "signing key" || what == "server secret" {
                bail!(
                    "no {what} at {}: is this the server's data directory?",
                    path.display()
                );
            }
            continue;
        }
        let name = path.file_name().context("a secret file's name")?;
        let target = a.to.join(name);
        copy_secret(&path, &target).with_context(|| format!("copying the {what}"))?;
        println!("{what:<20} {}", target.display());
        copied.push(target);
    }
    let database = config.database_url();
    if database.starts_with("postgres://") || database.starts_with("postgresql://") {
        let target = a.to.join(PG_DUMP_FILE);
        pg_dump(&database, &target)?;
        println!("{:<20} {}", "database (pg_dump)", target.display());
    } else {
        let target = a.to.join(SQLITE_FILE);
        lienlock_store_sql::backup_sqlite(&database, &target)
            .await
            .context("copying the SQLite database")?;
        println!("{:<20} {}", "database", target.display());
    }
    // A copy of every lender's data and of the server's secrets is an action worth a
    // record: it goes on the platform's audit trail, after the copy (so it is not in the
    // copy itself, which holds the trail as it was).
    let service = crate::serve::service(&config).await?;
    service
        .audit_operator(None, "ctl backup", &a.to.display().to_string())
        .await
        .with_context(|| {
            format!(
                "the backup in {} is complete, but recording it on the audit trail failed",
                a.to.display()
            )
        })?;
    println!("backup complete: {}", a.to.display());
    Ok(())
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

/// Copies a secret file to a new owner-only file: written under a temporary name, synced,
/// then linked to `to`, which fails if `to` exists.
fn copy_secret(from: &Path, to: &Path) -> anyhow::Result<()> {
    if to.exists() {
        bail!(
            "{} exists already; a backup never overwrites a file",
            to.display()
        );
    }
    let bytes = zeroize::Zeroizing::new(
        std::fs::read(from).with_context(|| format!("reading {}", from.display()))?,
    );
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(to.file_name().context("a file name")?);
    tmp_name.push(".partial");
    let tmp = to.with_file_name(tmp_name);
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options.open(&tmp).and_then(|mut f| {
        f.write_all(&bytes)?;
        f.sync_all()
    });
    let linked = written.and_then(|()| std::fs::hard_link(&tmp, to));
    let _ = std::fs::remove_file(&tmp);
    linked.with_context(|| format!("writing {}", to.display()))
}

/// Runs `pg_dump` into a new archive file (custom format, for `pg_restore`). The dump is
/// one snapshot of the database, taken without stopping the servers.
fn pg_dump(database: &str, to: &Path) -> anyhow::Result<()> {
    if to.exists() {
        bail!(
            "{} exists already; a backup never overwrites a file",
            to.display()
        );
    }
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(to.file_name().context("a file name")?);
    tmp_name.push(".partial");
    let tmp = to.with_file_name(tmp_name);
    let _ = std::fs::remove_file(&tmp);
    let status = std::process::Command::new("pg_dump")
        .arg("--format=custom")
        .arg("--no-owner")
        .arg("--file")
        .arg(&tmp)
        .arg("--dbname")
        .arg(database)
        .status();
    let status = match status {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "pg_dump is not installed here. Back up a PostgreSQL database with the \
             PostgreSQL tools of its server's version (pg_dump --format=custom, or the \
             provider's snapshots); docs/deployment.md, \"Backups\". The secret files were \
             copied."
        ),
        Err(e) => return Err(e).context("running pg_dump"),
    };
    if !status.success() {
        let _ = std::fs::remove_file(&tmp);
        bail!("pg_dump failed ({status})");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    }
    std::fs::File::open(&tmp)?.sync_all()?;
    let linked = std::fs::hard_link(&tmp, to);
    let _ = std::fs::remove_file(&tmp);
    linked.with_context(|| format!("naming {}", to.display()))
}
