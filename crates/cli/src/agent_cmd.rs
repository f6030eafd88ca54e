//! `lienlock agent`: one simulated phone.

use crate::phone_ui::{self, Lang, Phone};
use anyhow::Context;
use clap::{Args, Subcommand};
use lienlock_agent::{
    Agent, AgentConfig, Enforcement, Layout, LockReason, RunExit, RunPolicy, SimulatedPlatform,
    SystemMonotonic,
};
use lienlock_domain::{Imei, SystemClock};
use lienlock_wire::ServerPublicKey;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

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
    /// Change the simulated phone itself: swap its SIM card, root it, attach a debugger.
    /// The running agent notices at its next wake and reports a tamper signal at its next
    /// check-in (never the SIM's identity: only that it changed). Prints the state.
    Platform(PlatformArgs),
}

/// `agent platform`.
#[derive(Debug, Args)]
pub struct PlatformArgs {
    /// The phone's data directory.
    #[arg(long)]
    data: PathBuf,
    /// Put in a SIM card with this identity (an ICCID, say).
    #[arg(long, conflicts_with = "no_sim")]
    sim: Option<String>,
    /// Take the SIM card out.
    #[arg(long)]
    no_sim: bool,
    /// Whether the platform's integrity checks see the phone rooted.
    #[arg(long)]
    rooted: Option<bool>,
    /// Whether a debugger is attached.
    #[arg(long)]
    debugger: Option<bool>,
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
    #[arg(long, conflicts_with = "ui")]
    once: bool,
    /// Also serve the phone's screen, as its borrower sees it, on this address (for
    /// example 127.0.0.1:8090; port 0 picks one). Prints `phone page: URL`.
    #[arg(long, value_name = "ADDR")]
    ui: Option<SocketAddr>,
    /// The screen's language (en, hi, sw, es, pt, id); kept as the phone's setting.
    #[arg(long, value_enum, requires = "ui")]
    language: Option<Lang>,
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
        AgentCommand::Platform(a) => {
            let platform = SimulatedPlatform::new(Layout::new(&a.data).platform());
            let mut state = platform.state();
            if let Some(sim) = a.sim {
                state.sim = Some(sim);
            }
            if a.no_sim {
                state.sim = None;
            }
            if let Some(rooted) = a.rooted {
                state.integrity.rooted = rooted;
            }
            if let Some(debugger) = a.debugger {
                state.integrity.debugger = debugger;
            }
            platform.set(&state).with_context(|| {
                format!("writing {}", Layout::new(&a.data).platform().display())
            })?;
            println!(
                "{}: SIM {}, rooted {}, debugger {}",
                a.data.display(),
                if state.sim.is_some() { "in" } else { "none" },
                state.integrity.rooted,
                state.integrity.debugger
            );
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
            if let Some(addr) = args.ui {
                return run_with_page(agent, &args, addr).await;
            }
            let mut printer = Printer::new(imei);
            agent
                .run(crate::serve::shutdown_signal(), |e| printer.print(e))
                .await;
            Ok(())
        }
    }
}

/// Prints each change of what the phone does, and each notice once.
struct Printer {
    imei: Imei,
    last: String,
    shown: u64,
}

impl Printer {
    fn new(imei: Imei) -> Self {
        Self {
            imei,
            last: String::new(),
            shown: 0,
        }
    }

    fn print(&mut self, e: &Enforcement) {
        let imei = self.imei;
        let line = describe(e);
        if line != self.last {
            println!("{imei} {line}");
            self.last = line;
        }
        for n in new_notices(e, &mut self.shown) {
            println!("{imei} {n}");
        }
    }
}

/// `agent run --ui`: the run loop, with the phone's screen served alongside. The page's
/// buttons reach the agent through the loop's job queue; once the phone is released the
/// loop ends, and the page stays up (showing the released screen) until Ctrl-C.
async fn run_with_page(mut agent: Agent, args: &RunArgs, addr: SocketAddr) -> anyhow::Result<()> {
    let (phone, mut jobs) = Phone::new(&agent, &args.data, args.language);
    let (bound, page) = phone_ui::serve(phone.clone(), addr, crate::serve::shutdown_signal())
        .await
        .with_context(|| format!("cannot serve the phone page on {addr}"))?;
    println!("phone page: http://{bound}/");
    let mut printer = Printer::new(agent.imei());
    let exit = agent
        .run_with_jobs(
            RunPolicy::default(),
            crate::serve::shutdown_signal(),
            |e| {
                printer.print(e);
                phone.request_snapshot();
            },
            &mut jobs,
        )
        .await;
    if exit == RunExit::Released {
        phone.snapshot(&agent);
        phone_ui::serve_jobs(&mut agent, &mut jobs, crate::serve::shutdown_signal()).await;
    }
    // The page stops on the same signal; give open requests a moment.
    let _ = tokio::time::timeout(Duration::from_secs(2), page).await;
    Ok(())
}

/// A timestamp as the borrower reads it (UTC, to the minute).
fn rfc3339(t: lienlock_domain::Timestamp) -> String {
    jiff::Timestamp::from_millisecond(t.as_millis())
        .map(|ts| ts.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|_| format!("{} ms", t.as_millis()))
}
