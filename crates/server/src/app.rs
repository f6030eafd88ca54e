//! Assembling and running the server.

use crate::extract::BODY_LIMIT;
use crate::push::{self, Hub, PushLimits};
use crate::routes;
use crate::scheduler;
use crate::service::Service;
use axum::extract::DefaultBodyLimit;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;

pub use crate::service::LeaseSettings;

/// Shared state of every request: one reference count to clone. Every middleware layer and
/// extractor that takes the state clones it for each request, and dropping the parts'
/// copies (the server key among them, zeroed on drop) was about 3 % of a check-in's CPU
/// (docs/benchmarks.md, "Sixth round").
#[derive(Debug, Clone)]
pub struct AppState(std::sync::Arc<StateParts>);

/// What [`AppState`] holds; read through it (`state.service`).
#[derive(Debug, Clone)]
pub struct StateParts {
    /// The use cases.
    pub service: Service,
    /// This node's push connections.
    pub push: Hub,
    /// Per-client limits of the public endpoints.
    pub limiter: std::sync::Arc<crate::ratelimit::RateLimiter>,
    /// Failed console sign-ins.
    pub sign_in: std::sync::Arc<crate::console::SignInThrottle>,
    /// Per-address limit of the device endpoints; `None`: no limit.
    pub device_limiter: Option<std::sync::Arc<crate::ratelimit::RateLimiter>>,
    /// Set when shutdown begins: `/readyz` then answers not ready, so a balancer stops
    /// sending new work while requests in flight finish.
    pub draining: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// This node's cap on requests in flight (unlimited unless set).
    pub in_flight: crate::shed::InFlight,
    /// How Android phones authenticate their gRPC calls.
    pub android: std::sync::Arc<crate::android::AndroidOptions>,
}

impl AppState {
    /// State with the default push limits.
    pub fn new(service: Service) -> Self {
        Self::with_push(service, PushLimits::default())
    }

    /// State with these push limits.
    pub fn with_push(service: Service, limits: PushLimits) -> Self {
        Self(std::sync::Arc::new(StateParts {
            service,
            push: Hub::new(limits),
            limiter: Default::default(),
            sign_in: Default::default(),
            device_limiter: None,
            draining: Default::default(),
            in_flight: crate::shed::InFlight::unlimited(),
            android: Default::default(),
        }))
    }

    /// The parts, to change while setting up (a copy if the state was already shared).
    fn parts_mut(&mut self) -> &mut StateParts {
        std::sync::Arc::make_mut(&mut self.0)
    }

    /// Caps the requests this node serves at once at `max` (0: no cap); past it they are
    /// answered `503 overloaded` with `Retry-After` at once. Push streams, health and
    /// readiness are not counted.
    pub fn with_max_in_flight(mut self, max: usize) -> Self {
        self.parts_mut().in_flight = crate::shed::InFlight::new(max);
        self
    }

    /// Limits each address to `per_sec` device requests a second (ten seconds' worth at
    /// once); 0 leaves them unlimited.
    pub fn with_device_rate(mut self, per_sec: u32) -> Self {
        self.parts_mut().device_limiter = (per_sec > 0)
            .then(|| std::sync::Arc::new(crate::ratelimit::RateLimiter::per_second(per_sec)));
        self
    }

    /// Sets how Android phones authenticate.
    pub fn with_android(mut self, options: crate::android::AndroidOptions) -> Self {
        self.parts_mut().android = std::sync::Arc::new(options);
        self
    }
}

impl std::ops::Deref for AppState {
    type Target = StateParts;

    fn deref(&self) -> &StateParts {
        &self.0
    }
}

/// The router with its middleware, ready to serve: the route table's routes and the
/// Android gRPC services (outside the table: see `crate::android`).
pub fn router(state: AppState) -> axum::Router {
    // One layer of composed middleware, outermost first, rather than one router layer
    // each: every router layer boxes the routes again, and a request clones each box on
    // its way in (docs/benchmarks.md, "Sixth round").
    let middleware = tower::ServiceBuilder::new()
        .layer(axum::middleware::from_fn(crate::telemetry::layer))
        .layer(axum::middleware::map_response(nosniff))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::audit::layer,
        ));
    routes::router(state.in_flight.clone())
        .merge(crate::android::router(&state))
        .layer(middleware)
        .with_state(state)
}

/// No response is ever sniffed into another type (JSON rendered as HTML, say); pages set
/// their own stricter headers besides.
async fn nosniff(mut resp: axum::response::Response) -> axum::response::Response {
    resp.headers_mut()
        .entry(axum::http::header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(axum::http::HeaderValue::from_static("nosniff"));
    resp
}

/// Serves on `listener` until `shutdown` completes, running the scheduler and (when the
/// service has webhooks) the webhook delivery worker alongside. In-flight requests finish
/// before this returns.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    scheduler_every: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let sched = tokio::spawn(scheduler::run(
        state.service.clone(),
        scheduler_every,
        stop_rx.clone(),
    ));
    let webhooks = tokio::spawn(crate::service::run_webhook_worker(
        state.service.clone(),
        stop_rx.clone(),
    ));
    let relay = tokio::spawn(push::relay(
        state.service.store().clone(),
        state.push.clone(),
        stop_rx,
    ));
    let hub = state.push.clone();
    let draining = state.draining.clone();
    let app = router(state);
    // The client's address is what the public endpoints are rate-limited by.
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            draining.store(true, std::sync::atomic::Ordering::SeqCst);
            tracing::info!("draining: no new connections; requests in flight finish");
            let _ = stop_tx.send(true);
            // Push streams never end by themselves, and shutdown waits for open requests.
            hub.close();
        })
        .await;
    let _ = sched.await;
    let _ = webhooks.await;
    let _ = relay.await;
    result
}
