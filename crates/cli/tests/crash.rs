//! Crash safety and backups, against the real `lienlock serve` on loopback.
//!
//! `crash_*`: a mixed load (phones checking in, payments with idempotency keys, lock and
//! unlock commands) runs while the server is killed with SIGKILL at random moments and
//! restarted, many times. Clients retry what was not acknowledged with the same idempotency
//! key. Afterwards every acknowledged payment is in the ledger exactly once, each contract's
//! balance adds up, no paid-up phone holds a locked lease, and the audit chains verify.
//! `LIENLOCK_CRASH_ROUNDS` (kills per backend, default 18) and `LIENLOCK_CRASH_SEED` make
//! longer or repeated runs; the seed is printed.
//!
//! `backup_*`: `lienlock ctl backup` taken while the server serves, restored into a fresh data
//! directory, holds every payment acknowledged before it began, and the restored server signs
//! leases the phones take.

mod common;

use common::phone::open_agent;
use common::{field, Proc};
use lienlock_agent::Agent;
use lienlock_domain::Imei;
use lienlock_store_sql::testing::{Backend, TestDb};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use sqlx::Connection;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// How long a client keeps retrying one request before the test fails: far more than a
/// restart takes.
const GIVE_UP: Duration = Duration::from_secs(60);

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn imei(n: u32) -> Imei {
    Imei::from_body(&format!("35693806{n:06}")).unwrap()
}

/// A loopback port for the server, the same across restarts so phones keep their URL.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One server's data directory, database and address, started and killed at will.
struct Server {
    data: PathBuf,
    database: Option<String>,
    port: u16,
    proc: Option<Proc>,
}

impl Server {
    fn args(&self) -> Vec<String> {
        let mut args = vec!["--data".to_owned(), self.data.display().to_string()];
        if let Some(db) = &self.database {
            args.extend(["--database".to_owned(), db.clone()]);
        }
        args
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts `lienlock serve` and returns its lease-signing key (hex) once it serves.
    async fn start(&mut self) -> String {
        let listen = format!("127.0.0.1:{}", self.port);
        let mut args = vec!["serve".to_owned(), "--listen".to_owned(), listen];
        args.extend(self.args());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // Request logs would drown the test's output.
        let mut proc = Proc::spawn_env(&args, &[("LIENLOCK_LOG", "warn")]);
        field(&proc.wait_for("serving on").await, "serving on");
        let key = proc.lease_key().await;
        self.proc = Some(proc);
        key
    }

    /// SIGKILL: no shutdown, no flush, mid-request.
    async fn kill(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.child.kill().await.unwrap();
        }
    }

    async fn ctl(&self, words: &[&str]) -> std::process::Output {
        let mut args: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
        args.extend(self.args());
        tokio::process::Command::new(common::BIN)
            .args(&args)
            .output()
            .await
            .unwrap()
    }
}

