//! Tamper signals end to end, with real agents: a SIM swap reaches the lender's timeline
//! once (also when the device sends it again after a lost answer), `notify` changes nothing
//! on the phone while `restrict` restricts it within every promise (a notice first, one
//! level at a time, never a full lock, emergency calls open) until a payment; a factory
//! reset is seen by the server; an agent still on check-in version 2 is served.

use crate::harness::{imei, TestLender, TestServer};
use lienlock_agent::{Agent, Integrity, SimulatedPlatform, SimulatedState};
use lienlock_domain::{Capability, Clock, LeaseState, RestrictionLevel, Timestamp};
use lienlock_store_sql::testing::Backend;
use lienlock_wire::{
    CheckIn, CheckInVersion, DeviceKey, DeviceReport, LeaseEnvelope, ReportKind, SignedCheckIn,
};
use serde_json::{json, Value};

const HOUR: i64 = 3_600_000;
/// 2026-03-02T09:00:00Z, a Monday; 12:00 in Nairobi.
const START: i64 = 1_772_442_000_000;
const FIRST_SIM: &str = "8925401234567890123";
const SECOND_SIM: &str = "8925409876543210987";

/// A phone with `FIRST_SIM`, enrolled and checked in once.
async fn phone_with_sim(s: &TestServer, l: &TestLender, n: u32) -> (String, Agent) {
    let dir = s.phone_dir(&format!("phone-{n}"));
    std::fs::create_dir_all(&dir).unwrap();
    put_sim(&dir, FIRST_SIM);
    s.enrolled_phone(l, n).await
}

fn put_sim(dir: &std::path::Path, sim: &str) {
    SimulatedPlatform::new(dir.join("platform.json"))
        .set(&SimulatedState {
            sim: Some(sim.into()),
            integrity: Integrity::default(),
        })
        .unwrap();
}

/// The `tamper` entries of a device's timeline.
async fn tamper_events(s: &TestServer, l: &TestLender, device: &str) -> Vec<Value> {
    let (status, body) = s
        .get(l, &format!("/v1/devices/{device}/timeline?limit=500"))
        .await;
    assert_eq!(status, 200, "{body}");
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "tamper")
        .cloned()
        .collect()
}

