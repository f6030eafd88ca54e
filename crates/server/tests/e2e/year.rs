//! A simulated year: three borrowers with real agents, a clock moved eight hours at a time,
//! and every automatic lock, unlock and release checked against the rules as it happens.

use crate::harness::{imei, TestLender, TestServer};
use lienlock_agent::{Agent, Enforcement};
use lienlock_domain::{Clock, RestrictionLevel, Timestamp};
use lienlock_store_sql::testing::Backend;
use serde_json::{json, Value};

const HOUR: i64 = 3_600_000;
/// 2026-03-02T09:00:00Z (12:00 in Nairobi, UTC+3 all year).
const START: i64 = 1_772_442_000_000;
const INSTALLMENT: i64 = 100_000;

/// How a borrower pays.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Habit {
    /// Pays each installment on its due date.
    OnTime,
    /// Pays only once the phone is restricted, then everything overdue.
    WhenLocked,
    /// Never pays.
    Never,
}

struct Borrower {
    habit: Habit,
    device: String,
    agent: Agent,
    imei: String,
    /// Server time of the check-in that acknowledged the first lock notice of the current
    /// arrears episode.
    notice_acked_at: Option<i64>,
    level: RestrictionLevel,
    released: bool,
    paid: i64,
    locks: u32,
    unlocks: u32,
}

async fn setup(s: &TestServer, l: &TestLender, n: u32, habit: Habit) -> Borrower {
    let (device, agent) = s.enrolled_phone(l, n).await;
    let (status, body) = s
        .post(
            l,
            "/v1/contracts",
            json!({
                "device_id": device,
                "terms": {
                    "currency": "KES",
                    "financed": 12 * INSTALLMENT,
                    "schedule": {"monthly": {"first_due": "2026-03-10", "day_of_month": 10, "count": 12}},
                    "time_zone": "Africa/Nairobi"
                }
            }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    Borrower {
        habit,
        device,
        agent,
        imei: imei(n).as_str().to_owned(),
        notice_acked_at: None,
        level: RestrictionLevel::None,
        released: false,
        paid: 0,
        locks: 0,
        unlocks: 0,
    }
}

async fn contract(s: &TestServer, l: &TestLender, device: &str) -> Value {
    s.get(l, &format!("/v1/devices/{device}/contract")).await.1
}

async fn pay(s: &TestServer, l: &TestLender, b: &mut Borrower, amount: i64, n: u32) {
    let resp = s
        .http
        .post(format!("{}/v1/payments", s.url))
        .bearer_auth(&l.key)
        .header("Idempotency-Key", format!("{}-{n}", b.imei))
        .json(&json!({"imei": b.imei, "amount": amount, "currency": "KES"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    b.paid += amount;
}

fn local_hour(t: i64) -> i64 {
    (t / HOUR + 3).rem_euclid(24)
}

async fn a_year_of_three_borrowers(backend: Backend) {
    let Some(s) = TestServer::start_at(backend, Timestamp::from_millis(START)).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let mut borrowers = Vec::new();
    for (n, habit) in [
        (70, Habit::OnTime),
        (71, Habit::WhenLocked),
        (72, Habit::Never),
    ] {
        borrowers.push(setup(&s, &acme, n, habit).await);
    }
    let mut payment_no = 0;
    for _ in 0..(366 * 3) {
        s.clock.advance_millis(8 * HOUR);
        let now = s.clock.now().as_millis();
        s.service().evaluate_due_contracts(1000).await.unwrap();
        for b in &mut borrowers {
            if b.released {
                assert_eq!(b.agent.enforcement(), Enforcement::Free);
                continue;
            }
            // The on-time borrower pays each installment on its due date (local noon).
            if b.habit == Habit::OnTime && local_hour(now) == 12 {
                let c = contract(&s, &acme, &b.device).await;
                if c["standing"]["next_due"].as_str() == Some(&today_local(now)) {
                    payment_no += 1;
                    pay(&s, &acme, b, INSTALLMENT, payment_no).await;
                    s.service().evaluate_due_contracts(1000).await.unwrap();
                }
            }
            let had_lock_notice = b
                .agent
                .held_lease()
                .is_some_and(|l| l.notices.iter().any(|n| n.kind.contains("lock_notice")));
            let out = b.agent.check_in().await.unwrap();
            if had_lock_notice && b.notice_acked_at.is_none() {
                b.notice_acked_at = Some(now);
            }
            if out.enforcement == Enforcement::Free {
                b.released = true;
                let c = contract(&s, &acme, &b.device).await;
                assert_eq!(c["state"], "paid_off", "released only when paid off");
                assert_eq!(b.paid, 12 * INSTALLMENT);
                continue;
            }
            let level = b.agent.held_lease().unwrap().profile.level();
            if level >= RestrictionLevel::RestrictedApps
                && b.level < RestrictionLevel::RestrictedApps
            {
                b.locks += 1;
                // The rules for starting a lock.
                assert_ne!(
                    b.habit,
                    Habit::OnTime,
                    "a borrower who pays on time is never locked"
                );
                let acked = b
                    .notice_acked_at
                    .expect("a lock notice was delivered before the lock");
                assert!(
                    now - acked >= 48 * HOUR,
                    "48 h from delivered notice to lock"
                );
                let h = local_hour(now);
                assert!(
                    (8..20).contains(&h),
                    "no lock starts in quiet hours (local {h}:00)"
                );
                let c = contract(&s, &acme, &b.device).await;
                assert!(c["standing"]["days_overdue"].as_i64().unwrap() >= 20);
                if b.habit == Habit::WhenLocked {
                    let overdue = c["standing"]["overdue_amount"].as_i64().unwrap();
                    payment_no += 1;
                    pay(&s, &acme, b, overdue, payment_no).await;
                    s.service().evaluate_due_contracts(1000).await.unwrap();
                    let out = b.agent.check_in().await.unwrap();
                    // Paying everything overdue lifts the restriction at the next contact
                    // (and frees the phone when that was the last installment).
                    match out.enforcement {
                        Enforcement::Run { .. } => {}
                        Enforcement::Free => {
                            assert_eq!(b.paid, 12 * INSTALLMENT);
                            b.released = true;
                        }
                        other => panic!("still restricted after paying: {other:?}"),
                    }
                    b.unlocks += 1;
                    b.notice_acked_at = None;
                    b.level = RestrictionLevel::None;
                    continue;
                }
            }
            if level == RestrictionLevel::None {
                b.notice_acked_at = None;
            }
            b.level = b.agent.held_lease().unwrap().profile.level();
        }
    }
    let [on_time, late, never] = &borrowers[..] else {
        unreachable!()
    };
    assert!(
        on_time.released && on_time.locks == 0,
        "on-time borrower: freed, never locked"
    );
    assert!(
        late.locks >= 2 && late.unlocks == late.locks,
        "late borrower: locked and unlocked {} times",
        late.locks
    );
    assert!(
        never.locks == 1 && !never.released,
        "non-payer: locked once and stays so"
    );
    assert!(never.level >= RestrictionLevel::RestrictedApps);
    s.stop().await;
}

/// Today's date in Nairobi at server time `t`, as `YYYY-MM-DD`.
fn today_local(t: i64) -> String {
    jiff::Timestamp::from_millisecond(t)
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(3)))
        .date()
        .to_string()
}

lienlock_store_sql::backend_tests!(a_year_of_three_borrowers);