/// An HTTP client for the lender API that retries whatever was not answered (connection
/// refused or reset, a timeout, a 5xx while the server restarts) with the same request,
/// so the same idempotency key, until it gets an answer.
#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Api {
    fn new(base: String, key: String) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        Self { http, base, key }
    }

    /// Sends until answered; returns the status, the body and how many tries it took.
    async fn send(
        &self,
        post: bool,
        path: &str,
        idem: Option<&str>,
        body: &Value,
    ) -> (u16, Value, u32) {
        let started = Instant::now();
        let mut tries = 0;
        loop {
            tries += 1;
            let mut req = if post {
                self.http.post(format!("{}{path}", self.base)).json(body)
            } else {
                self.http.get(format!("{}{path}", self.base))
            };
            req = req.bearer_auth(&self.key);
            if let Some(k) = idem {
                req = req.header("Idempotency-Key", k);
            }
            if let Ok(resp) = req.send().await {
                let status = resp.status().as_u16();
                if let (false, Ok(body)) = (status >= 500, resp.json::<Value>().await) {
                    return (status, body, tries);
                }
            }
            assert!(
                started.elapsed() < GIVE_UP,
                "{path}: no answer for {GIVE_UP:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body, _) = self.send(false, path, None, &Value::Null).await;
        assert_eq!(status, 200, "{path}: {body}");
        body
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let (status, body, _) = self.send(true, path, None, &body).await;
        (status, body)
    }
}

/// A payment the server acknowledged.
#[derive(Clone, Debug)]
struct Acked {
    key: String,
    id: String,
    contract: String,
    amount: i64,
}

/// What the clients saw.
#[derive(Default)]
struct Book {
    acked: Mutex<Vec<Acked>>,
    /// Payments that needed more than one try (the first went unanswered).
    retried: AtomicU64,
    commands: AtomicU64,
    checkins: AtomicU64,
}

/// Posts payments (random contract, random amount, a fresh idempotency key each) until told
/// to stop; each is retried until acknowledged, so none is left in doubt.
async fn payer(
    api: Api,
    contracts: Arc<Vec<String>>,
    book: Arc<Book>,
    stop: Arc<AtomicBool>,
    seed: u64,
    n: u64,
) {
    let mut rng = StdRng::seed_from_u64(seed ^ n.wrapping_mul(0x9e37_79b9));
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let contract = contracts[rng.gen_range(0..contracts.len())].clone();
        let amount = rng.gen_range(100..1_000);
        let key = format!("crash-{n}-{i}");
        let body = json!({"contract_id": contract, "amount": amount, "currency": "KES"});
        let (status, answer, tries) = api.send(true, "/v1/payments", Some(&key), &body).await;
        // 200 is a replay: the first try was recorded, its answer lost.
        assert!(status == 201 || status == 200, "{key}: {status} {answer}");
        if tries > 1 {
            book.retried.fetch_add(1, Ordering::Relaxed);
        }
        book.acked.lock().unwrap().push(Acked {
            key,
            id: answer["id"].as_str().unwrap().to_owned(),
            contract,
            amount,
        });
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..40))).await;
    }
}

/// Locks and unlocks random phones until told to stop. A retried command may find its first
/// try applied (409: already in that state); either way the command is settled.
async fn commander(
    api: Api,
    devices: Arc<Vec<String>>,
    book: Arc<Book>,
    stop: Arc<AtomicBool>,
    seed: u64,
) {
    let mut rng = StdRng::seed_from_u64(seed ^ 0xc0ffee);
    while !stop.load(Ordering::Relaxed) {
        let device = &devices[rng.gen_range(0..devices.len())];
        for verb in ["lock", "unlock"] {
            let (status, body) = api
                .post(
                    &format!("/v1/devices/{device}/{verb}"),
                    json!({"reason": "crash test"}),
                )
                .await;
            assert!(status == 200 || status == 409, "{verb}: {status} {body}");
            book.commands.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(rng.gen_range(20..200))).await;
        }
    }
}

/// A phone checking in every few hundred milliseconds, failures and all, until told to
/// stop; hands its agent back.
fn phone(mut agent: Agent, book: Arc<Book>, stop: Arc<AtomicBool>) -> JoinHandle<Agent> {
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            if agent.check_in().await.is_ok() {
                book.checkins.fetch_add(1, Ordering::Relaxed);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        agent
    })
}

/// The ledger as stored: (payment id, idempotency key, contract id, amount).
type LedgerRow = (String, Option<String>, Option<String>, i64);

const LEDGER: &str = "SELECT id, idempotency_key, contract_id, amount FROM payments ORDER BY id";
const PAYMENT_AUDIT: &str = "SELECT COUNT(*) FROM audit_log \
     WHERE action = 'POST /v1/payments' AND outcome IN ('200', '201')";

/// The objects of the platform audit chain's entries for `action` in the SQLite database
/// at `path`, in order.
async fn platform_actions(path: &Path, action: &str) -> Vec<String> {
    const QUERY: &str = "SELECT object FROM audit_log WHERE chain = 'platform' AND action = $1 \
                         ORDER BY seq";
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
    let mut c = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();
    sqlx::query_scalar(QUERY)
        .bind(action)
        .fetch_all(&mut c)
        .await
        .unwrap()
}

