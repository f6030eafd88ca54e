//! `lienlock bench checkin`: signed check-ins per second from many concurrent simulated
//! phones against a fleet of N enrolled devices, beside a bare endpoint of the same server
//! (`/healthz`) driven the same way as the baseline.
//!
//! The fleet is bulk-loaded (see [`fleet`]). Every request is authenticated (by the
//! phone's check-in MAC key, or with `--signed` its signature) before the clock starts,
//! so during the timed window the generator does no cryptography: it sends
//! pre-built bodies over keep-alive HTTP/1.1 connections and reads the answers (it does not
//! verify the leases; the agent's tests do that). The server is embedded in this process by
//! default, on the same two cores as the generator, as the baseline is.

mod client;
mod fleet;
mod usage;

use anyhow::{bail, Context};
use clap::Args;
use client::{Conn, Origin};
use fleet::{Fleet, Phone};
use lienlock_domain::{SystemClock, Timestamp};
use lienlock_server::apikey::ServerSecret;
use lienlock_server::{AppState, LeaseSettings, Service};
use lienlock_wire::{CheckIn, CheckInVersion, DeviceKey, ServerKey, SignedCheckIn};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// `bench checkin`.
#[derive(Debug, Args)]
pub struct CheckinArgs {
    /// Enrolled phones.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    devices: u64,
    /// Seconds each timed window (check-ins, then the baseline) lasts.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=3600))]
    duration: u64,
    /// Requests in flight at once (simulated phones talking at the same moment), each on
    /// its own keep-alive connection. 256 by default: ten thousand check-ins a second,
    /// each answered in tens of milliseconds (a group commit's wait), is hundreds in
    /// flight, and with fewer the rate measured is this number over the latency rather
    /// than what the server can do (docs/benchmarks.md, fourth round).
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=4096))]
    concurrency: u32,
    /// Check-ins offered a second, on a fixed schedule, instead of as fast as the server
    /// answers: the fleet as phones make it, each checking in at its own moment whether or
    /// not others are waiting. --concurrency is then the most in flight at once, and a
    /// check-in's latency counts from its scheduled moment, so a server that falls behind
    /// shows it in p50 and p99 (not hidden by the generator waiting for it). The baseline
    /// stays as fast as the server answers.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    rate: Option<u32>,
    /// Timed runs on the same fleet; one JSON line each.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=20))]
    runs: u32,
    /// Check-ins signed in advance per second of --duration: the most the window can
    /// send (it ends early, and says so, if they run out).
    #[arg(long, default_value_t = 20_000)]
    presign_per_sec: u64,
    /// Where the SQLite fleet is kept and reused across invocations (a temporary directory
    /// when absent).
    #[arg(long, conflicts_with = "postgres")]
    data: Option<PathBuf>,
    /// A PostgreSQL server (URL of a database the bench may create others from): the fleet
    /// goes into a fresh database there, dropped after.
    #[arg(long)]
    postgres: Option<String>,
    /// A running server instead of the embedded one; --database names its database, where
    /// the fleet is bulk-loaded (an empty one). Every check-in comes from this machine's
    /// address, so the server's per-address device limit must be off
    /// (`--device-rate-per-ip 0`) or most are refused.
    #[arg(long, requires = "database", conflicts_with_all = ["postgres", "data"])]
    server: Option<String>,
    /// The --server deployment's database (SQLite path or PostgreSQL URL).
    #[arg(long, requires = "server")]
    database: Option<String>,
    /// Seconds of check-ins sent before the first run, the way its are (same rate and
    /// concurrency), and not counted. A fresh process starts slowly (a first second at
    /// about half the rate of a second run's in the same process; its log file growing
    /// from nothing, its caches cold, its heap growing; docs/benchmarks.md, seventh
    /// round), which a node that has been running paid long ago. 0 measures from the start.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(0..=600))]
    warmup: u64,
    /// Also prints, to standard error, one JSON line per second of the check-in window:
    /// the check-ins answered in it and their slowest latencies. A stall the window's
    /// percentiles average away shows here as a second with few answers.
    #[arg(long)]
    timeline: bool,
    /// Check-ins signed by each phone's key (version 4), as a phone sends until it holds
    /// a check-in MAC key, instead of authenticated by that key (version 5, what phones
    /// send once their first check-in was answered; docs/protocol.md, section 2a). The
    /// bench derives each phone's MAC key from the embedded server's key, as that server
    /// does; against --server it does so only with --signing-key-file, and signs without.
    #[arg(long)]
    signed: bool,
    /// The --server deployment's lease-signing key file (its `signing_key_file`, or
    /// `signing.key` in its data directory), read and never written: the bench derives each
    /// phone's check-in MAC key from it, as that server does, and sends MAC'd check-ins
    /// (version 5) as a fleet's phones do. Without it the bench cannot, and signs.
    #[arg(long, requires = "server", conflicts_with = "signed")]
    signing_key_file: Option<PathBuf>,
}

