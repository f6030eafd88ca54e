//! The audit trail's download, for auditors and admins: the same CSV as `GET /v1/audit.csv`.

use super::{ConsoleError, Session};
use crate::app::AppState;
use axum::extract::State;
use axum::response::Response;

pub(super) async fn download(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, ConsoleError> {
    crate::routes::audit::export_csv(&state, &session.0.ctx)
        .await
        .map_err(ConsoleError)
}
