//! The lender API for webhooks: the endpoint (`/v1/lender/webhook`) and the deliveries
//! with their attempts (`/v1/webhooks/deliveries`).

use super::{Access, Routes};
use crate::app::AppState;
use crate::auth::Lender;
use crate::error::ApiError;
use crate::extract::{Json, Path, Query};
use crate::service::WebhookConfig;
use crate::views::rfc3339;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::routing::{delete, get, post, put};
use lienlock_domain::Permission;
use lienlock_store::{DeliveryId, WebhookAttempt, WebhookDelivery, WebhookEvent};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub(super) fn routes() -> Routes {
    let manage = Access::Lender(Permission::ManageWebhooks);
    let read = Access::Lender(Permission::ReadWebhooks);
    Routes::new()
        .add(Method::GET, "/v1/lender/webhook", manage, get(show))
        .add(Method::PUT, "/v1/lender/webhook", manage, put(set))
        .add(Method::DELETE, "/v1/lender/webhook", manage, delete(remove))
        .add(
            Method::POST,
            "/v1/lender/webhook/rotate-secret",
            manage,
            post(rotate),
        )
        .add(Method::GET, "/v1/webhooks/deliveries", read, get(list))
        .add(Method::GET, "/v1/webhooks/deliveries/{id}", read, get(one))
}

impl crate::openapi::Operations {
    /// The operations of this file.
    pub fn webhooks() -> utoipa::openapi::OpenApi {
        #[derive(utoipa::OpenApi)]
        #[openapi(paths(show, set, remove, rotate, list, one))]
        struct Doc;
        <Doc as utoipa::OpenApi>::openapi()
    }
}

/// A lender's webhook endpoint.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Webhook)]
struct WebhookView {
    /// Where deliveries are posted.
    url: String,
    /// The types sent; null for every type.
    #[schema(required)]
    event_types: Option<Vec<&'static str>>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
    /// When the signing secret was set or last rotated.
    #[schema(format = DateTime)]
    secret_set_at: String,
    /// The signing secret (`whsec_...`): only in the answer that created or rotated it.
    /// Store it now; it is never shown again.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

impl From<WebhookConfig> for WebhookView {
    fn from(c: WebhookConfig) -> Self {
        let e = c.endpoint;
        Self {
            url: e.url,
            event_types: e
                .event_types
                .map(|types| types.into_iter().map(WebhookEvent::as_str).collect()),
            created_at: rfc3339(e.created_at),
            updated_at: rfc3339(e.updated_at),
            secret_set_at: rfc3339(e.secret_set_at),
            secret: c.new_secret.map(|s| s.expose().to_owned()),
        }
    }
}

/// The endpoint to set.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SetWebhookRequest)]
struct SetBody {
    /// An `http` or `https` URL on a public address.
    url: String,
    /// Only these types (`device.locked`, `device.unlocked`, `device.released`,
    /// `device.tamper`, `dispute.opened`, `payment.unmatched`, `imei.checked`); leave out
    /// for every type.
    event_types: Option<Vec<String>>,
}

/// The caller's webhook endpoint (never its secret).
#[utoipa::path(
    get,
    path = "/v1/lender/webhook",
    operation_id = "get_webhook",
    tag = "webhooks",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The endpoint", body = WebhookView),
        (status = 403, description = "`forbidden`", body = crate::error::Body),
        (status = 404, description = "`not_found`: no webhook is set", body = crate::error::Body),
    ),
)]
async fn show(
    State(s): State<AppState>,
    Lender(ctx): Lender,
) -> Result<axum::Json<WebhookView>, ApiError> {
    Ok(axum::Json(s.service.webhook(&ctx).await?.into()))
}

