//! The one place where errors become HTTP responses.
//!
//! Every error a handler can return is an [`ApiError`]; its mapping to a status and a
//! stable `code` is a single exhaustive `match` with no catch-all arm, so a new error
//! variant cannot reach a client without someone deciding its status.

use crate::service::ServiceError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use lienlock_domain::TransitionError;
use lienlock_store::StoreError;
use serde::Serialize;

/// An error as a client sees it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// From the services.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// The body is not JSON, or not the JSON we expect.
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// The body is JSON of the right shape but a field has the wrong type or is missing.
    #[error("invalid request: {0}")]
    InvalidBody(String),
    /// The body is larger than the server accepts.
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// The body is not `application/json`.
    #[error("expected Content-Type: application/json")]
    UnsupportedMediaType,
    /// The body of a CSV upload is not `text/csv`.
    #[error("expected Content-Type: text/csv (UTF-8)")]
    NotCsv,
    /// A query string parameter is invalid.
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// A path parameter is not a valid id.
    #[error("no such resource")]
    BadPathId,
    /// Missing or bad credentials.
    #[error("missing or invalid API key")]
    Unauthorized,
    /// No such route.
    #[error("no such route")]
    NoRoute,
    /// The route exists but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A console form without the session's anti-forgery token.
    #[error(
        "this form has expired or did not come from this console; reload the page and try again"
    )]
    CsrfRejected,
    /// This client asked too often; it may ask again after this many seconds.
    #[error("too many requests; retry in {0} s")]
    RateLimited(u64),
    /// The request took longer than the server allows one to take.
    #[error("the request took too long; retry it")]
    TimedOut,
    /// This node already has as many requests in flight as it takes; it refused this one
    /// before reading it, rather than queue it.
    #[error("the server is busy; retry shortly")]
    Overloaded,
    /// A lender's request took effect, but its audit entry could not be stored, so it is
    /// not acknowledged (`crate::audit`): answered as the storage error, and saying so.
    #[error("the request took effect but its audit entry could not be stored: {0}")]
    Unaudited(StoreError),
}

/// `Retry-After` of a `storage_full` or `storage_read_only` answer, in seconds.
pub const STORAGE_RETRY_AFTER_SECS: u64 = 30;

/// The JSON body of every error: `{"error": {"code": ..., "message": ...}}`.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ErrorBody)]
pub(crate) struct Body<'a> {
    error: Inner<'a>,
}

/// What went wrong.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ErrorDetail)]
pub(crate) struct Inner<'a> {
    /// Stable and meant for programs (`not_found`, `already_locked`, ...; see docs/api.md).
    #[schema(example = "not_found")]
    code: &'a str,
    /// For people; may change.
    message: String,
}

