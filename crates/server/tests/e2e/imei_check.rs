//! The public IMEI check: a buyer learns whether a phone is clear, under a program, or
//! locked, with the lender to settle with and nothing personal; a lookup of a financed phone
//! shows on its timeline; bad input is refused and clients are rate-limited.

use crate::harness::{imei, TestServer};
use lienlock_store_sql::testing::Backend;
use serde_json::{json, Value};

async fn public_get(s: &TestServer, path: &str) -> (u16, Option<String>, String) {
    let resp = s.http.get(format!("{}{path}", s.url)).send().await.unwrap();
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry, resp.text().await.unwrap())
}

async fn a_buyer_checks_an_imei_before_paying(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let (device, _agent) = s.enrolled_phone(&acme, 95).await;
    let financed = imei(95);

    let (status, _, body) = public_get(&s, &format!("/v1/public/imei/{}", imei(96))).await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (v["status"].as_str(), &v["lender"]),
        (Some("clear"), &Value::Null)
    );

    let (status, _, body) = public_get(&s, &format!("/v1/public/imei/{financed}")).await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "financed");
    assert_eq!(v["lender"]["name"], "Acme");
    assert!(v["advice"].as_str().unwrap().contains("settle with Acme"));
    // Nothing that identifies the enrollment or the borrower.
    assert!(!body.contains(&device), "{body}");
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["advice", "imei", "lender", "status"]);

    // The lender sees that someone is checking the phone.
    let (_, t) = s
        .get(&acme, &format!("/v1/devices/{device}/timeline?limit=100"))
        .await;
    let checks: Vec<&Value> = t["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "imei_checked")
        .collect();
    assert_eq!(checks.len(), 1, "{t}");
    assert_eq!(checks[0]["actor"], "public");

    // The page's headers: nothing inline or from elsewhere, never framed, and the IMEI in
    // its address not passed on to the lender's site by a followed link.
    let resp = s.http.get(format!("{}/check", s.url)).send().await.unwrap();
    let h = resp.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(h["referrer-policy"], "no-referrer");
    let css = s
        .http
        .get(format!("{}/assets/check.css", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");

    // The page, without JavaScript: the form, then the answer, escaped.
    let (status, _, page) = public_get(&s, "/check").await;
    assert_eq!(status, 200);
    assert!(page.contains(r#"<label for="imei">"#) && page.contains(r#"id="imei""#));
    let (status, _, page) = public_get(&s, &format!("/check?imei={financed}")).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Under a financing program") && page.contains("Acme"),
        "{page}"
    );

    let (status, _) = s
        .command(&acme, &device, "lock", json!({"reason": "overdue"}))
        .await;
    assert_eq!(status, 200);
    let (_, _, body) = public_get(&s, &format!("/v1/public/imei/{financed}")).await;
    assert!(body.contains(r#""status":"locked""#), "{body}");

    let (status, _) = s
        .command(&acme, &device, "release", json!({"reason": "paid off"}))
        .await;
    assert_eq!(status, 200);
    let (_, _, body) = public_get(&s, &format!("/v1/public/imei/{financed}")).await;
    assert!(body.contains(r#""status":"clear""#), "{body}");

    // A wrong check digit, and markup in the page's input, are refused safely.
    let (status, _, body) = public_get(&s, "/v1/public/imei/356938035643808").await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("invalid_imei"));
    let (status, _, page) = public_get(&s, "/check?imei=%3Cscript%3E1").await;
    assert_eq!(status, 422);
    assert!(
        !page.contains("<script>") && page.contains("&lt;script&gt;"),
        "{page}"
    );

    // Ten requests at once per client, then one every three seconds.
    let mut limited = None;
    for _ in 0..12 {
        let (status, retry, _) = public_get(&s, &format!("/v1/public/imei/{}", imei(96))).await;
        if status == 429 {
            limited = retry;
            break;
        }
    }
    assert!(
        limited.is_some_and(|r| r.parse::<u64>().unwrap() >= 1),
        "no 429"
    );
    s.stop().await;
}

lienlock_store_sql::backend_tests!(a_buyer_checks_an_imei_before_paying);
