//! The lender API for its own API keys: create one for a role, list, rotate, revoke.

use super::{Access, Routes};
use crate::app::AppState;
use crate::auth::Lender;
use crate::error::ApiError;
use crate::extract::{Json, Path};
use crate::service::IssuedKey;
use crate::views::rfc3339;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::routing::{get, post};
use lienlock_domain::{ApiKeyId, Permission, Role};
use lienlock_store::ApiKeyRecord;
use serde::{Deserialize, Serialize};

pub(super) fn routes() -> Routes {
    let manage = Access::Lender(Permission::ManageKeys);
    Routes::new()
        .add(Method::GET, "/v1/keys", manage, get(list))
        .add(Method::POST, "/v1/keys", manage, post(create))
        .add(Method::POST, "/v1/keys/{id}/rotate", manage, post(rotate))
        .add(Method::POST, "/v1/keys/{id}/revoke", manage, post(revoke))
}

impl crate::openapi::Operations {
    /// The operations of this file.
    pub(crate) fn api_keys() -> utoipa::openapi::OpenApi {
        #[derive(utoipa::OpenApi)]
        #[openapi(paths(list, create, rotate, revoke))]
        struct Doc;
        <Doc as utoipa::OpenApi>::openapi()
    }
}

/// An API key as listed: never its secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = ApiKey)]
pub struct KeyView {
    #[schema(format = "uuid")]
    id: String,
    /// `admin`, `store_agent`, `collections`, `support` or `auditor`.
    role: &'static str,
    label: String,
    created_at: String,
    /// When it stops (or stopped) working; null while it has no end.
    #[schema(required)]
    revoked_at: Option<String>,
}

impl From<&ApiKeyRecord> for KeyView {
    fn from(k: &ApiKeyRecord) -> Self {
        Self {
            id: k.id.to_string(),
            role: k.role.as_str(),
            label: k.label.clone(),
            created_at: rfc3339(k.created_at),
            revoked_at: k.revoked_at.map(rfc3339),
        }
    }
}

/// A key just made: the only time its `key` is shown.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = IssuedApiKey)]
pub struct IssuedView {
    #[serde(flatten)]
    record: KeyView,
    /// `Authorization: Bearer <key>`. Shown once; store it now.
    key: String,
}

impl From<&IssuedKey> for IssuedView {
    fn from(k: &IssuedKey) -> Self {
        Self {
            record: KeyView::from(&k.record),
            key: k.plaintext.as_str().to_owned(),
        }
    }
}

/// The caller's API keys, revoked ones too.
#[utoipa::path(
    get,
    path = "/v1/keys",
    operation_id = "list_keys",
    tag = "keys",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The keys", body = Vec<KeyView>),
        (status = 403, description = "`forbidden`", body = crate::error::Body),
    ),
)]
async fn list(
    State(s): State<AppState>,
    Lender(ctx): Lender,
) -> Result<axum::Json<Vec<KeyView>>, ApiError> {
    let keys = s.service.api_keys(&ctx).await?;
    Ok(axum::Json(keys.iter().map(KeyView::from).collect()))
}

/// A key to make.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewApiKey)]
struct CreateBody {
    /// `admin`, `store_agent`, `collections`, `support` or `auditor`.
    #[schema(pattern = "^(admin|store_agent|collections|support|auditor)$")]
    role: String,
    /// For people: which integration or office uses it.
    label: String,
}

/// Makes a key with a role. Its secret is in this answer only.
#[utoipa::path(
    post,
    path = "/v1/keys",
    operation_id = "create_key",
    tag = "keys",
    security(("api_key" = [])),
    request_body = CreateBody,
    responses(
        (status = 201, description = "Made", body = IssuedView),
        (status = 403, description = "`forbidden`", body = crate::error::Body),
        (status = 422, description = "`invalid`", body = crate::error::Body),
    ),
)]
async fn create(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Json(b): Json<CreateBody>,
) -> Result<(StatusCode, axum::Json<IssuedView>), ApiError> {
    let role = Role::parse(&b.role).ok_or_else(|| {
        ApiError::InvalidBody(format!(
            "unknown role {:?}: admin, store_agent, collections, support or auditor",
            b.role
        ))
    })?;
    let key = s.service.create_api_key(&ctx, role, &b.label).await?;
    Ok((StatusCode::CREATED, axum::Json(IssuedView::from(&key))))
}

/// How to rotate.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RotateApiKey)]
struct RotateBody {
    /// How long the old key keeps working beside the new one; 0 (the default) stops it
    /// now. At most 604800 (7 days).
    grace_seconds: Option<u32>,
}

/// Replaces a key with a new one of the same role and label.
#[utoipa::path(
    post,
    path = "/v1/keys/{id}/rotate",
    operation_id = "rotate_key",
    tag = "keys",
    security(("api_key" = [])),
    params(("id" = String, Path, format = "uuid", description = "Key id")),
    request_body = RotateBody,
    responses(
        (status = 201, description = "The new key", body = IssuedView),
        (status = 403, description = "`forbidden`", body = crate::error::Body),
        (status = 404, description = "`not_found`", body = crate::error::Body),
        (status = 422, description = "`invalid`", body = crate::error::Body),
    ),
)]
async fn rotate(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Path(id): Path<ApiKeyId>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, axum::Json<IssuedView>), ApiError> {
    // The body is optional: none means no grace.
    let b: RotateBody = if body.iter().all(u8::is_ascii_whitespace) {
        RotateBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::InvalidBody(e.to_string()))?
    };
    let key = s
        .service
        .rotate_api_key(&ctx, id, b.grace_seconds.unwrap_or(0))
        .await?;
    Ok((StatusCode::CREATED, axum::Json(IssuedView::from(&key))))
}

/// Stops a key now. The key making the request cannot revoke itself (rotate it instead).
#[utoipa::path(
    post,
    path = "/v1/keys/{id}/revoke",
    operation_id = "revoke_key",
    tag = "keys",
    security(("api_key" = [])),
    params(("id" = String, Path, format = "uuid", description = "Key id")),
    responses(
        (status = 200, description = "Revoked", body = KeyView),
        (status = 403, description = "`forbidden`", body = crate::error::Body),
        (status = 404, description = "`not_found`", body = crate::error::Body),
        (status = 422, description = "`invalid`: the caller's own key", body = crate::error::Body),
    ),
)]
async fn revoke(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Path(id): Path<ApiKeyId>,
) -> Result<axum::Json<KeyView>, ApiError> {
    let key = s.service.revoke_api_key(&ctx, id).await?;
    Ok(axum::Json(KeyView::from(&key)))
}
