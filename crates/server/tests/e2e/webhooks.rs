//! Webhooks end to end: a real receiver on 127.0.0.1 gets signed deliveries of what
//! happens to the lender's devices and payments, retried with backoff (the shared clock
//! moves past each wait) until it answers 2xx; deliveries and attempts show in the API and
//! the console, to their lender only; configuration is for admins and takes only http(s)
//! URLs.

use crate::console::{add_user, lender_id, Browser, PASSWORD};
use crate::harness::{imei, TestLender, TestServer};
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use hmac::{Hmac, Mac};
use lienlock_domain::{Clock, LenderId, Role};
use lienlock_server::apikey;
use lienlock_store::ApiKeyRecord;
use lienlock_store_sql::testing::Backend;
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

lienlock_store_sql::backend_tests!(
    a_lock_reaches_the_receiver_signed,
    failures_are_retried_with_the_same_id_until_acknowledged,
    only_admins_configure_and_only_http_urls,
    another_lender_sees_no_delivery,
    unmatched_payments_and_imei_checks_are_reported,
    the_console_lists_deliveries_and_their_attempts
);

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Received {
    headers: HeaderMap,
    body: String,
}

/// An HTTP endpoint on 127.0.0.1 that records what it gets and answers with the statuses
/// it is given, in order, then 200.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    answers: Arc<Mutex<VecDeque<u16>>>,
}