/// Runs the benchmark and prints one JSON line per run.
pub async fn run(a: CheckinArgs) -> anyhow::Result<()> {
    let scratch = tempfile::tempdir().context("a temporary directory")?;
    let mut pg_db = None;
    let (fleet, database, backend) = match (&a.server, &a.postgres) {
        (Some(_), _) => {
            let db = a.database.clone().unwrap_or_default();
            if is_postgres(&db) {
                (Fleet::postgres(&db, a.devices).await?, db, "postgres")
            } else {
                bail!("--server with a SQLite --database: stop the server, run the bench embedded with --data");
            }
        }
        (None, Some(admin)) => {
            let url = lienlock_store_sql::bench::fresh_postgres_database(admin).await?;
            pg_db = Some((admin.clone(), url.clone()));
            match Fleet::postgres(&url, a.devices).await {
                Ok(f) => (f, url, "postgres"),
                Err(e) => {
                    drop_pg(&pg_db).await;
                    return Err(e);
                }
            }
        }
        (None, None) => {
            let dir = a.data.clone().unwrap_or_else(|| scratch.path().to_owned());
            let (f, url) = Fleet::sqlite(&dir, a.devices).await?;
            // The figures depend on it (docs/benchmarks.md, eighth round).
            if let Some(advice) = crate::readahead::check(&dir) {
                eprintln!("note: {advice}");
            }
            (f, url, "sqlite")
        }
    };
    let result = serve_and_measure(&a, &fleet, &database, backend).await;
    drop_pg(&pg_db).await;
    result
}

/// The key in a deployment's signing key file, which must already exist: a key made up
/// here would match no MAC the server checks.
fn deployment_key(path: &std::path::Path) -> anyhow::Result<ServerKey> {
    crate::ctl::ctl_keys::load(path)?.with_context(|| format!("{} does not exist", path.display()))
}

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

async fn drop_pg(db: &Option<(String, String)>) {
    if let Some((admin, url)) = db {
        if let Err(e) = lienlock_store_sql::bench::drop_postgres_database(admin, url).await {
            eprintln!("could not drop {url}: {e}");
        }
    }
}

