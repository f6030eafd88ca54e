//! `POST /device/v1/push`: a device's long-lived connection for wake-up hints, as
//! server-sent events, or as a long poll for networks that cut idle connections.

use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{Json, Query};
use crate::push::Refused;
use crate::service::ServiceError;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use lienlock_wire::SignedSubscribe;
use serde::Deserialize;
use std::convert::Infallible;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/device/v1/push", post(push))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PushQuery {
    /// `sse` (the default) or `poll`.
    mode: Option<String>,
}

async fn push(
    State(state): State<AppState>,
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
        return Ok(axum::Json(serde_json::json!({ "wake": wake })).into_response());
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
