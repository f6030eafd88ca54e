//! The lender console at `/console`: server-rendered pages (askama templates under
//! `templates/console/`) for lenders' staff, usable without JavaScript.
//!
//! Sign-in opens a session (see `service::console_auth`); its cookie is HttpOnly,
//! SameSite=Strict, scoped to `/console`, and Secure when the request came over TLS. Every
//! form carries the session's anti-forgery token, checked in constant time before anything
//! else is done. Pages send a strict Content-Security-Policy: no inline script or style,
//! nothing from another host, no framing.

mod android;
mod assets;
mod audit;
mod auth;
mod chart;
mod dashboard;
mod devices;
mod format;
mod import;
mod throttle;
mod webhooks;

pub use throttle::SignInThrottle;

use crate::app::AppState;
use crate::error::ApiError;
use crate::routes::{Access, Routes};
use crate::service::ConsoleUser;
use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::Method;
use axum::http::{header, request::Parts, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use lienlock_domain::Permission;
use subtle::ConstantTimeEq;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "lienlock_session";

pub(crate) fn routes() -> Routes {
    let read = Access::Console(Permission::ReadDevices);
    let home = || async { Redirect::to("/console/dashboard") };
    Routes::new()
        .add(Method::GET, "/console", Access::Public, get(home))
        .add(Method::GET, "/console/", Access::Public, get(home))
        .add(
            Method::GET,
            "/console/sign-in",
            Access::Public,
            get(auth::form),
        )
        .add(
            Method::POST,
            "/console/sign-in",
            Access::Public,
            post(auth::sign_in),
        )
        .add(
            Method::POST,
            "/console/sign-out",
            read,
            post(auth::sign_out),
        )
        .add(
            Method::GET,
            "/console/dashboard",
            read,
            get(dashboard::page),
        )
        .add(Method::GET, "/console/devices", read, get(devices::list))
        .add(
            Method::GET,
            "/console/devices/{id}",
            read,
            get(devices::page),
        )
        .add(
            Method::GET,
            "/console/devices/{id}/state",
            read,
            get(devices::state),
        )
        .add(
            Method::POST,
            "/console/devices/{id}/actions",
            Access::Console(Permission::Command),
            post(devices::action),
        )
        .add(
            Method::POST,
            "/console/devices/{id}/android",
            Access::Console(Permission::Command),
            post(android::save),
        )
        .add(
            Method::GET,
            "/console/import",
            Access::Console(Permission::Enroll),
            get(import::form),
        )
        .add(
            Method::POST,
            "/console/import",
            Access::Console(Permission::Enroll),
            post(import::upload).layer(axum::extract::DefaultBodyLimit::max(import::MAX_UPLOAD)),
        )
        .add(
            Method::GET,
            "/console/assets/{file}",
            Access::Public,
            get(assets::asset),
        )
        .add(
            Method::GET,
            "/console/audit.csv",
            Access::Console(Permission::ReadAudit),
            get(audit::download),
        )
        .merge(webhooks::routes())
        .layer(axum::middleware::map_response(security_headers))
}

/// Headers on every console response.
async fn security_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; \
             form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// The signed-in user as a page shows them in its header.
#[derive(Debug, Clone)]
pub struct Me {
    /// Display name.
    pub name: String,
    /// Role name.
    pub role: &'static str,
    /// The session's anti-forgery token.
    pub csrf: String,
    /// Whether the audit trail's download is offered.
    pub audit: bool,
}

/// A signed-in request. Without a live session a page redirects to the sign-in form.
#[derive(Debug)]
pub struct Session(pub ConsoleUser);

impl Session {
    /// The header's view of the user.
    pub fn me(&self) -> Me {
        Me {
            name: self.0.user.name.clone(),
            role: self.0.user.role.as_str(),
            csrf: self.0.csrf_token.clone(),
            audit: self.0.ctx.role.allows(Permission::ReadAudit),
        }
    }

    /// Refuses a form whose anti-forgery token is not this session's.
    pub fn check_csrf(&self, presented: &str) -> Result<(), ConsoleError> {
        let ok: bool = presented
            .as_bytes()
            .ct_eq(self.0.csrf_token.as_bytes())
            .into();
        if ok {
            Ok(())
        } else {
            Err(ConsoleError(ApiError::CsrfRejected))
        }
    }
}

/// The value of cookie `name` in a request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Whether the request reached us over TLS (directly or through a proxy that says so).
fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// A `Set-Cookie` value for a console cookie.
pub fn set_cookie(headers: &HeaderMap, name: &str, value: &str, max_age: i64) -> HeaderValue {
    let secure = if over_tls(headers) { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let token = cookie(&parts.headers, SESSION_COOKIE).unwrap_or_default();
        if !token.is_empty() {
            match state.service.console_user(token).await {
                Ok(Some(user)) => {
                    crate::audit::AuditSlot::record(&parts.extensions, &user.ctx);
                    return Ok(Session(user));
                }
                Ok(None) => {}
                Err(e) => return Err(ConsoleError(e.into()).into_response()),
            }
        }
        // A page asked for without a session: to the form, and back afterwards.
        let next = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .filter(|p| parts.method == axum::http::Method::GET && p.starts_with("/console/"))
            .unwrap_or("/console/dashboard");
        let to = format!("/console/sign-in?next={}", encode_component(next));
        Err(Redirect::to(&to).into_response())
    }
}

/// Percent-encoding for a query-string value.
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// An error on a console page: the API's status mapping, shown as a page.
#[derive(Debug)]
pub struct ConsoleError(pub ApiError);

impl<E: Into<ApiError>> From<E> for ConsoleError {
    fn from(e: E) -> Self {
        ConsoleError(e.into())
    }
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage {
    me: Option<Me>,
    title: String,
    message: String,
    back: &'static str,
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let (status, code) = self.0.status_and_code();
        if status.is_server_error() {
            tracing::error!(error = %self.0, code, "console request failed");
        }
        let title = match status {
            StatusCode::FORBIDDEN => "Not allowed",
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
            s if s.is_server_error() => "Something went wrong",
            _ => "That did not work",
        };
        let page = ErrorPage {
            me: None,
            title: title.into(),
            message: self.0.public_message(),
            back: "/console/dashboard",
        };
        let mut resp = render(status, &page);
        if let ApiError::RateLimited(secs) = self.0 {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        resp
    }
}

/// A rendered template as an HTML response.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering a console page");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error; it has been logged",
            )
                .into_response()
        }
    }
}
