//! Rows of the console's tables.

use super::{id, key, name, ts};
use lienlock_domain::Role;
use lienlock_store::{SessionRecord, StoreResult, UserRecord};

/// A `users` row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct UserRow {
    id: String,
    lender_id: String,
    email: String,
    name: String,
    role: String,
    password_hash: String,
    created_at: i64,
    disabled_at: Option<i64>,
}

impl UserRow {
    pub(crate) fn decode(self) -> StoreResult<UserRecord> {
        const T: &str = "users";
        Ok(UserRecord {
            id: id(T, "id", &self.id)?,
            lender_id: id(T, "lender_id", &self.lender_id)?,
            email: self.email,
            name: self.name,
            role: name(T, "role", &self.role, Role::parse)?,
            password_hash: self.password_hash,
            created_at: ts(self.created_at),
            disabled_at: self.disabled_at.map(ts),
        })
    }
}

/// A `console_sessions` row (columns prefixed `s_`) joined with its user's row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct SessionUserRow {
    s_token_hash: Vec<u8>,
    s_user_id: String,
    s_lender_id: String,
    s_csrf_token: String,
    s_created_at: i64,
    s_expires_at: i64,
    s_revoked_at: Option<i64>,
    #[sqlx(flatten)]
    user: UserRow,
}

impl SessionUserRow {
    pub(crate) fn decode(self) -> StoreResult<(SessionRecord, UserRecord)> {
        const T: &str = "console_sessions";
        let session = SessionRecord {
            token_hash: key(T, "token_hash", self.s_token_hash)?,
            user_id: id(T, "user_id", &self.s_user_id)?,
            lender_id: id(T, "lender_id", &self.s_lender_id)?,
            csrf_token: self.s_csrf_token,
            created_at: ts(self.s_created_at),
            expires_at: ts(self.s_expires_at),
            revoked_at: self.s_revoked_at.map(ts),
        };
        Ok((session, self.user.decode()?))
    }
}
