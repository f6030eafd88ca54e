//! A node-wide cap on requests in flight, with load shedding past it.
//!
//! Under more load than the node (or its database) can serve, requests would otherwise
//! pile up: each holds a task, its buffers and, soon, a place in the database pool's
//! queue, and every one of them gets slower. Past the cap a request is answered at once
//! with `503 overloaded` and `Retry-After`, before its handler runs and before its body
//! is read (the audit layer, outside the cap, admits a lender write itself before it reads
//! the body for its reason: `InFlight::admit`): the ones admitted
//! keep their latency, memory stays bounded, and clients (agents back off with jitter)
//! come back later. Device and lender requests share the budget; health, readiness and
//! the long-lived push streams are outside it (see `routes::all`).

use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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

    /// A permit taken ahead of [`shed`] by a layer outside it that would otherwise work
    /// for a request about to be shed (the audit layer reads a lender write's body). The
    /// caller puts it on the request, which [`shed`] then lets through, and on the
    /// response. `Ok(None)`: no cap; `Err`: shed.
    pub(crate) fn admit(&self) -> Result<Option<Admitted>, ApiError> {
        let Some(permits) = &self.0 else {
            return Ok(None);
        };
        let permit = permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::Overloaded)?;
        Ok(Some(Admitted {
            _permit: Arc::new(permit),
        }))
    }
}

/// A request's permit, carried out on its response (see [`shed`]).
#[derive(Clone, Debug)]
pub(crate) struct Admitted {
    _permit: Arc<OwnedSemaphorePermit>,
}

/// Runs the request if a permit is free, `503 overloaded` otherwise. Never waits for a
/// permit: a queue here would be the unbounded one this exists to prevent.
///
/// The permit leaves on the response, so it is held until the response itself is dropped,
/// not only until the handler returns: the layers outside this one still work for the
/// request after that (the audit layer appends its entry, a database write, before the
/// response goes out). Released with the handler, that work escaped the cap: in the
/// overload drill, admitted requests freed their permits for new ones while their audit
/// appends queued for the database pool, and waited seconds there.
pub(crate) async fn shed(State(in_flight): State<InFlight>, req: Request, next: Next) -> Response {
    // Admitted already, by a layer outside this one (`InFlight::admit`).
    if req.extensions().get::<Admitted>().is_some() {
        return next.run(req).await;
    }
    match in_flight.admit() {
        Ok(admitted) => {
            let mut resp = next.run(req).await;
            if let Some(a) = admitted {
                resp.extensions_mut().insert(a);
            }
            resp
        }
        Err(shed) => shed.into_response(),
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

    /// A layer outside the cap that still works after the handler (as the audit layer
    /// does) holds the request's permit until it lets the response go.
    #[tokio::test]
    async fn the_permit_is_held_until_the_response_is_let_go() {
        let (release, released) = tokio::sync::watch::channel(false);
        let outer = move |req: Request, next: Next| {
            let mut released = released.clone();
            async move {
                let hold = req.uri().query() == Some("hold");
                let resp = next.run(req).await;
                if hold {
                    let _ = released.wait_for(|r| *r).await;
                }
                resp
            }
        };
        let app = axum::Router::new()
            .route("/fast", get(|| async { "done" }))
            .layer(axum::middleware::from_fn_with_state(InFlight::new(1), shed))
            .layer(axum::middleware::from_fn(outer));
        let call = |app: axum::Router, uri: &'static str| async move {
            app.oneshot(Request::get(uri).body(Body::empty()).unwrap())
                .await
                .unwrap()
        };
        let first = tokio::spawn(call(app.clone(), "/fast?hold"));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        // The handler has long answered; the outer layer still holds its response.
        assert_eq!(call(app.clone(), "/fast").await.status(), 503);
        release.send(true).unwrap();
        let first = first.await.unwrap();
        assert_eq!(first.status(), 200);
        drop(first);
        assert_eq!(call(app, "/fast").await.status(), 200);
    }
}
