//! `lienlock simulate` as a load tester runs it: a `lienlock serve` process on SQLite, a
//! lender bootstrapped with `ctl`, and a fleet of simulated phones in a third process.

use serde_json::Value;
use std::process::{Output, Stdio};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

mod common;

use common::BIN;

/// A `lienlock serve` on a fresh SQLite data directory, killed when dropped.
struct Server {
    _child: Child,
    url: String,
    key: String,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("server");
        let data = data.to_str().unwrap();
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data", data])
            .args(["--checkin-interval-secs", "1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some((_, url)) = line.split_once("serving on ") {
                    return url.trim().to_owned();
                }
            }
            panic!("the server ended without saying where it listens");
        })
        .await
        .expect("the server did not start within 30 s");
        // Keep reading, so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

        let key = common::bootstrap(&["--data", data]).await;
        Self {
            _child: child,
            url,
            key,
            _dir: dir,
        }
    }
}

async fn run(args: &[&str]) -> Output {
    tokio::time::timeout(
        Duration::from_secs(60),
        Command::new(BIN)
            .args(args)
            .env_remove("LIENLOCK_SERVER")
            .env_remove("LIENLOCK_API_KEY")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("lienlock did not finish within 60 s")
    .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test]
async fn twenty_phones_enroll_and_check_in() {
    let server = Server::start().await;
    let out = run(&[
        "simulate",
        "--server",
        &server.url,
        "--api-key",
        &server.key,
        "--devices",
        "20",
        "--duration",
        "4",
    ])
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    let summary: Value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("last line is not JSON ({e}): {}", text(&out)));
    assert_eq!(summary["devices"], 20, "{summary}");
    assert_eq!(summary["enrolled"], 20, "{summary}");
    assert_eq!(summary["enroll_errors"], 0, "{summary}");
    assert!(summary["checkins"].as_u64().unwrap() >= 20, "{summary}");
    assert_eq!(summary["errors"], 0, "{summary}");
    assert!(summary["seconds"].as_f64().unwrap() >= 3.9, "{summary}");
    // A line of counts a second came before the summary.
    assert!(
        stdout.lines().any(|l| l.contains("checkins/s")),
        "{}",
        text(&out)
    );

    // The server saw every phone: enrolled through the API, and each has checked in.
    let devices: Value = reqwest::Client::new()
        .get(format!("{}/v1/devices?limit=100", server.url))
        .bearer_auth(&server.key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = devices["devices"].as_array().expect("a page of devices");
    assert_eq!(items.len(), 20, "{devices}");
    assert!(
        items.iter().all(|d| !d["last_seen_at"].is_null()),
        "{devices}"
    );
}

#[tokio::test]
async fn bad_arguments_fail_clearly() {
    let zero = run(&[
        "simulate",
        "--server",
        "http://127.0.0.1:9",
        "--api-key",
        "llk_x",
        "--devices",
        "0",
    ])
    .await;
    assert!(!zero.status.success(), "{}", text(&zero));
    let err = String::from_utf8_lossy(&zero.stderr);
    assert!(err.contains("--devices"), "{}", text(&zero));

    // Nothing listens on a port bound and released here.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = std::time::Instant::now();
    let unreachable = run(&[
        "simulate",
        "--server",
        &format!("http://127.0.0.1:{port}"),
        "--api-key",
        "llk_x",
        "--devices",
        "5",
    ])
    .await;
    assert!(!unreachable.status.success(), "{}", text(&unreachable));
    let err = String::from_utf8_lossy(&unreachable.stderr);
    assert!(
        err.contains("cannot reach the server"),
        "{}",
        text(&unreachable)
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "gave up only after {:?}",
        started.elapsed()
    );

    let not_a_url = run(&[
        "simulate",
        "--server",
        "ftp://example.test",
        "--api-key",
        "llk_x",
        "--devices",
        "1",
    ])
    .await;
    assert!(!not_a_url.status.success(), "{}", text(&not_a_url));
    let err = String::from_utf8_lossy(&not_a_url.stderr);
    assert!(err.contains("--server"), "{}", text(&not_a_url));
}
