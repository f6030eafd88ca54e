//! `lienlock ctl users`: console users, created by the operator directly in the database.

use crate::ServerArgs;
use anyhow::Context;
use clap::{Args, Subcommand};
use lienlock_domain::{LenderId, Role};
use lienlock_server::service::{random_token, NewUser};
use std::io::BufRead;
use zeroize::Zeroizing;

/// Console user commands.
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Add a person who signs in to the lender console.
    Add(AddArgs),
    /// Stop a person signing in; their open sessions stop working at once.
    Disable(DisableArgs),
}

/// `ctl users disable`.
#[derive(Debug, Args)]
pub struct DisableArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// The user's sign-in e-mail address.
    #[arg(long)]
    email: String,
}

/// `ctl users add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// The lender (its id, as `ctl bootstrap` printed it).
    #[arg(long)]
    lender: LenderId,
    /// Sign-in e-mail address.
    #[arg(long)]
    email: String,
    /// Name shown in the console and on timelines.
    #[arg(long)]
    name: String,
    /// admin, store_agent, collections, support or auditor.
    #[arg(long, value_parser = parse_role)]
    role: Role,
    /// Read the password from the first line of standard input. Without it a random
    /// password is made and printed once.
    #[arg(long)]
    password_stdin: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub(crate) fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| {
        format!("unknown role {s:?}; one of admin, store_agent, collections, support, auditor")
    })
}

/// Runs a users command.
pub async fn run(cmd: UsersCommand) -> anyhow::Result<()> {
    match cmd {
        UsersCommand::Add(a) => add(a).await,
        UsersCommand::Disable(a) => {
            let config = a.server.resolve()?;
            let service = crate::serve::service(&config).await?;
            match service.disable_user(&a.email).await {
                Ok(()) => {
                    service
                        .audit_operator(None, "ctl users disable", a.email.trim())
                        .await?;
                }
                Err(lienlock_server::ServiceError::NotFound) => {
                    anyhow::bail!("no console user has the address {}", a.email.trim())
                }
                Err(e) => return Err(e).with_context(|| format!("disabling {}", a.email)),
            }
            println!(
                "user <{}> disabled; their sessions have ended",
                a.email.trim()
            );
            Ok(())
        }
    }
}

async fn add(a: AddArgs) -> anyhow::Result<()> {
    let (password, generated) = if a.password_stdin {
        let mut line = Zeroizing::new(String::new());
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        (
            Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_owned()),
            false,
        )
    } else {
        (Zeroizing::new(random_token()), true)
    };
    let config = a.server.resolve()?;
    let service = crate::serve::service(&config).await?;
    let user = service
        .add_user(NewUser {
            lender_id: a.lender,
            email: a.email,
            name: a.name,
            role: a.role,
            password: password.clone(),
        })
        .await?;
    service
        .audit_operator(
            Some(user.lender_id),
            "ctl users add",
            &format!("user {} <{}> ({})", user.id, user.email, user.role.as_str()),
        )
        .await?;
    let shown = generated.then(|| password.as_str());
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "user_id": user.id.to_string(),
                "email": user.email,
                "role": user.role.as_str(),
                "password": shown,
            })
        );
    } else {
        println!(
            "user {} <{}> ({})",
            user.name,
            user.email,
            user.role.as_str()
        );
        if let Some(p) = shown {
            println!("password (shown once, give it to the user): {p}");
        }
    }
    Ok(())
}
