//! Contracts, payments and automatic enforcement, end to end: a borrower falls behind, is
//! reminded, warned, restricted by the rules, unlocked by paying, and freed by the final
//! installment, with real agents checking in and a clock the test moves.

use crate::harness::{imei, TestLender, TestServer};
use lienlock_agent::{Agent, Enforcement};
use lienlock_domain::{Clock, Currency, Money, RestrictionLevel, Timestamp};
use lienlock_store_sql::testing::Backend;
use serde_json::{json, Value};

const HOUR: i64 = 3_600_000;
/// 2026-03-02T09:00:00Z, a Monday; 12:00 in Nairobi.
const START: i64 = 1_772_442_000_000;

async fn contract_for(s: &TestServer, l: &TestLender, device: &str) -> Value {
    let (status, body) = s
        .post(
            l,
            "/v1/contracts",
            json!({
                "device_id": device,
                "reference": "LN-1001",
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
    body
}

async fn pay(s: &TestServer, l: &TestLender, key: &str, body: Value) -> (u16, Value) {
    let resp = s
        .http
        .post(format!("{}/v1/payments", s.url))
        .bearer_auth(&l.key)
        .header("Idempotency-Key", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

/// Lets the scheduler's work happen now: the same pass the background scheduler runs.
async fn tick(s: &TestServer) {
    s.service().evaluate_due_contracts(1000).await.unwrap();
}

/// The automatic level the phone enforces, from what it holds.
fn level(agent: &Agent) -> RestrictionLevel {
    agent
        .held_lease()
        .map(|l| l.profile.level())
        .unwrap_or(RestrictionLevel::FullLock)
}

async fn borrower_falls_behind_is_warned_locked_unlocked_and_freed(backend: Backend) {
    let Some(s) = TestServer::start_at(backend, Timestamp::from_millis(START)).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let (device, mut agent) = s.enrolled_phone(&acme, 60).await;
    let contract = contract_for(&s, &acme, &device).await;
    assert_eq!(contract["amount_owed"], 300_000);
    assert_eq!(contract["installments"].as_array().unwrap().len(), 3);

    // Walk forward two hours at a time; the phone checks in every step.
    let mut lock_notice_acked_at: Option<i64> = None;
    let mut first_lock: Option<(i64, RestrictionLevel)> = None;
    let mut seen_reminder = false;
    for _ in 0..(45 * 12) {
        s.clock.advance_millis(2 * HOUR);
        tick(&s).await;
        let had_lock_notice = agent
            .held_lease()
            .is_some_and(|l| l.notices.iter().any(|n| n.kind == "lock_notice"));
        let out = agent.check_in().await.unwrap();
        let now = s.clock.now().as_millis();
        if had_lock_notice && lock_notice_acked_at.is_none() {
            // This check-in carried the acknowledgement.
            lock_notice_acked_at = Some(now);
        }
        seen_reminder |= agent
            .held_lease()
            .is_some_and(|l| l.notices.iter().any(|n| n.kind.ends_with("reminder")));
        let lvl = level(&agent);
        if lvl >= RestrictionLevel::RestrictedApps && first_lock.is_none() {
            first_lock = Some((now, lvl));
            assert!(out.enforcement.is_locked(), "{out:?}");
        }
        if first_lock.is_some() {
            break;
        }
    }
    assert!(
        seen_reminder,
        "the borrower was reminded before anything else"
    );
    let (locked_at, lvl) = first_lock.expect("an unpaid contract ends up restricted");
    assert_eq!(
        lvl,
        RestrictionLevel::RestrictedApps,
        "restrictions are graduated"
    );
    let acked = lock_notice_acked_at.expect("a lock notice was delivered first");
    assert!(
        locked_at - acked >= 48 * HOUR,
        "48 h between delivered notice and lock"
    );
    // 20 days overdue at least: the first installment was due 2026-03-10 in Nairobi, so day
    // 20 begins 2026-03-30 00:00 local, 2026-03-29 21:00 UTC.
    let day_20 = "2026-03-29T21:00:00Z"
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_millisecond();
    assert!(
        locked_at >= day_20,
        "locked at {locked_at}, day 20 starts {day_20}"
    );
    // Not inside quiet hours (20:00-08:00 in Nairobi, UTC+3): the lock began at a step
    // whose local hour is 08..20 (or within the two-hour step after a check).
    let local_hour = ((locked_at / HOUR) + 3).rem_euclid(24);
    assert!(
        (8..=21).contains(&local_hour),
        "lock started at local hour {local_hour}"
    );

    // The borrower pays what is overdue: the next contact lifts the restriction.
    let (_, status) = s
        .get(&acme, &format!("/v1/devices/{device}/contract"))
        .await;
    let overdue = status["standing"]["overdue_amount"].as_i64().unwrap();
    assert!(overdue > 0);
    let (code, p) = pay(
        &s,
        &acme,
        "pay-1",
        json!({"imei": imei(60).as_str(), "amount": overdue, "currency": "KES", "channel": "mpesa", "external_ref": "QX1"}),
    )
    .await;
    assert_eq!(code, 201, "{p}");
    assert_eq!(p["matched"], true);
    tick(&s).await;
    let out = agent.check_in().await.unwrap();
    assert!(
        matches!(out.enforcement, Enforcement::Run { .. }),
        "{out:?}"
    );
    assert!(level(&agent) <= RestrictionLevel::Reminder);

    // The same request again is answered from the ledger, not paid twice.
    let (code, again) = pay(
        &s,
        &acme,
        "pay-1",
        json!({"imei": imei(60).as_str(), "amount": overdue, "currency": "KES", "channel": "mpesa", "external_ref": "QX1"}),
    )
    .await;
    assert_eq!((code, &again["id"]), (200, &p["id"]));

    // The final payment frees the phone for good.
    let (_, status) = s
        .get(&acme, &format!("/v1/devices/{device}/contract"))
        .await;
    let rest = status["amount_owed"].as_i64().unwrap()
        - status["standing"]["total_paid"].as_i64().unwrap();
    let (code, _) = pay(
        &s,
        &acme,
        "pay-2",
        json!({"reference": "LN-1001", "amount": rest, "currency": "KES"}),
    )
    .await;
    assert_eq!(code, 201);
    tick(&s).await;
    let out = agent.check_in().await.unwrap();
    assert_eq!(out.enforcement, Enforcement::Free);
    let (_, status) = s
        .get(&acme, &format!("/v1/devices/{device}/contract"))
        .await;
    assert_eq!(status["state"], "paid_off");
    let kinds = s.timeline_kinds(&acme, &device).await;
    for k in [
        "contract_created",
        "notice_queued",
        "notice_delivered",
        "restriction_changed",
        "payment_recorded",
        "contract_paid_off",
        "released",
    ] {
        assert!(kinds.iter().any(|x| x == k), "{k} missing from {kinds:?}");
    }
    s.stop().await;
}

async fn payments_are_recorded_once_and_unmatched_ones_kept(backend: Backend) {
    let Some(s) = TestServer::start_at(backend, Timestamp::from_millis(START)).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let (device, _agent) = s.enrolled_phone(&acme, 61).await;
    let contract = contract_for(&s, &acme, &device).await;
    let contract_id = contract["id"].as_str().unwrap();

    let body = json!({"contract_id": contract_id, "amount": 50_000, "currency": "KES"});
    let (c1, p1) = pay(&s, &acme, "k1", body.clone()).await;
    let (c2, p2) = pay(&s, &acme, "k1", body).await;
    assert_eq!((c1, c2), (201, 200));
    assert_eq!(p1["id"], p2["id"]);
    let (c3, e) = pay(
        &s,
        &acme,
        "k1",
        json!({"contract_id": contract_id, "amount": 1, "currency": "KES"}),
    )
    .await;
    assert_eq!(
        (c3, e["error"]["code"].as_str()),
        (409, Some("idempotency_key_reused"))
    );
    let (c4, e) = pay(
        &s,
        &acme,
        "k9",
        json!({"contract_id": contract_id, "amount": 100, "currency": "USD"}),
    )
    .await;
    assert_eq!(
        (c4, e["error"]["code"].as_str()),
        (422, Some("invalid_request"))
    );

    // Nobody's IMEI: kept as unmatched, then assigned.
    let (c5, u) = pay(
        &s,
        &acme,
        "k2",
        json!({"imei": imei(99).as_str(), "amount": 20_000, "currency": "KES"}),
    )
    .await;
    assert_eq!((c5, u["matched"].as_bool()), (201, Some(false)));
    let (_, list) = s.get(&acme, "/v1/payments/unmatched").await;
    assert_eq!(list["payments"][0]["id"], u["id"]);
    let (c6, assigned) = s
        .post(
            &acme,
            &format!("/v1/payments/{}/assign", u["id"].as_str().unwrap()),
            json!({"contract_id": contract_id}),
        )
        .await;
    assert_eq!((c6, assigned["matched"].as_bool()), (200, Some(true)));
    let (_, list) = s.get(&acme, "/v1/payments/unmatched").await;
    assert_eq!(list["payments"].as_array().unwrap().len(), 0);

    // A reversal is its own entry and re-opens what the payment covered.
    let (c7, r) = s
        .post(
            &acme,
            &format!("/v1/payments/{}/reverse", p1["id"].as_str().unwrap()),
            json!({"reason": "chargeback"}),
        )
        .await;
    assert_eq!((c7, r["kind"].as_str()), (201, Some("reversal")));
    let (c8, e) = s
        .post(
            &acme,
            &format!("/v1/payments/{}/reverse", p1["id"].as_str().unwrap()),
            json!({"reason": "again"}),
        )
        .await;
    assert_eq!(
        (c8, e["error"]["code"].as_str()),
        (422, Some("ledger_refused"))
    );
    let (_, status) = s.get(&acme, &format!("/v1/contracts/{contract_id}")).await;
    assert_eq!(status["standing"]["total_paid"], 20_000);

    // Another lender sees none of it.
    let rival = s.lender("Rival").await;
    let (c9, _) = s.get(&rival, &format!("/v1/contracts/{contract_id}")).await;
    assert_eq!(c9, 404);
    let (_, list) = s.get(&rival, "/v1/payments/unmatched").await;
    assert_eq!(list["payments"].as_array().unwrap().len(), 0);
    s.stop().await;
}

/// Steps time two hours at a time, the phone checking in each step, until the policy
/// restricts it. Returns when (server time).
async fn run_until_restricted(s: &TestServer, agent: &mut Agent) -> i64 {
    for _ in 0..(60 * 12) {
        s.clock.advance_millis(2 * HOUR);
        tick(s).await;
        agent.check_in().await.unwrap();
        if level(agent) >= RestrictionLevel::RestrictedApps {
            return s.clock.now().as_millis();
        }
    }
    panic!("never restricted");
}

/// Steps `hours` forward two hours at a time with check-ins; returns the highest level seen.
async fn run_for(s: &TestServer, agent: &mut Agent, hours: i64) -> RestrictionLevel {
    let mut highest = RestrictionLevel::None;
    for _ in 0..hours / 2 {
        s.clock.advance_millis(2 * HOUR);
        tick(s).await;
        agent.check_in().await.unwrap();
        highest = highest.max(level(agent));
    }
    highest
}

async fn disputes_hold_locks_and_temporary_unlocks_lift_them(backend: Backend) {
    let Some(s) = TestServer::start_at(backend, Timestamp::from_millis(START)).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let (device, mut agent) = s.enrolled_phone(&acme, 62).await;
    contract_for(&s, &acme, &device).await;
    run_until_restricted(&s, &mut agent).await;

    // Support opens a dispute for the borrower ("I paid") with a two-day unlock.
    let until = jiff::Timestamp::from_millisecond(s.clock.now().as_millis() + 48 * HOUR).unwrap();
    let (code, d) = s
        .post(
            &acme,
            &format!("/v1/devices/{device}/disputes"),
            json!({"reason": "I paid: receipt MP-7781", "temporary_unlock_until": until.to_string()}),
        )
        .await;
    assert_eq!(code, 201, "{d}");
    tick(&s).await;
    agent.check_in().await.unwrap();
    assert!(
        level(&agent) <= RestrictionLevel::Reminder,
        "unlocked at once"
    );
    // While the dispute stays open nothing restricts the phone again, unlock over or not.
    assert!(run_for(&s, &mut agent, 5 * 24).await < RestrictionLevel::RestrictedApps);

    // Support closes it (the receipt was not found): the rules apply again.
    let id = d["id"].as_str().unwrap();
    let (code, _) = s
        .post(
            &acme,
            &format!("/v1/disputes/{id}/close"),
            json!({"resolution": "no such receipt"}),
        )
        .await;
    assert_eq!(code, 200);
    let (code, e) = s
        .post(
            &acme,
            &format!("/v1/disputes/{id}/close"),
            json!({"resolution": "again"}),
        )
        .await;
    assert_eq!(
        (code, e["error"]["code"].as_str()),
        (409, Some("dispute_closed"))
    );
    assert!(run_for(&s, &mut agent, 3 * 24).await >= RestrictionLevel::RestrictedApps);
    let kinds = s.timeline_kinds(&acme, &device).await;
    assert!(kinds.iter().any(|k| k == "dispute_opened"));
    assert!(kinds.iter().any(|k| k == "dispute_closed"));
    s.stop().await;
}

async fn the_borrower_disputes_from_the_phone(backend: Backend) {
    let Some(s) = TestServer::start_at(backend, Timestamp::from_millis(START)).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let (device, mut agent) = s.enrolled_phone(&acme, 64).await;
    contract_for(&s, &acme, &device).await;
    // Overdue and warned, but not yet restricted: the borrower disputes from the phone.
    for _ in 0..(20 * 12) {
        s.clock.advance_millis(2 * HOUR);
        tick(&s).await;
        agent.check_in().await.unwrap();
        if agent
            .held_lease()
            .is_some_and(|l| l.notices.iter().any(|n| n.kind == "lock_notice"))
        {
            break;
        }
    }
    let ack = agent.open_dispute("I paid: receipt MP-9001").await.unwrap();
    // Asking again returns the open dispute rather than a second one.
    let again = agent.open_dispute("I paid!!").await.unwrap();
    assert_eq!(ack.dispute_id, again.dispute_id);
    let (_, list) = s
        .get(&acme, &format!("/v1/devices/{device}/disputes"))
        .await;
    assert_eq!(list[0]["opened_by"], "device");
    assert_eq!(list[0]["reason"], "I paid: receipt MP-9001");
    // While it is open nothing restricts the phone, however long it stays unpaid.
    assert!(run_for(&s, &mut agent, 20 * 24).await < RestrictionLevel::RestrictedApps);

    // A key that is not the bound one cannot dispute for the borrower.
    let mut stranger = s.agent(&s.phone_dir("stranger"), &imei(64));
    match stranger.open_dispute("mine").await {
        Err(lienlock_agent::AgentError::Server { status: 401, .. }) => {}
        other => panic!("expected 401, got {other:?}"),
    }
    s.stop().await;
}

async fn lending_policy_is_never_looser_than_its_profile(backend: Backend) {
    let Some(s) = TestServer::start_at(backend, Timestamp::from_millis(START)).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let (_, p) = s.get(&acme, "/v1/lender/policy").await;
    assert_eq!(p["profile"], "default");
    let req = |body: Value| {
        s.http
            .put(format!("{}/v1/lender/policy", s.url))
            .bearer_auth(&acme.key)
            .json(&body)
            .send()
    };
    let resp = req(json!({"profile": "in-rbi-2026-draft"})).await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let rbi: Value = resp.json().await.unwrap();
    assert_eq!(rbi["settings"]["restricted_apps_after_days"], 90);
    assert_eq!(rbi["max_unlock_delay_secs"], 3600);

    let mut looser = rbi["settings"].clone();
    looser["restricted_apps_after_days"] = json!(30);
    let resp = req(json!({"profile": "in-rbi-2026-draft", "settings": looser}))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 422);
    let e: Value = resp.json().await.unwrap();
    assert_eq!(e["error"]["code"], "policy_not_allowed");
    let resp = req(json!({"profile": "lenient"})).await.unwrap();
    assert_eq!(resp.status().as_u16(), 422);

    // Nor may one contract be looser than the profile.
    let (device, _agent) = s.enrolled_phone(&acme, 63).await;
    let (code, e) = s
        .post(
            &acme,
            "/v1/contracts",
            json!({
                "device_id": device,
                "terms": {"currency": "INR", "financed": 1_200_000,
                          "schedule": {"weekly": {"first_due": "2026-03-10", "count": 10}},
                          "time_zone": "Asia/Kolkata"},
                "policy": {"full_lock_after_days": 45}
            }),
        )
        .await;
    assert_eq!(
        (code, e["error"]["code"].as_str()),
        (422, Some("policy_not_allowed")),
        "{e}"
    );
    let (_, p) = s.get(&acme, "/v1/lender/policy").await;
    assert_eq!(p["profile"], "in-rbi-2026-draft");
    s.stop().await;
}

/// What the lock screen of the lease `agent` holds says is overdue.
fn amount_due(agent: &Agent) -> String {
    agent
        .held_lease()
        .map(|l| l.lock_screen.amount_due.clone())
        .expect("the phone holds a lease")
}

async fn the_lock_screen_shows_what_is_overdue_until_it_is_paid(backend: Backend) {
    let Some(s) = TestServer::start_at(backend, Timestamp::from_millis(START)).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let (device, mut agent) = s.enrolled_phone(&acme, 61).await;
    contract_for(&s, &acme, &device).await;
    agent.check_in().await.unwrap();
    assert_eq!(amount_due(&agent), "", "nothing is due yet");
    // A second borrower on the same terms, whom the lender releases while in arrears.
    let (other, mut other_agent) = s.enrolled_phone(&acme, 62).await;
    let (code, body) = s
        .post(
            &acme,
            "/v1/contracts",
            json!({
                "device_id": other,
                "reference": "LN-1002",
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
    assert_eq!(code, 201, "{body}");

    // A day at a time to 2026-04-12 in Nairobi: the installments of 10 March and 10 April
    // are both overdue, and the phone checked in every day.
    for _ in 0..41 {
        s.clock.advance_millis(24 * HOUR);
        tick(&s).await;
        agent.check_in().await.unwrap();
        other_agent.check_in().await.unwrap();
    }
    let (_, status) = s
        .get(&acme, &format!("/v1/devices/{device}/contract"))
        .await;
    let overdue = status["standing"]["overdue_amount"].as_i64().unwrap();
    let installments = status["installments"].as_array().unwrap();
    let first_two: i64 = installments[..2]
        .iter()
        .map(|i| i["amount"].as_i64().unwrap())
        .sum();
    assert_eq!(overdue, first_two, "{status}");
    assert_eq!(
        amount_due(&agent),
        Money::new(Currency::parse("KES").unwrap(), overdue).grouped()
    );
    assert_eq!(amount_due(&agent), "KES 2,000.00");
    // The device row keeps it, dated from the oldest overdue installment's due date: the
    // start of 10 March in Nairobi.
    let row = s
        .service()
        .store()
        .device_unscoped(device.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let arrears = row.arrears.expect("the device row has the arrears");
    assert_eq!(arrears.amount.minor(), overdue);
    assert_eq!(
        arrears.since,
        Timestamp::from_millis(
            "2026-03-09T21:00:00Z"
                .parse::<jiff::Timestamp>()
                .unwrap()
                .as_millisecond()
        )
    );

    // Part of it paid: the next lease shows the rest.
    let (code, p) = pay(
        &s,
        &acme,
        "part",
        json!({"imei": imei(61).as_str(), "amount": 100_000, "currency": "KES"}),
    )
    .await;
    assert_eq!(code, 201, "{p}");
    tick(&s).await;
    agent.check_in().await.unwrap();
    assert_eq!(amount_due(&agent), "KES 1,000.00");

    // The rest paid: nothing is overdue, and the lock screen says nothing is due.
    let (code, p) = pay(
        &s,
        &acme,
        "rest",
        json!({"imei": imei(61).as_str(), "amount": overdue - 100_000, "currency": "KES"}),
    )
    .await;
    assert_eq!(code, 201, "{p}");
    tick(&s).await;
    agent.check_in().await.unwrap();
    assert_eq!(amount_due(&agent), "");
    let row = s
        .service()
        .store()
        .device_unscoped(device.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.arrears, None);

    // A released phone owes nothing it could be held for: its lock screen shows no amount.
    assert_eq!(amount_due(&other_agent), "KES 2,000.00");
    let (code, body) = s
        .command(&acme, &other, "release", json!({"reason": "settled"}))
        .await;
    assert_eq!(code, 200, "{body}");
    let out = other_agent.check_in().await.unwrap();
    assert_eq!(out.enforcement, Enforcement::Free);
    assert_eq!(amount_due(&other_agent), "");
    s.stop().await;
}

lienlock_store_sql::backend_tests!(
    the_lock_screen_shows_what_is_overdue_until_it_is_paid,
    borrower_falls_behind_is_warned_locked_unlocked_and_freed,
    payments_are_recorded_once_and_unmatched_ones_kept,
    disputes_hold_locks_and_temporary_unlocks_lift_them,
    lending_policy_is_never_looser_than_its_profile,
    the_borrower_disputes_from_the_phone,
);
