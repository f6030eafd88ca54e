//! `lienlock bench console`: the lender console's reads over a SQLite portfolio of N
//! devices, through the store and the service the server uses: device list pages (first,
//! deep, by state, by arrears bucket), search by IMEI and by contract reference, the
//! dashboard's aggregates, and one device page.

use super::dataset::{url, Dataset, Params};
use super::portfolio::{bench_now, Portfolio, ZONE};
use super::report::{millis, spread};
use anyhow::{ensure, Context};
use clap::Args;
use lienlock_domain::{
    zone, DeviceId, DeviceState, LenderCtx, ManualClock, Principal, Role, Timestamp, UserId,
};
use lienlock_server::apikey::ServerSecret;
use lienlock_server::{LeaseSettings, Service};
use lienlock_store::{DeviceQuery, OverdueRange, Store};
use lienlock_store_sql::bench::{middle_device, set_arrears, set_locked};
use lienlock_wire::ServerKey;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const DAY_MS: i64 = 86_400_000;
/// The console's page size.
const PAGE: u32 = 50;
/// The target for a list page, a search and a device page.
const PAGE_TARGET: Duration = Duration::from_millis(50);
/// The target for the dashboard's aggregates.
const DASHBOARD_TARGET: Duration = Duration::from_secs(1);
/// Arrears are spread over this many days.
const MAX_DAYS: i64 = 200;
/// Share of the devices the lender has locked, so the state filter has a selective state.
const LOCKED_PERCENT: f64 = 1.0;
/// The portfolio is the scheduler benchmark's at 1% due, so a `--data` directory built by
/// either benchmark serves the other.
const DUE_PERCENT: f64 = 1.0;
/// The console's arrears filters and their ranges of days overdue.
const BUCKETS: [(&str, i64, Option<i64>); 4] = [
    ("1_30", 1, Some(30)),
    ("31_60", 31, Some(60)),
    ("61_90", 61, Some(90)),
    ("90_plus", 91, None),
];

/// `bench console`.
#[derive(Debug, Args)]
pub struct ConsoleArgs {
    /// How many devices (each with one contract).
    #[arg(long, default_value_t = 1_000_000)]
    devices: u64,
    /// Directory holding the portfolio between invocations (reused when built with the
    /// same size, also by `bench scheduler --due-percent 1`); a temporary directory,
    /// removed afterwards, when not given. Each invocation works on a copy.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Timed repetitions of each read (median, min and max are reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Percentage of the devices in arrears, spread evenly over 1 to 200 days.
    #[arg(long, default_value_t = 20.0)]
    arrears_percent: f64,
}

/// One read the console makes.
#[derive(Debug)]
enum Read {
    /// A page of the device list.
    List(DeviceQuery),
    /// The search box: an IMEI or a contract reference.
    Find(String),
    /// The dashboard's counts.
    Counts,
    /// The dashboard's payments chart.
    Daily(Timestamp),
    /// The whole dashboard: counts, chart and the lock events of its window.
    Dashboard,
    /// A device page.
    Overview(DeviceId),
}

/// One timed read: its key in the JSON line, a label, and its target.
#[derive(Debug)]
struct Case {
    key: String,
    label: String,
    read: Read,
    target: Duration,
}

/// The timings of one case.
#[derive(Debug)]
struct Timed {
    key: String,
    label: String,
    target: Duration,
    times: Vec<Duration>,
    /// Rows (or found devices) the read returned.
    rows: usize,
}

/// Runs the benchmark.
pub async fn run(a: ConsoleArgs) -> anyhow::Result<()> {
    let results = measure(&a).await?;
    print_table(&results);
    println!("{}", json_line(&a, &results));
    Ok(())
}

