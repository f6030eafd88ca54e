//! `lienlock bench`: measurements that back the figures in docs/benchmarks.md. Not timed
//! tests: run them on a quiet machine, several times, and quote medians.

use anyhow::Context;
use clap::{Args, Subcommand};
use lienlock_domain::{
    AppliedLevel, ComplianceProfile, ContractState, ContractTerms, Currency, LedgerEntry,
    PaymentId, PolicyInput, RestrictionLevel, ScheduleSpec, TermsSpec, Timestamp,
};
use std::time::Instant;

mod checkin;
mod console;
mod counting;
mod crypto;
mod dataset;
mod portfolio;
mod report;
mod scheduler;
mod unlock;

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// The policy engine over many contracts held in memory.
    Policy(PolicyArgs),
    /// One scheduler pass over a SQLite portfolio of which a share is due.
    Scheduler(scheduler::SchedulerArgs),
    /// Time from a curing payment's acknowledgement to the locked phone holding an
    /// unlocked lease, over a fleet of real agents (push, or polling with --no-push).
    UnlockLatency(unlock::UnlockArgs),
    /// The lender console's reads (device list pages, search, dashboard, device page) over
    /// a SQLite portfolio of many devices.
    Console(console::ConsoleArgs),
    /// Signed check-ins per second from many concurrent phones over a fleet of enrolled
    /// devices, against a bare endpoint of the same server as the baseline.
    Checkin(checkin::CheckinArgs),
    /// What each piece of a check-in's cryptography costs one core: signatures verified
    /// alone and in batches, MACs, leases signed alone and in batches.
    Crypto(crypto::CryptoArgs),
}

/// `bench policy`.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// How many contracts.
    #[arg(long, default_value_t = 1_000_000)]
    contracts: usize,
    /// How many timed passes (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

/// Runs a benchmark.
pub fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Policy(a) => policy(a),
        BenchCommand::Crypto(a) => crypto::run(a),
        // `main` calls this synchronously from inside its runtime; block_in_place lets this
        // worker thread wait for an async benchmark without stalling the runtime.
        BenchCommand::Scheduler(a) => tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(scheduler::run(a))
        }),
        BenchCommand::UnlockLatency(a) => tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(unlock::run(a))
        }),
        BenchCommand::Console(a) => tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(console::run(a))
        }),
        BenchCommand::Checkin(a) => tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(checkin::run(a))
        }),
    }
}

/// One synthetic contract and its ledger.
struct Case {
    terms: ContractTerms,
    entries: Vec<LedgerEntry>,
    applied: AppliedLevel,
}

/// A varied portfolio: a few schedule shapes and zones, borrowers who pay everything, some,
/// or nothing, so every branch of the engine is exercised.
fn portfolio(n: usize) -> anyhow::Result<(Vec<Case>, Timestamp)> {
    let kes = Currency::parse("KES")?;
    let zones = [
        "Africa/Nairobi",
        "Asia/Kolkata",
        "America/Sao_Paulo",
        "Europe/Berlin",
    ];
    let start = jiff::civil::date(2026, 1, 10);
    // Distinct shapes are few; clone them rather than rebuild a schedule per contract.
    let mut shapes = Vec::new();
    for (z, zone) in zones.iter().enumerate() {
        for months in [6u32, 12, 18] {
            let schedule = if z % 2 == 0 {
                ScheduleSpec::Monthly {
                    first_due: start,
                    day_of_month: 10,
                    count: months,
                }
            } else {
                ScheduleSpec::Weekly {
                    first_due: start,
                    count: months * 4,
                }
            };
            shapes.push(
                ContractTerms::new(TermsSpec {
                    currency: kes,
                    financed: 1_200_000,
                    down_payment: 200_000,
                    fees: 60_000,
                    schedule,
                    time_zone: (*zone).into(),
                })
                .context("building a benchmark contract")?,
            );
        }
    }
    let now = Timestamp::from_millis(1_781_000_000_000); // mid-2026, some months in
    let mut cases = Vec::with_capacity(n);
    for i in 0..n {
        let terms = shapes[i % shapes.len()].clone();
        let owed = terms.amount_owed();
        // 0: paid nothing, 1..=3: partial, 4: everything.
        let share = (i * 7919) % 5;
        let paid = owed * share as i64 / 4;
        let entries = if paid > 0 {
            vec![LedgerEntry::payment(
                PaymentId::new(),
                Timestamp::from_millis(1_770_000_000_000),
                paid,
            )]
        } else {
            Vec::new()
        };
        let applied = AppliedLevel {
            level: if share == 0 {
                RestrictionLevel::PersistentBanner
            } else {
                RestrictionLevel::None
            },
            since: Timestamp::from_millis(1_775_000_000_000),
        };
        cases.push(Case {
            terms,
            entries,
            applied,
        });
    }
    Ok((cases, now))
}

fn policy(a: PolicyArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        a.contracts > 0 && a.runs > 0,
        "--contracts and --runs must be positive"
    );
    let build = Instant::now();
    let (cases, now) = portfolio(a.contracts)?;
    println!("built {} contracts in {:.2?}", cases.len(), build.elapsed());
    let profile = ComplianceProfile::default_profile();
    let settings = profile.defaults;
    let mut times = Vec::with_capacity(a.runs);
    let mut locked = 0usize;
    for _ in 0..a.runs {
        let t = Instant::now();
        locked = 0;
        for c in &cases {
            let input = PolicyInput {
                state: ContractState::Active,
                terms: &c.terms,
                entries: &c.entries,
                notices: &[],
                disputes: &[],
                tamper: &[],
                applied: c.applied,
                now,
                device_zone: c.terms.time_zone(),
                settings: &settings,
                profile,
            };
            let d = lienlock_domain::evaluate(&input);
            locked += usize::from(d.level >= RestrictionLevel::RestrictedApps);
        }
        times.push(t.elapsed());
    }
    times.sort();
    let median = times[times.len() / 2];
    let per = median.as_nanos() as f64 / cases.len() as f64;
    println!(
        "policy engine: {} contracts, median of {} runs {:.3?} ({per:.0} ns/contract), \
         min {:.3?}, max {:.3?}; {locked} restricted",
        cases.len(),
        a.runs,
        median,
        times[0],
        times[times.len() - 1],
    );
    Ok(())
}