async fn read_ledger(database: &str) -> (Vec<LedgerRow>, i64) {
    if database.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(database).await.unwrap();
        let rows = sqlx::query_as(LEDGER).fetch_all(&mut c).await.unwrap();
        let (audited,): (i64,) = sqlx::query_as(PAYMENT_AUDIT)
            .fetch_one(&mut c)
            .await
            .unwrap();
        (rows, audited)
    } else {
        let path = database.strip_prefix("sqlite://").unwrap_or(database);
        let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
        let mut c = sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap();
        let rows = sqlx::query_as(LEDGER).fetch_all(&mut c).await.unwrap();
        let (audited,): (i64,) = sqlx::query_as(PAYMENT_AUDIT)
            .fetch_one(&mut c)
            .await
            .unwrap();
        (rows, audited)
    }
}

/// The phones whose held lease is numbered past what the database says was issued.
async fn leases_behind(database: &str, agents: &[Agent]) -> Vec<String> {
    let store = lienlock_store_sql::open(database).await.unwrap();
    let mut behind = Vec::new();
    for (i, agent) in agents.iter().enumerate() {
        let Some(held) = agent.held_lease().map(|l| l.sequence) else {
            continue;
        };
        let device = store
            .device_for_checkin(&agent.imei())
            .await
            .unwrap()
            .unwrap();
        if device.lease_seq < held {
            behind.push(format!(
                "phone {i}: holds lease {held}, the server {}",
                device.lease_seq
            ));
        }
    }
    behind
}

/// Acknowledged payments against the stored ledger.
#[derive(Debug, Default)]
struct LedgerCheck {
    acked: usize,
    in_ledger: usize,
    /// Acknowledged, but absent (or stored under another id).
    lost: Vec<String>,
    /// Keys stored more than once.
    duplicates: usize,
    /// Rows no client was told about.
    unacknowledged: usize,
}

fn check_ledger(acked: &[Acked], rows: &[LedgerRow]) -> LedgerCheck {
    let mut by_key: BTreeMap<&str, Vec<&LedgerRow>> = BTreeMap::new();
    for r in rows {
        if let Some(k) = r.1.as_deref() {
            by_key.entry(k).or_default().push(r);
        }
    }
    let mut check = LedgerCheck {
        acked: acked.len(),
        ..LedgerCheck::default()
    };
    let acked_keys: BTreeSet<&str> = acked.iter().map(|a| a.key.as_str()).collect();
    check.duplicates = by_key.values().filter(|v| v.len() > 1).count();
    check.unacknowledged = by_key.keys().filter(|k| !acked_keys.contains(*k)).count();
    for a in acked {
        match by_key.get(a.key.as_str()).map(Vec::as_slice) {
            Some([r]) if r.0 == a.id && r.2.as_deref() == Some(&a.contract) && r.3 == a.amount => {
                check.in_ledger += 1;
            }
            _ => check.lost.push(a.key.clone()),
        }
    }
    check
}

