//! The lender API for its audit trail: pages of JSON, or the whole trail as CSV.

use super::{Access, Routes};
use crate::app::AppState;
use crate::auth::Lender;
use crate::error::ApiError;
use crate::extract::Query;
use crate::service::AUDIT_PAGE;
use crate::views::rfc3339;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use lienlock_domain::audit::AuditRecord;
use lienlock_domain::{LenderCtx, Permission};
use serde::{Deserialize, Serialize};

pub(super) fn routes() -> Routes {
    let read = Access::Lender(Permission::ReadAudit);
    Routes::new()
        .add(Method::GET, "/v1/audit", read, get(page))
        .add(Method::GET, "/v1/audit.csv", read, get(csv))
}

impl crate::openapi::Operations {
    /// The operations of this file.
    pub(crate) fn audit() -> utoipa::openapi::OpenApi {
        #[derive(utoipa::OpenApi)]
        #[openapi(paths(page, csv))]
        struct Doc;
        <Doc as utoipa::OpenApi>::openapi()
    }
}

/// One action in the audit trail.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = AuditEntry)]
pub struct AuditView {
    /// Position in the lender's chain, from 1.
    seq: i64,
    at: String,
    /// `api_key:<id>`, `user:<id>` or `operator`.
    actor: String,
    role: String,
    /// The client's address, or `local` for the operator's commands.
    address: String,
    /// `METHOD /route/{template}`, or the operator's command.
    action: String,
    /// The request path with its ids.
    object: String,
    reason: String,
    /// The HTTP status answered, or `ok`.
    outcome: String,
    request_id: String,
    /// Hex SHA-256 of the previous entry.
    prev_hash: String,
    /// Hex SHA-256 of this entry and `prev_hash`.
    hash: String,
}

impl From<&AuditRecord> for AuditView {
    fn from(r: &AuditRecord) -> Self {
        let e = &r.entry;
        Self {
            seq: r.seq,
            at: rfc3339(e.at),
            actor: e.actor.clone(),
            role: e.role.clone(),
            address: e.address.clone(),
            action: e.action.clone(),
            object: e.object.clone(),
            reason: e.reason.clone(),
            outcome: e.outcome.clone(),
            request_id: e.request_id.clone(),
            prev_hash: hex::encode(r.prev_hash),
            hash: hex::encode(r.hash),
        }
    }
}

/// A page of the audit trail.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = AuditPage)]
pub struct AuditPageView {
    /// Oldest first.
    entries: Vec<AuditView>,
    /// Pass as `after` for the next page; null on the last page.
    #[schema(required)]
    next_cursor: Option<i64>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct PageQuery {
    /// The `seq` to start after; 0 (the default) from the beginning.
    after: Option<i64>,
    /// At most this many; default and maximum 1000.
    limit: Option<u32>,
}

/// The caller's audit trail, oldest first.
#[utoipa::path(
    get,
    path = "/v1/audit",
    operation_id = "audit_page",
    tag = "audit",
    security(("api_key" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page", body = AuditPageView),
        (status = 403, description = "`forbidden`", body = crate::error::Body),
    ),
)]
async fn page(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Query(q): Query<PageQuery>,
) -> Result<axum::Json<AuditPageView>, ApiError> {
    let limit = q.limit.unwrap_or(AUDIT_PAGE).clamp(1, AUDIT_PAGE);
    let rows = s
        .service
        .audit_rows(&ctx, q.after.unwrap_or(0).max(0), limit)
        .await?;
    let next_cursor = (rows.len() == limit as usize)
        .then(|| rows.last().map(|r| r.seq))
        .flatten();
    Ok(axum::Json(AuditPageView {
        entries: rows.iter().map(AuditView::from).collect(),
        next_cursor,
    }))
}

/// The CSV header; the columns of [`AuditView`] in order.
pub const CSV_HEADER: &str =
    "seq,at,actor,role,address,action,object,reason,outcome,request_id,prev_hash,hash\n";

/// The whole audit trail as CSV (RFC 4180), oldest first, with the hashes, so an auditor
/// can check the chain outside lienlock.
#[utoipa::path(
    get,
    path = "/v1/audit.csv",
    operation_id = "audit_csv",
    tag = "audit",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The trail", body = String, content_type = "text/csv"),
        (status = 403, description = "`forbidden`", body = crate::error::Body),
    ),
)]
async fn csv(State(s): State<AppState>, Lender(ctx): Lender) -> Result<Response, ApiError> {
    export_csv(&s, &ctx).await
}

/// The caller's whole trail as a CSV download (`audit.csv`), read a page at a time as it
/// is sent, so a trail of millions of entries is never held in memory. Also the console's
/// download, with the same headers. The first page is read before the answer starts, so a
/// refusal or an unavailable database is an ordinary error status; a failure after that
/// cuts the transfer off before its end, which HTTP clients report as an error, never as a
/// shorter file.
pub async fn export_csv(s: &AppState, ctx: &LenderCtx) -> Result<Response, ApiError> {
    let first = s.service.audit_rows(ctx, 0, AUDIT_PAGE).await?;
    let (service, ctx) = (s.service.clone(), *ctx);
    let pages = futures_util::stream::unfold(Some(Page::Read(first, true)), move |next| {
        let service = service.clone();
        async move {
            let (rows, header) = match next? {
                Page::Read(rows, header) => (rows, header),
                Page::After(seq) => match service.audit_rows(&ctx, seq, AUDIT_PAGE).await {
                    Ok(rows) => (rows, false),
                    Err(e) => {
                        tracing::warn!(error = %e, "audit export cut short");
                        return Some((Err(std::io::Error::other(e.to_string())), None));
                    }
                },
            };
            let mut out = String::from(if header { CSV_HEADER } else { "" });
            for r in &rows {
                csv_row(&mut out, r);
            }
            let next = match rows.last() {
                Some(r) if rows.len() == AUDIT_PAGE as usize => Some(Page::After(r.seq)),
                _ => None,
            };
            Some((Ok::<_, std::io::Error>(out), next))
        }
    });
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"audit.csv\"",
            ),
        ],
        Body::from_stream(pages),
    )
        .into_response())
}

/// The next part of a CSV export: rows already read (and whether the header goes first),
/// or the page after this sequence number.
enum Page {
    Read(Vec<AuditRecord>, bool),
    After(i64),
}

fn csv_row(out: &mut String, r: &AuditRecord) {
    let v = AuditView::from(r);
    let fields = [
        v.seq.to_string(),
        v.at,
        v.actor,
        v.role,
        v.address,
        v.action,
        v.object,
        v.reason,
        v.outcome,
        v.request_id,
        v.prev_hash,
        v.hash,
    ];
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_field(out, f);
    }
    out.push('\n');
}

/// Quotes a field when it needs it. A leading `=`, `+`, `-` or `@` is prefixed with `'` so a
/// spreadsheet opening the file does not run a reason someone typed as a formula.
fn csv_field(out: &mut String, f: &str) {
    let guarded;
    let f = if f.starts_with(['=', '+', '-', '@']) {
        guarded = format!("'{f}");
        guarded.as_str()
    } else {
        f
    };
    if f.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&f.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        let mut s = String::new();
        csv_field(&mut s, "plain");
        s.push('|');
        csv_field(&mut s, "a,\"b\"");
        s.push('|');
        csv_field(&mut s, "=HYPERLINK(1)");
        assert_eq!(s, "plain|\"a,\"\"b\"\"\"|'=HYPERLINK(1)");
    }
}
