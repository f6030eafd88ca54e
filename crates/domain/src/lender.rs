//! Lenders (tenants) and who acts for them.

use crate::ids::{ApiKeyId, LenderId, UserId};
use serde::{Deserialize, Serialize};

/// What a lender's user or API key may do. docs/security.md says what each role is allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything within the lender.
    Admin,
    /// Enrolls devices.
    StoreAgent,
    /// Locks and unlocks.
    Collections,
    /// Reads devices and timelines, helps borrowers.
    Support,
    /// Reads everything, changes nothing.
    Auditor,
}

impl Role {
    /// The stable name used in storage and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::StoreAgent => "store_agent",
            Role::Collections => "collections",
            Role::Support => "support",
            Role::Auditor => "auditor",
        }
    }

    /// Reads [`Self::as_str`] back.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "admin" => Role::Admin,
            "store_agent" => Role::StoreAgent,
            "collections" => Role::Collections,
            "support" => Role::Support,
            "auditor" => Role::Auditor,
            _ => return None,
        })
    }
}

/// The authenticated caller of a lender-scoped operation. Every store method that reads or
/// writes lender data takes one, so no query can forget which tenant it serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LenderCtx {
    /// The tenant.
    pub lender_id: LenderId,
    /// What the caller may do.
    pub role: Role,
    /// Who authenticated the call, recorded as the actor of what it does.
    pub principal: Principal,
}

/// Who acts for a lender: an integration's API key or a person signed in to the console.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Principal {
    /// A lender's API key.
    ApiKey(ApiKeyId),
    /// A console user.
    User(UserId),
}
