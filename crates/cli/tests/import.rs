//! `lienlock ctl payments import` as a back office runs it: the binary against a real server
//! started in this process, on SQLite and PostgreSQL. Good rows are recorded once, however
//! often the file is imported; bad rows are reported by line and make the exit code fail.

use lienlock_domain::{ManualClock, Timestamp};
use lienlock_server::apikey::ServerSecret;
use lienlock_server::ops::{self, NewLender};
use lienlock_server::{AppState, LeaseSettings, Service};
use lienlock_store_sql::testing::{Backend, TestDb};
use lienlock_wire::ServerKey;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_lienlock");
/// 2026-03-02T09:00:00Z: before the contract's first due date.
const START: i64 = 1_772_442_000_000;
const IMEI: &str = "356938035643809";

/// A server on 127.0.0.1:0 with a fresh database and one lender.
struct Server {
    url: String,
    key: String,
    http: reqwest::Client,
    stop: tokio::sync::oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<std::io::Result<()>>,
    _db: TestDb,
}

impl Server {
    async fn start(backend: Backend) -> Option<Self> {
        let db = TestDb::new(backend).await?;
        let service = Service::new(
            db.store().await,
            Arc::new(ManualClock::new(Timestamp::from_millis(START))),
            ServerKey::generate(),
            ServerSecret::generate(),
            LeaseSettings {
                lease_ttl_secs: 7 * 24 * 3600,
                checkin_interval_secs: 60,
            },
        );
        let (_, key) = ops::bootstrap_lender(
            service.store().as_ref(),
            service.secret(),
            service.clock().as_ref(),
            NewLender {
                name: "Acme".into(),
                support_phone: "+254 700 000 000".into(),
                support_url: "https://pay.example/acme".into(),
            },
        )
        .await
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(lienlock_server::serve(
            listener,
            AppState::new(service),
            Duration::from_secs(1),
            async move {
                let _ = rx.await;
            },
        ));
        Some(Self {
            url,
            key: key.to_string(),
            http: reqwest::Client::new(),
            stop,
            handle,
            _db: db,
        })
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let body: Value = resp.json().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    async fn get(&self, path: &str) -> Value {
        self.call(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    /// Runs the import of `file`, giving the server and key through the environment.
    async fn import(&self, file: &Path) -> Output {
        tokio::process::Command::new(BIN)
            .args(["ctl", "payments", "import"])
            .arg(file)
            .env("LIENLOCK_SERVER", &self.url)
            .env("LIENLOCK_API_KEY", &self.key)
            .output()
            .await
            .unwrap()
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.handle.await.unwrap().unwrap();
    }
}

/// A statement as a spreadsheet exports it: BOM, CRLF, columns in its own order, quoted
/// fields. Lines 2, 3 and 10 pay contract LN-1; line 4 names no known contract; lines 5 to 8
/// are refused locally and line 9 by the server.
const STATEMENT: &str = "\u{feff}amount,currency,external_ref,imei,reference,received_at\r\n\
    1000.00,KES,TX-1,356938035643809,,2026-03-01T10:00:00+03:00\r\n\
    \"500.5\",KES,\"TX-2, part \"\"B\"\"\",,LN-1,\r\n\
    250,KES,TX-3,,LN-404,\r\n\
    12.5.0,KES,TX-4,,LN-1,\r\n\
    1.005,KES,TX-5,,LN-1,\r\n\
    10,ZZZ,TX-6,,LN-1,\r\n\
    10,KES,,,LN-1,\r\n\
    10,USD,TX-7,,LN-1,\r\n\
    20,KES,TX-8,,LN-1,\r\n";

/// 1000.00 + 500.50 + 20.00 KES, in cents.
const PAID: i64 = 100_000 + 50_050 + 2_000;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The report's lines for refused rows.
fn refused_lines(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|l| l.contains(": refused: "))
        .collect()
}

fn check_report(out: &Output, summary: &str) {
    let stdout = text(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.lines().any(|l| l == summary), "{stdout}");
    let refused = refused_lines(&stdout);
    assert_eq!(refused.len(), 5, "{stdout}");
    for (line, why) in [
        ("line 5: ", "amount \"12.5.0\" is not a number"),
        (
            "line 6: ",
            "amount \"1.005\" is not a number with at most 2 decimals",
        ),
        ("line 7: ", "unknown currency ZZZ"),
        ("line 8: ", "external_ref is empty"),
        ("line 9: ", "invalid_request: "),
    ] {
        assert!(
            refused
                .iter()
                .any(|l| l.starts_with(line) && l.contains(why)),
            "{line}{why}: {stdout}"
        );
    }
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("line 4: unmatched: payment ") && l.contains("TX-3")),
        "{stdout}"
    );
    assert!(text(&out.stderr).contains("5 of 9 rows refused"));
}

