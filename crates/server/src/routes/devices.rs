//! The lender API for devices and commands.

use super::{Access, Routes};
use crate::app::AppState;
use crate::auth::Lender;
use crate::error::ApiError;
use crate::extract::{Json, Path, Query};
use crate::service::{CommandRequest, EnrollRequest};
use crate::views::{CommandResult, CommandView, DevicePage, DeviceView, LenderView, TimelinePage};
use axum::extract::State;
use axum::http::Method;
use axum::http::StatusCode;
use axum::routing::{get, post};
use lienlock_domain::Permission;
use lienlock_domain::{CommandKind, DeviceId, DeviceState, Timestamp};
use lienlock_store::DeviceQuery;
use serde::Deserialize;

pub(super) fn routes() -> Routes {
    let read = Access::Lender(Permission::ReadDevices);
    let command = Access::Lender(Permission::Command);
    Routes::new()
        .add(Method::GET, "/v1/lender", read, get(lender))
        .add(
            Method::POST,
            "/v1/devices",
            Access::Lender(Permission::Enroll),
            post(enroll),
        )
        .add(Method::GET, "/v1/devices", read, get(list))
        .add(Method::GET, "/v1/devices/{id}", read, get(device))
        .add(
            Method::GET,
            "/v1/devices/{id}/timeline",
            read,
            get(timeline),
        )
        .add(
            Method::GET,
            "/v1/devices/{id}/commands",
            read,
            get(commands),
        )
        .add(Method::POST, "/v1/devices/{id}/lock", command, post(lock))
        .add(
            Method::POST,
            "/v1/devices/{id}/unlock",
            command,
            post(unlock),
        )
        .add(
            Method::POST,
            "/v1/devices/{id}/release",
            command,
            post(release),
        )
        .add(
            Method::POST,
            "/v1/devices/{id}/approve-key",
            command,
            post(approve_key),
        )
}

impl crate::openapi::Operations {
    /// The operations of this file.
    pub(crate) fn devices() -> utoipa::openapi::OpenApi {
        #[derive(utoipa::OpenApi)]
        #[openapi(paths(
            lender,
            enroll,
            list,
            device,
            timeline,
            commands,
            lock,
            unlock,
            release,
            approve_key
        ))]
        struct Doc;
        <Doc as utoipa::OpenApi>::openapi()
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// The caller's lender: what its devices' lock screens show.
#[utoipa::path(
    get,
    path = "/v1/lender",
    operation_id = "get_lender",
    tag = "lender",
    security(("api_key" = [])),
    responses((status = 200, description = "The lender", body = LenderView)),
)]
async fn lender(
    State(s): State<AppState>,
    Lender(ctx): Lender,
) -> ApiResult<axum::Json<LenderView>> {
    Ok(axum::Json(LenderView::from(&s.service.lender(&ctx).await?)))
}

/// A phone to enroll.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = EnrollRequest)]
struct EnrollBody {
    /// 15 digits with a correct Luhn check digit: the IMEI the phone checks in with.
    #[schema(example = "356938035643809", pattern = "^[0-9]{15}$")]
    imei: String,
    /// The second IMEI of a dual-SIM phone; same rule, differs from `imei`.
    #[schema(pattern = "^[0-9]{15}$")]
    imei2: Option<String>,
    #[schema(value_type = Option<crate::openapi::Text128>)]
    serial: Option<String>,
    #[schema(value_type = Option<crate::openapi::Text128>)]
    model: Option<String>,
}

/// Enrolls a phone.
#[utoipa::path(
    post,
    path = "/v1/devices",
    operation_id = "enroll_device",
    tag = "devices",
    security(("api_key" = [])),
    request_body = EnrollBody,
    responses(
        (status = 201, description = "Enrolled", body = DeviceView),
        (status = 403, description = "`forbidden`: the key's role may not enroll", body = crate::error::Body),
        (status = 409, description = "`imei_taken`: an enrollment that is not released uses this IMEI",
         body = crate::error::Body),
        (status = 422, description = "`invalid_imei`, or `invalid_request` (same IMEI twice, bad \
         serial or model, missing or unknown field)", body = crate::error::Body),
    ),
)]
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

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// Only devices in this state.
    #[param(pattern = "^(active|locked|released)$")]
    state: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(format = "uuid")]
    after: Option<String>,
    /// Page size; default 50, clamped to 1-500.
    limit: Option<u32>,
}

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 500;

/// The lender's devices, a page at a time, oldest first.
#[utoipa::path(
    get,
    path = "/v1/devices",
    operation_id = "list_devices",
    tag = "devices",
    security(("api_key" = [])),
    params(ListParams),
    responses((status = 200, description = "A page of devices", body = DevicePage)),
)]
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

