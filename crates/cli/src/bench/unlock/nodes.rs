//! The deployment under test: server nodes the bench starts as child processes (or a
//! running one), the lender it bootstraps, and the servers' memory.

use anyhow::{anyhow, bail, Context};
use lienlock_wire::ServerPublicKey;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Nodes and the lender the bench works as.
#[derive(Debug)]
pub struct Deployment {
    /// Base URL of each node.
    pub urls: Vec<String>,
    /// The lease-signing key the phones pin.
    pub server_key: ServerPublicKey,
    /// A lender admin key.
    pub api_key: String,
    /// The database the nodes share (SQLite path or PostgreSQL URL).
    pub database: String,
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    children: Vec<Child>,
    /// Set when the bench made a throwaway PostgreSQL database to drop at the end.
    made_database: Option<String>,
}

impl Deployment {
    /// Starts `nodes` servers on one database in `dir`: a fresh PostgreSQL database on the
    /// server of `postgres` when given, else SQLite.
    pub async fn start(
        dir: &Path,
        nodes: u32,
        postgres: Option<&str>,
        checkin_interval: i64,
    ) -> anyhow::Result<Self> {
        let data = dir.join("server");
        std::fs::create_dir_all(&data).context("the servers' data directory")?;
        let data = data
            .to_str()
            .context("a temporary path that is not UTF-8")?
            .to_owned();
        let (database, made, backend) = match postgres {
            Some(admin) => {
                let url = lienlock_store_sql::bench::fresh_postgres_database(admin)
                    .await
                    .context("creating a benchmark database")?;
                (url, Some(admin.to_owned()), "postgres")
            }
            None => (format!("{data}/lienlock.db"), None, "sqlite"),
        };
        // The first node writes the shared secrets; the others read them.
        let (mut children, mut urls, mut server_key) = (Vec::new(), Vec::new(), None);
        for _ in 0..nodes {
            let (child, url, key) = node(&data, &database, checkin_interval).await?;
            children.push(child);
            urls.push(url);
            server_key = Some(key);
        }
        let server_key = server_key.ok_or_else(|| anyhow!("no node was started"))?;
        let api_key = bootstrap(&data, &database).await?;
        Ok(Self {
            urls,
            server_key,
            api_key,
            database,
            backend,
            children,
            made_database: made,
        })
    }

    /// A running deployment: node URLs (comma-separated), an API key and its database.
    pub async fn existing(urls: &str, api_key: String, database: String) -> anyhow::Result<Self> {
        let urls: Vec<String> = urls
            .split(',')
            .map(|u| u.trim().trim_end_matches('/').to_owned())
            .filter(|u| !u.is_empty())
            .collect();
        let first = urls
            .first()
            .ok_or_else(|| anyhow!("--server names no URL"))?;
        let body: serde_json::Value = reqwest::get(format!("{first}/device/v1/server-key"))
            .await
            .with_context(|| format!("cannot reach {first}"))?
            .json()
            .await
            .context("the server key")?;
        let key = body["public_key"].as_str().unwrap_or_default();
        let backend = if database.starts_with("postgres") {
            "postgres"
        } else {
            "sqlite"
        };
        Ok(Self {
            urls,
            server_key: ServerPublicKey::from_hex(key).context("the server key")?,
            api_key,
            database,
            backend,
            children: Vec::new(),
            made_database: None,
        })
    }

    /// The resident memory of the nodes the bench started, summed; `None` for a running
    /// deployment (its processes are not ours to inspect).
    pub fn rss_bytes(&self) -> Option<u64> {
        if self.children.is_empty() {
            return None;
        }
        let mut total = 0;
        for child in &self.children {
            let status = std::fs::read_to_string(format!("/proc/{}/status", child.id()?)).ok()?;
            let kb: u64 = status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))?
                .split_whitespace()
                .next()?
                .parse()
                .ok()?;
            total += kb * 1024;
        }
        Some(total)
    }

    /// Stops the nodes and drops the throwaway database.
    pub async fn stop(mut self) {
        for child in &mut self.children {
            let _ = child.kill().await;
        }
        if let Some(admin) = &self.made_database {
            if let Err(e) =
                lienlock_store_sql::bench::drop_postgres_database(admin, &self.database).await
            {
                eprintln!("could not drop {}: {e}", self.database);
            }
        }
    }
}

/// Starts one `lienlock serve` and reads its URL and key from what it prints.
async fn node(
    data: &str,
    database: &str,
    checkin_interval: i64,
) -> anyhow::Result<(Child, String, ServerPublicKey)> {
    let exe = std::env::current_exe().context("the lienlock binary")?;
    let mut child = Command::new(exe)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data",
            data,
            "--database",
            database,
        ])
        .args(["--checkin-interval-secs", &checkin_interval.to_string()])
        // Every simulated phone shares the loopback address; a per-address limit meant for
        // carrier NATs would measure the limiter, not the server.
        .args(["--device-rate-per-ip", "0"])
        .env("LIENLOCK_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("starting lienlock serve")?;
    let stdout = child.stdout.take().context("the server's output")?;
    let mut lines = BufReader::new(stdout).lines();
    let (mut url, mut key) = (None, None);
    let read = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await? {
            if let Some(rest) = line.split_once("serving on ") {
                url = rest.1.split_whitespace().next().map(str::to_owned);
            }
            if line.contains("lease-signing key") {
                key = line.rsplit(' ').next().map(str::to_owned);
            }
            if url.is_some() && key.is_some() {
                break;
            }
        }
        anyhow::Ok(())
    })
    .await;
    if !matches!(read, Ok(Ok(()))) || url.is_none() || key.is_none() {
        bail!("lienlock serve did not start (no address and key printed within 60 s)");
    }
    // Keep reading, so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let key = ServerPublicKey::from_hex(&key.unwrap_or_default()).context("the printed key")?;
    Ok((child, url.unwrap_or_default(), key))
}

/// Creates the bench's lender with `lienlock ctl bootstrap` and returns its API key.
async fn bootstrap(data: &str, database: &str) -> anyhow::Result<String> {
    let exe = std::env::current_exe().context("the lienlock binary")?;
    let out = Command::new(exe)
        .args(["ctl", "bootstrap", "--name", "Bench Finance"])
        .args([
            "--support-phone",
            "+254 700 000000",
            "--support-url",
            "https://bench.example",
        ])
        .args(["--json", "--data", data, "--database", database])
        .env("LIENLOCK_LOG", "warn")
        .output()
        .await
        .context("running lienlock ctl bootstrap")?;
    if !out.status.success() {
        bail!(
            "lienlock ctl bootstrap failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let body: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("the bootstrap output")?;
    body["api_key"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("the bootstrap printed no API key"))
}
