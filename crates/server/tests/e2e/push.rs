//! The push channel on one node: a lender's lock and a curing payment reach a connected
//! phone at once, though its next scheduled check-in is 15 minutes away; a stream that is
//! cut is reopened; a subscription that is forged, stale or for another device is refused.

use crate::harness::{imei, TestServer};
use lienlock_agent::{Agent, Enforcement, RunPolicy, RunStats};
use lienlock_domain::Clock;
use lienlock_store_sql::testing::Backend;
use lienlock_wire::{DeviceKey, SignedSubscribe, SubscribeRequest};
use serde_json::json;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Long enough that only a hint explains a prompt change (the server asks for a check-in
/// every 15 minutes), short enough for a bounded test.
const PROMPT: Duration = Duration::from_secs(10);

struct Running {
    changes: mpsc::UnboundedReceiver<Enforcement>,
    stats: Arc<RunStats>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Agent>,
}

impl Running {
    fn start(mut agent: Agent) -> Self {
        let stats = Arc::new(RunStats::default());
        agent.set_stats(stats.clone());
        let (tx, changes) = mpsc::unbounded_channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let policy = RunPolicy {
                min_interval: Duration::from_millis(200),
                ..RunPolicy::default()
            };
            agent
                .run_with(policy, stopped, move |e| {
                    let _ = tx.send(e.clone());
                })
                .await;
            agent
        });
        Self {
            changes,
            stats,
            stop: Some(stop),
            task,
        }
    }

    async fn until(&mut self, what: &str, pred: impl Fn(&Enforcement) -> bool) -> Enforcement {
        tokio::time::timeout(PROMPT, async {
            loop {
                let e = self.changes.recv().await.expect("the agent runs");
                if pred(&e) {
                    return e;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no {what} within {PROMPT:?}"))
    }

    async fn connected(&self) {
        tokio::time::timeout(PROMPT, async {
            while self.stats.push_connected.load(Ordering::Relaxed) < 1 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the push channel connects");
    }

    async fn stop(mut self) -> Agent {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap()
    }
}

async fn a_lock_and_an_unlock_reach_a_connected_phone_at_once(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let (device, agent) = s.enrolled_phone(&acme, 90).await;
    let mut phone = Running::start(agent);
    phone.until("first report", |_| true).await;
    phone.connected().await;

    let (status, body) = s
        .command(&acme, &device, "lock", json!({"reason": "test"}))
        .await;
    assert_eq!(status, 200, "{body}");
    phone.until("lock", Enforcement::is_locked).await;
    let (status, _) = s
        .command(&acme, &device, "unlock", json!({"reason": "paid"}))
        .await;
    assert_eq!(status, 200);
    phone.until("unlock", |e| !e.is_locked()).await;
    assert!(phone.stats.hints.load(Ordering::Relaxed) >= 2);

    // A command issued while the phone is off reaches it when it comes back.
    let agent = phone.stop().await;
    let (status, _) = s
        .command(&acme, &device, "lock", json!({"reason": "again"}))
        .await;
    assert_eq!(status, 200);
    let mut phone = Running::start(agent);
    phone
        .until("lock after restart", Enforcement::is_locked)
        .await;
    phone.stop().await;
    s.stop().await;
}

async fn bad_subscriptions_are_refused(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let acme = s.lender("Acme").await;
    let (_, agent) = s.enrolled_phone(&acme, 91).await;
    let url = format!("{}/device/v1/push?mode=poll", s.url);
    let post = |body: serde_json::Value| {
        let http = s.http.clone();
        let url = url.clone();
        async move {
            let resp = http.post(url).json(&body).send().await.unwrap();
            let status = resp.status().as_u16();
            let body: serde_json::Value = resp.json().await.unwrap_or_default();
            (
                status,
                body["error"]["code"].as_str().unwrap_or("").to_owned(),
            )
        }
    };
    let stranger = DeviceKey::generate();
    let req = |key: &DeviceKey, at| SubscribeRequest {
        imei: imei(91),
        device_key: key.public(),
        device_time: at,
        nonce: [1; 16],
    };
    let now = s.clock.now();
    // Another key than the phone's: refused.
    let sealed = SignedSubscribe::seal(&req(&stranger, now), &stranger);
    assert_eq!(
        post(serde_json::to_value(&sealed).unwrap()).await,
        (401, "bad_signature".into())
    );
    // A signature that does not match the body.
    let mut forged = sealed.clone();
    forged.signature =
        SignedSubscribe::seal(&req(&stranger, now.plus_secs(1)), &stranger).signature;
    assert_eq!(
        post(serde_json::to_value(&forged).unwrap()).await,
        (401, "bad_signature".into())
    );
    // Malformed JSON and an unknown mode.
    assert_eq!(post(json!({"body": "x"})).await.0, 422);
    let resp = s
        .http
        .post(format!("{}/device/v1/push?mode=carrier-pigeon", s.url))
        .json(&sealed)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    drop(agent);
    s.stop().await;
}

lienlock_store_sql::backend_tests!(
    a_lock_and_an_unlock_reach_a_connected_phone_at_once,
    bad_subscriptions_are_refused,
);
