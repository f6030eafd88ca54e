//! What the binary's tests share: child processes read line by line, and small HTTP calls.

#![allow(dead_code)] // each test binary uses a different part of this

pub mod phone;

use serde_json::Value;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

pub const BIN: &str = env!("CARGO_BIN_EXE_lienlock");

/// A child process whose stdout is read line by line, killed when dropped.
pub struct Proc {
    pub child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    seen: Vec<String>,
}

impl Proc {
    pub fn spawn(args: &[&str]) -> Self {
        Self::spawn_full(args, &[], Stdio::inherit())
    }

    /// [`Proc::spawn`] with extra environment variables.
    pub fn spawn_env(args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::spawn_full(args, env, Stdio::inherit())
    }

    /// As [`Proc::spawn`], with stderr (the log) sent to `stderr`.
    pub fn spawn_with_stderr(args: &[&str], stderr: Stdio) -> Self {
        Self::spawn_full(args, &[], stderr)
    }

    fn spawn_full(args: &[&str], env: &[(&str, &str)], stderr: Stdio) -> Self {
        let mut child = Command::new(BIN)
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The lease-signing public key (hex) `serve` prints at start-up.
    pub async fn lease_key(&mut self) -> String {
        let line = self.wait_for("lease-signing key").await;
        line.rsplit(' ').next().unwrap().to_owned()
    }

    /// Reads until a line contains `needle` (30 s at most) and returns it.
    pub async fn wait_for(&mut self, needle: &str) -> String {
        let found = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = self.lines.next_line().await.unwrap() {
                self.seen.push(line.clone());
                if line.contains(needle) {
                    return Some(line);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(line)) => line,
            _ => panic!("no line with {needle:?}; saw:\n{}", self.seen.join("\n")),
        }
    }
}

/// The value after `label` on a line like `  API key      llk_...`.
pub fn field(line: &str, label: &str) -> String {
    line.split_once(label)
        .unwrap()
        .1
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

pub async fn post(url: &str, key: &str, body: Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(url)
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

pub async fn get(url: &str, key: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .get(url)
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

/// Runs the binary to completion and returns its stdout; panics if it fails.
pub async fn once(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{args:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Creates the lender "Acme" with `lienlock ctl bootstrap` on the server whose data (and
/// database) `server_args` name, and returns its API key.
pub async fn bootstrap(server_args: &[&str]) -> String {
    let mut args = vec![
        "ctl",
        "bootstrap",
        "--name",
        "Acme",
        "--support-phone",
        "+1 555 0100",
        "--support-url",
        "https://acme.example",
        "--json",
    ];
    args.extend(server_args);
    let boot: Value = serde_json::from_str(&once(&args).await).unwrap();
    boot["api_key"].as_str().unwrap().to_owned()
}

/// `lienlock serve` on a free loopback port with `args` besides, and its base URL once it
/// serves.
pub async fn serve(args: &[&str]) -> (Proc, String) {
    let mut full = vec!["serve", "--listen", "127.0.0.1:0"];
    full.extend(args);
    let mut proc = Proc::spawn(&full);
    let url = field(&proc.wait_for("serving on").await, "serving on");
    (proc, url)
}

/// An HTTP answer as the failure drills look at it.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// The error body's `code`, empty for none.
    pub code: String,
    pub retry_after: Option<String>,
    pub body: Value,
}

impl Answer {
    pub async fn of(resp: reqwest::Response) -> Self {
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        Self {
            status,
            code: body["error"]["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            retry_after,
            body,
        }
    }
}
