//! The lender API for the payments ledger.

use super::{Access, Routes};
use crate::app::AppState;
use crate::auth::Lender;
use crate::error::ApiError;
use crate::extract::{Json, Path, Query};
use crate::service::{PaymentOutcome, PaymentRequest};
use crate::views::PaymentView;
use axum::extract::State;
use axum::http::Method;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use lienlock_domain::Permission;
use lienlock_domain::{ContractId, PaymentId, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub(super) fn routes() -> Routes {
    let record_ = Access::Lender(Permission::RecordPayments);
    Routes::new()
        .add(Method::POST, "/v1/payments", record_, post(record))
        .add(
            Method::GET,
            "/v1/payments/unmatched",
            Access::Lender(Permission::ReadPayments),
            get(unmatched),
        )
        .add(
            Method::POST,
            "/v1/payments/{id}/assign",
            record_,
            post(assign),
        )
        .add(
            Method::POST,
            "/v1/payments/{id}/reverse",
            record_,
            post(reverse),
        )
}

impl crate::openapi::Operations {
    /// The operations of this file.
    pub(crate) fn payments() -> utoipa::openapi::OpenApi {
        #[derive(utoipa::OpenApi)]
        #[openapi(paths(record, unmatched, assign, reverse))]
        struct Doc;
        <Doc as utoipa::OpenApi>::openapi()
    }
}

/// The idempotency key of a request, if it sent one.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    headers
        .get("idempotency-key")
        .map(|v| {
            v.to_str()
                .map(str::to_owned)
                .map_err(|_| ApiError::InvalidBody("Idempotency-Key must be text".into()))
        })
        .transpose()
}

/// What identifies a request's body for idempotency: SHA-256 of its JSON with keys sorted,
/// so the same payment sent with other spacing or key order is the same request.
fn body_hash<T: Serialize>(body: &T, path: &str) -> [u8; 32] {
    let canonical = serde_json::to_value(body)
        .and_then(|v| serde_json::to_vec(&v))
        .unwrap_or_default();
    let mut h = Sha256::new();
    h.update(path.as_bytes());
    h.update([0]);
    h.update(&canonical);
    h.finalize().into()
}

fn answer(outcome: PaymentOutcome) -> (StatusCode, axum::Json<PaymentView>) {
    // A repeated request gets the first answer's body; 200 rather than 201 tells a client
    // that looks that nothing new was created.
    let status = if outcome.replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    (
        status,
        axum::Json(PaymentView::from(&outcome.payment).with_code(outcome.code.as_ref())),
    )
}

/// A payment. Whose it is: the first of `contract_id`, `imei` and `reference` given; with
/// none (or none of the lender's), it is recorded as unmatched.
#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PaymentRequest)]
struct PaymentBody {
    #[schema(format = "uuid")]
    contract_id: Option<String>,
    #[schema(pattern = "^[0-9]{15}$")]
    imei: Option<String>,
    /// The lender's contract reference.
    reference: Option<String>,
    /// Positive, in minor units of `currency`.
    #[schema(minimum = 1)]
    amount: i64,
    /// ISO 4217 code.
    #[schema(example = "KES", pattern = "^[A-Z]{3}$")]
    currency: String,
    /// When the money arrived; absent means now.
    received_at: Option<jiff::Timestamp>,
    /// Default `api`.
    #[schema(value_type = Option<crate::openapi::Text100>)]
    channel: Option<String>,
    /// The provider's transaction id.
    #[schema(value_type = Option<crate::openapi::Text200>)]
    external_ref: Option<String>,
}

/// Records a payment. Repeating a request with the same `Idempotency-Key` records nothing
/// and answers 200 with the first answer's body.
#[utoipa::path(
    post,
    path = "/v1/payments",
    operation_id = "record_payment",
    tag = "payments",
    security(("api_key" = [])),
    params(("Idempotency-Key" = Option<crate::openapi::Text200>, Header, description = "Makes retries safe")),
    request_body = PaymentBody,
    responses(
        (status = 201, description = "Recorded", body = PaymentView),
        (status = 200, description = "Already recorded with this `Idempotency-Key`", body = PaymentView),
        (status = 403, description = "`forbidden`", body = crate::error::Body),
        (status = 409, description = "`idempotency_key_reused` or `conflict` (a currency that \
         differs from the contract's)", body = crate::error::Body),
        (status = 422, description = "`invalid_request`, `invalid_imei` or `ledger_refused`",
         body = crate::error::Body),
    ),
)]
async fn record(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    headers: HeaderMap,
    Json(b): Json<PaymentBody>,
) -> Result<(StatusCode, axum::Json<PaymentView>), ApiError> {
    let key = idempotency_key(&headers)?;
    let hash = body_hash(&b, "/v1/payments");
    let outcome = s
        .service
        .record_payment(
            &ctx,
            key.as_deref(),
            hash,
            PaymentRequest {
                contract_id: b.contract_id,
                imei: b.imei,
                reference: b.reference,
                amount: b.amount,
                currency: b.currency,
                received_at: b
                    .received_at
                    .map(|t| Timestamp::from_millis(t.as_millisecond())),
                channel: b.channel.unwrap_or_else(|| "api".into()),
                external_ref: b.external_ref,
            },
        )
        .await?;
    Ok(answer(outcome))
}

