//! The audit trail's HTTP side: every state-changing request made by a lender's principal
//! (an API key or a console user) is appended to that lender's hash-chained audit log with
//! who, which role, from which address, what, why and the outcome.
//!
//! It is a layer on every route rather than a call in every handler, so a new route cannot
//! be forgotten: the authentication extractors fill an [`AuditSlot`] that this layer put in
//! the request, and after the handler answers the layer appends the entry. The entry is
//! appended before the response is sent, so every acknowledged action has its row; if the
//! append fails the caller gets the storage error instead (a 503 for a full, read-only or
//! unreachable database), told that the action took effect but is not acknowledged, and
//! sends it again (the action itself is idempotent or keyed).
//! Refused attempts (403, 404, 422) are recorded too: a careless or hostile caller trying is
//! itself worth knowing.

use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::BODY_LIMIT;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use lienlock_domain::audit::AuditEntry;
use lienlock_domain::LenderCtx;
use lienlock_store::Actor;
use std::sync::{Arc, Mutex};

/// Where the authentication extractors leave the caller for the audit layer.
#[derive(Clone, Debug, Default)]
pub struct AuditSlot(Arc<Mutex<Option<LenderCtx>>>);

impl AuditSlot {
    /// Records the authenticated caller of the request these extensions belong to.
    pub fn record(extensions: &axum::http::Extensions, ctx: &LenderCtx) {
        if let Some(slot) = extensions.get::<AuditSlot>() {
            slot.fill(ctx);
        }
    }

    /// Records `ctx` as the caller: for a handler that authenticates the caller itself
    /// (the console's sign-in form) rather than through an extractor.
    pub fn fill(&self, ctx: &LenderCtx) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(*ctx);
    }

    fn take(&self) -> Option<LenderCtx> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

pub use crate::telemetry::REQUEST_ID;

/// Reasons longer than this are cut (the body limit already bounds them).
const MAX_REASON: usize = 500;

/// The layer. See the module documentation. The request id comes from the telemetry
/// layer outside it, which also returns it to the caller.
pub async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let request_id = req
        .extensions()
        .get::<crate::telemetry::RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let changes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    // The device and public paths have no lender principal, and the push stream must not
    // be buffered.
    let path = req.uri().path().to_owned();
    let lender_path = path.starts_with("/v1/") && !path.starts_with("/v1/public/")
        || path.starts_with("/console/");
    if changes && lender_path {
        audited(&state, req, next, &request_id, path).await
    } else {
        next.run(req).await
    }
}

/// Admits the request under the node's in-flight cap (`crate::shed`) before anything else,
/// so that a lender write past the cap is shed before its body is read here: otherwise
/// every shed request would still have been read in full (up to the body limit) first.
/// The permit rides on the request (the shed layer lets it through) and leaves on the
/// response, as the shed layer's own does.
async fn audited(
    state: &AppState,
    mut req: Request,
    next: Next,
    request_id: &str,
    path: String,
) -> Response {
    let admitted = match state.in_flight.admit() {
        Ok(admitted) => admitted,
        Err(shed) => return shed.into_response(),
    };
    if let Some(a) = &admitted {
        req.extensions_mut().insert(a.clone());
    }
    let mut resp = audited_admitted(state, req, next, request_id, path).await;
    if let Some(a) = admitted {
        resp.extensions_mut().insert(a);
    }
    resp
}

async fn audited_admitted(
    state: &AppState,
    req: Request,
    next: Next,
    request_id: &str,
    path: String,
) -> Response {
    let (mut parts, body) = req.into_parts();
    let slot = AuditSlot::default();
    parts.extensions.insert(slot.clone());
    let kind = body_kind(&parts.headers);
    // Only small bodies that can carry a reason are read here; others (CSV uploads) pass
    // through untouched and keep their own limits.
    let (reason, body) = match kind {
        BodyKind::Json | BodyKind::Form => match axum::body::to_bytes(body, BODY_LIMIT).await {
            Ok(bytes) => (reason_of(kind, &bytes), Body::from(bytes)),
            Err(_) => return ApiError::PayloadTooLarge(BODY_LIMIT).into_response(),
        },
        BodyKind::Other => (String::new(), body),
    };
    let action = format!(
        "{} {}",
        parts.method,
        parts
            .extensions
            .get::<MatchedPath>()
            .map_or("(no route)", |m| m.as_str())
    );
    let crate::extract::Client(ip) = <crate::extract::Client as axum::extract::FromRequestParts<
        AppState,
    >>::from_request_parts(&mut parts, state)
    .await
    .unwrap_or_else(|never| match never {});
    let address = ip.to_string();
    let resp = next.run(Request::from_parts(parts, body)).await;
    let Some(ctx) = slot.take() else {
        return resp;
    };
    let entry = AuditEntry {
        chain: ctx.lender_id.to_string(),
        at: state.service.clock().now(),
        actor: Actor::from(ctx.principal).to_text(),
        role: ctx.role.as_str().to_owned(),
        address,
        action,
        object: path,
        reason,
        outcome: resp.status().as_u16().to_string(),
        request_id: request_id.to_owned(),
    };
    let took_effect = resp.status().is_success();
    match state.service.append_audit(entry).await {
        Ok(_) => resp,
        Err(e) => {
            tracing::error!(request_id, error = %e, took_effect, "audit append failed");
            // A refused request changed nothing, and the storage error says so; one that
            // succeeded did take effect, and the client must not be told otherwise.
            match e {
                crate::service::ServiceError::Store(s) if took_effect => {
                    ApiError::Unaudited(s).into_response()
                }
                other => ApiError::from(other).into_response(),
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    Json,
    Form,
    Other,
}

fn body_kind(headers: &axum::http::HeaderMap) -> BodyKind {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ct.starts_with("application/json") {
        BodyKind::Json
    } else if ct.starts_with("application/x-www-form-urlencoded") {
        BodyKind::Form
    } else {
        BodyKind::Other
    }
}

/// The `reason` field of a JSON object or a form, if there is one.
fn reason_of(kind: BodyKind, bytes: &[u8]) -> String {
    let found = match kind {
        BodyKind::Json => serde_json::from_slice::<serde_json::Value>(bytes)
            .ok()
            .and_then(|v| v.get("reason")?.as_str().map(str::to_owned)),
        BodyKind::Form => form_urlencoded::parse(bytes)
            .find(|(k, _)| k == "reason")
            .map(|(_, v)| v.into_owned()),
        BodyKind::Other => None,
    };
    let mut r = found.unwrap_or_default();
    if r.len() > MAX_REASON {
        let mut cut = MAX_REASON;
        while !r.is_char_boundary(cut) {
            cut -= 1;
        }
        r.truncate(cut);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_come_from_json_and_forms_and_are_bounded() {
        assert_eq!(
            reason_of(BodyKind::Json, br#"{"reason":"overdue"}"#),
            "overdue"
        );
        assert_eq!(reason_of(BodyKind::Json, br#"{"reason":5}"#), "");
        assert_eq!(reason_of(BodyKind::Json, b"not json"), "");
        assert_eq!(
            reason_of(BodyKind::Form, b"csrf=x&reason=paid+in+cash&action=unlock"),
            "paid in cash"
        );
        let long = format!(r#"{{"reason":"{}"}}"#, "é".repeat(400));
        assert!(reason_of(BodyKind::Json, long.as_bytes()).len() <= MAX_REASON);
    }
}
