//! The OpenAPI document served at `/openapi.json`: it parses, it documents every lender,
//! public and device route the server answers (and nothing else), and its list of
//! operations is a snapshot, so a route added or dropped shows in review.

use crate::harness::TestServer;
use lienlock_server::routes::Access;
use lienlock_store_sql::testing::Backend;
use serde_json::Value;
use std::collections::BTreeSet;

/// "METHOD path" for every operation of the document.
fn operations(doc: &Value) -> BTreeSet<String> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            ops.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    ops
}

#[tokio::test]
async fn the_document_lists_every_api_route() {
    let Some(s) = TestServer::start(Backend::Sqlite).await else {
        return;
    };
    let resp = s
        .http
        .get(format!("{}/openapi.json", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let doc: Value = serde_json::from_str(&resp.text().await.unwrap()).expect("JSON");
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "lienlock");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let ops = operations(&doc);

    // Every route of the API (lender, public JSON, device) is documented ...
    let api: BTreeSet<String> = lienlock_server::routes::table()
        .into_iter()
        .filter(|r| {
            r.path.starts_with("/v1/") || r.path.starts_with("/device/v1/") || {
                matches!(r.access, Access::Public)
                    && !r.path.starts_with("/console")
                    && !r.path.starts_with("/assets/")
                    && r.path != "/check"
            }
        })
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    let missing: Vec<_> = api.difference(&ops).collect();
    assert!(
        missing.is_empty(),
        "routes not in the document: {missing:?}"
    );
    // ... and nothing else: no console page, no HTML, nothing the server does not answer.
    let extra: Vec<_> = ops.difference(&api).collect();
    assert!(extra.is_empty(), "documented but not routed: {extra:?}");
    for prefix in ["/v1/devices", "/v1/public/imei", "/device/v1/checkin"] {
        assert!(
            ops.iter().any(|o| o.contains(prefix)),
            "{prefix} not documented"
        );
    }
    assert!(!ops
        .iter()
        .any(|o| o.contains("/console") || o.ends_with(" /check")));

    // Lender routes need the API key; the public and device ones do not.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let lender = path.starts_with("/v1/") && !path.starts_with("/v1/public/");
            assert_eq!(
                op["security"].is_array(),
                lender,
                "{method} {path}: security"
            );
        }
    }

    insta::assert_snapshot!(
        "openapi_operations",
        ops.into_iter().collect::<Vec<_>>().join("\n")
    );
}