/// Sets the endpoint's URL and type filter. Creating it returns the signing secret, this
/// once; changing it keeps the secret.
#[utoipa::path(
    put,
    path = "/v1/lender/webhook",
    operation_id = "set_webhook",
    tag = "webhooks",
    security(("api_key" = [])),
    request_body = SetBody,
    responses(
        (status = 201, description = "Created; `secret` is shown this once", body = WebhookView),
        (status = 200, description = "Changed; the secret is kept", body = WebhookView),
        (status = 403, description = "`forbidden`", body = crate::error::Body),
        (status = 422, description = "`invalid_request`: not an http(s) URL on a public \
         address, or an unknown type", body = crate::error::Body),
    ),
)]
async fn set(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Json(b): Json<SetBody>,
) -> Result<(StatusCode, axum::Json<WebhookView>), ApiError> {
    let config = s.service.set_webhook(&ctx, &b.url, b.event_types).await?;
    let status = if config.new_secret.is_some() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(config.into())))
}

/// Removes the endpoint; deliveries still pending fail.
#[utoipa::path(
    delete,
    path = "/v1/lender/webhook",
    operation_id = "delete_webhook",
    tag = "webhooks",
    security(("api_key" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "`forbidden`", body = crate::error::Body),
        (status = 404, description = "`not_found`: no webhook is set", body = crate::error::Body),
    ),
)]
async fn remove(State(s): State<AppState>, Lender(ctx): Lender) -> Result<StatusCode, ApiError> {
    s.service.remove_webhook(&ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replaces the signing secret and returns the new one, this once. Deliveries are signed
/// with it from their next attempt.
#[utoipa::path(
    post,
    path = "/v1/lender/webhook/rotate-secret",
    operation_id = "rotate_webhook_secret",
    tag = "webhooks",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The endpoint with its new `secret`", body = WebhookView),
        (status = 403, description = "`forbidden`", body = crate::error::Body),
        (status = 404, description = "`not_found`: no webhook is set", body = crate::error::Body),
    ),
)]
async fn rotate(
    State(s): State<AppState>,
    Lender(ctx): Lender,
) -> Result<axum::Json<WebhookView>, ApiError> {
    Ok(axum::Json(
        s.service.rotate_webhook_secret(&ctx).await?.into(),
    ))
}

/// One webhook message and how its delivery went.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = WebhookDelivery)]
pub(crate) struct DeliveryView {
    /// Also the `webhook-id` header: the id of the timeline entry or payment reported.
    #[schema(format = "uuid")]
    id: String,
    /// `device.locked`, `payment.unmatched`, ...
    #[serde(rename = "type")]
    event_type: &'static str,
    /// `pending`, `delivered` or `failed`.
    status: &'static str,
    #[schema(required, format = "uuid")]
    device_id: Option<String>,
    #[schema(required)]
    imei: Option<String>,
    /// The timeline entry reported.
    #[schema(required, format = "uuid")]
    event_id: Option<String>,
    /// The payment reported.
    #[schema(required, format = "uuid")]
    payment_id: Option<String>,
    /// When the reported change happened.
    #[schema(format = DateTime)]
    created_at: String,
    /// Attempts so far (at most 10).
    attempts: u32,
    /// When the next attempt is due; null once delivered or failed.
    #[schema(required, format = DateTime)]
    next_attempt_at: Option<String>,
    /// The endpoint's HTTP status at the last attempt.
    #[schema(required)]
    last_status: Option<u16>,
    /// Why the last attempt failed.
    #[schema(required)]
    last_error: Option<String>,
    #[schema(required, format = DateTime)]
    delivered_at: Option<String>,
}

impl From<&WebhookDelivery> for DeliveryView {
    fn from(d: &WebhookDelivery) -> Self {
        Self {
            id: d.id.to_string(),
            event_type: d.event.as_str(),
            status: d.status.as_str(),
            device_id: d.device_id.map(|id| id.to_string()),
            imei: d.imei.map(|i| i.as_str().to_owned()),
            event_id: d.event_id.map(|id| id.to_string()),
            payment_id: d.payment_id.map(|id| id.to_string()),
            created_at: rfc3339(d.created_at),
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at.map(rfc3339),
            last_status: d.last_status,
            last_error: d.last_error.clone(),
            delivered_at: d.delivered_at.map(rfc3339),
        }
    }
}