async fn contract_for(s: &TestServer, l: &TestLender, device: &str) {
    let (status, body) = s
        .post(
            l,
            "/v1/contracts",
            json!({
                "device_id": device,
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

/// Sets the lender's tamper action for a SIM change; returns the status and body.
async fn set_sim_policy(
    s: &TestServer,
    l: &TestLender,
    profile: &str,
    action: &str,
) -> (u16, Value) {
    // The profile's own defaults first, then the one change.
    let resp = s
        .http
        .put(format!("{}/v1/lender/policy", s.url))
        .bearer_auth(&l.key)
        .json(&json!({ "profile": profile }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let (_, current) = s.get(l, "/v1/lender/policy").await;
    let mut settings = current["settings"].clone();
    settings["tamper"] = json!({"sim_changed": action});
    let resp = s
        .http
        .put(format!("{}/v1/lender/policy", s.url))
        .bearer_auth(&l.key)
        .json(&json!({"profile": profile, "settings": settings}))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

fn level(agent: &Agent) -> RestrictionLevel {
    agent.held_lease().unwrap().profile.level()
}

/// `notify` (the default): one timeline entry, also when the device sends the signal again
/// because it never got the answer; nothing changes on the phone.
async fn a_sim_swap_reaches_the_timeline_once_and_notify_changes_nothing(backend: Backend) {
    let Some(s) = TestServer::start_at(backend, Timestamp::from_millis(START)).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let (device, mut agent) = phone_with_sim(&s, &acme, 80).await;
    contract_for(&s, &acme, &device).await;
    agent.check_in().await.unwrap();
    assert!(tamper_events(&s, &acme, &device).await.is_empty());

    put_sim(agent.layout().root(), SECOND_SIM);
    agent.observe_device();
    // The check-in reaches the server but its answer is lost: the signal stays.
    let (signed, _) = agent.build_checkin().unwrap();
    // Authenticated by the MAC key the first check-in's answer handed out: read its body.
    let body = lienlock_wire::codec::unb64(&signed.body, "body").unwrap();
    let sent = lienlock_wire::CheckIn::decode(&body).unwrap();
    assert_eq!(sent.version, CheckInVersion::V5);
    assert_eq!(sent.signals.len(), 1);
    agent.send_checkin(&signed).await.unwrap();
    assert_eq!(agent.pending_tamper_signals().len(), 1);
    // The next check-ins carry it again, until one is answered.
    agent.check_in().await.unwrap();
    assert!(agent.pending_tamper_signals().is_empty());
    agent.check_in().await.unwrap();

    let events = tamper_events(&s, &acme, &device).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let detail = events[0]["detail"].as_str().unwrap();
    assert!(detail.starts_with("sim_changed: "), "{detail}");
    assert!(detail.ends_with("lender policy: notify"), "{detail}");
    assert!(!detail.contains(FIRST_SIM) && !detail.contains(SECOND_SIM));
    assert_eq!(events[0]["actor"], "device");
    // Nothing on the phone: an active lease, no restriction, no notice.
    let lease = agent.held_lease().unwrap();
    assert_eq!(lease.state, LeaseState::Active);
    assert_eq!(lease.profile.level(), RestrictionLevel::None);
    assert!(lease.notices.iter().all(|n| n.kind != "tamper_notice"));
    s.stop().await;
}

/// `restrict`: a tamper notice, then one level at a time, restricted apps only 48 hours
/// after the notice was shown and never a full lock, with emergency calls, the network and
/// the lender's app open; a payment lifts it at once. A profile that forbids it refuses
/// the setting.
async fn a_restrict_policy_restricts_within_the_promises_until_a_payment(backend: Backend) {
    let Some(s) = TestServer::start_at(backend, Timestamp::from_millis(START)).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let (code, body) = set_sim_policy(&s, &acme, "in-rbi-2026-draft", "restrict").await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(body["error"]["code"], "policy_not_allowed");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tamper.sim_changed"),
        "{body}"
    );
    let (code, body) = set_sim_policy(&s, &acme, "default", "restrict").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["settings"]["tamper"]["sim_changed"], "restrict");

    let (device, mut agent) = phone_with_sim(&s, &acme, 81).await;
    contract_for(&s, &acme, &device).await;
    agent.check_in().await.unwrap();
    assert_eq!(level(&agent), RestrictionLevel::None);

    put_sim(agent.layout().root(), SECOND_SIM);
    let out = agent.check_in().await.unwrap();
    let events = tamper_events(&s, &acme, &device).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(events[0]["detail"]
        .as_str()
        .unwrap()
        .ends_with("lender policy: restrict"));
    // The lease answering that very check-in carries the tamper notice, and the first
    // level: a reminder.
    assert!(!out.enforcement.is_locked());
    assert_eq!(level(&agent), RestrictionLevel::Reminder);
    let notice = agent
        .held_lease()
        .unwrap()
        .notices
        .iter()
        .find(|n| n.kind == "tamper_notice")
        .cloned()
        .expect("the tamper notice rides in the lease");
    assert!(notice.message.contains("Emergency"), "{}", notice.message);
    // The next check-in acknowledges it (the phone showed it).
    agent.check_in().await.unwrap();
    let shown_at = s.clock.now();

    let mut seen = vec![level(&agent)];
    let mut restricted_at = None;
    for _ in 0..24 {
        s.clock.advance_millis(6 * HOUR);
        s.service().evaluate_due_contracts(1000).await.unwrap();
        let out = agent.check_in().await.unwrap();
        let l = level(&agent);
        if seen.last() != Some(&l) {
            seen.push(l);
        }
        if l >= RestrictionLevel::RestrictedApps {
            assert!(out.enforcement.is_locked());
            restricted_at.get_or_insert(s.clock.now());
        }
    }
    assert_eq!(
        seen,
        [
            RestrictionLevel::Reminder,
            RestrictionLevel::PersistentBanner,
            RestrictionLevel::RestrictedApps
        ],
        "one level at a time, never a full lock"
    );
    let at = restricted_at.expect("restricted in the end");
    assert!(at.as_millis() - shown_at.as_millis() >= 48 * HOUR);
    let lease = agent.held_lease().unwrap();
    assert_eq!(lease.state, LeaseState::Locked);
    for c in [
        Capability::EmergencyCalls,
        Capability::IncomingCalls,
        Capability::Network,
        Capability::LenderApp,
    ] {
        assert!(lease.profile.allows(c), "{c:?}");
    }
    // Still one timeline entry for the signal.
    assert_eq!(tamper_events(&s, &acme, &device).await.len(), 1);

    // Any payment that stands lifts it, at the next check-in.
    let resp = s
        .http
        .post(format!("{}/v1/payments", s.url))
        .bearer_auth(&acme.key)
        .header("Idempotency-Key", "tamper-pay-1")
        .json(
            &json!({"imei": imei(81).as_str(), "amount": 10_000, "currency": "KES",
            "channel": "mpesa", "external_ref": "TP1"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let out = agent.check_in().await.unwrap();
    assert!(!out.enforcement.is_locked(), "{out:?}");
    assert_eq!(level(&agent), RestrictionLevel::None);
    s.stop().await;
}

/// A factory reset keeps the identity key; the server sees the new user partition in the
/// check-ins and records the reset once.
async fn a_factory_reset_is_seen_by_the_server_once(backend: Backend) {
    let Some(s) = TestServer::start_at(backend, Timestamp::from_millis(START)).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let (device, mut agent) = s.enrolled_phone(&acme, 82).await;
    agent.check_in().await.unwrap();
    let dir = agent.layout().root().to_owned();
    let counter = agent.counter();
    drop(agent);
    Agent::factory_reset(&dir).unwrap();
    let mut agent = s.agent(&dir, &imei(82));
    assert_eq!(agent.user_since(), counter);
    agent.check_in().await.unwrap();
    agent.check_in().await.unwrap();
    let events = tamper_events(&s, &acme, &device).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let detail = events[0]["detail"].as_str().unwrap();
    assert!(detail.starts_with("factory_reset: "), "{detail}");
    assert!(
        detail.contains(&format!("after check-in {counter}")),
        "{detail}"
    );
    s.stop().await;
}

/// An agent still sending version 2 check-ins is served a version 3 lease it can read, and
/// its clock set-back reports still reach the timeline the old way.
async fn an_old_version_checkin_is_still_accepted(backend: Backend) {
    let Some(s) = TestServer::start_at(backend, Timestamp::from_millis(START)).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let imei = imei(83);
    let device = s.enroll(&acme, &imei).await;
    let key = DeviceKey::generate();
    for counter in 1..=2 {
        let checkin = CheckIn {
            reports: vec![DeviceReport {
                kind: ReportKind::ClockSetBack,
                at: s.clock.now(),
                value: 2 * HOUR,
            }],
            ..crate::harness::hand_made_checkin(
                CheckInVersion::V2,
                imei,
                &key,
                counter,
                s.clock.now(),
            )
        };
        let sealed = SignedCheckIn::seal(&checkin, &key);
        assert!(sealed.open().unwrap().version == CheckInVersion::V2);
        let (status, body) = s
            .call(
                None,
                reqwest::Method::POST,
                "/device/v1/checkin",
                Some(serde_json::to_value(&sealed).unwrap()),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let env: LeaseEnvelope = serde_json::from_value(body).unwrap();
        let (lease, bytes) = env.open(&s.server_key).unwrap();
        assert_eq!(&bytes[..8], b"LLLSE003", "what a version 2 agent reads");
        assert_eq!((lease.in_reply_to, lease.next_key), (counter, None));
    }
    let kinds = s.timeline_kinds(&acme, &device).await;
    assert_eq!(
        kinds,
        [
            "enrolled",
            "key_registered",
            "tamper_reported",
            "tamper_reported"
        ]
    );
    s.stop().await;
}

lienlock_store_sql::backend_tests!(
    a_sim_swap_reaches_the_timeline_once_and_notify_changes_nothing,
    a_restrict_policy_restricts_within_the_promises_until_a_payment,
    a_factory_reset_is_seen_by_the_server_once,
    an_old_version_checkin_is_still_accepted,
);
