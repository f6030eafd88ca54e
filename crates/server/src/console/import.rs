//! Bulk enrollment from an uploaded CSV file, with a result per row.

use super::{render, ConsoleError, Me, Session};
use crate::app::AppState;
use crate::error::ApiError;
use crate::service::{ImportReport, RowStatus, DEVICE_COLUMNS, MAX_IMPORT_ROWS};
use askama::Template;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::Response;

/// Largest file accepted: 10,000 rows of a few IMEIs and names fit well within it.
pub const MAX_UPLOAD: usize = 2 * 1024 * 1024;

struct ReportView {
    summary: String,
    /// (line, imei, css class, result)
    rows: Vec<(usize, String, &'static str, String)>,
}

#[derive(Template)]
#[template(path = "console/import.html")]
struct ImportPage {
    me: Option<Me>,
    csrf: String,
    columns: String,
    max_rows: usize,
    error: Option<String>,
    report: Option<ReportView>,
}

fn page(session: &Session, error: Option<String>, report: Option<&ImportReport>) -> ImportPage {
    ImportPage {
        me: Some(session.me()),
        csrf: session.0.csrf_token.clone(),
        columns: DEVICE_COLUMNS.join(","),
        max_rows: MAX_IMPORT_ROWS,
        error,
        report: report.map(|r| ReportView {
            summary: format!(
                "{} rows: {} enrolled, {} already enrolled, {} not enrolled.",
                r.total, r.enrolled, r.already_enrolled, r.errors
            ),
            rows: r
                .rows
                .iter()
                .map(|row| {
                    let (class, text) = match row.status {
                        RowStatus::Enrolled => ("ok", "enrolled".to_owned()),
                        RowStatus::AlreadyEnrolled => ("ok", "already enrolled".to_owned()),
                        RowStatus::Error => (
                            "error",
                            row.error.clone().unwrap_or_else(|| "not enrolled".into()),
                        ),
                    };
                    (row.line, row.imei.clone(), class, text)
                })
                .collect(),
        }),
    }
}

pub(super) async fn form(session: Session) -> Result<Response, ConsoleError> {
    // The form is no use to a role that may not enroll; say so rather than offer it.
    session
        .0
        .ctx
        .require(lienlock_domain::Permission::Enroll)
        .map_err(|d| ConsoleError(ApiError::Service(d.into())))?;
    Ok(render(StatusCode::OK, &page(&session, None, None)))
}

pub(super) async fn upload(
    State(state): State<AppState>,
    session: Session,
    mut multipart: Multipart,
) -> Result<Response, ConsoleError> {
    let bad = |why: String| ConsoleError(ApiError::InvalidBody(why));
    let mut csrf = None;
    let mut file = None;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| bad(format!("the upload could not be read: {e}")))?
    {
        match field.name() {
            Some("csrf") => {
                csrf = Some(field.text().await.map_err(|e| bad(e.to_string()))?);
            }
            Some("file") => {
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|e| bad(format!("the file could not be read: {e}")))?;
                file = Some(bytes);
            }
            _ => {}
        }
    }
    session.check_csrf(csrf.as_deref().unwrap_or(""))?;
    let Some(bytes) = file else {
        return Ok(render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &page(&session, Some("Choose a CSV file to upload.".into()), None),
        ));
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Ok(render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &page(&session, Some("The file is not UTF-8 text.".into()), None),
        ));
    };
    match state.service.import_devices(&session.0.ctx, text).await {
        Ok(report) => Ok(render(StatusCode::OK, &page(&session, None, Some(&report)))),
        Err(e) => {
            let e = ApiError::from(e);
            let (status, _) = e.status_and_code();
            if status.is_server_error() || status == StatusCode::FORBIDDEN {
                return Err(ConsoleError(e));
            }
            Ok(render(
                status,
                &page(&session, Some(format!("Nothing was enrolled: {e}")), None),
            ))
        }
    }
}
