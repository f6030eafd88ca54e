//! The webhook deliveries: a list (newest first) and one delivery with its attempts.

use super::format::{maybe_time, time};
use super::{render, ConsoleError, Me, Session};
use crate::app::AppState;
use crate::error::ApiError;
use crate::routes::{Access, Routes};
use crate::service::ServiceError;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::get;
use lienlock_domain::Permission;
use lienlock_store::{DeliveryId, DeliveryStatus, WebhookDelivery};
use serde::Deserialize;

const PAGE: u32 = 50;

pub(super) fn routes() -> Routes {
    let read = Access::Console(Permission::ReadWebhooks);
    Routes::new()
        .add(Method::GET, "/console/webhooks", read, get(list))
        .add(Method::GET, "/console/webhooks/{id}", read, get(page))
}

/// A delivery as a row or a page header shows it.
struct Row {
    id: String,
    event: &'static str,
    device_id: String,
    imei: String,
    status: &'static str,
    status_class: &'static str,
    attempts: u32,
    last_error: String,
    next_attempt: String,
    created: String,
}

fn row(d: &WebhookDelivery) -> Row {
    let (status, status_class) = match d.status {
        DeliveryStatus::Pending => ("pending", "restricted"),
        DeliveryStatus::Delivered => ("delivered", "active"),
        DeliveryStatus::Failed => ("failed", "locked"),
    };
    Row {
        id: d.id.to_string(),
        event: d.event.as_str(),
        device_id: d.device_id.map(|id| id.to_string()).unwrap_or_default(),
        imei: d.imei.map(|i| i.to_string()).unwrap_or_default(),
        status,
        status_class,
        attempts: d.attempts,
        last_error: match (&d.last_error, d.last_status) {
            (Some(e), _) => e.clone(),
            (None, Some(s)) => format!("HTTP {s}"),
            (None, None) => String::new(),
        },
        next_attempt: d.next_attempt_at.map(time).unwrap_or_default(),
        created: time(d.created_at),
    }
}

#[derive(Template)]
#[template(path = "console/webhooks.html")]
struct ListPage {
    me: Option<Me>,
    /// The endpoint's URL and types, for roles that may see the configuration.
    endpoint: Option<(String, String)>,
    /// Whether the role may see the configuration at all.
    may_configure: bool,
    rows: Vec<Row>,
    next: Option<String>,
}

#[derive(Deserialize, Default)]
pub(super) struct ListQuery {
    before: Option<String>,
}

pub(super) async fn list(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<ListQuery>,
) -> Result<Response, ConsoleError> {
    let ctx = &session.0.ctx;
    let before = q
        .before
        .as_deref()
        .map(|b| b.parse::<DeliveryId>())
        .transpose()
        .map_err(|_| ConsoleError(ApiError::InvalidQuery("bad cursor".into())))?;
    let deliveries = state.service.webhook_deliveries(ctx, before, PAGE).await?;
    let may_configure = ctx.role.allows(Permission::ManageWebhooks);
    let endpoint = if may_configure {
        match state.service.webhook(ctx).await {
            Ok(c) => Some((
                c.endpoint.url,
                c.endpoint.event_types.map_or("every type".into(), |t| {
                    t.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", ")
                }),
            )),
            Err(ServiceError::NotFound) => None,
            Err(e) => return Err(e.into()),
        }
    } else {
        None
    };
    let next = (deliveries.len() == PAGE as usize)
        .then(|| deliveries.last())
        .flatten()
        .map(|d| format!("/console/webhooks?before={}", d.id));
    let page = ListPage {
        me: Some(session.me()),
        endpoint,
        may_configure,
        rows: deliveries.iter().map(row).collect(),
        next,
    };
    Ok(render(StatusCode::OK, &page))
}

/// An attempt as the page shows it.
struct AttemptRow {
    n: u32,
    at: String,
    status_code: String,
    error: String,
    duration: String,
}

#[derive(Template)]
#[template(path = "console/webhook.html")]
struct DeliveryPage {
    me: Option<Me>,
    d: Row,
    delivered: String,
    payload: String,
    attempts: Vec<AttemptRow>,
}

pub(super) async fn page(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let id: DeliveryId = id.parse().map_err(|_| ConsoleError(ApiError::BadPathId))?;
    let (delivery, attempts) = state.service.webhook_delivery(&session.0.ctx, id).await?;
    let payload = delivery.payload.as_deref().map_or_else(
        || "Not sent yet.".to_owned(),
        |p| {
            serde_json::from_str::<serde_json::Value>(p)
                .and_then(|v| serde_json::to_string_pretty(&v))
                .unwrap_or_else(|_| p.to_owned())
        },
    );
    let page = DeliveryPage {
        me: Some(session.me()),
        d: row(&delivery),
        delivered: maybe_time(delivery.delivered_at),
        payload,
        attempts: attempts
            .iter()
            .map(|a| AttemptRow {
                n: a.n,
                at: time(a.at),
                status_code: a.status_code.map(|s| s.to_string()).unwrap_or_default(),
                error: a.error.clone().unwrap_or_default(),
                duration: format!("{} ms", a.duration_ms),
            })
            .collect(),
    };
    Ok(render(StatusCode::OK, &page))
}
