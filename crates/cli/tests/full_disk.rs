//! A data directory that fills up under a real `lienlock serve` on SQLite, with phones
//! checking in and a lender recording payments: writes are refused with a clear error and
//! change nothing, no phone locks, `/readyz` says why, nothing acknowledged is lost, the
//! database passes SQLite's integrity check, and everything works again by itself once
//! there is room.
//!
//! The data directory is a small tmpfs of the test's own, so the disk that fills is a real
//! one (SQLite sees `ENOSPC` from the kernel, not a page limit set through SQL). Mounting
//! needs root; without it the test is skipped with a message, except under `CI=true`,
//! where that is a failure.

mod common;

use common::phone::Phone;
use common::{field, Answer, Proc};
use lienlock_domain::Imei;
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How long the server may take to notice the disk is full, or that there is room again.
const PROMPT: Duration = Duration::from_secs(10);

/// The most payments tried while filling the last of the disk.
const MAX_TRIES: usize = 5_000;

/// A tmpfs mounted on a fresh temporary directory, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `None` (with a message) when it cannot be mounted here, unless `CI=true`.
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700")])
            .arg("lienlock-full-disk")
            .arg(dir.path())
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Self { dir }),
            other => {
                let why = match other {
                    Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_owned(),
                    Err(e) => e.to_string(),
                };
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "a small tmpfs is required under CI=true (run as root): {why}"
                );
                eprintln!("skipping: cannot mount a tmpfs ({why})");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Writes `path` until the file system refuses: nothing is left for anyone else.
fn fill(path: &Path) -> u64 {
    let mut f = std::fs::File::create(path).unwrap();
    let mut written = 0;
    for chunk in [64 << 10, 4 << 10, 512, 1] {
        let block = vec![0xA5u8; chunk];
        loop {
            match f.write(&block) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(28), "ENOSPC, got {e}");
                    break;
                }
            }
        }
    }
    written
}

fn imei(n: u32) -> Imei {
    Imei::from_body(&format!("35693807{n:06}")).unwrap()
}

async fn pay(http: &reqwest::Client, url: &str, api: &str, contract: &str, key: &str) -> Answer {
    let resp = http
        .post(format!("{url}/v1/payments"))
        .bearer_auth(api)
        .header("Idempotency-Key", key)
        .json(&json!({"contract_id": contract, "amount": 100, "currency": "KES"}))
        .send()
        .await
        .unwrap();
    Answer::of(resp).await
}

/// `/readyz`'s status and reason.
async fn readiness(url: &str) -> (u16, String) {
    let resp = reqwest::get(format!("{url}/readyz")).await.unwrap();
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    (
        status,
        body["reason"].as_str().unwrap_or_default().to_owned(),
    )
}

