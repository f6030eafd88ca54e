//! The device-facing endpoints. Devices authenticate by signing their requests.

use super::{Access, Routes};
use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::Json;
use axum::extract::State;
use axum::http::Method;
use axum::routing::{get, post};
use lienlock_wire::{LeaseEnvelope, SignedCheckIn, SignedDispute};
use serde::Serialize;

pub(super) fn routes() -> Routes {
    Routes::new()
        .add(
            Method::POST,
            "/device/v1/checkin",
            Access::Device,
            post(checkin),
        )
        .add(
            Method::GET,
            "/device/v1/server-key",
            Access::Device,
            get(server_key),
        )
        .add(
            Method::POST,
            "/device/v1/dispute",
            Access::Device,
            post(dispute),
        )
}

impl crate::openapi::Operations {
    /// The operations of this file.
    pub(crate) fn device_api() -> utoipa::openapi::OpenApi {
        #[derive(utoipa::OpenApi)]
        #[openapi(paths(checkin, server_key, dispute))]
        struct Doc;
        <Doc as utoipa::OpenApi>::openapi()
    }
}

/// A signed check-in; the answer is a signed lease (docs/protocol.md, sections 2 and 3).
#[utoipa::path(
    post,
    path = "/device/v1/checkin",
    operation_id = "device_checkin",
    tag = "device",
    request_body = crate::openapi::SignedCheckInSchema,
    responses(
        (status = 200, description = "The lease", body = crate::openapi::LeaseEnvelopeSchema),
        (status = 400, description = "`malformed_message` (base64, tag, length, IMEI or key \
         invalid) or `malformed_json`", body = crate::error::Body),
        (status = 401, description = "`bad_signature`", body = crate::error::Body),
        (status = 404, description = "`unknown_device`: no enrollment has this IMEI",
         body = crate::error::Body),
        (status = 409, description = "`replayed_checkin`: the counter is not above the last \
         accepted one", body = crate::error::Body),
    ),
)]
async fn checkin(
    State(state): State<AppState>,
    _: crate::ratelimit::DeviceRate,
    Json(body): Json<SignedCheckIn>,
) -> Result<axum::Json<LeaseEnvelope>, ApiError> {
    Ok(axum::Json(state.service.check_in(&body).await?))
}

/// The dispute a phone opened.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = DeviceDisputeOpened)]
struct DisputeOpened {
    #[schema(format = "uuid")]
    dispute_id: String,
    #[schema(format = DateTime)]
    opened_at: String,
}

/// The borrower disputes the lock from the phone ("I paid: receipt ...").
#[utoipa::path(
    post,
    path = "/device/v1/dispute",
    operation_id = "device_dispute",
    tag = "device",
    request_body = crate::openapi::SignedDisputeSchema,
    responses(
        (status = 201, description = "Opened", body = DisputeOpened),
        (status = 400, description = "`malformed_message` or `malformed_json`", body = crate::error::Body),
        (status = 401, description = "`bad_signature`", body = crate::error::Body),
        (status = 404, description = "`unknown_device`", body = crate::error::Body),
        (status = 409, description = "`replayed_checkin` (the counter is shared with check-ins) \
         or `device_released`", body = crate::error::Body),
    ),
)]
async fn dispute(
    State(state): State<AppState>,
    _: crate::ratelimit::DeviceRate,
    Json(body): Json<SignedDispute>,
) -> Result<(axum::http::StatusCode, axum::Json<DisputeOpened>), ApiError> {
    let d = state.service.device_dispute(&body).await?;
    Ok((
        axum::http::StatusCode::CREATED,
        axum::Json(DisputeOpened {
            dispute_id: d.id.to_string(),
            opened_at: crate::views::rfc3339(d.opened_at),
        }),
    ))
}

/// The lease-signing public key.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ServerKey)]
struct ServerKeyView {
    /// 16 hex digits.
    key_id: String,
    /// The Ed25519 public key, 64 hex digits.
    public_key: String,
}

/// The lease-signing public key, for provisioning tools. Devices must pin it from a trusted
/// channel (the store's provisioning QR code), not from this endpoint.
#[utoipa::path(
    get,
    path = "/device/v1/server-key",
    operation_id = "server_key",
    tag = "device",
    responses((status = 200, description = "The key", body = ServerKeyView)),
)]
async fn server_key(State(state): State<AppState>) -> axum::Json<ServerKeyView> {
    let key = state.service.signer().public();
    axum::Json(ServerKeyView {
        key_id: key.id().to_string(),
        public_key: key.to_hex(),
    })
}