/// `ctl audit verify --json`: (chains, entries verified), panicking on a broken chain.
async fn verify_audit(server: &Server) -> (usize, u64) {
    let out = server.ctl(&["ctl", "audit", "verify", "--json"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "audit verify failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let chains: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(chains.iter().all(|c| c["ok"] == true), "{stdout}");
    let rows = chains.iter().map(|c| c["rows"].as_u64().unwrap()).sum();
    (chains.len(), rows)
}

/// A lender with phones enrolled and contracts on most of them, its phones set up as the
/// policy engine leaves them after long arrears (restricted), as in the multi-node test.
struct Fleet {
    api: Api,
    server_key: String,
    devices: Vec<(String, Imei)>,
    contracts: Vec<String>,
}

/// The first installment (long overdue) of each contract, and the second (far ahead): two
/// small contracts get paid off, four get current, and two stay behind.
const FIRST: [i64; 8] = [
    2_000, 3_000, 20_000, 20_000, 30_000, 30_000, 50_000_000, 50_000_000,
];
const SECOND: [i64; 8] = [
    2_000, 2_000, 5_000_000, 5_000_000, 5_000_000, 5_000_000, 1_000, 1_000,
];
/// Phones without a contract, only commanded.
const BARE: u32 = 2;

async fn fleet(server: &mut Server, db: &TestDb) -> Fleet {
    let server_key = server.start().await;
    let api_key =
        common::bootstrap(&server.args().iter().map(String::as_str).collect::<Vec<_>>()).await;
    let api = Api::new(server.url(), api_key);
    let mut devices = Vec::new();
    let mut contracts = Vec::new();
    for n in 0..FIRST.len() as u32 + BARE {
        let (status, body) = api
            .post("/v1/devices", json!({"imei": imei(n).as_str()}))
            .await;
        assert_eq!(status, 201, "{body}");
        let id = body["id"].as_str().unwrap().to_owned();
        if let Some(first) = FIRST.get(n as usize) {
            let second = SECOND[n as usize];
            let (status, body) = api
                .post(
                    "/v1/contracts",
                    json!({"device_id": id, "reference": format!("LN-{n}"), "terms": {
                        "currency": "KES", "financed": first + second,
                        "schedule": {"explicit": [["2020-01-10", first], ["2099-02-10", second]]},
                        "time_zone": "Africa/Nairobi"}}),
                )
                .await;
            assert_eq!(status, 201, "{body}");
            contracts.push(body["id"].as_str().unwrap().to_owned());
        }
        devices.push((id, imei(n)));
    }
    db.exec_raw(
        "UPDATE devices SET policy_level = 4 WHERE id IN (SELECT device_id FROM contracts);
         UPDATE contracts SET next_evaluation_at = 4102444800000, woken_at = NULL",
    )
    .await;
    Fleet {
        api,
        server_key,
        devices,
        contracts,
    }
}

async fn crash(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let rounds = env_u64("LIENLOCK_CRASH_ROUNDS").unwrap_or(18);
    let seed = env_u64("LIENLOCK_CRASH_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    });
    println!("crash[{backend:?}]: seed {seed} (LIENLOCK_CRASH_SEED), {rounds} kills (LIENLOCK_CRASH_ROUNDS)");
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server {
        data: dir.path().join("server"),
        database: Some(db.url().to_owned()),
        port: free_port(),
        proc: None,
    };
    let f = fleet(&mut server, &db).await;
    let book = Arc::new(Book::default());
    let stop = Arc::new(AtomicBool::new(false));
    let phones: Vec<JoinHandle<Agent>> = f
        .devices
        .iter()
        .enumerate()
        .map(|(i, (_, imei))| {
            let agent = open_agent(
                &dir.path().join(format!("phone-{i}")),
                &server.url(),
                &f.server_key,
                *imei,
            );
            phone(agent, book.clone(), stop.clone())
        })
        .collect();
    let contracts = Arc::new(f.contracts.clone());
    let device_ids = Arc::new(f.devices.iter().map(|d| d.0.clone()).collect::<Vec<_>>());
    let mut clients = Vec::new();
    for n in 0..3 {
        clients.push(tokio::spawn(payer(
            f.api.clone(),
            contracts.clone(),
            book.clone(),
            stop.clone(),
            seed,
            n,
        )));
    }
    clients.push(tokio::spawn(commander(
        f.api.clone(),
        device_ids.clone(),
        book.clone(),
        stop.clone(),
        seed,
    )));

    // The killer: a random moment, SIGKILL, restart at once (clients are mid-request).
    let mut rng = StdRng::seed_from_u64(seed);
    let mut restarts = Duration::ZERO;
    for _ in 0..rounds {
        tokio::time::sleep(Duration::from_millis(rng.gen_range(200..2_500))).await;
        server.kill().await;
        let t = Instant::now();
        server.start().await;
        restarts += t.elapsed();
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    let mut agents = Vec::new();
    for p in phones {
        agents.push(p.await.unwrap());
    }

    // Settle: lift the commander's last locks, so only the policy can hold a phone.
    for id in device_ids.iter() {
        let d = f.api.get(&format!("/v1/devices/{id}")).await;
        if d["state"] == "locked" {
            let (status, body) = f
                .api
                .post(
                    &format!("/v1/devices/{id}/unlock"),
                    json!({"reason": "settle"}),
                )
                .await;
            assert!(status == 200 || status == 409, "{status} {body}");
        }
    }

    // Balances: what the server reports against what the clients were told.
    let acked = book.acked.lock().unwrap().clone();
    let mut balance_errors = Vec::new();
    let mut paid_up = Vec::new();
    for (i, c) in f.contracts.iter().enumerate() {
        let view = f.api.get(&format!("/v1/contracts/{c}")).await;
        let st = &view["standing"];
        let ours: i64 = acked
            .iter()
            .filter(|a| &a.contract == c)
            .map(|a| a.amount)
            .sum();
        let total_paid = st["total_paid"].as_i64().unwrap();
        let owed = view["amount_owed"].as_i64().unwrap();
        let installments = view["installments"].as_array().unwrap();
        let scheduled: i64 = installments
            .iter()
            .map(|i| i["amount"].as_i64().unwrap())
            .sum();
        let applied: i64 = installments
            .iter()
            .map(|i| i["paid"].as_i64().unwrap())
            .sum();
        if total_paid != ours
            || scheduled != owed
            || applied != total_paid.min(owed)
            || st["paid_off"].as_bool().unwrap() != (total_paid >= owed)
        {
            balance_errors.push(format!(
                "contract {i}: acknowledged {ours}, server total_paid {total_paid}, scheduled \
                 {scheduled} of {owed}, {applied} applied to installments: {st}"
            ));
        }
        if st["overdue_count"] == 0 {
            paid_up.push(i);
        }
    }

    // No paid-up phone holds a locked lease once it has checked in (the scheduler may take a
    // tick to evaluate the last payment's wake-up).
    let mut locked_but_paid = Vec::new();
    for &i in &paid_up {
        let agent = &mut agents[i];
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let checked = agent.check_in().await;
            if checked.is_ok() && !agent.enforcement().is_locked() {
                break;
            }
            if Instant::now() > deadline {
                locked_but_paid.push(format!("phone {i}: {checked:?} {:?}", agent.enforcement()));
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    // The last kill, then the ledger and the audit trail as stored.
    server.kill().await;
    let (rows, audited) = read_ledger(db.url()).await;
    // Every lease a phone holds was issued after its check-in was durable, so the server's
    // lease sequence, as a node opening the database now finds it (a SQLite node applies
    // the check-ins it had not merged), is at or past the phone's: none will be issued again.
    let behind = leases_behind(db.url(), &agents).await;
    let ledger = check_ledger(&acked, &rows);
    let (chains, entries) = verify_audit(&server).await;
    println!(
        "crash[{backend:?}]: seed {seed}: {rounds} kills (restarts {:.1} s in all), {} payments \
         acknowledged ({} after a retry), {} in the ledger, {} lost, {} duplicated, {} \
         unacknowledged rows; {} contracts balanced ({} errors); {} paid-up phones checked, {} \
         locked; {} commands, {} check-ins, {} phones holding a lease the server is behind; \
         audit: {chains} chains, {entries} entries verified, {audited} payment entries; {:.1} s",
        restarts.as_secs_f64(),
        ledger.acked,
        book.retried.load(Ordering::Relaxed),
        ledger.in_ledger,
        ledger.lost.len(),
        ledger.duplicates,
        ledger.unacknowledged,
        f.contracts.len(),
        balance_errors.len(),
        paid_up.len(),
        locked_but_paid.len(),
        book.commands.load(Ordering::Relaxed),
        book.checkins.load(Ordering::Relaxed),
        behind.len(),
        started.elapsed().as_secs_f64(),
    );
    assert!(behind.is_empty(), "{behind:#?}");
    assert!(ledger.lost.is_empty(), "lost: {:?}", ledger.lost);
    assert_eq!(ledger.duplicates, 0);
    assert_eq!(
        ledger.unacknowledged, 0,
        "every attempt is retried until acknowledged"
    );
    assert!(balance_errors.is_empty(), "{balance_errors:#?}");
    assert!(locked_but_paid.is_empty(), "{locked_but_paid:#?}");
    assert!(
        paid_up.len() >= 2,
        "the load pays some contracts up: {paid_up:?}"
    );
    assert!(
        audited >= ledger.acked as i64,
        "every acknowledged payment request has its audit entry"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_sqlite() {
    crash(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_postgres() {
    crash(Backend::Postgres).await;
}

/// Copies every file of a backup into a new data directory: the documented restore.
fn restore(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_while_serving_restores_every_acknowledged_payment() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server {
        data: dir.path().join("server"),
        database: None,
        port: free_port(),
        proc: None,
    };
    // No --database: the data directory's own SQLite file, as a restore copies it.
    let server_key = server.start().await;
    let api_key =
        common::bootstrap(&server.args().iter().map(String::as_str).collect::<Vec<_>>()).await;
    let api = Api::new(server.url(), api_key);
    let mut contracts = Vec::new();
    let mut agents = Vec::new();
    for n in 0..3u32 {
        let (status, body) = api
            .post("/v1/devices", json!({"imei": imei(100 + n).as_str()}))
            .await;
        assert_eq!(status, 201, "{body}");
        let id = body["id"].as_str().unwrap().to_owned();
        let (status, body) = api
            .post(
                "/v1/contracts",
                json!({"device_id": id, "reference": format!("BK-{n}"), "terms": {
                    "currency": "KES", "financed": 1_000_000,
                    "schedule": {"explicit": [["2099-01-10", 1_000_000]]},
                    "time_zone": "Africa/Nairobi"}}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        contracts.push(body["id"].as_str().unwrap().to_owned());
        let mut agent = open_agent(
            &dir.path().join(format!("phone-{n}")),
            &server.url(),
            &server_key,
            imei(100 + n),
        );
        agent.check_in().await.unwrap();
        agents.push(agent);
    }
    let book = Arc::new(Book::default());
    let stop = Arc::new(AtomicBool::new(false));
    let contracts = Arc::new(contracts);
    let payers: Vec<_> = (0..2)
        .map(|n| {
            tokio::spawn(payer(
                api.clone(),
                contracts.clone(),
                book.clone(),
                stop.clone(),
                7,
                n,
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let before = book.acked.lock().unwrap().clone();
    let backup = dir.path().join("backup");
    let out = server
        .ctl(&["ctl", "backup", "--to", backup.to_str().unwrap()])
        .await;
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for p in payers {
        p.await.unwrap();
    }
    // The phones take newer leases after the backup: the restored server is behind them.
    for a in &mut agents {
        a.check_in().await.unwrap();
        a.check_in().await.unwrap();
    }
    let after = book.acked.lock().unwrap().len();
    // A second backup into the same place is refused rather than overwriting.
    let again = server
        .ctl(&["ctl", "backup", "--to", backup.to_str().unwrap()])
        .await;
    assert!(!again.status.success());
    server.kill().await;
    // The backup that was made is on the platform's audit trail, the refused one is not.
    let backups = platform_actions(&server.data.join("lienlock.db"), "ctl backup").await;
    assert_eq!(backups, vec![backup.display().to_string()]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in ["lienlock.db", "signing.key", "server.secret"] {
            let mode = std::fs::metadata(backup.join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{f} is owner-only");
        }
    }

    let mut restored = Server {
        data: dir.path().join("restored"),
        database: None,
        port: server.port,
        proc: None,
    };
    restore(&backup, &restored.data);
    assert_eq!(restored.start().await, server_key, "the same signing key");
    let (rows, _) = read_ledger(restored.data.join("lienlock.db").to_str().unwrap()).await;
    let check = check_ledger(&before, &rows);
    println!(
        "backup: {} payments acknowledged before the backup began, {} of them restored, {} lost; \
         {} acknowledged in all, {} rows in the restored ledger",
        before.len(),
        check.in_ledger,
        check.lost.len(),
        after,
        rows.len()
    );
    assert!(!before.is_empty());
    assert!(check.lost.is_empty(), "lost: {:?}", check.lost);
    assert_eq!(check.duplicates, 0);
    for a in &mut agents {
        let outcome = a
            .check_in()
            .await
            .expect("the phone takes the restored server's lease");
        assert!(
            matches!(outcome.lease, lienlock_agent::LeaseOutcome::Accepted { .. }),
            "{:?}",
            outcome.lease
        );
    }
    restored.kill().await;
}
