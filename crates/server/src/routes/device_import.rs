//! `POST /v1/devices/import`: bulk enrollment from a `text/csv` body.

use super::{Access, Routes};
use crate::app::AppState;
use crate::auth::Lender;
use crate::error::ApiError;
use crate::service::{ImportReport, ServiceError};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::Method;
use axum::http::{header, StatusCode};
use axum::routing::post;
use lienlock_domain::csv::CsvError;
use lienlock_domain::Permission;

/// Largest upload, in bytes. The server-wide limit is for JSON requests; a full upload of
/// 10,000 rows is about 600 KB, so this leaves room for long serials and models.
pub const IMPORT_BODY_LIMIT: usize = 2 * 1024 * 1024;

pub(super) fn routes() -> Routes {
    Routes::new().add(
        Method::POST,
        "/v1/devices/import",
        Access::Lender(Permission::Enroll),
        // Set on the route, it overrides the server-wide limit for this route only.
        post(import).layer(DefaultBodyLimit::max(IMPORT_BODY_LIMIT)),
    )
}

impl crate::openapi::Operations {
    /// The operations of this file.
    pub(crate) fn device_import() -> utoipa::openapi::OpenApi {
        #[derive(utoipa::OpenApi)]
        #[openapi(paths(import))]
        struct Doc;
        <Doc as utoipa::OpenApi>::openapi()
    }
}

/// Enrolls many phones from a CSV file (UTF-8, header `imei,imei2,serial,model`; at most
/// 2 MiB and 10,000 rows). Each row is enrolled as `POST /v1/devices` would enroll it.
#[utoipa::path(
    post,
    path = "/v1/devices/import",
    operation_id = "import_devices",
    tag = "devices",
    security(("api_key" = [])),
    request_body(content = String, content_type = "text/csv",
                 description = "`imei` column required; `imei2`, `serial`, `model` optional"),
    responses(
        (status = 200, description = "One result per row", body = ImportReport),
        (status = 400, description = "`malformed_csv`: a syntax error or not UTF-8; the message \
         names the line", body = crate::error::Body),
        (status = 403, description = "`forbidden`", body = crate::error::Body),
        (status = 413, description = "`payload_too_large`: over 2 MiB", body = crate::error::Body),
        (status = 415, description = "`unsupported_media_type`: not `text/csv` (UTF-8)",
         body = crate::error::Body),
        (status = 422, description = "`invalid_csv`: empty, missing or unknown columns, too many \
         rows", body = crate::error::Body),
    ),
)]
async fn import(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Csv(text): Csv,
) -> Result<axum::Json<ImportReport>, ApiError> {
    Ok(axum::Json(s.service.import_devices(&ctx, &text).await?))
}

/// A `text/csv` body as UTF-8 text.
#[derive(Debug)]
struct Csv(String);

impl<S: Send + Sync> FromRequest<S> for Csv {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_csv = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(is_csv_utf8);
        if !is_csv {
            return Err(ApiError::NotCsv);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(IMPORT_BODY_LIMIT)
            } else {
                ApiError::InvalidBody(r.body_text())
            }
        })?;
        let text = String::from_utf8(bytes.to_vec()).map_err(|e| {
            let valid = &bytes[..e.utf8_error().valid_up_to()];
            let line = 1 + valid.iter().filter(|&&b| b == b'\n').count();
            ServiceError::MalformedCsv(CsvError {
                line,
                why: "not UTF-8 text; save the file as CSV UTF-8".into(),
            })
        })?;
        Ok(Csv(text))
    }
}

/// `text/csv`, with no charset or UTF-8 (which is the only one read).
fn is_csv_utf8(content_type: &str) -> bool {
    let mut parts = content_type.split(';').map(str::trim);
    let essence_ok = parts
        .next()
        .is_some_and(|m| m.eq_ignore_ascii_case("text/csv"));
    essence_ok
        && parts.all(|p| match p.split_once('=') {
            Some((k, v)) if k.trim().eq_ignore_ascii_case("charset") => {
                v.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
            }
            // Other parameters (`header=present`) change nothing here.
            _ => true,
        })
}

#[cfg(test)]
mod tests {
    use super::is_csv_utf8;

    #[test]
    fn content_types() {
        for ok in [
            "text/csv",
            "Text/CSV",
            "text/csv; charset=utf-8",
            "text/csv;charset=\"UTF-8\"; header=present",
        ] {
            assert!(is_csv_utf8(ok), "{ok}");
        }
        for bad in [
            "application/json",
            "text/plain",
            "text/csv; charset=latin1",
            "text/csvx",
            "",
        ] {
            assert!(!is_csv_utf8(bad), "{bad}");
        }
    }
}
