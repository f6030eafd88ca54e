//! A node-wide cap on requests in flight, with load shedding past it.
//!
//! Under more load than the node (or its database) can serve, requests would otherwise
//! pile up: each holds a task, its buffers and, soon, a place in the database pool's
//! queue, and every one of them gets slower. Past the cap a request is answered at once
//! with `503 overloaded` and `Retry-After`, before its body is read: the ones admitted
//! keep their latency, memory stays bounded, and clients (agents back off with jitter)
//! come back later. Device and lender requests share the budget; health, readiness and
//! the long-lived push streams are outside it (see `routes::all`).

use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// The default cap of `lienlock serve` (`max_in_flight`).
pub const DEFAULT_MAX_IN_FLIGHT: usize = 256;

/// Permits for requests in flight on this node; `None`: no cap.
#[derive(Clone, Debug, Default)]
pub struct InFlight(Option<Arc<Semaphore>>);

impl InFlight {
    /// At most `max` requests at once; 0: no cap.
    pub fn new(max: usize) -> Self {
        Self((max > 0).then(|| Arc::new(Semaphore::new(max.min(Semaphore::MAX_PERMITS)))))
    }

    /// No cap.
    pub fn unlimited() -> Self {
        Self(None)
    }
}

/// Runs the request if a permit is free, holding it until the response is ready;
/// `503 overloaded` otherwise. Never waits for a permit: a queue here would be the
/// unbounded one this exists to prevent.
pub(crate) async fn shed(State(in_flight): State<InFlight>, req: Request, next: Next) -> Response {
    let Some(permits) = in_flight.0 else {
        return next.run(req).await;
    };
    match permits.try_acquire_owned() {
        Ok(_permit) => next.run(req).await,
        Err(_) => ApiError::Overloaded.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    #[tokio::test]
    async fn past_the_cap_requests_are_shed_at_once_with_retry_after() {
        let (release, released) = tokio::sync::watch::channel(false);
        let app = axum::Router::new()
            .route(
                "/slow",
                get(move || {
                    let mut released = released.clone();
                    async move {
                        let _ = released.wait_for(|r| *r).await;
                        "done"
                    }
                }),
            )
            .layer(axum::middleware::from_fn_with_state(InFlight::new(2), shed));
        let call = |app: axum::Router| async move {
            app.oneshot(Request::get("/slow").body(Body::empty()).unwrap())
                .await
                .unwrap()
        };
        let first = tokio::spawn(call(app.clone()));
        let second = tokio::spawn(call(app.clone()));
        // Let both take their permits.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let third = call(app.clone()).await;
        assert_eq!(third.status(), 503);
        assert_eq!(third.headers()["retry-after"], "1");
        let body = axum::body::to_bytes(third.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["code"], "overloaded");
        release.send(true).unwrap();
        assert_eq!(first.await.unwrap().status(), 200);
        assert_eq!(second.await.unwrap().status(), 200);
        // The permits came back.
        assert_eq!(call(app).await.status(), 200);
    }
}
