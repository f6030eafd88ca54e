//! The benchmark database, cached in `--data DIR`: built once for a set of parameters
//! (which `params.json` there records), checked through the store, then copied afresh for
//! every timed run so each run starts from the same state.

use super::portfolio::{Portfolio, GENERATOR};
use anyhow::{ensure, Context};
use indicatif::{ProgressBar, ProgressStyle};
use jiff::civil::date;
use lienlock_domain::{zone, LenderId, ManualClock, Timestamp};
use lienlock_server::apikey::ServerSecret;
use lienlock_server::ops::{bootstrap_lender, NewLender};
use lienlock_store::Store;
use lienlock_store_sql::bench::{checkpoint, Batch, BulkLoader};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const BASE: &str = "portfolio.db";
const RUN: &str = "run.db";
const PARAMS: &str = "params.json";
/// Contracts per load transaction: large enough that commits cost nothing, small enough to
/// keep a batch (and the progress bar) moving.
const BATCH: u64 = 5_000;

/// What a cached database was built from; a database is reused only for equal parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// [`GENERATOR`] when it was built.
    pub generator: u32,
    /// How many contracts (and devices).
    pub contracts: u64,
    /// Percentage of them due at `now_ms`.
    pub due_percent: f64,
    /// The benchmark's "now", epoch milliseconds.
    pub now_ms: i64,
}

impl Params {
    /// The parameters of the current generator.
    pub fn new(contracts: u64, due_percent: f64, now: Timestamp) -> Self {
        Self {
            generator: GENERATOR,
            contracts,
            due_percent,
            now_ms: now.as_millis(),
        }
    }
}

/// `params.json`: the parameters, and what the build produced.
#[derive(Debug, Serialize, Deserialize)]
struct Recorded {
    params: Params,
    lender_id: String,
    load_secs: f64,
}

/// A built (or reused) database and the portfolio in it.
#[derive(Debug)]
pub struct Dataset {
    dir: PathBuf,
    /// The contracts in the database.
    pub portfolio: Portfolio,
    /// How long the bulk load took when the database was built.
    pub load: Duration,
    /// Whether an existing database was reused.
    pub reused: bool,
}

impl Dataset {
    /// The cached database in `dir` if it was built with `params`, else a new one.
    pub async fn prepare(dir: &Path, params: Params) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let base = dir.join(BASE);
        if let Some(recorded) = read_params(dir)? {
            if recorded.params == params && base.exists() {
                let lender: LenderId = recorded.lender_id.parse()?;
                let portfolio = portfolio(&params, lender)?;
                return Ok(Self {
                    dir: dir.to_owned(),
                    portfolio,
                    load: Duration::from_secs_f64(recorded.load_secs),
                    reused: true,
                });
            }
        }
        // Parameters first out, last in: a build that stops half-way is never reused.
        remove(&dir.join(PARAMS))?;
        remove_db(&base)?;
        let (portfolio, load) = build(&base, &params).await?;
        let samples = verify(&base, &portfolio).await?;
        eprintln!("verified {samples} contracts read back through the store");
        let recorded = Recorded {
            params,
            lender_id: portfolio.lender().to_string(),
            load_secs: load.as_secs_f64(),
        };
        std::fs::write(dir.join(PARAMS), serde_json::to_vec_pretty(&recorded)?)?;
        Ok(Self {
            dir: dir.to_owned(),
            portfolio,
            load,
            reused: false,
        })
    }

    /// Size of the database file.
    pub fn bytes(&self) -> anyhow::Result<u64> {
        Ok(std::fs::metadata(self.dir.join(BASE))?.len())
    }

    /// A fresh copy of the database to run on (the file, not a rebuild).
    pub async fn fresh_copy(&self) -> anyhow::Result<PathBuf> {
        let base = self.dir.join(BASE);
        // A store that had the base open may have left pages in its write-ahead log; the
        // copy must not miss them.
        checkpoint(&base).await?;
        let run = self.dir.join(RUN);
        remove_db(&run)?;
        std::fs::copy(&base, &run).with_context(|| format!("copying to {}", run.display()))?;
        // Flush the copy before the clock starts. Left dirty, it would be written back
        // during the run, and on ext4 the first commits' fsyncs wait for all of it (the
        // journal orders data before metadata): the first pass would pay for the copy.
        std::fs::File::open(&run)?.sync_all()?;
        std::fs::File::open(&self.dir)?.sync_all()?;
        Ok(run)
    }
}

fn portfolio(params: &Params, lender: LenderId) -> anyhow::Result<Portfolio> {
    Portfolio::new(
        params.contracts,
        params.due_percent,
        lender,
        Timestamp::from_millis(params.now_ms),
    )
}