async fn serve_and_measure(
    a: &CheckinArgs,
    fleet: &Fleet,
    database: &str,
    backend: &str,
) -> anyhow::Result<()> {
    let (url, stop, mac) = match &a.server {
        Some(url) => (
            url.trim_end_matches('/').to_owned(),
            None,
            a.signing_key_file
                .as_deref()
                .map(deployment_key)
                .transpose()?,
        ),
        None => {
            // Counted and timed as a node with its metrics listener counts and times every
            // request, so the figures include that work.
            anyhow::ensure!(
                lienlock_server::telemetry::recorder().is_some(),
                "cannot install the metrics recorder"
            );
            let store = lienlock_store_sql::open(database).await?;
            // As `lienlock serve` does in the background: a node that has run a while
            // keeps every phone's check-in view (SQLite), so the timed windows start so.
            let started = std::time::Instant::now();
            let views = store.warm_checkin_views().await?;
            if views > 0 {
                eprintln!(
                    "{views} check-in views loaded in {:.1} s",
                    started.elapsed().as_secs_f64()
                );
            }
            let key = ServerKey::generate();
            let service = Service::new(
                store,
                Arc::new(SystemClock),
                key.clone(),
                ServerSecret::generate(),
                LeaseSettings::default(),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let url = format!("http://{}", listener.local_addr()?);
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let handle = tokio::spawn(lienlock_server::serve(
                listener,
                AppState::new(service),
                // The fleet's contracts are never due; the scheduler would find nothing.
                Duration::from_secs(3600),
                async move {
                    let _ = rx.await;
                },
            ));
            (url, Some((tx, handle)), (!a.signed).then_some(key))
        }
    };
    let origin = Origin::parse(&url)?;
    let mac = mac.as_ref();
    let mut outcome = if a.warmup > 0 {
        warm_up(a, fleet, &origin, mac).await
    } else {
        Ok(())
    };
    if outcome.is_ok() {
        for run in 0..a.runs {
            if let Err(e) = measure(a, fleet, &origin, mac)
                .await
                .map(|r| println!("{}", r.json(a, fleet.len(), backend, run, mac.is_some())))
            {
                outcome = Err(e);
                break;
            }
        }
    }
    if let Some((tx, handle)) = stop {
        let _ = tx.send(());
        handle.await??;
    }
    outcome
}

/// One timed run: the check-in window, then the baseline window.
#[derive(Debug)]
struct Report {
    checkins: Window,
    baseline: Window,
    /// Check-ins the server refused or failed (not counted above).
    errors: u64,
    /// The pre-signed check-ins ran out before the window ended.
    exhausted: bool,
    presign_secs: f64,
}

impl Report {
    fn json(
        &self,
        a: &CheckinArgs,
        devices: u64,
        backend: &str,
        run: u32,
        mac: bool,
    ) -> serde_json::Value {
        let ratio = if self.baseline.per_sec > 0.0 {
            self.checkins.per_sec / self.baseline.per_sec
        } else {
            0.0
        };
        let round = |x: f64| (x * 100.0).round() / 100.0;
        // Against --server the process is the generator alone: not the node's figures.
        let cpu_us = |w: &Window| {
            let secs = w.used.filter(|_| a.server.is_none() && w.done > 0)?;
            Some(round(secs * 1e6 / w.done as f64))
        };
        serde_json::json!({
            "devices": devices,
            "checkins_per_s": round(self.checkins.per_sec),
            "p50_ms": round(self.checkins.p50_ms),
            "p99_ms": round(self.checkins.p99_ms),
            "baseline_per_s": round(self.baseline.per_sec),
            "ratio": (ratio * 1000.0).round() / 1000.0,
            "baseline_p50_ms": round(self.baseline.p50_ms),
            "baseline_p99_ms": round(self.baseline.p99_ms),
            "checkins": self.checkins.done,
            "errors": self.errors,
            "exhausted": self.exhausted,
            "concurrency": a.concurrency,
            "offered_per_s": a.rate,
            "warmup_s": a.warmup,
            "duration_s": a.duration,
            "backend": backend,
            "auth": if mac { "mac" } else { "signature" },
            "run": run + 1,
            "presign_s": round(self.presign_secs),
            "cpu_us_per_checkin": cpu_us(&self.checkins),
            "baseline_cpu_us": cpu_us(&self.baseline),
        })
    }
}

/// CPU seconds the process used since `before`, if it could be read both times.
fn used_since(before: Option<f64>) -> Option<f64> {
    Some(usage::cpu_secs()? - before?)
}

/// What one window measured.
#[derive(Debug, Default)]
struct Window {
    done: u64,
    per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// CPU seconds the bench's process (the embedded node and the generator) used in it.
    used: Option<f64>,
    /// Every answer: when it came (ms into the window) and its latency (µs).
    answers: Vec<Answer>,
}

#[derive(Debug, Clone, Copy)]
struct Answer {
    at_ms: u32,
    latency_us: u32,
}

impl Window {
    /// One JSON line per whole second of the window (and of any backlog after it): the
    /// answers that came in it, their p99 and their slowest.
    fn timeline(&self) -> Vec<serde_json::Value> {
        let seconds = self
            .answers
            .iter()
            .map(|a| a.at_ms / 1000)
            .max()
            .map_or(0, |s| s + 1);
        let mut by_second: Vec<Vec<u32>> = vec![Vec::new(); seconds as usize];
        for a in &self.answers {
            by_second[(a.at_ms / 1000) as usize].push(a.latency_us);
        }
        by_second
            .into_iter()
            .enumerate()
            .map(|(second, mut l)| {
                l.sort_unstable();
                serde_json::json!({
                    "second": second,
                    "answered": l.len(),
                    "p99_ms": quantile(&l, 0.99),
                    "max_ms": l.last().map_or(0.0, |&x| f64::from(x) / 1000.0),
                })
            })
            .collect()
    }
}

/// The `f` quantile of `sorted` (µs) in ms; 0 when empty.
fn quantile(sorted: &[u32], f: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * f).ceil() as usize).clamp(1, sorted.len()) - 1;
    f64::from(sorted[i]) / 1000.0
}

async fn measure(
    a: &CheckinArgs,
    fleet: &Fleet,
    origin: &Origin,
    mac: Option<&ServerKey>,
) -> anyhow::Result<Report> {
    let (checkins, errors, exhausted, presign_secs) =
        checkin_window(a, fleet, origin, a.duration, mac).await?;
    if a.timeline {
        for line in checkins.timeline() {
            eprintln!("{line}");
        }
    }
    let window = Duration::from_secs(a.duration);
    let health = Requests::Same(Arc::new(origin.get("/healthz")));
    let before = usage::cpu_secs();
    let (mut baseline, _, _) = drive(origin, health, a.concurrency, None, window).await?;
    baseline.used = used_since(before);
    Ok(Report {
        checkins,
        baseline,
        errors,
        exhausted,
        presign_secs,
    })
}