/// The payments stored, by idempotency key, and SQLite's integrity check, read through a
/// connection of the test's own.
async fn stored(db: &Path) -> (Vec<(String, String)>, String) {
    use sqlx::Connection;
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(db);
    let mut c = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();
    let rows = sqlx::query_as("SELECT idempotency_key, id FROM payments ORDER BY id")
        .fetch_all(&mut c)
        .await
        .unwrap();
    let integrity = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut c)
        .await
        .unwrap();
    (rows, integrity)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_cleanly_and_recovers_by_itself() {
    let Some(disk) = Tmpfs::mount("16m") else {
        return;
    };
    let data = disk.path().to_str().unwrap().to_owned();
    let mut server = Proc::spawn(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data",
        &data,
        "--checkin-interval-secs",
        "1",
    ]);
    let url = field(&server.wait_for("serving on").await, "serving on");
    let lease_key = server.lease_key().await;
    let api = common::bootstrap(&["--data", &data]).await;
    let http = reqwest::Client::new();

    // Phones with contracts they are up to date on, checking in every second.
    let phones_dir = tempfile::tempdir().unwrap();
    let mut contracts = Vec::new();
    let mut phones = Vec::new();
    for n in 0..3 {
        let (status, device) = common::post(
            &format!("{url}/v1/devices"),
            &api,
            json!({"imei": imei(n).as_str()}),
        )
        .await;
        assert_eq!(status, 201, "{device}");
        let (status, contract) = common::post(
            &format!("{url}/v1/contracts"),
            &api,
            json!({"device_id": device["id"], "reference": format!("LN-{n}"), "terms": {
                "currency": "KES", "financed": 100_000_000,
                "schedule": {"explicit": [["2099-02-10", 100_000_000]]},
                "time_zone": "Africa/Nairobi"}}),
        )
        .await;
        assert_eq!(status, 201, "{contract}");
        contracts.push(contract["id"].as_str().unwrap().to_owned());
        phones.push(Phone::start(
            &phones_dir.path().join(format!("phone-{n}")),
            &url,
            &lease_key,
            imei(n),
        ));
    }
    common::phone::until_all_checked_in(&phones, 2, PROMPT).await;

    // Payments before the disk fills, then the disk filled by someone else's file, then
    // payments until the database has no room left either.
    let mut acked: Vec<(String, String)> = Vec::new();
    // Not acknowledged: (idempotency key, contract, whether the answer said it took effect:
    // the payment stored, its audit entry not).
    let mut refused: Vec<(String, String, bool)> = Vec::new();
    let mut tries = 0;
    let filler: PathBuf = disk.path().join("someone-elses-file");
    let mut filled = 0;
    while refused.len() < 3 {
        assert!(
            tries < MAX_TRIES,
            "the disk never filled ({tries} payments)"
        );
        if tries == 10 {
            filled = fill(&filler);
        }
        tries += 1;
        let key = format!("full-{tries}");
        let contract = &contracts[tries % contracts.len()];
        let a = pay(&http, &url, &api, contract, &key).await;
        match a.status {
            201 => acked.push((key, a.body["id"].as_str().unwrap().to_owned())),
            503 => {
                assert_eq!(a.code, "storage_full", "{}", a.body);
                assert!(a.retry_after.is_some(), "503 without Retry-After");
                let message = a.body["error"]["message"].as_str().unwrap();
                let took_effect = message.contains("the request took effect");
                assert!(
                    took_effect || message.contains("nothing was written"),
                    "{}",
                    a.body
                );
                refused.push((key, contract.clone(), took_effect));
            }
            other => panic!(
                "a full disk answers 201 or 503 storage_full, got {other}: {}",
                a.body
            ),
        }
    }
    assert!(acked.len() >= 10, "payments before the disk filled");
    let (status, reason) = readiness(&url).await;
    assert_eq!(
        (status, reason.as_str()),
        (503, "storage full"),
        "/readyz while the disk is full"
    );
    assert_eq!(
        reqwest::get(format!("{url}/healthz"))
            .await
            .unwrap()
            .status()
            .as_u16(),
        200,
        "still live"
    );
    // Reads still work while writes cannot.
    let (status, body) = common::get(&format!("{url}/v1/contracts/{}", contracts[0]), &api).await;
    assert_eq!(status, 200, "{body}");
    // The phones keep trying, and keep their leases.
    let failures: Vec<u64> = phones.iter().map(Phone::failures).collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let failed_while_full = phones
        .iter()
        .zip(&failures)
        .map(|(p, before)| p.failures() - before)
        .sum::<u64>();

    // Room again: the server takes writes without a restart, and a refused payment sent
    // again is recorded now (201), not answered as a replay of something half-written; one
    // that took effect without its audit entry is answered as the replay it is (200).
    std::fs::remove_file(&filler).unwrap();
    let freed_at = Instant::now();
    loop {
        let (status, _) = readiness(&url).await;
        if status == 200 {
            break;
        }
        assert!(
            freed_at.elapsed() < PROMPT,
            "/readyz ready again after space returned"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ready_after = freed_at.elapsed();
    for (key, contract, took_effect) in &refused {
        let a = pay(&http, &url, &api, contract, key).await;
        let want = if *took_effect { 200 } else { 201 };
        assert_eq!(a.status, want, "{key} sent again: {}", a.body);
        acked.push((key.clone(), a.body["id"].as_str().unwrap().to_owned()));
    }
    let checkins: Vec<u64> = phones.iter().map(Phone::checkins).collect();
    while phones
        .iter()
        .zip(&checkins)
        .any(|(p, at)| p.checkins() <= *at)
    {
        assert!(
            freed_at.elapsed() < PROMPT,
            "every phone checks in again once there is room"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for phone in &phones {
        assert!(
            !phone.ever_locked.load(Ordering::SeqCst),
            "no phone locks because the server's disk is full"
        );
    }

    // Every acknowledged payment stored once, under the id it was acknowledged with, and
    // nothing else; the file intact.
    drop(phones);
    drop(server);
    let (rows, integrity) = stored(&disk.path().join("lienlock.db")).await;
    assert_eq!(integrity, "ok");
    let mut want = acked.clone();
    want.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(
        rows, want,
        "the ledger holds exactly the acknowledged payments"
    );
    eprintln!(
        "full disk: {filled} bytes of filler; {tries} payments tried, {} acknowledged \
         before the last of the room went, {} refused with storage_full ({} of them stored \
         without their audit entry); phones' check-ins refused meanwhile: \
         {failed_while_full}; ready {ready_after:?} after space returned; the refused \
         payments acknowledged when sent again; integrity {integrity}",
        acked.len() - refused.len(),
        refused.len(),
        refused.iter().filter(|r| r.2).count(),
    );
}

/// `lienlock serve` run to its end: exit status and stderr.
async fn serve_exits(data: &str) -> (bool, String) {
    let run = tokio::process::Command::new(common::BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data", data])
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(PROMPT, run)
        .await
        .expect("serve gives up at start-up rather than running")
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A data directory the server cannot write is refused at start-up with its path and the
/// operating system's reason, whether the disk is full or mounted read-only, and the
/// database in it is left as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_directory_that_cannot_be_written_is_refused_at_start_up() {
    let Some(disk) = Tmpfs::mount("16m") else {
        return;
    };
    let data = disk.path().to_str().unwrap().to_owned();
    // A server that ran here once: a database, keys and a lender.
    let mut server = Proc::spawn(&["serve", "--listen", "127.0.0.1:0", "--data", &data]);
    server.wait_for("serving on").await;
    common::bootstrap(&["--data", &data]).await;
    drop(server);

    // Full.
    let filler = disk.path().join("someone-elses-file");
    fill(&filler);
    let (ok, stderr) = serve_exits(&data).await;
    assert!(!ok, "serve refuses a full data directory");
    assert!(
        stderr.contains(&format!("the data directory {data} is not writable"))
            && stderr.contains("No space left on device"),
        "{stderr}"
    );
    std::fs::remove_file(&filler).unwrap();

    // Read-only.
    let remount = |how: &str| {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,{how}")])
            .arg(disk.path())
            .status()
            .unwrap()
            .success();
        assert!(ok, "remount {how}");
    };
    remount("ro");
    let (ok, stderr) = serve_exits(&data).await;
    remount("rw");
    assert!(!ok, "serve refuses a read-only data directory");
    assert!(
        stderr.contains(&format!("the data directory {data} is not writable"))
            && stderr.contains("Read-only file system"),
        "{stderr}"
    );

    // Writable again: the same data serves as before.
    let (rows, integrity) = stored(&disk.path().join("lienlock.db")).await;
    assert_eq!((rows.len(), integrity.as_str()), (0, "ok"));
    let mut server = Proc::spawn(&["serve", "--listen", "127.0.0.1:0", "--data", &data]);
    let url = field(&server.wait_for("serving on").await, "serving on");
    assert_eq!(readiness(&url).await.0, 200);
}
