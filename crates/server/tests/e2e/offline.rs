//! Offline borrowers: the lender's "lock after N days without a check-in" is folded into
//! the lease, the phone warns before, and a server outage never locks a paid-up phone
//! before that.

use crate::harness::TestServer;
use lienlock_agent::Enforcement;
use lienlock_domain::Clock;
use lienlock_store_sql::testing::Backend;
use serde_json::{json, Value};

const DAY: i64 = 86_400_000;

async fn an_offline_phone_warns_then_locks_at_exactly_the_policy_time(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    // Lock after 3 days without a check-in, warn for the last day.
    let (_, current) = s.get(&acme, "/v1/lender/policy").await;
    let mut settings: Value = current["settings"].clone();
    settings["offline"] = json!({"lock_after_days": 3, "warn_days_before": 1});
    let resp = s
        .http
        .put(format!("{}/v1/lender/policy", s.url))
        .bearer_auth(&acme.key)
        .json(&json!({"profile": "default", "settings": settings}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["settings"]["offline"]["lock_after_days"], 3);

    // Out of range is refused and changes nothing.
    let mut bad = settings.clone();
    bad["offline"] = json!({"lock_after_days": 2, "warn_days_before": 1});
    let resp = s
        .http
        .put(format!("{}/v1/lender/policy", s.url))
        .bearer_auth(&acme.key)
        .json(&json!({"profile": "default", "settings": bad}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 422);
    let (_, still) = s.get(&acme, "/v1/lender/policy").await;
    assert_eq!(still["settings"]["offline"]["lock_after_days"], 3);

    let (_, mut agent) = s.enrolled_phone(&acme, 40).await;
    let checked_in = s.clock.now();
    let lease = agent.held_lease().unwrap().clone();
    assert_eq!(lease.valid_until, checked_in.plus_millis(3 * DAY));
    assert_eq!(lease.warn_at, checked_in.plus_millis(2 * DAY));

    // The server goes away for good; the phone keeps trying and failing.
    let clock = s.clock.clone();
    s.stop().await;
    let run = |e: &Enforcement| match e {
        Enforcement::Run {
            offline_warning, ..
        } => Some(*offline_warning),
        _ => None,
    };
    clock.advance_millis(DAY);
    assert!(agent.check_in().await.is_err(), "the server is down");
    assert_eq!(
        run(&agent.enforcement()),
        Some(false),
        "a day offline: runs, no warning"
    );
    clock.advance_millis(DAY - 1);
    assert_eq!(run(&agent.enforcement()), Some(false));
    clock.advance_millis(1);
    assert_eq!(run(&agent.enforcement()), Some(true), "warning from day 2");
    assert_eq!(agent.enforcement().expires_at(), Some(lease.valid_until));
    clock.advance_millis(DAY - 1);
    assert_eq!(
        run(&agent.enforcement()),
        Some(true),
        "still running a ms before"
    );
    clock.advance_millis(1);
    assert!(
        matches!(
            agent.enforcement(),
            Enforcement::Locked {
                why: lienlock_agent::LockReason::LeaseExpired,
                ..
            }
        ),
        "locked at exactly 3 days"
    );
}

/// A server outage far longer than the check-in interval (15 minutes) but shorter than the
/// offline policy (the default 7 days) locks no paid-up phone, and the first check-in after
/// it renews the lease.
async fn an_outage_longer_than_the_checkin_interval_locks_no_paid_up_phone(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let (_, mut agent) = s.enrolled_phone(&acme, 41).await;
    let issued = agent.held_lease().unwrap().issued_at;
    assert_eq!(
        agent.held_lease().unwrap().valid_until,
        issued.plus_millis(7 * DAY)
    );
    // Stand-in for an outage: the phone cannot reach the server for four days.
    s.clock.advance_millis(4 * DAY);
    assert!(matches!(
        agent.enforcement(),
        Enforcement::Run {
            offline_warning: false,
            ..
        }
    ));
    s.clock.advance_millis(DAY + 1);
    assert!(matches!(
        agent.enforcement(),
        Enforcement::Run {
            offline_warning: true,
            ..
        }
    ));
    // Back online: a fresh lease, no warning.
    agent.check_in().await.unwrap();
    assert!(matches!(
        agent.enforcement(),
        Enforcement::Run {
            offline_warning: false,
            ..
        }
    ));
    assert_eq!(
        agent.held_lease().unwrap().valid_until,
        s.clock.now().plus_millis(7 * DAY)
    );
    s.stop().await;
}

lienlock_store_sql::backend_tests!(
    an_offline_phone_warns_then_locks_at_exactly_the_policy_time,
    an_outage_longer_than_the_checkin_interval_locks_no_paid_up_phone,
);