/// Builds or reuses the portfolio, prepares a copy and times every case on it.
async fn measure(a: &ConsoleArgs) -> anyhow::Result<Vec<Timed>> {
    ensure!(
        a.devices >= 100 && a.runs > 0,
        "--devices must be at least 100 and --runs positive"
    );
    ensure!(
        a.arrears_percent > 0.0 && a.arrears_percent <= 100.0,
        "--arrears-percent must be in (0, 100]"
    );
    let scratch;
    let dir = match &a.data {
        Some(d) => d.clone(),
        None => {
            scratch = tempfile::tempdir()?;
            scratch.path().to_owned()
        }
    };
    let now = bench_now()?;
    let ds = Dataset::prepare(&dir, Params::new(a.devices, DUE_PERCENT, now)).await?;
    println!(
        "database: {} devices with a contract each, {:.0} MiB{}",
        ds.portfolio.contracts(),
        ds.bytes()? as f64 / (1 << 20) as f64,
        if ds.reused { " (reused)" } else { "" }
    );
    let path = ds.fresh_copy().await?;
    let started = Instant::now();
    let tz = zone::lookup(ZONE)?;
    let today = zone::start_of_day(zone::local(now, &tz).date(), &tz).context("midnight")?;
    let owing = set_arrears(&path, a.arrears_percent, today, MAX_DAYS).await?;
    let locked = set_locked(&path, LOCKED_PERCENT).await?;
    println!(
        "on a copy: {owing} devices in arrears (1-{MAX_DAYS} days), {locked} locked by the \
         lender; set in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let cases = cases(&ds.portfolio, &path, now).await?;

    let store = lienlock_store_sql::open(url(&path)?).await?;
    let service = Service::new(
        store.clone(),
        Arc::new(ManualClock::new(now)),
        ServerKey::generate(),
        ServerSecret::generate(),
        LeaseSettings::default(),
    );
    let ctx = LenderCtx {
        lender_id: ds.portfolio.lender(),
        role: Role::Auditor,
        principal: Principal::User(UserId::new()),
    };
    let reader = Reader {
        service: &service,
        store: store.as_ref(),
        ctx: &ctx,
        now,
        devices: a.devices,
    };
    let mut results = Vec::with_capacity(cases.len());
    for case in cases {
        let mut times = Vec::with_capacity(a.runs);
        let mut rows = 0;
        for _ in 0..a.runs {
            let started = Instant::now();
            rows = reader.read(&case.read).await?;
            times.push(started.elapsed());
        }
        results.push(Timed {
            key: case.key,
            label: case.label,
            target: case.target,
            times,
            rows,
        });
    }
    // The copy is as large as the base (4 GiB at a million devices): leave only the base.
    // The store's connections close in the background; the file goes when they have.
    drop(service);
    drop(store);
    remove_copy(&path)?;
    Ok(results)
}

/// The cases, with cursors at the middle of each list and search terms of the device at
/// the middle of the portfolio.
async fn cases(p: &Portfolio, path: &Path, now: Timestamp) -> anyhow::Result<Vec<Case>> {
    let list = |state, after, overdue| {
        Read::List(DeviceQuery {
            state,
            after,
            limit: PAGE,
            overdue,
        })
    };
    let middle = |state: Option<&'static str>, overdue: Option<OverdueRange>| async move {
        let id = middle_device(path, state, overdue.map(|r| (r.after, r.at_most)))
            .await?
            .context("an empty list")?;
        anyhow::Ok(id.parse::<DeviceId>()?)
    };
    let page = |key: &str, label: String, read| Case {
        key: key.to_owned(),
        label,
        read,
        target: PAGE_TARGET,
    };
    let mut out = vec![
        page(
            "list_first",
            "list, first page".into(),
            list(None, None, None),
        ),
        page(
            "list_deep",
            "list, page at the middle".into(),
            list(None, Some(middle(None, None).await?), None),
        ),
        page(
            "state_locked_first",
            "state locked, first page".into(),
            list(Some(DeviceState::Locked), None, None),
        ),
        page(
            "state_locked_deep",
            "state locked, page at the middle".into(),
            list(
                Some(DeviceState::Locked),
                Some(middle(Some("locked"), None).await?),
                None,
            ),
        ),
        page(
            "state_active_deep",
            "state active, page at the middle".into(),
            list(
                Some(DeviceState::Active),
                Some(middle(Some("active"), None).await?),
                None,
            ),
        ),
    ];
    for (key, lo, hi) in BUCKETS {
        let range = bucket_range(lo, hi, now);
        let name = match hi {
            Some(hi) => format!("{lo}-{hi} days"),
            None => format!("over {} days", lo - 1),
        };
        out.push(page(
            &format!("arrears_{key}_first"),
            format!("arrears {name}, first page"),
            list(None, None, Some(range)),
        ));
        out.push(page(
            &format!("arrears_{key}_deep"),
            format!("arrears {name}, page at the middle"),
            list(None, Some(middle(None, Some(range)).await?), Some(range)),
        ));
    }
    // Device `n / 2` is dual-SIM when `n / 2` is even; search its second IMEI too then.
    let g = p.generate(p.contracts() / 2)?;
    out.push(page(
        "search_imei",
        "search by IMEI".into(),
        Read::Find(g.device.imei.to_string()),
    ));
    if let Some(imei2) = &g.device.imei2 {
        out.push(page(
            "search_imei2",
            "search by second IMEI".into(),
            Read::Find(imei2.to_string()),
        ));
    }
    let reference = g
        .contract
        .reference
        .clone()
        .context("a contract reference")?;
    out.push(page(
        "search_reference",
        "search by contract reference".into(),
        Read::Find(reference),
    ));
    out.push(page(
        "device_overview",
        "device page (device_overview)".into(),
        Read::Overview(g.device.id),
    ));
    let dashboard = |key: &str, label: &str, read| Case {
        key: key.to_owned(),
        label: label.to_owned(),
        read,
        target: DASHBOARD_TARGET,
    };
    // The chart's 30 days, from the first of them (UTC days, as the dashboard asks).
    let first_day = now.as_millis().div_euclid(DAY_MS) - 29;
    out.push(dashboard(
        "portfolio_counts",
        "portfolio_counts",
        Read::Counts,
    ));
    out.push(dashboard(
        "daily_payments_30d",
        "daily_payments, 30 days",
        Read::Daily(Timestamp::from_millis(first_day * DAY_MS)),
    ));
    out.push(dashboard(
        "dashboard",
        "dashboard (Service::portfolio)",
        Read::Dashboard,
    ));
    Ok(out)
}

