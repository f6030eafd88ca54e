//! Check-ins authenticated by a MAC key the server handed out (docs/protocol.md, section
//! 2a): earned by a signed check-in, held to every rule a signed one is, and given up for
//! a signature again when the server refuses it.

use crate::harness::{imei, TestServer};
use lienlock_agent::{AgentError, ErrorCode};
use lienlock_store_sql::testing::Backend;
use lienlock_wire::codec::{b64, unb64};
use lienlock_wire::{CheckIn, CheckInVersion, CheckinMacKey, SignedCheckIn};

fn sent(signed: &SignedCheckIn) -> CheckIn {
    CheckIn::decode(&unb64(&signed.body, "body").unwrap()).unwrap()
}

fn refused_as(
    answer: Result<lienlock_wire::LeaseEnvelope, AgentError>,
    status: u16,
    code: ErrorCode,
) {
    match answer {
        Err(AgentError::Server {
            status: s, code: c, ..
        }) if s == status && c == code => {}
        other => panic!("expected HTTP {status} {code:?}, got {other:?}"),
    }
}

async fn a_signed_check_in_earns_a_mac_key_that_keeps_every_rule(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let imei = imei(40);
    let device = s.enroll(&acme, &imei).await;
    let mut agent = s.agent(&s.phone_dir("p"), &imei);

    // The first check-in is signed and asks for a key; the answer carries one.
    let (first, counter) = agent.build_checkin().unwrap();
    assert_eq!(sent(&first).version, CheckInVersion::V4);
    assert!(first.want_mac_key);
    let env = agent.send_checkin(&first).await.unwrap();
    let wrapped = unb64(env.mac_key.as_deref().expect("a MAC key"), "mac_key").unwrap();
    assert_eq!(wrapped.len(), 40);
    assert_eq!(wrapped[..8], s.server_key.id().0);
    agent.accept_lease(&env, counter).unwrap();
    assert!(agent.layout().checkin_mac_key().exists());
    // Kept in its own file, not with the lease.
    let held = std::fs::read_to_string(agent.layout().lease()).unwrap();
    assert!(!held.contains("mac_key"), "{held}");

    // The next is version 5 with a 32-byte tag, answered like any version 4 check-in.
    let (mac, counter) = agent.build_checkin().unwrap();
    assert_eq!(sent(&mac).version, CheckInVersion::V5);
    assert!(!mac.want_mac_key);
    assert_eq!(unb64(&mac.signature, "signature").unwrap().len(), 32);
    let env = agent.send_checkin(&mac).await.unwrap();
    assert!(env.mac_key.is_none() && env.proof.is_some(), "{env:?}");
    agent.accept_lease(&env, counter).unwrap();
    assert!(!agent.enforcement().is_locked());

    // The same request again: a replay, as a signed one would be.
    refused_as(
        agent.send_checkin(&mac).await,
        409,
        ErrorCode::ReplayedCheckIn,
    );
    // A fresh counter with a tag not made by this device's key: a wrong tag, the tag of
    // another key, a body changed under a good tag.
    let (next, _) = agent.build_checkin().unwrap();
    let mut flipped = unb64(&next.signature, "signature").unwrap();
    flipped[0] ^= 1;
    let other_key = CheckinMacKey::from_bytes([7; 32]);
    let mut changed = sent(&next);
    changed.notice_ack += 1;
    let moved = SignedCheckIn {
        signature: next.signature.clone(),
        ..SignedCheckIn::seal_mac(&changed, &other_key)
    };
    for forged in [
        SignedCheckIn {
            signature: b64(&flipped),
            ..next.clone()
        },
        SignedCheckIn::seal_mac(&sent(&next), &other_key),
        moved,
    ] {
        refused_as(
            agent.send_checkin(&forged).await,
            401,
            ErrorCode::BadSignature,
        );
    }
    // Asking for a key with a MAC'd check-in gets none (only a signature earns one).
    let asking = SignedCheckIn {
        want_mac_key: true,
        ..next.clone()
    };
    let env = agent.send_checkin(&asking).await.unwrap();
    assert!(env.mac_key.is_none());

    // Nothing the forgeries sent was recorded or issued: three leases, one replay.
    let kinds = s.timeline_kinds(&acme, &device).await;
    assert_eq!(kinds, ["enrolled", "key_registered", "replay_refused"]);
    let (_, d) = s.get(&acme, &format!("/v1/devices/{device}")).await;
    assert_eq!(d["lease_sequence"], 3);
    s.stop().await;
}

async fn a_refused_mac_key_gives_way_to_a_signature_and_a_new_key(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let imei = imei(41);
    s.enroll(&acme, &imei).await;
    let dir = s.phone_dir("p");
    let mut agent = s.agent(&dir, &imei);
    agent.check_in().await.unwrap();
    let path = agent.layout().checkin_mac_key();
    let good = std::fs::read(&path).unwrap();

    // The stored key damaged (its server key id kept, so the agent uses it): the server
    // refuses it, the agent signs the check-in again and is handed the key anew.
    let mut bad = good.clone();
    bad[20] ^= 0xff;
    std::fs::write(&path, &bad).unwrap();
    let mut agent = s.agent(&dir, &imei);
    let (probe, _) = agent.build_checkin().unwrap();
    assert_eq!(sent(&probe).version, CheckInVersion::V5);
    refused_as(
        agent.send_checkin(&probe).await,
        401,
        ErrorCode::BadSignature,
    );
    let outcome = agent.check_in().await.unwrap();
    assert!(!outcome.enforcement.is_locked());
    assert_eq!(std::fs::read(&path).unwrap(), good);
    // And with it the next check-in is a MAC'd one again, and answered.
    let outcome = agent.check_in().await.unwrap();
    let (last, _) = agent.build_checkin().unwrap();
    assert_eq!(sent(&last).version, CheckInVersion::V5);
    assert!(!outcome.enforcement.is_locked());

    // A key file that cannot be read is no key: the agent signs.
    std::fs::write(&path, b"garbage").unwrap();
    let mut agent = s.agent(&dir, &imei);
    let (signed, _) = agent.build_checkin().unwrap();
    assert_eq!(sent(&signed).version, CheckInVersion::V4);
    agent.check_in().await.unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), good);
    s.stop().await;
}

lienlock_store_sql::backend_tests!(
    a_signed_check_in_earns_a_mac_key_that_keeps_every_rule,
    a_refused_mac_key_gives_way_to_a_signature_and_a_new_key,
);
