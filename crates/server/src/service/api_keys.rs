//! A lender's own API keys: create one for a role, list, rotate, revoke. Every request looks
//! its key up in the store (there is no cache), so a revocation takes effect at the next
//! request, on every node.

use super::{Service, ServiceError};
use crate::apikey;
use lienlock_domain::{ApiKeyId, LenderCtx, LenderId, Permission, Principal, Role};
use lienlock_store::ApiKeyRecord;
use zeroize::Zeroizing;

/// The longest a rotated key may keep working beside its replacement.
pub const MAX_ROTATION_GRACE_SECS: u32 = 7 * 24 * 3600;

/// A key as created or rotated: its record and the key string, shown once.
#[derive(Debug)]
pub struct IssuedKey {
    /// What was stored.
    pub record: ApiKeyRecord,
    /// The key to hand over. Never stored, never logged.
    pub plaintext: Zeroizing<String>,
}

/// Labels are for people; keep them short and printable.
fn label(s: &str) -> Result<String, ServiceError> {
    let s = s.trim();
    if s.is_empty() || s.chars().count() > 100 || s.chars().any(char::is_control) {
        return Err(ServiceError::Invalid {
            field: "label",
            why: "1 to 100 printable characters".into(),
        });
    }
    Ok(s.to_owned())
}

impl Service {
    fn issue(&self, lender_id: LenderId, role: Role, label: String) -> IssuedKey {
        let minted = apikey::mint(self.secret());
        IssuedKey {
            record: ApiKeyRecord {
                id: minted.id,
                lender_id,
                role,
                label,
                secret_hmac: minted.secret_hmac,
                created_at: self.clock.now(),
                revoked_at: None,
            },
            plaintext: minted.plaintext,
        }
    }

    /// The caller's keys, revoked ones included.
    pub async fn api_keys(&self, ctx: &LenderCtx) -> Result<Vec<ApiKeyRecord>, ServiceError> {
        ctx.require(Permission::ManageKeys)?;
        Ok(self.store.list_api_keys(ctx).await?)
    }

    /// A new key of the caller's lender with `role`.
    pub async fn create_api_key(
        &self,
        ctx: &LenderCtx,
        role: Role,
        name: &str,
    ) -> Result<IssuedKey, ServiceError> {
        ctx.require(Permission::ManageKeys)?;
        let key = self.issue(ctx.lender_id, role, label(name)?);
        self.store.create_api_key(ctx, &key.record).await?;
        Ok(key)
    }

    /// Replaces a key with a new one of the same role and label. The old key keeps working
    /// for `grace_secs` (zero: it stops now), so an integration can switch without a gap.
    pub async fn rotate_api_key(
        &self,
        ctx: &LenderCtx,
        id: ApiKeyId,
        grace_secs: u32,
    ) -> Result<IssuedKey, ServiceError> {
        ctx.require(Permission::ManageKeys)?;
        if grace_secs > MAX_ROTATION_GRACE_SECS {
            return Err(ServiceError::Invalid {
                field: "grace_seconds",
                why: format!("0 to {MAX_ROTATION_GRACE_SECS} seconds"),
            });
        }
        let now = self.clock.now();
        let old = self.live_key(ctx, id).await?;
        let key = self.issue(ctx.lender_id, old.role, old.label);
        if !self
            .store
            .rotate_api_key(ctx, id, &key.record, now.plus_secs(i64::from(grace_secs)))
            .await?
        {
            return Err(ServiceError::NotFound);
        }
        Ok(key)
    }

    /// Ends a key now. A caller cannot revoke the key it is using (rotate it instead), so
    /// a lender does not lock itself out by accident.
    pub async fn revoke_api_key(
        &self,
        ctx: &LenderCtx,
        id: ApiKeyId,
    ) -> Result<ApiKeyRecord, ServiceError> {
        ctx.require(Permission::ManageKeys)?;
        if ctx.principal == Principal::ApiKey(id) {
            return Err(ServiceError::Invalid {
                field: "id",
                why: "this is the key making the request; rotate it instead".into(),
            });
        }
        let now = self.clock.now();
        let mut key = self.live_key(ctx, id).await?;
        if !self.store.revoke_api_key(ctx, id, now).await? {
            return Err(ServiceError::NotFound);
        }
        key.revoked_at = Some(now);
        Ok(key)
    }

    /// One of the caller's keys that has not ended yet; `NotFound` otherwise (another
    /// lender's key included).
    async fn live_key(&self, ctx: &LenderCtx, id: ApiKeyId) -> Result<ApiKeyRecord, ServiceError> {
        let now = self.clock.now();
        self.store
            .list_api_keys(ctx)
            .await?
            .into_iter()
            .find(|k| k.id == id && key_live(k, now))
            .ok_or(ServiceError::NotFound)
    }

    /// A key made by the platform operator for any lender (`lienlock ctl api-keys add`),
    /// for example a replacement when a lender has lost every admin key.
    pub async fn operator_create_api_key(
        &self,
        lender_id: LenderId,
        role: Role,
        name: &str,
    ) -> Result<IssuedKey, ServiceError> {
        if self.store.lender_by_id(lender_id).await?.is_none() {
            return Err(ServiceError::NotFound);
        }
        let key = self.issue(lender_id, role, label(name)?);
        self.store.add_api_key(&key.record).await?;
        Ok(key)
    }
}

/// Is a key usable at `now`? Revocation may be dated ahead (a rotation's grace).
pub fn key_live(record: &ApiKeyRecord, now: lienlock_domain::Timestamp) -> bool {
    record.revoked_at.is_none_or(|t| t > now)
}
