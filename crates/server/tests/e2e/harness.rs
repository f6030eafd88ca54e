//! A real server on 127.0.0.1:0 with a fresh database, real agents in temporary
//! directories, and a shared manual clock so tests can move time.

use lienlock_agent::{Agent, AgentConfig};
use lienlock_domain::{Clock, Imei, ManualClock, SystemClock};
use lienlock_server::android::AndroidOptions;
use lienlock_server::apikey::ServerSecret;
use lienlock_server::ops::{self, NewLender};
use lienlock_server::service::WebhookSettings;
use lienlock_server::{AppState, LeaseSettings, Service};
use lienlock_store_sql::testing::{Backend, TestDb};
use lienlock_wire::{CheckIn, CheckInVersion, DeviceKey, ServerKey, ServerPublicKey};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The deployment's Android key in every test server: it may name any lender's phones.
pub const DEPLOYMENT_ANDROID_KEY: &str = "deployment-key-for-tests-0123456789abcdef";

pub struct TestServer {
    pub url: String,
    /// The dedicated listener of the Android gRPC services (the main one serves them too).
    pub android_url: String,
    pub clock: Arc<ManualClock>,
    pub server_key: ServerPublicKey,
    pub http: reqwest::Client,
    service: Service,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    android_stop: Option<tokio::sync::oneshot::Sender<()>>,
    android_handle: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    dirs: tempfile::TempDir,
    /// Kept alive for the test; dropped (and its PostgreSQL database with it) at the end.
    _db: TestDb,
}

/// A lender with its API key.
pub struct TestLender {
    pub key: String,
}

impl TestServer {
    /// Starts a server on a fresh database, or `None` when the backend is not available here.
    pub async fn start(backend: Backend) -> Option<Self> {
        Self::start_at(backend, SystemClock.now()).await
    }

