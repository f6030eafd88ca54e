//! The lender API for disputes, notices and the lending policy.

use super::{Access, Routes};
use crate::app::AppState;
use crate::auth::Lender;
use crate::error::ApiError;
use crate::extract::{Json, Path};
use crate::views::{DisputeView, NoticeView};
use axum::extract::State;
use axum::http::Method;
use axum::http::StatusCode;
use axum::routing::put;
use axum::routing::{get, post};
use lienlock_domain::Permission;
use lienlock_domain::{DeviceId, DisputeId, PolicySettings, Timestamp};
use serde::{Deserialize, Serialize};

pub(super) fn routes() -> Routes {
    let read = Access::Lender(Permission::ReadDevices);
    let disputes = Access::Lender(Permission::HandleDisputes);
    Routes::new()
        .add(
            Method::POST,
            "/v1/devices/{id}/disputes",
            disputes,
            post(open),
        )
        .add(Method::GET, "/v1/devices/{id}/disputes", read, get(list))
        .add(Method::GET, "/v1/devices/{id}/notices", read, get(notices))
        .add(
            Method::POST,
            "/v1/disputes/{id}/temporary-unlock",
            disputes,
            post(temporary_unlock),
        )
        .add(
            Method::POST,
            "/v1/disputes/{id}/close",
            disputes,
            post(close),
        )
        .add(Method::GET, "/v1/lender/policy", read, get(policy))
        .add(
            Method::PUT,
            "/v1/lender/policy",
            Access::Lender(Permission::ManagePolicy),
            put(set_policy),
        )
}

impl crate::openapi::Operations {
    /// The operations of this file.
    pub(crate) fn disputes() -> utoipa::openapi::OpenApi {
        #[derive(utoipa::OpenApi)]
        #[openapi(paths(open, list, notices, temporary_unlock, close, policy, set_policy))]
        struct Doc;
        <Doc as utoipa::OpenApi>::openapi()
    }
}

fn ts(t: jiff::Timestamp) -> Timestamp {
    Timestamp::from_millis(t.as_millisecond())
}

/// A dispute opened for the borrower.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = OpenDisputeRequest)]
struct OpenBody {
    /// Why ("I paid: receipt MP-7781").
    #[schema(value_type = crate::openapi::Text500)]
    reason: String,
    /// A temporary unlock until then: in the future, at most 30 days ahead.
    temporary_unlock_until: Option<jiff::Timestamp>,
}

/// Opens a dispute: no automatic restriction starts or escalates while it is open.
#[utoipa::path(
    post,
    path = "/v1/devices/{id}/disputes",
    operation_id = "open_dispute",
    tag = "disputes",
    security(("api_key" = [])),
    params(("id" = String, Path, format = "uuid", description = "Device id")),
    request_body = OpenBody,
    responses(
        (status = 201, description = "Opened", body = DisputeView),
        (status = 403, description = "`forbidden`", body = crate::error::Body),
        (status = 404, description = "`not_found`", body = crate::error::Body),
        (status = 409, description = "`device_released`", body = crate::error::Body),
    ),
)]
async fn open(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Path(id): Path<DeviceId>,
    Json(b): Json<OpenBody>,
) -> Result<(StatusCode, axum::Json<DisputeView>), ApiError> {
    let d = s
        .service
        .open_dispute(&ctx, id, &b.reason, b.temporary_unlock_until.map(ts))
        .await?;
    Ok((StatusCode::CREATED, axum::Json(DisputeView::from(&d))))
}

/// A device's disputes.
#[utoipa::path(
    get,
    path = "/v1/devices/{id}/disputes",
    operation_id = "list_disputes",
    tag = "disputes",
    security(("api_key" = [])),
    params(("id" = String, Path, format = "uuid", description = "Device id")),
    responses(
        (status = 200, description = "The disputes", body = Vec<DisputeView>),
        (status = 404, description = "`not_found`", body = crate::error::Body),
    ),
)]
async fn list(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Path(id): Path<DeviceId>,
) -> Result<axum::Json<Vec<DisputeView>>, ApiError> {
    let list = s.service.device_disputes(&ctx, id).await?;
    Ok(axum::Json(list.iter().map(DisputeView::from).collect()))
}

/// A temporary unlock.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TemporaryUnlockRequest)]
struct UnlockBody {
    /// In the future, at most 30 days ahead.
    until: jiff::Timestamp,
    #[schema(value_type = crate::openapi::Text500)]
    reason: String,
}

/// Grants or moves a temporary unlock on an open dispute.
#[utoipa::path(
    post,
    path = "/v1/disputes/{id}/temporary-unlock",
    operation_id = "temporary_unlock",
    tag = "disputes",
    security(("api_key" = [])),
    params(("id" = String, Path, format = "uuid", description = "Dispute id")),
    request_body = UnlockBody,
    responses(
        (status = 200, description = "The dispute", body = DisputeView),
        (status = 403, description = "`forbidden`", body = crate::error::Body),
        (status = 404, description = "`not_found`", body = crate::error::Body),
        (status = 409, description = "`dispute_closed` or `device_released`", body = crate::error::Body),
    ),
)]
async fn temporary_unlock(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Path(id): Path<DisputeId>,
    Json(b): Json<UnlockBody>,
) -> Result<axum::Json<DisputeView>, ApiError> {
    let d = s
        .service
        .grant_temporary_unlock(&ctx, id, ts(b.until), &b.reason)
        .await?;
    Ok(axum::Json(DisputeView::from(&d)))
}

