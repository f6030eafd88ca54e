//! Bad input gets a documented error and writes nothing.

use crate::harness::{imei, TestServer};
use lienlock_store_sql::testing::Backend;
use reqwest::Method;
use serde_json::{json, Value};

async fn devices(s: &TestServer, l: &crate::harness::TestLender) -> usize {
    let (_, list) = s.get(l, "/v1/devices").await;
    list["devices"].as_array().unwrap().len()
}

async fn bad_input_is_refused_and_writes_nothing(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;

    let code =
        |(status, body): (u16, Value)| (status, body["error"]["code"].as_str().map(str::to_owned));
    let e = |status: u16, c: &str| (status, Some(c.to_owned()));

    // A mistyped IMEI (wrong check digit), a short one, letters.
    let mut typo = imei(40).as_str().to_owned();
    let last = typo.pop().unwrap();
    typo.push(if last == '9' {
        '0'
    } else {
        char::from(last as u8 + 1)
    });
    for bad in [typo.as_str(), "12345", "35693803000abc1"] {
        let r = s.post(&acme, "/v1/devices", json!({"imei": bad})).await;
        assert_eq!(code(r.clone()), e(422, "invalid_imei"), "{bad}: {}", r.1);
        assert!(!r.1["error"]["message"].as_str().unwrap().is_empty());
    }
    // Same IMEI twice in one enrollment.
    let same = imei(41);
    let r = s
        .post(
            &acme,
            "/v1/devices",
            json!({"imei": same.as_str(), "imei2": same.as_str()}),
        )
        .await;
    assert_eq!(code(r), e(422, "invalid_request"));

    // Malformed JSON, wrong shapes, unknown fields, wrong content type.
    let raw = |body: &'static str, ctype: &'static str| {
        s.http
            .post(format!("{}/v1/devices", s.url))
            .bearer_auth(&acme.key)
            .header("content-type", ctype)
            .body(body)
    };
    for (body, ctype, expected) in [
        ("{\"imei\": ", "application/json", e(400, "malformed_json")),
        ("not json", "application/json", e(400, "malformed_json")),
        (
            "{\"imei\": 356938035643809}",
            "application/json",
            e(422, "invalid_request"),
        ),
        (
            "{\"imei\": \"356938035643809\", \"owner\": \"x\"}",
            "application/json",
            e(422, "invalid_request"),
        ),
        ("{}", "application/json", e(422, "invalid_request")),
        (
            "{\"imei\": \"356938035643809\"}",
            "text/plain",
            e(415, "unsupported_media_type"),
        ),
    ] {
        let resp = raw(body, ctype).send().await.unwrap();
        let status = resp.status().as_u16();
        let json: Value = resp.json().await.unwrap();
        assert_eq!(code((status, json.clone())), expected, "{body}: {json}");
    }

    // An oversized body, with and without a declared length.
    let huge = format!(
        "{{\"imei\": \"356938035643809\", \"model\": \"{}\"}}",
        "x".repeat(200_000)
    );
    let resp = s
        .http
        .post(format!("{}/v1/devices", s.url))
        .bearer_auth(&acme.key)
        .header("content-type", "application/json")
        .body(huge.clone())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    assert_eq!(
        code((status, resp.json().await.unwrap())),
        e(413, "payload_too_large")
    );
    let (status, body) = chunked_post(&s, &acme.key, &huge).await;
    assert_eq!(code((status, body)), e(413, "payload_too_large"));

    // A reason that is empty or too long, on a real device.
    let device = s.enroll(&acme, &imei(42)).await;
    let r = s
        .command(&acme, &device, "lock", json!({"reason": "  "}))
        .await;
    assert_eq!(code(r), e(422, "invalid_request"));
    let r = s
        .command(&acme, &device, "unlock", json!({"reason": "x"}))
        .await;
    assert_eq!(code(r), e(409, "not_locked"));
    let r = s
        .command(
            &acme,
            &device,
            "unlock",
            json!({"reason": "x", "at": "2030-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(code(r), e(422, "invalid_request"));

    // Nothing above wrote anything but the one enrollment.
    assert_eq!(devices(&s, &acme).await, 1);
    assert_eq!(s.timeline_kinds(&acme, &device).await, ["enrolled"]);
    s.stop().await;
}

/// POSTs `body` with chunked transfer encoding, so the server cannot refuse it by its
/// declared length and must count bytes as they arrive.
async fn chunked_post(s: &TestServer, key: &str, body: &str) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = s.url.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/devices HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.as_bytes().chunks(8192) {
        let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
        if conn.write_all(&framed).await.is_err() {
            break; // the server may answer and close before reading everything
        }
    }
    let _ = conn.write_all(b"0\r\n\r\n").await;
    let mut raw = Vec::new();
    let _ = conn.read_to_end(&mut raw).await;
    let text = String::from_utf8_lossy(&raw);
    let status = text[9..12].parse().unwrap();
    let json_start = text.find('{').unwrap();
    let json_end = text.rfind('}').unwrap();
    (
        status,
        serde_json::from_str(&text[json_start..=json_end]).unwrap(),
    )
}

async fn auth_and_routing_errors(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let device = s.enroll(&acme, &imei(50)).await;

    let (status, body) = s.call(None, Method::GET, "/v1/devices", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let forged = crate::harness::TestLender {
        key: format!("{}x", &acme.key[..acme.key.len() - 1]),
    };
    let (status, _) = s.get(&forged, "/v1/devices").await;
    assert_eq!(status, 401);
    let junk = crate::harness::TestLender {
        key: "llk_nonsense".into(),
    };
    let (status, _) = s.get(&junk, &format!("/v1/devices/{device}")).await;
    assert_eq!(status, 401);

    for path in [
        "/v1/devices/not-a-uuid",
        "/v1/devices/0190b4b0-0000-7000-8000-000000000000",
        "/v1/nothing",
    ] {
        let (status, body) = s.get(&acme, path).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (404, Some("not_found")),
            "{path}"
        );
    }
    let (status, body) = s
        .call(Some(&acme), Method::DELETE, "/v1/devices", None)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (405, Some("method_not_allowed"))
    );

    let (status, body) = s.call(None, Method::GET, "/healthz", None).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let (status, body) = s.call(None, Method::GET, "/readyz", None).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ready")));
    s.stop().await;
}

lienlock_store_sql::backend_tests!(
    bad_input_is_refused_and_writes_nothing,
    auth_and_routing_errors
);
