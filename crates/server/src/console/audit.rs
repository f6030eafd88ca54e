//! The audit trail's download, for auditors and admins: the same CSV as `GET /v1/audit.csv`.

use super::{ConsoleError, Session};
use crate::app::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

pub(super) async fn download(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, ConsoleError> {
    let csv = crate::routes::audit::export_csv(&state, &session.0.ctx)
        .await
        .map_err(ConsoleError)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"audit.csv\"",
            ),
        ],
        csv,
    )
        .into_response())
}
