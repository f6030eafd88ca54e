//! `lienlock`: the server, the demo, the device agent and the operator's tools in one binary.

mod agent_cmd;
mod bench;
mod codes;
mod config;
mod ctl;
mod ctl_audit;
mod ctl_backup;
mod ctl_codes;
mod ctl_users;
mod demo;
mod import;
mod phone_ui;
mod readahead;
mod serve;
mod simulate;

use clap::{Args, Parser, Subcommand};

/// The allocator for everything the binary runs (see the workspace manifest for why).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use config::ServerConfig;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Device-financing lock platform.
#[derive(Debug, Parser)]
#[command(name = "lienlock", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServerArgs),
    /// Run a live demo on embedded SQLite: a server, a lender and three simulated phones.
    Demo(demo::DemoArgs),
    /// Run a simulated phone.
    #[command(subcommand)]
    Agent(agent_cmd::AgentCommand),
    /// Operator tools that work directly on the database.
    #[command(subcommand)]
    Ctl(ctl::CtlCommand),
    /// Benchmarks behind docs/benchmarks.md.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Offline codes (OpenPAYGO Token): mint and check them without a server.
    #[command(subcommand)]
    Codes(codes::CodesCommand),
    /// Run many simulated phones against a running server, enrolled through the lender API.
    Simulate(simulate::SimulateArgs),
}

/// Where the server keeps its data. Flags override the environment, which overrides the
/// config file.
#[derive(Debug, Args, Clone)]
pub struct ServerArgs {
    /// TOML config file.
    #[arg(long, env = "LIENLOCK__CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (SQLite file, secret files).
    #[arg(long, env = "LIENLOCK__DATA_DIR")]
    data: Option<PathBuf>,
    /// PostgreSQL URL (postgres://user:pass@host/db); SQLite in the data directory if absent.
    #[arg(long, env = "LIENLOCK__DATABASE")]
    database: Option<String>,
    /// Address to listen on.
    #[arg(long, env = "LIENLOCK__LISTEN")]
    listen: Option<SocketAddr>,
    /// Lease-signing key file.
    #[arg(long, env = "LIENLOCK__SIGNING_KEY_FILE")]
    signing_key_file: Option<PathBuf>,
    /// API-key MAC secret file.
    #[arg(long, env = "LIENLOCK__SECRET_FILE")]
    secret_file: Option<PathBuf>,
    /// Seconds between device check-ins.
    #[arg(long, env = "LIENLOCK__CHECKIN_INTERVAL_SECS")]
    checkin_interval_secs: Option<i64>,
    /// Device requests per second one address may make (0: no limit).
    #[arg(long, env = "LIENLOCK__DEVICE_RATE_PER_IP")]
    device_rate_per_ip: Option<u32>,
    /// Address of the Prometheus metrics listener (`/metrics`); none unless set.
    #[arg(long, env = "LIENLOCK__METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// Log format.
    #[arg(long, env = "LIENLOCK__LOG_FORMAT")]
    log_format: Option<config::LogFormat>,
    /// Seconds requests in flight get to finish after SIGTERM.
    #[arg(long, env = "LIENLOCK__SHUTDOWN_GRACE_SECS")]
    shutdown_grace_secs: Option<u64>,
    /// Requests served at once before the rest are shed with 503 (0: no cap).
    #[arg(long, env = "LIENLOCK__MAX_IN_FLIGHT")]
    max_in_flight: Option<usize>,
    /// A second address serving only the Android Device Lock Controller's gRPC services.
    #[arg(long, env = "LIENLOCK__ANDROID_LISTEN")]
    android_listen: Option<SocketAddr>,
    /// The gRPC metadata header Android phones send their key in.
    #[arg(long, env = "LIENLOCK__ANDROID_HEADER")]
    android_header: Option<String>,
    /// File (mode 600) holding the deployment's Android key.
    #[arg(long, env = "LIENLOCK__ANDROID_KEY_FILE")]
    android_key_file: Option<PathBuf>,
}

impl ServerArgs {
    /// The config file overlaid with flags and environment.
    pub fn resolve(&self) -> anyhow::Result<ServerConfig> {
        let mut c = ServerConfig::load(self.config.as_deref())?;
        if let Some(d) = &self.data {
            c.data_dir = d.clone();
        }
        if let Some(d) = &self.database {
            c.database = Some(d.clone());
        }
        if let Some(l) = self.listen {
            c.listen = l;
        }
        if let Some(f) = &self.signing_key_file {
            c.signing_key_file = Some(f.clone());
        }
        if let Some(f) = &self.secret_file {
            c.secret_file = Some(f.clone());
        }
        if let Some(r) = self.device_rate_per_ip {
            c.device_rate_per_ip = r;
        }
        if let Some(n) = self.max_in_flight {
            c.max_in_flight = n;
        }
        if let Some(s) = self.checkin_interval_secs {
            c.checkin_interval_secs = s;
        }
        if let Some(m) = self.metrics_listen {
            c.metrics_listen = Some(m);
        }
        if let Some(f) = self.log_format {
            c.log_format = f;
        }
        if let Some(g) = self.shutdown_grace_secs {
            c.shutdown_grace_secs = g;
        }
        if let Some(a) = self.android_listen {
            c.android_listen = Some(a);
        }
        if let Some(h) = &self.android_header {
            c.android_header = h.clone();
        }
        if let Some(f) = &self.android_key_file {
            c.android_key_file = Some(f.clone());
        }
        Ok(c)
    }
}

fn init_tracing(default: &str) {
    init_tracing_as(default, config::LogFormat::Text);
}

/// Logs go to stderr. JSON lines carry the span fields (request id, method, route
/// template) on every line a request writes; no line carries a path, query, header or
/// body, so IMEIs, keys and tokens stay out of the log.
fn init_tracing_as(default: &str, format: config::LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LIENLOCK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        config::LogFormat::Text => builder.try_init(),
        config::LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let config = args.resolve()?;
            init_tracing_as("info", config.log_format);
            serve::run(config).await
        }
        Command::Demo(args) => {
            init_tracing("warn");
            demo::run(args).await
        }
        Command::Agent(cmd) => {
            init_tracing("warn");
            agent_cmd::run(cmd).await
        }
        Command::Ctl(cmd) => {
            init_tracing("warn");
            ctl::run(cmd).await
        }
        Command::Bench(cmd) => {
            init_tracing("warn");
            bench::run(cmd)
        }
        Command::Codes(cmd) => codes::run(cmd),
        Command::Simulate(args) => {
            init_tracing("error");
            simulate::run(args).await
        }
    }
}
