//! The device protocol's defences: replays, rollbacks, forgeries.

use crate::harness::{hand_made_checkin, imei, TestServer};
use base64::Engine;
use lienlock_agent::{Agent, AgentConfig, AgentError, ClockMonotonic, ErrorCode, LeaseRefusal};
use lienlock_domain::{Clock, ManualClock};
use lienlock_store_sql::testing::Backend;
use lienlock_wire::{CheckIn, DeviceKey, SignedCheckIn};
use serde_json::json;
use std::sync::Arc;

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// A first check-in (counter 1) of an agent not yet upgraded (version 3).
fn older_checkin(imei: lienlock_domain::Imei, key: &DeviceKey) -> CheckIn {
    hand_made_checkin(
        lienlock_wire::CheckInVersion::V3,
        imei,
        key,
        1,
        lienlock_domain::Timestamp::from_millis(0),
    )
}

async fn replayed_checkin_is_refused_and_recorded(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let imei = imei(10);
    let device = s.enroll(&acme, &imei).await;
    let mut agent = s.agent(&s.phone_dir("p"), &imei);

    let (signed, counter) = agent.build_checkin().unwrap();
    let env = agent.send_checkin(&signed).await.unwrap();
    agent.accept_lease(&env, counter).unwrap();

    // The same signed request again, byte for byte.
    match agent.send_checkin(&signed).await {
        Err(AgentError::Server {
            status: 409,
            code: ErrorCode::ReplayedCheckIn,
            ..
        }) => {}
        other => panic!("expected a refused replay, got {other:?}"),
    }
    // An older counter signed by the genuine key is refused too.
    let (newer, newer_counter) = agent.build_checkin().unwrap();
    let env = agent.send_checkin(&newer).await.unwrap();
    agent.accept_lease(&env, newer_counter).unwrap();
    match agent.send_checkin(&signed).await {
        Err(AgentError::Server { status: 409, .. }) => {}
        other => panic!("expected a refused replay, got {other:?}"),
    }
    let kinds = s.timeline_kinds(&acme, &device).await;
    assert_eq!(
        kinds,
        [
            "enrolled",
            "key_registered",
            "replay_refused",
            "replay_refused"
        ]
    );
    // The refused replays issued no lease.
    let (_, d) = s.get(&acme, &format!("/v1/devices/{device}")).await;
    assert_eq!(d["lease_sequence"], 2);
    s.stop().await;
}

async fn agent_refuses_lower_sequence(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let imei = imei(11);
    s.enroll(&acme, &imei).await;
    let mut agent = s.agent(&s.phone_dir("p"), &imei);

    let (first, first_counter) = agent.build_checkin().unwrap();
    let old = agent.send_checkin(&first).await.unwrap();
    agent.accept_lease(&old, first_counter).unwrap();
    agent.check_in().await.unwrap();
    let held = agent.held_lease().unwrap().sequence;
    assert_eq!(held, 2);

    // The older, genuinely signed lease played back.
    let refusal = agent.accept_lease(&old, first_counter).unwrap_err();
    assert_eq!(refusal, LeaseRefusal::RolledBack { held: 2, got: 1 });
    assert_eq!(agent.held_lease().unwrap().sequence, 2);
    s.stop().await;
}

async fn agent_refuses_tampered_lease(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let (device, mut agent) = s.enrolled_phone(&acme, 12).await;
    s.command(&acme, &device, "lock", json!({"reason": "overdue"}))
        .await;

    let (signed, counter) = agent.build_checkin().unwrap();
    let genuine = agent.send_checkin(&signed).await.unwrap();

    // Flip the state byte from locked (2) to active (1): the signature no longer matches.
    let mut forged = genuine.clone();
    let mut bytes = b64().decode(&forged.lease).unwrap();
    let state_at = 8 + 8 + 16 + 15 + 32 + 8;
    assert_eq!(bytes[state_at], 2);
    bytes[state_at] = 1;
    forged.lease = b64().encode(&bytes);
    assert!(matches!(
        agent.accept_lease(&forged, counter),
        Err(LeaseRefusal::BadEnvelope(_))
    ));

    // A damaged signature over the genuine bytes.
    let mut bad_sig = genuine.clone();
    let mut sig = b64().decode(&bad_sig.signature).unwrap();
    sig[10] ^= 0x40;
    bad_sig.signature = b64().encode(&sig);
    assert!(matches!(
        agent.accept_lease(&bad_sig, counter),
        Err(LeaseRefusal::BadEnvelope(_))
    ));

    // The unsigned "view" is never believed (this agent's answers carry none: one is added).
    let mut lying_view = genuine.clone();
    lying_view.view = Some(lying_view_of(&genuine, &s.server_key));
    agent.accept_lease(&lying_view, counter).unwrap();
    assert!(agent.enforcement().is_locked());
    s.stop().await;
}