/// One attempt to send a delivery.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = WebhookAttempt)]
struct AttemptView {
    /// 1, 2, 3, ...
    n: u32,
    #[schema(format = DateTime)]
    at: String,
    /// The endpoint's HTTP status, if it answered.
    #[schema(required)]
    status_code: Option<u16>,
    /// Why it failed: a status other than 2xx, a timeout, a refused connection.
    #[schema(required)]
    error: Option<String>,
    duration_ms: u32,
}

impl From<&WebhookAttempt> for AttemptView {
    fn from(a: &WebhookAttempt) -> Self {
        Self {
            n: a.n,
            at: rfc3339(a.at),
            status_code: a.status_code,
            error: a.error.clone(),
            duration_ms: a.duration_ms,
        }
    }
}

/// A page of deliveries, newest first.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = WebhookDeliveryPage)]
struct DeliveryPage {
    deliveries: Vec<DeliveryView>,
    /// Pass as `before` for the next (older) page; null on the last page.
    #[schema(required)]
    next_cursor: Option<String>,
}

/// A delivery with its attempts.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = WebhookDeliveryDetail)]
struct DeliveryDetail {
    delivery: DeliveryView,
    /// The body as sent (every attempt sends the same); null before the first attempt.
    #[schema(required, value_type = Option<Object>)]
    payload: Option<Value>,
    /// Oldest first.
    attempts: Vec<AttemptView>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct PageParams {
    /// The `next_cursor` of the previous page.
    #[param(format = "uuid")]
    before: Option<String>,
    /// Page size; default 50, clamped to 1-500.
    limit: Option<u32>,
}

/// The caller's deliveries, newest first.
#[utoipa::path(
    get,
    path = "/v1/webhooks/deliveries",
    operation_id = "webhook_deliveries",
    tag = "webhooks",
    security(("api_key" = [])),
    params(PageParams),
    responses(
        (status = 200, description = "A page of deliveries", body = DeliveryPage),
        (status = 403, description = "`forbidden`", body = crate::error::Body),
    ),
)]
async fn list(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Query(p): Query<PageParams>,
) -> Result<axum::Json<DeliveryPage>, ApiError> {
    let before = p
        .before
        .map(|b| {
            b.parse::<DeliveryId>()
                .map_err(|_| ApiError::InvalidQuery("bad cursor".into()))
        })
        .transpose()?;
    let limit = p.limit.unwrap_or(50).clamp(1, 500);
    let list = s.service.webhook_deliveries(&ctx, before, limit).await?;
    let next_cursor = (list.len() as u32 == limit)
        .then(|| list.last().map(|d| d.id.to_string()))
        .flatten();
    Ok(axum::Json(DeliveryPage {
        deliveries: list.iter().map(DeliveryView::from).collect(),
        next_cursor,
    }))
}

/// One delivery with its attempts; another lender's is not found.
#[utoipa::path(
    get,
    path = "/v1/webhooks/deliveries/{id}",
    operation_id = "webhook_delivery",
    tag = "webhooks",
    security(("api_key" = [])),
    params(("id" = String, Path, format = "uuid", description = "Delivery id (the `webhook-id`)")),
    responses(
        (status = 200, description = "The delivery", body = DeliveryDetail),
        (status = 403, description = "`forbidden`", body = crate::error::Body),
        (status = 404, description = "`not_found`", body = crate::error::Body),
    ),
)]
async fn one(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Path(id): Path<String>,
) -> Result<axum::Json<DeliveryDetail>, ApiError> {
    let id: DeliveryId = id.parse().map_err(|_| ApiError::BadPathId)?;
    let (delivery, attempts) = s.service.webhook_delivery(&ctx, id).await?;
    let payload = delivery
        .payload
        .as_deref()
        .map(|p| serde_json::from_str(p).unwrap_or_else(|_| Value::String(p.to_owned())));
    Ok(axum::Json(DeliveryDetail {
        delivery: DeliveryView::from(&delivery),
        payload,
        attempts: attempts.iter().map(AttemptView::from).collect(),
    }))
}
