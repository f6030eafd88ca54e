//! The lender API for installment contracts.

use super::{Access, Routes};
use crate::app::AppState;
use crate::auth::Lender;
use crate::error::ApiError;
use crate::extract::{Json, Path};
use crate::service::ContractRequest;
use crate::views::ContractView;
use axum::extract::State;
use axum::http::Method;
use axum::http::StatusCode;
use axum::routing::{get, post};
use lienlock_domain::Permission;
use lienlock_domain::{ContractId, DeviceId, PolicyOverrides, TermsSpec};
use serde::Deserialize;

pub(super) fn routes() -> Routes {
    let read = Access::Lender(Permission::ReadDevices);
    Routes::new()
        .add(
            Method::POST,
            "/v1/contracts",
            Access::Lender(Permission::Enroll),
            post(create),
        )
        .add(Method::GET, "/v1/contracts/{id}", read, get(contract))
        .add(
            Method::GET,
            "/v1/devices/{id}/contract",
            read,
            get(device_contract),
        )
}

impl crate::openapi::Operations {
    /// The operations of this file.
    pub(crate) fn contracts() -> utoipa::openapi::OpenApi {
        #[derive(utoipa::OpenApi)]
        #[openapi(paths(create, contract, device_contract))]
        struct Doc;
        <Doc as utoipa::OpenApi>::openapi()
    }
}

/// A new installment contract for an enrolled device.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ContractRequest)]
struct CreateBody {
    #[schema(value_type = String, format = "uuid")]
    device_id: DeviceId,
    /// The lender's own reference.
    #[schema(value_type = Option<crate::openapi::Text100>)]
    reference: Option<String>,
    #[schema(value_type = crate::openapi::TermsSpecSchema)]
    terms: TermsSpec,
    /// Changes to the lender's policy for this contract only.
    #[schema(value_type = Option<crate::openapi::PolicyOverridesSchema>)]
    policy: Option<PolicyOverrides>,
}

/// Creates a contract for a device; its schedule is computed from the terms.
#[utoipa::path(
    post,
    path = "/v1/contracts",
    operation_id = "create_contract",
    tag = "contracts",
    security(("api_key" = [])),
    request_body = CreateBody,
    responses(
        (status = 201, description = "Created", body = ContractView),
        (status = 403, description = "`forbidden`", body = crate::error::Body),
        (status = 404, description = "`not_found`: no such device", body = crate::error::Body),
        (status = 409, description = "`contract_exists` (the device has an active contract) or \
         `device_released`", body = crate::error::Body),
        (status = 422, description = "`invalid_contract` (terms that do not add up), \
         `policy_not_allowed` or `invalid_request`", body = crate::error::Body),
    ),
)]
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

/// One contract with its schedule, standing and status.
#[utoipa::path(
    get,
    path = "/v1/contracts/{id}",
    operation_id = "get_contract",
    tag = "contracts",
    security(("api_key" = [])),
    params(("id" = String, Path, format = "uuid", description = "Contract id")),
    responses(
        (status = 200, description = "The contract", body = ContractView),
        (status = 404, description = "`not_found`", body = crate::error::Body),
    ),
)]
async fn contract(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Path(id): Path<ContractId>,
) -> Result<axum::Json<ContractView>, ApiError> {
    let status = s.service.contract_status(&ctx, id).await?;
    Ok(axum::Json(ContractView::from(&status)))
}

/// A device's active contract, else its newest.
#[utoipa::path(
    get,
    path = "/v1/devices/{id}/contract",
    operation_id = "device_contract",
    tag = "contracts",
    security(("api_key" = [])),
    params(("id" = String, Path, format = "uuid", description = "Device id")),
    responses(
        (status = 200, description = "The contract", body = ContractView),
        (status = 404, description = "`not_found`: no such device, or it has no contract",
         body = crate::error::Body),
    ),
)]
async fn device_contract(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Path(id): Path<DeviceId>,
) -> Result<axum::Json<ContractView>, ApiError> {
    let status = s.service.device_contract(&ctx, id).await?;
    Ok(axum::Json(ContractView::from(&status)))
}
