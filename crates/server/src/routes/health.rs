//! Liveness and readiness.

use super::{Access, Routes};
use crate::app::AppState;
use axum::extract::State;
use axum::http::Method;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};

pub(super) fn routes() -> Routes {
    Routes::new()
        .add(
            Method::GET,
            "/healthz",
            Access::Public,
            get(|| async { Json(json!({"status": "ok"})) }),
        )
        .add(Method::GET, "/readyz", Access::Public, get(ready))
}

impl crate::openapi::Operations {
    /// The operations of this file.
    pub(crate) fn health() -> utoipa::openapi::OpenApi {
        #[derive(utoipa::OpenApi)]
        #[openapi(paths(live, ready))]
        struct Doc;
        <Doc as utoipa::OpenApi>::openapi()
    }
}

/// Whether the server (or its database) can serve. Not the error shape.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Health)]
struct Health {
    /// `ok` (`/healthz`), `ready` or `not_ready` (`/readyz`).
    status: &'static str,
    /// Why not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
}

/// Live while the process serves HTTP. `routes()` answers `/healthz` with a closure of the
/// same body; this function carries its description for the OpenAPI document.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "ops",
    responses((status = 200, description = "`{\"status\": \"ok\"}`", body = Health)),
)]
#[allow(dead_code)]
async fn live() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Ready when the database answers; load balancers stop sending traffic otherwise.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "ops",
    responses(
        (status = 200, description = "`{\"status\": \"ready\"}`: the database answers", body = Health),
        (status = 503, description = "`{\"status\": \"not_ready\", \"reason\": \"storage unavailable\"}` or `\"shutting down\"`",
         body = Health),
    ),
)]
async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    if state.draining.load(std::sync::atomic::Ordering::SeqCst) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "not_ready",
                reason: Some("shutting down"),
            }),
        );
    }
    match state.service.store().ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(Health {
                status: "ready",
                reason: None,
            }),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Health {
                    status: "not_ready",
                    reason: Some("storage unavailable"),
                }),
            )
        }
    }
}