/// One device.
#[utoipa::path(
    get,
    path = "/v1/devices/{id}",
    operation_id = "get_device",
    tag = "devices",
    security(("api_key" = [])),
    params(("id" = String, Path, format = "uuid", description = "Device id")),
    responses(
        (status = 200, description = "The device", body = DeviceView),
        (status = 404, description = "`not_found`", body = crate::error::Body),
    ),
)]
async fn device(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Path(id): Path<DeviceId>,
) -> ApiResult<axum::Json<DeviceView>> {
    Ok(axum::Json(DeviceView::from(
        &s.service.device(&ctx, id).await?,
    )))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct PageParams {
    /// The `next_cursor` of the previous page.
    after: Option<i64>,
    /// Page size; default 50, clamped to 1-500.
    limit: Option<u32>,
}

/// What happened to a device, oldest first.
#[utoipa::path(
    get,
    path = "/v1/devices/{id}/timeline",
    operation_id = "device_timeline",
    tag = "devices",
    security(("api_key" = [])),
    params(("id" = String, Path, format = "uuid", description = "Device id"), PageParams),
    responses(
        (status = 200, description = "A page of timeline entries", body = TimelinePage),
        (status = 404, description = "`not_found`", body = crate::error::Body),
    ),
)]
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

/// A device's commands.
#[utoipa::path(
    get,
    path = "/v1/devices/{id}/commands",
    operation_id = "device_commands",
    tag = "devices",
    security(("api_key" = [])),
    params(("id" = String, Path, format = "uuid", description = "Device id")),
    responses(
        (status = 200, description = "The commands", body = Vec<CommandView>),
        (status = 404, description = "`not_found`", body = crate::error::Body),
    ),
)]
async fn commands(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Path(id): Path<DeviceId>,
) -> ApiResult<axum::Json<Vec<CommandView>>> {
    let cmds = s.service.commands(&ctx, id).await?;
    Ok(axum::Json(cmds.iter().map(Into::into).collect()))
}

/// A lock, unlock or release.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CommandRequest)]
struct CommandBody {
    /// Why; on the timeline.
    #[schema(value_type = crate::openapi::Text500)]
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

/// Locks a device now, or at `at`.
#[utoipa::path(
    post,
    path = "/v1/devices/{id}/lock",
    operation_id = "lock_device",
    tag = "devices",
    security(("api_key" = [])),
    params(("id" = String, Path, format = "uuid", description = "Device id")),
    request_body = CommandBody,
    responses(
        (status = 200, description = "The command and the device as it stands now", body = CommandResult),
        (status = 403, description = "`forbidden`", body = crate::error::Body),
        (status = 404, description = "`not_found`", body = crate::error::Body),
        (status = 409, description = "`already_locked`, `device_released`", body = crate::error::Body),
    ),
)]
async fn lock(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Path(id): Path<DeviceId>,
    Json(b): Json<CommandBody>,
) -> ApiResult<axum::Json<CommandResult>> {
    run_command(s, ctx, id, CommandKind::Lock, b).await
}

/// Unlocks a locked device.
#[utoipa::path(
    post,
    path = "/v1/devices/{id}/unlock",
    operation_id = "unlock_device",
    tag = "devices",
    security(("api_key" = [])),
    params(("id" = String, Path, format = "uuid", description = "Device id")),
    request_body = CommandBody,
    responses(
        (status = 200, description = "The command and the device as it stands now", body = CommandResult),
        (status = 403, description = "`forbidden`", body = crate::error::Body),
        (status = 404, description = "`not_found`", body = crate::error::Body),
        (status = 409, description = "`not_locked`, `device_released`", body = crate::error::Body),
    ),
)]
async fn unlock(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Path(id): Path<DeviceId>,
    Json(b): Json<CommandBody>,
) -> ApiResult<axum::Json<CommandResult>> {
    run_command(s, ctx, id, CommandKind::Unlock, b).await
}

/// Releases a device for good (the last installment is paid).
#[utoipa::path(
    post,
    path = "/v1/devices/{id}/release",
    operation_id = "release_device",
    tag = "devices",
    security(("api_key" = [])),
    params(("id" = String, Path, format = "uuid", description = "Device id")),
    request_body = CommandBody,
    responses(
        (status = 200, description = "The command and the device as it stands now", body = CommandResult),
        (status = 403, description = "`forbidden`", body = crate::error::Body),
        (status = 404, description = "`not_found`", body = crate::error::Body),
        (status = 409, description = "`device_released`", body = crate::error::Body),
    ),
)]
async fn release(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Path(id): Path<DeviceId>,
    Json(b): Json<CommandBody>,
) -> ApiResult<axum::Json<CommandResult>> {
    run_command(s, ctx, id, CommandKind::Release, b).await
}

/// The new device key to bind.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ApproveKeyRequest)]
struct ApproveKeyBody {
    /// The pending key as shown on the device (64 hex characters).
    #[schema(pattern = "^[0-9a-fA-F]{64}$")]
    key: String,
    #[schema(value_type = crate::openapi::Text500)]
    reason: String,
}

/// Binds the device key awaiting approval (after a reset or a new phone).
#[utoipa::path(
    post,
    path = "/v1/devices/{id}/approve-key",
    operation_id = "approve_device_key",
    tag = "devices",
    security(("api_key" = [])),
    params(("id" = String, Path, format = "uuid", description = "Device id")),
    request_body = ApproveKeyBody,
    responses(
        (status = 200, description = "The device", body = DeviceView),
        (status = 403, description = "`forbidden`", body = crate::error::Body),
        (status = 404, description = "`not_found`", body = crate::error::Body),
        (status = 409, description = "`no_pending_key`, `pending_key_changed` or `device_released`",
         body = crate::error::Body),
    ),
)]
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
