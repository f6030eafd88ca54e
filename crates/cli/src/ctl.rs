//! `lienlock ctl`: operator tools that work directly on the database, and back-office tools
//! that go through a server's API (`ctl payments import`, `ctl devices import`).

// Declared here because it is a `ctl` subcommand; the file sits beside the other commands.
use crate::import;
#[path = "ctl_keys.rs"]
pub(crate) mod ctl_keys;

use crate::ServerArgs;
use clap::{Args, Subcommand};
use lienlock_server::ops::{self, NewLender};

/// Operator commands.
#[derive(Debug, Subcommand)]
pub enum CtlCommand {
    /// Create a lender and its first admin API key (printed once).
    Bootstrap(BootstrapArgs),
    /// Payments, through a server's lender API.
    #[command(subcommand)]
    Payments(import::PaymentsCommand),
    /// Devices, through a server's lender API.
    #[command(subcommand)]
    Devices(import::devices::DevicesCommand),
    /// Offline unlock codes, through a server's lender API.
    #[command(subcommand)]
    Codes(crate::ctl_codes::CodesCommand),
    /// People who sign in to the lender console.
    #[command(subcommand)]
    Users(crate::ctl_users::UsersCommand),
    /// The audit trail: check its hash chains.
    #[command(subcommand)]
    Audit(crate::ctl_audit::AuditCommand),
    /// Lenders' API keys, made by the operator (lenders manage theirs through the API).
    #[command(subcommand, name = "api-keys")]
    ApiKeys(crate::ctl_audit::ApiKeysCommand),
    /// The server's lease-signing key: rotate, promote, retire.
    #[command(subcommand)]
    Keys(ctl_keys::KeysCommand),
    /// Copy the database (online) and the secret files into a new directory.
    Backup(crate::ctl_backup::BackupArgs),
}

/// `ctl bootstrap`.
#[derive(Debug, Args)]
pub struct BootstrapArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// The lender's name, as borrowers know it.
    #[arg(long)]
    name: String,
    /// Support phone shown on the lock screen.
    #[arg(long)]
    support_phone: String,
    /// Payment or support URL shown on the lock screen.
    #[arg(long)]
    support_url: String,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs an operator command.
pub async fn run(cmd: CtlCommand) -> anyhow::Result<()> {
    match cmd {
        CtlCommand::Payments(cmd) => import::run(cmd).await,
        CtlCommand::Devices(cmd) => import::devices::run(cmd).await,
        CtlCommand::Codes(cmd) => crate::ctl_codes::run(cmd).await,
        CtlCommand::Users(cmd) => crate::ctl_users::run(cmd).await,
        CtlCommand::Audit(cmd) => crate::ctl_audit::run(cmd).await,
        CtlCommand::ApiKeys(cmd) => crate::ctl_audit::run_keys(cmd).await,
        CtlCommand::Keys(cmd) => ctl_keys::run(cmd).await,
        CtlCommand::Backup(a) => crate::ctl_backup::run(a).await,
        CtlCommand::Bootstrap(a) => {
            let config = a.server.resolve()?;
            let service = crate::serve::service(&config).await?;
            let (lender, key) = ops::bootstrap_lender(
                service.store().as_ref(),
                service.secret(),
                service.clock().as_ref(),
                NewLender {
                    name: a.name,
                    support_phone: a.support_phone,
                    support_url: a.support_url,
                },
            )
            .await?;
            service
                .audit_operator(Some(lender.id), "ctl bootstrap", &lender.name)
                .await?;
            if a.json {
                println!(
                    "{}",
                    serde_json::json!({"lender_id": lender.id.to_string(), "api_key": key.as_str()})
                );
            } else {
                println!("lender {} ({})", lender.name, lender.id);
                println!("API key (shown once, store it now): {}", key.as_str());
            }
            Ok(())
        }
    }
}