/// Check-ins sent as the timed windows' are, for `--warmup` seconds, and not counted.
async fn warm_up(
    a: &CheckinArgs,
    fleet: &Fleet,
    origin: &Origin,
    mac: Option<&ServerKey>,
) -> anyhow::Result<()> {
    checkin_window(a, fleet, origin, a.warmup, mac).await?;
    Ok(())
}

/// A window of `seconds` of check-ins, signed (and framed as HTTP requests) before its
/// clock starts: its figures, the failed requests, whether the requests ran out, and the
/// seconds spent signing.
async fn checkin_window(
    a: &CheckinArgs,
    fleet: &Fleet,
    origin: &Origin,
    seconds: u64,
    mac: Option<&ServerKey>,
) -> anyhow::Result<(Window, u64, bool, f64)> {
    let started = std::time::Instant::now();
    let total = (seconds * a.presign_per_sec).min(fleet.len() * ROUNDS);
    let phones = phones(fleet, total)?;
    let framing = origin.clone();
    let mac = mac.cloned();
    let requests = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<Vec<u8>>> {
        Ok(presign(&phones, total, mac.as_ref())?
            .iter()
            .map(|body| framing.post_json("/device/v1/checkin", body))
            .collect())
    })
    .await??;
    let presign_secs = started.elapsed().as_secs_f64();
    let window = Duration::from_secs(seconds);
    let requests = Requests::Each(Arc::new(requests));
    let before = usage::cpu_secs();
    let (mut figures, errors, exhausted) =
        drive(origin, requests, a.concurrency, a.rate, window).await?;
    figures.used = used_since(before);
    Ok((figures, errors, exhausted, presign_secs))
}

/// A phone checks in at most this many times in one run (its counters for the run are
/// `ROUNDS` apart from the next run's).
const ROUNDS: u64 = 64;

/// Which phone the `j`-th request of a run comes from: a stride through the fleet, so the
/// check-ins land all over the table, as a fleet's do.
fn phone_index(j: u64, n: u64) -> u64 {
    // A stride prime to n (a large prime, or 1 for the few n it divides).
    const STRIDE: u64 = 2_654_435_761;
    let stride = if n.is_multiple_of(STRIDE) {
        1
    } else {
        STRIDE % n
    };
    let stride = if gcd(stride, n) == 1 { stride } else { 1 };
    ((u128::from(j % n) * u128::from(stride)) % u128::from(n)) as u64
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// The phones the first `total` requests come from (each once, in request order).
fn phones(fleet: &Fleet, total: u64) -> anyhow::Result<Vec<Phone>> {
    let n = fleet.len();
    (0..total.min(n))
        .map(|j| fleet.phone(phone_index(j, n)))
        .collect()
}

/// The request bodies, signed on every core, or with `mac` (the embedded server's key)
/// authenticated by each phone's check-in MAC key under it. Counters: the loaded one plus
/// this run's epoch (the wall clock's seconds times [`ROUNDS`], so each run's are above
/// the last's) plus the round, strictly increasing per phone within the run.
fn presign(phones: &[Phone], total: u64, mac: Option<&ServerKey>) -> anyhow::Result<Vec<String>> {
    let epoch = (jiff::Timestamp::now().as_second() - 1_700_000_000).max(0) as u64 * ROUNDS;
    let now = Timestamp::from_millis(jiff::Timestamp::now().as_millisecond());
    let n = phones.len() as u64;
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get()) as u64;
    let per = total.div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let (from, to) = ((t * per).min(total), ((t + 1) * per).min(total));
                    (from..to)
                        .map(|j| {
                            let p = &phones[(j % n) as usize];
                            let key = DeviceKey::from_secret(p.key);
                            let public = key.public();
                            let checkin = CheckIn {
                                version: if mac.is_some() {
                                    CheckInVersion::V5
                                } else {
                                    CheckInVersion::V4
                                },
                                imei: p.imei,
                                device_key: public,
                                counter: p.counter + epoch + j / n + 1,
                                device_time: now,
                                held_lease_seq: p.lease_seq,
                                notice_ack: p.notice_seq,
                                server_key_id: mac.map(ServerKey::id),
                                user_since: 0,
                                reports: Vec::new(),
                                signals: Vec::new(),
                            };
                            // What the phone would hold after its first check-in.
                            let signed = match mac.and_then(|s| s.checkin_mac_key(s.id(), &public))
                            {
                                Some(k) => SignedCheckIn::seal_mac(&checkin, &k),
                                None => SignedCheckIn::seal(&checkin, &key),
                            };
                            Ok(serde_json::to_string(&signed)?)
                        })
                        .collect::<anyhow::Result<Vec<String>>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(total as usize);
        for h in handles {
            out.extend(
                h.join()
                    .map_err(|_| anyhow::anyhow!("a signing thread panicked"))??,
            );
        }
        Ok(out)
    })
}

