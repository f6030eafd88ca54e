//! The device-facing endpoints. Devices authenticate by signing their requests.

use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::Json;
use axum::extract::State;
use axum::routing::{get, post};
use axum::Router;
use lienlock_wire::{LeaseEnvelope, SignedCheckIn, SignedDispute};
use serde_json::{json, Value};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/device/v1/checkin", post(checkin))
        .route("/device/v1/server-key", get(server_key))
        .route("/device/v1/dispute", post(dispute))
}

async fn checkin(
    State(state): State<AppState>,
    Json(body): Json<SignedCheckIn>,
) -> Result<axum::Json<LeaseEnvelope>, ApiError> {
    Ok(axum::Json(state.service.check_in(&body).await?))
}

/// The borrower disputes the lock from the phone ("I paid: receipt ...").
async fn dispute(
    State(state): State<AppState>,
    Json(body): Json<SignedDispute>,
) -> Result<(axum::http::StatusCode, axum::Json<Value>), ApiError> {
    let d = state.service.device_dispute(&body).await?;
    Ok((
        axum::http::StatusCode::CREATED,
        axum::Json(json!({
            "dispute_id": d.id.to_string(),
            "opened_at": crate::views::rfc3339(d.opened_at),
        })),
    ))
}

/// The lease-signing public key, for provisioning tools. Devices must pin it from a trusted
/// channel (the store's provisioning QR code), not from this endpoint.
async fn server_key(State(state): State<AppState>) -> axum::Json<Value> {
    let key = state.service.signer().public();
    axum::Json(json!({"key_id": key.id().to_string(), "public_key": key.to_hex()}))
}
