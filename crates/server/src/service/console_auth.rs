//! Console users and their sign-in sessions.
//!
//! Passwords are hashed with argon2id (the `argon2` crate's defaults: 19 MiB, 2 passes),
//! on the blocking pool so a sign-in does not stall the request threads. A session is a
//! random 256-bit token in a cookie; the database keeps only its SHA-256, so reading the
//! database signs no one in. Each session has its own anti-forgery token that every form
//! must echo.

use super::{Service, ServiceError};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use lienlock_domain::{BoundedText, LenderCtx, LenderId, Principal, Role, Timestamp, UserId};
use lienlock_store::{SessionRecord, StoreError, UserRecord};
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// How long a session lasts from sign-in, whatever happens: a working day and a half.
pub const SESSION_SECS: i64 = 12 * 3600;

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// What the operator says about a new console user.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// The lender the user works for.
    pub lender_id: LenderId,
    /// Sign-in address.
    pub email: String,
    /// Display name.
    pub name: String,
    /// What they may do.
    pub role: Role,
    /// Their password (hashed before it goes anywhere).
    pub password: Zeroizing<String>,
}

/// A signed-in console user, as every console page sees them.
#[derive(Debug, Clone)]
pub struct ConsoleUser {
    /// Their tenant scope, with the user as the principal.
    pub ctx: LenderCtx,
    /// Who.
    pub user: UserRecord,
    /// The session's anti-forgery token, for forms.
    pub csrf_token: String,
    /// Which session (for sign-out).
    pub token_hash: [u8; 32],
}

/// A new session: the cookie value (shown to the browser only) and what was stored.
#[derive(Debug)]
pub struct SignedIn {
    /// The cookie's value.
    pub token: Zeroizing<String>,
    /// The stored session.
    pub session: SessionRecord,
    /// Who signed in, as their later requests will name them (for the audit trail).
    pub ctx: LenderCtx,
}

/// A console user's tenant scope, with the user as the principal.
fn user_ctx(user: &UserRecord) -> LenderCtx {
    LenderCtx {
        lender_id: user.lender_id,
        role: user.role,
        principal: Principal::User(user.id),
    }
}

/// 32 random bytes as unpadded base64url.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A sign-in address: trimmed, lowercased, one `@` with text either side, at most 254 bytes.
pub fn normalize_email(s: &str) -> Result<String, ServiceError> {
    let e = s.trim().to_lowercase();
    let invalid = |why: &str| ServiceError::Invalid {
        field: "email",
        why: why.into(),
    };
    if e.len() > 254 {
        return Err(invalid("must be at most 254 bytes"));
    }
    match e.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !e.chars().any(|c| c.is_whitespace() || c.is_control()) =>
        {
            Ok(e)
        }
        _ => Err(invalid("is not an e-mail address")),
    }
}

fn hash_password(password: &str) -> Result<String, ServiceError> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ServiceError::Store(StoreError::Backend(format!("hashing: {e}"))))
}

/// A hash of a password nobody has, verified when the address is unknown so that a wrong
/// address takes as long as a wrong password and the two cannot be told apart.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password(&random_token()).unwrap_or_default())
}

fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

impl Service {
    /// Adds a console user (the operator's `lienlock ctl users add`).
    pub async fn add_user(&self, new: NewUser) -> Result<UserRecord, ServiceError> {
        let email = normalize_email(&new.email)?;
        let name = BoundedText::<100>::parse(&new.name).map_err(|e| ServiceError::Invalid {
            field: "name",
            why: e.to_string(),
        })?;
        let chars = new.password.chars().count();
        if chars < MIN_PASSWORD_CHARS || new.password.len() > 1024 {
            return Err(ServiceError::Invalid {
                field: "password",
                why: format!("must be {MIN_PASSWORD_CHARS} to 1024 characters long"),
            });
        }
        let password = new.password.clone();
        let password_hash = tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(|e| ServiceError::Store(StoreError::Backend(e.to_string())))??;
        let user = UserRecord {
            id: UserId::new(),
            lender_id: new.lender_id,
            email,
            name: name.into(),
            role: new.role,
            password_hash,
            created_at: self.clock.now(),
            disabled_at: None,
        };
        self.store.create_user(&user).await?;
        Ok(user)
    }

