//! HTTP routes. Handlers extract, call one service method, and map the result.

mod android;
mod api_keys;
pub(crate) mod audit;
mod codes;
mod contracts;
mod device_api;
mod device_import;
mod devices;
mod disputes;
mod health;
mod payments;
mod public;
mod push;
mod table;
mod webhooks;

pub use table::{Access, Route, Routes};

use crate::app::AppState;
use crate::error::ApiError;
use crate::shed::InFlight;
use axum::Router;

/// The longest a request may take, from its first byte to its response. The push stream is
/// the exception: it is meant to stay open.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Every route the server answers, with its table. Health and readiness have a time limit
/// but no share of the in-flight budget: a load balancer must still hear from an
/// overloaded node. Push streams have neither: they are meant to stay open, and have their
/// own cap (`PushLimits`).
fn all(in_flight: InFlight) -> Routes {
    Routes::new()
        .merge(health::routes().layer(axum::middleware::from_fn(time_limit)))
        .merge(budgeted(in_flight))
        .merge(push::routes())
}

/// The routes whose requests have a time limit and take a share of the node's in-flight
/// budget (shed past it, before the time limit starts).
fn budgeted(in_flight: InFlight) -> Routes {
    Routes::new()
        .merge(devices::routes())
        .merge(android::routes())
        .merge(device_import::routes())
        .merge(device_api::routes())
        .merge(contracts::routes())
        .merge(payments::routes())
        .merge(disputes::routes())
        .merge(codes::routes())
        .merge(api_keys::routes())
        .merge(audit::routes())
        .merge(public::routes())
        .merge(webhooks::routes())
        .merge(crate::openapi::routes())
        .merge(crate::console::routes())
        .layer(
            // Shed first, then the time limit, composed into one layer (see `app::router`).
            tower::ServiceBuilder::new()
                .layer(axum::middleware::from_fn_with_state(
                    in_flight,
                    crate::shed::shed,
                ))
                .layer(axum::middleware::from_fn(time_limit)),
        )
}

/// Answers 503 `timed_out` (with `Retry-After`) to a request still running after
/// [`REQUEST_TIMEOUT`], so a stuck database or a slow client's body cannot hold a
/// connection and a task without end.
async fn time_limit(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => ApiError::TimedOut.into_response(),
    }
}

/// Every route the server answers, the budgeted ones sharing `in_flight`.
pub fn router(in_flight: InFlight) -> Router<AppState> {
    all(in_flight)
        .into_parts()
        .0
        .fallback(|| async { ApiError::NoRoute })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
}

/// Every route with who may call it: what the permission and isolation tests walk and what
/// `docs/security.md`'s matrix is checked against.
pub fn table() -> Vec<Route> {
    all(InFlight::unlimited()).into_parts().1
}
