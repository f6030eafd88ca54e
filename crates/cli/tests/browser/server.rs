//! A real `lienlock serve` for the browser tests: its own SQLite data directory, on
//! 127.0.0.1:0, with the lender "Acme" and its API key.

#![allow(dead_code)] // each browser test uses a different part of this

use crate::common::{self, field, post, Proc};
use serde_json::{json, Value};

/// A server process, killed when dropped (its data directory removed).
pub struct Server {
    /// The base URL, like `http://127.0.0.1:41234`.
    pub url: String,
    /// Acme's API key.
    pub key: String,
    /// The server's lease-signing public key (hex), which a phone pins.
    pub server_key: String,
    proc: Proc,
    dir: tempfile::TempDir,
}

impl Server {
    /// Starts the server and bootstraps the lender "Acme" (support +1 555 0100,
    /// https://acme.example).
    pub async fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("server");
        let data = data.to_str().unwrap();
        let mut proc = Proc::spawn(&["serve", "--listen", "127.0.0.1:0", "--data", data]);
        let url = field(&proc.wait_for("serving on").await, "serving on");
        let server_key = proc.lease_key().await;
        let key = common::bootstrap(&["--data", data]).await;
        Server {
            url,
            key,
            server_key,
            proc,
            dir,
        }
    }

    /// The server's data directory.
    pub fn data(&self) -> String {
        self.dir.path().join("server").to_str().unwrap().to_owned()
    }

    /// Adds a console user of Acme with `role` and `password`, as an operator does.
    pub async fn add_user(&self, email: &str, role: &str, password: &str) {
        let (status, lender) = common::get(&self.page("/v1/lender"), &self.key).await;
        assert_eq!(status, 200, "{lender}");
        let mut child = tokio::process::Command::new(common::BIN)
            .args([
                "ctl",
                "users",
                "add",
                "--data",
                &self.data(),
                "--lender",
                lender["id"].as_str().unwrap(),
                "--email",
                email,
                "--name",
                &format!("Test {role}"),
                "--role",
                role,
                "--password-stdin",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use tokio::io::AsyncWriteExt;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(format!("{password}\n").as_bytes())
            .await
            .unwrap();
        drop(stdin);
        let out = child.wait_with_output().await.unwrap();
        assert!(out.status.success(), "ctl users add failed");
    }

    /// Starts a phone for `imei` with its page (`agent run --ui`) in `language`; returns the
    /// process (killed when dropped) and the page's URL.
    pub async fn phone(&self, imei: &str, language: &str) -> (Proc, String) {
        let dir = self.dir.path().join(format!("phone-{imei}"));
        let mut proc = Proc::spawn(&[
            "agent",
            "run",
            "--data",
            dir.to_str().unwrap(),
            "--server",
            &self.url,
            "--server-key",
            &self.server_key,
            "--imei",
            imei,
            "--ui",
            "127.0.0.1:0",
            "--language",
            language,
        ]);
        let page = field(&proc.wait_for("phone page:").await, "phone page:");
        (proc, page)
    }

    /// The full URL of `path` (which starts with `/`).
    pub fn page(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// `POST path` with Acme's key; panics unless the status is `expect`.
    pub async fn post(&self, path: &str, body: Value, expect: u16) -> Value {
        let (status, resp) = post(&self.page(path), &self.key, body).await;
        assert_eq!(status, expect, "POST {path}: {resp}");
        resp
    }

    /// Enrolls the phone `imei` for Acme and returns the device's id.
    pub async fn enroll(&self, imei: &str) -> String {
        let device = self.post("/v1/devices", json!({"imei": imei}), 201).await;
        device["id"].as_str().unwrap().to_owned()
    }

    /// Applies `lock`, `unlock` or `release` to `device` now.
    pub async fn command(&self, device: &str, kind: &str, reason: &str) {
        self.post(
            &format!("/v1/devices/{device}/{kind}"),
            json!({"reason": reason}),
            200,
        )
        .await;
    }
}

/// A valid IMEI (its Luhn check digit right) made from `n`: `35693803`, `n` on six digits,
/// the check digit.
pub fn imei(n: u32) -> String {
    assert!(n < 1_000_000);
    let body = format!("35693803{n:06}");
    let sum: u32 = body
        .bytes()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let twice = d * 2;
                twice / 10 + twice % 10
            } else {
                d
            }
        })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

#[test]
fn imeis_carry_their_check_digit() {
    assert_eq!(imei(564_380), "356938035643809");
}