    /// [`Self::start`] with the shared clock standing at `start`.
    pub async fn start_at(backend: Backend, start: lienlock_domain::Timestamp) -> Option<Self> {
        let db = TestDb::new(backend).await?;
        let (store, webhooks) = lienlock_store_sql::open_with_webhooks(db.url())
            .await
            .unwrap_or_else(|e| panic!("opening the test database: {e}"));
        let clock = Arc::new(ManualClock::new(start));
        let signer = ServerKey::generate();
        let server_key = signer.public();
        let service = Service::new(
            store,
            clock.clone(),
            signer,
            ServerSecret::generate(),
            LeaseSettings {
                lease_ttl_secs: 7 * 24 * 3600,
                checkin_interval_secs: 60,
            },
        )
        // Webhooks to a receiver on 127.0.0.1, looked for often so tests are quick.
        .with_webhooks(
            webhooks,
            WebhookSettings {
                poll_every: Duration::from_millis(20),
                timeout: Duration::from_secs(5),
                allow_private_addresses: true,
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let state = AppState::new(service.clone()).with_android(AndroidOptions {
            header: lienlock_server::android::DEFAULT_HEADER.into(),
            deployment_key_hash: Some(lienlock_server::service::android_key_hash(
                DEPLOYMENT_ANDROID_KEY,
            )),
        });
        let android = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let android_url = format!("http://{}", android.local_addr().unwrap());
        let (android_tx, android_rx) = tokio::sync::oneshot::channel::<()>();
        let android_handle = tokio::spawn(lienlock_server::android::serve(
            android,
            state.clone(),
            async move {
                let _ = android_rx.await;
            },
        ));
        let handle = tokio::spawn(lienlock_server::serve(
            listener,
            state,
            Duration::from_millis(50),
            async move {
                let _ = rx.await;
            },
        ));
        Some(Self {
            url,
            android_url,
            clock,
            server_key,
            http: reqwest::Client::new(),
            service,
            stop: Some(tx),
            handle: Some(handle),
            android_stop: Some(android_tx),
            android_handle: Some(android_handle),
            dirs: tempfile::tempdir().unwrap(),
            _db: db,
        })
    }

    /// Creates a lender through the operator path and returns its API key.
    pub async fn lender(&self, name: &str) -> TestLender {
        let (_, key) = ops::bootstrap_lender(
            self.service.store().as_ref(),
            self.service.secret(),
            self.service.clock().as_ref(),
            NewLender {
                name: name.into(),
                support_phone: "+254 700 000 000".into(),
                support_url: "https://pay.example/acme".into(),
            },
        )
        .await
        .unwrap();
        TestLender {
            key: key.to_string(),
        }
    }

    /// Sends a request as `lender` (or anonymously) and returns status and JSON body.
    pub async fn call(
        &self,
        lender: Option<&TestLender>,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if let Some(l) = lender {
            req = req.bearer_auth(&l.key);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, json)
    }

    pub async fn get(&self, lender: &TestLender, path: &str) -> (u16, Value) {
        self.call(Some(lender), reqwest::Method::GET, path, None)
            .await
    }

    pub async fn post(&self, lender: &TestLender, path: &str, body: Value) -> (u16, Value) {
        self.call(Some(lender), reqwest::Method::POST, path, Some(body))
            .await
    }

    /// Enrolls `imei` for `lender` and returns the device id.
    pub async fn enroll(&self, lender: &TestLender, imei: &Imei) -> String {
        let (status, body) = self
            .post(
                lender,
                "/v1/devices",
                serde_json::json!({"imei": imei.as_str()}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// Sends a lock, unlock, release or approve-key command for `device`.
    pub async fn command(
        &self,
        lender: &TestLender,
        device: &str,
        command: &str,
        body: Value,
    ) -> (u16, Value) {
        self.post(lender, &format!("/v1/devices/{device}/{command}"), body)
            .await
    }

    /// Enrolls the n-th test IMEI, provisions a phone for it in its own directory and checks
    /// it in once. Returns the device id and the running agent.
    pub async fn enrolled_phone(&self, lender: &TestLender, n: u32) -> (String, Agent) {
        let imei = imei(n);
        let device = self.enroll(lender, &imei).await;
        let mut agent = self.agent(&self.phone_dir(&format!("phone-{n}")), &imei);
        agent.check_in().await.unwrap();
        (device, agent)
    }

    /// The services, to run a scheduler pass deterministically (the background scheduler
    /// runs the same code).
    /// The database, for tests that reach past the server on purpose.
    pub fn db(&self) -> &TestDb {
        &self._db
    }

    pub fn service(&self) -> &Service {
        &self.service
    }

    /// A directory for a simulated phone.
    pub fn phone_dir(&self, name: &str) -> PathBuf {
        self.dirs.path().join(name)
    }

    /// Opens (or provisions) a phone's agent in `dir`, sharing the server's clock.
    pub fn agent(&self, dir: &Path, imei: &Imei) -> Agent {
        Agent::open(
            AgentConfig {
                data_dir: dir.to_path_buf(),
                server_url: self.url.clone(),
                server_key: self.server_key,
                imei: *imei,
            },
            self.clock.clone(),
        )
        .unwrap()
    }

    /// The kinds on a device's timeline, oldest first.
    pub async fn timeline_kinds(&self, lender: &TestLender, device: &str) -> Vec<String> {
        let (status, body) = self
            .get(lender, &format!("/v1/devices/{device}/timeline?limit=500"))
            .await;
        assert_eq!(status, 200, "{body}");
        body["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.unwrap().unwrap();
        }
        if let Some(tx) = self.android_stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.android_handle.take() {
            h.await.unwrap().unwrap();
        }
    }
}

/// The n-th test IMEI (valid check digit).
/// A check-in made by hand, as an agent of `version` would send it: no acknowledgements, no
/// server key named, no reports or signals.
pub fn hand_made_checkin(
    version: CheckInVersion,
    imei: Imei,
    key: &DeviceKey,
    counter: u64,
    device_time: lienlock_domain::Timestamp,
) -> CheckIn {
    CheckIn {
        version,
        imei,
        device_key: key.public(),
        counter,
        device_time,
        held_lease_seq: 0,
        notice_ack: 0,
        server_key_id: None,
        user_since: 0,
        reports: Vec::new(),
        signals: Vec::new(),
    }
}

pub fn imei(n: u32) -> Imei {
    Imei::from_body(&format!("35693803{n:06}")).unwrap()
}
