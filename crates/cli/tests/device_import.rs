//! `lienlock ctl devices import` against `lienlock serve`, both as separate processes, on
//! SQLite and PostgreSQL: rows are enrolled in chunks, reported with the file's line
//! numbers, a bad row makes the exit code fail, and a second run enrolls nothing twice.

mod common;

use common::{field, get, Proc};
use lienlock_store_sql::testing::{Backend, TestDb};
use serde_json::Value;
use std::path::Path;
use std::process::Output;
use tokio::process::Command;

const BIN: &str = common::BIN;

/// Lines 2, 6 and 8 are good phones; line 3's model spans two lines (so the file's line
/// numbers and the chunks' differ) and is refused by the server; line 7 has a wrong check
/// digit. Sent two rows per request.
const DEVICES: &str = "\u{feff}imei,model,serial\r\n\
    356938035643809,A15,SN-1\r\n\
    490154203237518,\"Galaxy\r\nA25\",\"SN, 2\"\r\n\
    \r\n\
    353918056000009,\"A05, blue\",\r\n\
    356938035643808,A05,\r\n\
    356938030000013,,\r\n";

async fn import(url: &str, key: &str, file: &Path, extra: &[&str]) -> Output {
    Command::new(BIN)
        .args(["ctl", "devices", "import"])
        .arg(file)
        .args(["--chunk", "2"])
        .args(extra)
        .env("LIENLOCK_SERVER", url)
        .env("LIENLOCK_API_KEY", key)
        .output()
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn devices_are_imported_from_a_file(backend: Backend) {
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
    let key = common::bootstrap(&server_args).await;

    let file = dir.path().join("devices.csv");
    std::fs::write(&file, DEVICES).unwrap();
    let out = import(&url, &key, &file, &[]).await;
    let stdout = text(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 7, "{stdout}");
    assert!(
        lines[0].contains("LINE") && lines[0].contains("STATUS"),
        "{stdout}"
    );
    let expected = [
        (2, "enrolled"),
        (3, "error"),
        (6, "enrolled"),
        (7, "error"),
        (8, "enrolled"),
    ];
    for (row, (line, status)) in lines[1..6].iter().zip(expected) {
        assert!(
            row.trim_start().starts_with(&format!("{line} ")),
            "{stdout}"
        );
        assert!(row.contains(&format!("  {status} ")), "{stdout}");
    }
    assert!(
        lines[2].ends_with("invalid model: must not contain control characters"),
        "{stdout}"
    );
    assert!(lines[4].contains("check digit"), "{stdout}");
    assert_eq!(lines[6], "enrolled 3, already enrolled 0, errors 2");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("2 of 5 rows not enrolled"), "{stderr}");

    let (status, list) = get(&format!("{url}/v1/devices"), &key).await;
    assert_eq!(status, 200);
    let mut models: Vec<&Value> = list["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| &d["model"])
        .collect();
    models.sort_by_key(|m| m.to_string());
    assert_eq!(
        models,
        [&Value::from("A05, blue"), &Value::from("A15"), &Value::Null]
    );

    // Again, as JSON lines: nothing new, the same devices.
    let out = import(&url, &key, &file, &["--json"]).await;
    assert!(!out.status.success());
    let rows: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let seen: Vec<(u64, &str)> = rows
        .iter()
        .map(|r| (r["line"].as_u64().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        seen,
        [
            (2, "already_enrolled"),
            (3, "error"),
            (6, "already_enrolled"),
            (7, "error"),
            (8, "already_enrolled"),
        ]
    );
    assert!(rows[0]["device_id"].is_string());
    assert_eq!(rows[1]["imei"], "490154203237518");

    // Only good rows: success.
    std::fs::write(&file, "imei\n356938035643809\n490154203237518\n").unwrap();
    let out = import(&url, &key, &file, &[]).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.ends_with("enrolled 1, already enrolled 1, errors 0\n"),
        "{stdout}"
    );

    // A file the server would refuse is refused before anything is sent.
    std::fs::write(&file, "imei,colour\n356938035643809,red\n").unwrap();
    let out = import(&url, &key, &file, &[]).await;
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("unknown column \"colour\" (column 2)"),
        "{stderr}"
    );
    std::fs::write(&file, "imei\n356938035643809\n\"open\n").unwrap();
    let stderr = text(&import(&url, &key, &file, &[]).await.stderr);
    assert!(
        stderr.contains("line 3: a quoted field is not closed"),
        "{stderr}"
    );
    server.child.kill().await.unwrap();
}

lienlock_store_sql::backend_tests!(devices_are_imported_from_a_file);