/// What a window sends: each of these once, in order, or this one again and again.
#[derive(Debug, Clone)]
enum Requests {
    Each(Arc<Vec<Vec<u8>>>),
    Same(Arc<Vec<u8>>),
}

/// Sends requests from `concurrency` tasks, each on a keep-alive connection of its own,
/// for `window`: as fast as they are answered, or with `rate`, the `j`-th at `j / rate`
/// seconds into the window (each task takes the next when it is free). Returns the
/// window's figures, the failed requests, and whether the requests to send each once ran
/// out.
async fn drive(
    origin: &Origin,
    requests: Requests,
    concurrency: u32,
    rate: Option<u32>,
    window: Duration,
) -> anyhow::Result<(Window, u64, bool)> {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + window;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (origin, requests, next) = (origin.clone(), requests.clone(), next.clone());
        tasks.spawn(async move {
            let mut answers: Vec<Answer> = Vec::new();
            let mut errors = 0u64;
            let mut exhausted = false;
            let mut conn: Option<Conn> = None;
            // On a schedule, every check-in due within the window is sent, even when a
            // backlog makes that after the window's end: dropping them would hide exactly
            // the latency a backlog adds.
            while rate.is_some() || Instant::now() < deadline {
                let (request, due): (&[u8], _) = match &requests {
                    Requests::Each(all) => {
                        let j = next.fetch_add(1, Ordering::Relaxed);
                        let Some(r) = all.get(j) else {
                            exhausted = true;
                            break;
                        };
                        let due =
                            rate.map(|r| start + Duration::from_secs_f64(j as f64 / f64::from(r)));
                        (r, due)
                    }
                    Requests::Same(r) => (r, None),
                };
                // On a schedule, the latency counts from the scheduled moment: a check-in
                // that waited for a free connection waited for the server.
                let t = match due {
                    Some(due) if due >= deadline => break,
                    Some(due) => {
                        tokio::time::sleep_until(due).await;
                        due
                    }
                    None => Instant::now(),
                };
                let c = match conn.take() {
                    Some(c) => Ok(c),
                    None => Conn::open(&origin).await,
                };
                // A connection that failed is dropped here; the next request opens
                // another.
                let ok = match c {
                    Ok(mut c) => match c.exchange(request).await {
                        Ok(status) => {
                            conn = Some(c);
                            (200..300).contains(&status)
                        }
                        Err(_) => false,
                    },
                    Err(_) => false,
                };
                if ok {
                    let micros = |d: Duration| u32::try_from(d.as_micros()).unwrap_or(u32::MAX);
                    answers.push(Answer {
                        at_ms: micros(start.elapsed()) / 1000,
                        latency_us: micros(t.elapsed()),
                    });
                } else {
                    errors += 1;
                }
            }
            (answers, errors, exhausted, Instant::now())
        });
    }
    let mut all = Vec::new();
    let (mut errors, mut exhausted, mut end) = (0, false, start);
    while let Some(r) = tasks.join_next().await {
        let (l, e, x, t) = r?;
        all.extend(l);
        errors += e;
        exhausted |= x;
        end = end.max(t);
    }
    let mut latencies: Vec<u32> = all.iter().map(|a| a.latency_us).collect();
    latencies.sort_unstable();
    let secs = end.duration_since(start).as_secs_f64().max(1e-9);
    Ok((
        Window {
            done: all.len() as u64,
            per_sec: all.len() as f64 / secs,
            p50_ms: quantile(&latencies, 0.5),
            p99_ms: quantile(&latencies, 0.99),
            used: None,
            answers: all,
        },
        errors,
        exhausted,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stride_visits_every_phone_once_per_round() {
        for n in [1u64, 2, 7, 200, 1000, 2_654_435_761 * 2] {
            let m = n.min(5000);
            let mut seen: Vec<u64> = (0..m).map(|j| phone_index(j, n)).collect();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len() as u64, m, "n = {n}");
        }
    }
}