/// A readable copy of `env`'s lease that says the phone is active.
fn lying_view_of(
    env: &lienlock_wire::LeaseEnvelope,
    key: &lienlock_wire::ServerPublicKey,
) -> lienlock_wire::LeaseView {
    let (lease, _) = env.open(key).unwrap();
    lienlock_wire::LeaseView {
        state: lienlock_domain::LeaseState::Active,
        restriction_level: lienlock_domain::RestrictionLevel::None,
        restricts: Vec::new(),
        ..lienlock_wire::LeaseView::from(&lease)
    }
}

async fn server_refuses_forged_and_unknown_checkins(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let imei = imei(13);
    let device = s.enroll(&acme, &imei).await;
    let key = DeviceKey::generate();
    let checkin = older_checkin(imei, &key);
    let mut sealed = SignedCheckIn::seal(&checkin, &key);
    sealed.signature = SignedCheckIn::seal(&checkin, &DeviceKey::generate()).signature;
    let (status, body) = s
        .call(
            None,
            reqwest::Method::POST,
            "/device/v1/checkin",
            Some(serde_json::to_value(&sealed).unwrap()),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("bad_signature")),
        "{body}"
    );

    let unknown = CheckIn {
        imei: crate::harness::imei(99),
        ..checkin.clone()
    };
    let (status, body) = s
        .call(
            None,
            reqwest::Method::POST,
            "/device/v1/checkin",
            Some(serde_json::to_value(SignedCheckIn::seal(&unknown, &key)).unwrap()),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("unknown_device"))
    );

    let garbage = json!({"body": "bm90IGEgY2hlY2staW4=", "signature": "AAAA"});
    let (status, body) = s
        .call(
            None,
            reqwest::Method::POST,
            "/device/v1/checkin",
            Some(garbage),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("malformed_message"))
    );

    // None of that bound a key or touched the device.
    let (_, d) = s.get(&acme, &format!("/v1/devices/{device}")).await;
    assert_eq!(
        (d["key_status"].as_str(), d["lease_sequence"].as_u64()),
        (Some("unregistered"), Some(0))
    );
    assert_eq!(s.timeline_kinds(&acme, &device).await, ["enrolled"]);
    s.stop().await;
}

/// The borrower sets the phone's clock back: the agent's trusted time is unaffected, and
/// the next check-in puts the incident on the lender's timeline, once.
async fn a_clock_set_back_reaches_the_timeline_once(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let imei = imei(12);
    let device = s.enroll(&acme, &imei).await;
    // The phone's wall clock is its own; time itself passes with the server's clock.
    let wall = Arc::new(ManualClock::new(s.clock.now()));
    let mut agent = Agent::open(
        AgentConfig {
            data_dir: s.phone_dir("phone-12"),
            server_url: s.url.clone(),
            server_key: s.server_key,
            imei,
        },
        wall.clone(),
    )
    .unwrap();
    agent.set_monotonic(Arc::new(ClockMonotonic(s.clock.clone())));
    agent.check_in().await.unwrap();
    let before = agent.trusted_now();

    s.clock.advance_millis(60_000);
    wall.advance_millis(60_000 - 3 * 3_600_000);
    assert_eq!(agent.trusted_now(), before.plus_millis(60_000));
    assert!(agent.observe_time().is_some());
    agent.check_in().await.unwrap();
    agent.check_in().await.unwrap();
    assert!(agent.pending_tamper_signals().is_empty());

    let (status, body) = s
        .get(&acme, &format!("/v1/devices/{device}/timeline?limit=500"))
        .await;
    assert_eq!(status, 200, "{body}");
    let tamper: Vec<&serde_json::Value> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "tamper")
        .collect();
    assert_eq!(tamper.len(), 1, "{body}");
    let detail = tamper[0]["detail"].as_str().unwrap();
    assert!(detail.starts_with("clock_set_back: "), "{detail}");
    assert!(detail.contains("set back by 3 h 0 min"), "{detail}");
    assert_eq!(tamper[0]["actor"], "device");
    s.stop().await;
}

