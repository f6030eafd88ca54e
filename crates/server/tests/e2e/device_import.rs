//! `POST /v1/devices/import`: a CSV of phones, each row enrolled as `POST /v1/devices` would
//! enroll it, with a result per row; a file refused as a whole writes nothing.

use crate::harness::{imei, TestLender, TestServer};
use lienlock_domain::{LenderId, Role};
use lienlock_server::apikey;
use lienlock_store::ApiKeyRecord;
use lienlock_store_sql::testing::Backend;
use serde_json::{json, Value};

/// Sends `body` as an upload with this content type.
async fn upload(
    s: &TestServer,
    lender: &TestLender,
    content_type: &str,
    body: String,
) -> (u16, Value) {
    let resp = s
        .http
        .post(format!("{}/v1/devices/import", s.url))
        .bearer_auth(&lender.key)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn csv(s: &TestServer, lender: &TestLender, body: &str) -> (u16, Value) {
    upload(s, lender, "text/csv", body.to_owned()).await
}

/// A second key of `lender` with `role`.
async fn key_with_role(s: &TestServer, lender: &TestLender, role: Role) -> TestLender {
    let (_, me) = s.get(lender, "/v1/lender").await;
    let lender_id: LenderId = me["id"].as_str().unwrap().parse().unwrap();
    let service = s.service();
    let minted = apikey::mint(service.secret());
    service
        .store()
        .add_api_key(&ApiKeyRecord {
            id: minted.id,
            lender_id,
            role,
            label: role.as_str().into(),
            secret_hmac: minted.secret_hmac,
            created_at: service.clock().now(),
            revoked_at: None,
        })
        .await
        .unwrap();
    TestLender {
        key: minted.plaintext.to_string(),
    }
}

async fn device_count(s: &TestServer, lender: &TestLender) -> usize {
    let (status, body) = s.get(lender, "/v1/devices?limit=500").await;
    assert_eq!(status, 200, "{body}");
    body["devices"].as_array().unwrap().len()
}

fn statuses(report: &Value) -> Vec<(u64, String)> {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn counts(report: &Value) -> [u64; 4] {
    ["total", "enrolled", "already_enrolled", "errors"].map(|k| report[k].as_u64().unwrap())
}

async fn rows_are_enrolled_one_by_one_and_again_safely(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let rival = s.lender("Rival Credit").await;
    s.enroll(&rival, &imei(31)).await;
    let (_, single) = s
        .post(&acme, "/v1/devices", json!({"imei": imei(31).as_str()}))
        .await;
    let taken_wording = single["error"]["message"].as_str().unwrap().to_owned();

    // Columns in their own order and case, a BOM, CRLF, quoted fields, a blank line.
    let file = format!(
        "\u{feff}IMEI,model,Serial,imei2\r\n\
         {a},A15,SN-1,\r\n\
         12345,A15,,\r\n\
         {rival},,,\r\n\
         \r\n\
         \"{b}\",\"Galaxy \"\"A\"\"\",\"SN, 2\",{b2}\r\n\
         {c},A15\r\n\
         {d},,,{d}\r\n",
        a = imei(30).as_str(),
        rival = imei(31).as_str(),
        b = imei(32).as_str(),
        b2 = imei(33).as_str(),
        c = imei(34).as_str(),
        d = imei(35).as_str(),
    );
    let (status, report) = csv(&s, &acme, &file).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(counts(&report), [6, 2, 0, 4], "{report}");
    let expected = [
        (2, "enrolled"),
        (3, "error"),
        (4, "error"),
        (6, "enrolled"),
        (7, "error"),
        (8, "error"),
    ];
    assert_eq!(
        statuses(&report),
        expected.map(|(l, st)| (l, st.to_owned())),
        "{report}"
    );
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows[0]["imei"], imei(30).as_str());
    assert_eq!(rows[1]["imei"], "12345");
    assert!(
        rows[1]["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid IMEI: "),
        "{report}"
    );
    // Another lender's phone: the single enrollment's words, and no lender named.
    assert_eq!(rows[2]["error"], taken_wording.as_str());
    assert!(!report.to_string().contains("Rival"), "{report}");
    assert!(rows[2].get("device_id").is_none(), "{report}");
    assert_eq!(rows[4]["error"], "2 fields, the header has 4");
    assert_eq!(rows[5]["error"], "invalid imei2: must differ from imei");

    let first = rows[0]["device_id"].as_str().unwrap().to_owned();
    let second = rows[3]["device_id"].as_str().unwrap().to_owned();
    let (_, device) = s.get(&acme, &format!("/v1/devices/{second}")).await;
    assert_eq!(
        (
            &device["imei"],
            &device["imei2"],
            &device["serial"],
            &device["model"]
        ),
        (
            &json!(imei(32).as_str()),
            &json!(imei(33).as_str()),
            &json!("SN, 2"),
            &json!("Galaxy \"A\"")
        )
    );
    for id in [&first, &second] {
        assert_eq!(s.timeline_kinds(&acme, id).await, ["enrolled"]);
    }
    assert_eq!(device_count(&s, &acme).await, 2);

    // The same file again enrolls nothing and names the devices it found.
    let (status, again) = csv(&s, &acme, &file).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(counts(&again), [6, 0, 2, 4], "{again}");
    let again_rows = again["rows"].as_array().unwrap();
    assert_eq!(again_rows[0]["status"], "already_enrolled");
    assert_eq!(again_rows[0]["device_id"], first.as_str());
    assert_eq!(again_rows[3]["device_id"], second.as_str());
    assert_eq!(again_rows[2]["error"], taken_wording.as_str());
    assert_eq!(device_count(&s, &acme).await, 2);
    for id in [&first, &second] {
        assert_eq!(s.timeline_kinds(&acme, id).await, ["enrolled"]);
    }

    // A released phone can be enrolled again, by import as by the single enrollment.
    let (status, _) = s
        .command(&acme, &first, "release", json!({"reason": "paid off"}))
        .await;
    assert_eq!(status, 200);
    let (_, third) = csv(&s, &acme, &format!("imei\n{}\n", imei(30).as_str())).await;
    assert_eq!(statuses(&third), [(2, "enrolled".to_owned())], "{third}");
    assert_ne!(third["rows"][0]["device_id"], first.as_str());
    s.stop().await;
}

async fn refused_files_write_nothing(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let good = format!("imei\n{}\n", imei(40).as_str());

    for role in [Role::Auditor, Role::Collections, Role::Support] {
        let key = key_with_role(&s, &acme, role).await;
        let (status, body) = csv(&s, &key, &good).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (403, Some("forbidden")),
            "{role:?}: {body}"
        );
    }

    let (status, body) = csv(&s, &acme, &format!("{good}\"{}\n", imei(41).as_str())).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("malformed_csv")),
        "{body}"
    );
    assert_eq!(
        body["error"]["message"],
        "malformed CSV: line 3: a quoted field is not closed"
    );

    for (file, why) in [
        (
            "serial,model\nSN-1,A15\n".to_owned(),
            "invalid CSV: no imei column",
        ),
        (
            format!("imei,colour\n{},red\n", imei(40).as_str()),
            "unknown column \"colour\" (column 2)",
        ),
        (String::new(), "the file is empty"),
        (
            format!(
                "imei\n{}",
                format!("{}\n", imei(40).as_str()).repeat(10_001)
            ),
            "10001 rows; at most 10000 rows per upload",
        ),
    ] {
        let (status, body) = csv(&s, &acme, &file).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (422, Some("invalid_csv")),
            "{body}"
        );
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(why), "{message}");
    }

    // Not UTF-8: refused with its line.
    let resp = s
        .http
        .post(format!("{}/v1/devices/import", s.url))
        .bearer_auth(&acme.key)
        .header("content-type", "text/csv")
        .body(b"imei,model\n356938035643809,Caf\xe9\n".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 2: not UTF-8"),
        "{body}"
    );

    for content_type in ["application/json", "text/plain", "text/csv; charset=latin1"] {
        let (status, body) = upload(&s, &acme, content_type, good.clone()).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (415, Some("unsupported_media_type")),
            "{content_type}: {body}"
        );
    }
    let (status, body) = s
        .post(
            &acme,
            "/v1/devices/import",
            json!({"imei": imei(40).as_str()}),
        )
        .await;
    assert_eq!(status, 415, "{body}");

    // Past the route's own limit (2 MiB).
    let huge = format!(
        "imei,model\n{}",
        format!("{},{}\n", imei(40).as_str(), "m".repeat(120)).repeat(16_000)
    );
    let (status, body) = csv(&s, &acme, &huge).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (413, Some("payload_too_large")),
        "{body}"
    );

    let (status, _) = s
        .call(None, reqwest::Method::POST, "/v1/devices/import", None)
        .await;
    assert_eq!(status, 401);
    assert_eq!(device_count(&s, &acme).await, 0);

    // An upload larger than the JSON limit is taken.
    let rows: String = (0..800)
        .map(|n| {
            format!(
                "{},Model {n:03} {}\n",
                imei(100_000 + n).as_str(),
                "x".repeat(80)
            )
        })
        .collect();
    assert!(rows.len() > lienlock_server::extract::BODY_LIMIT);
    let (status, body) = csv(&s, &acme, &format!("imei,model\n{rows}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(counts(&body), [800, 800, 0, 0]);
    s.stop().await;
}

lienlock_store_sql::backend_tests!(
    rows_are_enrolled_one_by_one_and_again_safely,
    refused_files_write_nothing
);
