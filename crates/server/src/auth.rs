//! Bearer API-key authentication. The extractor yields the [`LenderCtx`] that every
//! tenant-scoped service method requires.

use crate::apikey;
use crate::app::AppState;
use crate::error::ApiError;
use crate::service::ServiceError;
use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};
use lienlock_domain::{LenderCtx, Principal};

/// The authenticated lender of a request.
#[derive(Debug, Clone, Copy)]
pub struct Lender(pub LenderCtx);

impl FromRequestParts<AppState> for Lender {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(ApiError::Unauthorized)?;
        let service = &state.service;
        let key =
            apikey::parse(service.secret(), presented.trim()).ok_or(ApiError::Unauthorized)?;
        let record = service
            .store()
            .find_api_key(key.id)
            .await
            .map_err(|e| ApiError::Service(ServiceError::Store(e)))?
            .ok_or(ApiError::Unauthorized)?;
        // A rotated key may still be inside its grace period: `revoked_at` can lie ahead.
        if !key.matches(&record.secret_hmac)
            || !crate::service::key_live(&record, service.clock().now())
        {
            return Err(ApiError::Unauthorized);
        }
        let ctx = LenderCtx {
            lender_id: record.lender_id,
            role: record.role,
            principal: Principal::ApiKey(record.id),
        };
        crate::audit::AuditSlot::record(&parts.extensions, &ctx);
        Ok(Lender(ctx))
    }
}
