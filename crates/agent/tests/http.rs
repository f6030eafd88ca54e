//! Real HTTP round trips against a tiny in-test server speaking the device protocol, and
//! the run loop on top of them.

mod common;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use common::{imei, lock_screen};
use lienlock_agent::{
    Agent, AgentConfig, AgentError, Enforcement, ErrorCode, LockReason, RunExit, RunPolicy,
};
use lienlock_domain::{Clock, DeviceId, LeaseState, RestrictionProfile, SystemClock};
use lienlock_wire::{Lease, LeaseEnvelope, ServerKey, SignedCheckIn};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the fake server answers to each successive check-in.
#[derive(Clone, Copy, Debug)]
enum Reply {
    Lease {
        state: LeaseState,
        valid_ms: i64,
        next_ms: i64,
    },
    Error(u16, &'static str),
}

struct Fake {
    key: ServerKey,
    device_id: DeviceId,
    clock: Arc<dyn Clock>,
    script: Mutex<Vec<Reply>>,
    last_counter: Mutex<u64>,
    sequence: Mutex<u64>,
    /// Check-in requests received, refused ones included.
    requests: std::sync::atomic::AtomicUsize,
    /// Answers like a server older than check-in MAC keys: a field it does not know is
    /// refused (422).
    before_mac_keys: bool,
}

fn error(status: u16, code: &str) -> Response {
    let body = serde_json::json!({"error": {"code": code, "message": format!("{code} (test)")}});
    (StatusCode::from_u16(status).unwrap(), Json(body)).into_response()
}

async fn checkin(State(fake): State<Arc<Fake>>, Json(body): Json<serde_json::Value>) -> Response {
    fake.requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if fake.before_mac_keys && body.get("want_mac_key").is_some() {
        return error(422, "invalid_request");
    }
    let Ok(signed) = serde_json::from_value::<SignedCheckIn>(body) else {
        return error(422, "invalid_request");
    };
    let Ok(c) = signed.open() else {
        return error(400, "bad_signature");
    };
    {
        let mut last = fake.last_counter.lock().unwrap();
        if c.counter <= *last {
            return error(409, "replayed_checkin");
        }
        *last = c.counter;
    }
    let reply = {
        let mut script = fake.script.lock().unwrap();
        if script.len() > 1 {
            script.remove(0)
        } else {
            script[0]
        }
    };
    match reply {
        Reply::Error(status, code) => error(status, code),
        Reply::Lease {
            state,
            valid_ms,
            next_ms,
        } => {
            let sequence = {
                let mut s = fake.sequence.lock().unwrap();
                *s += 1;
                *s
            };
            let now = fake.clock.now();
            let lease = Lease {
                key_id: fake.key.id(),
                device_id: fake.device_id,
                imei: c.imei,
                device_key: c.device_key,
                sequence,
                state,
                issued_at: now,
                valid_until: now.plus_millis(valid_ms),
                next_checkin_at: now.plus_millis(next_ms),
                in_reply_to: c.counter,
                profile: RestrictionProfile::full_lock(),
                lock_screen: lock_screen(),
                notices: Vec::new(),
                warn_at: now.plus_millis(valid_ms),
                codes_through: 0,
                next_key: None,
            };
            Json(LeaseEnvelope::seal(&lease, &fake.key)).into_response()
        }
    }
}

/// Starts the fake server on a loopback port; it lives as long as the test's runtime.
async fn serve(script: Vec<Reply>) -> (String, Arc<Fake>) {
    serve_as(script, false).await
}

async fn serve_as(script: Vec<Reply>, before_mac_keys: bool) -> (String, Arc<Fake>) {
    let fake = Arc::new(Fake {
        before_mac_keys,
        key: ServerKey::generate(),
        device_id: DeviceId::new(),
        clock: Arc::new(SystemClock),
        script: Mutex::new(script),
        last_counter: Mutex::new(0),
        sequence: Mutex::new(0),
        requests: Default::default(),
    });
    let app = Router::new()
        .route(lienlock_agent::CHECKIN_PATH, post(checkin))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, fake)
}

fn agent(dir: &tempfile::TempDir, url: &str, fake: &Fake) -> Agent {
    let config = AgentConfig {
        data_dir: dir.path().to_owned(),
        server_url: url.to_owned(),
        server_key: fake.key.public(),
        imei: imei(),
    };
    Agent::open(config, Arc::new(SystemClock)).unwrap()
}

