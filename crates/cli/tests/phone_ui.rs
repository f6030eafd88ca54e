//! `lienlock agent run --ui`: the phone's screen over HTTP, against a real `lienlock serve`,
//! as a borrower goes through a lock: the page turns to the lock screen by itself, switches
//! language, refuses a wrong code, opens a dispute the lender sees, and comes back when the
//! lender unlocks and when it releases the phone.

mod common;

use common::{field, get, post, Proc};
use serde_json::{json, Value};
use std::time::Duration;

/// The page's state, as its script reads it.
async fn state(page: &str) -> Value {
    reqwest::get(format!("{page}state.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Waits (15 s at most) until the page says `want`; returns the state seen.
async fn wait_state(page: &str, want: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..150 {
        last = state(page).await;
        if last["state"] == want {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the page never showed {want}; last {last}");
}

async fn html(page: &str) -> String {
    reqwest::get(page).await.unwrap().text().await.unwrap()
}

/// Posts a form the way the page does and returns the page it redirects to.
async fn submit(page: &str, path: &str, form: &[(&str, &str)]) -> String {
    let resp = reqwest::Client::new()
        .post(format!("{page}{path}"))
        .form(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{path}");
    assert_eq!(resp.url().path(), "/", "{path} redirects to the page");
    resp.text().await.unwrap()
}

#[tokio::test]
async fn the_phone_page_follows_lock_dispute_unlock_and_release() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let data = data.to_str().unwrap();
    let server_args = ["--data", data];
    let mut server = Proc::spawn(&["serve", "--listen", "127.0.0.1:0", "--data", data]);
    let url = field(&server.wait_for("serving on").await, "serving on");
    let server_key = server.lease_key().await;
    let key = common::bootstrap(&server_args).await;
    let imei = "356938035643809";
    let (status, body) = post(&format!("{url}/v1/devices"), &key, json!({"imei": imei})).await;
    assert_eq!(status, 201, "{body}");
    let device = body["id"].as_str().unwrap().to_owned();

    let phone_dir = dir.path().join("phone");
    let phone_dir_str = phone_dir.to_str().unwrap();
    let mut agent = Proc::spawn(&[
        "agent",
        "run",
        "--data",
        phone_dir_str,
        "--server",
        &url,
        "--server-key",
        &server_key,
        "--imei",
        imei,
        "--ui",
        "127.0.0.1:0",
    ]);
    let page = field(&agent.wait_for("phone page:").await, "phone page:");
    assert!(
        page.starts_with("http://127.0.0.1:") && page.ends_with('/'),
        "{page}"
    );
    agent.wait_for("ACTIVE").await;

    // The normal screen, with its headers and its own two files.
    let first = wait_state(&page, "active").await;
    assert_eq!(first["language"], "en");
    let resp = reqwest::get(&page).await.unwrap();
    let headers = resp.headers().clone();
    assert_eq!(
        headers["content-security-policy"],
        "default-src 'self'; frame-ancestors 'none'"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let active = resp.text().await.unwrap();
    assert!(active.contains("<html lang=\"en\">"), "{active}");
    assert!(active.contains("data-state=\"active\""), "{active}");
    assert!(active.contains("<script src=\"/phone.js\" defer></script>"));
    assert!(!active.contains("id=\"lock-screen\""));
    assert_eq!(active.matches("<h1>").count(), 1);
    for (file, kind) in [("phone.js", "text/javascript"), ("phone.css", "text/css")] {
        let resp = reqwest::get(format!("{page}{file}")).await.unwrap();
        assert_eq!(resp.status(), 200);
        let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with(kind), "{file}: {ct}");
    }

    // The lender locks: the page turns to the lock screen by itself.
    let (status, body) = post(
        &format!("{url}/v1/devices/{device}/lock"),
        &key,
        json!({"reason": "overdue"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let locked_state = wait_state(&page, "locked").await;
    assert!(locked_state["version"].as_u64() > first["version"].as_u64());
    let locked = html(&page).await;
    assert!(locked.contains("data-state=\"locked\""), "{locked}");
    assert!(locked.contains("id=\"lock-screen\""));
    assert!(locked.contains("id=\"lender-name\">Acme<"), "{locked}");
    assert!(locked.contains(&format!("<span id=\"imei\">{imei}</span>")));
    assert!(locked.contains("id=\"emergency-call\" class=\"button sos\" href=\"tel:112\""));
    assert!(locked.contains("This phone is locked"));
    assert!(locked.contains("href=\"https://acme.example\""));
    assert!(locked.contains("href=\"tel:+15550100\""));

    // Another site cannot post to the phone.
    let resp = reqwest::Client::new()
        .post(format!("{page}language"))
        .header("origin", "http://evil.example")
        .form(&[("language", "hi")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);

    // Swahili, kept in the phone's own settings.
    let sw = submit(&page, "language", &[("language", "sw")]).await;
    assert!(sw.contains("<html lang=\"sw\">"), "{sw}");
    assert!(sw.contains("Simu hii imefungwa"), "{sw}");
    assert!(sw.contains("Simu ya dharura"), "{sw}");
    assert_eq!(state(&page).await["language"], "sw");
    let settings = std::fs::read_to_string(phone_dir.join("settings.json")).unwrap();
    assert!(settings.contains("\"sw\""), "{settings}");

    // A wrong code is refused, in Swahili.
    let refused = submit(&page, "code", &[("code", "123")]).await;
    assert!(refused.contains("id=\"result\""), "{refused}");
    assert!(refused.contains("role=\"alert\""), "{refused}");
    assert!(refused.contains("tarakimu"), "{refused}");
    // The result shows once.
    assert!(!html(&page).await.contains("id=\"result\""));

    // "I already paid" opens a dispute the lender sees.
    let paid = submit(&page, "paid", &[("reason", "M-Pesa receipt QX12")]).await;
    assert!(paid.contains("role=\"status\""), "{paid}");
    assert!(paid.contains("Asante"), "{paid}");
    let (status, disputes) = get(&format!("{url}/v1/devices/{device}/disputes"), &key).await;
    assert_eq!(status, 200, "{disputes}");
    let list = disputes.as_array().unwrap();
    assert!(
        list.iter()
            .any(|d| d["reason"] == "M-Pesa receipt QX12" && d["open"] == true),
        "{disputes}"
    );
    let reference = list[0]["id"].as_str().unwrap();
    assert!(
        paid.contains(reference),
        "the page quotes {reference}: {paid}"
    );

    // Refresh checks in and says so.
    let refreshed = submit(&page, "refresh", &[]).await;
    assert!(refreshed.contains("Hali imesasishwa"), "{refreshed}");

    // The lender unlocks: back to the normal screen, still in Swahili.
    let (status, _) = post(
        &format!("{url}/v1/devices/{device}/unlock"),
        &key,
        json!({"reason": "paid"}),
    )
    .await;
    assert_eq!(status, 200);
    wait_state(&page, "active").await;
    let active = html(&page).await;
    assert!(
        active.contains("Simu yako inafanya kazi kama kawaida"),
        "{active}"
    );
    assert!(!active.contains("id=\"emergency-call\""));

    // Released: the loop ends, the page stays and its buttons still answer.
    let (status, _) = post(
        &format!("{url}/v1/devices/{device}/release"),
        &key,
        json!({"reason": "paid off"}),
    )
    .await;
    assert_eq!(status, 200);
    wait_state(&page, "free").await;
    agent.wait_for("FREE").await;
    let free = submit(&page, "code", &[("code", "1234")]).await;
    assert!(free.contains("Simu hii ni yako"), "{free}");
    assert!(free.contains("Haihitaji msimbo"), "{free}");

    agent.child.kill().await.unwrap();
    server.child.kill().await.unwrap();
}
