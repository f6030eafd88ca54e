//! `POST /device/v1/push`: a device's long-lived connection for wake-up hints, as
//! server-sent events, or as a long poll for networks that cut idle connections.

use super::{Access, Routes};
use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{Json, Query};
use crate::push::Refused;
use crate::service::ServiceError;
use axum::extract::State;
use axum::http::Method;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use lienlock_wire::SignedSubscribe;
use serde::{Deserialize, Serialize};
use std::convert::Infallible;

pub(super) fn routes() -> Routes {
    Routes::new().add(Method::POST, "/device/v1/push", Access::Device, post(push))
}

impl crate::openapi::Operations {
    /// The operations of this file.
    pub(crate) fn push() -> utoipa::openapi::OpenApi {
        #[derive(utoipa::OpenApi)]
        #[openapi(paths(push))]
        struct Doc;
        <Doc as utoipa::OpenApi>::openapi()
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct PushQuery {
    /// `sse` (the default) or `poll`.
    #[param(pattern = "^(sse|poll)$")]
    mode: Option<String>,
}

/// The answer to a long poll.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = PushPoll)]
struct Poll {
    /// Whether the device should check in now.
    wake: bool,
}

/// A device's connection for wake-up hints (docs/protocol.md, section 7a): server-sent
/// events `ready`, then `wake` per hint; with `?mode=poll`, one long poll.
#[utoipa::path(
    post,
    path = "/device/v1/push",
    operation_id = "device_push",
    tag = "device",
    params(PushQuery),
    request_body = crate::openapi::SignedSubscribeSchema,
    responses(
        (status = 200, description = "Subscribed", content(
            (String = "text/event-stream"),
            (Poll = "application/json"),
        )),
        (status = 400, description = "`malformed_message` (including a `device_time` more \
         than 10 minutes off), `malformed_json` or `invalid_query`", body = crate::error::Body),
        (status = 401, description = "`bad_signature`", body = crate::error::Body),
        (status = 404, description = "`unknown_device`", body = crate::error::Body),
        (status = 409, description = "`device_released`", body = crate::error::Body),
        (status = 503, description = "`push_full`: this node holds as many connections as it may",
         body = crate::error::Body),
    ),
)]

async fn push(
    State(state): State<AppState>,
    _: crate::ratelimit::DeviceRate,
    Query(q): Query<PushQuery>,
    Json(body): Json<SignedSubscribe>,
) -> Result<Response, ApiError> {
    let poll = match q.mode.as_deref() {
        None | Some("sse") => false,
        Some("poll") => true,
        Some(other) => {
            return Err(ApiError::InvalidQuery(format!(
                "mode must be sse or poll, not {other:?}"
            )))
        }
    };
    let device = state.service.authorize_push(&body).await?;
    let mut sub = state.push.subscribe(device).map_err(|r| {
        ApiError::Service(match r {
            Refused::Full => ServiceError::PushFull,
            Refused::Closed => ServiceError::PushFull,
        })
    })?;
    let limits = state.push.limits();
    if poll {
        let wake = matches!(
            tokio::time::timeout(limits.poll_timeout, sub.hints.recv()).await,
            Ok(Some(()))
        );
        return Ok(axum::Json(Poll { wake }).into_response());
    }
    // `ready` first, so the device knows it is subscribed (and checks in once to catch
    // anything it missed while it was not); then one `wake` per hint. The stream ends when
    // a newer connection of the same device replaces this one or the node shuts down.
    let events = futures_util::stream::unfold((sub, true), |(mut sub, first)| async move {
        let event = if first {
            Event::default().event("ready").data("{}")
        } else {
            sub.hints.recv().await?;
            Event::default().event("wake").data("{}")
        };
        Some((Ok::<_, Infallible>(event), (sub, false)))
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(limits.heartbeat).text("hb"))
        .into_response())
}
