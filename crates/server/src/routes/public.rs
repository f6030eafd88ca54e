//! The public IMEI check, for buyers of used phones: JSON at `/v1/public/imei/{imei}` and
//! a page at `/check`. No API key; rate-limited per client address.

use super::{Access, Routes};
use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{Client, Query};
use crate::html::escape;
use crate::service::{ImeiStatus, ImeiVerdict, PublicLender, ServiceError};
use axum::extract::{Path, State};
use axum::http::Method;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};

pub(super) fn routes() -> Routes {
    Routes::new()
        .add(
            Method::GET,
            "/v1/public/imei/{imei}",
            Access::Public,
            get(json),
        )
        .add(Method::GET, "/check", Access::Public, get(page))
        .add(
            Method::GET,
            "/assets/check.css",
            Access::Public,
            get(stylesheet),
        )
        .layer(axum::middleware::map_response(security_headers))
}

/// The page's own stylesheet: no inline style, so the policy below can forbid it.
async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        include_str!("../../assets/check.css"),
    )
        .into_response()
}

/// Nothing on these pages comes from another host or runs inline, and no other site may
/// frame them (a buyer must see the real answer, not one dressed up by a seller's page).
async fn security_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
             frame-ancestors 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

impl crate::openapi::Operations {
    /// The operations of this file (the page `/check` is HTML, not in the document).
    pub(crate) fn public() -> utoipa::openapi::OpenApi {
        #[derive(utoipa::OpenApi)]
        #[openapi(paths(json))]
        struct Doc;
        <Doc as utoipa::OpenApi>::openapi()
    }
}

/// What a buyer learns about a phone; nothing personal.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ImeiCheck)]
struct ImeiCheckView {
    /// The IMEI looked up, as 15 digits.
    imei: String,
    status: ImeiVerdict,
    /// The lender to settle with; null when `clear`.
    #[schema(required)]
    lender: Option<PublicLender>,
    /// What to do, in plain words.
    advice: String,
}

fn view(s: ImeiStatus) -> ImeiCheckView {
    ImeiCheckView {
        imei: s.imei.as_str().to_owned(),
        status: s.status,
        advice: s.status.advice(s.lender.as_ref()),
        lender: s.lender,
    }
}

/// Whether a financing program holds a phone, for buyers of used phones.
#[utoipa::path(
    get,
    path = "/v1/public/imei/{imei}",
    operation_id = "check_imei",
    tag = "public",
    params(("imei" = String, Path, description = "15 digits; spaces and dashes are ignored",
            example = "356938035643809")),
    responses(
        (status = 200, description = "The answer", body = ImeiCheckView),
        (status = 422, description = "`invalid_imei`: not 15 digits with a correct check digit",
         body = crate::error::Body),
        (status = 429, description = "`rate_limited`: 10 checks at once per client address, then \
         one every 3 seconds", body = crate::error::Body,
         headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
)]
async fn json(
    State(state): State<AppState>,
    Client(client): Client,
    Path(imei): Path<String>,
) -> Result<axum::Json<ImeiCheckView>, ApiError> {
    state.limiter.take(client).map_err(ApiError::RateLimited)?;
    let status = state.service.check_imei(&imei).await?;
    Ok(axum::Json(view(status)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckQuery {
    imei: Option<String>,
}

/// The form, and the answer under it once an IMEI was given. Works without JavaScript.
async fn page(
    State(state): State<AppState>,
    Client(client): Client,
    Query(q): Query<CheckQuery>,
) -> Response {
    let typed = q.imei.unwrap_or_default();
    let (status, result) = if typed.trim().is_empty() {
        (StatusCode::OK, String::new())
    } else if let Err(wait) = state.limiter.take(client) {
        let mut resp = html_page(
            StatusCode::TOO_MANY_REQUESTS,
            &typed,
            &format!(
                r#"<p class="error" role="alert">Too many checks from this connection. Try again in {wait} seconds.</p>"#
            ),
        );
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait.max(1)));
        return resp;
    } else {
        match state.service.check_imei(&typed).await {
            Ok(s) => (StatusCode::OK, answer(&s)),
            Err(ServiceError::InvalidImei(e)) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    r#"<p class="error" role="alert">That is not an IMEI: {}. An IMEI has 15 digits; dial *#06# on the phone to see it.</p>"#,
                    escape(&e.to_string())
                ),
            ),
            Err(e) => {
                tracing::warn!(error = %e, "IMEI check failed");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    r#"<p class="error" role="alert">The check is not available right now. Try again in a minute.</p>"#.into(),
                )
            }
        }
    };
    html_page(status, &typed, &result)
}

fn answer(s: &ImeiStatus) -> String {
    let (title, class) = match s.status {
        crate::service::ImeiVerdict::Clear => ("Clear", "clear"),
        crate::service::ImeiVerdict::Financed => ("Under a financing program", "financed"),
        crate::service::ImeiVerdict::Locked => ("Locked by a lender", "locked"),
    };
    let contact = s.lender.as_ref().map_or(String::new(), |l| {
        format!(
            "<p>Lender: <strong>{}</strong>, {} , <a href=\"{}\">{}</a></p>",
            escape(&l.name),
            escape(&l.support_phone),
            escape(&l.support_url),
            escape(&l.support_url)
        )
    });
    format!(
        r#"<section class="answer {class}" aria-live="polite"><h2>IMEI {}: {title}</h2><p>{}</p>{contact}</section>"#,
        escape(s.imei.as_str()),
        escape(&s.status.advice(s.lender.as_ref())),
    )
}

fn html_page(status: StatusCode, typed: &str, result: &str) -> Response {
    let body = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Check a phone before you buy it</title>
<link rel="stylesheet" href="/assets/check.css">
</head>
<body>
<main>
<h1>Check a phone before you buy it</h1>
<p>Phones bought on installments can be locked if the payments stop. Type the phone's IMEI
(dial <strong>*#06#</strong> on it) to see whether a financing program holds it. No personal
details are ever shown.</p>
<form method="get" action="/check">
<label for="imei">IMEI (15 digits)</label>
<input id="imei" name="imei" inputmode="numeric" autocomplete="off" maxlength="40" value="{}" required>
<button type="submit">Check</button>
</form>
{result}
</main>
</body>
</html>
"#,
        escape(typed)
    );
    (status, Html(body)).into_response()
}
