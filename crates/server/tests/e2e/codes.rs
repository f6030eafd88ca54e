//! Offline unlock codes end to end: a payment's receipt carries a code, the borrower types
//! it on a locked phone with no connection and the phone unlocks; the code never works
//! twice; the next check-in reconciles it (no double credit: the server's lease rules
//! again); staff issue codes by hand, scoped to their lender.

use crate::harness::{imei, TestLender, TestServer};
use lienlock_agent::{Agent, CodeRefusal, Enforcement};
use lienlock_domain::{RestrictionLevel, Timestamp};
use lienlock_store_sql::testing::Backend;
use lienlock_wire::unlock_code::CodeError;
use serde_json::{json, Value};

const HOUR: i64 = 3_600_000;
/// 2026-03-02T09:00:00Z, a Monday; 12:00 in Nairobi.
const START: i64 = 1_772_442_000_000;

async fn contract_for(s: &TestServer, l: &TestLender, device: &str) {
    let (status, body) = s
        .post(
            l,
            "/v1/contracts",
            json!({
                "device_id": device,
                "reference": "LN-2001",
                "terms": {
                    "currency": "KES",
                    "financed": 300_000,
                    "down_payment": 50_000,
                    "schedule": {"monthly": {"first_due": "2026-03-10", "day_of_month": 10, "count": 3}},
                    "time_zone": "Africa/Nairobi"
                }
            }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

async fn pay(s: &TestServer, l: &TestLender, key: &str, body: &Value) -> (u16, Value) {
    let resp = s
        .http
        .post(format!("{}/v1/payments", s.url))
        .bearer_auth(&l.key)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

/// Walks the clock forward with the phone checking in until the policy restricts it.
async fn until_restricted(s: &TestServer, agent: &mut Agent) {
    for _ in 0..(60 * 4) {
        s.clock.advance_millis(6 * HOUR);
        s.service().evaluate_due_contracts(1000).await.unwrap();
        let out = agent.check_in().await.unwrap();
        let level = agent.held_lease().map(|l| l.profile.level());
        if level >= Some(RestrictionLevel::RestrictedApps) {
            assert!(out.enforcement.is_locked(), "{out:?}");
            return;
        }
    }
    panic!("an unpaid contract ends up restricted");
}

async fn a_code_from_the_receipt_unlocks_an_offline_phone_once(backend: Backend) {
    let Some(s) = TestServer::start_at(backend, Timestamp::from_millis(START)).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let (device, mut agent) = s.enrolled_phone(&acme, 70).await;
    contract_for(&s, &acme, &device).await;
    until_restricted(&s, &mut agent).await;

    // The phone loses its connection. The borrower pays at an agent's shop.
    let (_, status) = s
        .get(&acme, &format!("/v1/devices/{device}/contract"))
        .await;
    let overdue = status["standing"]["overdue_amount"].as_i64().unwrap();
    let payment = json!({"imei": imei(70).as_str(), "amount": overdue, "currency": "KES",
        "channel": "mpesa", "external_ref": "QZ1"});
    let (code, p) = pay(&s, &acme, "pay-1", &payment).await;
    assert_eq!(code, 201, "{p}");
    let receipt = &p["code"];
    assert_eq!(receipt["kind"], "unlock", "{p}");
    assert_eq!(receipt["format"], "lc1");
    assert_eq!(receipt["counter"], 1);
    // Next installment 2026-04-10, restrictions from 20 days overdue: covered to 04-29.
    assert_eq!(receipt["paid_until"], "2026-04-29", "{p}");
    let text = receipt["code"].as_str().unwrap().to_owned();
    assert_eq!(text.len(), 24, "20 digits in groups of four: {text}");

    // A retry of the same payment request gets the same code, not a new one.
    let (code, again) = pay(&s, &acme, "pay-1", &payment).await;
    assert_eq!(code, 200);
    assert_eq!(again["code"]["code"], receipt["code"]);

    // Offline, the phone takes the code and unlocks until the end of the paid-until date.
    let still_locked = agent.enforcement();
    assert!(still_locked.is_locked());
    let taken = agent.enter_code(&text).unwrap();
    assert_eq!(taken.grant.counter, 1);
    let runs_until = "2026-04-30T00:00:00Z"
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_millisecond();
    assert!(matches!(
        taken.enforcement,
        Enforcement::Run { code: Some(1), valid_until, .. } if valid_until.as_millis() == runs_until
    ));
    // Not twice, and not after a restart either.
    assert!(matches!(
        agent.enter_code(&text),
        Err(CodeRefusal::Invalid(CodeError::Reused { counter: 1 }))
    ));
    let dir = agent.layout().root().to_owned();
    drop(agent);
    let mut agent = lienlock_agent::Agent::open_existing(&dir, s.clock.clone()).unwrap();
    assert!(!agent.enforcement().is_locked());
    assert!(matches!(
        agent.enter_code(&text),
        Err(CodeRefusal::Invalid(CodeError::Reused { .. }))
    ));

    // Back online: the check-in reports the code; the server marks it redeemed and answers
    // with a lease that knows the payment, which now rules (the grant is not added on top).
    s.clock.advance_millis(HOUR);
    let out = agent.check_in().await.unwrap();
    let lease = agent.held_lease().unwrap().clone();
    assert_eq!(
        lease.codes_through, 1,
        "the lease voids the code it knows of"
    );
    assert!(
        matches!(out.enforcement, Enforcement::Run { code: None, valid_until, .. } if valid_until == lease.valid_until),
        "{out:?}"
    );
    let (_, codes) = s.get(&acme, &format!("/v1/devices/{device}/codes")).await;
    assert_eq!(codes.as_array().unwrap().len(), 1);
    assert!(codes[0]["redeemed_at"].is_string(), "{codes}");
    assert_eq!(codes[0]["payment_id"], p["id"]);
    let kinds = s.timeline_kinds(&acme, &device).await;
    for k in ["code_issued", "code_redeemed"] {
        assert_eq!(
            kinds.iter().filter(|x| *x == k).count(),
            1,
            "{k}: {kinds:?}"
        );
    }
    // A later check-in reports nothing more and records nothing more.
    agent.check_in().await.unwrap();
    let kinds = s.timeline_kinds(&acme, &device).await;
    assert_eq!(kinds.iter().filter(|x| *x == "code_redeemed").count(), 1);
    s.stop().await;
}

async fn staff_issue_codes_by_hand_for_their_own_devices_only(backend: Backend) {
    let Some(s) = TestServer::start_at(backend, Timestamp::from_millis(START)).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let other = s.lender("Other").await;
    let (device, mut agent) = s.enrolled_phone(&acme, 71).await;
    let path = format!("/v1/devices/{device}/codes");

    // Without a contract the date must be given.
    let (status, body) = s.post(&acme, &path, json!({"reason": "called in"})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("code_unavailable"))
    );
    // Bad input is refused and writes nothing.
    for bad in [
        json!({"reason": "x", "paid_until": "2020-01-01"}),
        json!({"reason": "x", "paid_until": "2030-01-01"}),
        json!({"reason": "", "paid_until": "2026-03-20"}),
        json!({"reason": "x", "paid_until": "2026-03-20", "kind": "release"}),
    ] {
        let (status, body) = s.post(&acme, &path, bad.clone()).await;
        assert_eq!(status, 422, "{bad} -> {body}");
    }
    let (status, _) = s
        .post(
            &acme,
            &path,
            json!({"reason": "x", "paid_until": "2026-03-20", "extra": 1}),
        )
        .await;
    assert_eq!(status, 422);
    // Another lender's device: 404, nothing written.
    let (status, _) = s
        .post(
            &other,
            &path,
            json!({"reason": "x", "paid_until": "2026-03-20"}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = s.get(&other, &path).await;
    assert_eq!(status, 404);
    let (_, codes) = s.get(&acme, &path).await;
    assert_eq!(codes.as_array().unwrap().len(), 0);

    let (status, issued) = s
        .post(
            &acme,
            &path,
            json!({"reason": "borrower paid cash, no data", "paid_until": "2026-03-20", "kind": "extend_until"}),
        )
        .await;
    assert_eq!(status, 201, "{issued}");
    assert_eq!(issued["counter"], 1);
    assert_eq!(issued["kind"], "extend_until");
    assert_eq!(issued["reason"], "borrower paid cash, no data");

    // The phone restores a counter within 32 of the last one it knows: a 33rd code before
    // it connects again would read as a wrong guess, so the server refuses to issue it.
    for n in 2..=32 {
        let (status, body) = s
            .post(
                &acme,
                &path,
                json!({"reason": "x", "paid_until": "2026-03-20"}),
            )
            .await;
        assert_eq!((status, body["counter"].as_u64()), (201, Some(n)), "{body}");
    }
    let (status, body) = s
        .post(
            &acme,
            &path,
            json!({"reason": "x", "paid_until": "2026-03-20"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("code_unavailable"))
    );
    // The latest of them works on the phone (32 above what it knows).
    let (_, codes) = s.get(&acme, &path).await;
    assert_eq!(codes[0]["counter"], 32);
    let latest = codes[0]["code"].as_str().unwrap().to_owned();

    // The phone is offline past its lease; a code keeps it running to the date.
    s.clock.advance_millis(8 * 24 * HOUR);
    assert!(agent.enforcement().is_locked());
    let taken = agent.enter_code(issued["code"].as_str().unwrap()).unwrap();
    assert!(!taken.enforcement.is_locked());
    assert_eq!(agent.enter_code(&latest).unwrap().grant.counter, 32);
    // Once it has connected, codes can be issued again.
    agent.check_in().await.unwrap();
    assert_eq!(agent.held_lease().unwrap().codes_through, 32);
    s.clock.advance_millis(1);
    let (status, body) = s
        .post(
            &acme,
            &path,
            json!({"reason": "x", "paid_until": "2026-03-20"}),
        )
        .await;
    assert_eq!(
        (status, body["counter"].as_u64()),
        (201, Some(33)),
        "{body}"
    );
    s.stop().await;
}

lienlock_store_sql::backend_tests!(
    a_code_from_the_receipt_unlocks_an_offline_phone_once,
    staff_issue_codes_by_hand_for_their_own_devices_only,
);
