//! The enrolled fleet of `bench checkin`: one lender and N phones, each with a contract and
//! an identity key bound, bulk-loaded (no million HTTP calls), and what each phone needs to
//! sign its check-ins.

use crate::bench::portfolio::{bench_now, Portfolio};
use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use lienlock_domain::{Imei, LenderId, ManualClock, Timestamp};
use lienlock_server::apikey::ServerSecret;
use lienlock_server::ops::{bootstrap_lender, NewLender};
use lienlock_store_sql::bench::{Batch, BulkLoader, PgBulkLoader};
use lienlock_wire::DeviceKey;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

/// Bumped whenever the loaded fleet changes: a cached database of another version is rebuilt.
const VERSION: u32 = 1;
/// Devices per load transaction.
const BATCH: u64 = 5_000;
/// Far in the future: the scheduler leaves the bench's contracts alone (the check-in path
/// is what is measured, not a scheduler pass running beside it).
const NEVER: i64 = 4_102_444_800_000;

/// What one simulated phone needs to sign a check-in.
#[derive(Debug, Clone)]
pub struct Phone {
    pub imei: Imei,
    pub key: [u8; 32],
    /// The counter the server holds for it when the fleet was loaded.
    pub counter: u64,
    pub lease_seq: u64,
    pub notice_seq: u64,
}

/// The fleet's generator.
#[derive(Debug)]
pub struct Fleet {
    portfolio: Portfolio,
}

/// `params.json` of a cached SQLite fleet.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Params {
    version: u32,
    devices: u64,
    lender_id: String,
}

impl Fleet {
    fn new(devices: u64, lender: LenderId) -> anyhow::Result<Self> {
        Ok(Self {
            portfolio: Portfolio::new(devices, 0.0, lender, bench_now()?)?,
        })
    }

    /// How many phones.
    pub fn len(&self) -> u64 {
        self.portfolio.contracts()
    }

    /// Phone `i`'s identity: the scheduler bench's device `i`, with a real Ed25519 key
    /// derived from `i` in place of its random bytes.
    pub fn phone(&self, i: u64) -> anyhow::Result<Phone> {
        let d = self.portfolio.generate(i)?.device;
        Ok(Phone {
            imei: d.imei,
            key: seed(i),
            counter: d.last_counter,
            lease_seq: d.lease_seq,
            notice_seq: d.notice_seq,
        })
    }

    /// The SQLite fleet cached in `dir` when it holds `devices` phones, else a new one.
    pub async fn sqlite(dir: &Path, devices: u64) -> anyhow::Result<(Self, String)> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let db = dir.join("checkin.db");
        let url = crate::bench::dataset::url(&db)?.to_owned();
        let params_path = dir.join("params.json");
        if let Ok(bytes) = std::fs::read(&params_path) {
            if let Ok(p) = serde_json::from_slice::<Params>(&bytes) {
                if p.version == VERSION && p.devices == devices && db.exists() {
                    eprintln!("reusing the fleet of {devices} phones in {}", dir.display());
                    return Ok((Self::new(devices, p.lender_id.parse()?)?, url));
                }
            }
        }
        let _ = std::fs::remove_file(&params_path);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{url}{suffix}"));
        }
        let lender = {
            let store = lienlock_store_sql::open_sqlite(&db).await?;
            let lender = create_lender(&store).await?;
            // The bulk loader needs the file alone.
            store.close().await;
            lender
        };
        let fleet = Self::new(devices, lender)?;
        let mut loader = BulkLoader::open(&db).await?;
        let progress = fleet.progress()?;
        let mut batch = Batch::default();
        while fleet.next_batch(&progress, &mut batch)? {
            loader.load(&batch).await?;
        }
        loader.finish().await?;
        fleet.done(&progress);
        let p = Params {
            version: VERSION,
            devices,
            lender_id: lender.to_string(),
        };
        std::fs::write(&params_path, serde_json::to_vec_pretty(&p)?)?;
        Ok((fleet, url))
    }

    /// A fleet of `devices` phones loaded into the (fresh, empty) PostgreSQL database at `url`.
    pub async fn postgres(url: &str, devices: u64) -> anyhow::Result<Self> {
        let mut loader = PgBulkLoader::open(url).await?;
        let lender = create_lender(&lienlock_store_sql::connect_postgres(url).await?).await?;
        let fleet = Self::new(devices, lender)?;
        let progress = fleet.progress()?;
        let mut batch = Batch::default();
        while fleet.next_batch(&progress, &mut batch)? {
            loader.load(&batch).await?;
        }
        loader.finish().await?;
        fleet.done(&progress);
        Ok(fleet)
    }

    fn progress(&self) -> anyhow::Result<(ProgressBar, Instant)> {
        let bar = ProgressBar::new(self.len()).with_style(
            ProgressStyle::with_template(
                "enrolling {bar:40} {human_pos}/{human_len} phones, {per_sec}, {eta} left",
            )?
            .progress_chars("=> "),
        );
        Ok((bar, Instant::now()))
    }

    /// Fills `batch` with the next phones; false when all are loaded.
    fn next_batch(
        &self,
        (bar, _): &(ProgressBar, Instant),
        batch: &mut Batch,
    ) -> anyhow::Result<bool> {
        let start = bar.position();
        let end = (start + BATCH).min(self.len());
        if start >= end {
            return Ok(false);
        }
        batch.clear();
        for (device, contract) in generate(self, start, end)? {
            batch.devices.push(device);
            batch.contracts.push(contract);
        }
        bar.inc(end - start);
        Ok(true)
    }

    fn done(&self, (bar, started): &(ProgressBar, Instant)) {
        bar.finish_and_clear();
        eprintln!(
            "enrolled {} phones in {:.1?}",
            self.len(),
            started.elapsed()
        );
    }
}

type Row = (lienlock_store::Device, lienlock_store::ContractRecord);

/// Devices `start..end` with their keys and contracts, on every core: deriving a million
/// public keys is most of the generator's work.
fn generate(fleet: &Fleet, start: u64, end: u64) -> anyhow::Result<Vec<Row>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let per = (end - start).div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (a, b) = ((start + t * per).min(end), (start + (t + 1) * per).min(end));
                s.spawn(move || {
                    (a..b)
                        .map(|i| {
                            let mut g = fleet.portfolio.generate(i)?;
                            g.device.device_key = Some(DeviceKey::from_secret(seed(i)).public());
                            g.contract.next_evaluation_at = Some(Timestamp::from_millis(NEVER));
                            Ok((g.device, g.contract))
                        })
                        .collect::<anyhow::Result<Vec<Row>>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity((end - start) as usize);
        for h in handles {
            out.extend(
                h.join()
                    .map_err(|_| anyhow::anyhow!("a generator thread panicked"))??,
            );
        }
        Ok(out)
    })
}

/// Phone `i`'s key seed.
fn seed(i: u64) -> [u8; 32] {
    let mut s = [0x5a; 32];
    s[..8].copy_from_slice(&i.to_le_bytes());
    s
}

/// The lender, created the normal way.
async fn create_lender(store: &dyn lienlock_store::Store) -> anyhow::Result<LenderId> {
    let clock = ManualClock::new(bench_now()?);
    let (lender, _key) = bootstrap_lender(
        store,
        &ServerSecret::generate(),
        &clock,
        NewLender {
            name: "Simu Credit".into(),
            support_phone: "+254 700 000 000".into(),
            support_url: "https://pay.simucredit.example".into(),
        },
    )
    .await?;
    Ok(lender.id)
}
