//! The lender API for offline unlock codes.

use super::{Access, Routes};
use crate::app::AppState;
use crate::auth::Lender;
use crate::error::ApiError;
use crate::extract::{Json, Path, Query};
use crate::service::CodeRequest;
use crate::views::CodeView;
use axum::extract::State;
use axum::http::Method;
use axum::http::StatusCode;
use axum::routing::get;
use axum::routing::post;
use lienlock_domain::Permission;
use lienlock_domain::{CodeGrantKind, DeviceId};
use serde::Deserialize;

pub(super) fn routes() -> Routes {
    let path = "/v1/devices/{id}/codes";
    Routes::new()
        .add(
            Method::POST,
            path,
            Access::Lender(Permission::Command),
            post(issue),
        )
        .add(
            Method::GET,
            path,
            Access::Lender(Permission::ReadDevices),
            get(list),
        )
}

impl crate::openapi::Operations {
    /// The operations of this file.
    pub(crate) fn codes() -> utoipa::openapi::OpenApi {
        #[derive(utoipa::OpenApi)]
        #[openapi(paths(issue, list))]
        struct Doc;
        <Doc as utoipa::OpenApi>::openapi()
    }
}

/// An offline unlock code to issue.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CodeRequest)]
struct IssueBody {
    /// `unlock` or `extend_until`.
    #[schema(pattern = "^(unlock|extend_until)$")]
    kind: Option<String>,
    /// `YYYY-MM-DD`.
    paid_until: Option<jiff::civil::Date>,
    #[schema(value_type = crate::openapi::Text500)]
    reason: String,
}

/// Issues an offline unlock code for the borrower to type in.
#[utoipa::path(
    post,
    path = "/v1/devices/{id}/codes",
    operation_id = "issue_code",
    tag = "codes",
    security(("api_key" = [])),
    params(("id" = String, Path, format = "uuid", description = "Device id")),
    request_body = IssueBody,
    responses(
        (status = 201, description = "Issued", body = CodeView),
        (status = 403, description = "`forbidden`", body = crate::error::Body),
        (status = 404, description = "`not_found`", body = crate::error::Body),
        (status = 409, description = "`code_unavailable`: no code can be issued for this device now",
         body = crate::error::Body),
    ),
)]
async fn issue(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Path(id): Path<DeviceId>,
    Json(b): Json<IssueBody>,
) -> Result<(StatusCode, axum::Json<CodeView>), ApiError> {
    let kind = b
        .kind
        .as_deref()
        .map(str::parse::<CodeGrantKind>)
        .transpose()
        .map_err(ApiError::InvalidBody)?;
    let code = s
        .service
        .issue_code(
            &ctx,
            id,
            CodeRequest {
                kind,
                paid_until: b.paid_until,
                reason: b.reason,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(CodeView::from(&code))))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// How many, newest first; default 50.
    limit: Option<u32>,
}

/// A device's unlock codes, newest first.
#[utoipa::path(
    get,
    path = "/v1/devices/{id}/codes",
    operation_id = "list_codes",
    tag = "codes",
    security(("api_key" = [])),
    params(("id" = String, Path, format = "uuid", description = "Device id"), ListQuery),
    responses(
        (status = 200, description = "The codes", body = Vec<CodeView>),
        (status = 404, description = "`not_found`", body = crate::error::Body),
    ),
)]
async fn list(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Path(id): Path<DeviceId>,
    Query(q): Query<ListQuery>,
) -> Result<axum::Json<Vec<CodeView>>, ApiError> {
    let codes = s
        .service
        .device_codes(&ctx, id, q.limit.unwrap_or(50))
        .await?;
    Ok(axum::Json(codes.iter().map(CodeView::from).collect()))
}
