//! Operations telemetry: Prometheus metrics, served on a listener of their own, and the
//! request id that ties a response, its log lines and its audit entry together.
//!
//! The metrics are process-wide (one recorder per process, as the `metrics` facade has),
//! which is one node's view: a fleet's dashboards sum the nodes. The names are listed in
//! docs/deployment.md; a test scrapes each of them from a real server.

use crate::app::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Requests by method, route template and status.
pub const HTTP_REQUESTS: &str = "lienlock_http_requests_total";
/// Time to the response head, by method and route template.
pub const HTTP_DURATION: &str = "lienlock_http_request_duration_seconds";
/// Device check-ins by outcome (`ok`, `refused`, `unavailable`) and authentication
/// (`signature`, `mac`, `unreadable`).
pub const CHECKINS: &str = "lienlock_checkins_total";
/// Check-in MAC keys handed out (docs/protocol.md, section 2a): about one per phone and
/// server key; a steady stream means phones keep losing theirs or being refused them.
pub const CHECKIN_MAC_KEYS: &str = "lienlock_checkin_mac_keys_total";
/// Device changes committed, by timeline kind (`locked`, `unlocked`, `released`,
/// `restriction_changed`, ...): what the lender and the policy decided for phones.
pub const DEVICE_CHANGES: &str = "lienlock_device_changes_total";
/// From the policy lifting a phone's restriction (a curing payment) to that phone being
/// served its unrestricted lease.
pub const UNLOCK_DELIVERY: &str = "lienlock_payment_to_unlock_seconds";
/// Push connections this node holds.
pub const PUSH_CONNECTIONS: &str = "lienlock_push_connections";
/// How late the scheduler's last pass started, after the tick it was due at.
pub const SCHEDULER_LAG: &str = "lienlock_scheduler_lag_seconds";
/// How long scheduler passes take.
pub const SCHEDULER_PASS: &str = "lienlock_scheduler_pass_seconds";
/// Webhook deliveries waiting to be sent (all lenders), read at each scrape.
pub const WEBHOOK_BACKLOG: &str = "lienlock_webhook_backlog";

/// Latency buckets, in seconds: from a cached read to the 30 s request limit.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// A phone hears of a payment through push within seconds, or at its next check-in
/// (minutes) when push is down.
const UNLOCK_BUCKETS: &[f64] = &[
    0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0,
];

/// How often the recorder's histograms are folded into their buckets between scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Set by [`recorder`]'s first call: `Some` (ours), or `None` (another program's was
/// installed first, or ours could not be built). Either way the process's recorder is
/// settled from then on: `metrics` never replaces one once set.
static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Whether the process's recorder is settled (see [`HANDLE`]).
fn recorder_settled() -> bool {
    HANDLE.get().is_some()
}

/// The process's recorder, installed on first use. `None` when another recorder was
/// installed first (a program embedding the server with its own), in which case the
/// metrics go there and this listener has nothing to show.
pub fn recorder() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(UNLOCK_DELIVERY.into()), UNLOCK_BUCKETS)
                })
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            // Histograms keep every value recorded until upkeep folds them into their
            // buckets, which rendering does; a node nobody scrapes would otherwise grow by
            // each request's duration, forever.
            let upkeep = handle.clone();
            if let Err(e) = std::thread::Builder::new()
                .name("lienlock-metrics".into())
                .spawn(move || loop {
                    std::thread::sleep(UPKEEP_EVERY);
                    upkeep.run_upkeep();
                })
            {
                tracing::warn!(error = %e, "no metrics upkeep thread: histograms fold only when scraped");
            }
            Some(handle)
        })
        .as_ref()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests by method, route template and status"
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time to the response head by method and route template"
    );
    describe_counter!(
        CHECKINS,
        "Device check-ins by outcome and authentication (signature, mac, unreadable)"
    );
    describe_counter!(CHECKIN_MAC_KEYS, "Check-in MAC keys handed out to phones");
    describe_counter!(
        DEVICE_CHANGES,
        "Committed device changes by timeline kind (locked, unlocked, released, ...)"
    );
    describe_histogram!(
        UNLOCK_DELIVERY,
        Unit::Seconds,
        "From the policy lifting a restriction to the phone being served its unrestricted lease"
    );
    describe_gauge!(PUSH_CONNECTIONS, "Push connections held by this node");
    describe_gauge!(
        SCHEDULER_LAG,
        Unit::Seconds,
        "How late the last scheduler pass started"
    );
    describe_histogram!(SCHEDULER_PASS, Unit::Seconds, "Scheduler pass duration");
    describe_gauge!(WEBHOOK_BACKLOG, "Webhook deliveries pending");
}

/// The metrics listener's router: `GET /metrics` in the Prometheus text format.
pub fn metrics_router(state: AppState) -> axum::Router {
    axum::Router::new()
        .route("/metrics", axum::routing::get(scrape))
        .with_state(state)
}

/// Gauges that are cheaper to read when asked than to keep current are read here.
async fn scrape(State(state): State<AppState>) -> Response {
    let Some(handle) = recorder() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "another metrics recorder is installed in this process\n",
        )
            .into_response();
    };
    metrics::gauge!(PUSH_CONNECTIONS).set(state.push.connections() as f64);
    if let Some(backlog) = state.service.webhook_backlog().await {
        metrics::gauge!(WEBHOOK_BACKLOG).set(backlog as f64);
    }
    handle.run_upkeep();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        handle.render(),
    )
        .into_response()
}

/// The request id header, set on every response so a caller can quote it.
pub const REQUEST_ID: &str = "x-request-id";

