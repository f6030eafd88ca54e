//! Three `lienlock serve` processes on one PostgreSQL database, behind a stand-in load
//! balancer: a phone connected to one node is unlocked by a payment posted on another;
//! when its node dies it reconnects through the balancer to another and misses nothing; and
//! the scheduler on three nodes applies each due lock exactly once.

mod common;

use common::{get, post, Proc};
use lienlock_agent::{Enforcement, RunPolicy, RunStats};
use lienlock_domain::Imei;
use lienlock_store_sql::testing::{Backend, TestDb};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

/// Bound on everything the test waits for.
const PROMPT: Duration = Duration::from_secs(15);

/// A TCP balancer standing in for a real one: every new connection goes to the active
/// backend; the test moves it when it kills a node (health checks, in effect).
struct Balancer {
    addr: SocketAddr,
    active: Arc<AtomicUsize>,
}

impl Balancer {
    async fn start(backends: Vec<SocketAddr>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let active = Arc::new(AtomicUsize::new(0));
        let which = active.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let backend = backends[which.load(Ordering::SeqCst)];
                tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(backend).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Self { addr, active }
    }

    fn route_to(&self, backend: usize) {
        self.active.store(backend, Ordering::SeqCst);
    }
}

struct Node {
    proc: Proc,
    url: String,
    addr: SocketAddr,
}

async fn node(data: &str, database: &str) -> (Node, String) {
    let (mut proc, url) = common::serve(&["--data", data, "--database", database]).await;
    let key = proc.lease_key().await;
    let addr = url.trim_start_matches("http://").parse().unwrap();
    (Node { proc, url, addr }, key)
}

/// A phone running its agent loop in this process, reporting each enforcement change.
struct Phone {
    changes: mpsc::UnboundedReceiver<Enforcement>,
    stats: Arc<RunStats>,
    _stop: oneshot::Sender<()>,
}

impl Phone {
    fn start(dir: &std::path::Path, url: &str, key: &str, imei: Imei) -> Self {
        let mut agent = common::phone::open_agent(dir, url, key, imei);
        let stats = Arc::new(RunStats::default());
        agent.set_stats(stats.clone());
        let (tx, changes) = mpsc::unbounded_channel();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let policy = RunPolicy {
                min_interval: Duration::from_millis(200),
                backoff_base: Duration::from_millis(100),
                backoff_cap: Duration::from_secs(1),
                ..RunPolicy::default()
            };
            agent
                .run_with(policy, stopped, move |e| {
                    let _ = tx.send(e.clone());
                })
                .await;
        });
        Self {
            changes,
            stats,
            _stop: stop,
        }
    }

    async fn until(&mut self, what: &str, pred: impl Fn(&Enforcement) -> bool) {
        tokio::time::timeout(PROMPT, async {
            loop {
                if pred(&self.changes.recv().await.expect("the agent runs")) {
                    return;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no {what} within {PROMPT:?}"));
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
}

fn imei(n: u32) -> Imei {
    Imei::from_body(&format!("35693804{n:06}")).unwrap()
}

#[tokio::test]
async fn three_nodes_on_one_postgres() {
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let data = data.to_str().unwrap();
    // The first node creates the shared secrets; the others read them.
    let (a, key) = node(data, db.url()).await;
    let (b, _) = node(data, db.url()).await;
    let (mut c, _) = node(data, db.url()).await;
    let api = common::bootstrap(&["--data", data, "--database", db.url()]).await;

    // A borrower whose phone the policy locked (set up as the engine leaves it after weeks
    // of arrears and a delivered notice: restricted, contract overdue, nothing due soon).
    let phone_imei = imei(1);
    let (status, body) = post(
        &format!("{}/v1/devices", a.url),
        &api,
        json!({"imei": phone_imei.as_str()}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let device = body["id"].as_str().unwrap().to_owned();
    let (status, body) = post(
        &format!("{}/v1/contracts", a.url),
        &api,
        json!({"device_id": device, "reference": "LN-1", "terms": {
            "currency": "KES", "financed": 30_000,
            "schedule": {"explicit": [["2020-01-10", 10_000], ["2099-02-10", 20_000]]},
            "time_zone": "Africa/Nairobi"}}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    db.exec_raw(&format!(
        "UPDATE devices SET policy_level = 4 WHERE id = '{device}';
         UPDATE contracts SET next_evaluation_at = 4102444800000, woken_at = NULL
           WHERE device_id = '{device}'"
    ))
    .await;

    // The phone reaches the deployment through the balancer, which sends it to node C.
    let lb = Balancer::start(vec![a.addr, b.addr, c.addr]).await;
    lb.route_to(2);
    let mut phone = Phone::start(
        &dir.path().join("phone"),
        &format!("http://{}", lb.addr),
        &key,
        phone_imei,
    );
    phone
        .until("the policy's lock", Enforcement::is_locked)
        .await;
    phone.connected().await;

    // The payment is posted on node A; the phone, connected to C, is unlocked at once.
    let (status, body) = post(
        &format!("{}/v1/payments", a.url),
        &api,
        json!({"imei": phone_imei.as_str(), "amount": 10_000, "currency": "KES"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    phone
        .until("the unlock after payment", |e| !e.is_locked())
        .await;
    assert!(
        phone.stats.hints.load(Ordering::Relaxed) >= 1,
        "a hint, not polling"
    );

    // Node C dies; the balancer sends new connections to A. A lock issued on B while the
    // phone is cut off reaches it once it has reconnected.
    lb.route_to(0);
    c.proc.child.kill().await.unwrap();
    let (status, body) = post(
        &format!("{}/v1/devices/{device}/lock", b.url),
        &api,
        json!({"reason": "while disconnected"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    phone
        .until("the lock after reconnecting", Enforcement::is_locked)
        .await;

    // Ten locks scheduled a few seconds ahead: with the scheduler running on A and B, each
    // is applied exactly once.
    let at = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(3);
    let mut devices = Vec::new();
    for n in 10..20 {
        let (status, body) = post(
            &format!("{}/v1/devices", b.url),
            &api,
            json!({"imei": imei(n).as_str()}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let id = body["id"].as_str().unwrap().to_owned();
        let (status, body) = post(
            &format!("{}/v1/devices/{id}/lock", a.url),
            &api,
            json!({"reason": "scheduled", "at": at.to_string()}),
        )
        .await;
        assert!(status == 200 || status == 201, "{status} {body}");
        devices.push(id);
    }
    let deadline = tokio::time::Instant::now() + PROMPT;
    for id in &devices {
        loop {
            let (_, d) = get(&format!("{}/v1/devices/{id}", b.url), &api).await;
            if d["state"] == "locked" {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{id} never locked: {d}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let (_, t) = get(
            &format!("{}/v1/devices/{id}/timeline?limit=100", a.url),
            &api,
        )
        .await;
        let locks = t["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "locked")
            .count();
        assert_eq!(locks, 1, "{id}: {t}");
    }
    drop((a, b));
}