fn read_params(dir: &Path) -> anyhow::Result<Option<Recorded>> {
    match std::fs::read(dir.join(PARAMS)) {
        // A file this code cannot read is as good as none: rebuild.
        Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn remove(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// Removes a SQLite database and its write-ahead log and shared-memory files.
fn remove_db(path: &Path) -> anyhow::Result<()> {
    remove(path)?;
    for suffix in ["-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        remove(Path::new(&p))?;
    }
    Ok(())
}

/// The store's name for the SQLite file at `path`.
pub fn url(path: &Path) -> anyhow::Result<&str> {
    path.to_str()
        .with_context(|| format!("{} is not UTF-8", path.display()))
}

/// Creates the lender the normal way, then bulk-loads the portfolio. Returns the portfolio
/// and how long the bulk load took.
async fn build(path: &Path, params: &Params) -> anyhow::Result<(Portfolio, Duration)> {
    let store = lienlock_store_sql::open_sqlite(path).await?;
    let tz = zone::lookup(super::portfolio::ZONE)?;
    let clock = ManualClock::new(zone::at_minute(date(2025, 12, 1), 9 * 60, &tz).context("t0")?);
    let (lender, _key) = bootstrap_lender(
        &store,
        &ServerSecret::generate(),
        &clock,
        NewLender {
            name: "Simu Credit".into(),
            support_phone: "+254 700 000 000".into(),
            support_url: "https://pay.simucredit.example".into(),
        },
    )
    .await?;
    // The bulk loader needs the file alone; dropping the store would close its connections
    // (and stop its checkpointer) only in the background.
    store.close().await;

    let portfolio = portfolio(params, lender.id)?;
    let n = portfolio.contracts();
    let bar = ProgressBar::new(n).with_style(
        ProgressStyle::with_template(
            "loading {bar:40} {human_pos}/{human_len} contracts, {per_sec}, {eta} left",
        )?
        .progress_chars("=> "),
    );
    let started = Instant::now();
    let mut loader = BulkLoader::open(path).await?;
    let mut batch = Batch::default();
    let mut start = 0;
    while start < n {
        let end = (start + BATCH).min(n);
        batch.clear();
        for i in start..end {
            portfolio.add_to(i, &mut batch)?;
        }
        loader.load(&batch).await?;
        bar.inc(end - start);
        start = end;
    }
    loader.finish().await?;
    let load = started.elapsed();
    bar.finish_and_clear();
    eprintln!("loaded {n} contracts in {load:.1?}");
    Ok((portfolio, load))
}

/// Reads a sample back through the store (the path the scheduler uses) and compares it
/// with the generator field by field; counts the due contracts through the scheduler's own
/// query. Returns how many contracts were compared.
async fn verify(path: &Path, p: &Portfolio) -> anyhow::Result<usize> {
    let store = lienlock_store_sql::open_sqlite(path).await?;
    let lenders = store.list_lenders().await?;
    ensure!(
        lenders.len() == 1 && lenders[0].id == p.lender(),
        "expected one lender"
    );
    let n = p.contracts();
    let mut sample: Vec<u64> = vec![0, 1, n / 2, n - 1];
    sample.extend((0..n).filter(|&i| p.is_due(i)).take(200));
    sample.sort_unstable();
    sample.dedup();
    for &i in &sample {
        let g = p.generate(i)?;
        let id = g.contract.id;
        let contract = store.contract_unscoped(id).await?;
        ensure!(
            contract.as_ref() == Some(&g.contract),
            "contract {i} differs"
        );
        let device = store.device_unscoped(g.device.id).await?;
        ensure!(device.as_ref() == Some(&g.device), "device {i} differs");
        ensure!(
            store.contract_payments_unscoped(id).await? == g.payments,
            "payments of contract {i} differ"
        );
        ensure!(
            store.contract_notices(id).await? == g.notices,
            "notices of contract {i} differ"
        );
        ensure!(
            store.contract_disputes_unscoped(id).await? == g.disputes,
            "disputes of contract {i} differ"
        );
    }
    let due = store
        .due_contracts(p.now(), u32::try_from(p.due() + 1)?)
        .await?;
    ensure!(
        due.len() as u64 == p.due(),
        "{} contracts due, expected {}",
        due.len(),
        p.due()
    );
    // The next step copies the file: nothing of the store may still be writing to it.
    store.close().await;
    Ok(sample.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::portfolio::bench_now;

    #[tokio::test]
    async fn a_small_portfolio_loads_reads_back_and_is_reused() {
        let dir = tempfile::tempdir().unwrap();
        let params = Params::new(300, 2.0, bench_now().unwrap());
        // `prepare` compares a sample with what the store reads back, and fails if they differ.
        let built = Dataset::prepare(dir.path(), params.clone()).await.unwrap();
        assert!(!built.reused);
        let again = Dataset::prepare(dir.path(), params).await.unwrap();
        assert!(again.reused);
        assert_eq!(again.portfolio.lender(), built.portfolio.lender());

        let copy = again.fresh_copy().await.unwrap();
        let store = lienlock_store_sql::open(url(&copy).unwrap()).await.unwrap();
        let due = store
            .due_contracts(again.portfolio.now(), 100)
            .await
            .unwrap();
        assert_eq!(due.len(), 6);

        // Other parameters replace the database rather than reuse it.
        let other = Params::new(200, 2.0, bench_now().unwrap());
        assert!(!Dataset::prepare(dir.path(), other).await.unwrap().reused);
    }
}