/// Check-ins arriving together share one commit (group commit), and each is still judged on
/// its own: of one signed request sent eight times at once exactly one gets a lease, and
/// phones checking in at the same moment all get theirs, each numbered once.
async fn concurrent_checkins_share_commits_and_replays_still_fail(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let (device, mut agent) = s.enrolled_phone(&acme, 30).await;
    let (signed, counter) = agent.build_checkin().unwrap();
    let results = futures_util::future::join_all((0..8).map(|_| agent.send_checkin(&signed))).await;
    let leases: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(leases.len(), 1, "{results:?}");
    for r in results.iter().filter(|r| r.is_err()) {
        assert!(
            matches!(
                r,
                Err(AgentError::Server {
                    status: 409,
                    code: ErrorCode::ReplayedCheckIn,
                    ..
                })
            ),
            "{r:?}"
        );
    }
    agent.accept_lease(leases[0], counter).unwrap();
    let (_, d) = s.get(&acme, &format!("/v1/devices/{device}")).await;
    assert_eq!(d["lease_sequence"], 2);
    let kinds = s.timeline_kinds(&acme, &device).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "replay_refused").count(),
        7,
        "{kinds:?}"
    );

    // Twelve phones at once, three times over: every check-in answered, every lease
    // accepted by its phone (a sequence never issued twice).
    let mut phones = Vec::new();
    for n in 31..43 {
        phones.push(s.enrolled_phone(&acme, n).await);
    }
    for _ in 0..3 {
        let signed: Vec<_> = phones
            .iter_mut()
            .map(|(_, a)| a.build_checkin().unwrap())
            .collect();
        let answers = futures_util::future::join_all(
            phones
                .iter()
                .zip(&signed)
                .map(|((_, a), (c, _))| a.send_checkin(c)),
        )
        .await;
        for (((_, a), (_, counter)), answer) in phones.iter_mut().zip(&signed).zip(answers) {
            a.accept_lease(&answer.unwrap(), *counter).unwrap();
        }
    }
    for (id, _) in &phones {
        let (_, d) = s.get(&acme, &format!("/v1/devices/{id}")).await;
        assert_eq!(d["lease_sequence"], 4, "{d}");
    }
    s.stop().await;
}

/// An agent on check-in version 4 gets its lease signed in a batch, with its path to the
/// signed root; an older agent (version 3) gets the lease signature it can read.
async fn only_agents_that_read_batch_signatures_get_them(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let (current, older) = (imei(14), imei(15));
    s.enroll(&acme, &current).await;
    s.enroll(&acme, &older).await;

    let mut agent = s.agent(&s.phone_dir("p"), &current);
    let (signed, counter) = agent.build_checkin().unwrap();
    let env = agent.send_checkin(&signed).await.unwrap();
    assert!(env.proof.is_some(), "{env:?}");
    // No agent reads the readable copy: version 4 answers leave it out.
    assert!(env.view.is_none(), "{env:?}");
    agent.accept_lease(&env, counter).unwrap();
    assert!(!agent.enforcement().is_locked());

    let key = DeviceKey::generate();
    let checkin = older_checkin(older, &key);
    let (status, body) = s
        .call(
            None,
            reqwest::Method::POST,
            "/device/v1/checkin",
            Some(serde_json::to_value(SignedCheckIn::seal(&checkin, &key)).unwrap()),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("proof").is_none(), "{body}");
    let env: lienlock_wire::LeaseEnvelope = serde_json::from_value(body).unwrap();
    let (lease, _) = env.open(&s.server_key).unwrap();
    assert_eq!((lease.imei, lease.in_reply_to), (older, 1));
    // Older agents' answers keep the readable copy they always had.
    let view = env.view.expect("a version 3 answer's view");
    assert_eq!(
        (view.imei, view.sequence),
        (older.to_string(), lease.sequence)
    );
    s.stop().await;
}

lienlock_store_sql::backend_tests!(
    only_agents_that_read_batch_signatures_get_them,
    a_clock_set_back_reaches_the_timeline_once,
    replayed_checkin_is_refused_and_recorded,
    concurrent_checkins_share_commits_and_replays_still_fail,
    agent_refuses_lower_sequence,
    agent_refuses_tampered_lease,
    server_refuses_forged_and_unknown_checkins,
);
