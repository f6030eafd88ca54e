//! Operator actions that are not HTTP endpoints (`lienlock ctl ...`).

use crate::apikey::{self, ServerSecret};
use lienlock_domain::{BoundedText, Clock, LenderId, RestrictionProfile, Role};
use lienlock_store::{ApiKeyRecord, Lender, Store, StoreError};
use zeroize::Zeroizing;

/// What the operator says about a new lender.
#[derive(Debug, Clone)]
pub struct NewLender {
    /// Display name.
    pub name: String,
    /// Support phone on the lock screen.
    pub support_phone: String,
    /// Payment/support URL on the lock screen.
    pub support_url: String,
}

/// Why bootstrap failed.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// A field is empty or too long.
    #[error("invalid {field}: {why}")]
    Invalid {
        /// Which.
        field: &'static str,
        /// Why.
        why: String,
    },
    /// Storage failed; nothing was written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Lock-screen text: at most 100 characters, and at most 200 bytes so it fits the lease's
/// 512-byte text fields even in multi-byte scripts (the lock message embeds the name).
fn text(field: &'static str, s: &str) -> Result<String, BootstrapError> {
    let t = BoundedText::<100>::parse(s).map_err(|e| BootstrapError::Invalid {
        field,
        why: e.to_string(),
    })?;
    if t.as_str().len() > 200 {
        return Err(BootstrapError::Invalid {
            field,
            why: "must be at most 200 bytes of UTF-8".into(),
        });
    }
    Ok(t.into())
}

/// Creates a lender and its first (admin) API key. Returns the lender and the key string,
/// which is shown once and never stored.
pub async fn bootstrap_lender(
    store: &dyn Store,
    secret: &ServerSecret,
    clock: &dyn Clock,
    new: NewLender,
) -> Result<(Lender, Zeroizing<String>), BootstrapError> {
    let now = clock.now();
    let name = text("name", &new.name)?;
    let lender = Lender {
        id: LenderId::new(),
        lock_message: format!(
            "This device is locked because an installment to {name} is overdue. \
             Pay to unlock it at once. Emergency and incoming calls still work."
        ),
        name,
        support_phone: text("support phone", &new.support_phone)?,
        support_url: text("support URL", &new.support_url)?,
        lock_profile: RestrictionProfile::full_lock(),
        compliance_profile: "default".into(),
        policy: None,
        created_at: now,
    };
    let minted = apikey::mint(secret);
    let key = ApiKeyRecord {
        id: minted.id,
        lender_id: lender.id,
        role: Role::Admin,
        label: "bootstrap".into(),
        secret_hmac: minted.secret_hmac,
        created_at: now,
        revoked_at: None,
    };
    store.create_lender(&lender, &key).await?;
    Ok((lender, minted.plaintext))
}