impl Receiver {
    async fn start(answers: &[u16]) -> (Receiver, String) {
        let r = Receiver::default();
        r.answers.lock().unwrap().extend(answers);
        let state = r.clone();
        let app = axum::Router::new().route(
            "/hooks",
            axum::routing::post(move |headers: HeaderMap, body: String| async move {
                state.got.lock().unwrap().push(Received { headers, body });
                let code = state.answers.lock().unwrap().pop_front().unwrap_or(200);
                StatusCode::from_u16(code).unwrap()
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (r, url)
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits (in real time: the worker polls every 20 ms) until `n` requests arrived.
    async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..500 {
            let got = self.got();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("expected {n} deliveries, got {:?}", self.got());
    }
}

/// Standard Webhooks verification, written from the specification and independent of the
/// server's signer: HMAC-SHA256 keyed with the base64-decoded secret after `whsec_`, over
/// `{webhook-id}.{webhook-timestamp}.{body}`, compared with each `v1,` signature.
fn verifies(secret: &str, r: &Received) -> bool {
    let header = |name: &str| r.headers.get(name).unwrap().to_str().unwrap().to_owned();
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let signed = format!(
        "{}.{}.{}",
        header("webhook-id"),
        header("webhook-timestamp"),
        r.body
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(signed.as_bytes());
    let expected = mac.finalize().into_bytes();
    header("webhook-signature").split(' ').any(|sig| {
        sig.strip_prefix("v1,")
            .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
            .is_some_and(|got| got.as_slice() == expected.as_slice())
    })
}

fn header(r: &Received, name: &str) -> String {
    r.headers.get(name).unwrap().to_str().unwrap().to_owned()
}

fn body(r: &Received) -> Value {
    serde_json::from_str(&r.body).unwrap()
}

/// Sets the lender's webhook and returns its secret.
async fn configure(s: &TestServer, l: &TestLender, url: &str, types: Option<&[&str]>) -> String {
    let mut req = json!({"url": url});
    if let Some(types) = types {
        req["event_types"] = json!(types);
    }
    let (status, v) = s
        .call(
            Some(l),
            reqwest::Method::PUT,
            "/v1/lender/webhook",
            Some(req),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    v["secret"].as_str().unwrap().to_owned()
}

/// A key of `role` for the lender of `l`.
async fn key_with_role(s: &TestServer, l: &TestLender, role: Role) -> TestLender {
    let (_, me) = s.get(l, "/v1/lender").await;
    let lender: LenderId = me["id"].as_str().unwrap().parse().unwrap();
    let minted = apikey::mint(s.service().secret());
    s.service()
        .store()
        .add_api_key(&ApiKeyRecord {
            id: minted.id,
            lender_id: lender,
            role,
            label: role.as_str().into(),
            secret_hmac: minted.secret_hmac,
            created_at: s.service().clock().now(),
            revoked_at: None,
        })
        .await
        .unwrap();
    TestLender {
        key: minted.plaintext.to_string(),
    }
}

/// A delivery with its attempts, once `done(delivery)` holds.
async fn delivery_when(
    s: &TestServer,
    l: &TestLender,
    id: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..500 {
        let (status, v) = s.get(l, &format!("/v1/webhooks/deliveries/{id}")).await;
        assert_eq!(status, 200, "{v}");
        if done(&v["delivery"]) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("delivery {id} never got there");
}

async fn a_lock_reaches_the_receiver_signed(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let (receiver, url) = Receiver::start(&[]).await;
    let secret = configure(&s, &acme, &url, None).await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    let (status, v) = s.get(&acme, "/v1/lender/webhook").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["url"], url.as_str());
    assert_eq!(v["event_types"], Value::Null);
    assert!(v.get("secret").is_none(), "the secret is shown once: {v}");

    let device = s.enroll(&acme, &imei(1)).await;
    let (status, v) = s
        .command(&acme, &device, "lock", json!({"reason": "38 days overdue"}))
        .await;
    assert_eq!(status, 200, "{v}");

    let got = receiver.wait_for(1).await;
    let r = &got[0];
    assert!(verifies(&secret, r), "signature does not verify: {r:?}");
    // A changed body, or another secret, does not verify.
    let forged = Received {
        body: r.body.replace("38", "39"),
        ..r.clone()
    };
    assert!(!verifies(&secret, &forged));
    assert!(!verifies("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", r));
    assert_eq!(header(r, "content-type"), "application/json");
    let now_secs = s.clock.now().as_millis() / 1000;
    let ts: i64 = header(r, "webhook-timestamp").parse().unwrap();
    assert!(
        (now_secs - 5..=now_secs).contains(&ts),
        "{ts} vs {now_secs}"
    );

    let b = body(r);
    assert_eq!(b["type"], "device.locked");
    assert!(b["timestamp"].as_str().unwrap().ends_with('Z'), "{b}");
    assert_eq!(b["data"]["device_id"], device.as_str());
    assert_eq!(b["data"]["imei"], imei(1).as_str());
    assert_eq!(b["data"]["reason"], "38 days overdue");
    assert!(b["data"]["actor"].as_str().unwrap().starts_with("api_key:"));
    assert_eq!(b["data"]["contract_reference"], Value::Null);

    // The webhook-id is the delivery's id; the API shows it delivered after one attempt.
    let id = header(r, "webhook-id");
    let v = delivery_when(&s, &acme, &id, |d| d["status"] == "delivered").await;
    assert_eq!(v["delivery"]["type"], "device.locked");
    assert_eq!(v["delivery"]["attempts"], 1);
    assert_eq!(v["delivery"]["device_id"], device.as_str());
    assert_eq!(v["payload"], b);
    let attempts = v["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["status_code"], 200);
    assert_eq!(attempts[0]["error"], Value::Null);
    // Enrollment sends nothing: only what the lender subscribed to goes out.
    let (_, list) = s.get(&acme, "/v1/webhooks/deliveries").await;
    assert_eq!(list["deliveries"].as_array().unwrap().len(), 1, "{list}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.got().len(), 1);
    s.stop().await;
}

async fn failures_are_retried_with_the_same_id_until_acknowledged(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let (receiver, url) = Receiver::start(&[500, 500, 200]).await;
    let secret = configure(&s, &acme, &url, Some(&["device.locked"])).await;
    let device = s.enroll(&acme, &imei(2)).await;
    s.command(&acme, &device, "lock", json!({"reason": "overdue"}))
        .await;

    let first = receiver.wait_for(1).await;
    let id = header(&first[0], "webhook-id");
    let v = delivery_when(&s, &acme, &id, |d| d["attempts"] == 1).await;
    let d = &v["delivery"];
    assert_eq!(d["status"], "pending");
    assert_eq!(d["last_status"], 500);
    assert_eq!(d["last_error"], "HTTP 500");
    // The first retry waits 5 s, give or take a fifth.
    let due = d["next_attempt_at"]
        .as_str()
        .unwrap()
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_millisecond();
    let wait = due - s.clock.now().as_millis();
    assert!((3_900..=6_100).contains(&wait), "{wait} ms");

    // Nothing more until the clock passes the wait.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.got().len(), 1);
    s.clock.advance_millis(7_000);
    receiver.wait_for(2).await;
    s.clock.advance_millis(40_000);
    let got = receiver.wait_for(3).await;

    let v = delivery_when(&s, &acme, &id, |d| d["status"] == "delivered").await;
    assert_eq!(v["delivery"]["attempts"], 3);
    assert_eq!(v["delivery"]["next_attempt_at"], Value::Null);
    let codes: Vec<_> = v["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["n"].as_u64().unwrap(), a["status_code"].as_u64().unwrap()))
        .collect();
    assert_eq!(codes, [(1, 500), (2, 500), (3, 200)]);
    // One message: the same id and body every time, a fresh timestamp and signature each.
    for r in &got {
        assert_eq!(header(r, "webhook-id"), id);
        assert_eq!(r.body, got[0].body);
        assert!(verifies(&secret, r));
    }
    assert_ne!(
        header(&got[0], "webhook-timestamp"),
        header(&got[2], "webhook-timestamp")
    );
    // Acknowledged is done.
    s.clock.advance_millis(86_400_000);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.got().len(), 3);
    s.stop().await;
}

async fn only_admins_configure_and_only_http_urls(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let (receiver, url) = Receiver::start(&[]).await;
    let put = |l: &TestLender, body: Value| {
        let l = TestLender { key: l.key.clone() };
        let s = &s;
        async move {
            s.call(
                Some(&l),
                reqwest::Method::PUT,
                "/v1/lender/webhook",
                Some(body),
            )
            .await
        }
    };

    // Roles without the permission are refused, whatever they send.
    let support = key_with_role(&s, &acme, Role::Support).await;
    let collections = key_with_role(&s, &acme, Role::Collections).await;
    let auditor = key_with_role(&s, &acme, Role::Auditor).await;
    for k in [&support, &collections, &auditor] {
        let (status, v) = put(k, json!({"url": url})).await;
        assert_eq!(
            (status, v["error"]["code"].as_str()),
            (403, Some("forbidden")),
            "{v}"
        );
        let (status, _) = s
            .call(
                Some(k),
                reqwest::Method::POST,
                "/v1/lender/webhook/rotate-secret",
                None,
            )
            .await;
        assert_eq!(status, 403);
    }
    assert_eq!(s.get(&acme, "/v1/lender/webhook").await.0, 404);

    let secret = configure(&s, &acme, &url, None).await;
    // Bad URLs and types: 422, and nothing changes.
    for bad in [
        json!({"url": "ftp://files.example/in"}),
        json!({"url": "javascript:alert(1)"}),
        json!({"url": "not a url"}),
        json!({"url": "https://user:pass@hooks.example/in"}),
        json!({"url": url, "event_types": ["device.exploded"]}),
        json!({"url": url, "event_types": []}),
    ] {
        let (status, v) = put(&acme, bad.clone()).await;
        assert_eq!(
            (status, v["error"]["code"].as_str()),
            (422, Some("invalid_request")),
            "{bad}: {v}"
        );
    }
    let (_, v) = s.get(&acme, "/v1/lender/webhook").await;
    assert_eq!(
        (v["url"].as_str(), &v["event_types"]),
        (Some(url.as_str()), &Value::Null)
    );

    // Changing the filter keeps the secret (200, no secret shown).
    let (status, v) = put(
        &acme,
        json!({"url": url, "event_types": ["device.unlocked"]}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert!(v.get("secret").is_none());
    assert_eq!(v["event_types"], json!(["device.unlocked"]));

    // Rotation: the next delivery is signed with the new secret only.
    let (status, v) = s
        .call(
            Some(&acme),
            reqwest::Method::POST,
            "/v1/lender/webhook/rotate-secret",
            None,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let rotated = v["secret"].as_str().unwrap().to_owned();
    assert_ne!(rotated, secret);
    let device = s.enroll(&acme, &imei(3)).await;
    s.command(&acme, &device, "lock", json!({"reason": "x"}))
        .await;
    s.command(&acme, &device, "unlock", json!({"reason": "paid"}))
        .await;
    let got = receiver.wait_for(1).await;
    assert_eq!(body(&got[0])["type"], "device.unlocked");
    assert!(verifies(&rotated, &got[0]));
    assert!(!verifies(&secret, &got[0]));

    // Removed: nothing more is sent.
    let (status, _) = s
        .call(
            Some(&acme),
            reqwest::Method::DELETE,
            "/v1/lender/webhook",
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(s.get(&acme, "/v1/lender/webhook").await.0, 404);
    let (status, _) = s
        .call(
            Some(&acme),
            reqwest::Method::DELETE,
            "/v1/lender/webhook",
            None,
        )
        .await;
    assert_eq!(status, 404);
    s.command(&acme, &device, "lock", json!({"reason": "x"}))
        .await;
    s.command(&acme, &device, "unlock", json!({"reason": "x"}))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.got().len(), 1);

    // Reading deliveries: the auditor may, support may not.
    assert_eq!(s.get(&auditor, "/v1/webhooks/deliveries").await.0, 200);
    assert_eq!(s.get(&support, "/v1/webhooks/deliveries").await.0, 403);
    s.stop().await;
}

async fn another_lender_sees_no_delivery(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let rival = s.lender("Rival").await;
    let (receiver, url) = Receiver::start(&[]).await;
    configure(&s, &acme, &url, None).await;
    let device = s.enroll(&acme, &imei(4)).await;
    s.command(&acme, &device, "lock", json!({"reason": "x"}))
        .await;
    let id = header(&receiver.wait_for(1).await[0], "webhook-id");
    assert_eq!(
        s.get(&acme, &format!("/v1/webhooks/deliveries/{id}"))
            .await
            .0,
        200
    );

    let (status, v) = s
        .get(&rival, &format!("/v1/webhooks/deliveries/{id}"))
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, v) = s.get(&rival, "/v1/webhooks/deliveries").await;
    assert_eq!(status, 200);
    assert_eq!(v["deliveries"], json!([]));
    assert_eq!(s.get(&rival, "/v1/lender/webhook").await.0, 404);
    // Junk ids are not found either.
    assert_eq!(
        s.get(&acme, "/v1/webhooks/deliveries/not-an-id").await.0,
        404
    );
    // The rival's own webhook does not receive the lock.
    let (rival_receiver, rival_url) = Receiver::start(&[]).await;
    configure(&s, &rival, &rival_url, None).await;
    s.command(&acme, &device, "unlock", json!({"reason": "x"}))
        .await;
    receiver.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(rival_receiver.got().is_empty());
    s.stop().await;
}

async fn unmatched_payments_and_imei_checks_are_reported(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let (receiver, url) = Receiver::start(&[]).await;
    let secret = configure(
        &s,
        &acme,
        &url,
        Some(&["payment.unmatched", "imei.checked"]),
    )
    .await;
    let device = s.enroll(&acme, &imei(5)).await;
    // Filtered out.
    s.command(&acme, &device, "lock", json!({"reason": "x"}))
        .await;

    // A payment naming an IMEI no device has.
    let (status, paid) = s
        .post(
            &acme,
            "/v1/payments",
            json!({"imei": imei(6).as_str(), "amount": 1500, "currency": "KES",
                   "channel": "mpesa", "external_ref": "MP-1"}),
        )
        .await;
    assert_eq!(status, 201, "{paid}");
    let got = receiver.wait_for(1).await;
    let b = body(&got[0]);
    assert_eq!(b["type"], "payment.unmatched");
    assert_eq!(b["data"]["payment_id"], paid["id"]);
    assert_eq!(b["data"]["amount"], 1500);
    assert_eq!(b["data"]["currency"], "KES");
    assert_eq!(b["data"]["external_ref"], "MP-1");
    assert!(verifies(&secret, &got[0]));

    // A buyer checks the phone's IMEI: its lender hears of it, and nothing of the buyer.
    let resp = s
        .http
        .get(format!("{}/v1/public/imei/{}", s.url, imei(5)))
        .header("x-forwarded-for", "198.51.100.23")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let got = receiver.wait_for(2).await;
    let b = body(&got[1]);
    assert_eq!(b["type"], "imei.checked");
    assert_eq!(b["data"]["device_id"], device.as_str());
    assert_eq!(b["data"]["imei"], imei(5).as_str());
    assert_eq!(b["data"]["actor"], "public");
    for leak in ["127.0.0.1", "198.51.100.23", "user-agent", "reqwest"] {
        assert!(!got[1].body.contains(leak), "{leak} in {}", got[1].body);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.got().len(), 2, "the lock was filtered out");
    s.stop().await;
}

async fn the_console_lists_deliveries_and_their_attempts(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let lender = lender_id(&s, &acme).await;
    let (receiver, url) = Receiver::start(&[503]).await;
    configure(&s, &acme, &url, None).await;
    let device = s.enroll(&acme, &imei(7)).await;
    s.command(&acme, &device, "lock", json!({"reason": "x"}))
        .await;
    let id = header(&receiver.wait_for(1).await[0], "webhook-id");
    delivery_when(&s, &acme, &id, |d| d["attempts"] == 1).await;

    add_user(&s, lender, "admin@acme.example", Role::Admin).await;
    add_user(&s, lender, "help@acme.example", Role::Support).await;
    let mut admin = Browser::new(&s);
    assert_eq!(
        admin.sign_in("admin@acme.example", PASSWORD).await.status,
        303
    );
    let list = admin.get("/console/webhooks").await;
    assert_eq!(list.status, 200, "{}", list.body);
    for text in [
        "href=\"/console/webhooks\"",
        "device.locked",
        &format!("/console/webhooks/{id}"),
        &format!("/console/devices/{device}"),
        imei(7).as_str(),
        "pending",
        "HTTP 503",
        url.as_str(),
    ] {
        assert!(list.body.contains(text), "{text} not in {}", list.body);
    }
    assert!(!list.body.contains("<script>") && !list.body.contains("style="));
    // The console's headers cover these pages too (seen here on the sign-in redirect).
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/console/webhooks", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 303);
    let csp = anonymous.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(csp.contains("default-src 'self'"), "{csp}");

    let page = admin.get(&format!("/console/webhooks/{id}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    for text in [
        "id=\"attempts\"",
        "id=\"payload\"",
        "HTTP 503",
        "device.locked",
        &id,
    ] {
        assert!(page.body.contains(text), "{text} not in {}", page.body);
    }

    let mut support = Browser::new(&s);
    assert_eq!(
        support.sign_in("help@acme.example", PASSWORD).await.status,
        303
    );
    assert_eq!(support.get("/console/webhooks").await.status, 403);
    assert_eq!(
        support.get(&format!("/console/webhooks/{id}")).await.status,
        403
    );
    assert_eq!(admin.get("/console/webhooks/not-an-id").await.status, 404);
    s.stop().await;
}
