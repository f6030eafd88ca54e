//! Enroll, check in, lock, unlock, release, factory reset, scheduled locks, key changes.

use crate::harness::{imei, TestServer};
use lienlock_agent::{Agent, Enforcement, LockReason};
use lienlock_domain::{Capability, LeaseState};
use lienlock_store_sql::testing::Backend;
use serde_json::json;

async fn enroll_lock_unlock(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme Finance").await;
    let imei = imei(1);
    let device = s.enroll(&acme, &imei).await;
    let dir = s.phone_dir("phone");
    let mut agent = s.agent(&dir, &imei);

    // Before its first check-in a phone holds no lease and is restricted.
    assert!(matches!(
        agent.enforcement(),
        Enforcement::Locked {
            why: LockReason::NoLease,
            ..
        }
    ));

    let out = agent.check_in().await.unwrap();
    assert!(
        matches!(out.enforcement, Enforcement::Run { .. }),
        "{out:?}"
    );
    let (_, d) = s.get(&acme, &format!("/v1/devices/{device}")).await;
    assert_eq!(d["state"], "active");
    assert_eq!(d["key_status"], "bound");

    let (status, body) = s
        .command(&acme, &device, "lock", json!({"reason": "38 days overdue"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["device"]["state"], "locked");
    assert_eq!(body["command"]["status"], "applied");

    let out = agent.check_in().await.unwrap();
    match &out.enforcement {
        Enforcement::Locked {
            why,
            lock_screen,
            profile,
            ..
        } => {
            assert_eq!(*why, LockReason::Lender);
            let screen = lock_screen.as_ref().unwrap();
            assert_eq!(screen.lender_name, "Acme Finance");
            assert_eq!(screen.support_phone, "+254 700 000 000");
            assert!(screen.message.contains("Emergency"));
            // The promise to borrowers holds on a real lock.
            for c in [
                Capability::EmergencyCalls,
                Capability::IncomingCalls,
                Capability::LenderApp,
            ] {
                assert!(profile.allows(c));
            }
            assert!(!profile.allows(Capability::OtherApps));
        }
        other => panic!("expected locked, got {other:?}"),
    }
    assert_eq!(agent.held_lease().unwrap().imei, imei);

    let (status, _) = s
        .command(&acme, &device, "unlock", json!({"reason": "paid in full"}))
        .await;
    assert_eq!(status, 200);
    let out = agent.check_in().await.unwrap();
    assert!(matches!(out.enforcement, Enforcement::Run { .. }));

    let (_, tl) = s
        .get(&acme, &format!("/v1/devices/{device}/timeline"))
        .await;
    let events = tl["events"].as_array().unwrap();
    let kinds: Vec<_> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["enrolled", "key_registered", "locked", "unlocked"]);
    let locked = &events[2];
    assert_eq!(locked["reason"], "38 days overdue");
    assert!(locked["actor"].as_str().unwrap().starts_with("api_key:"));
    assert!(locked["at"].as_str().unwrap().ends_with('Z'));
    s.stop().await;
}

async fn release_is_for_ever(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let imei = imei(2);
    let device = s.enroll(&acme, &imei).await;
    let dir = s.phone_dir("phone");
    let mut agent = s.agent(&dir, &imei);
    agent.check_in().await.unwrap();
    s.command(&acme, &device, "lock", json!({"reason": "overdue"}))
        .await;
    agent.check_in().await.unwrap();
    assert!(agent.enforcement().is_locked());

    let (status, body) = s
        .command(
            &acme,
            &device,
            "release",
            json!({"reason": "final installment paid"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["device"]["state"], "released");
    let out = agent.check_in().await.unwrap();
    assert_eq!(out.enforcement, Enforcement::Free);
    assert!(agent.is_released());

    // Nothing can lock it again, on the server or on the phone.
    let (status, body) = s
        .command(&acme, &device, "lock", json!({"reason": "mistake"}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("device_released"))
    );
    s.clock.advance_millis(400 * 24 * 3600 * 1000);
    assert_eq!(agent.enforcement(), Enforcement::Free);
    drop(agent);
    Agent::factory_reset(&dir).unwrap();
    let agent = s.agent(&dir, &imei);
    assert_eq!(agent.enforcement(), Enforcement::Free);

    // Any phone with this IMEI learns it is free; no key binding changes.
    let mut stranger = s.agent(&s.phone_dir("stranger"), &imei);
    assert_eq!(
        stranger.check_in().await.unwrap().enforcement,
        Enforcement::Free
    );
    let (_, d) = s.get(&acme, &format!("/v1/devices/{device}")).await;
    assert_eq!(d["key_status"], "bound");
    assert_eq!(
        s.timeline_kinds(&acme, &device).await,
        ["enrolled", "key_registered", "locked", "released"]
    );

    // The run loop ends by itself once released.
    let mut agent = agent;
    let exit = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        agent.run(std::future::pending::<()>(), |_| {}),
    )
    .await
    .expect("run returns once released");
    assert_eq!(exit, lienlock_agent::RunExit::Released);
    s.stop().await;
}

async fn factory_reset_while_locked_comes_back_locked(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let imei = imei(3);
    let device = s.enroll(&acme, &imei).await;
    let dir = s.phone_dir("phone");
    let mut agent = s.agent(&dir, &imei);
    agent.check_in().await.unwrap();
    s.command(&acme, &device, "lock", json!({"reason": "overdue"}))
        .await;
    agent.check_in().await.unwrap();
    let counter_before = agent.counter();
    drop(agent);

    Agent::factory_reset(&dir).unwrap();
    let mut agent = Agent::open_existing(&dir, s.clock.clone()).unwrap();
    // The lease is gone with the user partition; the identity and counter are not.
    assert!(agent.held_lease().is_none());
    assert_eq!(agent.counter(), counter_before);
    assert!(agent.enforcement().is_locked());
    let out = agent.check_in().await.unwrap();
    assert!(
        matches!(
            out.enforcement,
            Enforcement::Locked {
                why: LockReason::Lender,
                ..
            }
        ),
        "{out:?}"
    );
    // Same key, so no approval was needed; the reset itself is on the timeline, once (the
    // server sees the new user partition: a `factory_reset` tamper signal).
    let kinds = s.timeline_kinds(&acme, &device).await;
    assert_eq!(kinds, ["enrolled", "key_registered", "locked", "tamper"]);
    s.stop().await;
}

async fn scheduled_lock_applies_when_due(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let (device, mut agent) = s.enrolled_phone(&acme, 4).await;

    let at = jiff::Timestamp::from_millisecond(s.clock_now() + 3_600_000).unwrap();
    let (status, body) = s
        .command(
            &acme,
            &device,
            "lock",
            json!({"reason": "notice period ends", "at": at.to_string()}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["command"]["status"], "pending");
    assert_eq!(body["device"]["state"], "active");
    assert!(matches!(
        agent.check_in().await.unwrap().enforcement,
        Enforcement::Run { .. }
    ));

    // Time passes; the scheduler applies the lock without any device contact.
    s.clock.advance_millis(3_600_001);
    let mut state = String::new();
    for _ in 0..200 {
        let (_, d) = s.get(&acme, &format!("/v1/devices/{device}")).await;
        state = d["state"].as_str().unwrap().to_owned();
        if state == "locked" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(state, "locked");
    assert!(agent.check_in().await.unwrap().enforcement.is_locked());
    let (_, cmds) = s
        .get(&acme, &format!("/v1/devices/{device}/commands"))
        .await;
    assert_eq!(cmds[0]["status"], "applied");
    let kinds = s.timeline_kinds(&acme, &device).await;
    assert_eq!(
        kinds,
        ["enrolled", "key_registered", "command_scheduled", "locked"]
    );
    s.stop().await;
}

async fn release_cancels_scheduled_lock(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let device = s.enroll(&acme, &imei(5)).await;
    let at = jiff::Timestamp::from_millisecond(s.clock_now() + 60_000).unwrap();
    let (status, _) = s
        .command(
            &acme,
            &device,
            "lock",
            json!({"reason": "r", "at": at.to_string()}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = s
        .command(&acme, &device, "release", json!({"reason": "paid off"}))
        .await;
    assert_eq!(status, 200);
    s.clock.advance_millis(120_000);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (_, d) = s.get(&acme, &format!("/v1/devices/{device}")).await;
    assert_eq!(d["state"], "released");
    let (_, cmds) = s
        .get(&acme, &format!("/v1/devices/{device}/commands"))
        .await;
    let statuses: Vec<_> = cmds
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["cancelled", "applied"]);
    s.stop().await;
}

async fn changed_key_stays_locked_until_approved(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let imei = imei(6);
    let device = s.enroll(&acme, &imei).await;
    let mut original = s.agent(&s.phone_dir("original"), &imei);
    let (captured, counter) = original.build_checkin().unwrap();
    let env = original.send_checkin(&captured).await.unwrap();
    original.accept_lease(&env, counter).unwrap();

    // Same IMEI, new identity key (a reflashed phone, or a clone).
    let mut reflashed = s.agent(&s.phone_dir("reflashed"), &imei);
    let out = reflashed.check_in().await.unwrap();
    assert!(
        matches!(
            out.enforcement,
            Enforcement::Locked {
                why: LockReason::Lender,
                ..
            }
        ),
        "{out:?}"
    );
    assert_eq!(reflashed.held_lease().unwrap().state, LeaseState::Locked);
    let (_, d) = s.get(&acme, &format!("/v1/devices/{device}")).await;
    assert_eq!(d["key_status"], "change_pending");

    let pending = d["pending_key"].as_str().unwrap().to_owned();
    assert_eq!(pending, hex::encode(reflashed.device_public_key()));
    // Naming any other key approves nothing.
    let (status, body) = s
        .post(
            &acme,
            &format!("/v1/devices/{device}/approve-key"),
            json!({"reason": "checked in store", "key": hex::encode(original.device_public_key())}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("pending_key_changed"))
    );
    let (status, body) = s
        .command(
            &acme,
            &device,
            "approve-key",
            json!({"reason": "checked in store", "key": pending}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["key_status"], "bound");
    assert!(matches!(
        reflashed.check_in().await.unwrap().enforcement,
        Enforcement::Run { .. }
    ));

    // The retired key's old check-in, replayed, is refused and changes nothing.
    match original.send_checkin(&captured).await {
        Err(lienlock_agent::AgentError::Server { status: 409, .. }) => {}
        other => panic!("expected a refused replay, got {other:?}"),
    }
    let (_, d) = s.get(&acme, &format!("/v1/devices/{device}")).await;
    assert_eq!(d["key_status"], "bound");
    let (status, body) = s
        .command(
            &acme,
            &device,
            "approve-key",
            json!({"reason": "again", "key": pending}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("no_pending_key"))
    );
    let kinds = s.timeline_kinds(&acme, &device).await;
    assert_eq!(
        kinds,
        [
            "enrolled",
            "key_registered",
            "key_change_requested",
            "key_approved",
            "replay_refused"
        ]
    );
    s.stop().await;
}

async fn dual_sim_phone_checks_in_with_either_imei(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let (first, second) = (imei(7), imei(8));
    let (status, body) = s
        .post(
            &acme,
            "/v1/devices",
            json!({"imei": first.as_str(), "imei2": second.as_str()}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let mut agent = s.agent(&s.phone_dir("p"), &second);
    let out = agent.check_in().await.unwrap();
    assert!(
        matches!(out.enforcement, Enforcement::Run { .. }),
        "{out:?}"
    );
    assert_eq!(agent.held_lease().unwrap().imei, second);
    s.stop().await;
}

impl TestServer {
    fn clock_now(&self) -> i64 {
        use lienlock_domain::Clock;
        self.clock.now().as_millis()
    }
}

lienlock_store_sql::backend_tests!(
    enroll_lock_unlock,
    release_is_for_ever,
    factory_reset_while_locked_comes_back_locked,
    scheduled_lock_applies_when_due,
    release_cancels_scheduled_lock,
    changed_key_stays_locked_until_approved,
    dual_sim_phone_checks_in_with_either_imei,
);