async fn import_records_each_payment_once(backend: Backend) {
    let Some(s) = Server::start(backend).await else {
        return;
    };
    let device = s.post("/v1/devices", json!({"imei": IMEI})).await;
    let contract = s
        .post(
            "/v1/contracts",
            json!({
                "device_id": device["id"],
                "reference": "LN-1",
                "terms": {
                    "currency": "KES",
                    "financed": 300_000,
                    "schedule": {"monthly": {"first_due": "2026-03-10", "day_of_month": 10, "count": 3}},
                    "time_zone": "Africa/Nairobi"
                }
            }),
        )
        .await;
    let contract = format!("/v1/contracts/{}", contract["id"].as_str().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("statement.csv");
    std::fs::write(&file, STATEMENT).unwrap();

    let first = s.import(&file).await;
    check_report(
        &first,
        "imported 4, already recorded 0, unmatched 1, refused 5",
    );
    let paid = |c: Value| c["standing"]["total_paid"].as_i64();
    assert_eq!(paid(s.get(&contract).await), Some(PAID));
    let unmatched = s.get("/v1/payments/unmatched").await;
    let unmatched = unmatched["payments"].as_array().unwrap().clone();
    assert_eq!(unmatched.len(), 1, "{unmatched:?}");
    assert_eq!(unmatched[0]["external_ref"], "TX-3");
    assert_eq!(unmatched[0]["amount"], 25_000);
    assert_eq!(unmatched[0]["channel"], "csv");

    // The same file again: every good row is already there, nothing is added.
    let second = s.import(&file).await;
    check_report(
        &second,
        "imported 0, already recorded 4, unmatched 1, refused 5",
    );
    assert_eq!(paid(s.get(&contract).await), Some(PAID));
    let again = s.get("/v1/payments/unmatched").await;
    assert_eq!(again["payments"].as_array().unwrap().len(), 1);

    // A clean file (LF endings, flags instead of the environment) exits 0; TX-1 is the
    // same payment as before, TX-9 is new.
    let clean = dir.path().join("clean.csv");
    std::fs::write(
        &clean,
        "external_ref,amount,currency,imei,received_at\n\
         TX-1,1000.00,KES,356938035643809,2026-03-01T07:00:00Z\n\
         TX-9,30,KES,356938035643809,\n",
    )
    .unwrap();
    let out = tokio::process::Command::new(BIN)
        .args(["ctl", "payments", "import", "--server", &s.url])
        .args(["--api-key", &s.key])
        .arg(&clean)
        .output()
        .await
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert_eq!(
        stdout.trim(),
        "imported 1, already recorded 1, unmatched 0, refused 0"
    );
    assert_eq!(paid(s.get(&contract).await), Some(PAID + 3_000));

    // A payment already recorded cannot be changed by importing it again with another
    // amount: the row is refused, and says which payment.
    let changed = dir.path().join("changed.csv");
    std::fs::write(
        &changed,
        "external_ref,amount,currency,reference\nTX-8,21,KES,LN-1\n",
    )
    .unwrap();
    let out = s.import(&changed).await;
    let stdout = text(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("line 2: refused: idempotency_key_reused: external_ref TX-8 "),
        "{stdout}"
    );
    assert_eq!(paid(s.get(&contract).await), Some(PAID + 3_000));

    // An unknown column refuses the file before anything is sent.
    let odd = dir.path().join("odd.csv");
    std::fs::write(
        &odd,
        "external_ref,amount,currency,imei,fee\nTX-10,5,KES,356938035643809,1\n",
    )
    .unwrap();
    let out = s.import(&odd).await;
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("unknown column \"fee\" (column 5)"),
        "{stderr}"
    );
    assert_eq!(paid(s.get(&contract).await), Some(PAID + 3_000));

    // A wrong key stops at once with one clear error.
    let out = tokio::process::Command::new(BIN)
        .args(["ctl", "payments", "import", "--server", &s.url])
        .args(["--api-key", "llk_nope"])
        .arg(&file)
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("unauthorized"));
    assert_eq!(text(&out.stdout), "");
    s.stop().await;
}

lienlock_store_sql::backend_tests!(import_records_each_payment_once);