    /// Checks an address and password and opens a session. Every failure is the same
    /// [`ServiceError::SignInFailed`], whether the address is unknown, the password wrong
    /// or the user disabled, and takes about as long.
    pub async fn sign_in(&self, email: &str, password: &str) -> Result<SignedIn, ServiceError> {
        let email = normalize_email(email).map_err(|_| ServiceError::SignInFailed)?;
        let user = self.store.user_by_email_unscoped(&email).await?;
        let hash = user
            .as_ref()
            .map_or_else(|| decoy_hash().to_owned(), |u| u.password_hash.clone());
        let password = Zeroizing::new(password.to_owned());
        let ok = tokio::task::spawn_blocking(move || verify_password(&hash, &password))
            .await
            .unwrap_or(false);
        let user = match user {
            Some(u) if ok && u.disabled_at.is_none() => u,
            _ => return Err(ServiceError::SignInFailed),
        };
        let now = self.clock.now();
        let token = Zeroizing::new(random_token());
        let session = SessionRecord {
            token_hash: token_hash(&token),
            user_id: user.id,
            lender_id: user.lender_id,
            csrf_token: random_token(),
            created_at: now,
            expires_at: now.plus_secs(SESSION_SECS),
            revoked_at: None,
        };
        self.store.create_session(&session).await?;
        Ok(SignedIn {
            token,
            session,
            ctx: user_ctx(&user),
        })
    }

    /// The user a session cookie belongs to, if the session is live: not signed out, not
    /// expired, and its user not disabled.
    pub async fn console_user(&self, token: &str) -> Result<Option<ConsoleUser>, ServiceError> {
        let hash = token_hash(token);
        let Some((session, user)) = self.store.session_unscoped(&hash).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        if session.revoked_at.is_some() || now >= session.expires_at || user.disabled_at.is_some() {
            return Ok(None);
        }
        Ok(Some(ConsoleUser {
            ctx: user_ctx(&user),
            user,
            csrf_token: session.csrf_token,
            token_hash: hash,
        }))
    }

    /// Ends a session.
    pub async fn sign_out(&self, user: &ConsoleUser) -> Result<(), ServiceError> {
        self.store
            .revoke_session(&user.token_hash, self.clock.now())
            .await?;
        Ok(())
    }

    /// Disables a console user (the operator's `lienlock ctl users disable`): they cannot
    /// sign in, and every session of theirs stops working at its next request.
    pub async fn disable_user(&self, email: &str) -> Result<(), ServiceError> {
        let email = normalize_email(email)?;
        if self
            .store
            .disable_user_unscoped(&email, self.clock.now())
            .await?
        {
            Ok(())
        } else {
            Err(ServiceError::NotFound)
        }
    }

    /// The caller's lender's console users.
    pub async fn users(&self, ctx: &LenderCtx) -> Result<Vec<UserRecord>, ServiceError> {
        Ok(self.store.list_users(ctx).await?)
    }
}

/// Session expiry as seconds from `now`, for the cookie's Max-Age.
pub fn max_age(session: &SessionRecord, now: Timestamp) -> i64 {
    (session.expires_at.as_millis() - now.as_millis()).max(0) / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_normalized_or_refused() {
        assert_eq!(
            normalize_email("  Ana@Acme.Example ").unwrap(),
            "ana@acme.example"
        );
        for bad in ["", "ana", "@acme", "ana@", "a b@c.d", "a@b@c"] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_hash_verifies_only_its_password() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, "correct horse battery"));
        assert!(!verify_password(&h, "correct horse batterx"));
        assert!(!verify_password("not a hash", "x"));
    }
}
