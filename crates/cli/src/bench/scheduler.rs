//! `lienlock bench scheduler`: one scheduler pass over a SQLite portfolio in which a given
//! share of the contracts is due, through the real store and the real service.

use super::counting::{CountingStore, Tally};
use super::dataset::{url, Dataset, Params};
use super::portfolio::{bench_now, Portfolio};
use super::report::{self, millis, Run};
use anyhow::ensure;
use clap::Args;
use lienlock_domain::{ApiKeyId, ManualClock, Role};
use lienlock_server::apikey::ServerSecret;
use lienlock_server::{LeaseSettings, Service};
use lienlock_store::{ApiKeyRecord, Store};
use lienlock_wire::ServerKey;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The target for evaluating every due contract.
const TARGET: Duration = Duration::from_secs(5);

/// `bench scheduler`.
#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// How many contracts (each on its own phone).
    #[arg(long, default_value_t = 1_000_000)]
    contracts: u64,
    /// Percentage of the contracts due now.
    #[arg(long, default_value_t = 1.0)]
    due_percent: f64,
    /// Directory holding the database between invocations; reused when it was built with
    /// the same parameters.
    #[arg(long)]
    data: PathBuf,
    /// Timed runs, each on a fresh copy of the database (median, min and max are reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Contracts per `evaluate_due_contracts` call; the server's scheduler uses 500.
    #[arg(long, default_value_t = 500)]
    limit: u32,
    /// After the timed runs, one more run through a store that counts and times every call.
    #[arg(long)]
    profile: bool,
}

/// Runs the benchmark.
pub async fn run(a: SchedulerArgs) -> anyhow::Result<()> {
    ensure!(
        a.contracts > 0 && a.runs > 0 && a.limit > 0,
        "--contracts, --runs and --limit must be positive"
    );
    ensure!(
        a.due_percent > 0.0 && a.due_percent <= 100.0,
        "--due-percent must be in (0, 100]"
    );
    let now = bench_now()?;
    let ds = Dataset::prepare(&a.data, Params::new(a.contracts, a.due_percent, now)).await?;
    let p = &ds.portfolio;
    println!(
        "database: {} contracts, {} due, {:.0} MiB; bulk load {:.1} s{}",
        p.contracts(),
        p.due(),
        ds.bytes()? as f64 / (1 << 20) as f64,
        ds.load.as_secs_f64(),
        if ds.reused {
            " (when built; reused now)"
        } else {
            ""
        }
    );
    println!("due contracts by borrower behaviour: {}", due_mix(p)?);
    let mut runs = Vec::with_capacity(a.runs);
    for n in 1..=a.runs {
        let path = ds.fresh_copy().await?;
        let store = lienlock_store_sql::open(url(&path)?).await?;
        let (run, _) = timed_run(&ds, a.limit, store, None).await?;
        run.print(n);
        if n == 1 {
            let events = lienlock_store_sql::bench::event_counts(&path).await?;
            let what: Vec<String> = events.iter().map(|(k, n)| format!("{k} {n}")).collect();
            println!("  timeline events written: {}", what.join(", "));
            let [closed, day, week, later] =
                lienlock_store_sql::bench::next_evaluations(&path, ds.portfolio.now()).await?;
            println!(
                "  evaluated contracts next looked at: within a day {day}, within a week \
                 {week}, later {later}; closed {closed}"
            );
        }
        runs.push(run);
    }
    report::summary(&runs, TARGET);
    if a.profile {
        let path = ds.fresh_copy().await?;
        let store = lienlock_store_sql::open(url(&path)?).await?;
        let counting = Arc::new(CountingStore::new(store));
        let (run, tally) = timed_run(&ds, a.limit, counting.clone(), Some(&counting)).await?;
        report::profile(&tally.unwrap_or_default(), &run);
        commit_floor(&ds).await?;
    }
    Ok(())
}

/// One run on a freshly opened store: times one `due_contracts` query (twice), then
/// `evaluate_due_contracts(limit)` calls until one evaluates nothing, with the clock
/// standing still at the benchmark's "now". With `counting` (which must wrap `store`), also
/// returns the tally of the passes alone.
async fn timed_run(
    ds: &Dataset,
    limit: u32,
    store: Arc<dyn Store>,
    counting: Option<&CountingStore>,
) -> anyhow::Result<(Run, Option<Tally>)> {
    let now = ds.portfolio.now();
    let service = Service::new(
        store.clone(),
        Arc::new(ManualClock::new(now)),
        ServerKey::generate(),
        ServerSecret::generate(),
        LeaseSettings::default(),
    );
    let started = Instant::now();
    let first = store.due_contracts(now, limit).await?;
    let query_first = started.elapsed();
    let started = Instant::now();
    let again = store.due_contracts(now, limit).await?;
    let query_again = started.elapsed();
    ensure!(
        first.len() == again.len(),
        "the due set changed between reads"
    );

    if let Some(c) = counting {
        c.take();
    }
    // Each evaluation moves its contract's next evaluation past `now`, so the due set only
    // shrinks; the bound catches a contract that would stay due for ever.
    let bound = ds.portfolio.due() / u64::from(limit) + 3;
    let mut passes = Vec::new();
    loop {
        let started = Instant::now();
        let done = service.evaluate_due_contracts(limit).await?;
        passes.push((done, started.elapsed()));
        if done == 0 || passes.len() as u64 > bound {
            break;
        }
    }
    let tally = counting.map(CountingStore::take);
    let left = store.due_contracts(now, limit).await?.len();
    let run = Run {
        query_first,
        query_again,
        passes,
        left,
    };
    Ok((run, tally))
}

/// How the due contracts' borrowers behaved: what the pass has to decide about.
fn due_mix(p: &Portfolio) -> anyhow::Result<String> {
    let mut mix = BTreeMap::new();
    for i in (0..p.contracts()).filter(|&i| p.is_due(i)) {
        *mix.entry(format!("{:?}", p.generate(i)?.behaviour))
            .or_insert(0u64) += 1;
    }
    let parts: Vec<String> = mix.iter().map(|(k, n)| format!("{k} {n}")).collect();
    Ok(parts.join(", "))
}

/// The floor under every store call: a read round trip, and a write transaction of one
/// row. The pass commits once per batch of saves (and, with `synchronous = FULL`, syncs),
/// and a sync takes longer the more pages it flushes.
async fn commit_floor(ds: &Dataset) -> anyhow::Result<()> {
    const N: u32 = 200;
    let path = ds.fresh_copy().await?;
    let store = lienlock_store_sql::open(url(&path)?).await?;
    let lender_id = ds.portfolio.lender();
    let started = Instant::now();
    for _ in 0..N {
        store.ping().await?;
    }
    let read = started.elapsed() / N;
    let started = Instant::now();
    for _ in 0..N {
        // A one-row insert (a revoked key nobody holds): a one-statement transaction.
        let now = ds.portfolio.now();
        let key = ApiKeyRecord {
            id: ApiKeyId::new(),
            lender_id,
            role: Role::Auditor,
            label: "commit floor".into(),
            secret_hmac: [0; 32],
            created_at: now,
            revoked_at: Some(now),
        };
        store.add_api_key(&key).await?;
    }
    let write = started.elapsed() / N;
    println!(
        "floor: a read round trip {:.3} ms, a one-row write transaction {:.3} ms",
        millis(read),
        millis(write)
    );
    Ok(())
}
