//! The lender API for devices and commands.

use crate::app::AppState;
use crate::auth::Lender;
use crate::error::ApiError;
use crate::extract::{Json, Path, Query};
use crate::service::{CommandRequest, EnrollRequest};
use crate::views::{CommandResult, CommandView, DevicePage, DeviceView, LenderView, TimelinePage};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use lienlock_domain::{CommandKind, DeviceId, DeviceState, Timestamp};
use lienlock_store::DeviceQuery;
use serde::Deserialize;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/lender", get(lender))
        .route("/v1/devices", post(enroll).get(list))
        .route("/v1/devices/{id}", get(device))
        .route("/v1/devices/{id}/timeline", get(timeline))
        .route("/v1/devices/{id}/commands", get(commands))
        .route("/v1/devices/{id}/lock", post(lock))
        .route("/v1/devices/{id}/unlock", post(unlock))
        .route("/v1/devices/{id}/release", post(release))
        .route("/v1/devices/{id}/approve-key", post(approve_key))
}

type ApiResult<T> = Result<T, ApiError>;

async fn lender(
    State(s): State<AppState>,
    Lender(ctx): Lender,
) -> ApiResult<axum::Json<LenderView>> {
    Ok(axum::Json(LenderView::from(&s.service.lender(&ctx).await?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrollBody {
    imei: String,
    imei2: Option<String>,
    serial: Option<String>,
    model: Option<String>,
}

async fn enroll(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Json(b): Json<EnrollBody>,
) -> ApiResult<(StatusCode, axum::Json<DeviceView>)> {
    let req = EnrollRequest {
        imei: b.imei,
        imei2: b.imei2,
        serial: b.serial,
        model: b.model,
    };
    let device = s.service.enroll(&ctx, req).await?;
    Ok((StatusCode::CREATED, axum::Json(DeviceView::from(&device))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    state: Option<String>,
    after: Option<String>,
    limit: Option<u32>,
}

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 500;

async fn list(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Query(p): Query<ListParams>,
) -> ApiResult<axum::Json<DevicePage>> {
    let state = p
        .state
        .map(|st| {
            DeviceState::parse(&st).ok_or_else(|| {
                ApiError::InvalidQuery(format!(
                    "state must be active, locked or released, not {st:?}"
                ))
            })
        })
        .transpose()?;
    let after = p
        .after
        .map(|a| {
            a.parse::<DeviceId>()
                .map_err(|_| ApiError::InvalidQuery("bad cursor".into()))
        })
        .transpose()?;
    let limit = p.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let devices = s
        .service
        .list_devices(
            &ctx,
            DeviceQuery {
                state,
                after,
                limit,
                overdue: None,
            },
        )
        .await?;
    let next_cursor = (devices.len() as u32 == limit)
        .then(|| devices.last().map(|d| d.id.to_string()))
        .flatten();
    Ok(axum::Json(DevicePage {
        devices: devices.iter().map(DeviceView::from).collect(),
        next_cursor,
    }))
}

async fn device(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Path(id): Path<DeviceId>,
) -> ApiResult<axum::Json<DeviceView>> {
    Ok(axum::Json(DeviceView::from(
        &s.service.device(&ctx, id).await?,
    )))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageParams {
    after: Option<i64>,
    limit: Option<u32>,
}

async fn timeline(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Path(id): Path<DeviceId>,
    Query(p): Query<PageParams>,
) -> ApiResult<axum::Json<TimelinePage>> {
    let limit = p.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let events = s.service.timeline(&ctx, id, p.after, limit).await?;
    let next_cursor = (events.len() as u32 == limit)
        .then(|| events.last().map(|e| e.seq))
        .flatten();
    Ok(axum::Json(TimelinePage {
        events: events.iter().map(Into::into).collect(),
        next_cursor,
    }))
}

async fn commands(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Path(id): Path<DeviceId>,
) -> ApiResult<axum::Json<Vec<CommandView>>> {
    let cmds = s.service.commands(&ctx, id).await?;
    Ok(axum::Json(cmds.iter().map(Into::into).collect()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandBody {
    reason: String,
    /// RFC 3339; only for lock. Absent or past means now.
    at: Option<jiff::Timestamp>,
}

async fn run_command(
    s: AppState,
    ctx: lienlock_domain::LenderCtx,
    id: DeviceId,
    kind: CommandKind,
    body: CommandBody,
) -> ApiResult<axum::Json<CommandResult>> {
    if body.at.is_some() && kind != CommandKind::Lock {
        return Err(ApiError::InvalidBody("only a lock can be scheduled".into()));
    }
    let req = CommandRequest {
        kind,
        reason: body.reason,
        at: body.at.map(|t| Timestamp::from_millis(t.as_millisecond())),
    };
    let (cmd, device) = s.service.command(&ctx, id, req).await?;
    Ok(axum::Json(CommandResult {
        command: (&cmd).into(),
        device: (&device).into(),
    }))
}

async fn lock(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Path(id): Path<DeviceId>,
    Json(b): Json<CommandBody>,
) -> ApiResult<axum::Json<CommandResult>> {
    run_command(s, ctx, id, CommandKind::Lock, b).await
}

async fn unlock(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Path(id): Path<DeviceId>,
    Json(b): Json<CommandBody>,
) -> ApiResult<axum::Json<CommandResult>> {
    run_command(s, ctx, id, CommandKind::Unlock, b).await
}

async fn release(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Path(id): Path<DeviceId>,
    Json(b): Json<CommandBody>,
) -> ApiResult<axum::Json<CommandResult>> {
    run_command(s, ctx, id, CommandKind::Release, b).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApproveKeyBody {
    /// The pending key as shown on the device (64 hex characters).
    key: String,
    reason: String,
}

async fn approve_key(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Path(id): Path<DeviceId>,
    Json(b): Json<ApproveKeyBody>,
) -> ApiResult<axum::Json<DeviceView>> {
    let mut key = [0u8; 32];
    hex::decode_to_slice(b.key.trim(), &mut key)
        .map_err(|_| ApiError::InvalidBody("key must be 64 hex characters".into()))?;
    let device = s.service.approve_key(&ctx, id, key, &b.reason).await?;
    Ok(axum::Json(DeviceView::from(&device)))
}
