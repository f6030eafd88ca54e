//! `lienlock ctl codes issue`: an offline unlock code for one device, through the lender
//! API, for support reading a code out to a borrower whose phone has no data.

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde_json::Value;
use std::time::Duration;

/// `ctl codes`.
#[derive(Debug, Subcommand)]
pub enum CodesCommand {
    /// Issue the device's next unlock code (`POST /v1/devices/{id}/codes`) and print it.
    Issue(IssueArgs),
}

/// `ctl codes issue`.
#[derive(Debug, Args)]
pub struct IssueArgs {
    /// The device id.
    device: String,
    /// Why (kept with the code and on the device's timeline).
    #[arg(long)]
    reason: String,
    /// `unlock` (lift a lock too) or `extend-until` (only run past an expired lease). By
    /// default `unlock`, unless the lender locked the device by hand.
    #[arg(long, value_parser = ["unlock", "extend-until"])]
    kind: Option<String>,
    /// The code's date, YYYY-MM-DD; by default what a payment's code would carry today.
    #[arg(long)]
    paid_until: Option<jiff::civil::Date>,
    /// The server's base URL.
    #[arg(long, env = "LIENLOCK_SERVER")]
    server: String,
    /// The lender's API key (prefer the environment variable: arguments show in `ps`).
    #[arg(long, env = "LIENLOCK_API_KEY", hide_env_values = true)]
    api_key: String,
    /// Print the server's JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs a `ctl codes` command.
pub async fn run(cmd: CodesCommand) -> anyhow::Result<()> {
    match cmd {
        CodesCommand::Issue(a) => issue(a).await,
    }
}

async fn issue(a: IssueArgs) -> anyhow::Result<()> {
    let base = a.server.trim_end_matches('/');
    reqwest::Url::parse(base).with_context(|| format!("--server {:?} is not a URL", a.server))?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .context("setting up HTTP")?;
    let mut body = serde_json::json!({ "reason": a.reason });
    if let Some(kind) = &a.kind {
        body["kind"] = Value::from(kind.replace('-', "_"));
    }
    if let Some(d) = a.paid_until {
        body["paid_until"] = Value::from(d.to_string());
    }
    let resp = http
        .post(format!("{base}/v1/devices/{}/codes", a.device))
        .bearer_auth(&a.api_key)
        .json(&body)
        .send()
        .await
        .with_context(|| format!("cannot reach {base}"))?;
    let status = resp.status();
    let answer: Value = resp
        .json()
        .await
        .with_context(|| format!("the server answered HTTP {status} without JSON"))?;
    if !status.is_success() {
        let message = answer["error"]["message"].as_str().unwrap_or("no message");
        bail!("the server refused (HTTP {status}): {message}");
    }
    if a.json {
        println!("{answer}");
    } else {
        println!(
            "code {} for device {}: {}",
            answer["counter"],
            a.device,
            answer["code"].as_str().unwrap_or("?")
        );
        println!(
            "{} until {} (the phone runs until {})",
            answer["kind"].as_str().unwrap_or("?"),
            answer["paid_until"].as_str().unwrap_or("?"),
            answer["runs_until"].as_str().unwrap_or("?")
        );
    }
    Ok(())
}