/// The CLI may spawn the agent on a multi-threaded runtime: its futures must be `Send`.
#[allow(dead_code)]
fn futures_are_send(agent: &mut Agent) {
    fn is_send<T: Send>(_: T) {}
    is_send(agent.check_in());
    is_send(agent.run(std::future::pending::<()>(), |_| {}));
}

fn fast() -> RunPolicy {
    RunPolicy {
        min_interval: Duration::from_millis(20),
        max_interval: Duration::from_secs(5),
        backoff_base: Duration::from_millis(20),
        backoff_cap: Duration::from_millis(100),
        reevaluate_every: Duration::from_millis(200),
        // This stand-in server has no push endpoint: the agent finds out and does without.
        push: true,
    }
}

const ACTIVE: Reply = Reply::Lease {
    state: LeaseState::Active,
    valid_ms: 3_600_000,
    next_ms: 900_000,
};

#[tokio::test]
async fn check_in_round_trip_and_replay_is_refused_by_the_server() {
    let (url, fake) = serve(vec![ACTIVE]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut agent = agent(&dir, &url, &fake);

    let outcome = agent.check_in().await.unwrap();
    assert_eq!(outcome.counter, 1);
    assert!(matches!(outcome.enforcement, Enforcement::Run { .. }));

    // A captured request sent again is a replay.
    let (signed, counter) = agent.build_checkin().unwrap();
    let env = agent.send_checkin(&signed).await.unwrap();
    agent.accept_lease(&env, counter).unwrap();
    let e = agent.send_checkin(&signed).await.unwrap_err();
    assert!(
        matches!(
            e,
            AgentError::Server {
                status: 409,
                code: ErrorCode::ReplayedCheckIn,
                ..
            }
        ),
        "{e}"
    );
    // The agent moves on with a fresh counter.
    assert_eq!(agent.check_in().await.unwrap().counter, 3);
}

/// A server older than check-in MAC keys refuses the request for one; the agent sends the
/// same check-in without it and keeps signing.
#[tokio::test]
async fn a_server_older_than_mac_keys_still_gets_signed_check_ins() {
    let (url, fake) = serve_as(vec![ACTIVE], true).await;
    let dir = tempfile::tempdir().unwrap();
    let mut agent = agent(&dir, &url, &fake);
    let requests = || fake.requests.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(agent.check_in().await.unwrap().counter, 1);
    assert_eq!(
        requests(),
        2,
        "asked for a key, refused, sent again without"
    );
    // The refusal is remembered: the next check-ins are one round trip each.
    for n in 2..=65 {
        assert_eq!(agent.check_in().await.unwrap().counter, n);
    }
    assert_eq!(requests(), 66);
    assert!(!agent.layout().checkin_mac_key().exists());
    // Then the agent asks again, in case the server was upgraded meanwhile.
    let (signed, _) = agent.build_checkin().unwrap();
    assert!(signed.want_mac_key && signed.open().is_ok());
}

#[tokio::test]
async fn server_errors_are_typed_and_unreachable_servers_are_transport_errors() {
    let (url, fake) = serve(vec![Reply::Error(404, "unknown_device")]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut agent = agent(&dir, &url, &fake);
    let e = agent.check_in().await.unwrap_err();
    assert!(
        matches!(
            e,
            AgentError::Server {
                status: 404,
                code: ErrorCode::UnknownDevice,
                ..
            }
        ),
        "{e}"
    );

    // A port nothing listens on (bound, then released).
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let dir = tempfile::tempdir().unwrap();
    let mut agent = self::agent(&dir, &dead_url, &fake);
    assert!(matches!(
        agent.check_in().await.unwrap_err(),
        AgentError::Transport(_)
    ));
    assert_eq!(
        agent.counter(),
        1,
        "the counter is spent even when the request fails"
    );
}

#[tokio::test]
async fn a_lease_signed_by_another_key_is_refused_over_http() {
    let (url, fake) = serve(vec![ACTIVE]).await;
    let dir = tempfile::tempdir().unwrap();
    let config = AgentConfig {
        data_dir: dir.path().to_owned(),
        server_url: url,
        server_key: ServerKey::generate().public(),
        imei: imei(),
    };
    let mut agent = Agent::open(config, Arc::new(SystemClock)).unwrap();
    let e = agent.check_in().await.unwrap_err();
    assert!(
        matches!(
            e,
            AgentError::Refused(lienlock_agent::LeaseRefusal::BadEnvelope(_))
        ),
        "{e}"
    );
    let _ = fake;
}

#[tokio::test]
async fn run_reports_changes_and_stops_when_released() {
    let (url, fake) = serve(vec![
        Reply::Lease {
            state: LeaseState::Active,
            valid_ms: 3_600_000,
            next_ms: 0,
        },
        Reply::Error(503, "unavailable"),
        Reply::Lease {
            state: LeaseState::Locked,
            valid_ms: 3_600_000,
            next_ms: 0,
        },
        Reply::Lease {
            state: LeaseState::Released,
            valid_ms: 3_600_000,
            next_ms: 0,
        },
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut agent = agent(&dir, &url, &fake);
    let mut seen = Vec::new();
    let exit = tokio::time::timeout(
        Duration::from_secs(20),
        agent.run_with(fast(), std::future::pending::<()>(), |e| {
            seen.push(e.clone())
        }),
    )
    .await
    .expect("run loop should end by itself once released");
    assert_eq!(exit, RunExit::Released);
    let kinds: Vec<_> = seen
        .iter()
        .map(|e| match e {
            Enforcement::Free => "free",
            Enforcement::Run { .. } => "run",
            Enforcement::Locked {
                why: LockReason::NoLease,
                ..
            } => "no_lease",
            Enforcement::Locked {
                why: LockReason::Lender,
                ..
            } => "lender",
            Enforcement::Locked {
                why: LockReason::LeaseExpired,
                ..
            } => "expired",
        })
        .collect();
    assert_eq!(kinds, ["no_lease", "run", "lender", "free"]);
    assert!(agent.is_released());
}

#[tokio::test]
async fn run_locks_at_expiry_without_network_and_honours_shutdown() {
    // One short lease, then the server fails for ever.
    let (url, fake) = serve(vec![
        Reply::Lease {
            state: LeaseState::Active,
            valid_ms: 600,
            next_ms: 3_600_000,
        },
        Reply::Error(503, "unavailable"),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut agent = agent(&dir, &url, &fake);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let watcher = {
        let seen = seen.clone();
        async move {
            // Shut down once the expiry was reported (or give up after a while).
            for _ in 0..200 {
                if seen.lock().unwrap().iter().any(|e: &Enforcement| {
                    matches!(
                        e,
                        Enforcement::Locked {
                            why: LockReason::LeaseExpired,
                            ..
                        }
                    )
                }) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            let _ = stop.send(());
        }
    };
    let run = agent.run_with(fast(), stopped, move |e| {
        log.lock().unwrap().push(e.clone())
    });
    let (exit, ()) = tokio::time::timeout(Duration::from_secs(20), async {
        tokio::join!(run, watcher)
    })
    .await
    .unwrap();
    assert_eq!(exit, RunExit::Shutdown);
    let seen = seen.lock().unwrap();
    assert!(matches!(
        seen[0],
        Enforcement::Locked {
            why: LockReason::NoLease,
            ..
        }
    ));
    assert!(matches!(seen[1], Enforcement::Run { .. }));
    assert!(matches!(
        seen[2],
        Enforcement::Locked {
            why: LockReason::LeaseExpired,
            ..
        }
    ));
}

#[tokio::test]
async fn shutdown_cancels_a_loop_that_never_reaches_the_server() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let dir = tempfile::tempdir().unwrap();
    let key = ServerKey::generate();
    let config = AgentConfig {
        data_dir: dir.path().to_owned(),
        server_url: dead_url,
        server_key: key.public(),
        imei: imei(),
    };
    let mut agent = Agent::open(config, Arc::new(SystemClock)).unwrap();
    let mut seen = Vec::new();
    let exit = tokio::time::timeout(
        Duration::from_secs(20),
        agent.run_with(
            fast(),
            tokio::time::sleep(Duration::from_millis(500)),
            |e| seen.push(e.clone()),
        ),
    )
    .await
    .unwrap();
    assert_eq!(exit, RunExit::Shutdown);
    assert_eq!(seen.len(), 1, "only the initial no-lease lock: {seen:?}");
    assert!(agent.counter() >= 2, "it kept retrying with fresh counters");
}
