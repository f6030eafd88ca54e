//! One lender can neither see nor change another's devices.

use crate::harness::{imei, TestServer};
use lienlock_store_sql::testing::Backend;
use reqwest::Method;
use serde_json::json;

async fn other_lender_gets_404_and_changes_nothing(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let rival = s.lender("Rival").await;
    let device = s.enroll(&acme, &imei(20)).await;
    let (_, before) = s.get(&acme, &format!("/v1/devices/{device}")).await;

    for (method, path, body) in [
        (Method::GET, format!("/v1/devices/{device}"), None),
        (Method::GET, format!("/v1/devices/{device}/timeline"), None),
        (Method::GET, format!("/v1/devices/{device}/commands"), None),
        (Method::GET, format!("/v1/devices/{device}/contract"), None),
        (Method::GET, format!("/v1/devices/{device}/notices"), None),
        (Method::GET, format!("/v1/devices/{device}/disputes"), None),
        (
            Method::POST,
            format!("/v1/devices/{device}/disputes"),
            Some(json!({"reason": "x"})),
        ),
        (
            Method::POST,
            format!("/v1/devices/{device}/lock"),
            Some(json!({"reason": "x"})),
        ),
        (
            Method::POST,
            format!("/v1/devices/{device}/unlock"),
            Some(json!({"reason": "x"})),
        ),
        (
            Method::POST,
            format!("/v1/devices/{device}/release"),
            Some(json!({"reason": "x"})),
        ),
        (
            Method::POST,
            format!("/v1/devices/{device}/approve-key"),
            Some(json!({"reason": "x", "key": "00".repeat(32)})),
        ),
    ] {
        let (status, resp) = s.call(Some(&rival), method.clone(), &path, body).await;
        assert_eq!(status, 404, "{method} {path}: {resp}");
        assert_eq!(resp["error"]["code"], "not_found");
    }
    let (_, list) = s.get(&rival, "/v1/devices").await;
    assert_eq!(list["devices"].as_array().unwrap().len(), 0);

    // Same IMEI cannot be enrolled by the rival while Acme's enrollment is active.
    let (status, body) = s
        .post(&rival, "/v1/devices", json!({"imei": imei(20).as_str()}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("imei_taken"))
    );

    let (_, after) = s.get(&acme, &format!("/v1/devices/{device}")).await;
    assert_eq!(before, after);
    assert_eq!(s.timeline_kinds(&acme, &device).await, ["enrolled"]);
    let (_, cmds) = s
        .get(&acme, &format!("/v1/devices/{device}/commands"))
        .await;
    assert_eq!(cmds, json!([]));
    s.stop().await;
}

async fn listing_pages_and_filters(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(s.enroll(&acme, &imei(30 + n)).await);
    }
    for id in &ids[1..3] {
        let (status, _) = s.command(&acme, id, "lock", json!({"reason": "r"})).await;
        assert_eq!(status, 200);
    }
    let mut seen = Vec::new();
    let mut path = "/v1/devices?limit=2".to_owned();
    loop {
        let (status, page) = s.get(&acme, &path).await;
        assert_eq!(status, 200, "{page}");
        for d in page["devices"].as_array().unwrap() {
            seen.push(d["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/devices?limit=2&after={c}"),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    let (_, locked) = s.get(&acme, "/v1/devices?state=locked").await;
    let locked: Vec<_> = locked["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(locked, ids[1..3]);
    let (status, body) = s.get(&acme, "/v1/devices?state=frozen").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_query"))
    );
    s.stop().await;
}

lienlock_store_sql::backend_tests!(
    other_lender_gets_404_and_changes_nothing,
    listing_pages_and_filters
);
