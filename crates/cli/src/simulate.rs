//! `lienlock simulate`: many simulated phones, real agents over HTTP in one process, against
//! a running server. Enrolls them through the lender API, runs them, prints a line of
//! counts every second and a JSON summary at the end.

use anyhow::{bail, Context};
use clap::Args;
use lienlock_agent::{Provisioning, RunPolicy, RunStats};
use lienlock_wire::ServerPublicKey;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

pub(crate) mod enroll;
pub(crate) mod fleet;
pub(crate) mod http;
mod summary;

use enroll::{Api, MAX_DEVICES};
use fleet::{Fleet, Shared};

/// `simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The server's base URL, e.g. http://127.0.0.1:8080.
    #[arg(long, env = "LIENLOCK_SERVER")]
    server: String,
    /// A lender API key that may enroll phones (prefer the environment variable: arguments
    /// show in `ps`).
    #[arg(long, env = "LIENLOCK_API_KEY", hide_env_values = true)]
    api_key: String,
    /// How many phones, 1 to 1,000,000. Each holds files and a connection or two open, so
    /// with an open-file limit of 20,000 (`ulimit -n`) about 9,000 fit in one process.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_DEVICES)))]
    devices: u32,
    /// Seconds the phones run, counted once enrollment is done.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    duration: u64,
    /// Stop early once the phones have checked in this many times in all.
    #[arg(long)]
    checkins: Option<u64>,
    /// Keep the phones' data here (recreated on every run, only if an earlier simulate
    /// made it); default: a temporary directory removed at the end.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Enrollment requests in flight at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=256))]
    enroll_concurrency: u32,
    /// Shortest wait between a phone's check-ins, in milliseconds (the server's
    /// next_checkin_at is followed when later).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    checkin_interval_ms: u64,
    /// The server's lease-signing public key (64 hex); fetched from
    /// /device/v1/server-key when absent.
    #[arg(long)]
    server_key: Option<String>,
    /// The run block in the IMEIs (35, block, phone index, check digit), 0 to 999999;
    /// random when absent. Reusing one collides with that run's phones unless released.
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..i64::from(MAX_DEVICES)))]
    seed: Option<u32>,
}

/// Marks a directory as the simulator's own, so a rerun may delete it and nothing else.
const MARKER: &str = ".lienlock-simulate";

/// Runs the simulation.
pub async fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let base = args.server.trim_end_matches('/').to_owned();
    Provisioning::validate_url(&base).map_err(|e| anyhow::anyhow!("--server: {e}"))?;
    let given_key = match &args.server_key {
        Some(hex) => Some(ServerPublicKey::from_hex(hex).context("--server-key")?),
        None => None,
    };
    // Before anything is enrolled or written: the data directory must be usable.
    let temp;
    let dir: &Path = match &args.data {
        Some(dir) => {
            fresh_data_dir(dir)?;
            dir
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("lienlock-simulate-")
                .tempdir()
                .context("creating a temporary directory")?;
            temp.path()
        }
    };
    let api = Api {
        http: reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()
            .context("setting up HTTP")?,
        base: base.as_str().into(),
        key: args.api_key.as_str().into(),
    };
    let mut signal = std::pin::pin!(crate::serve::shutdown_signal());

    let enrolled = tokio::select! {
        r = async {
            api.check().await?;
            let key = match given_key {
                Some(key) => key,
                None => api.server_key().await?,
            };
            let block = args.seed.unwrap_or_else(enroll::random_block);
            eprintln!(
                "server key {}; enrolling {} phones, IMEIs {}..{}",
                key.id(),
                args.devices,
                enroll::imei(block, 0)?,
                enroll::imei(block, args.devices - 1)?,
            );
            let started = Instant::now();
            let enrolled = api.enroll_all(block, args.devices, args.enroll_concurrency).await?;
            eprintln!(
                "enrolled {} of {} phones in {:.1} s; {} refused",
                enrolled.imeis.len(),
                args.devices,
                started.elapsed().as_secs_f64(),
                enrolled.errors
            );
            for why in &enrolled.reasons {
                eprintln!("  refused: {why}");
            }
            anyhow::Ok((key, enrolled))
        } => r?,
        _ = &mut signal => bail!("interrupted during enrollment"),
    };
    let (server_key, enrolled) = enrolled;
    if enrolled.imeis.is_empty() {
        bail!(
            "no phone could be enrolled ({} refused); first reason: {}",
            enrolled.errors,
            enrolled.reasons.first().map_or("none", String::as_str)
        );
    }

    let stats = Arc::new(RunStats::default());
    let shared = Shared {
        server_urls: vec![base],
        server_key,
        policy: RunPolicy {
            min_interval: Duration::from_millis(args.checkin_interval_ms),
            ..RunPolicy::default()
        },
        stats: stats.clone(),
        observer: Default::default(),
        start_per_sec: None,
    };
    let fleet = Fleet::start(&enrolled.imeis, dir, &shared)?;
    let started = Instant::now();
    let gauges = summary::watch(&stats, &fleet, &args, enrolled.imeis.len(), signal).await;
    let seconds = started.elapsed().as_secs_f64();
    let (open_errors, open_reasons) = fleet.stop().await;
    let end = stats.snapshot();

    println!(
        "{}",
        summary::final_line(&args, &enrolled, &end, &gauges, seconds)
    );
    if open_errors > 0 {
        eprintln!("{open_errors} phones could not be started:");
        for why in &open_reasons {
            eprintln!("  {why}");
        }
        if open_errors >= enrolled.imeis.len() as u64 {
            bail!("no phone could be started");
        }
    }
    if args.data.is_some() {
        eprintln!("phone data kept in {}", dir.display());
    }
    Ok(())
}

/// Empties `dir` for a new run, refusing a non-empty directory an earlier simulate did not
/// make (as `lienlock demo` does).
fn fresh_data_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .next()
            .is_none();
        if !empty && !dir.join(MARKER).exists() {
            bail!(
                "{} exists and was not made by `lienlock simulate`; choose another --data",
                dir.display()
            );
        }
        std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(
        dir.join(MARKER),
        "made by lienlock simulate; deleted by the next run\n",
    )?;
    Ok(())
}
