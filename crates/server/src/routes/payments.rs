//! The lender API for the payments ledger.

use crate::app::AppState;
use crate::auth::Lender;
use crate::error::ApiError;
use crate::extract::{Json, Path, Query};
use crate::service::{PaymentOutcome, PaymentRequest};
use crate::views::PaymentView;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use lienlock_domain::{ContractId, PaymentId, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/payments", post(record))
        .route("/v1/payments/unmatched", get(unmatched))
        .route("/v1/payments/{id}/assign", post(assign))
        .route("/v1/payments/{id}/reverse", post(reverse))
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

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct PaymentBody {
    contract_id: Option<String>,
    imei: Option<String>,
    reference: Option<String>,
    amount: i64,
    currency: String,
    received_at: Option<jiff::Timestamp>,
    channel: Option<String>,
    external_ref: Option<String>,
}

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

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct ReverseBody {
    /// Minor units to take back; the whole payment when absent.
    amount: Option<i64>,
    reason: String,
}

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignBody {
    contract_id: ContractId,
}

async fn assign(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Path(id): Path<PaymentId>,
    Json(b): Json<AssignBody>,
) -> Result<axum::Json<PaymentView>, ApiError> {
    let p = s.service.assign_payment(&ctx, id, b.contract_id).await?;
    Ok(axum::Json(PaymentView::from(&p)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageParams {
    after: Option<PaymentId>,
    limit: Option<u32>,
}

#[derive(Serialize)]
struct UnmatchedPage {
    payments: Vec<PaymentView>,
    next_cursor: Option<String>,
}

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
