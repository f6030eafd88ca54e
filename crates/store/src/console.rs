//! Records of the lender console: the people who sign in and their sessions.

use lienlock_domain::{LenderId, Role, Timestamp, UserId};

/// A person who signs in to the console for one lender.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRecord {
    /// Id.
    pub id: UserId,
    /// The lender the user works for; every session of theirs is scoped to it.
    pub lender_id: LenderId,
    /// Sign-in name, lowercased; unique across lenders.
    pub email: String,
    /// Shown in the console and on timelines.
    pub name: String,
    /// What the user may do.
    pub role: Role,
    /// argon2id hash in PHC string form; never the password.
    pub password_hash: String,
    /// When created.
    pub created_at: Timestamp,
    /// When disabled; a disabled user cannot sign in and their sessions stop working.
    pub disabled_at: Option<Timestamp>,
}

/// A signed-in browser.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    /// SHA-256 of the cookie's token: the database alone signs no one in.
    pub token_hash: [u8; 32],
    /// Who.
    pub user_id: UserId,
    /// Their lender.
    pub lender_id: LenderId,
    /// The token every form of this session must carry.
    pub csrf_token: String,
    /// Sign-in time.
    pub created_at: Timestamp,
    /// After this the session is over whatever happens.
    pub expires_at: Timestamp,
    /// Sign-out time.
    pub revoked_at: Option<Timestamp>,
}

/// Devices of one lender counted for the dashboard.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortfolioCounts {
    /// By the lender's state (`active`, `locked`, `released`), name and count.
    pub by_state: Vec<(lienlock_domain::DeviceState, u64)>,
    /// Active devices the policy engine restricts, by level (never `None`).
    pub by_policy_level: Vec<(lienlock_domain::RestrictionLevel, u64)>,
    /// Devices in arrears by days overdue: 1–30, 31–60, 61–90, over 90.
    pub arrears_buckets: [ArrearsBucketCount; 4],
}

/// One arrears bucket: how many devices, and what they owe per currency.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ArrearsBucketCount {
    /// Devices in the bucket.
    pub devices: u64,
    /// Overdue amounts, minor units per ISO currency code.
    pub amounts: Vec<(String, i64)>,
}

/// Payments less reversals of one day in one currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DailyPayments {
    /// Days since the epoch in the caller's offset.
    pub day: i64,
    /// ISO currency code.
    pub currency: String,
    /// Minor units, reversals subtracted.
    pub net_amount: i64,
    /// Payments received (reversals not counted).
    pub count: u64,
}
