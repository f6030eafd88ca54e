//! `lienlock bench unlock-latency`: how long after a curing payment is acknowledged a
//! locked phone holds an unlocked lease.
//!
//! The bench starts its own server nodes as child processes (a server and ten thousand
//! phones do not fit one process's open-file limit), or uses a running deployment. It
//! enrolls a fleet with contracts, puts each phone where the policy engine leaves a
//! borrower after weeks of arrears (locked by the policy; see
//! `lienlock_store_sql::bench::lock_by_policy`), runs real agents for them, waits until
//! every phone holds its locked lease, then records one curing payment per phone at a
//! steady rate, spread across the nodes, and times each phone's unlock from the payment's
//! acknowledgement. Without push the phones hear of it only at their next check-in.

mod fixture;
mod nodes;

use crate::simulate::fleet::{Fleet, Observer, Shared};
use anyhow::{bail, Context};
use clap::Args;
use lienlock_agent::{Enforcement, RunPolicy, RunStats};
use lienlock_domain::Imei;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::time::Instant;

/// `bench unlock-latency`.
#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// Simulated phones (each holds a push connection: about 9,000 fit one process's
    /// 20,000 open files).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    devices: u32,
    /// Curing payments per second, spread across the fleet.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    rate: u32,
    /// No push channel: phones hear of a payment only at their next check-in.
    #[arg(long)]
    no_push: bool,
    /// Seconds between check-ins the server asks for (what phones without push wait).
    #[arg(long, default_value_t = 900)]
    checkin_interval: i64,
    /// Server nodes to start; more than one needs --postgres.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=16))]
    nodes: u32,
    /// A PostgreSQL server (URL of a database the bench may create others from); the bench
    /// runs on a fresh database there and drops it after. SQLite when absent.
    #[arg(long)]
    postgres: Option<String>,
    /// A running deployment instead of starting nodes (comma-separated node URLs).
    #[arg(long, requires_all = ["api_key", "database"], conflicts_with_all = ["postgres", "nodes"])]
    server: Option<String>,
    /// The lender API key for --server.
    #[arg(long, env = "LIENLOCK_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// The --server deployment's database (only the bench's own phones are touched).
    #[arg(long)]
    database: Option<String>,
    /// A phone not unlocked this long after its payment counts as failed.
    #[arg(long, default_value_t = 30)]
    timeout_secs: u64,
}

/// One phone's timeline in the measured phase.
#[derive(Default)]
struct Slot {
    locked: AtomicBool,
    paid: AtomicBool,
    sent: OnceLock<Instant>,
    acked: OnceLock<Instant>,
    unlocked: OnceLock<Instant>,
}

/// Runs the benchmark and prints one JSON line.
pub async fn run(a: UnlockArgs) -> anyhow::Result<()> {
    if a.nodes > 1 && a.postgres.is_none() {
        bail!("--nodes above 1 needs --postgres: SQLite serves one node");
    }
    let work = tempfile::tempdir().context("a temporary directory")?;
    let deployment = match &a.server {
        Some(urls) => {
            nodes::Deployment::existing(
                urls,
                a.api_key.clone().unwrap_or_default(),
                a.database.clone().unwrap_or_default(),
            )
            .await?
        }
        None => {
            nodes::Deployment::start(
                work.path(),
                a.nodes,
                a.postgres.as_deref(),
                a.checkin_interval,
            )
            .await?
        }
    };
    let result = measure(&a, &deployment, work.path()).await;
    deployment.stop().await;
    result
}

