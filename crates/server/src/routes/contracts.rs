//! The lender API for installment contracts.

use crate::app::AppState;
use crate::auth::Lender;
use crate::error::ApiError;
use crate::extract::{Json, Path};
use crate::service::ContractRequest;
use crate::views::ContractView;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use lienlock_domain::{ContractId, DeviceId, PolicyOverrides, TermsSpec};
use serde::Deserialize;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/contracts", post(create))
        .route("/v1/contracts/{id}", get(contract))
        .route("/v1/devices/{id}/contract", get(device_contract))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    device_id: DeviceId,
    reference: Option<String>,
    terms: TermsSpec,
    policy: Option<PolicyOverrides>,
}

async fn create(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Json(b): Json<CreateBody>,
) -> Result<(StatusCode, axum::Json<ContractView>), ApiError> {
    let contract = s
        .service
        .create_contract(
            &ctx,
            ContractRequest {
                device_id: b.device_id,
                reference: b.reference,
                terms: b.terms,
                policy: b.policy,
            },
        )
        .await?;
    let status = s.service.contract_status(&ctx, contract.id).await?;
    Ok((StatusCode::CREATED, axum::Json(ContractView::from(&status))))
}

async fn contract(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Path(id): Path<ContractId>,
) -> Result<axum::Json<ContractView>, ApiError> {
    let status = s.service.contract_status(&ctx, id).await?;
    Ok(axum::Json(ContractView::from(&status)))
}

async fn device_contract(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Path(id): Path<DeviceId>,
) -> Result<axum::Json<ContractView>, ApiError> {
    let status = s.service.device_contract(&ctx, id).await?;
    Ok(axum::Json(ContractView::from(&status)))
}
