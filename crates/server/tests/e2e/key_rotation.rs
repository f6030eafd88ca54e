//! The lease-signing key rotating on a real server, with real phones: while a next key
//! exists every lease announces it; after the promotion a phone that learned it takes the
//! new key's leases and drops the old key, a phone that missed the announcement is led
//! through by the old key, and an agent on check-in version 2 is never sent an announcement
//! it could not read. Server nodes here share one database and differ only in their keys,
//! as a rolling restart onto new key files would leave them.

use crate::harness::imei;
use lienlock_agent::{Agent, AgentConfig, LeaseOutcome};
use lienlock_domain::{Clock, Imei, ManualClock, Timestamp};
use lienlock_server::apikey::ServerSecret;
use lienlock_server::ops::{self, NewLender};
use lienlock_server::{AppState, LeaseSettings, Service};
use lienlock_store::Store;
use lienlock_store_sql::testing::{Backend, TestDb};
use lienlock_wire::{
    CheckInVersion, DeviceKey, LeaseEnvelope, ServerKey, ServerPublicKey, SignedCheckIn,
};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// 2026-03-02T09:00:00Z.
const START: i64 = 1_772_442_000_000;

/// One server node with its own key (and rotation companions).
struct Node {
    url: String,
    stop: tokio::sync::oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Node {
    async fn start(
        store: Arc<dyn Store>,
        clock: Arc<ManualClock>,
        key: ServerKey,
        secret: &ServerSecret,
    ) -> Self {
        let service = Service::new(
            store,
            clock,
            key,
            ServerSecret::new(*secret.bytes()),
            LeaseSettings::default(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(lienlock_server::serve(
            listener,
            AppState::new(service),
            Duration::from_millis(50),
            async move {
                let _ = rx.await;
            },
        ));
        Node { url, stop, handle }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.handle.await.unwrap().unwrap();
    }
}

/// A phone provisioned with `key`, talking to `node`.
fn phone(
    dir: &Path,
    node: &Node,
    key: ServerPublicKey,
    imei: Imei,
    clock: &Arc<ManualClock>,
) -> Agent {
    Agent::open(
        AgentConfig {
            data_dir: dir.to_path_buf(),
            server_url: node.url.clone(),
            server_key: key,
            imei,
        },
        clock.clone(),
    )
    .unwrap()
}

async fn enroll(node: &Node, api_key: &str, imei: &Imei) {
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/devices", node.url))
        .bearer_auth(api_key)
        .json(&json!({"imei": imei.as_str()}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
}

async fn a_rotation_reaches_every_phone_and_strands_none(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.store().await;
    let clock = Arc::new(ManualClock::new(Timestamp::from_millis(START)));
    let secret = ServerSecret::generate();
    let (_, api_key) = ops::bootstrap_lender(
        store.as_ref(),
        &secret,
        clock.as_ref(),
        NewLender {
            name: "Acme".into(),
            support_phone: "+254 700 000 000".into(),
            support_url: "https://pay.example".into(),
        },
    )
    .await
    .unwrap();
    let api_key = api_key.to_string();
    let dirs = tempfile::tempdir().unwrap();
    let (old, new) = (ServerKey::generate(), ServerKey::generate());

    // Before the rotation: two phones on the old key.
    let node = Node::start(store.clone(), clock.clone(), old.clone(), &secret).await;
    let (learner_imei, absent_imei, legacy_imei) = (imei(90), imei(91), imei(92));
    for i in [&learner_imei, &absent_imei, &legacy_imei] {
        enroll(&node, &api_key, i).await;
    }
    let mut absent = phone(
        &dirs.path().join("absent"),
        &node,
        old.public(),
        absent_imei,
        &clock,
    );
    absent.check_in().await.unwrap();
    drop(absent);
    node.stop().await;

    // `ctl keys rotate`: every lease the old key signs now announces the new one.
    let node = Node::start(
        store.clone(),
        clock.clone(),
        old.clone().with_next(new.clone()),
        &secret,
    )
    .await;
    let mut learner = phone(
        &dirs.path().join("learner"),
        &node,
        old.public(),
        learner_imei,
        &clock,
    );
    learner.check_in().await.unwrap();
    assert_eq!(learner.trusted_server_keys(), [old.public(), new.public()]);
    let lease = learner.held_lease().unwrap();
    assert_eq!(
        (lease.key_id, lease.next_key),
        (old.id(), Some(new.public()))
    );
    // An agent on check-in version 2 gets a lease it can read: version 3, no announcement.
    let legacy = DeviceKey::generate();
    let checkin =
        crate::harness::hand_made_checkin(CheckInVersion::V2, legacy_imei, &legacy, 1, clock.now());
    let resp = reqwest::Client::new()
        .post(format!("{}/device/v1/checkin", node.url))
        .json(&SignedCheckIn::seal(&checkin, &legacy))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let env: LeaseEnvelope = resp.json().await.unwrap();
    let (lease, bytes) = env.open(&old.public()).unwrap();
    assert_eq!((&bytes[..8], lease.next_key), (&b"LLLSE003"[..], None));
    // Signed alone: a version 2 agent cannot follow a path to a batch's root.
    assert!(env.proof.is_none());
    node.stop().await;

    // `ctl keys promote`: the new key signs, the old one is kept to lead stragglers.
    clock.advance_millis(3_600_000);
    let node = Node::start(
        store.clone(),
        clock.clone(),
        new.clone().with_previous(old.clone()),
        &secret,
    )
    .await;
    // The phone that learned the key takes the new key's lease and drops the old key.
    let mut learner = phone(
        &dirs.path().join("learner"),
        &node,
        old.public(),
        learner_imei,
        &clock,
    );
    let out = learner.check_in().await.unwrap();
    assert!(
        matches!(out.lease, LeaseOutcome::Accepted { .. }),
        "{out:?}"
    );
    assert_eq!(learner.held_lease().unwrap().key_id, new.id());
    assert_eq!(learner.trusted_server_keys(), [new.public()]);
    // The phone that was away is led through: a lease from the old key announcing the new
    // one, then the new key's lease.
    let mut absent = phone(
        &dirs.path().join("absent"),
        &node,
        old.public(),
        absent_imei,
        &clock,
    );
    absent.check_in().await.unwrap();
    let lease = absent.held_lease().unwrap();
    assert_eq!(
        (lease.key_id, lease.next_key),
        (old.id(), Some(new.public()))
    );
    absent.check_in().await.unwrap();
    assert_eq!(absent.held_lease().unwrap().key_id, new.id());
    assert_eq!(absent.trusted_server_keys(), [new.public()]);
    node.stop().await;

    // `ctl keys retire`: both phones keep working on the new key alone.
    drop((learner, absent));
    let node = Node::start(store.clone(), clock.clone(), new.clone(), &secret).await;
    for (name, i) in [("learner", learner_imei), ("absent", absent_imei)] {
        let mut p = phone(&dirs.path().join(name), &node, old.public(), i, &clock);
        let out = p.check_in().await.unwrap();
        assert!(!out.enforcement.is_locked(), "{name}: {out:?}");
    }
    node.stop().await;
}

lienlock_store_sql::backend_tests!(a_rotation_reaches_every_phone_and_strands_none);