/// How a dispute ended.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CloseDisputeRequest)]
struct CloseBody {
    #[schema(value_type = crate::openapi::Text500)]
    resolution: String,
}

/// Closes a dispute for good.
#[utoipa::path(
    post,
    path = "/v1/disputes/{id}/close",
    operation_id = "close_dispute",
    tag = "disputes",
    security(("api_key" = [])),
    params(("id" = String, Path, format = "uuid", description = "Dispute id")),
    request_body = CloseBody,
    responses(
        (status = 200, description = "The dispute", body = DisputeView),
        (status = 403, description = "`forbidden`", body = crate::error::Body),
        (status = 404, description = "`not_found`", body = crate::error::Body),
        (status = 409, description = "`dispute_closed`", body = crate::error::Body),
    ),
)]
async fn close(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Path(id): Path<DisputeId>,
    Json(b): Json<CloseBody>,
) -> Result<axum::Json<DisputeView>, ApiError> {
    let d = s.service.close_dispute(&ctx, id, &b.resolution).await?;
    Ok(axum::Json(DisputeView::from(&d)))
}

/// The notices queued for a device (reminders, lock notices) and whether it showed them.
#[utoipa::path(
    get,
    path = "/v1/devices/{id}/notices",
    operation_id = "device_notices",
    tag = "disputes",
    security(("api_key" = [])),
    params(("id" = String, Path, format = "uuid", description = "Device id")),
    responses(
        (status = 200, description = "The notices", body = Vec<NoticeView>),
        (status = 404, description = "`not_found`", body = crate::error::Body),
    ),
)]
async fn notices(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Path(id): Path<DeviceId>,
) -> Result<axum::Json<Vec<NoticeView>>, ApiError> {
    let list = s.service.device_notices(&ctx, id).await?;
    Ok(axum::Json(list.iter().map(NoticeView::from).collect()))
}

/// The lender's lending policy.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = LenderPolicy)]
struct PolicyView {
    /// The compliance profile (`default`, `in-rbi-2026-draft`).
    profile: &'static str,
    profile_description: &'static str,
    /// Whether `settings` are the profile's defaults.
    defaults: bool,
    #[schema(value_type = crate::openapi::PolicySettingsSchema)]
    settings: PolicySettings,
    /// After a curing payment the server lifts restrictions within this many seconds.
    max_unlock_delay_secs: u32,
    available_profiles: Vec<&'static str>,
}

impl From<crate::service::LenderPolicy> for PolicyView {
    fn from(p: crate::service::LenderPolicy) -> Self {
        Self {
            profile: p.profile.name,
            profile_description: p.profile.description,
            defaults: p.defaults,
            settings: p.settings,
            max_unlock_delay_secs: p.profile.max_unlock_delay_secs,
            available_profiles: lienlock_domain::ComplianceProfile::all()
                .iter()
                .map(|p| p.name)
                .collect(),
        }
    }
}

/// The lender's compliance profile and policy settings.
#[utoipa::path(
    get,
    path = "/v1/lender/policy",
    operation_id = "get_policy",
    tag = "lender",
    security(("api_key" = [])),
    responses((status = 200, description = "The policy", body = PolicyView)),
)]
async fn policy(
    State(s): State<AppState>,
    Lender(ctx): Lender,
) -> Result<axum::Json<PolicyView>, ApiError> {
    Ok(axum::Json(s.service.lender_policy(&ctx).await?.into()))
}

/// A new lending policy.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PolicyRequest)]
struct PolicyBody {
    /// A compliance profile's name.
    #[schema(pattern = "^(default|in-rbi-2026-draft)$")]
    profile: String,
    /// Absent: the profile's defaults.
    #[schema(value_type = Option<crate::openapi::PolicySettingsSchema>)]
    settings: Option<PolicySettings>,
}

/// Sets the lender's policy; every active contract is evaluated again.
#[utoipa::path(
    put,
    path = "/v1/lender/policy",
    operation_id = "set_policy",
    tag = "lender",
    security(("api_key" = [])),
    request_body = PolicyBody,
    responses(
        (status = 200, description = "The policy now in force", body = PolicyView),
        (status = 403, description = "`forbidden`: only `admin`", body = crate::error::Body),
        (status = 422, description = "`policy_not_allowed` (invalid, or looser than the \
         profile) or `invalid_request`", body = crate::error::Body),
    ),
)]
async fn set_policy(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Json(b): Json<PolicyBody>,
) -> Result<axum::Json<PolicyView>, ApiError> {
    let p = s
        .service
        .set_lender_policy(&ctx, &b.profile, b.settings)
        .await?;
    Ok(axum::Json(p.into()))
}