/// Takes back (part of) a payment.
#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ReverseRequest)]
struct ReverseBody {
    /// Minor units to take back; the whole payment when absent.
    #[schema(minimum = 1)]
    amount: Option<i64>,
    /// Why; must not be blank.
    #[schema(value_type = crate::openapi::Text500)]
    reason: String,
}

/// Reverses a payment (all of it, or `amount`).
#[utoipa::path(
    post,
    path = "/v1/payments/{id}/reverse",
    operation_id = "reverse_payment",
    tag = "payments",
    security(("api_key" = [])),
    params(
        ("id" = String, Path, format = "uuid", description = "Payment id"),
        ("Idempotency-Key" = Option<crate::openapi::Text200>, Header, description = "Makes retries safe"),
    ),
    request_body = ReverseBody,
    responses(
        (status = 201, description = "The reversal", body = PaymentView),
        (status = 200, description = "Already reversed with this `Idempotency-Key`", body = PaymentView),
        (status = 403, description = "`forbidden`", body = crate::error::Body),
        (status = 404, description = "`not_found`", body = crate::error::Body),
        (status = 409, description = "`idempotency_key_reused`", body = crate::error::Body),
        (status = 422, description = "`ledger_refused` or `invalid_request`", body = crate::error::Body),
    ),
)]
async fn reverse(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Path(id): Path<PaymentId>,
    headers: HeaderMap,
    Json(b): Json<ReverseBody>,
) -> Result<(StatusCode, axum::Json<PaymentView>), ApiError> {
    let key = idempotency_key(&headers)?;
    let hash = body_hash(&b, &format!("/v1/payments/{id}/reverse"));
    if b.reason.trim().is_empty() {
        return Err(ApiError::InvalidBody("reason must not be empty".into()));
    }
    let outcome = s
        .service
        .reverse_payment(&ctx, id, b.amount, key.as_deref(), hash)
        .await?;
    Ok(answer(outcome))
}

/// The contract an unmatched payment belongs to.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AssignRequest)]
struct AssignBody {
    #[schema(value_type = String, format = "uuid")]
    contract_id: ContractId,
}

/// Assigns an unmatched payment to a contract.
#[utoipa::path(
    post,
    path = "/v1/payments/{id}/assign",
    operation_id = "assign_payment",
    tag = "payments",
    security(("api_key" = [])),
    params(("id" = String, Path, format = "uuid", description = "Payment id")),
    request_body = AssignBody,
    responses(
        (status = 200, description = "The payment", body = PaymentView),
        (status = 403, description = "`forbidden`", body = crate::error::Body),
        (status = 404, description = "`not_found`: no such payment or contract", body = crate::error::Body),
        (status = 409, description = "`conflict`: already assigned, or another currency",
         body = crate::error::Body),
    ),
)]
async fn assign(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Path(id): Path<PaymentId>,
    Json(b): Json<AssignBody>,
) -> Result<axum::Json<PaymentView>, ApiError> {
    let p = s.service.assign_payment(&ctx, id, b.contract_id).await?;
    Ok(axum::Json(PaymentView::from(&p)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct PageParams {
    /// The `next_cursor` of the previous page.
    #[param(value_type = Option<String>, format = "uuid")]
    after: Option<PaymentId>,
    /// Page size; default 50, clamped to 1-500.
    limit: Option<u32>,
}

/// A page of payments.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = PaymentPage)]
struct UnmatchedPage {
    payments: Vec<PaymentView>,
    /// Pass as `after` for the next page; null on the last page.
    #[schema(required)]
    next_cursor: Option<String>,
}

/// Payments that match no contract yet, oldest first.
#[utoipa::path(
    get,
    path = "/v1/payments/unmatched",
    operation_id = "unmatched_payments",
    tag = "payments",
    security(("api_key" = [])),
    params(PageParams),
    responses((status = 200, description = "A page of payments", body = UnmatchedPage)),
)]
async fn unmatched(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Query(p): Query<PageParams>,
) -> Result<axum::Json<UnmatchedPage>, ApiError> {
    let limit = p.limit.unwrap_or(50).clamp(1, 500);
    let payments = s.service.unmatched_payments(&ctx, p.after, limit).await?;
    let next_cursor = (payments.len() as u32 == limit)
        .then(|| payments.last().map(|p| p.id.to_string()))
        .flatten();
    Ok(axum::Json(UnmatchedPage {
        payments: payments.iter().map(PaymentView::from).collect(),
        next_cursor,
    }))
}
