//! The phone page's HTTP side: the page, its state for the script, its two static files,
//! and the forms (each a plain POST answered by a redirect to the page, so the page works
//! without JavaScript).
//!
//! - `GET /`: the page; `GET /state.json`: `{"version", "state", "language"}`;
//!   `GET /phone.js`, `GET /phone.css`.
//! - `POST /refresh`: check in now. `POST /code` (`code`): take an unlock code.
//!   `POST /paid` (`reason`): "I already paid", a dispute. `POST /language` (`language`).

use super::i18n::{Arg, Lang};
use super::render::{Page, MAX_REASON_CHARS};
use super::view::{when, Flash};
use super::Phone;
use axum::extract::{Request, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HOST, ORIGIN, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::Deserialize;
use std::sync::Arc;

/// Everything comes from this page's own origin: no inline script or style, no other host.
const CSP: &str = "default-src 'self'; frame-ancestors 'none'";

/// The page's routes.
pub fn router(phone: Arc<Phone>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/state.json", get(state))
        .route("/phone.js", get(script))
        .route("/phone.css", get(style))
        .route("/refresh", post(refresh))
        .route("/code", post(code))
        .route("/paid", post(paid))
        .route("/language", post(language))
        .layer(middleware::from_fn(same_origin_posts))
        .layer(middleware::map_response(security_headers))
        .with_state(phone)
}

async fn security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Not `no-referrer`: under it Chromium sends `Origin: null` with the page's own form
    // posts, which the same-origin check below would refuse (found by the browser test).
    h.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    // The state changes under the page; nothing here may be served stale.
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// Refuses form posts a browser says come from another site: another page open on the
/// same computer must not be able to type codes or open disputes on this phone.
async fn same_origin_posts(req: Request, next: Next) -> Response {
    if req.method() == Method::POST {
        let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
        if let Some(origin) = header(ORIGIN) {
            let same = header(HOST).is_some_and(|host| origin == format!("http://{host}"));
            if !same {
                return (
                    StatusCode::FORBIDDEN,
                    "form posts from another site are refused",
                )
                    .into_response();
            }
        }
    }
    next.run(req).await
}

async fn page(State(phone): State<Arc<Phone>>) -> Html<String> {
    let (view, version, lang, flash) = {
        let mut s = phone.shown();
        (
            s.view.clone(),
            s.version,
            s.settings.language,
            s.flash.take(),
        )
    };
    Html(
        Page {
            catalog: &phone.catalog,
            lang,
            view: &view,
            version,
            imei: &phone.imei,
            flash: flash.as_ref(),
        }
        .html(),
    )
}

async fn state(State(phone): State<Arc<Phone>>) -> Json<serde_json::Value> {
    let s = phone.shown();
    Json(serde_json::json!({
        "version": s.version,
        "state": s.view.screen.name(),
        "language": s.settings.language.code(),
    }))
}

async fn script() -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("phone.js"),
    )
}

async fn style() -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("phone.css"),
    )
}

fn back() -> Redirect {
    Redirect::to("/")
}

async fn refresh(State(phone): State<Arc<Phone>>) -> Redirect {
    let answer = phone
        .ask(|agent| Box::pin(async move { agent.check_in().await.map(|_| ()) }))
        .await;
    let flash = match answer {
        Some(Ok(())) => Flash::ok("refresh-done", vec![]),
        Some(Err(e)) => {
            tracing::warn!(error = %e, "check-in from the phone page failed");
            Flash::refused("refresh-failed", vec![])
        }
        None => Flash::refused("refresh-failed", vec![]),
    };
    phone.set_flash(flash);
    back()
}

#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    code: String,
}

async fn code(State(phone): State<Arc<Phone>>, Form(f): Form<CodeForm>) -> Redirect {
    let text = f.code.trim().to_owned();
    let flash = if text.is_empty() {
        Flash::refused("code-empty", vec![])
    } else {
        let answer = phone
            .ask(move |agent| {
                Box::pin(async move {
                    agent
                        .enter_code(&text)
                        .map(|taken| taken.grant.until)
                        .map_err(|r| Flash::code_refused(&r))
                })
            })
            .await;
        match answer {
            Some(Ok(until)) => Flash::ok("code-accepted", vec![("date", Arg::Text(when(until)))]),
            Some(Err(refused)) => refused,
            None => Flash::refused("code-not-stored", vec![]),
        }
    };
    phone.set_flash(flash);
    back()
}

#[derive(Deserialize)]
struct PaidForm {
    #[serde(default)]
    reason: String,
}

async fn paid(State(phone): State<Arc<Phone>>, Form(f): Form<PaidForm>) -> Redirect {
    let reason: String = f.reason.trim().chars().take(MAX_REASON_CHARS).collect();
    let flash = if reason.is_empty() {
        Flash::refused("dispute-empty", vec![])
    } else {
        let answer = phone
            .ask(move |agent| Box::pin(async move { agent.open_dispute(&reason).await }))
            .await;
        match answer {
            Some(Ok(ack)) => {
                let lender = phone.shown().view.lender_name().unwrap_or("—").to_owned();
                Flash::ok(
                    "dispute-opened",
                    vec![
                        ("lender", Arg::Text(lender)),
                        ("reference", Arg::Text(ack.dispute_id)),
                    ],
                )
            }
            Some(Err(e)) => {
                tracing::warn!(error = %e, "dispute from the phone page failed");
                Flash::refused("dispute-failed", vec![])
            }
            None => Flash::refused("dispute-failed", vec![]),
        }
    };
    phone.set_flash(flash);
    back()
}

#[derive(Deserialize)]
struct LanguageForm {
    #[serde(default)]
    language: String,
}

async fn language(State(phone): State<Arc<Phone>>, Form(f): Form<LanguageForm>) -> Response {
    match Lang::from_code(&f.language) {
        Some(lang) => {
            phone.set_language(lang);
            back().into_response()
        }
        None => (StatusCode::BAD_REQUEST, "unknown language").into_response(),
    }
}
