//! `lienlock demo`: a server on embedded SQLite, a demo lender, three simulated phones
//! running live, and the commands to try.

use crate::agent_cmd::{describe, new_notices};
use crate::config::ServerConfig;
use crate::phone_ui::{self, Lang, Phone};
use anyhow::{bail, Context};
use clap::Args;
use lienlock_agent::{Agent, AgentConfig, RunPolicy};
use lienlock_domain::{Imei, SystemClock};
use lienlock_server::ops::{self, NewLender};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Data directory, recreated on every run (only if an earlier demo made it).
    #[arg(long, default_value = "lienlock-demo")]
    data: PathBuf,
    /// Address to listen on; if the port is taken, a free one is chosen.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// How many simulated phones.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=50))]
    phones: u32,
    /// Seconds between check-ins (short, so changes show quickly).
    #[arg(long, default_value_t = 3)]
    checkin_interval: i64,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    duration: Option<u64>,
}

/// Marks a directory as the demo's own, so a rerun may delete it and nothing else.
const MARKER: &str = ".lienlock-demo";

fn fresh_data_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)?.next().is_none();
        if !empty && !dir.join(MARKER).exists() {
            bail!(
                "{} exists and was not made by `lienlock demo`; choose another --data",
                dir.display()
            );
        }
        std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join(MARKER),
        "made by lienlock demo; deleted by the next run\n",
    )?;
    Ok(())
}

/// Runs the demo.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    fresh_data_dir(&args.data)?;
    let mut config = ServerConfig {
        data_dir: args.data.clone(),
        listen: args.listen,
        checkin_interval_secs: args.checkin_interval,
        ..ServerConfig::default()
    };
    let service = crate::serve::service(&config).await?;
    let server_key = service.signer().public();
    let (lender, api_key) = ops::bootstrap_lender(
        service.store().as_ref(),
        service.secret(),
        service.clock().as_ref(),
        NewLender {
            name: "Demo Finance".into(),
            support_phone: "+1 555 0100".into(),
            support_url: "https://pay.demo-finance.example".into(),
        },
    )
    .await?;

    // A console user, so the lender's side can be seen in a browser too.
    let console_password = zeroize::Zeroizing::new(lienlock_server::service::random_token());
    service
        .add_user(lienlock_server::service::NewUser {
            lender_id: lender.id,
            email: "admin@demo-finance.example".into(),
            name: "Demo Admin".into(),
            role: lienlock_domain::Role::Admin,
            password: console_password.clone(),
        })
        .await?;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut server_stop = stop_rx.clone();
    let server_shutdown = async move {
        let _ = server_stop.wait_for(|s| *s).await;
    };
    let running = match crate::serve::start(&config, service.clone(), server_shutdown).await {
        Ok(r) => r,
        Err(e) if config.listen.port() != 0 => {
            eprintln!("{e:#}; using a free port instead");
            config.listen.set_port(0);
            let mut server_stop = stop_rx.clone();
            crate::serve::start(&config, service, async move {
                let _ = server_stop.wait_for(|s| *s).await;
            })
            .await?
        }
        Err(e) => return Err(e),
    };
    let url = running.url.clone();

    // Enroll the phones through the real API, as a lender's integration would.
    let http = reqwest::Client::new();
    let mut phones = Vec::new();
    for n in 1..=args.phones {
        let imei = demo_imei(n)?;
        let resp = http
            .post(format!("{url}/v1/devices"))
            .bearer_auth(api_key.as_str())
            .json(&serde_json::json!({"imei": imei.as_str(), "model": "Demo Phone"}))
            .send()
            .await?;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await?;
        if !status.is_success() {
            bail!("enrolling phone {n} failed: {body}");
        }
        let id = body["id"].as_str().unwrap_or_default().to_owned();
        phones.push((format!("phone-{n}"), imei, id));
    }

    println!("lienlock demo is running");
    println!("  server       {url}");
    println!("  lender       {} ({})", lender.name, lender.id);
    println!("  API key      {}", api_key.as_str());
    println!("  server key   {}", server_key.to_hex());
    println!(
        "  console      {url}/console  (admin@demo-finance.example, password {})",
        console_password.as_str()
    );
    println!("  IMEI check   {url}/check");
    println!("  data         {}", args.data.display());
    for (name, imei, id) in &phones {
        println!("  {name}      IMEI {imei}  device {id}");
    }
    let first = &phones[0].2;
    let auth = format!("-H 'Authorization: Bearer {}'", api_key.as_str());
    println!();
    println!("Try (phones check in every {}s):", args.checkin_interval);
    println!("  curl -s {auth} {url}/v1/devices");
    println!(
        "  curl -s {auth} -H 'Content-Type: application/json' -d '{{\"reason\":\"installment 38 days overdue\"}}' {url}/v1/devices/{first}/lock"
    );
    println!(
        "  curl -s {auth} -H 'Content-Type: application/json' -d '{{\"reason\":\"paid\"}}' {url}/v1/devices/{first}/unlock"
    );
    println!(
        "  curl -s {auth} -H 'Content-Type: application/json' -d '{{\"reason\":\"final installment paid\"}}' {url}/v1/devices/{first}/release"
    );
    println!("  curl -s {auth} {url}/v1/devices/{first}/timeline");
    println!();

    let policy = RunPolicy {
        min_interval: Duration::from_millis(500),
        ..RunPolicy::default()
    };
    let mut tasks = Vec::new();
    // Each phone's screen as its borrower sees it, in a language of its own.
    let languages = [Lang::En, Lang::Sw, Lang::Es, Lang::Hi, Lang::Pt, Lang::Id];
    for (n, (name, imei, _)) in phones.into_iter().enumerate() {
        let data_dir = args.data.join("phones").join(&name);
        let mut agent = Agent::open(
            AgentConfig {
                data_dir: data_dir.clone(),
                server_url: url.clone(),
                server_key,
                imei,
            },
            Arc::new(SystemClock),
        )?;
        let (phone, mut jobs) = Phone::new(&agent, &data_dir, Some(languages[n % languages.len()]));
        let mut page_stop = stop_rx.clone();
        let page_addr = SocketAddr::new(config.listen.ip(), 0);
        let (page, _serving) = phone_ui::serve(phone.clone(), page_addr, async move {
            let _ = page_stop.wait_for(|s| *s).await;
        })
        .await?;
        println!("  {name} screen  http://{page}/");
        let mut stop = stop_rx.clone();
        let policy = policy.clone();
        tasks.push(tokio::spawn(async move {
            let mut last = String::new();
            let mut shown = 0;
            agent
                .run_with_jobs(
                    policy,
                    async move {
                        let _ = stop.wait_for(|s| *s).await;
                    },
                    |e| {
                        let line = describe(e);
                        if line != last {
                            println!("[{name}] {line}");
                            last = line;
                        }
                        for n in new_notices(e, &mut shown) {
                            println!("[{name}] {n}");
                        }
                        phone.request_snapshot();
                    },
                    &mut jobs,
                )
                .await
        }));
    }
    println!();

    match args.duration {
        Some(secs) => tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(secs)) => {}
            _ = crate::serve::shutdown_signal() => {}
        },
        None => crate::serve::shutdown_signal().await,
    }
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    running.handle.await??;
    println!("demo stopped");
    Ok(())
}

/// Demo IMEIs: a fixed type allocation code and the phone's number, with a valid check digit.
fn demo_imei(n: u32) -> anyhow::Result<Imei> {
    Ok(Imei::from_body(&format!("35000000{n:06}"))?)
}
