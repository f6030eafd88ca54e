//! Sign-in and sign-out.

use super::{cookie, render, set_cookie, ConsoleError, Me, Session, SESSION_COOKIE};
use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::Client;
use crate::service::{max_age, random_token, ServiceError};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use subtle::ConstantTimeEq;

/// The cookie that carries the sign-in form's anti-forgery token (there is no session yet
/// to hold one): the form must echo it.
const FORM_COOKIE: &str = "lienlock_signin";

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage {
    me: Option<Me>,
    csrf: String,
    email: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Next {
    next: Option<String>,
}

/// Only a console page of this server: never another host (`//evil`) or a script.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/console/") && !n.starts_with("//") && !n.contains('\\') => {
            n.to_owned()
        }
        _ => "/console/dashboard".into(),
    }
}

fn form_page(
    headers: &HeaderMap,
    status: StatusCode,
    email: &str,
    error: Option<String>,
) -> Response {
    let csrf = random_token();
    let mut resp = render(
        status,
        &SignInPage {
            me: None,
            csrf: csrf.clone(),
            email: email.into(),
            error,
        },
    );
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(headers, FORM_COOKIE, &csrf, 3600),
    );
    resp
}

pub(super) async fn form(headers: HeaderMap) -> Response {
    form_page(&headers, StatusCode::OK, "", None)
}

#[derive(Deserialize)]
pub(super) struct SignInForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

pub(super) async fn sign_in(
    State(state): State<AppState>,
    Client(client): Client,
    audit: Option<axum::Extension<crate::audit::AuditSlot>>,
    headers: HeaderMap,
    Query(next): Query<Next>,
    Form(f): Form<SignInForm>,
) -> Response {
    let expected = cookie(&headers, FORM_COOKIE).unwrap_or_default();
    let same: bool = expected.as_bytes().ct_eq(f.csrf.as_bytes()).into();
    if expected.is_empty() || !same {
        return ConsoleError(ApiError::CsrfRejected).into_response();
    }
    if let Err(wait) = state.sign_in.check(&f.email, client) {
        let mut resp = form_page(
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            &f.email,
            Some(format!(
                "Too many failed attempts. Wait {wait} seconds, then try again."
            )),
        );
        resp.headers_mut()
            .insert(header::RETRY_AFTER, wait.max(1).into());
        return resp;
    }
    match state.service.sign_in(&f.email, &f.password).await {
        Ok(signed) => {
            state.sign_in.succeeded(&f.email);
            // A session opened goes on the lender's audit trail like any other action of
            // the user's. Failed attempts do not: they name no one the server knows, and
            // anyone could fill a lender's trail with them (they are logged and throttled).
            if let Some(axum::Extension(slot)) = audit {
                slot.fill(&signed.ctx);
            }
            let now = state.service.clock().now();
            let mut resp = Redirect::to(&safe_next(next.next.as_deref())).into_response();
            let h = resp.headers_mut();
            h.append(
                header::SET_COOKIE,
                set_cookie(
                    &headers,
                    SESSION_COOKIE,
                    &signed.token,
                    max_age(&signed.session, now),
                ),
            );
            h.append(header::SET_COOKIE, set_cookie(&headers, FORM_COOKIE, "", 0));
            resp
        }
        Err(ServiceError::SignInFailed) => {
            state.sign_in.failed(&f.email, client);
            tracing::info!(%client, "console sign-in failed");
            form_page(
                &headers,
                StatusCode::UNAUTHORIZED,
                &f.email,
                Some("Wrong e-mail address or password.".into()),
            )
        }
        Err(e) => ConsoleError(e.into()).into_response(),
    }
}

#[derive(Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub(super) async fn sign_out(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Result<Response, ConsoleError> {
    session.check_csrf(&f.csrf)?;
    state.service.sign_out(&session.0).await?;
    let mut resp = Redirect::to("/console/sign-in").into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&headers, SESSION_COOKIE, "", 0),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_console_pages_are_followed_after_sign_in() {
        assert_eq!(
            safe_next(Some("/console/devices?q=1")),
            "/console/devices?q=1"
        );
        for bad in [
            "//evil.example/console/",
            "https://evil.example",
            "/other",
            "/console\\x",
        ] {
            assert_eq!(safe_next(Some(bad)), "/console/dashboard", "{bad}");
        }
        assert_eq!(safe_next(None), "/console/dashboard");
    }
}