/// The range of `arrears_since` of devices `lo..=hi` days overdue: the console's
/// `bucket_range` (days overdue are whole days since the due date's first instant).
fn bucket_range(lo: i64, hi: Option<i64>, now: Timestamp) -> OverdueRange {
    let at = |days: i64| Timestamp::from_millis(now.as_millis() - days * DAY_MS);
    OverdueRange {
        after: hi.map(|h| at(h + 1)),
        at_most: at(lo),
    }
}

/// What a read needs.
struct Reader<'a> {
    service: &'a Service,
    store: &'a dyn Store,
    ctx: &'a LenderCtx,
    now: Timestamp,
    devices: u64,
}

impl Reader<'_> {
    /// Makes one read; returns the rows it returned, having checked it found something.
    async fn read(&self, read: &Read) -> anyhow::Result<usize> {
        let ctx = self.ctx;
        let rows = match read {
            Read::List(q) => self.service.list_devices(ctx, q.clone()).await?.len(),
            Read::Find(q) => {
                let found = self.service.find_device(ctx, q).await?;
                ensure!(found.is_some(), "search {q:?} found nothing");
                1
            }
            Read::Counts => {
                let c = self.store.portfolio_counts(ctx, self.now).await?;
                let total: u64 = c.by_state.iter().map(|s| s.1).sum();
                ensure!(total == self.devices, "counted {total} devices");
                c.arrears_buckets.iter().filter(|b| b.devices > 0).count()
            }
            Read::Daily(since) => self.store.daily_payments(ctx, *since, 0).await?.len(),
            Read::Dashboard => self.service.portfolio(ctx).await?.daily.len(),
            Read::Overview(id) => {
                let o = self.service.device_overview(ctx, *id).await?;
                ensure!(o.contract.is_some(), "device {id} has no contract");
                o.payments.len()
            }
        };
        ensure!(rows > 0, "{read:?} returned nothing");
        Ok(rows)
    }
}

/// Removes a SQLite database and its write-ahead log and shared-memory files.
fn remove_copy(path: &Path) -> anyhow::Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing {}", path.display()))
            }
            _ => {}
        }
    }
    Ok(())
}

fn print_table(results: &[Timed]) {
    println!(
        "{:<38} {:>10} {:>17} {:>6} {:>8}",
        "read", "median ms", "min-max ms", "rows", "target"
    );
    for r in results {
        let (med, min, max) = spread(r.times.clone());
        let verdict = if med < r.target { "met" } else { "MISSED" };
        println!(
            "{:<38} {:>10.2} {:>17} {:>6} {:>8}",
            r.label,
            millis(med),
            format!("{:.2}-{:.2}", millis(min), millis(max)),
            r.rows,
            format!("{verdict} <{}", millis(r.target)),
        );
    }
}

/// One line of JSON: the parameters and every read's median in milliseconds.
fn json_line(a: &ConsoleArgs, results: &[Timed]) -> serde_json::Value {
    let medians: serde_json::Map<String, serde_json::Value> = results
        .iter()
        .map(|r| {
            let ms = (millis(spread(r.times.clone()).0) * 1000.0).round() / 1000.0;
            (r.key.clone(), ms.into())
        })
        .collect();
    serde_json::json!({
        "bench": "console",
        "devices": a.devices,
        "runs": a.runs,
        "arrears_percent": a.arrears_percent,
        "median_ms": medians,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn a_small_portfolio_times_every_read() {
        let a = ConsoleArgs {
            devices: 2_000,
            data: None,
            runs: 1,
            arrears_percent: 20.0,
        };
        // `measure` fails if any read finds nothing.
        let results = measure(&a).await.unwrap();
        let line = json_line(&a, &results).to_string();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["devices"], 2_000);
        let medians = v["median_ms"].as_object().unwrap();
        for key in [
            "list_first",
            "list_deep",
            "state_locked_first",
            "state_locked_deep",
            "state_active_deep",
            "arrears_1_30_first",
            "arrears_1_30_deep",
            "arrears_31_60_first",
            "arrears_31_60_deep",
            "arrears_61_90_first",
            "arrears_61_90_deep",
            "arrears_90_plus_first",
            "arrears_90_plus_deep",
            "search_imei",
            "search_imei2",
            "search_reference",
            "device_overview",
            "portfolio_counts",
            "daily_payments_30d",
            "dashboard",
        ] {
            assert!(medians[key].as_f64().unwrap() >= 0.0, "{key}");
        }
        assert_eq!(medians.len(), 20);
        let first = results.iter().find(|r| r.key == "list_first").unwrap();
        assert_eq!(first.rows, PAGE as usize);
    }
}
