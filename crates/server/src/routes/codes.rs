//! The lender API for offline unlock codes.

use crate::app::AppState;
use crate::auth::Lender;
use crate::error::ApiError;
use crate::extract::{Json, Path, Query};
use crate::service::CodeRequest;
use crate::views::CodeView;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use lienlock_domain::{CodeGrantKind, DeviceId};
use serde::Deserialize;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/v1/devices/{id}/codes", post(issue).get(list))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IssueBody {
    /// `unlock` or `extend_until`.
    kind: Option<String>,
    /// `YYYY-MM-DD`.
    paid_until: Option<jiff::civil::Date>,
    reason: String,
}

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<u32>,
}

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