async fn measure(
    a: &UnlockArgs,
    d: &nodes::Deployment,
    work: &std::path::Path,
) -> anyhow::Result<()> {
    let imeis = fixture::prepare(d, a.devices).await?;
    let n = imeis.len();
    let rss_before = d.rss_bytes();

    let slots: Arc<Vec<Slot>> = Arc::new((0..n).map(|_| Slot::default()).collect());
    let observed = slots.clone();
    let observer = Observer(Some(Arc::new(move |i: usize, e: &Enforcement| {
        let slot = &observed[i];
        if e.is_locked() {
            slot.locked.store(true, Ordering::Relaxed);
        } else if slot.paid.load(Ordering::Relaxed) {
            let _ = slot.unlocked.set(Instant::now());
        }
    })));
    let stats = Arc::new(RunStats::default());
    let shared = Shared {
        server_urls: d.urls.clone(),
        server_key: d.server_key,
        policy: RunPolicy {
            push: !a.no_push,
            min_interval: Duration::from_secs(1),
            // Leases outlast the bench, so frequent re-evaluation would only spend the
            // machine's two cores (and the disk, on trusted-time floors) on ten thousand
            // simulated phones instead of the server.
            reevaluate_every: Duration::from_secs(600),
            ..RunPolicy::default()
        },
        stats: stats.clone(),
        observer,
        // About what one SQLite node registers per second: faster only queues check-ins.
        start_per_sec: Some(200),
    };
    let fleet = Fleet::start(&imeis, &work.join("phones"), &shared)?;
    let ready = wait_ready(&slots, &stats, !a.no_push, n).await;
    if let Err(e) = ready {
        fleet.stop().await;
        return Err(e);
    }
    // Idle connections only: wait until the start-up check-ins (each phone checks in
    // again once its push channel is up) have drained, so payments do not queue behind
    // them and memory is measured at rest.
    settle(&stats).await;
    let rss_idle = d.rss_bytes();

    pay_all(a, d, &imeis, &slots).await;
    let deadline = Instant::now() + Duration::from_secs(a.timeout_secs);
    while Instant::now() < deadline && slots.iter().any(|s| s.unlocked.get().is_none()) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    fleet.stop().await;

    let mut latencies: Vec<u128> = slots
        .iter()
        .filter_map(|s| {
            let (acked, unlocked) = (s.acked.get()?, s.unlocked.get()?);
            // Unlocked before the acknowledgement reached the bench: counted as 0.
            Some(unlocked.saturating_duration_since(*acked).as_millis())
        })
        .collect();
    latencies.sort_unstable();
    // The same from the moment the payment request was sent: the acknowledgement comes
    // after the unlock has often already reached the phone.
    let mut from_request: Vec<u128> = slots
        .iter()
        .filter_map(|s| {
            let (sent, unlocked) = (s.sent.get()?, s.unlocked.get()?);
            Some(unlocked.saturating_duration_since(*sent).as_millis())
        })
        .collect();
    from_request.sort_unstable();
    let pick = |q: f64| quantile(&latencies, q);
    let unlocked = latencies.len();
    let per_connection = match (rss_before, rss_idle, a.no_push) {
        (Some(b), Some(i), false) if n > 0 => {
            serde_json::json!((i.saturating_sub(b)) / n as u64)
        }
        _ => serde_json::Value::Null,
    };
    println!(
        "{}",
        serde_json::json!({
            "devices": n,
            "p50_ms": pick(0.50),
            "p99_ms": pick(0.99),
            "max_ms": latencies.last().copied().unwrap_or(0),
            "unlocked": unlocked,
            "failed": n - unlocked,
            "push": !a.no_push,
            "nodes": d.urls.len(),
            "backend": d.backend,
            "rate": a.rate,
            "from_request_p50_ms": quantile(&from_request, 0.50),
            "from_request_p99_ms": quantile(&from_request, 0.99),
            "server_rss_bytes_before": rss_before,
            "server_rss_bytes_idle": rss_idle,
            "rss_bytes_per_idle_connection": per_connection,
        })
    );
    Ok(())
}

/// Waits (two minutes at most) until no phone has checked in for two seconds.
async fn settle(stats: &RunStats) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = stats.checkins.load(Ordering::Relaxed);
    let mut quiet = 0;
    while quiet < 4 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = stats.checkins.load(Ordering::Relaxed);
        quiet = if now == last { quiet + 1 } else { 0 };
        last = now;
    }
}

/// The `q` quantile of sorted values (nearest rank); 0 for none.
fn quantile(sorted: &[u128], q: f64) -> u128 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// Waits until every phone reported its locked lease (and, with push, holds its
/// connection). Bounded: ten minutes at most.
async fn wait_ready(slots: &[Slot], stats: &RunStats, push: bool, n: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    let bar = indicatif::ProgressBar::new(n as u64);
    bar.set_message("phones locked and connected");
    loop {
        let locked = slots
            .iter()
            .filter(|s| s.locked.load(Ordering::Relaxed))
            .count();
        let connected = usize::try_from(stats.push_connected.load(Ordering::Relaxed)).unwrap_or(0);
        let ready = if push { locked.min(connected) } else { locked };
        bar.set_position(ready as u64);
        if ready >= n {
            bar.finish_and_clear();
            return Ok(());
        }
        if Instant::now() >= deadline {
            bar.finish_and_clear();
            bail!("after 10 minutes only {locked} phones were locked and {connected} connected, of {n}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One curing payment per phone, `rate` per second, round-robin over the nodes; each
/// acknowledgement's moment is kept. At most 512 in flight.
async fn pay_all(a: &UnlockArgs, d: &nodes::Deployment, imeis: &[Imei], slots: &Arc<Vec<Slot>>) {
    let http = reqwest::Client::new();
    let limit = Arc::new(tokio::sync::Semaphore::new(512));
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(a.rate)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = tokio::task::JoinSet::new();
    for (i, imei) in imeis.iter().enumerate() {
        tick.tick().await;
        let Ok(permit) = limit.clone().acquire_owned().await else {
            break;
        };
        let url = format!("{}/v1/payments", d.urls[i % d.urls.len()]);
        let (http, key, slots, imei) = (http.clone(), d.api_key.clone(), slots.clone(), *imei);
        tasks.spawn(async move {
            let _ = slots[i].sent.set(Instant::now());
            slots[i].paid.store(true, Ordering::Relaxed);
            let resp = http
                .post(url)
                .bearer_auth(&key)
                .header("Idempotency-Key", format!("bench-{imei}"))
                .json(&fixture::cure(&imei))
                .send()
                .await;
            if matches!(&resp, Ok(r) if r.status().as_u16() == 201) {
                let _ = slots[i].acked.set(Instant::now());
            }
            drop(permit);
        });
    }
    while tasks.join_next().await.is_some() {}
}
