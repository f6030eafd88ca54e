//! Liveness and readiness.

use super::{Access, Routes};
use crate::app::AppState;
use axum::extract::State;
use axum::http::Method;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Json;
use lienlock_store::StoreError;
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

/// How long `/readyz` waits for the database: well under a load balancer's usual check
/// timeout, so a hung database reads as "not ready" rather than as a failed check.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

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

/// Ready when the database takes a write (a full or read-only one still answers reads);
/// load balancers stop sending traffic otherwise.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "ops",
    responses(
        (status = 200, description = "`{\"status\": \"ready\"}`: the database takes a write", body = Health),
        (status = 503, description = "`{\"status\": \"not_ready\", \"reason\": ...}`: `storage unavailable`, `storage full`, `storage read-only` or `shutting down`",
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
    let reason = match tokio::time::timeout(READY_TIMEOUT, state.service.store().ping()).await {
        Ok(Ok(())) => {
            return (
                StatusCode::OK,
                Json(Health {
                    status: "ready",
                    reason: None,
                }),
            )
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "not ready");
            match e {
                StoreError::Full(_) => "storage full",
                StoreError::ReadOnly(_) => "storage read-only",
                _ => "storage unavailable",
            }
        }
        Err(_) => {
            tracing::warn!("not ready: the database did not answer within {READY_TIMEOUT:?}");
            "storage unavailable"
        }
    };
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(Health {
            status: "not_ready",
            reason: Some(reason),
        }),
    )
}
