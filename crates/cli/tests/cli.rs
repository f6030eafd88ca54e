//! The `lienlock` binary as a newcomer and an operator use it: the demo, and serve + ctl +
//! agent as separate processes, on SQLite and PostgreSQL.

mod common;

use common::{field, once, post, Proc};
use lienlock_store_sql::testing::{Backend, TestDb};
use serde_json::json;
use tokio::process::Command;

const BIN: &str = common::BIN;

#[tokio::test]
async fn demo_runs_phones_that_lock_and_unlock_live() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let mut demo = Proc::spawn(&[
        "demo",
        "--data",
        data.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--checkin-interval",
        "1",
        "--duration",
        "60",
    ]);
    let url = field(&demo.wait_for("  server ").await, "server");
    let key = field(&demo.wait_for("API key").await, "API key");
    let phone = demo.wait_for("phone-1 ").await;
    let device = field(&phone, "device");
    demo.wait_for("curl").await;
    demo.wait_for("[phone-1] ACTIVE").await;

    let (status, body) = post(
        &format!("{url}/v1/devices/{device}/lock"),
        &key,
        json!({"reason": "demo"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let locked = demo.wait_for("[phone-1] LOCKED").await;
    assert!(locked.contains("locked by the lender"), "{locked}");
    let (status, _) = post(
        &format!("{url}/v1/devices/{device}/unlock"),
        &key,
        json!({"reason": "paid"}),
    )
    .await;
    assert_eq!(status, 200);
    demo.wait_for("[phone-1] ACTIVE").await;
    let (status, _) = post(
        &format!("{url}/v1/devices/{device}/release"),
        &key,
        json!({"reason": "paid off"}),
    )
    .await;
    assert_eq!(status, 200);
    demo.wait_for("[phone-1] FREE").await;
    demo.child.kill().await.unwrap();
}

async fn serve_ctl_and_agent_processes(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let data = data.to_str().unwrap();
    let mut server_args = vec!["--data", data];
    if backend == Backend::Postgres {
        server_args.extend(["--database", db.url()]);
    }
    let mut serve_args = vec!["serve", "--listen", "127.0.0.1:0"];
    serve_args.extend(&server_args);
    let mut server = Proc::spawn(&serve_args);
    let url = field(&server.wait_for("serving on").await, "serving on");
    let server_key = server.lease_key().await;

    let key = common::bootstrap(&server_args).await;

    let imei = "356938035643809";
    let (status, body) = post(&format!("{url}/v1/devices"), &key, json!({"imei": imei})).await;
    assert_eq!(status, 201, "{body}");
    let device = body["id"].as_str().unwrap().to_owned();

    let phone = dir.path().join("phone");
    let phone = phone.to_str().unwrap();
    let first = once(&[
        "agent",
        "run",
        "--once",
        "--data",
        phone,
        "--server",
        &url,
        "--server-key",
        &server_key,
        "--imei",
        imei,
    ])
    .await;
    assert!(first.contains("ACTIVE"), "{first}");
    post(
        &format!("{url}/v1/devices/{device}/lock"),
        &key,
        json!({"reason": "overdue"}),
    )
    .await;
    let locked = once(&["agent", "run", "--once", "--data", phone]).await;
    assert!(locked.contains("LOCKED (locked by the lender)"), "{locked}");
    once(&["agent", "factory-reset", "--data", phone]).await;
    let again = once(&["agent", "run", "--once", "--data", phone]).await;
    assert!(again.contains("LOCKED (locked by the lender)"), "{again}");

    // A wrong pinned key is refused at provisioning time for an existing phone.
    let out = Command::new(BIN)
        .args([
            "agent",
            "run",
            "--once",
            "--data",
            phone,
            "--server",
            &url,
            "--server-key",
            &"ab".repeat(32),
            "--imei",
            imei,
        ])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    server.child.kill().await.unwrap();
}

/// `ctl audit verify` passes on an untouched trail (operator and API actions alike) and
/// fails, naming the row, once a row is edited behind the server's back.
async fn audit_verify_catches_an_edited_row(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let data = data.to_str().unwrap();
    let server_args = ["--data", data, "--database", db.url()];
    let key = common::bootstrap(&server_args).await;
    let mut serve_args = vec!["serve", "--listen", "127.0.0.1:0"];
    serve_args.extend(server_args);
    let mut server = Proc::spawn(&serve_args);
    let url = field(&server.wait_for("serving on").await, "serving on");
    let (status, body) = post(
        &format!("{url}/v1/devices"),
        &key,
        json!({"imei": "356938035643809"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let device = body["id"].as_str().unwrap();
    let (status, _) = post(
        &format!("{url}/v1/devices/{device}/lock"),
        &key,
        json!({"reason": "overdue"}),
    )
    .await;
    assert_eq!(status, 200);
    server.child.kill().await.unwrap();

    let mut verify = vec!["ctl", "audit", "verify"];
    verify.extend(server_args);
    let out = once(&verify).await;
    assert!(out.contains("3 rows verified"), "{out}");
    assert!(out.ends_with("0 broken\n"), "{out}");

    // The application cannot edit it; the database's owner can, and is caught.
    let edit = "UPDATE audit_log SET reason = 'paid' WHERE seq = 3";
    assert!(db.try_exec_raw(edit).await.is_err());
    match backend {
        Backend::Sqlite => db.exec_raw("DROP TRIGGER audit_log_no_update").await,
        Backend::Postgres => {
            db.exec_raw("DROP TRIGGER audit_log_append_only ON audit_log")
                .await
        }
    }
    db.exec_raw(edit).await;
    let out = Command::new(common::BIN)
        .args(&verify)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("BROKEN after 2 good rows: row 3 was changed"),
        "{stdout}"
    );
}

lienlock_store_sql::backend_tests!(
    serve_ctl_and_agent_processes,
    audit_verify_catches_an_edited_row
);

/// `bench checkin` on a fleet of 200 phones in a fresh directory, two-second windows, with
/// `args` besides: its JSON lines, and the JSON lines among its standard error, once it
/// has exited successfully.
async fn bench_checkin(args: &[&str]) -> (Vec<serde_json::Value>, Vec<serde_json::Value>) {
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(240),
        Command::new(BIN)
            .args(["bench", "checkin", "--devices", "200", "--duration", "2"])
            .args(args)
            .args(["--data", dir.path().to_str().unwrap()])
            .output(),
    )
    .await
    .expect("the bench ends")
    .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // Every line of standard output is JSON; standard error may also carry logs.
    let json = |l: &str| -> serde_json::Value { serde_json::from_str(l).unwrap() };
    (
        stdout.lines().map(json).collect(),
        stderr
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(json)
            .collect(),
    )
}

/// `bench checkin`, small and short: one parseable JSON line with every figure, check-ins
/// answered, none refused (every pre-signed counter is fresh), and, after the default
/// warm-up, a first and a second run on the same fleet still accepted (each run's
/// counters are above the last's, the warm-up's included).
#[tokio::test]
async fn bench_checkin_prints_one_json_line_per_run() {
    let (lines, _) = bench_checkin(&[
        "--presign-per-sec",
        "2000",
        "--concurrency",
        "8",
        "--runs",
        "2",
    ])
    .await;
    assert_eq!(lines.len(), 2, "{lines:?}");
    for line in &lines {
        for key in [
            "devices",
            "checkins_per_s",
            "p50_ms",
            "p99_ms",
            "baseline_per_s",
            "ratio",
        ] {
            assert!(line[key].is_number(), "{key} in {line}");
        }
        assert_eq!(line["devices"], 200);
        assert!(line["checkins"].as_u64().unwrap() > 0, "{line}");
        assert_eq!(line["errors"], 0, "{line}");
        assert!(line["baseline_per_s"].as_f64().unwrap() > 0.0, "{line}");
        assert!(line["offered_per_s"].is_null(), "{line}");
        assert_eq!(line["warmup_s"], 5, "{line}");
        // The CPU the embedded node (and the generator) used, where /proc/self tells.
        if cfg!(target_os = "linux") {
            for key in ["cpu_us_per_checkin", "baseline_cpu_us"] {
                assert!(line[key].as_f64().unwrap() > 0.0, "{key} in {line}");
            }
        }
    }
}

/// `bench checkin --rate`: check-ins go out on the schedule, not as fast as they are
/// answered, so a window never sends more than the rate times its length; the line says
/// what was offered (a warm-up's check-ins are not counted). With `--timeline`, standard
/// error has a line per second whose answers add up to the window's.
#[tokio::test]
async fn bench_checkin_at_a_fixed_rate_sends_no_more_than_scheduled() {
    let (lines, stderr) = bench_checkin(&[
        "--rate",
        "100",
        "--concurrency",
        "16",
        "--timeline",
        "--warmup",
        "1",
    ])
    .await;
    // Any log line (JSON too) aside.
    let seconds: Vec<_> = stderr
        .iter()
        .filter(|l| l.get("second").is_some())
        .collect();
    let [line] = &lines[..] else {
        panic!("one line: {lines:?}")
    };
    assert_eq!(line["offered_per_s"], 100, "{line}");
    assert_eq!(line["warmup_s"], 1, "{line}");
    assert_eq!(line["errors"], 0, "{line}");
    let sent = line["checkins"].as_u64().unwrap();
    // Two seconds at 100 a second: 200 scheduled (0 to 199), never the thousands a
    // closed loop would send on a 200-phone fleet.
    assert!((1..=200).contains(&sent), "{line}");
    assert!(seconds.len() >= 2, "{seconds:?}");
    for (i, second) in seconds.iter().enumerate() {
        assert_eq!(second["second"], i, "{seconds:?}");
        assert!(second["p99_ms"].as_f64().unwrap() <= second["max_ms"].as_f64().unwrap());
    }
    let answered: u64 = seconds
        .iter()
        .map(|s| s["answered"].as_u64().unwrap())
        .sum();
    assert_eq!(answered, sent, "{seconds:?}");
}

/// `bench checkin --server` against a node running on PostgreSQL, given that node's signing
/// key file: the fleet is loaded into the node's database and its check-ins are MAC'd
/// (version 5), as a fleet's phones send them, and every one is answered. A key file that
/// is not the node's gets every check-in refused, which the line reports as errors; a
/// database that already holds a fleet is refused with a clear error before any check-in.
#[tokio::test]
async fn bench_checkin_against_a_running_server_macs_with_its_key_file() {
    let other = tempfile::tempdir().unwrap();
    let wrong_key = other.path().join("other.key");
    lienlock_server::secrets::write_new(&wrong_key, &[7; 32]).unwrap();
    for own_key in [true, false] {
        let Some(db) = TestDb::new(Backend::Postgres).await else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("server");
        let data = data.to_str().unwrap();
        // Every check-in comes from one address here.
        let (mut server, url) = common::serve(&[
            "--data",
            data,
            "--database",
            db.url(),
            "--device-rate-per-ip",
            "0",
        ])
        .await;
        let key = if own_key {
            format!("{data}/signing.key")
        } else {
            wrong_key.to_str().unwrap().to_owned()
        };
        let bench = || {
            Command::new(BIN)
                .args(["bench", "checkin", "--devices", "200", "--duration", "2"])
                .args(["--warmup", "1", "--concurrency", "8"])
                .args(["--presign-per-sec", "2000", "--server", &url])
                .args(["--database", db.url(), "--signing-key-file", &key])
                .output()
        };
        let out = tokio::time::timeout(std::time::Duration::from_secs(240), bench())
            .await
            .expect("the bench ends")
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        let line: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
        assert_eq!(line["auth"], "mac", "{line}");
        assert_eq!(line["backend"], "postgres", "{line}");
        let checkins = line["checkins"].as_u64().unwrap();
        let errors = line["errors"].as_u64().unwrap();
        if own_key {
            assert!(checkins > 0 && errors == 0, "{line}");
            // Again on the same database: its fleet is already there.
            let again = bench().await.unwrap();
            let stderr = String::from_utf8_lossy(&again.stderr);
            assert!(!again.status.success(), "{stderr}");
            assert!(stderr.contains("already holds devices"), "{stderr}");
        } else {
            assert!(errors > 0 && checkins == 0, "{line}");
        }
        server.child.kill().await.unwrap();
    }
}