/// This request's id: generated here, never taken from the caller (it goes into the audit
/// trail, which must not carry what a client chose to write there).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Outermost layer of the router (router layers run after routing, so the route template
/// is known): gives the request its id, runs it inside a span that carries the id, method
/// and route template (never the path or query, which can hold an IMEI), counts and times
/// it, and returns the id in `x-request-id`.
pub async fn layer(mut req: Request, next: Next) -> Response {
    use tracing::Instrument;
    // A version 4 UUID from the thread's generator: `new_v4` asks the kernel for its
    // bytes, a system call on every request, and an id needs to be unique, not secret.
    let id = uuid::Builder::from_random_bytes(rand::random())
        .into_uuid()
        .simple()
        .to_string();
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("(unmatched)", |m| intern(m.as_str()));
    let span = tracing::info_span!("request", request_id = %id, method = %method, route);
    let started = Instant::now();
    let mut resp = next.run(req).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = resp.status();
    record_request(method_label(&method), route, status, elapsed);
    let level = response_level(route, status, elapsed);
    span.in_scope(|| {
        let (status, ms) = (status.as_u16(), elapsed.as_millis() as u64);
        match level {
            tracing::Level::WARN => tracing::warn!(status, ms, "response"),
            tracing::Level::INFO => tracing::info!(status, ms, "response"),
            _ => tracing::debug!(status, ms, "response"),
        }
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(REQUEST_ID, v);
    }
    resp
}

/// A response slower than this is logged at `info` on any route.
const SLOW: Duration = Duration::from_secs(1);

/// The level a response is logged at. Server errors are warnings. The routes phones and
/// probes call (`/device/...`, `/healthz`, `/readyz`) come as often as the fleet is
/// large: ten million phones checking in every 17 minutes are ten thousand lines a second,
/// gigabytes an hour, so their responses are `debug` unless slow (their counts and times
/// are in the metrics, refusals by outcome). Everything else (a lender's API calls, the
/// console) is `info`.
fn response_level(route: &str, status: StatusCode, elapsed: Duration) -> tracing::Level {
    let fleet_scaled = route.starts_with("/device/") || route == "/healthz" || route == "/readyz";
    if status.is_server_error() {
        tracing::Level::WARN
    } else if !fleet_scaled || elapsed >= SLOW {
        tracing::Level::INFO
    } else {
        tracing::Level::DEBUG
    }
}

/// Route templates are few and fixed; metrics labels want `'static` strings.
fn intern(s: &str) -> &'static str {
    use std::collections::HashSet;
    use std::sync::Mutex;
    static SEEN: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut seen = SEEN
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(t) = seen.get(s) {
        return t;
    }
    let t: &'static str = Box::leak(s.to_owned().into_boxed_str());
    seen.insert(t);
    t
}

/// The method as a label: the standard ones by name, any other as `other`, so a client
/// inventing methods cannot add series without end.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [Method; 7] = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::HEAD,
        Method::OPTIONS,
    ];
    KNOWN
        .iter()
        .find(|m| *m == method)
        .map_or("other", Method::as_str)
}

/// A request series' labels: method, route template, status.
type SeriesKey = (&'static str, &'static str, StatusCode);

thread_local! {
    /// This thread's handles to the request series it has recorded into. Looking a series
    /// up in the recorder builds its key (labels allocated, hashed, compared) on every
    /// request; a handle is the series itself. A few dozen at most: the route templates
    /// are fixed and the labels bounded.
    static REQUEST_SERIES: RefCell<HashMap<SeriesKey, (Counter, Histogram)>> =
        RefCell::new(HashMap::new());
}

fn record_request(
    method: &'static str,
    route: &'static str,
    status: StatusCode,
    elapsed: Duration,
) {
    let lookup = || {
        (
            metrics::counter!(HTTP_REQUESTS, "method" => method, "route" => route, "status" => status.as_str().to_owned()),
            metrics::histogram!(HTTP_DURATION, "method" => method, "route" => route),
        )
    };
    let record = |(requests, duration): &(Counter, Histogram)| {
        requests.increment(1);
        duration.record(elapsed.as_secs_f64());
    };
    // Handles are kept only once the process has its recorder for good: one taken before
    // would keep recording nowhere.
    if !recorder_settled() {
        return record(&lookup());
    }
    REQUEST_SERIES.with_borrow_mut(|series| {
        record(series.entry((method, route, status)).or_insert_with(lookup));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_labelled_from_a_fixed_set() {
        assert_eq!(method_label(&Method::POST), "POST");
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "other");
        assert_eq!(method_label(&Method::CONNECT), "other");
    }

    #[test]
    fn fleet_scaled_routes_log_responses_at_debug_unless_slow_or_failed() {
        use tracing::Level;
        let quick = Duration::from_millis(3);
        for route in [
            "/device/v1/checkin",
            "/device/v1/push",
            "/healthz",
            "/readyz",
        ] {
            assert_eq!(response_level(route, StatusCode::OK, quick), Level::DEBUG);
            assert_eq!(
                response_level(route, StatusCode::CONFLICT, quick),
                Level::DEBUG,
                "a replay is counted and on the timeline, not logged per request"
            );
            assert_eq!(response_level(route, StatusCode::OK, SLOW), Level::INFO);
            assert_eq!(
                response_level(route, StatusCode::SERVICE_UNAVAILABLE, quick),
                Level::WARN
            );
        }
        for route in ["/v1/devices", "/v1/payments", "(unmatched)"] {
            assert_eq!(
                response_level(route, StatusCode::CREATED, quick),
                Level::INFO
            );
            assert_eq!(
                response_level(route, StatusCode::INTERNAL_SERVER_ERROR, quick),
                Level::WARN
            );
        }
    }
}
