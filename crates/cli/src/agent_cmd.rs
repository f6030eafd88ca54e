//! `lienlock agent`: one simulated phone.

use anyhow::Context;
use clap::{Args, Subcommand};
use lienlock_agent::{Agent, AgentConfig, Enforcement, LockReason, SystemMonotonic};
use lienlock_domain::{Imei, SystemClock};
use lienlock_wire::ServerPublicKey;
use std::path::PathBuf;
use std::sync::Arc;

/// Agent commands.
#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Run a phone: check in, print each state change, until released or Ctrl-C.
    Run(RunArgs),
    /// Dispute the lock from the phone ("I paid: receipt ..."); no automatic restriction
    /// starts while the dispute is open.
    Dispute {
        /// The phone's data directory.
        #[arg(long)]
        data: PathBuf,
        /// What to tell the lender (a receipt reference, say).
        #[arg(long)]
        reason: String,
    },
    /// Type an unlock code from a payment receipt (or read out by the lender's support) on
    /// a phone that cannot connect. Prints what the phone does now; exits non-zero when the
    /// code is refused (a wrong code starts a wait of 1 minute, doubling up to 512).
    EnterCode {
        /// The phone's data directory.
        #[arg(long)]
        data: PathBuf,
        /// The code, with or without its dashes.
        code: String,
    },
    /// Wipe the user partition (the lease), keeping the persistent one (identity, counter).
    FactoryReset {
        /// The phone's data directory.
        #[arg(long)]
        data: PathBuf,
    },
}

/// `agent run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The phone's data directory (created on first start).
    #[arg(long)]
    data: PathBuf,
    /// Server URL; needed on first start only.
    #[arg(long)]
    server: Option<String>,
    /// The server's lease-signing public key (64 hex), printed by `lienlock serve`; needed on
    /// first start only, then pinned.
    #[arg(long)]
    server_key: Option<String>,
    /// The IMEI the phone was enrolled by; needed on first start only.
    #[arg(long)]
    imei: Option<Imei>,
    /// Check in once, print the result, and exit.
    #[arg(long)]
    once: bool,
}

/// A one-line description of what the phone enforces, changing only when the mode does
/// (not every time a renewed lease moves `valid_until`).
pub fn describe(e: &Enforcement) -> String {
    match e {
        Enforcement::Free => "FREE: released, nothing is enforced any more".into(),
        Enforcement::Run {
            offline_warning: true,
            valid_until,
            ..
        } => format!(
            "ACTIVE, OFFLINE WARNING: this phone has not reached the lender for days and locks \
             at {} unless it connects or you enter a code from your payment receipt",
            rfc3339(*valid_until)
        ),
        Enforcement::Run {
            code: Some(n),
            valid_until,
            ..
        } => format!(
            "ACTIVE on unlock code {n}: the phone works normally until {}, or until it next \
             reaches the lender",
            rfc3339(*valid_until)
        ),
        Enforcement::Run { level, .. } => match level {
            lienlock_domain::RestrictionLevel::PersistentBanner => {
                "ACTIVE with a payment banner: the phone works normally".into()
            }
            _ => "ACTIVE: the phone works normally".into(),
        },
        Enforcement::Locked {
            why, lock_screen, ..
        } => {
            let why = match why {
                LockReason::Lender => "locked by the lender",
                LockReason::LeaseExpired => "lease expired without a check-in",
                LockReason::NoLease => "no lease yet",
            };
            match lock_screen {
                Some(s) if !s.message.is_empty() => format!("LOCKED ({why}): {}", s.message),
                _ => format!("LOCKED ({why})"),
            }
        }
    }
}

