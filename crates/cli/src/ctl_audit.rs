//! `lienlock ctl audit` and `lienlock ctl api-keys`: the operator's side of the audit trail
//! and of lenders' API keys, working directly on the database.

use crate::ServerArgs;
use anyhow::Context;
use clap::{Args, Subcommand};
use lienlock_domain::{LenderId, Role};

/// Audit trail commands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check every chain of the audit trail and report the first broken link of each.
    /// Exits 1 when any chain is broken.
    Verify(VerifyArgs),
}

/// `ctl audit verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Print one JSON line per chain instead of text.
    #[arg(long)]
    json: bool,
}

/// API key commands for the operator.
#[derive(Debug, Subcommand)]
pub enum ApiKeysCommand {
    /// Make an API key for a lender (printed once): for example a new admin key when a
    /// lender has lost theirs. Lenders manage their own keys through the API.
    Add(AddKeyArgs),
}

/// `ctl api-keys add`.
#[derive(Debug, Args)]
pub struct AddKeyArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// The lender (its id, as `ctl bootstrap` printed it).
    #[arg(long)]
    lender: LenderId,
    /// admin, store_agent, collections, support or auditor.
    #[arg(long, value_parser = crate::ctl_users::parse_role)]
    role: Role,
    /// Who uses it.
    #[arg(long)]
    label: String,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs an audit command.
pub async fn run(cmd: AuditCommand) -> anyhow::Result<()> {
    match cmd {
        AuditCommand::Verify(a) => {
            let config = a.server.resolve()?;
            let service = crate::serve::service(&config).await?;
            let reports = service
                .verify_audit()
                .await
                .context("reading the audit trail")?;
            let mut broken = 0;
            for r in &reports {
                if r.broken.is_some() {
                    broken += 1;
                }
                if a.json {
                    println!(
                        "{}",
                        serde_json::json!({
                            "chain": r.chain,
                            "rows": r.rows,
                            "head": r.head,
                            "ok": r.broken.is_none(),
                            "broken": r.broken.as_ref().map(ToString::to_string),
                        })
                    );
                } else {
                    match &r.broken {
                        None => println!(
                            "chain {}: {} rows verified, head {}",
                            r.chain,
                            r.rows,
                            r.head.as_deref().unwrap_or("(empty)")
                        ),
                        Some(b) => {
                            println!("chain {}: BROKEN after {} good rows: {b}", r.chain, r.rows)
                        }
                    }
                }
            }
            if !a.json {
                println!("{} chains, {} broken", reports.len(), broken);
            }
            if broken > 0 {
                std::process::exit(1);
            }
            Ok(())
        }
    }
}

/// Runs an API key command.
pub async fn run_keys(cmd: ApiKeysCommand) -> anyhow::Result<()> {
    match cmd {
        ApiKeysCommand::Add(a) => {
            let config = a.server.resolve()?;
            let service = crate::serve::service(&config).await?;
            let key = match service
                .operator_create_api_key(a.lender, a.role, &a.label)
                .await
            {
                Err(lienlock_server::ServiceError::NotFound) => {
                    anyhow::bail!("no lender has the id {}", a.lender)
                }
                other => other.context("making the key")?,
            };
            service
                .audit_operator(
                    Some(a.lender),
                    "ctl api-keys add",
                    &format!("key {} ({})", key.record.id, a.role.as_str()),
                )
                .await?;
            if a.json {
                println!(
                    "{}",
                    serde_json::json!({
                        "key_id": key.record.id.to_string(),
                        "role": key.record.role.as_str(),
                        "api_key": key.plaintext.as_str(),
                    })
                );
            } else {
                println!(
                    "key {} ({}) for lender {}",
                    key.record.id,
                    key.record.role.as_str(),
                    a.lender
                );
                println!(
                    "API key (shown once, store it now): {}",
                    key.plaintext.as_str()
                );
            }
            Ok(())
        }
    }
}
