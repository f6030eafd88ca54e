//! The operator rotating the lease-signing key with `ctl keys` while a phone (`agent run
//! --once`, a separate process) keeps working, a key file others may read refused, and a
//! SIM swapped with `agent platform` reaching the lender's timeline once.

mod common;

use common::{field, get, once, post, Proc};
use serde_json::json;
use std::path::Path;
use tokio::process::Command;

async fn serve(data: &str) -> (Proc, String, String) {
    let mut server = Proc::spawn(&["serve", "--listen", "127.0.0.1:0", "--data", data]);
    let url = field(&server.wait_for("serving on").await, "serving on");
    let key = server.lease_key().await;
    (server, url, key)
}

fn key_id(show: &str, which: &str) -> String {
    show.lines()
        .find(|l| l.starts_with(which))
        .and_then(|l| l.split("key id ").nth(1))
        .and_then(|l| l.split(' ').next())
        .unwrap_or_else(|| panic!("no {which} key in {show}"))
        .to_owned()
}

#[tokio::test]
async fn keys_rotate_promote_retire_with_a_phone_that_keeps_working_and_a_sim_swap() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let data = data.to_str().unwrap();
    let (mut server, url, server_key) = serve(data).await;
    let api = common::bootstrap(&["--data", data]).await;
    let imei = "356938035643809";
    let (status, body) = post(&format!("{url}/v1/devices"), &api, json!({"imei": imei})).await;
    assert_eq!(status, 201, "{body}");
    let device = body["id"].as_str().unwrap().to_owned();

    // The phone, with its first SIM.
    let phone = dir.path().join("phone");
    let phone = phone.to_str().unwrap();
    once(&[
        "agent",
        "platform",
        "--data",
        phone,
        "--sim",
        "8925400000000000001",
    ])
    .await;
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

    // A SIM swap: one `tamper` entry, however many check-ins carry it.
    let swapped = once(&[
        "agent",
        "platform",
        "--data",
        phone,
        "--sim",
        "8925400000000000002",
    ])
    .await;
    assert!(swapped.contains("SIM in"), "{swapped}");
    once(&["agent", "run", "--once", "--data", phone]).await;
    once(&["agent", "run", "--once", "--data", phone]).await;
    let (_, timeline) = get(&format!("{url}/v1/devices/{device}/timeline"), &api).await;
    let tamper: Vec<&serde_json::Value> = timeline["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "tamper")
        .collect();
    assert_eq!(tamper.len(), 1, "{timeline}");
    assert!(tamper[0]["detail"]
        .as_str()
        .unwrap()
        .starts_with("sim_changed: "));
    server.child.kill().await.unwrap();

    // Rotate: the next key is written beside the current one, 0600.
    let keys = |cmd: &'static str| ["ctl", "keys", cmd, "--data", data];
    let rotated = once(&keys("rotate")).await;
    assert!(rotated.contains("next: key id"), "{rotated}");
    let next = Path::new(data).join("signing.key.next");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&next).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let show = once(&keys("show")).await;
    let (current_id, next_id) = (key_id(&show, "current"), key_id(&show, "next"));
    // A second rotation while one is under way is refused.
    let again = Command::new(common::BIN)
        .args(keys("rotate"))
        .output()
        .await
        .unwrap();
    assert!(!again.status.success());

    // The phone learns the next key from the current key's lease...
    let (mut server, url, _) = serve(data).await;
    once(&[
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
    let keyring =
        std::fs::read_to_string(Path::new(phone).join("persistent/server_keys.json")).unwrap();
    assert!(keyring.contains("\"next\": \""), "{keyring}");
    server.child.kill().await.unwrap();

    // ... and after the promotion takes the new key's leases.
    let promoted = once(&keys("promote")).await;
    assert!(
        promoted.contains(&format!("current: key id {next_id}")),
        "{promoted}"
    );
    let show = once(&keys("show")).await;
    assert_eq!(key_id(&show, "current"), next_id);
    assert_eq!(key_id(&show, "previous"), current_id);
    let (mut server, url, new_key) = serve(data).await;
    assert_ne!(new_key, server_key);
    for _ in 0..2 {
        let out = once(&[
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
        assert!(out.contains("ACTIVE"), "{out}");
    }
    server.child.kill().await.unwrap();
    let retired = once(&keys("retire")).await;
    assert!(
        retired.contains(&format!("retired: key id {current_id}")),
        "{retired}"
    );

    // A key file others may read stops the server, with a message that says what to do.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = Path::new(data).join("signing.key");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let out = Command::new(common::BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data", data])
            .output()
            .await
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("chmod 600"), "{stderr}");
        let show = Command::new(common::BIN)
            .args(keys("show"))
            .output()
            .await
            .unwrap();
        assert!(!show.status.success());
    }
}
