//! What an operator relies on when running `lienlock serve`: the metrics listener, JSON
//! logs that tie lines to request ids and leak no IMEI or key, and a drain on SIGTERM.
//! On SQLite and PostgreSQL, with the real binary.

mod common;

use common::{field, once, post, Proc};
use lienlock_store_sql::testing::{Backend, TestDb};
use serde_json::{json, Value};
use std::process::Stdio;
use std::time::Duration;

const IMEI: &str = "356938035643809";

async fn scrape(metrics: &str) -> String {
    let resp = reqwest::get(format!("{metrics}/metrics")).await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap()
}

/// The value of the sample whose line starts with `series` (name and labels), if any.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn operate(backend: Backend) {
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
    let log_path = dir.path().join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut serve_args = vec![
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "127.0.0.1:0",
        "--log-format",
        "json",
        "--shutdown-grace-secs",
        "10",
    ];
    serve_args.extend(&server_args);
    let mut server = Proc::spawn_with_stderr(&serve_args, Stdio::from(log));
    let url = field(&server.wait_for("serving on").await, "serving on");
    let metrics = field(&server.wait_for("metrics on").await, "metrics on")
        .trim_end_matches("/metrics")
        .to_owned();
    let server_key = server.lease_key().await;
    let key = common::bootstrap(&server_args).await;

    // The API's own port has no /metrics; the metrics port has nothing else.
    let on_api = reqwest::get(format!("{url}/metrics")).await.unwrap();
    assert_eq!(on_api.status(), 404);
    let on_metrics = reqwest::get(format!("{metrics}/v1/devices")).await.unwrap();
    assert_eq!(on_metrics.status(), 404);

    let resp = reqwest::Client::new()
        .post(format!("{url}/v1/devices"))
        .bearer_auth(&key)
        .json(&json!({"imei": IMEI}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let enroll_request = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    let device = resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
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
        IMEI,
    ])
    .await;
    assert!(first.contains("ACTIVE"), "{first}");
    let (status, _) = post(
        &format!("{url}/v1/devices/{device}/lock"),
        &key,
        json!({"reason": "overdue"}),
    )
    .await;
    assert_eq!(status, 200);
    let locked = once(&["agent", "run", "--once", "--data", phone]).await;
    assert!(locked.contains("LOCKED"), "{locked}");
    let (status, _) = post(
        &format!("{url}/v1/devices/{device}/unlock"),
        &key,
        json!({"reason": "paid"}),
    )
    .await;
    assert_eq!(status, 200);

    // A method nobody serves, counted as `other`: a client cannot add series without end.
    let odd = reqwest::Client::new()
        .request(
            reqwest::Method::from_bytes(b"BREW").unwrap(),
            format!("{url}/v1/devices"),
        )
        .send()
        .await
        .unwrap();
    assert!(odd.status().is_client_error(), "{}", odd.status());

    // The phone now runs for good, holding a push connection.
    let mut agent = Proc::spawn(&["agent", "run", "--data", phone]);
    agent.wait_for("ACTIVE").await;
    let mut text = String::new();
    for _ in 0..100 {
        text = scrape(&metrics).await;
        if sample(&text, "lienlock_push_connections") == Some(1.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        sample(&text, "lienlock_push_connections"),
        Some(1.0),
        "{text}"
    );
    for (series, at_least) in [
        (
            r#"lienlock_http_requests_total{method="POST",route="/v1/devices",status="201"}"#,
            1.0,
        ),
        (
            r#"lienlock_http_requests_total{method="POST",route="/device/v1/checkin",status="200"}"#,
            3.0,
        ),
        // The first check-in is signed and earns the phone its MAC key; the next use it.
        (
            r#"lienlock_checkins_total{outcome="ok",auth="signature"}"#,
            1.0,
        ),
        (r#"lienlock_checkins_total{outcome="ok",auth="mac"}"#, 2.0),
        ("lienlock_checkin_mac_keys_total", 1.0),
        (r#"lienlock_device_changes_total{kind="locked"}"#, 1.0),
        (r#"lienlock_device_changes_total{kind="unlocked"}"#, 1.0),
        (
            r#"lienlock_http_request_duration_seconds_count{method="POST",route="/device/v1/checkin"}"#,
            3.0,
        ),
        ("lienlock_scheduler_pass_seconds_count", 1.0),
        ("lienlock_webhook_backlog", 0.0),
        ("lienlock_scheduler_lag_seconds", 0.0),
    ] {
        let v = sample(&text, series).unwrap_or_else(|| panic!("no {series} in\n{text}"));
        assert!(
            v >= at_least,
            "{series} = {v}, expected at least {at_least}"
        );
    }
    // Reported by the check-in views' keeper, on a SQLite node only (the phone's view may
    // be between a drop and its reading again, so any count).
    let views = sample(&text, "lienlock_checkin_views");
    match backend {
        Backend::Sqlite => assert!(views.is_some_and(|v| v >= 0.0), "{text}"),
        Backend::Postgres => assert_eq!(views, None, "{text}"),
    }
    assert!(text.contains("# TYPE lienlock_http_request_duration_seconds histogram"));
    assert!(!text.contains(IMEI), "an IMEI in the metrics");
    assert!(text.contains(r#"method="other""#), "{text}");
    assert!(!text.contains("BREW"), "{text}");

    // SIGTERM: the push stream is closed, the process drains and exits 0 within the grace.
    let pid = server.child.id().unwrap();
    let killed = tokio::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(15), server.child.wait())
        .await
        .expect("the server drains within its grace period")
        .unwrap();
    assert!(status.success(), "{status}");
    assert!(reqwest::get(format!("{url}/healthz")).await.is_err());
    drop(agent);

    // Every log line is one JSON object; request lines carry their request id and route,
    // and nothing carries the IMEI or the API key.
    let log = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(!log.contains(IMEI), "an IMEI in the log:\n{log}");
    assert!(!log.contains(&key), "the API key in the log");
    let enroll = lines
        .iter()
        .find(|l| l["span"]["request_id"] == enroll_request.as_str())
        .unwrap_or_else(|| panic!("no line for request {enroll_request}:\n{log}"));
    assert_eq!(enroll["span"]["route"], "/v1/devices");
    assert_eq!(enroll["status"], 201);
    // Check-ins come as often as the fleet is large: their responses are not logged at the
    // default level (they are counted above).
    assert!(
        !lines
            .iter()
            .any(|l| l["span"]["route"] == "/device/v1/checkin" && l["message"] == "response"),
        "a check-in's response logged at info:\n{log}"
    );
    assert!(lines.iter().any(|l| l["message"]
        .as_str()
        .is_some_and(|m| m.starts_with("draining"))));
    assert!(lines.iter().any(|l| l["message"] == "drained; stopped"));
}

#[tokio::test]
async fn metrics_json_logs_and_drain_on_sqlite() {
    operate(Backend::Sqlite).await;
}

#[tokio::test]
async fn metrics_json_logs_and_drain_on_postgres() {
    operate(Backend::Postgres).await;
}
