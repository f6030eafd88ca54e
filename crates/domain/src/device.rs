//! The device's server-side state machine and the lease state derived from it.

use crate::command::CommandKind;
use serde::{Deserialize, Serialize};

/// What the lender has decided for the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceState {
    /// In the program and free to use.
    Active,
    /// Restricted until unlocked.
    Locked,
    /// Program complete; freed for ever. Terminal.
    Released,
}

impl DeviceState {
    /// The stable name used in storage, JSON and filters.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceState::Active => "active",
            DeviceState::Locked => "locked",
            DeviceState::Released => "released",
        }
    }

    /// Reads [`Self::as_str`] back.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "active" => DeviceState::Active,
            "locked" => DeviceState::Locked,
            "released" => DeviceState::Released,
            _ => return None,
        })
    }

    /// The state after `command`, or why the command does not apply.
    pub fn apply(self, command: CommandKind) -> Result<DeviceState, TransitionError> {
        use CommandKind as C;
        use DeviceState as S;
        match (self, command) {
            (S::Released, _) => Err(TransitionError::Released),
            (S::Active, C::Lock) => Ok(S::Locked),
            (S::Locked, C::Lock) => Err(TransitionError::AlreadyLocked),
            (S::Locked, C::Unlock) => Ok(S::Active),
            (S::Active, C::Unlock) => Err(TransitionError::NotLocked),
            (S::Active | S::Locked, C::Release) => Ok(S::Released),
        }
    }
}

/// Why a command cannot apply to a device in its current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// Released devices are out of the program for good.
    #[error("the device was released; it can no longer be commanded")]
    Released,
    /// Lock on a locked device.
    #[error("the device is already locked")]
    AlreadyLocked,
    /// Unlock on a device that is not locked.
    #[error("the device is not locked")]
    NotLocked,
}

/// Whether the server trusts the key the device checks in with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    /// Enrolled, but no agent has registered yet.
    Unregistered,
    /// A device key is bound to the enrollment.
    Bound,
    /// A different key registered for this IMEI (the phone was reflashed, or it is a clone);
    /// the device stays restricted until the lender approves it.
    ChangePending,
}

impl KeyStatus {
    /// The stable name used in storage and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Unregistered => "unregistered",
            KeyStatus::Bound => "bound",
            KeyStatus::ChangePending => "change_pending",
        }
    }

    /// Reads [`Self::as_str`] back.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "unregistered" => KeyStatus::Unregistered,
            "bound" => KeyStatus::Bound,
            "change_pending" => KeyStatus::ChangePending,
            _ => return None,
        })
    }
}

/// What a lease tells the device to do. Derived, never stored on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaseState {
    /// Run normally until `valid_until`.
    Active,
    /// Enforce the restriction profile.
    Locked,
    /// Stop enforcing for ever.
    Released,
}

impl LeaseState {
    /// The lease for a device in `state` checking in with a key in `key`.
    ///
    /// A key awaiting approval gets a locked lease even when the account is in good standing:
    /// an unapproved key may belong to a clone, and release is the only thing it may learn early,
    /// since a released device is no longer collateral.
    pub fn derive(state: DeviceState, key: KeyStatus) -> Self {
        match (state, key) {
            (DeviceState::Released, _) => LeaseState::Released,
            (DeviceState::Locked, _) | (_, KeyStatus::ChangePending) => LeaseState::Locked,
            (DeviceState::Active, KeyStatus::Bound | KeyStatus::Unregistered) => LeaseState::Active,
        }
    }

    /// The byte used in the signed lease.
    pub fn code(self) -> u8 {
        match self {
            LeaseState::Active => 1,
            LeaseState::Locked => 2,
            LeaseState::Released => 3,
        }
    }

    /// Reads [`Self::code`] back.
    pub fn from_code(b: u8) -> Option<Self> {
        Some(match b {
            1 => LeaseState::Active,
            2 => LeaseState::Locked,
            3 => LeaseState::Released,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CommandKind::*;
    use DeviceState::*;

    #[test]
    fn lock_unlock_release_cycle() {
        assert_eq!(Active.apply(Lock), Ok(Locked));
        assert_eq!(Locked.apply(Unlock), Ok(Active));
        assert_eq!(Locked.apply(Release), Ok(Released));
        assert_eq!(Active.apply(Release), Ok(Released));
    }

    #[test]
    fn released_is_terminal() {
        for c in [Lock, Unlock, Release] {
            assert_eq!(Released.apply(c), Err(TransitionError::Released));
        }
    }

    #[test]
    fn pending_key_locks_but_never_unreleases() {
        assert_eq!(
            LeaseState::derive(Active, KeyStatus::ChangePending),
            LeaseState::Locked
        );
        assert_eq!(
            LeaseState::derive(Released, KeyStatus::ChangePending),
            LeaseState::Released
        );
        assert_eq!(
            LeaseState::derive(Active, KeyStatus::Bound),
            LeaseState::Active
        );
    }

    #[test]
    fn codes_round_trip() {
        for s in [LeaseState::Active, LeaseState::Locked, LeaseState::Released] {
            assert_eq!(LeaseState::from_code(s.code()), Some(s));
        }
        assert_eq!(LeaseState::from_code(0), None);
    }
}
