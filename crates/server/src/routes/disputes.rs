//! The lender API for disputes, notices and the lending policy.

use crate::app::AppState;
use crate::auth::Lender;
use crate::error::ApiError;
use crate::extract::{Json, Path};
use crate::views::{DisputeView, NoticeView};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use lienlock_domain::{DeviceId, DisputeId, PolicySettings, Timestamp};
use serde::{Deserialize, Serialize};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/devices/{id}/disputes", post(open).get(list))
        .route("/v1/devices/{id}/notices", get(notices))
        .route("/v1/disputes/{id}/temporary-unlock", post(temporary_unlock))
        .route("/v1/disputes/{id}/close", post(close))
        .route("/v1/lender/policy", get(policy).put(set_policy))
}

fn ts(t: jiff::Timestamp) -> Timestamp {
    Timestamp::from_millis(t.as_millisecond())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenBody {
    reason: String,
    temporary_unlock_until: Option<jiff::Timestamp>,
}

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

async fn list(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Path(id): Path<DeviceId>,
) -> Result<axum::Json<Vec<DisputeView>>, ApiError> {
    let list = s.service.device_disputes(&ctx, id).await?;
    Ok(axum::Json(list.iter().map(DisputeView::from).collect()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UnlockBody {
    until: jiff::Timestamp,
    reason: String,
}

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CloseBody {
    resolution: String,
}

async fn close(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Path(id): Path<DisputeId>,
    Json(b): Json<CloseBody>,
) -> Result<axum::Json<DisputeView>, ApiError> {
    let d = s.service.close_dispute(&ctx, id, &b.resolution).await?;
    Ok(axum::Json(DisputeView::from(&d)))
}

async fn notices(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Path(id): Path<DeviceId>,
) -> Result<axum::Json<Vec<NoticeView>>, ApiError> {
    let list = s.service.device_notices(&ctx, id).await?;
    Ok(axum::Json(list.iter().map(NoticeView::from).collect()))
}

#[derive(Serialize)]
struct PolicyView {
    profile: &'static str,
    profile_description: &'static str,
    /// Whether `settings` are the profile's defaults.
    defaults: bool,
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

async fn policy(
    State(s): State<AppState>,
    Lender(ctx): Lender,
) -> Result<axum::Json<PolicyView>, ApiError> {
    Ok(axum::Json(s.service.lender_policy(&ctx).await?.into()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyBody {
    profile: String,
    /// Absent: the profile's defaults.
    settings: Option<PolicySettings>,
}

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