/// The notices in `e` newer than `shown`, as lines to print; moves `shown` forward. A phone
/// shows each reminder or notice once; the next check-in acknowledges it.
pub fn new_notices(e: &Enforcement, shown: &mut u64) -> Vec<String> {
    let notices = match e {
        Enforcement::Run { notices, .. } | Enforcement::Locked { notices, .. } => notices,
        Enforcement::Free => return Vec::new(),
    };
    let before = *shown;
    let mut lines = Vec::new();
    for n in notices.iter().filter(|n| n.seq > before) {
        lines.push(format!(
            "NOTICE ({}): {}",
            n.kind.replace('_', " "),
            n.message
        ));
        *shown = (*shown).max(n.seq);
    }
    lines
}

fn open(args: &RunArgs) -> anyhow::Result<Agent> {
    let mut agent = open_agent(args)?;
    // A real device: trusted time counts on the boot clock, not the settable wall clock.
    agent.set_monotonic(Arc::new(SystemMonotonic::new()));
    Ok(agent)
}

fn open_agent(args: &RunArgs) -> anyhow::Result<Agent> {
    let clock = Arc::new(SystemClock);
    match (&args.server, &args.server_key, args.imei) {
        (Some(server), Some(key), Some(imei)) => {
            let server_key = ServerPublicKey::from_hex(key).context("--server-key")?;
            Ok(Agent::open(
                AgentConfig {
                    data_dir: args.data.clone(),
                    server_url: server.clone(),
                    server_key,
                    imei,
                },
                clock,
            )?)
        }
        (None, None, None) => Agent::open_existing(&args.data, clock).with_context(|| {
            format!(
                "{} is not a provisioned phone; give --server, --server-key and --imei",
                args.data.display()
            )
        }),
        _ => anyhow::bail!("give all of --server, --server-key and --imei, or none"),
    }
}

/// Runs an agent command.
pub async fn run(cmd: AgentCommand) -> anyhow::Result<()> {
    match cmd {
        AgentCommand::Dispute { data, reason } => {
            let mut agent = Agent::open_existing(&data, Arc::new(SystemClock))?;
            agent.set_monotonic(Arc::new(SystemMonotonic::new()));
            let ack = agent.open_dispute(&reason).await?;
            println!(
                "dispute {} opened at {}; quote it to the lender's support",
                ack.dispute_id, ack.opened_at
            );
            Ok(())
        }
        AgentCommand::EnterCode { data, code } => {
            let mut agent = Agent::open_existing(&data, Arc::new(SystemClock))?;
            agent.set_monotonic(Arc::new(SystemMonotonic::new()));
            let taken = agent
                .enter_code(&code)
                .map_err(|e| anyhow::anyhow!("code refused: {e}"))?;
            println!(
                "code {} accepted ({}): runs until {}",
                taken.grant.counter,
                taken.grant.kind,
                rfc3339(taken.grant.until)
            );
            println!("{} {}", agent.imei(), describe(&taken.enforcement));
            Ok(())
        }
        AgentCommand::FactoryReset { data } => {
            Agent::factory_reset(&data)?;
            println!(
                "factory reset {}: lease wiped, identity kept",
                data.display()
            );
            Ok(())
        }
        AgentCommand::Run(args) => {
            let mut agent = open(&args)?;
            let imei = agent.imei();
            let mut shown = 0;
            if args.once {
                let out = agent.check_in().await?;
                println!("{imei} {}", describe(&out.enforcement));
                for n in new_notices(&out.enforcement, &mut shown) {
                    println!("{imei} {n}");
                }
                return Ok(());
            }
            let mut last = String::new();
            agent
                .run(crate::serve::shutdown_signal(), |e| {
                    let line = describe(e);
                    if line != last {
                        println!("{imei} {line}");
                        last = line;
                    }
                    for n in new_notices(e, &mut shown) {
                        println!("{imei} {n}");
                    }
                })
                .await;
            Ok(())
        }
    }
}

/// A timestamp as the borrower reads it (UTC, to the minute).
fn rfc3339(t: lienlock_domain::Timestamp) -> String {
    jiff::Timestamp::from_millisecond(t.as_millis())
        .map(|ts| ts.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|_| format!("{} ms", t.as_millis()))
}