impl ApiError {
    /// The HTTP status and the stable machine-readable code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        use ServiceError as S;
        match self {
            ApiError::MalformedJson(_) => (StatusCode::BAD_REQUEST, "malformed_json"),
            ApiError::InvalidBody(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::UnsupportedMediaType | ApiError::NotCsv => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::InvalidQuery(_) => (StatusCode::BAD_REQUEST, "invalid_query"),
            ApiError::BadPathId | ApiError::NoRoute => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::TimedOut => (StatusCode::SERVICE_UNAVAILABLE, "timed_out"),
            ApiError::Overloaded => (StatusCode::SERVICE_UNAVAILABLE, "overloaded"),
            ApiError::CsrfRejected => (StatusCode::FORBIDDEN, "csrf_rejected"),
            ApiError::Unaudited(s) => store_status_and_code(s),
            ApiError::Service(e) => match e {
                S::NotFound => (StatusCode::NOT_FOUND, "not_found"),
                S::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
                S::SignInFailed => (StatusCode::UNAUTHORIZED, "sign_in_failed"),
                S::InvalidImei(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_imei"),
                S::Invalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
                S::MalformedCsv(_) => (StatusCode::BAD_REQUEST, "malformed_csv"),
                S::InvalidCsv(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_csv"),
                S::ImeiTaken(_) => (StatusCode::CONFLICT, "imei_taken"),
                S::Transition(t) => match t {
                    TransitionError::Released => (StatusCode::CONFLICT, "device_released"),
                    TransitionError::AlreadyLocked => (StatusCode::CONFLICT, "already_locked"),
                    TransitionError::NotLocked => (StatusCode::CONFLICT, "not_locked"),
                },
                S::NoPendingKey => (StatusCode::CONFLICT, "no_pending_key"),
                S::PendingKeyChanged => (StatusCode::CONFLICT, "pending_key_changed"),
                S::Replay { .. } => (StatusCode::CONFLICT, "replayed_checkin"),
                S::UnknownDevice => (StatusCode::NOT_FOUND, "unknown_device"),
                S::BadDeviceMessage(_) => (StatusCode::BAD_REQUEST, "malformed_message"),
                S::BadSignature => (StatusCode::UNAUTHORIZED, "bad_signature"),
                S::Contended => (StatusCode::SERVICE_UNAVAILABLE, "contended"),
                S::PushFull => (StatusCode::SERVICE_UNAVAILABLE, "push_full"),
                S::Contract(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_contract"),
                S::Policy(_) => (StatusCode::UNPROCESSABLE_ENTITY, "policy_not_allowed"),
                S::Ledger(_) => (StatusCode::UNPROCESSABLE_ENTITY, "ledger_refused"),
                S::IdempotencyConflict => (StatusCode::CONFLICT, "idempotency_key_reused"),
                S::DisputeClosed => (StatusCode::CONFLICT, "dispute_closed"),
                S::CodeUnavailable(_) => (StatusCode::CONFLICT, "code_unavailable"),
                S::Store(s) => store_status_and_code(s),
            },
        }
    }

    /// What the client is told. Internal details of storage failures stay in the log.
    pub(crate) fn public_message(&self) -> String {
        match self {
            ApiError::Service(ServiceError::Store(s)) => match (storage_state(s), s) {
                (Some(state), StoreError::Unavailable(_)) => format!("{state}; retry later"),
                (Some(state), _) => format!("{state}; nothing was written; retry later"),
                (None, StoreError::Backend(_) | StoreError::Corrupt { .. }) => {
                    INTERNAL_MESSAGE.into()
                }
                (None, _) => self.to_string(),
            },
            ApiError::Unaudited(s) => format!(
                "{}: the request took effect, but its entry in the audit trail could not be \
                 stored, so it is not acknowledged; send it again (a payment with the same \
                 Idempotency-Key) once storage recovers",
                storage_state(s).unwrap_or(INTERNAL_MESSAGE)
            ),
            other => other.to_string(),
        }
    }
}

/// The public message of a storage failure whose details stay in the log.
const INTERNAL_MESSAGE: &str = "internal error; it has been logged";

/// What a storage error that means "cannot write now" tells the client; `None` for others.
fn storage_state(s: &StoreError) -> Option<&'static str> {
    match s {
        StoreError::Unavailable(_) => Some("storage is unavailable"),
        StoreError::Full(_) => Some("storage is full"),
        StoreError::ReadOnly(_) => Some("storage is read-only"),
        _ => None,
    }
}

/// The status and code of a storage error, wherever it surfaces.
fn store_status_and_code(s: &StoreError) -> (StatusCode, &'static str) {
    match s {
        StoreError::ImeiTaken(_) => (StatusCode::CONFLICT, "imei_taken"),
        StoreError::Duplicate(_) => (StatusCode::CONFLICT, "duplicate"),
        StoreError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
        StoreError::ContractExists => (StatusCode::CONFLICT, "contract_exists"),
        StoreError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
        StoreError::Stale => (StatusCode::SERVICE_UNAVAILABLE, "contended"),
        StoreError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable"),
        StoreError::Full(_) => (StatusCode::SERVICE_UNAVAILABLE, "storage_full"),
        StoreError::ReadOnly(_) => (StatusCode::SERVICE_UNAVAILABLE, "storage_read_only"),
        StoreError::Backend(_) | StoreError::Corrupt { .. } => {
            (StatusCode::INTERNAL_SERVER_ERROR, "internal")
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if status.is_server_error() {
            tracing::error!(error = %self, code, "request failed");
        }
        let body = Body {
            error: Inner {
                code,
                message: self.public_message(),
            },
        };
        // A full or read-only database needs an operator, so clients are asked to wait
        // longer than for a blip; every other 503 says one second (clients add jitter).
        let retry_after = match &self {
            ApiError::RateLimited(secs) => Some(*secs),
            ApiError::Service(ServiceError::Store(
                StoreError::Full(_) | StoreError::ReadOnly(_),
            ))
            | ApiError::Unaudited(StoreError::Full(_) | StoreError::ReadOnly(_)) => {
                Some(STORAGE_RETRY_AFTER_SECS)
            }
            _ if status == StatusCode::SERVICE_UNAVAILABLE => Some(1),
            _ => None,
        };
        let mut resp = (status, axum::Json(body)).into_response();
        let headers = resp.headers_mut();
        if let Some(secs) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        if status == StatusCode::UNAUTHORIZED && code == "unauthorized" {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}
