//! Where a contract is in its life.

use serde::{Deserialize, Serialize};

/// A contract's state. Only an active contract is collected on; the other three are final.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContractState {
    /// Installments are being collected.
    Active,
    /// Everything owed was paid; the device is released for good.
    PaidOff,
    /// Undone (for example the device was returned); nothing is collected or enforced.
    Cancelled,
    /// The lender gave up collecting; nothing is enforced any more.
    WrittenOff,
}

impl ContractState {
    /// The stable name used in storage, JSON and filters.
    pub fn as_str(self) -> &'static str {
        match self {
            ContractState::Active => "active",
            ContractState::PaidOff => "paid_off",
            ContractState::Cancelled => "cancelled",
            ContractState::WrittenOff => "written_off",
        }
    }

    /// Reads [`Self::as_str`] back.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "active" => ContractState::Active,
            "paid_off" => ContractState::PaidOff,
            "cancelled" => ContractState::Cancelled,
            "written_off" => ContractState::WrittenOff,
            _ => return None,
        })
    }

    /// Whether the contract is still being collected on.
    pub fn is_active(self) -> bool {
        self == ContractState::Active
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in [
            ContractState::Active,
            ContractState::PaidOff,
            ContractState::Cancelled,
            ContractState::WrittenOff,
        ] {
            assert_eq!(ContractState::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        assert_eq!(ContractState::parse("Active"), None);
    }
}
